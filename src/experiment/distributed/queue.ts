/**
 * The Redis queue of distributed sweeps, on BullMQ: one queue (`lemopt-trials`) that any
 * number of sweeps put trials on and any number of `lemopt worker` processes take them
 * from. What both sides agree on lives here: the connection from a redis:// URL, a trial's
 * job (its id and data), the sweep folder's queue.json (the token a worker checks to know
 * it sees the sweep's folder) and the sweep's record in Redis that `--status` reads.
 */
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { RunConfig } from '../../config/schema.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { LemoptError } from '../../util/errors.js';
import { readJsonFile } from '../../util/json-file.js';

import { displayUrl } from './queue-address.js';

export { DEFAULT_ATTEMPTS, DEFAULT_LEASE_SECONDS, displayUrl, parseQueueUrl } from './queue-address.js';

export const QUEUE_NAME = 'lemopt-trials';
/** In the sweep folder: the token every job of the sweep carries. */
export const QUEUE_FILE = 'queue.json';
/** Seconds between a failed attempt and its retry. */
export const RETRY_DELAY_MS = 2000;

/** A job's data: everything a worker on another machine needs to run the trial. */
export interface TrialJobData {
  /** The sweep folder (absolute, the same path on every machine). */
  readonly sweepDir: string;
  /** queue.json's token: a worker that reads another one (or none) is not seeing the folder. */
  readonly token: string;
  readonly trial: string;
  /** The trial's resolved config (absolute paths). */
  readonly config: RunConfig;
  readonly backend: string;
  /** Heap limit of the trial's process, MB. */
  readonly memoryMb: number;
}

/** What a worker returns for a finished trial. */
export interface TrialJobResult {
  readonly worker: string;
  readonly seconds: number;
}

/** The sweep's record in Redis, for `lemopt sweep --queue URL --status` on any machine. */
export interface SweepRecord {
  readonly dir: string;
  readonly config: string;
  /** Every trial id, in grid order. */
  readonly trials: readonly string[];
  /** Trials whose results were in the folder before this run of the sweep. */
  readonly finishedBefore: readonly string[];
  /** `host:pid` of the `lemopt sweep` following the trials. */
  readonly coordinator: string;
  readonly started: string;
  /** Rewritten by the coordinator every poll: how fresh this record is. */
  readonly updated: string;
  /** Set when the coordinator finished. */
  readonly ended?: string;
}

/**
 * A Redis connection as BullMQ needs it (commands wait for a reconnect instead of failing),
 * retrying every second at most while the server is down. Connection errors go to
 * `onError` (ioredis would throw them unhandled otherwise).
 */
export function redisConnection(url: URL, onError: (error: Error) => void): Redis {
  const connection = new Redis(url.href, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  });
  connection.on('error', onError);
  return connection;
}

/** A short stable key of the sweep folder: job ids and the record's key start with it. */
function folderKey(sweepDir: string): string {
  return createHash('sha256').update(path.resolve(sweepDir)).digest('hex').slice(0, 16);
}

/** One job per trial of a sweep folder (BullMQ ids may not hold ':'; trial ids never do). */
export function trialJobId(sweepDir: string, trial: string): string {
  return `${folderKey(sweepDir)}.${trial}`;
}

export function sweepRecordKey(sweepDir: string): string {
  return `lemopt:sweep:${folderKey(sweepDir)}`;
}

/** The sweep folder's token: made once, kept by every later run of the sweep. */
export async function sweepToken(sweepDir: string, queue: URL): Promise<string> {
  const file = path.join(sweepDir, QUEUE_FILE);
  const saved = await readJsonFile<{ token?: string }>(file);
  if (typeof saved?.token === 'string') return saved.token;
  const token = randomBytes(12).toString('hex');
  const record = { token, queue: displayUrl(queue), created: new Date().toISOString() };
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
  return token;
}

/**
 * Throws unless this machine sees the sweep folder the job was made in: its queue.json with
 * the job's token. A worker whose machine does not mount the shared folder (or mounts it
 * elsewhere) fails the job with this message instead of running the trial.
 */
export async function assertSeesSweep(data: TrialJobData, worker: string): Promise<void> {
  const file = path.join(data.sweepDir, QUEUE_FILE);
  const saved = await readJsonFile<{ token?: string }>(file).catch(() => undefined);
  const shared =
    'the sweep folder must be on storage every machine sees, mounted at the same path (a shared filesystem)';
  if (saved === undefined)
    throw new LemoptError(
      `worker ${worker} cannot see the sweep folder ${data.sweepDir} (no ${file}): ${shared}`,
    );
  if (saved.token !== data.token)
    throw new LemoptError(
      `worker ${worker} sees another sweep's ${file} (token ${String(saved.token)}, the job's is ${data.token}): ${shared}`,
    );
}

/** This process, as workers and coordinators are named: `host:pid`. */
export function processName(): string {
  return `${os.hostname()}:${process.pid}`;
}
