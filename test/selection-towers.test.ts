/**
 * One candidate per tower: whatever a method's scores, the picker keeps at least one
 * candidate of each tower, the best affordable one by the method's own score; budgets that
 * cannot hold one per tower are refused up front (test/selection-budgets.test.ts).
 *
 * Every method runs on a small generated dataset under a memory budget where its own
 * scores alone (the picker without towers) would leave the item tower empty: the smallest
 * budget with room for a user and an item group under which they do, found from the
 * method's scores without a budget (scores that do not depend on the budget).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { prepareDataset } from '../src/data/dataset.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { Tower } from '../src/embedding/layout.js';
import { runCosts } from '../src/experiment/run.js';
import { selectBackend } from '../src/model/backend.js';
import { resolveBudgets, type Budgets } from '../src/selection/budgets.js';
import { enumerateCandidates, type Candidate } from '../src/selection/candidates.js';
import { CostModel, withCandidate } from '../src/selection/cost-model.js';
import { Picker } from '../src/selection/picker.js';
import { selectCandidates, type SelectionOutcome } from '../src/selection/select.js';
import { Random } from '../src/util/random.js';
import { specOf } from './support/embedding-spec.js';
import { dataSection } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

const FEATURES = `
  - name: [u_region, u_age_band, u_occupation, u_browser]
    tower: user
  - name: [i_category, i_color]
    tower: item
groups:
  - { name: u_age_band, features: [u_age_band], dim: 4 }`;

function config(selection: string): RunConfig {
  const yaml = `
${dataSection('{ method: random, train: 0.7, valid: 0.25, test: 0.05 }')}
features:${FEATURES}
model: { embedding_dim: 8, user_tower: [16], item_tower: [16], backend: onnxruntime }
train: { batch_size: 512, epochs: 2, seed: 3 }
selection: { block_size: 4, min_steps_per_round: 40, ${selection} }
`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

interface Selected {
  readonly outcome: SelectionOutcome;
  readonly costs: CostModel;
  readonly budgets: Budgets;
}

async function select(cfg: RunConfig): Promise<Selected> {
  const dataset = await prepareDataset(cfg);
  const costs = runCosts(cfg, dataset);
  const budgets = resolveBudgets(cfg.selection.budgets, costs.full());
  return { outcome: await selectCandidates(cfg, dataset, costs, budgets), costs, budgets };
}

/** Kept blocks per group, by name. */
function kept({ outcome, costs }: Selected): Record<string, number> {
  return Object.fromEntries(
    costs.spec.tables
      .filter((table) => outcome.keptBlocks[table.index] > 0)
      .map((table) => [table.name, outcome.keptBlocks[table.index]]),
  );
}

/**
 * The smallest memory budget with room for a user and an item group under which the
 * picker, were every candidate in one tower, would keep no item group by `scores`
 * (`firstPick`: its first pick would already leave no room for one); undefined if none.
 */
function budgetLeavingItemsOut(
  costs: CostModel,
  candidates: readonly Candidate[],
  scores: ArrayLike<number>,
  firstPick: boolean,
): number | undefined {
  const empty = new Int32Array(costs.spec.tables.length);
  const inTower = (tower: Tower) => candidates.filter((c) => c.tower === tower);
  const pairs = inTower('user').flatMap((user) =>
    inTower('item').map((item) => costs.cost(withCandidate(withCandidate(empty, user), item)).memoryBytes),
  );
  const oneTower = candidates.map((c): Candidate => ({ ...c, tower: 'user' }));
  const isItem = (index: number) => candidates[index].tower === 'item';
  for (const memoryBytes of [...new Set(pairs)].sort((a, b) => a - b)) {
    const picker = new Picker(oneTower, costs, { memoryBytes }, 'weight');
    const picks = picker.pick(scores, firstPick ? 1 : oneTower.length).map((pick) => pick.candidate);
    const itemsOut = firstPick ? !picker.affordable().some(isItem) : true;
    if (!picks.some(isItem) && itemsOut) return memoryBytes;
  }
  return undefined;
}

/** Both towers in the selection, within its budget. */
function expectBothTowers({ outcome, budgets }: Selected): void {
  const towers = new Set(outcome.order.map((pick) => outcome.candidates[pick.candidate].tower));
  expect([...towers].sort()).toEqual(['item', 'user']);
  expect(outcome.cost.memoryBytes).toBeLessThanOrEqual(budgets.memoryBytes!);
}

/**
 * `method` without a budget for its scores, then under a budget where those scores alone
 * would keep no item group: the selection made under it, and the scores.
 */
async function underItemlessBudget(
  method: string,
  scoresOf: (free: Selected) => ArrayLike<number>,
  firstPick = false,
): Promise<{ selected: Selected; scores: ArrayLike<number> }> {
  const free = await select(config(`method: ${method}`));
  const scores = scoresOf(free);
  const budget = budgetLeavingItemsOut(free.costs, free.outcome.candidates, scores, firstPick);
  expect(budget, `a budget under which the ${method} scores keep no item group`).toBeDefined();
  const selected = await select(config(`method: ${method}, budgets: { memory: ${budget} }`));
  expectBothTowers(selected);
  return { selected, scores };
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-towers-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 30_000, seed: 7 });
  await selectBackend({ flag: 'onnxruntime' });
});
afterAll(() => tmp.remove());

describe('every method keeps one candidate per tower', () => {
  const roundOne = (free: Selected) => free.outcome.rounds[0].weights;

  // Rounds of min_steps_per_round (40) whatever the budget: round 1 weighs the same with
  // and without one, and its first pick by weight alone would leave no room for an item.
  it('sequential_attention', async () => {
    const { selected, scores } = await underItemlessBudget('sequential_attention', roundOne, true);
    expect(roundOne(selected)).toEqual(scores);
  });

  it.each(['one_shot_attention', 'permutation', 'group_lasso'])('%s', async (method) => {
    const { selected, scores } = await underItemlessBudget(method, roundOne);
    expect(roundOne(selected)).toEqual(scores);
  });

  it('cardinality', async () => {
    await underItemlessBudget('cardinality', ({ outcome, costs }) =>
      outcome.candidates.map((c) => Math.log(costs.spec.tables[c.table].rows + 1)),
    );
  });

  it('random', async () => {
    // The random baseline's scores: one draw per candidate from Random(selection.seed). Seed 2
    // ranks u_region first (seed 0 ranks i_color first: no budget then leaves the item out).
    await underItemlessBudget('random, seed: 2', ({ outcome }) => {
      const random = new Random(2);
      return outcome.candidates.map(() => random.next());
    });
  });

  // fp32, 8 dims: u_browser 7 rows (224 B), u_age_band 9 rows at its configured 4 dims
  // (144 B), u_region 18 (576 B), u_occupation 27 (864 B), i_color 14 (448 B), i_category
  // 22 (704 B). At 600 B only u_age_band and i_color hold both towers.
  it('greedy: tries only the candidates that leave room for the other tower', async () => {
    const selected = await select(config('method: greedy, budgets: { memory: 600 }'));
    const { rounds, candidates } = selected.outcome;
    const tried = rounds[0].weights.flatMap((weight, i) =>
      Number.isFinite(weight) ? [candidates[i].group] : [],
    );
    expect(tried.sort()).toEqual(['i_color', 'u_age_band']);
    expect(kept(selected)).toEqual({ u_age_band: 1, i_color: 2 });
  });

  it('unit block: a tower counts as kept with any block of any of its groups', async () => {
    // Blocks of 4 dims (half the bytes above). Cardinality would take u_occupation#0 (432 B)
    // first, leaving 68 B: no item block fits. With one per tower the item tower gets
    // i_category#0 (352 B), the largest item group that fits beside the cheapest user block.
    const selected = await select(config('method: cardinality, unit: block, budgets: { memory: 500 }'));
    expectBothTowers(selected);
    expect(kept(selected)).toEqual({ i_category: 1, u_age_band: 1 });
    expect(selected.outcome.didNotFit[0]).toMatchObject({ name: 'u_occupation#0', blockedBy: 'other_tower' });
  });
});

describe('the picker keeps one candidate per tower (fixed scores)', () => {
  // fp32, 8 dims in blocks of 4: user_id 32,000 B, country 1,600 B, item_id 160,000 B, genre 640 B.
  const spec = specOf(
    [
      { name: 'user_id', tower: 'user', vocab: [1000] },
      { name: 'country', tower: 'user', vocab: [50] },
      { name: 'item_id', tower: 'item', vocab: [5000] },
      { name: 'genre', tower: 'item', vocab: [20] },
    ],
    8,
    4,
  );
  const costs = new CostModel(spec, 'fp32', { user: [], item: [] });

  it('passes over a candidate that fits the budget alone but leaves no room for the other tower', () => {
    const picker = new Picker(enumerateCandidates(spec, 'group'), costs, { memoryBytes: 161_000 }, 'weight');
    // item_id (160,000 B) fits alone, but then not even country (1,600 B) would.
    const { picks, passedOver } = picker.pickExplained([0.2, 0.1, 0.9, 0.05], 4);
    expect(picks.map((pick) => pick.name)).toEqual(['user_id', 'country', 'genre']);
    expect(passedOver).toEqual([{ candidate: 2, weight: 0.9, picksBefore: 0 }]);
    expect(picker.stopReason()).toBe('budget_full');
  });

  it('keeps room for a block of the empty tower; a tower counts as kept with any block', () => {
    // Blocks: user_id 16,000 B, country 800 B, item_id 80,000 B, genre 320 B each. By score
    // alone user_id's and country's blocks would fill the 33,700 B (33,600 B) and leave
    // no room for genre#0.
    const picker = new Picker(enumerateCandidates(spec, 'block'), costs, { memoryBytes: 33_700 }, 'weight');
    const scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1, 0.05];
    expect(picker.pick(scores, 8).map((pick) => pick.name)).toEqual([
      'user_id#0',
      'user_id#1',
      'country#0',
      'genre#0',
      'genre#1',
    ]);
    expect(picker.cost().memoryBytes).toBe(32_000 + 800 + 640);
  });

  it('coverTowers adds the best affordable candidate, by score, of each tower still empty', () => {
    const picker = new Picker(enumerateCandidates(spec, 'group'), costs, { memoryBytes: 200_000 }, 'weight');
    picker.add(0, 1);
    expect(picker.coverTowers([0.5, 0.9, 0.4, 0.3]).map((pick) => pick.name)).toEqual(['item_id']);
    expect(picker.coverTowers([0.5, 0.9, 0.4, 0.3])).toEqual([]);
  });

  it('stops at max_candidates with a pick left for the empty tower', () => {
    const picker = new Picker(enumerateCandidates(spec, 'group'), costs, {}, 'weight', 2);
    expect(picker.pick([0.9, 0.8, 0.1, 0.05], 4).map((pick) => pick.name)).toEqual(['user_id', 'item_id']);
    expect(picker.stopReason()).toBe('max_candidates');
  });
});
