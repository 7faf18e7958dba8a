import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { resolveFeatureLayout } from '../src/data/features.js';
import {
  readManifest,
  reducedConfig,
  validateManifest,
  writeManifest,
  type Manifest,
} from '../src/experiment/manifest.js';
import { makeManifest, manifestConfig } from './support/manifest.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

const MAIN = path.resolve('src/cli/main.ts');
const TSX = import.meta.resolve('tsx');
const FILE = 'runs/x/manifest.json';

const CONFIG = `data:
  source: events.csv
  label: { column: clicked }
features:
  - { name: [user_id, age, gender], tower: user, min_count: 2 }
  - { name: city, column: user_city, tower: user }
  - { name: [item_id, category], tower: item, hash_buckets: 8 }
  - { name: tags, tower: item, type: multi_categorical, pooling: sum }
  - { name: price, tower: item, type: numeric, buckets: 5 }
groups:
  - { name: demographics, features: [age, gender] }
model: { embedding_dim: 16 }
selection: { block_size: 4, budgets: { memory: 64KB } }
output: { dir: runs/x }
`;

/** Pick order: user_id, item_id, tags, demographics; dropped: city, category, price. */
const KEPT = { user_id: 16, item_id: 12, tags: 4, demographics: 8 };

let tmp: TempDir;
let config: RunConfig;
let manifest: Manifest;

/** A JSON copy of the manifest to break; `edit` changes it in place. */
type Json = Record<string, unknown> & {
  kept: Record<string, unknown>[];
  dropped: Record<string, unknown>[];
  selection_order: { cumulative: Record<string, unknown> }[];
  budgets: Record<string, unknown>;
  config: Record<string, Record<string, unknown>[] | Record<string, unknown>>;
};

function broken(edit: (json: Json) => void): unknown {
  const json = JSON.parse(JSON.stringify(manifest)) as Json;
  edit(json);
  return json;
}

function problemsOf(value: unknown): string {
  try {
    validateManifest(value, FILE);
  } catch (error) {
    return (error as Error).message;
  }
  return '(valid)';
}

function lemopt(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], {
    encoding: 'utf8',
    cwd: tmp.path,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-manifest-');
  config = manifestConfig(CONFIG, tmp.file('config.yaml'));
  manifest = makeManifest(config, { kept: KEPT });
  await mkdir(tmp.file('runs/x'), { recursive: true });
  await writeManifest(tmp.file(FILE), manifest);
});
afterAll(() => tmp.remove());

describe('validateManifest', () => {
  it('passes a valid manifest and gives it back with the config re-validated', () => {
    const valid = validateManifest(JSON.parse(JSON.stringify(manifest)), FILE);
    expect(valid).toEqual(manifest);
    expect(valid.config).toEqual(config);
    expect(valid.kept.map((group) => group.group)).toEqual(['demographics', 'user_id', 'item_id', 'tags']);
    expect(valid.dropped.map((group) => group.group)).toEqual(['city', 'category', 'price']);
  });

  it('reads back what writeManifest wrote', async () => {
    await expect(readManifest(tmp.file(FILE))).resolves.toEqual(manifest);
  });

  it('names the file and JSON path of a missing field and of a wrong type, one line each', () => {
    const value = broken((json) => {
      delete json.created;
      json.kept[0].dim = '16';
    });
    expect(problemsOf(value)).toBe(
      [
        'runs/x/manifest.json: /created: required, but missing',
        'runs/x/manifest.json: /kept/0/dim: must be integer, got "16"',
      ].join('\n'),
    );
  });

  it('rejects unknown keys, wrong enum values, a wrong version and a non-object', () => {
    const value = broken((json) => {
      json.manifest_version = 2;
      json.dropped[0].colour = 'red';
      json.kept[1].tower = 'both';
    });
    expect(problemsOf(value)).toBe(
      [
        'runs/x/manifest.json: /manifest_version: must be 1, got 2',
        'runs/x/manifest.json: /kept/1/tower: must be one of user, item, got "both"',
        "runs/x/manifest.json: /dropped/0/colour: unknown key 'colour'",
      ].join('\n'),
    );
    expect(problemsOf([])).toBe('runs/x/manifest.json: /: must be object, got an array');
  });

  it('accepts why selection stopped and what did not fit, and checks them; older manifests have neither', () => {
    expect(manifest.stopped).toBeUndefined();
    const entry = {
      candidate: 'category#1',
      group: 'category',
      block: 1,
      tower: 'item',
      weight: 0.31,
      round: 4,
      rounds: [3, 4],
      cost: { memory_bytes: 9_000, latency_us: 0.2 },
      budget_left: { memory_bytes: 4_000, latency_us: 1.5 },
      blocked_by: 'memory',
      fits_with_fewer_dims: null,
      fits_as_int8: { dim: 8, dtype: 'int8', memory_bytes: 3_500, latency_us: 0.2 },
    };
    const stopped = { reason: 'budget_full', unused_budget: { memory_bytes: 120, latency_us: null } };
    const valid = broken((json) => {
      json.stopped = stopped;
      json.did_not_fit = [entry];
    });
    expect(problemsOf(valid)).toBe('(valid)');
    const invalid = broken((json) => {
      json.stopped = { ...stopped, reason: 'tired' };
      json.did_not_fit = [{ ...entry, blocked_by: 'luck', fits_as_int8: { ...entry.fits_as_int8, dim: 0 } }];
    });
    expect(problemsOf(invalid)).toBe(
      [
        'runs/x/manifest.json: /stopped/reason: must be one of budget_full, all_selected, max_candidates, value, got "tired"',
        'runs/x/manifest.json: /did_not_fit/0/blocked_by: must be one of memory, latency, memory_and_latency, other_tower, got "luck"',
        'runs/x/manifest.json: /did_not_fit/0/fits_as_int8/dim: must be >= 1, got 0',
      ].join('\n'),
    );
  });

  it('checks metrics by their kind', () => {
    const value = broken((json) => {
      const metrics = json.metrics as { full: { test: Record<string, unknown> } };
      delete metrics.full.test.auc;
    });
    expect(problemsOf(value)).toBe('runs/x/manifest.json: /metrics/full/test/auc: required, but missing');
  });

  it('validates the embedded config with the config schema', () => {
    const value = broken((json) => {
      (json.config.features as Record<string, unknown>[])[1].min_cout = 2;
    });
    expect(problemsOf(value)).toBe(
      "runs/x/manifest.json: /config/features/1/min_cout: unknown key 'min_cout'",
    );
  });

  it('rejects a kept dim that is not a multiple of block_size or above embedding_dim', () => {
    const value = broken((json) => {
      json.kept[1].dim = 6;
      json.kept[2].dim = 20;
    });
    expect(problemsOf(value)).toBe(
      [
        'runs/x/manifest.json: /kept/1/dim: must be a multiple of block_size 4, got 6',
        'runs/x/manifest.json: /kept/2/dim: must be at most model.embedding_dim 16, got 20',
      ].join('\n'),
    );
  });

  it('rejects a group both kept and dropped, and a config group in neither', () => {
    const value = broken((json) => {
      json.dropped.push({ ...json.kept[0], full_dim: 16, full_memory_bytes: 1 });
      for (const key of ['dim', 'dtype', 'memory_bytes', 'lookups']) delete json.dropped[3][key];
      json.dropped.splice(0, 1);
    });
    expect(problemsOf(value)).toBe(
      [
        "runs/x/manifest.json: /dropped/2/group: group 'demographics' is both kept (/kept/0) and dropped",
        "runs/x/manifest.json: /dropped: config group 'city' is neither kept nor dropped",
      ].join('\n'),
    );
  });

  it('accepts a dropped group recorded as a copy of a kept one, and rejects a copy of a dropped one', () => {
    const keptName = manifest.kept[0].group;
    const droppedName = manifest.dropped[1].group;
    expect(problemsOf(broken((json) => (json.dropped[0].copy_of = keptName)))).toBe('(valid)');
    expect(problemsOf(broken((json) => (json.dropped[0].copy_of = droppedName)))).toBe(
      `runs/x/manifest.json: /dropped/0/copy_of: must name a kept group, got '${droppedName}'`,
    );
  });

  it('rejects a group unknown to the config and features that differ from it', () => {
    const value = broken((json) => {
      json.dropped[0].group = 'town';
      json.kept[0].features = ['age'];
    });
    expect(problemsOf(value)).toBe(
      [
        "runs/x/manifest.json: /kept/0/features: must be the config group's features [age, gender], got [age]",
        "runs/x/manifest.json: /dropped/0/group: no group 'town' in the config; groups are: demographics, user_id, city, item_id, category, tags, price",
        "runs/x/manifest.json: /dropped: config group 'city' is neither kept nor dropped",
      ].join('\n'),
    );
  });

  it('rejects a selected cost over its budgets', () => {
    const { memory_bytes: memory, latency_us: latency } = manifest.cost.selected.predicted;
    const value = broken((json) => {
      json.budgets.memory_bytes = memory - 1;
      json.budgets.latency_us = 20;
    });
    expect(problemsOf(value)).toBe(
      [
        `runs/x/manifest.json: /cost/selected/predicted/memory_bytes: ${memory} exceeds the memory budget ${memory - 1}`,
        `runs/x/manifest.json: /cost/selected/predicted/latency_us: ${latency} exceeds the latency budget 20`,
      ].join('\n'),
    );
    const unbounded = broken((json) => {
      json.budgets.memory_bytes = null;
      json.budgets.latency_us = null;
    });
    expect(problemsOf(unbounded)).toBe('(valid)');
  });

  it('rejects a cumulative cost that goes down along the selection order', () => {
    const value = broken((json) => {
      json.selection_order[2].cumulative.memory_bytes = 10;
    });
    const previous = manifest.selection_order[1].cumulative.memory_bytes;
    expect(problemsOf(value)).toBe(
      `runs/x/manifest.json: /selection_order/2/cumulative/memory_bytes: must not be below the previous step's ${previous}, got 10`,
    );
  });

  it('names a file that is not JSON', async () => {
    await writeFile(tmp.file('bad.json'), '{ "manifest_version": 1,');
    await expect(readManifest(tmp.file('bad.json'))).rejects.toThrow(
      new RegExp(`^${tmp.file('bad.json')}: invalid JSON: `),
    );
  });
});

describe('reducedConfig', () => {
  it('keeps the kept features with their settings, one group per kept group at its dim', () => {
    const reduced = reducedConfig(manifest);
    expect(reduced.features.map((feature) => feature.name)).toEqual([
      ['user_id', 'age', 'gender'],
      'item_id',
      'tags',
    ]);
    expect(reduced.features[1]).toEqual({ ...config.features[2], name: 'item_id' });
    expect(reduced.features[2]).toEqual(config.features[3]);
    expect(reduced.groups).toEqual([
      { name: 'demographics', features: ['age', 'gender'], dim: 8 },
      { name: 'user_id', features: ['user_id'], dim: 16 },
      { name: 'item_id', features: ['item_id'], dim: 12 },
      { name: 'tags', features: ['tags'], dim: 4 },
    ]);
    expect(reduced.selection).toEqual({ ...config.selection, method: 'all', budgets: {} });
    expect(reduced.output.dir).toBe(`${config.output.dir}-selected`);
    expect({ ...reduced, features: [], groups: [], selection: {}, output: {} }).toEqual({
      ...config,
      features: [],
      groups: [],
      selection: {},
      output: {},
    });
    expect(reducedConfig(manifest, '/elsewhere').output.dir).toBe('/elsewhere');
  });

  it('refuses a dropped item key', () => {
    const withKey = {
      ...manifest,
      config: { ...manifest.config, model: { ...config.model, item_key: 'category' } },
    };
    expect(() => reducedConfig(withKey)).toThrow(
      "model.item_key 'category' is not among the kept features; the reduced config cannot identify items",
    );
  });
});

describe('lemopt validate MANIFEST and lemopt apply', () => {
  it('validates a manifest', () => {
    const result = lemopt('validate', FILE);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${tmp.file(FILE)}: valid manifest (version 1, 4 kept groups, 3 dropped)\n`);
    expect(result.status).toBe(0);
  });

  it('prints each problem of a broken manifest on its own line and exits with 1', async () => {
    const value = broken((json) => {
      json.kept[0].dim = 'eight';
      delete json.config_hash;
    });
    await writeFile(tmp.file('broken.json'), JSON.stringify(value));
    const result = lemopt('validate', 'broken.json');
    expect(result.stderr).toBe(
      [
        'lemopt: broken.json: /config_hash: required, but missing',
        'broken.json: /kept/0/dim: must be integer, got "eight"',
        '',
      ].join('\n'),
    );
    expect(result.status).toBe(1);
  });

  it('writes the reduced config beside the manifest; it loads with the kept groups and dims', async () => {
    const result = lemopt('apply', FILE);
    const out = tmp.file('runs/x/selected.yaml');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      `${out}: reduced config with 4 groups: demographics (8), user_id (16), item_id (12), tags (4)\n`,
    );
    expect(result.status).toBe(0);
    const { config: loaded } = await loadConfig(out);
    expect(loaded).toEqual(reducedConfig(manifest));
    const layout = resolveFeatureLayout(loaded);
    const kept = manifest.kept.map((group) => ({
      name: group.group,
      features: group.features,
      dim: group.dim,
    }));
    expect(layout.groups.map(({ name, features, dim }) => ({ name, features, dim }))).toEqual(kept);
    const keptFeatures = manifest.kept.flatMap((group) => group.features);
    expect(new Set(layout.features.map((feature) => feature.name))).toEqual(new Set(keptFeatures));
    expect(loaded.data.source).toBe(tmp.file('events.csv'));
    expect(loaded.output.dir).toBe(tmp.file('runs/x-selected'));
    expect(lemopt('validate', out, '--no-data').status).toBe(0);
  });

  it('writes to --out', async () => {
    const result = lemopt('apply', FILE, '--out', 'configs/small.yaml');
    expect(result.status).toBe(0);
    expect(result.stdout.startsWith(`${tmp.file('configs/small.yaml')}: reduced config`)).toBe(true);
    const text = await readFile(tmp.file('configs/small.yaml'), 'utf8');
    expect(text).toContain('method: all');
  });
});
