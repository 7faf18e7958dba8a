/**
 * The encoded dataset, kept after its first full pass so that later epochs and evaluation
 * passes neither start a worker nor decode the source again. The rows stay in memory,
 * per split, while they fit data.cache_memory; past it they go to shards on disk
 * (shard-store.ts). A complete shard folder from an earlier run with the same data and
 * vocabulary config stands in for the source.
 *
 * A pass that stops early (a consumer that takes a few batches) fills nothing; the next
 * full pass does. prefill() starts the filling pass before anyone asks (while the caller
 * builds its model or calibrates); a pass that starts while it fills follows it
 * (fill-ahead.ts), and one that starts while a consumer's own pass fills reads the source
 * on its own.
 */
import type { Batch } from './batch-rows.js';
import type { EncodedBatch } from './encoder.js';
import { FillAhead } from './fill-ahead.js';
import { ShardStore, ShardWriter, shardFolder, type ShardKey } from './shard-store.js';
import {
  BlockAccumulator,
  chunksOf,
  sourceBatches,
  type EncodedRows,
  type SplitAccess,
  type SplitBlock,
} from './split-block.js';

/** Rows per shard file, in bytes; smaller when the memory bound is smaller. */
const SHARD_BYTES = 32 * 2 ** 20;

export interface EncodedCacheOptions {
  /** Bytes the encoded rows may take in memory (data.cache_memory). */
  readonly memoryBytes: number;
  /** Folder the shard folder goes in (the run folder); none: a temporary folder. */
  readonly cacheDir?: string;
  readonly key: ShardKey;
  /** One pass over the source, reading and encoding. */
  readonly read: () => AsyncIterable<EncodedBatch>;
}

/** A complete cache: split by split, and every row in source order. */
interface Filled extends SplitAccess {
  all(): AsyncIterable<EncodedBatch>;
}

export class EncodedCache {
  private filled: Filled | undefined;
  private filling = false;
  private ahead: FillAhead | undefined;

  private constructor(
    private readonly options: EncodedCacheOptions,
    /** A complete shard folder small enough to load into memory. */
    private readonly loadable: ShardStore | undefined,
  ) {}

  /** Looks for a complete shard folder of this key: on disk it serves as the cache, or fills memory. */
  static async open(options: EncodedCacheOptions): Promise<EncodedCache> {
    const stored = options.cacheDir
      ? await ShardStore.open(shardFolder(options.cacheDir, options.key), options.key)
      : undefined;
    const fits = stored !== undefined && stored.bytes <= options.memoryBytes;
    const cache = new EncodedCache(options, fits ? stored : undefined);
    if (stored && !fits) cache.filled = stored;
    return cache;
  }

  /**
   * Starts the filling pass now, in the background, unless the cache is complete or filling.
   * Until it ends it keeps up to data.cache_memory of its batches for passes yet to start.
   */
  prefill(): void {
    if (this.filled || this.filling) return;
    const ahead = new FillAhead(this.pass(), this.options.memoryBytes);
    this.ahead = ahead;
    void ahead.finished.then(() => {
      if (this.ahead === ahead) this.ahead = undefined;
    });
  }

  /**
   * Fills the cache from `batches` (every row of the source, in order, as `read` gives
   * them) unless it is complete or filling; `onRows` gets the count after each batch.
   */
  async fill(batches: AsyncIterable<EncodedBatch>, onRows?: (rows: number) => void): Promise<void> {
    if (this.filled || this.filling) return;
    let rows = 0;
    for await (const batch of this.pass(batches)) {
      rows += batch.numRows;
      onRows?.(rows);
    }
  }

  /** Every row in source order; once the cache is complete, also split by split. */
  rows(): EncodedRows {
    const filled = this.filled;
    if (filled)
      return { bySplit: filled, [Symbol.asyncIterator]: () => filled.all()[Symbol.asyncIterator]() };
    return { [Symbol.asyncIterator]: () => this.pass() };
  }

  private async *pass(source?: AsyncIterable<EncodedBatch>): AsyncGenerator<EncodedBatch> {
    if (this.filled) {
      yield* this.filled.all();
      return;
    }
    if (this.filling) {
      yield* this.ahead?.followable ? this.ahead.follow() : this.options.read();
      return;
    }
    this.filling = true;
    const builder = new CacheBuilder(this.options);
    try {
      for await (const batch of source ?? this.loadable?.all() ?? this.options.read()) {
        await builder.add(batch);
        yield batch;
      }
      this.filled = await builder.finish();
    } finally {
      this.filling = false;
    }
  }
}

/** Gathers one full pass: in memory while it fits, else shard by shard to disk. */
class CacheBuilder {
  private readonly gathered = new BlockAccumulator();
  private readonly shardBytes: number;
  private writer: ShardWriter | undefined;

  constructor(private readonly options: EncodedCacheOptions) {
    this.shardBytes = Math.max(1, Math.min(SHARD_BYTES, options.memoryBytes));
  }

  async add(batch: EncodedBatch): Promise<void> {
    const { gathered, options } = this;
    gathered.add(batch);
    if (!this.writer && gathered.bytes > options.memoryBytes) {
      this.writer = await ShardWriter.start(shardFolder(options.cacheDir, options.key), options.key);
    }
    while (this.writer && gathered.bytes >= this.shardBytes) {
      await this.writer.write(gathered.take(gathered.batchesFilling(this.shardBytes)));
    }
  }

  async finish(): Promise<Filled> {
    if (!this.writer) return inMemory(this.gathered.take());
    if (this.gathered.batchCount > 0) await this.writer.write(this.gathered.take());
    return this.writer.finish();
  }
}

function inMemory(block: SplitBlock): Filled {
  return {
    storage: 'memory',
    chunks: async function* (split: number): AsyncGenerator<Batch> {
      yield* chunksOf(block.parts[split]);
    },
    all: async function* (): AsyncGenerator<EncodedBatch> {
      yield* sourceBatches(block);
    },
  };
}
