/**
 * The classifier (src/model/classifier.ts) as a GatedLearner: one gate per input column,
 * trained on shuffled mini-batches of the train rows (a fresh seeded permutation per
 * epoch; the last batch of an epoch may be smaller).
 */
import type { ClassifierModel } from '../model/classifier.js';
import { Random } from '../util/random.js';
import type { GateMode, GatedLearner } from './sequential-attention.js';

export class MiniBatches {
  private order: Int32Array = new Int32Array(0);
  private position = 0;
  private epoch = 0;
  private readonly xBatch: Float32Array;
  private readonly yBatch: Int32Array;

  /** `x` [rows, d] row-major and `y` of the rows to train on. */
  constructor(
    private readonly x: Float32Array,
    private readonly y: Int32Array,
    readonly d: number,
    readonly batchSize: number,
    private readonly seed: number,
  ) {
    const size = Math.min(batchSize, y.length);
    this.xBatch = new Float32Array(size * d);
    this.yBatch = new Int32Array(size);
  }

  get rows(): number {
    return this.y.length;
  }

  /** The next batch (views into reused buffers). */
  next(): { x: Float32Array; y: Int32Array } {
    if (this.position >= this.order.length) {
      this.order = new Random(this.seed, `batches:${this.epoch++}`).permutation(this.y.length);
      this.position = 0;
    }
    const size = Math.min(this.xBatch.length / this.d, this.order.length - this.position);
    for (let b = 0; b < size; b++) {
      const row = this.order[this.position + b];
      this.xBatch.set(this.x.subarray(row * this.d, (row + 1) * this.d), b * this.d);
      this.yBatch[b] = this.y[row];
    }
    this.position += size;
    return { x: this.xBatch.subarray(0, size * this.d), y: this.yBatch.subarray(0, size) };
  }
}

export class ClassifierLearner implements GatedLearner {
  readonly numCandidates: number;
  /** Mean loss of the last train() call. */
  lastLoss = Number.NaN;

  constructor(
    readonly model: ClassifierModel,
    private readonly batches: MiniBatches,
  ) {
    this.numCandidates = model.inputDim;
  }

  async train(steps: number, mode: GateMode): Promise<void> {
    this.model.gateMode = mode;
    let total = 0;
    for (let step = 0; step < steps; step++) {
      const { x, y } = this.batches.next();
      total += this.model.step(x, y);
    }
    this.lastLoss = steps > 0 ? total / steps : Number.NaN;
    await Promise.resolve();
  }

  setSelected(mask: Uint8Array): void {
    this.model.selected = mask;
  }

  resetLogits(round: number): void {
    this.model.resetGateLogits(round);
  }

  gateValues(): Float32Array {
    this.model.gateMode = 'attention';
    return this.model.gateValues();
  }
}
