/**
 * The numbers a sweep is summed up by: Pareto frontiers of test metric against a cost, and
 * the area under the metric-against-memory-share curve (one number per method, like
 * ERASE's AUKC). Pure functions of the results table (src/experiment/sweep-results.ts).
 */
import type { FrontierPoint, MethodSummary, SweepSummary, TrialRow } from './sweep-results.js';

/** Memory shares closer than this are the same budget (percentages resolve with rounding). */
const SHARE_TOLERANCE = 1e-9;

/**
 * The points no other point beats: none has a cost at most its cost and a metric at least
 * its metric with one of the two strictly better. By cost ascending (ties: by trial);
 * points with a missing or non-finite cost or metric take no part.
 */
export function paretoFrontier(points: readonly FrontierPoint[]): FrontierPoint[] {
  const usable = points.filter((point) => Number.isFinite(point.cost) && Number.isFinite(point.test_metric));
  // Cheapest first, best first among equal costs: a point is on the frontier when its
  // metric beats every cheaper-or-equal point's before it (or equals a frontier point's of the same cost).
  const sorted = [...usable].sort(
    (a, b) => a.cost - b.cost || b.test_metric - a.test_metric || compareText(a.trial, b.trial),
  );
  const frontier: FrontierPoint[] = [];
  for (const point of sorted) {
    const last = frontier[frontier.length - 1];
    if (last === undefined || point.test_metric > last.test_metric) frontier.push(point);
    else if (point.test_metric === last.test_metric && point.cost === last.cost) frontier.push(point);
  }
  return frontier;
}

/** True when some point of `points` beats `point`: no worse on both, better on one (see paretoFrontier). */
export function isDominated(point: FrontierPoint, points: readonly FrontierPoint[]): boolean {
  return points.some(
    (other) =>
      other.cost <= point.cost &&
      other.test_metric >= point.test_metric &&
      (other.cost < point.cost || other.test_metric > point.test_metric),
  );
}

/** A curve's point: x (e.g. memory share) and the mean metric of the trials there. */
export interface CurvePoint {
  readonly x: number;
  readonly y: number;
}

/**
 * Means of y per x (x values within SHARE_TOLERANCE are one), by x ascending; pairs with a
 * non-finite x or y take no part.
 */
export function meanCurve(pairs: readonly { readonly x: number; readonly y: number }[]): CurvePoint[] {
  const sorted = pairs.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
  const groups: { x: number; ys: number[] }[] = [];
  for (const pair of sorted) {
    const last = groups[groups.length - 1];
    if (last && pair.x - last.x <= SHARE_TOLERANCE * Math.max(1, Math.abs(last.x))) last.ys.push(pair.y);
    else groups.push({ x: pair.x, ys: [pair.y] });
  }
  return groups.map((group) => ({ x: group.x, y: mean(group.ys) }));
}

/**
 * The area under a curve by trapezoids from its first to its last x, divided by that
 * range: the curve's mean height. Null with fewer than two distinct x.
 */
export function normalisedArea(curve: readonly CurvePoint[]): number | null {
  if (curve.length < 2) return null;
  let area = 0;
  for (let i = 1; i < curve.length; i++)
    area += ((curve[i].y + curve[i - 1].y) / 2) * (curve[i].x - curve[i - 1].x);
  return area / (curve[curve.length - 1].x - curve[0].x);
}

/**
 * Area under the test metric against the memory budget as a share of the full model's
 * memory: mean over the trials at each budget (the seeds, and the latency budgets when
 * those are swept too), trapezoids from the smallest to the largest budget, divided by
 * that range. Null with fewer than two budgets.
 */
export function areaUnderMemoryCurve(rows: readonly TrialRow[]): number | null {
  const pairs = rows
    .filter((row) => row.memory_budget_bytes !== null && row.full_memory_bytes > 0)
    .map((row) => ({ x: row.memory_budget_bytes! / row.full_memory_bytes, y: row.test_metric }));
  return normalisedArea(meanCurve(pairs));
}

function frontierOf(rows: readonly TrialRow[], cost: (row: TrialRow) => number | null): FrontierPoint[] {
  return paretoFrontier(
    rows.flatMap((row) => {
      const value = cost(row);
      return value === null ? [] : [{ trial: row.trial, cost: value, test_metric: row.test_metric }];
    }),
  );
}

export function summarizeMethod(method: string, rows: readonly TrialRow[]): MethodSummary {
  const own = rows.filter((row) => row.method === method);
  return {
    method,
    trials: own.length,
    pareto_memory: frontierOf(own, (row) => row.memory_bytes),
    pareto_latency: frontierOf(own, (row) => row.predicted_latency_us),
    area_under_curve_memory: areaUnderMemoryCurve(own),
  };
}

/**
 * The sweep's summary: per method (in `methods` order, then any other method of the rows)
 * its frontiers and area. The full model's metric is the mean over seeds (each seed trains
 * its own full model); `metric` names the metric when there are no rows.
 */
export function summarizeSweep(
  rows: readonly TrialRow[],
  methods: readonly string[],
  metric: string,
): SweepSummary {
  const fullBySeed = new Map<number, number>();
  for (const row of rows) if (!fullBySeed.has(row.seed)) fullBySeed.set(row.seed, row.full_test_metric);
  const names = [...methods, ...new Set(rows.map((row) => row.method).filter((m) => !methods.includes(m)))];
  return {
    metric: rows[0]?.metric ?? metric,
    full_test_metric: mean([...fullBySeed.values()]),
    full_memory_bytes: rows[0]?.full_memory_bytes ?? Number.NaN,
    methods: names.map((method) => summarizeMethod(method, rows)),
  };
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Code-unit order, the same on every machine and locale. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
