/**
 * `lemopt export` and `lemopt validate EXPORT_DIR` on small runs of the generated dataset:
 * the fp32 export scores the test split like lemopt's own model (its wasm engine), fp16
 * and int8 exports keep the AUC and take the bytes the cost model charges, the vocabulary
 * file maps raw values as lemopt's encoder does (the Node serving example reads it), and
 * validation and bad input give one line each.
 */
import { execFile, spawnSync } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { createEncoder, prepareDataset } from '../src/data/dataset.js';
import { openSource } from '../src/data/sources/open.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { Cell, Scalar } from '../src/data/types.js';
import { quantizeRows, toFloat16 } from '../src/embedding/quantize.js';
import { checkAgainstLemopt } from '../src/experiment/export/check.js';
import { exportRun, type ExportResult } from '../src/experiment/export/export.js';
import { exportsOfRun } from '../src/experiment/export/find-exports.js';
import { servingInputs } from '../src/experiment/export/serving-inputs.js';
import { sha256, type ExportRecord } from '../src/experiment/export/record.js';
import { validateExport } from '../src/experiment/export/validate-export.js';
import { readManifest, type Manifest } from '../src/experiment/manifest.js';
import { readRunFolder, runSection } from '../src/experiment/report/run-section.js';
import { formatBytes } from '../src/config/size.js';
import { runSelection } from '../src/experiment/run.js';
import { OnnxSession } from '../src/model/onnx/runtime.js';
import { disposeTrained, loadTrainedModel } from '../src/model/trainer.js';
import { dataSection, FIXED_LATENCY } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

const { onnx } = onnxProto;
const run = promisify(execFile);

/** Every kind of feature: hashed OOV ids (strings and integers), missing values, numeric buckets, a bag, a two-feature group. */
const FEATURES = `features:
  - name: [u_region, u_age_band]
    tower: user
  - { name: u_occupation, tower: user, max_size: 10, hash_buckets: 4 }
  - { name: u_referrer, tower: user, max_size: 50, hash_buckets: 8 }
  - { name: u_engagement, tower: user, type: numeric, buckets: 5 }
  - name: [i_category, i_color, i_brand]
    tower: item
  - { name: i_tags, tower: item, type: multi_categorical, pooling: POOLING }
  - { name: i_weight, tower: item, type: numeric, buckets: 4 }`;

let tmp: TempDir;
let blockRun: string;
let allRun: string;
const exports: Partial<Record<'fp32' | 'fp16' | 'int8', ExportResult>> = {};

function config(name: string, pooling: string, rest: string): RunConfig {
  const yaml = `
${dataSection()}
${FEATURES.replace('POOLING', pooling)}
train: { batch_size: 256, epochs: 1, seed: 3 }
${rest}
output: { dir: runs/${name} }
`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-export-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 12_000, seed: 5 });
  // Blocks under a memory budget: some groups dropped, others kept at part of their dims.
  const block = config(
    'block',
    'mean',
    `model: { embedding_dim: 8, user_tower: [16, 8], item_tower: [16, 8], backend: wasm }
selection:
  unit: block
  budgets: { memory: 50% }
  min_steps_per_round: 10
  ${FIXED_LATENCY}`,
  );
  // Every group kept, one of them at 4 of the tables' 8 dims; sampled softmax, cosine score, batch norm, sum pooling.
  const all = config(
    'all',
    'sum',
    `groups: [{ name: item_meta, features: [i_category, i_color], dim: 4 }]
model:
  embedding_dim: 8
  user_tower: [16, 8]
  item_tower: [16, 8]
  score: cosine
  objective: sampled_softmax
  normalization: batch
  backend: wasm
selection:
  method: all
  ${FIXED_LATENCY}`,
  );
  blockRun = (await runSelection(block)).runDir;
  allRun = (await runSelection(all)).runDir;
  for (const dtype of ['fp32', 'fp16', 'int8'] as const)
    exports[dtype] = await exportRun(blockRun, { dtype, out: path.join(blockRun, `export-${dtype}`) });
}, 300_000);
afterAll(() => tmp.remove());

const manifestOf = (runDir: string): Promise<Manifest> => readManifest(path.join(runDir, 'manifest.json'));

describe('lemopt export', () => {
  it('writes the three models, the vocabulary and a record that ONNX Runtime checked against lemopt in fp32', async () => {
    const { dir, record } = exports.fp32!;
    const manifest = await manifestOf(blockRun);
    expect(record.files.map((file) => file.file)).toEqual([
      'model.onnx',
      'user_tower.onnx',
      'item_tower.onnx',
      'vocabulary.json',
    ]);
    for (const file of record.files)
      expect(sha256(await readFile(path.join(dir, file.file)))).toBe(file.sha256);
    expect(record.manifest.config_hash).toBe(manifest.config_hash);
    expect(record.tables.map((table) => [table.group, table.dim])).toEqual(
      manifest.kept.map((group) => [group.group, group.dim]),
    );
    expect(record.files[0].inputs!.find((input) => input.name === 'i_tags')?.shape).toEqual([
      'batch',
      'i_tags_length',
    ]);
    const { check } = record;
    expect(check.backend).toBe('wasm');
    expect(check.tolerance).not.toBeNull();
    expect(check.max_difference.score).toBeLessThan(1e-5);
    // The same rows, model and engine as the run's own evaluation.
    expect(check.metric.lemopt).toBeCloseTo((manifest.metrics.selected.test as { auc: number }).auc, 9);
    expect(Math.abs(check.metric.change)).toBeLessThan(1e-6);
    for (const timing of Object.values(record.latency.models)) {
      expect(timing.batch_1_us).toBeGreaterThan(0);
      expect(timing.batch_256_us).toBeGreaterThan(0);
    }
    expect(await validateExport(dir)).toEqual(record);
  });

  it('exports sampled softmax, cosine, batch norm, sum pooling and a group kept at part of its table in fp32', async () => {
    const { record } = await exportRun(allRun);
    const manifest = await manifestOf(allRun);
    expect(manifest.kept.find((group) => group.group === 'item_meta')?.dim).toBe(4);
    expect(record.dtype).toBe('fp32');
    expect(record.score).toBe('cosine');
    expect(record.check.tolerance).not.toBeNull();
    const { metric } = record.check;
    expect(metric.name).toBe('recall@10');
    const test = manifest.metrics.selected.test as { recall: Record<string, number> };
    expect(metric.lemopt).toBeCloseTo(test.recall['@10'], 9);
    expect(Math.abs(metric.change)).toBeLessThan(0.01);
  });

  it('stores fp16 and int8 tables in the bytes the cost model charges, within a small AUC change', async () => {
    const manifest = await manifestOf(blockRun);
    const weights = manifest.kept.reduce((sum, group) => sum + group.vocabulary_size * group.dim, 0);
    const rows = manifest.kept.reduce((sum, group) => sum + group.vocabulary_size, 0);
    const fp32 = exports.fp32!.record;
    const fp16 = exports.fp16!.record;
    const int8 = exports.int8!.record;
    expect(fp32.memory.tables_bytes).toBe(weights * 4);
    expect(fp32.memory.tables_bytes).toBe(manifest.cost.selected.predicted.memory_bytes);
    expect(fp16.memory.tables_bytes).toBe(weights * 2);
    expect(int8.memory.tables_bytes).toBe(weights + rows * 4);
    for (const record of [fp16, int8]) {
      expect(record.memory.tables_bytes).toBe(record.memory.predicted_bytes);
      expect(record.check.tolerance).toBeNull();
      expect(Math.abs(record.check.metric.change)).toBeLessThan(0.01);
      expect(record.check.max_difference.score).toBeGreaterThan(0);
    }
  });
});

describe('the check against lemopt', () => {
  it('finds the exports of a run folder', async () => {
    const found = await exportsOfRun(blockRun);
    expect(found.map((entry) => [path.basename(entry.dir), entry.record.dtype])).toEqual([
      ['export-fp16', 'fp16'],
      ['export-fp32', 'fp32'],
      ['export-int8', 'int8'],
    ]);
  });

  it('shows each export in the run report: predicted memory and latency beside what was measured', async () => {
    const run = await readRunFolder(blockRun);
    const { html } = await runSection(run, { scope: 'run' });
    const table = html.slice(html.indexOf('<table data-table="exports">'));
    const rows = table.slice(0, table.indexOf('</table>')).split('<tr>').slice(2);
    expect(rows.map((row) => /<td>(export-\w+)<\/td><td>(\w+)<\/td>/.exec(row)?.slice(1))).toEqual([
      ['export-fp16', 'fp16'],
      ['export-fp32', 'fp32'],
      ['export-int8', 'int8'],
    ]);
    const int8 = exports.int8!.record;
    const row = rows[2];
    expect(row).toContain(`>${formatBytes(int8.memory.tables_bytes)}<`);
    expect(row).toContain(`>${formatBytes(run.manifest.cost.selected.predicted.memory_bytes!)}<`);
    expect(row).toContain(`>${int8.latency.models.two_tower.batch_256_us.toFixed(2)} µs<`);
  });

  it('holds fp32 to its tolerance: an fp16 model checked as fp32 is caught', async () => {
    const { dataset, config, trained } = await selectedModel();
    const { dir } = exports.fp16!;
    const sessions = {
      two_tower: new OnnxSession(await readFile(path.join(dir, 'model.onnx'))),
      user_tower: new OnnxSession(await readFile(path.join(dir, 'user_tower.onnx'))),
      item_tower: new OnnxSession(await readFile(path.join(dir, 'item_tower.onnx'))),
    };
    try {
      const inputs = servingInputs(trained.store.spec, dataset.layout, trained.store.activeDims);
      const options = { config, dtype: 'fp32', backend: 'wasm' } as const;
      const { mismatch, record } = await checkAgainstLemopt(dataset, trained, sessions, inputs, options);
      expect(mismatch).toMatchObject({ kind: 'two_tower', output: 'score' });
      const { exported, lemopt } = mismatch!;
      expect(Math.abs(exported - lemopt)).toBeGreaterThan(1e-5 + 1e-4 * Math.abs(lemopt));
      expect(record.max_difference.score).toBe(exports.fp16!.record.check.max_difference.score);
    } finally {
      for (const session of Object.values(sessions)) session.dispose();
      disposeTrained(trained);
    }
  });
});

describe('the serving vocabulary and the Node example', () => {
  const OOV_ROWS = 12;
  let served: { ids: Record<string, number | number[]>; score: number }[];
  let requests: Record<string, unknown>[];

  beforeAll(async () => {
    const manifest = await manifestOf(blockRun);
    const columns = [...new Set([...manifest.config.features.flatMap(columnsOf), 'label'])];
    const source = await openSource(manifest.config.data.source);
    requests = [];
    for await (const batch of source.batches({ columns })) {
      for (let r = 0; r < 40; r++)
        requests.push(
          Object.fromEntries(columns.map((column) => [column, plain(batch.columns.get(column)![r])])),
        );
      break;
    }
    // Values no vocabulary kept: hashed strings and integers (one beyond int32), one OOV id, missing values.
    for (let k = 0; k < OOV_ROWS; k++) {
      requests.push({
        ...requests[k],
        u_occupation: `occupation never seen ${k}`,
        u_referrer: k === 0 ? 5_000_000_000 : 100_000 + k,
        u_region: 1000 + k,
        u_age_band: null,
        u_engagement: null,
        i_tags: [9999, ...(requests[k].i_tags as number[])],
      });
    }
    const file = tmp.file('requests.jsonl');
    await writeFile(file, requests.map((request) => JSON.stringify(request)).join('\n'));
    const { stdout } = await run('node', ['examples/serve-node.mjs', exports.fp32!.dir, file]);
    served = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as (typeof served)[number]);
  });

  it('maps raw values to the ids lemopt encodes, out-of-vocabulary ones included', async () => {
    const { batch, dataset } = await encodeAsLemopt(requests);
    const manifest = await manifestOf(blockRun);
    const kept = manifest.kept.flatMap((group) => group.features);
    expect(Object.keys(served[0].ids).sort()).toEqual([...kept].sort());
    for (const name of kept) {
      const encoded = batch.features[dataset.layout.features.findIndex((feature) => feature.name === name)];
      served.forEach((row, r) => {
        const want = encoded.offsets
          ? Array.from(encoded.ids.subarray(encoded.offsets[r], encoded.offsets[r + 1]))
          : encoded.ids[r];
        expect(row.ids[name], `${name}, row ${r}`).toEqual(want);
      });
    }
    const hashed = served.slice(-OOV_ROWS).map((row) => row.ids.u_occupation);
    if (kept.includes('u_occupation')) expect(new Set(hashed).size).toBeGreaterThan(1);
  });

  it('scores the requests like lemopt', async () => {
    const { batch } = await encodeAsLemopt(requests);
    const { trained } = await selectedModel();
    try {
      const inputs = trained.store.forward(batch);
      const scores = trained.model.predict({ size: batch.numRows, user: inputs.user, item: inputs.item });
      served.forEach((row, r) => expect(row.score).toBeCloseTo(scores[r], 5));
    } finally {
      disposeTrained(trained);
    }
  });
});

describe('lemopt validate EXPORT_DIR', () => {
  async function copyOf(name: string): Promise<{ dir: string; recordFile: string; record: ExportRecord }> {
    const dir = tmp.file(name);
    await cp(exports.fp32!.dir, dir, { recursive: true });
    const recordFile = path.join(dir, 'model.json');
    return { dir, recordFile, record: JSON.parse(await readFile(recordFile, 'utf8')) as ExportRecord };
  }

  it('names a file whose hash changed', async () => {
    const { dir, recordFile, record } = await copyOf('changed-hash');
    const file = path.join(dir, 'vocabulary.json');
    const changed = `${await readFile(file, 'utf8')}\n`;
    await writeFile(file, changed);
    await expect(validateExport(dir)).rejects.toThrow(
      new RegExp(
        `^${escape(`${recordFile}: /files/3/sha256: vocabulary.json has sha256 ${sha256(changed)}, model.json records ${record.files[3].sha256}`)}$`,
      ),
    );
  });

  it('names a table whose dim is not the one the manifest keeps', async () => {
    const { dir, recordFile, record } = await copyOf('wrong-dim');
    const file = path.join(dir, 'model.onnx');
    const model = onnx.ModelProto.decode(await readFile(file));
    const table = model.graph!.initializer!.find((tensor) => tensor.name!.endsWith('/weights'))!;
    const [rows, dim] = table.dims!.map(Number);
    const wider = new Float32Array(rows * (dim + 4));
    table.dims = [rows, dim + 4];
    table.rawData = new Uint8Array(wider.buffer);
    const bytes = onnx.ModelProto.encode(model).finish();
    await writeFile(file, bytes);
    const files = record.files.map((entry) =>
      entry.file === 'model.onnx' ? { ...entry, sha256: sha256(bytes), bytes: bytes.length } : entry,
    );
    await writeFile(recordFile, JSON.stringify({ ...record, files }));
    const group = table.name!.split('/')[1];
    await expect(validateExport(recordFile)).rejects.toThrow(
      new RegExp(
        `^${escape(`${recordFile}: /files/0: model.onnx: table '${group}' is [${rows}, ${dim + 4}], the manifest keeps [${rows}, ${dim}] (vocabulary_size, dim)`)}$`,
      ),
    );
  });
});

describe('bad input', () => {
  it('a run folder without a manifest', async () => {
    const dir = tmp.file('runs/empty');
    await mkdir(dir, { recursive: true });
    await expect(exportRun(dir)).rejects.toThrow(
      `${dir}: no manifest.json; export needs the folder of a finished \`lemopt run\``,
    );
  });

  it('a manifest from another config', async () => {
    const dir = tmp.file('runs/mixed');
    await mkdir(path.join(dir, 'selected'), { recursive: true });
    await cp(path.join(blockRun, 'selected/model.ckpt'), path.join(dir, 'selected/model.ckpt'));
    await cp(path.join(allRun, 'manifest.json'), path.join(dir, 'manifest.json'));
    const [block, all] = [await manifestOf(blockRun), await manifestOf(allRun)];
    await expect(exportRun(dir)).rejects.toThrow(
      `${dir}/manifest.json: made from another config than the run's selected model ` +
        `(manifest config_hash ${all.config_hash}, selected/model.ckpt ${block.config_hash})`,
    );
  });

  it('an unknown dtype', async () => {
    await expect(exportRun(blockRun, { dtype: 'bf16' })).rejects.toThrow(
      "--dtype: unknown dtype 'bf16'; use fp32, fp16, int8",
    );
  });
});

describe('the CLI', () => {
  const lemopt = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), 'src/cli/main.ts', ...args], {
      encoding: 'utf8',
    });

  it('validates an export folder in one line', () => {
    const { dir, record } = exports.int8!;
    const result = lemopt('validate', dir);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      `${path.resolve(dir, 'model.json')}: valid export (int8, 3 models, ${record.tables.length} tables as kept in ${record.manifest.file})\n`,
    );
    expect(result.status).toBe(0);
  });

  it('prints a bad dtype as one line and exits with status 1', () => {
    const result = lemopt('export', blockRun, '--dtype', 'bf16');
    expect(result.stderr).toBe("lemopt: --dtype: unknown dtype 'bf16'; use fp32, fp16, int8\n");
    expect(result.status).toBe(1);
  });
});

describe('table precisions', () => {
  it('rounds to the nearest half-precision value, ties to even', () => {
    const values = Float32Array.of(
      1,
      -2,
      65504,
      1e6,
      2 ** -24,
      2 ** -26,
      0.1,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
    );
    expect(Array.from(toFloat16(values))).toEqual([
      0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x2e66, 0x3c00, 0x3c02,
    ]);
  });

  it('quantises each row to int8 within half a step of its scale', () => {
    const values = Float32Array.of(0.5, -1, 0.25, 0, 0, 0, 3, 2, -0.1);
    const { values: quantized, scales } = quantizeRows(values, 3, 3);
    expect(Array.from(scales)).toEqual([Math.fround(1 / 127), 0, Math.fround(3 / 127)]);
    values.forEach((value, k) => {
      const scale = scales[Math.floor(k / 3)];
      expect(Math.abs(quantized[k] * scale - value)).toBeLessThanOrEqual(scale / 2 + 1e-7);
    });
    expect(Array.from(quantized.subarray(0, 3))).toEqual([64, -127, 32]);
  });
});

/** The source columns of a config's feature entries (compact entries name several). */
function columnsOf(entry: RunConfig['features'][number]): string[] {
  return Array.isArray(entry.name) ? entry.name : [entry.column ?? entry.name];
}

/** A cell as JSON holds it: bigints as numbers, typed arrays as lists. */
function plain(value: Cell): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object' && !(value instanceof Date))
    return Array.from(value as ArrayLike<Scalar>, (element) => plain(element));
  return value;
}

/** The block run's config, dataset (its vocabularies reused) and selected model; the caller disposes the model. */
async function selectedModel() {
  const manifest = await manifestOf(blockRun);
  const config = manifest.config;
  const dataset = await prepareDataset(config, { cacheDir: blockRun });
  const dims = dataset.layout.groups.map(
    (group) => manifest.kept.find((k) => k.group === group.name)?.dim ?? 0,
  );
  const trained = (await loadTrainedModel(
    config,
    dataset,
    path.join(blockRun, 'selected/model.ckpt'),
    dims,
  ))!;
  return { config, dataset, trained };
}

/** The requests as lemopt's encoder sees them, with the run's vocabularies. */
async function encodeAsLemopt(rows: readonly Record<string, unknown>[]) {
  const config = (await manifestOf(blockRun)).config;
  const dataset = await prepareDataset(config, { cacheDir: blockRun });
  const encoder = createEncoder(
    config,
    dataset.layout,
    { vocabularies: [...dataset.vocabularies.values()] },
    'requests',
  );
  const names = Object.keys(rows[0]);
  const columns = new Map(names.map((name) => [name, rows.map((row) => row[name] as Cell)]));
  return { batch: encoder.encode({ numRows: rows.length, columns }, 0), dataset };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
