import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { LemoptError } from '../util/errors.js';
import { PARTITIONS, readSpillFile, SpillWriter } from './count-spill.js';
import type { CategoryKey } from './vocabulary.js';

/** Non-negative integers below this are counted in a typed array instead of a hash map. */
const DENSE_LIMIT = 1 << 22;
const INITIAL_DENSE = 1 << 10;

/**
 * Estimated heap bytes of one hash-map entry: the Map's slot and bucket at the capacity it
 * rounds up to (a power of 2), the count, a heap number or string key. Measured on Node 20
 * at 1M entries: 48 to 56 bytes for numbers, 71 for 9-character strings; a map of 10M
 * number keys took 0.75 GB (capacity 16M, 80 bytes per entry).
 */
const NUMBER_ENTRY_BYTES = 80;
const STRING_ENTRY_BYTES = 88;
/** Entries per part handed out by parts(): the tuples never hold a whole table at once. */
const PART_ENTRIES = 1 << 16;
/** Re-partitioning levels before a partition that still does not fit is an error. */
const MAX_SPILL_DEPTH = 6;

/** Memory held only to save work later (the decoded rows): let go before any table spills. */
export interface Releasable {
  /** Lets go of everything it holds; returns the bytes it had charged. */
  letGo(): number;
}

/**
 * The memory that the hash maps of several counters share (data.vocabulary_memory), with
 * anything else the pass holds only to save work (Releasable, let go first). When their
 * estimated total passes the limit, the largest map is written to its spill files and
 * emptied, so counting takes the limit plus the dense tables, whatever the number of
 * distinct values.
 */
export class CountingMemory {
  private used = 0;
  private readonly counters = new Set<CategoryCounter>();
  private readonly releasables = new Set<Releasable>();
  private spillRoot: string | undefined;
  private readonly writers: SpillWriter[] = [];

  /**
   * @param limitBytes bytes the maps may hold together (Infinity: never spill)
   * @param spillParent folder in which a temporary spill folder is made on the first spill
   */
  constructor(
    readonly limitBytes: number,
    private readonly spillParent: string,
  ) {}

  /** Counters that spilled so far (partitions counted through a deeper spill included). */
  get spilled(): number {
    return this.writers.length;
  }

  register(counter: CategoryCounter): void {
    this.counters.add(counter);
  }

  unregister(counter: CategoryCounter): void {
    this.counters.delete(counter);
  }

  /** Adds a holder of optional memory, the first to go when the limit is passed. */
  registerReleasable(releasable: Releasable): void {
    this.releasables.add(releasable);
  }

  charge(bytes: number): void {
    this.used += bytes;
    if (this.used <= this.limitBytes) return;
    for (const releasable of this.releasables) {
      this.releasables.delete(releasable);
      this.used -= releasable.letGo();
      if (this.used <= this.limitBytes) return;
    }
    let largest: CategoryCounter | undefined;
    for (const counter of this.counters)
      if (!largest || counter.mapBytes > largest.mapBytes) largest = counter;
    largest?.spill();
  }

  release(bytes: number): void {
    this.used -= bytes;
  }

  /** Spill files for one counter, in a new folder; `seed` picks the partition hash. */
  spillWriter(seed: number): SpillWriter {
    if (!this.spillRoot) {
      mkdirSync(this.spillParent, { recursive: true });
      this.spillRoot = mkdtempSync(path.join(this.spillParent, 'vocabulary-spill-'));
    }
    const dir = path.join(this.spillRoot, String(this.writers.length));
    mkdirSync(dir);
    const writer = new SpillWriter(dir, seed);
    this.writers.push(writer);
    return writer;
  }

  /** Closes and removes every spill file; the counters cannot be read after it. */
  dispose(): void {
    for (const writer of this.writers) writer.close();
    if (this.spillRoot) rmSync(this.spillRoot, { recursive: true, force: true });
    this.spillRoot = undefined;
  }
}

/**
 * Exact counts of category keys. Small non-negative integers (the usual encoding of
 * categorical ids) go to a growable typed array, one increment each; anything else to a
 * map from key to slot, one hash lookup per repeated key. With a CountingMemory, the map
 * spills to hash-partitioned files when the memory is full, and the counts are read back
 * one partition at a time: exact, in memory bounded by the limit and the largest partition.
 */
export class CategoryCounter {
  private dense = new Float64Array(0);
  private slots = new Map<CategoryKey, number>();
  private slotCounts: number[] = [];
  private bytes = 0;
  private writer: SpillWriter | undefined;

  /** `depth` seeds the partition hash: a partition counted again splits anew. */
  constructor(
    private readonly memory?: CountingMemory,
    private readonly depth = 0,
  ) {
    memory?.register(this);
  }

  /** Estimated bytes of the hash map. */
  get mapBytes(): number {
    return this.bytes;
  }

  add(key: CategoryKey, count = 1): void {
    if (typeof key === 'number' && key >= 0 && key < DENSE_LIMIT && Number.isInteger(key)) {
      if (key >= this.dense.length) this.growDense(key);
      this.dense[key] += count;
      return;
    }
    const slot = this.slots.get(key);
    if (slot !== undefined) {
      this.slotCounts[slot] += count;
      return;
    }
    this.slots.set(key, this.slotCounts.length);
    this.slotCounts.push(count);
    if (this.memory) {
      const bytes = typeof key === 'number' ? NUMBER_ENTRY_BYTES : STRING_ENTRY_BYTES + key.length;
      this.bytes += bytes;
      this.memory.charge(bytes);
    }
  }

  /** Every value of an integer typed array (no missing values possible). */
  addIntegers(values: Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array): void {
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value >= 0 && value < DENSE_LIMIT) {
        if (value >= this.dense.length) this.growDense(value);
        this.dense[value] += 1;
      } else this.add(value);
    }
  }

  private growDense(key: number): void {
    let size = Math.max(INITIAL_DENSE, this.dense.length);
    while (size <= key) size *= 2;
    const grown = new Float64Array(Math.min(size, DENSE_LIMIT));
    grown.set(this.dense);
    this.dense = grown;
  }

  /** Writes the map's pairs to the spill files and empties it. */
  spill(): void {
    if (!this.memory || this.slots.size === 0) return;
    this.writer ??= this.memory.spillWriter(this.depth);
    this.writer.write([...this.slots.keys()], this.slotCounts);
    this.slots = new Map();
    this.slotCounts = [];
    this.memory.release(this.bytes);
    this.bytes = 0;
  }

  /**
   * Every counted key with its total count, in parts of at most 65,536 (no key in two
   * parts), in no particular order: the dense table and the map, or after a spill the
   * dense table and then each spill partition counted on its own (one too large for the
   * memory through a deeper spill). The last part may be empty.
   */
  *parts(): Generator<[CategoryKey, number][]> {
    if (!this.writer) {
      yield* this.partsInMemory();
      return;
    }
    this.spill();
    this.writer.close();
    yield* this.partsInMemory();
    if (this.depth >= MAX_SPILL_DEPTH) {
      throw new LemoptError(
        `data.vocabulary_memory (${this.memory!.limitBytes} bytes) is too small to count the values of a spill partition; raise it`,
      );
    }
    for (let partition = 0; partition < PARTITIONS; partition++) {
      if (!this.writer.written[partition]) continue;
      const counter = new CategoryCounter(this.memory, this.depth + 1);
      for (const [key, count] of readSpillFile(this.writer.files[partition])) counter.add(key, count);
      yield* counter.parts();
      counter.close();
    }
  }

  /** The dense table's keys and the map's (empty after a spill), in parts. */
  private *partsInMemory(): Generator<[CategoryKey, number][]> {
    let part: [CategoryKey, number][] = [];
    const dense = this.dense;
    for (let key = 0; key < dense.length; key++) {
      if (dense[key] === 0) continue;
      part.push([key, dense[key]]);
      if (part.length === PART_ENTRIES) {
        yield part;
        part = [];
      }
    }
    for (const [key, slot] of this.slots) {
      part.push([key, this.slotCounts[slot]]);
      if (part.length === PART_ENTRIES) {
        yield part;
        part = [];
      }
    }
    yield part;
  }

  /** Leaves the shared memory (its map is dropped). */
  close(): void {
    this.memory?.unregister(this);
    this.memory?.release(this.bytes);
    this.bytes = 0;
    this.slots = new Map();
    this.slotCounts = [];
  }
}
