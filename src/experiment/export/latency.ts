/**
 * Serving latency of the exported models as ONNX Runtime runs them (one intra-op thread,
 * feeds prepared beforehand, as a server holding a request's ids would): per example, at
 * batch 1 (the first test rows one at a time) and at batch 256 (the first 256 test rows in
 * one run). Each pass is run once to warm up, then timed PASSES times; the median counts.
 */
import { batches, type Batch } from '../../data/batcher.js';
import { sliceRows } from '../../data/batch-rows.js';
import type { PreparedDataset } from '../../data/dataset.js';
import { TEST } from '../../data/split.js';
import type { Feeds, OnnxSession } from '../../model/onnx/runtime.js';
import type { LatencyRecord } from './record.js';
import { batchFeeds, type ServingInput } from './serving-inputs.js';

export const SERVING_BATCH = 256;
const PASSES = 7;

/** The first SERVING_BATCH rows of the test split (fewer when it is smaller). */
export async function latencyRows(dataset: PreparedDataset): Promise<Batch> {
  for await (const batch of batches(dataset.encodedBatches(), {
    split: TEST,
    batchSize: SERVING_BATCH,
    shuffleBuffer: 0,
    seed: 0,
  }))
    return batch;
  throw new Error('the test split has no rows');
}

export function measureLatency(
  session: OnnxSession,
  rows: Batch,
  inputs: readonly ServingInput[],
  outputs: readonly string[],
): LatencyRecord {
  const single = Array.from({ length: rows.numRows }, (_, r) =>
    batchFeeds(sliceRows(rows, r, r + 1), inputs),
  );
  const whole = [batchFeeds(rows, inputs)];
  return {
    batch_1_us: microsPerExample(session, single, rows.numRows, outputs),
    batch_256_us: microsPerExample(session, whole, rows.numRows, outputs),
  };
}

function microsPerExample(
  session: OnnxSession,
  feeds: readonly Feeds[],
  examples: number,
  outputs: readonly string[],
): number {
  const pass = () => {
    const started = performance.now();
    for (const feed of feeds) session.run(feed, outputs);
    return ((performance.now() - started) * 1000) / examples;
  };
  pass();
  const times = Array.from({ length: PASSES }, pass).sort((a, b) => a - b);
  return times[Math.floor(PASSES / 2)];
}
