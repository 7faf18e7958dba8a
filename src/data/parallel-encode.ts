/**
 * Reads and encodes a partitionable source in worker threads, one partition each, and
 * hands the batches on in source order, so the result is the same as encoding in one
 * thread: same rows, same order, same splits.
 */
import { Worker } from 'node:worker_threads';
import type { RunConfig } from '../config/schema.js';
import { LemoptError } from '../util/errors.js';
import type { VocabularyState } from './dataset.js';
import type { EncodedBatch } from './encoder.js';

export interface EncodeJob {
  readonly config: RunConfig;
  readonly state: Pick<VocabularyState, 'vocabularies' | 'timeCutoffs'>;
}

export type WorkerMessage =
  | { readonly type: 'batch'; readonly batch: EncodedBatch }
  | { readonly type: 'done' }
  | { readonly type: 'error'; readonly message: string; readonly userError: boolean };

/**
 * Rows a worker may have posted but not yet handed on. Batches leave in source order, so
 * a worker holds its next row group while another's is consumed: this must exceed the
 * largest row group (DuckDB writes 122,880 rows, pyarrow up to 1M) or the workers take
 * turns instead of running together.
 */
const MAX_ROWS_IN_FLIGHT = 1 << 21;

interface WorkerState {
  readonly worker: Worker;
  readonly queue: EncodedBatch[];
  done: boolean;
}

/** The worker script beside this module; under vitest (TypeScript sources) through tsx. */
function workerEntry(): { url: URL; execArgv: string[] } {
  const typescript = import.meta.url.endsWith('.ts');
  const url = new URL(`./encode-worker.${typescript ? 'ts' : 'js'}`, import.meta.url);
  return { url, execArgv: typescript ? ['--import', 'tsx'] : [] };
}

export async function* encodeInWorkers(job: EncodeJob, count: number): AsyncGenerator<EncodedBatch> {
  const { url, execArgv } = workerEntry();
  let signal: (() => void) | undefined;
  let failure: Error | undefined;
  const notify = (): void => {
    signal?.();
    signal = undefined;
  };
  const states: WorkerState[] = Array.from({ length: count }, (_, index) => {
    const worker = new Worker(url, {
      execArgv,
      workerData: { job, partition: { index, count }, maxRowsInFlight: MAX_ROWS_IN_FLIGHT },
    });
    const state: WorkerState = { worker, queue: [], done: false };
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'batch') state.queue.push(message.batch);
      else if (message.type === 'done') state.done = true;
      else failure ??= message.userError ? new LemoptError(message.message) : new Error(message.message);
      notify();
    });
    worker.on('error', (error) => {
      failure ??= error;
      notify();
    });
    worker.on('exit', (code) => {
      if (!state.done && code !== 0)
        failure ??= new Error(`an encoding worker stopped with exit code ${code}`);
      state.done ||= code === 0;
      notify();
    });
    return state;
  });
  try {
    let nextRow = 0;
    while (true) {
      if (failure) throw failure;
      const ready = states.find((state) => state.queue[0]?.firstRow === nextRow);
      if (ready) {
        const batch = ready.queue.shift()!;
        ready.worker.postMessage(batch.numRows);
        nextRow += batch.numRows;
        yield batch;
        continue;
      }
      if (states.every((state) => state.done && state.queue.length === 0)) return;
      if (states.every((state) => state.done)) {
        throw new Error(
          `encoding workers skipped rows from ${nextRow}: their partitions do not cover the source`,
        );
      }
      await new Promise<void>((resolve) => (signal = resolve));
    }
  } finally {
    await Promise.all(states.map((state) => state.worker.terminate()));
  }
}
