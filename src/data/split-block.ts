/**
 * Encoded rows stored per split, so that reading one split never filters every row: a
 * block holds consecutive source batches, each split's rows in columns of their own, plus
 * what it takes to give back the batches exactly as the source delivered them. The
 * in-memory cache is one block; a shard on disk is one block.
 */
import { concatFeature, concatTyped, rowsBySplit, viewRows, type Batch } from './batch-rows.js';
import type { EncodedBatch, EncodedFeature } from './encoder.js';
import { SPLIT_NAMES } from './split.js';

/** The rows of one split in source order; source batch b gave chunkRows[b] of them (maybe 0). */
export interface SplitRows extends Batch {
  readonly chunkRows: Int32Array;
}

export interface SplitBlock {
  /** Position in the dataset of the block's first row. */
  readonly firstRow: number;
  /** Rows of each source batch, in order. */
  readonly batchRows: Int32Array;
  /** The split of every row, in source order. */
  readonly splits: Uint8Array;
  /** Indexed by TRAIN, VALID, TEST. */
  readonly parts: readonly SplitRows[];
}

/** Cached rows, read split by split. */
export interface SplitAccess {
  readonly storage: 'memory' | 'disk';
  /** The split's rows in source order, one chunk per source batch (some empty). */
  chunks(split: number): AsyncIterable<Batch>;
}

/** What dataset.encodedBatches() hands out: every row in source order. */
export interface EncodedRows extends AsyncIterable<EncodedBatch> {
  /** Present once every row is cached. */
  readonly bySplit?: SplitAccess;
}

export function batchBytes(batch: Batch): number {
  const features = batch.features.reduce(
    (sum, { ids, offsets }) => sum + ids.byteLength + (offsets?.byteLength ?? 0),
    0,
  );
  return batch.labels.byteLength + features;
}

/** A split's rows chunk by chunk, as its source batches held them (views: copy before handing out). */
export function* chunksOf(rows: SplitRows): Generator<Batch> {
  let start = 0;
  for (const count of rows.chunkRows) {
    yield viewRows(rows, start, start + count);
    start += count;
  }
}

/** The block's rows as the source batches that delivered them: same rows, order and splits. */
export function* sourceBatches(block: SplitBlock): Generator<EncodedBatch> {
  const { parts } = block;
  const cursors = parts.map(() => 0);
  let row = 0;
  for (const numRows of block.batchRows) {
    const splits = block.splits.slice(row, row + numRows);
    /** Each row's position among its split's rows. */
    const within = new Int32Array(numRows);
    for (let i = 0; i < numRows; i++) within[i] = cursors[splits[i]]++;
    const labels = new Float32Array(numRows);
    for (let i = 0; i < numRows; i++) labels[i] = parts[splits[i]].labels[within[i]];
    const features = parts[0].features.map((_, index) =>
      interleave(
        parts.map((part) => part.features[index]),
        splits,
        within,
      ),
    );
    yield { numRows, firstRow: block.firstRow + row, features, labels, splits };
    row += numRows;
  }
}

/** One feature's rows back in source order, row i from split splits[i] at position within[i]. */
function interleave(
  bySplit: readonly EncodedFeature[],
  splits: Uint8Array,
  within: Int32Array,
): EncodedFeature {
  const numRows = splits.length;
  if (!bySplit[0].offsets) {
    const ids = new Int32Array(numRows);
    for (let i = 0; i < numRows; i++) ids[i] = bySplit[splits[i]].ids[within[i]];
    return { ids };
  }
  const offsets = new Int32Array(numRows + 1);
  for (let i = 0; i < numRows; i++) {
    const from = bySplit[splits[i]].offsets!;
    offsets[i + 1] = offsets[i] + from[within[i] + 1] - from[within[i]];
  }
  const ids = new Int32Array(offsets[numRows]);
  for (let i = 0, to = 0; i < numRows; i++) {
    const { ids: source, offsets: from } = bySplit[splits[i]];
    for (let at = from![within[i]], end = from![within[i] + 1]; at < end; at++) ids[to++] = source[at];
  }
  return { ids, offsets };
}

/** One split's columns, piece by piece (a piece per source batch), joined when taken. */
interface SplitPieces {
  readonly chunkRows: number[];
  readonly labels: Float32Array[];
  readonly features: EncodedFeature[][];
}

/**
 * Gathers encoded batches, divided by split, and takes them out as blocks of consecutive
 * batches. Memory is the batches' own arrays until a block is taken; taking joins one
 * column at a time, so the peak is the gathered rows plus one column.
 */
export class BlockAccumulator {
  /** Bytes of the batches gathered and not yet taken. */
  bytes = 0;
  private firstRow = 0;
  private readonly batchRows: number[] = [];
  private readonly batchBytes: number[] = [];
  private readonly splits: Uint8Array[] = [];
  private readonly pieces: SplitPieces[] = SPLIT_NAMES.map(() => ({
    chunkRows: [],
    labels: [],
    features: [],
  }));

  get batchCount(): number {
    return this.batchRows.length;
  }

  add(batch: EncodedBatch): void {
    if (this.batchCount === 0) this.firstRow = batch.firstRow;
    let bytes = batch.splits.byteLength;
    rowsBySplit(batch).forEach((part, split) => {
      const pieces = this.pieces[split];
      pieces.chunkRows.push(part.numRows);
      pieces.labels.push(part.labels);
      part.features.forEach((feature, index) => (pieces.features[index] ??= []).push(feature));
      bytes += batchBytes(part);
    });
    this.batchRows.push(batch.numRows);
    this.batchBytes.push(bytes);
    this.splits.push(batch.splits);
    this.bytes += bytes;
  }

  /** How many batches from the front make at least `bytes` (all there are, if fewer). */
  batchesFilling(bytes: number): number {
    let count = 0;
    for (let sum = 0; count < this.batchCount && sum < bytes; count++) sum += this.batchBytes[count];
    return count;
  }

  /** Takes the first `count` gathered batches out as one block. */
  take(count = this.batchCount): SplitBlock {
    const batchRows = Int32Array.from(this.batchRows.splice(0, count));
    const rows = batchRows.reduce((sum, n) => sum + n, 0);
    const block: SplitBlock = {
      firstRow: this.firstRow,
      batchRows,
      splits: concatTyped(this.splits.splice(0, count), Uint8Array),
      parts: this.pieces.map((pieces) => takePieces(pieces, count)),
    };
    this.bytes -= this.batchBytes.splice(0, count).reduce((sum, n) => sum + n, 0);
    this.firstRow += rows;
    return block;
  }
}

function takePieces(pieces: SplitPieces, count: number): SplitRows {
  const chunkRows = Int32Array.from(pieces.chunkRows.splice(0, count));
  const numRows = chunkRows.reduce((sum, n) => sum + n, 0);
  const labels = concatTyped(pieces.labels.splice(0, count), Float32Array);
  const features = pieces.features.map((feature) => {
    const taken = feature.splice(0, count);
    return concatFeature(taken, taken[0].offsets !== undefined, numRows);
  });
  return { numRows, features, labels, chunkRows };
}
