/**
 * Arrow IPC source: the file format (starts with the magic bytes "ARROW1", random access
 * through its footer) and the stream format (a sequence of messages). Record batches are
 * read one at a time, so memory is bounded by the largest batch in the file, not by the
 * file, and re-sliced to the caller's batch size.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import {
  Data,
  DataType,
  DateUnit,
  Field,
  Message,
  Precision,
  RecordBatch as ArrowRecordBatch,
  RecordBatchReader,
  Schema,
  TimeUnit,
  Vector,
  makeVector,
} from 'apache-arrow';
import { LemoptError } from '../../util/errors.js';
import {
  type Cell,
  type ColumnSchema,
  type LogicalType,
  type ReadOptions,
  type RecordBatch,
  type Scalar,
  type SourceSchema,
  typeToString,
} from '../types.js';
import { FileSource, fileError, openFileSource, readSchemas, type FileColumns } from './common.js';

const MAGIC = 'ARROW1';

/** The logical type of an Arrow type; dictionaries map to their value type. */
export function arrowLogicalType(type: DataType): LogicalType {
  if (DataType.isInt(type)) return { kind: 'int' };
  if (DataType.isFloat(type)) return { kind: 'float' };
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type) || DataType.isUtf8View(type))
    return { kind: 'string' };
  if (DataType.isBool(type)) return { kind: 'bool' };
  if (DataType.isTimestamp(type) || DataType.isDate(type)) return { kind: 'timestamp' };
  if (DataType.isList(type) || DataType.isLargeList(type) || DataType.isFixedSizeList(type)) {
    const child = type.children[0];
    return {
      kind: 'list',
      element: child ? arrowLogicalType(child.type) : { kind: 'unknown', detail: 'list' },
    };
  }
  if (DataType.isDictionary(type)) return arrowLogicalType(type.dictionary);
  return { kind: 'unknown', detail: String(type) };
}

interface FileInfo {
  readonly file: string;
  readonly schema: Schema;
  readonly numRows: number | undefined;
}

type ArrowReader = AsyncIterable<ArrowRecordBatch> & {
  readonly schema: Schema;
  readonly footer?: { recordBatches(): Iterable<{ offset: number; metaDataLength: number }> } | null;
  cancel(): void | Promise<void>;
};

interface OpenedReader {
  readonly reader: ArrowReader;
  close(): Promise<void>;
}

export class ArrowSource extends FileSource {
  private fileSchemas: Map<string, Schema> | undefined;

  /** Resolves `location` (file, folder or glob) and reads every file's schema, which must agree. */
  static open(location: string, files?: readonly string[]): Promise<ArrowSource> {
    return openFileSource(location, 'arrow', files, (found) => new ArrowSource(location, found));
  }

  protected async readSchema(): Promise<SourceSchema> {
    const infos = await readSchemas(this.location, this.files, 'Arrow', readFileInfo, fileColumns);
    const [first] = infos;
    this.fileSchemas = new Map(infos.map((info) => [info.file, info.schema]));
    const columns: ColumnSchema[] = first.schema.fields.map((field: Field) => ({
      name: field.name,
      type: arrowLogicalType(field.type),
    }));
    const counts = infos.map((info) => info.numRows);
    const numRows = counts.every((n) => n !== undefined)
      ? counts.reduce((sum: number, n) => sum + (n ?? 0), 0)
      : undefined;
    return numRows === undefined ? { columns } : { columns, numRows };
  }

  async *batches(options: ReadOptions = {}): AsyncGenerator<RecordBatch> {
    const { batchSize, names } = await this.readPlan(options);

    for (const file of this.files) {
      const { reader, close } = await openReader(file);
      try {
        const indices = names.map((name) => reader.schema.fields.findIndex((field) => field.name === name));
        const iterator = reader[Symbol.asyncIterator]();
        for (;;) {
          let step: IteratorResult<ArrowRecordBatch>;
          try {
            step = await iterator.next();
          } catch (error) {
            throw readError(file, error);
          }
          if (step.done) break;
          const batch = step.value;
          const children = batch.data.children;
          for (let start = 0; start < batch.numRows; start += batchSize) {
            const length = Math.min(batchSize, batch.numRows - start);
            const whole = start === 0 && length === batch.numRows;
            const columns = new Map<string, ArrayLike<Cell>>();
            names.forEach((name, i) => {
              const data = children[indices[i]] as Data;
              columns.set(name, convertData(whole ? data : data.slice(start, length)));
            });
            yield { numRows: length, columns };
          }
        }
      } finally {
        await close();
      }
    }
  }

  /** The Arrow schema of one of this source's files (after schema() ran), for inspect. */
  arrowSchema(file: string): Schema | undefined {
    return this.fileSchemas?.get(file);
  }
}

function readError(file: string, error: unknown): LemoptError {
  return fileError(file, 'cannot read it as Arrow IPC', error);
}

/**
 * Which IPC format the file holds, from its first and last bytes: the file format starts
 * and ends with "ARROW1"; a stream starts with a message length (after the 0xFFFFFFFF
 * continuation marker in current writers). Anything else is not Arrow, and is rejected
 * before the reader would trust a length read from random bytes.
 */
async function sniffFormat(file: string): Promise<'file' | 'stream'> {
  const size = (await stat(file)).size;
  if (size === 0) throw new LemoptError(`${file}: the file is empty`);
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    if (bytesRead >= MAGIC.length && head.toString('latin1', 0, MAGIC.length) === MAGIC) {
      const tail = Buffer.alloc(MAGIC.length);
      await handle.read(tail, 0, MAGIC.length, Math.max(0, size - MAGIC.length));
      if (size < 2 * MAGIC.length + 8 || tail.toString('latin1') !== MAGIC) {
        throw new LemoptError(
          `${file}: the Arrow IPC file is truncated or corrupt (it does not end with ARROW1)`,
        );
      }
      return 'file';
    }
    const continuation = bytesRead >= 8 && head.readInt32LE(0) === -1;
    const length = bytesRead >= 4 ? head.readInt32LE(continuation ? 4 : 0) : -1;
    const room = size - (continuation ? 8 : 4);
    if (length <= 0 || length > room) {
      throw new LemoptError(
        `${file}: not an Arrow IPC file or stream (no ARROW1 magic and no stream header)`,
      );
    }
    return 'stream';
  } finally {
    await handle.close();
  }
}

/**
 * Opens a reader with its schema read. File format: through a file handle, so the reader
 * seeks to the footer and then to each batch. Stream format: from a Node read stream.
 */
async function openReader(file: string): Promise<OpenedReader> {
  let fileFormat: boolean;
  try {
    fileFormat = (await sniffFormat(file)) === 'file';
  } catch (error) {
    throw fileError(file, 'cannot open', error);
  }
  let handle: FileHandle | undefined;
  let stream: ReadStream | undefined;
  let reader: ArrowReader | undefined;
  const close = async () => {
    try {
      await reader?.cancel();
    } catch {
      // closing after an error: nothing more to do
    }
    await handle?.close().catch(() => undefined);
    stream?.destroy();
  };
  try {
    if (fileFormat) {
      handle = await open(file, 'r');
      const fileReader = await RecordBatchReader.from(handle);
      reader = (await fileReader.open()) as unknown as ArrowReader;
    } else {
      stream = createReadStream(file, { highWaterMark: 1 << 20 });
      const streamReader = await RecordBatchReader.from(stream);
      reader = (await streamReader.open()) as unknown as ArrowReader;
    }
    // A byte sequence that is not Arrow can parse as an empty stream without any schema.
    if (!reader.schema || !(reader.schema instanceof Schema)) {
      throw new Error(fileFormat ? 'no schema in the footer' : 'no schema message at the start');
    }
    return { reader, close };
  } catch (error) {
    await close();
    throw readError(file, error);
  }
}

/** Schema and, for the file format, the row count from the batches' metadata (no body read). */
async function readFileInfo(file: string): Promise<FileInfo> {
  const { reader, close } = await openReader(file);
  try {
    const footer = reader.footer;
    const numRows = footer ? await countFileRows(file, footer.recordBatches()) : undefined;
    return { file, schema: reader.schema, numRows };
  } finally {
    await close();
  }
}

async function countFileRows(
  file: string,
  blocks: Iterable<{ offset: number; metaDataLength: number }>,
): Promise<number> {
  const handle = await open(file, 'r');
  try {
    let rows = 0;
    for (const block of blocks) {
      const bytes = Buffer.alloc(block.metaDataLength);
      await handle.read(bytes, 0, bytes.length, Number(block.offset));
      // A message starts with 0xFFFFFFFF (continuation) and an int32 length; old files omit the marker.
      const continuation = bytes.readInt32LE(0) === -1;
      const prefix = continuation ? 8 : 4;
      const length = bytes.readInt32LE(continuation ? 4 : 0);
      const message = Message.decode(bytes.subarray(prefix, prefix + length));
      if (!message.isRecordBatch()) throw new Error(`block at offset ${block.offset} is not a record batch`);
      rows += Number(message.header().length);
    }
    return rows;
  } catch (error) {
    throw readError(file, error);
  } finally {
    await handle.close();
  }
}

/** Files agree on the logical type of each column; errors also show the Arrow type. */
function fileColumns(info: FileInfo): FileColumns {
  const columns = info.schema.fields.map((field) => {
    const type = typeToString(arrowLogicalType(field.type));
    return { name: field.name, type, shown: `${type} (${String(field.type)})` };
  });
  return { file: info.file, columns };
}

// ---------------------------------------------------------------------------------------
// Arrow data -> plain values. `data` is one column of one batch (possibly a slice): value
// buffers start at row 0 of the slice, validity and boolean bits at `data.offset`.

const dictionaryCache = new WeakMap<Vector, ArrayLike<Cell>>();

function isValidAt(data: Data, index: number): boolean {
  const bitmap = data.nullBitmap;
  if (data.nullCount === 0 || !bitmap || bitmap.length === 0) return true;
  const pos = data.offset + index;
  return (bitmap[pos >> 3] & (1 << (pos & 7))) !== 0;
}

/** Values of one column: typed arrays for numeric columns without nulls, plain arrays otherwise. */
export function convertData(data: Data): ArrayLike<Cell> {
  const type = data.type as DataType;
  const n = data.length;
  const hasNulls = data.nullCount > 0;
  if (DataType.isInt(type)) {
    const values = (
      data.values as ArrayLike<number | bigint> & { subarray(a: number, b: number): unknown }
    ).subarray(0, n) as ArrayLike<number | bigint>;
    if (type.bitWidth === 64) {
      const out = hasNulls ? new Array<number | null>(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = hasNulls && !isValidAt(data, i) ? null : Number(values[i]);
      return out;
    }
    return hasNulls ? withNulls(data, values as ArrayLike<number>) : (values as ArrayLike<number>);
  }
  if (DataType.isFloat(type)) {
    if (type.precision === Precision.HALF) return viaGetter(data, !hasNulls);
    const values = (data.values as Float32Array | Float64Array).subarray(0, n);
    return hasNulls ? withNulls(data, values) : values;
  }
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return decodeStrings(data);
  if (DataType.isBool(type)) {
    const bits = data.values as Uint8Array;
    const out = new Array<boolean | null>(n);
    for (let i = 0; i < n; i++) {
      const pos = data.offset + i;
      out[i] = hasNulls && !isValidAt(data, i) ? null : (bits[pos >> 3] & (1 << (pos & 7))) !== 0;
    }
    return out;
  }
  if (DataType.isTimestamp(type) || DataType.isDate(type)) return epochMillis(data);
  if (DataType.isList(type) || DataType.isLargeList(type) || DataType.isFixedSizeList(type))
    return lists(data);
  if (DataType.isDictionary(type)) return dictionaryValues(data);
  if (DataType.isUtf8View(type)) return viaGetter(data, false);
  return viaGetter(data, false, true);
}

function withNulls(data: Data, values: ArrayLike<number>): (number | null)[] {
  const out = new Array<number | null>(data.length);
  for (let i = 0; i < data.length; i++) out[i] = isValidAt(data, i) ? values[i] : null;
  return out;
}

function viaGetter(data: Data, numeric: boolean, stringify = false): ArrayLike<Cell> {
  const vector = makeVector(data);
  const out: Cell[] | Float64Array = numeric ? new Float64Array(data.length) : new Array<Cell>(data.length);
  for (let i = 0; i < data.length; i++) {
    const value: unknown = vector.get(i);
    out[i] = (stringify ? toScalar(value) : value) as never;
  }
  return out;
}

/** Values of types lemopt does not encode (structs, binary, decimals, ...) as scalars for inspect. */
function toScalar(value: unknown): Scalar {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return value;
    default: {
      if (value instanceof Date) return value;
      const plain =
        typeof (value as { toJSON?: unknown }).toJSON === 'function'
          ? (value as { toJSON(): unknown }).toJSON()
          : ArrayBuffer.isView(value)
            ? Array.from(value as unknown as ArrayLike<number | bigint>)
            : value;
      return JSON.stringify(plain, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    }
  }
}

function decodeStrings(data: Data): (string | null)[] {
  const n = data.length;
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  const bytes = data.values as Uint8Array;
  const out = new Array<string | null>(n);
  if (n === 0) return out;
  const begin = Number(offsets[0]);
  const end = Number(offsets[n]);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let ascii = true;
  for (let i = begin; i < end; i++) {
    if (bytes[i] > 0x7f) {
      ascii = false;
      break;
    }
  }
  const hasNulls = data.nullCount > 0;
  if (ascii) {
    // One decode for the whole range; each value is then a cheap substring.
    const text = buffer.toString('latin1', begin, end);
    for (let i = 0; i < n; i++) {
      out[i] =
        hasNulls && !isValidAt(data, i)
          ? null
          : text.slice(Number(offsets[i]) - begin, Number(offsets[i + 1]) - begin);
    }
  } else {
    for (let i = 0; i < n; i++) {
      out[i] =
        hasNulls && !isValidAt(data, i)
          ? null
          : buffer.toString('utf8', Number(offsets[i]), Number(offsets[i + 1]));
    }
  }
  return out;
}

/** Timestamps and dates as epoch milliseconds (fractional below a millisecond). */
function epochMillis(data: Data): ArrayLike<number | null> {
  const type = data.type as DataType;
  const n = data.length;
  const hasNulls = data.nullCount > 0;
  const out = hasNulls ? new Array<number | null>(n) : new Float64Array(n);
  const values = data.values as ArrayLike<number | bigint>;
  let toMillis: ((value: number | bigint) => number) | undefined;
  if (DataType.isDate(type)) {
    // Date32 counts days in an int32; Date64 milliseconds in an int64.
    toMillis = type.unit === DateUnit.DAY ? (v) => Number(v) * 86_400_000 : (v) => Number(v);
  } else if (DataType.isTimestamp(type) && values instanceof BigInt64Array) {
    // Divide exact integers (not multiply by 1e-3) so whole milliseconds stay whole.
    switch (type.unit) {
      case TimeUnit.SECOND:
        toMillis = (v) => Number(v) * 1000;
        break;
      case TimeUnit.MILLISECOND:
        toMillis = (v) => Number(v);
        break;
      case TimeUnit.MICROSECOND:
        toMillis = (v) => Number(v) / 1000;
        break;
      case TimeUnit.NANOSECOND:
        toMillis = (v) => Number((v as bigint) / 1000n) / 1000;
        break;
    }
  }
  if (toMillis) {
    for (let i = 0; i < n; i++) out[i] = hasNulls && !isValidAt(data, i) ? null : toMillis(values[i]);
    return out;
  }
  const vector = makeVector(data);
  for (let i = 0; i < n; i++) out[i] = hasNulls && !isValidAt(data, i) ? null : Number(vector.get(i));
  return out;
}

function lists(data: Data): (Scalar[] | null)[] {
  const type = data.type as DataType;
  const n = data.length;
  const out = new Array<Scalar[] | null>(n);
  const child = data.children[0] as Data | undefined;
  if (!child) return out.fill(null);
  let offsetAt: (i: number) => number;
  if (DataType.isFixedSizeList(type)) {
    // Slicing a fixed-size list slices its child too: row i starts at i * size.
    const size = type.listSize;
    offsetAt = (i) => i * size;
  } else {
    const offsets = data.valueOffsets as Int32Array | BigInt64Array;
    offsetAt = (i) => Number(offsets[i]);
  }
  const begin = offsetAt(0);
  const end = offsetAt(n);
  // Nested lists come out as arrays of arrays (Cell allows one level; consumers treat deeper
  // levels as unknown).
  const values = convertData(
    begin === 0 && end === child.length ? child : child.slice(begin, end - begin),
  ) as ArrayLike<Scalar>;
  const hasNulls = data.nullCount > 0;
  for (let i = 0; i < n; i++) {
    if (hasNulls && !isValidAt(data, i)) {
      out[i] = null;
      continue;
    }
    const a = offsetAt(i) - begin;
    const b = offsetAt(i + 1) - begin;
    const row = new Array<Scalar>(b - a);
    for (let k = a; k < b; k++) row[k - a] = values[k];
    out[i] = row;
  }
  return out;
}

function dictionaryValues(data: Data): Cell[] {
  const dictionary = data.dictionary as Vector | undefined;
  const n = data.length;
  const out = new Array<Cell>(n);
  if (!dictionary) return out.fill(null);
  let values = dictionaryCache.get(dictionary);
  if (!values) {
    const parts = dictionary.data.map((chunk) => Array.from(convertData(chunk as Data)));
    values = parts.length === 1 ? parts[0] : parts.flat();
    dictionaryCache.set(dictionary, values);
  }
  const indices = (
    data.values as ArrayLike<number | bigint> & { subarray(a: number, b: number): unknown }
  ).subarray(0, n) as ArrayLike<number | bigint>;
  const hasNulls = data.nullCount > 0;
  for (let i = 0; i < n; i++) {
    out[i] = hasNulls && !isValidAt(data, i) ? null : values[Number(indices[i])];
  }
  return out;
}
