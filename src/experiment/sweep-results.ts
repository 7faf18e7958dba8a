/**
 * What a sweep leaves in its folder, for `lemopt report`, notebooks and other tools:
 *
 *   <sweep>/sweep.json           the sweep's definition: config file, grid, trial ids
 *   <sweep>/trials/<id>/         one `lemopt run` folder per trial (manifest.json, selection/trace.jsonl, ...)
 *   <sweep>/results.csv          one row per finished trial (TrialRow), header row first
 *   <sweep>/results.parquet      the same table as Parquet
 *   <sweep>/summary.json         SweepSummary: Pareto frontiers and areas under the curve per method
 *
 * Every file is written to a temporary name and renamed when complete.
 */

export const SWEEP_FILE = 'sweep.json';
export const RESULTS_CSV = 'results.csv';
export const RESULTS_PARQUET = 'results.parquet';
export const SUMMARY_FILE = 'summary.json';
export const TRIALS_DIR = 'trials';

/** One finished trial. Costs in bytes and microseconds per example; metrics on the test split. */
export interface TrialRow {
  /** Folder name under trials/, e.g. `sequential_attention-mem25%-seed0`. */
  readonly trial: string;
  readonly method: string;
  readonly seed: number;
  /** The budgets as written in the grid (`25%`, `4MB`, 20) or null, and as applied. */
  readonly memory_budget: string | null;
  readonly latency_budget: string | null;
  readonly memory_budget_bytes: number | null;
  readonly latency_budget_us: number | null;
  /** `group:dim` of each kept group, `;`-separated, in selection order. */
  readonly kept_groups: string;
  readonly kept_group_count: number;
  /** Σ kept dims x features per group: the towers' embedding input width. */
  readonly total_dims: number;
  readonly memory_bytes: number;
  readonly predicted_latency_us: number | null;
  readonly measured_latency_us: number | null;
  /** 'auc' for the binary objective, 'recall@K' (first retrieval_k) for sampled_softmax. */
  readonly metric: string;
  readonly test_metric: number;
  readonly valid_metric: number;
  readonly full_test_metric: number;
  readonly full_memory_bytes: number;
  /** Seconds of the trial's own work (selection and retraining). */
  readonly wall_seconds: number;
}

/** A point of a frontier: a trial's cost and test metric. */
export interface FrontierPoint {
  readonly trial: string;
  readonly cost: number;
  readonly test_metric: number;
}

export interface MethodSummary {
  readonly method: string;
  readonly trials: number;
  /** Trials no other trial of the method beats on both cost and metric, by cost ascending. */
  readonly pareto_memory: readonly FrontierPoint[];
  readonly pareto_latency: readonly FrontierPoint[];
  /**
   * Area under the test metric against memory as a share of the full model's (0..1),
   * mean over seeds per budget, trapezoids from the smallest to the largest budget, divided
   * by that range: one number per method, like ERASE's AUKC.
   */
  readonly area_under_curve_memory: number | null;
}

export interface SweepSummary {
  readonly metric: string;
  readonly full_test_metric: number;
  readonly full_memory_bytes: number;
  readonly methods: readonly MethodSummary[];
}
