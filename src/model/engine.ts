/**
 * The engine-neutral interface of the dense part. An engine computes; it holds no state
 * that outlives a call but its compiled graphs. Everything else (parameters, gates, the
 * dense optimizer, batch normalisation's moving averages, checkpoints) lives in the
 * TypeScript models (two-tower.ts, classifier.ts) and reaches the engine as
 * Float32Arrays, so a model trained on one engine resumes or evaluates on another.
 *
 * Engines: src/model/tfjs (the reference; tfjs-node, wasm or cpu) and src/model/onnx
 * (ONNX Runtime). A third engine is a new folder implementing DenseEngine.
 */
import type { ClassifierSpec, TwoTowerSpec } from './architecture.js';

/** Parameter values by name (architecture.ts); engines read them, never write them. */
export type ParameterValues = ReadonlyMap<string, Float32Array>;

export interface TwoTowerInputs {
  /** Rows in the batch (B). */
  readonly size: number;
  /** [B, user input dim] and [B, item input dim], row-major. */
  readonly user: Float32Array;
  readonly item: Float32Array;
  /** Gate per input column of each tower (1 for an ungated column). */
  readonly userScale: Float32Array;
  readonly itemScale: Float32Array;
}

export interface TwoTowerTargets {
  /** binary: the 0/1 labels. */
  readonly labels?: Float32Array;
  /** The loss is Σ_rows rowWeights · ℓ_row (1/B each for a mean). */
  readonly rowWeights: Float32Array;
  /** sampled_softmax: log of each row's item sampling frequency (zeros: no correction). */
  readonly logQ?: Float32Array;
}

/**
 * A training pass. Arrays may be the engine's buffers, valid until its next call: copy
 * what must outlive it.
 */
export interface TwoTowerPass {
  readonly loss: number;
  readonly userGrad: Float32Array;
  readonly itemGrad: Float32Array;
  readonly userScaleGrad: Float32Array;
  readonly itemScaleGrad: Float32Array;
  /** Gradient of every trainable tower parameter, by name. */
  readonly parameters: ReadonlyMap<string, Float32Array>;
  /** Batch mean and variance of each batch-normalised layer, by its moving-statistic name. */
  readonly batchStats: ReadonlyMap<string, Float32Array>;
}

export interface TowerVectors {
  /** [B, dim] each: the score is their row-wise dot product. */
  readonly user: Float32Array;
  readonly item: Float32Array;
  readonly dim: number;
}

export interface TwoTowerKernel {
  /** Loss and every gradient, normalisation on the batch's statistics. */
  train(parameters: ParameterValues, inputs: TwoTowerInputs, targets: TwoTowerTargets): TwoTowerPass;
  /** The loss alone, as train computes it. */
  loss(parameters: ParameterValues, inputs: TwoTowerInputs, targets: TwoTowerTargets): number;
  /** Prediction mode (batch normalisation on its moving averages): tower vectors and scores (probabilities for binary). */
  infer(
    parameters: ParameterValues,
    inputs: TwoTowerInputs,
  ): TowerVectors & { readonly scores: Float32Array };
  dispose(): void;
}

export interface ClassifierInputs {
  readonly size: number;
  /** [B, input dim], already standardised. */
  readonly x: Float32Array;
  readonly scale: Float32Array;
}

export interface ClassifierKernel {
  /** Mean softmax cross-entropy against one-hot targets [B, classes] weighted per row, and gradients. */
  train(
    parameters: ParameterValues,
    inputs: ClassifierInputs,
    targets: { readonly oneHot: Float32Array; readonly rowWeights: Float32Array },
  ): {
    readonly loss: number;
    readonly scaleGrad: Float32Array;
    readonly parameters: ReadonlyMap<string, Float32Array>;
  };
  /** Class probabilities, [B, classes]. */
  probabilities(parameters: ParameterValues, inputs: ClassifierInputs): Float32Array;
  dispose(): void;
}

export interface DenseEngine {
  /** The backend name (backend.ts) this engine runs on. */
  readonly name: string;
  twoTower(spec: TwoTowerSpec): TwoTowerKernel;
  classifier(spec: ClassifierSpec): ClassifierKernel;
  /** a bᵀ for a [m, k] and b [n, k], row-major [m, n]: users scored against a catalogue. */
  matMulNT(a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float32Array;
}
