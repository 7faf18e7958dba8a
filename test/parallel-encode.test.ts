import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { prepareDataset } from '../src/data/dataset.js';
import { LemoptError } from '../src/util/errors.js';
import type { EncodedBatch } from '../src/data/encoder.js';
import { copyToParquet } from './support/parquet-fixtures.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

/** 3 categorical columns, tags, a 1..5 rating, a time; row groups of 1000 rows. */
const QUERY = `SELECT 'u' || (i % 97)::VARCHAR AS user_id, (i % 13)::INTEGER AS item_id,
  CASE WHEN i % 7 = 0 THEN NULL ELSE (i % 5)::INTEGER END AS city,
  [(i % 3)::INTEGER, (i % 11)::INTEGER][1:(i % 3)] AS tags,
  (1 + i % 5)::INTEGER AS rating, (i * 7919 % 10007)::BIGINT AS ts
  FROM range(10007) t(i)`;

function config(source: string, split = '{ method: time, column: ts }') {
  const yaml = `
data:
  source: ${source}
  label: { column: rating, rule: ">= 4" }
  split: ${split}
features:
  - { name: [user_id, city], tower: user }
  - { name: item_id, tower: item }
  - { name: tags, tower: item, type: multi_categorical }
`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

async function encodeAll(source: string, workers: number, split?: string): Promise<EncodedBatch[]> {
  const dataset = await prepareDataset(config(source, split), { workers });
  const out: EncodedBatch[] = [];
  for await (const batch of dataset.encodedBatches()) out.push(batch);
  return out;
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-parallel-');
  await copyToParquet(QUERY, tmp.file('one.parquet'), 'ROW_GROUP_SIZE 1000');
  await mkdir(tmp.file('parts'));
  for (const part of [0, 1, 2]) {
    await copyToParquet(
      `SELECT * FROM (${QUERY}) WHERE ts % 3 = ${part}`,
      tmp.file('parts', `part-${part}.parquet`),
      'ROW_GROUP_SIZE 1000',
    );
  }
});
afterAll(() => tmp.remove());

describe('encoding in worker threads', () => {
  it.each(['one.parquet', 'parts'])(
    'gives the same batches in the same order as one thread (%s)',
    async (name) => {
      const single = await encodeAll(name, 0);
      const parallel = await encodeAll(name, 3);
      expect(single.reduce((rows, batch) => rows + batch.numRows, 0)).toBe(10007);
      expect(parallel.map((batch) => batch.firstRow)).toEqual(single.map((batch) => batch.firstRow));
      expect(parallel).toEqual(single);
    },
  );

  it('reports a bad row found in a worker with the same message as one thread', async () => {
    // Split keys are read only while encoding, so this error comes from a worker.
    const byCity = '{ method: hash, column: city }';
    const single = encodeAll('one.parquet', 0, byCity);
    await expect(single).rejects.toThrow(/one\.parquet: row 1: split column 'city' is missing$/);
    const error = await encodeAll('one.parquet', 2, byCity).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LemoptError);
    expect((error as Error).message).toBe(
      ((await single.catch((caught: unknown) => caught)) as Error).message,
    );
  });
});
