import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { columnSpecs, sampleIndices, writeSample } from '../bench/eval-small-data.js';
import { makeTempDir, type TempDir } from './support/tmp.js';
import { plantedCounts } from '../bench/eval-value-stop.js';
import type { GroundTruth } from '../src/data/synthetic.js';
import type { TrialRow } from '../src/experiment/sweep-results.js';

describe('the small-data subsample', () => {
  it('draws distinct rows from the whole table, the same for a seed and others for another', () => {
    const rows = sampleIndices(1000, 100, 3);
    expect(new Set(rows).size).toBe(100);
    expect(rows.every((i) => Number.isInteger(i) && i >= 0 && i < 1000)).toBe(true);
    // Not the first rows: drawn across the table.
    expect(Math.max(...rows)).toBeGreaterThan(500);
    expect(sampleIndices(1000, 100, 3)).toEqual(rows);
    expect(sampleIndices(1000, 100, 4)).not.toEqual(rows);
  });

  let tmp: TempDir;
  beforeEach(async () => {
    tmp = await makeTempDir();
  });
  afterEach(async () => {
    await tmp.remove();
  });

  it('writes the drawn rows with their columns and types', async () => {
    const table = Array.from({ length: 50 }, (_, i) => ({
      user_id: i,
      gender: i % 2 ? 'M' : 'F',
      rating: i % 5,
    }));
    const file = tmp.file('sample', 'interactions.parquet');
    await writeSample(table, 1, file, 10);
    const read = await parquetReadObjects({ file: await asyncBufferFromFile(file) });
    expect(read).toEqual(sampleIndices(50, 10, 1).map((i) => table[i]));
  });

  it("keeps the source's schema: nullable, float, int64 and list columns", async () => {
    const table = Array.from({ length: 30 }, (_, i) => ({
      timestamp: BigInt(1_700_000_000 + i),
      year: i % 4 === 0 ? null : 1990 + i,
      weight: i % 3 === 0 ? null : i / 4,
      tags: i % 5 === 0 ? [] : [i, i + 1],
      genres: [`g${i % 3}`],
      label: i % 2,
    }));
    const specs = [
      { name: 'timestamp', type: 'int64', nullable: false },
      { name: 'year', type: 'int32', nullable: true },
      { name: 'weight', type: 'float32', nullable: true },
      { name: 'tags', type: 'list<int32>', nullable: false },
      { name: 'genres', type: 'list<string>', nullable: false },
      { name: 'label', type: 'int32', nullable: false },
    ] as const;
    const source = tmp.file('source', 'interactions.parquet');
    await writeSample(table, 0, source, 30, specs);
    const read = await asyncBufferFromFile(source);
    expect(columnSpecs((await parquetMetadataAsync(read)).schema)).toEqual(specs);
    const file = tmp.file('sample', 'interactions.parquet');
    await writeSample(await parquetReadObjects({ file: read }), 2, file, 8, specs);
    const sample = await parquetReadObjects({ file: await asyncBufferFromFile(file) });
    const expected = sampleIndices(30, 8, 2).map((i) => sampleIndices(30, 30, 0).map((j) => table[j])[i]);
    expect(sample).toEqual(expected);
  });

  it('takes every row when asked for all and refuses more', () => {
    expect([...sampleIndices(5, 5, 0)].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(() => sampleIndices(5, 6, 0)).toThrow('cannot sample 6 rows from 5');
  });
});

describe('noise and copies kept, against the ground truth', () => {
  const column = (role: string, copyOf: string | null = null) => ({ role, copy_of: copyOf, signal_r2: 0.1 });
  const truth = {
    columns: {
      a: column('signal'),
      a_copy: column('copy', 'a'),
      b: column('signal'),
      n1: column('noise'),
      n2: column('numeric_noise'),
      id: column('id'),
    },
    roles: { signal: ['a', 'b'], copy: ['a_copy'], noise: ['n1'], numeric_noise: ['n2'], id: ['id'] },
    redundant_sets: [['a', 'a_copy']],
    equally_informative_pairs: [],
  } as unknown as GroundTruth;
  const row = (kept: string) => ({ kept_groups: kept }) as TrialRow;

  it('counts pure and numeric noise, and a copy only when its source is kept too', () => {
    expect(plantedCounts(truth, row('a:16;n1:16;a_copy:16;id:4;n2:8'))).toEqual({ noise: 2, copies: 1 });
    expect(plantedCounts(truth, row('a_copy:16;b:16'))).toEqual({ noise: 0, copies: 0 });
    expect(plantedCounts(truth, row(''))).toEqual({ noise: 0, copies: 0 });
  });
});
