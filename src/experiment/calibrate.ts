/**
 * Latency calibration: times real inference (embedding gather + dense towers + score) on
 * the current tfjs backend for models of different shapes, and fits the latency cost
 * model (src/selection/latency.ts) to the timings.
 *
 * Each variant keeps a random subset of the tables at random multiples of block_size
 * (lookups and dims move apart) under one of several tower widths (MFLOPs move apart
 * from dims: at one width they are nearly proportional). Variant 0 is the configured
 * model itself. Every variant is timed on the same real encoded batches of the train
 * split: a few warm-up passes, then the median of several timed passes, per example.
 *
 * `lemopt calibrate` writes the result as a latency file (JSON, version 1) that
 * `selection.latency.file` points a run at.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../config/schema.js';
import { batches, type Batch } from '../data/batcher.js';
import { prepareDataset, type PreparedDataset } from '../data/dataset.js';
import { TRAIN } from '../data/split.js';
import { vocabularySizes, type EmbeddingSpec } from '../embedding/layout.js';
import { embeddingStoreFromConfig, type EmbeddingStore } from '../embedding/store.js';
import { activeEngine, describeBackend, selectBackend } from '../model/backend.js';
import { TwoTowerModel } from '../model/two-tower.js';
import type { TowerUnits } from '../selection/cost-model.js';
import {
  fitLatency,
  latencyShape,
  type LatencyCoefficients,
  type LatencySample,
} from '../selection/latency.js';
import { writeFileAtomic } from '../util/atomic.js';
import { LemoptError, errorMessage } from '../util/errors.js';
import { Random } from '../util/random.js';
import { openRunFolder } from './run-folder.js';
import { median } from '../util/statistics.js';

/** Default name of the latency file in the run folder. */
export const LATENCY_FILE = 'latency.json';
export const LATENCY_FILE_VERSION = 1;

/** Defaults of a quick calibration (a few seconds on the quickstart config). */
export const CALIBRATION_DEFAULTS = {
  samples: 16,
  rounds: 7,
  warmup: 2,
  batchSize: 256,
  batches: 4,
} as const;

/** Tower widths of the variants, as factors of the configured layer sizes, in turn. */
const TOWER_SCALES = [1, 2, 0.5] as const;

export interface CalibrationSample extends LatencySample {
  /** Hidden layer sizes of the timed towers. */
  readonly towers: TowerUnits;
  /** Active dims per table (layout group order; 0: dropped). */
  readonly activeDims: readonly number[];
}

export interface CalibrationResult {
  /** The backend the timings were taken on. */
  readonly backend: string;
  readonly coefficients: LatencyCoefficients;
  readonly r2: number;
  readonly samples: readonly CalibrationSample[];
}

/** A latency file as read back: samples keep at least their shape and latency. */
export interface LatencyFile {
  readonly version: typeof LATENCY_FILE_VERSION;
  readonly backend: string;
  readonly coefficients: LatencyCoefficients;
  readonly r2: number;
  readonly samples: readonly LatencySample[];
  /** ISO 8601 time of writing. */
  readonly created: string;
}

export interface CalibrationOptions {
  /** Timed variants (model shapes), at least 4; default 16. */
  readonly samples?: number;
  /** Timed passes per variant, taken in turns with the other variants; default 7. */
  readonly rounds?: number;
  /** Untimed passes per variant first; default 2. */
  readonly warmup?: number;
  /** Rows per timed batch; default 256. */
  readonly batchSize?: number;
  /** Batches per pass; default 4. */
  readonly batches?: number;
  /** Seed of the variants' subsets and dims; default train.seed. */
  readonly seed?: number;
  /** Name of the backend in use to record (from selectBackend); default the active engine's. */
  readonly backend?: string;
}

/** Times inference of `options.samples` model variants on `dataset` and fits the latency model. */
export async function calibrateLatency(
  config: RunConfig,
  dataset: PreparedDataset,
  options: CalibrationOptions = {},
): Promise<CalibrationResult> {
  const settings = { ...CALIBRATION_DEFAULTS, ...definedOnly(options) };
  if (!Number.isInteger(settings.samples) || settings.samples < 4)
    throw new LemoptError(
      `calibration needs at least 4 samples (one per coefficient), got ${settings.samples}`,
    );
  const timed = await timingBatches(dataset, settings.batchSize, settings.batches);
  const store = calibrationStore(config, dataset);
  const variants = planVariants(
    store.spec,
    configuredDims(config, dataset),
    { user: config.model.user_tower, item: config.model.item_tower },
    settings.samples,
    new Random(options.seed ?? config.train.seed, 'latency-calibration'),
  );
  const latencies = timeVariants(config, store, variants, timed, settings);
  const samples = variants.map((variant, i): CalibrationSample => {
    const blocks = variant.activeDims.map((dims) => dims / store.spec.blockSize);
    const shape = latencyShape(store.spec, blocks, variant.towers);
    return { shape, latencyUs: latencies[i], towers: variant.towers, activeDims: variant.activeDims };
  });
  const { coefficients, r2 } = fitLatency(samples);
  return { backend: options.backend ?? activeEngine().name, coefficients, r2, samples };
}

/**
 * Median time per example, in µs, of `store.forward` + `model.predict` on one batch,
 * over every batch of `batches` in each of `repeats` passes, after `warmup` untimed
 * passes. The model must take the store's current columns.
 */
export function measureInferenceLatency(
  store: EmbeddingStore,
  model: TwoTowerModel,
  batches: readonly Batch[],
  repeats: number = CALIBRATION_DEFAULTS.rounds,
  warmup: number = CALIBRATION_DEFAULTS.warmup,
): number {
  return median(timeInference(store, model, batches, repeats, warmup));
}

/**
 * µs per example of each batch in each timed pass (batches × repeats values). Batches
 * are timed one by one: on a busy machine a short timing is more often undisturbed,
 * and the median over many of them ignores the disturbed ones.
 */
function timeInference(
  store: EmbeddingStore,
  model: TwoTowerModel,
  batches: readonly Batch[],
  repeats: number,
  warmup: number,
): number[] {
  if (batches.length === 0) throw new RangeError('measureInferenceLatency needs at least one batch');
  if (!Number.isInteger(repeats) || repeats < 1)
    throw new RangeError(`repeats must be a positive integer, got ${repeats}`);
  for (let pass = 0; pass < warmup; pass++) for (const batch of batches) infer(store, model, batch);
  const perExample: number[] = [];
  for (let pass = 0; pass < repeats; pass++) {
    for (const batch of batches) {
      const started = performance.now();
      infer(store, model, batch);
      perExample.push(((performance.now() - started) * 1000) / batch.numRows);
    }
  }
  return perExample;
}

/** What serving does per batch: gather the embeddings, run the towers and the score. */
function infer(store: EmbeddingStore, model: TwoTowerModel, batch: Batch): void {
  const inputs = store.forward(batch);
  model.predict({ size: batch.numRows, user: inputs.user, item: inputs.item });
}

/** The options that are set, so undefined ones leave the defaults in place. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** The first `count` batches of the train split, in source order. */
async function timingBatches(dataset: PreparedDataset, batchSize: number, count: number): Promise<Batch[]> {
  const taken: Batch[] = [];
  const trainBatches = batches(dataset.encodedBatches(), {
    split: TRAIN,
    batchSize,
    shuffleBuffer: 0,
    seed: 0,
  });
  for await (const batch of trainBatches) {
    taken.push(batch);
    if (taken.length === count) break;
  }
  if (taken.length === 0) throw new LemoptError('latency calibration: the train split has no rows to time');
  return taken;
}

/** The run's tables; plain SGD, because only lookups are timed and it keeps no optimizer state. */
function calibrationStore(config: RunConfig, dataset: PreparedDataset): EmbeddingStore {
  const train = { ...config.train, embedding_optimizer: 'sgd' as const };
  // One thread, as a server looks rows up.
  return embeddingStoreFromConfig(
    { ...config, train },
    dataset.layout,
    vocabularySizes(dataset.vocabularies),
    {
      threads: 1,
    },
  );
}

/** Active dims of the configured model: groups[].dim, else model.embedding_dim. */
function configuredDims(config: RunConfig, dataset: PreparedDataset): number[] {
  return dataset.layout.groups.map((group) => group.dim ?? config.model.embedding_dim);
}

interface Variant {
  readonly towers: TowerUnits;
  readonly activeDims: readonly number[];
}

/** Variant 0 is the configured model; the others keep random tables and dims under scaled towers. */
function planVariants(
  spec: EmbeddingSpec,
  configured: readonly number[],
  towers: TowerUnits,
  count: number,
  random: Random,
): Variant[] {
  const variants: Variant[] = [{ towers, activeDims: configured }];
  const keptCounts = spreadKeptCounts(spec, count - 1, random);
  for (let i = 1; i < count; i++) {
    const scale = TOWER_SCALES[i % TOWER_SCALES.length];
    const scaled = { user: scaleUnits(towers.user, scale), item: scaleUnits(towers.item, scale) };
    variants.push({ towers: scaled, activeDims: randomDims(spec, keptCounts[i - 1], random) });
  }
  return variants;
}

/** Layer sizes times `scale`, at least 1 unit each (equal last sizes stay equal). */
function scaleUnits(units: readonly number[], scale: number): number[] {
  return units.map((size) => Math.max(1, Math.round(size * scale)));
}

/** How many tables each variant keeps: evenly from the fewest possible to all, in random order. */
function spreadKeptCounts(spec: EmbeddingSpec, count: number, random: Random): number[] {
  const fewest = towersWithTables(spec).length;
  const most = spec.tables.length;
  const counts = Array.from({ length: count }, (_, i) =>
    Math.round(fewest + ((most - fewest) * i) / Math.max(1, count - 1)),
  );
  return random.shuffle(counts);
}

function towersWithTables(spec: EmbeddingSpec): ('user' | 'item')[] {
  return (['user', 'item'] as const).filter((tower) => spec.tables.some((table) => table.tower === tower));
}

/**
 * Active dims keeping `kept` random tables, at least one per tower (a tower without
 * input is not a model one would serve), each at a random number of blocks up to a
 * random level per variant, so dims do not simply follow the number of lookups.
 */
function randomDims(spec: EmbeddingSpec, kept: number, random: Random): number[] {
  const order = Array.from(random.permutation(spec.tables.length));
  const first = towersWithTables(spec).map((tower) => order.find((t) => spec.tables[t].tower === tower)!);
  const chosen = [...first, ...order.filter((t) => !first.includes(t))].slice(0, kept);
  const level = 1 + random.integer(spec.dim / spec.blockSize);
  const dims = new Array<number>(spec.tables.length).fill(0);
  for (const t of chosen) dims[t] = (1 + random.integer(level)) * spec.blockSize;
  return dims;
}

/**
 * Median µs per example of each variant. The variants take turns, one pass each per
 * round (warm-up passes in the first), so a slow spell of the machine (another process,
 * a garbage collection) spreads over all of them instead of skewing the few timed in it.
 */
function timeVariants(
  config: RunConfig,
  store: EmbeddingStore,
  variants: readonly Variant[],
  timed: readonly Batch[],
  settings: { readonly rounds: number; readonly warmup: number },
): number[] {
  const models: TwoTowerModel[] = [];
  try {
    for (const variant of variants) models.push(variantModel(config, store, variant));
    const times = variants.map((): number[] => []);
    for (let round = 0; round < settings.rounds; round++) {
      variants.forEach((variant, i) => {
        store.setActiveDims(variant.activeDims);
        times[i].push(...timeInference(store, models[i], timed, 1, round === 0 ? settings.warmup : 0));
      });
    }
    return times.map(median);
  } finally {
    for (const model of models) model.dispose();
  }
}

/** The dense model of a variant, for the store's columns under the variant's active dims. */
function variantModel(config: RunConfig, store: EmbeddingStore, variant: Variant): TwoTowerModel {
  store.setActiveDims(variant.activeDims);
  return TwoTowerModel.fromConfig(
    { ...config.model, user_tower: [...variant.towers.user], item_tower: [...variant.towers.item] },
    config.train,
    {
      userColumnCandidate: store.columns('user').columnTable,
      itemColumnCandidate: store.columns('item').columnTable,
      numCandidates: store.spec.tables.length,
    },
  );
}

// ---- the command ----------------------------------------------------------------------

export interface CalibrationRunOptions {
  /** --backend; wins over LEMOPT_BACKEND and model.backend. */
  readonly backend?: string;
  /** Where to write; default <run folder>/latency.json. */
  readonly out?: string;
  readonly samples?: number;
  readonly log?: (line: string) => void;
}

export interface CalibrationRunResult extends CalibrationResult {
  readonly runDir: string;
  /** The latency file written. */
  readonly file: string;
  /** Wall time of the whole command: backend, data, timing and fit. */
  readonly seconds: number;
}

/** `lemopt calibrate`: prepare the data (vocabularies cached in the run folder), calibrate, write the file. */
export async function runCalibration(
  config: RunConfig,
  options: CalibrationRunOptions = {},
): Promise<CalibrationRunResult> {
  const started = performance.now();
  const runDir = await openRunFolder(config);
  const choice = await selectBackend({ flag: options.backend, config: config.model.backend });
  options.log?.(describeBackend(choice));
  const dataset = await prepareDataset(config, { cacheDir: runDir });
  const samples = options.samples ?? CALIBRATION_DEFAULTS.samples;
  options.log?.(`timing inference of ${samples} model variants`);
  const result = await calibrateLatency(config, dataset, {
    samples,
    backend: choice.backend,
  });
  const file = options.out ?? path.join(runDir, LATENCY_FILE);
  await writeLatencyFile(file, result);
  return { ...result, runDir, file, seconds: (performance.now() - started) / 1000 };
}

// ---- the latency file -----------------------------------------------------------------

/** Writes a calibration as a latency file (JSON), atomically. */
export async function writeLatencyFile(file: string, result: CalibrationResult): Promise<void> {
  const { backend, coefficients, r2, samples } = result;
  const contents = {
    version: LATENCY_FILE_VERSION,
    backend,
    coefficients,
    r2,
    samples,
    created: new Date().toISOString(),
  };
  await writeFileAtomic(file, `${JSON.stringify(contents, null, 2)}\n`);
}

/** Reads and checks a latency file; any problem is a LemoptError naming the file. */
export async function readLatencyFile(file: string): Promise<LatencyFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ENOENT';
    throw new LemoptError(`${file}: ${missing ? 'no such file' : `cannot read: ${errorMessage(error)}`}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LemoptError(`${file}: not valid JSON: ${errorMessage(error)}`);
  }
  return checkLatencyFile(value, (problem) => new LemoptError(`${file}: ${problem}`));
}

type Fail = (problem: string) => LemoptError;
type Json = Record<string, unknown>;

function checkLatencyFile(value: unknown, fail: Fail): LatencyFile {
  const root = object(value, '', fail);
  const version = field(root, 'version', '', fail);
  if (version !== LATENCY_FILE_VERSION)
    throw fail(
      `version ${JSON.stringify(version)} is not supported (this lemopt reads version ${LATENCY_FILE_VERSION})`,
    );
  const backend = field(root, 'backend', '', fail);
  if (typeof backend !== 'string' || backend === '')
    throw fail(`backend: must be a backend name, got ${show(backend)}`);
  const coefficients = checkCoefficients(field(root, 'coefficients', '', fail), fail);
  const r2 = field(root, 'r2', '', fail);
  if (typeof r2 !== 'number' || !Number.isFinite(r2) || r2 > 1)
    throw fail(`r2: must be a number up to 1, got ${show(r2)}`);
  const samples = checkSamples(field(root, 'samples', '', fail), fail);
  const created = field(root, 'created', '', fail);
  if (typeof created !== 'string') throw fail(`created: must be a date string, got ${show(created)}`);
  return { version: LATENCY_FILE_VERSION, backend, coefficients, r2, samples, created };
}

function checkCoefficients(value: unknown, fail: Fail): LatencyCoefficients {
  const json = object(value, 'coefficients', fail);
  const read = (key: string): number =>
    nonNegative(field(json, key, 'coefficients.', fail), `coefficients.${key}`, fail);
  return {
    constant_us: read('constant_us'),
    per_lookup_us: read('per_lookup_us'),
    per_dim_us: read('per_dim_us'),
    per_mflop_us: read('per_mflop_us'),
  };
}

/** Checks each sample's shape and latency; other fields (towers, dims) are kept as they are. */
function checkSamples(value: unknown, fail: Fail): LatencySample[] {
  if (!Array.isArray(value)) throw fail(`samples: must be a list, got ${show(value)}`);
  return value.map((entry: unknown, i) => {
    const where = `samples[${i}]`;
    const sample = object(entry, where, fail);
    const shape = object(field(sample, 'shape', `${where}.`, fail), `${where}.shape`, fail);
    for (const key of ['lookups', 'dims', 'mflops'])
      nonNegative(field(shape, key, `${where}.shape.`, fail), `${where}.shape.${key}`, fail);
    nonNegative(field(sample, 'latencyUs', `${where}.`, fail), `${where}.latencyUs`, fail);
    return sample as unknown as LatencySample;
  });
}

function object(value: unknown, where: string, fail: Fail): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw fail(`${where === '' ? '' : `${where}: `}must be a JSON object, got ${show(value)}`);
  return value as Json;
}

function field(json: Json, key: string, prefix: string, fail: Fail): unknown {
  if (!(key in json) || json[key] === undefined) throw fail(`${prefix}${key}: missing`);
  return json[key];
}

function nonNegative(value: unknown, where: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw fail(`${where}: must be a non-negative number, got ${show(value)}`);
  return value;
}

/** A value for a message: JSON, cut short. */
function show(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
