/**
 * Sequential Attention on the embedded synthetic dataset, whose generator records which
 * columns carry signal, which are exact copies of another and which are pure noise
 * (ground_truth.json): the known answer the picks are checked against.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { prepareDataset } from '../src/data/dataset.js';
import { generateSynthetic, SYNTHETIC_TRUTH_FILE } from '../src/data/synthetic.js';
import { embeddingSpec, vocabularySizes } from '../src/embedding/layout.js';
import { selectBackend } from '../src/model/backend.js';
import { resolveBudgets } from '../src/selection/budgets.js';
import { CostModel } from '../src/selection/cost-model.js';
import { selectCandidates, type SelectionOutcome } from '../src/selection/select.js';
import { dataSection, PLANTED_ATTRIBUTES as ATTRIBUTES } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

interface ColumnTruth {
  readonly role: string;
  readonly copy_of: string | null;
  readonly equally_informative_with: string | null;
}

let tmp: TempDir;
let truth: Record<string, ColumnTruth>;

function config(features: string, selection: string): RunConfig {
  const yaml = `
${dataSection()}
features:${features}
model: { embedding_dim: 8, user_tower: [32, 16], item_tower: [32, 16], backend: onnxruntime }
train: { batch_size: 512, epochs: 2, seed: 2 }
selection: { block_size: 4, ${selection} }
`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

async function select(cfg: RunConfig): Promise<SelectionOutcome> {
  const dataset = await prepareDataset(cfg);
  const spec = embeddingSpec(
    dataset.layout,
    vocabularySizes(dataset.vocabularies),
    cfg.model.embedding_dim,
    cfg.selection.block_size,
  );
  const costs = new CostModel(spec, cfg.selection.dtype, { user: [32, 16], item: [32, 16] });
  return selectCandidates(cfg, dataset, costs, resolveBudgets(cfg.selection.budgets, costs.full()));
}

const pickedGroups = (outcome: SelectionOutcome): string[] =>
  outcome.order.map((pick) => outcome.candidates[pick.candidate].group);

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-planted-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 200_000, seed: 7 });
  truth = (
    JSON.parse(await readFile(tmp.file('data', SYNTHETIC_TRUTH_FILE), 'utf8')) as {
      columns: Record<string, ColumnTruth>;
    }
  ).columns;
  await selectBackend({ flag: 'onnxruntime' });
});
afterAll(() => tmp.remove());

describe('Sequential Attention on planted structure', () => {
  it('picks every signal group before any noise group, and a copy only after the other signals', async () => {
    const outcome = await select(config(ATTRIBUTES, 'method: sequential_attention'));
    const order = pickedGroups(outcome);
    const role = (group: string) => truth[group].role;
    const at = (group: string) => order.indexOf(group);
    // Of a column and its exact copy, the one picked first is the signal, the other redundant.
    const pairs = order
      .filter((group) => role(group) === 'copy')
      .map((copy) => [copy, truth[copy].copy_of!].sort((a, b) => at(a) - at(b)));
    const redundant = new Set(pairs.map(([, second]) => second));
    const signals = order.filter(
      (group) => ['signal', 'numeric_signal', 'copy'].includes(role(group)) && !redundant.has(group),
    );
    expect(signals.length).toBe(9);
    const firstNoise = order.findIndex((group) => role(group) === 'noise' || role(group) === 'numeric_noise');
    expect(firstNoise, `order: ${order.join(', ')}`).toBeGreaterThan(Math.max(...signals.map(at)));
    for (const [first, second] of pairs) {
      const others = signals.filter((group) => group !== first).map(at);
      expect(at(second), `order: ${order.join(', ')}`).toBeGreaterThan(Math.max(...others));
    }
    const baselines: Record<string, string[]> = { sequential_attention: order };
    for (const method of ['one_shot_attention', 'random', 'cardinality'])
      baselines[method] = pickedGroups(await select(config(ATTRIBUTES, `method: ${method}`)));
    // For comparison in the test output, not asserted: baselines may do as well here.
    console.info(`planted-structure selection orders:\n${JSON.stringify(baselines, null, 1)}`);
  });

  it('prefers the cheaper of two equally informative groups with weight_per_cost under a tight budget', async () => {
    const cheap = 'u_device';
    const dear = truth[cheap].equally_informative_with!;
    const features = `
  - name: [${cheap}, ${dear}, u_region]
    tower: user
  - name: [i_category]
    tower: item`;
    // Room for the dearer one with the others, or for the cheaper one, not both.
    const probe = await select(config(features, 'method: all'));
    const bytes = (group: string) => {
      const pick = probe.order.find((p) => probe.candidates[p.candidate].group === group)!;
      return pick.marginal.memoryBytes;
    };
    const budget = bytes(dear) + bytes('u_region') + bytes('i_category');
    expect(bytes(dear)).toBeGreaterThan(50 * bytes(cheap));
    const outcome = await select(
      config(features, `method: sequential_attention, pick: weight_per_cost, budgets: { memory: ${budget} }`),
    );
    const order = pickedGroups(outcome);
    expect(order).toContain(cheap);
    expect(order.indexOf(dear) === -1 || order.indexOf(dear) > order.indexOf(cheap)).toBe(true);
    expect(outcome.cost.memoryBytes).toBeLessThanOrEqual(budget);
  });
});
