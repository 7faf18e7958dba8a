/**
 * The latency cost model: inference time per example of a two-tower model, linear in
 * what a selection changes:
 *
 *   latency_us = constant_us + per_lookup_us x lookups + per_dim_us x dims + per_mflop_us x mflops
 *
 * lookups: embedding lookups per example (one per kept feature; a multi-valued feature's
 * bag counts once), dims: embedding values gathered per example (the towers' input
 * width), mflops: the towers' multiply-adds per example, in millions. The coefficients
 * come from `lemopt calibrate` (timing real inference on this machine) or from the
 * config, measured on another serving target.
 */
import type { EmbeddingSpec } from '../embedding/layout.js';

export interface LatencyCoefficients {
  readonly constant_us: number;
  readonly per_lookup_us: number;
  readonly per_dim_us: number;
  readonly per_mflop_us: number;
}

/** What latency depends on, per example. */
export interface LatencyShape {
  readonly lookups: number;
  readonly dims: number;
  readonly mflops: number;
}

export function predictLatency(coefficients: LatencyCoefficients, shape: LatencyShape): number {
  return (
    coefficients.constant_us +
    coefficients.per_lookup_us * shape.lookups +
    coefficients.per_dim_us * shape.dims +
    coefficients.per_mflop_us * shape.mflops
  );
}

/** Multiply-adds of a stack of dense layers on an input of `inputDim`, per example. */
export function towerMultiplyAdds(inputDim: number, units: readonly number[]): number {
  let total = 0;
  let width = inputDim;
  for (const size of units) {
    total += width * size;
    width = size;
  }
  return total;
}

/** The latency shape of a selection given as kept blocks per table. */
export function latencyShape(
  spec: EmbeddingSpec,
  blocks: ArrayLike<number>,
  towers: { readonly user: readonly number[]; readonly item: readonly number[] },
): LatencyShape {
  let lookups = 0;
  const width = { user: 0, item: 0 };
  for (const table of spec.tables) {
    if (blocks[table.index] === 0) continue;
    lookups += table.features.length;
    width[table.tower] += blocks[table.index] * spec.blockSize * table.features.length;
  }
  const multiplyAdds =
    towerMultiplyAdds(width.user, towers.user) +
    towerMultiplyAdds(width.item, towers.item) +
    // The score: one dot product of the towers' outputs.
    (towers.user.at(-1) ?? width.user);
  return { lookups, dims: width.user + width.item, mflops: multiplyAdds / 1e6 };
}

/** One timed model: its shape and the measured time per example. */
export interface LatencySample {
  readonly shape: LatencyShape;
  readonly latencyUs: number;
}

export interface LatencyFit {
  readonly coefficients: LatencyCoefficients;
  /** Coefficient of determination of the fit on the samples (1: exact). */
  readonly r2: number;
}

/** Number of coefficients: constant, per lookup, per dim, per MFLOP. */
const TERMS = 4;
/** Pivots below this fraction of the largest diagonal entry make a system singular. */
const SINGULAR = 1e-12;

/**
 * Least-squares fit of the latency model with every coefficient >= 0.
 *
 * Why non-negative: each term is work the serving path does (a lookup, a gathered value,
 * a multiply-add), so none can make inference faster. An unconstrained fit of noisy or
 * nearly collinear timings (dims and MFLOPs move together within one tower width) can
 * still trade a negative coefficient against a larger one; the selector would then see
 * a candidate whose marginal latency is negative, a free or even budget-freeing pick,
 * and a serving target could be promised a latency it cannot have. A clamped coefficient
 * is 0 and the others are refit without it.
 *
 * The fit is exact NNLS: with 4 coefficients it solves the unconstrained least squares
 * on each of the 2^4 supports (normal equations, 4x4 at most), keeps those whose
 * coefficients are all non-negative, and returns the one with the smallest residual.
 * The NNLS optimum is the least-squares solution on its own support, so it is among them.
 */
export function fitLatency(samples: readonly LatencySample[]): LatencyFit {
  if (samples.length === 0) throw new RangeError('fitLatency needs at least one sample');
  const rows = samples.map(checkedRow);
  const targets = samples.map((sample) => sample.latencyUs);
  let best = { beta: new Array<number>(TERMS).fill(0), sse: sumSquaredErrors(rows, targets, [0, 0, 0, 0]) };
  for (let support = 1; support < 1 << TERMS; support++) {
    const beta = leastSquaresOn(rows, targets, support);
    if (beta === undefined || beta.some((value) => value < 0)) continue;
    const sse = sumSquaredErrors(rows, targets, beta);
    if (sse < best.sse) best = { beta, sse };
  }
  const [constant_us, per_lookup_us, per_dim_us, per_mflop_us] = best.beta;
  return {
    coefficients: { constant_us, per_lookup_us, per_dim_us, per_mflop_us },
    r2: rSquared(targets, best.sse),
  };
}

/** The regressors of a sample: [1, lookups, dims, mflops]. */
function checkedRow(sample: LatencySample, index: number): number[] {
  const { lookups, dims, mflops } = sample.shape;
  const row = [1, lookups, dims, mflops];
  if (!row.every(Number.isFinite) || !Number.isFinite(sample.latencyUs))
    throw new RangeError(`latency sample ${index} has a value that is not a finite number`);
  return row;
}

function sumSquaredErrors(
  rows: readonly number[][],
  targets: readonly number[],
  beta: readonly number[],
): number {
  let sse = 0;
  rows.forEach((row, i) => {
    let predicted = 0;
    for (let j = 0; j < TERMS; j++) predicted += row[j] * beta[j];
    sse += (targets[i] - predicted) ** 2;
  });
  return sse;
}

function rSquared(targets: readonly number[], sse: number): number {
  const mean = targets.reduce((sum, y) => sum + y, 0) / targets.length;
  const total = targets.reduce((sum, y) => sum + (y - mean) ** 2, 0);
  if (total === 0) return sse === 0 ? 1 : 0;
  return 1 - sse / total;
}

/**
 * Unconstrained least squares on the terms in the bit mask `support` (the others 0), or
 * undefined when those columns are linearly dependent on the samples. Columns are scaled
 * to a largest magnitude of 1 first: lookups, dims and MFLOPs differ by orders of
 * magnitude, and the normal equations square the condition number.
 */
function leastSquaresOn(
  rows: readonly number[][],
  targets: readonly number[],
  support: number,
): number[] | undefined {
  const terms = [...Array(TERMS).keys()].filter((j) => (support >> j) & 1);
  const scale = terms.map((j) => Math.max(...rows.map((row) => Math.abs(row[j]))));
  if (scale.some((value) => value === 0)) return undefined;
  const k = terms.length;
  const gram = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const moment = new Array<number>(k).fill(0);
  rows.forEach((row, i) => {
    for (let a = 0; a < k; a++) {
      const x = row[terms[a]] / scale[a];
      moment[a] += x * targets[i];
      for (let b = 0; b < k; b++) gram[a][b] += x * (row[terms[b]] / scale[b]);
    }
  });
  const solved = solveLinear(gram, moment);
  if (solved === undefined) return undefined;
  const beta = new Array<number>(TERMS).fill(0);
  terms.forEach((j, a) => (beta[j] = solved[a] / scale[a]));
  return beta;
}

/**
 * Solves A x = b for a small square A by Gaussian elimination with partial pivoting;
 * undefined when A is (numerically) singular. A and b are overwritten.
 */
function solveLinear(a: number[][], b: number[]): number[] | undefined {
  const n = b.length;
  const largest = Math.max(...a.map((row, i) => Math.abs(row[i])));
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    if (!(Math.abs(a[pivot][col]) > SINGULAR * largest)) return undefined;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    [b[col], b[pivot]] = [b[pivot], b[col]];
    for (let r = col + 1; r < n; r++) {
      const factor = a[r][col] / a[col][col];
      for (let c = col; c < n; c++) a[r][c] -= factor * a[col][c];
      b[r] -= factor * b[col];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let row = n - 1; row >= 0; row--) {
    let sum = b[row];
    for (let c = row + 1; c < n; c++) sum -= a[row][c] * x[c];
    x[row] = sum / a[row][row];
  }
  return x;
}
