/**
 * The sweep part of a report: results.csv and summary.json (see ../sweep-results.ts) as
 * Pareto curves per method, areas under the curve, the trials, and which trial to show.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { TopLevelSpec } from 'vega-lite';
import { formatBytes } from '../../config/size.js';
import { errorMessage, LemoptError } from '../../util/errors.js';
import { paretoFrontier } from '../pareto.js';
import {
  RESULTS_CSV,
  SUMMARY_FILE,
  type MethodSummary,
  type SweepSummary,
  type TrialRow,
} from '../sweep-results.js';
import { bytes, fixed, micros, note, table, type Cell, type Html } from './html.js';
import type { PlotSpec } from './vega.js';

export interface SweepFolder {
  readonly dir: string;
  readonly rows: readonly TrialRow[];
  /** summary.json; null while the sweep has not written it (frontiers are then computed here). */
  readonly summary: SweepSummary | null;
}

const NUMBER_COLUMNS = [
  'seed',
  'memory_budget_bytes',
  'latency_budget_us',
  'kept_group_count',
  'total_dims',
  'memory_bytes',
  'predicted_latency_us',
  'measured_latency_us',
  'test_metric',
  'valid_metric',
  'full_test_metric',
  'full_memory_bytes',
  'wall_seconds',
] as const;

const REQUIRED_COLUMNS = [
  'trial',
  'method',
  'memory_bytes',
  'test_metric',
  'full_test_metric',
  'full_memory_bytes',
];

/** results.csv: a header row, then one row per trial; an empty cell is null. */
export function parseResults(text: string, file: string): TrialRow[] {
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  } catch (error) {
    throw new LemoptError(`${file}: invalid CSV (${errorMessage(error)})`);
  }
  const header = text.split(/\r?\n/, 1)[0].split(',');
  const missing = REQUIRED_COLUMNS.filter((column) => !header.includes(column));
  if (missing.length > 0)
    throw new LemoptError(
      `${file}: no column ${missing.map((c) => `'${c}'`).join(', ')}; columns are: ${header.join(', ')}`,
    );
  return records.map((record, i) => {
    const row: Record<string, string | number | null> = {};
    for (const [key, value] of Object.entries(record)) row[key] = value === '' ? null : value;
    for (const column of NUMBER_COLUMNS) {
      const value = row[column];
      if (value === null || value === undefined) {
        row[column] = null;
        continue;
      }
      const number = Number(value);
      if (Number.isNaN(number) && value !== 'NaN')
        throw new LemoptError(
          `${file}: row ${i + 2}: ${column} must be a number, got ${JSON.stringify(value)}`,
        );
      row[column] = number;
    }
    return row as unknown as TrialRow;
  });
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new LemoptError(`${file}: cannot read (${errorMessage(error)})`);
  }
}

export async function readSweepFolder(dir: string): Promise<SweepFolder> {
  const resultsFile = path.join(dir, RESULTS_CSV);
  const results = await readOptional(resultsFile);
  if (results === null)
    throw new LemoptError(`${resultsFile}: no results: the sweep has not finished a trial`);
  const rows = parseResults(results, resultsFile);
  const summaryFile = path.join(dir, SUMMARY_FILE);
  const summaryText = await readOptional(summaryFile);
  let summary: SweepSummary | null = null;
  if (summaryText !== null) {
    try {
      summary = JSON.parse(summaryText) as SweepSummary;
    } catch (error) {
      throw new LemoptError(`${summaryFile}: invalid JSON: ${errorMessage(error)}`);
    }
    if (!Array.isArray(summary?.methods))
      throw new LemoptError(`${summaryFile}: not a sweep summary: no 'methods' list`);
  }
  return { dir, rows, summary };
}

// ---------------------------------------------------------------------------------------
// Frontiers

/** The methods in the summary's order (then any other in results.csv), with their frontiers. */
export function methodSummaries(sweep: SweepFolder): MethodSummary[] {
  const names = [
    ...new Set([
      ...(sweep.summary?.methods.map((m) => m.method) ?? []),
      ...sweep.rows.map((row) => row.method),
    ]),
  ];
  return names.map((method) => {
    const given = sweep.summary?.methods.find((m) => m.method === method);
    if (given) return given;
    const own = sweep.rows.filter((row) => row.method === method);
    const points = (cost: (row: TrialRow) => number | null) =>
      paretoFrontier(
        own.flatMap((row) => {
          const value = cost(row);
          return value === null ? [] : [{ trial: row.trial, cost: value, test_metric: row.test_metric }];
        }),
      );
    return {
      method,
      trials: own.length,
      pareto_memory: points((row) => row.memory_bytes),
      pareto_latency: points((row) => row.predicted_latency_us),
      area_under_curve_memory: null,
    };
  });
}

function mean(values: readonly number[]): number | null {
  const finite = values.filter(Number.isFinite);
  return finite.length === 0 ? null : finite.reduce((sum, v) => sum + v, 0) / finite.length;
}

/** The full model's test metric and memory: from summary.json, else the mean over the rows. */
export function fullModel(sweep: SweepFolder): {
  metric: string;
  test: number | null;
  memory: number | null;
} {
  const { summary, rows } = sweep;
  const finite = (value: number | null | undefined) =>
    typeof value === 'number' && Number.isFinite(value) ? value : null;
  return {
    metric: summary?.metric ?? rows[0]?.metric ?? 'metric',
    test: finite(summary?.full_test_metric) ?? mean(rows.map((row) => row.full_test_metric)),
    memory: finite(summary?.full_memory_bytes) ?? mean(rows.map((row) => row.full_memory_bytes)),
  };
}

/** `auc` ─► AUC, `recall@10` ─► Recall@10. */
export function metricLabel(metric: string): string {
  if (metric.toLowerCase() === 'auc') return 'AUC';
  return metric.replace(/^recall/i, 'Recall').replace(/^ndcg/i, 'NDCG');
}

// ---------------------------------------------------------------------------------------
// Plots

type Axis = 'memory' | 'latency';

/** Test metric against memory or predicted latency: every trial, each method's frontier, the full model. */
export function paretoPlot(sweep: SweepFolder, axis: Axis): PlotSpec | null {
  const methods = methodSummaries(sweep);
  const full = fullModel(sweep);
  const fullMemory = full.memory ?? 0;
  const memory = axis === 'memory';
  const x = (cost: number) => (memory && fullMemory > 0 ? cost / fullMemory : cost);
  const costOf = (row: TrialRow) => (memory ? row.memory_bytes : row.predicted_latency_us);
  const trials = sweep.rows.flatMap((row) => {
    const cost = costOf(row);
    return cost === null || !Number.isFinite(row.test_metric)
      ? []
      : [{ kind: 'trial', trial: row.trial, method: row.method, x: x(cost), metric: row.test_metric }];
  });
  if (trials.length === 0) return null;
  const frontiers = methods.flatMap((summary) =>
    (memory ? summary.pareto_memory : summary.pareto_latency).map((point) => ({
      kind: 'frontier',
      trial: point.trial,
      method: summary.method,
      x: x(point.cost),
      metric: point.test_metric,
    })),
  );
  const label = metricLabel(full.metric);
  const domain = methods.map((m) => m.method);
  const color = { field: 'method', type: 'nominal', title: 'method', scale: { domain } } as const;
  const xTitle = memory
    ? fullMemory > 0
      ? `embedding memory (share of the full model's ${formatBytes(fullMemory)})`
      : 'embedding memory (bytes)'
    : 'predicted latency (µs / example)';
  const xEncoding = {
    field: 'x',
    type: 'quantitative',
    title: xTitle,
    axis: { format: memory && fullMemory > 0 ? '.0%' : '~s' },
    scale: { zero: memory },
  } as const;
  const y = {
    field: 'metric',
    type: 'quantitative',
    title: `test ${label}`,
    scale: { zero: false },
  } as const;
  const tooltip = [
    { field: 'trial', type: 'nominal' },
    { field: 'metric', type: 'quantitative', format: '.4f', title: label },
  ];
  const layers: object[] = [
    {
      data: { values: trials },
      mark: { type: 'point', filled: true, opacity: 0.35, size: 40, tooltip: true },
      encoding: { x: xEncoding, y, color, tooltip },
    },
    {
      data: { values: frontiers },
      mark: { type: 'line', point: { filled: true, size: 50 }, strokeWidth: 2, tooltip: true },
      encoding: { x: xEncoding, y, color, order: { field: 'x', type: 'quantitative' }, tooltip },
    },
  ];
  if (full.test !== null)
    layers.push(
      {
        data: { values: [{ metric: full.test, label: `full model ${full.test.toFixed(4)}` }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: '#444' },
        encoding: { y: { field: 'metric', type: 'quantitative' } },
      },
      {
        data: { values: [{ metric: full.test, label: `full model ${full.test.toFixed(4)}` }] },
        mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 4, dy: -3, color: '#444', x: 0 },
        encoding: { y: { field: 'metric', type: 'quantitative' }, text: { field: 'label' } },
      },
    );
  const spec = { width: 520, height: 300, layer: layers } as TopLevelSpec;
  return {
    name: `pareto-${axis}`,
    title: `Test ${label} against ${memory ? 'embedding memory' : 'predicted latency'}`,
    caption:
      `Faint dots: every trial; lines: each method's Pareto frontier (no other trial of the method ` +
      `has both lower ${memory ? 'memory' : 'latency'} and a higher test ${label}); dashed: the full model` +
      `${full.test === null ? ' (unknown)' : ''}.`,
    spec,
  };
}

// ---------------------------------------------------------------------------------------
// Tables

export function areaTable(sweep: SweepFolder): string {
  const methods = methodSummaries(sweep);
  const sorted = [...methods].sort(
    (a, b) => (b.area_under_curve_memory ?? -Infinity) - (a.area_under_curve_memory ?? -Infinity),
  );
  const label = metricLabel(fullModel(sweep).metric);
  const rows = sorted.map((summary): Cell[] => {
    const own = sweep.rows.filter((row) => row.method === summary.method);
    const best = own.reduce<TrialRow | null>(
      (top, row) => (top === null || row.test_metric > top.test_metric ? row : top),
      null,
    );
    return [
      summary.method,
      summary.trials,
      fixed(summary.area_under_curve_memory),
      fixed(best?.test_metric ?? null),
      best?.trial ?? null,
      summary.pareto_memory.length,
      summary.pareto_latency.length,
    ];
  });
  const caption =
    sweep.summary === null
      ? `Per method (${SUMMARY_FILE} is missing: no areas yet)`
      : `Per method, by area under the curve: the test ${label} against memory as a share of the full model's, ` +
        'averaged over seeds per budget, divided by the budget range';
  return table(
    [
      'method',
      'trials',
      'area under the curve (memory)',
      `best test ${label}`,
      'best trial',
      'Pareto points (memory)',
      'Pareto points (latency)',
    ],
    rows,
    { name: 'area-under-curve', caption, numeric: [1, 2, 3, 5, 6], rowHeaders: true },
  );
}

/** Every trial, with a link to its own report where there is one. */
export function trialsTable(sweep: SweepFolder, links: ReadonlyMap<string, Html>): string {
  const label = metricLabel(fullModel(sweep).metric);
  const rows = sweep.rows.map((row): Cell[] => [
    links.get(row.trial) ?? row.trial,
    row.method,
    row.seed,
    row.memory_budget,
    row.latency_budget,
    row.kept_group_count,
    row.total_dims,
    bytes(row.memory_bytes),
    micros(row.predicted_latency_us),
    micros(row.measured_latency_us),
    fixed(row.test_metric),
  ]);
  return table(
    [
      'trial',
      'method',
      'seed',
      'memory budget',
      'latency budget',
      'kept groups',
      'dims',
      'memory',
      'predicted latency',
      'measured latency',
      `test ${label}`,
    ],
    rows,
    { name: 'trials', numeric: [2, 5, 6, 7, 8, 9, 10] },
  );
}

// ---------------------------------------------------------------------------------------
// The trial to show

export interface ChosenTrial {
  readonly row: TrialRow;
  readonly reason: string;
}

const PREFERRED_METHOD = 'sequential_attention';

/**
 * The trial whose run plots the sweep report shows: `requested`, else the best trial
 * (highest test metric) of Sequential Attention (or of the method with the largest area,
 * without it) at the middle of its memory budgets.
 */
export function chooseTrial(sweep: SweepFolder, requested?: string): ChosenTrial | null {
  const { rows } = sweep;
  if (requested !== undefined) {
    const row = rows.find((r) => r.trial === requested);
    if (!row)
      throw new LemoptError(
        `no trial '${requested}' in ${path.join(sweep.dir, RESULTS_CSV)}; trials are: ${rows.map((r) => r.trial).join(', ')}`,
      );
    return { row, reason: 'chosen with --trial' };
  }
  if (rows.length === 0) return null;
  const ranked = [...methodSummaries(sweep)].sort(
    (a, b) => (b.area_under_curve_memory ?? -Infinity) - (a.area_under_curve_memory ?? -Infinity),
  );
  const method = rows.some((row) => row.method === PREFERRED_METHOD)
    ? PREFERRED_METHOD
    : (ranked.find((m) => rows.some((row) => row.method === m.method))?.method ?? rows[0].method);
  const own = rows.filter((row) => row.method === method);
  const budgets = [
    ...new Set(own.flatMap((row) => (row.memory_budget_bytes === null ? [] : [row.memory_budget_bytes]))),
  ].sort((a, b) => a - b);
  const middle = budgets.length > 0 ? budgets[Math.floor((budgets.length - 1) / 2)] : null;
  const atMiddle = middle === null ? own : own.filter((row) => row.memory_budget_bytes === middle);
  const best = atMiddle.reduce((top, row) =>
    row.test_metric > top.test_metric || (row.test_metric === top.test_metric && row.trial < top.trial)
      ? row
      : top,
  );
  const budget =
    middle === null ? '' : ` at the middle memory budget (${best.memory_budget ?? formatBytes(middle)})`;
  return { row: best, reason: `the best ${method} trial${budget} by test ${metricLabel(best.metric)}` };
}

export function noTrialNote(reason: string): string {
  return note(reason, 'trial');
}
