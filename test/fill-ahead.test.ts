/**
 * The encoded cache's pass started ahead (prefill): whoever comes while it runs gets every
 * row in source order from it, without a second read of the source; past its memory
 * bound a latecomer reads the source itself; the pass's error reaches its followers.
 */
import { describe, expect, it } from 'vitest';
import { EncodedCache } from '../src/data/encoded-cache.js';
import type { EncodedBatch } from '../src/data/encoder.js';
import { TEST, TRAIN, VALID } from '../src/data/split.js';

const BATCHES = 12;
const ROWS = 50;
const KEY = { fingerprint: 'f', configHash: 'c' };

function batch(index: number): EncodedBatch {
  const firstRow = index * ROWS;
  const ids = Int32Array.from({ length: ROWS }, (_, i) => firstRow + i);
  return {
    numRows: ROWS,
    firstRow,
    features: [{ ids }],
    labels: Float32Array.from(ids, (id) => id % 2),
    splits: Uint8Array.from(ids, (id) => [TRAIN, TRAIN, VALID, TEST][id % 4]),
  };
}

/** A source that yields its batches one per tick, counting its passes and each batch handed out. */
function source(options: { failAt?: number } = {}) {
  const stats = { passes: 0, produced: 0 };
  const read = async function* (): AsyncGenerator<EncodedBatch> {
    stats.passes += 1;
    for (let i = 0; i < BATCHES; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      if (i === options.failAt) throw new Error(`row ${i * ROWS}: broken`);
      stats.produced += 1;
      yield batch(i);
    }
  };
  return { stats, read };
}

async function firstRows(rows: AsyncIterable<EncodedBatch>, limit = Infinity): Promise<number[]> {
  const seen: number[] = [];
  for await (const item of rows) {
    expect(Array.from(item.features[0].ids)).toEqual(Array.from(batch(item.firstRow / ROWS).features[0].ids));
    seen.push(item.firstRow);
    if (seen.length >= limit) break;
  }
  return seen;
}

const ALL = Array.from({ length: BATCHES }, (_, i) => i * ROWS);

describe('prefill', () => {
  it('a pass that comes while it runs follows it: every row once, the source read once', async () => {
    const { stats, read } = source();
    const cache = await EncodedCache.open({ memoryBytes: 1 << 20, key: KEY, read });
    cache.prefill();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stats.produced).toBeGreaterThan(0);
    expect(await firstRows(cache.rows())).toEqual(ALL);
    expect(stats.passes).toBe(1);
    // The pass filled the cache: split by split from now on.
    expect(cache.rows().bySplit?.storage).toBe('memory');
    expect(await firstRows(cache.rows())).toEqual(ALL);
    expect(stats.passes).toBe(1);
  });

  it('runs to the end with nobody following, and fills the cache', async () => {
    const { stats, read } = source();
    const cache = await EncodedCache.open({ memoryBytes: 1 << 20, key: KEY, read });
    cache.prefill();
    while (stats.produced < BATCHES) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(cache.rows().bySplit?.storage).toBe('memory');
    expect(await firstRows(cache.rows())).toEqual(ALL);
    expect(stats.passes).toBe(1);
  });

  it('a consumer that stops early leaves the rest for the next one, still from the one pass', async () => {
    const { stats, read } = source();
    const cache = await EncodedCache.open({ memoryBytes: 1 << 20, key: KEY, read });
    cache.prefill();
    expect(await firstRows(cache.rows(), 3)).toEqual(ALL.slice(0, 3));
    expect(await firstRows(cache.rows())).toEqual(ALL);
    expect(stats.passes).toBe(1);
  });

  it('past its memory bound, a latecomer reads the source itself and gets the same rows', async () => {
    const { stats, read } = source();
    // Two batches' worth: the pass lets go of the rest as nobody follows it.
    const cache = await EncodedCache.open({ memoryBytes: 2 * ROWS * 9, key: KEY, read });
    cache.prefill();
    while (stats.produced < 4) await new Promise((resolve) => setImmediate(resolve));
    expect(await firstRows(cache.rows())).toEqual(ALL);
    expect(stats.passes).toBe(2);
  });

  it('hands its error to the pass that follows it', async () => {
    const { read } = source({ failAt: 5 });
    const cache = await EncodedCache.open({ memoryBytes: 1 << 20, key: KEY, read });
    cache.prefill();
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const item of cache.rows()) seen.push(item.firstRow);
      })(),
    ).rejects.toThrow(`row ${5 * ROWS}: broken`);
    expect(seen).toEqual(ALL.slice(0, 5));
  });
});
