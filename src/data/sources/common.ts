/**
 * What every file source (Parquet, Arrow, CSV) does the same way, with the same errors:
 * opening the source and reading its schema once, opening a file, one schema across the
 * files of a source, the columns a read asks for, and the batch size.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { LemoptError, errorMessage } from '../../util/errors.js';
import {
  DEFAULT_READ_BATCH_SIZE,
  type DataSource,
  type ReadOptions,
  type RecordBatch,
  type SourceSchema,
} from '../types.js';
import { resolveFiles, type SourceFormat } from './files.js';

/** A source over files: its location and files, and its schema, read once. */
export abstract class FileSource implements DataSource {
  private schemaPromise: Promise<SourceSchema> | undefined;

  constructor(
    readonly location: string,
    readonly files: readonly string[],
  ) {}

  schema(): Promise<SourceSchema> {
    this.schemaPromise ??= this.readSchema();
    return this.schemaPromise;
  }

  protected abstract readSchema(): Promise<SourceSchema>;

  /** The batch size and the columns of a read, checked against the schema. */
  protected async readPlan(options: ReadOptions): Promise<{ batchSize: number; names: readonly string[] }> {
    const schema = await this.schema();
    const batchSize = checkBatchSize(this.location, options.batchSize);
    const available = schema.columns.map((column) => column.name);
    const names = projectColumns(this.files[0] ?? this.location, available, options.columns);
    return { batchSize, names };
  }

  abstract batches(options?: ReadOptions): AsyncGenerator<RecordBatch>;
}

/**
 * Makes a source over `files`, else over the files `location` resolves to (a file, a
 * folder of part files, or a glob), and reads its schema, so a bad file fails here.
 */
export async function openFileSource<S extends FileSource>(
  location: string,
  format: SourceFormat,
  files: readonly string[] | undefined,
  make: (files: readonly string[]) => S,
): Promise<S> {
  const source = make(files ?? (await resolveFiles(location, format)));
  await source.schema();
  return source;
}

/**
 * An error about `file`: a LemoptError passes through unchanged, anything else becomes
 * `<file>: <what> (<its message>)`.
 */
export function fileError(file: string, what: string, error: unknown): LemoptError {
  if (error instanceof LemoptError) return error;
  return new LemoptError(`${file}: ${what} (${errorMessage(error)})`, { cause: error });
}

/** Opens `file` for reading; the error names the file. */
export async function openFile(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (error) {
    throw fileError(file, 'cannot open', error);
  }
}

/** A file's columns as the schema check compares them. */
export interface FileColumns {
  readonly file: string;
  readonly columns: readonly {
    readonly name: string;
    /** Must be equal in every file. */
    readonly type: string;
    /** How an error shows the type; default `type`. */
    readonly shown?: string;
  }[];
}

/**
 * Reads the schema of every file of a source, in order, and checks that all files have the
 * columns of the first with the same types. Returns the infos, the first one first.
 */
export async function readSchemas<Info>(
  location: string,
  files: readonly string[],
  format: string,
  read: (file: string) => Promise<Info>,
  columnsOf: (info: Info) => FileColumns,
): Promise<[Info, ...Info[]]> {
  const infos: Info[] = [];
  for (const file of files) infos.push(await read(file));
  const [first, ...others] = infos;
  if (first === undefined) throw new LemoptError(`${location}: no ${format} file to read`);
  const expected = columnsOf(first);
  for (const other of others) checkSameColumns(expected, columnsOf(other));
  return [first, ...others];
}

function checkSameColumns(first: FileColumns, other: FileColumns): void {
  const mismatch = (detail: string) =>
    new LemoptError(`${other.file}: ${detail}; all files of a source must share one schema`);
  const firstColumns = new Map(first.columns.map((column) => [column.name, column]));
  const otherNames = new Set(other.columns.map((column) => column.name));
  for (const column of first.columns) {
    if (!otherNames.has(column.name)) throw mismatch(`no column '${column.name}', which ${first.file} has`);
  }
  for (const column of other.columns) {
    const expected = firstColumns.get(column.name);
    if (!expected) throw mismatch(`column '${column.name}' is not in ${first.file}`);
    if (column.type !== expected.type) {
      throw mismatch(
        `column '${column.name}' is ${column.shown ?? column.type} here but ${expected.shown ?? expected.type} in ${first.file}`,
      );
    }
  }
}

/**
 * The columns a read returns: `requested`, each of which must exist, or all of them. A
 * missing column names `file` and lists the columns.
 */
function projectColumns(
  file: string,
  available: readonly string[],
  requested: readonly string[] | undefined,
): readonly string[] {
  if (!requested) return available;
  for (const name of requested) {
    if (!available.includes(name)) {
      throw new LemoptError(`${file}: no column '${name}'; columns are: ${available.join(', ')}`);
    }
  }
  return requested;
}

/** The batch size of a read: the default, or a positive integer. */
function checkBatchSize(location: string, batchSize: number | undefined): number {
  const size = batchSize ?? DEFAULT_READ_BATCH_SIZE;
  if (!Number.isInteger(size) || size < 1) {
    throw new LemoptError(`${location}: the batch size must be a positive integer, got ${size}`);
  }
  return size;
}
