/**
 * The budget keeper every selection method shares: which unselected candidates still fit
 * both budgets given what is selected, and picking among them by a score.
 *
 * pick 'weight': the largest score (attention weight, importance...).
 * pick 'weight_per_cost': the largest score per unit of marginal cost, the cost being the
 * fraction of each budget it uses (summed over the budgets set; of the full model's
 * memory when none is).
 */
import type { SelectionConfig } from '../config/schema.js';
import type { Candidate } from './candidates.js';
import { blocksPerTable, enumerateCandidates } from './candidates.js';
import { withCandidate, type CostModel, type SelectionCost } from './cost-model.js';
import { describeBudgets, describeCost, resolveBudgets, withinBudgets, type Budgets } from './budgets.js';
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
   * An upper bound on the picks a selection can make (the rounds Sequential Attention
   * plans for): the most candidates that fit each budget on its own, the smallest of
   * those. Costs add up over tables (a table's cost depends only on its own kept blocks),
   * so the most that fit one budget is a small knapsack over tables, solved exactly here.
   * (Taking the cheapest candidate first is not a bound: with two budgets, or a group's
   * first block costing more than its later ones, it can stop short of what fits.)
   */
  maxSelectable(): number {
    const empty = new Int32Array(this.costs.spec.tables.length);
    const base = this.costs.cost(empty);
    // Per table: its cost above the base with 0, 1, 2... of its candidates kept.
    const tableCosts = this.costs.spec.tables.map((table) => {
      const blocks = Int32Array.from(empty);
      const costs: SelectionCost[] = [base];
      for (const candidate of this.candidates) {
        if (candidate.table !== table.index) continue;
        blocks[table.index] += candidate.blocks;
        costs.push(this.costs.cost(blocks));
      }
      return costs;
    });
    let bound = Math.min(this.maxPicks, this.candidates.length);
    for (const key of ['memoryBytes', 'latencyUs'] as const) {
      const budget = this.budgets[key];
      const baseValue = base[key];
      if (budget === undefined || baseValue === undefined) continue;
      const alone: Budgets = { [key]: budget };
      // least[m]: the smallest cost above the base of m candidates from the tables so far.
      let least = [0];
      for (const costs of tableCosts) {
        const next = new Array<number>(least.length + costs.length - 1).fill(Infinity);
        least.forEach((sum, m) =>
          costs.forEach((cost, j) => {
            next[m + j] = Math.min(next[m + j], sum + (cost[key] ?? 0) - baseValue);
          }),
        );
        least = next;
      }
      let most = 0;
      least.forEach((sum, m) => {
        if (withinBudgets({ memoryBytes: 0, [key]: baseValue + sum }, alone)) most = m;
      });
      bound = Math.min(bound, most);
    }
    return bound;
  }

  /** Fails when not even one candidate fits, naming the cheapest. */
  assertSomethingFits(): void {
    const problem = this.nothingFits();
    if (problem !== undefined) throw nothingFitsError(problem);
  }

  /** Why not even one candidate fits, naming the cheapest; undefined when one does. */
  nothingFits(): string | undefined {
    if (this.affordable().length > 0 || this.chosen.length > 0) return undefined;
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
    return (
      `nothing fits ${describeBudgets(this.budgets)}: the cheapest candidate ` +
      `'${cheapest.name}' costs ${describeCost(cost)}${baseNote}`
    );
  }
}

function nothingFitsError(problem: string): LemoptError {
  return new LemoptError(`selection.budgets: ${problem}`);
}

export interface BudgetCheck {
  /** The budgets, shares resolved against the full model's cost. */
  readonly budgets: Budgets;
  /** Why not even one candidate fits them (Picker.nothingFits); undefined when one does. */
  readonly nothingFits?: string;
}

/**
 * Resolves a selection's budgets and checks that at least one candidate fits them, which
 * needs no training: a run does it as soon as the costs are known. Costs without a latency
 * model check the memory budget alone, so it can fail right after the vocabularies, before
 * any calibration.
 */
export function checkBudgets(selection: SelectionConfig, costs: CostModel): BudgetCheck {
  const { memory } = selection.budgets;
  const budgets = resolveBudgets(costs.latency ? selection.budgets : { memory }, costs.full());
  // Method 'all' keeps every candidate whatever the budgets.
  if (selection.method === 'all') return { budgets };
  const candidates = enumerateCandidates(costs.spec, selection.unit, costs.fullBlocks);
  return { budgets, nothingFits: new Picker(candidates, costs, budgets, selection.pick).nothingFits() };
}

/** checkBudgets, failing with the picker's message when nothing fits. */
export function assertBudgetsFit(selection: SelectionConfig, costs: CostModel): Budgets {
  const { budgets, nothingFits } = checkBudgets(selection, costs);
  if (nothingFits !== undefined) throw nothingFitsError(nothingFits);
  return budgets;
}
