import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { Batch } from '../src/data/batcher.js';
import type { EncodedFeature } from '../src/data/encoder.js';
import { resolveFeatureLayout } from '../src/data/features.js';
import { embeddingSpec, type EmbeddingSpec } from '../src/embedding/layout.js';
import type { SparseOptimizerConfig } from '../src/embedding/optimizers.js';
import { assumedLoad, observedLoad, splitTables, tableCosts } from '../src/embedding/partition.js';
import { EmbeddingStore, type StateArray } from '../src/embedding/store.js';
import { TableTimer } from '../src/embedding/table-timer.js';
import { defaultEmbeddingThreads } from '../src/embedding/threads.js';
import { arrayAllocator } from '../src/embedding/typed-memory.js';
import { Random } from '../src/util/random.js';
import { configFrom } from './support/features.js';

/**
 * Tables (layout.groups order): i_meta (i_cat + i_brand), u_id, u_geo, u_tags (mean),
 * u_hist (sum), i_id, i_words (mean); dim 8, block 4.
 */
const SPEC_CONFIG = `
data: { source: x.csv, label: { column: y } }
features:
  - { name: [u_id, u_geo], tower: user }
  - { name: u_tags, tower: user, type: multi_categorical, pooling: mean }
  - { name: u_hist, tower: user, type: multi_categorical, pooling: sum }
  - { name: [i_id, i_cat, i_brand], tower: item }
  - { name: i_words, tower: item, type: multi_categorical, pooling: mean }
groups:
  - { name: i_meta, features: [i_cat, i_brand] }
`;
const VOCABULARY = new Map([
  ['u_id', 50],
  ['u_geo', 7],
  ['u_tags', 30],
  ['u_hist', 40],
  ['i_id', 60],
  ['i_cat', 5],
  ['i_brand', 9],
  ['i_words', 25],
]);

function testSpec(): EmbeddingSpec {
  return embeddingSpec(resolveFeatureLayout(configFrom(SPEC_CONFIG)), VOCABULARY, 8, 4);
}

/**
 * A batch of `numRows` rows with ids in range (or `badId` for `badFeature`). Bags hold
 * 0..5 ids; with `shifted` the multi-valued features' offsets start past some leading ids.
 */
function randomBatch(
  spec: EmbeddingSpec,
  numRows: number,
  seed: number,
  options: { shifted?: boolean; badFeature?: string; badId?: number } = {},
): Batch {
  const random = new Random(seed, 'parallel-batch');
  const features: EncodedFeature[] = [];
  for (const table of spec.tables) {
    for (const feature of table.features) {
      const id = (): number => random.integer(feature.vocabularySize);
      let encoded: EncodedFeature;
      if (feature.pooling === 'none') {
        encoded = { ids: Int32Array.from({ length: numRows }, id) };
      } else {
        const lead = options.shifted ? 3 : 0;
        const ids: number[] = Array.from({ length: lead }, id);
        const offsets = new Int32Array(numRows + 1);
        offsets[0] = lead;
        for (let r = 0; r < numRows; r++) {
          for (let k = random.integer(6); k > 0; k--) ids.push(id());
          offsets[r + 1] = ids.length;
        }
        encoded = { ids: Int32Array.from(ids), offsets };
      }
      if (feature.name === options.badFeature) {
        const at = feature.pooling === 'none' ? numRows - 1 : encoded.ids.length - 1;
        encoded.ids[at] = options.badId ?? feature.vocabularySize;
        if (encoded.offsets) encoded.offsets[numRows] = encoded.ids.length;
      }
      features[feature.index] = encoded;
    }
  }
  return { numRows, features, labels: new Float32Array(numRows) };
}

function randomGradient(length: number, seed: number): Float32Array {
  const random = new Random(seed, 'parallel-gradient');
  return Float32Array.from({ length }, () => random.uniform(-0.5, 0.5));
}

/** The bit patterns of float arrays (so -0, NaN and rounding all count). */
function bits(values: Float32Array | Float64Array | Int32Array): number[] {
  if (values instanceof Int32Array) return Array.from(values);
  if (values instanceof Float64Array)
    return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length * 2));
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

function stateBits(state: readonly StateArray[]): Record<string, number[]> {
  return Object.fromEntries(state.map((entry) => [entry.name, bits(entry.data)]));
}

const stores: EmbeddingStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.dispose();
});

async function makeStore(spec: EmbeddingSpec, optimizer: SparseOptimizerConfig, threads: number) {
  const store = new EmbeddingStore({ spec, optimizer, seed: 11, threads });
  stores.push(store);
  await store.ready();
  return store;
}

/** The test spec and a store on one thread and one on two, alike but for the threads. */
async function storePair(optimizer: SparseOptimizerConfig) {
  const spec = testSpec();
  return { spec, one: await makeStore(spec, optimizer, 1), two: await makeStore(spec, optimizer, 2) };
}

/** Active dims per step: full, some shrunk, a table dropped, then back. */
const ACTIVE_DIMS: Record<number, number[]> = {
  3: [8, 4, 8, 4, 8, 8, 4],
  6: [4, 8, 0, 8, 8, 4, 8],
  9: [8, 8, 8, 8, 0, 8, 8],
};

/**
 * Trains `stores` side by side on the same batches and gradients and checks that every
 * output and pending gradient is bit-identical to the first store's.
 */
function trainTogether(
  spec: EmbeddingSpec,
  group: readonly EmbeddingStore[],
  steps: number,
  seed = 0,
): Set<string> {
  const [reference, ...others] = group;
  const splits = new Set<string>();
  for (let step = 0; step < steps; step++) {
    if (ACTIVE_DIMS[step]) for (const store of group) store.setActiveDims(ACTIVE_DIMS[step]);
    const numRows = [17, 1, 33, 0, 24][step % 5];
    const batch = randomBatch(spec, numRows, seed * 1000 + step, { shifted: step % 3 === 1 });
    const outputs = group.map((store) => store.forward(batch));
    for (const output of outputs.slice(1)) {
      expect(bits(output.user)).toEqual(bits(outputs[0].user));
      expect(bits(output.item)).toEqual(bits(outputs[0].item));
    }
    const gradUser = randomGradient(outputs[0].user.length, seed * 1000 + step);
    const gradItem = randomGradient(outputs[0].item.length, seed * 1000 + step + 500);
    for (const store of group) store.backward(batch, gradUser, gradItem);
    if (step % 4 === 2) {
      // A second batch before the update: its ids were not forwarded, gradients accumulate.
      const other = randomBatch(spec, 9, seed * 1000 + step + 77);
      const widths = [reference.columns('user').width, reference.columns('item').width];
      for (const store of group)
        store.backward(other, randomGradient(9 * widths[0], step), randomGradient(9 * widths[1], step + 1));
    }
    for (let t = 0; t < spec.tables.length; t++) {
      const expected = reference.pendingGradient(t);
      for (const store of others) {
        const pending = store.pendingGradient(t);
        expect(Array.from(pending.rows)).toEqual(Array.from(expected.rows));
        expect(bits(pending.grad)).toEqual(bits(expected.grad));
      }
    }
    const learningRate = 0.05 * (1 + (step % 3));
    for (const store of group) store.update(learningRate);
    for (const store of others) splits.add(store.threadTables().worker.join());
  }
  const expected = stateBits(reference.state());
  for (const store of others) expect(stateBits(store.state())).toEqual(expected);
  return splits;
}

const OPTIMIZERS: [string, SparseOptimizerConfig][] = [
  ['sgd', { kind: 'sgd', learningRate: 0.1 }],
  ['sgd with weight decay', { kind: 'sgd', learningRate: 0.1, weightDecay: 0.01 }],
  [
    'adagrad with weight decay',
    { kind: 'adagrad', learningRate: 0.1, weightDecay: 0.02, initialAccumulator: 0.1 },
  ],
  ['adam, step per row', { kind: 'adam', learningRate: 0.01, adamStep: 'row' }],
  [
    'adam, step per table, weight decay',
    { kind: 'adam', learningRate: 0.01, adamStep: 'global', weightDecay: 0.01 },
  ],
];

describe('embedding store on two threads', () => {
  it.each(OPTIMIZERS)('trains bit-identically to one thread (%s)', async (_, optimizer) => {
    const { spec, one, two } = await storePair(optimizer);
    expect(two.threadsInUse).toBe(1);
    const splits = trainTogether(spec, [one, two], 12);
    expect(two.threadsInUse).toBe(2);
    // Tables moved between the threads as the active dims changed.
    expect(splits.size).toBeGreaterThan(1);
    const split = two.threadTables();
    expect(split.worker.length).toBeGreaterThan(0);
    expect(split.main.length).toBeGreaterThan(0);
    expect(two.bytes()).toMatchObject({ weights: one.bytes().weights, optimizer: one.bytes().optimizer });
  });

  it('stays bit-identical while it times the tables and splits them again on their times', async () => {
    const optimizer: SparseOptimizerConfig = { kind: 'adagrad', learningRate: 0.1, weightDecay: 0.01 };
    const { spec, one, two } = await storePair(optimizer);
    trainTogether(spec, [one, two], 80, 7);
    expect(two.threadsInUse).toBe(2);
  });

  it('queues updates without waiting for the worker, and reads state only after them', async () => {
    const optimizer: SparseOptimizerConfig = { kind: 'adam', learningRate: 0.01, adamStep: 'global' };
    const { spec, one, two } = await storePair(optimizer);
    trainTogether(spec, [one, two], 2, 8);
    // More updates than the command ring holds: Adam's global step counts every one.
    for (const store of [one, two]) for (let k = 0; k < 9; k++) store.update(0.01);
    expect(stateBits(two.state())).toEqual(stateBits(one.state()));
    trainTogether(spec, [one, two], 2, 9);
  });

  it('restores state across thread counts, both ways', async () => {
    const spec = testSpec();
    const optimizer: SparseOptimizerConfig = { kind: 'adam', learningRate: 0.01, weightDecay: 0.01 };
    const trained = await makeStore(spec, optimizer, 1);
    trainTogether(spec, [trained], 5, 1);
    const copy = (state: StateArray[]) => state.map((entry) => ({ ...entry, data: entry.data.slice() }));
    const two = await makeStore(spec, optimizer, 2);
    two.setState(copy(trained.state()));
    expect(stateBits(two.state())).toEqual(stateBits(trained.state()));
    const back = await makeStore(spec, optimizer, 1);
    back.setState(copy(two.state()));
    trainTogether(spec, [trained, two, back], 6, 2);
  });

  it('reports a bad id in a worker table with the one-thread message, and goes on', async () => {
    const optimizer: SparseOptimizerConfig = { kind: 'adagrad', learningRate: 0.1 };
    const { spec, one, two } = await storePair(optimizer);
    trainTogether(spec, [one, two], 1);
    const workerTable = spec.tables[two.threadTables().worker[0]];
    const good = randomBatch(spec, 12, 6);
    for (const feature of workerTable.features) {
      const bad = randomBatch(spec, 12, 5, { badFeature: feature.name, badId: feature.vocabularySize + 2 });
      const message = `feature '${feature.name}': id ${feature.vocabularySize + 2} outside its vocabulary of ${feature.vocabularySize}`;
      for (const store of [one, two]) {
        const output = store.forward(good);
        const grads = [randomGradient(output.user.length, 1), randomGradient(output.item.length, 2)] as const;
        expect(() => store.forward(bad)).toThrow(new RangeError(message));
        // backward of a batch that was not forwarded checks its ids in the worker too.
        expect(() => store.backward(bad, ...grads)).toThrow(new RangeError(message));
        store.discardGradients();
        // The gradients of the batch forwarded before the failed one go to its rows.
        store.backward(good, ...grads);
      }
      for (let t = 0; t < spec.tables.length; t++)
        expect(bits(two.pendingGradient(t).grad)).toEqual(bits(one.pendingGradient(t).grad));
      one.discardGradients();
      two.discardGradients();
    }
    const negative = randomBatch(spec, 4, 7, { badFeature: workerTable.features[0].name, badId: -1 });
    expect(() => two.forward(negative)).toThrow(/id -1 outside its vocabulary/);
    trainTogether(spec, [one, two], 4, 3);
  });

  it('runs on one thread after dispose, with the same results', async () => {
    const optimizer: SparseOptimizerConfig = { kind: 'adam', learningRate: 0.01, adamStep: 'global' };
    const { spec, one, two } = await storePair(optimizer);
    trainTogether(spec, [one, two], 3, 4);
    two.dispose();
    expect(two.threadsInUse).toBe(1);
    trainTogether(spec, [one, two], 3, 5);
    two.dispose();
  });

  it('does not keep the process alive when it is never disposed', async () => {
    const script = `
      import { EmbeddingStore } from './src/embedding/store.ts';
      import { resolveFeatureLayout } from './src/data/features.ts';
      import { embeddingSpec } from './src/embedding/layout.ts';
      const layout = resolveFeatureLayout({ features: [{ name: 'a', tower: 'user', type: 'categorical', min_count: 1, hash_buckets: 0, delimiter: '|', pooling: 'mean', buckets: 10 }, { name: 'b', tower: 'item', type: 'categorical', min_count: 1, hash_buckets: 0, delimiter: '|', pooling: 'mean', buckets: 10 }], groups: [] });
      const store = new EmbeddingStore({ spec: embeddingSpec(layout, new Map([['a', 5], ['b', 5]]), 4, 4), optimizer: { kind: 'sgd', learningRate: 0.1 }, seed: 1, threads: 2 });
      await store.ready();
      const batch = { numRows: 2, features: [{ ids: Int32Array.of(1, 2) }, { ids: Int32Array.of(3, 4) }], labels: new Float32Array(2) };
      store.forward(batch);
      // Still reachable at exit, so no finalizer ends the worker: only unref() lets the process end.
      globalThis.keptStore = store;
      console.log('threads', store.threadsInUse);
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      { cwd: process.cwd(), timeout: 30_000 },
    );
    expect(stdout.trim()).toBe('threads 2');
  });
});

describe('embedding table split', () => {
  it('times the tables in windows and smooths their costs over windows', () => {
    const timer = new TableTimer(2, arrayAllocator(false));
    const steps = (count: number) => {
      const seen = new Set<string | undefined>();
      for (let k = 0; k < count; k++) {
        seen.add(timer.due());
        timer.countStep();
      }
      return seen;
    };
    timer.restart();
    expect(steps(5)).toEqual(new Set([undefined]));
    expect(timer.due()).toBe('start');
    timer.startWindow();
    timer.clock.set([25, 50]);
    timer.addCopy(5);
    expect(steps(25)).toEqual(new Set([undefined]));
    expect(timer.due()).toBe('decide');
    const first = timer.measured();
    expect(Array.from(first.costs)).toEqual([1, 2]);
    expect(first.copyCost).toBe(0.2);
    // The next window starts at once; its costs are averaged with the last ones.
    expect(timer.clock[0]).toBe(0);
    timer.clock.set([75, 50]);
    steps(25);
    expect(Array.from(timer.measured().costs)).toEqual([2, 2]);
    timer.forget();
    timer.clock.set([25, 25]);
    steps(25);
    expect(Array.from(timer.measured().costs)).toEqual([1, 1]);
  });

  it('counts the ids of a batch, balances estimated cost and leaves dropped tables out', () => {
    const spec = testSpec();
    const batch = randomBatch(spec, 40, 3, { shifted: true });
    const load = observedLoad(spec, [8, 8, 8, 8, 8, 8, 8], batch);
    for (const table of spec.tables) {
      for (const feature of table.features) {
        const { ids, offsets } = batch.features[feature.index];
        const used = offsets ? ids.subarray(offsets[0], offsets[40]) : ids;
        expect(load.ids[feature.index]).toBe(used.length);
        expect(load.unique[feature.index]).toBe(new Set(used).size);
      }
    }
    const costs = tableCosts(spec, [8, 8, 8, 8, 8, 8, 0], load, 'adam');
    expect(costs[6]).toBe(0);
    const active = [0, 1, 2, 3, 4, 5];
    const { main, worker } = splitTables(active, costs);
    expect([...main, ...worker].sort()).toEqual(active);
    const sum = (tables: number[]) => tables.reduce((total, t) => total + costs[t], 0);
    expect(Math.abs(sum(main) - sum(worker))).toBeLessThanOrEqual(Math.max(...costs));
    expect(splitTables(active, costs, sum(active)).main).toEqual([]);
    // Tables of no cost still get a thread: each active table must count its steps.
    const free = splitTables(active, tableCosts(spec, [8, 8, 8, 8, 8, 8, 0], assumedLoad(spec, 0), 'sgd'));
    expect([...free.main, ...free.worker].sort()).toEqual(active);
  });

  it('takes its default thread count from LEMOPT_EMBEDDING_THREADS, else the cores', () => {
    expect(defaultEmbeddingThreads({ LEMOPT_EMBEDDING_THREADS: '1' })).toBe(1);
    expect(defaultEmbeddingThreads({ LEMOPT_EMBEDDING_THREADS: '2' })).toBe(2);
    expect(() => defaultEmbeddingThreads({ LEMOPT_EMBEDDING_THREADS: '3' })).toThrow(/must be 1 or 2/);
    expect([1, 2]).toContain(defaultEmbeddingThreads({}));
  });
});
