import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { batches, type Batch, type BatcherOptions } from '../src/data/batcher.js';
import { prepareDataset, type PreparedDataset } from '../src/data/dataset.js';
import type { EncodedBatch } from '../src/data/encoder.js';
import { TEST, TRAIN, VALID } from '../src/data/split.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { referenceBatches, rowsOf, type Row } from './support/reference-batcher.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

/** Row groups of 1700 rows: source batches of 1700, 1700, 1700 and 900. */
const ROWS = 6000;
const ROW_GROUP = 1700;
/** Small enough that the encoded rows (about 300 KB) go to several shards. */
const DISK_BOUND = '64KB';

function config(cacheMemory: string, minCount = 1) {
  const yaml = `
data:
  source: data/interactions.parquet
  label: { column: label }
  workers: 0
  cache_memory: ${cacheMemory}
features:
  - { name: [user_id, u_region, u_age_band], tower: user, min_count: ${minCount} }
  - { name: u_engagement, tower: user, type: numeric }
  - { name: [item_id, i_category], tower: item }
  - { name: i_tags, tower: item, type: multi_categorical }
`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

function prepare(cacheMemory = '2GiB', cacheDir?: string, minCount?: number): Promise<PreparedDataset> {
  return prepareDataset(config(cacheMemory, minCount), { cacheDir });
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

const rowsOfBatches = (result: Batch[]): Row[][] => result.map(rowsOf);

const CASES: [string, BatcherOptions][] = [
  ['train, shuffled across source batches', { split: TRAIN, batchSize: 256, shuffleBuffer: 2500, seed: 5 }],
  ['valid, source order', { split: VALID, batchSize: 100, shuffleBuffer: 0, seed: 0 }],
  [
    'test, shuffled, no partial batch',
    { split: TEST, batchSize: 64, shuffleBuffer: 300, seed: 9, keepPartial: false },
  ],
  ['train, source order, no partial batch', { split: TRAIN, batchSize: 1024, shuffleBuffer: 0, seed: 0 }],
  ['valid, window larger than the split', { split: VALID, batchSize: 128, shuffleBuffer: 100_000, seed: 2 }],
];

/** The encoded batches as the source delivers them, read without any cache. */
let sourceBatches: EncodedBatch[];
/** Vocabularies counted: the cache filled from the rows that pass decoded. */
let inMemory: PreparedDataset;
let onDisk: PreparedDataset;
const diskRun = (): string => tmp.file('run-disk');
const vocabularyRun = (): string => tmp.file('run-vocabulary');
/** The vocabularies exist already (vocabulary.json): the first pass reads the source and fills the cache. */
const prepareReadingSource = (): Promise<PreparedDataset> => prepare('2GiB', vocabularyRun());

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-encoded-cache-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: ROWS, rowGroupSize: ROW_GROUP });
  inMemory = await prepare('2GiB', vocabularyRun());
  sourceBatches = await collect((await prepareReadingSource()).encodedBatches());
  onDisk = await prepare(DISK_BOUND, diskRun());
  await collect(onDisk.encodedBatches());
});
afterAll(() => tmp.remove());

describe('encoded cache', () => {
  it('source batches have multi-valued rows and all three splits', () => {
    expect(sourceBatches.map((batch) => batch.numRows)).toEqual([1700, 1700, 1700, 900]);
    const splits = new Set(sourceBatches.flatMap((batch) => [...batch.splits]));
    expect([...splits].sort()).toEqual([TRAIN, VALID, TEST]);
    const tags = sourceBatches[0].features.at(-1)!;
    expect(tags.offsets).toBeDefined();
    expect(tags.ids.length).toBeGreaterThan(1700);
  });

  it('keeps a dataset that fits in memory, split by split, one chunk per source batch', async () => {
    const bySplit = inMemory.encodedBatches().bySplit;
    expect(bySplit?.storage).toBe('memory');
    for (const split of [TRAIN, VALID, TEST]) {
      const expected = sourceBatches.map((batch) => batch.splits.filter((value) => value === split).length);
      const chunks = await collect(bySplit!.chunks(split));
      expect(chunks.map((chunk) => chunk.numRows)).toEqual(expected);
    }
  });

  it('keeps a dataset beyond data.cache_memory in shards on disk', async () => {
    const folders = await readdir(path.join(diskRun(), 'encoded'));
    expect(folders).toHaveLength(1);
    const files = await readdir(path.join(diskRun(), 'encoded', folders[0]));
    expect(files).toContain('index.json');
    expect(files.filter((file) => file.startsWith('shard-')).length).toBeGreaterThan(2);
    expect(files.filter((file) => file.startsWith('.tmp-'))).toEqual([]);
    expect(onDisk.encodedBatches().bySplit?.storage).toBe('disk');
  });

  it.each([
    ['memory', () => inMemory],
    ['disk', () => onDisk],
  ])('hands out every row again in source order (%s)', async (_, dataset) => {
    expect(await collect(dataset().encodedBatches())).toEqual(sourceBatches);
  });

  describe.each(CASES)('batches: %s', (_, options) => {
    const expected = (): Row[][] => referenceBatches(sourceBatches, options);

    it('from memory, the same as always', async () => {
      const rows = rowsOfBatches(await collect(batches(inMemory.encodedBatches(), options)));
      expect(rows.length).toBeGreaterThan(1);
      expect(rows).toEqual(expected());
    });

    it('from disk, the same as always', async () => {
      expect(rowsOfBatches(await collect(batches(onDisk.encodedBatches(), options)))).toEqual(expected());
    });

    it('from the pass that fills the cache, the same as always', async () => {
      const fresh = await prepareReadingSource();
      expect(fresh.encodedBatches().bySplit).toBeUndefined();
      expect(rowsOfBatches(await collect(batches(fresh.encodedBatches(), options)))).toEqual(expected());
      expect(fresh.encodedBatches().bySplit?.storage).toBe('memory');
    });
  });

  it('reads the shards of an earlier run instead of the source, or loads them when they fit', async () => {
    const again = await prepare(DISK_BOUND, diskRun());
    expect(again.encodedBatches().bySplit?.storage).toBe('disk');
    expect(await collect(again.encodedBatches())).toEqual(sourceBatches);

    const larger = await prepare('2GiB', diskRun());
    expect(larger.encodedBatches().bySplit).toBeUndefined();
    expect(await collect(larger.encodedBatches())).toEqual(sourceBatches);
    expect(larger.encodedBatches().bySplit?.storage).toBe('memory');
  });

  it('never uses shards of other data or another vocabulary config', async () => {
    const run = tmp.file('run-stale');
    await collect((await prepare(DISK_BOUND, run)).encodedBatches());
    const [folder] = await readdir(path.join(run, 'encoded'));
    const indexFile = path.join(run, 'encoded', folder, 'index.json');
    const index = JSON.parse(await readFile(indexFile, 'utf8')) as { fingerprint: string };
    await writeFile(indexFile, JSON.stringify({ ...index, fingerprint: 'other data' }));
    const stale = await prepare(DISK_BOUND, run);
    expect(stale.encodedBatches().bySplit).toBeUndefined();
    expect(await collect(stale.encodedBatches())).toEqual(sourceBatches);

    const otherVocabulary = await prepare(DISK_BOUND, run, 2);
    expect(otherVocabulary.encodedBatches().bySplit).toBeUndefined();
    await collect(otherVocabulary.encodedBatches());
    expect(await readdir(path.join(run, 'encoded'))).toHaveLength(2);
  });

  it('spills to a temporary folder without a run folder', async () => {
    const dataset = await prepare('0');
    await collect(dataset.encodedBatches());
    expect(dataset.encodedBatches().bySplit?.storage).toBe('disk');
    const options = { split: TEST, batchSize: 50, shuffleBuffer: 400, seed: 1 };
    expect(rowsOfBatches(await collect(batches(dataset.encodedBatches(), options)))).toEqual(
      referenceBatches(sourceBatches, options),
    );
  });

  it('fills nothing on a pass that stops early; the next full pass fills it', async () => {
    const dataset = await prepareReadingSource();
    for await (const batch of dataset.encodedBatches()) {
      expect(batch.numRows).toBe(1700);
      break;
    }
    expect(dataset.encodedBatches().bySplit).toBeUndefined();
    expect(await collect(dataset.encodedBatches())).toEqual(sourceBatches);
    expect(dataset.encodedBatches().bySplit?.storage).toBe('memory');
  });

  it('fills the cache from the rows the vocabulary pass decoded, when they fit data.cache_memory', async () => {
    expect(inMemory.reusedVocabulary).toBe(false);
    expect(inMemory.encodedBatches().bySplit?.storage).toBe('memory');
    expect(await collect(inMemory.encodedBatches())).toEqual(sourceBatches);
    // Decoded rows beyond the bound are let go: the first pass reads the source again.
    const beyond = await prepare(DISK_BOUND);
    expect(beyond.reusedVocabulary).toBe(false);
    expect(beyond.encodedBatches().bySplit).toBeUndefined();
    expect(await collect(beyond.encodedBatches())).toEqual(sourceBatches);
  });

  it('rejects a data.cache_memory that is not a size', () => {
    let message = '';
    try {
      config('plenty');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      `${tmp.file('config.yaml')}:6: data.cache_memory: 'plenty' is not a size; write bytes, e.g. 2GiB or 512MB (0 keeps the encoded data on disk)`,
    );
  });
});
