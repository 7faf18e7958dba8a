/**
 * The batch order lemopt has always produced, written plainly over rows as objects: the
 * oracle that the typed-array batcher (streamed or cached, in memory or on disk) must
 * match row for row. Rows of the split gather until a window of max(shuffleBuffer,
 * batchSize) is full; the window is permuted (random.permutation) when shuffleBuffer > 1
 * and cut into full batches; the rest leads the next window.
 */
import type { Batch } from '../../src/data/batcher.js';
import type { EncodedBatch } from '../../src/data/encoder.js';
import type { BatcherOptions } from '../../src/data/batcher.js';
import { Random } from '../../src/util/random.js';

/** A row: each feature's ids, then the label. */
export type Row = readonly (readonly number[] | number)[];

export function rowsOf(batch: Batch): Row[] {
  return Array.from({ length: batch.numRows }, (_, row) => [
    ...batch.features.map(({ ids, offsets }) =>
      offsets ? Array.from(ids.subarray(offsets[row], offsets[row + 1])) : [ids[row]],
    ),
    batch.labels[row],
  ]);
}

export function referenceBatches(encoded: readonly EncodedBatch[], options: BatcherOptions): Row[][] {
  const { batchSize, shuffleBuffer } = options;
  const random = new Random(options.seed);
  const window = Math.max(shuffleBuffer, batchSize);
  const out: Row[][] = [];
  let pending: Row[] = [];
  const permuted = (): Row[] => {
    const order =
      shuffleBuffer > 1 ? Array.from(random.permutation(pending.length)) : pending.map((_, i) => i);
    return order.map((i) => pending[i]);
  };
  for (const batch of encoded) {
    const rows = rowsOf(batch).filter((_, row) => batch.splits[row] === options.split);
    if (rows.length === 0) continue;
    pending.push(...rows);
    if (pending.length < window) continue;
    const ordered = permuted();
    const full = Math.floor(ordered.length / batchSize) * batchSize;
    for (let start = 0; start < full; start += batchSize) out.push(ordered.slice(start, start + batchSize));
    pending = ordered.slice(full);
  }
  const ordered = pending.length > 0 ? permuted() : [];
  for (let start = 0; start < ordered.length; start += batchSize) {
    const batch = ordered.slice(start, start + batchSize);
    if (batch.length < batchSize && options.keepPartial === false) break;
    out.push(batch);
  }
  return out;
}
