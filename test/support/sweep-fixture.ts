/**
 * A sweep folder for tests, as `lemopt sweep` leaves it (src/experiment/sweep-results.ts).
 * The grid and the trials come from the real sweepTrials; per trial the fixture makes up
 * only what a real trial would produce: trials/<id>/manifest.json (test/support/manifest.ts)
 * and selection/trace.jsonl. sweep.json, results.csv, results.parquet and summary.json are
 * then written by the real sweep code (sweepDefinition, trialRow, summarizeSweep,
 * writeResults). The config file sweep.json names (<dir>/sweep.yaml) is not written.
 *
 * Trials are made up but consistent: each method picks whole groups in its own order while
 * they fit the memory budget (a share of the full model's); sequential_attention goes by a
 * planted value per group and leaves a trace of attention weights per round, cardinality
 * and random select without rounds. The test metric grows with the planted value kept.
 * The fixture writes no selection/selection.json, so wall_seconds is 0.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILE, type Manifest, type SelectionStep } from '../../src/experiment/manifest.js';
import { compareText, summarizeSweep } from '../../src/experiment/pareto.js';
import { TRACE_PATH } from '../../src/experiment/report/run-section.js';
import { sweepDefinition, sweepTrials, type SweepTrial } from '../../src/experiment/sweep.js';
import { metricName, trialRow, writeResults } from '../../src/experiment/sweep-rows.js';
import {
  SWEEP_FILE,
  TRIALS_DIR,
  type SweepSummary,
  type TrialRow,
} from '../../src/experiment/sweep-results.js';
import { resolveBudgets, withinBudgets } from '../../src/selection/budgets.js';
import { makeManifest, manifestConfig } from './manifest.js';

/** The sweep's config; `output` and `sweep` are added by writeSweepFixture. */
const FIXTURE_CONFIG = `data:
  source: events.csv
  label: { column: clicked }
features:
  - { name: [user_id, age, gender], tower: user }
  - { name: city, column: user_city, tower: user }
  - { name: [item_id, category], tower: item, hash_buckets: 8 }
  - { name: tags, tower: item, type: multi_categorical }
  - { name: price, tower: item, type: numeric, buckets: 5 }
groups:
  - { name: demographics, features: [age, gender] }
model: { embedding_dim: 16 }
selection: { block_size: 4 }
`;

/** Planted value of each group: what keeping it adds to the metric. */
const VALUE: Readonly<Record<string, number>> = {
  item_id: 5,
  user_id: 4,
  category: 2.5,
  demographics: 1.5,
  tags: 1,
  city: 0.5,
  price: 0.25,
};

export interface SweepFixtureOptions {
  /** Default: sequential_attention, cardinality and random. */
  readonly methods?: readonly string[];
  /** Memory budgets as a grid writes them (shares of the full model). Default: 10%, 25%, 50%. */
  readonly memoryBudgets?: readonly string[];
  /** Default: 0 and 1. */
  readonly seeds?: readonly number[];
}

export interface SweepFixture {
  readonly dir: string;
  /** As in results.csv: one per trial, by trial id. */
  readonly rows: readonly TrialRow[];
  readonly summary: SweepSummary;
  readonly manifests: ReadonlyMap<string, Manifest>;
}

/** Seeded noise in [-0.5, 0.5). */
function noise(...keys: (string | number)[]): number {
  let hash = 2166136261;
  for (const char of keys.join('|')) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619);
  return ((hash >>> 0) % 10_000) / 10_000 - 0.5;
}

/** The order a method considers the groups in. */
function preference(
  method: string,
  seed: number,
  groups: readonly { group: string; memory: number }[],
): string[] {
  const names = groups.map((g) => g.group);
  if (method === 'sequential_attention') return [...names].sort((a, b) => VALUE[b] - VALUE[a]);
  if (method === 'cardinality') return [...groups].sort((a, b) => b.memory - a.memory).map((g) => g.group);
  return [...names].sort((a, b) => noise(method, seed, a) - noise(method, seed, b));
}

function softmax(values: readonly number[]): number[] {
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((s, v) => s + v, 0);
  return exps.map((v) => v / sum);
}

/** The trace of a method with rounds: every candidate's weight at the end of each round. */
function attentionTrace(manifest: Manifest, seed: number): { lines: string[]; weights: number[] } {
  const candidates = [...manifest.kept.map((g) => g.group), ...manifest.dropped.map((g) => g.group)].sort();
  const selected = new Set<string>();
  const lines: string[] = [];
  const pickWeights: number[] = [];
  for (const step of manifest.selection_order) {
    const open = candidates.filter((c) => !selected.has(c));
    const soft = softmax(open.map((c) => VALUE[c] / 1.5 + 0.2 * noise(seed, step.step, c)));
    const weights = Object.fromEntries(
      candidates.map((c) => [c, selected.has(c) ? 1 : soft[open.indexOf(c)]]),
    );
    const weight = weights[step.candidate];
    pickWeights.push(weight);
    const cost = (c: SelectionStep['marginal']) => ({ memoryBytes: c.memory_bytes, latencyUs: c.latency_us });
    lines.push(
      JSON.stringify({
        round: step.round,
        weights,
        picks: [
          {
            candidate: step.candidate,
            weight,
            marginal: cost(step.marginal),
            cumulative: cost(step.cumulative),
          },
        ],
      }),
    );
    selected.add(step.candidate);
  }
  return { lines, weights: pickWeights };
}

/** The single trace line of a method without rounds. */
function roundlessTrace(manifest: Manifest): string[] {
  const picks = manifest.selection_order.map((step, i) => ({
    candidate: i,
    name: step.candidate,
    weight: step.weight,
    marginal: { memoryBytes: step.marginal.memory_bytes, latencyUs: step.marginal.latency_us },
    cumulative: { memoryBytes: step.cumulative.memory_bytes, latencyUs: step.cumulative.latency_us },
    round: 0,
  }));
  return [JSON.stringify({ round: 0, picks })];
}

function binary(auc: number) {
  return {
    kind: 'binary' as const,
    auc,
    logloss: 0.55 - (auc - 0.5) / 2,
    accuracy: 0.7,
    examples: 20_000,
    positiveRate: 0.3,
  };
}

/** What the trial's `lemopt run` leaves that the sweep and the report read. */
function runTrial(trial: SweepTrial): { manifest: Manifest; trace: string[] } {
  const { config, method, seed } = trial;
  const full = makeManifest(config);
  const budgets = resolveBudgets(config.selection.budgets, {
    memoryBytes: full.cost.full.predicted.memory_bytes,
  });
  const groups = full.kept.map((g) => ({ group: g.group, memory: g.memory_bytes }));
  const kept: Record<string, number> = {};
  let used = 0;
  for (const name of preference(method, seed, groups)) {
    const memory = groups.find((g) => g.group === name)!.memory;
    if (withinBudgets({ memoryBytes: used + memory }, budgets)) {
      kept[name] = config.model.embedding_dim;
      used += memory;
    }
  }
  if (Object.keys(kept).length === 0) throw new Error(`fixture: nothing fits ${trial.memory} of the memory`);
  const base = makeManifest(config, {
    kept,
    budgets: { memory_bytes: budgets.memoryBytes ?? null, latency_us: null },
  });
  const rounds = method === 'sequential_attention';
  const total = Object.values(VALUE).reduce((s, v) => s + v, 0);
  const value = Object.keys(kept).reduce((s, g) => s + VALUE[g], 0);
  const fullAuc = 0.8 + 0.004 * noise('full', seed);
  const testAuc = 0.6 + 0.2 * (value / total) + 0.006 * noise(method, trial.memory, seed);
  const order = base.selection_order.map((step) => ({ ...step, round: rounds ? step.round : 0 }));
  const manifest: Manifest = {
    ...base,
    selection_order: order,
    metrics: {
      full: { valid: binary(fullAuc + 0.002), test: binary(fullAuc) },
      selected: { valid: binary(testAuc + 0.002), test: binary(testAuc) },
    },
  };
  if (!rounds) return { manifest, trace: roundlessTrace(manifest) };
  const attention = attentionTrace(manifest, seed);
  return {
    manifest: {
      ...manifest,
      selection_order: order.map((step, i) => ({ ...step, weight: attention.weights[i] })),
    },
    trace: attention.lines,
  };
}

/** Writes the sweep folder `dir`: 3 methods x 3 budgets x 2 seeds = 18 trials by default. */
export async function writeSweepFixture(
  dir: string,
  options: SweepFixtureOptions = {},
): Promise<SweepFixture> {
  const sweep = {
    memory: options.memoryBudgets ?? ['10%', '25%', '50%'],
    methods: options.methods ?? ['sequential_attention', 'cardinality', 'random'],
    seeds: options.seeds ?? [0, 1],
  };
  const configFile = path.join(dir, 'sweep.yaml');
  const yaml = `${FIXTURE_CONFIG}output: { dir: ${JSON.stringify(dir)} }\nsweep: ${JSON.stringify(sweep)}\n`;
  const config = manifestConfig(yaml, configFile);
  const trials = sweepTrials(config, configFile);
  const manifests = new Map<string, Manifest>();
  const rows: TrialRow[] = [];
  for (const trial of trials) {
    const { manifest, trace } = runTrial(trial);
    const runDir = trial.config.output.dir!;
    await mkdir(path.dirname(path.join(runDir, TRACE_PATH)), { recursive: true });
    await writeFile(path.join(runDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    await writeFile(path.join(runDir, TRACE_PATH), `${trace.join('\n')}\n`);
    manifests.set(trial.id, manifest);
    rows.push(await trialRow(trial, manifest));
  }
  rows.sort((a, b) => compareText(a.trial, b.trial));
  const summary = summarizeSweep(rows, config.sweep!.methods, metricName(config));
  await mkdir(path.join(dir, TRIALS_DIR), { recursive: true });
  const definition = sweepDefinition(config, configFile, trials);
  await writeFile(path.join(dir, SWEEP_FILE), `${JSON.stringify(definition, null, 2)}\n`);
  await writeResults(dir, rows, summary);
  return { dir, rows, summary, manifests };
}
