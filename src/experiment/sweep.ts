/**
 * `lemopt sweep`: every combination of the config's `sweep` grid (memory budgets, latency
 * budgets, methods, seeds) is one trial, a `lemopt run` in its own folder. The sweep folder
 * (the config's output.dir) holds what the trials share and what they add up to:
 *
 *   sweep.json               the definition: config file, grid, trials
 *   vocabulary.json          counted once
 *   latency.json             calibrated once (unless the config gives the latency model)
 *   full/seed-<s>/           the full model, trained once per seed (see below)
 *   trials/<id>/             one run folder per trial (log.txt, error.txt when it failed)
 *   results.csv, results.parquet, summary.json   see sweep-results.ts
 *
 * Budgets are checked before anything is trained (memory right after the vocabularies,
 * latency once the latency model is known): a grid holding a budget nothing fits is refused
 * whole, with every such budget named.
 *
 * Before a trial runs, its folder gets copies of vocabulary.json, latency.json and its
 * seed's full/, so `runSelection` finds them finished under the same keys and goes straight
 * to selection. A trial sets train.seed to its seed and the full model's key includes
 * train, so the full model is shared by the trials of one seed, never across seeds: a
 * trial gets exactly the full model it would have trained itself.
 *
 * Trials run in worker processes (each with its own heap limit), as many at a time as
 * `workers`. A trial is finished when its manifest.json (written last, atomically, by
 * `runSelection`) is there and made from the trial's config and data; anything else in its
 * folder is partial work that the next run resumes, never a result. So a killed sweep
 * started again skips finished trials and resumes the rest.
 */
import { fork } from 'node:child_process';
import { EMBEDDING_THREADS_ENV_VAR } from '../embedding/threads.js';
import { closeSync, openSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { runConfigSchema, type RunConfig, type SweepConfig } from '../config/schema.js';
import { formatBytes } from '../config/size.js';
import { VOCABULARY_FILE } from '../data/dataset.js';
import type { EvalMetrics } from '../model/metrics.js';
import { writeAtomically, writeFileAtomic } from '../util/atomic.js';
import { errorMessage, LemoptError } from '../util/errors.js';
import { withFolderLock } from '../util/folder-lock.js';
import { readJsonFile } from '../util/json-file.js';
import { LATENCY_FILE } from './calibrate.js';
import { MANIFEST_FILE, readManifest, type Manifest } from './manifest.js';
import { compareText, summarizeSweep } from './pareto.js';
import type { LatencyModel } from './run.js';
import { RESULTS_CSV, SWEEP_FILE, TRIALS_DIR, type SweepSummary, type TrialRow } from './sweep-results.js';
import { metricName, metricValue, trialRow, writeResults } from './sweep-rows.js';
import { configKey, METRICS_FILE } from './train.js';

export const SWEEP_FILE_VERSION = 1;
export const TRIAL_LOG_FILE = 'log.txt';
export const TRIAL_ERROR_FILE = 'error.txt';
const FULL_DIR = 'full';
/** Heap limit of a worker process, MB, unless told otherwise. */
export const DEFAULT_WORKER_MEMORY_MB = 2048;
/** The sections runSelection keys its selection (and so its manifest) by. */
const SELECTION_KEY_SECTIONS = ['data', 'features', 'groups', 'model', 'train', 'selection'] as const;

type Budget = number | string;

/** One point of the grid, with the config it runs. */
export interface SweepTrial {
  /** Folder name under trials/: `<method>-mem<memory>[-lat<latency>]-seed<seed>`. */
  readonly id: string;
  readonly method: RunConfig['selection']['method'];
  readonly seed: number;
  /** As written in the grid. */
  readonly memory: Budget;
  /** As written in the grid, else the config's selection.budgets.latency_us, else null. */
  readonly latency: Budget | null;
  /** The trial's resolved config: the sweep's, with this method, budgets, seeds and output.dir. */
  readonly config: RunConfig;
}

/** sweep.json: what the sweep is, for tools that read its folder. */
export interface SweepDefinition {
  readonly version: typeof SWEEP_FILE_VERSION;
  /** The config file the sweep was started from (absolute). */
  readonly config: string;
  /** The config's sweep section: memory, latency_us (when given), methods, seeds. */
  readonly grid: SweepConfig;
  /** Trial ids (folders under trials/), in grid order. */
  readonly trials: readonly string[];
}

export interface SweepOptions {
  /** The config file, recorded in sweep.json. */
  readonly configFile: string;
  /** Trials at a time, each in its own process; default: os.availableParallelism(). */
  readonly workers?: number;
  /** --backend for every worker. */
  readonly backend?: string;
  /** Heap limit of each worker process (--max-old-space-size), MB. */
  readonly workerMemoryMb?: number;
  /** One line per event: preparation, trial started, finished or failed, the total. */
  readonly log?: (line: string) => void;
}

export interface FailedTrial {
  readonly id: string;
  readonly message: string;
}

export interface SweepResult {
  readonly dir: string;
  readonly trials: readonly SweepTrial[];
  /** One per finished trial, by trial id (as in results.csv). */
  readonly rows: readonly TrialRow[];
  readonly summary: SweepSummary;
  readonly failed: readonly FailedTrial[];
  /** Trials run by this call (finished or failed), and those finished before it. */
  readonly ran: number;
  readonly skipped: number;
  readonly seconds: number;
}

// ---------------------------------------------------------------------------------------
// The grid

/** A budget as part of a folder name: no spaces, nothing a file system minds. */
function budgetLabel(value: Budget): string {
  return String(value)
    .replace(/\s+/g, '')
    .replace(/[^A-Za-z0-9%.+_-]/g, '_');
}

/** The sweep section, or an error saying how to write one. */
export function sweepOf(config: RunConfig, file: string): SweepConfig {
  if (config.sweep === undefined)
    throw new LemoptError(
      `${file}: no sweep section; add one, e.g. sweep: { memory: [10%, 25%], methods: [sequential_attention, random], seeds: [0, 1] }`,
    );
  return config.sweep;
}

/** Every combination of the grid, in grid order (methods, memory, latency, seeds). */
export function sweepTrials(config: RunConfig, file = 'config'): SweepTrial[] {
  const grid = sweepOf(config, file);
  const { sweep: _sweep, ...base } = config;
  const sweepDir = config.output.dir!;
  const latencies: (Budget | null)[] = grid.latency_us ?? [null];
  const trials: SweepTrial[] = [];
  const ids = new Map<string, string>();
  for (const method of grid.methods)
    for (const memory of grid.memory)
      for (const latency of latencies)
        for (const seed of grid.seeds) {
          const lat = latency === null ? '' : `-lat${budgetLabel(latency)}`;
          const id = `${method}-mem${budgetLabel(memory)}${lat}-seed${seed}`;
          const point = `memory ${memory}${latency === null ? '' : `, latency ${latency}`}`;
          if (ids.has(id))
            throw new LemoptError(`${file}: sweep: ${ids.get(id)} and ${point} both name trial '${id}'`);
          ids.set(id, point);
          const budgets = {
            ...base.selection.budgets,
            memory,
            ...(latency === null ? {} : { latency_us: latency }),
          };
          const trialConfig = runConfigSchema.parse({
            ...base,
            train: { ...base.train, seed },
            selection: { ...base.selection, method, seed, budgets },
            output: { ...base.output, dir: path.join(sweepDir, TRIALS_DIR, id) },
          });
          const applied = latency ?? base.selection.budgets.latency_us ?? null;
          trials.push({ id, method, seed, memory, latency: applied, config: trialConfig });
        }
  return trials;
}

export function sweepDefinition(
  config: RunConfig,
  file: string,
  trials: readonly SweepTrial[],
): SweepDefinition {
  return {
    version: SWEEP_FILE_VERSION,
    config: path.resolve(file),
    grid: sweepOf(config, file),
    trials: trials.map((trial) => trial.id),
  };
}

// ---------------------------------------------------------------------------------------
// Worker processes

/** What a worker process is asked to do (src/experiment/sweep-trial.ts). */
export type SweepJob =
  /**
   * Count the vocabularies into `dir`, check the trials' budgets, and make the latency model
   * (calibrated into `dir` if need be).
   */
  | {
      readonly kind: 'prepare';
      readonly config: RunConfig;
      readonly dir: string;
      readonly backend?: string;
      readonly trials: readonly TrialSelection[];
    }
  /** Train the full model into `dir` (vocabularies from `cacheDir`). */
  | {
      readonly kind: 'full';
      readonly config: RunConfig;
      readonly dir: string;
      readonly cacheDir: string;
      readonly backend?: string;
    }
  /** `lemopt run` of the trial's config. */
  | { readonly kind: 'trial'; readonly config: RunConfig; readonly backend?: string };

/** A trial's selection settings, what its budgets are checked with. */
export interface TrialSelection {
  readonly id: string;
  readonly selection: RunConfig['selection'];
}

/** A trial whose budgets not even one candidate fits. */
export interface UnaffordableTrial {
  readonly id: string;
  /** Picker.nothingFits: the budgets resolved and the cheapest candidate's cost. */
  readonly problem: string;
}

export type SweepJobReply =
  | {
      readonly type: 'done';
      readonly backend: string;
      /** prepare: undefined when the memory budgets already failed (nothing calibrated). */
      readonly latency?: LatencyModel;
      /** prepare: the trials nothing fits, checked before the latency model when memory alone fails. */
      readonly unaffordable?: readonly UnaffordableTrial[];
      readonly fingerprint?: string;
      readonly test?: EvalMetrics;
    }
  | {
      readonly type: 'error';
      readonly message: string;
      readonly userError: boolean;
      /** The stack of a bug (not an error in the input). */
      readonly stack?: string;
    };

type DoneReply = Extract<SweepJobReply, { type: 'done' }>;

/** A job that failed: its message, and whether it is an error in the input (not a bug). */
class JobError extends Error {
  constructor(
    message: string,
    readonly userError: boolean,
    /** The worker's stack trace of a bug. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

/**
 * Runs a job in a fresh Node process: the compiled entry beside this module, or under
 * vitest (TypeScript sources) the .ts entry with tsx registered. Its stdout and stderr
 * (the job's log) are appended to `logFile`.
 */
function runJob(
  job: SweepJob,
  logFile: string,
  memoryMb: number,
  embeddingThreads?: number,
): Promise<DoneReply> {
  const typescript = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(
    new URL(typescript ? './sweep-trial.ts' : './sweep-trial.js', import.meta.url),
  );
  const execArgv = [`--max-old-space-size=${memoryMb}`];
  if (typescript) execArgv.push('--import', import.meta.resolve('tsx'));
  const log = openSync(logFile, 'a');
  return new Promise<DoneReply>((resolve, reject) => {
    let reply: SweepJobReply | undefined;
    const env =
      embeddingThreads === undefined
        ? process.env
        : { ...process.env, [EMBEDDING_THREADS_ENV_VAR]: String(embeddingThreads) };
    const child = fork(script, [], { execArgv, env, stdio: ['ignore', log, log, 'ipc'] });
    closeSync(log);
    child.on('message', (message: SweepJobReply) => (reply = message));
    child.on('error', (error) =>
      reject(new JobError(`cannot start a worker process: ${error.message}`, false)),
    );
    child.on('exit', (code, signal) => {
      if (reply?.type === 'done' && code === 0) resolve(reply);
      else if (reply?.type === 'error') reject(new JobError(reply.message, reply.userError, reply.stack));
      else
        reject(
          new JobError(
            `the worker process stopped (${signal ? `signal ${signal}` : `exit code ${code}`}) without a result; see ${logFile}`,
            false,
          ),
        );
    });
    child.send(job);
  });
}

/** At most `count` holders at a time, served in the order they asked. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(count: number) {
    this.free = count;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Finished results and shared files

/** What makes a trial's manifest its result: its config's selection key and the data's fingerprint. */
interface Expected {
  readonly latency: LatencyModel;
  readonly fingerprint: string;
}

function selectionKey(trial: SweepTrial, latency: LatencyModel): string {
  return configKey(trial.config, SELECTION_KEY_SECTIONS, latency);
}

/** The trial's manifest when the trial is finished: made from its config, on this data. */
async function finishedManifest(trial: SweepTrial, expected: Expected): Promise<Manifest | undefined> {
  const manifest = await readManifest(path.join(trial.config.output.dir!, MANIFEST_FILE)).catch(
    () => undefined,
  );
  if (manifest?.config_hash !== selectionKey(trial, expected.latency)) return undefined;
  return manifest.data.fingerprint === expected.fingerprint ? manifest : undefined;
}

/** A copy that appears whole or not at all. */
function copyAtomic(from: string, to: string): Promise<void> {
  return writeAtomically(to, (temporary) => copyFile(from, temporary));
}

/** Whether `dir` holds a finished full model with this key on this backend (as trainStage checks). */
async function hasFullModel(dir: string, key: string, backend: string): Promise<boolean> {
  const done = await readJsonFile<{ key?: string; backend?: string }>(path.join(dir, METRICS_FILE));
  return done?.key === key && done.backend === backend;
}

/**
 * Gives a trial's folder the shared results it would otherwise make itself: the
 * vocabularies, a calibrated latency model, and its seed's full model (metrics.json, the
 * marker trainStage checks, copied last).
 */
async function seedTrialFolder(
  trial: SweepTrial,
  sweepDir: string,
  fullDir: string,
  latency: LatencyModel,
  backend: string,
): Promise<void> {
  const runDir = trial.config.output.dir!;
  await mkdir(path.join(runDir, FULL_DIR), { recursive: true });
  await copyAtomic(path.join(sweepDir, VOCABULARY_FILE), path.join(runDir, VOCABULARY_FILE));
  if (latency.source === 'calibrated')
    await copyAtomic(path.join(sweepDir, LATENCY_FILE), path.join(runDir, LATENCY_FILE));
  const key = configKey(trial.config);
  const target = path.join(runDir, FULL_DIR);
  if (await hasFullModel(target, key, backend)) return;
  if (!(await hasFullModel(fullDir, key, backend)))
    throw new Error(
      `the shared full model in ${fullDir} is not the one trial ${trial.id} needs (key ${key})`,
    );
  const files = (await readdir(fullDir, { withFileTypes: true })).filter(
    (entry) => entry.isFile() && !entry.name.startsWith('.tmp-') && entry.name !== METRICS_FILE,
  );
  for (const file of files) await copyAtomic(path.join(fullDir, file.name), path.join(target, file.name));
  await copyAtomic(path.join(fullDir, METRICS_FILE), path.join(target, METRICS_FILE));
}

// ---------------------------------------------------------------------------------------
// The sweep

function describeRow(row: TrialRow): string {
  return (
    `test ${row.metric} ${row.test_metric.toFixed(4)}, memory ${formatBytes(Math.round(row.memory_bytes))}, ` +
    `${row.kept_group_count} groups`
  );
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

/**
 * Runs the config's sweep: shared preparation, then every unfinished trial in worker
 * processes; writes sweep.json, results and summary. A failed trial is recorded in its
 * error.txt and named in `failed`; the others go on.
 */
export async function runSweep(config: RunConfig, options: SweepOptions): Promise<SweepResult> {
  return withFolderLock(config.output.dir!, 'sweep', () => sweepInFolder(config, options));
}

async function sweepInFolder(config: RunConfig, options: SweepOptions): Promise<SweepResult> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const workers = options.workers ?? os.availableParallelism();
  if (!Number.isInteger(workers) || workers < 1)
    throw new LemoptError(`workers must be at least 1, got ${workers}`);
  // Trial processes side by side already use the cores: each keeps its embedding engine in one thread.
  const embeddingThreads = workers > 1 ? 1 : undefined;
  const memoryMb = options.workerMemoryMb ?? DEFAULT_WORKER_MEMORY_MB;
  const trials = sweepTrials(config, options.configFile);
  const dir = config.output.dir!;
  await mkdir(path.join(dir, TRIALS_DIR), { recursive: true });
  await writeFileAtomic(
    path.join(dir, SWEEP_FILE),
    `${JSON.stringify(sweepDefinition(config, options.configFile, trials), null, 2)}\n`,
  );

  // Vocabularies and the latency model, once, alone (a calibration times this machine).
  const { sweep: _sweep, ...base } = config;
  const prepareStarted = performance.now();
  log(`sweep: ${trials.length} trials in ${dir}; preparing the vocabularies and the latency model`);
  const selections = trials.map((trial) => ({ id: trial.id, selection: trial.config.selection }));
  const prepared = await runJob(
    { kind: 'prepare', config: base, dir, backend: options.backend, trials: selections },
    path.join(dir, 'prepare.log'),
    memoryMb,
    embeddingThreads,
  ).catch((error: unknown) => {
    throw failure(error, `sweep preparation (see ${path.join(dir, 'prepare.log')})`);
  });
  assertAffordable(trials, prepared, options.configFile);
  const backend = prepared.backend;
  const expected: Expected = { latency: prepared.latency!, fingerprint: prepared.fingerprint! };
  log(`sweep: prepared in ${seconds(prepareStarted)} (backend ${backend})`);

  const finished = new Map<string, Manifest>();
  for (const trial of trials) {
    const manifest = await finishedManifest(trial, expected);
    if (manifest) finished.set(trial.id, manifest);
  }
  const pending = trials.filter((trial) => !finished.has(trial.id));
  log(
    `sweep: ${finished.size} of ${trials.length} trials finished before; running ${pending.length} ` +
      `with ${Math.min(workers, Math.max(1, pending.length))} worker(s)`,
  );

  const rows = new Map<string, TrialRow>();
  for (const trial of trials) {
    const manifest = finished.get(trial.id);
    if (manifest) rows.set(trial.id, await trialRow(trial, manifest));
  }
  const methods = config.sweep!.methods;
  const ordered = () => [...rows.values()].sort((a, b) => compareText(a.trial, b.trial));
  // The results so far, rewritten after every trial (one write at a time, in order).
  let writing = Promise.resolve();
  const refresh = (): Promise<void> =>
    (writing = writing
      .catch(() => undefined)
      .then(() => {
        const table = ordered();
        return writeResults(dir, table, summarizeSweep(table, methods, metricName(config)));
      }));

  const slots = new Slots(workers);
  const failed: FailedTrial[] = [];
  let done = 0;
  // The full model of each seed that has trials left, trained once (in a worker slot).
  const fullModels = new Map<number, Promise<string>>();
  for (const trial of pending) {
    if (fullModels.has(trial.seed)) continue;
    const fullDir = path.join(dir, FULL_DIR, `seed-${trial.seed}`);
    const fullConfig = { ...trial.config, output: { dir: fullDir } };
    fullModels.set(
      trial.seed,
      (async () => {
        if (await hasFullModel(fullDir, configKey(trial.config), backend)) return fullDir;
        return slots.run(async () => {
          const since = performance.now();
          log(`sweep: training the full model of seed ${trial.seed}`);
          await mkdir(fullDir, { recursive: true });
          const reply = await runJob(
            { kind: 'full', config: fullConfig, dir: fullDir, cacheDir: dir, backend },
            path.join(dir, FULL_DIR, `seed-${trial.seed}.log`),
            memoryMb,
            embeddingThreads,
          );
          const metric = reply.test ? metricValue(reply.test, config).toFixed(4) : '?';
          log(
            `sweep: full model of seed ${trial.seed} in ${seconds(since)}: test ${metricName(config)} ${metric}`,
          );
          return fullDir;
        });
      })(),
    );
  }
  // Unhandled until a trial awaits it: mark as handled, the trials report the failure.
  for (const promise of fullModels.values()) promise.catch(() => undefined);

  const runTrial = async (trial: SweepTrial): Promise<void> => {
    const runDir = trial.config.output.dir!;
    let since = performance.now();
    try {
      const fullDir = await fullModels.get(trial.seed)!.catch((error: unknown) => {
        throw failure(error, `the full model of seed ${trial.seed}`);
      });
      await slots.run(async () => {
        since = performance.now();
        await mkdir(runDir, { recursive: true });
        await rm(path.join(runDir, TRIAL_ERROR_FILE), { force: true });
        await rm(path.join(runDir, MANIFEST_FILE), { force: true });
        await seedTrialFolder(trial, dir, fullDir, expected.latency, backend);
        log(`sweep: started ${trial.id}`);
        await runJob(
          { kind: 'trial', config: trial.config, backend },
          path.join(runDir, TRIAL_LOG_FILE),
          memoryMb,
          embeddingThreads,
        );
      });
      const manifest = await finishedManifest(trial, expected);
      if (!manifest) {
        const file = path.join(runDir, MANIFEST_FILE);
        const why = await readManifest(file).then(
          () => 'it was made from another config or data',
          (error: unknown) => errorMessage(error),
        );
        throw new Error(`the trial ended without a valid manifest ${file}: ${why}`);
      }
      const row = await trialRow(trial, manifest);
      rows.set(trial.id, row);
      done += 1;
      log(
        `sweep: finished ${trial.id} in ${seconds(since)} (${done}/${pending.length}): ${describeRow(row)}`,
      );
    } catch (error) {
      const message = errorText(error);
      failed.push({ id: trial.id, message: message.split('\n')[0] });
      await writeFileAtomic(path.join(runDir, TRIAL_ERROR_FILE), `${message}\n`);
      done += 1;
      log(
        `sweep: FAILED ${trial.id} after ${seconds(since)} (${done}/${pending.length}): ${message.split('\n')[0]}` +
          ` (see ${path.join(runDir, TRIAL_ERROR_FILE)})`,
      );
      return;
    }
    await refresh().catch((error: unknown) => log(`sweep: cannot write the results: ${errorMessage(error)}`));
  };
  await Promise.all(pending.map(runTrial));
  await refresh();

  const table = ordered();
  const failedSorted = failed.sort((a, b) => compareText(a.id, b.id));
  const total = (performance.now() - started) / 1000;
  log(
    `sweep: ${pending.length} trial(s) run in ${total.toFixed(1)} s: ${pending.length - failed.length} finished, ` +
      `${failed.length} failed; ${finished.size} finished before; results in ${path.join(dir, RESULTS_CSV)}`,
  );
  return {
    dir,
    trials,
    rows: table,
    summary: summarizeSweep(table, methods, metricName(config)),
    failed: failedSorted,
    ran: pending.length,
    skipped: finished.size,
    seconds: total,
  };
}

/**
 * Refuses the whole sweep when the budgets of any trial fit nothing (a grid with an
 * impossible budget is a config mistake, better fixed before hours of trials than found
 * in their results), naming each such budget as written, its trials and the cheapest
 * candidate's cost.
 */
function assertAffordable(trials: readonly SweepTrial[], prepared: DoneReply, file: string): void {
  const unaffordable = prepared.unaffordable ?? [];
  if (unaffordable.length === 0) return;
  const byId = new Map(trials.map((trial) => [trial.id, trial]));
  // Per budget as written and its problem: the trials (methods and seeds) that share them.
  const budgets = new Map<string, string[]>();
  for (const { id, problem } of unaffordable) {
    const trial = byId.get(id)!;
    // Before the latency model is known only memory was checked.
    const latency = prepared.latency && trial.latency !== null ? `, latency_us ${trial.latency}` : '';
    const budget = `memory ${trial.memory}${latency}: ${problem}`;
    budgets.set(budget, [...(budgets.get(budget) ?? []), id]);
  }
  const listed = [...budgets].map(([budget, ids]) => `${budget} (trials ${ids.join(', ')})`);
  throw new LemoptError(
    `${file}: sweep: ${unaffordable.length} of ${trials.length} trials have budgets nothing fits, ` +
      `so none ran; remove them from the grid: ${listed.join('; ')}`,
  );
}

/** An error's message, with its stack when it is a bug rather than an error in the input. */
function errorText(error: unknown): string {
  if (error instanceof JobError) return error.detail ?? error.message;
  if (error instanceof LemoptError) return error.message;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** A job's failure as an error naming what failed; input errors stay LemoptErrors. */
function failure(error: unknown, what: string): Error {
  const message = `${what} failed: ${errorMessage(error)}`;
  if (error instanceof LemoptError || (error instanceof JobError && error.userError))
    return new LemoptError(message);
  return new JobError(message, false);
}
