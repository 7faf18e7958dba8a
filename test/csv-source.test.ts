import { mkdir, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsvSource, TYPE_SAMPLE_ROWS, sniffDelimiter, type CsvOptions } from '../src/data/sources/csv.js';
import { LemoptError } from '../src/util/errors.js';
import { readAll } from './support/batches.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;
let counter = 0;

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-csv-');
});
afterAll(async () => {
  await tmp.remove();
});

/** Writes `content` to a fresh file with the given name suffix and returns its path. */
async function write(suffix: string, content: string | Buffer): Promise<string> {
  const file = tmp.file(`f${++counter}${suffix}`);
  await writeFile(file, content);
  return file;
}

async function open(file: string, options?: CsvOptions): Promise<CsvSource> {
  return CsvSource.open(file, options);
}

/** The error thrown by `run` (opening or reading), which must throw. */
async function errorOf(run: Promise<unknown> | (() => Promise<unknown>)): Promise<Error> {
  try {
    await (typeof run === 'function' ? run() : run);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('CsvSource', () => {
  it('reads quoted fields with delimiters, quotes and newlines', async () => {
    const file = await write(
      '.csv',
      'id,text,n\n1,"a, b",2\n2,"say ""hi""",3\n3,"line one\nline two",4\n4,plain,5\n',
    );
    const source = await open(file);
    const { columns } = await readAll(source);
    expect(columns.text).toEqual(['a, b', 'say "hi"', 'line one\nline two', 'plain']);
    expect(columns.id).toEqual([1, 2, 3, 4]);
    expect(columns.n).toEqual([2, 3, 4, 5]);
  });

  it('names a missing file when opened with an explicit file list', async () => {
    const missing = tmp.file('missing.csv');
    await expect(CsvSource.open(missing, {}, [missing])).rejects.toThrow(
      `${missing}: cannot open (ENOENT: no such file or directory, open '${missing}')`,
    );
  });

  it('names columns column_1..n without a header', async () => {
    const file = await write('.csv', '1,x,2.5\n2,y,3.5\n');
    const source = await open(file, { header: false });
    const schema = await source.schema();
    expect(schema.columns).toEqual([
      { name: 'column_1', type: { kind: 'int' } },
      { name: 'column_2', type: { kind: 'string' } },
      { name: 'column_3', type: { kind: 'float' } },
    ]);
    expect(schema.numRows).toBe(2); // known: the type sample read the whole file
    const { columns } = await readAll(source);
    expect(columns).toEqual({ column_1: [1, 2], column_2: ['x', 'y'], column_3: [2.5, 3.5] });
  });

  it('reads tab-separated .tsv files', async () => {
    const file = await write('.tsv', 'a\tb\n1\thello, world\n');
    const { columns } = await readAll(await open(file));
    expect(columns).toEqual({ a: [1], b: ['hello, world'] });
  });

  it.each([
    ['|', 'a|b|c\n1|x,y|3\n4|z|6\n'],
    [';', 'a;b;c\n1;x,y;3\n4;z;6\n'],
    ['\t', 'a\tb\tc\n1\tx,y\t3\n4\tz\t6\n'],
    [',', 'a,b,c\n1,"x|y",3\n4,z,6\n'],
  ])('sniffs the delimiter %j of a .txt file', async (delimiter, content) => {
    const file = await write('.txt', content);
    const source = await open(file);
    expect((await source.dialect()).delimiter).toBe(delimiter);
    const { columns } = await readAll(source);
    expect(columns.a).toEqual([1, 4]);
    expect(columns.c).toEqual([3, 6]);
  });

  it('uses an explicit delimiter, also a multi-character one', async () => {
    const semicolon = await write('.csv', 'a;b\n1;2\n');
    expect((await readAll(await open(semicolon, { delimiter: ';' }))).columns).toEqual({ a: [1], b: [2] });
    const movielens = await write(
      '.dat',
      '1::Toy Story (1995)::Animation|Comedy\n2::Jumanji (1995)::Adventure\n',
    );
    const source = await open(movielens, { header: false });
    expect((await source.dialect()).delimiter).toBe('::');
    expect((await readAll(source)).columns.column_3).toEqual(['Animation|Comedy', 'Adventure']);
  });

  it("sniffs a .csv file's delimiter and a missing header only when asked", async () => {
    const file = await write('.csv', '1;2;2\n3;4;5\n');
    expect(await (await open(file)).dialect()).toEqual({
      delimiter: ',',
      quote: '"',
      header: true,
      encoding: 'utf8',
      sniffed: { delimiter: false, header: false },
    });
    expect(await (await open(file, { sniff: true })).dialect()).toMatchObject({
      delimiter: ';',
      header: false,
      sniffed: { delimiter: true, header: true },
    });
  });

  it('sniffs from consistent counts, not from list separators', () => {
    expect(sniffDelimiter('movieId,title,genres\n1,Toy Story,A|B|C\n2,Heat,D\n', true, '"')).toBe(',');
    expect(sniffDelimiter('1::Toy::A|B\n2::Heat::C|D|E\n', true, '"')).toBe('::');
    expect(sniffDelimiter('single\n1\n2\n', true, '"')).toBe(',');
  });

  it('reads Latin-1 files', async () => {
    const latin1 = Buffer.concat([
      Buffer.from('id,title\n1,Caf'),
      Buffer.from([0xe9]),
      Buffer.from(' au lait\n'),
    ]);
    const file = await write('.csv', latin1);
    const { columns } = await readAll(await open(file, { encoding: 'latin1' }));
    expect(columns.title).toEqual(['Café au lait']);
  });

  it('reads UTF-8 across chunk boundaries', async () => {
    const rows = Array.from({ length: 50_000 }, (_, i) => `${i},Café ${i} ☕`);
    const file = await write('.csv', `id,name\n${rows.join('\n')}\n`);
    const { columns } = await readAll(await open(file));
    expect(columns.name).toHaveLength(50_000);
    expect(columns.name.every((name, i) => name === `Café ${i} ☕`)).toBe(true);
  });

  it('reads gzip-compressed files transparently', async () => {
    const file = await write('.csv.gz', gzipSync('a,b\n1,x\n2,y\n'));
    const { columns } = await readAll(await open(file));
    expect(columns).toEqual({ a: [1, 2], b: ['x', 'y'] });
  });

  it('strips a UTF-8 byte order mark', async () => {
    const file = await write('.csv', '\ufeffuser,item\n1,2\n');
    const source = await open(file);
    expect((await source.schema()).columns.map((column) => column.name)).toEqual(['user', 'item']);
    const latin = await open(await write('.csv', '\ufeffuser,item\n1,2\n'), { encoding: 'latin1' });
    expect((await latin.schema()).columns.map((column) => column.name)).toEqual(['user', 'item']);
  });

  it('infers int, float, bool and string columns and converts values', async () => {
    const file = await write(
      '.csv',
      [
        'i,f,b,s,empty,big,mixed',
        '1,1.5,true,x,,12345678901234567890,1',
        '-2,2,FALSE,y,,1,2.5',
        '3,1e3,True,1,NA,2,3',
      ].join('\n') + '\n',
    );
    const source = await open(file);
    const types = Object.fromEntries(
      (await source.schema()).columns.map((column) => [column.name, column.type.kind]),
    );
    expect(types).toEqual({
      i: 'int',
      f: 'float',
      b: 'bool',
      s: 'string',
      empty: 'string',
      big: 'string',
      mixed: 'float',
    });
    const { columns, firstBatch } = await readAll(source);
    expect(columns.i).toEqual([1, -2, 3]);
    expect(columns.f).toEqual([1.5, 2, 1000]);
    expect(columns.b).toEqual([true, false, true]);
    expect(columns.s).toEqual(['x', 'y', '1']);
    expect(columns.empty).toEqual([null, null, null]);
    expect(columns.big).toEqual(['12345678901234567890', '1', '2']);
    expect(firstBatch.i).toBeInstanceOf(Float64Array);
    expect(firstBatch.f).toBeInstanceOf(Float64Array);
  });

  it('reads the default null markers as null and accepts custom ones', async () => {
    const content = 'n,s\n1,a\n,NA\nNaN,null\nNULL,-\n5,\n';
    const { columns, firstBatch } = await readAll(await open(await write('.csv', content)));
    expect(columns.n).toEqual([1, null, null, null, 5]);
    expect(columns.s).toEqual(['a', null, null, '-', null]);
    expect(Array.isArray(firstBatch.n)).toBe(true);

    const custom = await open(await write('.csv', 'n,s\n1,a\n-,NA\n'), { nullValues: ['-'] });
    expect((await readAll(custom)).columns).toEqual({ n: [1, null], s: ['a', 'NA'] });
  });

  it('reports a value that is not a number with file, row, line and column', async () => {
    const lines = ['id,note,score', '1,"two\nlines",10', '2,ok,20', '3,ok,abc', '4,ok,40'];
    const file = await write('.csv', lines.join('\n') + '\n');
    const source = await open(file, { header: true });
    // Too few rows before the bad one for inference to see it? It sees all 4: the column is a string.
    expect((await source.schema()).columns[2].type.kind).toBe('string');

    const many = ['id,note,score', '1,"two\nlines",10'];
    for (let i = 2; i <= TYPE_SAMPLE_ROWS + 5; i++) many.push(`${i},ok,${i}`);
    many.push(`${TYPE_SAMPLE_ROWS + 6},ok,12x`);
    const bad = await write('.csv', many.join('\n') + '\n');
    const badSource = await open(bad);
    expect((await badSource.schema()).columns[2].type.kind).toBe('int');
    const error = await errorOf(readAll(badSource, { batchSize: 1000 }));
    expect(error).toBeInstanceOf(LemoptError);
    // Data row 10006 starts on line 10008: the header is line 1 and row 1 spans lines 2-3.
    expect(error.message).toBe(`${bad}: row 10006 (line 10008), column 'score': '12x' is not a number`);
  });

  it('reports a row with the wrong number of fields with file and line', async () => {
    const file = await write('.csv', 'a,b,c\n1,2,3\n\n4,5\n6,7,8\n');
    const error = await errorOf(async () => readAll(await open(file)));
    expect(error).toBeInstanceOf(LemoptError);
    expect(error.message).toBe(`${file}: line 4 has 2 fields but the header has 3`);
  });

  it('reports an unclosed quote with the file', async () => {
    const file = await write('.csv', 'a,b\n1,"open\n2,3\n');
    const error = await errorOf(async () => readAll(await open(file)));
    expect(error).toBeInstanceOf(LemoptError);
    expect(error.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*[Qq]uote`));
  });

  it('bounds batches by batchSize and keeps row order', async () => {
    const rows = Array.from({ length: 1000 }, (_, i) => `${i},${i % 7}`);
    const file = await write('.csv', `id,k\n${rows.join('\n')}\n`);
    const source = await open(file);
    const { sizes, columns } = await readAll(source, { batchSize: 64 });
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(columns.id).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const whole = await readAll(source);
    expect(whole.sizes).toEqual([1000]);
  });

  it('projects columns', async () => {
    const file = await write('.csv', 'a,b,c\n1,x,true\n2,y,false\n');
    const source = await open(file);
    const { columns } = await readAll(source, { columns: ['c', 'a'] });
    expect(Object.keys(columns)).toEqual(['c', 'a']);
    expect(columns).toEqual({ c: [true, false], a: [1, 2] });
  });

  it('names the file and lists the columns for an unknown column', async () => {
    const file = await write('.csv', 'a,b,c\n1,2,3\n');
    const error = await errorOf(readAll(await open(file), { columns: ['a', 'foo'] }));
    expect(error).toBeInstanceOf(LemoptError);
    expect(error.message).toBe(`${file}: no column 'foo'; columns are: a, b, c`);
  });

  it('reads a folder of files with one header, and rejects a different header', async () => {
    const folder = tmp.file('parts');
    await mkdir(folder);
    await writeFile(`${folder}/part-0.csv`, 'a,b\n1,x\n2,y\n');
    await writeFile(`${folder}/part-1.csv.gz`, gzipSync('a,b\n3,z\n'));
    const source = await CsvSource.open(folder);
    expect(source.files).toHaveLength(2);
    expect((await readAll(source)).columns).toEqual({ a: [1, 2, 3], b: ['x', 'y', 'z'] });

    await writeFile(`${folder}/part-2.csv`, 'a,c\n4,w\n');
    const error = await errorOf(async () => readAll(await CsvSource.open(folder)));
    expect(error).toBeInstanceOf(LemoptError);
    expect(error.message).toBe(
      `${folder}/part-2.csv: column 'c' at position 2 where ${folder}/part-0.csv has 'b'; all files must share one header`,
    );
  });

  it('rejects an empty file and a duplicate header name', async () => {
    const empty = await write('.csv', '');
    expect((await errorOf(open(empty))).message).toBe(`${empty}: the file is empty`);
    const emptyGzip = await write('.csv.gz', gzipSync(''));
    expect((await errorOf(open(emptyGzip))).message).toBe(`${emptyGzip}: the file is empty`);
    const duplicate = await write('.csv', 'a,b,a\n1,2,3\n');
    expect((await errorOf(open(duplicate))).message).toBe(
      `${duplicate}: the header names column 'a' twice ` +
        '(a file without a header row? use --no-header, or data.csv.header: false in a config)',
    );
  });

  it('reads a header-only file as zero rows', async () => {
    const source = await open(await write('.csv', 'a,b\n'));
    expect((await source.schema()).columns.map((column) => column.type.kind)).toEqual(['string', 'string']);
    expect((await readAll(source)).sizes).toEqual([]);
  });

  it('handles CRLF line endings and a last line without newline', async () => {
    const file = await write('.csv', 'a,b\r\n1,x\r\n2,y');
    expect((await readAll(await open(file))).columns).toEqual({ a: [1, 2], b: ['x', 'y'] });
  });
});
