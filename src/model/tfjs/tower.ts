/**
 * One tower (architecture.ts) in tfjs ops, on parameter tensors made for the pass. Batch
 * normalisation's means are ones-row products, since a reduction over the batch axis
 * transposes on tfjs-wasm; in training it reports the batch's mean and variance for the
 * model to fold into its moving averages.
 */
import * as tf from '@tensorflow/tfjs';
import { NORM_EPSILON, towerLayers, type Activation, type TowerSpec } from '../architecture.js';
import { dense, matMul } from './ops.js';

export interface TowerPass {
  readonly training: boolean;
  /** Gate per input column [D, 1], applied to the first kernel's rows (or the input). */
  readonly columnScale: tf.Tensor2D;
  readonly explicitTranspose: boolean;
  /** Parameter tensors by name. */
  readonly parameters: ReadonlyMap<string, tf.Tensor>;
  /** Filled in training: batch mean and variance by moving-statistic name (kept tensors). */
  readonly batchStats?: Map<string, tf.Tensor1D>;
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

export function applyTower(spec: TowerSpec, input: tf.Tensor2D, pass: TowerPass): tf.Tensor2D {
  const parameter = <T extends tf.Tensor>(name: string): T => {
    const tensor = pass.parameters.get(name);
    if (tensor === undefined) throw new Error(`no parameter '${name}'`);
    return tensor as T;
  };
  const layers = towerLayers(spec);
  if (layers.length === 0) return tf.mul(input, tf.reshape(pass.columnScale, [1, -1]));
  let x = input;
  layers.forEach(({ names, last }, index) => {
    const kernel = parameter<tf.Tensor2D>(names.kernel);
    const scaled = index === 0 ? (tf.mul(kernel, pass.columnScale) as tf.Tensor2D) : kernel;
    let z = dense(x, scaled, parameter<tf.Tensor1D>(names.bias), pass.explicitTranspose);
    if (last) {
      x = z;
      return;
    }
    if (names.gamma !== undefined && names.beta !== undefined) {
      const normalized = normalize(spec, z, names, pass);
      z = tf.add(tf.mul(normalized, parameter(names.gamma)), parameter(names.beta));
    }
    x = activate(z, spec.activation);
  });
  return x;
}

function normalize(
  spec: TowerSpec,
  z: tf.Tensor2D,
  names: { movingMean?: string; movingVariance?: string },
  pass: TowerPass,
): tf.Tensor2D {
  if (spec.normalization === 'layer') {
    const { mean, variance } = tf.moments(z, 1, true);
    return tf.mul(tf.sub(z, mean), tf.rsqrt(tf.add(variance, NORM_EPSILON)));
  }
  const { movingMean, movingVariance } = names;
  if (!pass.training && movingMean && movingVariance) {
    const mean = pass.parameters.get(movingMean)!;
    const variance = pass.parameters.get(movingVariance)!;
    return tf.mul(tf.sub(z, mean), tf.rsqrt(tf.add(variance, NORM_EPSILON)));
  }
  const batch = z.shape[0];
  const average = tf.fill([1, batch], 1 / batch) as tf.Tensor2D;
  const mean = matMul(average, z, pass.explicitTranspose);
  const centered = tf.sub(z, mean) as tf.Tensor2D;
  const variance = matMul(average, tf.square(centered) as tf.Tensor2D, pass.explicitTranspose);
  if (pass.batchStats && movingMean && movingVariance) {
    pass.batchStats.set(movingMean, tf.keep(tf.reshape(mean, [-1])));
    pass.batchStats.set(movingVariance, tf.keep(tf.reshape(variance, [-1])));
  }
  return tf.mul(centered, tf.rsqrt(tf.add(variance, NORM_EPSILON)));
}
