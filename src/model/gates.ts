/**
 * Sequential Attention gates: one logit per candidate (a feature group or a block of
 * embedding dimensions), numbered 0..C-1 across both towers.
 *
 * - mode 'ones' (full model, warm-up): every gate is 1 and the logits are not used.
 * - mode 'attention': a selected candidate's gate is 1; an unselected one's is the
 *   softmax of its logit over the unselected logits (times their number with
 *   `maskScale`), so the unselected gates sum to 1 (or to |U|).
 *
 * A gate scales its candidate's input columns. The model applies it to the rows of the
 * first layer's kernel instead of to the [B, D] input ((x ⊙ g) W = x (diag(g) W), the
 * same value and gradients, B times fewer multiplies). The per-column expansion is a
 * product with a constant 0/1 matrix, not a gather: tfjs-wasm has no gradient for
 * gather (no UnsortedSegmentSum).
 */
import * as tf from '@tensorflow/tfjs';
import { normal } from './init.js';
import { matMul } from './ops.js';
import type { VariableStore } from './variables.js';

export type GateMode = 'ones' | 'attention';

/** Standard deviation of the initial logits (Sequential Attention's N(0, 1e-5²)). */
export const GATE_INIT_STD = 1e-5;
/** The logits' name among the model's weights. */
export const GATE_LOGITS = 'gates/logits';
/** Added to selected candidates' logits so the softmax over the unselected ignores them. */
const EXCLUDED = -1e9;

export class Gates {
  readonly numCandidates: number;
  readonly logits: tf.Variable<tf.Rank.R1>;
  private modeValue: GateMode = 'ones';
  private selectedMask: Uint8Array;
  /** 1 for unselected candidates, 0 for selected ones. */
  private unselected: tf.Tensor1D;
  /** EXCLUDED for selected candidates, 0 for unselected ones. */
  private penalty: tf.Tensor1D;
  private readonly maskScale: boolean;
  private readonly seed: number;
  private resets = 0;

  constructor(store: VariableStore, numCandidates: number, options: { seed: number; maskScale: boolean }) {
    if (!Number.isInteger(numCandidates) || numCandidates < 1) {
      throw new Error(`a model needs at least one candidate, got ${numCandidates}`);
    }
    this.numCandidates = numCandidates;
    this.seed = options.seed;
    this.maskScale = options.maskScale;
    this.logits = store.create(GATE_LOGITS, () => tf.tensor1d(this.initialLogits()));
    this.selectedMask = new Uint8Array(numCandidates);
    [this.unselected, this.penalty] = this.maskTensors();
  }

  private initialLogits(): Float32Array {
    return normal(this.numCandidates, GATE_INIT_STD, this.seed, `gates:${this.resets}`);
  }

  private maskTensors(): [tf.Tensor1D, tf.Tensor1D] {
    const unselected = new Float32Array(this.numCandidates);
    const penalty = new Float32Array(this.numCandidates);
    for (let c = 0; c < this.numCandidates; c++) {
      unselected[c] = this.selectedMask[c] ? 0 : 1;
      penalty[c] = this.selectedMask[c] ? EXCLUDED : 0;
    }
    return [tf.keep(tf.tensor1d(unselected)), tf.keep(tf.tensor1d(penalty))];
  }

  get mode(): GateMode {
    return this.modeValue;
  }

  set mode(mode: GateMode) {
    if (mode !== 'ones' && mode !== 'attention') throw new Error(`unknown gate mode '${String(mode)}'`);
    this.modeValue = mode;
  }

  /** A copy of the 0/1 selection mask. */
  get selected(): Uint8Array {
    return this.selectedMask.slice();
  }

  /** Sets the selected candidates: a 0/1 (or boolean) mask of length C. */
  set selected(mask: ArrayLike<number | boolean>) {
    if (mask.length !== this.numCandidates) {
      throw new Error(`selection mask has ${mask.length} entries, expected ${this.numCandidates}`);
    }
    const next = new Uint8Array(this.numCandidates);
    for (let c = 0; c < this.numCandidates; c++) next[c] = mask[c] ? 1 : 0;
    this.selectedMask = next;
    this.unselected.dispose();
    this.penalty.dispose();
    [this.unselected, this.penalty] = this.maskTensors();
  }

  /** Number of unselected candidates. */
  get unselectedCount(): number {
    let count = 0;
    for (const s of this.selectedMask) count += s ? 0 : 1;
    return count;
  }

  /** Gate values [C] as a tensor (differentiable in the logits), or undefined in mode 'ones'. */
  values(): tf.Tensor1D | undefined {
    if (this.modeValue === 'ones') return undefined;
    return tf.tidy(() => {
      let soft = tf.mul(tf.softmax(tf.add(this.logits, this.penalty)), this.unselected);
      if (this.maskScale) soft = tf.mul(soft, this.unselectedCount);
      return tf.add(soft, tf.sub(1, this.unselected)) as tf.Tensor1D;
    });
  }

  /** Current gate values as numbers (all ones in mode 'ones'). */
  read(): Float32Array {
    const values = this.values();
    if (values === undefined) return new Float32Array(this.numCandidates).fill(1);
    const data = new Float32Array(values.dataSync());
    values.dispose();
    return data;
  }

  /** Draws fresh logits N(0, 1e-5²) from the next seeded stream (between selection rounds). */
  reset(draw?: number): void {
    this.resets = draw ?? this.resets + 1;
    tf.tidy(() => this.logits.assign(tf.tensor1d(this.initialLogits())));
  }

  /** Disposes the masks; the logits belong to the store. */
  dispose(): void {
    this.unselected.dispose();
    this.penalty.dispose();
  }
}

/**
 * Expands gate values [C] to one scale per input column, as a [D, 1] column for the
 * first kernel's rows: expansion [D, C] (constant 0/1, one 1 per gated column) times
 * the gates, plus 1 for ungated columns (candidate -1).
 */
export class ColumnGate {
  readonly inputDim: number;
  private readonly expansion: tf.Tensor2D;
  private readonly ungated: tf.Tensor2D | undefined;

  constructor(columnCandidate: Int32Array, numCandidates: number, tower: string) {
    this.inputDim = columnCandidate.length;
    const expansion = new Float32Array(this.inputDim * numCandidates);
    const ungated = new Float32Array(this.inputDim);
    let anyUngated = false;
    columnCandidate.forEach((candidate, column) => {
      if (!Number.isInteger(candidate) || candidate < -1 || candidate >= numCandidates) {
        throw new Error(
          `${tower} column ${column} belongs to candidate ${candidate}, outside -1..${numCandidates - 1}`,
        );
      }
      if (candidate === -1) {
        ungated[column] = 1;
        anyUngated = true;
      } else expansion[column * numCandidates + candidate] = 1;
    });
    this.expansion = tf.keep(tf.tensor2d(expansion, [this.inputDim, numCandidates]));
    this.ungated = anyUngated ? tf.keep(tf.tensor2d(ungated, [this.inputDim, 1])) : undefined;
  }

  /** Gate per input column, [D, 1]. */
  columns(gates: tf.Tensor1D, explicit: boolean): tf.Tensor2D {
    const scale = matMul(this.expansion, tf.reshape(gates, [-1, 1]), explicit);
    return this.ungated ? tf.add(scale, this.ungated) : scale;
  }

  dispose(): void {
    this.expansion.dispose();
    this.ungated?.dispose();
  }
}
