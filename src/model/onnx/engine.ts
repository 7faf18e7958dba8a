/**
 * The ONNX Runtime engine: each model's graphs (two-tower-graph.ts, classifier-graph.ts)
 * compiled into sessions on first use and run synchronously (runtime.ts). Parameters are
 * fed as the models' own Float32Arrays, wrapped once.
 */
import { towerOutputDim, type ClassifierSpec, type TwoTowerSpec } from '../architecture.js';
import type {
  ClassifierInputs,
  ClassifierKernel,
  DenseEngine,
  ParameterValues,
  TwoTowerInputs,
  TwoTowerKernel,
  TwoTowerPass,
  TwoTowerTargets,
} from '../engine.js';
import {
  CLASSIFIER_INPUT,
  CLASSIFIER_OUTPUT,
  classifierInferGraph,
  classifierTrainGraph,
} from './classifier-graph.js';
import { GraphBuilder } from './graph.js';
import { OnnxSession, loadOnnxRuntime, type Feeds } from './runtime.js';
import { INPUT, OUTPUT, twoTowerInferGraph, twoTowerTrainGraph, type BuiltGraph } from './two-tower-graph.js';

/** A graph and its session, compiled on first use. */
class LazySession {
  private compiled?: {
    readonly graph: BuiltGraph;
    readonly session: OnnxSession;
    readonly stable: ReadonlySet<string>;
  };

  constructor(private readonly build: () => BuiltGraph) {}

  run(parameters: ParameterValues, feeds: Feeds, outputs?: readonly string[]): Record<string, Float32Array> {
    if (!this.compiled) {
      const graph = this.build();
      const stable = new Set(graph.parameters.map((parameter) => parameter.name));
      this.compiled = { graph, session: new OnnxSession(graph.model), stable };
    }
    const { graph, session, stable } = this.compiled;
    const all: Feeds = { ...feeds };
    for (const { name, shape } of graph.parameters) {
      const values = parameters.get(name);
      if (values === undefined) throw new Error(`no value for the parameter '${name}'`);
      all[name] = { data: values, dims: shape };
    }
    return session.run(all, outputs ?? graph.outputs, stable);
  }

  dispose(): void {
    this.compiled?.session.dispose();
  }
}

class OnnxTwoTower implements TwoTowerKernel {
  private readonly trainSession: LazySession;
  private readonly inferSession: LazySession;
  private readonly dim: number;

  constructor(private readonly spec: TwoTowerSpec) {
    this.trainSession = new LazySession(() => twoTowerTrainGraph(spec));
    this.inferSession = new LazySession(() => twoTowerInferGraph(spec));
    this.dim = towerOutputDim(spec.user);
  }

  private feeds(inputs: TwoTowerInputs, targets?: TwoTowerTargets): Feeds {
    const { size } = inputs;
    const feeds: Feeds = {
      [INPUT.user]: { data: inputs.user, dims: [size, this.spec.user.inputDim] },
      [INPUT.item]: { data: inputs.item, dims: [size, this.spec.item.inputDim] },
      [INPUT.userScale]: { data: inputs.userScale, dims: [this.spec.user.inputDim] },
      [INPUT.itemScale]: { data: inputs.itemScale, dims: [this.spec.item.inputDim] },
    };
    if (targets) {
      feeds[INPUT.rowWeights] = { data: targets.rowWeights, dims: [size] };
      if (this.spec.objective === 'binary') {
        if (!targets.labels) throw new Error('the binary objective needs labels');
        feeds[INPUT.labels] = { data: targets.labels, dims: [size] };
      } else {
        feeds[INPUT.logQ] = { data: targets.logQ ?? new Float32Array(size), dims: [size] };
      }
    }
    return feeds;
  }

  train(parameters: ParameterValues, inputs: TwoTowerInputs, targets: TwoTowerTargets): TwoTowerPass {
    const out = this.trainSession.run(parameters, this.feeds(inputs, targets));
    const grads = new Map<string, Float32Array>();
    const batchStats = new Map<string, Float32Array>();
    for (const [name, values] of Object.entries(out)) {
      if (name.endsWith(':grad')) grads.set(name.slice(0, -':grad'.length), values);
      else if (name.endsWith(':batch')) batchStats.set(name.slice(0, -':batch'.length), values);
    }
    return {
      loss: out[OUTPUT.loss][0],
      userGrad: out[OUTPUT.userGrad],
      itemGrad: out[OUTPUT.itemGrad],
      userScaleGrad: out[OUTPUT.userScaleGrad],
      itemScaleGrad: out[OUTPUT.itemScaleGrad],
      parameters: grads,
      batchStats,
    };
  }

  loss(parameters: ParameterValues, inputs: TwoTowerInputs, targets: TwoTowerTargets): number {
    return this.trainSession.run(parameters, this.feeds(inputs, targets), [OUTPUT.loss])[OUTPUT.loss][0];
  }

  infer(parameters: ParameterValues, inputs: TwoTowerInputs) {
    const out = this.inferSession.run(parameters, this.feeds(inputs));
    return {
      user: out[OUTPUT.userVector],
      item: out[OUTPUT.itemVector],
      dim: this.dim,
      scores: out[OUTPUT.score],
    };
  }

  dispose(): void {
    this.trainSession.dispose();
    this.inferSession.dispose();
  }
}

class OnnxClassifier implements ClassifierKernel {
  private readonly trainSession: LazySession;
  private readonly inferSession: LazySession;

  constructor(private readonly spec: ClassifierSpec) {
    this.trainSession = new LazySession(() => classifierTrainGraph(spec));
    this.inferSession = new LazySession(() => classifierInferGraph(spec));
  }

  private feeds(inputs: ClassifierInputs): Feeds {
    const dim = this.spec.tower.inputDim;
    return {
      [CLASSIFIER_INPUT.x]: { data: inputs.x, dims: [inputs.size, dim] },
      [CLASSIFIER_INPUT.scale]: { data: inputs.scale, dims: [dim] },
    };
  }

  train(
    parameters: ParameterValues,
    inputs: ClassifierInputs,
    targets: { readonly oneHot: Float32Array; readonly rowWeights: Float32Array },
  ) {
    const feeds = this.feeds(inputs);
    feeds[CLASSIFIER_INPUT.oneHot] = { data: targets.oneHot, dims: [inputs.size, this.spec.numClasses] };
    feeds[CLASSIFIER_INPUT.rowWeights] = { data: targets.rowWeights, dims: [inputs.size] };
    const out = this.trainSession.run(parameters, feeds);
    const grads = new Map<string, Float32Array>();
    for (const [name, values] of Object.entries(out)) {
      if (name.endsWith(':grad')) grads.set(name.slice(0, -':grad'.length), values);
    }
    return {
      loss: out[CLASSIFIER_OUTPUT.loss][0],
      scaleGrad: out[CLASSIFIER_OUTPUT.scaleGrad],
      parameters: grads,
    };
  }

  probabilities(parameters: ParameterValues, inputs: ClassifierInputs): Float32Array {
    return this.inferSession.run(parameters, this.feeds(inputs))[CLASSIFIER_OUTPUT.probabilities];
  }

  dispose(): void {
    this.trainSession.dispose();
    this.inferSession.dispose();
  }
}

/** a bᵀ as one Gemm; the session is compiled once per process. */
let productSession: OnnxSession | undefined;
function matMulNT(a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float32Array {
  if (!productSession) {
    const g = new GraphBuilder('lemopt_product');
    const product = g.op('Gemm', [g.input('a', ['m', 'k']), g.input('b', ['n', 'k'])], { transB: 1 });
    g.output('product', product, ['m', 'n']);
    productSession = new OnnxSession(g.encode());
  }
  const feeds = { a: { data: a, dims: [m, k] }, b: { data: b, dims: [n, k] } };
  return productSession.run(feeds, ['product']).product;
}

export const onnxEngine: DenseEngine = {
  name: 'onnxruntime',
  twoTower: (spec) => new OnnxTwoTower(spec),
  classifier: (spec) => new OnnxClassifier(spec),
  matMulNT,
};

/** Loads ONNX Runtime and checks that a graph runs; throws why not. */
export function loadOnnxEngine(): DenseEngine {
  loadOnnxRuntime();
  const probe = new GraphBuilder('lemopt_probe');
  probe.output('y', probe.op('Relu', [probe.input('x', [1])]), [1]);
  const session = new OnnxSession(probe.encode());
  try {
    const y = session.run({ x: { data: Float32Array.of(-1), dims: [1] } }, ['y']).y;
    if (y[0] !== 0) throw new Error(`a probe graph computed ${y[0]} instead of 0`);
  } finally {
    session.dispose();
  }
  return onnxEngine;
}
