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
 * are summed before the optimizer sees them (table-state.ts). Several backward calls
 * before one update() accumulate. All buffers are reused across batches; they grow
 * (never per row) when a batch touches more rows than any before.
 *
 * With `threads: 2` the tables are split between the calling thread and one worker
 * thread, and each thread runs forward, backward and update of its own tables with the
 * same per-table code (shard.ts), so the results are bit-identical to one thread's.
 * Weights and optimizer state live in SharedArrayBuffers that the calling thread reads
 * and writes directly whenever the worker is idle, which every method here ensures
 * before it returns, except backward() and update(): the worker's share of them may
 * still run. update() thus overlaps with whatever the caller does until the next
 * forward(), which queues behind it (each table is only touched by its own thread); the
 * methods that read state wait for it. The worker starts in the background; until it
 * runs, the calling thread runs every table. The split is made at the first batch after
 * setActiveDims() or after the worker started, balanced on estimated costs
 * (partition.ts), then again on the times the tables took (TIMED_STEPS).
 * dispose() ends the worker (the store then runs on one thread).
 */
import type { ModelConfig, SelectionConfig, TrainConfig } from '../config/schema.js';
import type { Batch } from '../data/batcher.js';
import type { FeatureLayout } from '../data/features.js';
import { BatchExchange } from './exchange.js';
import { DEFAULT_INIT, initTable, type EmbeddingInit } from './init.js';
import {
  checkActiveDims,
  embeddingSpec,
  featureCount,
  towerColumns,
  type EmbeddingSpec,
  type Tower,
  type TowerColumns,
} from './layout.js';
import { checkedFeature, featurePlans, type FeaturePlan, type TowerPair } from './lookup.js';
import { selectionMemory, type EmbeddingDtype, type SelectionMemory } from './memory.js';
import {
  optimizerFromTrainConfig,
  resolveOptimizer,
  slotBytes,
  type OptimizerSlots,
  type ResolvedOptimizerConfig,
  type SparseOptimizerConfig,
} from './optimizers.js';
import {
  assumedLoad,
  copyCost,
  observedLoad,
  splitLoad,
  splitTables,
  tableCosts,
  type FeatureLoad,
  type TableSplit,
} from './partition.js';
import { TableShard, type PendingGradient } from './shard.js';
import { allocateTable, TableState } from './table-state.js';
import { TableTimer } from './table-timer.js';
import { defaultEmbeddingThreads } from './threads.js';
import { arrayAllocator } from './typed-memory.js';
import { WorkerShard } from './worker-shard.js';

export type { PendingGradient } from './shard.js';

export interface EmbeddingStoreOptions {
  readonly spec: EmbeddingSpec;
  readonly optimizer: SparseOptimizerConfig;
  /** Seed of the initial weights. */
  readonly seed: number;
  readonly init?: EmbeddingInit;
  /** Active dims per table at the start; default every table at its full dim. */
  readonly activeDims?: ArrayLike<number>;
  /** 1 (default) or 2: the calling thread alone, or with one worker thread (see above). */
  readonly threads?: number;
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
  /** Row index, gradient, output and exchange buffers. */
  readonly scratch: number;
}

/** What a split of the tables between the threads was balanced on: estimated costs, or the times the tables took. */
export type SplitBasis = 'estimate' | 'measured';

/** Which tables the worker runs, made for the current active dims. */
interface Split {
  /** Made with the worker running; and the worker has tables (the steps use it). */
  readonly withWorker: boolean;
  readonly parallel: boolean;
  readonly basis: SplitBasis;
  readonly workerTables: ReadonlySet<number>;
  /** The worker's features: their ids go to the exchange buffers. */
  readonly workerPlans: readonly FeaturePlan[];
  /** Towers the worker writes columns of: their inputs and gradients pass through the exchange buffers. */
  readonly staged: Readonly<Record<Tower, boolean>>;
}

interface Parallel {
  readonly worker: WorkerShard;
  readonly exchange: BatchExchange;
}

/** Ends the worker of a store that was dropped without dispose(). */
const abandonedWorkers = new FinalizationRegistry<WorkerShard>((worker) => worker.stop());

/** Batch rows assumed by a split made before any batch was seen. */
const DEFAULT_BATCH_ROWS = 1024;
/** A split on measured costs replaces the current one when it shortens the step by more than this. */
const RESPLIT_GAIN = 0.05;

export class EmbeddingStore {
  readonly spec: EmbeddingSpec;
  readonly optimizer: ResolvedOptimizerConfig;
  /** Learning rate used by update() when it is given none. */
  learningRate: number;
  /** Threads asked for; see threadsInUse. */
  readonly threads: number;
  private readonly tables: TableState[];
  private readonly active: Int32Array;
  private readonly local: TableShard;
  private parallel: Parallel | undefined;
  private userColumns!: TowerColumns;
  private itemColumns!: TowerColumns;
  /** Every feature of an active table: batches are checked against them. */
  private plans: FeaturePlan[] = [];
  /** Undefined until the next batch after setActiveDims(). */
  private split: Split | undefined;
  /** backward() was called since the last update() or discardGradients(). */
  private pending = false;
  /** The batch of the last forward(): the worker has its ids. */
  private forwarded: Batch | undefined;
  /** Ids per batch of each feature: what an estimated split is balanced for. */
  private load: FeatureLoad;
  private readonly timer: TableTimer;
  /** Sequence number of the last worker command that reads the exchange buffers. */
  private exchangeReadBy = 0;
  private userBuffer = new Float32Array(0);
  private itemBuffer = new Float32Array(0);
  private output: EmbeddingOutput = { numRows: 0, user: new Float32Array(0), item: new Float32Array(0) };

  constructor(options: EmbeddingStoreOptions) {
    this.spec = options.spec;
    this.optimizer = resolveOptimizer(options.optimizer);
    this.learningRate = this.optimizer.learningRate;
    this.threads = options.threads ?? 1;
    if (this.threads !== 1 && this.threads !== 2)
      throw new RangeError(`threads must be 1 or 2, got ${options.threads}`);
    const memory = arrayAllocator(this.threads > 1);
    const arrays = this.spec.tables.map((table) => allocateTable(table, this.optimizer, memory));
    this.timer = new TableTimer(this.spec.tables.length, memory);
    this.tables = this.spec.tables.map((table, t) => {
      initTable(arrays[t].weights, table.dim, options.seed, table.name, options.init ?? DEFAULT_INIT);
      return new TableState(table, arrays[t]);
    });
    this.local = new TableShard(
      this.spec,
      this.tables,
      this.optimizer,
      this.threads > 1 ? this.timer.clock : undefined,
    );
    this.load = assumedLoad(this.spec, DEFAULT_BATCH_ROWS);
    this.active = new Int32Array(this.spec.tables.length).fill(this.spec.dim);
    this.setActiveDims(options.activeDims ?? this.active);
    if (this.threads > 1) {
      const exchange = new BatchExchange(featureCount(this.spec));
      const worker = new WorkerShard(this.spec, this.optimizer, arrays, this.timer.clock, exchange.buffers);
      this.parallel = { worker, exchange };
      abandonedWorkers.register(this, worker, this);
    }
  }

  /** Active dims per table (a copy). */
  get activeDims(): Int32Array {
    return this.active.slice();
  }

  /** Threads running the tables now: 2 once the worker has started and taken its share. */
  get threadsInUse(): number {
    return this.split?.parallel ? 2 : 1;
  }

  /**
   * Tables each thread runs in the current split (all active ones on this thread until
   * the worker runs), and what the split was balanced on.
   */
  threadTables(): { readonly main: number[]; readonly worker: number[]; readonly basis: SplitBasis } {
    const active = this.activeTables();
    const worker = this.split?.workerTables ?? new Set<number>();
    return {
      main: active.filter((t) => !worker.has(t)),
      worker: active.filter((t) => worker.has(t)),
      basis: this.split?.basis ?? 'estimate',
    };
  }

  /**
   * Resolves when the worker thread runs (at once on one thread); rejects when it cannot
   * start. Never needed for correctness: until then the calling thread runs every table.
   */
  async ready(): Promise<void> {
    await this.parallel?.worker.whenRunning();
  }

  /**
   * Sets the number of leading dims in use per table (multiples of block size; 0 drops
   * the table). The columns of both tower inputs change accordingly (see layout.ts). Not
   * allowed while gradients wait for update(). Weights and optimizer state of inactive
   * dims are kept as they are.
   */
  setActiveDims(activeDims: ArrayLike<number>): void {
    checkActiveDims(this.spec, activeDims);
    this.settle();
    if (this.pending && this.hasPendingGradients())
      throw new Error('setActiveDims: gradients are waiting for update()');
    this.pending = false;
    for (let t = 0; t < this.active.length; t++) this.active[t] = activeDims[t];
    this.userColumns = towerColumns(this.spec, 'user', this.active);
    this.itemColumns = towerColumns(this.spec, 'item', this.active);
    const all = this.spec.tables.map((table) => table.index);
    this.plans = featurePlans(this.spec, this.tables, all, this.active, this.towerColumns());
    this.split = undefined;
    this.forwarded = undefined;
    this.timer.forget();
    this.output = { numRows: 0, user: new Float32Array(0), item: new Float32Array(0) };
  }

  /** Column map of one tower's input for the current active dims. */
  columns(tower: Tower): TowerColumns {
    return tower === 'user' ? this.userColumns : this.itemColumns;
  }

  /**
   * The live weights of table t, rows × spec.dim, row-major. On two threads, read them
   * before the next update(): the worker may still write its tables after it returns.
   */
  weights(table: number): Float32Array {
    this.settle();
    return this.tables[table].weights;
  }

  /** The live optimizer state of table t (see weights()). */
  slots(table: number): Readonly<OptimizerSlots> {
    this.settle();
    return this.tables[table].slots;
  }

  /** Gathers (and pools) the active dims of every feature of the batch into the two tower inputs. */
  forward(batch: Batch): EmbeddingOutput {
    const numRows = batch.numRows;
    this.checkBatch(batch);
    // The worker may still run the last backward(), which reads the exchange buffers (its
    // update() may go on: it touches only its tables, and the forward queues behind it).
    this.parallel?.worker.settle(this.exchangeReadBy);
    const split = this.prepare(batch);
    const output = this.outputs(numRows);
    const direct = this.towerPair(output.user, output.item);
    if (!split.parallel) {
      this.local.forward(batch.features, numRows, direct);
      return output;
    }
    const { worker } = this.parallel!;
    const sharing = performance.now();
    this.shareIds(batch, split);
    const staged = this.stagedPair(split, direct);
    worker.forward(numRows);
    this.timer.addCopy(performance.now() - sharing);
    this.local.forward(batch.features, numRows, staged);
    worker.settle();
    const copying = performance.now();
    if (split.staged.user) output.user.set(staged.user.values.subarray(0, output.user.length));
    if (split.staged.item) output.item.set(staged.item.values.subarray(0, output.item.length));
    this.timer.addCopy(performance.now() - copying);
    this.forwarded = batch;
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
    this.checkBatch(batch);
    this.parallel?.worker.settle(this.exchangeReadBy);
    const split = this.prepare(batch);
    const grad = this.towerPair(gradUser, gradItem);
    this.pending = true;
    if (!split.parallel) {
      this.local.backward(batch.features, numRows, grad);
      return;
    }
    const { worker } = this.parallel!;
    const sharing = performance.now();
    // The ids of the batch just forwarded are in the exchange buffers, and were checked there.
    const known = batch === this.forwarded;
    if (!known) this.shareIds(batch, split);
    const staged = this.stagedPair(split, grad);
    if (split.staged.user) staged.user.values.set(gradUser);
    if (split.staged.item) staged.item.values.set(gradItem);
    this.exchangeReadBy = worker.backward(numRows);
    this.timer.addCopy(performance.now() - sharing);
    this.local.backward(batch.features, numRows, grad);
    if (!known) worker.settle();
  }

  /** The summed gradients of table t waiting for update(). */
  pendingGradient(table: number): PendingGradient {
    this.settle();
    const dims = this.active[table];
    if (this.split?.parallel && this.split.workerTables.has(table))
      return this.parallel!.worker.request({ kind: 'pending', table, dims });
    return this.local.pending(table, dims);
  }

  /** Drops the pending gradients without an update. */
  discardGradients(): void {
    this.settle();
    this.local.discard();
    if (this.split?.parallel) this.parallel!.worker.request({ kind: 'discard' });
    this.pending = false;
  }

  /**
   * One optimizer step on every touched row, then clears the pending gradients.
   * Every active table counts the step (Adam's `adamStep: 'global'` bias correction),
   * touched or not, as SparseAdam's state['step'] does.
   */
  update(learningRate: number = this.learningRate): void {
    if (!(learningRate >= 0)) throw new RangeError(`learning rate must be >= 0, got ${learningRate}`);
    const split = this.prepare();
    // Queued behind the worker's share of backward(); not waited for (see above).
    if (split.parallel) this.parallel!.worker.update(learningRate);
    this.local.update(learningRate);
    this.pending = false;
    this.timer.countStep();
  }

  /** Serving memory of the current selection (active dims) in a dtype. */
  memory(dtype: EmbeddingDtype): SelectionMemory {
    return selectionMemory(this.spec, this.active, dtype);
  }

  /** Bytes this store holds while training. */
  bytes(): StoreBytes {
    this.settle();
    let weights = 0;
    let optimizer = 0;
    let scratch = this.userBuffer.byteLength + this.itemBuffer.byteLength + this.local.scratchBytes();
    for (const table of this.tables) {
      weights += table.weights.byteLength;
      optimizer += slotBytes(table.slots);
    }
    if (this.parallel) {
      scratch += this.parallel.exchange.bytes();
      if (this.split?.withWorker) scratch += this.parallel.worker.request({ kind: 'scratch-bytes' });
    }
    return { weights, optimizer, scratch };
  }

  /**
   * Every array of the state: weights, optimizer state, step counts and active dims.
   * Tables and optimizer arrays are live views (no copy): write or copy them before the
   * next update(); `step` and `active_dims` are copies.
   */
  state(): StateArray[] {
    this.settle();
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

  /**
   * Ends the worker thread, if any; pending gradients are dropped. The store stays
   * usable on the calling thread alone.
   */
  dispose(): void {
    const parallel = this.parallel;
    if (!parallel) return;
    this.parallel = undefined;
    this.local.discard();
    this.pending = false;
    this.split = undefined;
    abandonedWorkers.unregister(this);
    try {
      // Its last update() may still run.
      parallel.worker.settle();
    } finally {
      parallel.worker.stop();
    }
  }

  private towerColumns(): { user: TowerColumns; item: TowerColumns } {
    return { user: this.userColumns, item: this.itemColumns };
  }

  private towerPair(user: Float32Array, item: Float32Array): TowerPair {
    return {
      user: { values: user, width: this.userColumns.width },
      item: { values: item, width: this.itemColumns.width },
    };
  }

  /** The staging matrices instead of `pair`'s for the towers the worker writes. */
  private stagedPair(split: Split, pair: TowerPair): TowerPair {
    const buffers = this.parallel!.exchange.buffers;
    return {
      user: split.staged.user ? { values: buffers.user, width: pair.user.width } : pair.user,
      item: split.staged.item ? { values: buffers.item, width: pair.item.width } : pair.item,
    };
  }

  private checkBatch(batch: Batch): void {
    for (const plan of this.plans) checkedFeature(batch, plan);
  }

  /** Waits until the worker is idle; rethrows the error of its last commands. */
  private settle(): void {
    this.parallel?.worker.settle();
  }

  /**
   * The split for the next step: a new one when there is none yet (after
   * setActiveDims()), when the worker has started since, or when the tables' measured
   * costs call for another (see table-timer.ts). Only between updates (each thread's
   * pending gradients stay with it), and only once the worker has finished.
   */
  private prepare(batch?: Batch): Split {
    const parallel = this.parallel;
    if (parallel?.worker.failure) throw parallel.worker.failure;
    const running = parallel !== undefined && parallel.worker.running;
    const split = this.split;
    if (split && this.pending) return split;
    if (split?.withWorker) return this.timed(split);
    if (split && !running) return split;
    this.settle();
    if (batch && batch.numRows > 0) this.load = observedLoad(this.spec, this.active, batch);
    const active = this.activeTables();
    const costs = tableCosts(this.spec, this.active, this.load, this.optimizer.kind);
    const copies = copyCost(this.load.rows, this.userColumns.width + this.itemColumns.width);
    return this.resplit(
      running ? splitTables(active, costs, copies) : { main: active, worker: [] },
      'estimate',
    );
  }

  /** The parallel split, or a better one for the measured costs when a timing window ends. */
  private timed(split: Split): Split {
    const due = this.timer.due();
    if (due === undefined) return split;
    this.settle();
    if (due === 'start') {
      this.timer.startWindow();
      return split;
    }
    const { costs, copyCost } = this.timer.measured();
    const active = this.activeTables();
    const current = {
      main: active.filter((t) => !split.workerTables.has(t)),
      worker: [...split.workerTables],
    };
    const proposal = splitTables(active, costs, copyCost);
    const gain = 1 - splitLoad(proposal, costs, copyCost) / splitLoad(current, costs, copyCost);
    return gain > RESPLIT_GAIN ? this.resplit(proposal, 'measured') : split;
  }

  /** Gives each thread its tables (the worker is idle). */
  private resplit(tables: TableSplit, basis: SplitBasis): Split {
    this.local.own(tables.main, this.active, this.towerColumns());
    const withWorker = this.parallel?.worker.running === true;
    if (withWorker)
      this.parallel!.worker.request({ kind: 'own', tables: tables.worker, activeDims: this.active.slice() });
    const workerPlans = featurePlans(this.spec, this.tables, tables.worker, this.active, this.towerColumns());
    this.split = {
      withWorker,
      parallel: tables.worker.length > 0,
      basis,
      workerTables: new Set(tables.worker),
      workerPlans,
      staged: {
        user: workerPlans.some((plan) => plan.tower === 'user'),
        item: workerPlans.some((plan) => plan.tower === 'item'),
      },
    };
    this.forwarded = undefined;
    this.timer.restart();
    return this.split;
  }

  private activeTables(): number[] {
    return this.spec.tables.map((table) => table.index).filter((t) => this.active[t] > 0);
  }

  /** Puts the ids of the worker's features of `batch` in the exchange buffers (the worker is idle). */
  private shareIds(batch: Batch, split: Split): void {
    const { worker, exchange } = this.parallel!;
    this.forwarded = undefined;
    const staged = {
      user: split.staged.user ? batch.numRows * this.userColumns.width : 0,
      item: split.staged.item ? batch.numRows * this.itemColumns.width : 0,
    };
    if (exchange.fit(batch, split.workerPlans, staged))
      worker.request({ kind: 'exchange', buffers: exchange.buffers });
    exchange.copyIds(batch, split.workerPlans);
  }

  /** Whether any table has a pending gradient (asks the worker). */
  private hasPendingGradients(): boolean {
    this.settle();
    if (this.local.hasPending()) return true;
    return this.split?.parallel === true && this.parallel!.worker.request({ kind: 'has-pending' });
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

/**
 * A store for a run: embedding_dim, block_size, the embedding optimizer and the seed of
 * the config; `threads` by default from defaultEmbeddingThreads() (threads.ts).
 */
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
  options: { readonly threads?: number } = {},
): EmbeddingStore {
  return new EmbeddingStore({
    spec: embeddingSpec(layout, vocabularySizes, config.model.embedding_dim, config.selection.block_size),
    optimizer: optimizerFromTrainConfig(config.train),
    seed: config.train.seed,
    threads: options.threads ?? defaultEmbeddingThreads(),
  });
}
