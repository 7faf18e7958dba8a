/**
 * Budgets: the picker never exceeds a memory or latency budget, keeps one candidate per
 * tower, stops only when nothing else fits, names the cheapest candidate when nothing fits
 * at all (of each tower when the budgets cannot hold one per tower), and charges a group's
 * first block differently from its later ones.
 */
import { describe, expect, it } from 'vitest';
import type { EmbeddingDtype } from '../src/embedding/memory.js';
import type { EmbeddingSpec } from '../src/embedding/layout.js';
import { resolveBudgets, type Budgets } from '../src/selection/budgets.js';
import { enumerateCandidates, type SelectionUnit } from '../src/selection/candidates.js';
import {
  CostModel,
  withCandidate,
  type SelectionCost,
  type TowerUnits,
} from '../src/selection/cost-model.js';
import type { LatencyCoefficients } from '../src/selection/latency.js';
import { assertBudgetsFit, checkBudgets, Picker, type PickRule } from '../src/selection/picker.js';
import { LemoptError } from '../src/util/errors.js';
import { Random } from '../src/util/random.js';
import { specOf, type TableDef } from './support/embedding-spec.js';
import { configFrom } from './support/features.js';

function pickerOf(
  spec: EmbeddingSpec,
  unit: SelectionUnit,
  dtype: EmbeddingDtype,
  budgets: Budgets,
  rule: PickRule = 'weight',
  latency?: LatencyCoefficients,
  towers: TowerUnits = { user: [], item: [] },
): Picker {
  return new Picker(
    enumerateCandidates(spec, unit),
    new CostModel(spec, dtype, towers, latency),
    budgets,
    rule,
  );
}

/** Within a budget up to the float slack the picker allows (1e-9 relative). */
function fits(cost: SelectionCost, budgets: Budgets): boolean {
  const memoryOk = budgets.memoryBytes === undefined || cost.memoryBytes <= budgets.memoryBytes * (1 + 1e-9);
  const latencyOk =
    budgets.latencyUs === undefined ||
    (cost.latencyUs !== undefined && cost.latencyUs <= budgets.latencyUs * (1 + 1e-9));
  return memoryOk && latencyOk;
}

interface RandomProblem {
  readonly picker: Picker;
  readonly selectPerRound: number;
}

function randomProblem(random: Random): RandomProblem {
  const dim = [4, 8, 16][random.integer(3)];
  const blockSize = [1, 2, 4].filter((size) => size <= dim)[random.integer(3)];
  const tables = Array.from({ length: 1 + random.integer(7) }, (_, t): TableDef => ({
    name: `g${t}`,
    tower: random.bernoulli(0.5) ? 'user' : 'item',
    vocab: Array.from(
      { length: 1 + random.integer(3) },
      () => 1 + random.integer(random.bernoulli(0.3) ? 10 : 5000),
    ),
  }));
  const spec = specOf(tables, dim, blockSize);
  const unit: SelectionUnit = random.bernoulli(0.5) ? 'group' : 'block';
  const dtype = (['fp32', 'fp16', 'int8'] as const)[random.integer(3)];
  const rule: PickRule = random.bernoulli(0.5) ? 'weight' : 'weight_per_cost';
  const layers = (): number[] => Array.from({ length: random.integer(3) }, () => 4 + random.integer(60));
  const towers = { user: layers(), item: layers() };
  const latency: LatencyCoefficients | undefined = random.bernoulli(0.6)
    ? {
        constant_us: random.uniform(0, 50),
        per_lookup_us: random.uniform(0, 2),
        per_dim_us: random.uniform(0, 0.1),
        per_mflop_us: random.uniform(0, 500),
      }
    : undefined;
  const costs = new CostModel(spec, dtype, towers, latency);
  const full = costs.full();
  const base = costs.cost(new Int32Array(spec.tables.length));
  const memoryBytes = random.bernoulli(0.8) ? random.uniform(0, 1.1) * full.memoryBytes : undefined;
  const latencyUs =
    latency && random.bernoulli(0.7)
      ? base.latencyUs! + random.uniform(-0.1, 1.1) * (full.latencyUs! - base.latencyUs!)
      : undefined;
  const candidates = enumerateCandidates(spec, unit);
  const maxPicks = random.bernoulli(0.2) ? 1 + random.integer(candidates.length) : candidates.length;
  const picker = new Picker(candidates, costs, { memoryBytes, latencyUs }, rule, maxPicks);
  return { picker, selectPerRound: 1 + random.integer(3) };
}

/** Whether some selection of one candidate per tower fits the budgets (by brute force). */
function coverable(picker: Picker): boolean {
  const { candidates, costs, budgets } = picker;
  const empty = picker.keptBlocks;
  const users = candidates.filter((c) => c.tower === 'user');
  const items = candidates.filter((c) => c.tower === 'item');
  if (users.length === 0 || items.length === 0)
    return candidates.some((c) => fits(costs.cost(withCandidate(empty, c)), budgets));
  return users.some((user) =>
    items.some((item) => fits(costs.cost(withCandidate(withCandidate(empty, user), item)), budgets)),
  );
}

describe('picker under budgets (property)', () => {
  it('never exceeds a budget, keeps one candidate per tower, stops only when nothing fits, and picks no more than maxSelectable', () => {
    const random = new Random(2024, 'selection-budgets');
    let throwing = 0;
    let picked = 0;
    let bothTowers = 0;
    for (let trial = 0; trial < 200; trial++) {
      const { picker, selectPerRound } = randomProblem(random);
      const { budgets, costs, candidates } = picker;
      const context = `trial ${trial}`;
      const towers = [...new Set(candidates.map((c) => c.tower))];
      if (picker.maxPicks < towers.length) {
        expect(() => picker.assertSomethingFits(), context).toThrow(
          new LemoptError(
            `selection.max_candidates: 1 cannot keep one candidate per tower (${towers.join(' and ')}); ` +
              'set it to at least 2',
          ),
        );
        expect(picker.done(), context).toBe(true);
        continue;
      }
      if (!coverable(picker)) {
        expect(() => picker.assertSomethingFits(), context).toThrow(LemoptError);
        expect(picker.done(), context).toBe(true);
        throwing += 1;
        continue;
      }
      expect(() => picker.assertSomethingFits(), context).not.toThrow();
      const bound = picker.maxSelectable();
      let previous = picker.cost();
      while (!picker.done()) {
        const scores = Array.from({ length: candidates.length }, () => random.next());
        const picks = picker.pick(scores, selectPerRound);
        expect(picks.length, context).toBeGreaterThan(0);
        expect(picks.length, context).toBeLessThanOrEqual(selectPerRound);
        for (const pick of picks) {
          expect(fits(pick.cumulative, budgets), context).toBe(true);
          expect(pick.marginal.memoryBytes, context).toBeCloseTo(
            pick.cumulative.memoryBytes - previous.memoryBytes,
            6,
          );
          previous = pick.cumulative;
        }
      }
      const kept = picker.keptBlocks;
      const keptTowers = new Set(picker.selected.map((index) => candidates[index].tower));
      expect([...keptTowers].sort(), context).toEqual([...towers].sort());
      if (towers.length === 2) bothTowers += 1;
      expect(fits(picker.cost(), budgets), context).toBe(true);
      expect(picker.cost(), context).toEqual(costs.cost(kept));
      if (picker.selected.length < picker.maxPicks) {
        for (const candidate of candidates) {
          if (picker.mask[candidate.index]) continue;
          expect(
            fits(costs.cost(withCandidate(kept, candidate)), budgets),
            `${context}: ${candidate.name}`,
          ).toBe(false);
        }
      } else {
        expect(picker.selected.length, context).toBe(picker.maxPicks);
      }
      // An upper bound on what any rule picks, weight or weight_per_cost.
      expect(bound, context).toBeGreaterThanOrEqual(picker.selected.length);
      picked += picker.selected.length;
    }
    // The random budgets cover both outcomes.
    expect(throwing).toBeGreaterThan(5);
    expect(picked).toBeGreaterThan(500);
    expect(bothTowers).toBeGreaterThan(50);
  });
});

describe('maxSelectable', () => {
  it('bounds the picks when a budget that does not bind makes a candidate look cheap', () => {
    // 'pair' is tiny in memory but takes two lookups; 'a' and 'b' take one each. Only two
    // lookups fit, so either 'pair' alone or 'a' and 'b' together (one tower: no other to keep).
    const spec = specOf(
      [
        { name: 'pair', tower: 'item', vocab: [1, 1] },
        { name: 'a', tower: 'item', vocab: [10_000] },
        { name: 'b', tower: 'item', vocab: [10_000] },
      ],
      4,
      4,
    );
    const latency = { constant_us: 100, per_lookup_us: 1, per_dim_us: 0, per_mflop_us: 0 };
    const picker = pickerOf(spec, 'group', 'fp32', { memoryBytes: 1e6, latencyUs: 102 }, 'weight', latency);
    expect(picker.maxSelectable()).toBe(2);
    expect(picker.pick([0, 1, 1], 3).map((pick) => pick.name)).toEqual(['a', 'b']);
    expect(picker.done()).toBe(true);
  });

  it('is every candidate without budgets, and at most maxPicks', () => {
    const spec = specOf([{ name: 'a', tower: 'user', vocab: [10] }], 8, 2);
    const candidates = enumerateCandidates(spec, 'block');
    const costs = new CostModel(spec, 'fp32', { user: [], item: [] });
    expect(new Picker(candidates, costs, {}, 'weight').maxSelectable()).toBe(4);
    expect(new Picker(candidates, costs, {}, 'weight', 3).maxSelectable()).toBe(3);
    // 10 rows x 2 dims x 4 bytes = 80 bytes a block.
    expect(new Picker(candidates, costs, { memoryBytes: 250 }, 'weight').maxSelectable()).toBe(3);
  });
});

describe('a budget nothing fits', () => {
  const spec = specOf(
    [
      { name: 'user_id', tower: 'user', vocab: [1000] },
      { name: 'country', tower: 'user', vocab: [50] },
      { name: 'item_id', tower: 'item', vocab: [5000] },
    ],
    8,
    4,
  );

  it('names the cheapest candidate in memory and its cost', () => {
    // country: 50 rows x 8 dims x 4 bytes = 1600 bytes.
    const picker = pickerOf(spec, 'group', 'fp32', { memoryBytes: 1000 });
    expect(() => picker.assertSomethingFits()).toThrow(LemoptError);
    expect(() => picker.assertSomethingFits()).toThrow(
      "selection.budgets: nothing fits memory 1.00 KB: the cheapest candidate 'country' costs 1.60 KB",
    );
  });

  it('names the cheapest candidate in latency when the budget is below the base latency', () => {
    const latency = { constant_us: 20, per_lookup_us: 0.5, per_dim_us: 0.05, per_mflop_us: 1000 };
    const towers = { user: [32], item: [8] };
    const picker = pickerOf(spec, 'group', 'fp32', { latencyUs: 15 }, 'weight', latency, towers);
    // Base: 20 µs + the score's 32 multiply-adds. item_id: + 1 lookup, 8 dims and 8 x 8
    // multiply-adds of the item tower = 20 + 0.5 + 0.4 + 0.096 µs; the user-tower tables
    // cost 8 x 32 multiply-adds instead. item_id: 5000 rows x 8 dims x 4 bytes = 160 KB.
    expect(() => picker.assertSomethingFits()).toThrow(
      "selection.budgets: nothing fits latency 15.00 µs/example: the cheapest candidate 'item_id' " +
        'costs 160 KB, 21.00 µs/example (the model without embeddings already takes 20.03 µs/example)',
    );
  });

  it('does not throw when one candidate per tower fits', () => {
    // country (1600 B) and item_id (5000 rows x 8 dims x 4 bytes = 160,000 B).
    expect(() =>
      pickerOf(spec, 'group', 'fp32', { memoryBytes: 161_600 }).assertSomethingFits(),
    ).not.toThrow();
  });

  it('names the cheapest candidate of each tower when one fits but not one per tower', () => {
    const picker = pickerOf(spec, 'group', 'fp32', { memoryBytes: 161_599 });
    expect(() => picker.assertSomethingFits()).toThrow(
      new LemoptError(
        'selection.budgets: memory 162 KB cannot hold one candidate per tower: the cheapest user-tower ' +
          "candidate 'country' costs 1.60 KB, the cheapest item-tower candidate 'item_id' costs 160 KB; " +
          'both together 162 KB',
      ),
    );
    expect(picker.done()).toBe(true);
  });

  it('refuses max_candidates below the number of towers', () => {
    const picker = new Picker(
      enumerateCandidates(spec, 'group'),
      new CostModel(spec, 'fp32', { user: [], item: [] }),
      {},
      'weight',
      1,
    );
    expect(() => picker.assertSomethingFits()).toThrow(
      new LemoptError(
        'selection.max_candidates: 1 cannot keep one candidate per tower (user and item); set it to at least 2',
      ),
    );
  });

  describe('checked from the config before any training', () => {
    const selection = (budgets: string, method = 'random') =>
      configFrom(`data: { source: x.csv, label: { column: y } }
features: [{ name: f, tower: user }]
selection: { method: ${method}, budgets: ${budgets} }
`).selection;
    // Full model: (1000 + 50 + 5000) rows x 8 dims x 4 bytes = 193,600 B.
    const memoryOnly = new CostModel(spec, 'fp32', { user: [32], item: [8] });
    const latency = { constant_us: 20, per_lookup_us: 0.5, per_dim_us: 0.05, per_mflop_us: 1000 };
    const withLatency = memoryOnly.withLatency(latency);

    it('resolves shares against the full model and names the cheapest candidate', () => {
      expect(checkBudgets(selection('{ memory: 0.5% }'), memoryOnly)).toEqual({
        budgets: { memoryBytes: 968, latencyUs: undefined },
        nothingFits: "nothing fits memory 968 B: the cheapest candidate 'country' costs 1.60 KB",
      });
      expect(() => assertBudgetsFit(selection('{ memory: 0.5% }'), memoryOnly)).toThrow(
        new LemoptError(
          "selection.budgets: nothing fits memory 968 B: the cheapest candidate 'country' costs 1.60 KB",
        ),
      );
      expect(() => assertBudgetsFit(selection('{ memory: 1% }'), memoryOnly)).toThrow(
        new LemoptError(
          'selection.budgets: memory 1.94 KB cannot hold one candidate per tower: the cheapest user-tower ' +
            "candidate 'country' costs 1.60 KB, the cheapest item-tower candidate 'item_id' costs 160 KB; " +
            'both together 162 KB',
        ),
      );
      // 84%: 162,624 B, enough for country and item_id (161,600 B).
      expect(assertBudgetsFit(selection('{ memory: 84% }'), memoryOnly)).toEqual({
        memoryBytes: 162_624,
        latencyUs: undefined,
      });
    });

    it('refuses max_candidates below the number of towers', () => {
      const config = configFrom(`data: { source: x.csv, label: { column: y } }
features: [{ name: f, tower: user }]
selection: { max_candidates: 1 }
`).selection;
      expect(() => assertBudgetsFit(config, memoryOnly)).toThrow(
        'selection.max_candidates: 1 cannot keep one candidate per tower (user and item); set it to at least 2',
      );
    });

    it('checks memory alone until the costs have a latency model, then both', () => {
      // 84% of the memory fits country and item_id; country's latency alone, 20.03 µs without
      // embeddings + 0.5 for the lookup + 0.4 for 8 dims + 0.256 for 8 x 32 user-tower
      // multiply-adds, does not.
      const budgets = selection('{ memory: 84%, latency_us: 15 }');
      expect(checkBudgets(budgets, memoryOnly).nothingFits).toBeUndefined();
      expect(() => assertBudgetsFit(budgets, withLatency)).toThrow(
        "selection.budgets: nothing fits memory 163 KB, latency 15.00 µs/example: the cheapest candidate 'country' " +
          'costs 1.60 KB, 21.19 µs/example (the model without embeddings already takes 20.03 µs/example)',
      );
    });

    it("lets method 'all' through: it keeps every candidate whatever the budgets", () => {
      expect(checkBudgets(selection('{ memory: 10 }', 'all'), withLatency)).toEqual({
        budgets: { memoryBytes: 10, latencyUs: undefined },
      });
    });
  });
});

describe('marginal costs', () => {
  // One group of two features (600 + 400 = 1000 rows), 8 dims in blocks of 4.
  const spec = specOf(
    [
      { name: 'history', tower: 'user', vocab: [600, 400] },
      { name: 'item_id', tower: 'item', vocab: [10] },
    ],
    8,
    4,
  );
  const latency = { constant_us: 5, per_lookup_us: 0.5, per_dim_us: 0.25, per_mflop_us: 100 };
  const towers = { user: [10], item: [] };

  it("int8: a group's first block pays a lookup and the row scales, its second only dims", () => {
    const picker = pickerOf(spec, 'block', 'int8', {}, 'weight', latency, towers);
    const first = picker.add(0, 1);
    const second = picker.add(1, 1);
    // First: 1000 rows x (4 dims x 1 byte + a 4-byte scale); 2 lookups x 0.5 µs, 2 x 4 dims
    // x 0.25 µs, and 8 inputs x 10 units = 80 multiply-adds x 100 µs per million.
    expect(first.marginal.memoryBytes).toBe(8000);
    expect(first.marginal.latencyUs).toBeCloseTo(1 + 2 + 0.008, 9);
    // Second: 1000 rows x 4 dims x 1 byte; no lookup.
    expect(second.marginal.memoryBytes).toBe(4000);
    expect(second.marginal.latencyUs).toBeCloseTo(2 + 0.008, 9);
    expect(second.cumulative.memoryBytes).toBe(12_000);
    expect(second.cumulative.latencyUs).toBeCloseTo(5 + 10e-6 * 100 + 3.008 + 2.008, 9);
  });

  it('fp32: every block costs the same memory, the first still adds the lookups', () => {
    const picker = pickerOf(spec, 'block', 'fp32', {}, 'weight', latency, towers);
    const first = picker.add(0, 1);
    const second = picker.add(1, 1);
    expect([first.marginal.memoryBytes, second.marginal.memoryBytes]).toEqual([16_000, 16_000]);
    expect(first.marginal.latencyUs! - second.marginal.latencyUs!).toBeCloseTo(1, 9);
  });

  it('a candidate whose group is already kept costs only its dims (unit block, cost model)', () => {
    const costs = new CostModel(spec, 'int8', towers, latency);
    const [block0, block1, item0] = enumerateCandidates(spec, 'block');
    expect(costs.marginal([0, 0], block1).memoryBytes).toBe(8000);
    expect(costs.marginal([1, 0], block1).memoryBytes).toBe(4000);
    // item_id: 10 rows x (4 + 4) bytes; 1 lookup, 4 dims, no item-tower layers.
    expect(costs.marginal([1, 0], item0)).toEqual({ memoryBytes: 80, latencyUs: 0.5 + 1 });
    expect(block0.name).toBe('history#0');
  });
});

describe('pick rules', () => {
  // 'big' has 10x the rows of 'small'.
  const spec = specOf(
    [
      { name: 'big', tower: 'item', vocab: [1000] },
      { name: 'small', tower: 'item', vocab: [100] },
    ],
    8,
    8,
  );

  it('weight_per_cost prefers the cheaper of two equal scores; weight takes the first', () => {
    expect(pickerOf(spec, 'group', 'fp32', {}, 'weight_per_cost').pick([0.5, 0.5])[0].name).toBe('small');
    expect(
      pickerOf(spec, 'group', 'fp32', { memoryBytes: 1e9 }, 'weight_per_cost').pick([0.5, 0.5])[0].name,
    ).toBe('small');
    expect(pickerOf(spec, 'group', 'fp32', {}, 'weight').pick([0.5, 0.5])[0].name).toBe('big');
  });

  it('weight_per_cost takes the expensive candidate when its score is worth its cost', () => {
    // 0.5 / 10 > 0.04 / 1.
    expect(pickerOf(spec, 'group', 'fp32', {}, 'weight_per_cost').pick([0.5, 0.04])[0].name).toBe('big');
    expect(pickerOf(spec, 'group', 'fp32', {}, 'weight_per_cost').pick([0.5, 0.06])[0].name).toBe('small');
  });
});

describe('resolveBudgets', () => {
  const full = { memoryBytes: 1_000_000, latencyUs: 40 };

  it('takes percentages of the full cost', () => {
    expect(resolveBudgets({ memory: '25%', latency_us: '50%' }, full)).toEqual({
      memoryBytes: 250_000,
      latencyUs: 20,
    });
    expect(resolveBudgets({ memory: ' 12.5 % ' }, full)).toEqual({
      memoryBytes: 125_000,
      latencyUs: undefined,
    });
  });

  it('keeps absolute values', () => {
    expect(resolveBudgets({ memory: 4000, latency_us: 12 }, full)).toEqual({
      memoryBytes: 4000,
      latencyUs: 12,
    });
    expect(resolveBudgets({}, full)).toEqual({ memoryBytes: undefined, latencyUs: undefined });
  });

  it('needs a latency model for a latency budget, absolute or a percentage', () => {
    for (const latency of ['50%', 20]) {
      expect(() => resolveBudgets({ latency_us: latency }, { memoryBytes: 1000 })).toThrow(
        new LemoptError('selection.budgets.latency_us: a latency budget needs a latency model'),
      );
    }
  });

  it('25% of a real model keeps the selection within a quarter of its memory', () => {
    const spec = specOf(
      Array.from({ length: 8 }, (_, t): TableDef => ({
        name: `g${t}`,
        tower: 'user',
        vocab: [100 * (t + 1)],
      })),
      8,
      4,
    );
    const costs = new CostModel(spec, 'fp16', { user: [], item: [] });
    const budgets = resolveBudgets({ memory: '25%' }, costs.full());
    // Σ rows = 3600, 8 dims x 2 bytes.
    expect(budgets.memoryBytes).toBe(0.25 * 3600 * 16);
    const picker = new Picker(enumerateCandidates(spec, 'group'), costs, budgets, 'weight');
    while (!picker.done()) picker.pick(Array.from({ length: 8 }, (_, t) => 8 - t));
    // Largest weights first: g0, g1, g2 (1600 + 3200 + 4800 B); g3 (6400 B) and larger no longer fit.
    expect(picker.cost().memoryBytes).toBeLessThanOrEqual(budgets.memoryBytes!);
    expect(picker.selected).toEqual([0, 1, 2]);
  });
});
