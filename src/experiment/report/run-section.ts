/**
 * The report of one run folder (a `lemopt run` or a sweep's trial): plots of the
 * selection and the manifest as tables.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { EvalMetrics } from '../../model/metrics.js';
import { describeCost } from '../../selection/budgets.js';
import { errorMessage, LemoptError } from '../../util/errors.js';
import {
  MANIFEST_FILE,
  readManifest,
  STOP_REASONS,
  type Manifest,
  type ManifestCost,
  type ManifestFittingForm,
} from '../manifest.js';
import { selectionCost } from '../manifest-costs.js';
import { exportsOfRun, type FoundExport } from '../export/find-exports.js';
import { exportsTable } from './exports-table.js';
import {
  bytes,
  escapeHtml,
  figure,
  fixed,
  integer,
  micros,
  note,
  percent,
  table,
  type Cell,
} from './html.js';
import { groupDimsPlot, selectionOrderPlot, weightsPlot, type TraceRound } from './run-plots.js';
import { renderPlots, type Plot, type PlotSpec } from './vega.js';

export const TRACE_PATH = path.join('selection', 'trace.jsonl');

export interface RunFolder {
  readonly dir: string;
  readonly manifest: Manifest;
  /** selection/trace.jsonl; empty when the folder has none. */
  readonly trace: readonly TraceRound[];
  /** The serving exports `lemopt export` wrote inside the folder. */
  readonly exports: readonly FoundExport[];
}

/** A rendered part of a report: its markup and the plots in it. */
export interface Section {
  readonly html: string;
  readonly plots: readonly Plot[];
}

export async function readTrace(file: string): Promise<TraceRound[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new LemoptError(`${file}: cannot read the selection trace (${errorMessage(error)})`);
  }
  return text
    .split('\n')
    .map((line, i) => ({ line: line.trim(), number: i + 1 }))
    .filter(({ line }) => line !== '')
    .map(({ line, number }) => {
      try {
        const value = JSON.parse(line) as TraceRound;
        if (typeof value !== 'object' || value === null || !Array.isArray(value.picks))
          throw new Error('not a round: {round, weights, picks} expected');
        return value;
      } catch (error) {
        throw new LemoptError(`${file}:${number}: invalid trace line (${errorMessage(error)})`);
      }
    });
}

/** Reads manifest.json (validated) and selection/trace.jsonl of a run folder. */
export async function readRunFolder(dir: string): Promise<RunFolder> {
  const manifest = await readManifest(path.join(dir, MANIFEST_FILE));
  const trace = await readTrace(path.join(dir, TRACE_PATH));
  return { dir, manifest, trace, exports: await exportsOfRun(dir) };
}

// ---------------------------------------------------------------------------------------
// Tables

function overviewTable(manifest: Manifest): string {
  const latency = manifest.latency_model;
  const rows: Cell[][] = [
    ['method', manifest.method],
    ['unit', `${manifest.unit} (blocks of ${manifest.block_size} dims)`],
    ['export precision', manifest.dtype],
    ['data', `${manifest.data.source} (${integer(manifest.data.rows)} rows)`],
    ['latency model', latency ? `${latency.source}, backend ${latency.backend}` : null],
    ['stopped', manifest.stopped ? STOP_REASONS[manifest.stopped.reason] : null],
    ['config hash', manifest.config_hash],
    ['created', `${manifest.created} by lemopt ${manifest.lemopt_version}`],
  ];
  return table(['', ''], rows, { name: 'overview', caption: 'Run', rowHeaders: true });
}

function costTable(manifest: Manifest): string {
  const { full, selected } = manifest.cost;
  const { budgets } = manifest;
  const unused = manifest.stopped?.unused_budget;
  const share = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
  const row = (
    name: string,
    key: keyof ManifestCost,
    budget: number | null,
    format: (value: number | null) => string | null,
  ): Cell[] => [
    name,
    format(budget),
    format(full.predicted[key]),
    format(full.measured[key]),
    format(selected.predicted[key]),
    format(selected.measured[key]),
    percent(share(selected.predicted[key], full.predicted[key])),
    format(unused?.[key] ?? null),
  ];
  return table(
    [
      'cost',
      'budget',
      'full, predicted',
      'full, measured',
      'selected, predicted',
      'selected, measured',
      'selected / full',
      'budget left unused',
    ],
    [
      row('embedding memory', 'memory_bytes', budgets.memory_bytes, bytes),
      row('latency per example', 'latency_us', budgets.latency_us, micros),
    ],
    {
      name: 'cost',
      caption: 'Budgets, predicted (cost model) and measured cost',
      numeric: [1, 2, 3, 4, 5, 6, 7],
      rowHeaders: true,
    },
  );
}

/** Named values of a metrics object: AUC, logloss, accuracy or Recall@K, NDCG@K. */
function metricValues(metrics: EvalMetrics): [string, number][] {
  if (metrics.kind === 'binary')
    return [
      ['AUC', metrics.auc],
      ['logloss', metrics.logloss],
      ['accuracy', metrics.accuracy],
    ];
  return [
    ...Object.entries(metrics.recall).map(([k, v]): [string, number] => [`Recall${k}`, v]),
    ...Object.entries(metrics.ndcg).map(([k, v]): [string, number] => [`NDCG${k}`, v]),
  ];
}

function metricsTable(manifest: Manifest): string {
  const { full, selected } = manifest.metrics;
  const columns = [full.valid, full.test, selected.valid, selected.test].map(
    (metrics) => new Map(metricValues(metrics)),
  );
  const rows = metricValues(full.test).map(([name]): Cell[] => {
    const [fullValid, fullTest, selectedValid, selectedTest] = columns.map(
      (values) => values.get(name) ?? null,
    );
    const delta = fullTest === null || selectedTest === null ? null : selectedTest - fullTest;
    return [
      name,
      fixed(fullValid),
      fixed(fullTest),
      fixed(selectedValid),
      fixed(selectedTest),
      delta === null ? null : `${delta >= 0 ? '+' : ''}${delta.toFixed(4)}`,
    ];
  });
  return table(
    ['metric', 'full, valid', 'full, test', 'selected, valid', 'selected, test', 'selected − full (test)'],
    rows,
    { name: 'metrics', caption: 'Full and selected model', numeric: [1, 2, 3, 4, 5], rowHeaders: true },
  );
}

function keptTable(manifest: Manifest): string {
  const rows = manifest.kept.map((group): Cell[] => [
    group.group,
    group.tower,
    group.columns.join(', '),
    integer(group.vocabulary_size),
    group.dim,
    group.dtype,
    bytes(group.memory_bytes),
    group.lookups,
  ]);
  return table(['group', 'tower', 'columns', 'vocabulary', 'dim', 'dtype', 'memory', 'lookups'], rows, {
    name: 'kept',
    caption: `Kept groups (${manifest.kept.length})`,
    numeric: [3, 4, 6, 7],
    rowHeaders: true,
  });
}

function droppedTable(manifest: Manifest): string {
  if (manifest.dropped.length === 0) return note('No group was dropped.', 'dropped');
  const rows = manifest.dropped.map((group): Cell[] => [
    group.copy_of ? `${group.group} (a copy of ${group.copy_of})` : group.group,
    group.tower,
    group.columns.join(', '),
    integer(group.vocabulary_size),
    group.full_dim,
    bytes(group.full_memory_bytes),
  ]);
  return table(['group', 'tower', 'columns', 'vocabulary', 'full dim', 'full memory'], rows, {
    name: 'dropped',
    caption: `Dropped groups (${manifest.dropped.length})`,
    numeric: [3, 4, 5],
    rowHeaders: true,
  });
}

function formCell(form: ManifestFittingForm | null): string | null {
  if (form === null) return null;
  return `${form.dim} dims ${form.dtype} (${describeCost(selectionCost(form))})`;
}

function didNotFitTable(manifest: Manifest): string {
  const entries = manifest.did_not_fit;
  if (entries === undefined) return '';
  if (entries.length === 0)
    return note('Every candidate scored above a pick fitted the budgets.', 'did-not-fit');
  const rows = entries.map((entry): Cell[] => [
    entry.candidate,
    entry.tower,
    fixed(entry.weight),
    entry.rounds.join(', '),
    bytes(entry.cost.memory_bytes),
    micros(entry.cost.latency_us),
    bytes(entry.budget_left.memory_bytes),
    micros(entry.budget_left.latency_us),
    entry.blocked_by.replace(/_/g, ' '),
    formCell(entry.fits_with_fewer_dims),
    formCell(entry.fits_as_int8),
  ]);
  return table(
    [
      'candidate',
      'tower',
      'weight',
      'rounds',
      'memory',
      'latency',
      'memory left',
      'latency left',
      'blocked by',
      'fits with fewer dims',
      'fits as int8',
    ],
    rows,
    {
      name: 'did-not-fit',
      caption:
        `Did not fit (${entries.length}): candidates scored above a pick that the budgets could not hold then, ` +
        'with what they would have added, what was left, and the forms that would have fit',
      numeric: [2, 4, 5, 6, 7],
      rowHeaders: true,
    },
  );
}

function orderTable(manifest: Manifest): string {
  const rows = manifest.selection_order.map((step): Cell[] => [
    step.step,
    step.round,
    step.candidate,
    fixed(step.weight),
    bytes(step.marginal.memory_bytes),
    micros(step.marginal.latency_us),
    bytes(step.cumulative.memory_bytes),
    micros(step.cumulative.latency_us),
  ]);
  return table(
    [
      'step',
      'round',
      'candidate',
      'weight',
      'marginal memory',
      'marginal latency',
      'cumulative memory',
      'cumulative latency',
    ],
    rows,
    { name: 'selection-order', numeric: [0, 1, 3, 4, 5, 6, 7] },
  );
}

// ---------------------------------------------------------------------------------------
// The section

export interface RunSectionOptions {
  /** Prefix of the plots' SVG ids: unique per section of a page. */
  readonly scope: string;
  /** Heading level of the section's parts (2 on a run's own page, 3 inside a sweep's). */
  readonly level?: 2 | 3;
}

export async function runSection(run: RunFolder, options: RunSectionOptions): Promise<Section> {
  const { manifest, trace } = run;
  const h = `h${options.level ?? 2}`;
  const heading = (text: string) => `<${h}>${escapeHtml(text)}</${h}>`;
  const order = selectionOrderPlot(manifest);
  const weights = weightsPlot(manifest, trace);
  const specs = [order, weights, groupDimsPlot(manifest)].filter((spec): spec is PlotSpec => spec !== null);
  const plots = await renderPlots(specs, options.scope);
  const drawn = (name: string) => {
    const plot = plots.find((p) => p.name === name);
    return plot ? figure(plot) : '';
  };
  const weightsNote =
    weights !== null
      ? ''
      : note(
          trace.length === 0
            ? `No attention weights: the run folder has no ${TRACE_PATH}.`
            : `No attention weights: method ${manifest.method} selects without rounds of attention.`,
          'attention-weights',
        );
  const html = [
    heading('Selection'),
    order ? drawn('selection-order') : note('Nothing was selected.', 'selection-order'),
    drawn('attention-weights') || weightsNote,
    didNotFitTable(manifest),
    heading('Final selection'),
    drawn('group-dims'),
    `<div class="tables">${keptTable(manifest)}${droppedTable(manifest)}</div>`,
    heading('Manifest'),
    `<div class="tables">${overviewTable(manifest)}${costTable(manifest)}${metricsTable(manifest)}</div>`,
    run.exports.length > 0 ? heading('Serving exports') + exportsTable(run.dir, manifest, run.exports) : '',
    manifest.selection_order.length > 0
      ? `<details><summary>Selection order (${manifest.selection_order.length} picks)</summary>${orderTable(manifest)}</details>`
      : '',
  ].join('\n');
  return { html, plots };
}
