import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { csvOptionsFromArgs, inspectCommand } from '../src/cli/commands/inspect.js';
import { UsageError } from '../src/cli/usage.js';
import {
  formatInspectReport,
  inspectSource,
  nameWords,
  type ColumnReport,
  type InspectReport,
} from '../src/data/inspect.js';
import { HyperLogLog, SpaceSaving, ValueCounter } from '../src/data/sketch.js';
import type {
  Cell,
  ColumnSchema,
  DataSource,
  LogicalType,
  RecordBatch,
  SourceSchema,
} from '../src/data/types.js';
import { LemoptError } from '../src/util/errors.js';
import { arrowTable, writeArrowFile } from './support/arrow-fixtures.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ColumnSpec {
  type: LogicalType;
  /** Whole column; sliced into batches. Typed arrays stay typed arrays. */
  values: ArrayLike<Cell>;
}

/** A DataSource over in-memory columns, streamed in batches of `batchSize` rows. */
class MemorySource implements DataSource {
  readonly location = 'memory://test';
  readonly files = ['memory://test/part-0'];
  private readonly numRows: number;

  constructor(
    private readonly spec: Record<string, ColumnSpec>,
    private readonly batchSize = 4096,
  ) {
    const lengths = Object.values(spec).map((c) => c.values.length);
    this.numRows = lengths[0] ?? 0;
  }

  async schema(): Promise<SourceSchema> {
    const columns: ColumnSchema[] = Object.entries(this.spec).map(([name, c]) => ({ name, type: c.type }));
    return { columns, numRows: this.numRows };
  }

  async *batches(): AsyncIterable<RecordBatch> {
    for (let start = 0; start < this.numRows; start += this.batchSize) {
      const end = Math.min(this.numRows, start + this.batchSize);
      const columns = new Map<string, ArrayLike<Cell>>();
      for (const [name, c] of Object.entries(this.spec)) {
        const v = c.values as unknown;
        columns.set(
          name,
          ArrayBuffer.isView(v)
            ? (v as unknown as Int32Array).subarray(start, end)
            : (v as Cell[]).slice(start, end),
        );
      }
      yield { numRows: end - start, columns };
    }
  }
}

const INT: LogicalType = { kind: 'int' };
const FLOAT: LogicalType = { kind: 'float' };
const STRING: LogicalType = { kind: 'string' };
const TIMESTAMP: LogicalType = { kind: 'timestamp' };
const BOOL: LogicalType = { kind: 'bool' };

const N = 20_000;
const GENRES = ['Action', 'Comedy', 'Drama', 'Horror', 'Sci-Fi', 'Romance', 'Thriller', 'Crime'];
const TAGS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

function country(i: number): string | null {
  if (i % 20 === 19) return null;
  const r = i % 10;
  return r < 5 ? 'us' : r < 8 ? 'de' : r < 9 ? 'fr' : 'jp';
}

function mainSource(): MemorySource {
  const rand = rng(7);
  const userId = new Int32Array(N);
  const price = new Float64Array(N);
  const eventTime = new Float64Array(N);
  const click = new Int32Array(N);
  const amount = new BigInt64Array(N);
  const row = new Int32Array(N);
  const bucket: (number | null)[] = [];
  const countries: (string | null)[] = [];
  const tags: (string[] | null)[] = [];
  const genres: string[] = [];
  const ts: Date[] = [];
  const rating: number[] = [];
  const empty: null[] = [];
  const constant: string[] = [];
  const session: string[] = [];
  const comment: string[] = [];
  const flag: boolean[] = [];
  for (let i = 0; i < N; i++) {
    userId[i] = i % 5000;
    price[i] = Math.round(rand() * 1e6) / 100 + 0.005;
    eventTime[i] = 1_600_000_000 + i * 60;
    click[i] = rand() < 0.1 ? 1 : 0;
    amount[i] = BigInt(Math.floor(rand() * 1e9));
    row[i] = i;
    bucket.push(i % 7 === 0 ? null : i % 10);
    countries.push(country(i));
    tags.push(
      i % 50 === 0 ? null : Array.from({ length: 1 + (i % 4) }, (_, k) => TAGS[(i + k * 3) % TAGS.length]),
    );
    const g = 1 + Math.floor(rand() * 3);
    genres.push(Array.from({ length: g }, () => GENRES[Math.floor(rand() * GENRES.length)]).join('|'));
    ts.push(new Date(Date.UTC(2020, 0, 1) + i * 3_600_000));
    rating.push(1 + Math.floor(rand() * 5));
    empty.push(null);
    constant.push('x');
    session.push(`s-${(i * 2654435761) >>> 0}`);
    comment.push(`this is a long comment number ${i} with several words in it`);
    flag.push(i % 3 === 0);
  }
  return new MemorySource({
    user_id: { type: INT, values: userId },
    country: { type: STRING, values: countries },
    age_bucket: { type: INT, values: bucket },
    tags: { type: { kind: 'list', element: STRING }, values: tags },
    genres: { type: STRING, values: genres },
    price: { type: FLOAT, values: price },
    ts: { type: TIMESTAMP, values: ts },
    event_time: { type: INT, values: eventTime },
    click: { type: INT, values: click },
    rating: { type: FLOAT, values: rating },
    empty: { type: STRING, values: empty },
    constant: { type: STRING, values: constant },
    session: { type: STRING, values: session },
    row: { type: INT, values: row },
    amount_cents: { type: INT, values: amount },
    comment: { type: STRING, values: comment },
    is_new: { type: BOOL, values: flag },
  });
}

function col(report: { columns: ColumnReport[] }, name: string): ColumnReport {
  const c = report.columns.find((x) => x.name === name);
  if (!c) throw new Error(`no column ${name}`);
  return c;
}

describe('inspectSource: exact statistics', async () => {
  const progress: number[] = [];
  const report = await inspectSource(mainSource(), { onProgress: (r) => progress.push(r) });

  it('counts rows and reports progress per batch', () => {
    expect(report.rows).toBe(N);
    expect(progress).toHaveLength(Math.ceil(N / 4096));
    expect(progress[progress.length - 1]).toBe(N);
    expect(report.columns.map((c) => c.name)).toHaveLength(17);
  });

  it('reports types, null rates, exact cardinalities and top values', () => {
    const c = col(report, 'country');
    expect(c.type).toBe('string');
    expect(c.approximate).toBe(false);
    expect(c.nullCount).toBe(N / 20);
    expect(c.nullRate).toBeCloseTo(0.05, 10);
    expect(c.cardinality).toBe(4);
    const expected = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      const v = country(i);
      if (v !== null) expected.set(v, (expected.get(v) ?? 0) + 1);
    }
    expect(c.top.map((t) => t.value)).toEqual(['us', 'de', 'fr', 'jp']);
    for (const t of c.top) {
      expect(t.count).toBe(expected.get(t.value as string));
      expect(t.minCount).toBeUndefined();
    }

    const u = col(report, 'user_id');
    expect(u.cardinality).toBe(5000);
    expect(u.nullCount).toBe(0);
    expect(u.top).toHaveLength(5);
    expect(u.top.every((t) => t.count === 4)).toBe(true);
    expect(u.top.map((t) => t.value)).toEqual([0, 1, 2, 3, 4]); // ties keep first-seen order

    const b = col(report, 'age_bucket');
    expect(b.cardinality).toBe(10);
    expect(b.nullCount).toBe(Math.ceil(N / 7));
    expect(b.numeric?.integral).toBe(true);
    expect(b.numeric?.min).toBe(0);
    expect(b.numeric?.max).toBe(9);

    const big = col(report, 'amount_cents');
    expect(big.type).toBe('int');
    expect(big.numeric?.count).toBe(N);
  });

  it('computes numeric min, max, mean and std', () => {
    const e = col(report, 'event_time');
    expect(e.numeric?.min).toBe(1_600_000_000);
    expect(e.numeric?.max).toBe(1_600_000_000 + (N - 1) * 60);
    expect(e.numeric?.mean).toBeCloseTo(1_600_000_000 + ((N - 1) * 60) / 2, 3);
    const sd = Math.sqrt((N * N - 1) / 12) * 60;
    expect(e.numeric?.std).toBeCloseTo(sd, 0);
  });

  it('reports list length and element statistics', () => {
    const t = col(report, 'tags');
    expect(t.type).toBe('list<string>');
    expect(t.cardinalityOf).toBe('elements');
    expect(t.cardinality).toBe(TAGS.length);
    expect(t.nullCount).toBe(N / 50);
    expect(t.list?.rows).toBe(N - N / 50);
    expect(t.list?.minLength).toBe(1);
    expect(t.list?.maxLength).toBe(4);
    let sum = 0;
    let rows = 0;
    for (let i = 0; i < N; i++) {
      if (i % 50 === 0) continue;
      sum += 1 + (i % 4);
      rows++;
    }
    expect(t.list?.meanLength).toBeCloseTo(sum / rows, 10);
  });

  it('suggests a feature type per column', () => {
    const kinds = Object.fromEntries(report.columns.map((c) => [c.name, c.suggestion.type]));
    expect(kinds).toEqual({
      user_id: 'id',
      country: 'categorical',
      age_bucket: 'categorical',
      tags: 'multi_categorical',
      genres: 'multi_categorical',
      price: 'numeric',
      ts: 'timestamp',
      event_time: 'timestamp',
      click: 'label',
      rating: 'label',
      empty: 'skip',
      constant: 'skip',
      session: 'id',
      row: 'id',
      amount_cents: 'numeric',
      comment: 'skip',
      is_new: 'categorical',
    });
    expect(col(report, 'genres').suggestion.delimiter).toBe('|');
    expect(col(report, 'genres').delimited?.tokenCardinality).toBe(GENRES.length);
    expect(col(report, 'empty').suggestion.note).toMatch(/null/);
    expect(col(report, 'constant').suggestion.note).toMatch(/constant/);
    expect(col(report, 'user_id').suggestion.note).toMatch(/cardinality/);
    expect(col(report, 'event_time').time?.unit).toBe('s');
    expect(col(report, 'ts').time?.min).toBe('2020-01-01T00:00:00.000Z');
    expect(col(report, 'ts').top[0].value).toBe('2020-01-01T00:00:00.000Z');
    expect(col(report, 'click').suggestion.note).toMatch(/binary/);
  });

  it('round-trips through JSON', () => {
    const text = JSON.stringify(report);
    expect(JSON.parse(text)).toStrictEqual(report);
  });

  it('formats a table naming every column', () => {
    const text = formatInspectReport(report);
    for (const c of report.columns) expect(text).toContain(c.name);
    expect(text).toContain('multi_categorical');
    const lines = text.split('\n');
    const header = lines.findIndex((l) => l.startsWith('column'));
    expect(header).toBeGreaterThan(0);
    // fixed width: the suggestion column starts at the same offset on every table row
    const at = lines[header].indexOf('suggestion');
    for (const l of lines.slice(header + 2, header + 2 + report.columns.length)) {
      expect(l.slice(at).split(/\s/)[0]).toMatch(
        /^(categorical|multi_categorical|numeric|label|timestamp|id|skip)$/,
      );
    }
  });
});

describe('inspectSource: past the exact limit', async () => {
  const D = 50_000;
  const ids = new Int32Array(2 * D);
  const words: string[] = [];
  const heavy: string[] = [];
  for (let i = 0; i < 2 * D; i++) {
    ids[i] = (i * 7919) % D; // each of D values twice
    words.push(`w${i % D}`);
    heavy.push(i % 10 < 3 ? 'hot' : i % 10 < 4 ? 'warm' : `cold-${i}`);
  }
  const source = new MemorySource({
    item: { type: INT, values: ids },
    word: { type: STRING, values: words },
    heavy: { type: STRING, values: heavy },
  });
  const report = await inspectSource(source, { exactLimit: 1000, topK: 3 });

  it('switches to HyperLogLog and stays within 3%', () => {
    for (const name of ['item', 'word']) {
      const c = col(report, name);
      expect(c.approximate).toBe(true);
      expect(Math.abs(c.cardinality - D) / D).toBeLessThan(0.03);
    }
    const h = col(report, 'heavy');
    const trueCard = 2 + (2 * D * 6) / 10;
    expect(Math.abs(h.cardinality - trueCard) / trueCard).toBeLessThan(0.03);
  });

  it('keeps heavy hitters with bounded, flagged counts', () => {
    const h = col(report, 'heavy');
    expect(h.top.map((t) => t.value).slice(0, 2)).toEqual(['hot', 'warm']);
    const truth = { hot: (2 * D * 3) / 10, warm: (2 * D) / 10 };
    for (const t of h.top.slice(0, 2)) {
      const exact = truth[t.value as 'hot' | 'warm'];
      expect(t.count).toBeGreaterThanOrEqual(exact);
      expect(t.minCount).toBeDefined();
      expect(t.minCount as number).toBeLessThanOrEqual(exact);
      expect(t.count - exact).toBeLessThan(exact * 0.05);
    }
    expect(formatInspectReport(report)).toContain('~');
  });

  it('round-trips through JSON', () => {
    expect(JSON.parse(JSON.stringify(report))).toStrictEqual(report);
  });
});

describe('inspectSource: edge cases', () => {
  it('handles an empty source', async () => {
    const report = await inspectSource(new MemorySource({ a: { type: INT, values: [] } }));
    expect(report.rows).toBe(0);
    expect(col(report, 'a').suggestion).toEqual({ type: 'skip', note: 'no rows' });
    expect(formatInspectReport(report)).toContain('a');
  });

  it('treats NaN as null and keeps infinities out of the mean', async () => {
    const report = await inspectSource(
      new MemorySource({ x: { type: FLOAT, values: new Float64Array([1.5, NaN, 2.5, Infinity, NaN]) } }),
    );
    const x = col(report, 'x');
    expect(x.nullCount).toBe(2);
    expect(x.numeric).toMatchObject({ count: 2, min: 1.5, max: 2.5, mean: 2, infinite: 1 });
    expect(x.cardinality).toBe(3);
    expect(JSON.parse(JSON.stringify(report))).toStrictEqual(report);
  });

  it('normalises bigint and number keys and handles huge bigints', async () => {
    const report = await inspectSource(
      new MemorySource({ b: { type: INT, values: [1n, 1n, 2n, 2n ** 70n, 2n ** 70n, null] } }),
    );
    const b = col(report, 'b');
    expect(b.cardinality).toBe(3);
    expect(b.top.map((t) => t.value)).toEqual([1, String(2n ** 70n), 2]);

    const hashed = new BigInt64Array(5000).map((_, i) =>
      BigInt.asIntN(64, BigInt(i + 1) * 0x9e3779b97f4a7c15n),
    );
    const h = await inspectSource(new MemorySource({ h: { type: INT, values: hashed } }));
    expect(col(h, 'h').cardinality).toBe(5000);
    expect(col(h, 'h').suggestion.type).toBe('id');
  });

  it('suggests skip for a list of floats and categorical for one value plus nulls', async () => {
    const vectors = Array.from({ length: 100 }, (_, i) => new Float32Array([i / 3, 0.5, 1.25]));
    const report = await inspectSource(
      new MemorySource({
        emb: { type: { kind: 'list', element: FLOAT }, values: vectors },
        flag: { type: STRING, values: Array.from({ length: 100 }, (_, i) => (i % 2 ? 'y' : null)) },
      }),
    );
    expect(col(report, 'emb').suggestion.type).toBe('skip');
    expect(col(report, 'emb').list?.maxLength).toBe(3);
    expect(col(report, 'flag').suggestion.type).toBe('categorical');
    expect(col(report, 'flag').suggestion.note).toMatch(/presence/);
  });

  it('does not split free text or numbers with commas into tokens', async () => {
    const rand = rng(11);
    const text = Array.from({ length: 2000 }, (_, i) => `item ${i}, shipped on day ${i * 7}, box ${i * 13}`);
    const amounts = Array.from(
      { length: 2000 },
      () => `${1 + Math.floor(rand() * 99)},${String(Math.floor(rand() * 1000)).padStart(3, '0')}`,
    );
    const report = await inspectSource(
      new MemorySource({ t: { type: STRING, values: text }, amount: { type: STRING, values: amounts } }),
    );
    expect(col(report, 't').suggestion.type).toBe('skip');
    expect(col(report, 't').suggestion.note).toMatch(/free text/);
    expect(col(report, 'amount').suggestion.type).not.toBe('multi_categorical');
    expect(col(report, 'amount').suggestion.note).toMatch(/thousands/);
  });

  it('lists no unreliable top values for an all-distinct column past the limit', async () => {
    const values = new Float64Array(20_000).map((_, i) => i + 0.5);
    const report = await inspectSource(new MemorySource({ v: { type: FLOAT, values } }), { exactLimit: 100 });
    const v = col(report, 'v');
    expect(v.approximate).toBe(true);
    expect(v.top).toEqual([]);
    expect(v.suggestion.type).toBe('numeric');
  });

  it('rejects a batch missing a column and bad options', async () => {
    const source: DataSource = {
      location: 'broken',
      files: [],
      schema: async () => ({ columns: [{ name: 'a', type: INT }] }),
      async *batches() {
        yield { numRows: 1, columns: new Map() };
      },
    };
    await expect(inspectSource(source)).rejects.toBeInstanceOf(LemoptError);
    await expect(inspectSource(source, { exactLimit: 0 })).rejects.toThrow(/exactLimit/);
  });
});

describe('sketches', () => {
  it('HyperLogLog estimates within 3% across the range', () => {
    for (const n of [10, 1000, 30_000, 300_000]) {
      const h = new HyperLogLog();
      for (let i = 0; i < n; i++) h.addNumber(i * 3 + 0.5);
      expect(Math.abs(h.estimate() - n) / n).toBeLessThan(0.03);
      const s = new HyperLogLog();
      for (let i = 0; i < n; i++) s.addString(`k${i}`);
      expect(Math.abs(s.estimate() - n) / n).toBeLessThan(0.03);
    }
    expect(new HyperLogLog().estimate()).toBe(0);
  });

  it('HyperLogLog merge is a union', () => {
    const a = new HyperLogLog();
    const b = new HyperLogLog();
    for (let i = 0; i < 20_000; i++) (i % 2 ? a : b).addNumber(i);
    a.merge(b);
    expect(Math.abs(a.estimate() - 20_000) / 20_000).toBeLessThan(0.03);
  });

  it('Space-Saving bounds the true counts of heavy hitters', () => {
    const rand = rng(3);
    const truth = new Map<number, number>();
    const ss = new SpaceSaving(100);
    for (let i = 0; i < 200_000; i++) {
      const k = Math.floor(1 / (rand() + 1e-9)); // Zipf-like
      truth.set(k, (truth.get(k) ?? 0) + 1);
      ss.add(k);
    }
    const top = ss.top(5);
    expect(top.map((t) => t.key)).toEqual([1, 2, 3, 4, 5]);
    for (const t of top) {
      const c = truth.get(t.key as number) as number;
      expect(t.count).toBeGreaterThanOrEqual(c);
      expect(t.minCount).toBeLessThanOrEqual(c);
    }
  });

  it('ValueCounter is exact up to the limit', () => {
    const v = new ValueCounter({ exactLimit: 3, exactCharLimit: 1e6, heavyHitterCapacity: 10 });
    for (const k of ['a', 'b', 'a', 'c']) v.add(k);
    expect(v.approximate).toBe(false);
    expect(v.top(2)).toEqual([
      { key: 'a', count: 2 },
      { key: 'b', count: 1 },
    ]);
    v.add('d');
    expect(v.approximate).toBe(true);
    expect(v.cardinality()).toBe(4);

    // long distinct strings switch on characters too, so memory stays bounded
    const long = new ValueCounter({ exactLimit: 1000, exactCharLimit: 100, heavyHitterCapacity: 10 });
    for (let i = 0; i < 5; i++) long.add(`${i}`.padEnd(40, '.'));
    expect(long.approximate).toBe(true);
    expect(long.cardinality()).toBe(5);
  });
});

it('nameWords splits snake, camel and acronyms', () => {
  expect(nameWords('userID')).toEqual(['user', 'id']);
  expect(nameWords('movieId')).toEqual(['movie', 'id']);
  expect(nameWords('event_time')).toEqual(['event', 'time']);
  expect(nameWords('HTTPStatus')).toEqual(['http', 'status']);
});

// ---------------------------------------------------------------------------------------
// `lemopt inspect` on CSV files: reading options and sniffing

/** `lemopt inspect ARGS`, run in this process; resolves to what it prints. */
async function runInspect(...args: string[]): Promise<string> {
  let printed = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed += String(chunk);
    return true;
  });
  try {
    await yargs(['inspect', ...args, '--quiet'])
      .command(inspectCommand)
      .strict()
      .fail((message, error) => {
        throw error ?? new UsageError(message);
      })
      .parseAsync();
  } finally {
    write.mockRestore();
  }
  return printed;
}

async function inspectJson(...args: string[]): Promise<InspectReport> {
  return JSON.parse(await runInspect(...args, '--json')) as InspectReport;
}

/** Criteo's train.txt layout: label, 13 integers, 26 hex strings; tab-separated, no header, empty = missing. */
function criteoRows(count: number): string[][] {
  const rand = rng(11);
  const vocabularies = Array.from({ length: 26 }, (_, j) =>
    Array.from({ length: 3 + 4 * j }, () => (0xa0000000 + Math.floor(rand() * 0x50000000)).toString(16)),
  );
  return Array.from({ length: count }, () => [
    String(rand() < 0.25 ? 1 : 0),
    ...Array.from({ length: 13 }, () => (rand() < 0.1 ? '' : String(Math.floor(rand() * 30)))),
    ...vocabularies.map((vocabulary) =>
      rand() < 0.05 ? '' : vocabulary[Math.floor(rand() * vocabulary.length)],
    ),
  ]);
}

describe('lemopt inspect on CSV files', () => {
  let tmp: TempDir;
  const criteo = criteoRows(500);

  async function write(name: string, text: string): Promise<string> {
    const file = tmp.file(name);
    await writeFile(file, text);
    return file;
  }

  beforeAll(async () => {
    tmp = await makeTempDir('lemopt-inspect-');
    await write('train.txt', criteo.map((row) => row.join('\t')).join('\n') + '\n');
  });
  afterAll(() => tmp.remove());

  function expectCriteoColumns(report: InspectReport): void {
    expect(report.rows).toBe(500);
    expect(report.columns.map((c) => c.name)).toEqual(
      Array.from({ length: 40 }, (_, j) => `column_${j + 1}`),
    );
    expect(report.columns.map((c) => c.type)).toEqual([
      ...Array<string>(14).fill('int'),
      ...Array<string>(26).fill('string'),
    ]);
    report.columns.forEach((column, j) => {
      const values = criteo.map((row) => row[j]).filter((value) => value !== '');
      expect(column.cardinality, column.name).toBe(new Set(values).size);
      expect(column.nullCount, column.name).toBe(500 - values.length);
    });
  }

  it('reads a headerless tab-separated Criteo-like file with --no-header --delimiter \\t', async () => {
    const report = await inspectJson(tmp.file('train.txt'), '--no-header', '--delimiter', '\\t');
    expectCriteoColumns(report);
    expect(report.csv).toEqual({ delimiter: '\t', header: false, quote: '"', encoding: 'utf8', sniffed: [] });
  });

  it('sniffs the tab and the missing header of the same file, and says so', async () => {
    const report = await inspectJson(tmp.file('train.txt'));
    expectCriteoColumns(report);
    expect(report.csv).toMatchObject({ delimiter: '\t', header: false, sniffed: ['delimiter', 'header'] });
    const text = await runInspect(tmp.file('train.txt'));
    expect(text.split('\n').slice(1, 3)).toEqual([
      'delimiter: tab (sniffed)',
      'header: none (sniffed; use --header to override)',
    ]);
  });

  it.each([
    ['names over typed columns', 'user_id,age,score,country\n1,34,0.5,fr\n2,34,1.25,de\n3,51,2.5,fr\n'],
    ['numbers as names over numbers', 'year,2019,2020\nsales,10,12\ncosts,10,9\n'],
    ["pandas' integer names over floats", '0,1,2\n0.5,1.5,2.5\n0.25,0.75,1.0\n'],
    ['names over strings only', 'user,item\nu1,i1\nu1,i2\n'],
  ])('keeps the header of a comma CSV: %s', async (_what, content) => {
    const file = await write('normal.csv', content);
    const report = await inspectJson(file);
    expect(report.csv).toMatchObject({ delimiter: ',', header: true, sniffed: ['delimiter'] });
    expect(report.columns.map((c) => c.name)).toEqual(content.split('\n')[0].split(','));
    expect((await runInspect(file)).split('\n').slice(1, 3)).toEqual([
      'delimiter: comma (sniffed)',
      'header: first line',
    ]);
  });

  it.each([
    [';', 'semicolon', 'semicolon.csv'],
    ['|', 'pipe', 'pipe.txt'],
  ])('sniffs the delimiter %j', async (delimiter, name, file) => {
    const rows = [
      ['user', 'tags', 'price'],
      ['u1', 'a,b', '1,5'],
      ['u2', 'c', '2,25'],
      ['u3', 'a', '3'],
    ];
    const path = await write(file, rows.map((row) => row.join(delimiter)).join('\n') + '\n');
    const report = await inspectJson(path);
    expect(report.csv).toMatchObject({ delimiter, header: true, sniffed: ['delimiter'] });
    expect(report.columns.map((c) => c.name)).toEqual(['user', 'tags', 'price']);
    expect((await runInspect(path)).split('\n')[1]).toBe(`delimiter: ${name} (sniffed)`);
  });

  it('sniffs a missing header from a fraction above a float column', async () => {
    const file = await write('floats.csv', '0.5,3,x\n1.5,4,y\n2.25,5,z\n');
    const report = await inspectJson(file);
    expect(report.csv).toMatchObject({ header: false, sniffed: ['delimiter', 'header'] });
    expect(report.rows).toBe(3);
  });

  it('lets explicit options beat sniffing', async () => {
    const file = await write('explicit.txt', '1;2;2\n3;4;5\n6;7;8\n');
    const sniffed = await inspectJson(file);
    expect(sniffed.csv).toMatchObject({ delimiter: ';', header: false, sniffed: ['delimiter', 'header'] });
    expect(sniffed.columns).toHaveLength(3);

    const explicit = await inspectJson(file, '--delimiter', ',', '--header');
    expect(explicit.csv).toMatchObject({ delimiter: ',', header: true, sniffed: [] });
    expect(explicit.columns.map((c) => c.name)).toEqual(['1;2;2']);
    expect(explicit.rows).toBe(2);

    const tabs = await inspectJson(tmp.file('train.txt'), '--delimiter', 'tab');
    expect(tabs.csv).toMatchObject({ delimiter: '\t', header: false, sniffed: ['header'] });
  });

  it('takes --quote, --encoding and --null-values as the config does', async () => {
    const file = tmp.file('latin1.csv');
    await writeFile(file, Buffer.from("name,n\n'caf\xe9, bar',-1\nx,2\n", 'latin1'));
    const report = await inspectJson(file, '--quote', "'", '--encoding', 'latin1', '--null-values=-1,NA');
    expect(report.columns.find((c) => c.name === 'name')?.top.map((t) => t.value)).toContain('caf\xe9, bar');
    expect(report.columns.find((c) => c.name === 'n')?.nullCount).toBe(1);
    expect(csvOptionsFromArgs({})).toEqual({
      delimiter: undefined,
      header: undefined,
      quote: '"',
      encoding: 'utf8',
      nullValues: ['', 'NA', 'NaN', 'null', 'NULL'],
      sniff: true,
    });
  });

  it.each([['ab'], ['\\t\\t'], ['']])('rejects --delimiter %j with a usage error', async (delimiter) => {
    await expect(runInspect(tmp.file('train.txt'), '--delimiter', delimiter)).rejects.toThrow(
      new UsageError(
        `--delimiter takes one character, \\t or tab, comma, semicolon, pipe; got '${delimiter}'`,
      ),
    );
  });

  it('rejects a --quote of more than one character', async () => {
    await expect(runInspect(tmp.file('train.txt'), '--quote', '""')).rejects.toThrow(
      new UsageError(`--quote takes one character; got '""'`),
    );
  });

  it('refuses CSV options for a file of another format', async () => {
    const file = tmp.file('table.arrow');
    await writeArrowFile(file, arrowTable(10));
    await expect(runInspect(file, '--no-header', '--null-values', 'NA')).rejects.toThrow(
      new UsageError(`--no-header, --null-values: options for CSV files, and ${file} is not one`),
    );
  });

  it('names --no-header when a header names a column twice', async () => {
    const file = await write('twice.csv', 'x,y,x\n1,2,3\n');
    await expect(runInspect(file)).rejects.toThrow(
      new LemoptError(
        `${file}: the header names column 'x' twice ` +
          '(a file without a header row? use --no-header, or data.csv.header: false in a config)',
      ),
    );
    const headerless = await inspectJson(file, '--no-header');
    expect(headerless.columns.map((c) => c.name)).toEqual(['column_1', 'column_2', 'column_3']);
  });
});
