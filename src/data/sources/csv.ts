/**
 * CSV/TSV source on csv-parse, streamed: the file (gzip-decompressed when it starts with
 * the gzip magic bytes) flows through the parser and rows are gathered into batches of at
 * most `batchSize`; no file is ever held whole. Column types are inferred from the first
 * rows; numeric and boolean values are converted while streaming, and a value that does
 * not fit its column's type stops the read with the file, row, line and column.
 */
import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse, type Parser } from 'csv-parse';
import { parse as parseText } from 'csv-parse/sync';
import { LemoptError, errorMessage } from '../../util/errors.js';
import {
  type Cell,
  type ColumnSchema,
  type ReadOptions,
  type RecordBatch,
  type SourceSchema,
} from '../types.js';
import { FileSource, fileError, openFile, openFileSource } from './common.js';

export interface CsvOptions {
  /** Field separator. Default: ',' for .csv, tab for .tsv (unless `sniff`), else sniffed from the first lines. */
  readonly delimiter?: string;
  /**
   * Whether the first line names the columns. Default true, or with `sniff` false when the
   * first line is clearly data; without a header the columns are column_1..n.
   */
  readonly header?: boolean;
  /** Quote character. Default '"'; '' turns quoting off. */
  readonly quote?: string;
  /** Text encoding. Default 'utf8'; 'latin1' for Latin-1 files such as MovieLens. */
  readonly encoding?: BufferEncoding;
  /** Cell values read as null. Default ['', 'NA', 'NaN', 'null', 'NULL']. */
  readonly nullValues?: readonly string[];
  /**
   * Read what `delimiter` and `header` leave unset off the first lines, whatever the
   * extension (see chooseDelimiter, firstRowIsData). Default false: .csv reads with ',',
   * .tsv with tab, and the first line is the header unless `header` is false.
   */
  readonly sniff?: boolean;
}

export const DEFAULT_NULL_VALUES: readonly string[] = ['', 'NA', 'NaN', 'null', 'NULL'];
/** Rows read to infer column types. */
export const TYPE_SAMPLE_ROWS = 10_000;
/** Delimiters tried when sniffing, in order of preference on ties. */
const SNIFF_DELIMITERS = [',', '\t', ';', '|', '::'];
const SNIFF_BYTES = 64 * 1024;
const SNIFF_LINES = 20;
/** A field or row longer than this is almost surely an unclosed quote. */
const MAX_RECORD_CHARS = 64 * 1024 * 1024;

type CsvKind = 'int' | 'float' | 'bool' | 'string';

export interface Dialect {
  readonly delimiter: string;
  readonly quote: string | false;
  readonly header: boolean;
  readonly encoding: BufferEncoding;
  /** Which of delimiter and header were read off the first lines rather than given or defaulted. */
  readonly sniffed: { readonly delimiter: boolean; readonly header: boolean };
}

interface Layout {
  readonly dialect: Dialect;
  readonly names: readonly string[];
  readonly kinds: readonly CsvKind[];
  /** Rows read for type inference (all rows when fewer than TYPE_SAMPLE_ROWS). */
  readonly sampledRows: number;
}

const INT_PATTERN = /^\s*[+-]?\d+\s*$/;
const FLOAT_PATTERN = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const BOOL_PATTERN = /^(true|false)$/i;
/** The kinds a column is inferred as when all its values fit, in order of preference. */
const TYPED_KINDS: readonly CsvKind[] = ['int', 'float', 'bool'];

/** Whether a (non-null) text can be a value of a column of `kind`. */
function fitsKind(kind: CsvKind, text: string): boolean {
  switch (kind) {
    case 'int':
      return INT_PATTERN.test(text) && Number.isSafeInteger(Number(text));
    case 'float':
      // Integers beyond 2^53 (64-bit ids) would lose digits as numbers: they stay strings.
      return FLOAT_PATTERN.test(text) && !(INT_PATTERN.test(text) && !Number.isSafeInteger(Number(text)));
    case 'bool':
      return BOOL_PATTERN.test(text);
    case 'string':
      return true;
  }
}

/** A setting and whether it was read off the file's first lines. */
interface Choice<T> {
  readonly value: T;
  readonly sniffed: boolean;
}

export class CsvSource extends FileSource {
  private readonly options: CsvOptions;
  private readonly nulls: ReadonlySet<string>;
  private readonly maxNullLength: number;
  private layoutPromise: Promise<Layout> | undefined;

  constructor(location: string, files: readonly string[], options: CsvOptions = {}) {
    super(location, files);
    this.options = options;
    const nulls = options.nullValues ?? DEFAULT_NULL_VALUES;
    this.nulls = new Set(nulls);
    this.maxNullLength = Math.max(-1, ...nulls.map((value) => value.length));
    if (options.delimiter === '') throw new LemoptError(`${location}: the CSV delimiter cannot be empty`);
  }

  /** Resolves `location` (file, folder or glob), reads the header and infers column types. */
  static open(location: string, options: CsvOptions = {}, files?: readonly string[]): Promise<CsvSource> {
    return openFileSource(location, 'csv', files, (found) => new CsvSource(location, found, options));
  }

  protected async readSchema(): Promise<SourceSchema> {
    const layout = await this.layout();
    const columns: ColumnSchema[] = layout.names.map((name, i) => ({
      name,
      type: { kind: layout.kinds[i] },
    }));
    // The type sample read every row when it stopped short of its limit: then the count is known.
    return layout.sampledRows < TYPE_SAMPLE_ROWS ? { columns, numRows: layout.sampledRows } : { columns };
  }

  /** The delimiter, quote and header setting in use (after sniffing). */
  async dialect(): Promise<Dialect> {
    return (await this.layout()).dialect;
  }

  private layout(): Promise<Layout> {
    this.layoutPromise ??= this.readLayout();
    return this.layoutPromise;
  }

  private async readLayout(): Promise<Layout> {
    const first = this.files[0];
    if (first === undefined) throw new LemoptError(`${this.location}: no CSV file to read`);
    const dialect = await this.sniffDialect(first);

    // Sample the first rows (across files when the first is short) to infer the types.
    let names: string[] | undefined;
    const sample: string[][] = [];
    for (const file of this.files) {
      if (sample.length >= TYPE_SAMPLE_ROWS) break;
      const onHeader = (header: string[]) => {
        names ??= header;
      };
      for await (const chunk of this.chunks(file, dialect, names, onHeader)) {
        for (const row of chunk) {
          if (sample.length >= TYPE_SAMPLE_ROWS) break;
          sample.push(row);
        }
        if (sample.length >= TYPE_SAMPLE_ROWS) break;
      }
    }
    if (!names) throw new LemoptError(`${first}: the file is empty`);
    const kinds = names.map((_, column) => this.inferKind(sample, column));
    return { dialect, names, kinds, sampledRows: sample.length };
  }

  private inferKind(sample: readonly string[][], column: number): CsvKind {
    let kinds = TYPED_KINDS;
    let seen = false;
    for (const row of sample) {
      const value = row[column];
      if (this.isNull(value)) continue;
      seen = true;
      if (!kinds.every((kind) => fitsKind(kind, value)))
        kinds = kinds.filter((kind) => fitsKind(kind, value));
      if (kinds.length === 0) return 'string';
    }
    return seen ? kinds[0] : 'string';
  }

  private isNull(value: string): boolean {
    return value.length <= this.maxNullLength && this.nulls.has(value);
  }

  private async sniffDialect(file: string): Promise<Dialect> {
    const encoding = this.options.encoding ?? 'utf8';
    if (!Buffer.isEncoding(encoding)) throw new LemoptError(`${file}: unknown text encoding '${encoding}'`);
    const quoteOption = this.options.quote ?? '"';
    const quote = quoteOption === '' ? false : quoteOption;
    const head = await readHead(file, SNIFF_BYTES);
    let text = head.bytes.toString(encoding);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.startsWith('\u00ef\u00bb\u00bf')) text = text.slice(3); // UTF-8 BOM read as Latin-1
    if (text.trim() === '') throw new LemoptError(`${file}: the file is empty`);
    const lines = headLines(text, head.complete);
    const delimiter = this.chooseDelimiter(file, lines, quote);
    const header = this.chooseHeader(lines, delimiter.value, quote);
    return {
      delimiter: delimiter.value,
      quote,
      header: header.value,
      encoding,
      sniffed: { delimiter: delimiter.sniffed, header: header.sniffed },
    };
  }

  /**
   * The delimiter given; else the extension's (',' for .csv, tab for .tsv) unless sniffing;
   * else the one that splits every sampled line into the same number (> 1) of fields,
   * preferring the extension's; else the extension's, or the best split of the first line.
   */
  private chooseDelimiter(file: string, lines: readonly string[], quote: string | false): Choice<string> {
    if (this.options.delimiter !== undefined) return { value: this.options.delimiter, sniffed: false };
    const byExtension = extensionDelimiter(file);
    if (byExtension !== undefined && !this.options.sniff) return { value: byExtension, sniffed: false };
    const fits = delimiterFits(lines, quote);
    const best = fits.find((fit) => fit.consistent && fit.delimiter === byExtension) ?? fits[0];
    if (best?.consistent) return { value: best.delimiter, sniffed: true };
    return { value: byExtension ?? best?.delimiter ?? ',', sniffed: false };
  }

  /** The header setting given; else, when sniffing, none only when the first row is clearly data. */
  private chooseHeader(lines: readonly string[], delimiter: string, quote: string | false): Choice<boolean> {
    if (this.options.header !== undefined || !this.options.sniff) {
      return { value: this.options.header ?? true, sniffed: false };
    }
    let records: string[][];
    try {
      records = parseText(lines.join('\n'), {
        delimiter,
        quote,
        relax_quotes: true,
        relax_column_count: true,
      });
    } catch {
      return { value: true, sniffed: false }; // unsure: a header
    }
    const data = this.firstRowIsData(records);
    return { value: !data, sniffed: data };
  }

  /**
   * Whether the first record is clearly data, not a header: every value in it fits the type
   * its column has in the records below (no name above a numeric or boolean column), and
   * it repeats a value (a header's names are distinct) or holds a fraction above a float
   * column (no column is named like 0.25). A header of numbers above numbers (2019, 2020;
   * 0, 1, 2 as pandas writes) has neither, so it stays a header.
   */
  private firstRowIsData(records: readonly string[][]): boolean {
    const [first, ...below] = records;
    if (first === undefined || below.length === 0) return false;
    if (below.some((row) => row.length !== first.length)) return false;
    const kinds = first.map((_, column) => this.inferKind(below, column));
    const present = first.flatMap((value, column) =>
      this.isNull(value) ? [] : [{ value, kind: kinds[column] }],
    );
    if (!present.every(({ value, kind }) => fitsKind(kind, value))) return false;
    const names = new Set(present.map(({ value }) => value.trim()));
    const repeats = names.size < present.length;
    const fraction = present.some(({ value, kind }) => kind === 'float' && !INT_PATTERN.test(value));
    return repeats || fraction;
  }

  /**
   * Data rows of one file, in chunks of whatever the parser has ready. The first record is
   * the header (without one, it only fixes the width and stays data); it is checked against
   * the first file's `expected` names and handed to `onHeader`.
   */
  private async *chunks(
    file: string,
    dialect: Dialect,
    expected: readonly string[] | undefined,
    onHeader?: (names: string[]) => void,
  ): AsyncGenerator<string[][]> {
    const { parser, destroy } = await openParser(file, dialect);
    const source = recordChunks(parser);
    let width = -1;
    try {
      for (;;) {
        let step: IteratorResult<string[][]>;
        try {
          step = await source.next();
        } catch (error) {
          throw parseError(file, error, width, dialect.header);
        }
        if (step.done) break;
        let chunk = step.value;
        if (width < 0) {
          const row = chunk[0];
          width = row.length;
          const header = dialect.header
            ? row.map((name, i) => name.trim() || `column_${i + 1}`)
            : row.map((_, i) => `column_${i + 1}`);
          if (expected) checkSameHeader(this.files[0], expected, file, header, dialect.header);
          else checkUniqueNames(file, header);
          onHeader?.(header);
          if (dialect.header) chunk = chunk.slice(1);
          if (chunk.length === 0) continue;
        }
        yield chunk;
      }
    } finally {
      await source.return(undefined);
      destroy();
    }
  }

  async *batches(options: ReadOptions = {}): AsyncGenerator<RecordBatch> {
    const { batchSize, names } = await this.readPlan(options);
    const layout = await this.layout();
    const indices = names.map((name) => layout.names.indexOf(name));

    const isNull = (value: string) => this.isNull(value);
    for (const file of this.files) {
      const builders = indices.map((column) => makeBuilder(layout.kinds[column], column, batchSize, isNull));
      let count = 0;
      let firstRow = 1;
      const flush = (): RecordBatch => {
        const columns = new Map<string, ArrayLike<Cell>>();
        names.forEach((name, j) => columns.set(name, builders[j].take(count)));
        const batch = { numRows: count, columns };
        firstRow += count;
        count = 0;
        return batch;
      };
      for await (const chunk of this.chunks(file, layout.dialect, layout.names)) {
        for (const row of chunk) {
          for (const builder of builders) {
            if (!builder.add(count, row[builder.column])) {
              throw await this.badValue(file, layout, firstRow + count, builder, row[builder.column]);
            }
          }
          if (++count === batchSize) yield flush();
        }
      }
      if (count > 0) yield flush();
    }
  }

  /** The error for a value that does not fit its column, with the line it is on. */
  private async badValue(
    file: string,
    layout: Layout,
    row: number,
    builder: ColumnBuilder,
    value: string,
  ): Promise<LemoptError> {
    // Lines are found only now, by reading the file again: tracking them for every row
    // costs csv-parse more than doubling its time.
    const line = await findLine(file, layout.dialect, row);
    const what = builder.kind === 'bool' ? 'a boolean (true or false)' : 'a number';
    return new LemoptError(
      `${file}: row ${row} (line ${line}), column '${layout.names[builder.column]}': '${value}' is not ${what}`,
    );
  }
}

/**
 * Collects one column of a batch, converting each text as it arrives so the row's strings
 * can be dropped at once (keeping a batch of rows alive costs more in garbage collection
 * than the parsing itself).
 */
interface ColumnBuilder {
  readonly kind: CsvKind;
  readonly column: number;
  /** Stores row `index`; false when the text does not fit the column's type. */
  add(index: number, text: string): boolean;
  /** The first `count` values, leaving the builder empty for the next batch. */
  take(count: number): ArrayLike<Cell>;
}

function makeBuilder(
  kind: CsvKind,
  column: number,
  batchSize: number,
  isNull: (text: string) => boolean,
): ColumnBuilder {
  if (kind === 'int' || kind === 'float') {
    let values = new Float64Array(Math.min(batchSize, 4096));
    let nullRows: number[] | undefined;
    return {
      kind,
      column,
      add(index, text) {
        if (index >= values.length) {
          const grown = new Float64Array(Math.min(batchSize, values.length * 2));
          grown.set(values);
          values = grown;
        }
        if (isNull(text)) {
          (nullRows ??= []).push(index);
          return true;
        }
        const number = +text;
        if (number !== number || (number === 0 && text.trim() === '')) return false;
        values[index] = number;
        return true;
      },
      take(count) {
        let out: ArrayLike<Cell>;
        if (nullRows) {
          const withNulls: (number | null)[] = Array.from(values.subarray(0, count));
          for (const i of nullRows) withNulls[i] = null;
          out = withNulls;
          nullRows = undefined;
        } else if (count === values.length) {
          out = values; // handed over whole: the next batch needs a new buffer
          values = new Float64Array(values.length);
        } else {
          out = values.slice(0, count);
        }
        return out;
      },
    };
  }
  let values: (string | boolean | null)[] = [];
  const convert =
    kind === 'bool'
      ? (text: string) => (BOOL_PATTERN.test(text) ? text.length === 4 : undefined)
      : (text: string) => text;
  return {
    kind,
    column,
    add(index, text) {
      if (isNull(text)) {
        values.push(null);
        return true;
      }
      const value = convert(text);
      if (value === undefined) return false;
      values.push(value);
      return true;
    },
    take(count) {
      const out = values.length === count ? values : values.slice(0, count);
      values = [];
      return out;
    },
  };
}

function checkUniqueNames(file: string, names: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw new LemoptError(
        `${file}: the header names column '${name}' twice ` +
          '(a file without a header row? use --no-header, or data.csv.header: false in a config)',
      );
    }
    seen.add(name);
  }
}

function checkSameHeader(
  firstFile: string | undefined,
  expected: readonly string[],
  file: string,
  names: readonly string[],
  hasHeader: boolean,
): void {
  if (!hasHeader) {
    if (names.length !== expected.length) {
      throw new LemoptError(
        `${file}: ${names.length} columns but ${firstFile} has ${expected.length}; all files must share one layout`,
      );
    }
    return;
  }
  for (let i = 0; i < Math.max(names.length, expected.length); i++) {
    if (names[i] !== expected[i]) {
      const here = names[i] === undefined ? 'no column' : `column '${names[i]}'`;
      const there = expected[i] === undefined ? 'none' : `'${expected[i]}'`;
      throw new LemoptError(
        `${file}: ${here} at position ${i + 1} where ${firstFile} has ${there}; all files must share one header`,
      );
    }
  }
}

function parseError(file: string, error: unknown, width: number, hasHeader: boolean): LemoptError {
  if (error instanceof LemoptError) return error;
  const info = error as { code?: string; lines?: number; record?: unknown[] };
  if (info.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' && Array.isArray(info.record)) {
    // The parser may fail before this reader saw the first row: its message has the width.
    const expected = /expect (\d+)/.exec(errorMessage(error));
    if (expected) width = Number(expected[1]);
    return new LemoptError(
      `${file}: line ${info.lines} has ${info.record.length} fields but the ${hasHeader ? 'header' : 'first row'} ` +
        `has ${width}`,
      { cause: error },
    );
  }
  if (info.code === 'CSV_MAX_RECORD_SIZE') {
    return new LemoptError(
      `${file}: a row near line ${info.lines} is longer than ${MAX_RECORD_CHARS} characters (an unclosed quote?)`,
      { cause: error },
    );
  }
  return new LemoptError(`${file}: ${errorMessage(error)}`, { cause: error });
}

const GZIP_MAGIC = [0x1f, 0x8b];

async function isGzip(file: string): Promise<boolean> {
  const handle = await openFile(file);
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  } catch (error) {
    throw fileError(file, 'cannot open', error);
  } finally {
    await handle.close();
  }
}

/** The file's bytes, decompressed when gzip. */
async function openBytes(file: string): Promise<Readable[]> {
  // The gzip check opens the file first, so a missing file fails there with a clear error
  // instead of as an unhandled 'error' event of a stream opened too early.
  const gzip = await isGzip(file);
  const streams: Readable[] = [createReadStream(file, { highWaterMark: 256 * 1024 })];
  if (gzip) streams.push(createGunzip());
  return streams;
}

/** Up to `max` bytes from the start of the (decompressed) file; `complete` if that is all of it. */
async function readHead(file: string, max: number): Promise<{ bytes: Buffer; complete: boolean }> {
  const streams = await openBytes(file);
  const chunks: Buffer[] = [];
  let size = 0;
  let complete = true;
  const last = streams[streams.length - 1];
  if (streams.length > 1) pipeline(streams as unknown as [Readable, NodeJS.WritableStream], () => undefined);
  try {
    for await (const chunk of last) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= max) {
        complete = false;
        break;
      }
    }
  } catch (error) {
    throw new LemoptError(`${file}: ${errorMessage(error)}`, { cause: error });
  } finally {
    for (const stream of streams) stream.destroy();
  }
  return { bytes: Buffer.concat(chunks), complete };
}

async function openParser(
  file: string,
  dialect: Dialect,
  onRecord?: (record: string[], context: { lines: number; empty_lines: number; records: number }) => void,
): Promise<{ parser: Parser; destroy(): void }> {
  const streams = await openBytes(file);
  const parser = parse({
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    encoding: dialect.encoding,
    bom: true,
    skip_empty_lines: true,
    relax_quotes: true,
    max_record_size: MAX_RECORD_CHARS,
    ...(onRecord && {
      on_record: (record: string[], context) => {
        onRecord(record, context);
        return record;
      },
    }),
  });
  pipeline([...streams, parser] as unknown as [Readable, NodeJS.WritableStream], () => undefined);
  return {
    parser,
    destroy: () => {
      for (const stream of streams) stream.destroy();
      parser.destroy();
    },
  };
}

/** The line on which 1-based data row `row` of `file` starts, by parsing up to it. */
async function findLine(file: string, dialect: Dialect, row: number): Promise<number | string> {
  const target = row + (dialect.header ? 1 : 0);
  // A record starts after the previous one's last line and any skipped empty lines.
  let previousEnd = 0;
  let previousEmpty = 0;
  let found: number | undefined;
  const { parser, destroy } = await openParser(file, dialect, (_record, context) => {
    if (context.records === target) found = previousEnd + 1 + (context.empty_lines - previousEmpty);
    previousEnd = context.lines;
    previousEmpty = context.empty_lines;
  });
  const source = recordChunks(parser);
  try {
    while (found === undefined && !(await source.next()).done);
  } catch {
    // the row was read once already; any error now leaves the line unknown
  } finally {
    await source.return(undefined);
    destroy();
  }
  return found ?? '?';
}

/** Records queued before the parser is paused. */
const QUEUE_RECORDS = 16_384;

/**
 * The records of an object-mode stream in chunks of whatever arrived, so consumers loop
 * synchronously instead of awaiting once per record. Records arrive through 'data' events
 * (much cheaper than one read() call each); the stream is paused while the queue is full.
 */
async function* recordChunks(stream: Readable): AsyncGenerator<string[][]> {
  let queue: string[][] = [];
  let error: unknown;
  let ended = false;
  let closed = false;
  let wake: (() => void) | undefined;
  const onData = (record: string[]) => {
    queue.push(record);
    if (queue.length >= QUEUE_RECORDS) stream.pause();
    if (wake) wake();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  const onError = (reason: unknown) => {
    error ??= reason;
    wake?.();
  };
  const onClose = () => {
    closed = true;
    wake?.();
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
  stream.on('close', onClose);
  try {
    for (;;) {
      if (queue.length > 0) {
        const chunk = queue;
        queue = [];
        if (stream.isPaused()) stream.resume();
        yield chunk;
        continue;
      }
      error ??= stream.errored ?? undefined;
      if (error !== undefined) throw error;
      if (ended) return;
      if (closed) throw new Error('the input closed before its end');
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    stream.off('close', onClose);
  }
}

/** The complete, non-empty lines of the start of a file. */
function headLines(text: string, complete: boolean): string[] {
  const lines = text.split(/\r?\n/);
  if (!complete) lines.pop(); // the last line may be cut
  return lines.filter((line) => line.length > 0);
}

function extensionDelimiter(file: string): string | undefined {
  const lower = file.toLowerCase().replace(/\.gz$/, '');
  if (lower.endsWith('.csv')) return ',';
  if (lower.endsWith('.tsv')) return '\t';
  return undefined;
}

interface DelimiterFit {
  readonly delimiter: string;
  /** Splits every sampled line into as many fields as the first. */
  readonly consistent: boolean;
  readonly fields: number;
}

/**
 * The delimiters that split the first line (quotes respected), best first: consistent
 * splits before the others, then more fields, then SNIFF_DELIMITERS order.
 */
function delimiterFits(lines: readonly string[], quote: string | false): DelimiterFit[] {
  const sampled = lines.slice(0, SNIFF_LINES);
  const fits: DelimiterFit[] = [];
  for (const delimiter of SNIFF_DELIMITERS) {
    const counts = sampled.map((line) => countOutsideQuotes(line, delimiter, quote));
    const first = counts[0] ?? 0;
    if (first === 0) continue;
    fits.push({ delimiter, consistent: counts.every((count) => count === first), fields: first + 1 });
  }
  // Array.prototype.sort is stable: ties keep SNIFF_DELIMITERS order.
  return fits.sort((a, b) => Number(b.consistent) - Number(a.consistent) || b.fields - a.fields);
}

/**
 * Picks the delimiter that splits the first line into the most fields and the next lines
 * into as many (quotes respected). Falls back to ',' for a single-column file.
 */
export function sniffDelimiter(text: string, complete: boolean, quote: string | false): string {
  return delimiterFits(headLines(text, complete), quote)[0]?.delimiter ?? ',';
}

function countOutsideQuotes(line: string, delimiter: string, quote: string | false): number {
  let count = 0;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (quote && line.startsWith(quote, i)) {
      quoted = !quoted;
    } else if (!quoted && line.startsWith(delimiter, i)) {
      count++;
      i += delimiter.length - 1;
    }
  }
  return count;
}
