/**
 * What did not fit: a candidate scored above a pick that the budgets could not hold then is
 * reported with its score, what it would have cost, what was left of each budget, which
 * budget stopped it, and the forms of its group that would have fit (fewer dims, int8).
 */
import { describe, expect, it } from 'vitest';
import type { EmbeddingDtype } from '../src/embedding/memory.js';
import type { Budgets } from '../src/selection/budgets.js';
import { enumerateCandidates, type SelectionUnit } from '../src/selection/candidates.js';
import { CostModel } from '../src/selection/cost-model.js';
import { explainDidNotFit } from '../src/selection/did-not-fit.js';
import { Picker } from '../src/selection/picker.js';
import { sequentialAttention } from '../src/selection/sequential-attention.js';
import { FixedWeights } from './support/fixed-weights.js';
import { specOf } from './support/embedding-spec.js';

// fp32 at 8 dims: user_id 32,000 B, country 1,600 B, item_id 160,000 B, genre 640 B.
const SPEC = specOf(
  [
    { name: 'user_id', tower: 'user', vocab: [1000] },
    { name: 'country', tower: 'user', vocab: [50] },
    { name: 'item_id', tower: 'item', vocab: [5000] },
    { name: 'genre', tower: 'item', vocab: [20] },
  ],
  8,
  4,
);
// 10 µs per example, 1 µs per lookup, 0.1 µs per dim; no tower layers.
const LATENCY = { constant_us: 10, per_lookup_us: 1, per_dim_us: 0.1, per_mflop_us: 0 };
const BUDGETS: Budgets = { memoryBytes: 100_000, latencyUs: 20 };

function picker(
  unit: SelectionUnit = 'group',
  dtype: EmbeddingDtype = 'fp32',
  budgets = BUDGETS,
  spec = SPEC,
): Picker {
  const costs = new CostModel(spec, dtype, { user: [], item: [] }, LATENCY);
  return new Picker(enumerateCandidates(spec, unit), costs, budgets, 'weight');
}

/** Picks by fixed scores until nothing fits, as round 1, and explains what did not fit. */
function pickAndExplain(p: Picker, scores: readonly number[]) {
  const { picks, passedOver } = p.pickExplained(scores, scores.length);
  const order = picks.map((pick) => pick.candidate);
  return {
    picks: picks.map((pick) => pick.name),
    didNotFit: explainDidNotFit(p, order, [{ round: 1, passedOver }]),
  };
}

describe('what did not fit', () => {
  it('reports the highest-weighted candidate over the memory budget with its cost, the budget left and the forms that fit', () => {
    const p = picker();
    // item_id has the largest weight but costs 160,000 B of a 100,000 B budget.
    const { picks, didNotFit } = pickAndExplain(p, [0.3, 0.05, 0.5, 0.15]);
    expect(picks).toEqual(['user_id', 'genre', 'country']);
    expect(didNotFit).toEqual([
      {
        candidate: 2,
        name: 'item_id',
        weight: 0.5,
        round: 1,
        rounds: [1],
        // 8 dims and a lookup: 0.8 + 1 µs.
        marginal: { memoryBytes: 160_000, latencyUs: expect.closeTo(1.8, 9) as number },
        left: { memoryBytes: 100_000, latencyUs: 10 },
        blockedBy: 'memory',
        // 4 dims: 5000 rows x 4 x 4 bytes, with room left for country (1,600 B) in the user tower.
        fewerDims: {
          dim: 4,
          dtype: 'fp32',
          marginal: { memoryBytes: 80_000, latencyUs: expect.closeTo(1.4, 9) as number },
        },
        // int8 at all 8 dims: 5000 rows x (8 + a 4-byte scale).
        int8: {
          dim: 8,
          dtype: 'int8',
          marginal: { memoryBytes: 60_000, latencyUs: expect.closeTo(1.8, 9) as number },
        },
      },
    ]);
  });

  it('counts the budget left after the picks before it: fewer dims no longer fit, int8 still does', () => {
    const p = picker();
    const { picks, didNotFit } = pickAndExplain(p, [0.6, 0.1, 0.5, 0.2]);
    expect(picks).toEqual(['user_id', 'genre', 'country']);
    expect(didNotFit).toHaveLength(1);
    const [itemId] = didNotFit;
    // After user_id (32,000 B, 10 + 1.8 µs): 68,000 B and 8.2 µs left. 4 dims (80,000 B) no
    // longer fit; int8 at 8 dims (60,000 B) does.
    expect(itemId.left.memoryBytes).toBe(68_000);
    expect(itemId.left.latencyUs).toBeCloseTo(8.2, 9);
    expect(itemId.fewerDims).toBeUndefined();
    expect(itemId.int8).toMatchObject({ dim: 8, dtype: 'int8', marginal: { memoryBytes: 60_000 } });
  });

  it('names the budget a candidate exceeds; int8 saves memory, not latency', () => {
    // history: three features of 100 rows, 3 lookups and 24 dims: 5.4 µs, 9,600 B.
    const spec = specOf(
      [
        { name: 'history', tower: 'user', vocab: [100, 100, 100] },
        { name: 'country', tower: 'user', vocab: [50] },
        { name: 'genre', tower: 'item', vocab: [20] },
      ],
      8,
      4,
    );
    const explain = (budgets: Budgets) =>
      pickAndExplain(picker('group', 'fp32', budgets, spec), [0.9, 0.2, 0.1]);
    // 15 µs: history alone takes 15.4 µs; country and genre take 13.6 µs.
    const latency = explain({ latencyUs: 15 });
    expect(latency.picks).toEqual(['country', 'genre']);
    expect(latency.didNotFit).toMatchObject([
      { name: 'history', blockedBy: 'latency', left: { latencyUs: 5 }, marginal: { memoryBytes: 9600 } },
    ]);
    // At 4 dims it still takes 14.2 µs, and 16 µs beside genre; as int8 as much as in fp32.
    expect(latency.didNotFit[0].fewerDims).toBeUndefined();
    expect(latency.didNotFit[0].int8).toBeUndefined();
    const both = explain({ memoryBytes: 9000, latencyUs: 15 });
    expect(both.didNotFit).toMatchObject([{ name: 'history', blockedBy: 'memory_and_latency' }]);
  });

  it('unit block: no fewer dims than one block; int8 for the whole table with the block added', () => {
    const p = picker('block');
    // Blocks: user_id 16,000 B, item_id 80,000 B each. By score user_id's two blocks come
    // first (32,000 B), then item_id's, which no longer fit the 68,000 B left.
    const { didNotFit } = pickAndExplain(p, [0.9, 0.8, 0.1, 0.1, 0.7, 0.6, 0.2, 0.2]);
    expect(didNotFit.map((entry) => entry.name)).toEqual(['item_id#0', 'item_id#1']);
    const [first] = didNotFit;
    expect(first.left.memoryBytes).toBe(68_000);
    expect(first.fewerDims).toBeUndefined();
    // item_id at 4 dims as int8: 5000 rows x (4 + a 4-byte scale).
    expect(first.int8).toMatchObject({ dim: 4, dtype: 'int8', marginal: { memoryBytes: 40_000 } });
  });

  it('leaves out int8 when the run already stores int8', () => {
    const p = picker('group', 'int8', { memoryBytes: 50_000 });
    // int8 at 8 dims: item_id 60,000 B > 50,000 B; at 4 dims 40,000 B fits beside country (600 B).
    const { didNotFit } = pickAndExplain(p, [0.3, 0.05, 0.5, 0.15]);
    expect(didNotFit[0]).toMatchObject({
      name: 'item_id',
      blockedBy: 'memory',
      fewerDims: { dim: 4, dtype: 'int8' },
    });
    expect(didNotFit[0].int8).toBeUndefined();
  });

  it('Sequential Attention: every round a candidate outweighed the pick and did not fit, at its largest weight', async () => {
    const p = picker();
    // Fixed weights per round (exact in float32); item_id's grows as the softmax loses candidates.
    const weights = [
      [0.3, 0.05, 0.5, 0.15],
      [1, 0.1, 0.75, 0.2],
      [1, 0.1, 0.875, 1],
    ];
    const learner = new FixedWeights(weights);
    const rounds = await sequentialAttention(learner, p, {
      warmupSteps: 0,
      stepsPerRound: 1,
      selectPerRound: 1,
    });
    expect(rounds.map((round) => round.picks.map((pick) => pick.name))).toEqual([
      ['user_id'],
      ['genre'],
      ['country'],
    ]);
    const order = rounds.flatMap((round) => round.picks.map((pick) => pick.candidate));
    const [itemId] = explainDidNotFit(p, order, rounds);
    expect(itemId).toMatchObject({ name: 'item_id', weight: 0.875, round: 3, rounds: [1, 2, 3] });
    // In round 3, after user_id and genre (32,640 B): 67,360 B left.
    expect(itemId.left.memoryBytes).toBe(67_360);
    expect(p.stopReason()).toBe('budget_full');
  });
});
