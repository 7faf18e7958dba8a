/**
 * The tables one thread works on: forward, backward and update of the tables it owns in
 * the current split, over its views of every table's state. A store on one thread is one
 * shard owning every table; a store on two threads has one shard per thread (shard-worker.ts).
 */
import type { EncodedFeature } from '../data/encoder.js';
import type { EmbeddingSpec, TowerColumns } from './layout.js';
import {
  featurePlans,
  gatherFeature,
  scatterFeature,
  updateTable,
  type FeaturePlan,
  type TowerPair,
} from './lookup.js';
import { AdamBiasCorrection, type ResolvedOptimizerConfig } from './optimizers.js';
import type { TableState } from './table-state.js';

/** Summed gradients of one table waiting for update(): rows and their gradients. */
export interface PendingGradient {
  /** Table rows touched, in first-touch order. */
  readonly rows: Int32Array;
  /** rows.length × dims values: gradient of row rows[s] at grad[s*dims + d]. */
  readonly grad: Float32Array;
  readonly dims: number;
}

export class TableShard {
  private readonly correction: AdamBiasCorrection;
  private plans: FeaturePlan[] = [];
  /** Owned tables with active dims, and those dims. */
  private owned: { readonly table: TableState; readonly dims: number }[] = [];

  /** `clock`, when given, accumulates the milliseconds spent on each table (by table index). */
  constructor(
    private readonly spec: EmbeddingSpec,
    readonly tables: readonly TableState[],
    private readonly optimizer: ResolvedOptimizerConfig,
    private readonly clock?: Float64Array,
  ) {
    this.correction = new AdamBiasCorrection(optimizer.beta1, optimizer.beta2);
  }

  /** Takes `tables` (indices) at the given active dims and tower columns. No gradient may be pending. */
  own(
    tables: readonly number[],
    activeDims: ArrayLike<number>,
    columns: { readonly user: TowerColumns; readonly item: TowerColumns },
  ): void {
    this.plans = featurePlans(this.spec, this.tables, tables, activeDims, columns);
    this.owned = tables
      .filter((t) => activeDims[t] > 0)
      .map((t) => ({ table: this.tables[t], dims: activeDims[t] }));
  }

  /** Writes the owned features' columns of both tower inputs. `features` were checked (checkedFeature). */
  forward(features: readonly EncodedFeature[], numRows: number, out: TowerPair): void {
    this.eachPlan((plan) => gatherFeature(plan, features[plan.feature], out[plan.tower], numRows));
  }

  backward(features: readonly EncodedFeature[], numRows: number, grad: TowerPair): void {
    this.eachPlan((plan) => scatterFeature(plan, features[plan.feature], grad[plan.tower], numRows));
  }

  update(learningRate: number): void {
    const clock = this.clock;
    for (const { table, dims } of this.owned) {
      const started = clock ? performance.now() : 0;
      updateTable(table, dims, learningRate, this.optimizer, this.correction);
      if (clock) clock[table.spec.index] += performance.now() - started;
    }
  }

  hasPending(): boolean {
    return this.owned.some(({ table }) => table.count > 0);
  }

  discard(): void {
    for (const { table } of this.owned) table.count = 0;
  }

  /** Views of table t's pending gradients (none unless this shard owns it). */
  pending(t: number, dims: number): PendingGradient {
    const { touched, grad, count } = this.tables[t];
    return { rows: touched.subarray(0, count), grad: grad.subarray(0, count * dims), dims };
  }

  scratchBytes(): number {
    return this.tables.reduce((sum, table) => sum + table.scratchBytes(), 0);
  }

  private eachPlan(run: (plan: FeaturePlan) => void): void {
    const clock = this.clock;
    for (const plan of this.plans) {
      const started = clock ? performance.now() : 0;
      run(plan);
      if (clock) clock[plan.table.spec.index] += performance.now() - started;
    }
  }
}
