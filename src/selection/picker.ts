/**
 * The budget keeper every selection method shares: which unselected candidates still fit
 * both budgets given what is selected, and picking among them by a score.
 *
 * pick 'weight': the largest score (attention weight, importance...).
 * pick 'weight_per_cost': the largest score per unit of marginal cost, the cost being the
 * fraction of each budget it uses (summed over the budgets set; of the full model's
 * memory when none is).
 *
 * One candidate per tower: a two-tower model with an empty tower cannot rank items, so a
 * candidate only fits when, after it, the budgets and the picks left still hold one
 * candidate of every tower the selection has none of (a tower has one when any of its
 * groups has a block). Whatever a method's scores, the selection ends with both towers.
 */
import type { SelectionConfig } from '../config/schema.js';
import type { Tower } from '../embedding/layout.js';
import type { Candidate } from './candidates.js';
import { enumerateCandidates } from './candidates.js';
import { costSum, withCandidate, type CostModel, type SelectionCost } from './cost-model.js';
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

/**
 * Why a selection ended: no unselected candidate fits what is left of the budgets, every
 * candidate is in, max_candidates, or (value) no affordable candidate scored above the
 * value floor (from Sequential Attention's decoys), or only exact copies of kept groups did.
 */
export type StopReason = 'budget_full' | 'all_selected' | 'max_candidates' | 'value';

/** A candidate scored above a pick that did not fit when the pick was made. */
export interface PassedOver {
  readonly candidate: number;
  readonly weight: number;
  /** Picks made before the one it lost to: it did not fit on top of the first `picksBefore` of the order. */
  readonly picksBefore: number;
}

export interface PickResult {
  readonly picks: PickedCandidate[];
  /** Each candidate scored above one of the picks that did not fit then, at the first such pick. */
  readonly passedOver: PassedOver[];
}

/** How pickExplained goes past its count, and what it leaves out (see there). */
export interface PickOptions {
  readonly floor?: number;
  readonly copyClasses?: ArrayLike<number>;
  readonly untilShare?: number;
  readonly atMost?: number;
}

/** What one candidate of a tower adds to a selection with none of that tower. */
interface TowerCover {
  readonly candidate: Candidate;
  readonly cost: SelectionCost;
}

export class Picker {
  private readonly chosen: number[] = [];
  private readonly isChosen: Uint8Array;
  private blocks: Int32Array;
  private valueStopped = false;
  private readonly fullCost: SelectionCost;
  /** A selection of no block: the towers' fixed latency. */
  private readonly emptyCost: SelectionCost;
  /** Towers that have candidates, each of which the selection must keep one of. */
  readonly towers: readonly Tower[];
  /**
   * Per tower: its tables' smallest candidates and what each adds to a selection without
   * that tower. Costs add up over tables (memory per table; latency is linear in lookups,
   * dims and each tower's input width), so that is what it adds to any such selection.
   */
  private readonly covers: ReadonlyMap<Tower, readonly TowerCover[]>;

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
    this.emptyCost = costs.cost(this.blocks);
    const smallest = new Map<number, Candidate>();
    for (const candidate of candidates) {
      const seen = smallest.get(candidate.table);
      if (!seen || candidate.blocks < seen.blocks) smallest.set(candidate.table, candidate);
    }
    const covers = new Map<Tower, TowerCover[]>();
    for (const candidate of smallest.values()) {
      const cost = costs.marginal(this.blocks, candidate);
      covers.set(candidate.tower, [...(covers.get(candidate.tower) ?? []), { candidate, cost }]);
    }
    this.covers = covers;
    this.towers = [...covers.keys()];
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

  /**
   * Unselected candidates that fit both budgets on top of the current selection, leaving
   * room for one candidate of each tower still without one.
   */
  affordable(): number[] {
    if (this.chosen.length >= this.maxPicks) return [];
    const empty = this.emptyTowers(this.blocks);
    // Candidates adding as many blocks to the same table fit alike: cost each such pair once.
    const fitsByTableAndBlocks = new Map<number, boolean>();
    return this.candidates
      .filter((c) => {
        if (this.isChosen[c.index]) return false;
        const key = c.table * (this.costs.spec.dim + 1) + c.blocks;
        let fits = fitsByTableAndBlocks.get(key);
        if (fits === undefined) {
          const after = withCandidate(this.blocks, c);
          const left = empty.filter((tower) => tower !== c.tower);
          fits = this.fitsLeaving(this.costs.cost(after), this.chosen.length + 1, left);
          fitsByTableAndBlocks.set(key, fits);
        }
        return fits;
      })
      .map((c) => c.index);
  }

  /**
   * Whether a selection of `picks` candidates (kept blocks per table, costing `cost`) fits
   * the budgets with room left, in the budgets and in picks, for one candidate of each
   * tower it has none of.
   */
  fits(blocks: ArrayLike<number>, picks: number, cost: SelectionCost = this.costs.cost(blocks)): boolean {
    return this.fitsLeaving(cost, picks, this.emptyTowers(blocks));
  }

  done(): boolean {
    return this.valueStopped || this.affordable().length === 0;
  }

  /** Whether the selection ended on value: no affordable candidate scored above the floor. */
  get stoppedOnValue(): boolean {
    return this.valueStopped;
  }

  /** Ends the selection on value (a resumed selection whose last round did). */
  stopOnValue(): void {
    this.valueStopped = true;
  }

  /** Why the selection ended (or would, were it to end now). */
  stopReason(): StopReason {
    if (this.chosen.length === this.candidates.length) return 'all_selected';
    if (this.chosen.length >= this.maxPicks) return 'max_candidates';
    if (this.valueStopped) return 'value';
    return 'budget_full';
  }

  /**
   * Picks up to `count` candidates by `scores` (one per candidate), re-checking the
   * budgets after each pick. Returns the picks (none when nothing is affordable).
   */
  pick(scores: ArrayLike<number>, count = 1): PickedCandidate[] {
    return this.pickExplained(scores, count).picks;
  }

  /**
   * `pick`, also returning the candidates scored above a pick that did not fit then. With
   * a value `floor`, only candidates scoring above it are picked, and
   * with `copyClasses` (per table, its class of exact copies) no candidate of a table whose
   * copy has kept blocks: when candidates fit but none qualifies, the selection ends on value
   * (`done()`, stop reason 'value'). With `untilShare`, picking goes on past `count` until
   * that share of the budgets is used (budgetShare), `atMost` picks in all.
   */
  pickExplained(scores: ArrayLike<number>, count = 1, options: PickOptions = {}): PickResult {
    const { floor, copyClasses, untilShare = 0, atMost = Infinity } = options;
    const picks: PickedCandidate[] = [];
    const passedOver: PassedOver[] = [];
    const recorded = new Set<number>();
    // (The slack: a share summed from float costs may fall short of exactly k / rounds.)
    const wanted = () => picks.length < count || this.budgetShare() < untilShare - 1e-9;
    while (picks.length < Math.max(count, atMost) && wanted()) {
      const affordable = this.affordable();
      const copied = copyClasses ? this.copiedTables(copyClasses) : undefined;
      const worth = affordable.filter(
        (index) =>
          (floor === undefined || scores[index] > floor) && !copied?.has(this.candidates[index].table),
      );
      if (worth.length === 0 && affordable.length > 0) this.valueStopped = true;
      const best = this.best(worth, scores);
      if (best < 0) break;
      const fitting = new Set(affordable);
      for (const { index } of this.candidates) {
        if (this.isChosen[index] || fitting.has(index) || recorded.has(index)) continue;
        if (!(scores[index] > scores[best])) continue;
        recorded.add(index);
        passedOver.push({ candidate: index, weight: scores[index], picksBefore: this.chosen.length });
      }
      picks.push(this.add(best, scores[best]));
    }
    return { picks, passedOver };
  }

  /**
   * Adds, for each tower the selection has none of, its best affordable candidate by
   * `scores`: how a selection that stops before the budgets are full (on value, say) still
   * ends with both towers.
   */
  coverTowers(scores: ArrayLike<number>): PickedCandidate[] {
    const picks: PickedCandidate[] = [];
    for (;;) {
      const empty = this.emptyTowers(this.blocks);
      const best = this.best(
        this.affordable().filter((index) => empty.includes(this.candidates[index].tower)),
        scores,
      );
      if (best < 0) return picks;
      picks.push(this.add(best, scores[best]));
    }
  }

  /**
   * How much of the budgets the selection has used, 0 to 1: of each budget set, the share of
   * the room above what a selection without any block costs (the towers' fixed latency),
   * the largest over the budgets; with none set, the share of maxPicks picked.
   */
  budgetShare(): number {
    const shares: number[] = [];
    const used = this.cost();
    const { memoryBytes, latencyUs } = this.budgets;
    if (memoryBytes !== undefined)
      shares.push(share(used.memoryBytes, this.emptyCost.memoryBytes, memoryBytes));
    if (latencyUs !== undefined && used.latencyUs !== undefined && this.emptyCost.latencyUs !== undefined)
      shares.push(share(used.latencyUs, this.emptyCost.latencyUs, latencyUs));
    return shares.length ? Math.max(...shares) : this.chosen.length / Math.max(1, this.maxPicks);
  }

  /** Tables with no kept block whose copy (same class in `copyClasses`, per table) has one. */
  private copiedTables(copyClasses: ArrayLike<number>): Set<number> {
    const kept = new Set<number>();
    for (let table = 0; table < copyClasses.length; table++)
      if (this.blocks[table] > 0) kept.add(copyClasses[table]);
    const copied = new Set<number>();
    for (let table = 0; table < copyClasses.length; table++)
      if (this.blocks[table] === 0 && kept.has(copyClasses[table])) copied.add(table);
    return copied;
  }

  /** The best of `indexes` by the pick rule; -1 for none. */
  private best(indexes: readonly number[], scores: ArrayLike<number>): number {
    let best = -1;
    let bestScore = -Infinity;
    for (const index of indexes) {
      const score = this.ranking(scores[index], this.candidates[index]);
      if (score > bestScore) [best, bestScore] = [index, score];
    }
    return best;
  }

  /** Towers with candidates of which `blocks` keeps none. */
  private emptyTowers(blocks: ArrayLike<number>): Tower[] {
    const kept = new Set<Tower>();
    for (const table of this.costs.spec.tables) if (blocks[table.index] > 0) kept.add(table.tower);
    return this.towers.filter((tower) => !kept.has(tower));
  }

  /** `cost` fits the budgets with one candidate of each of `empty` on top, and `picks` leaves a pick for each. */
  private fitsLeaving(cost: SelectionCost, picks: number, empty: readonly Tower[]): boolean {
    return picks + empty.length <= this.maxPicks && this.coverable(cost, empty);
  }

  /** Whether some candidate of each of `towers`, added to a selection costing `cost`, fits the budgets. */
  private coverable(cost: SelectionCost, towers: readonly Tower[]): boolean {
    if (!withinBudgets(cost, this.budgets)) return false;
    if (towers.length === 0) return true;
    const [tower, ...rest] = towers;
    return this.covers.get(tower)!.some((cover) => this.coverable(costSum(cost, cover.cost), rest));
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

  /**
   * Fails when the budgets cannot hold one candidate, or one candidate per tower, naming
   * the cheapest; or when max_candidates is below the number of towers.
   */
  assertSomethingFits(): void {
    const picks = this.picksProblem();
    if (picks !== undefined) throw new LemoptError(picks);
    const problem = this.nothingFits();
    if (problem !== undefined) throw nothingFitsError(problem);
  }

  /** Why max_candidates cannot keep one candidate per tower; undefined when it can. */
  picksProblem(): string | undefined {
    if (this.maxPicks >= this.towers.length) return undefined;
    return (
      `selection.max_candidates: ${this.maxPicks} cannot keep one candidate per tower ` +
      `(${this.towers.join(' and ')}); set it to at least ${this.towers.length}`
    );
  }

  /**
   * Why the budgets cannot hold one candidate per tower, naming the cheapest candidate of
   * each tower (or the cheapest of all, when not even one fits); undefined when they can.
   */
  nothingFits(): string | undefined {
    if (this.chosen.length > 0) return undefined;
    const empty = new Int32Array(this.costs.spec.tables.length);
    const base = this.costs.cost(empty);
    if (this.coverable(base, this.towers)) return undefined;
    const cheapest = this.towers.map((tower) => this.cheapestOf(tower));
    const alone = (candidate: Candidate) => this.costs.cost(withCandidate(empty, candidate));
    const budgets = describeBudgets(this.budgets);
    if (cheapest.some((candidate) => withinBudgets(alone(candidate), this.budgets))) {
      const each = cheapest.map(
        (candidate) =>
          `the cheapest ${candidate.tower}-tower candidate '${candidate.name}' costs ${describeCost(alone(candidate))}`,
      );
      const together = cheapest.reduce<Int32Array>(withCandidate, empty);
      return (
        `${budgets} cannot hold one candidate per tower: ${each.join(', ')}; ` +
        `both together ${describeCost(this.costs.cost(together))}`
      );
    }
    const overall = cheapest.reduce((a, b) =>
      this.relativeCost(alone(b)) < this.relativeCost(alone(a)) ? b : a,
    );
    const baseNote =
      base.latencyUs !== undefined &&
      this.budgets.latencyUs !== undefined &&
      base.latencyUs > this.budgets.latencyUs
        ? ` (the model without embeddings already takes ${base.latencyUs.toFixed(2)} µs/example)`
        : '';
    return (
      `nothing fits ${budgets}: the cheapest candidate ` +
      `'${overall.name}' costs ${describeCost(alone(overall))}${baseNote}`
    );
  }

  /** A tower's candidate that alone takes the smallest share of the budgets. */
  private cheapestOf(tower: Tower): Candidate {
    const covers = this.covers.get(tower)!;
    return covers.reduce((a, b) => (this.relativeCost(b.cost) < this.relativeCost(a.cost) ? b : a)).candidate;
  }
}

function nothingFitsError(problem: string): LemoptError {
  return new LemoptError(`selection.budgets: ${problem}`);
}

export interface BudgetCheck {
  /** The budgets, shares resolved against the full model's cost. */
  readonly budgets: Budgets;
  /** Why they cannot hold one candidate per tower (Picker.nothingFits); undefined when they can. */
  readonly nothingFits?: string;
}

/**
 * Resolves a selection's budgets and checks that they hold one candidate per tower, which
 * needs no training: a run does it as soon as the costs are known. Costs without a latency
 * model check the memory budget alone, so it can fail right after the vocabularies, before
 * any calibration.
 */
export function checkBudgets(selection: SelectionConfig, costs: CostModel): BudgetCheck {
  const budgets = knownBudgets(selection, costs);
  // Method 'all' keeps every candidate whatever the budgets.
  if (selection.method === 'all') return { budgets };
  return { budgets, nothingFits: configuredPicker(selection, costs, budgets).nothingFits() };
}

/** checkBudgets, failing with the picker's message when the budgets or max_candidates cannot hold a selection. */
export function assertBudgetsFit(selection: SelectionConfig, costs: CostModel): Budgets {
  const budgets = knownBudgets(selection, costs);
  if (selection.method !== 'all') configuredPicker(selection, costs, budgets).assertSomethingFits();
  return budgets;
}

/** The budgets resolved; the memory budget alone while the costs have no latency model. */
function knownBudgets(selection: SelectionConfig, costs: CostModel): Budgets {
  const { memory } = selection.budgets;
  return resolveBudgets(costs.latency ? selection.budgets : { memory }, costs.full());
}

/** The picker of a selection config: its candidates, pick rule and max_candidates. */
export function configuredPicker(selection: SelectionConfig, costs: CostModel, budgets: Budgets): Picker {
  const candidates = enumerateCandidates(costs.spec, selection.unit, costs.fullBlocks);
  return new Picker(
    candidates,
    costs,
    budgets,
    selection.pick,
    selection.max_candidates ?? candidates.length,
  );
}

/** The share of the room between `empty` and `budget` that `used` takes (1 when there is none). */
function share(used: number, empty: number, budget: number): number {
  return budget > empty ? (used - empty) / (budget - empty) : 1;
}
