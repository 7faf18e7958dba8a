/**
 * The vocabulary pass's decoded batches, kept while their estimated size stays within a
 * bound, so that the first encoding pass reads them instead of decoding the source again.
 * They share the pass's memory (data.vocabulary_memory) with the count tables and go
 * first: past either bound all are let go at once, no table spills for them, and encoding
 * then reads the source as before.
 */
import type { CountingMemory, Releasable } from './category-counter.js';
import { DictionaryColumns } from './sources/dictionary-columns.js';
import type { Cell, RecordBatch } from './types.js';

/** Rows sampled per plain-array column to estimate its elements' size. */
const SAMPLED_ROWS = 32;

export class DecodedBatches<T extends RecordBatch> implements Releasable {
  private batches: (T | undefined)[] | undefined;
  private bytes = 0;
  /** Dictionaries shared by several batches (one per column chunk) are counted once. */
  private readonly counted = new WeakSet<object>();

  /**
   * @param limitBytes bytes the batches may take (0: keep none)
   * @param memory the pass's shared memory, which lets them go before spilling a table
   */
  constructor(
    private readonly limitBytes: number,
    private readonly memory?: CountingMemory,
  ) {
    this.batches = limitBytes > 0 ? [] : undefined;
    if (this.batches) memory?.registerReleasable(this);
  }

  /** Keeps a batch, after its consumer read it (columns it built count too). */
  keep(batch: T): void {
    if (!this.batches) return;
    const bytes = this.estimate(batch);
    if (this.bytes + bytes > this.limitBytes) {
      const held = this.letGo();
      this.memory?.release(held);
      return;
    }
    this.batches.push(batch);
    this.bytes += bytes;
    this.memory?.charge(bytes);
  }

  letGo(): number {
    const bytes = this.bytes;
    this.batches = undefined;
    this.bytes = 0;
    return bytes;
  }

  /** Every batch in order, each let go as it is handed out; undefined when they did not all fit. */
  take(): Iterable<T> | undefined {
    const batches = this.batches;
    const bytes = this.letGo();
    this.memory?.release(bytes);
    if (!batches) return undefined;
    return (function* () {
      for (let i = 0; i < batches.length; i++) {
        const batch = batches[i]!;
        batches[i] = undefined;
        yield batch;
      }
    })();
  }

  private estimate(batch: RecordBatch): number {
    const { columns, dictionaries } = batch;
    let bytes = 0;
    for (const name of columns.keys()) {
      const dictionary = dictionaries?.get(name);
      if (dictionary) {
        bytes += dictionary.indices.byteLength;
        if (!this.counted.has(dictionary.dictionary)) {
          this.counted.add(dictionary.dictionary);
          bytes += valuesBytes(dictionary.dictionary);
        }
      }
      const values = columns instanceof DictionaryColumns ? columns.built(name) : columns.get(name);
      if (values) bytes += valuesBytes(values);
    }
    return bytes;
  }
}

/** Estimated heap bytes of a column: exact for typed arrays, sampled for plain arrays. */
function valuesBytes(values: ArrayLike<Cell>): number {
  if (ArrayBuffer.isView(values)) return values.byteLength;
  const length = values.length;
  if (length === 0) return 16;
  const step = Math.max(1, Math.floor(length / SAMPLED_ROWS));
  let sampled = 0;
  let payload = 0;
  for (let i = 0; i < length; i += step) {
    payload += cellBytes(values[i]);
    sampled += 1;
  }
  return 16 + length * (8 + payload / sampled);
}

function cellBytes(cell: Cell): number {
  switch (typeof cell) {
    case 'string':
      return 16 + cell.length;
    case 'number':
      return 16;
    case 'bigint':
      return 24;
    case 'object':
      if (cell === null) return 0;
      return cell instanceof Date ? 32 : 16 + valuesBytes(cell as ArrayLike<Cell>);
    default:
      return 0;
  }
}
