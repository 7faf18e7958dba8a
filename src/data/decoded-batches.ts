/**
 * The vocabulary pass's decoded batches, kept while their estimated size stays within a
 * bound, so that the first encoding pass reads them instead of decoding the source again.
 * Past the bound all are let go at once: encoding then reads the source as before.
 */
import { DictionaryColumns } from './sources/dictionary-columns.js';
import type { Cell, RecordBatch } from './types.js';

/** Rows sampled per plain-array column to estimate its elements' size. */
const SAMPLED_ROWS = 32;

export class DecodedBatches<T extends RecordBatch> {
  private batches: (T | undefined)[] | undefined;
  private bytes = 0;
  /** Dictionaries shared by several batches (one per column chunk) are counted once. */
  private readonly counted = new WeakSet<object>();

  constructor(private readonly limitBytes: number) {
    this.batches = limitBytes > 0 ? [] : undefined;
  }

  /** Keeps a batch, after its consumer read it (columns it built count too). */
  keep(batch: T): void {
    if (!this.batches) return;
    this.bytes += this.estimate(batch);
    if (this.bytes > this.limitBytes) this.batches = undefined;
    else this.batches.push(batch);
  }

  /** Every batch in order, each let go as it is handed out; undefined when they did not all fit. */
  take(): Iterable<T> | undefined {
    const batches = this.batches;
    this.batches = undefined;
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
