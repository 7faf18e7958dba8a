/**
 * The pieces of the value stop and of a bounded selection run, on fixed inputs: decoys
 * (layout, values, floors, copies), the picker's value floors and copies, gates that leave the softmax, and
 * the selection plan's length.
 */
import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/data/batch-rows.js';
import { resolveFeatureLayout } from '../src/data/features.js';
import { Gates } from '../src/model/gates.js';
import { enumerateCandidates } from '../src/selection/candidates.js';
import { CostModel } from '../src/selection/cost-model.js';
import {
  copyClasses,
  DECOY_PREFIX,
  DecoyMaker,
  decoyLayout,
  VALUE_STOP_ALPHA,
  valueFloor,
} from '../src/selection/decoys.js';
import { Picker } from '../src/selection/picker.js';
import { selectionPlan } from '../src/selection/select.js';
import { sequentialAttention } from '../src/selection/sequential-attention.js';
import { FixedWeights } from './support/fixed-weights.js';
import { specOf } from './support/embedding-spec.js';
import { configFrom } from './support/features.js';

const config = configFrom(`
data: { source: x.csv, label: { column: y } }
features:
  - { name: [u_id, u_a], tower: user }
  - { name: i_b, tower: item }
`);
const layout = resolveFeatureLayout(config);

/** A batch of the layout's three features (u_id, u_a, i_b), one id each per row. */
function batch(uId: number[], uA: number[], iB: number[]): Batch {
  return {
    numRows: uId.length,
    features: [uId, uA, iB].map((ids) => ({ ids: Int32Array.from(ids) })),
    labels: new Float32Array(uId.length),
  };
}

const sorted = (ids: ArrayLike<number>) => Array.from(ids).sort((a, b) => a - b);

describe('decoys', () => {
  it('doubles the layout and the candidates, each decoy in its real group’s tower', () => {
    const spec = specOf(
      [
        { name: 'u_id', tower: 'user', vocab: [100] },
        { name: 'i_b', tower: 'item', vocab: [3] },
      ],
      8,
      4,
    );
    const candidates = enumerateCandidates(spec, 'block');
    const sizes = new Map([
      ['u_id', 100],
      ['u_a', 4],
      ['i_b', 3],
    ]);
    const decoys = decoyLayout(layout, sizes, candidates);
    expect(decoys.layout.groups.map((group) => `${group.name}:${group.tower}`)).toEqual([
      'u_id:user',
      'u_a:user',
      'i_b:item',
      `${DECOY_PREFIX}u_id:user`,
      `${DECOY_PREFIX}u_a:user`,
      `${DECOY_PREFIX}i_b:item`,
    ]);
    expect(decoys.vocabularySizes.get(`${DECOY_PREFIX}u_a`)).toBe(4);
    expect(decoys.candidates.slice(4).map((c) => `${c.index}:${c.name}:${c.table}`)).toEqual([
      `4:${DECOY_PREFIX}u_id#0:3`,
      `5:${DECOY_PREFIX}u_id#1:3`,
      `6:${DECOY_PREFIX}i_b#0:4`,
      `7:${DECOY_PREFIX}i_b#1:4`,
    ]);
  });

  it('gives an entity the same decoy value from the sample; a group that identifies entities a permutation', () => {
    const maker = new DecoyMaker(layout, 5, 16);
    const users = Array.from({ length: 16 }, (_, u) => u);
    // The sample: 16 users (u_id distinct, u_a = user % 4), items alternating i_b 0/1.
    maker.augment(
      batch(
        users,
        users.map((u) => u % 4),
        users.map((u) => u % 2),
      ),
      0,
    );
    const rows = [3, 3, 5, 3, 9, 5];
    const next = maker.augment(
      batch(
        rows,
        rows.map((u) => u % 4),
        rows.map(() => 0),
      ),
      1,
    );
    expect(next.features).toHaveLength(6);
    const [decoyId, decoyA] = [next.features[3].ids, next.features[4].ids];
    // u_a (4 values for 16 users): by entity, from the sample's values.
    expect([decoyA[1], decoyA[3]]).toEqual([decoyA[0], decoyA[0]]);
    expect(decoyA[5]).toBe(decoyA[2]);
    for (const id of decoyA) expect([0, 1, 2, 3]).toContain(id);
    // u_id (one value per user): the batch's own ids, permuted.
    expect(sorted(decoyId)).toEqual(sorted(rows));
    // The same step draws the same decoys.
    const again = maker.augment(
      batch(
        rows,
        rows.map((u) => u % 4),
        rows.map(() => 0),
      ),
      1,
    );
    expect(Array.from(again.features[3].ids)).toEqual(Array.from(decoyId));
  });

  it('floors a round where the decoys’ upper tail, taken as exponential, leaves alpha over the competitors', () => {
    // Log weights 0, 0, 0, 1, 3: median 0, mean excess above it 2.
    const weights = [0, 0, 0, 1, 3].map(Math.exp);
    const floor = (competing: number) => Math.log(valueFloor(weights, competing));
    expect(floor(5)).toBeCloseTo(2 * Math.log(5 / (2 * VALUE_STOP_ALPHA)), 5);
    // More candidates competing, a higher floor: the best of more worthless ones weighs more.
    expect(floor(20)).toBeGreaterThan(floor(5));
    // Above the largest decoy once several compete (the largest alone lets one of m through m/(m+n) of the time).
    expect(floor(5)).toBeGreaterThan(3);
    // Decoys all alike: the floor is their weight.
    expect(valueFloor([0.1, 0.1, 0.1], 8)).toBeCloseTo(0.1, 6);
  });

  it('finds exact copies: the same partition of the rows under other ids, in the same tower', () => {
    const rows = 40;
    const keysOf = (value: (row: number) => number) =>
      Uint32Array.from({ length: rows }, (_, row) => value(row));
    const region = keysOf((row) => row % 4);
    const market = keysOf((row) => 100 + (((row % 4) * 7) % 4)); // region relabelled
    const coarser = keysOf((row) => row % 2); // a function of region, not a copy
    const other = keysOf((row) => Math.floor(row / 10)); // 4 values, another partition
    const itemTwin = keysOf((row) => 50 + (row % 4)); // region's partition, other tower
    const unique = keysOf((row) => row); // every value once: no evidence
    const uniqueToo = keysOf((row) => 1000 + row);
    const classes = copyClasses(
      ['user', 'user', 'user', 'user', 'item', 'user', 'user'],
      [region, market, coarser, other, itemTwin, unique, uniqueToo],
    );
    expect(Array.from(classes)).toEqual([0, 0, 2, 3, 4, 5, 6]);
  });
});

describe('the picker with value floors', () => {
  const spec = specOf(
    [
      { name: 'user_a', tower: 'user', vocab: [10] },
      { name: 'user_b', tower: 'user', vocab: [10] },
      { name: 'item_a', tower: 'item', vocab: [10] },
    ],
    4,
    4,
  );
  const costs = new CostModel(spec, 'fp32', { user: [], item: [] });

  it('picks only above the floor, then ends on value, and coverTowers still fills the empty tower', () => {
    const picker = new Picker(enumerateCandidates(spec, 'group'), costs, {}, 'weight');
    const scores = [0.5, 0.3, 0.2];
    const { picks } = picker.pickExplained(scores, 3, { floor: 0.4 });
    expect(picks.map((pick) => pick.name)).toEqual(['user_a']);
    expect(picker.done()).toBe(true);
    expect(picker.stopReason()).toBe('value');
    expect(picker.coverTowers(scores).map((pick) => pick.name)).toEqual(['item_a']);
  });

  it('never picks an exact copy of a kept table, and ends on value when only copies are left', () => {
    const picker = new Picker(enumerateCandidates(spec, 'group'), costs, {}, 'weight');
    // user_b is a copy of user_a (class 0).
    const { picks } = picker.pickExplained([0.5, 0.45, 0.2], 3, {
      floor: 0.1,
      copyClasses: [0, 0, 2],
    });
    expect(picks.map((pick) => pick.name)).toEqual(['user_a', 'item_a']);
    expect(picker.stopReason()).toBe('value');
  });

  it('without floors picks on until the budget', () => {
    const picker = new Picker(enumerateCandidates(spec, 'group'), costs, {}, 'weight');
    expect(picker.pickExplained([0.5, 0.3, 0.2], 3).picks).toHaveLength(3);
    expect(picker.stopReason()).toBe('all_selected');
  });
});

describe('rounds that fill shares of the budgets', () => {
  // Six equal tables, three per tower, each 1/6 of the memory budget.
  const spec = specOf(
    ['u1', 'u2', 'u3', 'i1', 'i2', 'i3'].map((name) => ({
      name,
      tower: name.startsWith('u') ? ('user' as const) : ('item' as const),
      vocab: [10],
    })),
    4,
    4,
  );
  const costs = new CostModel(spec, 'fp32', { user: [], item: [] });
  const budgets = { memoryBytes: costs.full().memoryBytes };
  const scores = [0.3, 0.25, 0.2, 0.15, 0.06, 0.04];

  it('picks at least count, and on until the share of the budgets is used', () => {
    const picker = new Picker(enumerateCandidates(spec, 'group'), costs, budgets, 'weight');
    expect(picker.budgetShare()).toBe(0);
    expect(picker.pickExplained(scores, 1, { untilShare: 0.5 }).picks).toHaveLength(3);
    expect(picker.budgetShare()).toBeCloseTo(0.5, 9);
    // atMost caps a round however little of the budgets it used.
    expect(picker.pickExplained(scores, 1, { untilShare: 1, atMost: 2 }).picks).toHaveLength(2);
    expect(picker.pickExplained(scores, 1, { untilShare: 1 }).picks).toHaveLength(1);
    expect(picker.done()).toBe(true);
  });

  /** The rounds' picks of a Sequential Attention run over `scores` in `rounds` budget-share rounds. */
  const shareRounds = async (rounds: number, maxPerRound?: number) => {
    const picker = new Picker(enumerateCandidates(spec, 'group'), costs, budgets, 'weight');
    const done = await sequentialAttention(new FixedWeights([scores]), picker, {
      warmupSteps: 0,
      stepsPerRound: 1,
      selectPerRound: 1,
      shareRounds: true,
      rounds,
      maxPerRound,
    });
    return done.map((round) => round.picks.map((pick) => pick.name));
  };

  it('spread the picks over the planned rounds: round k fills k / rounds', async () => {
    expect(await shareRounds(3)).toEqual([
      ['u1', 'u2'],
      ['u3', 'i1'],
      ['i2', 'i3'],
    ]);
  });

  it('pick no more than maxPerRound a round, even if a share is left', async () => {
    // Round 1: 3 picks reach its half; round 2 fills the rest.
    expect((await shareRounds(2, 3)).map((picks) => picks.length)).toEqual([3, 3]);
    expect((await shareRounds(2, 2)).map((picks) => picks.length)).toEqual([2, 2, 2]);
  });
});

describe('gates of excluded candidates', () => {
  it('are 0, outside the softmax, and get no gradient', () => {
    const logits = Float32Array.from([0, Math.log(2), Math.log(3), 5]);
    const gates = new Gates(logits, { seed: 1, maskScale: false });
    gates.mode = 'attention';
    gates.selected = [1, 0, 0, 0];
    gates.excluded = [0, 0, 0, 1];
    const values = Array.from(gates.values());
    expect(values[0]).toBe(1);
    expect(values[1]).toBeCloseTo(2 / 5, 6);
    expect(values[2]).toBeCloseTo(3 / 5, 6);
    expect(values[3]).toBe(0);
    expect(gates.logitGradient([1, 1, 2, 7])![3]).toBe(0);
  });
});

describe('the selection plan', () => {
  const plan = (selection: string, rows: number, picks: number) =>
    selectionPlan(
      configFrom(`
data: { source: x.csv, label: { column: y }, split: { method: random, train: 0.8, valid: 0.1, test: 0.1 } }
features: [{ name: a, tower: user }]
train: { batch_size: 100, epochs: 2 }
selection: { ${selection} }
`),
      { stats: { rows, positives: 0 } },
      picks,
    );

  it('shares selection.epochs between the rounds while they are long enough', () => {
    // 10,000 rows: 80 batches an epoch, 160 in all; warm-up 16; 144 for 4 rounds.
    expect(plan('min_steps_per_round: 25', 10_000, 4)).toMatchObject({
      warmupSteps: 16,
      rounds: 4,
      stepsPerRound: 36,
      selectPerRound: 1,
      shareRounds: false,
      totalSteps: 160,
    });
  });

  it('fills equal shares of the budgets in rounds rather than run past selection.epochs', () => {
    // 144 batches hold 5 rounds of 25: 40 picks at most, each round filling a fifth of the budgets.
    expect(plan('min_steps_per_round: 25', 10_000, 40)).toMatchObject({
      rounds: 5,
      stepsPerRound: 28,
      selectPerRound: 1,
      shareRounds: true,
      maxPerRound: 8,
      totalSteps: 16 + 5 * 28,
    });
    // select_per_round stays each round's least.
    expect(plan('min_steps_per_round: 25, select_per_round: 3', 10_000, 40)).toMatchObject({
      rounds: 5,
      selectPerRound: 3,
      shareRounds: true,
    });
  });
});
