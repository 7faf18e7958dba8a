/**
 * One embedding table as a thread works on it: its weights and optimizer state (arrays
 * that may be shared with another thread) and its pending gradients (this thread's own).
 *
 * Pending gradients are a sparse set (row ─► slot, slot ─► row, `count` slots in use) with
 * one gradient row per slot. Only the thread that owns the table in the current split
 * touches them; the index is allocated on first use, so a thread that never owns a table
 * pays nothing for it.
 */
import type { EmbeddingTableSpec } from './layout.js';
import {
  allocateSlots,
  slotsOver,
  type OptimizerSlots,
  type ResolvedOptimizerConfig,
  type SlotArrays,
} from './optimizers.js';
import type { ArrayAllocator } from './typed-memory.js';

/** The state of a table that every thread sees: weights rows × dim and the optimizer's arrays. */
export interface TableArrays {
  readonly weights: Float32Array;
  readonly slots: SlotArrays;
}

export function allocateTable(
  spec: EmbeddingTableSpec,
  optimizer: ResolvedOptimizerConfig,
  memory: ArrayAllocator,
): TableArrays {
  return {
    weights: memory.float32(spec.rows * spec.dim),
    slots: allocateSlots(optimizer, spec.rows, spec.dim, memory),
  };
}

export class TableState {
  readonly weights: Float32Array;
  readonly slots: OptimizerSlots;
  /** Sparse set: row r is touched iff slotOf[r] < count and touched[slotOf[r]] === r. */
  slotOf = new Int32Array(0);
  touched = new Int32Array(0);
  /** Gradient rows, `active` values per touched slot. */
  grad = new Float32Array(0);
  count = 0;

  constructor(
    readonly spec: EmbeddingTableSpec,
    readonly arrays: TableArrays,
  ) {
    this.weights = arrays.weights;
    this.slots = slotsOver(arrays.slots);
  }

  /** Room for `extra` more touched rows (at most the table's rows). */
  reserve(extra: number): void {
    if (this.slotOf.length === 0) this.slotOf = new Int32Array(this.spec.rows);
    const need = Math.min(this.spec.rows, this.count + extra);
    if (need <= this.touched.length) return;
    const capacity = Math.min(this.spec.rows, Math.max(need, this.touched.length * 2, 64));
    const touched = new Int32Array(capacity);
    touched.set(this.touched.subarray(0, this.count));
    const grad = new Float32Array(capacity * this.spec.dim);
    grad.set(this.grad);
    this.touched = touched;
    this.grad = grad;
  }

  /** Bytes of the row index and the gradient rows. */
  scratchBytes(): number {
    return this.slotOf.byteLength + this.touched.byteLength + this.grad.byteLength;
  }
}
