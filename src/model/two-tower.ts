/**
 * The dense part of the two-tower model, engine-neutral: Sequential Attention gates, the
 * user and item towers, the score and the loss. The parameters, the gates, the dense
 * optimizer and batch normalisation's moving averages live here as Float32Arrays; the
 * engine (engine.ts: ONNX Runtime or tfjs) computes the passes. Embedding lookups happen
 * outside (src/embedding): a batch arrives as two dense Float32Arrays, the concatenated
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
 * - The loss is the mean over the batch (sampled_softmax with labels: weighted by them),
 *   and the input gradients are of that loss.
 */
import type { ModelConfig, TrainConfig } from '../config/schema.js';
import { LemoptError } from '../util/errors.js';
import {
  BATCH_NORM_MOMENTUM,
  MIN_FREQUENCY,
  MIN_WEIGHT_SUM,
  towerOutputDim,
  towerParameters,
  type Activation,
  type Normalization,
  type Objective,
  type ParameterSpec,
  type ScoreKind,
  type TwoTowerSpec,
} from './architecture.js';
import { activeEngine } from './backend.js';
import type { DenseEngine, TwoTowerInputs, TwoTowerKernel, TwoTowerTargets } from './engine.js';
import { ColumnGate, GATE_LOGITS, Gates, initialLogits, type GateMode } from './gates.js';
import { DenseOptimizer, type OptimizerKind, type OptimizerState } from './optimizer.js';
import { Parameters, type NamedArray } from './parameters.js';

export type { Objective, ScoreKind } from './architecture.js';

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
  /** The engine that computes (default: the one backend.ts selected for the process). */
  readonly engine?: DenseEngine;
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
  /** The batch's loss before the update. */
  readonly loss: number;
  /** d loss / d user input, [B, userDim] row-major; valid until the model's next call. */
  readonly userGrad: Float32Array;
  /** d loss / d item input, [B, itemDim] row-major; valid until the model's next call. */
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
  /** Which parameters the step updates: all (default), the gate logits alone, or all but them. */
  readonly update?: 'all' | 'gates' | 'weights';
}

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
  readonly spec: TwoTowerSpec;
  /** The engine's name (backend.ts). */
  readonly engine: string;
  /** Default learning rate of `step`. */
  learningRate: number;
  private readonly parameters: Parameters;
  private readonly gates: Gates;
  private readonly userColumns: ColumnGate;
  private readonly itemColumns: ColumnGate;
  private readonly optimizer: DenseOptimizer;
  private readonly kernel: TwoTowerKernel;
  private readonly engineRef: DenseEngine;
  private disposed = false;

  constructor(options: TwoTowerOptions) {
    const seed = options.seed ?? 0;
    this.userDim = options.userColumnCandidate.length;
    this.itemDim = options.itemColumnCandidate.length;
    this.numCandidates = options.numCandidates;
    this.objective = options.objective ?? 'binary';
    this.scoreKind = options.score ?? 'dot';
    this.temperature = options.temperature ?? 0.05;
    this.learningRate = options.learningRate ?? 0.003;
    const common = {
      activation: options.activation ?? 'relu',
      normalization: options.normalization ?? 'none',
    };
    this.spec = {
      user: { ...common, name: 'user', inputDim: this.userDim, units: options.userTower },
      item: { ...common, name: 'item', inputDim: this.itemDim, units: options.itemTower },
      score: this.scoreKind,
      temperature: this.temperature,
      objective: this.objective,
    };
    const userOut = towerOutputDim(this.spec.user);
    const itemOut = towerOutputDim(this.spec.item);
    if (userOut !== itemOut) {
      throw new LemoptError(
        `model.user_tower ends in ${userOut} units and model.item_tower in ${itemOut}: ` +
          'the score needs both towers to end in the same size',
      );
    }
    if (!(this.temperature > 0))
      throw new LemoptError(`model.temperature must be positive, got ${this.temperature}`);
    if (!Number.isInteger(options.numCandidates) || options.numCandidates < 1) {
      throw new Error(`a model needs at least one candidate, got ${options.numCandidates}`);
    }
    const logits: ParameterSpec = {
      name: GATE_LOGITS,
      shape: [options.numCandidates],
      trainable: true,
      init: (s) => initialLogits(options.numCandidates, s, 0),
    };
    this.parameters = new Parameters(
      [logits, ...towerParameters(this.spec.user), ...towerParameters(this.spec.item)],
      seed,
    );
    this.gates = new Gates(this.parameters.get(GATE_LOGITS), { seed, maskScale: options.maskScale ?? false });
    this.userColumns = new ColumnGate(options.userColumnCandidate, options.numCandidates, 'user');
    this.itemColumns = new ColumnGate(options.itemColumnCandidate, options.numCandidates, 'item');
    this.optimizer = new DenseOptimizer(options.optimizer ?? 'adam', this.parameters.trainable());
    if (options.gateLearningRate !== undefined)
      this.optimizer.fixLearningRate(GATE_LOGITS, options.gateLearningRate);
    this.engineRef = options.engine ?? activeEngine();
    this.engine = this.engineRef.name;
    this.kernel = this.engineRef.twoTower(this.spec);
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

  /** Candidates with gate 0 in mode 'attention', outside the softmax (a copy of the mask). */
  get excluded(): Uint8Array {
    return this.gates.excluded;
  }

  set excluded(mask: ArrayLike<number | boolean>) {
    this.gates.excluded = mask;
  }

  /** Gate value per candidate, as the next step would use it. */
  gateValues(): Float32Array {
    this.check();
    return this.gates.values();
  }

  gateLogits(): Float32Array {
    this.check();
    return this.parameters.get(GATE_LOGITS).slice();
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
    for (const { data, rows, units, candidates } of kernels) {
      for (let row = 0; row < rows; row++) {
        const candidate = candidates[row];
        if (candidate < 0) continue;
        for (let k = row * units; k < (row + 1) * units; k++) data[k] *= scale[candidate];
      }
    }
  }

  /** Both towers' first kernels (live arrays), with the candidate of each row. */
  private firstKernels(): FirstKernel[] {
    const kernels: FirstKernel[] = [];
    for (const [tower, columns] of [
      [this.spec.user, this.userColumns],
      [this.spec.item, this.itemColumns],
    ] as const) {
      if (tower.units.length === 0) continue;
      const units = tower.units[0];
      kernels.push({
        data: this.parameters.get(`${tower.name}/dense_0/kernel`),
        rows: tower.inputDim,
        units,
        candidates: columns.columnCandidate,
      });
    }
    return kernels;
  }

  // ---- training ----------------------------------------------------------------------

  /**
   * Forward, backward and one optimizer update of the dense weights and (in mode
   * 'attention') the gate logits; batch normalisation's moving averages follow the batch.
   */
  step(batch: Batch, options: StepOptions = {}): StepResult {
    const learningRate = options.learningRate ?? this.learningRate;
    const pass = this.pass(batch);
    const update = options.update ?? 'all';
    const variables =
      update === 'all'
        ? pass.variables
        : new Map([...pass.variables].filter(([name]) => (name === GATE_LOGITS) === (update === 'gates')));
    this.optimizer.apply(this.parameters, variables, learningRate, options.clipNorm);
    if (update !== 'gates') this.followBatchStats(pass.batchStats);
    return { loss: pass.loss, userGrad: pass.userGrad, itemGrad: pass.itemGrad };
  }

  /** Loss and gradients (copies) without an update (tests, diagnostics). */
  gradients(batch: Batch): GradientResult {
    const pass = this.pass(batch);
    return {
      loss: pass.loss,
      userGrad: pass.userGrad.slice(),
      itemGrad: pass.itemGrad.slice(),
      variables: new Map([...pass.variables].map(([name, values]) => [name, values.slice()])),
    };
  }

  /** The batch's loss, without gradients or updates (batch norm uses the batch's statistics). */
  loss(batch: Batch): number {
    this.check();
    const targets = this.targets(batch);
    return this.kernel.loss(this.parameters.live, this.inputs(batch), targets);
  }

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
    const { user, item, dim } = this.kernel.infer(this.parameters.live, this.inputs(batch));
    return { user, item, dim };
  }

  /** Scores per row: probabilities for `binary`, the (cosine / temperature or dot) score for `sampled_softmax`. */
  predict(batch: Pick<Batch, 'size' | 'user' | 'item'>): Float32Array {
    this.check();
    return this.kernel.infer(this.parameters.live, this.inputs(batch)).scores;
  }

  /** Scores of `rows` user vectors against `items` item vectors (embed's outputs), [rows, items] row-major. */
  scoreAgainst(users: Float32Array, rows: number, items: Float32Array, count: number): Float32Array {
    this.check();
    const dim = towerOutputDim(this.spec.user);
    return this.engineRef.matMulNT(users, items, rows, count, dim);
  }

  private pass(batch: Batch) {
    this.check();
    const targets = this.targets(batch);
    const pass = this.kernel.train(this.parameters.live, this.inputs(batch), targets);
    const variables = new Map(pass.parameters);
    const gateGradient = new Float64Array(this.numCandidates);
    this.userColumns.accumulate(pass.userScaleGrad, gateGradient);
    this.itemColumns.accumulate(pass.itemScaleGrad, gateGradient);
    const logits = this.gates.logitGradient(gateGradient);
    if (logits) variables.set(GATE_LOGITS, logits);
    return { ...pass, variables };
  }

  /** Moving averages of batch normalisation: m ← (1 − momentum) m + momentum · batch value. */
  private followBatchStats(batchStats: ReadonlyMap<string, Float32Array>): void {
    for (const [name, values] of batchStats) {
      const moving = this.parameters.get(name);
      for (let k = 0; k < moving.length; k++)
        moving[k] = moving[k] * (1 - BATCH_NORM_MOMENTUM) + values[k] * BATCH_NORM_MOMENTUM;
    }
  }

  // ---- inputs ------------------------------------------------------------------------

  /** Checks labels and frequencies and turns them into the engines' targets. */
  private targets(batch: Batch): TwoTowerTargets {
    const { size, labels, itemFrequency } = batch;
    if (labels !== undefined && labels.length !== size) {
      throw new Error(`labels has ${labels.length} values, expected ${size}`);
    }
    if (this.objective === 'binary' && labels === undefined)
      throw new Error('the binary objective needs labels');
    if (itemFrequency !== undefined && itemFrequency.length !== size) {
      throw new Error(`itemFrequency has ${itemFrequency.length} values, expected ${size}`);
    }
    if (this.objective === 'binary') return { labels, rowWeights: new Float32Array(size).fill(1 / size) };
    let total = 0;
    if (labels) for (const weight of labels) total += weight;
    const rowWeights = labels
      ? Float32Array.from(labels, (weight) => weight / Math.max(total, MIN_WEIGHT_SUM))
      : new Float32Array(size).fill(1 / size);
    const logQ =
      itemFrequency && Float32Array.from(itemFrequency, (q) => Math.log(Math.max(q, MIN_FREQUENCY)));
    return { rowWeights, logQ };
  }

  private inputs(batch: Pick<Batch, 'size' | 'user' | 'item'>): TwoTowerInputs {
    const { size } = batch;
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`batch size must be a positive integer, got ${size}`);
    if (batch.user.length !== size * this.userDim) {
      throw new Error(`user input has ${batch.user.length} values, expected ${size} x ${this.userDim}`);
    }
    if (batch.item.length !== size * this.itemDim) {
      throw new Error(`item input has ${batch.item.length} values, expected ${size} x ${this.itemDim}`);
    }
    const gates = this.gates.values();
    return {
      size,
      user: batch.user,
      item: batch.item,
      userScale: this.userColumns.columns(gates),
      itemScale: this.itemColumns.columns(gates),
    };
  }

  // ---- weights -----------------------------------------------------------------------

  /** Copies of every weight: gate logits, tower kernels, biases, normalisation parameters and statistics. */
  getWeights(): NamedArray[] {
    this.check();
    return this.parameters.read();
  }

  /** Sets every weight from arrays named and shaped as `getWeights` returns them. */
  setWeights(weights: readonly NamedArray[]): void {
    this.check();
    this.parameters.write(weights);
  }

  getOptimizerState(): OptimizerState {
    this.check();
    return this.optimizer.getState();
  }

  setOptimizerState(state: OptimizerState): void {
    this.check();
    this.optimizer.setState(state);
  }

  /** Frees the engine's resources; the model cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.kernel.dispose();
    this.disposed = true;
  }

  private check(): void {
    if (this.disposed) throw new Error('this model was disposed');
  }
}

interface FirstKernel {
  /** The live values, [rows, units] row-major. */
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
