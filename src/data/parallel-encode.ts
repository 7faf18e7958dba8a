/**
 * Reads and encodes a partitionable source in worker threads, one partition each, and
 * hands the batches on in source order, so the result is the same as encoding in one
 * thread: same rows, same order, same splits.
 */
import type { Worker } from 'node:worker_threads';
import type { RunConfig } from '../config/schema.js';
import { LemoptError } from '../util/errors.js';
import { startWorker } from '../util/start-worker.js';
import type { VocabularyState } from './dataset.js';
import type { EncodedBatch } from './encoder.js';

export interface EncodeJob {
  readonly config: RunConfig;
  readonly state: Pick<VocabularyState, 'vocabularies' | 'timeCutoffs'>;
}

export type WorkerMessage =
  | { readonly type: 'batch'; readonly batch: EncodedBatch }
  | { readonly type: 'done' }
  | { readonly type: 'error'; readonly message: string; readonly userError: boolean; readonly row?: number };

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

export async function* encodeInWorkers(job: EncodeJob, count: number): AsyncGenerator<EncodedBatch> {
  let signal: (() => void) | undefined;
  /** The error to raise, and from which row on: errors in data wait until earlier rows are through. */
  let failure: { error: Error; row: number } | undefined;
  const fail = (error: Error, row = 0): void => {
    if (!failure || row < failure.row) failure = { error, row };
  };
  const notify = (): void => {
    signal?.();
    signal = undefined;
  };
  const states: WorkerState[] = Array.from({ length: count }, (_, index) => {
    const worker = startWorker(new URL('./encode-worker.js', import.meta.url), {
      workerData: { job, partition: { index, count }, maxRowsInFlight: MAX_ROWS_IN_FLIGHT },
    });
    const state: WorkerState = { worker, queue: [], done: false };
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'batch') state.queue.push(message.batch);
      else if (message.type === 'done') state.done = true;
      else
        fail(message.userError ? new LemoptError(message.message) : new Error(message.message), message.row);
      notify();
    });
    worker.on('error', (error) => {
      fail(error);
      notify();
    });
    worker.on('exit', (code) => {
      if (!state.done && code !== 0) fail(new Error(`an encoding worker stopped with exit code ${code}`));
      state.done ||= code === 0;
      notify();
    });
    return state;
  });
  try {
    let nextRow = 0;
    while (true) {
      if (failure && failure.row <= nextRow) throw failure.error;
      const ready = states.find((state) => state.queue[0]?.firstRow === nextRow);
      if (ready) {
        const batch = ready.queue.shift()!;
        ready.worker.postMessage(batch.numRows);
        nextRow += batch.numRows;
        yield batch;
        continue;
      }
      if (states.every((state) => state.done && state.queue.length === 0)) return;
      if (failure && states.every((state) => state.done || state.queue.length > 0)) throw failure.error;
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
