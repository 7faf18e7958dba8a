/**
 * Sequential Attention gates: one logit per candidate (a feature group or a block of
 * embedding dimensions), numbered 0..C-1 across both towers. Computed in TypeScript for
 * every engine (C numbers): the engines see one scale per input column and return its
 * gradient, which comes back here through the softmax to the logits.
 *
 * - mode 'ones' (full model, warm-up): every gate is 1 and the logits are not used.
 * - mode 'attention': a selected candidate's gate is 1; an unselected one's is the
 *   softmax of its logit over the unselected logits (times their number with
 *   `maskScale`), so the unselected gates sum to 1 (or to |U|). An excluded candidate
 *   (one the budgets can no longer hold) has gate 0 and leaves the softmax.
 *
 * A gate scales its candidate's input columns; the engines apply it to the rows of the
 * first layer's kernel instead of to the [B, D] input ((x ⊙ g) W = x (diag(g) W), the
 * same value and gradients, B times fewer multiplies).
 */
import { normal } from './init.js';

export type GateMode = 'ones' | 'attention';

/** Standard deviation of the initial logits (Sequential Attention's N(0, 1e-5²)). */
export const GATE_INIT_STD = 1e-5;
/** The logits' name among the model's weights. */
export const GATE_LOGITS = 'gates/logits';

/** The initial logits of draw `draw` (0: the model's first). */
export function initialLogits(numCandidates: number, seed: number, draw: number): Float32Array {
  return normal(numCandidates, GATE_INIT_STD, seed, `gates:${draw}`);
}

export class Gates {
  readonly numCandidates: number;
  private modeValue: GateMode = 'ones';
  private selectedMask: Uint8Array;
  private excludedMask: Uint8Array;
  private readonly maskScale: boolean;
  private readonly seed: number;
  private resets = 0;

  /** `logits`: the live parameter array, read at every use. */
  constructor(
    private readonly logits: Float32Array,
    options: { seed: number; maskScale: boolean },
  ) {
    const numCandidates = logits.length;
    if (!Number.isInteger(numCandidates) || numCandidates < 1) {
      throw new Error(`a model needs at least one candidate, got ${numCandidates}`);
    }
    this.numCandidates = numCandidates;
    this.seed = options.seed;
    this.maskScale = options.maskScale;
    this.selectedMask = new Uint8Array(numCandidates);
    this.excludedMask = new Uint8Array(numCandidates);
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
  }

  /** A copy of the 0/1 exclusion mask. */
  get excluded(): Uint8Array {
    return this.excludedMask.slice();
  }

  /** Excluded candidates: gate 0 in mode 'attention', outside the softmax (a 0/1 mask of length C). */
  set excluded(mask: ArrayLike<number | boolean>) {
    if (mask.length !== this.numCandidates) {
      throw new Error(`exclusion mask has ${mask.length} entries, expected ${this.numCandidates}`);
    }
    this.excludedMask = Uint8Array.from({ length: this.numCandidates }, (_, c) => (mask[c] ? 1 : 0));
  }

  /** In the softmax: neither selected nor excluded. */
  private open(c: number): boolean {
    return !this.selectedMask[c] && !this.excludedMask[c];
  }

  /** Gate value per candidate (all ones in mode 'ones'). */
  values(): Float32Array {
    const gates = new Float32Array(this.numCandidates).fill(1);
    if (this.modeValue === 'ones') return gates;
    const soft = this.softmax();
    const factor = this.maskScale ? this.unselectedCount() : 1;
    for (let c = 0; c < this.numCandidates; c++) if (!this.selectedMask[c]) gates[c] = factor * soft[c];
    return gates;
  }

  /**
   * d loss / d logits from d loss / d gates (undefined in mode 'ones', where the logits
   * are not used): softmax's Jacobian over the unselected candidates.
   */
  logitGradient(gateGradient: ArrayLike<number>): Float32Array | undefined {
    if (this.modeValue === 'ones') return undefined;
    const soft = this.softmax();
    const factor = this.maskScale ? this.unselectedCount() : 1;
    let weighted = 0;
    for (let c = 0; c < this.numCandidates; c++) if (this.open(c)) weighted += soft[c] * gateGradient[c];
    const gradient = new Float32Array(this.numCandidates);
    for (let c = 0; c < this.numCandidates; c++) {
      if (this.open(c)) gradient[c] = factor * soft[c] * (gateGradient[c] - weighted);
    }
    return gradient;
  }

  /** Draws fresh logits N(0, 1e-5²) from the next seeded stream (between selection rounds). */
  reset(draw?: number): void {
    this.resets = draw ?? this.resets + 1;
    this.logits.set(initialLogits(this.numCandidates, this.seed, this.resets));
  }

  /** Softmax of the logits over the open candidates (0 for selected and excluded ones), in float64. */
  private softmax(): Float64Array {
    const soft = new Float64Array(this.numCandidates);
    let max = -Infinity;
    for (let c = 0; c < this.numCandidates; c++) if (this.open(c)) max = Math.max(max, this.logits[c]);
    let sum = 0;
    for (let c = 0; c < this.numCandidates; c++) {
      if (!this.open(c)) continue;
      soft[c] = Math.exp(this.logits[c] - max);
      sum += soft[c];
    }
    for (let c = 0; c < this.numCandidates; c++) soft[c] /= sum || 1;
    return soft;
  }

  private unselectedCount(): number {
    let count = 0;
    for (let c = 0; c < this.numCandidates; c++) count += this.open(c) ? 1 : 0;
    return count;
  }
}

/** How input columns map to candidates (-1: always on), validated once. */
export class ColumnGate {
  constructor(
    readonly columnCandidate: Int32Array,
    numCandidates: number,
    tower: string,
  ) {
    columnCandidate.forEach((candidate, column) => {
      if (!Number.isInteger(candidate) || candidate < -1 || candidate >= numCandidates) {
        throw new Error(
          `${tower} column ${column} belongs to candidate ${candidate}, outside -1..${numCandidates - 1}`,
        );
      }
    });
  }

  /** Gate per input column. */
  columns(gates: Float32Array): Float32Array {
    const candidates = this.columnCandidate;
    const scale = new Float32Array(candidates.length);
    for (let column = 0; column < candidates.length; column++) {
      const candidate = candidates[column];
      scale[column] = candidate < 0 ? 1 : gates[candidate];
    }
    return scale;
  }

  /** Adds each gated column's gradient to its candidate's. */
  accumulate(columnGradient: ArrayLike<number>, into: Float64Array): void {
    const candidates = this.columnCandidate;
    for (let column = 0; column < candidates.length; column++) {
      if (candidates[column] >= 0) into[candidates[column]] += columnGradient[column];
    }
  }
}
