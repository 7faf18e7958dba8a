/**
 * Seeded initialisation of embedding tables. Each table draws from its own stream
 * (`new Random(seed, 'embedding:' + table name)`), so a table's initial weights depend on
 * the seed, its name and its shape only: adding or removing another group leaves it as is.
 */
import { Random } from '../util/random.js';

export interface EmbeddingInit {
  /** uniform(-scale, scale) or normal(0, scale²). Default uniform. */
  readonly distribution: 'uniform' | 'normal';
  /** Default 1/√dim for both distributions. */
  readonly scale?: number;
}

export const DEFAULT_INIT: EmbeddingInit = { distribution: 'uniform' };

/** Fills `weights` (a table of `dim` columns) from the table's own random stream. */
export function initTable(
  weights: Float32Array,
  dim: number,
  seed: number,
  tableName: string,
  init: EmbeddingInit = DEFAULT_INIT,
): void {
  const random = new Random(seed, `embedding:${tableName}`);
  const scale = init.scale ?? 1 / Math.sqrt(dim);
  if (!(scale >= 0)) throw new RangeError(`init scale must be >= 0, got ${init.scale}`);
  if (init.distribution === 'uniform') {
    for (let i = 0; i < weights.length; i++) weights[i] = (2 * random.next() - 1) * scale;
  } else {
    for (let i = 0; i < weights.length; i++) weights[i] = random.normal() * scale;
  }
}
