/**
 * Seeded initial values as typed arrays, so the same seed gives the same weights on
 * every backend (tfjs's own initialisers draw from its global random state).
 */
import { Random } from '../util/random.js';

/** Glorot (Xavier) uniform for a [fanIn, fanOut] kernel, from its own named stream. */
export function glorotUniform(fanIn: number, fanOut: number, seed: number, stream: string): Float32Array {
  const random = new Random(seed, stream);
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const values = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < values.length; i++) values[i] = random.uniform(-limit, limit);
  return values;
}

/** N(0, std²) draws. */
export function normal(length: number, std: number, seed: number, stream: string): Float32Array {
  const random = new Random(seed, stream);
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = std * random.normal();
  return values;
}
