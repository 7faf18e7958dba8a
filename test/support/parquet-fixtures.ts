/**
 * Parquet fixtures written by independent writers, so lemopt's reader is tested against
 * files it did not produce: DuckDB (`COPY ... TO ... (FORMAT parquet, ...)`) for almost
 * everything, and arrow-rs (through parquet-wasm) for DATA_PAGE_V2 pages, which DuckDB
 * does not write (its `PARQUET_VERSION v2` switches to the v2 encodings, DELTA_* and
 * friends, but keeps v1 page headers).
 *
 * Every value is computed from the row index, so tests can assert exact values; the
 * reference for "exact" is DuckDB's own read of the same file (readWithDuckDB).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import * as arrow from 'apache-arrow';
import * as parquetWasm from 'parquet-wasm';

/** Rows in each single-file fixture (a few thousand, spanning several data pages). */
export const FIXTURE_ROWS = 3000;

/**
 * The main fixture table: every type lemopt reads, with nulls, written from `range(n)`.
 * `base` shifts the row index so part files hold different rows.
 */
export function allTypesQuery(rows: number, base = 0): string {
  return `SELECT
    i::BIGINT AS id,
    CASE WHEN i % 11 = 3 THEN NULL ELSE (i * 7 - 5000)::INTEGER END AS i32,
    (i * 1000003)::BIGINT AS i64,
    CASE WHEN i % 13 = 5 THEN NULL ELSE (i * 0.25 - 100)::DOUBLE END AS f64,
    CASE WHEN i % 17 = 2 THEN NULL ELSE i % 3 = 0 END AS flag,
    CASE WHEN i % 19 = 4 THEN NULL ELSE epoch_ms(1704067200000 + i * 1234567) END AS ts,
    CASE WHEN i % 9 = 4 THEN NULL ELSE 'c' || (i % 12)::VARCHAR END AS cat,
    'user-' || ((i * 7919) % 100003)::VARCHAR AS str,
    CASE i % 6
      WHEN 0 THEN NULL
      WHEN 1 THEN []::INTEGER[]
      WHEN 2 THEN [i::INTEGER]
      WHEN 3 THEN [i::INTEGER, NULL, (i + 1)::INTEGER]
      ELSE [(i % 5)::INTEGER, (i % 7)::INTEGER]
    END AS nums,
    CASE i % 5
      WHEN 0 THEN NULL
      WHEN 1 THEN []::VARCHAR[]
      ELSE ['t' || (i % 4)::VARCHAR, 'g' || (i % 9)::VARCHAR]
    END AS tags
  FROM (SELECT range + ${base} AS i FROM range(${rows}))`;
}

/**
 * Categorical columns as a recommender dataset has them: `columns` low-cardinality
 * string columns (dictionary-encoded by DuckDB) alternating with low-cardinality
 * integer columns. Used by the dictionary fixture and by the reader benchmark.
 */
export function categoricalQuery(rows: number, columns = 10): string {
  const exprs: string[] = [];
  for (let k = 0; k < columns; k++) {
    const cardinality = 10 + k * 97;
    const mixed = `((i * ${2 * k + 3} + (i // 7) * ${k + 1}) % ${cardinality})`;
    exprs.push(k % 2 === 0 ? `'v${k}_' || ${mixed}::VARCHAR AS c${k}` : `${mixed}::INTEGER AS c${k}`);
  }
  return `SELECT ${exprs.join(', ')} FROM (SELECT range AS i FROM range(${rows}))`;
}

function quote(file: string): string {
  return `'${file.replaceAll("'", "''")}'`;
}

async function withDuckDB<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  try {
    const connection = await instance.connect();
    try {
      return await fn(connection);
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** Writes `query` to `file` with DuckDB; `options` are COPY options after FORMAT parquet. */
export async function copyToParquet(
  query: string,
  file: string,
  options = 'COMPRESSION snappy',
): Promise<void> {
  await withDuckDB(async (connection) => {
    await connection.run(`COPY (${query}) TO ${quote(file)} (FORMAT parquet, ${options})`);
  });
}

/** Writes the categorical table (see categoricalQuery) with snappy, for the benchmark. */
export async function writeCategoricalParquet(file: string, rows: number, columns = 10): Promise<void> {
  await copyToParquet(categoricalQuery(rows, columns), file, 'COMPRESSION snappy');
}

/** Columns the arrow-rs fixtures declare non-nullable, so they are REQUIRED in the file. */
const REQUIRED_COLUMNS = new Set(['id', 'i64', 'str']);

/**
 * Writes the all-types table with arrow-rs (parquet-wasm). Writer version 2 makes every
 * data page a DATA_PAGE_V2; version 1 with dictionaries off gives PLAIN v1 pages. id, i64
 * and str are REQUIRED columns (no definition levels), which DuckDB never writes. The
 * values come from DuckDB running allTypesQuery.
 */
async function writeWithArrowRs(file: string, rows: number, version: 1 | 2): Promise<void> {
  const columns = await withDuckDB(async (connection) => {
    const reader = await connection.runAndReadAll(allTypesQuery(rows));
    return reader.getColumnsObjectJS();
  });
  const int32 = new arrow.Int32();
  const utf8 = new arrow.Utf8();
  const loose = new arrow.Table({
    id: arrow.vectorFromArray(columns.id as bigint[], new arrow.Int64()),
    i32: arrow.vectorFromArray(columns.i32 as (number | null)[], int32),
    i64: arrow.vectorFromArray(columns.i64 as bigint[], new arrow.Int64()),
    f64: arrow.vectorFromArray(columns.f64 as (number | null)[], new arrow.Float64()),
    flag: arrow.vectorFromArray(columns.flag as (boolean | null)[], new arrow.Bool()),
    ts: arrow.vectorFromArray(columns.ts as (Date | null)[], new arrow.TimestampMillisecond()),
    cat: arrow.vectorFromArray(columns.cat as (string | null)[], utf8),
    str: arrow.vectorFromArray(columns.str as string[], utf8),
    nums: arrow.vectorFromArray(columns.nums, new arrow.List(new arrow.Field('item', int32, true))),
    tags: arrow.vectorFromArray(columns.tags, new arrow.List(new arrow.Field('item', utf8, true))),
  });
  const schema = new arrow.Schema(
    loose.schema.fields.map((field) =>
      REQUIRED_COLUMNS.has(field.name) ? field.clone({ nullable: false }) : field,
    ),
  );
  const table = new arrow.Table(
    schema,
    loose.batches.map((batch) => new arrow.RecordBatch(schema, batch.data)),
  );
  const wasmTable = parquetWasm.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  const builder = new parquetWasm.WriterPropertiesBuilder().setDataPageSizeLimit(8 * 1024);
  const properties =
    version === 2
      ? builder.setWriterVersion(parquetWasm.WriterVersion.V2).setCompression(parquetWasm.Compression.SNAPPY)
      : builder
          .setWriterVersion(parquetWasm.WriterVersion.V1)
          .setCompression(parquetWasm.Compression.ZSTD)
          .setDictionaryEnabled(false);
  await writeFile(file, parquetWasm.writeParquet(wasmTable, properties.build()));
}

/**
 * Writes the fixtures into `dir` and returns their paths by name:
 * - snappy, zstd, gzip, uncompressed: allTypesQuery with that codec
 * - dictionary: 10 categorical columns (strings dictionary-encoded)
 * - v2encodings: DuckDB PARQUET_VERSION v2 (DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, ...)
 * - pagev2: DATA_PAGE_V2 pages (arrow-rs via parquet-wasm), some columns REQUIRED
 * - arrowv1: v1 pages, PLAIN encoding, zstd (arrow-rs via parquet-wasm), some columns REQUIRED
 * - nulls: mostly-null columns and an all-null column
 * - rowgroups: 10 000 rows in row groups of 2048 rows
 * - wideint: int64 values inside and outside the safe-integer range
 * - empty: a 0-row file with the all-types schema
 * - parts: a folder of 3 part files (plus a _SUCCESS marker), 1000 rows each, ids 0..2999
 * - mismatch: a folder of 2 files whose column `x` has different types
 */
export async function writeParquetFixtures(dir: string): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true });
  const out: Record<string, string> = {};
  const file = (name: string) => (out[name] = path.join(dir, `${name}.parquet`));

  await withDuckDB(async (connection) => {
    const copy = (query: string, target: string, options: string) =>
      connection.run(`COPY (${query}) TO ${quote(target)} (FORMAT parquet, ${options})`);
    const all = allTypesQuery(FIXTURE_ROWS);
    for (const codec of ['snappy', 'zstd', 'gzip', 'uncompressed']) {
      await copy(all, file(codec), `COMPRESSION ${codec}`);
    }
    await copy(categoricalQuery(5000), file('dictionary'), 'COMPRESSION snappy');
    await copy(all, file('v2encodings'), 'COMPRESSION zstd, PARQUET_VERSION v2');
    await copy(
      `SELECT
         CASE WHEN i % 2 = 0 THEN NULL ELSE i::INTEGER END AS half_int,
         CASE WHEN i % 3 <> 0 THEN NULL ELSE 's' || i::VARCHAR END AS sparse_str,
         CASE WHEN i % 4 <> 1 THEN NULL ELSE i / 8 END::DOUBLE AS sparse_float,
         NULL::INTEGER AS all_null,
         i::INTEGER AS dense
       FROM (SELECT range AS i FROM range(${FIXTURE_ROWS}))`,
      file('nulls'),
      'COMPRESSION snappy',
    );
    await copy(allTypesQuery(10_000), file('rowgroups'), 'COMPRESSION snappy, ROW_GROUP_SIZE 2048');
    await copy(
      `SELECT i::BIGINT * 1000 AS safe,
              9007199254740000::BIGINT + i::BIGINT * 7 AS wide,
              -9007199254740991::BIGINT - i::BIGINT AS negative
       FROM (SELECT range AS i FROM range(1000))`,
      file('wideint'),
      'COMPRESSION snappy',
    );
    await copy(`${all} WHERE false`, file('empty'), 'COMPRESSION snappy');

    const parts = path.join(dir, 'parts');
    await mkdir(parts, { recursive: true });
    for (let p = 0; p < 3; p++) {
      await copy(allTypesQuery(1000, p * 1000), path.join(parts, `part-${p}.parquet`), 'COMPRESSION snappy');
    }
    await writeFile(path.join(parts, '_SUCCESS'), '');
    out.parts = parts;

    const mismatch = path.join(dir, 'mismatch');
    await mkdir(mismatch, { recursive: true });
    await copy(
      'SELECT 1::INTEGER AS x, 2::INTEGER AS y',
      path.join(mismatch, 'a.parquet'),
      'COMPRESSION snappy',
    );
    await copy("SELECT 'one' AS x, 2::INTEGER AS y", path.join(mismatch, 'b.parquet'), 'COMPRESSION snappy');
    out.mismatch = mismatch;
  });

  await writeWithArrowRs(file('pagev2'), FIXTURE_ROWS, 2);
  await writeWithArrowRs(file('arrowv1'), FIXTURE_ROWS, 1);
  return out;
}

/** Fixtures holding one table each (every key except the mismatch folder). */
export const READABLE_FIXTURES = [
  'snappy',
  'zstd',
  'gzip',
  'uncompressed',
  'dictionary',
  'v2encodings',
  'pagev2',
  'arrowv1',
  'nulls',
  'rowgroups',
  'wideint',
  'empty',
  'parts',
] as const;

/** A column-oriented table as plain JS values, normalised by normalizeCell. */
export interface PlainTable {
  readonly names: string[];
  readonly columns: Record<string, unknown[]>;
  readonly numRows: number;
}

/**
 * lemopt's value conventions, applied to every reader's output before comparing:
 * integers within the safe range are numbers (bigint otherwise), timestamps are epoch
 * milliseconds, nulls are null (undefined too), lists are plain arrays, typed arrays are
 * unwrapped.
 */
export function normalizeCell(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }
  if (value instanceof Date) return value.getTime();
  if (Array.isArray(value)) return value.map(normalizeCell);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<unknown>, normalizeCell);
  }
  return value;
}

/**
 * DuckDB's own read of a file, folder (its *.parquet files, sorted, as lemopt reads
 * them) or glob: the reference every reader is compared against.
 */
export async function readWithDuckDB(location: string, columns?: readonly string[]): Promise<PlainTable> {
  const source =
    location.endsWith('.parquet') || /[*?[{]/.test(location) ? location : `${location}/*.parquet`;
  const select = columns ? columns.map((c) => `"${c.replaceAll('"', '""')}"`).join(', ') : '*';
  return withDuckDB(async (connection) => {
    const reader = await connection.runAndReadAll(`SELECT ${select} FROM read_parquet(${quote(source)})`);
    const names = reader.columnNames();
    const raw = reader.getColumnsJS();
    const table: Record<string, unknown[]> = {};
    names.forEach((name, i) => (table[name] = (raw[i] ?? []).map(normalizeCell)));
    return { names, columns: table, numRows: reader.currentRowCount };
  });
}
