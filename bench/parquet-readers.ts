/**
 * Parquet reader comparison: which JavaScript reader reads DuckDB's (and arrow-rs's)
 * files correctly, and how fast, column by column, on a large categorical file.
 *
 *   npm run build && npm run bench:readers [-- --rows 2000000]
 *
 * Correctness: every fixture of test/support/parquet-fixtures.ts, read by each reader,
 * compared value by value with DuckDB's own read of the same file.
 * Speed: a `--rows` x 10 categorical file (5 string + 5 int columns, snappy, DuckDB's
 * default row groups) in a temp dir, all columns read as columns. Each speed run is a
 * fresh child process that loads only that reader, so its peak RSS (getrusage maxrss) is
 * its own.
 */
import { execFile } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type * as Arrow from 'apache-arrow';
import type { PlainTable } from '../test/support/parquet-fixtures.js';

// Every library is imported where it is used, so a speed run's peak RSS holds only the
// reader it measures (plus Node itself: see the `idle` row).

const require = createRequire(import.meta.url);
const thisFile = fileURLToPath(import.meta.url);

/** A slice of rows as columns, in whatever form the reader hands them over. */
interface ColumnChunk {
  readonly numRows: number;
  readonly columns: ReadonlyMap<string, ArrayLike<unknown>>;
}

type ReadColumns = (file: string) => AsyncIterable<ColumnChunk>;

// ---------------------------------------------------------------------------------------
// The readers, each through its own most columnar API.

/** hyparquet: one parquetRead per row group, columns collected from onChunk. */
async function* hyparquetColumns(file: string): AsyncIterable<ColumnChunk> {
  const { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema } = await import('hyparquet');
  const { compressors } = await import('hyparquet-compressors');
  const buffer = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(buffer);
  const names = parquetSchema(metadata).children.map((child) => child.element.name);
  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const groupRows = Number(group.num_rows);
    const pieces = new Map<string, { start: number; data: ArrayLike<unknown> }[]>(names.map((n) => [n, []]));
    await parquetRead({
      file: buffer,
      metadata,
      compressors,
      rowStart: groupStart,
      rowEnd: groupStart + groupRows,
      onChunk: (chunk) =>
        pieces.get(chunk.columnName)?.push({ start: chunk.rowStart, data: chunk.columnData }),
    });
    const columns = new Map<string, ArrayLike<unknown>>();
    for (const [name, list] of pieces) {
      list.sort((a, b) => a.start - b.start);
      if (list.length === 1 && list[0].start === groupStart && list[0].data.length === groupRows) {
        columns.set(name, list[0].data);
      } else {
        const out = new Array<unknown>(groupRows);
        for (const { start, data } of list) {
          for (let i = 0; i < data.length; i++) {
            const row = start - groupStart + i;
            if (row >= 0 && row < groupRows) out[row] = data[i];
          }
        }
        columns.set(name, out);
      }
    }
    yield { numRows: groupRows, columns };
    groupStart += groupRows;
  }
}

/** Arrow vector -> JS values: typed arrays for null-free numbers, get() otherwise. */
function arrowValues(arrow: typeof Arrow, vector: Arrow.Vector): ArrayLike<unknown> {
  const type = vector.type as Arrow.DataType;
  if (vector.nullCount === 0 && (arrow.DataType.isInt(type) || arrow.DataType.isFloat(type))) {
    return vector.toArray() as ArrayLike<unknown>;
  }
  const out = new Array<unknown>(vector.length);
  if (arrow.DataType.isList(type)) {
    for (let i = 0; i < vector.length; i++) {
      const item = vector.get(i) as Arrow.Vector | null;
      out[i] = item === null ? null : Array.from(arrowValues(arrow, item));
    }
  } else {
    for (let i = 0; i < vector.length; i++) out[i] = vector.get(i) as unknown;
  }
  return out;
}

/** parquet-wasm (arrow-rs in wasm): one row group at a time from a file-backed Blob, via Arrow IPC. */
async function* parquetWasmColumns(file: string): AsyncIterable<ColumnChunk> {
  const arrow = await import('apache-arrow');
  const parquetWasm = await import('parquet-wasm');
  const parquetFile = await parquetWasm.ParquetFile.fromFile(await openAsBlob(file));
  const groups = parquetFile.metadata().numRowGroups();
  for (let g = 0; g < groups; g++) {
    const wasmTable = await parquetFile.read({ rowGroups: [g] });
    const table = arrow.tableFromIPC(wasmTable.intoIPCStream());
    const columns = new Map<string, ArrayLike<unknown>>();
    for (const field of table.schema.fields) {
      const vector = table.getChild(field.name);
      if (vector) columns.set(field.name, arrowValues(arrow, vector));
    }
    yield { numRows: table.numRows, columns };
  }
  parquetFile.free();
}

interface ParquetjsCursor {
  next(): Promise<Record<string, unknown> | null>;
}
interface ParquetjsReader {
  getCursor(): ParquetjsCursor;
  getSchema(): { fields: Record<string, unknown> };
  close(): Promise<void>;
}
interface Parquetjs {
  ParquetReader: { openFile(file: string): Promise<ParquetjsReader> };
}

/** parquetjs-lite's nested lists ({list: [{element}]}) and absent fields -> lemopt's shape. */
function fromParquetjs(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (
    typeof value === 'object' &&
    !(value instanceof Date) &&
    !Buffer.isBuffer(value) &&
    !Array.isArray(value)
  ) {
    const list = (value as { list?: { element?: unknown }[] }).list;
    if (list === undefined) return [];
    return list.map((item) => fromParquetjs(item.element));
  }
  return value;
}

/** parquetjs-lite: row cursor only, so rows are transposed into columns of 65 536 rows. */
async function* parquetjsColumns(file: string): AsyncIterable<ColumnChunk> {
  const parquetjs = require('parquetjs-lite') as Parquetjs;
  const reader = await parquetjs.ParquetReader.openFile(file);
  try {
    const names = Object.keys(reader.getSchema().fields);
    const cursor = reader.getCursor();
    for (;;) {
      const columns = new Map<string, unknown[]>(names.map((n) => [n, []]));
      let rows = 0;
      let row: Record<string, unknown> | null = null;
      while (rows < 65_536 && (row = await cursor.next())) {
        for (const name of names) columns.get(name)?.push(fromParquetjs(row[name]));
        rows++;
      }
      if (rows > 0) yield { numRows: rows, columns };
      if (!row) break;
    }
  } finally {
    await reader.close();
  }
}

/** lemopt's ParquetSource (the chosen reader behind lemopt's own conventions). */
function lemoptColumns(batchSize?: number): ReadColumns {
  return async function* (file: string): AsyncIterable<ColumnChunk> {
    const { ParquetSource } = await import('../src/data/sources/parquet.js');
    const source = await ParquetSource.open(file);
    yield* source.batches({ batchSize });
  };
}

/** DuckDB into JS: the query result streamed chunk by chunk, each column as JS values. */
async function* duckdbColumns(file: string): AsyncIterable<ColumnChunk> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const result = await connection.stream(`SELECT * FROM read_parquet('${file.replaceAll("'", "''")}')`);
    const names = result.columnNames();
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const columns = new Map<string, ArrayLike<unknown>>();
      names.forEach((name, i) => columns.set(name, chunk.getColumnValues(i)));
      yield { numRows: chunk.rowCount, columns };
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const READERS: Record<string, { read: ReadColumns; version: string }> = {
  hyparquet: { read: hyparquetColumns, version: packageVersion('hyparquet') },
  'parquet-wasm': { read: parquetWasmColumns, version: packageVersion('parquet-wasm') },
  'parquetjs-lite': { read: parquetjsColumns, version: packageVersion('parquetjs-lite') },
  'lemopt ParquetSource': { read: lemoptColumns(), version: `on hyparquet ${packageVersion('hyparquet')}` },
  'lemopt ParquetSource, batchSize 8192': {
    read: lemoptColumns(8192),
    version: `on hyparquet ${packageVersion('hyparquet')}`,
  },
};

function packageVersion(name: string): string {
  try {
    const file = require.resolve(`${name}/package.json`);
    return (require(file) as { version: string }).version;
  } catch {
    // packages whose exports map hides package.json: find it next to the entry point
    let dir = path.dirname(require.resolve(name));
    for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
      try {
        const pkg = require(path.join(dir, 'package.json')) as { name?: string; version: string };
        if (pkg.name === name) return pkg.version;
      } catch {
        // keep walking up
      }
    }
    return '?';
  }
}

// ---------------------------------------------------------------------------------------
// Correctness

async function readAll(read: ReadColumns, location: string): Promise<PlainTable> {
  const { resolveFiles } = await import('../src/data/sources/files.js');
  const { normalizeCell } = await import('../test/support/parquet-fixtures.js');
  const info = await stat(location);
  const files = info.isDirectory() ? resolveFiles(location, 'parquet') : Promise.resolve([location]);
  const columns: Record<string, unknown[]> = {};
  let names: string[] = [];
  let numRows = 0;
  for (const file of await files) {
    for await (const chunk of read(file)) {
      if (names.length === 0) names = [...chunk.columns.keys()];
      for (const [name, values] of chunk.columns) {
        const out = (columns[name] ??= []);
        for (let i = 0; i < chunk.numRows; i++) out.push(normalizeCell(values[i]));
      }
      numRows += chunk.numRows;
    }
  }
  return { names, columns, numRows };
}

/** undefined when equal, else the first difference. */
function difference(expected: PlainTable, actual: PlainTable): string | undefined {
  if (actual.numRows !== expected.numRows) return `${actual.numRows} rows, expected ${expected.numRows}`;
  for (const name of expected.names) {
    const want = expected.columns[name];
    const got = actual.columns[name];
    if (expected.numRows > 0 && !got) return `column ${name} missing`;
    for (let i = 0; i < expected.numRows; i++) {
      if (!isDeepStrictEqual(want[i], got[i])) {
        const show = (v: unknown) =>
          JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
        return `${name}[${i}] = ${show(got[i])}, expected ${show(want[i])}`;
      }
    }
  }
  return undefined;
}

function shortError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].slice(0, 120);
}

// ---------------------------------------------------------------------------------------
// Speed (child process)

interface Pass {
  rows: number;
  seconds: number;
  checksum: number;
  capped: boolean;
}

interface SpeedResult extends Pass {
  /** The second pass in the same process (modules loaded, JIT warm); absent when the first was stopped. */
  warmSeconds?: number;
  maxRssMB: number;
}

/** Touches every value, as a consumer encoding column by column would. */
function touch(values: ArrayLike<unknown>, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v === 'string') sum += v.length;
    else if (typeof v === 'number') sum += v;
    else if (typeof v === 'bigint') sum += Number(v);
  }
  return sum;
}

/** DuckDB's native scan of every column, summed in SQL: the ceiling for this file on this machine. */
async function duckdbAggregate(file: string): Promise<{ rows: number; checksum: number }> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const source = `read_parquet('${file.replaceAll("'", "''")}')`;
    const describe = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
    const terms = describe
      .getRowObjectsJS()
      .map((row) =>
        row.column_type === 'VARCHAR'
          ? `sum(length("${String(row.column_name)}"))`
          : `sum("${String(row.column_name)}")`,
      );
    const result = await connection.runAndReadAll(
      `SELECT count(*)::DOUBLE, (${terms.join(' + ')})::DOUBLE FROM ${source}`,
    );
    const [rows, checksum] = result.getRows()[0] as number[];
    return { rows, checksum };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function speedPass(name: string, file: string, capSeconds: number): Promise<Pass> {
  const start = performance.now();
  if (name === 'duckdb-aggregate') {
    const { rows, checksum } = await duckdbAggregate(file);
    return { rows, checksum, seconds: (performance.now() - start) / 1000, capped: false };
  }
  let rows = 0;
  let checksum = 0;
  let capped = false;
  const read = name === 'duckdb-js' ? duckdbColumns : READERS[name].read;
  for await (const chunk of read(file)) {
    for (const values of chunk.columns.values()) checksum += touch(values, chunk.numRows);
    rows += chunk.numRows;
    if ((performance.now() - start) / 1000 > capSeconds) {
      capped = true;
      break;
    }
  }
  return { rows, checksum, seconds: (performance.now() - start) / 1000, capped };
}

async function speedChild(name: string, file: string, capSeconds: number): Promise<SpeedResult> {
  if (name === 'idle') {
    return {
      rows: 0,
      seconds: 0,
      checksum: 0,
      capped: false,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
    };
  }
  const first = await speedPass(name, file, capSeconds);
  const second = first.capped ? undefined : await speedPass(name, file, capSeconds);
  return { ...first, warmSeconds: second?.seconds, maxRssMB: process.resourceUsage().maxRSS / 1024 };
}

function runChild(name: string, file: string, capSeconds: number): Promise<SpeedResult | string> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [thisFile, '--child', name, file, String(capSeconds)],
      { timeout: (capSeconds + 60) * 1000, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) return resolve(shortError(stderr || error));
        try {
          resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as SpeedResult);
        } catch {
          resolve(`bad child output: ${stdout.slice(0, 200)}`);
        }
      },
    );
  });
}

// ---------------------------------------------------------------------------------------

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    const result = await speedChild(process.argv[3], process.argv[4], Number(process.argv[5]));
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const rows = argument('--rows', 2_000_000);
  const capSeconds = argument('--cap', 30);
  const began = performance.now();
  const { READABLE_FIXTURES, readWithDuckDB, writeCategoricalParquet, writeParquetFixtures } =
    await import('../test/support/parquet-fixtures.js');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lemopt-bench-readers-'));
  try {
    console.log(
      `# Parquet readers (node ${process.version}, ${os.cpus().length} cpus, ${os.cpus()[0]?.model})`,
    );
    const fixtures = await writeParquetFixtures(path.join(dir, 'fixtures'));

    console.log('\n## Correctness (each fixture vs DuckDB read_parquet)\n');
    const truth = new Map<string, PlainTable>();
    for (const name of READABLE_FIXTURES) truth.set(name, await readWithDuckDB(fixtures[name]));
    console.log(`| reader | version | ${READABLE_FIXTURES.join(' | ')} |`);
    console.log(`|---|---|${READABLE_FIXTURES.map(() => '---').join('|')}|`);
    const failures: string[] = [];
    for (const [name, { read, version }] of Object.entries(READERS)) {
      const cells: string[] = [];
      for (const fixture of READABLE_FIXTURES) {
        let verdict: string | undefined;
        try {
          verdict = difference(truth.get(fixture) as PlainTable, await readAll(read, fixtures[fixture]));
        } catch (error) {
          verdict = `throws: ${shortError(error)}`;
        }
        cells.push(verdict === undefined ? 'ok' : 'FAIL');
        if (verdict !== undefined) failures.push(`- ${name} / ${fixture}: ${verdict}`);
      }
      console.log(`| ${name} | ${version} | ${cells.join(' | ')} |`);
    }
    if (failures.length) console.log(`\nFailures:\n${failures.join('\n')}`);

    const big = path.join(dir, 'categorical.parquet');
    const written = performance.now();
    await writeCategoricalParquet(big, rows);
    const size = (await stat(big)).size;
    console.log(
      `\n## Speed: ${rows} rows x 10 columns (5 string, 5 int; snappy; ${(size / 2 ** 20).toFixed(1)} MiB; ` +
        `written by DuckDB in ${((performance.now() - written) / 1000).toFixed(1)} s)\n`,
    );
    console.log(
      `(each reader in a fresh process that loads only it; the 1st pass includes loading modules and wasm, ` +
        `the 2nd pass is the same read again in that process; a pass longer than ${capSeconds} s is stopped ` +
        `and rated on the rows read; every value of every column is touched)\n`,
    );
    console.log(
      '| reader | rows read | 1st pass s | 1st pass rows/s | 2nd pass rows/s | peak RSS MiB (both passes) |',
    );
    console.log('|---|---|---|---|---|---|');
    const runs = ['idle', 'duckdb-aggregate', 'duckdb-js', ...Object.keys(READERS)];
    let reference: number | undefined;
    const rate = (rows: number, seconds: number | undefined) =>
      seconds ? Math.round(rows / seconds).toLocaleString('en-US') : '-';
    for (const name of runs) {
      const result = await runChild(name, big, capSeconds);
      if (typeof result === 'string') {
        console.log(`| ${name} | error: ${result} | | | | |`);
        continue;
      }
      if (name === 'duckdb-aggregate') reference = result.checksum;
      const mismatch =
        name !== 'idle' && !result.capped && reference !== undefined && result.checksum !== reference;
      const label = `${name}${result.capped ? ` (stopped after ${capSeconds} s)` : ''}${mismatch ? ` (checksum ${result.checksum} != ${reference})` : ''}`;
      console.log(
        `| ${label} | ${result.rows} | ${result.seconds.toFixed(2)} | ${rate(result.rows, result.seconds)} | ` +
          `${rate(result.rows, result.warmSeconds)} | ${result.maxRssMB.toFixed(0)} |`,
      );
    }
    console.log(`\ntotal bench time ${((performance.now() - began) / 1000).toFixed(0)} s`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
