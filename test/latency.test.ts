import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { batches, type Batch } from '../src/data/batcher.js';
import { prepareDataset, type PreparedDataset } from '../src/data/dataset.js';
import { TRAIN } from '../src/data/split.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import {
  calibrateLatency,
  measureInferenceLatency,
  readLatencyFile,
  writeLatencyFile,
  type CalibrationResult,
} from '../src/experiment/calibrate.js';
import { selectBackend } from '../src/model/backend.js';
import { buildFullModel } from '../src/model/trainer.js';
import {
  fitLatency,
  predictLatency,
  type LatencyCoefficients,
  type LatencySample,
  type LatencyShape,
} from '../src/selection/latency.js';
import { LemoptError } from '../src/util/errors.js';
import { dataSection } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

const MAIN = path.resolve('src/cli/main.ts');
const TSX = import.meta.resolve('tsx');
let tmp: TempDir;

const CONFIG = `
${dataSection(null)}
features:
  - { name: [user_id, u_region, u_age_band], tower: user }
  - { name: [item_id, i_category], tower: item }
  - { name: i_tags, tower: item, type: multi_categorical }
model: { embedding_dim: 8, user_tower: [16, 8], item_tower: [16, 8], backend: onnxruntime }
output: { dir: run }
`;

function config(): RunConfig {
  return parseConfig(CONFIG, tmp.file('config.yaml')).config;
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-latency-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 3000, seed: 5 });
  await writeFile(tmp.file('config.yaml'), CONFIG);
  await selectBackend({ flag: 'onnxruntime' });
});
afterAll(() => tmp.remove());

function samplesOf(coefficients: LatencyCoefficients, shapes: readonly LatencyShape[]): LatencySample[] {
  return shapes.map((shape) => ({ shape, latencyUs: predictLatency(coefficients, shape) }));
}

/** Shapes whose lookups, dims and MFLOPs vary independently. */
function gridShapes(): LatencyShape[] {
  const shapes: LatencyShape[] = [];
  for (const lookups of [2, 7, 15])
    for (const dims of [16, 96, 320])
      for (const mflops of [0.002, 0.011, 0.05]) shapes.push({ lookups, dims, mflops });
  return shapes;
}

describe('fitLatency', () => {
  it('recovers known coefficients from noiseless samples', () => {
    const truth = { constant_us: 1.5, per_lookup_us: 0.04, per_dim_us: 0.003, per_mflop_us: 120 };
    const fit = fitLatency(samplesOf(truth, gridShapes()));
    expect(fit.coefficients.constant_us).toBeCloseTo(1.5, 10);
    expect(fit.coefficients.per_lookup_us).toBeCloseTo(0.04, 10);
    expect(fit.coefficients.per_dim_us).toBeCloseTo(0.003, 10);
    expect(fit.coefficients.per_mflop_us).toBeCloseTo(120, 8);
    expect(fit.r2).toBeCloseTo(1, 12);
  });

  it('recovers a zero coefficient as zero, not a small negative one', () => {
    const truth = { constant_us: 0.7, per_lookup_us: 0, per_dim_us: 0.01, per_mflop_us: 80 };
    const fit = fitLatency(samplesOf(truth, gridShapes()));
    expect(fit.coefficients.per_lookup_us).toBeGreaterThanOrEqual(0);
    expect(fit.coefficients.per_lookup_us).toBeCloseTo(0, 12);
    expect(fit.coefficients.per_mflop_us).toBeCloseTo(80, 8);
  });

  it('clamps a coefficient that comes out negative to 0 and refits the others', () => {
    // latency = 10 - 0.3 lookups + 0.02 dims; lookups (2 or 4) balanced against dims (10 or 20),
    // so without the lookup term the best fit is 9.1 + 0.02 dims. No MFLOPs: that term is 0.
    const shapes = [
      { lookups: 2, dims: 10, mflops: 0 },
      { lookups: 2, dims: 20, mflops: 0 },
      { lookups: 4, dims: 10, mflops: 0 },
      { lookups: 4, dims: 20, mflops: 0 },
    ];
    const samples = shapes.map((shape) => ({
      shape,
      latencyUs: 10 - 0.3 * shape.lookups + 0.02 * shape.dims,
    }));
    const { coefficients, r2 } = fitLatency(samples);
    expect(coefficients.per_lookup_us).toBe(0);
    expect(coefficients.per_mflop_us).toBe(0);
    expect(coefficients.constant_us).toBeCloseTo(9.1, 10);
    expect(coefficients.per_dim_us).toBeCloseTo(0.02, 12);
    expect(r2).toBeGreaterThan(0);
    expect(r2).toBeLessThan(1);
  });

  it('keeps every coefficient non-negative on noisy samples', () => {
    const truth = { constant_us: 2, per_lookup_us: 0.001, per_dim_us: 0.0001, per_mflop_us: 50 };
    let seed = 1;
    const noise = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.4;
    const samples = samplesOf(truth, gridShapes()).map((s) => ({ ...s, latencyUs: s.latencyUs + noise() }));
    const { coefficients } = fitLatency(samples);
    for (const value of Object.values(coefficients)) expect(value).toBeGreaterThanOrEqual(0);
  });

  it('rejects no samples and values that are not finite numbers', () => {
    expect(() => fitLatency([])).toThrow('fitLatency needs at least one sample');
    const bad = [{ shape: { lookups: 1, dims: Number.NaN, mflops: 0 }, latencyUs: 1 }];
    expect(() => fitLatency(bad)).toThrow('latency sample 0 has a value that is not a finite number');
  });
});

describe('latency file', () => {
  const result: CalibrationResult = {
    backend: 'onnxruntime',
    coefficients: { constant_us: 1.25, per_lookup_us: 0.01, per_dim_us: 0.002, per_mflop_us: 100 },
    r2: 0.97,
    samples: [
      {
        shape: { lookups: 3, dims: 24, mflops: 0.001 },
        latencyUs: 1.5,
        towers: { user: [16, 8], item: [16, 8] },
        activeDims: [8, 8, 0, 8],
      },
    ],
  };

  async function written(name: string, edit: (json: Record<string, unknown>) => void): Promise<string> {
    const json = JSON.parse(JSON.stringify({ version: 1, ...result, created: '2025-01-01T00:00:00.000Z' }));
    edit(json);
    const file = tmp.file(name);
    await writeFile(file, JSON.stringify(json));
    return file;
  }

  it('reads back what it wrote', async () => {
    const file = tmp.file('files', 'latency.json');
    await writeLatencyFile(file, result);
    const read = await readLatencyFile(file);
    expect(read).toMatchObject({ version: 1, ...result });
    expect(Number.isNaN(Date.parse(read.created))).toBe(false);
  });

  it('names the file and a missing field', async () => {
    const file = await written('missing.json', (json) => {
      delete (json.coefficients as Record<string, unknown>).per_dim_us;
    });
    const read = readLatencyFile(file);
    await expect(read).rejects.toThrow(LemoptError);
    await expect(readLatencyFile(file)).rejects.toThrow(`${file}: coefficients.per_dim_us: missing`);
  });

  it('names the file and the JSON syntax error', async () => {
    const file = tmp.file('bad.json');
    const text = '{"version": 1, "backend": ';
    await writeFile(file, text);
    let parserMessage = '';
    try {
      JSON.parse(text);
    } catch (error) {
      parserMessage = (error as Error).message;
    }
    await expect(readLatencyFile(file)).rejects.toThrow(
      new LemoptError(`${file}: not valid JSON: ${parserMessage}`),
    );
  });

  it('names bad values, a bad sample, an unknown version and a missing file', async () => {
    const negative = await written('negative.json', (json) => {
      (json.coefficients as Record<string, unknown>).per_lookup_us = -0.5;
    });
    await expect(readLatencyFile(negative)).rejects.toThrow(
      new LemoptError(`${negative}: coefficients.per_lookup_us: must be a non-negative number, got -0.5`),
    );
    const sample = await written('sample.json', (json) => {
      (json.samples as { shape: Record<string, unknown> }[])[0].shape.dims = 'many';
    });
    await expect(readLatencyFile(sample)).rejects.toThrow(
      new LemoptError(`${sample}: samples[0].shape.dims: must be a non-negative number, got "many"`),
    );
    const version = await written('version.json', (json) => (json.version = 2));
    await expect(readLatencyFile(version)).rejects.toThrow(
      new LemoptError(`${version}: version 2 is not supported (this lemopt reads version 1)`),
    );
    const list = tmp.file('list.json');
    await writeFile(list, '[]');
    await expect(readLatencyFile(list)).rejects.toThrow(
      new LemoptError(`${list}: must be a JSON object, got a list`),
    );
    const nowhere = tmp.file('nowhere.json');
    await expect(readLatencyFile(nowhere)).rejects.toThrow(new LemoptError(`${nowhere}: no such file`));
  });
});

describe('calibrateLatency', () => {
  let dataset: PreparedDataset;
  beforeAll(async () => {
    dataset = await prepareDataset(config());
  });

  it('times one sample per variant and fits finite non-negative coefficients', async () => {
    const cfg = config();
    const result = await calibrateLatency(cfg, dataset, {
      samples: 6,
      rounds: 2,
      warmup: 1,
      batches: 2,
      batchSize: 128,
    });
    expect(result.backend).toBe('onnxruntime');
    expect(result.samples).toHaveLength(6);
    for (const value of Object.values(result.coefficients)) {
      expect(Number.isFinite(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(0);
    }
    expect(result.r2).toBeLessThanOrEqual(1);
    for (const sample of result.samples) {
      expect(sample.latencyUs).toBeGreaterThan(0);
      expect(Number.isFinite(sample.latencyUs)).toBe(true);
      expect(sample.shape.lookups).toBeGreaterThanOrEqual(2); // a table in each tower
      expect(sample.activeDims.every((dims) => dims % cfg.selection.block_size === 0)).toBe(true);
    }
    // The first variant is the configured model; the others use more than one tower width.
    expect(result.samples[0].activeDims).toEqual([8, 8, 8, 8, 8, 8]);
    expect(result.samples[0].towers).toEqual({ user: [16, 8], item: [16, 8] });
    expect(result.samples[0].shape.lookups).toBe(6);
    expect(new Set(result.samples.map((sample) => sample.towers.user[0])).size).toBeGreaterThanOrEqual(2);
  });

  it('needs at least one sample per coefficient', async () => {
    await expect(calibrateLatency(config(), dataset, { samples: 3 })).rejects.toThrow(
      'calibration needs at least 4 samples (one per coefficient), got 3',
    );
  });

  it('measures the inference latency of a built model', async () => {
    const timed: Batch[] = [];
    for await (const batch of batches(dataset.encodedBatches(), {
      split: TRAIN,
      batchSize: 64,
      shuffleBuffer: 0,
      seed: 0,
    })) {
      timed.push(batch);
      if (timed.length === 2) break;
    }
    const { store, model } = buildFullModel(config(), dataset);
    try {
      const latency = measureInferenceLatency(store, model, timed, 3, 1);
      expect(latency).toBeGreaterThan(0);
      expect(Number.isFinite(latency)).toBe(true);
      expect(() => measureInferenceLatency(store, model, [], 3)).toThrow('needs at least one batch');
    } finally {
      model.dispose();
    }
  });
});

describe('lemopt calibrate', () => {
  function lemopt(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], {
      encoding: 'utf8',
      cwd: tmp.path,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it('writes a readable latency file to the run folder and prints the fit', async () => {
    const result = lemopt(
      'calibrate',
      'config.yaml',
      '--samples',
      '4',
      '--quiet',
      '--backend',
      'onnxruntime',
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const file = tmp.file('run', 'latency.json');
    expect(result.stdout).toContain(`wrote: ${file}\n`);
    expect(result.stdout).toMatch(
      /^backend: onnxruntime\nlatency_us = \S+ \+ \S+ x lookups \+ \S+ x dims \+ \S+ x mflops\n/,
    );
    expect(result.stdout).toMatch(/\nr2: -?\d\.\d{4} \(4 variants, \d+\.\d s\)\n/);
    const read = await readLatencyFile(file);
    expect(read.backend).toBe('onnxruntime');
    expect(read.samples).toHaveLength(4);
  });

  it('writes to --out and rejects too few samples', async () => {
    const out = lemopt(
      'calibrate',
      'config.yaml',
      '--samples',
      '4',
      '--quiet',
      '--out',
      'elsewhere/lat.json',
    );
    expect(out.status).toBe(0);
    expect((await readLatencyFile(tmp.file('elsewhere', 'lat.json'))).samples).toHaveLength(4);
    const few = lemopt('calibrate', 'config.yaml', '--samples', '2');
    expect(few.stderr).toContain('lemopt: --samples must be an integer of at least 4');
    expect(few.status).toBe(2);
  });
});
