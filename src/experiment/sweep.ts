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
 * `workers`, or where another TrialRunner sends them (src/experiment/distributed/: a
 * Redis queue, or the share of one shard of a cluster array job). A trial is finished when its manifest.json (written last, atomically, by
 * `runSelection`) is there and made from the trial's config and data; anything else in its
 * folder is partial work that the next run resumes, never a result. So a killed sweep
 * started again skips finished trials and resumes the rest.
 */
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runConfigSchema, type RunConfig, type SweepConfig } from '../config/schema.js';
import { formatBytes } from '../config/size.js';
import { writeFileAtomic } from '../util/atomic.js';
import { LemoptError } from '../util/errors.js';
import { withFolderLock, withFolderLockWhenFree } from '../util/folder-lock.js';
import type { Manifest } from './manifest.js';
import { compareText, summarizeSweep } from './pareto.js';
import {
  finishedManifest,
  fullModelDir,
  hasFullModel,
  resultManifest,
  seedTrialFolder,
  TRIAL_ERROR_FILE,
  TRIAL_LOG_FILE,
  writePrepared,
  type Prepared,
} from './sweep-folder.js';
import { errorText, failure, runJob, Slots, type DoneReply } from './sweep-jobs.js';
import { RESULTS_CSV, SWEEP_FILE, TRIALS_DIR, type SweepSummary, type TrialRow } from './sweep-results.js';
import { metricName, metricValue, trialRow, writeResults } from './sweep-rows.js';
import { configKey } from './train.js';

export { TRIAL_ERROR_FILE, TRIAL_LOG_FILE } from './sweep-folder.js';
export const SWEEP_FILE_VERSION = 1;
/** Heap limit of a worker process, MB, unless told otherwise. */
export const DEFAULT_WORKER_MEMORY_MB = 2048;

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
  /** Who runs the trials; default: worker processes on this machine (localRunner). */
  readonly runner?: RunnerFactory;
  /**
   * The trials this process is to run (a shard's share of the grid), when not all: then
   * the sweep folder is shared with other processes (its lock is held only while preparing)
   * and results files are left to `lemopt sweep --collect`.
   */
  readonly share?: (trials: readonly SweepTrial[]) => readonly SweepTrial[];
}

/** Runs trials whose folders are ready (sweep-folder.ts, seedTrialFolder). */
export interface TrialRunner {
  /** Where trials run, for the log: `with 2 worker process(es)`. */
  readonly where: string;
  /**
   * Runs the trial until its manifest is written, or throws; calls `started` when it starts
   * running, with where when known (a queue worker's name).
   */
  run(trial: SweepTrial, started: (where?: string) => void): Promise<void>;
  /** Called once, when the sweep is over. */
  close?(): Promise<void>;
}

/** What a runner is made with: the sweep's folder and preparation and its worker settings. */
export interface RunnerContext {
  readonly dir: string;
  readonly configFile: string;
  /** Every trial of the grid, and those this process is to run now. */
  readonly trials: readonly SweepTrial[];
  readonly pending: readonly SweepTrial[];
  readonly prepared: Prepared;
  /** Heap limit of each worker process, MB. */
  readonly memoryMb: number;
  /** Embedding threads of each worker process; undefined: its default. */
  readonly embeddingThreads: number | undefined;
  /** Worker processes on this machine, shared with the full models' training. */
  readonly slots: Slots;
  readonly workers: number;
  readonly log: (line: string) => void;
}

export type RunnerFactory = (context: RunnerContext) => Promise<TrialRunner>;

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

/** Trials run one by one in worker processes on this machine, `workers` at a time. */
export function localRunner(context: RunnerContext): Promise<TrialRunner> {
  const { prepared, memoryMb, embeddingThreads, slots } = context;
  return Promise.resolve({
    where: `with ${context.workers} worker process(es)`,
    run: (trial, started) =>
      slots.run(async () => {
        started();
        await runJob(
          { kind: 'trial', config: trial.config, backend: prepared.backend },
          path.join(trial.config.output.dir!, TRIAL_LOG_FILE),
          memoryMb,
          embeddingThreads,
        );
      }),
  });
}

/**
 * Runs the config's sweep: shared preparation, then every unfinished trial (of the share,
 * when given) by the runner; writes sweep.json, and results and summary unless a share. A
 * failed trial is recorded in its error.txt and named in `failed`; the others go on.
 */
export async function runSweep(config: RunConfig, options: SweepOptions): Promise<SweepResult> {
  const dir = config.output.dir!;
  if (options.share) return sweepInFolder(config, options, false);
  return withFolderLock(dir, 'sweep', () => sweepInFolder(config, options, true));
}

/** Vocabularies and the latency model, once, alone (a calibration times this machine). */
async function prepareSweep(
  config: RunConfig,
  trials: readonly SweepTrial[],
  options: SweepOptions,
  settings: { memoryMb: number; embeddingThreads: number | undefined },
): Promise<Prepared> {
  const dir = config.output.dir!;
  const { sweep: _sweep, ...base } = config;
  const selections = trials.map((trial) => ({ id: trial.id, selection: trial.config.selection }));
  const reply = await runJob(
    { kind: 'prepare', config: base, dir, backend: options.backend, trials: selections },
    path.join(dir, 'prepare.log'),
    settings.memoryMb,
    settings.embeddingThreads,
  ).catch((error: unknown) => {
    throw failure(error, `sweep preparation (see ${path.join(dir, 'prepare.log')})`);
  });
  assertAffordable(trials, reply, options.configFile);
  const prepared: Prepared = {
    latency: reply.latency!,
    fingerprint: reply.fingerprint!,
    backend: reply.backend,
  };
  await writePrepared(dir, prepared);
  return prepared;
}

async function sweepInFolder(
  config: RunConfig,
  options: SweepOptions,
  exclusive: boolean,
): Promise<SweepResult> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const workers = options.workers ?? os.availableParallelism();
  if (!Number.isInteger(workers) || workers < 1)
    throw new LemoptError(`workers must be at least 1, got ${workers}`);
  // Trial processes side by side already use the cores: each keeps its embedding engine in one thread.
  const embeddingThreads = workers > 1 ? 1 : undefined;
  const memoryMb = options.workerMemoryMb ?? DEFAULT_WORKER_MEMORY_MB;
  const settings = { memoryMb, embeddingThreads };
  const trials = sweepTrials(config, options.configFile);
  const dir = config.output.dir!;
  await mkdir(path.join(dir, TRIALS_DIR), { recursive: true });
  await writeFileAtomic(
    path.join(dir, SWEEP_FILE),
    `${JSON.stringify(sweepDefinition(config, options.configFile, trials), null, 2)}\n`,
  );

  const prepareStarted = performance.now();
  log(`sweep: ${trials.length} trials in ${dir}; preparing the vocabularies and the latency model`);
  // Shards share the folder: one prepares at a time, the others then find it prepared.
  const prepared = exclusive
    ? await prepareSweep(config, trials, options, settings)
    : await withFolderLockWhenFree(
        dir,
        'sweep (preparing)',
        () => prepareSweep(config, trials, options, settings),
        {
          onWait: (holder) => log(`sweep: waiting: ${holder}`),
        },
      );
  const { backend } = prepared;
  log(`sweep: prepared in ${seconds(prepareStarted)} (backend ${backend})`);

  const finished = new Map<string, Manifest>();
  for (const trial of trials) {
    const manifest = await finishedManifest(trial, prepared);
    if (manifest) finished.set(trial.id, manifest);
  }
  const mine = options.share ? options.share(trials) : trials;
  const pending = mine.filter((trial) => !finished.has(trial.id));
  const before = mine.length - pending.length;
  const slots = new Slots(workers);
  const runner = await (options.runner ?? localRunner)({
    dir,
    configFile: options.configFile,
    trials,
    pending,
    prepared,
    memoryMb,
    embeddingThreads,
    slots,
    workers,
    log,
  });
  log(`sweep: ${before} of ${mine.length} trials finished before; running ${pending.length} ${runner.where}`);

  const rows = new Map<string, TrialRow>();
  for (const trial of mine) {
    const manifest = finished.get(trial.id);
    if (manifest) rows.set(trial.id, await trialRow(trial, manifest));
  }
  const methods = config.sweep!.methods;
  const ordered = () => [...rows.values()].sort((a, b) => compareText(a.trial, b.trial));
  // The results so far, rewritten after every trial (one write at a time, in order); a
  // shard leaves them to --collect.
  let writing = Promise.resolve();
  const refresh = (): Promise<void> =>
    (writing = writing
      .catch(() => undefined)
      .then(() => {
        if (options.share) return;
        const table = ordered();
        return writeResults(dir, table, summarizeSweep(table, methods, metricName(config)));
      }));

  const failed: FailedTrial[] = [];
  let done = 0;
  // The full model of each seed that has trials left, trained once (in a worker slot).
  const fullModels = new Map<number, Promise<void>>();
  for (const trial of pending) {
    if (fullModels.has(trial.seed)) continue;
    fullModels.set(trial.seed, trainFullModel(trial, config, { dir, backend, slots, settings, log }));
  }
  // Unhandled until a trial awaits it: mark as handled, the trials report the failure.
  for (const promise of fullModels.values()) promise.catch(() => undefined);

  const runTrial = async (trial: SweepTrial): Promise<void> => {
    const runDir = trial.config.output.dir!;
    let since = performance.now();
    try {
      await fullModels.get(trial.seed)!.catch((error: unknown) => {
        throw failure(error, `the full model of seed ${trial.seed}`);
      });
      await seedTrialFolder(trial, dir, prepared);
      await runner.run(trial, (where) => {
        since = performance.now();
        log(`sweep: started ${trial.id}${where ? ` on ${where}` : ''}`);
      });
      const row = await trialRow(trial, await resultManifest(trial, prepared));
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
    await refresh().catch((error: unknown) => log(`sweep: cannot write the results: ${errorText(error)}`));
  };
  try {
    await Promise.all(pending.map(runTrial));
  } finally {
    await runner.close?.();
  }
  await refresh();

  const table = ordered();
  const failedSorted = failed.sort((a, b) => compareText(a.id, b.id));
  const total = (performance.now() - started) / 1000;
  const where = options.share
    ? 'run `lemopt sweep CONFIG --collect` for the results'
    : `results in ${path.join(dir, RESULTS_CSV)}`;
  log(
    `sweep: ${pending.length} trial(s) run in ${total.toFixed(1)} s: ${pending.length - failed.length} finished, ` +
      `${failed.length} failed; ${before} finished before; ${where}`,
  );
  return {
    dir,
    trials: mine,
    rows: table,
    summary: summarizeSweep(table, methods, metricName(config)),
    failed: failedSorted,
    ran: pending.length,
    skipped: before,
    seconds: total,
  };
}

/**
 * Trains the full model of `trial`'s seed into full/seed-<s>/ unless it is there, holding
 * that folder's lock (shards of one sweep wait for each other's) and a worker slot.
 */
async function trainFullModel(
  trial: SweepTrial,
  config: RunConfig,
  context: {
    dir: string;
    backend: string;
    slots: Slots;
    settings: { memoryMb: number; embeddingThreads: number | undefined };
    log: (line: string) => void;
  },
): Promise<void> {
  const { dir, backend, slots, settings, log } = context;
  const fullDir = fullModelDir(dir, trial.seed);
  const key = configKey(trial.config);
  if (await hasFullModel(fullDir, key, backend)) return;
  await slots.run(() =>
    withFolderLockWhenFree(
      fullDir,
      'sweep (full model)',
      async () => {
        if (await hasFullModel(fullDir, key, backend)) return;
        const since = performance.now();
        log(`sweep: training the full model of seed ${trial.seed}`);
        const reply = await runJob(
          {
            kind: 'full',
            config: { ...trial.config, output: { dir: fullDir } },
            dir: fullDir,
            cacheDir: dir,
            backend,
          },
          `${fullDir}.log`,
          settings.memoryMb,
          settings.embeddingThreads,
        );
        const metric = reply.test ? metricValue(reply.test, config).toFixed(4) : '?';
        log(
          `sweep: full model of seed ${trial.seed} in ${seconds(since)}: test ${metricName(config)} ${metric}`,
        );
      },
      { onWait: (holder) => log(`sweep: waiting for the full model of seed ${trial.seed}: ${holder}`) },
    ),
  );
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
