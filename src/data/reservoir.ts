import { Random } from '../util/random.js';

/**
 * A uniform sample of at most `capacity` numbers from a stream (Vitter's algorithm R),
 * so quantiles of a column of any length are estimated in bounded memory.
 */
export class ReservoirSample {
  private readonly values: Float64Array;
  private size = 0;
  private seen = 0;
  private readonly random: Random;

  constructor(
    private readonly capacity: number,
    seed: number,
  ) {
    this.values = new Float64Array(capacity);
    this.random = new Random(seed);
  }

  add(value: number): void {
    this.seen += 1;
    if (this.size < this.capacity) {
      this.values[this.size++] = value;
      return;
    }
    const slot = this.random.integer(this.seen);
    if (slot < this.capacity) this.values[slot] = value;
  }

  get count(): number {
    return this.seen;
  }

  /** The values at the given cumulative fractions (each in [0, 1]), by nearest rank. */
  quantiles(fractions: readonly number[]): number[] {
    if (this.size === 0) return [];
    const sorted = this.values.slice(0, this.size).sort();
    return fractions.map((fraction) => sorted[Math.min(this.size - 1, Math.floor(fraction * this.size))]);
  }
}
