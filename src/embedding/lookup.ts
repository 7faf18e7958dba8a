/**
 * Per-feature work of the embedding engine, the one implementation whichever thread runs
 * it: gather (and pool) a feature's rows into its columns of a tower input, scatter a
 * tower input's gradient into its table's pending gradients, and apply the optimizer to
 * a table's touched rows. A FeaturePlan says where one feature's columns are for the
 * current active dims.
 */
import type { Batch } from '../data/batcher.js';
import type { EncodedFeature } from '../data/encoder.js';
import type { EmbeddingSpec, Pooling, Tower, TowerColumns } from './layout.js';
import {
  lazyAdamRows,
  rowwiseAdagradRows,
  sgdRows,
  type AdamBiasCorrection,
  type ResolvedOptimizerConfig,
} from './optimizers.js';
import { addRow, addScaledRow, copyRow, copyScaledRow, scaleRow } from './row-kernels.js';
import type { TableState } from './table-state.js';

/** Where one feature's columns go: precomputed for the current active dims. */
export interface FeaturePlan {
  readonly table: TableState;
  readonly tower: Tower;
  /** Index in the batch's features. */
  readonly feature: number;
  readonly name: string;
  readonly rowOffset: number;
  readonly vocabularySize: number;
  readonly pooling: Pooling;
  readonly column: number;
  readonly active: number;
}

/** One tower input (or its gradient), row-major [numRows, width]. */
export interface TowerMatrix {
  readonly values: Float32Array;
  readonly width: number;
}

export interface TowerPair {
  readonly user: TowerMatrix;
  readonly item: TowerMatrix;
}

/** The plans of the features of `tables` (indices into `states`) that have active dims. */
export function featurePlans(
  spec: EmbeddingSpec,
  states: readonly TableState[],
  tables: readonly number[],
  activeDims: ArrayLike<number>,
  columns: { readonly user: TowerColumns; readonly item: TowerColumns },
): FeaturePlan[] {
  const plans: FeaturePlan[] = [];
  for (const t of tables) {
    const table = spec.tables[t];
    const active = activeDims[t];
    if (active === 0) continue;
    const starts = columns[table.tower].featureStart[t];
    table.features.forEach((feature, k) => {
      plans.push({
        table: states[t],
        tower: table.tower,
        feature: feature.index,
        name: feature.name,
        rowOffset: feature.rowOffset,
        vocabularySize: feature.vocabularySize,
        pooling: feature.pooling,
        column: starts[k],
        active,
      });
    });
  }
  return plans;
}

/** Gathers (and pools) the plan's feature into its columns of `out`. */
export function gatherFeature(
  plan: FeaturePlan,
  encoded: EncodedFeature,
  out: TowerMatrix,
  numRows: number,
): void {
  if (plan.pooling === 'none') gatherSingle(plan, encoded.ids, out, numRows);
  else gatherPooled(plan, encoded.ids, encoded.offsets!, out, numRows);
}

/** Adds the gradient of the plan's columns of `grad` to its table's pending gradients. */
export function scatterFeature(
  plan: FeaturePlan,
  encoded: EncodedFeature,
  grad: TowerMatrix,
  numRows: number,
): void {
  const { offsets } = encoded;
  plan.table.reserve(plan.pooling === 'none' ? numRows : offsets![numRows] - offsets![0]);
  if (plan.pooling === 'none') scatterSingle(plan, encoded.ids, grad, numRows);
  else scatterPooled(plan, encoded.ids, offsets!, grad, numRows);
}

/**
 * One optimizer step on the touched rows of an active table (`dims` active dims), then
 * clears its pending gradients. The table counts the step whether or not a row was
 * touched (Adam's `adamStep: 'global'` bias correction), as SparseAdam's state['step'] does.
 */
export function updateTable(
  table: TableState,
  dims: number,
  learningRate: number,
  optimizer: ResolvedOptimizerConfig,
  correction: AdamBiasCorrection,
): void {
  const { kind, eps, beta1, beta2, weightDecay } = optimizer;
  const decay = 1 - learningRate * weightDecay;
  table.slots.step++;
  const count = table.count;
  table.count = 0;
  if (count === 0) return;
  const width = table.spec.dim;
  if (kind === 'sgd') {
    sgdRows(table.weights, width, table.touched, count, table.grad, dims, learningRate, decay);
  } else if (kind === 'adagrad') {
    rowwiseAdagradRows(
      table.weights,
      width,
      table.slots.accumulator,
      table.touched,
      count,
      table.grad,
      dims,
      learningRate,
      eps,
      decay,
    );
  } else {
    lazyAdamRows(
      table.weights,
      width,
      table.slots,
      optimizer.adamStep === 'row',
      correction,
      table.touched,
      count,
      table.grad,
      dims,
      learningRate,
      beta1,
      beta2,
      eps,
      decay,
    );
  }
}

/** The batch's ids (and offsets) of the plan's feature; throws when they are missing or too short. */
export function checkedFeature(batch: Batch, plan: FeaturePlan): EncodedFeature {
  const encoded = batch.features[plan.feature];
  if (!encoded) throw new RangeError(`batch has no feature ${plan.feature} ('${plan.name}')`);
  if (plan.pooling === 'none') {
    if (encoded.ids.length < batch.numRows)
      throw new RangeError(`feature '${plan.name}' has ${encoded.ids.length} ids for ${batch.numRows} rows`);
    return encoded;
  }
  const offsets = encoded.offsets;
  if (!offsets || offsets.length < batch.numRows + 1 || offsets[batch.numRows] > encoded.ids.length)
    throw new RangeError(`multi-valued feature '${plan.name}' needs offsets for ${batch.numRows} rows`);
  return encoded;
}

function badId(plan: FeaturePlan, id: number): RangeError {
  return new RangeError(`feature '${plan.name}': id ${id} outside its vocabulary of ${plan.vocabularySize}`);
}

function gatherSingle(plan: FeaturePlan, ids: Int32Array, out: TowerMatrix, numRows: number): void {
  const { values, width } = out;
  const { weights } = plan.table;
  const stride = plan.table.spec.dim;
  const { vocabularySize, rowOffset, active: dims } = plan;
  for (let r = 0, o = plan.column; r < numRows; r++, o += width) {
    const id = ids[r];
    if (id < 0 || id >= vocabularySize) throw badId(plan, id);
    copyRow(values, o, weights, (rowOffset + id) * stride, dims);
  }
}

function gatherPooled(
  plan: FeaturePlan,
  ids: Int32Array,
  offsets: Int32Array,
  out: TowerMatrix,
  numRows: number,
): void {
  const { values, width } = out;
  const { weights } = plan.table;
  const stride = plan.table.spec.dim;
  const { vocabularySize, rowOffset, active: dims } = plan;
  const mean = plan.pooling === 'mean';
  for (let r = 0, o = plan.column; r < numRows; r++, o += width) {
    const start = offsets[r];
    const end = offsets[r + 1];
    if (end <= start) {
      for (let d = 0; d < dims; d++) values[o + d] = 0;
      continue;
    }
    for (let i = start; i < end; i++) {
      const id = ids[i];
      if (id < 0 || id >= vocabularySize) throw badId(plan, id);
      const source = (rowOffset + id) * stride;
      if (i === start) copyRow(values, o, weights, source, dims);
      else addRow(values, o, weights, source, dims);
    }
    if (mean && end > start + 1) scaleRow(values, o, dims, 1 / (end - start));
  }
}

/** Adds each row's gradient to its table row's slot. */
function scatterSingle(plan: FeaturePlan, ids: Int32Array, grad: TowerMatrix, numRows: number): void {
  const { values, width } = grad;
  const { grad: acc, slotOf, touched } = plan.table;
  const { vocabularySize, rowOffset, active: dims } = plan;
  let count = plan.table.count;
  for (let r = 0, g = plan.column; r < numRows; r++, g += width) {
    const id = ids[r];
    if (id < 0 || id >= vocabularySize) throw badId(plan, id);
    count = accumulate(acc, slotOf, touched, count, rowOffset + id, values, g, dims, 1);
  }
  plan.table.count = count;
}

/** Adds each bag's gradient (scaled by 1/size for mean pooling) to the slots of its ids' rows. */
function scatterPooled(
  plan: FeaturePlan,
  ids: Int32Array,
  offsets: Int32Array,
  grad: TowerMatrix,
  numRows: number,
): void {
  const { values, width } = grad;
  const { grad: acc, slotOf, touched } = plan.table;
  const { vocabularySize, rowOffset, active: dims } = plan;
  const mean = plan.pooling === 'mean';
  let count = plan.table.count;
  for (let r = 0, g = plan.column; r < numRows; r++, g += width) {
    const start = offsets[r];
    const end = offsets[r + 1];
    if (end <= start) continue;
    const scale = mean ? 1 / (end - start) : 1;
    for (let i = start; i < end; i++) {
      const id = ids[i];
      if (id < 0 || id >= vocabularySize) throw badId(plan, id);
      count = accumulate(acc, slotOf, touched, count, rowOffset + id, values, g, dims, scale);
    }
  }
  plan.table.count = count;
}

/**
 * Adds scale × src[s ..] to the gradient slot of table row `row` (sparse set, see
 * table-state.ts), taking the next slot when the row has none yet; returns the slot count.
 * A scale of 1 leaves every value as it is, so the unscaled case shares this code.
 */
function accumulate(
  acc: Float32Array,
  slotOf: Int32Array,
  touched: Int32Array,
  count: number,
  row: number,
  src: Float32Array,
  s: number,
  dims: number,
  scale: number,
): number {
  const slot = slotOf[row];
  if (slot < count && touched[slot] === row) {
    addScaledRow(acc, slot * dims, src, s, dims, scale);
    return count;
  }
  slotOf[row] = count;
  touched[count] = row;
  copyScaledRow(acc, count * dims, src, s, dims, scale);
  return count + 1;
}
