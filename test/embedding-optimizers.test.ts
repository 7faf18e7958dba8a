import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/data/batcher.js';
import { resolveFeatureLayout } from '../src/data/features.js';
import { embeddingSpec } from '../src/embedding/layout.js';
import { optimizerFromTrainConfig, type SparseOptimizerConfig } from '../src/embedding/optimizers.js';
import { EmbeddingStore } from '../src/embedding/store.js';
import { Random } from '../src/util/random.js';
import { configFrom } from './support/features.js';

/** Two single-valued features, one table each: u (user, 6 rows) and i (item, 5 rows); dim 4, block 2. */
const CONFIG = `
data: { source: x.csv, label: { column: y } }
features:
  - { name: u, tower: user }
  - { name: i, tower: item }
`;
const DIM = 4;
const SIZES = new Map([
  ['u', 6],
  ['i', 5],
]);

function makeStore(optimizer: SparseOptimizerConfig, activeDims?: number[]): EmbeddingStore {
  const spec = embeddingSpec(resolveFeatureLayout(configFrom(CONFIG)), SIZES, DIM, 2);
  return new EmbeddingStore({ spec, optimizer, seed: 3, ...(activeDims ? { activeDims } : {}) });
}

interface StepGradient {
  /** Per table: summed gradient rows × DIM (zeros outside the active dims) and rows touched. */
  readonly dense: Float64Array[];
  readonly touched: Set<number>[];
}

/**
 * Runs forward + backward for a batch with the given ids and random output gradients,
 * and returns the naive dense gradient of each table.
 */
function backwardStep(
  store: EmbeddingStore,
  userIds: number[],
  itemIds: number[],
  seed: number,
): StepGradient {
  const numRows = userIds.length;
  const batch: Batch = {
    numRows,
    features: [{ ids: Int32Array.from(userIds) }, { ids: Int32Array.from(itemIds) }],
    labels: new Float32Array(numRows),
  };
  const output = store.forward(batch);
  const random = new Random(seed, 'optimizer-test');
  const gradUser = output.user.map(() => random.uniform(-1, 1));
  const gradItem = output.item.map(() => random.uniform(-1, 1));
  store.backward(batch, gradUser, gradItem);
  const active = store.activeDims;
  const dense: Float64Array[] = [];
  const touched: Set<number>[] = [];
  [
    [userIds, gradUser],
    [itemIds, gradItem],
  ].forEach(([ids, grad], t) => {
    const dims = active[t];
    const gradient = new Float64Array(SIZES.get(t === 0 ? 'u' : 'i')! * DIM);
    const rows = new Set<number>();
    (ids as number[]).forEach((id, r) => {
      rows.add(id);
      for (let d = 0; d < dims; d++) gradient[id * DIM + d] += (grad as Float32Array)[r * dims + d];
    });
    dense.push(gradient);
    touched.push(rows);
  });
  return { dense, touched };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++)
    if (Math.abs(actual[i] - expected[i]) > tolerance * (1 + Math.abs(expected[i])))
      expect.fail(`index ${i}: ${actual[i]} vs ${expected[i]}`);
}

const weightsOf = (store: EmbeddingStore): Float32Array[] => [
  store.weights(0).slice(),
  store.weights(1).slice(),
];

/** Naive dense Adam on a vector, with torch.optim.SparseAdam's eps placement. */
function denseAdam(
  w: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: ArrayLike<number>,
  t: number,
  lr: number,
  wd: number,
  b1 = 0.9,
  b2 = 0.999,
  eps = 1e-8,
): void {
  const stepSize = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
  for (let i = 0; i < w.length; i++) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    w[i] = (1 - lr * wd) * w[i] - (stepSize * m[i]) / (Math.sqrt(v[i]) + eps);
  }
}

/** Ids per step: different rows each step; u row 5 and i row 4 are never touched. */
const USER_STEPS = [
  [0, 1, 1, 2],
  [2, 3],
  [0, 0, 4],
  [1, 3, 3],
  [0, 2],
];
const ITEM_STEPS = [
  [0, 0, 1, 2],
  [3, 1],
  [2, 2, 2],
  [0, 3, 1],
  [1, 0],
];
const RATES = [0.05, 0.04, 0.03, 0.05, 0.02];

describe('sparse SGD', () => {
  it('equals a dense SGD step when weight decay is 0', () => {
    const store = makeStore({ kind: 'sgd', learningRate: 0.1 });
    const before = weightsOf(store);
    const { dense } = backwardStep(store, [0, 1, 1, 4, 1], [2, 2, 0, 4, 2], 1);
    store.update();
    for (let t = 0; t < 2; t++)
      expectClose(
        store.weights(t),
        before[t].map((w, i) => w - 0.1 * dense[t][i]),
      );
  });

  it('decays only the touched rows (decoupled weight decay)', () => {
    const store = makeStore({ kind: 'sgd', learningRate: 0.1, weightDecay: 0.5 });
    const before = weightsOf(store);
    const { dense, touched } = backwardStep(store, [0, 1, 1, 4, 1], [2, 2, 0, 4, 2], 1);
    store.update(0.2);
    for (let t = 0; t < 2; t++) {
      const expected = before[t].map((w, i) =>
        touched[t].has(Math.floor(i / DIM)) ? (1 - 0.2 * 0.5) * w - 0.2 * dense[t][i] : w,
      );
      expectClose(store.weights(t), expected);
    }
    expect(store.weights(0)[3 * DIM]).toBe(before[0][3 * DIM]);
  });
});

describe('row-wise Adagrad', () => {
  it('equals a naive row-wise Adagrad (mean of squares over the active dims) with weight decay', () => {
    const wd = 0.01;
    const eps = 1e-8;
    const store = makeStore({ kind: 'adagrad', learningRate: 0.1, weightDecay: wd }, [2, 4]);
    const weights = weightsOf(store);
    const accumulators = [new Float32Array(6), new Float32Array(5)];
    const dims = [2, 4];
    USER_STEPS.forEach((userIds, k) => {
      const { dense, touched } = backwardStep(store, userIds, ITEM_STEPS[k], k);
      const lr = RATES[k];
      store.update(lr);
      for (let t = 0; t < 2; t++) {
        for (const row of touched[t]) {
          let sum = 0;
          for (let d = 0; d < dims[t]; d++) sum += dense[t][row * DIM + d] ** 2;
          accumulators[t][row] += sum / dims[t];
          const multiplier = lr / (Math.sqrt(accumulators[t][row]) + eps);
          for (let d = 0; d < dims[t]; d++) {
            const i = row * DIM + d;
            weights[t][i] = (1 - lr * wd) * weights[t][i] - multiplier * dense[t][i];
          }
        }
        expectClose(store.weights(t), weights[t]);
        expectClose(store.slots(t).accumulator, accumulators[t]);
      }
    });
    // Dims beyond the active ones and untouched rows never move.
    expect(store.weights(0)[5 * DIM]).toBe(
      weightsOf(makeStore({ kind: 'sgd', learningRate: 1 }))[0][5 * DIM],
    );
    expect(store.slots(0).accumulator[5]).toBe(0);
  });

  it('reads its settings from the train config', () => {
    expect(
      optimizerFromTrainConfig({
        embedding_optimizer: 'adagrad',
        embedding_learning_rate: 0.05,
        weight_decay: 0.1,
      }),
    ).toEqual({ kind: 'adagrad', learningRate: 0.05, weightDecay: 0.1 });
  });
});

describe('lazy Adam', () => {
  for (const adamStep of ['row', 'global'] as const) {
    it(`equals dense Adam when every row is touched every step (adamStep ${adamStep})`, () => {
      const store = makeStore({ kind: 'adam', learningRate: 0.05, weightDecay: 0.01, adamStep });
      const weights = weightsOf(store);
      const moments = weights.map((w) => [new Float32Array(w.length), new Float32Array(w.length)]);
      for (let k = 0; k < 6; k++) {
        const { dense } = backwardStep(store, [5, 0, 1, 2, 3, 4, 0, 3], [4, 3, 2, 1, 0, 1, 1, 2], 10 + k);
        const lr = RATES[k % RATES.length];
        store.update(lr);
        for (let t = 0; t < 2; t++) {
          denseAdam(weights[t], moments[t][0], moments[t][1], dense[t], k + 1, lr, 0.01);
          expectClose(store.weights(t), weights[t]);
          expectClose(store.slots(t).m, moments[t][0]);
          expectClose(store.slots(t).v, moments[t][1]);
        }
      }
    });
  }

  it('adamStep row: each row follows dense Adam on the gradients it received; untouched rows stay', () => {
    const wd = 0.02;
    const store = makeStore({ kind: 'adam', learningRate: 0.05, weightDecay: wd, adamStep: 'row' });
    const initial = weightsOf(store);
    // Per table and row: the (gradient, learning rate) pairs of the steps that touched it.
    const received = initial.map((w) =>
      Array.from({ length: w.length / DIM }, () => [] as [number[], number][]),
    );
    USER_STEPS.forEach((userIds, k) => {
      const before = weightsOf(store);
      const { dense, touched } = backwardStep(store, userIds, ITEM_STEPS[k], 20 + k);
      store.update(RATES[k]);
      for (let t = 0; t < 2; t++) {
        for (const row of touched[t])
          received[t][row].push([Array.from(dense[t].subarray(row * DIM, (row + 1) * DIM)), RATES[k]]);
        for (let row = 0; row < received[t].length; row++)
          if (!touched[t].has(row))
            expect(store.weights(t).subarray(row * DIM, (row + 1) * DIM)).toEqual(
              before[t].subarray(row * DIM, (row + 1) * DIM),
            );
      }
    });
    for (let t = 0; t < 2; t++) {
      received[t].forEach((steps, row) => {
        const w = initial[t].slice(row * DIM, (row + 1) * DIM);
        const m = new Float32Array(DIM);
        const v = new Float32Array(DIM);
        steps.forEach(([gradient, lr], s) => denseAdam(w, m, v, gradient, s + 1, lr, wd));
        expectClose(store.weights(t).subarray(row * DIM, (row + 1) * DIM), w);
        expect(store.slots(t).rowSteps[row]).toBe(steps.length);
      });
    }
    // The rows no step touched are still at their initial values.
    expect(store.weights(0).subarray(5 * DIM, 6 * DIM)).toEqual(initial[0].subarray(5 * DIM, 6 * DIM));
    expect(store.weights(1).subarray(4 * DIM, 5 * DIM)).toEqual(initial[1].subarray(4 * DIM, 5 * DIM));
  });

  it('adamStep global: matches torch.optim.SparseAdam (bias correction by the table step)', () => {
    const store = makeStore({ kind: 'adam', learningRate: 0.05, adamStep: 'global' });
    const rowStore = makeStore({ kind: 'adam', learningRate: 0.05, adamStep: 'row' });
    const weights = weightsOf(store);
    const m = weights.map((w) => new Float32Array(w.length));
    const v = weights.map((w) => new Float32Array(w.length));
    USER_STEPS.forEach((userIds, k) => {
      const { dense, touched } = backwardStep(store, userIds, ITEM_STEPS[k], 30 + k);
      backwardStep(rowStore, userIds, ITEM_STEPS[k], 30 + k);
      store.update(RATES[k]);
      rowStore.update(RATES[k]);
      const t1 = k + 1;
      for (let t = 0; t < 2; t++) {
        // SparseAdam: exp_avg += (1-β1)(g - exp_avg) on the gradient's rows; step_size =
        // lr·√(1-β2^step)/(1-β1^step); p -= step_size · exp_avg / (√exp_avg_sq + eps).
        const stepSize = (RATES[k] * Math.sqrt(1 - 0.999 ** t1)) / (1 - 0.9 ** t1);
        for (const row of touched[t]) {
          for (let d = 0; d < DIM; d++) {
            const i = row * DIM + d;
            const g = dense[t][i];
            m[t][i] += (1 - 0.9) * (g - m[t][i]);
            v[t][i] += (1 - 0.999) * (g * g - v[t][i]);
            weights[t][i] -= (stepSize * m[t][i]) / (Math.sqrt(v[t][i]) + 1e-8);
          }
        }
        expectClose(store.weights(t), weights[t]);
        expect(store.slots(t).step).toBe(t1);
      }
    });
    // Rows skipped in some steps see a different bias correction than with adamStep row.
    expect(Array.from(store.weights(0))).not.toEqual(Array.from(rowStore.weights(0)));
  });
});
