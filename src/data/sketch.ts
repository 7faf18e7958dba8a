/**
 * Bounded-memory counting for one column: exact value counts up to a limit, then a
 * HyperLogLog cardinality estimate plus a Space-Saving heavy-hitters table for the top
 * values. Plain functions and small classes over typed arrays; no package dependencies.
 *
 * Why not an npm package: `bloom-filters` (the maintained option) hashes strings only,
 * through pure-JS xxhash, and pulls lodash, seedrandom and reflect-metadata; inspect
 * hashes numbers straight from their bits (util/random.ts), which is the hot path for
 * typed-array columns. A HyperLogLog is ~80 lines; it is here.
 *
 * Every structure is mergeable in principle (HLL registers by max, Space-Saving by the
 * Agarwal et al. merge), so per-shard passes can be combined later.
 */
import { hashNumber, hashString } from '../util/random.js';

/** A normalised counting key: numbers (and safe bigints, Date epoch ms), strings, booleans. */
export type CountKey = number | string | boolean;

// ---------------------------------------------------------------------------------------
// Hashing: MurmurHash3 (util/random.ts) with two seeds gives two independent 32-bit words
// per value (a 64-bit hash), so HyperLogLog has enough bits well past 2^32 distinct values.
// Numbers hash as in hash32 (-0 as 0); booleans as two numbers of their own.

const INDEX_SEED = 0x2f1b5a3d;
const RANK_SEED = 0x6a09e667;
const TRUE_KEY = 0x7ff8_0000_0001;
const FALSE_KEY = 0x7ff8_0000_0002;

// ---------------------------------------------------------------------------------------
// HyperLogLog with Ertl's improved estimator ("New cardinality estimation algorithms for
// HyperLogLog sketches", 2017): no empirical bias tables, relative standard error about
// 1.04 / sqrt(2^p) over the whole range (p = 14: 0.81%, 16 KiB of registers).

const RANK_BITS = 32; // q: the rank comes from the second 32-bit word

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let prev: number;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (z !== prev);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let prev: number;
  do {
    x = Math.sqrt(x);
    prev = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z !== prev);
  return z / 3;
}

export class HyperLogLog {
  readonly precision: number;
  readonly registers: Uint8Array;
  private readonly shift: number;

  constructor(precision = 14) {
    if (!Number.isInteger(precision) || precision < 4 || precision > 18) {
      throw new RangeError(`HyperLogLog precision must be an integer in [4, 18], got ${precision}`);
    }
    this.precision = precision;
    this.registers = new Uint8Array(1 << precision);
    this.shift = 32 - precision;
  }

  /** Adds a value given its two hash words (low word picks the register, high word the rank). */
  addHash(lo: number, hi: number): void {
    const index = lo >>> this.shift;
    const rank = Math.clz32(hi) + 1;
    if (rank > this.registers[index]) this.registers[index] = rank;
  }

  addNumber(v: number): void {
    this.addHash(hashNumber(v, INDEX_SEED), hashNumber(v, RANK_SEED));
  }

  addString(s: string): void {
    this.addHash(hashString(s, INDEX_SEED), hashString(s, RANK_SEED));
  }

  add(key: CountKey): void {
    if (typeof key === 'number') this.addNumber(key);
    else if (typeof key === 'string') this.addString(key);
    else this.addNumber(key ? TRUE_KEY : FALSE_KEY);
  }

  /** Union with another sketch of the same precision. */
  merge(other: HyperLogLog): void {
    if (other.precision !== this.precision) throw new RangeError('HyperLogLog precisions differ');
    const r = this.registers;
    const o = other.registers;
    for (let i = 0; i < r.length; i++) if (o[i] > r[i]) r[i] = o[i];
  }

  estimate(): number {
    const m = this.registers.length;
    const counts = new Float64Array(RANK_BITS + 2);
    for (let i = 0; i < m; i++) counts[this.registers[i]]++;
    let z = m * tau(1 - counts[RANK_BITS + 1] / m);
    for (let k = RANK_BITS; k >= 1; k--) z = 0.5 * (z + counts[k]);
    z += m * sigma(counts[0] / m);
    return (m * m) / (2 * Math.LN2 * z);
  }
}

// ---------------------------------------------------------------------------------------
// Space-Saving (Metwally et al. 2005) on a binary min-heap: `capacity` counters; a key not
// monitored replaces the minimum counter and inherits its count as `error`. Every
// monitored count over-estimates the truth by at most its error, and any key with true
// frequency above n / capacity is monitored. O(log capacity) per update.

export interface HeavyHitter {
  key: CountKey;
  /** Upper bound on the true count. */
  count: number;
  /** count - error: a lower bound on the true count. */
  minCount: number;
}

export class SpaceSaving {
  readonly capacity: number;
  private readonly slotOf = new Map<CountKey, number>();
  private readonly keys: CountKey[] = [];
  private readonly counts: Float64Array;
  private readonly errors: Float64Array;
  /** heap position -> slot */
  private readonly heap: Int32Array;
  /** slot -> heap position */
  private readonly pos: Int32Array;
  private size = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.counts = new Float64Array(this.capacity);
    this.errors = new Float64Array(this.capacity);
    this.heap = new Int32Array(this.capacity);
    this.pos = new Int32Array(this.capacity);
  }

  add(key: CountKey, increment = 1): void {
    const slot = this.slotOf.get(key);
    if (slot !== undefined) {
      this.counts[slot] += increment;
      this.siftDown(this.pos[slot]);
      return;
    }
    if (this.size < this.capacity) {
      const s = this.size++;
      this.keys[s] = key;
      this.counts[s] = increment;
      this.errors[s] = 0;
      this.heap[s] = s;
      this.pos[s] = s;
      this.slotOf.set(key, s);
      this.siftUp(s);
      return;
    }
    const s = this.heap[0];
    const min = this.counts[s];
    this.slotOf.delete(this.keys[s]);
    this.keys[s] = key;
    this.slotOf.set(key, s);
    this.counts[s] = min + increment;
    this.errors[s] = min;
    this.siftDown(0);
  }

  /** The `k` largest counters, largest first (ties: smaller error first). */
  top(k: number): HeavyHitter[] {
    const out: HeavyHitter[] = [];
    for (let s = 0; s < this.size; s++) {
      out.push({ key: this.keys[s], count: this.counts[s], minCount: this.counts[s] - this.errors[s] });
    }
    out.sort((a, b) => b.count - a.count || b.minCount - a.minCount);
    return out.slice(0, k);
  }

  private less(a: number, b: number): boolean {
    return this.counts[this.heap[a]] < this.counts[this.heap[b]];
  }

  private swap(a: number, b: number): void {
    const sa = this.heap[a];
    const sb = this.heap[b];
    this.heap[a] = sb;
    this.heap[b] = sa;
    this.pos[sb] = a;
    this.pos[sa] = b;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && this.less(r, l) ? r : l;
      if (!this.less(c, i)) return;
      this.swap(i, c);
      i = c;
    }
  }
}

// ---------------------------------------------------------------------------------------
// ValueCounter: exact counts in a Map while the column has at most `exactLimit` distinct
// keys (and their strings hold at most `exactCharLimit` characters, so long free-text
// values cannot blow memory either); past that, the map is folded into a HyperLogLog and
// a Space-Saving table and dropped. Memory is bounded by the limits, not by row count.

export interface ValueCounterOptions {
  exactLimit: number;
  exactCharLimit: number;
  /** Space-Saving counters kept after the switch. */
  heavyHitterCapacity: number;
  hllPrecision?: number;
}

export interface CountedValue {
  key: CountKey;
  count: number;
  /** Present when approximate: a lower bound on the true count. */
  minCount?: number;
}

export class ValueCounter {
  /** Keys added (each occurrence). */
  total = 0;
  private exact: Map<CountKey, number> | null = new Map();
  private chars = 0;
  private hll: HyperLogLog | null = null;
  private heavy: SpaceSaving | null = null;
  private readonly options: ValueCounterOptions;

  constructor(options: ValueCounterOptions) {
    this.options = options;
  }

  get approximate(): boolean {
    return this.exact === null;
  }

  add(key: CountKey): void {
    this.total++;
    const map = this.exact;
    if (map !== null) {
      const c = map.get(key);
      if (c !== undefined) {
        map.set(key, c + 1);
        return;
      }
      map.set(key, 1);
      if (typeof key === 'string') this.chars += key.length;
      if (map.size > this.options.exactLimit || this.chars > this.options.exactCharLimit)
        this.switchToSketch();
      return;
    }
    (this.hll as HyperLogLog).add(key);
    (this.heavy as SpaceSaving).add(key);
  }

  /** Distinct keys: exact, or the HyperLogLog estimate (rounded) once approximate. */
  cardinality(): number {
    if (this.exact !== null) return this.exact.size;
    return Math.round((this.hll as HyperLogLog).estimate());
  }

  /** The exact map while exact (read only), else undefined. */
  exactCounts(): ReadonlyMap<CountKey, number> | undefined {
    return this.exact ?? undefined;
  }

  /** Top `k` keys by count, largest first; ties keep first-seen order while exact. */
  top(k: number): CountedValue[] {
    if (k <= 0) return [];
    if (this.exact === null) {
      return (this.heavy as SpaceSaving)
        .top(k)
        .map((h) => ({ key: h.key, count: h.count, minCount: h.minCount }));
    }
    return topOfMap(this.exact, k).map(([key, count]) => ({ key, count }));
  }

  private switchToSketch(): void {
    const map = this.exact as Map<CountKey, number>;
    const hll = new HyperLogLog(this.options.hllPrecision ?? 14);
    for (const key of map.keys()) hll.add(key);
    // Seed Space-Saving with the largest exact counts (error 0). Keys left out have counts
    // <= every kept one, so the "over-estimate by at most the minimum" bound still holds.
    const heavy = new SpaceSaving(this.options.heavyHitterCapacity);
    for (const [key, count] of topOfMap(map, heavy.capacity)) heavy.add(key, count);
    this.hll = hll;
    this.heavy = heavy;
    this.exact = null;
    this.chars = 0;
  }
}

/** The k entries with the largest counts, largest first, stable on ties; O(n log k). */
export function topOfMap<K>(map: ReadonlyMap<K, number>, k: number): [K, number][] {
  if (k <= 0) return [];
  // A min-heap of the best k; positions compared by (count, then earlier insertion wins).
  const keys: K[] = [];
  const counts: number[] = [];
  const order: number[] = [];
  const worse = (a: number, b: number): boolean =>
    counts[a] < counts[b] || (counts[a] === counts[b] && order[a] > order[b]);
  const swap = (a: number, b: number): void => {
    [keys[a], keys[b]] = [keys[b], keys[a]];
    [counts[a], counts[b]] = [counts[b], counts[a]];
    [order[a], order[b]] = [order[b], order[a]];
  };
  const siftDown = (i: number): void => {
    const n = keys.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && worse(r, l) ? r : l;
      if (!worse(c, i)) return;
      swap(i, c);
      i = c;
    }
  };
  let seq = 0;
  for (const [key, count] of map) {
    const o = seq++;
    if (keys.length < k) {
      keys.push(key);
      counts.push(count);
      order.push(o);
      let i = keys.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(i, p)) break;
        swap(i, p);
        i = p;
      }
    } else if (count > counts[0]) {
      keys[0] = key;
      counts[0] = count;
      order[0] = o;
      siftDown(0);
    }
  }
  const idx = keys.map((_, i) => i);
  idx.sort((a, b) => counts[b] - counts[a] || order[a] - order[b]);
  return idx.map((i) => [keys[i], counts[i]]);
}
