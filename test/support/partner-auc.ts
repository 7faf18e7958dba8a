import { auc } from '../../src/data/synthetic/truth.js';
import type { World } from '../../src/data/synthetic/world.js';

export type Row = Record<string, unknown>;

/**
 * How much a column of the synthetic dataset tells about the label when the other tower is
 * known, measured on its rows: per category (per tag for a list column), the mean of
 * (label - rate) times the other side's true latent vector, fitted on entities with even
 * ids and scored as an AUC on the others (so memorising entities does not count).
 * `key` maps a row's value to the category it counts under (default: the value itself).
 */
export function partnerAuc(
  rows: readonly Row[],
  world: World,
  column: string,
  tower: 'user' | 'item',
  positiveRate: number,
  key: (value: unknown, row: Row) => unknown = (value) => value,
): number {
  const dim = world.users.dim;
  const own = tower === 'user' ? 'user_id' : 'item_id';
  const other = tower === 'user' ? world.items : world.users;
  const otherId = tower === 'user' ? 'item_id' : 'user_id';
  const keysOf = (row: Row): unknown[] => {
    const value = row[column];
    if (value === null || value === undefined) return [];
    return (Array.isArray(value) ? value : [value]).map((v) => key(v, row));
  };
  const latent = other.latent;
  const offsetOf = (row: Row): number => ((row[otherId] as number) - 1) * dim;
  const sums = new Map<unknown, Float64Array>();
  const counts = new Map<unknown, number>();
  for (const row of rows) {
    if ((row[own] as number) % 2 !== 0) continue;
    const o = offsetOf(row);
    const residual = (row.label as number) - positiveRate;
    for (const k of keysOf(row)) {
      let sum = sums.get(k);
      if (!sum) sums.set(k, (sum = new Float64Array(dim)));
      for (let j = 0; j < dim; j++) sum[j] += residual * latent[o + j];
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  // Remove what every category shares (the other tower's bias), keep what sets each apart.
  const global = new Float64Array(dim);
  let total = 0;
  for (const [k, sum] of sums) {
    for (let j = 0; j < dim; j++) global[j] += sum[j];
    total += counts.get(k)!;
  }
  for (const [k, sum] of sums) {
    const count = counts.get(k)!;
    for (let j = 0; j < dim; j++) sum[j] = sum[j] / count - global[j] / total;
  }
  const scores: number[] = [];
  const labels: number[] = [];
  for (const row of rows) {
    if ((row[own] as number) % 2 === 0) continue;
    const o = offsetOf(row);
    let score = 0;
    const keys = keysOf(row);
    for (const k of keys) {
      const sum = sums.get(k);
      if (!sum) continue;
      for (let j = 0; j < dim; j++) score += (sum[j] * latent[o + j]) / keys.length;
    }
    scores.push(score);
    labels.push(row.label as number);
  }
  return auc(scores, labels);
}

/** Rows where the two columns disagree as a bijection (0 when `copy` relabels `source` one to one). */
export function relabellingConflicts(rows: readonly Row[], source: string, copy: string): number {
  const forward = new Map<unknown, unknown>();
  const backward = new Map<unknown, unknown>();
  let conflicts = 0;
  for (const row of rows) {
    if (!forward.has(row[source])) forward.set(row[source], row[copy]);
    if (!backward.has(row[copy])) backward.set(row[copy], row[source]);
    if (forward.get(row[source]) !== row[copy] || backward.get(row[copy]) !== row[source]) conflicts++;
  }
  return conflicts;
}
