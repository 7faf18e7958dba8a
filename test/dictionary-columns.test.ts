/**
 * Dictionary-encoded Parquet columns reach the encoder as indices: it maps each distinct
 * value once and gives the ids it gives the same rows as plain values; the columns map
 * builds their values only when asked, identical to the dictionary lookups.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { createEncoder, openCheckedSource, prepareDataset, requiredColumns } from '../src/data/dataset.js';
import { DictionaryColumns, dictionaryValues } from '../src/data/sources/dictionary-columns.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { Cell, RecordBatch } from '../src/data/types.js';
import { dataSection } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-dictionary-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 5000, rowGroupSize: 1200 });
});
afterAll(() => tmp.remove());

/** The same batch with every column as plain values and no dictionaries. */
function plain(batch: RecordBatch): RecordBatch {
  return {
    numRows: batch.numRows,
    columns: new Map([...batch.columns].map(([name, values]) => [name, values])),
  };
}

describe('dictionary columns', () => {
  it('encode to the ids of their plain values, with min_count, hashed out-of-vocabulary values and nulls', async () => {
    const yaml = `
${dataSection()}
features:
  - { name: [u_region, u_city, u_referrer], tower: user, min_count: 3 }
  - { name: u_postcode, tower: user, max_size: 40, hash_buckets: 7 }
  - { name: [i_category, i_brand, i_color], tower: item }
  - { name: i_tags, tower: item, type: multi_categorical }
`;
    const { config } = parseConfig(yaml, tmp.file('config.yaml'));
    const dataset = await prepareDataset(config);
    const { source, layout } = await openCheckedSource(config);
    const encoder = createEncoder(config, layout, { vocabularies: [...dataset.vocabularies.values()] }, 'x');
    const viaDictionary = new Set<string>();
    let rows = 0;
    for await (const batch of source.batches({ columns: requiredColumns(config, layout) })) {
      for (const name of batch.dictionaries?.keys() ?? []) viaDictionary.add(name);
      const fast = encoder.encode(batch, rows);
      const reference = encoder.encode(plain(batch), rows);
      expect(fast.features.map((f) => Array.from(f.ids))).toEqual(
        reference.features.map((f) => Array.from(f.ids)),
      );
      expect(Array.from(fast.labels)).toEqual(Array.from(reference.labels));
      rows += batch.numRows;
    }
    expect(rows).toBe(5000);
    // The path under test was taken: the string columns arrive as dictionaries.
    expect([...viaDictionary].filter((name) => name !== 'label').length).toBeGreaterThanOrEqual(3);
  });

  it('build their values only when asked, in the order the columns were added', () => {
    const columns = new DictionaryColumns();
    const dictionary = ['a', 'b', 'c'];
    columns.set('first', [1, 2, 3]);
    columns.setDictionary('second', { indices: Int32Array.from([2, -1, 0]), dictionary });
    columns.setDictionary('third', {
      indices: Int32Array.from([1, 1, 0]),
      dictionary: Int32Array.from([7, 9]),
    });
    expect(columns.size).toBe(3);
    expect(columns.has('second')).toBe(true);
    expect([...columns.keys()]).toEqual(['first', 'second', 'third']);
    const entries: [string, Cell[]][] = [...columns].map(([name, values]) => [name, Array.from(values)]);
    expect(entries).toEqual([
      ['first', [1, 2, 3]],
      ['second', ['c', null, 'a']],
      ['third', [9, 9, 7]],
    ]);
    expect(columns.get('third')).toBeInstanceOf(Int32Array);
    expect(columns.get('second')).toBe(columns.get('second'));
    expect(
      Array.from(dictionaryValues({ indices: Int32Array.from([0, -1]), dictionary: Int32Array.from([5]) })),
    ).toEqual([5, null]);
  });
});
