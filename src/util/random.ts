/**
 * Seeded randomness and hashing shared by every module that must be reproducible.
 *
 * - `Random`: xoshiro128** (32-bit state words, fast in JavaScript) seeded through
 *   splitmix32, with `next`, `integer`, `normal` (Box-Muller), `permutation`, `shuffle`.
 *   The same seed (and stream label) always yields the same sequence on every platform.
 * - `hash32`: MurmurHash3 (x86, 32-bit). Strings are hashed as their UTF-8 bytes, so the
 *   value matches other MurmurHash3 implementations; integers are hashed as their
 *   little-endian int32 (or int64) bytes, the same for a number and the equal bigint.
 */

const TWO_POW_32 = 4294967296;
const INV_TWO_POW_32 = 1 / TWO_POW_32;
const INV_TWO_POW_53 = 1 / 9007199254740992;

/** MurmurHash3 finaliser: a fast bijective 32-bit mixer with good avalanche. */
export function mix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixBlock(h: number, block: number): number {
  let k = Math.imul(block, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function mixTail(h: number, tail: number): number {
  let k = Math.imul(tail, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  return h ^ k;
}

function finish(h: number, length: number): number {
  return mix32(h ^ length);
}

/** MurmurHash3 x86 32-bit of `length` bytes of `bytes`. */
export function hashBytes(bytes: Uint8Array, seed = 0, length = bytes.length): number {
  let h = seed | 0;
  const blocks = length & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    h = mixBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  }
  const rest = length & 3;
  if (rest > 0) {
    let tail = 0;
    if (rest === 3) tail ^= bytes[i + 2] << 16;
    if (rest >= 2) tail ^= bytes[i + 1] << 8;
    tail ^= bytes[i];
    h = mixTail(h, tail);
  }
  return finish(h, length);
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(1024);

/** MurmurHash3 x86 32-bit of the UTF-8 bytes of `text`. */
export function hashString(text: string, seed = 0): number {
  // ASCII text (one byte per char) is hashed straight from its char codes; the first char
  // beyond ASCII sends the whole text through its UTF-8 bytes instead.
  const n = text.length;
  let h = seed | 0;
  const blocks = n & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    const a = text.charCodeAt(i);
    const b = text.charCodeAt(i + 1);
    const c = text.charCodeAt(i + 2);
    const d = text.charCodeAt(i + 3);
    if ((a | b | c | d) > 0x7f) return hashUtf8(text, seed);
    h = mixBlock(h, a | (b << 8) | (c << 16) | (d << 24));
  }
  const rest = n & 3;
  if (rest > 0) {
    const a = text.charCodeAt(i);
    const b = rest >= 2 ? text.charCodeAt(i + 1) : 0;
    const c = rest === 3 ? text.charCodeAt(i + 2) : 0;
    if ((a | b | c) > 0x7f) return hashUtf8(text, seed);
    h = mixTail(h, a | (b << 8) | (c << 16));
  }
  return finish(h, n);
}

function hashUtf8(text: string, seed: number): number {
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  const { written } = encoder.encodeInto(text, scratch);
  return hashBytes(scratch, seed, written);
}

/** MurmurHash3 x86 32-bit of the 4 little-endian bytes of a 32-bit integer. */
export function hashInt(value: number, seed = 0): number {
  return finish(mixBlock(seed | 0, value | 0), 4);
}

/** MurmurHash3 x86 32-bit of 8 little-endian bytes given as low and high 32-bit words. */
function hashWords(low: number, high: number, seed: number): number {
  return finish(mixBlock(mixBlock(seed | 0, low | 0), high | 0), 8);
}

const float64 = new Float64Array(1);
const float64Words = new Int32Array(float64.buffer);
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Unsigned 32-bit hash of a category key, position or seed. Integers in the int32 range
 * hash their 4 little-endian bytes; other integers (safe numbers or bigints in the int64
 * range) their 8 two's-complement bytes, so `hash32(5) === hash32(5n)`; other numbers their
 * float64 bytes; strings their UTF-8 bytes; booleans as 0 and 1.
 */
export function hash32(value: string | number | bigint | boolean, seed = 0): number {
  switch (typeof value) {
    case 'string':
      return hashString(value, seed);
    case 'boolean':
      return hashInt(value ? 1 : 0, seed);
    case 'bigint':
      if (value >= INT32_MIN && value <= INT32_MAX) return hashInt(Number(value), seed);
      if (value >= INT64_MIN && value <= INT64_MAX) {
        const bits = BigInt.asUintN(64, value);
        return hashWords(Number(bits & 0xffffffffn), Number(bits >> 32n), seed);
      }
      return hashString(value.toString(), seed);
    default:
      return hashNumber(value, seed);
  }
}

/**
 * The hash32 of a number: an integer in the int32 range hashes its 4 little-endian bytes
 * (-0 as 0), another safe integer its 8 two's-complement bytes, any other number its
 * float64 bytes.
 */
export function hashNumber(value: number, seed = 0): number {
  if (Number.isInteger(value)) {
    if (value >= INT32_MIN && value <= INT32_MAX) return hashInt(value, seed);
    if (Number.isSafeInteger(value)) {
      const low = value % TWO_POW_32;
      return hashWords(low, Math.floor(value / TWO_POW_32), seed);
    }
  }
  float64[0] = value;
  return hashWords(float64Words[0], float64Words[1], seed);
}

/** Hash mapped to [0, 1), for hash-based splits and sampling. */
export function hashUnit(value: string | number | bigint | boolean, seed = 0): number {
  return hash32(value, seed) * INV_TWO_POW_32;
}

/** A 32-bit seed from any number: integers in the uint32 range map to themselves. */
function seedWord(seed: number): number {
  if (Number.isInteger(seed) && seed >= 0 && seed < TWO_POW_32) return seed >>> 0;
  if (!Number.isFinite(seed)) throw new RangeError(`random seed must be a finite number, got ${seed}`);
  return hash32(seed, 0x5eed);
}

/**
 * Seeded pseudo-random generator (xoshiro128**). Not cryptographic. A `stream` label
 * gives independent sequences from one seed (`new Random(seed, 'users')`).
 */
export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number, stream: string | number = 0) {
    // splitmix32 expands one word into the four state words (never all zero).
    let x = (seedWord(seed) ^ Math.imul(hash32(stream, 0x9e3779b9), 0x2545f491)) | 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Uniform unsigned 32-bit integer. */
  nextUint32(): number {
    const s1 = this.s1;
    let r = Math.imul(s1, 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return r >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() * INV_TWO_POW_32;
  }

  /** Uniform in [0, 1) with 53 bits of resolution. */
  next53(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) * INV_TWO_POW_53;
  }

  /** Uniform integer in [0, n), without modulo bias. `n` must be a positive integer. */
  integer(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n))
      throw new RangeError(`integer(n) needs a positive integer, got ${n}`);
    if (n > TWO_POW_32) return Math.floor(this.next53() * n);
    // Reject the top partial range so every residue is equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let u = this.nextUint32();
    while (u >= limit) u = this.nextUint32();
    return u % n;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Standard normal draw (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const u = 1 - this.next(); // (0, 1]
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * v;
    this.spare = radius * Math.sin(angle);
    this.hasSpare = true;
    return radius * Math.cos(angle);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    return this.shuffle(order);
  }

  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T extends { length: number; [index: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.integer(i + 1);
      const swap = items[i];
      items[i] = items[j];
      items[j] = swap;
    }
    return items;
  }
}
