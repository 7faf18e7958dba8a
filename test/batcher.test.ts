import { describe, expect, it } from 'vitest';
import { batches, prefetch, type Batch } from '../src/data/batcher.js';
import type { EncodedBatch } from '../src/data/encoder.js';
import { TRAIN, VALID } from '../src/data/split.js';

/**
 * Chunks of rows where row r has single id r, multi-valued ids [r, r+1, ..] of length
 * r % 4 (so some rows are empty), label r % 2, and split VALID when r % 5 == 0.
 */
function chunks(rows: number, chunkSize: number): EncodedBatch[] {
  const out: EncodedBatch[] = [];
  for (let start = 0; start < rows; start += chunkSize) {
    const n = Math.min(chunkSize, rows - start);
    const single = new Int32Array(n);
    const offsets = new Int32Array(n + 1);
    const multi: number[] = [];
    const labels = new Float32Array(n);
    const splits = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const r = start + i;
      single[i] = r;
      for (let k = 0; k < r % 4; k++) multi.push(r + k);
      offsets[i + 1] = multi.length;
      labels[i] = r % 2;
      splits[i] = r % 5 === 0 ? VALID : TRAIN;
    }
    out.push({
      numRows: n,
      firstRow: start,
      features: [{ ids: single }, { ids: Int32Array.from(multi), offsets }],
      labels,
      splits,
    });
  }
  return out;
}

async function* stream<T>(items: T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

async function collect(source: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of source) out.push(batch);
  return out;
}

/** Every row of the batches, checked for internal consistency, as its original row number. */
function rowsOf(result: Batch[]): number[] {
  const rows: number[] = [];
  for (const batch of result) {
    const [single, multi] = batch.features;
    for (let i = 0; i < batch.numRows; i++) {
      const r = single.ids[i];
      const ids = Array.from(multi.ids.subarray(multi.offsets![i], multi.offsets![i + 1]));
      expect(ids).toEqual(Array.from({ length: r % 4 }, (_, k) => r + k));
      expect(batch.labels[i]).toBe(r % 2);
      rows.push(r);
    }
  }
  return rows;
}

describe('batcher', () => {
  const options = { split: TRAIN, batchSize: 64, shuffleBuffer: 500, seed: 3 };

  it('yields every row of the split exactly once, in full batches but the last', async () => {
    const result = await collect(batches(stream(chunks(5000, 333)), options));
    const rows = rowsOf(result);
    const expected = Array.from({ length: 5000 }, (_, r) => r).filter((r) => r % 5 !== 0);
    expect([...rows].sort((a, b) => a - b)).toEqual(expected);
    expect(result.slice(0, -1).every((batch) => batch.numRows === 64)).toBe(true);
    expect(result.at(-1)!.numRows).toBe(expected.length % 64 || 64);
    expect(rows).not.toEqual(expected);
  });

  it('gives the same order for the same seed and another for another seed', async () => {
    const first = rowsOf(await collect(batches(stream(chunks(3000, 250)), options)));
    const again = rowsOf(await collect(batches(stream(chunks(3000, 250)), options)));
    const other = rowsOf(await collect(batches(stream(chunks(3000, 250)), { ...options, seed: 4 })));
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it('keeps the source order without a shuffle buffer and can drop the partial batch', async () => {
    const result = await collect(
      batches(stream(chunks(1000, 100)), {
        split: VALID,
        batchSize: 30,
        shuffleBuffer: 0,
        seed: 0,
        keepPartial: false,
      }),
    );
    const rows = rowsOf(result);
    expect(rows).toEqual(Array.from({ length: 180 }, (_, i) => i * 5));
    expect(result.every((batch) => batch.numRows === 30)).toBe(true);
  });

  it('prefetch yields the same items and closes the source when the consumer stops', async () => {
    let closed = false;
    async function* numbers() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    const seen: number[] = [];
    for await (const value of prefetch(numbers())) {
      seen.push(value);
      if (value === 4) break;
    }
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(closed).toBe(true);
  });
});
