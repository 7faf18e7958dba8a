/**
 * Arrow IPC fixtures from two writers: apache-arrow's own (file and stream format, any
 * batch layout) and, independently, DuckDB -> Parquet -> arrow-rs (parquet-wasm's
 * `intoIPCStream`). DuckDB itself cannot write Arrow IPC here: its `arrow` extension is
 * downloaded on demand and there is no network.
 *
 * Every value is a function of the row index, so tests can compare exactly.
 */
import { writeFile } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  Bool,
  DateDay,
  Dictionary,
  Field,
  Float64,
  Int32,
  List,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Table,
  TimestampMillisecond,
  Utf8,
  makeVector,
  vectorFromArray,
} from 'apache-arrow';
import * as parquetWasm from 'parquet-wasm';
import type { Cell } from '../../src/data/types.js';

const DAY = 86_400_000;
const T0 = 1_704_067_200_000; // 2024-01-01T00:00:00Z

/** The expected row `i` of the apache-arrow fixture, as ArrowSource returns it. */
export function expectedRow(i: number): Record<string, Cell> {
  return {
    i32: i * 7 - 5,
    i64: i * 1_000_003,
    f64: i % 5 === 0 ? null : i * 0.5,
    name: i % 6 === 1 ? null : `név-${i % 13}`,
    flag: i % 4 === 0 ? null : i % 2 === 0,
    ts: T0 + i * 60_000,
    day: Math.floor(T0 / DAY) * DAY + (i % 30) * DAY,
    nums: i % 3 === 0 ? null : i % 3 === 1 ? [] : [i, i + 1],
    tags: i % 7 === 0 ? null : [`t${i % 4}`, `g${i % 9}`],
    cat: i % 8 === 3 ? null : `c${i % 5}`,
  };
}

/** One Table of `rows` rows starting at row index `base`, built with apache-arrow's builders. */
export function arrowTable(rows: number, base = 0): Table {
  const index = Array.from({ length: rows }, (_, k) => base + k);
  const rowsData = index.map(expectedRow);
  const column = (name: string) => rowsData.map((row) => row[name]);
  return new Table({
    i32: makeVector(Int32Array.from(index, (i) => i * 7 - 5)),
    i64: makeVector(BigInt64Array.from(index, (i) => BigInt(i * 1_000_003))),
    f64: vectorFromArray(column('f64'), new Float64()),
    name: vectorFromArray(column('name'), new Utf8()),
    flag: vectorFromArray(column('flag'), new Bool()),
    ts: vectorFromArray(column('ts'), new TimestampMillisecond()),
    day: vectorFromArray(column('day'), new DateDay()),
    nums: vectorFromArray(column('nums'), new List(new Field('item', new Int32(), true))),
    tags: vectorFromArray(column('tags'), new List(new Field('item', new Utf8(), true))),
    cat: vectorFromArray(column('cat'), new Dictionary(new Utf8(), new Int32())),
  });
}

/**
 * A table of several record batches of the given sizes, row indices continuing across
 * them. The batches are slices of one table, so they share one dictionary (the file
 * format cannot replace a dictionary between batches).
 */
export function arrowBatches(sizes: readonly number[]): Table {
  const total = sizes.reduce((sum, size) => sum + size, 0);
  const [whole] = arrowTable(total).batches;
  let start = 0;
  return new Table(
    sizes.map((size) => {
      const batch = whole.slice(start, start + size);
      start += size;
      return batch;
    }),
  );
}

export async function writeArrowFile(file: string, table: Table): Promise<void> {
  await writeFile(file, RecordBatchFileWriter.writeAll(table).toUint8Array(true));
}

export async function writeArrowStream(file: string, table: Table): Promise<void> {
  await writeFile(file, RecordBatchStreamWriter.writeAll(table).toUint8Array(true));
}

/** The expected row `i` of the DuckDB fixture. */
export function expectedDuckRow(i: number): Record<string, Cell> {
  return {
    id: i,
    big: i * 1_000_003,
    score: i % 5 === 0 ? null : i * 0.5,
    user: `u${i % 13}`,
    flag: i % 4 === 0 ? null : i % 2 === 0,
    ts: T0 + i * 60_000,
    nums: i % 3 === 0 ? null : i % 3 === 1 ? [] : [i, i + 1],
    tags: i % 7 === 0 ? null : [`t${i % 4}`],
  };
}

/**
 * Writes `rows` rows with DuckDB to Parquet (row groups of `rowGroupSize`), converts them
 * with arrow-rs to an Arrow IPC stream and writes it to `file`.
 */
export async function writeDuckDbArrowStream(
  file: string,
  parquetFile: string,
  rows: number,
  rowGroupSize = 1000,
): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(`COPY (
      SELECT
        i::INTEGER AS id,
        (i * 1000003)::BIGINT AS big,
        CASE WHEN i % 5 = 0 THEN NULL ELSE i * 0.5 END::DOUBLE AS score,
        'u' || (i % 13)::VARCHAR AS "user",
        CASE WHEN i % 4 = 0 THEN NULL ELSE i % 2 = 0 END AS flag,
        epoch_ms(${T0} + i * 60000) AS ts,
        CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN []::INTEGER[] ELSE [i, i + 1]::INTEGER[] END AS nums,
        CASE WHEN i % 7 = 0 THEN NULL ELSE ['t' || (i % 4)::VARCHAR] END AS tags
      FROM range(${rows}) t(i) ORDER BY i
    ) TO '${parquetFile}' (FORMAT parquet, ROW_GROUP_SIZE ${rowGroupSize})`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  const { readFile } = await import('node:fs/promises');
  const table = parquetWasm.readParquet(new Uint8Array(await readFile(parquetFile)));
  await writeFile(file, table.intoIPCStream());
}
