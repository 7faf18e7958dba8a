import type { GatedLearner } from '../../src/selection/sequential-attention.js';

/** A learner whose gate values in round r are weights[r - 1] (selected candidates at 1). */
export class FixedWeights implements GatedLearner {
  private round = 0;
  private selected: Uint8Array = new Uint8Array(0);

  constructor(private readonly weights: readonly (readonly number[])[]) {}

  get numCandidates(): number {
    return this.weights[0].length;
  }

  train(): Promise<void> {
    return Promise.resolve();
  }

  setSelected(mask: Uint8Array): void {
    this.selected = mask;
  }

  resetLogits(round: number): void {
    this.round = round;
  }

  gateValues(): Float32Array {
    const values = this.weights[Math.min(this.round, this.weights.length) - 1];
    return Float32Array.from(values, (value, i) => (this.selected[i] ? 1 : value));
  }
}
