/**
 * Batcher: rows of one split, shuffled within a window of `shuffleBuffer` rows, cut into
 * batches of exactly `batchSize` rows (the last batch of an epoch may be smaller).
 * Window shuffling keeps memory bounded by the buffer, like tf.data's shuffle buffer.
 */
import { Random } from '../util/random.js';
import type { EncodedBatch, EncodedFeature } from './encoder.js';

export interface Batch {
  readonly numRows: number;
  readonly features: readonly EncodedFeature[];
  readonly labels: Float32Array;
}

export interface BatcherOptions {
  readonly split: number;
  readonly batchSize: number;
  /** Rows gathered before shuffling; 0 or 1 keeps the source order. */
  readonly shuffleBuffer: number;
  /** Seed of the shuffle; give each epoch its own (for example seed + epoch). */
  readonly seed: number;
  /** Keep a final batch with fewer than batchSize rows (default true). */
  readonly keepPartial?: boolean;
}

export async function* batches(
  source: AsyncIterable<EncodedBatch>,
  options: BatcherOptions,
): AsyncGenerator<Batch> {
  const { batchSize, shuffleBuffer } = options;
  const random = new Random(options.seed);
  const window = Math.max(shuffleBuffer, batchSize);
  let pending: Batch[] = [];
  let pendingRows = 0;
  for await (const encoded of source) {
    const rows = selectSplit(encoded, options.split);
    if (rows.numRows === 0) continue;
    pending.push(rows);
    pendingRows += rows.numRows;
    if (pendingRows < window) continue;
    const merged = concatBatches(pending);
    const order = shuffleBuffer > 1 ? random.permutation(merged.numRows) : identity(merged.numRows);
    const full = Math.floor(merged.numRows / batchSize) * batchSize;
    for (let start = 0; start < full; start += batchSize)
      yield takeRows(merged, order.subarray(start, start + batchSize));
    const rest = takeRows(merged, order.subarray(full));
    pending = rest.numRows > 0 ? [rest] : [];
    pendingRows = rest.numRows;
  }
  if (pendingRows === 0) return;
  const merged = concatBatches(pending);
  const order = shuffleBuffer > 1 ? random.permutation(merged.numRows) : identity(merged.numRows);
  for (let start = 0; start < merged.numRows; start += batchSize) {
    const end = Math.min(start + batchSize, merged.numRows);
    if (end - start < batchSize && options.keepPartial === false) return;
    yield takeRows(merged, order.subarray(start, end));
  }
}

function identity(length: number): Int32Array {
  const order = new Int32Array(length);
  for (let i = 0; i < length; i++) order[i] = i;
  return order;
}

function selectSplit(encoded: EncodedBatch, split: number): Batch {
  const rows: number[] = [];
  for (let i = 0; i < encoded.numRows; i++) if (encoded.splits[i] === split) rows.push(i);
  if (rows.length === encoded.numRows) return encoded;
  return takeRows(encoded, Int32Array.from(rows));
}

/** The rows `order` of a batch, in that order. */
export function takeRows(batch: Batch, order: Int32Array): Batch {
  const labels = new Float32Array(order.length);
  for (let i = 0; i < order.length; i++) labels[i] = batch.labels[order[i]];
  const features = batch.features.map((feature) => takeFeatureRows(feature, order));
  return { numRows: order.length, features, labels };
}

function takeFeatureRows(feature: EncodedFeature, order: Int32Array): EncodedFeature {
  const { ids, offsets } = feature;
  if (!offsets) {
    const taken = new Int32Array(order.length);
    for (let i = 0; i < order.length; i++) taken[i] = ids[order[i]];
    return { ids: taken };
  }
  const newOffsets = new Int32Array(order.length + 1);
  for (let i = 0; i < order.length; i++)
    newOffsets[i + 1] = newOffsets[i] + offsets[order[i] + 1] - offsets[order[i]];
  const taken = new Int32Array(newOffsets[order.length]);
  for (let i = 0; i < order.length; i++)
    taken.set(ids.subarray(offsets[order[i]], offsets[order[i] + 1]), newOffsets[i]);
  return { ids: taken, offsets: newOffsets };
}

/** One batch holding the rows of several, in order. */
export function concatBatches(parts: readonly Batch[]): Batch {
  if (parts.length === 1) return parts[0];
  const numRows = parts.reduce((sum, part) => sum + part.numRows, 0);
  const labels = new Float32Array(numRows);
  let row = 0;
  for (const part of parts) {
    labels.set(part.labels, row);
    row += part.numRows;
  }
  const features = parts[0].features.map((first, index) => {
    const pieces = parts.map((part) => part.features[index]);
    const ids = concatInt32(pieces.map((piece) => piece.ids));
    if (!first.offsets) return { ids };
    const offsets = new Int32Array(numRows + 1);
    let rowAt = 0;
    let base = 0;
    for (const piece of pieces) {
      const pieceOffsets = piece.offsets!;
      for (let i = 1; i < pieceOffsets.length; i++) offsets[rowAt + i] = base + pieceOffsets[i];
      rowAt += pieceOffsets.length - 1;
      base += piece.ids.length;
    }
    return { ids, offsets };
  });
  return { numRows, features, labels };
}

function concatInt32(arrays: readonly Int32Array[]): Int32Array {
  const out = new Int32Array(arrays.reduce((sum, array) => sum + array.length, 0));
  let at = 0;
  for (const array of arrays) {
    out.set(array, at);
    at += array.length;
  }
  return out;
}

/**
 * Keeps the next item in preparation while the consumer works on the current one, so
 * reading and encoding overlap training wherever the source awaits I/O.
 */
export async function* prefetch<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  try {
    while (true) {
      const result = await next;
      if (result.done) return;
      next = iterator.next();
      yield result.value;
    }
  } finally {
    // The consumer stopped early: settle the item in preparation and close the source.
    next.catch(() => undefined);
    await iterator.return?.();
  }
}
