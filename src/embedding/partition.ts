/**
 * Splits the active tables between two threads so that both finish a training step
 * (forward + backward + update of their tables) at about the same time.
 *
 * Estimated cost of a table per step, in units of about 2.5 ns (one dim of one row):
 *   Σ features: ids × (ID_COST + dims)                   gather and scatter of each id
 *   + Σ features: unique ids × (ROW_COST + dims × OPTIMIZER_COST)   the update of each touched row
 * Ids and unique ids are counted on the batch the split is made for (or assumed: one id
 * per row, drawn uniformly). The main thread also copies the tower inputs and their
 * gradients through shared memory (COPY_COST per value), so it takes that much less.
 * The constants come from bench/embedding.ts on one thread (batch 1024, dim 16, Zipf
 * ids): about 90 ns per id for gather and scatter, and 60, 140 and 250 ns per touched row
 * for the SGD, row-wise Adagrad and lazy Adam updates. Estimates miss cache effects (a
 * large table's rows miss more often), so the store splits once more on measured times.
 */
import type { Batch } from '../data/batcher.js';
import { featureCount, type EmbeddingSpec } from './layout.js';
import type { SparseOptimizerKind } from './optimizers.js';

const ID_COST = 20;
const ROW_COST = 8;
const OPTIMIZER_COST: Readonly<Record<SparseOptimizerKind, number>> = { sgd: 1, adagrad: 3, adam: 6 };
const COPY_COST = 0.07;

/** Per feature (layout order): ids in a batch and how many of them are distinct. */
export interface FeatureLoad {
  readonly rows: number;
  readonly ids: Float64Array;
  readonly unique: Float64Array;
}

/** One id per row of `rows`, drawn uniformly from each feature's vocabulary. */
export function assumedLoad(spec: EmbeddingSpec, rows: number): FeatureLoad {
  const load = emptyLoad(spec, rows);
  for (const table of spec.tables) {
    for (const feature of table.features) {
      load.ids[feature.index] = rows;
      load.unique[feature.index] = feature.vocabularySize * -Math.expm1(-rows / feature.vocabularySize);
    }
  }
  return load;
}

/** The load of the active tables' features in `batch` (which has been checked for them). */
export function observedLoad(spec: EmbeddingSpec, activeDims: ArrayLike<number>, batch: Batch): FeatureLoad {
  const load = emptyLoad(spec, batch.numRows);
  const distinct = new Set<number>();
  for (const table of spec.tables) {
    if (activeDims[table.index] === 0) continue;
    for (const feature of table.features) {
      const { ids, offsets } = batch.features[feature.index];
      const start = offsets ? offsets[0] : 0;
      const end = offsets ? offsets[batch.numRows] : batch.numRows;
      distinct.clear();
      for (let i = start; i < end; i++) distinct.add(ids[i]);
      load.ids[feature.index] = end - start;
      load.unique[feature.index] = distinct.size;
    }
  }
  return load;
}

function emptyLoad(spec: EmbeddingSpec, rows: number): FeatureLoad {
  const features = featureCount(spec);
  return { rows, ids: new Float64Array(features), unique: new Float64Array(features) };
}

/** Estimated cost of one step of each table (0 when dropped). */
export function tableCosts(
  spec: EmbeddingSpec,
  activeDims: ArrayLike<number>,
  load: FeatureLoad,
  optimizer: SparseOptimizerKind,
): Float64Array {
  const costs = new Float64Array(spec.tables.length);
  for (const table of spec.tables) {
    const dims = activeDims[table.index];
    if (dims === 0) continue;
    let cost = 0;
    for (const feature of table.features) {
      cost += load.ids[feature.index] * (ID_COST + dims);
      cost += load.unique[feature.index] * (ROW_COST + dims * OPTIMIZER_COST[optimizer]);
    }
    costs[table.index] = cost;
  }
  return costs;
}

/** What the main thread pays per step for the shared-memory copies of `rows` rows of both towers. */
export function copyCost(rows: number, towerWidths: number): number {
  return 2 * rows * towerWidths * COPY_COST;
}

/** The step time a split predicts: its slower thread's cost. */
export function splitLoad(split: TableSplit, costs: ArrayLike<number>, mainOverhead = 0): number {
  const sum = (tables: readonly number[]): number => tables.reduce((total, t) => total + costs[t], 0);
  return Math.max(sum(split.main) + mainOverhead, sum(split.worker));
}

export interface TableSplit {
  /** Table indices of the calling thread and of the worker, each ascending. */
  readonly main: number[];
  readonly worker: number[];
}

/**
 * Largest cost first, each to the thread with less so far (ties to the main thread,
 * which starts with `mainOverhead`).
 */
export function splitTables(
  tables: readonly number[],
  costs: ArrayLike<number>,
  mainOverhead = 0,
): TableSplit {
  const order = [...tables].sort((a, b) => costs[b] - costs[a] || a - b);
  const main: number[] = [];
  const worker: number[] = [];
  let mainLoad = mainOverhead;
  let workerLoad = 0;
  for (const t of order) {
    if (mainLoad <= workerLoad) {
      main.push(t);
      mainLoad += costs[t];
    } else {
      worker.push(t);
      workerLoad += costs[t];
    }
  }
  const ascending = (a: number, b: number): number => a - b;
  return { main: main.sort(ascending), worker: worker.sort(ascending) };
}
