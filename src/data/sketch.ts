/**
 * Bounded-memory counting for one column: exact value counts up to a limit, then a
 * HyperLogLog cardinality estimate plus a Space-Saving heavy-hitters table for the top
 * values. Plain functions and small classes over typed arrays; no dependencies.
 *
 * Why not an npm package: `bloom-filters` (the maintained option) hashes strings only,
 * through pure-JS xxhash, and pulls lodash, seedrandom and reflect-metadata; inspect
 * hashes numbers straight from their float64 bits, which is the hot path for typed-array
 * columns. A HyperLogLog is ~80 lines; it is here.
 *
 * Every structure is mergeable in principle (HLL registers by max, Space-Saving by the
 * Agarwal et al. merge), so per-shard passes can be combined later.
 */

/** A normalised counting key: numbers (and safe bigints, Date epoch ms), strings, booleans. */
export type CountKey = number | string | boolean;

// ---------------------------------------------------------------------------------------
// Hashing: two independent 32-bit words per value (a 64-bit hash), so HyperLogLog has
// enough bits well past 2^32 distinct values.

let hashHi = 0;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function murmurBlock(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** cyrb53-style two-lane string hash with a full avalanche on both words. Returns the low word; the high word is in `lastHashHigh()`. */
export function hashString(s: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  hashHi = fmix32(h2 ^ s.length);
  return fmix32(h1 ^ 0x9e3779b9);
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** MurmurHash3 (x86, 32-bit) of the float64 bits, with two seeds. -0 hashes as 0. */
export function hashNumber(v: number): number {
  f64[0] = v === 0 ? 0 : v;
  const lo = u32[0];
  const hi = u32[1];
  let a = murmurBlock(murmurBlock(0x2f1b5a3d, lo), hi);
  let b = murmurBlock(murmurBlock(0x6a09e667, hi), lo);
  a ^= 8;
  b ^= 8;
  hashHi = fmix32(b);
  return fmix32(a);
}

/** The high 32-bit word of the last hashString/hashNumber call. */
export function lastHashHigh(): number {
  return hashHi;
}

/** Hash of any key; booleans hash as 0/1 in a domain of their own. */
export function hashKey(key: CountKey): number {
  if (typeof key === 'number') return hashNumber(key);
  if (typeof key === 'string') return hashString(key);
  return hashNumber(key ? 0x7ff8_0000_0001 : 0x7ff8_0000_0002);
}

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
    const lo = hashNumber(v);
    this.addHash(lo, hashHi);
  }

  addString(s: string): void {
    const lo = hashString(s);
    this.addHash(lo, hashHi);
  }

  add(key: CountKey): void {
    const lo = hashKey(key);
    this.addHash(lo, hashHi);
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
