/**
 * The processes of a sweep: what a worker process is asked to do (SweepJob, run by
 * src/experiment/sweep-trial.ts) and its reply, starting one per job with its own heap
 * limit and log file (runJob), at most N at a time (Slots), and the errors of jobs.
 */
import { fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RunConfig } from '../config/schema.js';
import { EMBEDDING_THREADS_ENV_VAR } from '../embedding/threads.js';
import type { EvalMetrics } from '../model/metrics.js';
import { errorMessage, LemoptError } from '../util/errors.js';
import type { LatencyModel } from './run.js';

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

export type DoneReply = Extract<SweepJobReply, { type: 'done' }>;

/** A job that failed: its message, and whether it is an error in the input (not a bug). */
export class JobError extends Error {
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
export function runJob(
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
export class Slots {
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

/** An error's message, with its stack when it is a bug rather than an error in the input. */
export function errorText(error: unknown): string {
  if (error instanceof JobError) return error.detail ?? error.message;
  if (error instanceof LemoptError) return error.message;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** A job's failure as an error naming what failed; input errors stay LemoptErrors. */
export function failure(error: unknown, what: string): Error {
  const message = `${what} failed: ${errorMessage(error)}`;
  if (error instanceof LemoptError || (error instanceof JobError && error.userError))
    return new LemoptError(message);
  return new JobError(message, false);
}
