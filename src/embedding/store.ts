/**
 * EmbeddingStore: the embedding tables of all groups as Float32Arrays, looked up and
 * updated row by row outside tfjs (see DESIGN.md, "Why the embedding tables live outside
 * tfjs").
 *
 *   forward(batch)                      ─► user [B, Du], item [B, Di] (layout.ts)
 *   backward(batch, gradUser, gradItem) ─► row gradients summed per touched table row
 *   update(learningRate?)               ─► optimizer step on the touched rows only
 *
 * Gradients of duplicate rows (the same id in several batch rows, or twice in one bag)
 * are summed before the optimizer sees them: each table keeps a sparse set (row ─► slot,
 * slot ─► row, `count` slots in use) and one gradient row per slot. Several backward
 * calls before one update() accumulate. All buffers are reused across batches; they
 * grow (never per row) when a batch touches more rows than any before.
 */
import type { ModelConfig, SelectionConfig, TrainConfig } from '../config/schema.js';
import type { Batch } from '../data/batcher.js';
import type { FeatureLayout } from '../data/features.js';
import { DEFAULT_INIT, initTable, type EmbeddingInit } from './init.js';
import {
  checkActiveDims,
  embeddingSpec,
  towerColumns,
  type EmbeddingSpec,
  type EmbeddingTableSpec,
  type Tower,
  type TowerColumns,
} from './layout.js';
import { addRow, addScaledRow, copyRow, copyScaledRow, scaleRow } from './row-kernels.js';
import { selectionMemory, type EmbeddingDtype, type SelectionMemory } from './memory.js';
import {
  AdamBiasCorrection,
  createSlots,
  lazyAdamRows,
  optimizerFromTrainConfig,
  resolveOptimizer,
  rowwiseAdagradRows,
  sgdRows,
  slotBytes,
  type OptimizerSlots,
  type ResolvedOptimizerConfig,
  type SparseOptimizerConfig,
} from './optimizers.js';

export interface EmbeddingStoreOptions {
  readonly spec: EmbeddingSpec;
  readonly optimizer: SparseOptimizerConfig;
  /** Seed of the initial weights. */
  readonly seed: number;
  readonly init?: EmbeddingInit;
  /** Active dims per table at the start; default every table at its full dim. */
  readonly activeDims?: ArrayLike<number>;
}

export interface EmbeddingOutput {
  readonly numRows: number;
  /**
   * Row-major [numRows, columns('user').width]. The arrays are the store's scratch
   * buffers: the next forward() overwrites them, so copy what must outlive it.
   */
  readonly user: Float32Array;
  readonly item: Float32Array;
}

/** Summed gradients of one table waiting for update(): rows and their gradients. */
export interface PendingGradient {
  /** Table rows touched, in first-touch order (views of scratch buffers). */
  readonly rows: Int32Array;
  /** rows.length × dims values: gradient of row rows[s] at grad[s*dims + d]. */
  readonly grad: Float32Array;
  readonly dims: number;
}

/** One array of the store's state, for a checkpoint writer. */
export interface StateArray {
  /**
   * `<table>/weights` [rows, dim], `<table>/adagrad_accumulator` [rows], `<table>/adam_m` and
   * `<table>/adam_v` [rows, dim], `<table>/adam_row_steps` [rows], `<table>/step` [1], and
   * `active_dims` [tables]: only the arrays the optimizer uses.
   */
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array | Float64Array;
}

export interface StoreBytes {
  readonly weights: number;
  readonly optimizer: number;
  /** Row index, gradient and output buffers. */
  readonly scratch: number;
}

class TableState {
  readonly weights: Float32Array;
  readonly slots: OptimizerSlots;
  /** Sparse set: row r is touched iff slotOf[r] < count and touched[slotOf[r]] === r. */
  readonly slotOf: Int32Array;
  touched = new Int32Array(0);
  /** Gradient rows, `active` values per touched slot. */
  grad = new Float32Array(0);
  count = 0;

  constructor(
    readonly spec: EmbeddingTableSpec,
    optimizer: ResolvedOptimizerConfig,
  ) {
    this.weights = new Float32Array(spec.rows * spec.dim);
    this.slots = createSlots(optimizer, spec.rows, spec.dim);
    this.slotOf = new Int32Array(spec.rows);
  }

  /** Room for `extra` more touched rows (at most the table's rows). */
  reserve(extra: number): void {
    const need = Math.min(this.spec.rows, this.count + extra);
    if (need <= this.touched.length) return;
    const capacity = Math.min(this.spec.rows, Math.max(need, this.touched.length * 2, 64));
    const touched = new Int32Array(capacity);
    touched.set(this.touched.subarray(0, this.count));
    const grad = new Float32Array(capacity * this.spec.dim);
    grad.set(this.grad);
    this.touched = touched;
    this.grad = grad;
  }
}

/** Where one feature's columns go: precomputed for the current active dims. */
interface FeaturePlan {
  readonly table: TableState;
  readonly tower: Tower;
  /** Index in the batch's features. */
  readonly feature: number;
  readonly name: string;
  readonly rowOffset: number;
  readonly vocabularySize: number;
  readonly pooling: 'none' | 'mean' | 'sum';
  readonly column: number;
  readonly active: number;
}

export class EmbeddingStore {
  readonly spec: EmbeddingSpec;
  readonly optimizer: ResolvedOptimizerConfig;
  /** Learning rate used by update() when it is given none. */
  learningRate: number;
  private readonly tables: TableState[];
  private readonly active: Int32Array;
  private readonly correction: AdamBiasCorrection;
  private userColumns!: TowerColumns;
  private itemColumns!: TowerColumns;
  private plans: FeaturePlan[] = [];
  private userBuffer = new Float32Array(0);
  private itemBuffer = new Float32Array(0);
  private output: EmbeddingOutput = { numRows: 0, user: new Float32Array(0), item: new Float32Array(0) };

  constructor(options: EmbeddingStoreOptions) {
    this.spec = options.spec;
    this.optimizer = resolveOptimizer(options.optimizer);
    this.learningRate = this.optimizer.learningRate;
    this.correction = new AdamBiasCorrection(this.optimizer.beta1, this.optimizer.beta2);
    this.tables = this.spec.tables.map((table) => {
      const state = new TableState(table, this.optimizer);
      initTable(state.weights, table.dim, options.seed, table.name, options.init ?? DEFAULT_INIT);
      return state;
    });
    this.active = new Int32Array(this.spec.tables.length).fill(this.spec.dim);
    this.setActiveDims(options.activeDims ?? this.active);
  }

  /** Active dims per table (a copy). */
  get activeDims(): Int32Array {
    return this.active.slice();
  }

  /**
   * Sets the number of leading dims in use per table (multiples of block size; 0 drops
   * the table). The columns of both tower inputs change accordingly (see layout.ts). Not
   * allowed while gradients wait for update(). Weights and optimizer state of inactive
   * dims are kept as they are.
   */
  setActiveDims(activeDims: ArrayLike<number>): void {
    checkActiveDims(this.spec, activeDims);
    if (this.tables.some((table) => table.count > 0))
      throw new Error('setActiveDims: gradients are waiting for update()');
    for (let t = 0; t < this.active.length; t++) this.active[t] = activeDims[t];
    this.userColumns = towerColumns(this.spec, 'user', this.active);
    this.itemColumns = towerColumns(this.spec, 'item', this.active);
    this.plans = [];
    for (const table of this.tables) {
      const active = this.active[table.spec.index];
      if (active === 0) continue;
      const columns = table.spec.tower === 'user' ? this.userColumns : this.itemColumns;
      table.spec.features.forEach((feature, k) => {
        this.plans.push({
          table,
          tower: table.spec.tower,
          feature: feature.index,
          name: feature.name,
          rowOffset: feature.rowOffset,
          vocabularySize: feature.vocabularySize,
          pooling: feature.pooling,
          column: columns.featureStart[table.spec.index][k],
          active,
        });
      });
    }
    this.output = { numRows: 0, user: new Float32Array(0), item: new Float32Array(0) };
  }

  /** Column map of one tower's input for the current active dims. */
  columns(tower: Tower): TowerColumns {
    return tower === 'user' ? this.userColumns : this.itemColumns;
  }

  /** The live weights of table t, rows × spec.dim, row-major. */
  weights(table: number): Float32Array {
    return this.tables[table].weights;
  }

  /** The live optimizer state of table t. */
  slots(table: number): Readonly<OptimizerSlots> {
    return this.tables[table].slots;
  }

  /** Gathers (and pools) the active dims of every feature of the batch into the two tower inputs. */
  forward(batch: Batch): EmbeddingOutput {
    const numRows = batch.numRows;
    const output = this.outputs(numRows);
    const userWidth = this.userColumns.width;
    const itemWidth = this.itemColumns.width;
    for (const plan of this.plans) {
      const encoded = featureOf(batch, plan);
      const out = plan.tower === 'user' ? output.user : output.item;
      const width = plan.tower === 'user' ? userWidth : itemWidth;
      const { weights } = plan.table;
      const stride = plan.table.spec.dim;
      if (plan.pooling === 'none') {
        gatherSingle(out, width, plan.column, weights, stride, encoded.ids, numRows, plan, plan.active);
      } else {
        gatherPooled(
          out,
          width,
          plan.column,
          weights,
          stride,
          encoded.ids,
          encoded.offsets!,
          numRows,
          plan,
          plan.active,
          plan.pooling === 'mean',
        );
      }
    }
    return output;
  }

  /**
   * Adds the gradients of the batch's embedding rows, given dL/d(user input) and
   * dL/d(item input) in forward()'s layout, to the pending gradients.
   */
  backward(batch: Batch, gradUser: Float32Array, gradItem: Float32Array): void {
    const numRows = batch.numRows;
    const userWidth = this.userColumns.width;
    const itemWidth = this.itemColumns.width;
    if (gradUser.length !== numRows * userWidth)
      throw new RangeError(`gradUser has ${gradUser.length} values, expected ${numRows} × ${userWidth}`);
    if (gradItem.length !== numRows * itemWidth)
      throw new RangeError(`gradItem has ${gradItem.length} values, expected ${numRows} × ${itemWidth}`);
    for (const plan of this.plans) {
      const encoded = featureOf(batch, plan);
      const grad = plan.tower === 'user' ? gradUser : gradItem;
      const width = plan.tower === 'user' ? userWidth : itemWidth;
      const table = plan.table;
      table.reserve(plan.pooling === 'none' ? numRows : encoded.offsets![numRows] - encoded.offsets![0]);
      if (plan.pooling === 'none') {
        table.count = scatterSingle(
          table.grad,
          table.slotOf,
          table.touched,
          table.count,
          grad,
          width,
          plan.column,
          encoded.ids,
          numRows,
          plan,
          plan.active,
        );
      } else {
        table.count = scatterPooled(
          table.grad,
          table.slotOf,
          table.touched,
          table.count,
          grad,
          width,
          plan.column,
          encoded.ids,
          encoded.offsets!,
          numRows,
          plan,
          plan.active,
          plan.pooling === 'mean',
        );
      }
    }
  }

  /** The summed gradients of table t waiting for update(). */
  pendingGradient(table: number): PendingGradient {
    const state = this.tables[table];
    const dims = this.active[table];
    return {
      rows: state.touched.subarray(0, state.count),
      grad: state.grad.subarray(0, state.count * dims),
      dims,
    };
  }

  /** Drops the pending gradients without an update. */
  discardGradients(): void {
    for (const table of this.tables) table.count = 0;
  }

  /**
   * One optimizer step on every touched row, then clears the pending gradients.
   * Every active table counts the step (Adam's `adamStep: 'global'` bias correction),
   * touched or not, as SparseAdam's state['step'] does.
   */
  update(learningRate: number = this.learningRate): void {
    if (!(learningRate >= 0)) throw new RangeError(`learning rate must be >= 0, got ${learningRate}`);
    const { kind, eps, beta1, beta2, weightDecay } = this.optimizer;
    const decay = 1 - learningRate * weightDecay;
    const perRowStep = this.optimizer.adamStep === 'row';
    for (const table of this.tables) {
      const dims = this.active[table.spec.index];
      if (dims === 0) {
        table.count = 0;
        continue;
      }
      table.slots.step++;
      const count = table.count;
      table.count = 0;
      if (count === 0) continue;
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
          perRowStep,
          this.correction,
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
  }

  /** Serving memory of the current selection (active dims) in a dtype. */
  memory(dtype: EmbeddingDtype): SelectionMemory {
    return selectionMemory(this.spec, this.active, dtype);
  }

  /** Bytes this store holds while training. */
  bytes(): StoreBytes {
    let weights = 0;
    let optimizer = 0;
    let scratch = this.userBuffer.byteLength + this.itemBuffer.byteLength;
    for (const table of this.tables) {
      weights += table.weights.byteLength;
      optimizer += slotBytes(table.slots);
      scratch += table.slotOf.byteLength + table.touched.byteLength + table.grad.byteLength;
    }
    return { weights, optimizer, scratch };
  }

  /**
   * Every array of the state: weights, optimizer state, step counts and active dims.
   * Tables and optimizer arrays are live views (no copy): write or copy them before the
   * next update(); `step` and `active_dims` are copies.
   */
  state(): StateArray[] {
    const entries: StateArray[] = [];
    for (const table of this.tables) {
      const { name, rows, dim } = table.spec;
      const slots = table.slots;
      entries.push({ name: `${name}/weights`, shape: [rows, dim], data: table.weights });
      if (slots.accumulator.length > 0)
        entries.push({ name: `${name}/adagrad_accumulator`, shape: [rows], data: slots.accumulator });
      if (slots.m.length > 0) {
        entries.push({ name: `${name}/adam_m`, shape: [rows, dim], data: slots.m });
        entries.push({ name: `${name}/adam_v`, shape: [rows, dim], data: slots.v });
      }
      if (slots.rowSteps.length > 0)
        entries.push({ name: `${name}/adam_row_steps`, shape: [rows], data: slots.rowSteps });
      entries.push({ name: `${name}/step`, shape: [1], data: Float64Array.of(slots.step) });
    }
    entries.push({ name: 'active_dims', shape: [this.active.length], data: this.active.slice() });
    return entries;
  }

  /**
   * Restores a state from state() of a store with the same spec and optimizer (copies
   * the arrays in). Pending gradients are dropped.
   */
  setState(entries: readonly StateArray[]): void {
    const given = new Map(entries.map((entry) => [entry.name, entry]));
    const expected = this.state();
    if (given.size !== expected.length)
      throw new Error(`state has ${given.size} arrays, this store has ${expected.length}`);
    for (const target of expected) {
      const source = given.get(target.name);
      if (!source) throw new Error(`state has no '${target.name}'`);
      if (source.data.constructor !== target.data.constructor || source.data.length !== target.data.length)
        throw new Error(`state '${target.name}' does not match this store's ${target.shape.join('×')} array`);
    }
    this.discardGradients();
    for (const target of expected) {
      const source = given.get(target.name)!.data;
      if (target.name === 'active_dims') continue;
      if (target.name.endsWith('/step')) {
        const table = this.tables.find((state) => `${state.spec.name}/step` === target.name)!;
        table.slots.step = source[0];
      } else target.data.set(source);
    }
    this.setActiveDims(given.get('active_dims')!.data);
  }

  /** The output views for a batch of numRows rows, reusing the buffers. */
  private outputs(numRows: number): EmbeddingOutput {
    if (this.output.numRows === numRows) return this.output;
    const userLength = numRows * this.userColumns.width;
    const itemLength = numRows * this.itemColumns.width;
    if (this.userBuffer.length < userLength) this.userBuffer = new Float32Array(userLength);
    if (this.itemBuffer.length < itemLength) this.itemBuffer = new Float32Array(itemLength);
    this.output = {
      numRows,
      user: this.userBuffer.subarray(0, userLength),
      item: this.itemBuffer.subarray(0, itemLength),
    };
    return this.output;
  }
}

/** A store for a run: embedding_dim, block_size, the embedding optimizer and the seed of the config. */
export function embeddingStoreFromConfig(
  config: {
    readonly model: Pick<ModelConfig, 'embedding_dim'>;
    readonly selection: Pick<SelectionConfig, 'block_size'>;
    readonly train: Pick<
      TrainConfig,
      'embedding_optimizer' | 'embedding_learning_rate' | 'weight_decay' | 'seed'
    >;
  },
  layout: FeatureLayout,
  vocabularySizes: ReadonlyMap<string, number>,
): EmbeddingStore {
  return new EmbeddingStore({
    spec: embeddingSpec(layout, vocabularySizes, config.model.embedding_dim, config.selection.block_size),
    optimizer: optimizerFromTrainConfig(config.train),
    seed: config.train.seed,
  });
}

function featureOf(batch: Batch, plan: FeaturePlan): { ids: Int32Array; offsets?: Int32Array } {
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

function gatherSingle(
  out: Float32Array,
  width: number,
  column: number,
  weights: Float32Array,
  stride: number,
  ids: Int32Array,
  numRows: number,
  plan: FeaturePlan,
  dims: number,
): void {
  const vocabulary = plan.vocabularySize;
  const rowOffset = plan.rowOffset;
  for (let r = 0, o = column; r < numRows; r++, o += width) {
    const id = ids[r];
    if (id < 0 || id >= vocabulary) throw badId(plan, id);
    const source = (rowOffset + id) * stride;
    copyRow(out, o, weights, source, dims);
  }
}

function gatherPooled(
  out: Float32Array,
  width: number,
  column: number,
  weights: Float32Array,
  stride: number,
  ids: Int32Array,
  offsets: Int32Array,
  numRows: number,
  plan: FeaturePlan,
  dims: number,
  mean: boolean,
): void {
  const vocabulary = plan.vocabularySize;
  const rowOffset = plan.rowOffset;
  for (let r = 0, o = column; r < numRows; r++, o += width) {
    const start = offsets[r];
    const end = offsets[r + 1];
    if (end <= start) {
      for (let d = 0; d < dims; d++) out[o + d] = 0;
      continue;
    }
    for (let i = start; i < end; i++) {
      const id = ids[i];
      if (id < 0 || id >= vocabulary) throw badId(plan, id);
      const source = (rowOffset + id) * stride;
      if (i === start) copyRow(out, o, weights, source, dims);
      else addRow(out, o, weights, source, dims);
    }
    if (mean && end > start + 1) {
      scaleRow(out, o, dims, 1 / (end - start));
    }
  }
}

/** Adds each row's gradient to its table row's slot; returns the new slot count. */
function scatterSingle(
  acc: Float32Array,
  slotOf: Int32Array,
  touched: Int32Array,
  count: number,
  grad: Float32Array,
  width: number,
  column: number,
  ids: Int32Array,
  numRows: number,
  plan: FeaturePlan,
  dims: number,
): number {
  const vocabulary = plan.vocabularySize;
  const rowOffset = plan.rowOffset;
  for (let r = 0, g = column; r < numRows; r++, g += width) {
    const id = ids[r];
    if (id < 0 || id >= vocabulary) throw badId(plan, id);
    const row = rowOffset + id;
    let slot = slotOf[row];
    let a: number;
    if (slot < count && touched[slot] === row) {
      a = slot * dims;
      addRow(acc, a, grad, g, dims);
    } else {
      slot = count++;
      slotOf[row] = slot;
      touched[slot] = row;
      a = slot * dims;
      copyRow(acc, a, grad, g, dims);
    }
  }
  return count;
}

function scatterPooled(
  acc: Float32Array,
  slotOf: Int32Array,
  touched: Int32Array,
  count: number,
  grad: Float32Array,
  width: number,
  column: number,
  ids: Int32Array,
  offsets: Int32Array,
  numRows: number,
  plan: FeaturePlan,
  dims: number,
  mean: boolean,
): number {
  const vocabulary = plan.vocabularySize;
  const rowOffset = plan.rowOffset;
  for (let r = 0, g = column; r < numRows; r++, g += width) {
    const start = offsets[r];
    const end = offsets[r + 1];
    if (end <= start) continue;
    const scale = mean ? 1 / (end - start) : 1;
    for (let i = start; i < end; i++) {
      const id = ids[i];
      if (id < 0 || id >= vocabulary) throw badId(plan, id);
      const row = rowOffset + id;
      let slot = slotOf[row];
      let a: number;
      if (slot < count && touched[slot] === row) {
        a = slot * dims;
        addScaledRow(acc, a, grad, g, dims, scale);
      } else {
        slot = count++;
        slotOf[row] = slot;
        touched[slot] = row;
        a = slot * dims;
        copyScaledRow(acc, a, grad, g, dims, scale);
      }
    }
  }
  return count;
}
