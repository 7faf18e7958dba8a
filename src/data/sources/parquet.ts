/**
 * Parquet source, on hyparquet (chosen by bench/parquet-readers.ts, see BENCHMARKS.md).
 *
 * hyparquet parses the footer and the page headers and decodes every value encoding and
 * codec; lemopt drives the pages itself, because hyparquet's generic level assembly costs
 * more than all the decoding for OPTIONAL columns (how DuckDB, Spark and pyarrow write
 * nullable columns), and because its RLE decoder can abort the process on a corrupt page.
 * Levels and dictionary indices are decoded here, with bounds checks. A flat column (one
 * value per row) is a stream of pages: each page is decoded once, when the batch being
 * built reaches it, and dictionary indices are mapped straight into the batch's array.
 * Nested columns (lists, structs, maps) are decoded the same way, one row group at a time,
 * and assembled with hyparquet's Dremel assembly.
 *
 * Memory: the compressed bytes of the projected columns of one row group, one decoded
 * page per flat column, the batch being built, and for nested columns the decoded row
 * group. Never the file.
 *
 * Values, per column of a batch:
 * - int32 (and smaller, unsigned): numbers, an Int32Array (or Uint32Array) when the batch
 *   has no null
 * - int64: numbers when the value is a safe integer (|v| < 2^53), else bigint; a
 *   Float64Array when the batch has no null and every value is safe
 * - float, double: numbers, a Float32Array/Float64Array when the batch has no null
 * - decimal: numbers (doubles, so beyond 15 to 17 digits they are rounded)
 * - timestamps (TIMESTAMP millis/micros/nanos, INT96, DATE): epoch milliseconds as
 *   numbers (fractional for sub-millisecond precision), never Date objects
 * - strings (and unannotated byte arrays, enums, JSON text): strings
 * - booleans: booleans
 * - lists: arrays of the element values (empty list [], null list null)
 * - null: null
 * - types lemopt does not encode (structs, maps, intervals, raw fixed-length bytes):
 *   JSON or hex strings, for inspect
 */
import type { FileHandle } from 'node:fs/promises';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import {
  parquetMetadataAsync,
  parquetSchema,
  type AsyncBuffer,
  type ColumnChunk,
  type Compressors,
  type DataReader,
  type DecodedArray,
  type FileMetaData,
  type PageHeader,
  type ParquetParsers,
  type SchemaElement,
  type SchemaTree,
} from 'hyparquet';
import { compressors as hyparquetCompressors } from 'hyparquet-compressors';
import { alpDecode } from 'hyparquet/src/alp.js';
import { assembleLists, assembleNested } from 'hyparquet/src/assemble.js';
import { parquetHeader } from 'hyparquet/src/column.js';
import { DEFAULT_PARSERS, convert } from 'hyparquet/src/convert.js';
import { decompressPage } from 'hyparquet/src/datapage.js';
import { deltaBinaryUnpack, deltaByteArray, deltaLengthByteArray } from 'hyparquet/src/delta.js';
import { byteStreamSplit } from 'hyparquet/src/encoding.js';
import { readPlain } from 'hyparquet/src/plain.js';
import { getMaxDefinitionLevel, getMaxRepetitionLevel, getTreePath } from 'hyparquet/src/schema.js';
import type { LemoptError } from '../../util/errors.js';
import {
  typeToString,
  type Cell,
  type DictionaryColumn,
  type Scalar,
  type ColumnSchema,
  type LogicalType,
  type ReadOptions,
  type RecordBatch,
  type SourceSchema,
} from '../types.js';
import { FileSource, fileError, openFile, openFileSource, readSchemas, type FileColumns } from './common.js';
import { DictionaryColumns, isTypedValues, typedLike, type TypedValues } from './dictionary-columns.js';

type ColumnDecoder = Parameters<typeof convert>[1];

const textDecoder = new TextDecoder();

/** Timestamps as epoch milliseconds (numbers), JSON as its text. */
const PARSERS: ParquetParsers = {
  ...DEFAULT_PARSERS,
  timestampFromMilliseconds: (millis: bigint) => Number(millis),
  timestampFromMicroseconds: (micros: bigint) => Number(micros) / 1e3,
  timestampFromNanoseconds: (nanos: bigint) => Number(nanos) / 1e6,
  dateFromDays: (days: number) => days * 86_400_000,
  jsonFromBytes: (bytes: Uint8Array) => bytes && textDecoder.decode(bytes),
  stringFromBytes: (bytes: Uint8Array) => bytes && stringFromBytes(bytes),
};

const SHORT_STRING_BYTES = 64;

/**
 * PLAIN-encoded UTF-8 byte arrays (4-byte little-endian length, then the bytes) straight
 * to strings. hyparquet makes a Uint8Array view per value first, and on string columns
 * that are not dictionary-encoded those short-lived views cost more GC than the decoding.
 */
function readPlainStrings(data: Uint8Array, count: number, column: string): string[] {
  const out = new Array<string>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > data.length) throw new Error(`column '${column}': a string page ends early`);
    const length =
      (data[offset] | (data[offset + 1] << 8) | (data[offset + 2] << 16) | (data[offset + 3] << 24)) >>> 0;
    offset += 4;
    if (offset + length > data.length) throw new Error(`column '${column}': a string runs past its page`);
    out[i] = stringFromBytes(data.subarray(offset, offset + length));
    offset += length;
  }
  return out;
}

/**
 * UTF-8 bytes to a string. Categorical values are mostly short ASCII, where building the
 * string from char codes is several times faster than TextDecoder's per-call overhead.
 */
function stringFromBytes(bytes: Uint8Array): string {
  const length = bytes.length;
  if (length > SHORT_STRING_BYTES) return textDecoder.decode(bytes);
  let text = '';
  for (let i = 0; i < length; i++) {
    const byte = bytes[i];
    if (byte >= 0x80) return textDecoder.decode(bytes);
    text += String.fromCharCode(byte);
  }
  return text;
}

/** Node's native zlib for gzip and brotli; hyparquet-compressors for the rest (snappy in wasm, zstd, lz4). */
const COMPRESSORS: Compressors = {
  ...hyparquetCompressors,
  GZIP: (input: Uint8Array) => gunzipSync(input),
  BROTLI: (input: Uint8Array) => brotliDecompressSync(input),
};

// ---------------------------------------------------------------------------------------
// Schema

function leafType(element: SchemaElement): LogicalType {
  const converted = element.converted_type;
  const logical = element.logical_type?.type;
  const decimal = converted === 'DECIMAL' || logical === 'DECIMAL';
  switch (element.type) {
    case 'BOOLEAN':
      return { kind: 'bool' };
    case 'INT32':
    case 'INT64':
      if (decimal) return { kind: 'float' };
      if (
        logical === 'TIMESTAMP' ||
        logical === 'DATE' ||
        converted === 'DATE' ||
        converted === 'TIMESTAMP_MILLIS' ||
        converted === 'TIMESTAMP_MICROS'
      ) {
        return { kind: 'timestamp' };
      }
      return { kind: 'int' };
    case 'INT96':
      return { kind: 'timestamp' };
    case 'FLOAT':
    case 'DOUBLE':
      return { kind: 'float' };
    case 'BYTE_ARRAY':
      if (decimal) return { kind: 'float' };
      if (converted === 'BSON' || logical === 'BSON') return { kind: 'unknown', detail: 'bson' };
      if (logical === 'GEOMETRY' || logical === 'GEOGRAPHY')
        return { kind: 'unknown', detail: logical.toLowerCase() };
      return { kind: 'string' };
    case 'FIXED_LEN_BYTE_ARRAY':
      if (decimal || logical === 'FLOAT16') return { kind: 'float' };
      if (logical === 'UUID') return { kind: 'string' };
      if (converted === 'INTERVAL' || logical === 'INTERVAL') return { kind: 'unknown', detail: 'interval' };
      return { kind: 'unknown', detail: `fixed_len_byte_array(${element.type_length ?? '?'})` };
    default:
      return { kind: 'unknown', detail: String(element.type) };
  }
}

/** The logical type of a top-level column of a Parquet schema tree. */
export function parquetLogicalType(node: SchemaTree): LogicalType {
  const { element, children } = node;
  if (children.length === 0) {
    // a repeated primitive outside a LIST group is the legacy 2-level list
    return element.repetition_type === 'REPEATED'
      ? { kind: 'list', element: leafType(element) }
      : leafType(element);
  }
  if (element.converted_type === 'LIST' || element.logical_type?.type === 'LIST') {
    const repeated = children.length === 1 ? children[0] : undefined;
    if (repeated && repeated.element.repetition_type === 'REPEATED') {
      if (repeated.children.length === 0) return { kind: 'list', element: leafType(repeated.element) };
      if (repeated.children.length === 1)
        return { kind: 'list', element: parquetLogicalType(repeated.children[0]) };
    }
    return { kind: 'unknown', detail: 'list of structs' };
  }
  if (element.converted_type === 'MAP' || element.converted_type === 'MAP_KEY_VALUE') {
    return { kind: 'unknown', detail: 'map' };
  }
  if (element.logical_type?.type === 'VARIANT') return { kind: 'unknown', detail: 'variant' };
  return { kind: 'unknown', detail: 'struct' };
}

/** One value per row, no repetition: the columns lemopt reads page by page itself. */
function isFlat(node: SchemaTree): boolean {
  return node.children.length === 0 && node.element.repetition_type !== 'REPEATED';
}

// ---------------------------------------------------------------------------------------
// Files

interface FileInfo {
  readonly file: string;
  readonly metadata: FileMetaData;
  readonly tree: SchemaTree;
  readonly columns: readonly ColumnSchema[];
  readonly size: number;
}

function unreadable(file: string, error: unknown): LemoptError {
  return fileError(file, 'not a readable Parquet file', error);
}

/** Byte ranges of an open file, as the AsyncBuffer hyparquet reads the footer from. */
function fileBuffer(handle: FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const bytes = await readRange(handle, start, end);
      return bytes.buffer as ArrayBuffer;
    },
  };
}

async function readRange(handle: FileHandle, start: number, end: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(Math.max(0, end - start));
  let done = 0;
  while (done < bytes.length) {
    const { bytesRead } = await handle.read(bytes, done, bytes.length - done, start + done);
    if (bytesRead === 0) throw new Error(`the file ends before byte ${end}`);
    done += bytesRead;
  }
  return bytes;
}

function chunkRange(chunk: ColumnChunk): { start: number; end: number } {
  const meta = chunk.meta_data;
  if (!meta) throw new Error('a column chunk has no metadata (encrypted files are not supported)');
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
  return { start, end: start + Number(meta.total_compressed_size) };
}

/** Cheap consistency checks, so garbage in the footer fails here and not deep in a decoder. */
function checkMetadata(metadata: FileMetaData, size: number): void {
  const dataEnd = size - 8 - metadata.metadata_length;
  let rows = 0n;
  for (const group of metadata.row_groups) {
    rows += group.num_rows;
    for (const chunk of group.columns) {
      if (chunk.file_path) throw new Error(`a column chunk lives in another file (${chunk.file_path})`);
      const { start, end } = chunkRange(chunk);
      if (!(start >= 4 && end >= start && end <= dataEnd)) {
        throw new Error(`column chunk bytes ${start}..${end} lie outside the data section (4..${dataEnd})`);
      }
    }
  }
  if (rows !== metadata.num_rows) {
    throw new Error(`the row groups hold ${rows} rows but the footer says ${metadata.num_rows}`);
  }
}

async function readFileInfo(file: string): Promise<FileInfo> {
  const handle = await openFile(file);
  try {
    const { size } = await handle.stat();
    if (size < 12) throw new Error(`only ${size} bytes`);
    const magic = (bytes: Uint8Array) => String.fromCharCode(...bytes) === 'PAR1';
    if (!magic(await readRange(handle, 0, 4))) throw new Error('it does not start with PAR1');
    if (!magic(await readRange(handle, size - 4, size))) {
      throw new Error('it does not end with PAR1: truncated, or still being written');
    }
    const metadata = await parquetMetadataAsync(fileBuffer(handle, size), {
      parsers: PARSERS,
      geoparquet: false,
    });
    checkMetadata(metadata, size);
    const tree = parquetSchema(metadata);
    const columns = tree.children.map((node) => ({
      name: node.element.name,
      type: parquetLogicalType(node),
    }));
    return { file, metadata, tree, columns, size };
  } catch (error) {
    throw unreadable(file, error);
  } finally {
    await handle.close();
  }
}

/** Files agree on the logical type of each column. */
function fileColumns(info: FileInfo): FileColumns {
  const columns = info.columns.map((column) => ({ name: column.name, type: typeToString(column.type) }));
  return { file: info.file, columns };
}

// ---------------------------------------------------------------------------------------
// Source

export class ParquetSource extends FileSource {
  readonly partitionable = true;
  private infos: Map<string, FileInfo> | undefined;

  /** Resolves `location` (file, folder of part files, or glob) and reads every footer. */
  static open(location: string, files?: readonly string[]): Promise<ParquetSource> {
    return openFileSource(location, 'parquet', files, (found) => new ParquetSource(location, found));
  }

  protected async readSchema(): Promise<SourceSchema> {
    const infos = await readSchemas(this.location, this.files, 'Parquet', readFileInfo, fileColumns);
    const [first] = infos;
    this.infos = new Map(infos.map((info) => [info.file, info]));
    const numRows = infos.reduce((sum, info) => sum + Number(info.metadata.num_rows), 0);
    return { columns: first.columns, numRows };
  }

  /** The footer metadata of one of this source's files (after schema() ran), for inspect. */
  metadata(file: string): FileMetaData | undefined {
    return this.infos?.get(file)?.metadata;
  }

  async *batches(options: ReadOptions = {}): AsyncGenerator<RecordBatch> {
    const { batchSize, names } = await this.readPlan(options);
    const partition = options.partition ?? { index: 0, count: 1 };
    const position = { row: 0, group: 0 };
    for (const file of this.files) {
      const info = this.infos?.get(file) ?? (await readFileInfo(file));
      yield* readFile(info, names, batchSize, partition, position);
    }
  }
}

/** Where the reader is in the whole source: rows and row groups before the current one. */
interface SourcePosition {
  row: number;
  group: number;
}

async function* readFile(
  info: FileInfo,
  names: readonly string[],
  batchSize: number,
  partition: NonNullable<ReadOptions['partition']>,
  position: SourcePosition,
): AsyncGenerator<RecordBatch> {
  const { file, metadata, tree } = info;
  if (metadata.row_groups.length === 0) return;
  const mine = metadata.row_groups.map((_, g) => (position.group + g) % partition.count === partition.index);
  const fileFirstRow = position.row;
  position.group += metadata.row_groups.length;
  position.row += Number(metadata.num_rows);
  if (!mine.includes(true)) return;
  const nodes = names.map((name) => tree.children.find((child) => child.element.name === name) as SchemaTree);
  const handle = await openFile(file);
  try {
    let groupStart = 0;
    for (const [g, group] of metadata.row_groups.entries()) {
      const groupRows = Number(group.num_rows);
      if (groupRows === 0 || !mine[g]) {
        groupStart += groupRows;
        continue;
      }
      let readers: ColumnReader[];
      try {
        readers = await openGroup(handle, tree, group.columns, nodes, groupStart, groupRows);
      } catch (error) {
        throw unreadable(file, error);
      }
      for (let start = 0; start < groupRows; start += batchSize) {
        const n = Math.min(batchSize, groupRows - start);
        const columns = new DictionaryColumns();
        try {
          for (let c = 0; c < names.length; c++) {
            const taken = readers[c].take(n);
            if (isDictionaryColumn(taken)) columns.setDictionary(names[c], taken);
            else columns.set(names[c], taken);
          }
        } catch (error) {
          throw unreadable(file, error);
        }
        const { dictionaries } = columns;
        yield { numRows: n, firstRow: fileFirstRow + groupStart + start, columns, dictionaries };
      }
      groupStart += groupRows;
    }
  } finally {
    await handle.close();
  }
}

interface ColumnReader {
  /** The next n rows of the column: as indices where its pages are dictionary-encoded. */
  take(n: number): ArrayLike<Cell> | DictionaryColumn;
}

function isDictionaryColumn(column: ArrayLike<Cell> | DictionaryColumn): column is DictionaryColumn {
  return (column as Partial<DictionaryColumn>).indices instanceof Int32Array;
}

/** Readers for the projected columns of one row group; reads their column chunks' bytes. */
async function openGroup(
  handle: FileHandle,
  tree: SchemaTree,
  chunks: readonly ColumnChunk[],
  nodes: readonly SchemaTree[],
  groupStart: number,
  groupRows: number,
): Promise<ColumnReader[]> {
  return Promise.all(
    nodes.map(async (node) => {
      const leaves = await Promise.all(
        leavesOf(node).map(async (leaf) => {
          const key = leaf.path.join('.');
          const chunk = chunks.find((candidate) => candidate.meta_data?.path_in_schema.join('.') === key);
          if (!chunk?.meta_data) {
            throw new Error(`the row group starting at row ${groupStart} has no data for column '${key}'`);
          }
          const { start, end } = chunkRange(chunk);
          const bytes = await readRange(handle, start, end);
          return new LeafPages(key, bytes, chunk.meta_data.codec, getTreePath(tree, leaf.path), groupRows);
        }),
      );
      return isFlat(node)
        ? new FlatColumnReader(leaves[0])
        : new NestedColumnReader(assembleColumn(node, leaves, groupRows), node);
    }),
  );
}

function leavesOf(node: SchemaTree): SchemaTree[] {
  return node.children.length === 0 ? [node] : node.children.flatMap(leavesOf);
}

// ---------------------------------------------------------------------------------------
// Pages of one leaf column chunk

/** More values than any writer puts in one page; guards allocations against garbage headers. */
const MAX_PAGE_VALUES = 1 << 26;
const MAX_PAGE_BYTES = 1 << 30;

/** A decoded data page of one leaf column. */
interface LeafPage {
  /** Levels in the page; for a flat column, its rows. */
  readonly count: number;
  /** Definition levels; undefined when every value is defined (no null). */
  readonly defs: Uint8Array | undefined;
  /** Repetition levels; undefined for columns that do not repeat. */
  readonly reps: Uint8Array | undefined;
  /** The non-null values in order, or undefined for a dictionary-encoded page. */
  readonly values: ArrayLike<Cell> | undefined;
  readonly indices: Int32Array | undefined;
  readonly dictionary: ArrayLike<Cell> | undefined;
}

/** Walks the pages of one column chunk (its compressed bytes in memory), decoding each on demand. */
class LeafPages {
  private readonly view: DataView;
  private offset = 0;
  private readonly decoder: ColumnDecoder;
  private readonly maxDef: number;
  private readonly maxRep: number;
  private readonly int64: boolean;
  private readonly raw: boolean;
  /** UTF-8 BYTE_ARRAY columns: PLAIN values are decoded straight to strings. */
  private readonly strings: boolean;
  private dictionary: ArrayLike<Cell> | undefined;
  /** Rows not yet seen in a page (flat columns: one level per row). */
  private rowsLeft: number;

  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
    codec: ColumnDecoder['codec'],
    readonly schemaPath: SchemaTree[],
    rows: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const element = schemaPath[schemaPath.length - 1].element;
    this.decoder = {
      pathInSchema: schemaPath.slice(1).map((node) => node.element.name),
      type: element.type as ColumnDecoder['type'],
      element,
      schemaPath,
      codec,
      parsers: PARSERS,
      compressors: COMPRESSORS,
      utf8: true,
    };
    this.maxDef = getMaxDefinitionLevel(schemaPath);
    this.maxRep = getMaxRepetitionLevel(schemaPath);
    const kind = leafType(element).kind;
    this.int64 = (element.type === 'INT64' && kind === 'int') || element.converted_type === 'UINT_64';
    this.raw = kind === 'unknown';
    this.strings = element.type === 'BYTE_ARRAY' && kind === 'string';
    this.rowsLeft = rows;
  }

  /** The next data page, or undefined at the end of the column chunk. */
  next(): LeafPage | undefined {
    while (this.offset < this.bytes.length) {
      const reader: DataReader = { view: this.view, offset: this.offset };
      const header = parquetHeader(reader);
      const size = header.compressed_page_size;
      if (!(size >= 0 && reader.offset + size <= this.bytes.length)) {
        throw new Error(`column '${this.name}': a page of ${size} bytes runs past its column chunk`);
      }
      if (!(header.uncompressed_page_size >= 0 && header.uncompressed_page_size <= MAX_PAGE_BYTES)) {
        throw new Error(`column '${this.name}': a page header gives ${header.uncompressed_page_size} bytes`);
      }
      const body = this.bytes.subarray(reader.offset, reader.offset + size);
      this.offset = reader.offset + size;
      if (header.type === 'DICTIONARY_PAGE') this.readDictionary(header, body);
      else if (header.type === 'DATA_PAGE' || header.type === 'DATA_PAGE_V2')
        return this.readDataPage(header, body);
      else if (header.type !== 'INDEX_PAGE') {
        throw new Error(`column '${this.name}': unknown page type ${String(header.type)}`);
      }
    }
    return undefined;
  }

  private decompress(body: Uint8Array, size: number): Uint8Array {
    return decompressPage(body, size, this.decoder.codec, COMPRESSORS);
  }

  private readDictionary(header: PageHeader, body: Uint8Array): void {
    const page = this.decompress(body, header.uncompressed_page_size);
    const count = header.dictionary_page_header?.num_values ?? 0;
    if (!(count >= 0 && count <= page.length * 8)) {
      throw new Error(`column '${this.name}': a dictionary of ${count} entries in ${page.length} bytes`);
    }
    const values = this.readPlainValues(page, count);
    if (values.length !== count) throw new Error(`column '${this.name}': a short dictionary page`);
    this.dictionary = this.finish(values);
  }

  private readDataPage(header: PageHeader, body: Uint8Array): LeafPage {
    const { maxDef, maxRep } = this;
    let count: number;
    let encoding: string;
    let defs: Uint8Array | undefined;
    let reps: Uint8Array | undefined;
    let data: Uint8Array;
    if (header.type === 'DATA_PAGE') {
      const v1 = header.data_page_header;
      if (!v1) throw new Error(`column '${this.name}': a data page without its header`);
      count = this.checkCount(v1.num_values);
      encoding = v1.encoding;
      const page = this.decompress(body, header.uncompressed_page_size);
      let pos = 0;
      const levels = (max: number): Uint8Array => {
        if (pos + 4 > page.length)
          throw new Error(`column '${this.name}': a data page too short for its levels`);
        const length = page[pos] | (page[pos + 1] << 8) | (page[pos + 2] << 16) | (page[pos + 3] << 24);
        if (length < 0 || pos + 4 + length > page.length)
          throw new Error(`column '${this.name}': bad level length`);
        const out = this.levels(page, pos + 4, pos + 4 + length, max, count);
        pos += 4 + length;
        return out;
      };
      if (maxRep > 0) reps = levels(maxRep);
      if (maxDef > 0) defs = levels(maxDef);
      data = page.subarray(pos);
    } else {
      const v2 = header.data_page_header_v2;
      if (!v2) throw new Error(`column '${this.name}': a data page v2 without its header`);
      count = this.checkCount(v2.num_values);
      encoding = v2.encoding;
      const repLength = v2.repetition_levels_byte_length;
      const defLength = v2.definition_levels_byte_length;
      if (!(repLength >= 0 && defLength >= 0 && repLength + defLength <= body.length)) {
        throw new Error(`column '${this.name}': bad level lengths in a data page v2`);
      }
      if (maxRep > 0) reps = this.levels(body, 0, repLength, maxRep, count);
      if (maxDef > 0 && defLength > 0 && (maxRep > 0 || v2.num_nulls > 0)) {
        defs = this.levels(body, repLength, repLength + defLength, maxDef, count);
      }
      data = body.subarray(repLength + defLength);
      const uncompressed = header.uncompressed_page_size - repLength - defLength;
      if (v2.is_compressed !== false && uncompressed > 0) data = this.decompress(data, uncompressed);
    }
    let present = count;
    if (defs) {
      present = 0;
      for (let i = 0; i < count; i++) if (defs[i] === maxDef) present++;
      if (present === count && maxRep === 0) defs = undefined;
    }
    const page = { count, defs, reps, values: undefined, indices: undefined, dictionary: undefined };
    if (encoding === 'PLAIN_DICTIONARY' || encoding === 'RLE_DICTIONARY') {
      const dictionary = this.dictionary;
      if (!dictionary)
        throw new Error(`column '${this.name}': a dictionary-encoded page without a dictionary`);
      const indices = new Int32Array(present);
      if (present > 0) {
        const bitWidth = data[0];
        if (!(bitWidth <= 31)) throw new Error(`column '${this.name}': dictionary index width ${bitWidth}`);
        if (bitWidth > 0) decodeHybrid(data, 1, data.length, bitWidth, indices, present);
        let max = 0;
        for (let i = 0; i < present; i++) if (indices[i] > max) max = indices[i];
        if (max >= dictionary.length) {
          throw new Error(
            `column '${this.name}': dictionary index ${max} beyond its ${dictionary.length} entries`,
          );
        }
      }
      return { ...page, indices, dictionary };
    }
    const values = this.finish(this.decodeValues(encoding, data, present));
    if (values.length !== present) {
      throw new Error(
        `column '${this.name}': ${values.length} values decoded where the page holds ${present}`,
      );
    }
    return { ...page, values };
  }

  private checkCount(count: number): number {
    const limit = this.maxRep === 0 ? this.rowsLeft : MAX_PAGE_VALUES;
    if (!(Number.isInteger(count) && count >= 0 && count <= limit)) {
      throw new Error(
        `column '${this.name}': a page header gives ${count} values where at most ${limit} can be`,
      );
    }
    if (this.maxRep === 0) this.rowsLeft -= count;
    return count;
  }

  private levels(bytes: Uint8Array, start: number, end: number, max: number, count: number): Uint8Array {
    const out = new Uint8Array(count);
    const width = 32 - Math.clz32(max);
    decodeHybrid(bytes, start, end, width, out, count);
    if ((1 << width) - 1 > max) {
      for (let i = 0; i < count; i++) {
        if (out[i] > max) throw new Error(`column '${this.name}': level ${out[i]} above its maximum ${max}`);
      }
    }
    return out;
  }

  private decodeValues(encoding: string, data: Uint8Array, count: number): DecodedArray {
    const { type, element } = this.decoder;
    const reader = dataReader(data);
    switch (encoding) {
      case 'PLAIN':
        return this.readPlainValues(data, count);
      case 'RLE': {
        if (type !== 'BOOLEAN') break;
        const bits = new Uint8Array(count);
        if (data.length < 4) throw new Error(`column '${this.name}': a boolean page too short`);
        const length = data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24);
        decodeHybrid(data, 4, Math.min(data.length, 4 + Math.max(0, length)), 1, bits, count);
        return Array.from(bits, (bit) => bit === 1);
      }
      case 'DELTA_BINARY_PACKED': {
        const out = type === 'INT32' ? new Int32Array(count) : new BigInt64Array(count);
        deltaBinaryUnpack(reader, count, out);
        return out;
      }
      case 'DELTA_LENGTH_BYTE_ARRAY': {
        const out = new Array<Uint8Array>(count);
        deltaLengthByteArray(reader, count, out);
        return out;
      }
      case 'DELTA_BYTE_ARRAY': {
        const out = new Array<Uint8Array>(count);
        deltaByteArray(reader, count, out);
        return out;
      }
      case 'BYTE_STREAM_SPLIT':
        return byteStreamSplit(reader, count, type, element.type_length);
      case 'ALP':
        return alpDecode(reader, count, type);
    }
    throw new Error(`column '${this.name}': the ${encoding} encoding is not supported`);
  }

  private readPlainValues(data: Uint8Array, count: number): DecodedArray {
    if (this.strings) return readPlainStrings(data, count, this.name) as unknown as DecodedArray;
    return readPlain(dataReader(data), this.decoder.type, count, this.decoder.element.type_length);
  }

  /** Physical values -> lemopt's values (strings, epoch millis, numbers for safe int64). */
  private finish(values: DecodedArray): ArrayLike<Cell> {
    if (this.raw) return rawToStrings(values);
    if (this.strings && (values.length === 0 || typeof values[0] === 'string'))
      return values as ArrayLike<Cell>;
    const converted = convert(values, this.decoder) as ArrayLike<Cell>;
    return this.int64 ? int64ToNumbers(converted as ArrayLike<bigint | null>) : converted;
  }
}

function dataReader(bytes: Uint8Array): DataReader {
  return { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
}

// ---------------------------------------------------------------------------------------
// Flat columns: batches cut from a stream of pages

/** A page being handed out: `row` and `value` are the next row and next non-null value. */
interface Cursor {
  readonly rows: number;
  /** 1 where the row has a value; undefined when no row of the page is null. */
  readonly present: Uint8Array | undefined;
  readonly values: ArrayLike<Cell> | undefined;
  readonly indices: Int32Array | undefined;
  readonly dictionary: ArrayLike<Cell> | undefined;
  row: number;
  value: number;
}

function isTyped(values: ArrayLike<Cell> | undefined): values is TypedValues {
  return values !== undefined && isTypedValues(values);
}

class FlatColumnReader implements ColumnReader {
  private page: Cursor | undefined;

  constructor(private readonly pages: LeafPages) {}

  take(n: number): ArrayLike<Cell> | DictionaryColumn {
    let page = this.current();
    // fast path: the whole batch inside one page
    if (page.rows - page.row >= n) return this.slice(page, n);

    const parts: { page: Cursor; row: number; value: number; count: number }[] = [];
    let needed = n;
    let nulls = false;
    for (;;) {
      const count = Math.min(needed, page.rows - page.row);
      parts.push({ page, row: page.row, value: page.value, count });
      if (page.present) nulls = true;
      advance(page, count);
      needed -= count;
      if (needed === 0) break;
      page = this.current();
    }
    const dictionary = parts[0].page.dictionary;
    if (dictionary && parts.every((part) => part.page.indices && part.page.dictionary === dictionary)) {
      const indices = new Int32Array(n);
      let at = 0;
      for (const part of parts) {
        copyIndices(part.page, part.row, part.value, part.count, indices, at);
        at += part.count;
      }
      return { indices, dictionary };
    }
    const source = (cursor: Cursor) => cursor.dictionary ?? cursor.values;
    const first = source(parts[0].page);
    const typed =
      !nulls && isTyped(first) && parts.every((part) => source(part.page)?.constructor === first.constructor);
    const out: Cell[] | TypedValues = typed ? typedLike(first, n) : new Array<Cell>(n);
    let at = 0;
    for (const part of parts) {
      copyRows(part.page, part.row, part.value, part.count, out, at);
      at += part.count;
    }
    return out;
  }

  /** n rows from one page, without copying when the page has no null. */
  private slice(page: Cursor, n: number): ArrayLike<Cell> | DictionaryColumn {
    const { row, value, present, values, indices, dictionary } = page;
    advance(page, n);
    if (!present && values) {
      if (row === 0 && n === page.rows) return values;
      const all = values as TypedValues | Cell[];
      return isTyped(all) ? all.subarray(value, value + n) : all.slice(value, value + n);
    }
    if (indices && dictionary) {
      if (!present) return { indices: indices.subarray(value, value + n), dictionary };
      const out = new Int32Array(n);
      copyIndices(page, row, value, n, out, 0);
      return { indices: out, dictionary };
    }
    // A plain page with nulls.
    const out = new Array<Cell>(n);
    copyRows(page, row, value, n, out, 0);
    return out;
  }

  private current(): Cursor {
    while (!this.page || this.page.row === this.page.rows) {
      const next = this.pages.next();
      if (!next) throw new Error(`column '${this.pages.name}': the column chunk ends before its last row`);
      this.page = { ...next, rows: next.count, present: next.defs, row: 0, value: 0 };
    }
    return this.page;
  }
}

function advance(page: Cursor, count: number): void {
  const { present, row } = page;
  if (present) {
    let ones = 0;
    for (let i = row; i < row + count; i++) ones += present[i];
    page.value += ones;
  } else {
    page.value += count;
  }
  page.row = row + count;
}

/** Dictionary indices of rows [row, row+count) of a page into out[at...]; -1 for null. */
function copyIndices(
  page: Cursor,
  row: number,
  value: number,
  count: number,
  out: Int32Array,
  at: number,
): void {
  const { present, indices } = page;
  if (!present) {
    out.set(indices!.subarray(value, value + count), at);
    return;
  }
  for (let i = 0; i < count; i++) out[at + i] = present[row + i] ? indices![value++] : -1;
}

/** Rows [row, row+count) of a page (whose first value there is `value`) into out[at...]. */
function copyRows(
  page: Cursor,
  row: number,
  value: number,
  count: number,
  out: Cell[] | TypedValues,
  at: number,
): void {
  const { present, values, indices, dictionary } = page;
  const target = out as Cell[];
  if (indices && dictionary) {
    if (!present) {
      for (let i = 0; i < count; i++) target[at + i] = dictionary[indices[value + i]];
    } else {
      for (let i = 0; i < count; i++) {
        target[at + i] = present[row + i] ? dictionary[indices[value++]] : null;
      }
    }
  } else if (values) {
    if (!present) {
      if (isTyped(out) && isTyped(values)) out.set(values.subarray(value, value + count), at);
      else for (let i = 0; i < count; i++) target[at + i] = values[value + i];
    } else {
      for (let i = 0; i < count; i++) target[at + i] = present[row + i] ? values[value++] : null;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Nested columns: a row group's column assembled with hyparquet's Dremel assembly

/** More levels than any column chunk of a sane file; guards memory against garbage. */
const MAX_CHUNK_VALUES = 1 << 27;

function assembleColumn(node: SchemaTree, leaves: readonly LeafPages[], groupRows: number): Cell[] {
  const list = scalarListLevels(node, leaves);
  if (list) return assembleScalarList(leaves[0], list, groupRows);
  const data = new Map<string, DecodedArray>();
  for (const leaf of leaves) {
    const chunks: DecodedArray[] = [];
    let last: DecodedArray | undefined;
    let total = 0;
    for (let page = leaf.next(); page; page = leaf.next()) {
      total += page.count;
      if (total > MAX_CHUNK_VALUES)
        throw new Error(`column '${leaf.name}': more than ${MAX_CHUNK_VALUES} values`);
      const values =
        page.indices && page.dictionary
          ? Array.from(page.indices, (index) => (page.dictionary as ArrayLike<Cell>)[index])
          : (page.values ?? []);
      const output = Array.isArray(last) ? last : [];
      const assembled = assembleLists(
        output,
        page.defs as unknown as number[] | undefined,
        (page.reps ?? []) as unknown as number[],
        values as DecodedArray,
        leaf.schemaPath,
      );
      if (assembled !== last) {
        chunks.push(assembled);
        last = assembled;
      }
    }
    data.set(leaf.name, chunks.length === 1 ? chunks[0] : chunks.flatMap((chunk) => Array.from(chunk)));
  }
  assembleNested(data, node, PARSERS);
  const column = data.get(node.path.join('.'));
  if (!column || column.length !== groupRows) {
    throw new Error(`column '${node.element.name}': ${column?.length ?? 0} of ${groupRows} rows decoded`);
  }
  return Array.from(column as ArrayLike<Cell>);
}

/**
 * The definition levels of a list of scalars with one repetition level (a LIST column,
 * three-level or legacy two-level): below `emptyList` the row is null, at it the list is
 * empty, from `element` on an element exists, and at `maxDef` it has a value.
 */
interface ScalarListLevels {
  readonly emptyList: number;
  readonly element: number;
  readonly maxDef: number;
}

/** The levels of `node` when it is a list of scalars; undefined for other nested columns. */
function scalarListLevels(node: SchemaTree, leaves: readonly LeafPages[]): ScalarListLevels | undefined {
  const { element } = node;
  if (leaves.length !== 1 || (element.converted_type !== 'LIST' && element.logical_type?.type !== 'LIST'))
    return undefined;
  const path = leaves[0].schemaPath;
  if (getMaxRepetitionLevel(path) !== 1) return undefined;
  const repeated = path.findIndex((step, i) => i > 0 && step.element.repetition_type === 'REPEATED');
  // The leaf itself repeats (two-level) or is the repeated group's only child (three-level).
  if (repeated < path.length - 2) return undefined;
  const emptyList = getMaxDefinitionLevel(path.slice(0, repeated));
  return { emptyList, element: emptyList + 1, maxDef: getMaxDefinitionLevel(path) };
}

/**
 * A list-of-scalars column chunk assembled straight from its levels, one array per row:
 * what hyparquet's general Dremel assembly gives for this shape, without its intermediate
 * copies (it took most of the time of reading a tags column).
 */
function assembleScalarList(leaf: LeafPages, levels: ScalarListLevels, groupRows: number): Cell[] {
  const rows = new Array<Cell>(groupRows);
  let row = -1;
  let current: Scalar[] | null = null;
  let total = 0;
  for (let page = leaf.next(); page; page = leaf.next()) {
    const { count, defs, reps, values, indices, dictionary } = page;
    total += count;
    if (total > MAX_CHUNK_VALUES)
      throw new Error(`column '${leaf.name}': more than ${MAX_CHUNK_VALUES} values`);
    let next = 0;
    for (let i = 0; i < count; i++) {
      const def = defs ? defs[i] : levels.maxDef;
      if (!reps || reps[i] === 0) {
        row += 1;
        if (row >= groupRows)
          throw new Error(`column '${leaf.name}': more than ${groupRows} rows in the row group`);
        current = def < levels.emptyList ? null : [];
        rows[row] = current;
      } else if (current === null) {
        throw new Error(`column '${leaf.name}': a repeated value continues a null list`);
      }
      if (def < levels.element) continue;
      let value: Scalar = null;
      if (def === levels.maxDef)
        value = (indices && dictionary ? dictionary[indices[next++]] : values![next++]) as Scalar;
      current!.push(value);
    }
  }
  if (row + 1 !== groupRows)
    throw new Error(`column '${leaf.name}': ${row + 1} of ${groupRows} rows decoded`);
  return rows;
}

class NestedColumnReader implements ColumnReader {
  private row = 0;
  private readonly fix: ((value: unknown) => Cell) | undefined;

  constructor(
    private readonly data: Cell[],
    node: SchemaTree,
  ) {
    this.fix = fixerFor(parquetLogicalType(node));
  }

  take(n: number): ArrayLike<Cell> {
    const out = this.data.slice(this.row, this.row + n);
    this.row += n;
    const fix = this.fix;
    if (fix) for (let i = 0; i < n; i++) out[i] = fix(out[i]);
    else for (let i = 0; i < n; i++) if (out[i] === undefined) out[i] = null;
    return out;
  }
}

/**
 * Lists of lemopt's scalars are handed over as they are assembled; values of unknown types
 * (structs, maps), also inside lists, become JSON text.
 */
function fixerFor(type: LogicalType): ((value: unknown) => Cell) | undefined {
  if (type.kind === 'unknown') return toDisplay;
  if (type.kind !== 'list') return undefined;
  const inner = fixerFor(type.element);
  if (!inner) return undefined;
  return (value) => (Array.isArray(value) ? (value.map(inner) as Cell) : toDisplay(value));
}

// ---------------------------------------------------------------------------------------
// Value helpers

/**
 * int64 values: numbers when safe, bigint otherwise. A Float64Array when every value is
 * a safe integer (the usual case), a plain array otherwise.
 */
function int64ToNumbers(values: ArrayLike<bigint | null>): ArrayLike<Cell> {
  const n = values.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const x = Number(v);
    if (v === null || !Number.isSafeInteger(x)) return int64Mixed(values);
    out[i] = x;
  }
  return out;
}

function int64Mixed(values: ArrayLike<bigint | null>): Cell[] {
  const out = new Array<Cell>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) out[i] = null;
    else {
      const x = Number(v);
      out[i] = Number.isSafeInteger(x) ? x : v;
    }
  }
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Values of types lemopt does not encode, as strings: bytes as hex, anything else as JSON. */
function rawToStrings(values: ArrayLike<unknown>): Cell[] {
  return Array.from(values, (value) => toDisplay(value));
}

function toDisplay(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) {
    let hex = '';
    for (const byte of value) hex += HEX[byte];
    return hex;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value;
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? toDisplay(v) : v,
  );
}

// ---------------------------------------------------------------------------------------
// RLE / bit-packed hybrid

/**
 * Decodes count values of the RLE / bit-packed hybrid encoding from bytes[pos, end) into
 * out (levels, boolean bits, dictionary indices). Throws when the bytes run out first.
 */
function decodeHybrid(
  bytes: Uint8Array,
  pos: number,
  end: number,
  bitWidth: number,
  out: Uint8Array | Int32Array,
  count: number,
): void {
  const byteWidth = (bitWidth + 7) >> 3;
  const mask = bitWidth >= 31 ? 0x7fffffff : (1 << bitWidth) - 1;
  let i = 0;
  while (i < count) {
    // varint run header
    let header = 0;
    let scale = 1;
    for (;;) {
      if (pos >= end) throw new Error('level or index data ends early');
      const byte = bytes[pos++];
      header += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 128;
      if (scale > 2 ** 35) throw new Error('bad run header');
    }
    const runs = Math.floor(header / 2);
    if (header % 2 === 0) {
      // RLE run: one value repeated
      if (pos + byteWidth > end) throw new Error('level or index data ends early');
      let value = 0;
      for (let b = 0; b < byteWidth; b++) value += bytes[pos++] * 2 ** (8 * b);
      if (value > mask) throw new Error(`run value ${value} wider than ${bitWidth} bits`);
      const k = Math.min(runs, count - i);
      out.fill(value, i, i + k);
      i += k;
    } else {
      // bit-packed run: groups of 8 values, bitWidth bytes per group
      const k = Math.min(runs * 8, count - i);
      if (pos + Math.ceil((k * bitWidth) / 8) > end) throw new Error('level or index data ends early');
      unpack(bytes, pos, bitWidth, mask, out, i, k);
      i += k;
      pos += runs * bitWidth;
    }
  }
}

function unpack(
  bytes: Uint8Array,
  pos: number,
  bitWidth: number,
  mask: number,
  out: Uint8Array | Int32Array,
  at: number,
  count: number,
): void {
  if (bitWidth === 1) {
    for (let i = 0; i < count; i++) out[at + i] = (bytes[pos + (i >> 3)] >> (i & 7)) & 1;
    return;
  }
  // a 32-bit window covers any value of up to 24 bits at any bit offset
  const fast = bitWidth <= 24;
  for (let i = 0, bit = 0; i < count; i++, bit += bitWidth) {
    const p = pos + (bit >>> 3);
    const shift = bit & 7;
    if (fast && p + 3 < bytes.length) {
      const word = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24);
      out[at + i] = (word >>> shift) & mask;
    } else {
      let value = 0;
      for (let b = 0, got = -shift; got < bitWidth; b++, got += 8) {
        const byte = p + b < bytes.length ? bytes[p + b] : 0;
        value += got >= 0 ? byte * 2 ** got : byte >>> -got;
      }
      out[at + i] = value % 2 ** bitWidth;
    }
  }
}
