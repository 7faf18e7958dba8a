/**
 * `lemopt worker --queue redis://...`: takes trials from the queue that `lemopt sweep
 * --queue` fills (queue-sweep.ts) and runs each in a worker process of its own, as a local
 * sweep does (sweep-jobs.ts). Any number of these run on any machines that see the sweep
 * folders at the same path.
 *
 * The worker holds a trial for a lease (BullMQ's job lock) that it renews while the trial
 * runs in its child process; a worker that is killed stops renewing, and once the lease has
 * run out another worker takes the trial and resumes it from its checkpoints. The trial's
 * folder lock settles the rest: a trial still running elsewhere (its job re-sent after Redis
 * lost it) is waited for, and a lock left by a killed process is taken over (on this
 * machine by the lock itself; from another machine when the queue says its holder lost the
 * lease).
 */
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker, type Job } from 'bullmq';
import { LOCK_FILE, readLock, withFolderLockWhenFree } from '../../util/folder-lock.js';
import { TRIAL_LOG_FILE } from '../sweep-folder.js';
import { runJob } from '../sweep-jobs.js';
import {
  assertSeesSweep,
  DEFAULT_LEASE_SECONDS,
  displayUrl,
  processName,
  QUEUE_NAME,
  redisConnection,
  type TrialJobData,
  type TrialJobResult,
} from './queue.js';

export interface QueueWorkerOptions {
  readonly url: URL;
  /** Trials at a time; default 1. */
  readonly concurrency?: number;
  /** Seconds a trial stays held without renewal (default DEFAULT_LEASE_SECONDS). */
  readonly leaseSeconds?: number;
  /** --backend for the trials, over the one their sweep prepared on. */
  readonly backend?: string;
  readonly log: (line: string) => void;
}

export interface QueueWorker {
  readonly name: string;
  /** Stops taking trials, waits for the running ones, disconnects. */
  close(): Promise<void>;
}

/** Starts a worker on the queue; it runs trials until closed. */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const { log } = options;
  const name = processName();
  const lease = (options.leaseSeconds ?? DEFAULT_LEASE_SECONDS) * 1000;
  const concurrency = options.concurrency ?? 1;
  let down = false;
  const lost = (error: Error) => {
    if (down) return;
    down = true;
    log(`worker ${name}: lost the queue (${error.message}); reconnecting`);
  };
  const connection = redisConnection(options.url, lost);
  connection.on('ready', () => {
    if (down) log(`worker ${name}: the queue is back`);
    down = false;
  });
  const worker = new Worker<TrialJobData, TrialJobResult>(
    QUEUE_NAME,
    (job) => runTrialJob(job, { name, concurrency, backend: options.backend, log }),
    {
      connection,
      name,
      concurrency,
      lockDuration: lease,
      stalledInterval: Math.max(500, lease / 2),
      maxStalledCount: 3,
    },
  );
  worker.on('error', (error) => log(`worker ${name}: ${error.message}`));
  worker.on('failed', (job, error) => {
    if (job) log(`worker ${name}: ${job.data.trial} failed: ${error.message}`);
  });
  await worker.waitUntilReady();
  log(
    `worker ${name}: taking trials from ${displayUrl(options.url)} (${concurrency} at a time, lease ${lease / 1000} s)`,
  );
  return {
    name,
    close: async () => {
      await worker.close();
      connection.disconnect();
    },
  };
}

async function runTrialJob(
  job: Job<TrialJobData, TrialJobResult>,
  worker: { name: string; concurrency: number; backend?: string; log: (line: string) => void },
): Promise<TrialJobResult> {
  const { data } = job;
  const since = performance.now();
  await assertSeesSweep(data, worker.name);
  const runDir = data.config.output.dir!;
  await takeOverLostLock(runDir, job, worker.log);
  // The trial still runs elsewhere (its job was re-sent): wait for it; it then resumes here
  // from where that run left it (usually finished: every stage is skipped).
  await withFolderLockWhenFree(runDir, 'worker (waiting)', () => Promise.resolve(), {
    pollMs: 1000,
    onWait: (holder) => worker.log(`worker ${worker.name}: ${data.trial}: waiting: ${holder}`),
  });
  worker.log(`worker ${worker.name}: started ${data.trial} (attempt ${job.attemptsStarted}) in ${runDir}`);
  await runJob(
    { kind: 'trial', config: data.config, backend: worker.backend ?? data.backend },
    path.join(runDir, TRIAL_LOG_FILE),
    data.memoryMb,
    // Trials side by side already use the cores: each keeps its embedding engine in one thread.
    worker.concurrency > 1 ? 1 : undefined,
  );
  const seconds = (performance.now() - since) / 1000;
  worker.log(`worker ${worker.name}: finished ${data.trial} in ${seconds.toFixed(1)} s`);
  return { worker: worker.name, seconds };
}

/**
 * A trial lock held from another machine by a run whose job stalled (its worker stopped
 * renewing the lease, so the queue gave the trial to us): that run is gone, take it over.
 * Locks of this machine's processes are judged by the lock itself (dead pid: taken over).
 */
async function takeOverLostLock(
  runDir: string,
  job: Job<TrialJobData, TrialJobResult>,
  log: (line: string) => void,
): Promise<void> {
  if (job.stalledCounter === 0) return;
  const file = path.join(runDir, LOCK_FILE);
  const holder = await readLock(file).catch(() => undefined);
  if (holder === undefined || holder.hostname === os.hostname()) return;
  await rm(file, { force: true });
  log(
    `worker: ${job.data.trial}: took over the lock of pid ${holder.pid} on ${holder.hostname}, ` +
      "whose worker lost the trial's lease",
  );
}
