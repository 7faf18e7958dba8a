import type { RetrievalMetrics } from './retrieval.js';

/**
 * Evaluation metrics over whole splits. AUC is exact: scores are sorted once and tied
 * scores share their average rank (the Mann-Whitney U statistic), so it matches
 * scikit-learn's roc_auc_score.
 */

export interface BinaryMetrics {
  readonly kind: 'binary';
  readonly auc: number;
  readonly logloss: number;
  readonly accuracy: number;
  readonly examples: number;
  readonly positiveRate: number;
}

/** Probabilities are clipped to [EPSILON, 1 - EPSILON] in logloss, as scikit-learn does. */
const EPSILON = 1e-7;

/** Exact ROC AUC of `scores` against 0/1 `labels`; NaN when one class is absent. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSumPositives = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && scores[order[end]] === scores[order[start]]) end += 1;
    const averageRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) {
      if (labels[order[k]] === 1) {
        positives += 1;
        rankSumPositives += averageRank;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSumPositives - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function binaryMetrics(probabilities: ArrayLike<number>, labels: ArrayLike<number>): BinaryMetrics {
  const n = probabilities.length;
  let loss = 0;
  let correct = 0;
  let positives = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - EPSILON, Math.max(EPSILON, probabilities[i]));
    const y = labels[i];
    loss -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
    if ((p >= 0.5 ? 1 : 0) === y) correct += 1;
    positives += y;
  }
  return {
    kind: 'binary',
    auc: rocAuc(probabilities, labels),
    logloss: n ? loss / n : Number.NaN,
    accuracy: n ? correct / n : Number.NaN,
    examples: n,
    positiveRate: n ? positives / n : Number.NaN,
  };
}

export type EvalMetrics = BinaryMetrics | RetrievalMetrics;

/** The number that early stopping and the best epoch go by: AUC, or Recall at the first K. */
export function primaryMetric(metrics: EvalMetrics): number {
  return metrics.kind === 'binary' ? metrics.auc : Object.values(metrics.recall)[0];
}

/** One line for a terminal. */
export function describeMetrics(metrics: EvalMetrics): string {
  if (metrics.kind === 'binary') {
    return `AUC ${metrics.auc.toFixed(4)}, logloss ${metrics.logloss.toFixed(4)}, accuracy ${metrics.accuracy.toFixed(4)}`;
  }
  const recall = Object.entries(metrics.recall).map(([k, v]) => `Recall${k} ${v.toFixed(4)}`);
  const ndcg = Object.entries(metrics.ndcg).map(([k, v]) => `NDCG${k} ${v.toFixed(4)}`);
  return [...recall, ...ndcg].join(', ') + ` (${metrics.catalogue} items)`;
}
