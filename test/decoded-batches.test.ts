import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CategoryCounter, CountingMemory } from '../src/data/category-counter.js';
import { DecodedBatches } from '../src/data/decoded-batches.js';
import { DictionaryColumns } from '../src/data/sources/dictionary-columns.js';
import type { RecordBatch } from '../src/data/types.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('lemopt-decoded-');
});
afterAll(() => tmp.remove());

/** A batch of one Float64 column: 8 bytes a row, exactly. */
const numbers = (rows: number, first = 0): RecordBatch => ({
  numRows: rows,
  columns: new Map([['x', Float64Array.from({ length: rows }, (_, i) => first + i)]]),
});

describe('decoded batches of the vocabulary pass', () => {
  it('hands back every batch in order, once, when they fit', () => {
    const decoded = new DecodedBatches<RecordBatch>(10_000);
    const batches = [numbers(100), numbers(100, 100), numbers(50, 200)];
    batches.forEach((batch) => decoded.keep(batch));
    expect([...decoded.take()!]).toEqual(batches);
    expect(decoded.take()).toBeUndefined();
  });

  it('keeps none once their estimate passes the bound, or with a bound of 0', () => {
    const decoded = new DecodedBatches<RecordBatch>(1_000);
    decoded.keep(numbers(100));
    decoded.keep(numbers(100));
    decoded.keep(numbers(1));
    expect(decoded.take()).toBeUndefined();
    const none = new DecodedBatches<RecordBatch>(0);
    none.keep(numbers(1));
    expect(none.take()).toBeUndefined();
  });

  it('counts a dictionary shared by the batches of one column chunk once, and never builds its values', () => {
    const dictionary = Array.from({ length: 1000 }, (_, i) => `value-${i}`);
    const batch = (): RecordBatch => {
      const columns = new DictionaryColumns();
      columns.setDictionary('c', { indices: new Int32Array(100), dictionary });
      return { numRows: 100, columns, dictionaries: columns.dictionaries };
    };
    // 100 rows of indices (400 bytes) per batch plus the dictionary once (about 32 KB).
    const decoded = new DecodedBatches<RecordBatch>(40_000);
    const kept = Array.from({ length: 10 }, batch);
    kept.forEach((one) => decoded.keep(one));
    expect([...decoded.take()!]).toHaveLength(10);
    expect((kept[0].columns as DictionaryColumns).built('c')).toBeUndefined();
  });

  it('go before any count table spills when the pass memory is full', () => {
    const memory = new CountingMemory(6_000, tmp.path);
    const counter = new CategoryCounter(memory);
    const decoded = new DecodedBatches<RecordBatch>(1_000_000, memory);
    decoded.keep(numbers(500)); // 4,000 bytes of the 6,000
    for (let i = 0; i < 40; i++) counter.add(`key-${i}`); // about 3,600 bytes of map entries
    expect(memory.spilled).toBe(0);
    expect(decoded.take()).toBeUndefined();
    // Past the limit without rows to let go, the table spills as before.
    for (let i = 40; i < 80; i++) counter.add(`key-${i}`);
    expect(memory.spilled).toBe(1);
    counter.close();
    memory.dispose();
  });
});
