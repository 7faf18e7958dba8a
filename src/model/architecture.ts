/**
 * The dense architecture, engine-neutral: what a tower is (layer sizes, activation,
 * normalisation), what the two-tower model and the classifier are made of, and every
 * parameter's name, shape and initial value. Each engine (src/model/tfjs, src/model/onnx)
 * computes with exactly these parameters, passed to it as Float32Arrays.
 *
 * A tower: dense layers of the configured sizes, each hidden layer followed by the
 * optional normalisation and the activation; the last layer is linear. With no layers the
 * tower passes its (gated) input through. Gates scale the rows of the first kernel, one
 * scale per input column ((x ⊙ s) W = x (diag(s) W)); batch normalisation uses the
 * batch's statistics in training and moving averages (momentum 0.1, as PyTorch) in
 * prediction.
 */
import { glorotUniform } from './init.js';

export type Activation = 'relu' | 'tanh' | 'gelu' | 'linear';
export type Normalization = 'none' | 'layer' | 'batch';
export type Objective = 'binary' | 'sampled_softmax';
export type ScoreKind = 'dot' | 'cosine';

export const NORM_EPSILON = 1e-5;
export const BATCH_NORM_MOMENTUM = 0.1;
/** Added under the square root of the cosine's norms. */
export const COSINE_EPSILON = 1e-12;
/** Smallest frequency used in the log-Q correction, so a zero does not give -log 0. */
export const MIN_FREQUENCY = 1e-12;
/** Smallest total row weight of the sampled softmax (a batch whose rows all weigh 0). */
export const MIN_WEIGHT_SUM = 1e-12;

export interface TowerSpec {
  /** Prefix of the parameter names: `user`, `item` or `mlp`. */
  readonly name: string;
  readonly inputDim: number;
  /** Layer sizes; the last one is the output dimension. */
  readonly units: readonly number[];
  readonly activation: Activation;
  readonly normalization: Normalization;
}

export interface TwoTowerSpec {
  readonly user: TowerSpec;
  readonly item: TowerSpec;
  readonly score: ScoreKind;
  /** Divides the cosine score (not the dot product). */
  readonly temperature: number;
  readonly objective: Objective;
}

/** The classifier: standardised inputs, one gated tower ending in one logit per class, softmax cross-entropy. */
export interface ClassifierSpec {
  readonly tower: TowerSpec;
  readonly numClasses: number;
}

export interface ParameterSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Trained by the dense optimizer (false: batch normalisation's moving statistics). */
  readonly trainable: boolean;
  readonly init: (seed: number) => Float32Array;
}

/** Names of one layer's parameters. */
export interface LayerNames {
  readonly kernel: string;
  readonly bias: string;
  /** Hidden layers with a normalisation. */
  readonly gamma?: string;
  readonly beta?: string;
  /** Batch normalisation. */
  readonly movingMean?: string;
  readonly movingVariance?: string;
}

export interface LayerSpec {
  readonly names: LayerNames;
  readonly inputs: number;
  readonly units: number;
  /** The last layer: linear, no normalisation. */
  readonly last: boolean;
}

export function towerOutputDim(tower: TowerSpec): number {
  return tower.units.length > 0 ? tower.units[tower.units.length - 1] : tower.inputDim;
}

export function towerLayers(tower: TowerSpec): LayerSpec[] {
  let inputs = tower.inputDim;
  return tower.units.map((units, index) => {
    const last = index === tower.units.length - 1;
    const dense = `${tower.name}/dense_${index}`;
    const norm = `${tower.name}/norm_${index}`;
    const normalized = !last && tower.normalization !== 'none';
    const batch = normalized && tower.normalization === 'batch';
    const layer: LayerSpec = {
      names: {
        kernel: `${dense}/kernel`,
        bias: `${dense}/bias`,
        gamma: normalized ? `${norm}/gamma` : undefined,
        beta: normalized ? `${norm}/beta` : undefined,
        movingMean: batch ? `${norm}/moving_mean` : undefined,
        movingVariance: batch ? `${norm}/moving_variance` : undefined,
      },
      inputs,
      units,
      last,
    };
    inputs = units;
    return layer;
  });
}

/** Every parameter of a tower, in a fixed order (the checkpoint's and the engines'). */
export function towerParameters(tower: TowerSpec): ParameterSpec[] {
  const filled = (length: number, value: number) => () => new Float32Array(length).fill(value);
  return towerLayers(tower).flatMap(({ names, inputs, units }) => {
    const parameters: ParameterSpec[] = [
      {
        name: names.kernel,
        shape: [inputs, units],
        trainable: true,
        init: (seed) => glorotUniform(inputs, units, seed, names.kernel),
      },
      { name: names.bias, shape: [units], trainable: true, init: filled(units, 0) },
    ];
    if (names.gamma !== undefined && names.beta !== undefined) {
      parameters.push(
        { name: names.gamma, shape: [units], trainable: true, init: filled(units, 1) },
        { name: names.beta, shape: [units], trainable: true, init: filled(units, 0) },
      );
    }
    if (names.movingMean !== undefined && names.movingVariance !== undefined) {
      parameters.push(
        { name: names.movingMean, shape: [units], trainable: false, init: filled(units, 0) },
        { name: names.movingVariance, shape: [units], trainable: false, init: filled(units, 1) },
      );
    }
    return parameters;
  });
}

/** Names of the batch statistics a training pass reports for a batch-normalised layer. */
export function batchStatNames(layer: LayerNames): { mean: string; variance: string } | undefined {
  if (layer.movingMean === undefined || layer.movingVariance === undefined) return undefined;
  return { mean: layer.movingMean, variance: layer.movingVariance };
}
