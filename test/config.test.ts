import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../src/config/load.js';
import { parseByteSize } from '../src/config/size.js';
import { resolveFeatureLayout } from '../src/data/features.js';

const MINIMAL = `
data:
  source: data/x.parquet
  label: { column: rating, rule: ">= 4" }
features:
  - { name: user_id, tower: user }
  - { name: item_id, tower: item }
`;

function errorOf(text: string): string {
  try {
    parseConfig(text, 'cfg.yaml');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('config loading', () => {
  it('fills in defaults and resolves paths against the config folder', () => {
    const { config } = parseConfig(MINIMAL, '/projects/demo/configs/small.yaml');
    expect(config.data.source).toBe('/projects/demo/configs/data/x.parquet');
    expect(config.data.split).toEqual({ method: 'random', train: 0.8, valid: 0.1, test: 0.1, seed: 0 });
    expect(config.features[0]).toMatchObject({ type: 'categorical', min_count: 1, hash_buckets: 0 });
    expect(config.model.embedding_dim).toBe(16);
    expect(config.train.batch_size).toBe(1024);
    expect(config.output.dir).toBe(path.resolve('runs', 'small'));
  });

  it('names the file, key path and line of an unknown key', () => {
    const text = MINIMAL.replace(
      '  - { name: item_id, tower: item }',
      '  - { name: item_id, tower: item, min_cout: 3 }',
    );
    expect(errorOf(text)).toBe("cfg.yaml:7: features[1].min_cout: unknown key 'min_cout'");
  });

  it('names the line of a misspelt section', () => {
    expect(errorOf(`${MINIMAL}trian:\n  epochs: 3\n`)).toBe("cfg.yaml:8: trian: unknown key 'trian'");
  });

  it('names the path and line of a value of the wrong type', () => {
    expect(errorOf(`${MINIMAL}train:\n  batch_size: many\n`)).toBe(
      'cfg.yaml:9: train.batch_size: Invalid input: expected number, received string',
    );
  });

  it('reports invalid YAML with its line', () => {
    expect(errorOf('data:\n  source: [a, b\nfeatures: []\n')).toMatch(/^cfg\.yaml:\d+: invalid YAML: /);
  });

  it('rejects a missing section', () => {
    expect(errorOf('features:\n  - { name: a, tower: user }\n')).toBe(
      'cfg.yaml: data: required, but missing',
    );
  });

  it('rejects a bad label rule, split fractions and unknown group members', () => {
    const text = `
data:
  source: x.csv
  label: { column: rating, rule: "about 4" }
  split: { train: 0.5, valid: 0.1, test: 0.1 }
features:
  - { name: [a, b], tower: user }
groups:
  - { name: g, features: [a, c] }
`;
    expect(errorOf(text).split('\n')).toEqual([
      'cfg.yaml:4: data.label.rule: expected `binary` or a comparison like `>= 4` or `== click`',
      'cfg.yaml:5: data.split.train: train + valid + test must be 1, not 0.7',
      "cfg.yaml:9: groups[0].features[1]: no feature 'c'; features are: a, b",
    ]);
  });

  it('names a missing required key with the line of its parent', () => {
    expect(errorOf(MINIMAL.replace('  - { name: user_id, tower: user }', '  - { name: user_id }'))).toBe(
      'cfg.yaml:6: features[0].tower: required, but missing',
    );
  });

  it('rejects groups that mix towers', () => {
    const text = `${MINIMAL}groups:\n  - { name: both, features: [user_id, item_id] }\n`;
    expect(errorOf(text)).toBe("cfg.yaml:9: groups[0].features: group 'both' mixes user and item features");
  });

  it('parses memory budgets with units', () => {
    const { config } = parseConfig(`${MINIMAL}selection:\n  budgets: { memory: 4MB }\n`, 'c.yaml');
    expect(config.selection.budgets.memory).toBe(4_000_000);
    expect(errorOf(`${MINIMAL}selection:\n  budgets: { memory: 4 parsecs }\n`)).toBe(
      "cfg.yaml:9: selection.budgets.memory: '4 parsecs' is not a size; write bytes, e.g. 4MB, 512KiB, or a share of the full model's, e.g. 25%",
    );
  });

  it('keeps budgets given as shares of the full model', () => {
    const { config } = parseConfig(
      `${MINIMAL}selection:\n  budgets: { memory: 25%, latency_us: '50 %' }\n`,
      'c.yaml',
    );
    expect(config.selection.budgets).toEqual({ memory: '25%', latency_us: '50 %' });
    expect(errorOf(`${MINIMAL}selection:\n  budgets: { latency_us: fast }\n`)).toBe(
      "cfg.yaml:9: selection.budgets.latency_us: 'fast' is not a latency; write positive microseconds, e.g. 20, or a share of the full model's, e.g. 50%",
    );
  });

  it('names the file when it cannot be read', async () => {
    await expect(loadConfig('/no/such/config.yaml')).rejects.toThrow(
      /^\/no\/such\/config\.yaml: cannot read the config/,
    );
  });

  it('loads a file from disk', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lemopt-config-'));
    const file = path.join(dir, 'run.yaml');
    await writeFile(file, MINIMAL);
    const { config } = await loadConfig(file);
    expect(config.data.source).toBe(path.join(dir, 'data/x.parquet'));
  });
});

describe('byte sizes', () => {
  it.each([
    [1024, 1024],
    ['4MB', 4e6],
    ['1.5 GiB', 1.5 * 2 ** 30],
    ['512kb', 512e3],
    ['12', 12],
  ])('%s is %d bytes', (input, bytes) => expect(parseByteSize(input)).toBe(bytes));
  it.each(['', 'MB', '-3MB', '4 parsecs'])('%s is not a size', (input) =>
    expect(parseByteSize(input)).toBeUndefined(),
  );
});

describe('feature layout', () => {
  it('expands the compact multi-name form and adds one group per ungrouped feature', () => {
    const { config } = parseConfig(
      `${MINIMAL.replace('features:', 'features:\n  - { name: [age, gender], tower: user, min_count: 5 }')}groups:\n  - { name: demo, features: [age, gender] }\n`,
      'c.yaml',
    );
    const layout = resolveFeatureLayout(config);
    expect(layout.features.map((f) => [f.name, f.column, f.min_count])).toEqual([
      ['age', 'age', 5],
      ['gender', 'gender', 5],
      ['user_id', 'user_id', 1],
      ['item_id', 'item_id', 1],
    ]);
    expect(layout.groups).toEqual([
      { name: 'demo', tower: 'user', features: ['age', 'gender'] },
      { name: 'user_id', tower: 'user', features: ['user_id'] },
      { name: 'item_id', tower: 'item', features: ['item_id'] },
    ]);
  });
});
