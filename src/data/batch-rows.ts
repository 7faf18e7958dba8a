/**
 * Rows of encoded batches, moved around without per-row allocation: take rows in a given
 * order, slice a contiguous range, join batches, and divide a batch by split.
 */
import type { EncodedBatch, EncodedFeature } from './encoder.js';
import { SPLIT_NAMES } from './split.js';

export interface Batch {
  readonly numRows: number;
  readonly features: readonly EncodedFeature[];
  readonly labels: Float32Array;
}

/** Where rows that are taken or joined are written. */
export interface RowSpace {
  /** Room for `length` ints: feature f's ids in slot 2f, its offsets in slot 2f + 1. */
  ints(slot: number, length: number): Int32Array;
  floats(length: number): Float32Array;
}

const FRESH: RowSpace = {
  ints: (_slot, length) => new Int32Array(length),
  floats: (length) => new Float32Array(length),
};

/**
 * Arrays reused from one use to the next, for windows of rows that would otherwise take
 * (and page-fault) megabytes of new memory each time. What it holds is valid until the
 * space is used again.
 */
export class ScratchSpace implements RowSpace {
  private readonly arrays: Int32Array[] = [];
  private labels = new Float32Array(0);

  ints(slot: number, length: number): Int32Array {
    if ((this.arrays[slot]?.length ?? -1) < length) this.arrays[slot] = new Int32Array(withRoom(length));
    return this.arrays[slot].subarray(0, length);
  }

  floats(length: number): Float32Array {
    if (this.labels.length < length) this.labels = new Float32Array(withRoom(length));
    return this.labels.subarray(0, length);
  }
}

/** A quarter more than asked: windows vary a little in size. */
const withRoom = (length: number): number => Math.ceil(length * 1.25);

/** The rows `order` of a batch, in that order. */
export function takeRows(batch: Batch, order: Int32Array, space: RowSpace = FRESH): Batch {
  const labels = space.floats(order.length);
  for (let i = 0; i < order.length; i++) labels[i] = batch.labels[order[i]];
  const features = batch.features.map((feature, index) => takeFeatureRows(feature, order, space, 2 * index));
  return { numRows: order.length, features, labels };
}

function takeFeatureRows(
  feature: EncodedFeature,
  order: Int32Array,
  space: RowSpace,
  slot: number,
): EncodedFeature {
  const { ids, offsets } = feature;
  if (!offsets) {
    const taken = space.ints(slot, order.length);
    for (let i = 0; i < order.length; i++) taken[i] = ids[order[i]];
    return { ids: taken };
  }
  const newOffsets = space.ints(slot + 1, order.length + 1);
  newOffsets[0] = 0;
  for (let i = 0; i < order.length; i++)
    newOffsets[i + 1] = newOffsets[i] + offsets[order[i] + 1] - offsets[order[i]];
  const taken = space.ints(slot, newOffsets[order.length]);
  // Lists are short: a loop beats a subarray view per row.
  for (let i = 0, to = 0; i < order.length; i++) {
    for (let from = offsets[order[i]], end = offsets[order[i] + 1]; from < end; from++)
      taken[to++] = ids[from];
  }
  return { ids: taken, offsets: newOffsets };
}

/**
 * Rows start .. end-1 of a batch, copied into one new buffer: one allocation per batch
 * rather than one per array, which is most of what a small copy costs.
 */
export function sliceRows(batch: Batch, start: number, end: number): Batch {
  const rows = end - start;
  const words = batch.features.reduce(
    (sum, { offsets }) => sum + (offsets ? rows + 1 + offsets[end] - offsets[start] : rows),
    rows,
  );
  const buffer = new ArrayBuffer(4 * words);
  let at = 4 * rows;
  const room = (length: number): Int32Array => {
    const view = new Int32Array(buffer, at, length);
    at += 4 * length;
    return view;
  };
  const labels = new Float32Array(buffer, 0, rows);
  labels.set(batch.labels.subarray(start, end));
  const features = batch.features.map(({ ids, offsets }): EncodedFeature => {
    if (!offsets) {
      const copied = room(rows);
      copied.set(ids.subarray(start, end));
      return { ids: copied };
    }
    const rebased = rebaseOffsets(offsets, start, end, room(rows + 1));
    const copied = room(rebased[rows]);
    copied.set(ids.subarray(offsets[start], offsets[end]));
    return { ids: copied, offsets: rebased };
  });
  return { numRows: rows, features, labels };
}

/**
 * Rows start .. end-1 of a batch as views of its arrays (only a multi-valued feature's
 * offsets, which must start at 0, are new).
 */
export function viewRows(batch: Batch, start: number, end: number): Batch {
  const features = batch.features.map(({ ids, offsets }): EncodedFeature => {
    if (!offsets) return { ids: ids.subarray(start, end) };
    const rebased = rebaseOffsets(offsets, start, end, new Int32Array(end - start + 1));
    return { ids: ids.subarray(offsets[start], offsets[end]), offsets: rebased };
  });
  return { numRows: end - start, features, labels: batch.labels.subarray(start, end) };
}

/** Offsets of rows start .. end-1 counted from their first id, written into `out`. */
function rebaseOffsets(offsets: Int32Array, start: number, end: number, out: Int32Array): Int32Array {
  const base = offsets[start];
  for (let i = 0; i <= end - start; i++) out[i] = offsets[start + i] - base;
  return out;
}

/** One batch holding the rows of several, in order (a single part is returned as it is). */
export function concatBatches(parts: readonly Batch[], space: RowSpace = FRESH): Batch {
  if (parts.length === 1) return parts[0];
  const numRows = parts.reduce((sum, part) => sum + part.numRows, 0);
  const labels = concatInto(
    space.floats(numRows),
    parts.map((part) => part.labels),
  );
  const features = parts[0].features.map((first, index) =>
    concatFeature(
      parts.map((part) => part.features[index]),
      first.offsets !== undefined,
      numRows,
      space,
      2 * index,
    ),
  );
  return { numRows, features, labels };
}

/** Pieces of one feature, rows after rows; `numRows` is their total. */
export function concatFeature(
  pieces: readonly EncodedFeature[],
  multiValued: boolean,
  numRows: number,
  space: RowSpace = FRESH,
  slot = 0,
): EncodedFeature {
  const idPieces = pieces.map((piece) => piece.ids);
  const ids = concatInto(
    space.ints(
      slot,
      idPieces.reduce((sum, array) => sum + array.length, 0),
    ),
    idPieces,
  );
  if (!multiValued) return { ids };
  const offsets = space.ints(slot + 1, numRows + 1);
  offsets[0] = 0;
  let rowAt = 0;
  let base = 0;
  for (const piece of pieces) {
    const pieceOffsets = piece.offsets!;
    for (let i = 1; i < pieceOffsets.length; i++) offsets[rowAt + i] = base + pieceOffsets[i];
    rowAt += pieceOffsets.length - 1;
    base += piece.ids.length;
  }
  return { ids, offsets };
}

type TypedArray = Int32Array | Float32Array | Uint8Array;

/** Arrays joined end to end (a single array is returned as it is). */
export function concatTyped<T extends TypedArray>(arrays: readonly T[], Type: new (length: number) => T): T {
  if (arrays.length === 1) return arrays[0];
  return concatInto(new Type(arrays.reduce((sum, array) => sum + array.length, 0)), arrays);
}

function concatInto<T extends TypedArray>(out: T, arrays: readonly T[]): T {
  let at = 0;
  for (const array of arrays) {
    out.set(array, at);
    at += array.length;
  }
  return out;
}

const partsOfBatch = new WeakMap<EncodedBatch, readonly Batch[]>();

/**
 * The rows of each split of a batch (indexed by TRAIN, VALID, TEST), in source order.
 * Remembered per batch: the cache builder and the batcher both divide the batches of the
 * pass that fills the cache. A split holding every row shares the batch's arrays.
 */
export function rowsBySplit(batch: EncodedBatch): readonly Batch[] {
  const known = partsOfBatch.get(batch);
  if (known) return known;
  const counts = SPLIT_NAMES.map(() => 0);
  for (let i = 0; i < batch.numRows; i++) counts[batch.splits[i]] += 1;
  const parts = counts.map((count, split): Batch => {
    if (count === batch.numRows) return batch;
    const rows = new Int32Array(count);
    for (let i = 0, at = 0; at < count; i++) if (batch.splits[i] === split) rows[at++] = i;
    return takeRows(batch, rows);
  });
  partsOfBatch.set(batch, parts);
  return parts;
}
