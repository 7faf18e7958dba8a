/**
 * Batcher: rows of one split, shuffled within a window of `shuffleBuffer` rows, cut into
 * batches of exactly `batchSize` rows (the last batch of an epoch may be smaller).
 * Window shuffling keeps memory bounded by the buffer, like tf.data's shuffle buffer.
 *
 * A window is joined and gathered in its shuffled order once, in arrays reused from window
 * to window, and its batches are copied out of it: gathering each batch from random rows
 * would miss the caches on almost every value (the training step between batches evicts
 * them), and new window-sized arrays cost page faults every time.
 */
import { Random } from '../util/random.js';
import { concatBatches, rowsBySplit, ScratchSpace, sliceRows, takeRows, type Batch } from './batch-rows.js';
import type { EncodedBatch } from './encoder.js';
import type { EncodedRows } from './split-block.js';

export type { Batch } from './batch-rows.js';
export { concatBatches, takeRows } from './batch-rows.js';

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

/** Cached rows are read split by split; otherwise every source batch is divided by split. */
export async function* batches(source: EncodedRows, options: BatcherOptions): AsyncGenerator<Batch> {
  const { split, batchSize, shuffleBuffer } = options;
  const chunks = source.bySplit?.chunks(split) ?? splitOf(source, split);
  const random = new Random(options.seed);
  const window = Math.max(shuffleBuffer, batchSize);
  const spaces = idleSpaces.pop() ?? {
    joined: new ScratchSpace(),
    shuffled: new ScratchSpace(),
    order: new ScratchSpace(),
  };
  const { joined, shuffled, order } = spaces;
  let pending: Batch[] = [];
  let pendingRows = 0;
  /** Batches of the pending rows; the rows left over (fewer than a batch) stay pending. */
  const cut = function* (last: boolean): Generator<Batch> {
    const merged = concatBatches(pending, joined);
    const rows = merged.numRows;
    const whole = last && options.keepPartial !== false ? rows : Math.floor(rows / batchSize) * batchSize;
    const ordered = shuffleBuffer > 1 ? takeRows(merged, permutation(random, rows, order), shuffled) : merged;
    for (let start = 0; start < whole; start += batchSize)
      yield sliceRows(ordered, start, Math.min(start + batchSize, whole));
    pending = whole < rows ? [sliceRows(ordered, whole, rows)] : [];
    pendingRows = rows - whole;
  };
  try {
    for await (const chunk of chunks) {
      if (chunk.numRows === 0) continue;
      pending.push(chunk);
      pendingRows += chunk.numRows;
      if (pendingRows >= window) yield* cut(false);
    }
    if (pendingRows > 0) yield* cut(true);
  } finally {
    if (idleSpaces.length < MAX_IDLE_SPACES) idleSpaces.push(spaces);
  }
}

interface WindowSpaces {
  readonly joined: ScratchSpace;
  readonly shuffled: ScratchSpace;
  readonly order: ScratchSpace;
}

/** The spaces of a finished batcher, for the next one (each epoch would fault in megabytes anew). */
const idleSpaces: WindowSpaces[] = [];
const MAX_IDLE_SPACES = 1;

/** random.permutation(rows), drawn the same way, in a reused array. */
function permutation(random: Random, rows: number, space: ScratchSpace): Int32Array {
  const order = space.ints(0, rows);
  for (let i = 0; i < rows; i++) order[i] = i;
  return random.shuffle(order);
}

async function* splitOf(source: AsyncIterable<EncodedBatch>, split: number): AsyncGenerator<Batch> {
  for await (const batch of source) yield rowsBySplit(batch)[split];
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
