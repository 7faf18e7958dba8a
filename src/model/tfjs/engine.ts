/**
 * The tfjs engine, the reference implementation of engine.ts: each pass uploads the
 * parameters as tensors, runs the towers and the loss in tfjs ops, and takes every
 * gradient with tfjs's autodiff (tf.engine().gradients over the inputs, the column gates
 * and the parameters). Runs on whatever tfjs backend backend.ts activated (tfjs-node,
 * wasm or cpu).
 */
import * as tf from '@tensorflow/tfjs';
import {
  COSINE_EPSILON,
  towerOutputDim,
  towerParameters,
  type ClassifierSpec,
  type TowerSpec,
  type TwoTowerSpec,
} from '../architecture.js';
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
import { inBatchSoftmaxLoss, matMulBT } from './ops.js';
import { applyTower } from './tower.js';

export interface TfjsEngineOptions {
  /** The lemopt backend name it runs on (default: tfjs's name of its backend). */
  readonly name?: string;
  /**
   * Gradients of matrix products with explicit transposes (ops.ts). Default: on the wasm
   * backend only, where they make a step about 4x faster; on cpu they gain nothing, and
   * TensorFlow's native kernels take the transpose flags directly.
   */
  readonly explicitTranspose?: boolean;
}

/** A copy of a float32 tensor's values (the cpu backend hands out its own storage). */
export function readFloats(tensor: tf.Tensor): Float32Array {
  return new Float32Array(tensor.dataSync());
}

function parameterTensors(specs: readonly TowerSpec[], values: ParameterValues): Map<string, tf.Tensor> {
  const tensors = new Map<string, tf.Tensor>();
  for (const spec of specs) {
    for (const { name, shape } of towerParameters(spec)) {
      const data = values.get(name);
      if (data === undefined) throw new Error(`no value for the parameter '${name}'`);
      tensors.set(name, tf.tensor(data, [...shape]));
    }
  }
  return tensors;
}

function trainableNames(specs: readonly TowerSpec[]): string[] {
  return specs.flatMap((spec) =>
    towerParameters(spec)
      .filter((p) => p.trainable)
      .map((p) => p.name),
  );
}

/**
 * Runs `fn` in a tfjs scope and frees every tensor it made but the kept ones. Unlike
 * tf.tidy, it does not search the result for tensors: tf.tidy walks a returned typed
 * array element by element (70% of a wasm step when it returned the gradients).
 */
function scoped<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}

/** Rows scaled to unit length. */
function unitRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), 1, true), COSINE_EPSILON)));
}

/** Row-wise dot product of [B, K] tensors, as [B]. */
function rowScore(user: tf.Tensor2D, item: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(user, item), 1);
}

/**
 * Runs `loss` under tfjs's autodiff; returns its value and the gradient of each of `xs`
 * (zeros for one the loss does not read), as arrays.
 */
function gradientsOf(
  loss: () => tf.Scalar,
  xs: readonly tf.Tensor[],
): { value: number; grads: Float32Array[] } {
  const { value, grads } = tf.engine().gradients(loss, [...xs], undefined, true);
  try {
    return {
      value: value.dataSync()[0],
      grads: xs.map((x, i) => (grads[i] === undefined ? new Float32Array(x.size) : readFloats(grads[i]))),
    };
  } finally {
    value.dispose();
    for (const grad of grads) grad?.dispose();
  }
}

class TfjsTwoTower implements TwoTowerKernel {
  private readonly eyes = new Map<number, tf.Tensor2D>();
  private readonly towers: readonly TowerSpec[];

  constructor(
    private readonly spec: TwoTowerSpec,
    private readonly explicit: boolean,
  ) {
    this.towers = [spec.user, spec.item];
  }

  /** Tower outputs, normalised (the user's divided by the temperature) for the cosine score. */
  private vectors(
    tensors: { user: tf.Tensor2D; item: tf.Tensor2D; userScale: tf.Tensor2D; itemScale: tf.Tensor2D },
    parameters: ReadonlyMap<string, tf.Tensor>,
    training: boolean,
    batchStats?: Map<string, tf.Tensor1D>,
  ): { user: tf.Tensor2D; item: tf.Tensor2D } {
    const pass = { training, explicitTranspose: this.explicit, parameters, batchStats };
    let user = applyTower(this.spec.user, tensors.user, { ...pass, columnScale: tensors.userScale });
    let item = applyTower(this.spec.item, tensors.item, { ...pass, columnScale: tensors.itemScale });
    if (this.spec.score === 'cosine') {
      user = tf.mul(unitRows(user), 1 / this.spec.temperature);
      item = unitRows(item);
    }
    return { user, item };
  }

  private lossTensor(
    user: tf.Tensor2D,
    item: tf.Tensor2D,
    targets: TwoTowerTargets,
    size: number,
  ): tf.Scalar {
    const weights = tf.tensor1d(targets.rowWeights);
    if (this.spec.objective === 'binary') {
      if (targets.labels === undefined) throw new Error('the binary objective needs labels');
      const z = rowScore(user, item);
      const y = tf.tensor1d(targets.labels);
      // max(z, 0) - z y + log(1 + exp(-|z|)): stable for any z.
      const perRow = tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
      return tf.sum(tf.mul(perRow, weights));
    }
    let logits = matMulBT(user, item, this.explicit);
    if (targets.logQ !== undefined) logits = tf.sub(logits, tf.tensor2d(targets.logQ, [1, size]));
    return tf.sum(tf.mul(inBatchSoftmaxLoss(logits, this.eye(size)), weights));
  }

  private inputTensors(inputs: TwoTowerInputs) {
    const { size } = inputs;
    return {
      user: tf.tensor2d(inputs.user, [size, this.spec.user.inputDim]),
      item: tf.tensor2d(inputs.item, [size, this.spec.item.inputDim]),
      userScale: tf.tensor2d(inputs.userScale, [this.spec.user.inputDim, 1]),
      itemScale: tf.tensor2d(inputs.itemScale, [this.spec.item.inputDim, 1]),
    };
  }

  train(values: ParameterValues, inputs: TwoTowerInputs, targets: TwoTowerTargets): TwoTowerPass {
    const names = trainableNames(this.towers);
    const batchStats = new Map<string, tf.Tensor1D>();
    const { value, grads } = scoped(() => {
      const tensors = this.inputTensors(inputs);
      const parameters = parameterTensors(this.towers, values);
      const xs = [
        tensors.user,
        tensors.item,
        tensors.userScale,
        tensors.itemScale,
        ...names.map((n) => parameters.get(n)!),
      ];
      return gradientsOf(() => {
        const { user, item } = this.vectors(tensors, parameters, true, batchStats);
        return this.lossTensor(user, item, targets, inputs.size);
      }, xs);
    });
    const stats = new Map<string, Float32Array>();
    for (const [name, tensor] of batchStats) {
      stats.set(name, readFloats(tensor));
      tensor.dispose();
    }
    const [userGrad, itemGrad, userScaleGrad, itemScaleGrad, ...parameterGrads] = grads;
    return {
      loss: value,
      userGrad,
      itemGrad,
      userScaleGrad,
      itemScaleGrad,
      parameters: new Map(names.map((name, i) => [name, parameterGrads[i]])),
      batchStats: stats,
    };
  }

  loss(values: ParameterValues, inputs: TwoTowerInputs, targets: TwoTowerTargets): number {
    return scoped(() => {
      const { user, item } = this.vectors(
        this.inputTensors(inputs),
        parameterTensors(this.towers, values),
        true,
      );
      return this.lossTensor(user, item, targets, inputs.size).dataSync()[0];
    });
  }

  infer(values: ParameterValues, inputs: TwoTowerInputs) {
    return scoped(() => {
      const { user, item } = this.vectors(
        this.inputTensors(inputs),
        parameterTensors(this.towers, values),
        false,
      );
      const score = rowScore(user, item);
      return {
        user: readFloats(user),
        item: readFloats(item),
        dim: towerOutputDim(this.spec.user),
        scores: readFloats(this.spec.objective === 'binary' ? tf.sigmoid(score) : score),
      };
    });
  }

  private eye(size: number): tf.Tensor2D {
    let eye = this.eyes.get(size);
    if (eye === undefined) {
      eye = tf.keep(tf.eye(size) as tf.Tensor2D);
      this.eyes.set(size, eye);
    }
    return eye;
  }

  dispose(): void {
    for (const eye of this.eyes.values()) eye.dispose();
    this.eyes.clear();
  }
}

class TfjsClassifier implements ClassifierKernel {
  constructor(
    private readonly spec: ClassifierSpec,
    private readonly explicit: boolean,
  ) {}

  private logits(values: ParameterValues, inputs: ClassifierInputs, training: boolean) {
    const dim = this.spec.tower.inputDim;
    const x = tf.tensor2d(inputs.x, [inputs.size, dim]);
    const scale = tf.tensor2d(inputs.scale, [dim, 1]);
    const parameters = parameterTensors([this.spec.tower], values);
    const apply = (columnScale: tf.Tensor2D) =>
      applyTower(this.spec.tower, x, { training, explicitTranspose: this.explicit, parameters, columnScale });
    return { scale, parameters, apply };
  }

  train(
    values: ParameterValues,
    inputs: ClassifierInputs,
    targets: { readonly oneHot: Float32Array; readonly rowWeights: Float32Array },
  ) {
    const names = trainableNames([this.spec.tower]);
    const { value, grads } = scoped(() => {
      const { scale, parameters, apply } = this.logits(values, inputs, true);
      const oneHot = tf.tensor2d(targets.oneHot, [inputs.size, this.spec.numClasses]);
      const weights = tf.tensor1d(targets.rowWeights);
      return gradientsOf(() => {
        const picked = tf.sum(tf.mul(tf.logSoftmax(apply(scale)), oneHot), 1);
        return tf.neg(tf.sum(tf.mul(picked, weights))) as tf.Scalar;
      }, [scale, ...names.map((name) => parameters.get(name)!)]);
    });
    const [scaleGrad, ...parameterGrads] = grads;
    return { loss: value, scaleGrad, parameters: new Map(names.map((name, i) => [name, parameterGrads[i]])) };
  }

  probabilities(values: ParameterValues, inputs: ClassifierInputs): Float32Array {
    return scoped(() => {
      const { scale, apply } = this.logits(values, inputs, false);
      return readFloats(tf.softmax(apply(scale)));
    });
  }

  dispose(): void {}
}

/** The tfjs engine on the active tfjs backend. */
export function tfjsEngine(options: TfjsEngineOptions = {}): DenseEngine {
  const explicit = () => options.explicitTranspose ?? tf.getBackend() === 'wasm';
  return {
    get name() {
      return options.name ?? tf.getBackend();
    },
    twoTower: (spec) => new TfjsTwoTower(spec, explicit()),
    classifier: (spec) => new TfjsClassifier(spec, explicit()),
    matMulNT: (a, b, m, n, k) =>
      scoped(() => readFloats(matMulBT(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [n, k]), explicit()))),
  };
}
