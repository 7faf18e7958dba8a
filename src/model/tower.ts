/**
 * One tower: dense layers of the configured sizes, each hidden layer followed by the
 * optional normalisation and the activation; the last layer is linear. With no layers
 * the tower passes its (gated) input through.
 *
 * Batch normalisation uses the batch's statistics in training and moving averages
 * (momentum 0.1, as PyTorch) in prediction; its means are ones-row products, since a
 * reduction over the batch axis transposes on tfjs-wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { glorotUniform } from './init.js';
import { dense, matMul } from './ops.js';
import type { VariableStore } from './variables.js';

export type Activation = 'relu' | 'tanh' | 'gelu' | 'linear';
export type Normalization = 'none' | 'layer' | 'batch';

export const NORM_EPSILON = 1e-5;
export const BATCH_NORM_MOMENTUM = 0.1;

export interface TowerOptions {
  /** Prefix of the weight names: `user` or `item`. */
  readonly name: string;
  readonly inputDim: number;
  /** Layer sizes; the last one is the output dimension. */
  readonly units: readonly number[];
  readonly activation: Activation;
  readonly normalization: Normalization;
  readonly seed: number;
  readonly explicitTranspose: boolean;
}

export interface ApplyOptions {
  readonly training: boolean;
  /** Update batch normalisation's moving averages (training steps only). */
  readonly updateStats: boolean;
  /** Gate per input column [D, 1], applied to the first kernel's rows (or the input). */
  readonly columnScale?: tf.Tensor2D;
}

interface Layer {
  readonly kernel: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1>;
  readonly gamma?: tf.Variable<tf.Rank.R1>;
  readonly beta?: tf.Variable<tf.Rank.R1>;
  readonly movingMean?: tf.Variable<tf.Rank.R1>;
  readonly movingVariance?: tf.Variable<tf.Rank.R1>;
}

function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

export function activate(x: tf.Tensor2D, activation: Activation): tf.Tensor2D {
  switch (activation) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'gelu':
      return gelu(x) as tf.Tensor2D;
    case 'linear':
      return x;
  }
}

export class Tower {
  readonly name: string;
  readonly inputDim: number;
  readonly outputDim: number;
  private readonly layers: Layer[] = [];
  private readonly options: TowerOptions;

  /** The first layer's kernel [inputDim, units], whose rows belong to input columns; none without layers. */
  get firstKernel(): tf.Variable<tf.Rank.R2> | undefined {
    return this.layers[0]?.kernel;
  }

  constructor(store: VariableStore, options: TowerOptions) {
    this.options = options;
    this.name = options.name;
    this.inputDim = options.inputDim;
    this.outputDim = options.units.length > 0 ? options.units[options.units.length - 1] : options.inputDim;
    let fanIn = options.inputDim;
    options.units.forEach((units, index) => {
      const prefix = `${options.name}/dense_${index}`;
      const inputs = fanIn;
      const kernel = store.create(`${prefix}/kernel`, () =>
        tf.tensor2d(glorotUniform(inputs, units, options.seed, `${prefix}/kernel`), [inputs, units]),
      );
      const bias = store.create(`${prefix}/bias`, () => tf.zeros([units]) as tf.Tensor1D);
      let layer: Layer = { kernel, bias };
      const hidden = index < options.units.length - 1;
      if (hidden && options.normalization !== 'none') {
        const norm = `${options.name}/norm_${index}`;
        layer = {
          ...layer,
          gamma: store.create(`${norm}/gamma`, () => tf.ones([units]) as tf.Tensor1D),
          beta: store.create(`${norm}/beta`, () => tf.zeros([units]) as tf.Tensor1D),
        };
        if (options.normalization === 'batch') {
          layer = {
            ...layer,
            movingMean: store.create(`${norm}/moving_mean`, () => tf.zeros([units]) as tf.Tensor1D, false),
            movingVariance: store.create(
              `${norm}/moving_variance`,
              () => tf.ones([units]) as tf.Tensor1D,
              false,
            ),
          };
        }
      }
      this.layers.push(layer);
      fanIn = units;
    });
  }

  apply(input: tf.Tensor2D, options: ApplyOptions): tf.Tensor2D {
    const explicit = this.options.explicitTranspose;
    if (this.layers.length === 0) {
      return options.columnScale ? tf.mul(input, tf.reshape(options.columnScale, [1, -1])) : input;
    }
    let x = input;
    this.layers.forEach((layer, index) => {
      const kernel =
        index === 0 && options.columnScale ? tf.mul(layer.kernel, options.columnScale) : layer.kernel;
      let z = dense(x, kernel as tf.Tensor2D, layer.bias, explicit);
      if (index === this.layers.length - 1) {
        x = z;
        return;
      }
      if (layer.gamma && layer.beta) z = this.normalize(z, layer, layer.gamma, layer.beta, options);
      x = activate(z, this.options.activation);
    });
    return x;
  }

  private normalize(
    z: tf.Tensor2D,
    layer: Layer,
    gamma: tf.Tensor1D,
    beta: tf.Tensor1D,
    options: ApplyOptions,
  ): tf.Tensor2D {
    const { movingMean, movingVariance } = layer;
    let normalized: tf.Tensor2D;
    if (this.options.normalization === 'layer') {
      const { mean, variance } = tf.moments(z, 1, true);
      normalized = tf.mul(tf.sub(z, mean), tf.rsqrt(tf.add(variance, NORM_EPSILON)));
    } else if (!options.training && movingMean && movingVariance) {
      normalized = tf.mul(tf.sub(z, movingMean), tf.rsqrt(tf.add(movingVariance, NORM_EPSILON)));
    } else {
      const explicit = this.options.explicitTranspose;
      const batch = z.shape[0];
      const average = tf.fill([1, batch], 1 / batch) as tf.Tensor2D;
      const mean = matMul(average, z, explicit);
      const centered = tf.sub(z, mean) as tf.Tensor2D;
      const variance = matMul(average, tf.square(centered) as tf.Tensor2D, explicit);
      normalized = tf.mul(centered, tf.rsqrt(tf.add(variance, NORM_EPSILON)));
      if (options.updateStats && movingMean && movingVariance) {
        const m = BATCH_NORM_MOMENTUM;
        movingMean.assign(tf.add(tf.mul(movingMean, 1 - m), tf.mul(tf.reshape(mean, [-1]), m)));
        movingVariance.assign(tf.add(tf.mul(movingVariance, 1 - m), tf.mul(tf.reshape(variance, [-1]), m)));
      }
    }
    return tf.add(tf.mul(normalized, gamma), beta);
  }
}
