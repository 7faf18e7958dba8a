/**
 * Embedding engine benchmark: rows per second of forward + backward + optimizer update of
 * the EmbeddingStore alone (no tfjs), per optimizer, on one thread and on two (the tables
 * split with a worker thread), and what a step pays to synchronise the two threads.
 *
 *   npm run build && node dist/bench/embedding.js [--batch 1024] [--seconds 3] [--dim 16]
 *     [--optimizers adagrad,adam,sgd] [--adam-step row|global] [--threads 1,2]
 *
 * Layout: 8 single-valued groups per tower with vocabularies 10 .. 100k, dim 16, block 4,
 * Zipf-distributed ids (exponent 1.05, id = popularity rank), as in the PyTorch
 * EmbeddingBag comparison. A second scenario makes 2 groups per tower multi-valued (mean
 * pooling, 0..10 ids per row). Batches and output gradients are generated before timing.
 * Rows per second come from the median step, which other work on the machine disturbs
 * less than the mean over the timed window (printed beside it).
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { Batch } from '../src/data/batcher.js';
import type { EncodedFeature } from '../src/data/encoder.js';
import type { FeatureLayout } from '../src/data/features.js';
import { resolveFeatureLayout } from '../src/data/features.js';
import { BatchExchange } from '../src/embedding/exchange.js';
import { embeddingSpec, type EmbeddingSpec } from '../src/embedding/layout.js';
import { resolveOptimizer, type SparseOptimizerKind } from '../src/embedding/optimizers.js';
import { EmbeddingStore } from '../src/embedding/store.js';
import { allocateTable } from '../src/embedding/table-state.js';
import { arrayAllocator } from '../src/embedding/typed-memory.js';
import { WorkerShard } from '../src/embedding/worker-shard.js';
import { Random } from '../src/util/random.js';
import { median } from '../src/util/statistics.js';

const VOCABULARIES = [10, 100, 1_000, 5_000, 10_000, 30_000, 60_000, 100_000];
const LEARNING_RATES: Record<SparseOptimizerKind, number> = { sgd: 0.05, adagrad: 0.05, adam: 0.001 };
const PREPARED_BATCHES = 32;

interface Scenario {
  readonly name: string;
  /** Groups (per tower) whose feature is multi-valued. */
  readonly multiValued: ReadonlySet<number>;
}

interface Result {
  readonly scenario: string;
  readonly optimizer: SparseOptimizerKind;
  readonly threads: number;
  readonly batches: number;
  /** Over the whole timed window; and from the median step, which a busy machine disturbs less. */
  readonly rowsPerSecond: number;
  readonly medianRowsPerSecond: number;
  /** Medians per step. */
  readonly forwardMs: number;
  readonly backwardMs: number;
  readonly updateMs: number;
  /** Tables run by the worker thread. */
  readonly workerTables: readonly string[];
}

function benchLayout(scenario: Scenario): FeatureLayout {
  const features = (['user', 'item'] as const).flatMap((tower) =>
    VOCABULARIES.map((_, g) => ({
      name: `${tower}_${g}`,
      tower,
      type: scenario.multiValued.has(g) ? ('multi_categorical' as const) : ('categorical' as const),
      min_count: 1,
      hash_buckets: 0,
      delimiter: '|',
      pooling: 'mean' as const,
      buckets: 10,
    })),
  );
  return resolveFeatureLayout({ features, groups: [] });
}

/** Inverse-CDF sampler of Zipf ranks 0 .. n-1. */
function zipfSampler(n: number, exponent: number): (random: Random) => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) cdf[k] = total += 1 / Math.pow(k + 1, exponent);
  for (let k = 0; k < n; k++) cdf[k] /= total;
  return (random) => {
    const u = random.next();
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (cdf[mid] < u) low = mid + 1;
      else high = mid;
    }
    return low;
  };
}

function makeBatches(layout: FeatureLayout, batchSize: number, seed: number): Batch[] {
  const random = new Random(seed, 'bench-embedding');
  const samplers = layout.features.map((_, f) => zipfSampler(VOCABULARIES[f % VOCABULARIES.length], 1.05));
  return Array.from({ length: PREPARED_BATCHES }, () => {
    const features = layout.features.map((feature, f): EncodedFeature => {
      const sample = samplers[f];
      if (feature.type !== 'multi_categorical') {
        const ids = new Int32Array(batchSize);
        for (let r = 0; r < batchSize; r++) ids[r] = sample(random);
        return { ids };
      }
      const offsets = new Int32Array(batchSize + 1);
      for (let r = 0; r < batchSize; r++) offsets[r + 1] = offsets[r] + random.integer(11);
      const ids = new Int32Array(offsets[batchSize]);
      for (let i = 0; i < ids.length; i++) ids[i] = sample(random);
      return { ids, offsets };
    });
    return { numRows: batchSize, features, labels: new Float32Array(batchSize) };
  });
}

function randomGradient(length: number, random: Random): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = random.uniform(-1e-3, 1e-3);
  return out;
}

function benchSpec(scenario: Scenario, dim: number): { layout: FeatureLayout; spec: EmbeddingSpec } {
  const layout = benchLayout(scenario);
  const sizes = new Map(
    layout.features.map((feature, f) => [feature.name, VOCABULARIES[f % VOCABULARIES.length]]),
  );
  return { layout, spec: embeddingSpec(layout, sizes, dim, 4) };
}

async function measure(
  scenario: Scenario,
  optimizer: SparseOptimizerKind,
  adamStep: 'row' | 'global',
  threads: number,
  batchSize: number,
  dim: number,
  seconds: number,
): Promise<Result> {
  const { layout, spec } = benchSpec(scenario, dim);
  const store = new EmbeddingStore({
    spec,
    optimizer: { kind: optimizer, learningRate: LEARNING_RATES[optimizer], adamStep },
    seed: 0,
    threads,
  });
  await store.ready();
  const batches = makeBatches(layout, batchSize, 1);
  const random = new Random(2, 'bench-gradient');
  const gradUser = randomGradient(batchSize * store.columns('user').width, random);
  const gradItem = randomGradient(batchSize * store.columns('item').width, random);
  const step = (batch: Batch): void => {
    store.forward(batch);
    store.backward(batch, gradUser, gradItem);
    store.update();
  };
  // Warm-up: JIT and buffer growth.
  const warmUpEnd = performance.now() + 500;
  for (let i = 0; performance.now() < warmUpEnd; i++) step(batches[i % batches.length]);
  const forward: number[] = [];
  const backward: number[] = [];
  const update: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const batch = batches[forward.length % batches.length];
    const t0 = performance.now();
    store.forward(batch);
    const t1 = performance.now();
    store.backward(batch, gradUser, gradItem);
    const t2 = performance.now();
    store.update();
    const t3 = performance.now();
    forward.push(t1 - t0);
    backward.push(t2 - t1);
    update.push(t3 - t2);
  }
  const workerTables = store.threadTables().worker.map((t) => spec.tables[t].name);
  if (store.threadsInUse !== threads) throw new Error(`the store ran on ${store.threadsInUse} thread(s)`);
  store.dispose();
  const steps = forward.map((f, i) => f + backward[i] + update[i]);
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
  return {
    scenario: scenario.name,
    optimizer,
    threads,
    batches: steps.length,
    rowsPerSecond: (steps.length * batchSize) / (sum(steps) / 1000),
    medianRowsPerSecond: batchSize / (median(steps) / 1000),
    forwardMs: median(forward),
    backwardMs: median(backward),
    updateMs: median(update),
    workerTables,
  };
}

/** Median µs of `run` over `count` calls after as many untimed ones. */
function medianMicroseconds(count: number, run: () => void): number {
  for (let i = 0; i < count; i++) run();
  const times = Array.from({ length: count }, () => {
    const started = performance.now();
    run();
    return (performance.now() - started) * 1000;
  });
  return median(times);
}

async function medianMicrosecondsAsync(count: number, run: () => Promise<void>): Promise<number> {
  for (let i = 0; i < count; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await run();
    times.push((performance.now() - started) * 1000);
  }
  return median(times);
}

interface SyncCost {
  /**
   * A command with nothing to do through the store's shared-memory channel, and back:
   * posted while the worker still spins after its last command, and posted after it has
   * gone to sleep in Atomics.wait (as for backward after the dense step).
   */
  readonly atomicsRoundTripUs: number;
  readonly atomicsRoundTripAsleepUs: number;
  /** The same through postMessage to an echo worker, for comparison. */
  readonly postMessageRoundTripUs: number;
  /** memcpy between ordinary and shared memory of one step's tower inputs and their gradients. */
  readonly stagingCopyUs: number;
}

async function measureSync(batchSize: number, towerWidth: number): Promise<SyncCost> {
  const { spec } = benchSpec({ name: 'sync', multiValued: new Set() }, 4);
  const optimizer = resolveOptimizer({ kind: 'sgd', learningRate: 0.1 });
  const tables = spec.tables.map((table) => allocateTable(table, optimizer, arrayAllocator(true)));
  const clock = new Float64Array(new SharedArrayBuffer(8 * spec.tables.length));
  const worker = new WorkerShard(
    spec,
    optimizer,
    tables,
    clock,
    new BatchExchange(spec.tables.length).buffers,
  );
  await worker.whenRunning();
  const atomicsRoundTripUs = medianMicroseconds(5000, () => worker.roundTrip());
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const asleep = Array.from({ length: 1000 }, () => {
    Atomics.wait(pause, 0, 0, 0.5);
    const started = performance.now();
    worker.roundTrip();
    return (performance.now() - started) * 1000;
  });
  worker.stop();
  const echo = new Worker(
    `const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => parentPort.postMessage(m));`,
    { eval: true },
  );
  const postMessageRoundTripUs = await medianMicrosecondsAsync(
    2000,
    () => new Promise<void>((resolve) => (echo.once('message', () => resolve()), echo.postMessage(0))),
  );
  await echo.terminate();
  const plain = new Float32Array(batchSize * towerWidth);
  const shared = new Float32Array(new SharedArrayBuffer(plain.byteLength));
  // Per step and tower: the staged input back to ordinary memory, the gradient into shared memory.
  const stagingCopyUs = 2 * medianMicroseconds(2000, () => (plain.set(shared), shared.set(plain)));
  return {
    atomicsRoundTripUs,
    atomicsRoundTripAsleepUs: median(asleep),
    postMessageRoundTripUs,
    stagingCopyUs,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '1024' },
      seconds: { type: 'string', default: '3' },
      dim: { type: 'string', default: '16' },
      optimizers: { type: 'string', default: 'adagrad,adam,sgd' },
      'adam-step': { type: 'string', default: 'row' },
      threads: { type: 'string', default: '1,2' },
    },
  });
  const batchSize = Number(values.batch);
  const seconds = Number(values.seconds);
  const dim = Number(values.dim);
  const optimizers = values.optimizers.split(',') as SparseOptimizerKind[];
  const adamStep = values['adam-step'] === 'global' ? 'global' : 'row';
  const threadCounts = values.threads.split(',').map(Number);
  const scenarios: Scenario[] = [
    { name: 'single-valued', multiValued: new Set() },
    { name: '2 multi-valued per tower', multiValued: new Set([2, 6]) },
  ];
  console.log(
    `EmbeddingStore: 8 groups per tower, vocabularies ${VOCABULARIES.join(', ')}, dim ${dim}, block 4, ` +
      `batch ${batchSize}, Zipf(1.05) ids, Adam bias correction per ${adamStep === 'row' ? 'row' : 'table'}; ` +
      `Node ${process.version}`,
  );
  const results: Result[] = [];
  for (const scenario of scenarios) {
    for (const optimizer of optimizers) {
      for (const threads of threadCounts) {
        const result = await measure(scenario, optimizer, adamStep, threads, batchSize, dim, seconds);
        results.push(result);
        const one = results.find(
          (r) => r.scenario === scenario.name && r.optimizer === optimizer && r.threads === 1,
        );
        const speedup =
          threads > 1 && one
            ? `  x${(result.medianRowsPerSecond / one.medianRowsPerSecond).toFixed(2)} ` +
              `(window x${(result.rowsPerSecond / one.rowsPerSecond).toFixed(2)})`
            : '';
        console.log(
          `${scenario.name.padEnd(26)} ${optimizer.padEnd(8)} ${threads} thread${threads > 1 ? 's' : ' '} ` +
            `${Math.round(result.medianRowsPerSecond).toLocaleString('en-US').padStart(10)} rows/s ` +
            `(window mean ${Math.round(result.rowsPerSecond).toLocaleString('en-US').padStart(9)})   ` +
            `forward ${result.forwardMs.toFixed(3)} ms  backward ${result.backwardMs.toFixed(3)} ms  ` +
            `update ${result.updateMs.toFixed(3)} ms per batch (medians)${speedup}`,
        );
      }
    }
  }
  const towerWidth = 8 * dim;
  const sync = await measureSync(batchSize, towerWidth);
  console.log(
    `sync per step on two threads: one wait (end of forward; backward and update are queued) on a round ` +
      `trip of ${sync.atomicsRoundTripUs.toFixed(1)} µs with the worker spinning, ` +
      `${sync.atomicsRoundTripAsleepUs.toFixed(1)} µs with it asleep (postMessage: ` +
      `${sync.postMessageRoundTripUs.toFixed(1)} µs); memcpy of both towers' inputs and gradients through ` +
      `shared memory ${sync.stagingCopyUs.toFixed(1)} µs (batch ${batchSize} × ${towerWidth} per tower, cache-hot)`,
  );
  console.log(JSON.stringify({ results, sync }));
}

await main();
