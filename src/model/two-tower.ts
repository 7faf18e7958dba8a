/**
 * The dense part of the two-tower model: Sequential Attention gates, the user and item
 * towers, the score and the loss, trained in tfjs. Embedding lookups happen outside
 * (src/embedding): a batch arrives as two dense Float32Arrays, the concatenated
 * embedding slices of each tower, and a train step hands back the gradient of the loss
 * with respect to both, for the embedding engine to apply to its rows.
 *
 * - Gates: one per candidate; each input column belongs to one candidate (or -1:
 *   always on). See gates.ts.
 * - Score: dot product of the tower outputs, or their cosine divided by `temperature`.
 * - Objectives: `binary`, sigmoid cross-entropy of the score against 0/1 labels;
 *   `sampled_softmax`, softmax over the batch's B x B scores with each row's own item
 *   as the positive and the other rows' items as negatives, with the log-Q correction
 *   (the log of each item's sampling frequency subtracted from its logits).
 * - The loss is the mean over the batch, and the input gradients are of that mean.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig, TrainConfig } from '../config/schema.js';
import { LemoptError } from '../util/errors.js';
import { ColumnGate, GATE_LOGITS, Gates, type GateMode } from './gates.js';
import { inBatchSoftmaxLoss, matMulBT } from './ops.js';
import { DenseOptimizer, type OptimizerKind, type OptimizerState } from './optimizer.js';
import { Tower, type Activation, type Normalization } from './tower.js';
import { VariableStore, readFloats, type NamedArray } from './variables.js';

export type Objective = 'binary' | 'sampled_softmax';
export type ScoreKind = 'dot' | 'cosine';

/** Which candidate each input column belongs to (-1: not gated). */
export interface InputLayout {
  /** One entry per user-tower input column; its length is the user input width. */
  readonly userColumnCandidate: Int32Array;
  /** One entry per item-tower input column. */
  readonly itemColumnCandidate: Int32Array;
  /** Candidates are numbered 0..numCandidates-1 across both towers. */
  readonly numCandidates: number;
}

export interface TwoTowerOptions extends InputLayout {
  /** Layer sizes of each tower; the last ones must be equal (the score's dimension). */
  readonly userTower: readonly number[];
  readonly itemTower: readonly number[];
  readonly activation?: Activation;
  readonly normalization?: Normalization;
  readonly score?: ScoreKind;
  /** Divides the cosine score (not the dot product). */
  readonly temperature?: number;
  readonly objective?: Objective;
  readonly optimizer?: OptimizerKind;
  /** Default learning rate of `step` (each step may give its own). */
  readonly learningRate?: number;
  readonly seed?: number;
  /** Multiply the unselected gates by their number, so they sum to |U| instead of 1. */
  readonly maskScale?: boolean;
  /** A fixed learning rate for the gate logits (default: the step's learning rate). */
  readonly gateLearningRate?: number;
  /**
   * Gradients of matrix products with explicit transposes (ops.ts). Default: on the
   * wasm backend only, where they make a step about 4x faster; on cpu they gain
   * nothing, and TensorFlow's native kernels take the transpose flags directly.
   */
  readonly explicitTranspose?: boolean;
}

export interface Batch {
  /** Rows in the batch (B). */
  readonly size: number;
  /** User-tower input, [B, userDim] row-major. */
  readonly user: Float32Array;
  /** Item-tower input, [B, itemDim] row-major. */
  readonly item: Float32Array;
  /**
   * binary: the 0/1 labels (required). sampled_softmax: optional row weights; a row
   * with 0 adds no loss term but its item is still a negative for the other rows.
   */
  readonly labels?: Float32Array;
  /**
   * sampled_softmax: each row's item's sampling frequency (a probability or a count:
   * a constant factor cancels in the softmax), for the log-Q correction. Omitted: none.
   */
  readonly itemFrequency?: Float32Array;
}

export interface StepResult {
  /** The batch's mean loss before the update. */
  readonly loss: number;
  /** d loss / d user input, [B, userDim] row-major. */
  readonly userGrad: Float32Array;
  /** d loss / d item input, [B, itemDim] row-major. */
  readonly itemGrad: Float32Array;
}

export interface GradientResult extends StepResult {
  /** Gradient per trainable variable name (absent: not used, e.g. the logits in mode 'ones'). */
  readonly variables: ReadonlyMap<string, Float32Array>;
}

export interface StepOptions {
  /** This step's learning rate (default: the model's `learningRate`). */
  readonly learningRate?: number;
  /** Clip the dense gradients (weights and gate logits) to this global L2 norm. */
  readonly clipNorm?: number;
}

/** Smallest frequency used in the log-Q correction, so a zero does not give -log 0. */
const MIN_FREQUENCY = 1e-12;
/** Added under the square root of the cosine's norms. */
const COSINE_EPSILON = 1e-12;

/** Options from the run config and the input layout the embedding side produces. */
export function twoTowerOptions(
  model: ModelConfig,
  train: TrainConfig,
  layout: InputLayout,
): TwoTowerOptions {
  return {
    ...layout,
    userTower: model.user_tower,
    itemTower: model.item_tower,
    activation: model.activation,
    normalization: model.normalization,
    score: model.score,
    temperature: model.temperature,
    objective: model.objective,
    optimizer: train.optimizer,
    learningRate: train.learning_rate,
    seed: train.seed,
  };
}

export class TwoTowerModel {
  readonly userDim: number;
  readonly itemDim: number;
  readonly numCandidates: number;
  readonly objective: Objective;
  readonly scoreKind: ScoreKind;
  readonly temperature: number;
  /** Default learning rate of `step`. */
  learningRate: number;
  private readonly store = new VariableStore();
  private readonly gates: Gates;
  private readonly userColumns: ColumnGate;
  private readonly columnCandidates: { readonly user: Int32Array; readonly item: Int32Array };
  private readonly itemColumns: ColumnGate;
  private readonly userTower: Tower;
  private readonly itemTower: Tower;
  private readonly optimizer: DenseOptimizer;
  private readonly explicit: boolean;
  /** The [B, B] identity of the sampled softmax, per batch size. */
  private readonly eyes = new Map<number, tf.Tensor2D>();
  private disposed = false;

  constructor(options: TwoTowerOptions) {
    const seed = options.seed ?? 0;
    this.columnCandidates = { user: options.userColumnCandidate, item: options.itemColumnCandidate };
    this.userDim = options.userColumnCandidate.length;
    this.itemDim = options.itemColumnCandidate.length;
    this.numCandidates = options.numCandidates;
    this.objective = options.objective ?? 'binary';
    this.scoreKind = options.score ?? 'dot';
    this.temperature = options.temperature ?? 0.05;
    this.learningRate = options.learningRate ?? 0.003;
    this.explicit = options.explicitTranspose ?? tf.getBackend() === 'wasm';
    const userOut = options.userTower.at(-1) ?? this.userDim;
    const itemOut = options.itemTower.at(-1) ?? this.itemDim;
    if (userOut !== itemOut) {
      throw new LemoptError(
        `model.user_tower ends in ${userOut} units and model.item_tower in ${itemOut}: ` +
          'the score needs both towers to end in the same size',
      );
    }
    if (!(this.temperature > 0))
      throw new LemoptError(`model.temperature must be positive, got ${this.temperature}`);
    const common = {
      activation: options.activation ?? 'relu',
      normalization: options.normalization ?? 'none',
      seed,
      explicitTranspose: this.explicit,
    } as const;
    try {
      this.gates = new Gates(this.store, options.numCandidates, {
        seed,
        maskScale: options.maskScale ?? false,
      });
      this.userColumns = new ColumnGate(options.userColumnCandidate, options.numCandidates, 'user');
      this.itemColumns = new ColumnGate(options.itemColumnCandidate, options.numCandidates, 'item');
      this.userTower = new Tower(this.store, {
        ...common,
        name: 'user',
        inputDim: this.userDim,
        units: options.userTower,
      });
      this.itemTower = new Tower(this.store, {
        ...common,
        name: 'item',
        inputDim: this.itemDim,
        units: options.itemTower,
      });
      this.optimizer = new DenseOptimizer(options.optimizer ?? 'adam', this.store.trainable());
      if (options.gateLearningRate !== undefined)
        this.optimizer.fixLearningRate(GATE_LOGITS, options.gateLearningRate);
    } catch (error) {
      this.releaseTensors();
      throw error;
    }
  }

  static fromConfig(model: ModelConfig, train: TrainConfig, layout: InputLayout): TwoTowerModel {
    return new TwoTowerModel(twoTowerOptions(model, train, layout));
  }

  // ---- gates -------------------------------------------------------------------------

  get gateMode(): GateMode {
    return this.gates.mode;
  }

  set gateMode(mode: GateMode) {
    this.gates.mode = mode;
  }

  /** The 0/1 mask of selected candidates (a copy). */
  get selected(): Uint8Array {
    return this.gates.selected;
  }

  /** Marks candidates selected (gate 1 in mode 'attention'); takes effect on the next step. */
  set selected(mask: ArrayLike<number | boolean>) {
    this.gates.selected = mask;
  }

  /** Gate value per candidate, as the next step would use it. */
  gateValues(): Float32Array {
    this.check();
    return this.gates.read();
  }

  gateLogits(): Float32Array {
    this.check();
    return readFloats(this.gates.logits);
  }

  /**
   * Fresh logits N(0, 1e-5²) and fresh optimizer state for them: draw number `draw`
   * of the seeded stream (default: the next one), so a resumed selection draws the same.
   */
  resetGateLogits(draw?: number): void {
    this.check();
    this.gates.reset(draw);
    this.optimizer.reset(GATE_LOGITS);
  }

  /** L2 norm of each candidate's rows of the first-layer kernels (both towers): group lasso's score. */
  candidateNorms(): Float32Array {
    this.check();
    return Float32Array.from(candidateSquares(this.firstKernels(), this.numCandidates), Math.sqrt);
  }

  /**
   * Group lasso's proximal step: each candidate's first-layer kernel rows, as one vector,
   * shrink toward 0 by `amount` in L2 norm (to exactly 0 when shorter than that).
   */
  shrinkCandidates(amount: number): void {
    this.check();
    const kernels = this.firstKernels();
    const squares = candidateSquares(kernels, this.numCandidates);
    const scale = Float32Array.from(squares, (square) => {
      const norm = Math.sqrt(square);
      return norm > amount ? 1 - amount / norm : 0;
    });
    for (const { variable, data, rows, units, candidates } of kernels) {
      for (let row = 0; row < rows; row++) {
        const candidate = candidates[row];
        if (candidate < 0) continue;
        for (let k = row * units; k < (row + 1) * units; k++) data[k] *= scale[candidate];
      }
      tf.tidy(() => variable.assign(tf.tensor2d(data, [rows, units])));
    }
  }

  /** Both towers' first kernels, read once, with the candidate of each row. */
  private firstKernels(): FirstKernel[] {
    const kernels: FirstKernel[] = [];
    for (const [tower, candidates] of [
      [this.userTower, this.columnCandidates.user],
      [this.itemTower, this.columnCandidates.item],
    ] as const) {
      const variable = tower.firstKernel;
      if (variable === undefined) continue;
      const [rows, units] = variable.shape;
      kernels.push({ variable, data: readFloats(variable), rows, units, candidates });
    }
    return kernels;
  }

  // ---- training ----------------------------------------------------------------------

  /** Forward, backward and one optimizer update of the dense weights and (in mode 'attention') the gate logits. */
  step(batch: Batch, options: StepOptions = {}): StepResult {
    const learningRate = options.learningRate ?? this.learningRate;
    return this.backward(batch, (variables, grads) =>
      this.optimizer.apply(variables, grads, learningRate, options.clipNorm),
    );
  }

  /** Loss and gradients without an update (tests, diagnostics). */
  gradients(batch: Batch): GradientResult {
    let variables = new Map<string, Float32Array>();
    const result = this.backward(batch, (trainable, grads) => {
      variables = new Map(
        trainable.flatMap(({ name }, i) => {
          const grad = grads[i];
          return grad === undefined ? [] : [[name, readFloats(grad)] as const];
        }),
      );
    });
    return { ...result, variables };
  }

  /** The batch's mean loss, without gradients or updates (batch norm uses the batch's statistics). */
  loss(batch: Batch): number {
    this.check();
    this.checkTargets(batch);
    const inputs = this.inputs(batch);
    try {
      return tf.tidy(() => this.lossTensor(inputs, batch, false).dataSync()[0]);
    } finally {
      disposeInputs(inputs);
    }
  }

  /** Scores per row: probabilities for `binary`, the (cosine / temperature or dot) score for `sampled_softmax`. */
  /**
   * The tower outputs whose row-wise dot product is the score ([B, dim] each, row-major),
   * so items of a whole catalogue can be scored against users by one matrix product.
   */
  embed(batch: Pick<Batch, 'size' | 'user' | 'item'>): {
    user: Float32Array;
    item: Float32Array;
    dim: number;
  } {
    this.check();
    const inputs = this.inputs(batch);
    try {
      return tf.tidy(() => {
        const { user, item } = this.towers(inputs, false, false);
        return { user: readFloats(user), item: readFloats(item), dim: user.shape[1] };
      });
    } finally {
      disposeInputs(inputs);
    }
  }

  predict(batch: Pick<Batch, 'size' | 'user' | 'item'>): Float32Array {
    this.check();
    const inputs = this.inputs(batch);
    try {
      return tf.tidy(() => {
        const { user, item } = this.towers(inputs, false, false);
        const score = rowScore(user, item);
        return readFloats(this.objective === 'binary' ? tf.sigmoid(score) : score);
      });
    } finally {
      disposeInputs(inputs);
    }
  }

  private backward(
    batch: Batch,
    use: (variables: ReturnType<VariableStore['trainable']>, grads: (tf.Tensor | undefined)[]) => void,
  ): StepResult {
    this.check();
    this.checkTargets(batch);
    const inputs = this.inputs(batch);
    const variables = this.store.trainable();
    try {
      const { value, grads } = tf
        .engine()
        .gradients(
          () => this.lossTensor(inputs, batch, true),
          [inputs.user, inputs.item, ...variables.map((v) => v.variable)],
          undefined,
          true,
        );
      try {
        const loss = value.dataSync()[0];
        // An input no op reads (a tower of width 0) has no gradient: zeros.
        const [userGrad, itemGrad] = [inputs.user, inputs.item].map((input, i) =>
          grads[i] === undefined ? new Float32Array(input.size) : readFloats(grads[i]),
        );
        use(variables, grads.slice(2) as (tf.Tensor | undefined)[]);
        return { loss, userGrad, itemGrad };
      } finally {
        value.dispose();
        for (const grad of grads) grad?.dispose();
      }
    } finally {
      disposeInputs(inputs);
    }
  }

  // ---- forward -----------------------------------------------------------------------

  /**
   * Checks labels and frequencies before any tensor exists: an error thrown inside
   * tf.engine().gradients leaks the tensors its tape saved so far.
   */
  private checkTargets(batch: Batch): void {
    const { size, labels, itemFrequency } = batch;
    if (labels !== undefined && labels.length !== size) {
      throw new Error(`labels has ${labels.length} values, expected ${size}`);
    }
    if (this.objective === 'binary' && labels === undefined)
      throw new Error('the binary objective needs labels');
    if (itemFrequency !== undefined && itemFrequency.length !== size) {
      throw new Error(`itemFrequency has ${itemFrequency.length} values, expected ${size}`);
    }
  }

  private inputs(batch: Pick<Batch, 'size' | 'user' | 'item'>): { user: tf.Tensor2D; item: tf.Tensor2D } {
    const { size } = batch;
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`batch size must be a positive integer, got ${size}`);
    if (batch.user.length !== size * this.userDim) {
      throw new Error(`user input has ${batch.user.length} values, expected ${size} x ${this.userDim}`);
    }
    if (batch.item.length !== size * this.itemDim) {
      throw new Error(`item input has ${batch.item.length} values, expected ${size} x ${this.itemDim}`);
    }
    const user = tf.tensor2d(batch.user, [size, this.userDim]);
    const item = tf.tensor2d(batch.item, [size, this.itemDim]);
    return { user, item };
  }

  /** Tower outputs, normalised and divided by the temperature for the cosine score. */
  private towers(
    inputs: { user: tf.Tensor2D; item: tf.Tensor2D },
    training: boolean,
    updateStats: boolean,
  ): { user: tf.Tensor2D; item: tf.Tensor2D } {
    const gates = this.gates.values();
    const apply = { training, updateStats };
    let user = this.userTower.apply(inputs.user, {
      ...apply,
      columnScale: gates && this.userColumns.columns(gates, this.explicit),
    });
    let item = this.itemTower.apply(inputs.item, {
      ...apply,
      columnScale: gates && this.itemColumns.columns(gates, this.explicit),
    });
    if (this.scoreKind === 'cosine') {
      user = tf.mul(unitRows(user), 1 / this.temperature);
      item = unitRows(item);
    }
    return { user, item };
  }

  /** Mean loss; `updateStats`: a training step (batch normalisation updates its moving averages). */
  private lossTensor(
    inputs: { user: tf.Tensor2D; item: tf.Tensor2D },
    batch: Batch,
    updateStats: boolean,
  ): tf.Scalar {
    const { user, item } = this.towers(inputs, true, updateStats);
    const size = batch.size;
    const labels = batch.labels;
    if (this.objective === 'binary') {
      if (labels === undefined) throw new Error('unreachable: checkTargets requires labels');
      const z = rowScore(user, item);
      const y = tf.tensor1d(labels);
      // max(z, 0) - z y + log(1 + exp(-|z|)): stable for any z.
      const perRow = tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
      return tf.mean(perRow);
    }
    let logits = matMulBT(user, item, this.explicit);
    if (batch.itemFrequency !== undefined) {
      const logQ = Float32Array.from(batch.itemFrequency, (q) => Math.log(Math.max(q, MIN_FREQUENCY)));
      logits = tf.sub(logits, tf.tensor2d(logQ, [1, size]));
    }
    const perRow = inBatchSoftmaxLoss(logits, this.eye(size));
    if (labels === undefined) return tf.mean(perRow);
    const weights = tf.tensor1d(labels);
    return tf.div(tf.sum(tf.mul(perRow, weights)), tf.maximum(tf.sum(weights), MIN_FREQUENCY));
  }

  private eye(size: number): tf.Tensor2D {
    let eye = this.eyes.get(size);
    if (eye === undefined) {
      eye = tf.keep(tf.eye(size) as tf.Tensor2D);
      this.eyes.set(size, eye);
    }
    return eye;
  }

  // ---- weights -----------------------------------------------------------------------

  /** Copies of every weight: gate logits, tower kernels, biases, normalisation parameters and statistics. */
  getWeights(): NamedArray[] {
    this.check();
    return this.store.read();
  }

  /** Sets every weight from arrays named and shaped as `getWeights` returns them. */
  setWeights(weights: readonly NamedArray[]): void {
    this.check();
    this.store.write(weights);
  }

  getOptimizerState(): OptimizerState {
    this.check();
    return this.optimizer.getState();
  }

  setOptimizerState(state: OptimizerState): void {
    this.check();
    this.optimizer.setState(state);
  }

  /** Frees every tensor of the model; it cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.releaseTensors();
    this.disposed = true;
  }

  private releaseTensors(): void {
    // Parts may be missing when the constructor failed half-way.
    (this.optimizer as DenseOptimizer | undefined)?.dispose();
    (this.gates as Gates | undefined)?.dispose();
    (this.userColumns as ColumnGate | undefined)?.dispose();
    (this.itemColumns as ColumnGate | undefined)?.dispose();
    this.store.dispose();
    for (const eye of this.eyes.values()) eye.dispose();
    this.eyes.clear();
  }

  private check(): void {
    if (this.disposed) throw new Error('this model was disposed');
  }
}

interface FirstKernel {
  readonly variable: tf.Variable<tf.Rank.R2>;
  /** A copy of its values, [rows, units] row-major. */
  readonly data: Float32Array;
  readonly rows: number;
  readonly units: number;
  /** Candidate of each row (input column); -1: not gated. */
  readonly candidates: Int32Array;
}

/** Σ of squares of each candidate's kernel rows over both towers. */
function candidateSquares(kernels: readonly FirstKernel[], numCandidates: number): Float64Array {
  const squares = new Float64Array(numCandidates);
  for (const { data, rows, units, candidates } of kernels) {
    for (let row = 0; row < rows; row++) {
      if (candidates[row] < 0) continue;
      for (let k = row * units; k < (row + 1) * units; k++) squares[candidates[row]] += data[k] * data[k];
    }
  }
  return squares;
}

/** Row-wise dot product of [B, K] tensors, as [B]. */
function rowScore(user: tf.Tensor2D, item: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(user, item), 1);
}

/** Rows scaled to unit length. */
function unitRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), 1, true), COSINE_EPSILON)));
}

function disposeInputs(inputs: { user: tf.Tensor; item: tf.Tensor }): void {
  inputs.user.dispose();
  inputs.item.dispose();
}
