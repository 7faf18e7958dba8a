import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelConfig, TrainConfig } from '../src/config/schema.js';
import { selectBackend, type BackendName } from '../src/model/backend.js';
import { tfjsEngine } from '../src/model/tfjs/engine.js';
import { TwoTowerModel, twoTowerOptions, type Batch, type TwoTowerOptions } from '../src/model/two-tower.js';
import { LemoptError } from '../src/util/errors.js';
import { Random } from '../src/util/random.js';
import { randomBatch } from './support/dense-batch.js';

/** 4 candidates: user columns in 0 and 1 (one always on), item columns in 2 and 3. */
const SMALL: TwoTowerOptions = {
  userColumnCandidate: Int32Array.from([0, 0, 1, 1, -1, 1]),
  itemColumnCandidate: Int32Array.from([2, 2, 3, 3, 3]),
  numCandidates: 4,
  userTower: [5, 3],
  itemTower: [4, 3],
  activation: 'tanh',
  seed: 3,
};

/** Central differences of the loss in each value of `values` (changed in place and restored). */
function finiteDifferences(loss: () => number, values: Float32Array, step: number): Float64Array {
  const result = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const saved = values[i];
    values[i] = saved + step;
    const up = loss();
    values[i] = saved - step;
    const down = loss();
    values[i] = saved;
    result[i] = (up - down) / (2 * step);
  }
  return result;
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) - rtol * Math.abs(expected[i]));
  }
  expect(worst).toBeLessThanOrEqual(atol);
}

/** One-hot ids: user u and item i, each in `ids` columns (one candidate per tower). */
function oneHotBatch(users: Int32Array, items: Int32Array, ids: number, labels?: Float32Array): Batch {
  const size = users.length;
  const user = new Float32Array(size * ids);
  const item = new Float32Array(size * ids);
  for (let r = 0; r < size; r++) {
    user[r * ids + users[r]] = 1;
    item[r * ids + items[r]] = 1;
  }
  return { size, user, item, labels };
}

function oneHotOptions(ids: number, extra: Partial<TwoTowerOptions>): TwoTowerOptions {
  return {
    userColumnCandidate: new Int32Array(ids).fill(0),
    itemColumnCandidate: new Int32Array(ids).fill(1),
    numCandidates: 2,
    userTower: [32, 16],
    itemTower: [32, 16],
    learningRate: 0.01,
    seed: 5,
    ...extra,
  };
}

/** Share of rows whose predicted probability is on the label's side of 0.5. */
function binaryAccuracy(model: TwoTowerModel, batch: Batch): number {
  const probabilities = model.predict(batch);
  return probabilities.filter((p, r) => (p > 0.5 ? 1 : 0) === batch.labels![r]).length / batch.size;
}

describe.each(['onnxruntime', 'wasm', 'cpu'] as BackendName[])('two-tower model on %s', (backend) => {
  const tfjs = backend !== 'onnxruntime';
  beforeAll(async () => {
    await selectBackend({ flag: backend });
    if (tfjs) expect(tf.getBackend()).toBe(backend);
  });

  const gradientCases: [string, Partial<TwoTowerOptions>][] = [
    ['binary, dot', {}],
    ['binary, cosine, layer norm', { score: 'cosine', temperature: 0.5, normalization: 'layer' }],
    ['sampled softmax, dot, batch norm', { objective: 'sampled_softmax', normalization: 'batch' }],
    [
      'sampled softmax, cosine, gelu',
      { objective: 'sampled_softmax', score: 'cosine', temperature: 0.5, activation: 'gelu' },
    ],
  ];

  // tfjs: both ways of taking matrix-product gradients (ops.ts).
  const withKernels = gradientCases.flatMap(([name, extra]) =>
    (tfjs ? [true, false] : [undefined]).map(
      (explicitTranspose) =>
        [
          explicitTranspose === undefined
            ? name
            : `${name}, ${explicitTranspose ? 'explicit' : 'stock'} gradients`,
          explicitTranspose === undefined
            ? extra
            : { ...extra, engine: tfjsEngine({ name: backend, explicitTranspose }) },
        ] as const,
    ),
  );

  it.each(withKernels)('input and logit gradients match finite differences (%s)', (_, extra) => {
    const options = { ...SMALL, ...extra };
    const model = new TwoTowerModel(options);
    try {
      model.gateMode = 'attention';
      model.selected = [0, 1, 0, 0];
      const batch = randomBatch(options, 4, 11);
      const { userGrad, itemGrad, variables, loss } = model.gradients(batch);
      expect(loss).toBeCloseTo(model.loss(batch), 5);
      const lossOf = () => model.loss(batch);
      expectClose(userGrad, finiteDifferences(lossOf, batch.user as Float32Array, 1e-2), 5e-4, 0.03);
      expectClose(itemGrad, finiteDifferences(lossOf, batch.item as Float32Array, 1e-2), 5e-4, 0.03);

      // The logits: through setWeights, since they are a variable.
      const weights = model.getWeights();
      const logits = weights.find((w) => w.name === 'gates/logits')!;
      const logitLoss = () => {
        model.setWeights(weights);
        return model.loss(batch);
      };
      const expected = finiteDifferences(logitLoss, logits.values, 1e-2);
      const actual = variables.get('gates/logits')!;
      expectClose(actual, expected, 5e-4, 0.03);
      expect(Math.abs(actual[1])).toBe(0); // selected: its gate is 1 whatever its logit
      expect(Math.max(...[0, 2, 3].map((c) => Math.abs(actual[c])))).toBeGreaterThan(1e-5);
    } finally {
      model.dispose();
    }
  });

  it('the losses equal their definitions computed from predicted scores', () => {
    const size = 5;
    for (const objective of ['binary', 'sampled_softmax'] as const) {
      const options = { ...SMALL, objective };
      const model = new TwoTowerModel(options);
      try {
        model.gateMode = 'attention';
        const batch = randomBatch(options, size, 8);
        const du = SMALL.userColumnCandidate.length;
        const di = SMALL.itemColumnCandidate.length;
        if (objective === 'binary') {
          const p = model.predict(batch);
          const expected =
            -p.reduce((sum, pi, i) => sum + Math.log(batch.labels![i] ? pi : 1 - pi), 0) / size;
          expect(model.loss(batch)).toBeCloseTo(expected, 5);
          continue;
        }
        // Every user row against every item row: s_ij, then the log-Q corrected softmax.
        const pairs: Batch = {
          size: size * size,
          user: new Float32Array(size * size * du),
          item: new Float32Array(size * size * di),
        };
        for (let i = 0; i < size; i++) {
          for (let j = 0; j < size; j++) {
            pairs.user.set(batch.user.subarray(i * du, (i + 1) * du), (i * size + j) * du);
            pairs.item.set(batch.item.subarray(j * di, (j + 1) * di), (i * size + j) * di);
          }
        }
        const s = model.predict(pairs);
        const q = batch.itemFrequency!;
        const rows = Array.from({ length: size }, (_, i) => {
          const logits = Array.from({ length: size }, (_, j) => s[i * size + j] - Math.log(q[j]));
          const max = Math.max(...logits);
          return max + Math.log(logits.reduce((sum, l) => sum + Math.exp(l - max), 0)) - logits[i];
        });
        expect(model.loss({ ...batch, labels: undefined })).toBeCloseTo(
          rows.reduce((a, b) => a + b) / size,
          5,
        );
        // Labels weight the rows: with labels 0 1 0 1 0 only rows 1 and 3 add loss terms.
        expect(Array.from(batch.labels!)).toEqual([0, 1, 0, 1, 0]);
        expect(model.loss(batch)).toBeCloseTo((rows[1] + rows[3]) / 2, 5);
        // A constant factor on the frequencies cancels.
        const uniform = { ...batch, labels: undefined, itemFrequency: new Float32Array(size).fill(0.3) };
        const none = { ...batch, labels: undefined, itemFrequency: undefined };
        expect(model.loss(uniform)).toBeCloseTo(model.loss(none), 5);
      } finally {
        model.dispose();
      }
    }
  });

  it("in mode 'ones' the output does not depend on the logits, which get no gradient", () => {
    const model = new TwoTowerModel(SMALL);
    try {
      const batch = randomBatch(SMALL, 6, 2);
      expect(model.gateMode).toBe('ones');
      const before = model.predict(batch);
      const weights = model
        .getWeights()
        .map((w) => (w.name === 'gates/logits' ? { ...w, values: Float32Array.from([3, -2, 5, 1]) } : w));
      model.setWeights(weights);
      expect(model.predict(batch)).toEqual(before);
      expect(Array.from(model.gateValues())).toEqual([1, 1, 1, 1]);
      expect(model.gradients(batch).variables.has('gates/logits')).toBe(false);
      model.gateMode = 'attention';
      expect(model.predict(batch)).not.toEqual(before);
    } finally {
      model.dispose();
    }
  });

  it("in mode 'attention' selected gates are 1 and the others a softmax summing to 1 (or |U|)", () => {
    for (const maskScale of [false, true]) {
      const model = new TwoTowerModel({ ...SMALL, maskScale });
      try {
        model.gateMode = 'attention';
        const weights = model
          .getWeights()
          .map((w) =>
            w.name === 'gates/logits' ? { ...w, values: Float32Array.from([0.5, 2, -1, 0.25]) } : w,
          );
        model.setWeights(weights);
        model.selected = [false, true, false, false];
        const gates = model.gateValues();
        expect(gates[1]).toBe(1);
        const unselected = [gates[0], gates[2], gates[3]];
        expect(unselected.reduce((a, b) => a + b)).toBeCloseTo(maskScale ? 3 : 1, 6);
        const z = Math.exp(0.5) + Math.exp(-1) + Math.exp(0.25);
        expect(gates[0]).toBeCloseTo(((maskScale ? 3 : 1) * Math.exp(0.5)) / z, 6);
        model.selected = [1, 1, 1, 1];
        expect(Array.from(model.gateValues())).toEqual([1, 1, 1, 1]);
      } finally {
        model.dispose();
      }
    }
  });

  it('a training step moves the logits; a reset draws fresh tiny ones', () => {
    const model = new TwoTowerModel(SMALL);
    try {
      model.gateMode = 'attention';
      const initial = model.gateLogits();
      expect(Math.max(...initial.map(Math.abs))).toBeLessThan(1e-4);
      const batch = randomBatch(SMALL, 8, 4);
      for (let i = 0; i < 5; i++) model.step(batch, { learningRate: 0.05 });
      const trained = model.gateLogits();
      expect(Math.max(...trained.map((v, c) => Math.abs(v - initial[c])))).toBeGreaterThan(1e-2);
      model.resetGateLogits();
      const reset = model.gateLogits();
      expect(Math.max(...reset.map(Math.abs))).toBeLessThan(1e-4);
      expect(reset).not.toEqual(initial);
      expect(model.getOptimizerState().steps['gates/logits']).toBe(0);
      expect(model.getOptimizerState().steps['user/dense_0/kernel']).toBe(5);
    } finally {
      model.dispose();
    }
  });

  it('a step can update the gate logits alone or everything but them (selection.gate_data: valid)', () => {
    const model = new TwoTowerModel(SMALL);
    try {
      model.gateMode = 'attention';
      const batch = randomBatch(SMALL, 8, 4);
      const kernel = () =>
        model
          .getWeights()
          .find((w) => w.name === 'user/dense_0/kernel')!
          .values.slice();
      const logits = model.gateLogits();
      const weights = kernel();
      for (let i = 0; i < 3; i++) model.step(batch, { learningRate: 0.05, update: 'weights' });
      expect(model.gateLogits()).toEqual(logits);
      expect(kernel()).not.toEqual(weights);
      const trained = kernel();
      for (let i = 0; i < 3; i++) model.step(batch, { learningRate: 0.05, update: 'gates' });
      expect(kernel()).toEqual(trained);
      expect(model.gateLogits()).not.toEqual(logits);
      expect(model.getOptimizerState().steps['gates/logits']).toBe(3);
      expect(model.getOptimizerState().steps['user/dense_0/kernel']).toBe(3);
    } finally {
      model.dispose();
    }
  });

  it('learns a matching problem with the binary objective', () => {
    const ids = 8;
    const model = new TwoTowerModel(oneHotOptions(ids, { objective: 'binary' }));
    const random = new Random(1, 'binary');
    const draw = (size: number): Batch => {
      const users = Int32Array.from({ length: size }, () => random.integer(ids));
      const match = Float32Array.from({ length: size }, () => (random.next() < 0.5 ? 1 : 0));
      const items = users.map((u, r) => (match[r] ? u : (u + 1 + random.integer(ids - 1)) % ids));
      return oneHotBatch(users, items, ids, match);
    };
    try {
      const first = model.step(draw(64)).loss;
      for (let i = 0; i < 300; i++) model.step(draw(64));
      const test = draw(512);
      expect(binaryAccuracy(model, test)).toBeGreaterThan(0.97);
      expect(model.loss(test)).toBeLessThan(first / 5);
    } finally {
      model.dispose();
    }
  });

  it('a tower with no input (every item group dropped) is its biases and still learns from the other', () => {
    const ids = 8;
    const model = new TwoTowerModel(
      oneHotOptions(ids, { objective: 'binary', itemColumnCandidate: new Int32Array(0) }),
    );
    const random = new Random(2, 'empty-tower');
    const draw = (size: number): Batch => {
      const users = Int32Array.from({ length: size }, () => random.integer(ids));
      const batch = oneHotBatch(
        users,
        new Int32Array(size),
        ids,
        Float32Array.from(users, (u) => (u < ids / 2 ? 1 : 0)),
      );
      return { ...batch, item: new Float32Array(0) };
    };
    try {
      const first = model.step(draw(64)).loss;
      expect(first).toBeCloseTo(Math.LN2, 1);
      for (let i = 0; i < 200; i++) expect(Number.isFinite(model.step(draw(64)).loss)).toBe(true);
      const test = draw(256);
      expect(binaryAccuracy(model, test)).toBe(1);
      expect(model.loss(test)).toBeLessThan(first / 5);
    } finally {
      model.dispose();
    }
  });

  it('learns to retrieve with sampled softmax (in-batch negatives, log-Q)', () => {
    const ids = 32;
    const model = new TwoTowerModel(
      oneHotOptions(ids, { objective: 'sampled_softmax', score: 'cosine', temperature: 0.1 }),
    );
    const random = new Random(2, 'softmax');
    try {
      let first = 0;
      for (let i = 0; i < 300; i++) {
        const users = Int32Array.from({ length: 32 }, () => random.integer(ids));
        const batch = {
          ...oneHotBatch(users, users, ids),
          itemFrequency: new Float32Array(32).fill(1 / ids),
        };
        const { loss } = model.step(batch);
        if (i === 0) first = loss;
      }
      // Every user against every item: the matching item must score highest.
      const users = Int32Array.from({ length: ids * ids }, (_, k) => Math.floor(k / ids));
      const items = Int32Array.from({ length: ids * ids }, (_, k) => k % ids);
      const scores = model.predict(oneHotBatch(users, items, ids));
      let hits = 0;
      for (let u = 0; u < ids; u++) {
        const row = scores.subarray(u * ids, (u + 1) * ids);
        if (row.indexOf(Math.max(...row)) === u) hits++;
      }
      expect(hits / ids).toBeGreaterThan(0.9);
      const batch = { ...oneHotBatch(items.subarray(0, ids), items.subarray(0, ids), ids) };
      expect(model.loss(batch)).toBeLessThan(first / 2);
    } finally {
      model.dispose();
    }
  });

  it('the same seed gives the same weights and the same training run', () => {
    const options = { ...SMALL, normalization: 'batch' as const, objective: 'sampled_softmax' as const };
    const [a, b, c] = [options, options, { ...options, seed: 4 }].map((o) => new TwoTowerModel(o));
    try {
      expect(a.getWeights()).toEqual(b.getWeights());
      expect(a.getWeights()).not.toEqual(c.getWeights());
      for (const model of [a, b]) {
        model.gateMode = 'attention';
        for (let i = 0; i < 5; i++) model.step(randomBatch(options, 8, i));
      }
      expect(a.getWeights()).toEqual(b.getWeights());
      expect(a.getOptimizerState()).toEqual(b.getOptimizerState());
    } finally {
      for (const model of [a, b, c]) model.dispose();
    }
  });

  it('weights and optimizer state round-trip through typed arrays', () => {
    const options = { ...SMALL, normalization: 'batch' as const };
    const a = new TwoTowerModel(options);
    const b = new TwoTowerModel({ ...options, seed: 9 });
    try {
      const batch = randomBatch(options, 8, 1);
      for (let i = 0; i < 3; i++) a.step(batch);
      b.setWeights(a.getWeights());
      b.setOptimizerState(a.getOptimizerState());
      expect(b.predict(batch)).toEqual(a.predict(batch));
      a.step(batch);
      b.step(batch);
      expect(b.getWeights()).toEqual(a.getWeights());
      const names = a.getWeights().map((w) => w.name);
      expect(names).toContain('user/norm_0/moving_mean');
      const wrong = a.getWeights().map((w) => (w.name === 'item/dense_1/bias' ? { ...w, shape: [4] } : w));
      expect(() => b.setWeights(wrong)).toThrow("weight 'item/dense_1/bias' has shape [4], expected [3]");
      expect(() => b.setWeights(a.getWeights().slice(1))).toThrow("no weight 'gates/logits'");
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it.runIf(tfjs)('leaks no tensors over 1000 steps', () => {
    const before = tf.memory().numTensors;
    const options = { ...SMALL, normalization: 'batch' as const, objective: 'sampled_softmax' as const };
    const model = new TwoTowerModel(options);
    const batch = randomBatch(options, 16, 3);
    model.gateMode = 'attention';
    let after10 = 0;
    for (let i = 1; i <= 1000; i++) {
      model.step(batch, { learningRate: 0.001 });
      if (i % 100 === 0) {
        model.selected = [i % 200 === 0 ? 1 : 0, 0, 1, 0];
        model.resetGateLogits();
        model.predict(batch);
        model.gradients(batch);
        model.loss(batch);
        model.gateValues();
      }
      if (i === 10) after10 = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(after10);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a malformed batch (and leaks no tensors on tfjs)', () => {
    const model = new TwoTowerModel(SMALL);
    try {
      const batch = randomBatch(SMALL, 4, 1);
      model.step(batch);
      const count = tfjs ? tf.memory().numTensors : 0;
      expect(() => model.step({ ...batch, labels: undefined })).toThrow('the binary objective needs labels');
      expect(() => model.step({ ...batch, user: batch.user.subarray(1) })).toThrow(
        'user input has 23 values, expected 4 x 6',
      );
      expect(() => model.predict({ ...batch, size: 3 })).toThrow('user input has 24 values, expected 3 x 6');
      if (tfjs) expect(tf.memory().numTensors).toBe(count);
    } finally {
      model.dispose();
    }
    expect(() => model.predict(randomBatch(SMALL, 4, 1))).toThrow('this model was disposed');
  });
});

describe('two-tower model options', () => {
  beforeAll(() => selectBackend({ flag: 'cpu' }));

  it('towers must end in the same size', () => {
    expect(() => new TwoTowerModel({ ...SMALL, itemTower: [4, 2] })).toThrow(LemoptError);
    expect(() => new TwoTowerModel({ ...SMALL, itemTower: [4, 2] })).toThrow(
      'model.user_tower ends in 3 units and model.item_tower in 2',
    );
  });

  it('takes its settings from the run config', () => {
    const model: ModelConfig = {
      embedding_dim: 16,
      user_tower: [64, 32],
      item_tower: [48, 32],
      activation: 'gelu',
      normalization: 'layer',
      score: 'cosine',
      temperature: 0.07,
      objective: 'sampled_softmax',
      backend: 'auto',
    };
    const train = { learning_rate: 0.01, optimizer: 'sgd', seed: 12 } as TrainConfig;
    const layout = {
      userColumnCandidate: new Int32Array(4),
      itemColumnCandidate: new Int32Array(4).fill(1),
      numCandidates: 2,
    };
    expect(twoTowerOptions(model, train, layout)).toMatchObject({
      userTower: [64, 32],
      itemTower: [48, 32],
      activation: 'gelu',
      normalization: 'layer',
      score: 'cosine',
      temperature: 0.07,
      objective: 'sampled_softmax',
      optimizer: 'sgd',
      learningRate: 0.01,
      seed: 12,
      numCandidates: 2,
    });
  });
});
