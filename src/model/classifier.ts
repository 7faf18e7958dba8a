/**
 * An MLP classifier over dense numeric columns with one Sequential Attention gate per
 * column, the setting of the reference implementation (google-research
 * sequential_attention, experiments/models/mlp_sa.py):
 *
 *   x ─► standardise (train mean and std, fixed) ─► gate per column ─► hidden layers
 *     (relu) ─► linear layer to one logit per class ─► softmax cross-entropy.
 *
 * The standardisation plays the reference's input batch normalisation in inference mode,
 * with the statistics of the whole train split instead of moving averages; it is done
 * here, the engine (engine.ts) sees standardised inputs. The gates scale the rows of the
 * first kernel (gates.ts); with no hidden layer the model is a gated multinomial logistic
 * regression. Weights train with the TypeScript Adam of optimizer.ts, the gate logits at
 * their own fixed learning rate.
 */
import { towerParameters, type ClassifierSpec, type ParameterSpec } from './architecture.js';
import { activeEngine } from './backend.js';
import type { ClassifierKernel, DenseEngine } from './engine.js';
import { ColumnGate, GATE_LOGITS, Gates, initialLogits, type GateMode } from './gates.js';
import { DenseOptimizer } from './optimizer.js';
import { Parameters } from './parameters.js';

export interface ClassifierOptions {
  readonly inputDim: number;
  readonly numClasses: number;
  /** Hidden layer sizes. */
  readonly hidden: readonly number[];
  /** Per-column shift and scale: the model sees (x − mean) / std. Default: none. */
  readonly inputMean?: Float32Array;
  readonly inputStd?: Float32Array;
  readonly learningRate?: number;
  readonly gateLearningRate?: number;
  readonly seed?: number;
  readonly maskScale?: boolean;
  /** The engine that computes (default: the process's, backend.ts). */
  readonly engine?: DenseEngine;
}

/** Column means and standard deviations over `rows` of x [n, d] (std 1 for a constant column). */
export function columnMoments(
  x: Float32Array,
  d: number,
  rows: ArrayLike<number>,
): { mean: Float32Array; std: Float32Array } {
  const sum = new Float64Array(d);
  const squares = new Float64Array(d);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r] * d;
    for (let j = 0; j < d; j++) sum[j] += x[base + j];
  }
  const n = Math.max(rows.length, 1);
  const mean = Float64Array.from(sum, (s) => s / n);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r] * d;
    for (let j = 0; j < d; j++) squares[j] += (x[base + j] - mean[j]) ** 2;
  }
  const std = Float32Array.from(squares, (s) => {
    const value = Math.sqrt(s / n);
    return value > 1e-8 ? value : 1;
  });
  return { mean: Float32Array.from(mean), std };
}

export class ClassifierModel {
  readonly inputDim: number;
  readonly numClasses: number;
  readonly spec: ClassifierSpec;
  learningRate: number;
  private readonly parameters: Parameters;
  private readonly gates: Gates;
  private readonly columns: ColumnGate;
  private readonly optimizer: DenseOptimizer;
  private readonly kernel: ClassifierKernel;
  private readonly shift: Float32Array;
  private readonly inverseStd: Float32Array;
  private disposed = false;

  constructor(options: ClassifierOptions) {
    const { inputDim, numClasses } = options;
    if (numClasses < 2) throw new Error(`a classifier needs at least 2 classes, got ${numClasses}`);
    this.inputDim = inputDim;
    this.numClasses = numClasses;
    this.learningRate = options.learningRate ?? 0.003;
    const seed = options.seed ?? 0;
    this.shift = options.inputMean ?? new Float32Array(inputDim);
    this.inverseStd = Float32Array.from(options.inputStd ?? new Float32Array(inputDim).fill(1), (s) => 1 / s);
    this.spec = {
      tower: {
        name: 'mlp',
        inputDim,
        units: [...options.hidden, numClasses],
        activation: 'relu',
        normalization: 'none',
      },
      numClasses,
    };
    const logits: ParameterSpec = {
      name: GATE_LOGITS,
      shape: [inputDim],
      trainable: true,
      init: (s) => initialLogits(inputDim, s, 0),
    };
    this.parameters = new Parameters([logits, ...towerParameters(this.spec.tower)], seed);
    this.gates = new Gates(this.parameters.get(GATE_LOGITS), { seed, maskScale: options.maskScale ?? false });
    this.columns = new ColumnGate(
      Int32Array.from({ length: inputDim }, (_, j) => j),
      inputDim,
      'input',
    );
    this.optimizer = new DenseOptimizer('adam', this.parameters.trainable());
    if (options.gateLearningRate !== undefined)
      this.optimizer.fixLearningRate(GATE_LOGITS, options.gateLearningRate);
    this.kernel = (options.engine ?? activeEngine()).classifier(this.spec);
  }

  set gateMode(mode: GateMode) {
    this.gates.mode = mode;
  }

  get gateMode(): GateMode {
    return this.gates.mode;
  }

  set selected(mask: ArrayLike<number | boolean>) {
    this.gates.selected = mask;
  }

  gateValues(): Float32Array {
    this.check();
    return this.gates.values();
  }

  /** Fresh logits (draw `draw` of the seeded stream) and fresh Adam moments for them. */
  resetGateLogits(draw?: number): void {
    this.check();
    this.gates.reset(draw);
    this.optimizer.reset(GATE_LOGITS);
  }

  /** One Adam step on a batch: x [size, inputDim] row-major, labels class ids. Returns the mean loss before it. */
  step(x: Float32Array, labels: Int32Array): number {
    this.check();
    const size = labels.length;
    if (x.length !== size * this.inputDim)
      throw new Error(`input has ${x.length} values, expected ${size} x ${this.inputDim}`);
    const oneHot = new Float32Array(size * this.numClasses);
    labels.forEach((label, row) => {
      if (!(label >= 0 && label < this.numClasses))
        throw new Error(`class id ${label} outside 0..${this.numClasses - 1}`);
      oneHot[row * this.numClasses + label] = 1;
    });
    const pass = this.kernel.train(this.parameters.live, this.inputs(x, size), {
      oneHot,
      rowWeights: new Float32Array(size).fill(1 / size),
    });
    const gradients = new Map(pass.parameters);
    const gateGradient = new Float64Array(this.inputDim);
    this.columns.accumulate(pass.scaleGrad, gateGradient);
    const logitGradient = this.gates.logitGradient(gateGradient);
    if (logitGradient) gradients.set(GATE_LOGITS, logitGradient);
    this.optimizer.apply(this.parameters, gradients, this.learningRate);
    return pass.loss;
  }

  /** Class probabilities, [size, numClasses] row-major. */
  predict(x: Float32Array, size = x.length / this.inputDim): Float32Array {
    this.check();
    return this.kernel.probabilities(this.parameters.live, this.inputs(x, size));
  }

  /** Share of rows whose most probable class is the label. */
  accuracy(x: Float32Array, labels: Int32Array): number {
    if (labels.length === 0) return Number.NaN;
    const probabilities = this.predict(x, labels.length);
    let correct = 0;
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let c = 1; c < this.numClasses; c++)
        if (probabilities[i * this.numClasses + c] > probabilities[i * this.numClasses + best]) best = c;
      if (best === labels[i]) correct++;
    }
    return correct / labels.length;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.kernel.dispose();
  }

  /** Standardised inputs and the gate of every column. */
  private inputs(x: Float32Array, size: number) {
    const standard = new Float32Array(size * this.inputDim);
    for (let row = 0, k = 0; row < size; row++) {
      for (let j = 0; j < this.inputDim; j++, k++) standard[k] = (x[k] - this.shift[j]) * this.inverseStd[j];
    }
    return { size, x: standard, scale: this.columns.columns(this.gates.values()) };
  }

  private check(): void {
    if (this.disposed) throw new Error('this model was disposed');
  }
}
