/**
 * The classifier mode (model.kind: classifier): a generated problem whose class depends
 * on 5 of 30 columns, where Sequential Attention with k = 5 must pick exactly those 5;
 * imputation and scaling on a tiny table (exact numbers); the errors for bad cells.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { imputeClassMeans, loadDenseTable, minMaxScale } from '../src/data/dense-table.js';
import { TEST, TRAIN, VALID } from '../src/data/split.js';
import { describeClassifierRun, runClassifierSelection } from '../src/experiment/classify.js';
import { Random } from '../src/util/random.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

const COLUMNS = Array.from({ length: 30 }, (_, j) => `x${j}`);
/** The class: two bits, from x3 + x11 + x17 and from x22 − x28. */
const INFORMATIVE = ['x3', 'x11', 'x17', 'x22', 'x28'];

async function writePlanted(file: string, rows: number): Promise<void> {
  const random = new Random(11, 'planted');
  const lines = [[...COLUMNS, 'label'].join(',')];
  for (let i = 0; i < rows; i++) {
    const x = COLUMNS.map(() => random.normal());
    const high = x[3] + x[11] + x[17] > 0 ? 1 : 0;
    const low = x[22] - x[28] > 0 ? 1 : 0;
    lines.push([...x.map((v) => v.toFixed(4)), ['ant', 'bee', 'cat', 'dog'][2 * high + low]].join(','));
  }
  await writeFile(file, `${lines.join('\n')}\n`);
}

function classifierConfig(source: string, extra = ''): RunConfig {
  const yaml = `
data:
  source: ${source}
  label: { column: label }
  split: { method: random, train: 0.8, valid: 0.1, test: 0.1 }
features:
  - { name: [${COLUMNS.join(', ')}], tower: user, type: numeric }
model: { kind: classifier, hidden: [16], backend: onnxruntime }
train: { batch_size: 64, epochs: 40, learning_rate: 0.01, seed: 1 }
selection: { k: 5, epochs: 60, seed: 1 }
output: { dir: run }
${extra}`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-classifier-');
  await writePlanted(tmp.file('planted.csv'), 800);
});

afterAll(async () => {
  await tmp.remove();
});

describe('classifier mode', () => {
  it('selects exactly the 5 columns that decide the class, and the retrained model beats chance', async () => {
    const result = await runClassifierSelection(classifierConfig('planted.csv'), { baseline: false });
    expect(result.picks).toHaveLength(5);
    expect(result.picks.map((pick) => pick.column).sort()).toEqual([...INFORMATIVE].sort());
    expect(result.classes).toEqual(['ant', 'bee', 'cat', 'dog']);
    expect(result.selected.test).toBeGreaterThan(0.8);
    expect(result.runDir).toBe(tmp.file('run'));
    const saved = JSON.parse(await readFile(tmp.file('run', 'selection.json'), 'utf8')) as {
      picks: { column: string }[];
    };
    expect(saved.picks.map((pick) => pick.column)).toEqual(result.picks.map((pick) => pick.column));
    expect(describeClassifierRun(result)).toContain(
      `selected model: test accuracy ${result.selected.test.toFixed(4)}`,
    );
  });

  it('rejects selection.k without model.kind classifier, and non-numeric classifier features', () => {
    const yaml = (model: string, feature: string) => `
data: { source: x.csv, label: { column: label } }
features: [{ name: a, tower: user${feature} }]
model: { ${model} }
selection: { k: 3 }
`;
    expect(() => parseConfig(yaml('', ''), tmp.file('c.yaml'))).toThrow(
      'selection.k: k is for model.kind: classifier; the two-tower selection stops at selection.max_candidates',
    );
    expect(() => parseConfig(yaml('kind: classifier', ', type: categorical'), tmp.file('c.yaml'))).toThrow(
      'features[0].type: a classifier takes numeric columns only: write type: numeric',
    );
  });
});

describe('dense table', () => {
  it('imputes with the train class means (valid/test: the train column mean) and min-max scales on train', () => {
    // Column a: class 0 train rows 1 and 3 (mean 2), class 1 train row 10; column b: constant 5.
    const nan = Number.NaN;
    const x = Float64Array.from([1, 5, 3, 5, nan, 5, 10, 5, nan, nan, nan, 5, 20, 5]);
    const y = [0, 0, 0, 1, 1, 0, 1];
    const split = [TRAIN, TRAIN, TRAIN, TRAIN, TRAIN, VALID, TEST];
    const filled = imputeClassMeans(x, y, split, 7, ['a', 'b'], 2, 't.csv');
    expect(filled).toBe(4);
    // Row 3 (class 0, train): 2; row 5 (class 1, train): 10 and 5; row 6 (valid): the train mean of a, (1+3+10)/3.
    expect(Array.from(x)).toEqual([1, 5, 3, 5, 2, 5, 10, 5, 10, 5, 14 / 3, 5, 20, 5]);
    const scaled = minMaxScale(x, split, 7, 2);
    // a: train min 1, max 10; valid/test rows are not clipped. b: constant, so 0.
    const expected = [0, 0, 2 / 9, 0, 1 / 9, 0, 1, 0, 1, 0, (14 / 3 - 1) / 9, 0, 19 / 9, 0];
    Array.from(scaled).forEach((value, i) => expect(value).toBeCloseTo(expected[i], 6));
  });

  it('reads a CSV with a BOM, nulls and string classes into ids', async () => {
    await writeFile(tmp.file('tiny.csv'), '\ufeffa,b,class\n1,4,z\n,8,y\n3,,z\n5,0,y\n');
    const config = parseConfig(
      `
data:
  source: tiny.csv
  label: { column: class }
  split: { method: random, train: 1, valid: 0, test: 0 }
features: [{ name: [a, b], tower: user, type: numeric }]
model: { kind: classifier }
selection: { k: 1 }
`,
      tmp.file('tiny.yaml'),
    ).config;
    const table = await loadDenseTable(config);
    expect(table.classes).toEqual(['y', 'z']);
    expect(Array.from(table.y)).toEqual([1, 0, 1, 0]);
    expect(table.imputed).toBe(2);
    // a: row 2 (class y) takes 5, the mean of y's a values; b: row 3 (class z) takes 4.
    // Scaled: a over [1, 5], b over [0, 8].
    expect(Array.from(table.x)).toEqual([0, 0.5, 1, 1, 0.5, 0.5, 1, 0]);
  });

  it('names the file, row and column of a non-numeric cell, and a column with no value', async () => {
    await writeFile(tmp.file('bad.csv'), 'a,b,class\n1,2,x\n2,oops,y\n');
    await writeFile(tmp.file('empty.csv'), 'a,b,class\n1,,x\n2,,y\n');
    const config = (source: string) =>
      parseConfig(
        `
data: { source: ${source}, label: { column: class }, split: { train: 1, valid: 0, test: 0 } }
features: [{ name: [a, b], tower: user, type: numeric }]
model: { kind: classifier }
`,
        tmp.file('bad.yaml'),
      ).config;
    await expect(loadDenseTable(config('bad.csv'))).rejects.toThrow(
      `${tmp.file('bad.csv')}: row 2, column 'b': 'oops' is not a number`,
    );
    await expect(loadDenseTable(config('empty.csv'))).rejects.toThrow(
      `${tmp.file('empty.csv')}: column 'b' has no value in any row`,
    );
  });
});
