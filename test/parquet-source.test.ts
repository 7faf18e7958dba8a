import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parquetHeader } from 'hyparquet/src/column.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParquetSource } from '../src/data/sources/parquet.js';
import type { Cell, ReadOptions, SourceSchema } from '../src/data/types.js';
import { typeToString } from '../src/data/types.js';
import { LemoptError } from '../src/util/errors.js';
import {
  FIXTURE_ROWS,
  READABLE_FIXTURES,
  copyToParquet,
  normalizeCell,
  readWithDuckDB,
  writeParquetFixtures,
  type PlainTable,
} from './support/parquet-fixtures.js';

let dir: string;
let fixtures: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lemopt-parquet-'));
  fixtures = await writeParquetFixtures(path.join(dir, 'fixtures'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Read {
  readonly table: PlainTable;
  readonly raw: Record<string, Cell[]>;
  readonly batchRows: number[];
}

async function readSource(source: ParquetSource, options?: ReadOptions): Promise<Read> {
  const raw: Record<string, Cell[]> = {};
  const columns: Record<string, unknown[]> = {};
  const batchRows: number[] = [];
  let names: string[] = [];
  for await (const batch of source.batches(options)) {
    if (batchRows.length === 0) names = [...batch.columns.keys()];
    expect([...batch.columns.keys()]).toEqual(names);
    for (const [name, values] of batch.columns) {
      expect(values.length, `column ${name} of a batch of ${batch.numRows} rows`).toBe(batch.numRows);
      const rawOut = (raw[name] ??= []);
      const out = (columns[name] ??= []);
      for (let i = 0; i < values.length; i++) {
        rawOut.push(values[i]);
        out.push(normalizeCell(values[i]));
      }
    }
    batchRows.push(batch.numRows);
  }
  const numRows = batchRows.reduce((a, b) => a + b, 0);
  return { table: { names, columns, numRows }, raw, batchRows };
}

function expectSameTable(actual: PlainTable, expected: PlainTable): void {
  expect(actual.numRows).toBe(expected.numRows);
  if (expected.numRows > 0) expect(actual.names).toEqual(expected.names);
  for (const name of expected.names) {
    expect(actual.columns[name] ?? [], `column ${name}`).toEqual(expected.columns[name]);
  }
}

async function drain(source: ParquetSource, options?: ReadOptions): Promise<number> {
  let rows = 0;
  for await (const batch of source.batches(options)) rows += batch.numRows;
  return rows;
}

function schemaTypes(schema: SourceSchema): Record<string, string> {
  return Object.fromEntries(schema.columns.map((column) => [column.name, typeToString(column.type)]));
}

const ALL_TYPES = {
  id: 'int',
  i32: 'int',
  i64: 'int',
  f64: 'float',
  flag: 'bool',
  ts: 'timestamp',
  cat: 'string',
  str: 'string',
  nums: 'list<int>',
  tags: 'list<string>',
};

describe('fixtures', () => {
  it('hold what they claim: codecs, dictionary pages, v2 pages, row groups', async () => {
    const codecs = async (name: string) => {
      const source = await ParquetSource.open(fixtures[name]);
      const metadata = source.metadata(source.files[0]);
      return new Set(metadata?.row_groups.flatMap((group) => group.columns.map((c) => c.meta_data?.codec)));
    };
    expect(await codecs('snappy')).toEqual(new Set(['SNAPPY']));
    expect(await codecs('zstd')).toEqual(new Set(['ZSTD']));
    expect(await codecs('gzip')).toEqual(new Set(['GZIP']));
    expect(await codecs('uncompressed')).toEqual(new Set(['UNCOMPRESSED']));

    const dictionary = await ParquetSource.open(fixtures.dictionary);
    const chunks = dictionary.metadata(dictionary.files[0])?.row_groups[0].columns ?? [];
    expect(
      chunks.filter((c) => c.meta_data?.dictionary_page_offset !== undefined).length,
    ).toBeGreaterThanOrEqual(5);

    const v2 = await ParquetSource.open(fixtures.v2encodings);
    const encodings = new Set(
      v2
        .metadata(v2.files[0])
        ?.row_groups.flatMap((g) => g.columns.flatMap((c) => c.meta_data?.encodings ?? [])),
    );
    expect(encodings.has('DELTA_BINARY_PACKED')).toBe(true);

    const pageTypes = async (name: string) => {
      const source = await ParquetSource.open(fixtures[name]);
      const bytes = await readFile(fixtures[name]);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const types = new Set<string>();
      for (const chunk of source.metadata(source.files[0])?.row_groups[0].columns ?? []) {
        const meta = chunk.meta_data;
        if (!meta) continue;
        const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
        const reader = { view, offset: start };
        while (reader.offset < start + Number(meta.total_compressed_size)) {
          const header = parquetHeader(reader);
          types.add(header.type);
          reader.offset += header.compressed_page_size;
        }
      }
      return types;
    };
    expect(await pageTypes('pagev2')).toEqual(new Set(['DICTIONARY_PAGE', 'DATA_PAGE_V2']));
    expect(await pageTypes('arrowv1')).toEqual(new Set(['DATA_PAGE']));
    expect(await pageTypes('snappy')).not.toContain('DATA_PAGE_V2');
    for (const name of ['pagev2', 'arrowv1']) {
      const source = await ParquetSource.open(fixtures[name]);
      const id = source.metadata(source.files[0])?.schema.find((element) => element.name === 'id');
      expect(id?.repetition_type, name).toBe('REQUIRED');
    }

    const groups = await ParquetSource.open(fixtures.rowgroups);
    expect(groups.metadata(groups.files[0])?.row_groups.length).toBeGreaterThanOrEqual(4);
  });
});

describe('ParquetSource', () => {
  it.each(READABLE_FIXTURES)('reads the %s fixture with the values DuckDB reads', async (name) => {
    const expected = await readWithDuckDB(fixtures[name]);
    const source = await ParquetSource.open(fixtures[name]);
    const { table } = await readSource(source, { batchSize: 1000 });
    expectSameTable(table, expected);
  });

  it('maps Parquet types to logical types', async () => {
    const source = await ParquetSource.open(fixtures.snappy);
    const schema = await source.schema();
    expect(schemaTypes(schema)).toEqual(ALL_TYPES);
    expect(schema.numRows).toBe(FIXTURE_ROWS);
    expect(schemaTypes(await (await ParquetSource.open(fixtures.pagev2)).schema())).toEqual(ALL_TYPES);
    expect(schemaTypes(await (await ParquetSource.open(fixtures.nulls)).schema())).toEqual({
      half_int: 'int',
      sparse_str: 'string',
      sparse_float: 'float',
      all_null: 'int',
      dense: 'int',
    });
  });

  it('maps nested, date, decimal and unsigned types, and reads lists of lists', async () => {
    const file = path.join(dir, 'nested.parquet');
    await copyToParquet(
      `SELECT i::INTEGER AS id,
         CASE WHEN i % 4 = 0 THEN NULL ELSE [[i, i + 1], [], NULL, [NULL, i]] END AS ll,
         {'a': i, 'b': 'x' || i::VARCHAR} AS st,
         MAP {'k': i} AS mp,
         DATE '2024-01-02' + i::INTEGER AS d,
         (i * 12.34)::DECIMAL(10, 2) AS dec,
         (i % 200)::UTINYINT AS u8,
         (i * 1.5)::FLOAT AS f32
       FROM (SELECT range AS i FROM range(2500))`,
      file,
    );
    const source = await ParquetSource.open(file);
    expect(schemaTypes(await source.schema())).toEqual({
      id: 'int',
      ll: 'list<list<int>>',
      st: 'unknown(struct)',
      mp: 'unknown(map)',
      d: 'timestamp',
      dec: 'float',
      u8: 'int',
      f32: 'float',
    });
    const expected = await readWithDuckDB(file, ['id', 'll', 'd', 'dec', 'u8', 'f32']);
    const { table, raw } = await readSource(source, { batchSize: 700 });
    for (const name of expected.names) expect(table.columns[name], name).toEqual(expected.columns[name]);
    expect(raw.st[3]).toBe('{"a":3,"b":"x3"}');
  });

  it('hands over numbers, epoch milliseconds, null and bigint only beyond 2^53', async () => {
    const { raw } = await readSource(await ParquetSource.open(fixtures.snappy));
    for (const name of ['id', 'i32', 'i64', 'f64', 'ts']) {
      expect(
        raw[name].every((v) => v === null || typeof v === 'number'),
        name,
      ).toBe(true);
    }
    expect(raw.ts[1]).toBe(Date.UTC(2024, 0, 1) + 1234567);
    expect(raw.i32[3]).toBeNull();
    expect(Object.values(raw).every((values) => values.every((v) => v !== undefined))).toBe(true);

    const wide = await readSource(await ParquetSource.open(fixtures.wideint));
    expect(wide.raw.safe.every((v) => typeof v === 'number')).toBe(true);
    expect(wide.raw.wide[0]).toBe(9007199254740000);
    expect(wide.raw.wide[999]).toBe(9007199254740000n + 999n * 7n);
    expect(wide.raw.negative[0]).toBe(-9007199254740991);
    expect(wide.raw.negative[1]).toBe(-9007199254740992n);
  });

  it('returns typed arrays for numeric columns without nulls', async () => {
    const source = await ParquetSource.open(fixtures.dictionary);
    for await (const batch of source.batches({ columns: ['c1', 'c0'] })) {
      expect(batch.columns.get('c1')).toBeInstanceOf(Int32Array);
      expect(typeof batch.columns.get('c0')?.[0]).toBe('string');
    }
    const ids = await ParquetSource.open(fixtures.snappy);
    for await (const batch of ids.batches({ columns: ['id'] }))
      expect(batch.columns.get('id')).toBeInstanceOf(Float64Array);
  });

  it('projects the requested columns, in the requested order', async () => {
    const source = await ParquetSource.open(fixtures.rowgroups);
    const { table } = await readSource(source, { columns: ['tags', 'id', 'cat'], batchSize: 1500 });
    expect(table.names).toEqual(['tags', 'id', 'cat']);
    expectSameTable(table, await readWithDuckDB(fixtures.rowgroups, ['tags', 'id', 'cat']));
  });

  it('reads a folder of part files and a glob, skipping marker files', async () => {
    const folder = await ParquetSource.open(fixtures.parts);
    expect(folder.files.map((file) => path.basename(file))).toEqual([
      'part-0.parquet',
      'part-1.parquet',
      'part-2.parquet',
    ]);
    expect((await folder.schema()).numRows).toBe(3000);
    const { table } = await readSource(folder, { batchSize: 400 });
    expect(table.columns.id).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expectSameTable(table, await readWithDuckDB(fixtures.parts));

    const glob = await ParquetSource.open(path.join(fixtures.parts, 'part-[02].parquet'));
    expect(glob.files.length).toBe(2);
    const globbed = await readSource(glob);
    expect(globbed.table.columns.id).toEqual([
      ...Array.from({ length: 1000 }, (_, i) => i),
      ...Array.from({ length: 1000 }, (_, i) => 2000 + i),
    ]);
  });

  it('never hands over a batch larger than batchSize', async () => {
    const source = await ParquetSource.open(fixtures.rowgroups);
    for (const batchSize of [1, 333, 1000, 2048, 5000]) {
      const columns = batchSize === 1 ? ['id', 'nums'] : undefined;
      const { batchRows, table } = await readSource(source, { batchSize, columns });
      expect(Math.max(...batchRows)).toBeLessThanOrEqual(batchSize);
      expect(table.numRows).toBe(10_000);
      expect(table.columns.id).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    }
    await expect(drain(source, { batchSize: 0 })).rejects.toThrow(LemoptError);
  });

  it('names the file and lists the columns for an unknown column', async () => {
    const source = await ParquetSource.open(fixtures.snappy);
    await expect(drain(source, { columns: ['id', 'foo'] })).rejects.toThrow(
      new LemoptError(
        `${source.files[0]}: no column 'foo'; columns are: ${Object.keys(ALL_TYPES).join(', ')}`,
      ),
    );
  });

  it('rejects files whose schemas differ, naming both files and the column', async () => {
    const error = await ParquetSource.open(fixtures.mismatch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LemoptError);
    const message = (error as Error).message;
    expect(message).toContain(path.join(fixtures.mismatch, 'a.parquet'));
    expect(message).toContain(path.join(fixtures.mismatch, 'b.parquet'));
    expect(message).toContain("column 'x'");
  });

  it('reads an empty file as no batch, with its schema', async () => {
    const source = await ParquetSource.open(fixtures.empty);
    const schema = await source.schema();
    expect(schema.numRows).toBe(0);
    expect(schemaTypes(schema)).toEqual(ALL_TYPES);
    const { batchRows } = await readSource(source);
    expect(batchRows).toEqual([]);
  });

  it('reports a truncated file as not readable, naming it', async () => {
    const bytes = await readFile(fixtures.snappy);
    const file = path.join(dir, 'truncated.parquet');
    await writeFile(file, bytes.subarray(0, bytes.length - 100));
    const error = await ParquetSource.open(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LemoptError);
    expect((error as Error).message).toMatch(new RegExp(`^${escape(file)}: not a readable Parquet file \\(`));
  });

  it('reports garbage as not readable, naming the file', async () => {
    const file = path.join(dir, 'garbage.parquet');
    await writeFile(file, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919 + 13) % 251)));
    await expect(ParquetSource.open(file)).rejects.toThrow(
      new RegExp(`^${escape(file)}: not a readable Parquet file \\(`),
    );
  });

  it('reports garbage in the data pages as not readable once it reaches them', async () => {
    for (const name of ['snappy', 'uncompressed', 'pagev2']) {
      const bytes = Buffer.from(await readFile(fixtures[name]));
      const dataEnd = bytes.length - 8 - bytes.readUInt32LE(bytes.length - 8);
      let seed = 7;
      for (let i = 4; i < dataEnd; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        bytes[i] = seed >>> 24;
      }
      const file = path.join(dir, `corrupt-${name}.parquet`);
      await writeFile(file, bytes);
      const source = await ParquetSource.open(file);
      const error = await drain(source).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(LemoptError);
      expect((error as Error).message).toMatch(
        new RegExp(`^${escape(file)}: not a readable Parquet file \\(`),
      );
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
