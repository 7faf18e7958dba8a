/**
 * The budget keeper every selection method shares: which unselected candidates still fit
 * both budgets given what is selected, and picking among them by a score.
 *
 * pick 'weight': the largest score (attention weight, importance...).
 * pick 'weight_per_cost': the largest score per unit of marginal cost, the cost being the
 * fraction of each budget it uses (summed over the budgets set; of the full model's
 * memory when none is).
 */
import type { Candidate } from './candidates.js';
import { blocksPerTable } from './candidates.js';
import { withCandidate, type CostModel, type SelectionCost } from './cost-model.js';
import { describeBudgets, describeCost, withinBudgets, type Budgets } from './budgets.js';
import { LemoptError } from '../util/errors.js';

export type PickRule = 'weight' | 'weight_per_cost';

export interface PickedCandidate {
  readonly candidate: number;
  readonly name: string;
  /** The score it was picked on (an attention weight for Sequential Attention). */
  readonly weight: number;
  readonly marginal: SelectionCost;
  /** Cost of the selection once this pick is in. */
  readonly cumulative: SelectionCost;
}

export class Picker {
  private readonly chosen: number[] = [];
  private readonly isChosen: Uint8Array;
  private blocks: Int32Array;
  private readonly fullCost: SelectionCost;

  constructor(
    readonly candidates: readonly Candidate[],
    readonly costs: CostModel,
    readonly budgets: Budgets,
    readonly rule: PickRule,
    /** Stop after this many picks. */
    readonly maxPicks = candidates.length,
  ) {
    this.isChosen = new Uint8Array(candidates.length);
    this.blocks = new Int32Array(costs.spec.tables.length);
    this.fullCost = costs.full();
  }

  /** Picked candidates in order. */
  get selected(): readonly number[] {
    return this.chosen;
  }

  /** 0/1 per candidate. */
  get mask(): Uint8Array {
    return this.isChosen.slice();
  }

  /** Kept blocks per table. */
  get keptBlocks(): Int32Array {
    return this.blocks.slice();
  }

  cost(): SelectionCost {
    return this.costs.cost(this.blocks);
  }

  /** Unselected candidates that fit both budgets on top of the current selection. */
  affordable(): number[] {
    if (this.chosen.length >= this.maxPicks) return [];
    return this.candidates
      .filter(
        (c) =>
          !this.isChosen[c.index] &&
          withinBudgets(this.costs.cost(withCandidate(this.blocks, c)), this.budgets),
      )
      .map((c) => c.index);
  }

  done(): boolean {
    return this.affordable().length === 0;
  }

  /**
   * Picks up to `count` candidates by `scores` (one per candidate), re-checking the
   * budgets after each pick. Returns the picks (none when nothing is affordable).
   */
  pick(scores: ArrayLike<number>, count = 1): PickedCandidate[] {
    const picks: PickedCandidate[] = [];
    while (picks.length < count) {
      let best = -1;
      let bestScore = -Infinity;
      for (const index of this.affordable()) {
        const score = this.ranking(scores[index], this.candidates[index]);
        if (score > bestScore) [best, bestScore] = [index, score];
      }
      if (best < 0) break;
      picks.push(this.add(best, scores[best]));
    }
    return picks;
  }

  /** Adds one candidate (it must be affordable). */
  add(index: number, weight: number): PickedCandidate {
    const candidate = this.candidates[index];
    if (this.isChosen[index]) throw new Error(`candidate '${candidate.name}' is already selected`);
    const marginal = this.costs.marginal(this.blocks, candidate);
    const next = withCandidate(this.blocks, candidate);
    const cumulative = this.costs.cost(next);
    if (!withinBudgets(cumulative, this.budgets))
      throw new Error(`candidate '${candidate.name}' does not fit the budgets`);
    this.blocks = next;
    this.isChosen[index] = 1;
    this.chosen.push(index);
    return { candidate: index, name: candidate.name, weight, marginal, cumulative };
  }

  private ranking(score: number, candidate: Candidate): number {
    if (this.rule === 'weight') return score;
    return score / Math.max(this.relativeCost(this.costs.marginal(this.blocks, candidate)), 1e-12);
  }

  /** A marginal cost as a fraction of the budgets (summed), or of the full model's memory. */
  relativeCost(cost: SelectionCost): number {
    let total = 0;
    let any = false;
    if (this.budgets.memoryBytes !== undefined) {
      total += cost.memoryBytes / Math.max(this.budgets.memoryBytes, 1);
      any = true;
    }
    if (this.budgets.latencyUs !== undefined && cost.latencyUs !== undefined) {
      total += cost.latencyUs / Math.max(this.budgets.latencyUs, 1e-9);
      any = true;
    }
    return any ? total : cost.memoryBytes / Math.max(this.fullCost.memoryBytes, 1);
  }

  /**
   * An upper bound on the picks a selection can make: candidates taken cheapest first
   * until the next one does not fit (the rounds Sequential Attention plans for).
   */
  maxSelectable(): number {
    const trial = new Picker(this.candidates, this.costs, this.budgets, 'weight', this.maxPicks);
    const cheapFirst = new Float64Array(this.candidates.length);
    for (;;) {
      const affordable = trial.affordable();
      if (affordable.length === 0) return trial.selected.length;
      cheapFirst.fill(-Infinity);
      for (const index of affordable)
        cheapFirst[index] = -trial.relativeCost(trial.costs.marginal(trial.blocks, trial.candidates[index]));
      trial.pick(cheapFirst, 1);
    }
  }

  /** Fails when not even one candidate fits, naming the cheapest. */
  assertSomethingFits(): void {
    if (this.affordable().length > 0 || this.chosen.length > 0) return;
    const empty = blocksPerTable(this.costs.spec, this.candidates, []);
    const base = this.costs.cost(empty);
    let cheapest = this.candidates[0];
    let cheapestCost = Infinity;
    for (const candidate of this.candidates) {
      const cost = this.relativeCost(this.costs.cost(withCandidate(empty, candidate)));
      if (cost < cheapestCost) [cheapest, cheapestCost] = [candidate, cost];
    }
    const cost = this.costs.cost(withCandidate(empty, cheapest));
    const baseNote =
      base.latencyUs !== undefined &&
      this.budgets.latencyUs !== undefined &&
      base.latencyUs > this.budgets.latencyUs
        ? ` (the model without embeddings already takes ${base.latencyUs.toFixed(2)} µs/example)`
        : '';
    throw new LemoptError(
      `selection.budgets: nothing fits ${describeBudgets(this.budgets)}: the cheapest candidate ` +
        `'${cheapest.name}' costs ${describeCost(cost)}${baseNote}`,
    );
  }
}
