import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  DateMillisecond,
  Field,
  FixedSizeList,
  Int32,
  LargeUtf8,
  Struct,
  Table,
  TimestampMicrosecond,
  TimestampNanosecond,
  TimestampSecond,
  makeData,
  makeVector,
  vectorFromArray,
} from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrowSource } from '../src/data/sources/arrow.js';
import { CsvSource } from '../src/data/sources/csv.js';
import { openSource } from '../src/data/sources/open.js';
import type { Cell } from '../src/data/types.js';
import { LemoptError } from '../src/util/errors.js';
import {
  arrowBatches,
  arrowTable,
  expectedDuckRow,
  expectedRow,
  writeArrowFile,
  writeArrowStream,
  writeDuckDbArrowStream,
} from './support/arrow-fixtures.js';
import { readAll } from './support/batches.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;
let counter = 0;
const T0 = 1_704_067_200_000;
const fresh = (suffix: string) => tmp.file(`a${++counter}${suffix}`);

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-arrow-');
});
afterAll(async () => {
  await tmp.remove();
});

/** The error thrown by `run` (opening or reading), which must throw. */
async function errorOf(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function expectedColumns(rows: number, row: (i: number) => Record<string, Cell>): Record<string, Cell[]> {
  const columns: Record<string, Cell[]> = {};
  for (let i = 0; i < rows; i++) {
    for (const [name, value] of Object.entries(row(i))) (columns[name] ??= []).push(value);
  }
  return columns;
}

const ALL_TYPES = [
  { name: 'i32', type: { kind: 'int' } },
  { name: 'i64', type: { kind: 'int' } },
  { name: 'f64', type: { kind: 'float' } },
  { name: 'name', type: { kind: 'string' } },
  { name: 'flag', type: { kind: 'bool' } },
  { name: 'ts', type: { kind: 'timestamp' } },
  { name: 'day', type: { kind: 'timestamp' } },
  { name: 'nums', type: { kind: 'list', element: { kind: 'int' } } },
  { name: 'tags', type: { kind: 'list', element: { kind: 'string' } } },
  { name: 'cat', type: { kind: 'string' } },
];

describe('ArrowSource', () => {
  it('reads the IPC file format: schema, row count and values', async () => {
    const file = fresh('.arrow');
    await writeArrowFile(file, arrowTable(200));
    const source = await ArrowSource.open(file);
    expect(source.files).toEqual([file]);
    expect(await source.schema()).toEqual({ columns: ALL_TYPES, numRows: 200 });
    const { columns, firstBatch } = await readAll(source);
    expect(columns).toEqual(expectedColumns(200, expectedRow));
    expect(firstBatch.i32).toBeInstanceOf(Int32Array);
    expect(firstBatch.i64).toBeInstanceOf(Float64Array);
    expect(firstBatch.ts).toBeInstanceOf(Float64Array);
    expect(Array.isArray(firstBatch.f64)).toBe(true); // it has nulls
  });

  it('reads the IPC stream format, whatever the extension', async () => {
    for (const suffix of ['.arrows', '.arrow']) {
      const file = fresh(suffix);
      await writeArrowStream(file, arrowTable(150));
      const source = await ArrowSource.open(file);
      expect(await source.schema()).toEqual({ columns: ALL_TYPES });
      expect((await readAll(source)).columns).toEqual(expectedColumns(150, expectedRow));
    }
  });

  it.each(['file', 'stream'] as const)(
    'reads several batches and re-slices them (%s format)',
    async (format) => {
      const file = fresh(format === 'file' ? '.arrow' : '.arrows');
      const sizes = [100, 37, 250];
      await (format === 'file' ? writeArrowFile : writeArrowStream)(file, arrowBatches(sizes));
      const source = await ArrowSource.open(file);
      const whole = await readAll(source);
      expect(whole.sizes).toEqual(sizes);
      const sliced = await readAll(source, { batchSize: 64 });
      expect(sliced.sizes).toEqual([64, 36, 37, 64, 64, 64, 58]);
      expect(sliced.columns).toEqual(expectedColumns(387, expectedRow));
    },
  );

  it('projects columns', async () => {
    const file = fresh('.arrow');
    await writeArrowFile(file, arrowBatches([10, 10]));
    const source = await ArrowSource.open(file);
    const { columns } = await readAll(source, { columns: ['cat', 'i32', 'tags'] });
    expect(Object.keys(columns)).toEqual(['cat', 'i32', 'tags']);
    const expected = expectedColumns(20, expectedRow);
    expect(columns).toEqual({ cat: expected.cat, i32: expected.i32, tags: expected.tags });
  });

  it('names the file and lists the columns for an unknown column', async () => {
    const file = fresh('.arrow');
    await writeArrowFile(
      file,
      new Table({ a: makeVector(Int32Array.of(1)), b: makeVector(Int32Array.of(2)) }),
    );
    const source = await ArrowSource.open(file);
    const error = await errorOf(() => readAll(source, { columns: ['foo'] }));
    expect(error).toBeInstanceOf(LemoptError);
    expect(error.message).toBe(`${file}: no column 'foo'; columns are: a, b`);
  });

  it('maps other numeric, large string and unknown types', async () => {
    const file = fresh('.arrow');
    const table = new Table({
      i8: makeVector(Int8Array.of(-1, 2, 3)),
      u32: makeVector(Uint32Array.of(1, 2, 4_000_000_000)),
      f32: makeVector(Float32Array.of(0.5, 1.5, 2.5)),
      big: vectorFromArray(['x', 'é', null], new LargeUtf8()),
      point: vectorFromArray([{ x: 1 }, { x: 2 }, null], new Struct([new Field('x', new Int32(), true)])),
      pair: vectorFromArray(
        [[1, 2], null, [5, 6]],
        new FixedSizeList(2, new Field('item', new Int32(), true)),
      ),
      seconds: vectorFromArray([T0, T0 + 1000, null], new TimestampSecond()),
      // Exact int64 values: apache-arrow's builder converts milliseconds through floats.
      micros: makeVector(
        makeData({
          type: new TimestampMicrosecond(),
          data: BigInt64Array.of(0n, 1n, 2n).map((k) => BigInt(T0) * 1000n + k * 1000n + 500n),
        }),
      ),
      nanos: makeVector(
        makeData({
          type: new TimestampNanosecond(),
          data: BigInt64Array.of(0n, 1n, 2n).map((k) => BigInt(T0) * 1_000_000n + k * 1_000_000n),
        }),
      ),
      date64: vectorFromArray([T0, T0 + 86_400_000, T0], new DateMillisecond()),
    });
    await writeArrowFile(file, table);
    const source = await ArrowSource.open(file);
    const types = Object.fromEntries(
      (await source.schema()).columns.map((column) => [column.name, column.type]),
    );
    expect(types.i8).toEqual({ kind: 'int' });
    expect(types.u32).toEqual({ kind: 'int' });
    expect(types.f32).toEqual({ kind: 'float' });
    expect(types.big).toEqual({ kind: 'string' });
    expect(types.point.kind).toBe('unknown');
    const { columns, firstBatch } = await readAll(source);
    expect(firstBatch.u32).toBeInstanceOf(Uint32Array);
    expect(columns.u32).toEqual([1, 2, 4_000_000_000]);
    expect(columns.f32).toEqual([0.5, 1.5, 2.5]);
    expect(columns.big).toEqual(['x', 'é', null]);
    expect(columns.point).toEqual(['{"x":1}', '{"x":2}', null]);
    expect(types.pair).toEqual({ kind: 'list', element: { kind: 'int' } });
    expect(columns.pair).toEqual([[1, 2], null, [5, 6]]);
    for (const name of ['seconds', 'micros', 'nanos', 'date64'])
      expect(types[name]).toEqual({ kind: 'timestamp' });
    expect(columns.seconds).toEqual([T0, T0 + 1000, null]);
    expect(columns.micros).toEqual([T0 + 0.5, T0 + 1.5, T0 + 2.5]);
    expect(columns.nanos).toEqual([T0, T0 + 1, T0 + 2]);
    expect(columns.date64).toEqual([T0, T0 + 86_400_000, T0]);
  });

  it('reads a folder of files with one schema and rejects a different one', async () => {
    const folder = tmp.file('parts');
    await mkdir(folder);
    await writeArrowFile(path.join(folder, 'part-0.arrow'), arrowBatches([30]));
    await writeArrowStream(path.join(folder, 'part-1.arrows'), arrowBatches([30]));
    const source = await ArrowSource.open(folder);
    expect(source.files.map((file) => path.basename(file))).toEqual(['part-0.arrow', 'part-1.arrows']);
    expect((await source.schema()).numRows).toBeUndefined(); // a stream has no row count
    const { columns } = await readAll(source, { columns: ['i32'] });
    expect(columns.i32).toEqual([
      ...expectedColumns(30, expectedRow).i32,
      ...expectedColumns(30, expectedRow).i32,
    ]);

    const other = path.join(folder, 'part-2.arrow');
    await writeArrowFile(
      other,
      new Table({ i32: vectorFromArray(['a'], new LargeUtf8()), i64: makeVector(BigInt64Array.of(1n)) }),
    );
    const error = await errorOf(() => ArrowSource.open(folder));
    expect(error).toBeInstanceOf(LemoptError);
    expect(error.message).toContain(`${other}: `);
    expect(error.message).toContain(path.join(folder, 'part-0.arrow'));
    expect(error.message).toMatch(/column '(f64|i32)'/);
  });

  it('rejects corrupt, truncated and empty files with the file name', async () => {
    const garbage = fresh('.arrow');
    await writeFile(garbage, Buffer.from('this is not arrow at all, just some text\n'.repeat(20)));
    const garbageError = await errorOf(async () => readAll(await ArrowSource.open(garbage)));
    expect(garbageError).toBeInstanceOf(LemoptError);
    expect(garbageError.message).toMatch(new RegExp(`^${escape(garbage)}: `));

    const good = fresh('.arrow');
    await writeArrowFile(good, arrowTable(500));
    const bytes = await readFile(good);
    const truncatedFile = fresh('.arrow');
    await writeFile(truncatedFile, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const fileError = await errorOf(async () => readAll(await ArrowSource.open(truncatedFile)));
    expect(fileError).toBeInstanceOf(LemoptError);
    expect(fileError.message).toMatch(new RegExp(`^${escape(truncatedFile)}: `));

    const stream = fresh('.arrows');
    await writeArrowStream(stream, arrowBatches([200, 200, 200]));
    const streamBytes = await readFile(stream);
    const truncatedStream = fresh('.arrows');
    await writeFile(truncatedStream, streamBytes.subarray(0, Math.floor(streamBytes.length * 0.6)));
    const streamError = await errorOf(async () => readAll(await ArrowSource.open(truncatedStream)));
    expect(streamError).toBeInstanceOf(LemoptError);
    expect(streamError.message).toMatch(new RegExp(`^${escape(truncatedStream)}: `));

    const empty = fresh('.arrow');
    await writeFile(empty, '');
    expect((await errorOf(() => ArrowSource.open(empty))).message).toBe(`${empty}: the file is empty`);
  });

  it('reads an IPC stream written by an independent writer (DuckDB -> Parquet -> arrow-rs)', async () => {
    const file = fresh('.arrows');
    await writeDuckDbArrowStream(file, fresh('.parquet'), 2500, 1000);
    const source = await ArrowSource.open(file);
    const schema = await source.schema();
    expect(schema.columns.map((column) => `${column.name}:${column.type.kind}`)).toEqual([
      'id:int',
      'big:int',
      'score:float',
      'user:string',
      'flag:bool',
      'ts:timestamp',
      'nums:list',
      'tags:list',
    ]);
    const { sizes, columns } = await readAll(source, { batchSize: 500 });
    expect(Math.max(...sizes)).toBeLessThanOrEqual(500);
    expect(columns).toEqual(expectedColumns(2500, expectedDuckRow));
  });
});

describe('openSource', () => {
  it('picks the format from the extension', async () => {
    const arrowFile = fresh('.arrow');
    await writeArrowFile(arrowFile, arrowTable(5));
    expect(await openSource(arrowFile)).toBeInstanceOf(ArrowSource);
    const csvFile = fresh('.csv');
    await writeFile(csvFile, 'a,b\n1,2\n');
    const csv = await openSource(csvFile);
    expect(csv).toBeInstanceOf(CsvSource);
    expect((await readAll(csv)).columns).toEqual({ a: [1], b: [2] });
  });

  it('opens Parquet files with ParquetSource', async () => {
    const parquet = fresh('.parquet');
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    await connection.run(`COPY (SELECT range::INTEGER AS a FROM range(3)) TO '${parquet}' (FORMAT parquet)`);
    connection.closeSync();
    instance.closeSync();
    const source = await openSource(parquet);
    expect(source.constructor.name).toBe('ParquetSource');
    expect((await readAll(source)).columns.a).toEqual([0, 1, 2]);
  });

  it('uses an explicit format over the extension, with CSV options', async () => {
    const dat = fresh('.dat');
    await writeFile(dat, '1::Toy Story::NA\n2::Heat::x\n');
    const error = await errorOf(() => openSource(dat));
    expect(error.message).toMatch(/cannot tell the file format/);
    const source = await openSource(dat, { format: 'csv', csv: { header: false, nullValues: [] } });
    expect((await readAll(source)).columns).toEqual({
      column_1: [1, 2],
      column_2: ['Toy Story', 'Heat'],
      column_3: ['NA', 'x'],
    });
    const stream = fresh('.bin');
    await writeArrowStream(stream, arrowTable(3));
    expect((await readAll(await openSource(stream, { format: 'arrow' }))).sizes).toEqual([3]);
  });

  it('rejects a folder of several formats, a missing path and an empty file', async () => {
    const folder = tmp.file('mixed');
    await mkdir(folder);
    await writeFile(path.join(folder, 'a.csv'), 'a\n1\n');
    await writeArrowFile(path.join(folder, 'b.arrow'), arrowTable(2));
    const mixed = await errorOf(() => openSource(folder));
    expect(mixed).toBeInstanceOf(LemoptError);
    expect(mixed.message).toBe(`${folder}: files of several formats (csv, arrow); point at one kind`);
    // With a format the folder's other files are ignored.
    expect((await readAll(await openSource(folder, { format: 'csv' }))).columns).toEqual({ a: [1] });

    const missing = tmp.file('nope.parquet');
    const missingError = await errorOf(() => openSource(missing));
    expect(missingError).toBeInstanceOf(LemoptError);
    expect(missingError.message).toBe(`${missing}: no such file or folder`);

    const empty = fresh('.csv');
    await writeFile(empty, '');
    expect((await errorOf(() => openSource(empty))).message).toBe(`${empty}: the file is empty`);
  });
});
