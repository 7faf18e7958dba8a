/**
 * What a sweep folder holds between its trials, and what every way of running a sweep
 * (here, on a queue, as shards) reads and writes there:
 *
 *   prepared.json      the shared preparation's outcome: the latency model, the data's
 *                      fingerprint and the backend (what makes a trial's manifest its result)
 *   full/seed-<s>/     the full model of a seed, copied into each trial's folder
 *   trials/<id>/       a trial's run folder: manifest.json when finished, error.txt when failed
 *
 * A trial is finished when its manifest.json is there and was made from the trial's
 * config on this data; anything else in its folder is partial work that resumes.
 */
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { VOCABULARY_FILE } from '../data/dataset.js';
import { writeAtomically, writeFileAtomic } from '../util/atomic.js';
import { errorMessage } from '../util/errors.js';
import { LOCK_FILE } from '../util/folder-lock.js';
import { readJsonFile } from '../util/json-file.js';
import { LATENCY_FILE } from './calibrate.js';
import { MANIFEST_FILE, readManifest, type Manifest } from './manifest.js';
import type { LatencyModel } from './run.js';
import type { SweepTrial } from './sweep.js';
import { configKey, METRICS_FILE } from './train.js';

export const PREPARED_FILE = 'prepared.json';
export const TRIAL_LOG_FILE = 'log.txt';
export const TRIAL_ERROR_FILE = 'error.txt';
export const FULL_DIR = 'full';
/** The sections runSelection keys its selection (and so its manifest) by. */
const SELECTION_KEY_SECTIONS = ['data', 'features', 'groups', 'model', 'train', 'selection'] as const;

/** prepared.json: what makes a trial's manifest its result, and the backend trials run on. */
export interface Prepared {
  readonly latency: LatencyModel;
  readonly fingerprint: string;
  readonly backend: string;
}

export function writePrepared(dir: string, prepared: Prepared): Promise<void> {
  return writeFileAtomic(path.join(dir, PREPARED_FILE), `${JSON.stringify(prepared, null, 2)}\n`);
}

/** The sweep's prepared.json, or undefined before any preparation finished. */
export function readPrepared(dir: string): Promise<Prepared | undefined> {
  return readJsonFile<Prepared>(path.join(dir, PREPARED_FILE));
}

/** The folder of a seed's shared full model. */
export function fullModelDir(sweepDir: string, seed: number): string {
  return path.join(sweepDir, FULL_DIR, `seed-${seed}`);
}

function selectionKey(trial: SweepTrial, latency: LatencyModel): string {
  return configKey(trial.config, SELECTION_KEY_SECTIONS, latency);
}

/** The trial's manifest when the trial is finished: made from its config, on this data. */
export async function finishedManifest(trial: SweepTrial, prepared: Prepared): Promise<Manifest | undefined> {
  const manifest = await readManifest(path.join(trial.config.output.dir!, MANIFEST_FILE)).catch(
    () => undefined,
  );
  if (manifest?.config_hash !== selectionKey(trial, prepared.latency)) return undefined;
  return manifest.data.fingerprint === prepared.fingerprint ? manifest : undefined;
}

/** The finished manifest of a trial that just ended, or an error saying why there is none. */
export async function resultManifest(trial: SweepTrial, prepared: Prepared): Promise<Manifest> {
  const manifest = await finishedManifest(trial, prepared);
  if (manifest) return manifest;
  const file = path.join(trial.config.output.dir!, MANIFEST_FILE);
  const why = await readManifest(file).then(
    () => 'it was made from another config or data',
    (error: unknown) => errorMessage(error),
  );
  throw new Error(`the trial ended without a valid manifest ${file}: ${why}`);
}

/** A copy that appears whole or not at all. */
function copyAtomic(from: string, to: string): Promise<void> {
  return writeAtomically(to, (temporary) => copyFile(from, temporary));
}

/** Whether `dir` holds a finished full model with this key on this backend (as trainStage checks). */
export async function hasFullModel(dir: string, key: string, backend: string): Promise<boolean> {
  const done = await readJsonFile<{ key?: string; backend?: string }>(path.join(dir, METRICS_FILE));
  return done?.key === key && done.backend === backend;
}

/**
 * Makes a trial's folder ready to run: no error.txt or manifest.json of an earlier attempt,
 * and the shared results it would otherwise make itself: the vocabularies, a calibrated
 * latency model, and its seed's full model (metrics.json, the marker trainStage checks,
 * copied last).
 */
export async function seedTrialFolder(
  trial: SweepTrial,
  sweepDir: string,
  prepared: Prepared,
): Promise<void> {
  const runDir = trial.config.output.dir!;
  const fullDir = fullModelDir(sweepDir, trial.seed);
  await mkdir(path.join(runDir, FULL_DIR), { recursive: true });
  await rm(path.join(runDir, TRIAL_ERROR_FILE), { force: true });
  await rm(path.join(runDir, MANIFEST_FILE), { force: true });
  await copyAtomic(path.join(sweepDir, VOCABULARY_FILE), path.join(runDir, VOCABULARY_FILE));
  if (prepared.latency.source === 'calibrated')
    await copyAtomic(path.join(sweepDir, LATENCY_FILE), path.join(runDir, LATENCY_FILE));
  const key = configKey(trial.config);
  const target = path.join(runDir, FULL_DIR);
  if (await hasFullModel(target, key, prepared.backend)) return;
  if (!(await hasFullModel(fullDir, key, prepared.backend)))
    throw new Error(
      `the shared full model in ${fullDir} is not the one trial ${trial.id} needs (key ${key})`,
    );
  const files = (await readdir(fullDir, { withFileTypes: true })).filter(
    (entry) =>
      entry.isFile() &&
      !entry.name.startsWith('.tmp-') &&
      entry.name !== METRICS_FILE &&
      entry.name !== LOCK_FILE,
  );
  for (const file of files) await copyAtomic(path.join(fullDir, file.name), path.join(target, file.name));
  await copyAtomic(path.join(fullDir, METRICS_FILE), path.join(target, METRICS_FILE));
}
