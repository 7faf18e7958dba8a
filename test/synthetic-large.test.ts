import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keptGroupNames, recovery } from '../bench/recovery.js';
import { loadConfig } from '../src/config/load.js';
import { openCheckedSource } from '../src/data/dataset.js';
import { generateSynthetic, type GroundTruth } from '../src/data/synthetic.js';
import { LARGE_PROFILE } from '../src/data/synthetic/large-profile.js';
import { buildWorld, type CategoricalFeature, type World } from '../src/data/synthetic/world.js';
import { partnerAuc, relabellingConflicts, type Row } from './support/partner-auc.js';

const ROWS = 20_000;
const SEED = 7;

type Tower = 'user' | 'item';

describe('the large synthetic profile', () => {
  let root: string;
  let dataFile: string;
  let truth: GroundTruth;
  let rows: Row[];
  let world: World;
  const measured = new Map<string, number>();

  const features = () =>
    Object.entries(truth.columns).filter(([, column]) => ['signal', 'copy', 'noise'].includes(column.role));
  const towerOf = (name: string) => truth.columns[name].tower as Tower;
  const strength = (name: string, key?: (value: unknown, row: Row) => unknown) =>
    partnerAuc(rows, world, name, towerOf(name), truth.data.positive_rate, key);

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lemopt-synthetic-large-'));
    const result = await generateSynthetic({ outDir: root, profile: 'large', rows: ROWS, seed: SEED });
    dataFile = result.dataFile;
    truth = JSON.parse(await readFile(result.truthFile, 'utf8')) as GroundTruth;
    const file = await asyncBufferFromFile(dataFile);
    rows = (await parquetReadObjects({ file, compressors })) as Row[];
    world = buildWorld(SEED, LARGE_PROFILE);
    for (const [name, column] of features()) if (column.role !== 'copy') measured.set(name, strength(name));
  }, 600_000);

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('has 100 feature groups per tower: graded signal, copies, pairs, noise, lists and large vocabularies', () => {
    expect(truth.profile).toBe('large');
    expect(truth.rows).toBe(ROWS);
    expect(rows).toHaveLength(ROWS);
    for (const tower of ['user', 'item'] as const) {
      const own = features().filter(([, column]) => column.tower === tower);
      expect(own).toHaveLength(100);
      const role = (name: string) => own.filter(([, column]) => column.role === name);
      expect(role('signal').length).toBeGreaterThanOrEqual(20);
      expect(role('copy').length).toBeGreaterThanOrEqual(4);
      expect(role('noise').length).toBeGreaterThanOrEqual(20);
      for (const kind of ['signal', 'noise']) {
        expect(role(kind).some(([, column]) => column.multi_valued)).toBe(true);
        expect(role(kind).some(([, column]) => column.cardinality! >= 1000)).toBe(true);
      }
      const r2 = role('signal').map(([, column]) => column.signal_r2!);
      expect(Math.max(...r2)).toBeGreaterThan(100 * Math.min(...r2));
      const pairs = truth.equally_informative_pairs.filter((pair) => towerOf(pair.cheaper) === tower);
      expect(pairs.length).toBeGreaterThanOrEqual(2);
      for (const pair of pairs) {
        expect(pair.cardinalities[1]).toBeGreaterThanOrEqual(50 * pair.cardinalities[0]);
        expect(truth.columns[pair.cheaper].signal_r2).toBe(truth.columns[pair.costlier].signal_r2);
        expect(truth.columns[pair.cheaper].equally_informative_with).toBe(pair.costlier);
      }
    }
    // Names say nothing: u001-u100 and i001-i100, roles dealt by a shuffle.
    expect(
      features()
        .map(([name]) => name)
        .sort(),
    ).toEqual([
      ...Array.from({ length: 100 }, (_, i) => `i${String(i + 1).padStart(3, '0')}`),
      ...Array.from({ length: 100 }, (_, i) => `u${String(i + 1).padStart(3, '0')}`),
    ]);
  });

  it('has copies that relabel their source one to one, row by row', () => {
    const copies = features().filter(([, column]) => column.role === 'copy');
    expect(copies.length).toBe(16);
    for (const [name, column] of copies) {
      expect(relabellingConflicts(rows, column.copy_of!, name)).toBe(0);
      expect(column.distinct_in_data).toBe(truth.columns[column.copy_of!].distinct_in_data);
      expect(truth.redundant_sets).toContainEqual(expect.arrayContaining([column.copy_of!, name]));
    }
  });

  it('has noise that tells nothing about the label and signal graded as the ground truth says', () => {
    const noise = truth.roles.noise.map((name) => measured.get(name)!);
    for (const value of noise) expect(Math.abs(value - 0.5)).toBeLessThan(0.03);
    // Signal by ground-truth strength, in four tiers of 13: each tier measures stronger on the
    // rows than the next, the strongest tier stands clear of the noise on average and its two
    // strongest columns each (the high-cardinality ones need more rows than these).
    const bySignal = [...truth.roles.signal].sort(
      (a, b) => truth.columns[b].signal_r2! - truth.columns[a].signal_r2!,
    );
    const tiers = [0, 1, 2, 3].map((t) => bySignal.slice(13 * t, 13 * (t + 1)).map((n) => measured.get(n)!));
    const means = tiers.map((tier) => tier.reduce((a, b) => a + b, 0) / tier.length);
    for (let t = 1; t < tiers.length; t++) expect(means[t - 1]).toBeGreaterThan(means[t]);
    const noiseMean = noise.reduce((a, b) => a + b, 0) / noise.length;
    expect(means[0]).toBeGreaterThan(noiseMean + 0.025);
    expect(means[0]).toBeGreaterThan(Math.max(...noise));
    for (const name of bySignal.slice(0, 2))
      expect(measured.get(name)!).toBeGreaterThan(Math.max(...noise) + 0.03);
  });

  it('has equally informative pairs: the costly member refines the cheap one’s eight cells into many ids', () => {
    const feature = (name: string) =>
      world.features.find((candidate) => candidate.spec.name === name) as CategoricalFeature;
    for (const pair of truth.equally_informative_pairs) {
      const [cheap, costly] = [feature(pair.cheaper), feature(pair.costlier)];
      expect(truth.columns[pair.cheaper].distinct_in_data).toBe(pair.cardinalities[0]);
      expect(truth.columns[pair.costlier].distinct_in_data).toBeGreaterThan(pair.cardinalities[0] * 10);
      // Each costly id lies in one cell; counted by cell, it tells as much as the cheap column.
      const cellOfId = new Map<number, number>();
      for (let e = 0; e < costly.ids.length; e++) {
        expect(cellOfId.get(costly.ids[e]) ?? costly.cells[e]).toBe(costly.cells[e]);
        cellOfId.set(costly.ids[e], costly.cells[e]);
      }
      const cellCount = (f: CategoricalFeature) => new Set(f.cells.filter((cell) => cell >= 0)).size;
      expect(cellCount(costly)).toBe(cellCount(cheap));
      const byCell = strength(pair.costlier, (id) => cellOfId.get(id as number));
      expect(Math.abs(byCell - measured.get(pair.cheaper)!)).toBeLessThan(0.03);
    }
  });

  it('is what configs/large.yaml reads: every feature group, lists as multi_categorical', async () => {
    const { config } = await loadConfig('configs/large.yaml');
    const { layout } = await openCheckedSource({ ...config, data: { ...config.data, source: dataFile } });
    expect(layout.groups).toHaveLength(200);
    const configured = config.features.flatMap((f) =>
      (Array.isArray(f.name) ? f.name : [f.name]).map((name) => [name, f.type, f.tower] as const),
    );
    expect(configured.map(([name]) => name).sort()).toEqual(
      features()
        .map(([name]) => name)
        .sort(),
    );
    for (const [name, type, tower] of configured) {
      expect(tower).toBe(truth.columns[name].tower);
      expect(type === 'multi_categorical').toBe(truth.columns[name].multi_valued);
    }
  });

  it('scores a selection against the ground truth (bench/recovery.ts)', () => {
    const [strong, second] = [...truth.roles.signal].sort(
      (a, b) => truth.columns[b].signal_r2! - truth.columns[a].signal_r2!,
    );
    // A redundant set and a pair that share no column with each other or the two strongest.
    const [copySource, copy] = truth.redundant_sets.find(
      ([source]) => !truth.columns[source].equally_informative_with && ![strong, second].includes(source),
    )!;
    const noise = truth.roles.noise[0];
    const pair = truth.equally_informative_pairs[0];
    expect([strong, second, copySource]).not.toContain(pair.cheaper);
    const kept = [strong, copySource, copy, noise, second, pair.cheaper].filter(
      (name, index, all) => all.indexOf(name) === index,
    );
    const score = recovery(truth, keptGroupNames(kept.map((name) => `${name}:16`).join(';')));
    const hits = new Set([strong, copySource, second, pair.cheaper]).size;
    expect(score).toMatchObject({
      kept: kept.length,
      hits,
      noise: 1,
      redundant: 1,
      units: truth.roles.signal.length,
      recovered: hits,
      cheaperKept: 1,
      costlierKept: 0,
    });
    expect(score.precision).toBeCloseTo(hits / kept.length, 12);
    expect(score.recall).toBeCloseTo(hits / truth.roles.signal.length, 12);
    expect(keptGroupNames('')).toEqual([]);
  });
});
