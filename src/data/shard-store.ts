/**
 * Encoded rows on disk, for datasets larger than data.cache_memory: a folder of shards,
 * each one block (consecutive source batches, each split's columns on their own), and an
 * index written last, so a folder without one is incomplete and never read.
 *
 * A shard is its typed arrays back to back, each at an 8-byte boundary; the index records
 * where each array lies. Reading a split reads one contiguous range per shard into one
 * buffer and views the arrays in place: no decoding. (Against Arrow IPC on the
 * quickstart's 19 MiB of encoded rows: reading 2-3 ms against 13-50 ms, writing 12-14 ms
 * against 140-170 ms, plus 130-260 ms to load apache-arrow; see BENCHMARKS.md.)
 *
 * The folder is named by the data fingerprint and the vocabulary config hash, and the
 * index repeats both: shards of other data, another vocabulary or another format version
 * are never used.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeAtomically, writeFileAtomic } from '../util/atomic.js';
import { errorMessage, LemoptError } from '../util/errors.js';
import { prefetch } from './batcher.js';
import type { Batch } from './batch-rows.js';
import type { EncodedBatch, EncodedFeature } from './encoder.js';
import { chunksOf, sourceBatches, type SplitAccess, type SplitBlock, type SplitRows } from './split-block.js';

const SHARD_FORMAT_VERSION = 1;
const INDEX_FILE = 'index.json';
const ALIGNMENT = 8;

/** What the shards were encoded from. */
export interface ShardKey {
  readonly fingerprint: string;
  readonly configHash: string;
}

/** Where an array lies in a shard: byte offset and element count. */
type Span = readonly [offset: number, length: number];

interface PartLayout {
  readonly rows: number;
  /** The part's arrays lie in bytes start .. end-1. */
  readonly start: number;
  readonly end: number;
  readonly chunkRows: Span;
  readonly labels: Span;
  readonly features: readonly { readonly ids: Span; readonly offsets?: Span }[];
}

interface ShardEntry {
  readonly file: string;
  readonly bytes: number;
  readonly firstRow: number;
  readonly batchRows: Span;
  readonly splits: Span;
  readonly parts: readonly PartLayout[];
}

interface ShardIndex extends ShardKey {
  readonly version: number;
  readonly rows: number;
  /** Bytes of all shards. */
  readonly bytes: number;
  readonly shards: readonly ShardEntry[];
}

/**
 * The shard folder for a key: under `cacheDir/encoded/` (the run folder keeps it for the
 * next run), or without a cacheDir a temporary folder removed when the process exits.
 */
export function shardFolder(cacheDir: string | undefined, key: ShardKey): string {
  if (cacheDir) return path.join(cacheDir, 'encoded', `${key.configHash}-${key.fingerprint.slice(0, 16)}`);
  const folder = mkdtempSync(path.join(os.tmpdir(), 'lemopt-encoded-'));
  if (temporaryFolders.size === 0) process.once('exit', removeTemporaryFolders);
  temporaryFolders.add(folder);
  return folder;
}

const temporaryFolders = new Set<string>();

function removeTemporaryFolders(): void {
  for (const folder of temporaryFolders) rmSync(folder, { recursive: true, force: true });
  temporaryFolders.clear();
}

/** A complete shard folder, read split by split or in source order. */
export class ShardStore implements SplitAccess {
  private constructor(
    private readonly folder: string,
    private readonly index: ShardIndex,
  ) {}

  /** The folder's shards, if its index is complete and made from this key; else undefined. */
  static async open(folder: string, key: ShardKey): Promise<ShardStore | undefined> {
    let index: ShardIndex;
    try {
      index = JSON.parse(await readFile(path.join(folder, INDEX_FILE), 'utf8')) as ShardIndex;
    } catch {
      return undefined;
    }
    const current =
      index.version === SHARD_FORMAT_VERSION &&
      index.fingerprint === key.fingerprint &&
      index.configHash === key.configHash;
    return current ? new ShardStore(folder, index) : undefined;
  }

  readonly storage = 'disk';

  get bytes(): number {
    return this.index.bytes;
  }

  async *chunks(split: number): AsyncGenerator<Batch> {
    const parts = prefetch(
      this.eachShard((shard, file, location) => readPart(file, shard.parts[split], location)),
    );
    for await (const part of parts) yield* chunksOf(part);
  }

  /** Every row in source order, as the source batches delivered them. */
  async *all(): AsyncGenerator<EncodedBatch> {
    for await (const block of prefetch(this.eachShard(readBlock))) yield* sourceBatches(block);
  }

  private async *eachShard<T>(
    read: (shard: ShardEntry, file: FileHandle, location: string) => Promise<T>,
  ): AsyncGenerator<T> {
    for (const shard of this.index.shards) {
      const location = path.join(this.folder, shard.file);
      let file: FileHandle;
      try {
        file = await open(location);
      } catch (error) {
        throw new LemoptError(
          `${location}: cannot read an encoded shard (${errorMessage(error)}); delete ${this.folder} to encode again`,
        );
      }
      try {
        yield await read(shard, file, location);
      } finally {
        await file.close();
      }
    }
  }
}

/** Writes blocks as shards, then the index that completes the folder. */
export class ShardWriter {
  private readonly shards: ShardEntry[] = [];
  private rows = 0;
  private bytes = 0;

  private constructor(
    private readonly folder: string,
    private readonly key: ShardKey,
  ) {}

  /** A writer into `folder`, whose index (if any, from other data) is removed first. */
  static async start(folder: string, key: ShardKey): Promise<ShardWriter> {
    await rm(path.join(folder, INDEX_FILE), { force: true });
    return new ShardWriter(folder, key);
  }

  async write(block: SplitBlock): Promise<void> {
    const file = `shard-${String(this.shards.length).padStart(6, '0')}.bin`;
    const { entry, arrays } = layOut(block, file);
    await writeAtomically(path.join(this.folder, file), async (temporary) => {
      const handle = await open(temporary, 'w');
      try {
        await handle.writev(arrays);
      } finally {
        await handle.close();
      }
    });
    this.shards.push(entry);
    this.rows += block.batchRows.reduce((sum, n) => sum + n, 0);
    this.bytes += arrays.reduce((sum, array) => sum + array.byteLength, 0);
  }

  async finish(): Promise<ShardStore> {
    const index: ShardIndex = {
      version: SHARD_FORMAT_VERSION,
      ...this.key,
      rows: this.rows,
      bytes: this.bytes,
      shards: this.shards,
    };
    await writeFileAtomic(path.join(this.folder, INDEX_FILE), JSON.stringify(index));
    return (await ShardStore.open(this.folder, this.key))!;
  }
}

type Stored = Int32Array | Float32Array | Uint8Array;

/** The block's arrays in file order with padding between them, and where each lies. */
function layOut(block: SplitBlock, file: string): { entry: ShardEntry; arrays: Uint8Array[] } {
  const arrays: Uint8Array[] = [];
  let at = 0;
  const place = (array: Stored): Span => {
    const span: Span = [at, array.length];
    arrays.push(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    at += array.byteLength;
    const padding = (ALIGNMENT - (at % ALIGNMENT)) % ALIGNMENT;
    if (padding > 0) arrays.push(new Uint8Array(padding));
    at += padding;
    return span;
  };
  const batchRows = place(block.batchRows);
  const splits = place(block.splits);
  const parts = block.parts.map((part): PartLayout => {
    const start = at;
    const chunkRows = place(part.chunkRows);
    const labels = place(part.labels);
    const features = part.features.map(({ ids, offsets }) => ({
      ids: place(ids),
      ...(offsets ? { offsets: place(offsets) } : {}),
    }));
    return { rows: part.numRows, start, end: at, chunkRows, labels, features };
  });
  return { entry: { file, bytes: at, firstRow: block.firstRow, batchRows, splits, parts }, arrays };
}

async function readBlock(shard: ShardEntry, file: FileHandle, location: string): Promise<SplitBlock> {
  const buffer = await readRange(file, 0, shard.bytes, location);
  return {
    firstRow: shard.firstRow,
    batchRows: view(buffer, 0, shard.batchRows, Int32Array),
    splits: view(buffer, 0, shard.splits, Uint8Array),
    parts: shard.parts.map((part) => partView(buffer, 0, part)),
  };
}

async function readPart(file: FileHandle, part: PartLayout, location: string): Promise<SplitRows> {
  return partView(await readRange(file, part.start, part.end - part.start, location), part.start, part);
}

/** The part's arrays, viewed in a buffer that holds the file from byte `base` on. */
function partView(buffer: ArrayBuffer, base: number, part: PartLayout): SplitRows {
  const features = part.features.map(({ ids, offsets }): EncodedFeature => ({
    ids: view(buffer, base, ids, Int32Array),
    ...(offsets ? { offsets: view(buffer, base, offsets, Int32Array) } : {}),
  }));
  return {
    numRows: part.rows,
    chunkRows: view(buffer, base, part.chunkRows, Int32Array),
    labels: view(buffer, base, part.labels, Float32Array),
    features,
  };
}

function view<T extends Stored>(
  buffer: ArrayBuffer,
  base: number,
  [offset, length]: Span,
  Type: new (buffer: ArrayBuffer, byteOffset: number, length: number) => T,
): T {
  return new Type(buffer, offset - base, length);
}

async function readRange(
  file: FileHandle,
  position: number,
  length: number,
  location: string,
): Promise<ArrayBuffer> {
  const buffer = new ArrayBuffer(length);
  const bytes = new Uint8Array(buffer);
  for (let read = 0; read < length;) {
    const { bytesRead } = await file.read(bytes, read, length - read, position + read);
    if (bytesRead === 0) throw new LemoptError(`${location}: encoded shard is shorter than its index says`);
    read += bytesRead;
  }
  return buffer;
}
