/**
 * A finished trial's row (TrialRow, from its manifest and stage records) and the sweep's
 * results files: results.csv and results.parquet (the same table) and summary.json, each
 * written atomically.
 */
import path from 'node:path';
import type { RunConfig } from '../config/schema.js';
import { writeParquetTable, type ColumnSpec } from '../data/parquet-output.js';
import type { EvalMetrics } from '../model/metrics.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readJsonFile } from '../util/json-file.js';
import type { Manifest } from './manifest.js';
import { SELECTION_FILE } from './run.js';
import type { SweepTrial } from './sweep.js';
import {
  RESULTS_CSV,
  RESULTS_PARQUET,
  SUMMARY_FILE,
  type SweepSummary,
  type TrialRow,
} from './sweep-results.js';
import { METRICS_FILE } from './train.js';

/** 'auc' for the binary objective, 'recall@K' (the first retrieval_k) for sampled_softmax. */
export function metricName(config: RunConfig): string {
  return config.model.objective === 'binary' ? 'auc' : `recall@${config.train.retrieval_k[0]}`;
}

export function metricValue(metrics: EvalMetrics, config: RunConfig): number {
  return metrics.kind === 'binary' ? metrics.auc : (metrics.recall[`@${config.train.retrieval_k[0]}`] ?? NaN);
}

/** Seconds of selection and of training the selected model, as the trial's stages recorded them. */
async function trialSeconds(runDir: string): Promise<number> {
  const selection = await readJsonFile<{ seconds?: number }>(path.join(runDir, 'selection', SELECTION_FILE));
  const selected = await readJsonFile<{ epochs?: { seconds: number }[] }>(
    path.join(runDir, 'selected', METRICS_FILE),
  );
  const training = (selected?.epochs ?? []).reduce((sum, epoch) => sum + epoch.seconds, 0);
  return (selection?.seconds ?? 0) + training;
}

/** `group:dim` of each kept group in the order the selection first picked it. */
function keptInOrder(manifest: Manifest): string {
  const dims = new Map(manifest.kept.map((group) => [group.group, group.dim]));
  const order = [...new Set(manifest.selection_order.map((step) => step.group))].filter((g) => dims.has(g));
  for (const group of dims.keys()) if (!order.includes(group)) order.push(group);
  return order.map((group) => `${group}:${dims.get(group)}`).join(';');
}

export async function trialRow(trial: SweepTrial, manifest: Manifest): Promise<TrialRow> {
  const { config } = trial;
  const { cost, metrics, budgets } = manifest;
  return {
    trial: trial.id,
    method: trial.method,
    seed: trial.seed,
    memory_budget: String(trial.memory),
    latency_budget: trial.latency === null ? null : String(trial.latency),
    memory_budget_bytes: budgets.memory_bytes,
    latency_budget_us: budgets.latency_us,
    kept_groups: keptInOrder(manifest),
    kept_group_count: manifest.kept.length,
    total_dims: manifest.kept.reduce((sum, group) => sum + group.dim * group.features.length, 0),
    memory_bytes: cost.selected.predicted.memory_bytes,
    predicted_latency_us: cost.selected.predicted.latency_us,
    measured_latency_us: cost.selected.measured.latency_us,
    metric: metricName(config),
    test_metric: metricValue(metrics.selected.test, config),
    valid_metric: metricValue(metrics.selected.valid, config),
    full_test_metric: metricValue(metrics.full.test, config),
    full_memory_bytes: cost.full.predicted.memory_bytes,
    wall_seconds: await trialSeconds(config.output.dir!),
  };
}

/** The columns of results.csv and results.parquet, in order, with their Parquet types. */
const COLUMNS: Readonly<Record<keyof TrialRow, 'string' | 'int32' | 'float64'>> = {
  trial: 'string',
  method: 'string',
  seed: 'int32',
  memory_budget: 'string',
  latency_budget: 'string',
  memory_budget_bytes: 'float64',
  latency_budget_us: 'float64',
  kept_groups: 'string',
  kept_group_count: 'int32',
  total_dims: 'int32',
  memory_bytes: 'float64',
  predicted_latency_us: 'float64',
  measured_latency_us: 'float64',
  metric: 'string',
  test_metric: 'float64',
  valid_metric: 'float64',
  full_test_metric: 'float64',
  full_memory_bytes: 'float64',
  wall_seconds: 'float64',
};
export const RESULT_COLUMNS = Object.keys(COLUMNS) as (keyof TrialRow)[];

function csvCell(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** results.csv: a header row, then one row per trial; null is an empty cell, numbers in full precision. */
export function resultsCsv(rows: readonly TrialRow[]): string {
  const lines = [
    RESULT_COLUMNS.join(','),
    ...rows.map((row) => RESULT_COLUMNS.map((c) => csvCell(row[c])).join(',')),
  ];
  return `${lines.join('\n')}\n`;
}

/** results.parquet, written atomically: the same table as results.csv, nulls as nulls. */
function writeResultsParquet(file: string, rows: readonly TrialRow[]): Promise<void> {
  const columns: ColumnSpec[] = RESULT_COLUMNS.map((name) => ({
    name,
    type: COLUMNS[name],
    nullable: rows.some((row) => row[name] === null) || COLUMNS[name] === 'string',
  }));
  return writeParquetTable(
    file,
    columns,
    RESULT_COLUMNS.map((name) => rows.map((row) => row[name])),
  );
}

export async function writeResults(
  dir: string,
  rows: readonly TrialRow[],
  summary: SweepSummary,
): Promise<void> {
  await writeFileAtomic(path.join(dir, RESULTS_CSV), resultsCsv(rows));
  await writeResultsParquet(path.join(dir, RESULTS_PARQUET), rows);
  await writeFileAtomic(path.join(dir, SUMMARY_FILE), `${JSON.stringify(summary, null, 2)}\n`);
}
