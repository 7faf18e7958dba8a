import { describe, expect, it } from 'vitest';
import { binaryMetrics, rocAuc } from '../src/model/metrics.js';
import { Random } from '../src/util/random.js';

/** AUC by definition: the share of (positive, negative) pairs ordered right, ties half. */
function pairwiseAuc(scores: number[], labels: number[]): number {
  let right = 0;
  let pairs = 0;
  scores.forEach((s, i) => {
    if (labels[i] !== 1) return;
    scores.forEach((t, j) => {
      if (labels[j] !== 0) return;
      pairs += 1;
      right += s > t ? 1 : s === t ? 0.5 : 0;
    });
  });
  return right / pairs;
}

describe('metrics', () => {
  it('computes exact AUC with ties, as the pairwise definition does', () => {
    const random = new Random(5);
    const labels = Array.from({ length: 400 }, () => (random.next() < 0.3 ? 1 : 0));
    const scores = labels.map((y) => Math.round((y * 0.4 + random.next()) * 20) / 20);
    expect(rocAuc(scores, labels)).toBeCloseTo(pairwiseAuc(scores, labels), 12);
  });

  it('gives 1 for a perfect ranking, 0.5 for constant scores and NaN with one class', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.5, 0.5, 0.5], [0, 1, 1])).toBe(0.5);
    expect(rocAuc([0.1, 0.9], [1, 1])).toBeNaN();
  });

  it('computes logloss and accuracy with clipped probabilities', () => {
    const metrics = binaryMetrics([0.9, 0.2, 0.6, 0], [1, 0, 0, 0]);
    const expected = -(Math.log(0.9) + Math.log(0.8) + Math.log(0.4) + Math.log(1 - 1e-7)) / 4;
    expect(metrics.logloss).toBeCloseTo(expected, 10);
    expect(metrics.accuracy).toBe(0.75);
    expect(metrics.positiveRate).toBe(0.25);
    expect(metrics.examples).toBe(4);
  });
});
