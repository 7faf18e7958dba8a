/**
 * What the issue-14 sections of EVALUATION.md share (eval-value-stop.ts, eval-small-data.ts):
 * the converted datasets, one local sweep, and the per-trial times of a sweep's rows.
 */
import { access, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { CONVERTERS, type DatasetName } from '../src/data/convert/movielens.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { runSweep } from '../src/experiment/sweep.js';
import type { TrialRow } from '../src/experiment/sweep-results.js';
import { spliceMarkedSection } from './marked-section.js';
import { fullTrainingSeconds, selectionSeconds } from './trial-times.js';

export interface EvalSettings {
  /** LEMOPT_DATASETS: the shared datasets' folder. */
  readonly datasets: string;
  /** Where the sweeps go (runs/eval). */
  readonly evalDir: string;
  readonly workers: number;
  readonly seeds: readonly number[];
}

/** What `npm run eval` reads from the environment: LEMOPT_DATASETS, LEMOPT_EVAL_DIR, LEMOPT_EVAL_WORKERS, LEMOPT_EVAL_SEEDS. */
export function evalSettingsFromEnv(): EvalSettings {
  return {
    datasets: process.env.LEMOPT_DATASETS ?? path.resolve('..', 'shared', 'datasets'),
    evalDir: path.resolve(process.env.LEMOPT_EVAL_DIR ?? path.join('runs', 'eval')),
    workers: Number(process.env.LEMOPT_EVAL_WORKERS ?? os.availableParallelism()),
    seeds: Array.from({ length: Number(process.env.LEMOPT_EVAL_SEEDS ?? 3) }, (_, i) => i),
  };
}

/**
 * A section generator run on its own (when `moduleUrl` is the script node started):
 * replaces only its marked section of EVALUATION.md, or appends it.
 */
export function runSectionAlone(
  moduleUrl: string,
  section: string,
  body: (settings: EvalSettings) => Promise<string>,
): void {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  const write = async (): Promise<void> => {
    const text = await body(evalSettingsFromEnv());
    const document = await readFile('EVALUATION.md', 'utf8').catch(() => '');
    await writeFile('EVALUATION.md', spliceMarkedSection(document, section, text));
    console.log(`${path.basename(process.argv[1])}: wrote its section (${section}) of EVALUATION.md`);
  };
  write().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

export const mean = (values: readonly number[]) =>
  values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** A config whose data exists: MovieLens converted from the shared folder, the quickstart's generated. */
export async function configWithData(
  configFile: string,
  settings: EvalSettings,
  dataset: DatasetName | 'quickstart',
): Promise<{ config: RunConfig; file: string }> {
  const loaded = await loadConfig(configFile);
  const folder = path.dirname(loaded.config.data.source);
  if (!(await exists(loaded.config.data.source))) {
    console.log(`eval: preparing ${dataset} in ${folder}`);
    if (dataset === 'quickstart') await generateSynthetic({ outDir: folder });
    else await CONVERTERS[dataset](path.join(settings.datasets, dataset), folder);
  }
  return loaded;
}

/** One local sweep into `dir` (finished trials are kept and skipped when run again). */
export async function sweep(
  config: RunConfig,
  file: string,
  grid: NonNullable<RunConfig['sweep']>,
  dir: string,
  settings: EvalSettings,
): Promise<{ rows: readonly TrialRow[]; dir: string }> {
  const name = path.basename(dir);
  const result = await runSweep(
    { ...config, sweep: grid, output: { dir } },
    { configFile: file, workers: settings.workers, log: (line) => console.log(`${name}: ${line}`) },
  );
  return { rows: result.rows, dir: result.dir };
}

/** Selection seconds of each row (by trial id) and the full training's seconds of each seed. */
export async function trialTimes(
  rows: readonly TrialRow[],
  dir: string,
): Promise<{ selection: Map<string, number>; full: Map<number, number> }> {
  const selection = new Map<string, number>();
  const full = new Map<number, number>();
  for (const row of rows) {
    const trialDir = path.join(dir, 'trials', row.trial);
    const seconds = await selectionSeconds(trialDir);
    if (seconds !== undefined) selection.set(row.trial, seconds);
    const fullSeconds = full.has(row.seed) ? undefined : await fullTrainingSeconds(trialDir);
    if (fullSeconds !== undefined) full.set(row.seed, fullSeconds);
  }
  return { selection, full };
}
