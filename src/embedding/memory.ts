/**
 * Memory of embedding tables as served: what the selection cost model charges.
 *
 *   fp32  4 bytes per weight
 *   fp16  2 bytes per weight
 *   int8  1 byte per weight + one fp32 scale per row (symmetric per-row quantisation)
 *
 * A table with `rows` rows kept at `dims` dimensions costs
 *   rows × dims × bytesPerWeight + (dims > 0 ? rows × bytesPerRow : 0),
 * so for a table with k of its blocks kept:
 *   bytes(k) = k × blockBytes + (k > 0 ? rowOverheadBytes : 0).
 * A dropped table (no block) costs nothing.
 */
import type { EmbeddingSpec, EmbeddingTableSpec } from './layout.js';
import { checkActiveDims } from './layout.js';

export type EmbeddingDtype = 'fp32' | 'fp16' | 'int8';

export interface DtypeCost {
  /** Bytes per stored weight. */
  readonly bytesPerWeight: number;
  /** Bytes per row stored besides the weights (the int8 scale). */
  readonly bytesPerRow: number;
}

export const DTYPE_COST: Readonly<Record<EmbeddingDtype, DtypeCost>> = {
  fp32: { bytesPerWeight: 4, bytesPerRow: 0 },
  fp16: { bytesPerWeight: 2, bytesPerRow: 0 },
  int8: { bytesPerWeight: 1, bytesPerRow: 4 },
};

/** Bytes of `rows` embedding rows of `dims` dimensions in `dtype`; 0 when dims is 0. */
export function embeddingBytes(rows: number, dims: number, dtype: EmbeddingDtype): number {
  if (dims === 0) return 0;
  const cost = DTYPE_COST[dtype];
  return rows * (dims * cost.bytesPerWeight + cost.bytesPerRow);
}

export interface TableMemory {
  readonly table: string;
  readonly rows: number;
  readonly dtype: EmbeddingDtype;
  /** Bytes of the whole table at its full dimension. */
  readonly fullBytes: number;
  /** Bytes each kept block adds: rows × blockSize × bytesPerWeight. */
  readonly blockBytes: number;
  /** Bytes paid once when at least one block is kept: rows × bytesPerRow. */
  readonly rowOverheadBytes: number;
}

export function tableMemory(table: EmbeddingTableSpec, dtype: EmbeddingDtype): TableMemory {
  const cost = DTYPE_COST[dtype];
  return {
    table: table.name,
    rows: table.rows,
    dtype,
    fullBytes: embeddingBytes(table.rows, table.dim, dtype),
    blockBytes: table.rows * table.blockSize * cost.bytesPerWeight,
    rowOverheadBytes: table.rows * cost.bytesPerRow,
  };
}

export interface SelectionMemory {
  readonly dtype: EmbeddingDtype;
  readonly totalBytes: number;
  /** Bytes per table, in table order (0 for dropped tables). */
  readonly tableBytes: readonly number[];
}

/** Memory of a selection given as active dims per table (a multiple of block size, 0 = dropped). */
export function selectionMemory(
  spec: EmbeddingSpec,
  activeDims: ArrayLike<number>,
  dtype: EmbeddingDtype,
): SelectionMemory {
  checkActiveDims(spec, activeDims);
  const tableBytes = spec.tables.map((table) => embeddingBytes(table.rows, activeDims[table.index], dtype));
  return { dtype, totalBytes: tableBytes.reduce((sum, bytes) => sum + bytes, 0), tableBytes };
}
