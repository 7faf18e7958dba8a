/**
 * The two engines over whole training runs on the embedded synthetic dataset: the same
 * config trains to the same test AUC within noise, and a checkpoint written by one engine
 * resumes or evaluates on the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { prepareDataset, type PreparedDataset } from '../src/data/dataset.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { TEST } from '../src/data/split.js';
import { selectBackend } from '../src/model/backend.js';
import { primaryMetric } from '../src/model/metrics.js';
import {
  evaluate,
  loadTrainedModel,
  saveTrainedModel,
  trainFullModel,
  type TrainedModel,
} from '../src/model/trainer.js';
import type { RunConfig } from '../src/config/schema.js';
import { dataSection } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;
let config: RunConfig;
let dataset: PreparedDataset;

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-engines-training-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 30_000, seed: 11 });
  const yaml = `
${dataSection('{ method: hash, column: user_id, seed: 3 }')}
features:
  - name: [u_region, u_age_band, u_occupation, u_device]
    tower: user
  - name: [i_category, i_brand, i_price_band]
    tower: item
  - { name: i_tags, tower: item, type: multi_categorical }
model: { embedding_dim: 8, user_tower: [16, 8], item_tower: [16, 8], normalization: layer }
train: { batch_size: 256, epochs: 2, early_stopping_patience: 0, seed: 5 }
`;
  config = parseConfig(yaml, tmp.file('config.yaml')).config;
  dataset = await prepareDataset(config);
});
afterAll(() => tmp.remove());

describe('training on ONNX Runtime and on tfjs', () => {
  it('ends within noise of the tfjs test AUC', async () => {
    await selectBackend({ flag: 'wasm' });
    const tfjs = await trainFullModel(config, dataset);
    await selectBackend({ flag: 'onnxruntime' });
    const onnx = await trainFullModel(config, dataset);
    // The same trajectory up to float rounding, which batches of training then amplify.
    expect(Math.abs(primaryMetric(onnx.test) - primaryMetric(tfjs.test))).toBeLessThan(0.01);
    expect(Math.abs(onnx.epochs[0].trainLoss - tfjs.epochs[0].trainLoss)).toBeLessThan(0.005);
    expect(primaryMetric(onnx.test)).toBeGreaterThan(0.55);
  });

  it('a checkpoint written on tfjs resumes on ONNX Runtime', async () => {
    await selectBackend({ flag: 'wasm' });
    const checkpoints = {
      file: tmp.file('resume', 'run.ckpt'),
      bestFile: tmp.file('resume', 'best.ckpt'),
      key: 'k',
      everyBatches: 10,
    };
    let steps = 0;
    // Killed 5 batches after the checkpoint at batch 50 of the first epoch.
    const killAt = 55;
    const killed = trainFullModel(
      config,
      dataset,
      {
        onStep: () => {
          if (++steps === killAt) throw new Error('killed');
        },
      },
      checkpoints,
    );
    await expect(killed).rejects.toThrow('killed');
    await selectBackend({ flag: 'onnxruntime' });
    let resumedSteps = 0;
    const resumed = await trainFullModel(config, dataset, { onStep: () => (resumedSteps += 1) }, checkpoints);
    let total = 0;
    const uninterrupted = await trainFullModel(config, dataset, { onStep: () => (total += 1) });
    // It went on from the checkpoint, not from scratch.
    expect(resumedSteps).toBe(total - 50);
    expect(Math.abs(primaryMetric(resumed.test) - primaryMetric(uninterrupted.test))).toBeLessThan(0.01);
  });

  it('a model saved on ONNX Runtime evaluates on tfjs with the same metrics', async () => {
    await selectBackend({ flag: 'onnxruntime' });
    const file = tmp.file('saved', 'model.ckpt');
    let kept: TrainedModel | undefined;
    const trained = await trainFullModel(config, dataset, {}, undefined, { keep: (model) => (kept = model) });
    await saveTrainedModel(file, kept!, {});
    kept!.model.dispose();
    await selectBackend({ flag: 'cpu' });
    const loaded = (await loadTrainedModel(config, dataset, file))!;
    try {
      expect(loaded.model.engine).toBe('cpu');
      const metrics = await evaluate(dataset, loaded.store, loaded.model, TEST, 1024);
      expect(Math.abs(primaryMetric(metrics) - primaryMetric(trained.test))).toBeLessThan(1e-4);
    } finally {
      loaded.model.dispose();
    }
  });
});
