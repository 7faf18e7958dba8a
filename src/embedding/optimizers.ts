/**
 * Sparse optimizers: each update touches only the rows that received a gradient in the
 * batch, with each row's gradients already summed over its occurrences.
 *
 * Every kernel reads the summed gradients `grad` (touched row s at grad[s*dims ..]), the
 * touched table rows `rows[0..count)`, and updates `dims` leading columns of each row of
 * `weights` (row stride `width`). Arithmetic is in float64, state is stored in float32.
 *
 * Weight decay is decoupled (AdamW style, FBGEMM's WeightDecayMode.DECOUPLE) and lazy:
 * a touched row first shrinks by (1 - lr × weight_decay), using its weights before the
 * step, and the optimizer step is added:  w ← (1 - lr·wd)·w - step(g).
 * Rows absent from the batch are not decayed. It never enters the gradient, so Adagrad's
 * accumulator and Adam's moments see the loss gradient only.
 *
 * SGD:               w ← (1 - lr·wd)·w - lr·g
 * Row-wise Adagrad:  (FBGEMM/TorchRec rowwise_adagrad) one accumulator h per row,
 *                    h ← h + mean_d(g_d²) over the row's active dims,
 *                    w ← (1 - lr·wd)·w - lr / (√h + eps) · g
 * Lazy Adam:         torch.optim.SparseAdam's update on the touched rows only:
 *                    m ← m + (1-β1)(g - m),  v ← v + (1-β2)(g² - v),
 *                    w ← (1 - lr·wd)·w - lr·√(1-β2^t)/(1-β1^t) · m / (√v + eps)
 *                    (eps added to √v, not to the bias-corrected √v̂, exactly as SparseAdam).
 *                    t is the row's own update count (`adamStep: 'row'`, default), so each
 *                    row follows dense Adam run on the gradients it received; or the
 *                    table's update count (`adamStep: 'global'`), which is SparseAdam's
 *                    state['step'] and gives exactly PyTorch's trajectory.
 */
import type { TrainConfig } from '../config/schema.js';
import { stepRow, sumSquaresRow } from './row-kernels.js';
import type { ArrayAllocator } from './typed-memory.js';

export type SparseOptimizerKind = 'sgd' | 'adagrad' | 'adam';

export interface SparseOptimizerConfig {
  readonly kind: SparseOptimizerKind;
  /** Default learning rate; update() may pass another one per step. */
  readonly learningRate: number;
  /** Decoupled weight decay (see above); default 0. */
  readonly weightDecay?: number;
  /** Adagrad default 1e-8 (FBGEMM), Adam default 1e-8 (PyTorch). */
  readonly eps?: number;
  /** Adam; defaults 0.9 and 0.999. */
  readonly beta1?: number;
  readonly beta2?: number;
  /** Adam bias correction step: per row (default) or per table (PyTorch SparseAdam). */
  readonly adamStep?: 'row' | 'global';
  /** Adagrad accumulator's initial value; default 0. */
  readonly initialAccumulator?: number;
}

export type ResolvedOptimizerConfig = Required<SparseOptimizerConfig>;

export function resolveOptimizer(config: SparseOptimizerConfig): ResolvedOptimizerConfig {
  const resolved: ResolvedOptimizerConfig = {
    kind: config.kind,
    learningRate: config.learningRate,
    weightDecay: config.weightDecay ?? 0,
    eps: config.eps ?? 1e-8,
    beta1: config.beta1 ?? 0.9,
    beta2: config.beta2 ?? 0.999,
    adamStep: config.adamStep ?? 'row',
    initialAccumulator: config.initialAccumulator ?? 0,
  };
  if (!(resolved.learningRate >= 0))
    throw new RangeError(`learning rate must be >= 0, got ${config.learningRate}`);
  if (!(resolved.weightDecay >= 0))
    throw new RangeError(`weight decay must be >= 0, got ${config.weightDecay}`);
  if (!(resolved.eps > 0)) throw new RangeError(`eps must be > 0, got ${config.eps}`);
  for (const beta of [resolved.beta1, resolved.beta2])
    if (!(beta >= 0 && beta < 1)) throw new RangeError(`Adam betas must be in [0, 1), got ${beta}`);
  return resolved;
}

/** The embedding optimizer of a run's train section. */
export function optimizerFromTrainConfig(
  train: Pick<TrainConfig, 'embedding_optimizer' | 'embedding_learning_rate' | 'weight_decay'>,
): SparseOptimizerConfig {
  return {
    kind: train.embedding_optimizer,
    learningRate: train.embedding_learning_rate,
    weightDecay: train.weight_decay,
  };
}

/** Optimizer state of one table. Arrays not used by the optimizer are empty. */
export interface OptimizerSlots {
  /** Adagrad: one accumulator per row. */
  accumulator: Float32Array;
  /** Adam: first and second moments, rows × width. */
  m: Float32Array;
  v: Float32Array;
  /** Adam with adamStep 'row': number of updates of each row. */
  rowSteps: Int32Array;
  /** Number of update() calls that included this table (SparseAdam's state['step']). */
  step: number;
}

/**
 * The arrays behind one table's OptimizerSlots, the step count included (one element),
 * so that a view of the same memory on another thread (slotsOver) shares all of it.
 */
export interface SlotArrays {
  readonly accumulator: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  readonly rowSteps: Int32Array;
  readonly step: Float64Array;
}

export function allocateSlots(
  config: ResolvedOptimizerConfig,
  rows: number,
  width: number,
  memory: ArrayAllocator,
): SlotArrays {
  const adam = config.kind === 'adam';
  const accumulator = memory.float32(config.kind === 'adagrad' ? rows : 0);
  accumulator.fill(config.initialAccumulator);
  return {
    accumulator,
    m: memory.float32(adam ? rows * width : 0),
    v: memory.float32(adam ? rows * width : 0),
    rowSteps: memory.int32(adam && config.adamStep === 'row' ? rows : 0),
    step: memory.float64(1),
  };
}

/** OptimizerSlots over the given arrays (no copy). */
export function slotsOver(arrays: SlotArrays): OptimizerSlots {
  const { accumulator, m, v, rowSteps, step } = arrays;
  return {
    accumulator,
    m,
    v,
    rowSteps,
    get step() {
      return step[0];
    },
    set step(value: number) {
      step[0] = value;
    },
  };
}

/** Bytes of optimizer state of one table. */
export function slotBytes(slots: OptimizerSlots): number {
  return slots.accumulator.byteLength + slots.m.byteLength + slots.v.byteLength + slots.rowSteps.byteLength;
}

export function sgdRows(
  weights: Float32Array,
  width: number,
  rows: Int32Array,
  count: number,
  grad: Float32Array,
  dims: number,
  learningRate: number,
  decay: number,
): void {
  for (let s = 0; s < count; s++)
    stepRow(weights, rows[s] * width, grad, s * dims, dims, decay, learningRate);
}

export function rowwiseAdagradRows(
  weights: Float32Array,
  width: number,
  accumulator: Float32Array,
  rows: Int32Array,
  count: number,
  grad: Float32Array,
  dims: number,
  learningRate: number,
  eps: number,
  decay: number,
): void {
  const inverseDims = 1 / dims;
  for (let s = 0; s < count; s++) {
    const row = rows[s];
    const g = s * dims;
    const h = accumulator[row] + sumSquaresRow(grad, g, dims) * inverseDims;
    accumulator[row] = h;
    stepRow(weights, row * width, grad, g, dims, decay, learningRate / (Math.sqrt(h) + eps));
  }
}

/**
 * √(1-β2^t)/(1-β1^t) for t = 1, 2, ...: tabulated, since each touched row needs it and
 * Math.pow per row costs as much as the row's update.
 */
export class AdamBiasCorrection {
  private table = new Float64Array(0);
  private filled = 0;
  private static readonly MAX_TABLE = 1 << 16;

  constructor(
    private readonly beta1: number,
    private readonly beta2: number,
  ) {}

  /** The factor for step t >= 1. */
  factor(t: number): number {
    if (t <= this.filled) return this.table[t - 1];
    if (t > AdamBiasCorrection.MAX_TABLE) return this.compute(t);
    this.extend(t);
    return this.table[t - 1];
  }

  /** Makes factor(t) a table read for every t <= steps. */
  extend(steps: number): void {
    const size = Math.min(steps, AdamBiasCorrection.MAX_TABLE);
    if (size <= this.filled) return;
    if (size > this.table.length) {
      const grown = new Float64Array(
        Math.min(Math.max(size, this.table.length * 2, 64), AdamBiasCorrection.MAX_TABLE),
      );
      grown.set(this.table.subarray(0, this.filled));
      this.table = grown;
    }
    for (let t = this.filled + 1; t <= this.table.length; t++) this.table[t - 1] = this.compute(t);
    this.filled = this.table.length;
  }

  private compute(t: number): number {
    return Math.sqrt(1 - Math.pow(this.beta2, t)) / (1 - Math.pow(this.beta1, t));
  }
}

export function lazyAdamRows(
  weights: Float32Array,
  width: number,
  slots: OptimizerSlots,
  perRowStep: boolean,
  correction: AdamBiasCorrection,
  rows: Int32Array,
  count: number,
  grad: Float32Array,
  dims: number,
  learningRate: number,
  beta1: number,
  beta2: number,
  eps: number,
  decay: number,
): void {
  const { m, v, rowSteps } = slots;
  const oneMinusBeta1 = 1 - beta1;
  const oneMinusBeta2 = 1 - beta2;
  const tableStepSize = learningRate * correction.factor(slots.step);
  for (let s = 0; s < count; s++) {
    const row = rows[s];
    let stepSize = tableStepSize;
    if (perRowStep) {
      const t = rowSteps[row] + 1;
      rowSteps[row] = t;
      stepSize = learningRate * correction.factor(t);
    }
    const w = row * width;
    const g = s * dims;
    let d = 0;
    for (; d + 2 <= dims; d += 2) {
      // Unrolled by two: the loop is bound by sqrt and division latency.
      const g0 = grad[g + d];
      const g1 = grad[g + d + 1];
      const m0 = m[w + d] + oneMinusBeta1 * (g0 - m[w + d]);
      const m1 = m[w + d + 1] + oneMinusBeta1 * (g1 - m[w + d + 1]);
      const v0 = v[w + d] + oneMinusBeta2 * (g0 * g0 - v[w + d]);
      const v1 = v[w + d + 1] + oneMinusBeta2 * (g1 * g1 - v[w + d + 1]);
      m[w + d] = m0;
      m[w + d + 1] = m1;
      v[w + d] = v0;
      v[w + d + 1] = v1;
      weights[w + d] = decay * weights[w + d] - (stepSize * m0) / (Math.sqrt(v0) + eps);
      weights[w + d + 1] = decay * weights[w + d + 1] - (stepSize * m1) / (Math.sqrt(v1) + eps);
    }
    for (; d < dims; d++) {
      const gradient = grad[g + d];
      const mNew = m[w + d] + oneMinusBeta1 * (gradient - m[w + d]);
      const vNew = v[w + d] + oneMinusBeta2 * (gradient * gradient - v[w + d]);
      m[w + d] = mNew;
      v[w + d] = vNew;
      weights[w + d] = decay * weights[w + d] - (stepSize * mNew) / (Math.sqrt(vNew) + eps);
    }
  }
}
