/**
 * The classifier mode (model.kind: classifier), the reference implementation's setting:
 * select `selection.k` input columns of an MLP classifier with Sequential Attention,
 * retrain a fresh MLP on the chosen columns only, and report its accuracy on the test
 * split, next to an MLP on all columns (the `all` baseline).
 *
 * Candidates are the columns, each costing one unit: `k` is the count. A memory budget,
 * if any, counts columns too (a number, or a share of all columns like 25%); latency
 * budgets are not modelled here and are refused. The run folder holds the resolved
 * config, selection.json (the picks in order, with their attention weights) and
 * metrics.json (valid and test accuracy of the selected and all-column models); no
 * manifest: there are no embedding tables to describe.
 */
import path from 'node:path';
import type { RunConfig } from '../config/schema.js';
import { loadDenseTable, type ClassValue, type DenseTable } from '../data/dense-table.js';
import { TEST, TRAIN, VALID } from '../data/split.js';
import type { EmbeddingSpec } from '../embedding/layout.js';
import { describeBackend, selectBackend } from '../model/backend.js';
import { ClassifierModel, columnMoments } from '../model/classifier.js';
import { resolveBudgets } from '../selection/budgets.js';
import type { Candidate } from '../selection/candidates.js';
import { ClassifierLearner, MiniBatches } from '../selection/classifier-learner.js';
import { CostModel, type SelectionCost } from '../selection/cost-model.js';
import { Picker } from '../selection/picker.js';
import { sequentialAttention } from '../selection/sequential-attention.js';
import { writeFileAtomic } from '../util/atomic.js';
import { LemoptError } from '../util/errors.js';
import { openRunFolder } from './run-folder.js';

export const CLASSIFIER_SELECTION_FILE = 'selection.json';
export const CLASSIFIER_METRICS_FILE = 'metrics.json';
/** The reference's MLP (run.py: deep_layers 67). */
export const DEFAULT_HIDDEN = [67] as const;

export interface ClassifierPick {
  readonly column: string;
  readonly index: number;
  readonly round: number;
  readonly weight: number;
}

export interface Accuracy {
  readonly valid: number;
  readonly test: number;
}

export interface ClassifierRunResult {
  readonly runDir?: string;
  readonly backend: string;
  readonly rows: { readonly train: number; readonly valid: number; readonly test: number };
  readonly classes: readonly ClassValue[];
  readonly imputed: number;
  readonly method: 'sequential_attention' | 'all';
  readonly picks: readonly ClassifierPick[];
  /** Accuracy of the fresh model on the selected columns. */
  readonly selected: Accuracy;
  /** Accuracy of a model on all columns (undefined when skipped). */
  readonly all?: Accuracy;
  readonly seconds: { readonly selection: number; readonly retrain: number; readonly all: number };
}

export interface ClassifierRunOptions {
  readonly backend?: string;
  readonly log?: (line: string) => void;
  /** Train the all-columns baseline too (default true). */
  readonly baseline?: boolean;
  /** Write the run folder (default true). */
  readonly write?: boolean;
}

/** Unit costs: a selection's "memory" is its number of columns. */
class ColumnCount extends CostModel {
  constructor(columns: number) {
    const spec: EmbeddingSpec = {
      tables: Array.from({ length: columns }, (_, index) => ({
        index,
        name: String(index),
        tower: 'user' as const,
        features: [],
        rows: 1,
        dim: 1,
        blockSize: 1,
        numBlocks: 1,
        firstBlock: index,
      })),
      dim: 1,
      blockSize: 1,
      numBlocks: columns,
    };
    super(spec, 'fp32', { user: [], item: [] });
  }

  override cost(blocks: ArrayLike<number>): SelectionCost {
    let count = 0;
    for (let i = 0; i < blocks.length; i++) count += blocks[i];
    return { memoryBytes: count };
  }
}

interface Matrix {
  readonly x: Float32Array;
  readonly y: Int32Array;
}

/** Rows of one split, restricted to `columns`. */
function splitMatrix(table: DenseTable, split: number, columns: readonly number[]): Matrix {
  const d = table.columns.length;
  const rows: number[] = [];
  for (let i = 0; i < table.rows; i++) if (table.split[i] === split) rows.push(i);
  const x = new Float32Array(rows.length * columns.length);
  rows.forEach((row, r) =>
    columns.forEach((column, c) => (x[r * columns.length + c] = table.x[row * d + column])),
  );
  return { x, y: Int32Array.from(rows, (row) => table.y[row]) };
}

function modelFor(
  config: RunConfig,
  train: Matrix,
  d: number,
  numClasses: number,
  seed: number,
): ClassifierModel {
  const { mean, std } = columnMoments(
    train.x,
    d,
    Array.from({ length: train.y.length }, (_, i) => i),
  );
  return new ClassifierModel({
    inputDim: d,
    numClasses,
    hidden: config.model.hidden ?? DEFAULT_HIDDEN,
    inputMean: mean,
    inputStd: std,
    learningRate: config.train.learning_rate,
    gateLearningRate: config.selection.gate_learning_rate,
    maskScale: config.selection.mask_scale,
    seed,
  });
}

/** Trains a fresh model on `columns` for train.epochs and measures its accuracy. */
export function fitAndScore(config: RunConfig, table: DenseTable, columns: readonly number[]): Accuracy {
  const train = splitMatrix(table, TRAIN, columns);
  const model = modelFor(config, train, columns.length, table.classes.length, config.train.seed);
  try {
    const batches = new MiniBatches(
      train.x,
      train.y,
      columns.length,
      config.train.batch_size,
      config.train.seed,
    );
    const steps = config.train.epochs * Math.ceil(train.y.length / config.train.batch_size);
    model.gateMode = 'ones';
    for (let step = 0; step < steps; step++) {
      const batch = batches.next();
      model.step(batch.x, batch.y);
    }
    const score = (split: number): number => {
      const { x, y } = splitMatrix(table, split, columns);
      return model.accuracy(x, y);
    };
    return { valid: score(VALID), test: score(TEST) };
  } finally {
    model.dispose();
  }
}

/** Sequential Attention over the columns: the picks in order. */
export async function selectColumns(
  config: RunConfig,
  table: DenseTable,
  k: number,
): Promise<ClassifierPick[]> {
  const d = table.columns.length;
  const all = Array.from({ length: d }, (_, j) => j);
  const train = splitMatrix(table, TRAIN, all);
  const { selection } = config;
  const candidates: Candidate[] = table.columns.map((name, index) => ({
    index,
    name,
    table: index,
    group: name,
    tower: 'user',
    blocks: 1,
    block: null,
  }));
  const costs = new ColumnCount(d);
  const budgets = resolveBudgets({ memory: selection.budgets.memory }, costs.full());
  const picker = new Picker(candidates, costs, budgets, 'weight', Math.min(k, d));
  const model = modelFor(config, train, d, table.classes.length, selection.seed);
  try {
    const batchSize = config.train.batch_size;
    const batches = new MiniBatches(train.x, train.y, d, batchSize, selection.seed);
    const learner = new ClassifierLearner(model, batches);
    const epochs = selection.epochs ?? config.train.epochs;
    const total = epochs * Math.ceil(train.y.length / batchSize);
    const warmupSteps = Math.round(selection.warmup_fraction * total);
    const rounds = Math.max(1, Math.ceil(Math.min(picker.maxSelectable(), k) / selection.select_per_round));
    const stepsPerRound = Math.max(selection.min_steps_per_round, Math.floor((total - warmupSteps) / rounds));
    const trace = await sequentialAttention(learner, picker, {
      warmupSteps,
      stepsPerRound,
      selectPerRound: selection.select_per_round,
    });
    return trace.flatMap((round) =>
      round.picks.map((pick) => ({
        column: pick.name,
        index: pick.candidate,
        round: round.round,
        weight: pick.weight,
      })),
    );
  } finally {
    model.dispose();
  }
}

export async function runClassifierSelection(
  config: RunConfig,
  options: ClassifierRunOptions = {},
): Promise<ClassifierRunResult> {
  const log = options.log ?? (() => undefined);
  const { selection } = config;
  if (selection.method !== 'sequential_attention' && selection.method !== 'all')
    throw new LemoptError(
      `selection.method: the classifier mode runs sequential_attention or all, not ${selection.method}`,
    );
  if (selection.budgets.latency_us !== undefined)
    throw new LemoptError('selection.budgets.latency_us: the classifier mode has no latency model');
  const choice = await selectBackend({ flag: options.backend, config: config.model.backend });
  log(describeBackend(choice));
  const table = await loadDenseTable(config);
  const d = table.columns.length;
  const count = (split: number) => table.split.reduce((n, s) => n + (s === split ? 1 : 0), 0);
  const rows = { train: count(TRAIN), valid: count(VALID), test: count(TEST) };
  log(
    `${table.location}: ${table.rows} rows (train ${rows.train}, valid ${rows.valid}, test ${rows.test}), ` +
      `${d} columns, ${table.classes.length} classes, ${table.imputed} missing cells imputed`,
  );
  const k = selection.k ?? selection.max_candidates;
  if (selection.method === 'sequential_attention' && k === undefined)
    throw new LemoptError(
      'selection.k: required for model.kind classifier (the number of columns to select)',
    );
  const all = Array.from({ length: d }, (_, j) => j);

  let started = performance.now();
  const picks =
    selection.method === 'all'
      ? all.map((index) => ({ column: table.columns[index], index, round: 0, weight: 1 }))
      : await selectColumns(config, table, k!);
  const selectionSeconds = (performance.now() - started) / 1000;
  log(`selected ${picks.length} columns: ${picks.map((pick) => pick.column).join(', ')}`);

  started = performance.now();
  const selected = fitAndScore(
    config,
    table,
    picks.map((pick) => pick.index),
  );
  const retrainSeconds = (performance.now() - started) / 1000;
  log(
    `selected model: valid accuracy ${selected.valid.toFixed(4)}, test accuracy ${selected.test.toFixed(4)}`,
  );

  started = performance.now();
  let allColumns: Accuracy | undefined;
  if (options.baseline ?? true) {
    allColumns = selection.method === 'all' ? selected : fitAndScore(config, table, all);
    log(
      `all ${d} columns: valid accuracy ${allColumns.valid.toFixed(4)}, test accuracy ${allColumns.test.toFixed(4)}`,
    );
  }
  const allSeconds = (performance.now() - started) / 1000;

  const result: ClassifierRunResult = {
    backend: choice.backend,
    rows,
    classes: table.classes,
    imputed: table.imputed,
    method: selection.method,
    picks,
    selected,
    all: allColumns,
    seconds: { selection: selectionSeconds, retrain: retrainSeconds, all: allSeconds },
  };
  if (options.write === false) return result;
  const runDir = await openRunFolder(config);
  await writeFileAtomic(
    path.join(runDir, CLASSIFIER_SELECTION_FILE),
    `${JSON.stringify({ method: selection.method, k: k ?? null, picks }, null, 2)}\n`,
  );
  await writeFileAtomic(
    path.join(runDir, CLASSIFIER_METRICS_FILE),
    `${JSON.stringify(
      {
        backend: choice.backend,
        rows,
        classes: table.classes,
        imputed: table.imputed,
        selected,
        all: allColumns ?? null,
        seconds: result.seconds,
      },
      null,
      2,
    )}\n`,
  );
  return { ...result, runDir };
}

/** What `lemopt run` prints for a classifier run. */
export function describeClassifierRun(result: ClassifierRunResult): string {
  const accuracy = (value: Accuracy) =>
    `test accuracy ${value.test.toFixed(4)} (valid ${value.valid.toFixed(4)})`;
  const lines = [
    `method: ${result.method}, ${result.picks.length} columns selected`,
    ...result.picks.map(
      (pick, i) => `  ${String(i + 1).padStart(3)}. ${pick.column}  (weight ${pick.weight.toFixed(4)})`,
    ),
    `selected model: ${accuracy(result.selected)}`,
  ];
  if (result.all) lines.push(`all columns:    ${accuracy(result.all)}`);
  if (result.runDir) lines.push(`run folder: ${result.runDir}`);
  return `${lines.join('\n')}\n`;
}
