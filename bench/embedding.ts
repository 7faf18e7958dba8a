/**
 * Embedding engine benchmark: rows per second of forward + backward + optimizer update of
 * the EmbeddingStore alone (no tfjs), per optimizer.
 *
 *   npm run build && node dist/bench/embedding.js [--batch 1024] [--seconds 3] [--dim 16]
 *     [--optimizers adagrad,adam,sgd] [--adam-step row|global]
 *
 * Layout: 8 single-valued groups per tower with vocabularies 10 .. 100k, dim 16, block 4,
 * Zipf-distributed ids (exponent 1.05, id = popularity rank), as in the PyTorch
 * EmbeddingBag comparison. A second scenario makes 2 groups per tower multi-valued (mean
 * pooling, 0..10 ids per row). Batches and output gradients are generated before timing.
 */
import { parseArgs } from 'node:util';
import type { Batch } from '../src/data/batcher.js';
import type { EncodedFeature } from '../src/data/encoder.js';
import type { FeatureLayout } from '../src/data/features.js';
import { resolveFeatureLayout } from '../src/data/features.js';
import { embeddingSpec } from '../src/embedding/layout.js';
import type { SparseOptimizerKind } from '../src/embedding/optimizers.js';
import { EmbeddingStore } from '../src/embedding/store.js';
import { Random } from '../src/util/random.js';

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
  readonly batches: number;
  readonly rowsPerSecond: number;
  readonly forwardMs: number;
  readonly backwardMs: number;
  readonly updateMs: number;
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

function measure(
  scenario: Scenario,
  optimizer: SparseOptimizerKind,
  adamStep: 'row' | 'global',
  batchSize: number,
  dim: number,
  seconds: number,
): Result {
  const layout = benchLayout(scenario);
  const sizes = new Map(
    layout.features.map((feature, f) => [feature.name, VOCABULARIES[f % VOCABULARIES.length]]),
  );
  const store = new EmbeddingStore({
    spec: embeddingSpec(layout, sizes, dim, 4),
    optimizer: { kind: optimizer, learningRate: LEARNING_RATES[optimizer], adamStep },
    seed: 0,
  });
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
  let forward = 0;
  let backward = 0;
  let update = 0;
  let count = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const batch = batches[count % batches.length];
    const t0 = performance.now();
    store.forward(batch);
    const t1 = performance.now();
    store.backward(batch, gradUser, gradItem);
    const t2 = performance.now();
    store.update();
    const t3 = performance.now();
    forward += t1 - t0;
    backward += t2 - t1;
    update += t3 - t2;
    count++;
  }
  const total = forward + backward + update;
  return {
    scenario: scenario.name,
    optimizer,
    batches: count,
    rowsPerSecond: (count * batchSize) / (total / 1000),
    forwardMs: forward / count,
    backwardMs: backward / count,
    updateMs: update / count,
  };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '1024' },
      seconds: { type: 'string', default: '3' },
      dim: { type: 'string', default: '16' },
      optimizers: { type: 'string', default: 'adagrad,adam,sgd' },
      'adam-step': { type: 'string', default: 'row' },
    },
  });
  const batchSize = Number(values.batch);
  const seconds = Number(values.seconds);
  const dim = Number(values.dim);
  const optimizers = values.optimizers.split(',') as SparseOptimizerKind[];
  const adamStep = values['adam-step'] === 'global' ? 'global' : 'row';
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
      const result = measure(scenario, optimizer, adamStep, batchSize, dim, seconds);
      results.push(result);
      console.log(
        `${scenario.name.padEnd(26)} ${optimizer.padEnd(8)} ${Math.round(result.rowsPerSecond)
          .toLocaleString('en-US')
          .padStart(
            10,
          )} rows/s   forward ${result.forwardMs.toFixed(3)} ms  backward ${result.backwardMs.toFixed(3)} ms  update ${result.updateMs.toFixed(3)} ms per batch`,
      );
    }
  }
  console.log(JSON.stringify(results));
}

main();
