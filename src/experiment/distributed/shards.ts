/**
 * Sweeps as array jobs of existing schedulers, for clusters without Redis: `lemopt sweep
 * CONFIG --shard I/N` runs shard I's trials (every N-th trial of the grid from the I-th,
 * so each shard gets a mix of methods, budgets and seeds), `--shard auto` takes I from
 * the scheduler's variable, and `--collect` merges what the shards finished into the
 * results and the summary.
 *
 * Shards share the sweep folder: one prepares (vocabularies, latency model) while the
 * others wait for the folder's lock and then find it prepared; the full model of a seed is
 * trained by the first shard that needs it, under that folder's lock. A shard writes no
 * results file: --collect reads the trials' manifests (each written atomically when a
 * trial finishes) and writes results.csv, results.parquet and summary.json atomically,
 * so it can run at any time, as often as wanted, and gives the same files for the same
 * finished trials.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RunConfig } from '../../config/schema.js';
import { LemoptError } from '../../util/errors.js';
import { compareText, summarizeSweep } from '../pareto.js';
import { finishedManifest, readPrepared, TRIAL_ERROR_FILE } from '../sweep-folder.js';
import type { SweepSummary, TrialRow } from '../sweep-results.js';
import { metricName, trialRow, writeResults } from '../sweep-rows.js';
import { sweepTrials, type SweepTrial } from '../sweep.js';

/** Shard `index` of `count`, from 0. */
export interface Shard {
  readonly index: number;
  readonly count: number;
  /** Where the index came from: `--shard` or the scheduler's variable. */
  readonly source: string;
}

/** The schedulers' array index variables, in the order they are looked for. */
export const SHARD_INDEX_VARIABLES = [
  'JOB_COMPLETION_INDEX', // Kubernetes Indexed Job, from 0
  'SLURM_ARRAY_TASK_ID', // Slurm job array, from SLURM_ARRAY_TASK_MIN
  'AWS_BATCH_JOB_ARRAY_INDEX', // AWS Batch array job, from 0
] as const;

function whole(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new LemoptError(`${what} must be a whole number, got '${text}'`);
  return Number(text.trim());
}

/**
 * `I/N`, `auto/N` or `auto`: shard I of N (I from 0). `auto` reads I from the first of
 * SHARD_INDEX_VARIABLES that is set; bare `auto` needs a scheduler that tells N too
 * (SLURM_ARRAY_TASK_COUNT).
 */
export function parseShard(text: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const [first, second, ...rest] = text.split('/');
  if (rest.length > 0 || first === '')
    throw new LemoptError(`--shard: write I/N (shard I of N, I from 0), auto/N or auto, got '${text}'`);
  let count: number;
  if (second !== undefined) count = whole(second, `--shard ${text}: N`);
  else if (first === 'auto' && env.SLURM_ARRAY_TASK_COUNT !== undefined)
    count = whole(env.SLURM_ARRAY_TASK_COUNT, 'SLURM_ARRAY_TASK_COUNT');
  else
    throw new LemoptError(
      `--shard ${text}: the number of shards is unknown; write --shard ${first === 'auto' ? 'auto' : first}/N`,
    );
  if (count < 1) throw new LemoptError(`--shard ${text}: N must be at least 1`);
  const { index, source } =
    first === 'auto'
      ? indexFromScheduler(env)
      : { index: whole(first, `--shard ${text}: I`), source: '--shard' };
  if (index >= count)
    throw new LemoptError(
      `--shard ${text}: shard index ${index} (from ${source}) is not below the ${count} shards`,
    );
  return { index, count, source };
}

function indexFromScheduler(env: NodeJS.ProcessEnv): { index: number; source: string } {
  const name = SHARD_INDEX_VARIABLES.find((variable) => env[variable] !== undefined && env[variable] !== '');
  if (name === undefined)
    throw new LemoptError(
      `--shard auto: none of ${SHARD_INDEX_VARIABLES.join(', ')} is set; run it as an array job, or write --shard I/N`,
    );
  const value = whole(env[name]!, name);
  if (name !== 'SLURM_ARRAY_TASK_ID' || env.SLURM_ARRAY_TASK_MIN === undefined)
    return { index: value, source: name };
  const min = whole(env.SLURM_ARRAY_TASK_MIN, 'SLURM_ARRAY_TASK_MIN');
  return { index: value - min, source: `${name} - SLURM_ARRAY_TASK_MIN` };
}

/** The trials of a shard: every count-th of the grid, from the index-th. */
export function shardTrials(trials: readonly SweepTrial[], shard: Shard): SweepTrial[] {
  return trials.filter((_, i) => i % shard.count === shard.index);
}

export interface Collected {
  readonly dir: string;
  readonly trials: readonly SweepTrial[];
  readonly rows: readonly TrialRow[];
  readonly summary: SweepSummary;
  /** Trials with an error.txt and no result. */
  readonly failed: readonly string[];
  /** Trials neither finished nor failed: running, or not started yet. */
  readonly unfinished: readonly string[];
}

/**
 * Writes results.csv, results.parquet and summary.json of the trials finished so far; an
 * error when no shard has prepared the sweep yet.
 */
export async function collectSweep(config: RunConfig, configFile: string): Promise<Collected> {
  const dir = config.output.dir!;
  const trials = sweepTrials(config, configFile);
  const prepared = await readPrepared(dir);
  if (prepared === undefined)
    throw new LemoptError(
      `${dir}: nothing to collect yet: no shard has prepared the sweep (no prepared.json); start the shards first`,
    );
  const rows: TrialRow[] = [];
  const failed: string[] = [];
  const unfinished: string[] = [];
  for (const trial of trials) {
    const manifest = await finishedManifest(trial, prepared);
    if (manifest) rows.push(await trialRow(trial, manifest));
    else if (existsSync(path.join(trial.config.output.dir!, TRIAL_ERROR_FILE))) failed.push(trial.id);
    else unfinished.push(trial.id);
  }
  rows.sort((a, b) => compareText(a.trial, b.trial));
  const summary = summarizeSweep(rows, config.sweep!.methods, metricName(config));
  await writeResults(dir, rows, summary);
  return { dir, trials, rows, summary, failed, unfinished };
}
