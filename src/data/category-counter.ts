import type { CategoryKey } from './vocabulary.js';

/** Non-negative integers below this are counted in a typed array instead of a hash map. */
const DENSE_LIMIT = 1 << 22;
const INITIAL_DENSE = 1 << 10;

/**
 * Exact counts of category keys. Small non-negative integers (the usual encoding of
 * categorical ids) go to a growable typed array, one increment each; anything else to a
 * map from key to slot, one hash lookup per repeated key.
 */
export class CategoryCounter {
  private dense = new Float64Array(0);
  private readonly slots = new Map<CategoryKey, number>();
  private readonly slotCounts: number[] = [];

  add(key: CategoryKey): void {
    if (typeof key === 'number' && key >= 0 && key < DENSE_LIMIT && Number.isInteger(key)) {
      if (key >= this.dense.length) this.growDense(key);
      this.dense[key] += 1;
      return;
    }
    const slot = this.slots.get(key);
    if (slot === undefined) {
      this.slots.set(key, this.slotCounts.length);
      this.slotCounts.push(1);
    } else this.slotCounts[slot] += 1;
  }

  /** Every value of an integer typed array (no missing values possible). */
  addIntegers(values: Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array): void {
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value >= 0 && value < DENSE_LIMIT) {
        if (value >= this.dense.length) this.growDense(value);
        this.dense[value] += 1;
      } else this.add(value);
    }
  }

  private growDense(key: number): void {
    let size = Math.max(INITIAL_DENSE, this.dense.length);
    while (size <= key) size *= 2;
    const grown = new Float64Array(Math.min(size, DENSE_LIMIT));
    grown.set(this.dense);
    this.dense = grown;
  }

  /** Keys with their counts, in no particular order. */
  entries(): [CategoryKey, number][] {
    const out: [CategoryKey, number][] = [];
    for (let key = 0; key < this.dense.length; key++)
      if (this.dense[key] > 0) out.push([key, this.dense[key]]);
    for (const [key, slot] of this.slots) out.push([key, this.slotCounts[slot]]);
    return out;
  }
}
