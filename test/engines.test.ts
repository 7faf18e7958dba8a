/**
 * One set of maths, two engines: the same weights and batch through the tfjs reference
 * (cpu backend) and ONNX Runtime give the same loss, every gradient (parameters, gate
 * logits, both tower inputs), the same predictions and tower vectors, and the same
 * weights after training steps, for every option the config allows.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { DenseEngine } from '../src/model/engine.js';
import { ClassifierModel } from '../src/model/classifier.js';
import { selectBackend } from '../src/model/backend.js';
import { loadOnnxEngine } from '../src/model/onnx/engine.js';
import { tfjsEngine } from '../src/model/tfjs/engine.js';
import { TwoTowerModel, type TwoTowerOptions } from '../src/model/two-tower.js';
import { Random } from '../src/util/random.js';
import { randomBatch } from './support/dense-batch.js';

let onnx: DenseEngine;
let reference: DenseEngine;

beforeAll(async () => {
  await selectBackend({ flag: 'cpu' });
  reference = tfjsEngine({ explicitTranspose: false });
  onnx = loadOnnxEngine();
});

/** 5 candidates: user columns in 0, 1 (and one always on), item columns in 2, 3, 4. */
const BASE: TwoTowerOptions = {
  userColumnCandidate: Int32Array.from([0, 0, 1, 1, -1, 1, 0]),
  itemColumnCandidate: Int32Array.from([2, 2, 3, 3, 4, 4]),
  numCandidates: 5,
  userTower: [8, 6, 4],
  itemTower: [7, 4],
  seed: 3,
  learningRate: 0.01,
};

/** |a - b| <= atol + rtol |b| everywhere; the message names the worst entry. */
function expectClose(
  name: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol = 1e-5,
  rtol = 1e-3,
): void {
  expect(actual.length, `${name}: length`).toBe(expected.length);
  let worst = -Infinity;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - rtol * Math.abs(expected[i]);
    if (excess > worst) [worst, at] = [excess, i];
  }
  if (actual.length > 0)
    expect(worst, `${name}[${at}]: ${actual[at]} vs ${expected[at]}`).toBeLessThanOrEqual(atol);
}

type Case = [string, Partial<TwoTowerOptions>];

const ARCHITECTURES: Case[] = [
  ['binary, dot, relu', {}],
  ['binary, dot, tanh, layer norm', { activation: 'tanh', normalization: 'layer' }],
  [
    'binary, cosine, gelu, batch norm',
    { score: 'cosine', temperature: 0.2, activation: 'gelu', normalization: 'batch' },
  ],
  ['binary, dot, linear', { activation: 'linear' }],
  ['sampled softmax, dot, relu, batch norm', { objective: 'sampled_softmax', normalization: 'batch' }],
  [
    'sampled softmax, cosine, gelu, layer norm',
    {
      objective: 'sampled_softmax',
      score: 'cosine',
      temperature: 0.1,
      activation: 'gelu',
      normalization: 'layer',
    },
  ],
  [
    'sampled softmax, cosine, tanh',
    { objective: 'sampled_softmax', score: 'cosine', temperature: 0.5, activation: 'tanh' },
  ],
  ['binary, one layer per tower', { userTower: [4], itemTower: [4] }],
  [
    'binary, towers without layers',
    {
      userTower: [],
      itemTower: [],
      userColumnCandidate: Int32Array.from([0, 1, -1, 1]),
      itemColumnCandidate: Int32Array.from([2, 3, 4, 4]),
    },
  ],
  ['binary, empty item tower', { itemColumnCandidate: new Int32Array(0) }],
  [
    'sampled softmax, empty user tower',
    { objective: 'sampled_softmax', userColumnCandidate: new Int32Array(0) },
  ],
];

interface GateSetting {
  readonly name: string;
  readonly apply: (model: TwoTowerModel) => void;
  readonly maskScale?: boolean;
}

const GATES: GateSetting[] = [
  { name: "gates 'ones'", apply: (model) => (model.gateMode = 'ones') },
  {
    name: "gates 'attention', two selected",
    apply: (model) => {
      model.gateMode = 'attention';
      model.selected = [0, 1, 0, 1, 0];
    },
  },
  {
    name: "gates 'attention', mask_scale, none selected",
    apply: (model) => (model.gateMode = 'attention'),
    maskScale: true,
  },
];

/** Logits away from their tiny initial values, so the softmax's gradient is not trivial. */
function spreadLogits(model: TwoTowerModel): void {
  model.setWeights(
    model
      .getWeights()
      .map((w) =>
        w.name === 'gates/logits'
          ? { ...w, values: Float32Array.from(w.values, (_, c) => 0.3 * c - 0.5) }
          : w,
      ),
  );
}

function pair(options: TwoTowerOptions, gates: GateSetting): [TwoTowerModel, TwoTowerModel] {
  const models = [reference, onnx].map(
    (engine) => new TwoTowerModel({ ...options, maskScale: gates.maskScale, engine }),
  ) as [TwoTowerModel, TwoTowerModel];
  for (const model of models) {
    spreadLogits(model);
    gates.apply(model);
  }
  return models;
}

const cases = ARCHITECTURES.flatMap(([name, extra]) =>
  GATES.map((gates) => [`${name}, ${gates.name}`, extra, gates] as const),
);

describe('the ONNX Runtime engine computes what the tfjs reference does', () => {
  it.each(cases)('loss, gradients, predictions (%s)', (_, extra, gates) => {
    const options = { ...BASE, ...extra };
    const [tfjs, ort] = pair(options, gates);
    try {
      expect(ort.getWeights()).toEqual(tfjs.getWeights());
      const batch = randomBatch(options, 9, 5);
      const expected = tfjs.gradients(batch);
      const actual = ort.gradients(batch);
      expectClose('loss', [actual.loss], [expected.loss]);
      expectClose('user input gradient', actual.userGrad, expected.userGrad);
      expectClose('item input gradient', actual.itemGrad, expected.itemGrad);
      expect([...actual.variables.keys()].sort()).toEqual([...expected.variables.keys()].sort());
      for (const [name, gradient] of expected.variables)
        expectClose(name, actual.variables.get(name)!, gradient);
      expect(actual.variables.has('gates/logits')).toBe(gates.name !== "gates 'ones'");
      expectClose('loss()', [ort.loss(batch)], [tfjs.loss(batch)]);
      if (options.objective === 'sampled_softmax') {
        // Without labels: the plain mean; without frequencies: no log-Q correction.
        const plain = { ...batch, labels: undefined, itemFrequency: undefined };
        expectClose('unweighted loss', [ort.loss(plain)], [tfjs.loss(plain)]);
      }
      expectClose('predict', ort.predict(batch), tfjs.predict(batch));
      const vectors = [tfjs, ort].map((model) => model.embed(batch));
      expectClose('user vectors', vectors[1].user, vectors[0].user);
      expectClose('item vectors', vectors[1].item, vectors[0].item);
    } finally {
      tfjs.dispose();
      ort.dispose();
    }
  });

  // SGD: Adam would turn the float noise of gradients that are exactly 0 in exact arithmetic
  // (a bias before batch norm; the item bias under the softmax, a constant per row) into
  // steps of ±lr that differ between engines. The Adam case has no such parameter.
  const trained = [
    ...cases
      .filter((_, i) => i % 3 === 1)
      .map(
        ([name, extra, gates]) => [`${name}, SGD`, { ...extra, optimizer: 'sgd' as const }, gates] as const,
      ),
    [
      'binary, dot, tanh, Adam',
      { activation: 'tanh' as const, optimizer: 'adam' as const },
      GATES[1],
    ] as const,
  ];

  it.each(trained)('weights after training steps with clipping (%s)', (_, extra, gates) => {
    const options = { ...BASE, ...extra };
    const [tfjs, ort] = pair(options, gates);
    try {
      for (let step = 0; step < 5; step++) {
        const batch = randomBatch(options, 12, 10 + step);
        const stepOptions = { learningRate: 0.05, clipNorm: step % 2 === 0 ? 0.5 : undefined };
        const [a, b] = [tfjs.step(batch, stepOptions), ort.step(batch, stepOptions)];
        expectClose(`step ${step} loss`, [b.loss], [a.loss], 1e-4);
      }
      const expected = new Map(tfjs.getWeights().map((w) => [w.name, w.values]));
      for (const w of ort.getWeights()) expectClose(w.name, w.values, expected.get(w.name)!, 1e-4, 1e-3);
      // Batch norm's moving averages followed the batches (in prediction mode from here).
      const batch = randomBatch(options, 7, 99);
      expectClose('predict after training', ort.predict(batch), tfjs.predict(batch), 1e-4);
    } finally {
      tfjs.dispose();
      ort.dispose();
    }
  });

  it('the classifier: loss, gates and probabilities match after steps', () => {
    const options = { inputDim: 6, numClasses: 3, hidden: [5], seed: 2, gateLearningRate: 0.1 };
    const random = new Random(4, 'classifier');
    const x = Float32Array.from({ length: 6 * 16 }, () => random.normal());
    const labels = Int32Array.from({ length: 16 }, () => random.integer(3));
    const models = [reference, onnx].map(
      (engine) =>
        new ClassifierModel({
          ...options,
          engine,
          inputMean: Float32Array.from({ length: 6 }, (_, j) => 0.1 * j),
          inputStd: Float32Array.from({ length: 6 }, (_, j) => 1 + 0.2 * j),
        }),
    );
    try {
      for (const model of models) {
        model.gateMode = 'attention';
        model.selected = [1, 0, 0, 0, 0, 0];
      }
      for (let step = 0; step < 4; step++) {
        const [a, b] = models.map((model) => model.step(x, labels));
        expectClose(`classifier loss ${step}`, [b], [a], 1e-5);
      }
      expectClose('classifier gates', models[1].gateValues(), models[0].gateValues(), 1e-5);
      expectClose('classifier probabilities', models[1].predict(x), models[0].predict(x), 1e-5);
    } finally {
      for (const model of models) model.dispose();
    }
  });
});
