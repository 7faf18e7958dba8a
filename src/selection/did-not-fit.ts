/**
 * What did not fit: the candidates a method scored above one of its picks that the
 * budgets could not hold when the pick was made (Picker.pickExplained records them), with
 * what each would have cost, what was left of each budget then, which budget stopped it,
 * and the forms of it that would have fit: the same group at fewer dims (unit group) and
 * the group stored as int8.
 */
import type { EmbeddingDtype } from '../embedding/memory.js';
import { blocksPerTable, type Candidate } from './candidates.js';
import { costDifference, withCandidate, type SelectionCost } from './cost-model.js';
import { budgetsLeft, withinBudgets, type Budgets } from './budgets.js';
import type { PassedOver, Picker } from './picker.js';

/** A form of a candidate's group that would have fit. */
export interface FittingForm {
  /** The group's dims in that form. */
  readonly dim: number;
  readonly dtype: EmbeddingDtype;
  /** What it would have added to the selection. */
  readonly marginal: SelectionCost;
}

/** The budget a candidate would have exceeded; 'other_tower': it fitted, but left no room for a tower without a candidate. */
export type Blocker = 'memory' | 'latency' | 'memory_and_latency' | 'other_tower';

export interface DidNotFit {
  readonly candidate: number;
  readonly name: string;
  /** Its largest score among the rounds it was passed over in, and that round. */
  readonly weight: number;
  readonly round: number;
  /** Every round it was passed over in (0: methods without rounds). */
  readonly rounds: readonly number[];
  /** What it would have added to the selection in that round. */
  readonly marginal: SelectionCost;
  /** Each budget minus the cost of the selection then; undefined where there is no budget. */
  readonly left: Budgets;
  readonly blockedBy: Blocker;
  /** The group at the most dims that would have fit, fewer than the candidate's (unit group). */
  readonly fewerDims?: FittingForm;
  /** The group as int8 at the most dims that would have fit (unless the run is int8 already). */
  readonly int8?: FittingForm;
}

/** The candidates passed over in one round. */
export interface RoundPassedOver {
  readonly round: number;
  readonly passedOver?: readonly PassedOver[];
}

/**
 * One entry per candidate passed over in any round (at the round of its largest score),
 * largest score first. `order`: the candidates picked, in order.
 */
export function explainDidNotFit(
  picker: Picker,
  order: readonly number[],
  rounds: readonly RoundPassedOver[],
): DidNotFit[] {
  const byCandidate = new Map<number, { top: PassedOver & { round: number }; rounds: Set<number> }>();
  for (const { round, passedOver = [] } of rounds)
    for (const passed of passedOver) {
      const seen = byCandidate.get(passed.candidate);
      if (!seen) byCandidate.set(passed.candidate, { top: { ...passed, round }, rounds: new Set([round]) });
      else {
        seen.rounds.add(round);
        if (passed.weight > seen.top.weight) seen.top = { ...passed, round };
      }
    }
  const ascending = (rounds: Set<number>) => [...rounds].sort((a, b) => a - b);
  return [...byCandidate.values()]
    .map(({ top, rounds: seen }) => explain(picker, order, top, ascending(seen)))
    .sort((a, b) => b.weight - a.weight);
}

function explain(
  picker: Picker,
  order: readonly number[],
  passed: PassedOver & { round: number },
  rounds: readonly number[],
): DidNotFit {
  const { costs, budgets } = picker;
  const candidate = picker.candidates[passed.candidate];
  const before = blocksPerTable(costs.spec, picker.candidates, order.slice(0, passed.picksBefore));
  const costBefore = costs.cost(before);
  const after = costs.cost(withCandidate(before, candidate));
  const over = (budget: Budgets) => !withinBudgets(after, budget);
  const memory = budgets.memoryBytes !== undefined && over({ memoryBytes: budgets.memoryBytes });
  const latency = budgets.latencyUs !== undefined && over({ latencyUs: budgets.latencyUs });
  const blockedBy: Blocker =
    memory && latency ? 'memory_and_latency' : memory ? 'memory' : latency ? 'latency' : 'other_tower';
  const forms = new FormFinder(picker, candidate, before, costBefore, passed.picksBefore + 1);
  return {
    candidate: candidate.index,
    name: candidate.name,
    weight: passed.weight,
    round: passed.round,
    rounds,
    marginal: costDifference(after, costBefore),
    left: budgetsLeft(budgets, costBefore),
    blockedBy,
    fewerDims: forms.largest(candidate.blocks - 1, costs.dtype),
    int8: costs.dtype === 'int8' ? undefined : forms.largest(candidate.blocks, 'int8'),
  };
}

/** The largest forms of a candidate's group that fit on top of the selection it was passed over on. */
class FormFinder {
  constructor(
    private readonly picker: Picker,
    private readonly candidate: Candidate,
    private readonly before: Int32Array,
    private readonly costBefore: SelectionCost,
    private readonly picks: number,
  ) {}

  /** The group with the most of up to `maxBlocks` of the candidate's blocks that fits in `dtype`. */
  largest(maxBlocks: number, dtype: EmbeddingDtype): FittingForm | undefined {
    const { costs } = this.picker;
    const table = this.candidate.table;
    for (let blocks = maxBlocks; blocks >= 1; blocks--) {
      const kept = Int32Array.from(this.before);
      kept[table] += blocks;
      const cost = costs.costWithTableIn(kept, table, dtype);
      if (this.picker.fits(kept, this.picks, cost))
        return {
          dim: kept[table] * costs.spec.blockSize,
          dtype,
          marginal: costDifference(cost, this.costBefore),
        };
    }
    return undefined;
  }
}
