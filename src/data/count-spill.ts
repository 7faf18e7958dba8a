/**
 * Spill files of (key, count) pairs for out-of-core counting: pairs are appended to one
 * of PARTITIONS files by a seeded hash of the key, so every occurrence of a key lands in
 * the same file and each file can be counted on its own. Records, little-endian:
 *   number key: 0x00, count f64, key f64
 *   string key: 0x01, count f64, UTF-8 byte length u32, UTF-8 bytes
 * Files are written and read synchronously, in large appends and 4 MiB reads, from the
 * counting loop; a partition's file is made on its first pair.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { hash32 } from '../util/random.js';

export type SpillKey = string | number;

export const PARTITIONS = 64;
const READ_CHUNK = 4 << 20;
const NUMBER_RECORD = 17;
const STRING_HEADER = 13;

/** Appends pairs to the partition files `dir/part-<p>.bin` (the folder must exist). */
export class SpillWriter {
  readonly files: readonly string[];
  /** 1 for each partition with a file (a pair written). */
  readonly written = new Uint8Array(PARTITIONS);
  private readonly descriptors: (number | undefined)[] = new Array<undefined>(PARTITIONS);

  constructor(
    dir: string,
    private readonly seed: number,
  ) {
    this.files = Array.from({ length: PARTITIONS }, (_, p) => path.join(dir, `part-${p}.bin`));
  }

  /** Appends every pair, one write per partition. */
  write(keys: readonly SpillKey[], counts: ArrayLike<number>): void {
    const partitionOf = new Uint8Array(keys.length);
    const sizes = new Float64Array(PARTITIONS);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const partition = hash32(key, this.seed) % PARTITIONS;
      partitionOf[i] = partition;
      sizes[partition] +=
        typeof key === 'number' ? NUMBER_RECORD : STRING_HEADER + Buffer.byteLength(key, 'utf8');
    }
    const buffers = Array.from(sizes, (size) => Buffer.allocUnsafe(size));
    const offsets = new Float64Array(PARTITIONS);
    for (let i = 0; i < keys.length; i++) {
      const partition = partitionOf[i];
      const buffer = buffers[partition];
      let offset = offsets[partition];
      const key = keys[i];
      if (typeof key === 'number') {
        buffer[offset] = 0;
        buffer.writeDoubleLE(counts[i], offset + 1);
        buffer.writeDoubleLE(key, offset + 9);
        offset += NUMBER_RECORD;
      } else {
        buffer[offset] = 1;
        buffer.writeDoubleLE(counts[i], offset + 1);
        const length = buffer.write(key, offset + STRING_HEADER, 'utf8');
        buffer.writeUInt32LE(length, offset + 9);
        offset += STRING_HEADER + length;
      }
      offsets[partition] = offset;
    }
    buffers.forEach((buffer, partition) => {
      if (buffer.length === 0) return;
      const fd = (this.descriptors[partition] ??= openSync(this.files[partition], 'a'));
      this.written[partition] = 1;
      for (let written = 0; written < buffer.length;)
        written += writeSync(fd, buffer, written, buffer.length - written);
    });
  }

  /** Closes the files; write() opens them again. */
  close(): void {
    this.descriptors.forEach((fd, partition) => {
      if (fd !== undefined) closeSync(fd);
      this.descriptors[partition] = undefined;
    });
  }
}

/** Every pair of one spill file, in file order. */
export function* readSpillFile(file: string): Generator<[SpillKey, number]> {
  const fd = openSync(file, 'r');
  try {
    let buffer = Buffer.allocUnsafe(READ_CHUNK);
    let filled = 0;
    for (;;) {
      const read = readSync(fd, buffer, filled, buffer.length - filled, null);
      filled += read;
      let offset = 0;
      for (;;) {
        const size = recordSize(buffer, offset, filled);
        if (size === undefined) break;
        const count = buffer.readDoubleLE(offset + 1);
        if (buffer[offset] === 0) yield [buffer.readDoubleLE(offset + 9), count];
        else yield [buffer.toString('utf8', offset + STRING_HEADER, offset + size), count];
        offset += size;
      }
      if (read === 0) {
        if (offset !== filled) throw new Error(`${file}: truncated spill record at its end`);
        return;
      }
      // Keep the partial record at the front; grow when one record is larger than the buffer.
      const rest = buffer.subarray(offset, filled);
      const next = rest.length * 2 > buffer.length ? Buffer.allocUnsafe(buffer.length * 2) : buffer;
      rest.copy(next, 0);
      buffer = next;
      filled = rest.length;
    }
  } finally {
    closeSync(fd);
  }
}

/** Bytes of the complete record at `offset`, or undefined when it ends past `end`. */
function recordSize(buffer: Buffer, offset: number, end: number): number | undefined {
  if (end - offset < NUMBER_RECORD) {
    if (end - offset < STRING_HEADER || buffer[offset] === 0) return undefined;
  }
  const size = buffer[offset] === 0 ? NUMBER_RECORD : STRING_HEADER + buffer.readUInt32LE(offset + 9);
  return offset + size <= end ? size : undefined;
}
