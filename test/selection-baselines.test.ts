/**
 * The permutation-importance, group lasso and exact-greedy baselines on a small synthetic dataset
 * whose ground_truth.json says which columns carry signal and which are pure noise.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { prepareDataset } from '../src/data/dataset.js';
import { generateSynthetic, SYNTHETIC_TRUTH_FILE } from '../src/data/synthetic.js';
import { embeddingSpec, vocabularySizes } from '../src/embedding/layout.js';
import { selectBackend } from '../src/model/backend.js';
import { saveTrainedModel, trainFullModel, type TrainedModel } from '../src/model/trainer.js';
import { resolveBudgets, type Budgets } from '../src/selection/budgets.js';
import { CostModel } from '../src/selection/cost-model.js';
import { selectCandidates, type SelectionOutcome } from '../src/selection/select.js';
import { dataSection } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;
let role: (column: string) => string;

const SIGNAL = ['u_region', 'u_occupation', 'u_age_band', 'i_category', 'i_price_band'];
const NOISE = ['u_signup_cohort', 'u_browser', 'i_color'];

const FEATURES = `
  - name: [u_region, u_occupation, u_age_band, u_signup_cohort, u_browser]
    tower: user
  - name: [i_category, i_price_band, i_color]
    tower: item`;

function config(features: string, selection: string, epochs = 2): RunConfig {
  const yaml = `
${dataSection('{ method: random, train: 0.7, valid: 0.25, test: 0.05 }')}
features:${features}
model: { embedding_dim: 8, user_tower: [16], item_tower: [16], backend: onnxruntime }
train: { batch_size: 512, epochs: ${epochs}, seed: 3 }
selection: { block_size: 4, ${selection} }
`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

async function select(
  cfg: RunConfig,
  fullModelFile?: string,
): Promise<{ outcome: SelectionOutcome; budgets: Budgets }> {
  const dataset = await prepareDataset(cfg);
  const spec = embeddingSpec(
    dataset.layout,
    vocabularySizes(dataset.vocabularies),
    cfg.model.embedding_dim,
    cfg.selection.block_size,
  );
  const costs = new CostModel(spec, cfg.selection.dtype, { user: [16], item: [16] });
  const budgets = resolveBudgets(cfg.selection.budgets, costs.full());
  return {
    outcome: await selectCandidates(cfg, dataset, costs, budgets, {}, undefined, fullModelFile),
    budgets,
  };
}

const groups = (outcome: SelectionOutcome): string[] =>
  outcome.order.map((pick) => outcome.candidates[pick.candidate].group);

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-baselines-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 30_000, seed: 7 });
  const truth = (
    JSON.parse(await readFile(tmp.file('data', SYNTHETIC_TRUTH_FILE), 'utf8')) as {
      columns: Record<string, { role: string }>;
    }
  ).columns;
  role = (column) => truth[column].role;
  await selectBackend({ flag: 'onnxruntime' });
});
afterAll(() => tmp.remove());

describe('group lasso', () => {
  // Within a tower; across towers the first layers' scales differ (a caveat of the baseline).
  it("keeps more of every signal group's first-layer weights than of any noise group of its tower", async () => {
    const { outcome } = await select(config(FEATURES, 'method: group_lasso'));
    const weights = outcome.rounds[0].weights;
    const norm = (group: string) => weights[outcome.candidates.findIndex((c) => c.group === group)];
    const norms = Object.fromEntries(outcome.candidates.map((c) => [c.group, norm(c.group)]));
    console.info(`group lasso norms: ${JSON.stringify(norms)}`);
    for (const tower of ['u_', 'i_']) {
      const signal = SIGNAL.filter((group) => group.startsWith(tower)).map(norm);
      const noise = NOISE.filter((group) => group.startsWith(tower)).map(norm);
      expect(Math.min(...signal), JSON.stringify(norms)).toBeGreaterThan(Math.max(...noise));
    }
  });
});

describe('permutation importance', () => {
  it('scores every signal group above every noise group, and picks within the budget', async () => {
    expect(SIGNAL.map(role)).toEqual(SIGNAL.map(() => 'signal'));
    expect(NOISE.map(role)).toEqual(NOISE.map(() => 'noise'));
    const { outcome } = await select(config(FEATURES, 'method: permutation'));
    expect(outcome.rounds).toHaveLength(1);
    const weights = outcome.rounds[0].weights;
    const score = (group: string) => weights[outcome.candidates.findIndex((c) => c.group === group)];
    const scores = Object.fromEntries(outcome.candidates.map((c) => [c.group, score(c.group)]));
    console.info(`permutation importance (AUC drop): ${JSON.stringify(scores)}`);
    const weakestSignal = Math.min(...SIGNAL.map(score));
    expect(weakestSignal, JSON.stringify(scores)).toBeGreaterThan(Math.max(...NOISE.map(score)));
    expect(weakestSignal).toBeGreaterThan(0);
    // No budget: every group, by score.
    expect(groups(outcome).slice(0, SIGNAL.length).sort()).toEqual([...SIGNAL].sort());
    expect(outcome.order.map((pick) => pick.weight)).toEqual(
      [...weights].sort((a, b) => b - a).slice(0, outcome.order.length),
    );
    expect(outcome.steps).toBeGreaterThan(0);

    const tight = await select(config(FEATURES, 'method: permutation, budgets: { memory: 40% }'));
    expect(tight.outcome.order.length).toBeGreaterThan(0);
    expect(tight.outcome.order.length).toBeLessThan(outcome.candidates.length);
    expect(tight.outcome.cost.memoryBytes).toBeLessThanOrEqual(tight.budgets.memoryBytes!);
  });

  it("scores the run's saved full model without training one, to the same scores", async () => {
    const cfg = config(FEATURES, 'method: permutation');
    const inPlace = await select(cfg);
    let trained: TrainedModel | undefined;
    await trainFullModel(cfg, await prepareDataset(cfg), {}, undefined, { keep: (kept) => (trained = kept) });
    const file = tmp.file('permutation-full.ckpt');
    await saveTrainedModel(file, trained!, { stage: 'full' });
    trained!.model.dispose();
    const fromFile = await select(cfg, file);
    expect(fromFile.outcome.steps).toBe(0);
    expect(inPlace.outcome.steps).toBeGreaterThan(0);
    expect(fromFile.outcome.rounds[0].weights).toEqual(inPlace.outcome.rounds[0].weights);
    expect(fromFile.outcome.order).toEqual(inPlace.outcome.order);
    // No file there: it trains its own, as without one.
    const missing = await select(cfg, tmp.file('no-such.ckpt'));
    expect(missing.outcome.steps).toBe(inPlace.outcome.steps);
  });

  it('scores dimension blocks with unit: block', async () => {
    const features = `
  - name: [u_region, u_browser]
    tower: user
  - name: [i_category]
    tower: item`;
    const { outcome } = await select(config(features, 'method: permutation, unit: block', 1));
    expect(outcome.candidates.map((c) => c.name)).toEqual([
      'u_region#0',
      'u_region#1',
      'u_browser#0',
      'u_browser#1',
      'i_category#0',
      'i_category#1',
    ]);
    expect(outcome.rounds[0].weights.every(Number.isFinite)).toBe(true);
    expect(Math.max(...outcome.rounds[0].weights.slice(0, 2))).toBeGreaterThan(
      Math.max(...outcome.rounds[0].weights.slice(2, 4)),
    );
  });
});

describe('exact greedy', () => {
  const SMALL = `
  - name: [u_region, u_browser]
    tower: user
  - name: [i_category, i_color]
    tower: item`;

  // The label is a pure user-item interaction (logit ~ u.v): a model with one tower's groups
  // only learns propensities, so the first pick is decided by AUC differences near 0.5
  // (noise groups can win it); the pick that completes a user-item signal pair stands out.
  it('retrains per candidate, takes the best each step, and finds the signal pair', async () => {
    const { outcome } = await select(config(SMALL, 'method: greedy', 2));
    const order = groups(outcome);
    console.info(`greedy: ${JSON.stringify(outcome.rounds.map((r) => r.weights))} -> ${order.join(', ')}`);
    expect(order).toHaveLength(4);
    expect(outcome.rounds).toHaveLength(4);
    outcome.rounds.forEach((round, r) => {
      const pick = outcome.order[r];
      // Tried exactly the unselected candidates, and took the best validation AUC.
      const tried = round.weights.flatMap((w, i) => (Number.isFinite(w) ? [i] : []));
      const earlier = outcome.order.slice(0, r).map((p) => p.candidate);
      expect(tried.sort()).toEqual([0, 1, 2, 3].filter((i) => !earlier.includes(i)));
      expect(pick.weight).toBe(Math.max(...tried.map((i) => round.weights[i])));
    });
    expect(role(order[0]) === 'signal' || role(order[1]) === 'signal').toBe(true);
    const pairAt = Math.max(order.indexOf('u_region'), order.indexOf('i_category'));
    expect(pairAt, order.join(', ')).toBeLessThanOrEqual(2);
    const round = outcome.rounds[pairAt];
    const others = round.weights.filter(
      (w, i) => Number.isFinite(w) && i !== outcome.order[pairAt].candidate,
    );
    expect(outcome.order[pairAt].weight).toBeGreaterThan(0.6);
    expect(outcome.order[pairAt].weight).toBeGreaterThan(Math.max(...others) + 0.03);
  });

  it('stays within the budget', async () => {
    const { outcome, budgets } = await select(config(SMALL, 'method: greedy, budgets: { memory: 75% }', 1));
    expect(outcome.order.length).toBeGreaterThan(0);
    expect(outcome.order.length).toBeLessThan(4);
    expect(outcome.cost.memoryBytes).toBeLessThanOrEqual(budgets.memoryBytes!);
    for (const pick of outcome.order)
      expect(pick.cumulative.memoryBytes).toBeLessThanOrEqual(budgets.memoryBytes!);
  });

  it('refuses more candidates than greedy_max_candidates unless force_greedy', async () => {
    await expect(select(config(FEATURES, 'method: greedy, greedy_max_candidates: 7'))).rejects.toThrow(
      'selection.method greedy: 8 candidates need up to 36 trainings; the limit is ' +
        'greedy_max_candidates = 7 (set force_greedy: true to run anyway)',
    );
    await expect(select(config(FEATURES, 'method: greedy, unit: block'))).rejects.toThrow(
      'selection.method greedy: 16 candidates need up to 136 trainings; the limit is ' +
        'greedy_max_candidates = 12 (set force_greedy: true to run anyway)',
    );
  });
});
