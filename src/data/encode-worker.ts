/**
 * Worker thread body: reads one partition of the source and posts encoded batches, each
 * with its first row's position, to the parent. It pauses while too many of its rows wait
 * in the parent, so memory stays bounded when the consumer is slower than the reader.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createEncoder, openCheckedSource, readConfiguredBatches } from './dataset.js';
import type { EncodeJob, WorkerMessage } from './parallel-encode.js';
import type { EncodedBatch } from './encoder.js';
import { LemoptError } from '../util/errors.js';

interface WorkerInput {
  readonly job: EncodeJob;
  readonly partition: { readonly index: number; readonly count: number };
  readonly maxRowsInFlight: number;
}

const port = parentPort!;
const { job, partition, maxRowsInFlight } = workerData as WorkerInput;
/** Rows posted that the parent has not handed on yet; it sends back each batch's row count. */
let rowsInFlight = 0;
let wake: (() => void) | undefined;
port.on('message', (rows: number) => {
  rowsInFlight -= rows;
  wake?.();
});

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function buffersOf(batch: EncodedBatch): ArrayBuffer[] {
  const arrays = [
    batch.labels,
    batch.splits,
    ...batch.features.flatMap((f) => (f.offsets ? [f.ids, f.offsets] : [f.ids])),
  ];
  return [...new Set(arrays.map((array) => array.buffer as ArrayBuffer))];
}

async function run(): Promise<void> {
  const { source, layout } = await openCheckedSource(job.config);
  const encoder = createEncoder(job.config, layout, job.state, source.location);
  const mine = partition.count > 1 ? partition : undefined;
  for await (const raw of readConfiguredBatches(job.config, source, layout, mine)) {
    let batch: EncodedBatch;
    try {
      batch = encoder.encode(raw, raw.firstRow);
    } catch (error) {
      fail(error, raw.firstRow);
      return;
    }
    while (rowsInFlight >= maxRowsInFlight) await new Promise<void>((resolve) => (wake = resolve));
    rowsInFlight += batch.numRows;
    post({ type: 'batch', batch }, buffersOf(batch));
  }
  post({ type: 'done' });
}

/** `row`: the first row of the batch that failed; the parent raises it once earlier rows are through. */
function fail(error: unknown, row?: number): void {
  const userError = error instanceof LemoptError;
  const message =
    error instanceof Error ? (userError ? error.message : (error.stack ?? error.message)) : String(error);
  post({ type: 'error', message, userError, row });
}

run().catch((error: unknown) => fail(error));
