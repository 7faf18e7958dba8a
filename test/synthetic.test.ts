import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSynthetic,
  SYNTHETIC_DATA_FILE,
  SYNTHETIC_TRUTH_FILE,
  type GroundTruth,
} from '../src/data/synthetic.js';
import { partnerAuc, relabellingConflicts, type Row } from './support/partner-auc.js';
import { buildWorld } from '../src/data/synthetic/world.js';
import { LemoptError } from '../src/util/errors.js';
import { hash32, hashBytes, hashInt, hashString, Random } from '../src/util/random.js';

describe('util/random', () => {
  it('hashes strings as MurmurHash3 x86 32 of their UTF-8 bytes', () => {
    expect(hashString('', 0)).toBe(0);
    expect(hashString('', 1)).toBe(0x514e28b7);
    expect(hashString('', 0xffffffff)).toBe(0x81f16f39);
    expect(hashString('aaaa', 0x9747b28c)).toBe(0x5a97808a);
    expect(hashString('Hello, world!', 0x9747b28c)).toBe(0x24884cba);
    expect(hashString('The quick brown fox jumps over the lazy dog', 0x9747b28c)).toBe(0x2fa826cd);
    expect(hashBytes(new Uint8Array(4), 0)).toBe(0x2362f9de);
    expect(hashInt(0, 0)).toBe(0x2362f9de);
    for (const text of ['ü', 'naïve café', '日本語', 'emoji 😀!']) {
      expect(hashString(text, 3)).toBe(hashBytes(new TextEncoder().encode(text), 3));
    }
  });

  it('hashes equal integers alike whatever their type, into the uint32 range', () => {
    for (const value of [0, 5, -7, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 40 + 3, -(2 ** 45)]) {
      expect(hash32(value, 9)).toBe(hash32(BigInt(value), 9));
      const h = hash32(value);
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    }
    expect(hash32(1.5)).not.toBe(hash32(1));
    expect(hash32('1')).not.toBe(hash32(1));
    expect(hash32(true)).toBe(hash32(1));
  });

  it('draws reproducible, independent streams', () => {
    const a = new Random(42);
    const b = new Random(42);
    const other = new Random(42, 'other');
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => other.nextUint32())).not.toEqual(xs);
    expect(new Random(43).nextUint32()).not.toBe(new Random(42).nextUint32());
  });

  it('draws integers, uniforms, normals and permutations with the right distribution', () => {
    const random = new Random(1);
    const counts = new Array<number>(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[random.integer(7)]++;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(500);
    let sum = 0;
    let square = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const x = random.normal();
      sum += x;
      square += x * x;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.02);
    expect(Math.abs(square / n - 1)).toBeLessThan(0.03);
    for (let i = 0; i < 1000; i++) {
      const u = random.next();
      expect(u >= 0 && u < 1).toBe(true);
    }
    const order = random.permutation(1000);
    expect(Array.from(order).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(() => random.integer(0)).toThrow(RangeError);
  });
});

const ROWS = 100_000;
const SEED = 7;
const ROW_GROUP = 30_000;

describe('generateSynthetic', () => {
  let root: string;
  let mainDir: string;
  let truth: GroundTruth;
  let instance: DuckDBInstance;
  let db: DuckDBConnection;
  let rows: Row[];
  let progress: [number, number][];

  const dataPath = (dir: string): string => path.join(dir, SYNTHETIC_DATA_FILE);
  const query = async (sql: string): Promise<Row[]> => (await db.runAndReadAll(sql)).getRowObjectsJS();
  const scan = (): string => `read_parquet('${dataPath(mainDir).replaceAll("'", "''")}')`;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lemopt-synthetic-'));
    mainDir = path.join(root, 'main');
    progress = [];
    const result = await generateSynthetic({
      outDir: mainDir,
      rows: ROWS,
      seed: SEED,
      rowGroupSize: ROW_GROUP,
      onProgress: (written, total) => progress.push([written, total]),
    });
    expect(result).toEqual({
      dataFile: dataPath(mainDir),
      truthFile: path.join(mainDir, SYNTHETIC_TRUTH_FILE),
      rows: ROWS,
    });
    truth = JSON.parse(await readFile(result.truthFile, 'utf8')) as GroundTruth;
    instance = await DuckDBInstance.create(':memory:');
    db = await instance.connect();
    rows = await query(`SELECT * FROM ${scan()}`);
  });

  afterAll(async () => {
    db?.closeSync();
    instance?.closeSync();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('reports progress per row group and leaves only the two output files', async () => {
    expect(progress).toEqual([
      [30_000, ROWS],
      [60_000, ROWS],
      [90_000, ROWS],
      [100_000, ROWS],
    ]);
    expect((await readdir(mainDir)).sort()).toEqual([SYNTHETIC_TRUTH_FILE, SYNTHETIC_DATA_FILE].sort());
  });

  it('is byte-identical for the same seed and replaces existing output; differs for another seed', async () => {
    const again = path.join(root, 'again');
    await generateSynthetic({ outDir: again, rows: 10, seed: SEED }); // a stale, complete output
    await writeFile(dataPath(again), 'not parquet');
    await generateSynthetic({ outDir: again, rows: ROWS, seed: SEED, rowGroupSize: ROW_GROUP });
    expect(await readdir(again)).toHaveLength(2);
    expect((await readFile(dataPath(again))).equals(await readFile(dataPath(mainDir)))).toBe(true);
    expect(await readFile(path.join(again, SYNTHETIC_TRUTH_FILE), 'utf8')).toBe(
      await readFile(path.join(mainDir, SYNTHETIC_TRUTH_FILE), 'utf8'),
    );

    const otherSeed = path.join(root, 'other-seed');
    await generateSynthetic({ outDir: otherSeed, rows: ROWS, seed: SEED + 1, rowGroupSize: ROW_GROUP });
    expect((await readFile(dataPath(otherSeed))).equals(await readFile(dataPath(mainDir)))).toBe(false);
  });

  it('leaves existing output untouched and no temporary file when interrupted', async () => {
    const dir = path.join(root, 'interrupted');
    await generateSynthetic({ outDir: dir, rows: 1000, seed: 3 });
    const before = await readFile(dataPath(dir));
    const failure = generateSynthetic({
      outDir: dir,
      rows: 50_000,
      rowGroupSize: 10_000,
      onProgress: (written) => {
        if (written >= 20_000) throw new Error('interrupted');
      },
    });
    await expect(failure).rejects.toThrow('interrupted');
    expect((await readdir(dir)).sort()).toEqual([SYNTHETIC_TRUTH_FILE, SYNTHETIC_DATA_FILE].sort());
    expect((await readFile(dataPath(dir))).equals(before)).toBe(true);
  });

  it('rejects invalid options with a LemoptError', async () => {
    await expect(generateSynthetic({ outDir: path.join(root, 'bad'), rows: 0 })).rejects.toThrow(LemoptError);
    await expect(generateSynthetic({ outDir: path.join(root, 'bad'), rows: 1.5 })).rejects.toThrow(
      LemoptError,
    );
    await expect(generateSynthetic({ outDir: path.join(root, 'bad'), seed: -1 })).rejects.toThrow(
      LemoptError,
    );
    const file = path.join(root, 'a-file');
    await writeFile(file, 'x');
    await expect(generateSynthetic({ outDir: file, rows: 10 })).rejects.toThrow(LemoptError);
  });

  it('reads back in DuckDB with the row count, types and list column of the ground truth', async () => {
    const [{ n }] = await query(`SELECT count(*)::INTEGER AS n FROM ${scan()}`);
    expect(n).toBe(ROWS);
    const described = await query(`DESCRIBE SELECT * FROM ${scan()}`);
    const duckType: Record<string, string> = {
      int32: 'INTEGER',
      int64: 'BIGINT',
      float32: 'FLOAT',
      string: 'VARCHAR',
      'list<int32>': 'INTEGER[]',
    };
    expect(described.map((row) => row.column_name)).toEqual(Object.keys(truth.columns));
    for (const row of described) {
      expect(row.column_type, String(row.column_name)).toBe(
        duckType[truth.columns[String(row.column_name)].type],
      );
    }
    const [tags] = await query(
      `SELECT min(len(i_tags))::INTEGER AS lo, max(len(i_tags))::INTEGER AS hi,
              min(list_min(i_tags))::INTEGER AS minTag, max(list_max(i_tags))::INTEGER AS maxTag,
              count(DISTINCT t)::INTEGER AS distinctTags
       FROM (SELECT i_tags, unnest(i_tags) AS t FROM ${scan()})`,
    );
    expect(tags).toEqual({
      lo: 1,
      hi: 5,
      minTag: 1,
      maxTag: 200,
      distinctTags: truth.columns.i_tags.distinct_in_data,
    });
    expect(Array.isArray(rows[0].i_tags)).toBe(true);
  });

  it('reads back alike in hyparquet, the reader lemopt uses', async () => {
    const file = await asyncBufferFromFile(dataPath(mainDir));
    const columns = ['timestamp', 'u_age_band', 'u_market', 'u_engagement', 'i_tags', 'label'];
    const read = (await parquetReadObjects({ file, columns, compressors })) as Row[];
    expect(read).toHaveLength(ROWS);
    let differences = 0;
    for (let i = 0; i < ROWS; i++) {
      for (const name of columns) {
        const a = read[i][name];
        const b = rows[i][name];
        const same = Array.isArray(a) ? JSON.stringify(a) === JSON.stringify(b) : a === b;
        if (!same) differences++;
      }
    }
    expect(differences).toBe(0);
  });

  it('matches the ground truth: null counts, distinct values, id ranges, label and rating', async () => {
    expect(truth.seed).toBe(SEED);
    expect(truth.rows).toBe(ROWS);
    for (const [name, column] of Object.entries(truth.columns)) {
      const [stats] = await query(`SELECT (count(*) - count("${name}"))::INTEGER AS nulls FROM ${scan()}`);
      expect(stats.nulls, name).toBe(column.null_count);
      if (column.cardinality !== null && column.type !== 'list<int32>' && column.role !== 'label') {
        const [d] = await query(`SELECT count(DISTINCT "${name}")::INTEGER AS d FROM ${scan()}`);
        expect(d.d, name).toBe(column.distinct_in_data);
        expect(column.distinct_in_data!, name).toBeLessThanOrEqual(column.cardinality);
      }
    }
    expect(truth.columns.u_age_band.null_count).toBeGreaterThan(0);
    expect(truth.columns.u_engagement.null_count).toBeGreaterThan(0);

    const [labels] = await query(
      `SELECT count(*) FILTER (label NOT IN (0, 1))::INTEGER AS bad,
              avg(label) AS rate,
              count(*) FILTER ((rating >= 4) <> (label = 1))::INTEGER AS mismatched,
              min(rating)::INTEGER AS lo, max(rating)::INTEGER AS hi,
              min(user_id)::INTEGER AS minUser, max(user_id)::INTEGER AS maxUser
       FROM ${scan()}`,
    );
    expect(labels.bad).toBe(0);
    expect(labels.mismatched).toBe(0);
    expect(labels.rate as number).toBeGreaterThan(0.3);
    expect(labels.rate as number).toBeLessThan(0.6);
    expect(labels.rate as number).toBeCloseTo(truth.data.positive_rate, 6);
    expect([labels.lo, labels.hi]).toEqual([1, 5]);
    expect(labels.minUser as number).toBeGreaterThanOrEqual(1);
    expect(labels.maxUser as number).toBeLessThanOrEqual(truth.columns.user_id.cardinality!);

    // Timestamps follow the row order up to the jitter.
    const [time] = await query(
      `SELECT corr(timestamp, rn) AS c FROM (SELECT timestamp, row_number() OVER () AS rn FROM ${scan()})`,
    );
    expect(time.c as number).toBeGreaterThan(0.99);
    expect(typeof rows[0].timestamp).toBe('bigint');

    const ceiling = truth.metrics.ceiling_auc;
    expect(ceiling).toBeGreaterThan(0.75);
    expect(ceiling).toBeLessThan(0.95);
  });

  it('names roles only in the ground truth, with copies, noise and an equally informative pair', () => {
    expect(truth.roles.copy.sort()).toEqual(['i_department', 'u_market']);
    expect(truth.roles.noise.length).toBeGreaterThanOrEqual(4);
    expect(truth.roles.id.sort()).toEqual(['item_id', 'user_id']);
    expect(truth.roles.numeric_signal).toEqual(['u_engagement']);
    expect(truth.roles.numeric_noise).toEqual(['i_weight']);
    for (const name of Object.keys(truth.columns)) expect(name).not.toMatch(/signal|noise|copy|random|fake/i);
    const [pair] = truth.equally_informative_pairs;
    expect(pair.cardinalities[1]).toBeGreaterThanOrEqual(50 * pair.cardinalities[0]);
    expect(truth.columns[pair.cheaper].signal_r2).toBe(truth.columns[pair.costlier].signal_r2);
    for (const name of truth.roles.signal) {
      expect(truth.columns[name].signal_r2!).toBeGreaterThan(0.03);
      expect(truth.columns[name].oracle_auc!).toBeGreaterThan(
        truth.metrics.oracle_auc_baseline[truth.columns[name].tower as 'user' | 'item'] + 0.01,
      );
    }
    const strengths = truth.roles.signal.map((name) => truth.columns[name].signal_r2!);
    expect(Math.max(...strengths)).toBeGreaterThan(2 * Math.min(...strengths));
  });

  it('has copies that are a bijective relabelling of their source, row by row', () => {
    for (const [copy, source] of [
      ['u_market', 'u_region'],
      ['i_department', 'i_category'],
    ]) {
      expect(truth.columns[copy].copy_of).toBe(source);
      expect(relabellingConflicts(rows, source, copy)).toBe(0);
      expect(new Set(rows.map((row) => row[source])).size).toBe(truth.columns[source].distinct_in_data);
      expect(typeof rows[0][copy]).not.toBe(typeof rows[0][source]);
    }
  });

  it('carries label signal in signal columns and none in noise columns, as the ground truth says', () => {
    const categorical = [...truth.roles.signal, ...truth.roles.noise];
    const world = buildWorld(SEED);
    const measured = new Map(
      categorical.map((name) => [
        name,
        partnerAuc(rows, world, name, truth.columns[name].tower as 'user' | 'item', truth.data.positive_rate),
      ]),
    );
    const noise = truth.roles.noise.map((name) => measured.get(name)!);
    const signal = truth.roles.signal.map((name) => measured.get(name)!);
    for (const value of noise) expect(Math.abs(value - 0.5)).toBeLessThan(0.02);
    expect(Math.min(...signal)).toBeGreaterThan(Math.max(...noise) + 0.01);
    // The strongest columns by ground truth are also strong in the data.
    const byTruth = [...truth.roles.signal].sort(
      (a, b) => truth.columns[b].oracle_auc! - truth.columns[a].oracle_auc!,
    );
    const byData = [...truth.roles.signal].sort((a, b) => measured.get(b)! - measured.get(a)!);
    expect(byData.slice(0, 4)).toContain(byTruth[0]);
    expect(byData.slice(-3)).toContain(byTruth[byTruth.length - 1]);
  });

  it('has an informative and a pure-noise float column', () => {
    const correlation = (name: string): number => {
      let n = 0;
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (const row of rows) {
        const x = row[name];
        if (x === null || x === undefined) continue;
        const y = row.label as number;
        n++;
        sx += x as number;
        sy += y;
        sxx += (x as number) ** 2;
        syy += y * y;
        sxy += (x as number) * y;
      }
      return (
        (sxy / n - (sx / n) * (sy / n)) / Math.sqrt((sxx / n - (sx / n) ** 2) * (syy / n - (sy / n) ** 2))
      );
    };
    expect(correlation('u_engagement')).toBeGreaterThan(0.1);
    expect(Math.abs(correlation('i_weight'))).toBeLessThan(0.05);
  });
});
