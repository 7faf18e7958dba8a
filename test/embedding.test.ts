import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/data/batcher.js';
import type { EncodedFeature } from '../src/data/encoder.js';
import { resolveFeatureLayout, type FeatureLayout } from '../src/data/features.js';
import { embeddingSpec, towerColumns, type EmbeddingSpec } from '../src/embedding/layout.js';
import { DTYPE_COST, embeddingBytes, selectionMemory, tableMemory } from '../src/embedding/memory.js';
import { EmbeddingStore, embeddingStoreFromConfig } from '../src/embedding/store.js';
import { Random } from '../src/util/random.js';
import { configFrom } from './support/features.js';

/**
 * Layout used throughout: tables (layout.groups order)
 *   0 item_meta (item): i_cat (3 rows) + i_brand (4 rows)   7 rows
 *   1 u_id      (user): 7 rows
 *   2 u_tags    (user): multi-valued, mean, 5 rows
 *   3 u_hist    (user): multi-valued, sum, 6 rows
 *   4 i_id      (item): 9 rows
 * dim 8, block 4: 2 blocks per table, 10 blocks in all.
 */
const CONFIG = `
data: { source: x.csv, label: { column: y } }
features:
  - { name: u_id, tower: user }
  - { name: u_tags, tower: user, type: multi_categorical, pooling: mean }
  - { name: u_hist, tower: user, type: multi_categorical, pooling: sum }
  - { name: i_id, tower: item }
  - { name: [i_cat, i_brand], tower: item }
groups:
  - { name: item_meta, features: [i_cat, i_brand] }
model: { embedding_dim: 8 }
selection: { block_size: 4 }
train: { embedding_optimizer: sgd, embedding_learning_rate: 0.1, seed: 7 }
`;
const SIZES = new Map([
  ['u_id', 7],
  ['u_tags', 5],
  ['u_hist', 6],
  ['i_id', 9],
  ['i_cat', 3],
  ['i_brand', 4],
]);

function layout(): FeatureLayout {
  return resolveFeatureLayout(configFrom(CONFIG));
}

function spec(dim = 8, blockSize = 4): EmbeddingSpec {
  return embeddingSpec(layout(), SIZES, dim, blockSize);
}

function store(seed = 1, activeDims?: number[], dim = 8, blockSize = 4): EmbeddingStore {
  return new EmbeddingStore({
    spec: spec(dim, blockSize),
    optimizer: { kind: 'sgd', learningRate: 0.1 },
    seed,
    ...(activeDims ? { activeDims } : {}),
  });
}

/**
 * Random batch in layout.features order. Small vocabularies make ids repeat across rows;
 * bags have 0..4 ids (duplicates possible); row 0 has an empty bag, row 1 a bag with a
 * repeated id, for both multi-valued features.
 */
function randomBatch(numRows: number, seed: number): Batch {
  const random = new Random(seed);
  const features: EncodedFeature[] = layout().features.map((feature) => {
    const size = SIZES.get(feature.name)!;
    if (feature.type !== 'multi_categorical') {
      const ids = new Int32Array(numRows);
      for (let r = 0; r < numRows; r++) ids[r] = random.integer(size);
      return { ids };
    }
    const offsets = new Int32Array(numRows + 1);
    const ids: number[] = [];
    for (let r = 0; r < numRows; r++) {
      if (r === 1) ids.push(2, 2, 1);
      else if (r !== 0) for (let k = random.integer(5); k > 0; k--) ids.push(random.integer(size));
      offsets[r + 1] = ids.length;
    }
    return { ids: Int32Array.from(ids), offsets };
  });
  return { numRows, features, labels: new Float32Array(numRows) };
}

/** Ids of row r of feature f (a bag of one id for single-valued features). */
function bag(batch: Batch, f: number, r: number): number[] {
  const { ids, offsets } = batch.features[f];
  return offsets ? Array.from(ids.subarray(offsets[r], offsets[r + 1])) : [ids[r]];
}

/** Naive forward: per row, concatenate each table's features' pooled embeddings. */
function naiveForward(s: EmbeddingStore, batch: Batch): { user: number[][]; item: number[][] } {
  const user: number[][] = [];
  const item: number[][] = [];
  const active = s.activeDims;
  for (let r = 0; r < batch.numRows; r++) {
    const rowUser: number[] = [];
    const rowItem: number[] = [];
    for (const table of s.spec.tables) {
      const dims = active[table.index];
      for (const feature of table.features) {
        const ids = bag(batch, feature.index, r);
        const pooled = new Array<number>(dims).fill(0);
        for (const id of ids)
          for (let d = 0; d < dims; d++)
            pooled[d] += s.weights(table.index)[(feature.rowOffset + id) * table.dim + d];
        if (feature.pooling === 'mean' && ids.length > 0)
          for (let d = 0; d < dims; d++) pooled[d] /= ids.length;
        (table.tower === 'user' ? rowUser : rowItem).push(...pooled);
      }
    }
    user.push(rowUser);
    item.push(rowItem);
  }
  return { user, item };
}

function rowsOf(values: Float32Array, numRows: number): number[][] {
  const width = values.length / numRows;
  return Array.from({ length: numRows }, (_, r) => Array.from(values.subarray(r * width, (r + 1) * width)));
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tolerance * (1 + Math.abs(expected[i])))
      expect.fail(`index ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

function randomArray(length: number, seed: number): Float32Array {
  const random = new Random(seed, 'gradient');
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = random.uniform(-1, 1);
  return out;
}

/** Naive dense gradient of every table for output gradients gradUser / gradItem. */
function naiveGradient(s: EmbeddingStore, batch: Batch, gradUser: Float32Array, gradItem: Float32Array) {
  const active = s.activeDims;
  const widths = { user: s.columns('user').width, item: s.columns('item').width };
  const columns = { user: 0, item: 0 };
  return s.spec.tables.map((table) => {
    const dense = new Float64Array(table.rows * table.dim);
    const touched = new Set<number>();
    const dims = active[table.index];
    for (const feature of table.features) {
      if (dims === 0) continue;
      const column = columns[table.tower];
      const grad = table.tower === 'user' ? gradUser : gradItem;
      for (let r = 0; r < batch.numRows; r++) {
        const ids = bag(batch, feature.index, r);
        const scale = feature.pooling === 'mean' ? 1 / ids.length : 1;
        for (const id of ids) {
          const row = feature.rowOffset + id;
          touched.add(row);
          for (let d = 0; d < dims; d++)
            dense[row * table.dim + d] += scale * grad[r * widths[table.tower] + column + d];
        }
      }
      columns[table.tower] += dims;
    }
    return { dense, touched };
  });
}

/** The store's pending gradient of table t as a dense rows × dim array. */
function pendingDense(s: EmbeddingStore, t: number): { dense: Float64Array; touched: Set<number> } {
  const table = s.spec.tables[t];
  const { rows, grad, dims } = s.pendingGradient(t);
  const dense = new Float64Array(table.rows * table.dim);
  for (let k = 0; k < rows.length; k++)
    for (let d = 0; d < dims; d++) dense[rows[k] * table.dim + d] = grad[k * dims + d];
  expect(new Set(rows).size).toBe(rows.length);
  return { dense, touched: new Set(rows) };
}

describe('embedding layout', () => {
  it('makes one table per group with feature row offsets and global block numbers', () => {
    const { tables, numBlocks } = spec();
    expect(tables.map((t) => [t.name, t.tower, t.rows, t.firstBlock])).toEqual([
      ['item_meta', 'item', 7, 0],
      ['u_id', 'user', 7, 2],
      ['u_tags', 'user', 5, 4],
      ['u_hist', 'user', 6, 6],
      ['i_id', 'item', 9, 8],
    ]);
    expect(numBlocks).toBe(10);
    expect(tables[0].features.map((f) => [f.name, f.rowOffset, f.pooling])).toEqual([
      ['i_cat', 0, 'none'],
      ['i_brand', 3, 'none'],
    ]);
    expect(tables[2].features[0].pooling).toBe('mean');
    expect(tables[3].features[0].pooling).toBe('sum');
  });

  it('rejects a dim that is not a multiple of the block size, and bad active dims', () => {
    expect(() => embeddingSpec(layout(), SIZES, 10, 4)).toThrow(/multiple of block_size/);
    expect(() => embeddingSpec(layout(), new Map(), 8, 4)).toThrow(/vocabulary size/);
    expect(() => towerColumns(spec(), 'user', [8, 8, 2, 8, 8])).toThrow(/multiple of 4/);
    expect(() => towerColumns(spec(), 'user', [8, 8, 8])).toThrow(/entries/);
  });

  it('maps each input column to its table, feature, block and dim', () => {
    const s = spec();
    const user = towerColumns(s, 'user', [8, 4, 0, 8, 8]);
    // u_id dims 0..3, then u_hist dims 0..7; u_tags dropped.
    expect(user.width).toBe(12);
    expect(Array.from(user.columnTable)).toEqual([1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3]);
    expect(Array.from(user.columnFeature)).toEqual([0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(Array.from(user.columnBlock)).toEqual([2, 2, 2, 2, 6, 6, 6, 6, 7, 7, 7, 7]);
    expect(Array.from(user.columnDim)).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7]);
    expect(user.featureStart.map((starts) => Array.from(starts))).toEqual([[-1, -1], [0], [-1], [4], [-1]]);
    const item = towerColumns(s, 'item', [4, 4, 0, 8, 8]);
    // item_meta: i_cat dims 0..3, i_brand dims 0..3 (a block spans both features), then i_id.
    expect(item.width).toBe(16);
    expect(Array.from(item.columnFeature)).toEqual([4, 4, 4, 4, 5, 5, 5, 5, 3, 3, 3, 3, 3, 3, 3, 3]);
    expect(Array.from(item.columnBlock)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 9, 9, 9, 9]);
  });
});

describe('embedding forward', () => {
  it('gathers and pools (mean, sum, empty bags, repeated ids) like a naive implementation', () => {
    const s = store();
    const batch = randomBatch(40, 3);
    const output = s.forward(batch);
    const expected = naiveForward(s, batch);
    expect(s.columns('user').width).toBe(24);
    expect(s.columns('item').width).toBe(24);
    rowsOf(output.user, 40).forEach((row, r) => expectClose(row, expected.user[r]));
    rowsOf(output.item, 40).forEach((row, r) => expectClose(row, expected.item[r]));
    // Row 0: empty bags give zeros (u_tags at columns 8..15, u_hist at 16..23).
    expect(Array.from(output.user.subarray(8, 24))).toEqual(new Array(16).fill(0));
    // Row 1: bag [2, 2, 1]: mean counts the repeated id twice.
    const w = s.weights(2);
    for (let d = 0; d < 8; d++)
      expect(output.user[24 + 8 + d]).toBeCloseTo((2 * w[2 * 8 + d] + w[8 + d]) / 3, 6);
  });

  it('handles dims that are not a multiple of four (forward and backward)', () => {
    const s = store(3, [6, 2, 4, 6, 0], 6, 2);
    const batch = randomBatch(30, 8);
    const output = s.forward(batch);
    const expected = naiveForward(s, batch);
    rowsOf(output.user, 30).forEach((row, r) => expectClose(row, expected.user[r]));
    rowsOf(output.item, 30).forEach((row, r) => expectClose(row, expected.item[r]));
    const gradUser = randomArray(output.user.length, 3);
    const gradItem = randomArray(output.item.length, 4);
    s.backward(batch, gradUser, gradItem);
    const naive = naiveGradient(s, batch, gradUser, gradItem);
    for (let t = 0; t < s.spec.tables.length; t++)
      expectClose(pendingDense(s, t).dense, naive[t].dense, 1e-5);
  });

  it('reuses its output buffers and handles a smaller batch', () => {
    const s = store();
    const first = s.forward(randomBatch(16, 1));
    const again = s.forward(randomBatch(16, 2));
    expect(again.user.buffer).toBe(first.user.buffer);
    const small = randomBatch(5, 4);
    const output = s.forward(small);
    expect(output.user.length).toBe(5 * 24);
    expect(rowsOf(output.item, 5)).toEqual(
      naiveForward(s, small).item.map((row) => Array.from(Float32Array.from(row))),
    );
  });

  it('rejects ids outside the vocabulary and missing offsets', () => {
    const s = store();
    const batch = randomBatch(4, 1);
    const bad = batch.features.map((f, i) => (i === 0 ? { ids: Int32Array.of(0, 7, 1, 2) } : f));
    expect(() => s.forward({ ...batch, features: bad })).toThrow(/u_id.*id 7/);
    const noOffsets = batch.features.map((f, i) => (i === 1 ? { ids: f.ids } : f));
    expect(() => s.forward({ ...batch, features: noOffsets })).toThrow(/offsets/);
  });

  it('shrinking active dims drops columns as documented', () => {
    const s = store();
    const batch = randomBatch(12, 5);
    const full = rowsOf(s.forward(batch).user, 12).map((row) => row.slice());
    const fullItem = rowsOf(s.forward(batch).item, 12).map((row) => row.slice());
    s.setActiveDims([4, 4, 0, 8, 8]);
    const output = s.forward(batch);
    // user: u_id dims 0..3 (full columns 0..3) + u_hist (full columns 16..23).
    rowsOf(output.user, 12).forEach((row, r) =>
      expect(row).toEqual([...full[r].slice(0, 4), ...full[r].slice(16, 24)]),
    );
    // item: i_cat 0..3 (full 0..3), i_brand 0..3 (full 8..11), i_id (full 16..23).
    rowsOf(output.item, 12).forEach((row, r) =>
      expect(row).toEqual([
        ...fullItem[r].slice(0, 4),
        ...fullItem[r].slice(8, 12),
        ...fullItem[r].slice(16, 24),
      ]),
    );
    expect(s.columns('user').width).toBe(12);
    expect(Array.from(s.columns('user').columnBlock)).toEqual(
      Array.from(towerColumns(s.spec, 'user', [4, 4, 0, 8, 8]).columnBlock),
    );
    s.setActiveDims([0, 0, 0, 0, 0]);
    const empty = s.forward(batch);
    expect(empty.user.length).toBe(0);
    expect(empty.item.length).toBe(0);
  });
});

describe('embedding backward', () => {
  it('sums the gradients of duplicate ids across rows and within bags, like a dense gradient', () => {
    const s = store();
    const batch = randomBatch(50, 9);
    s.forward(batch);
    const gradUser = randomArray(50 * 24, 1);
    const gradItem = randomArray(50 * 24, 2);
    s.backward(batch, gradUser, gradItem);
    const naive = naiveGradient(s, batch, gradUser, gradItem);
    for (let t = 0; t < s.spec.tables.length; t++) {
      const pending = pendingDense(s, t);
      expect(pending.touched).toEqual(naive[t].touched);
      expectClose(pending.dense, naive[t].dense, 1e-5);
    }
  });

  it('accumulates several backward calls before one update', () => {
    const s = store();
    const a = randomBatch(20, 1);
    const b = randomBatch(20, 2);
    const grads = [randomArray(480, 1), randomArray(480, 2), randomArray(480, 3), randomArray(480, 4)];
    s.backward(a, grads[0], grads[1]);
    s.backward(b, grads[2], grads[3]);
    const naiveA = naiveGradient(s, a, grads[0], grads[1]);
    const naiveB = naiveGradient(s, b, grads[2], grads[3]);
    for (let t = 0; t < s.spec.tables.length; t++) {
      const pending = pendingDense(s, t);
      expect(pending.touched).toEqual(new Set([...naiveA[t].touched, ...naiveB[t].touched]));
      expectClose(
        pending.dense,
        naiveA[t].dense.map((value, i) => value + naiveB[t].dense[i]),
        1e-5,
      );
    }
  });

  it('passes a finite-difference check of a scalar loss through forward', () => {
    const s = store(4, [8, 4, 8, 4, 8]);
    const batch = randomBatch(30, 11);
    const user = s.columns('user');
    const item = s.columns('item');
    const wUser = randomArray(30 * user.width, 5);
    const wItem = randomArray(30 * item.width, 6);
    const loss = (): number => {
      const output = s.forward(batch);
      let sum = 0;
      for (let i = 0; i < output.user.length; i++) sum += wUser[i] * output.user[i];
      for (let i = 0; i < output.item.length; i++) sum += wItem[i] * output.item[i];
      return sum;
    };
    s.forward(batch);
    s.backward(batch, wUser, wItem);
    const h = 1e-2;
    let checked = 0;
    for (let t = 0; t < s.spec.tables.length; t++) {
      const gradient = pendingDense(s, t).dense;
      const weights = s.weights(t);
      const table = s.spec.tables[t];
      for (const row of [0, 2, table.rows - 1]) {
        for (const d of [0, 3, 5]) {
          const i = row * table.dim + d;
          const saved = weights[i];
          weights[i] = saved + h;
          const up = loss();
          weights[i] = saved - h;
          const down = loss();
          weights[i] = saved;
          const numeric = (up - down) / (2 * h);
          expect(Math.abs(numeric - gradient[i])).toBeLessThan(2e-3 * (1 + Math.abs(gradient[i])));
          checked++;
        }
      }
    }
    expect(checked).toBe(45);
  });

  it('with shrunk active dims, only the active dims get gradients and updates', () => {
    const s = store(2, [4, 8, 8, 0, 4]);
    const before = s.spec.tables.map((_, t) => s.weights(t).slice());
    const batch = randomBatch(25, 3);
    const output = s.forward(batch);
    s.backward(batch, randomArray(output.user.length, 1), randomArray(output.item.length, 2));
    expect(() => s.setActiveDims([8, 8, 8, 8, 8])).toThrow(/waiting/);
    s.update();
    for (const [t, active] of [0, 4].map((t) => [t, 4] as const)) {
      const after = s.weights(t);
      for (let row = 0; row < s.spec.tables[t].rows; row++)
        for (let d = active; d < 8; d++) expect(after[row * 8 + d]).toBe(before[t][row * 8 + d]);
    }
    expect(s.weights(3)).toEqual(before[3]);
    expect(s.weights(1)).not.toEqual(before[1]);
    expect(() => s.backward(batch, new Float32Array(3), new Float32Array(3))).toThrow(/gradUser/);
  });
});

describe('embedding memory', () => {
  it('counts bytes per table, per block and per selection exactly for fp32, fp16 and int8', () => {
    const s = spec();
    // Rows per table: 7, 7, 5, 6, 9 = 34; dim 8.
    expect(selectionMemory(s, [8, 8, 8, 8, 8], 'fp32').totalBytes).toBe(34 * 8 * 4);
    expect(selectionMemory(s, [8, 8, 8, 8, 8], 'fp16').totalBytes).toBe(34 * 8 * 2);
    expect(selectionMemory(s, [8, 8, 8, 8, 8], 'int8').totalBytes).toBe(34 * 8 + 34 * 4);
    const selection = [4, 8, 0, 4, 8];
    expect(selectionMemory(s, selection, 'fp32')).toEqual({
      dtype: 'fp32',
      totalBytes: 720,
      tableBytes: [112, 224, 0, 96, 288],
    });
    expect(selectionMemory(s, selection, 'fp16').tableBytes).toEqual([56, 112, 0, 48, 144]);
    expect(selectionMemory(s, selection, 'fp16').totalBytes).toBe(360);
    expect(selectionMemory(s, selection, 'int8').tableBytes).toEqual([56, 84, 0, 48, 108]);
    expect(selectionMemory(s, selection, 'int8').totalBytes).toBe(296);
    expect(tableMemory(s.tables[0], 'int8')).toEqual({
      table: 'item_meta',
      rows: 7,
      dtype: 'int8',
      fullBytes: 84,
      blockBytes: 28,
      rowOverheadBytes: 28,
    });
    expect(tableMemory(s.tables[4], 'fp16')).toMatchObject({
      fullBytes: 144,
      blockBytes: 72,
      rowOverheadBytes: 0,
    });
    expect(embeddingBytes(10, 0, 'int8')).toBe(0);
    expect(DTYPE_COST.int8).toEqual({ bytesPerWeight: 1, bytesPerRow: 4 });
    // k blocks cost k × blockBytes + rowOverheadBytes, for every table and dtype.
    for (const dtype of ['fp32', 'fp16', 'int8'] as const)
      for (const table of s.tables) {
        const cost = tableMemory(table, dtype);
        for (let k = 1; k <= table.numBlocks; k++)
          expect(embeddingBytes(table.rows, k * table.blockSize, dtype)).toBe(
            k * cost.blockBytes + cost.rowOverheadBytes,
          );
      }
  });

  it('reports the store selection memory and training bytes', () => {
    const s = new EmbeddingStore({
      spec: spec(),
      optimizer: { kind: 'adam', learningRate: 0.01 },
      seed: 0,
      activeDims: [4, 8, 0, 4, 8],
    });
    expect(s.memory('int8').totalBytes).toBe(296);
    const bytes = s.bytes();
    expect(bytes.weights).toBe(34 * 8 * 4);
    expect(bytes.optimizer).toBe(2 * 34 * 8 * 4 + 34 * 4);
  });
});

describe('embedding init and state', () => {
  it('is deterministic for a seed, per table, and within the scale', () => {
    const a = store(5);
    const b = store(5);
    const c = store(6);
    for (let t = 0; t < a.spec.tables.length; t++) {
      expect(a.weights(t)).toEqual(b.weights(t));
      expect(a.weights(t)).not.toEqual(c.weights(t));
      for (const value of a.weights(t)) expect(Math.abs(value)).toBeLessThanOrEqual(1 / Math.sqrt(8));
    }
    // A table's init does not depend on the other groups.
    const alone = configFrom(
      CONFIG.replace(/ {2}- \{ name: u_tags.*\n/, '').replace(/ {2}- \{ name: u_hist.*\n/, ''),
    );
    const sizes = new Map(SIZES);
    const other = new EmbeddingStore({
      spec: embeddingSpec(resolveFeatureLayout(alone), sizes, 8, 4),
      optimizer: { kind: 'sgd', learningRate: 0.1 },
      seed: 5,
    });
    expect(other.spec.tables.map((t) => t.name)).toEqual(['item_meta', 'u_id', 'i_id']);
    expect(other.weights(2)).toEqual(a.weights(4));
    const normal = new EmbeddingStore({
      spec: spec(),
      optimizer: { kind: 'sgd', learningRate: 0.1 },
      seed: 5,
      init: { distribution: 'normal', scale: 0.5 },
    });
    expect(normal.weights(0)).not.toEqual(a.weights(0));
  });

  it('builds from a run config', () => {
    const config = configFrom(CONFIG);
    const s = embeddingStoreFromConfig(config, resolveFeatureLayout(config), SIZES);
    expect(s.optimizer).toMatchObject({ kind: 'sgd', learningRate: 0.1, weightDecay: 0 });
    expect(s.weights(1)).toEqual(store(7).weights(1));
  });

  it('restores weights, optimizer state and steps from state()', () => {
    for (const kind of ['adam', 'adagrad'] as const) {
      const make = (seed: number) =>
        new EmbeddingStore({
          spec: spec(),
          optimizer: { kind, learningRate: 0.05, weightDecay: 0.01 },
          seed,
        });
      const a = make(1);
      const train = (s: EmbeddingStore, seed: number) => {
        const batch = randomBatch(20, seed);
        const output = s.forward(batch);
        s.backward(batch, randomArray(output.user.length, seed), randomArray(output.item.length, seed + 1));
        s.update();
      };
      train(a, 1);
      a.setActiveDims([8, 4, 8, 8, 4]);
      train(a, 2);
      const b = make(2);
      b.setState(a.state().map((entry) => ({ ...entry, data: entry.data.slice() })));
      expect(b.activeDims).toEqual(a.activeDims);
      train(a, 3);
      train(b, 3);
      expect(b.state()).toEqual(a.state());
      expect(a.state().map((entry) => entry.name)).toContain(
        kind === 'adam' ? 'u_id/adam_row_steps' : 'u_id/adagrad_accumulator',
      );
      expect(() => b.setState(a.state().slice(1))).toThrow(/arrays/);
    }
  });
});
