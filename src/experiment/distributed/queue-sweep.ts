/**
 * `lemopt sweep CONFIG --queue redis://...`: the sweep's trials go on the Redis queue and
 * `lemopt worker` processes on any machine run them (queue-worker.ts). This is the
 * coordinator's side, a TrialRunner for runSweep: the sweep plans and prepares as ever, then
 * puts each trial on the queue once its seed's full model is ready, and follows its job
 * until it ends: started on which worker, attempts that failed and are retried, trials a
 * stopped worker left (retried once their lease ran out), failures by name.
 *
 * The trial folders on shared storage stay the truth: a trial is finished when its
 * manifest is (sweep-folder.ts), whatever Redis says. So a Redis that restarts and forgets
 * its jobs costs nothing: a job that is gone is put back unless its trial finished.
 */
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorMessage } from '../../util/errors.js';
import { finishedManifest } from '../sweep-folder.js';
import { JobError } from '../sweep-jobs.js';
import type { RunnerContext, RunnerFactory, SweepTrial, TrialRunner } from '../sweep.js';
import {
  DEFAULT_ATTEMPTS,
  displayUrl,
  processName,
  QUEUE_NAME,
  redisConnection,
  RETRY_DELAY_MS,
  sweepRecordKey,
  sweepToken,
  trialJobId,
  type SweepRecord,
  type TrialJobData,
  type TrialJobResult,
} from './queue.js';

export interface QueueSweepOptions {
  readonly url: URL;
  /** Attempts per trial before it fails; default DEFAULT_ATTEMPTS. */
  readonly attempts?: number;
  /** Milliseconds between looks at the jobs; default 1000. */
  readonly pollMs?: number;
}

/** A trial on the queue that has not ended yet. */
interface Followed {
  readonly trial: SweepTrial;
  readonly data: TrialJobData;
  readonly started: (where?: string) => void;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** The attempts already reported started and failed, and the stalls. */
  attemptsStarted: number;
  attemptsFailed: number;
  stalls: number;
}

/** The coordinator's TrialRunner: trials go on the queue at `options.url`. */
export function queueRunner(options: QueueSweepOptions): RunnerFactory {
  return (context) => QueueFollower.open(options, context);
}

class QueueFollower implements TrialRunner {
  private readonly followed = new Map<string, Followed>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly started = new Date().toISOString();

  private constructor(
    private readonly options: QueueSweepOptions,
    private readonly context: RunnerContext,
    private readonly connection: Redis,
    private readonly queue: Queue<TrialJobData, TrialJobResult>,
    private readonly token: string,
    private readonly link: { down: boolean },
    readonly where: string,
  ) {}

  static async open(options: QueueSweepOptions, context: RunnerContext): Promise<QueueFollower> {
    // Redis unreachable: say so once; commands wait for the reconnect.
    const link = { down: false };
    const lost = (error: Error) => {
      if (link.down) return;
      link.down = true;
      context.log(`sweep: lost the queue (${error.message}); reconnecting, the trials go on`);
    };
    const connection = redisConnection(options.url, lost);
    const queue = new Queue<TrialJobData, TrialJobResult>(QUEUE_NAME, { connection });
    queue.on('error', lost);
    const token = await sweepToken(context.dir, options.url);
    const where = `on the queue ${displayUrl(options.url)}`;
    const follower = new QueueFollower(options, context, connection, queue, token, link, where);
    await follower.writeRecord();
    return follower;
  }

  private record(ended?: string): SweepRecord {
    const { context } = this;
    const pending = new Set(context.pending.map((trial) => trial.id));
    return {
      dir: context.dir,
      config: context.configFile,
      trials: context.trials.map((trial) => trial.id),
      finishedBefore: context.trials.filter((trial) => !pending.has(trial.id)).map((trial) => trial.id),
      coordinator: processName(),
      started: this.started,
      updated: new Date().toISOString(),
      ...(ended ? { ended } : {}),
    };
  }

  private async writeRecord(ended?: string): Promise<void> {
    await this.connection.set(sweepRecordKey(this.context.dir), JSON.stringify(this.record(ended)));
  }

  run(trial: SweepTrial, started: (where?: string) => void): Promise<void> {
    const { context } = this;
    const data: TrialJobData = {
      sweepDir: context.dir,
      token: this.token,
      trial: trial.id,
      config: trial.config,
      backend: context.prepared.backend,
      memoryMb: context.memoryMb,
    };
    return new Promise<void>((resolve, reject) => {
      const entry: Followed = {
        trial,
        data,
        started,
        resolve,
        reject,
        attemptsStarted: 0,
        attemptsFailed: 0,
        stalls: 0,
      };
      this.enqueue(entry, true).then(
        () => {
          this.followed.set(trial.id, entry);
          this.timer ??= setInterval(() => void this.poll(), this.options.pollMs ?? 1000);
        },
        (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      );
    });
  }

  /**
   * Puts the trial's job on the queue. A job of the same trial left by an earlier run of the
   * sweep is replaced unless a worker is running it (then it is followed as it is).
   */
  private async enqueue(entry: Followed, replace: boolean): Promise<void> {
    const id = trialJobId(entry.data.sweepDir, entry.trial.id);
    if (replace) {
      const old = await this.queue.getJob(id);
      if (old) {
        if ((await old.getState()) === 'active') return;
        await old.remove();
      }
    }
    await this.queue.add('trial', entry.data, {
      jobId: id,
      attempts: this.options.attempts ?? DEFAULT_ATTEMPTS,
      backoff: { type: 'fixed', delay: RETRY_DELAY_MS },
    });
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.writeRecord();
      if (this.link.down) {
        this.link.down = false;
        this.context.log('sweep: the queue is back');
      }
      for (const entry of [...this.followed.values()]) await this.look(entry);
    } catch (error) {
      this.context.log(`sweep: cannot read the queue: ${errorMessage(error)}`);
    } finally {
      this.polling = false;
    }
  }

  /** Reports what changed in a trial's job, and ends the trial when its job did. */
  private async look(entry: Followed): Promise<void> {
    const { log } = this.context;
    const id = trialJobId(entry.data.sweepDir, entry.trial.id);
    const job = await this.queue.getJob(id);
    if (!job) {
      if (await finishedManifest(entry.trial, this.context.prepared)) return this.end(entry);
      log(
        `sweep: the job of ${entry.trial.id} is gone from the queue (Redis restarted empty?); enqueued again`,
      );
      await this.enqueue(entry, false);
      return;
    }
    const state = await job.getState();
    // attemptsMade counts finished attempts, the successful one too: only a job waiting
    // again (for its retry) had a failed one.
    if (job.attemptsMade > entry.attemptsFailed && (state === 'delayed' || state === 'waiting')) {
      entry.attemptsFailed = job.attemptsMade;
      log(
        `sweep: ${entry.trial.id}: attempt ${job.attemptsMade} failed on ${job.processedBy ?? '?'}: ` +
          `${job.failedReason}; retrying`,
      );
    }
    if (job.stalledCounter > entry.stalls) {
      entry.stalls = job.stalledCounter;
      log(
        `sweep: ${entry.trial.id}: its worker ${job.processedBy ?? '?'} stopped renewing its lease ` +
          '(killed or cut off); back on the queue',
      );
    }
    if (state === 'active' && job.attemptsStarted > entry.attemptsStarted) {
      entry.attemptsStarted = job.attemptsStarted;
      entry.started(job.processedBy);
    }
    if (state === 'completed') return this.end(entry);
    if (state === 'failed') return this.end(entry, failedJob(job));
  }

  private end(entry: Followed, error?: Error): void {
    this.followed.delete(entry.trial.id);
    if (error) entry.reject(error);
    else entry.resolve();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.writeRecord(new Date().toISOString()).catch(() => undefined);
    await this.queue.close();
    this.connection.disconnect();
  }
}

/** A job that failed its last attempt: the worker's message and where it ran. */
function failedJob(job: Job<TrialJobData, TrialJobResult>): Error {
  return new JobError(
    `${job.failedReason} (on ${job.processedBy ?? 'a worker'}, attempt ${job.attemptsMade})`,
    true,
  );
}
