/**
 * An MLP classifier over dense numeric columns with one Sequential Attention gate per
 * column, the setting of the reference implementation (google-research
 * sequential_attention, experiments/models/mlp_sa.py):
 *
 *   x ─► standardise (train mean and std, fixed) ─► gate per column ─► hidden layers
 *     (relu) ─► linear layer to one logit per class ─► softmax cross-entropy.
 *
 * The standardisation plays the reference's input batch normalisation in inference mode,
 * with the statistics of the whole train split instead of moving averages. The gates
 * scale the rows of the first kernel (gates.ts); with no hidden layer the model is a
 * gated multinomial logistic regression. Weights train with the TypeScript Adam of
 * optimizer.ts, the gate logits at their own fixed learning rate.
 */
import * as tf from '@tensorflow/tfjs';
import { ColumnGate, GATE_LOGITS, Gates, type GateMode } from './gates.js';
import { DenseOptimizer } from './optimizer.js';
import { Tower } from './tower.js';
import { VariableStore, readFloats } from './variables.js';

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
  readonly explicitTranspose?: boolean;
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
  learningRate: number;
  private readonly store = new VariableStore();
  private readonly gates: Gates;
  private readonly columns: ColumnGate;
  private readonly mlp: Tower;
  private readonly optimizer: DenseOptimizer;
  private readonly shift: tf.Tensor2D;
  private readonly scale: tf.Tensor2D;
  private readonly explicit: boolean;
  private disposed = false;

  constructor(options: ClassifierOptions) {
    const { inputDim, numClasses } = options;
    if (numClasses < 2) throw new Error(`a classifier needs at least 2 classes, got ${numClasses}`);
    this.inputDim = inputDim;
    this.numClasses = numClasses;
    this.learningRate = options.learningRate ?? 0.003;
    this.explicit = options.explicitTranspose ?? tf.getBackend() === 'wasm';
    const seed = options.seed ?? 0;
    const mean = options.inputMean ?? new Float32Array(inputDim);
    const std = options.inputStd ?? new Float32Array(inputDim).fill(1);
    this.shift = tf.keep(tf.tensor2d(mean, [1, inputDim]));
    this.scale = tf.keep(
      tf.tensor2d(
        Float32Array.from(std, (s) => 1 / s),
        [1, inputDim],
      ),
    );
    this.gates = new Gates(this.store, inputDim, { seed, maskScale: options.maskScale ?? false });
    this.columns = new ColumnGate(
      Int32Array.from({ length: inputDim }, (_, j) => j),
      inputDim,
      'input',
    );
    this.mlp = new Tower(this.store, {
      name: 'mlp',
      inputDim,
      units: [...options.hidden, numClasses],
      activation: 'relu',
      normalization: 'none',
      seed,
      explicitTranspose: this.explicit,
    });
    this.optimizer = new DenseOptimizer('adam', this.store.trainable());
    if (options.gateLearningRate !== undefined)
      this.optimizer.fixLearningRate(GATE_LOGITS, options.gateLearningRate);
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
    return this.gates.read();
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
    for (const label of labels)
      if (!(label >= 0 && label < this.numClasses))
        throw new Error(`class id ${label} outside 0..${this.numClasses - 1}`);
    const variables = this.store.trainable();
    const input = tf.tensor2d(x, [size, this.inputDim]);
    const target = tf.tidy(
      () => tf.oneHot(tf.tensor1d(labels, 'int32'), this.numClasses).toFloat() as tf.Tensor2D,
    );
    try {
      const { value, grads } = tf.engine().gradients(
        () => this.loss(input, target),
        variables.map((v) => v.variable),
        undefined,
        true,
      );
      try {
        const loss = value.dataSync()[0];
        this.optimizer.apply(variables, grads as (tf.Tensor | undefined)[], this.learningRate);
        return loss;
      } finally {
        value.dispose();
        for (const grad of grads) grad?.dispose();
      }
    } finally {
      input.dispose();
      target.dispose();
    }
  }

  /** Class probabilities, [size, numClasses] row-major. */
  predict(x: Float32Array, size = x.length / this.inputDim): Float32Array {
    this.check();
    return tf.tidy(() => readFloats(tf.softmax(this.logits(tf.tensor2d(x, [size, this.inputDim])))));
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
    this.gates.dispose();
    this.columns.dispose();
    this.shift.dispose();
    this.scale.dispose();
    this.store.dispose();
  }

  private logits(input: tf.Tensor2D): tf.Tensor2D {
    const standard = tf.mul(tf.sub(input, this.shift), this.scale) as tf.Tensor2D;
    const gates = this.gates.values();
    return this.mlp.apply(standard, {
      training: true,
      updateStats: false,
      columnScale: gates && this.columns.columns(gates, this.explicit),
    });
  }

  /** Mean softmax cross-entropy. */
  private loss(input: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
    const logSoftmax = tf.logSoftmax(this.logits(input));
    return tf.neg(tf.mean(tf.sum(tf.mul(logSoftmax, target), 1))) as tf.Scalar;
  }

  private check(): void {
    if (this.disposed) throw new Error('this model was disposed');
  }
}
