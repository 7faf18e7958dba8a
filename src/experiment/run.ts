/**
 * `lemopt run`: the whole job in one run folder, each stage skipped when a finished result
 * of the same config is already there (an interrupted run resumes):
 *
 *   latency.json         the latency model (calibrated here unless the config gives one)
 *   full/                the full model: metrics.jsonl, metrics.json
 *   selection/           selection.json (the picks) and trace.jsonl (every round's weights)
 *   selected/            the fresh model trained on the selection: metrics, model.ckpt
 *   manifest.json        the feature-set manifest
 *
 * Budgets nothing fits fail before the first stage that trains.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../config/schema.js';
import { batches, type Batch } from '../data/batcher.js';
import { prepareDataset, type PreparedDataset } from '../data/dataset.js';
import { TEST } from '../data/split.js';
import { embeddingSpec, vocabularySizes, type EmbeddingSpec } from '../embedding/layout.js';
import { describeBackend, selectBackend } from '../model/backend.js';
import { describeMetrics } from '../model/metrics.js';
import type { TrainedModel, TrainResult } from '../model/trainer.js';
import { disposeTrained, saveTrainedModel } from '../model/trainer.js';
import {
  activeDimsOf,
  configuredBlocks,
  enumerateCandidates,
  type Candidate,
} from '../selection/candidates.js';
import { CostModel, type SelectionCost } from '../selection/cost-model.js';
import { budgetsLeft, type Budgets } from '../selection/budgets.js';
import type { DidNotFit } from '../selection/did-not-fit.js';
import { assertBudgetsFit, type StopReason } from '../selection/picker.js';
import type { LatencyCoefficients } from '../selection/latency.js';
import type { SelectionRound } from '../selection/sequential-attention.js';
import { selectCandidates, type OrderedPick, type SelectionHooks } from '../selection/select.js';
import { writeFileAtomic } from '../util/atomic.js';
import { withFolderLock } from '../util/folder-lock.js';
import { readJsonFile } from '../util/json-file.js';
import { LemoptError } from '../util/errors.js';
import { lemoptVersion } from '../util/version.js';
import {
  calibrateLatency,
  LATENCY_FILE,
  measureInferenceLatency,
  readLatencyFile,
  writeLatencyFile,
} from './calibrate.js';
import { MANIFEST_FILE, MANIFEST_VERSION, writeManifest, type Manifest } from './manifest.js';
import { budgetValues, didNotFitEntry, manifestCost } from './manifest-costs.js';
import { openRunFolder } from './run-folder.js';
import {
  CHECKPOINT_FILE,
  configKey,
  METRICS_FILE,
  readGroundTruth,
  trainInFolder,
  type GroundTruth,
} from './train.js';

export const SELECTION_FILE = 'selection.json';
const TRACE_FILE = 'trace.jsonl';
const MODEL_FILE = 'model.ckpt';
/** Test rows timed for the measured latency of a trained model. */
const LATENCY_ROWS = 1024;
const LATENCY_REPEATS = 5;

export interface RunOptions {
  readonly backend?: string;
  readonly log?: (line: string) => void;
  /** Training progress of a stage ('full', 'selection', 'selected'): done and expected units. */
  readonly onProgress?: (stage: string, done: number, expected: number, loss: number) => void;
}

export interface StageResult extends TrainResult {
  readonly key: string;
  readonly backend: string;
  /** Measured inference time of the trained model, µs per example. */
  readonly measuredLatencyUs: number;
}

export interface RunResult {
  readonly runDir: string;
  readonly backend: string;
  readonly manifest: Manifest;
  readonly groundTruth?: GroundTruth;
}

export interface LatencyModel {
  readonly source: 'calibrated' | 'file' | 'config';
  readonly backend: string;
  readonly coefficients: LatencyCoefficients;
}

interface SavedSelection {
  readonly key: string;
  readonly order: readonly OrderedPick[];
  readonly keptBlocks: readonly number[];
  readonly cost: SelectionCost;
  readonly steps: number;
  readonly seconds: number;
  readonly plan?: unknown;
  /** Absent in selections saved before they were recorded. */
  readonly stop?: StopReason;
  readonly didNotFit?: readonly DidNotFit[];
  /** Dropped group → the kept group it is an exact copy of (value stop). */
  readonly copies?: Readonly<Record<string, string>>;
}

export async function runSelection(config: RunConfig, options: RunOptions = {}): Promise<RunResult> {
  if (config.model.kind === 'classifier')
    throw new LemoptError(
      'model.kind: classifier: this path runs two-tower selections; `lemopt run` runs classifier ' +
        'configs through runClassifierSelection (sweeps of classifier configs are not supported yet)',
    );
  return withFolderLock(config.output.dir!, 'run', () => selectInFolder(config, options));
}

async function selectInFolder(config: RunConfig, options: RunOptions): Promise<RunResult> {
  const log = options.log ?? (() => undefined);
  const runDir = await openRunFolder(config);
  const choice = await selectBackend({ flag: options.backend, config: config.model.backend });
  log(describeBackend(choice));
  const dataset = await prepareDataset(config, { cacheDir: runDir });
  // Budgets nothing fits fail here, before any calibration or training: memory as soon as
  // the vocabularies are known, latency as soon as the latency model is.
  const memoryCosts = runCosts(config, dataset);
  assertBudgetsFit(config.selection, memoryCosts);
  const latency = await latencyModel(config, dataset, runDir, choice.backend, log);
  const costs = memoryCosts.withLatency(latency.coefficients);
  const budgets = assertBudgetsFit(config.selection, costs);
  const { spec } = costs;

  const fullKey = configKey(config);
  const full = await trainStage(config, dataset, path.join(runDir, 'full'), fullKey, choice.backend, options);
  log(`full model: test ${describeMetrics(full.test)}`);

  const selectionKey = configKey(
    config,
    ['data', 'features', 'groups', 'model', 'train', 'selection'],
    latency,
  );
  const selection = await selectStage(config, dataset, costs, budgets, runDir, selectionKey, options);
  const activeDims = activeDimsOf(spec, selection.keptBlocks);
  const selected = await trainStage(
    config,
    dataset,
    path.join(runDir, 'selected'),
    selectionKey,
    choice.backend,
    options,
    activeDims,
  );
  log(`selected model: test ${describeMetrics(selected.test)}`);

  const manifest = buildManifest({
    config,
    dataset,
    spec,
    costs,
    budgets,
    latency,
    selection,
    full,
    selected,
    key: selectionKey,
  });
  await writeManifest(path.join(runDir, MANIFEST_FILE), manifest);
  await writeFileAtomic(
    path.join(runDir, METRICS_FILE),
    `${JSON.stringify({ backend: choice.backend, full: splitMetrics(full), selected: splitMetrics(selected) }, null, 2)}\n`,
  );
  return {
    runDir,
    backend: choice.backend,
    manifest,
    groundTruth: await readGroundTruth(config.data.source),
  };
}

/** What the selections of a run cost: its tables at the configured dims, memory alone until a latency model is given. */
export function runCosts(config: RunConfig, dataset: PreparedDataset): CostModel {
  const spec = embeddingSpec(
    dataset.layout,
    vocabularySizes(dataset.vocabularies),
    config.model.embedding_dim,
    config.selection.block_size,
  );
  const fullBlocks = configuredBlocks(
    spec,
    dataset.layout.groups.map((group) => group.dim),
  );
  const towers = { user: config.model.user_tower, item: config.model.item_tower };
  return new CostModel(spec, config.selection.dtype, towers, undefined, fullBlocks);
}

function splitMetrics(result: TrainResult): Manifest['metrics']['full'] {
  return { valid: result.valid, test: result.test };
}

/** The config's coefficients, a file from `lemopt calibrate`, or a calibration on this machine (kept in the run folder). */
export async function latencyModel(
  config: RunConfig,
  dataset: PreparedDataset,
  runDir: string,
  backend: string,
  log: (line: string) => void,
): Promise<LatencyModel> {
  const given = config.selection.latency;
  if (given?.coefficients) return { source: 'config', backend: 'config', coefficients: given.coefficients };
  if (given?.file) {
    const saved = await readLatencyFile(given.file);
    return { source: 'file', backend: saved.backend, coefficients: saved.coefficients };
  }
  const file = path.join(runDir, LATENCY_FILE);
  const previous = await readLatencyFile(file).catch(() => undefined);
  if (previous && previous.backend === backend)
    return { source: 'calibrated', backend, coefficients: previous.coefficients };
  log('calibrating the latency model (timing inference on this machine)');
  const calibrated = await calibrateLatency(config, dataset, {});
  await writeLatencyFile(file, calibrated);
  log(`latency model: r² ${calibrated.r2.toFixed(3)}`);
  return { source: 'calibrated', backend: calibrated.backend, coefficients: calibrated.coefficients };
}

/** Trains (or reuses) one model in `dir`; measures its inference latency and saves it. */
export async function trainStage(
  config: RunConfig,
  dataset: PreparedDataset,
  dir: string,
  key: string,
  backend: string,
  options: RunOptions,
  activeDims?: ArrayLike<number>,
): Promise<StageResult> {
  const metricsFile = path.join(dir, METRICS_FILE);
  const done = await readJsonFile<StageResult>(metricsFile);
  if (done?.key === key && done.backend === backend) {
    options.log?.(`${path.basename(dir)}: reusing the finished model in ${dir}`);
    return done;
  }
  const stage = path.basename(dir);
  let trained: TrainedModel | undefined;
  const result = await trainInFolder(config, dataset, dir, {
    key,
    activeDims,
    keep: (model) => (trained = model),
    log: (line) => options.log?.(`${stage}: ${line}`),
    onStep: (epoch, examples, loss, expected) =>
      options.onProgress?.(`${stage} epoch ${epoch}`, examples, expected, loss),
  });
  try {
    // Serving looks rows up in one thread: time it so.
    trained!.store.dispose();
    const measuredLatencyUs = measureInferenceLatency(
      trained!.store,
      trained!.model,
      await latencyBatches(dataset),
      LATENCY_REPEATS,
    );
    await saveTrainedModel(path.join(dir, MODEL_FILE), trained!, { stage, key });
    const stageResult: StageResult = { ...result, key, backend, measuredLatencyUs };
    await writeFileAtomic(metricsFile, `${JSON.stringify(stageResult, null, 2)}\n`);
    return stageResult;
  } finally {
    if (trained) disposeTrained(trained);
  }
}

/** The first rows of the test split, for timing inference. */
async function latencyBatches(dataset: PreparedDataset): Promise<Batch[]> {
  const taken: Batch[] = [];
  let rows = 0;
  for await (const batch of batches(dataset.encodedBatches(), {
    split: TEST,
    batchSize: 256,
    shuffleBuffer: 0,
    seed: 0,
  })) {
    taken.push(batch);
    rows += batch.numRows;
    if (rows >= LATENCY_ROWS) break;
  }
  return taken;
}

async function selectStage(
  config: RunConfig,
  dataset: PreparedDataset,
  costs: CostModel,
  budgets: Budgets,
  runDir: string,
  key: string,
  options: RunOptions,
): Promise<SavedSelection> {
  const dir = path.join(runDir, 'selection');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, SELECTION_FILE);
  const done = await readJsonFile<SavedSelection>(file);
  if (done?.key === key) {
    options.log?.(`selection: reusing the finished selection in ${file}`);
    return done;
  }
  const trace: string[] = [];
  let expected = 0;
  const hooks: SelectionHooks = {
    onPlan: (totalSteps, description) => {
      expected = totalSteps;
      options.log?.(`selection: ${config.selection.method}, ${description} (up to ${totalSteps} in all)`);
    },
    onStep: (steps, loss) => options.onProgress?.('selection', steps, expected, loss),
    onRound: async (round, candidates) => {
      trace.push(JSON.stringify(traceLine(round, candidates)));
      await writeFileAtomic(path.join(dir, TRACE_FILE), `${trace.join('\n')}\n`);
      for (const pick of round.picks)
        options.log?.(
          `selection round ${round.round}: picked ${pick.name} (weight ${pick.weight.toFixed(3)}), ` +
            `memory ${Math.round(pick.cumulative.memoryBytes)} B`,
        );
    },
  };
  const checkpoint = { file: path.join(dir, CHECKPOINT_FILE), key };
  const fullModel = path.join(runDir, 'full', MODEL_FILE);
  const outcome = await selectCandidates(config, dataset, costs, budgets, hooks, checkpoint, fullModel);
  const saved: SavedSelection = {
    key,
    order: outcome.order,
    keptBlocks: Array.from(outcome.keptBlocks),
    cost: outcome.cost,
    steps: outcome.steps,
    seconds: outcome.seconds,
    plan: outcome.plan,
    stop: outcome.stop,
    didNotFit: outcome.didNotFit,
    ...(outcome.copies && { copies: outcome.copies }),
  };
  if (outcome.rounds.length === 0)
    await writeFileAtomic(
      path.join(dir, TRACE_FILE),
      `${JSON.stringify({ round: 0, picks: outcome.order })}\n`,
    );
  await writeFileAtomic(file, `${JSON.stringify(saved, null, 2)}\n`);
  await rm(checkpoint.file, { force: true });
  return saved;
}

function traceLine(round: SelectionRound, candidates: readonly Candidate[]) {
  return {
    round: round.round,
    weights: Object.fromEntries(candidates.map((candidate, i) => [candidate.name, round.weights[i]])),
    picks: round.picks.map((pick) => ({
      candidate: pick.name,
      weight: pick.weight,
      marginal: pick.marginal,
      cumulative: pick.cumulative,
    })),
    ...(round.valueFloor !== undefined && { value_floor: round.valueFloor }),
    ...(round.valueStop && { value_stop: true }),
  };
}

interface ManifestParts {
  readonly config: RunConfig;
  readonly dataset: PreparedDataset;
  readonly spec: EmbeddingSpec;
  readonly costs: CostModel;
  readonly budgets: Budgets;
  readonly latency: LatencyModel;
  readonly selection: SavedSelection;
  readonly full: StageResult;
  readonly selected: StageResult;
  readonly key: string;
}

function buildManifest(parts: ManifestParts): Manifest {
  const { config, dataset, spec, costs, budgets, latency, selection, full, selected } = parts;
  const { dtype, block_size: blockSize } = config.selection;
  const features = new Map(dataset.layout.features.map((feature) => [feature.name, feature]));
  const describe = (t: number) => {
    const table = spec.tables[t];
    return {
      group: table.name,
      tower: table.tower,
      columns: table.features.map((feature) => features.get(feature.name)!.column),
      features: table.features.map((feature) => feature.name),
      vocabulary_size: table.rows,
    };
  };
  const blocksOnly = (t: number, blocks: number) =>
    Int32Array.from({ length: spec.tables.length }, (_, i) => (i === t ? blocks : 0));
  const kept = spec.tables
    .filter((table) => selection.keptBlocks[table.index] > 0)
    .map((table) => ({
      ...describe(table.index),
      dim: selection.keptBlocks[table.index] * blockSize,
      dtype,
      memory_bytes: costs.cost(blocksOnly(table.index, selection.keptBlocks[table.index])).memoryBytes,
      lookups: table.features.length,
    }));
  const dropped = spec.tables
    .filter((table) => selection.keptBlocks[table.index] === 0)
    .map((table) => ({
      ...describe(table.index),
      full_dim: costs.fullBlocks[table.index] * blockSize,
      full_memory_bytes: costs.cost(blocksOnly(table.index, costs.fullBlocks[table.index])).memoryBytes,
      ...(selection.copies?.[table.name] && { copy_of: selection.copies[table.name] }),
    }));
  const unit = config.selection.unit;
  const candidates = enumerateCandidates(spec, unit, costs.fullBlocks);
  return {
    manifest_version: MANIFEST_VERSION,
    lemopt_version: lemoptVersion(),
    created: new Date().toISOString(),
    method: config.selection.method,
    unit,
    block_size: blockSize,
    dtype,
    data: { source: config.data.source, fingerprint: dataset.fingerprint, rows: dataset.stats.rows },
    config_hash: parts.key,
    budgets: budgetValues(budgets),
    kept,
    dropped,
    selection_order: selection.order.map((pick, index) => ({
      step: index + 1,
      round: pick.round,
      candidate: pick.name,
      group: candidates[pick.candidate].group,
      block: candidates[pick.candidate].block,
      weight: pick.weight,
      marginal: manifestCost(pick.marginal),
      cumulative: manifestCost(pick.cumulative),
    })),
    ...(selection.stop && {
      stopped: { reason: selection.stop, unused_budget: budgetValues(budgetsLeft(budgets, selection.cost)) },
    }),
    ...(selection.didNotFit && {
      did_not_fit: selection.didNotFit.map((entry) => didNotFitEntry(entry, candidates)),
    }),
    cost: {
      full: {
        predicted: manifestCost(costs.full()),
        measured: { memory_bytes: costs.full().memoryBytes, latency_us: full.measuredLatencyUs },
      },
      selected: {
        predicted: manifestCost(selection.cost),
        measured: { memory_bytes: selection.cost.memoryBytes, latency_us: selected.measuredLatencyUs },
      },
    },
    latency_model: latency,
    metrics: { full: splitMetrics(full), selected: splitMetrics(selected) },
    config: withoutSweep(config),
  };
}

/** A sweep section drives `lemopt sweep`, not one run: a manifest's config has none. */
function withoutSweep(config: RunConfig): RunConfig {
  const { sweep: _sweep, ...rest } = config;
  return rest;
}
