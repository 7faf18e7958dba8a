/**
 * Orthogonal Matching Pursuit for least squares (Pati, Rezaiifar, Krishnaprasad 1993),
 * the reference Sequential Attention is compared with in the linear case.
 *
 * Columns are standardised (centred, unit norm) and y centred, so the intercept is
 * implicit. Each step takes the column with the largest |correlation| with the
 * residual, refits least squares on the chosen columns and updates the residual.
 * Matrices are row-major Float64Arrays, n rows by d columns.
 */

export interface OmpStep {
  /** The column picked at this step. */
  readonly column: number;
  /** Its |correlation| with the residual before the step. */
  readonly score: number;
  /** The largest |correlation| among the columns not picked (the margin of the pick). */
  readonly runnerUp: number;
}

/** Columns centred and scaled to unit Euclidean norm (a constant column stays 0). */
export function standardizeColumns(x: Float64Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let j = 0; j < d; j++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[i * d + j];
    mean /= n;
    let norm = 0;
    for (let i = 0; i < n; i++) norm += (x[i * d + j] - mean) ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let i = 0; i < n; i++) out[i * d + j] = (x[i * d + j] - mean) * scale;
  }
  return out;
}

/** |correlation| of every column with `r`, for unit-norm centred columns (‖r‖ = 1 scale). */
export function columnCorrelations(xs: Float64Array, n: number, d: number, r: Float64Array): Float64Array {
  const dots = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) dots[j] += xs[i * d + j] * r[i];
  let norm = 0;
  for (let i = 0; i < n; i++) norm += r[i] * r[i];
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return dots.map((dot) => Math.abs(dot) * scale);
}

/** Solves A x = b for a symmetric positive definite m x m A (row-major) by Cholesky. */
export function choleskySolve(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * m + j];
      for (let k = 0; k < j; k++) sum -= l[i * m + k] * l[j * m + k];
      if (i === j) {
        if (!(sum > 0)) throw new Error(`matrix is not positive definite (pivot ${i}: ${sum})`);
        l[i * m + i] = Math.sqrt(sum);
      } else {
        l[i * m + j] = sum / l[j * m + j];
      }
    }
  }
  // L z = b, then Lᵀ x = z.
  const z = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= l[i * m + k] * z[k];
    z[i] = sum / l[i * m + i];
  }
  const solution = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let sum = z[i];
    for (let k = i + 1; k < m; k++) sum -= l[k * m + i] * solution[k];
    solution[i] = sum / l[i * m + i];
  }
  return solution;
}

/** The first `k` columns OMP picks, in order, with the correlations they were picked on. */
export function orthogonalMatchingPursuit(
  x: Float64Array,
  n: number,
  d: number,
  y: Float64Array,
  k: number,
): OmpStep[] {
  const xs = standardizeColumns(x, n, d);
  const yMean = y.reduce((sum, value) => sum + value, 0) / n;
  const centred = y.map((value) => value - yMean);
  let residual: Float64Array = centred.slice();
  const chosen: number[] = [];
  const steps: OmpStep[] = [];
  while (chosen.length < Math.min(k, d)) {
    const scores = columnCorrelations(xs, n, d, residual);
    const open = Array.from({ length: d }, (_, j) => j).filter((j) => !chosen.includes(j));
    const best = open.reduce((a, b) => (scores[b] > scores[a] ? b : a));
    const runnerUp = Math.max(0, ...open.filter((j) => j !== best).map((j) => scores[j]));
    chosen.push(best);
    steps.push({ column: best, score: scores[best], runnerUp });
    residual = leastSquaresResidual(xs, n, d, centred, chosen);
  }
  return steps;
}

/** y − X_S β̂ for the least-squares β̂ on the columns S (normal equations). */
function leastSquaresResidual(
  xs: Float64Array,
  n: number,
  d: number,
  y: Float64Array,
  columns: readonly number[],
): Float64Array {
  const m = columns.length;
  const gram = new Float64Array(m * m);
  const rhs = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let a = 0; a < m; a++) {
      const value = xs[row + columns[a]];
      rhs[a] += value * y[i];
      for (let b = 0; b <= a; b++) gram[a * m + b] += value * xs[row + columns[b]];
    }
  }
  for (let a = 0; a < m; a++) for (let b = 0; b < a; b++) gram[b * m + a] = gram[a * m + b];
  const beta = choleskySolve(gram, rhs, m);
  const residual = y.slice();
  for (let i = 0; i < n; i++) for (let a = 0; a < m; a++) residual[i] -= xs[i * d + columns[a]] * beta[a];
  return residual;
}
