/**
 * `lemopt sweep CONFIG --queue redis://... --status`: where a queued sweep stands, from
 * the queue alone (any machine that reaches Redis; the sweep folder need not be visible):
 * the sweep's record that its coordinator keeps fresh, each trial's job, the workers.
 */
import { Queue } from 'bullmq';
import { LemoptError } from '../../util/errors.js';
import {
  displayUrl,
  QUEUE_NAME,
  redisConnection,
  sweepRecordKey,
  trialJobId,
  type SweepRecord,
  type TrialJobData,
  type TrialJobResult,
} from './queue.js';

/** Trials by where they stand. */
export interface QueueStatus {
  readonly record: SweepRecord;
  readonly finished: readonly string[];
  /** Trial and the worker running it, and since when (ms since the epoch). */
  readonly running: readonly { trial: string; worker: string; since: number }[];
  readonly waiting: readonly string[];
  /** Waiting for a retry: the trial, its failed attempts and the last failure. */
  readonly retrying: readonly { trial: string; attempts: number; reason: string }[];
  readonly failed: readonly { trial: string; reason: string }[];
  /** Trials without a job (not enqueued yet: their full model is training). */
  readonly unqueued: readonly string[];
  readonly workers: number;
}

/** Reads the queued sweep of `sweepDir`; an error when the queue has no record of it. */
export async function queueStatus(url: URL, sweepDir: string): Promise<QueueStatus> {
  let problem: Error | undefined;
  const connection = redisConnection(url, (error) => (problem = error));
  connection.options.retryStrategy = () => null; // fail fast: a status is a glance
  const queue = new Queue<TrialJobData, TrialJobResult>(QUEUE_NAME, { connection });
  queue.on('error', () => undefined);
  try {
    const text = await connection.get(sweepRecordKey(sweepDir)).catch((error: unknown) => {
      throw new LemoptError(
        `cannot reach the queue ${displayUrl(url)}: ${problem?.message ?? String(error)}`,
      );
    });
    if (text === null)
      throw new LemoptError(
        `the queue ${displayUrl(url)} has no sweep in ${sweepDir} (never started there, or Redis lost its data ` +
          'and the sweep is not running to restore it)',
      );
    const record = JSON.parse(text) as SweepRecord;
    const status = {
      finished: [] as string[],
      running: [] as { trial: string; worker: string; since: number }[],
      waiting: [] as string[],
      retrying: [] as { trial: string; attempts: number; reason: string }[],
      failed: [] as { trial: string; reason: string }[],
      unqueued: [] as string[],
    };
    const before = new Set(record.finishedBefore);
    for (const trial of record.trials) {
      if (before.has(trial)) continue;
      const job = await queue.getJob(trialJobId(sweepDir, trial));
      const state = job ? await job.getState() : 'none';
      if (!job || state === 'none' || state === 'unknown') status.unqueued.push(trial);
      else if (state === 'completed') status.finished.push(trial);
      else if (state === 'failed') status.failed.push({ trial, reason: job.failedReason });
      else if (state === 'active')
        status.running.push({ trial, worker: job.processedBy ?? '?', since: job.processedOn ?? Date.now() });
      else if (job.attemptsMade > 0)
        status.retrying.push({ trial, attempts: job.attemptsMade, reason: job.failedReason });
      else status.waiting.push(trial);
    }
    const workers = (await queue.getWorkers()).length;
    return { record, ...status, workers };
  } finally {
    await queue.close().catch(() => undefined);
    connection.disconnect();
  }
}

/** The status as lines for a terminal. */
export function formatQueueStatus(status: QueueStatus, url: URL, now = Date.now()): string {
  const { record } = status;
  const ago = (iso: string) => `${Math.max(0, Math.round((now - Date.parse(iso)) / 1000))} s ago`;
  const state = record.ended
    ? `ended ${ago(record.ended)}`
    : `followed by ${record.coordinator} (last seen ${ago(record.updated)})`;
  const list = (ids: readonly string[]) => (ids.length > 0 ? `: ${ids.join(', ')}` : '');
  const lines = [
    `sweep ${record.dir} on ${displayUrl(url)}: ${record.trials.length} trials, ${state}`,
    `  finished      ${status.finished.length + record.finishedBefore.length}` +
      (record.finishedBefore.length > 0 ? ` (${record.finishedBefore.length} before this run)` : ''),
    `  running       ${status.running.length}` +
      list(
        status.running.map((r) => `${r.trial} on ${r.worker} for ${Math.round((now - r.since) / 1000)} s`),
      ),
    `  waiting       ${status.waiting.length}`,
    `  retrying      ${status.retrying.length}` +
      list(status.retrying.map((r) => `${r.trial} (${r.attempts} failed: ${r.reason})`)),
    `  failed        ${status.failed.length}` + list(status.failed.map((f) => `${f.trial} (${f.reason})`)),
    `  not queued    ${status.unqueued.length}` +
      (status.unqueued.length > 0 ? ' (waiting for their full model)' : ''),
    `workers connected: ${status.workers}`,
    '',
  ];
  return lines.join('\n');
}
