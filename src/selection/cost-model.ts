/**
 * What a selection costs as served: embedding memory (tables at their kept dims in the
 * export dtype) and predicted inference latency. Marginal costs depend on what is
 * already selected: a group's first block adds a lookup (and int8's row scales), later
 * blocks only dims.
 */
import type { EmbeddingSpec } from '../embedding/layout.js';
import { embeddingBytes, selectionMemory, type EmbeddingDtype } from '../embedding/memory.js';
import type { Candidate } from './candidates.js';
import { activeDimsOf } from './candidates.js';
import { latencyShape, predictLatency, type LatencyCoefficients, type LatencyShape } from './latency.js';

export interface SelectionCost {
  readonly memoryBytes: number;
  /** Undefined without a latency model. */
  readonly latencyUs?: number;
}

export interface TowerUnits {
  readonly user: readonly number[];
  readonly item: readonly number[];
}

export class CostModel {
  constructor(
    readonly spec: EmbeddingSpec,
    readonly dtype: EmbeddingDtype,
    readonly towers: TowerUnits,
    readonly latency?: LatencyCoefficients,
    /** Blocks per table of the full model (the groups' configured dims); default every block. */
    readonly fullBlocks: ArrayLike<number> = spec.tables.map((table) => table.numBlocks),
  ) {}

  /** The same costs with a latency model (a run knows memory costs before its latency model). */
  withLatency(latency: LatencyCoefficients): CostModel {
    return new CostModel(this.spec, this.dtype, this.towers, latency, this.fullBlocks);
  }

  /** Cost of a selection given as kept blocks per table. */
  cost(blocks: ArrayLike<number>): SelectionCost {
    const memoryBytes = selectionMemory(this.spec, activeDimsOf(this.spec, blocks), this.dtype).totalBytes;
    if (!this.latency) return { memoryBytes };
    return { memoryBytes, latencyUs: predictLatency(this.latency, this.shape(blocks)) };
  }

  shape(blocks: ArrayLike<number>): LatencyShape {
    return latencyShape(this.spec, blocks, this.towers);
  }

  /** The full model: every group at its configured dimension. */
  full(): SelectionCost {
    return this.cost(this.fullBlocks);
  }

  /** What adding `candidate` to the selection `blocks` costs. */
  marginal(blocks: ArrayLike<number>, candidate: Candidate): SelectionCost {
    const before = this.cost(blocks);
    const after = this.cost(withCandidate(blocks, candidate));
    return costDifference(after, before);
  }

  /** Cost of the selection `blocks` with one table stored in `dtype`, the others in the model's dtype. */
  costWithTableIn(blocks: ArrayLike<number>, table: number, dtype: EmbeddingDtype): SelectionCost {
    const cost = this.cost(blocks);
    const { rows } = this.spec.tables[table];
    const dims = blocks[table] * this.spec.blockSize;
    const memoryBytes =
      cost.memoryBytes - embeddingBytes(rows, dims, this.dtype) + embeddingBytes(rows, dims, dtype);
    return { ...cost, memoryBytes };
  }
}

export function withCandidate(blocks: ArrayLike<number>, candidate: Candidate): Int32Array {
  const next = Int32Array.from(blocks);
  next[candidate.table] += candidate.blocks;
  return next;
}

export function costDifference(a: SelectionCost, b: SelectionCost): SelectionCost {
  return combine(a, b, -1);
}

export function costSum(a: SelectionCost, b: SelectionCost): SelectionCost {
  return combine(a, b, 1);
}

function combine(a: SelectionCost, b: SelectionCost, sign: 1 | -1): SelectionCost {
  const memoryBytes = a.memoryBytes + sign * b.memoryBytes;
  if (a.latencyUs === undefined || b.latencyUs === undefined) return { memoryBytes };
  return { memoryBytes, latencyUs: a.latencyUs + sign * b.latencyUs };
}
