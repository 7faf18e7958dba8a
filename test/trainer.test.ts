import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { prepareDataset } from '../src/data/dataset.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { selectBackend } from '../src/model/backend.js';
import { primaryMetric } from '../src/model/metrics.js';
import { trainFullModel } from '../src/model/trainer.js';
import { dataSection } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

const SIGNAL = `
  - name: [u_region, u_age_band, u_occupation, u_device]
    tower: user
  - name: [i_category, i_brand, i_price_band]
    tower: item
  - { name: i_tags, tower: item, type: multi_categorical }`;
const NOISE = `
  - name: [u_signup_cohort, u_browser, u_referrer]
    tower: user
  - name: [i_supplier, i_color]
    tower: item`;

function config(epochs: number, patience = 0, features = SIGNAL, model = '') {
  const yaml = `
${dataSection('{ method: hash, column: user_id, seed: 3 }')}
features:${features}
model: { embedding_dim: 8, user_tower: [16, 8], item_tower: [16, 8], backend: onnxruntime${model} }
train: { batch_size: 256, epochs: ${epochs}, early_stopping_patience: ${patience}, seed: 5 }
`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-trainer-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 30_000, seed: 11 });
  await selectBackend({ flag: 'onnxruntime' });
});
afterAll(() => tmp.remove());

describe('full-model training', () => {
  it('learns the planted signal: signal features beat noise features on unseen users', async () => {
    const signal = await trainFullModel(config(2), await prepareDataset(config(2)));
    const noise = await trainFullModel(config(2, 0, NOISE), await prepareDataset(config(2, 0, NOISE)));
    expect(signal.test.examples).toBeGreaterThan(2000);
    expect(primaryMetric(signal.test)).toBeGreaterThan(primaryMetric(noise.test) + 0.05);
  });

  it('trains in-batch softmax retrieval and ranks the catalogue far better than chance', async () => {
    const features = `${SIGNAL}
  - { name: item_id, tower: item }`;
    const cfg = config(2, 0, features, ', objective: sampled_softmax, item_key: item_id');
    const result = await trainFullModel(cfg, await prepareDataset(cfg));
    const test = result.test;
    if (test.kind !== 'retrieval') throw new Error('expected retrieval metrics');
    expect(test.examples).toBeGreaterThan(1000);
    const chance = 100 / test.catalogue;
    expect(test.recall['@100']).toBeGreaterThan(2 * chance);
    expect(test.ndcg['@10']).toBeLessThanOrEqual(test.recall['@10']);
  });

  it('gives the same metrics for the same config and seed', async () => {
    const first = await trainFullModel(config(1), await prepareDataset(config(1)));
    const second = await trainFullModel(config(1), await prepareDataset(config(1)));
    expect(second.test).toEqual(first.test);
    expect(second.epochs[0].trainLoss).toBe(first.epochs[0].trainLoss);
  });

  it.each([
    ['in the first epoch', 80],
    ['in the second epoch, after a best epoch was saved', 150],
  ])('resumes a run killed %s and ends with the same metrics', async (_when, killAt) => {
    const cfg = config(3, 1);
    const dataset = await prepareDataset(cfg);
    const uninterrupted = await trainFullModel(cfg, dataset);
    const dir = `checkpoints-${killAt}`;
    const checkpoints = {
      file: tmp.file(dir, 'run.ckpt'),
      bestFile: tmp.file(dir, 'best.ckpt'),
      key: 'k',
      everyBatches: 7,
    };
    let steps = 0;
    const killed = trainFullModel(
      cfg,
      dataset,
      {
        onStep: () => {
          steps += 1;
          if (steps === killAt) throw new Error('killed');
        },
      },
      checkpoints,
    );
    await expect(killed).rejects.toThrow('killed');
    const resumed = await trainFullModel(cfg, dataset, {}, checkpoints);
    expect(resumed.epochs.map((epoch) => [epoch.trainLoss, epoch.valid])).toEqual(
      uninterrupted.epochs.map((epoch) => [epoch.trainLoss, epoch.valid]),
    );
    expect(resumed.test).toEqual(uninterrupted.test);
    expect(resumed.bestEpoch).toBe(uninterrupted.bestEpoch);
  });

  it('ignores a checkpoint of another run', async () => {
    const cfg = config(1);
    const dataset = await prepareDataset(cfg);
    const checkpoints = {
      file: tmp.file('other', 'run.ckpt'),
      bestFile: tmp.file('other', 'best.ckpt'),
      key: 'a',
      everyBatches: 5,
    };
    const first = await trainFullModel(cfg, dataset, {}, checkpoints);
    let steps = 0;
    const count = { onStep: () => (steps += 1) };
    const sameRun = await trainFullModel(cfg, dataset, count, checkpoints);
    expect(steps).toBe(0); // its checkpoint says the run is complete: nothing to train
    expect(sameRun.test).toEqual(first.test);
    const otherRun = await trainFullModel(cfg, dataset, count, { ...checkpoints, key: 'b' });
    expect(steps).toBeGreaterThan(50);
    expect(otherRun.test).toEqual(first.test);
  });

  it('keeps the best epoch by validation AUC when stopping early', async () => {
    const result = await trainFullModel(config(3, 1), await prepareDataset(config(3, 1)));
    const bestAuc = Math.max(...result.epochs.map((epoch) => primaryMetric(epoch.valid)));
    expect(primaryMetric(result.valid)).toBe(bestAuc);
    expect(primaryMetric(result.epochs[result.bestEpoch - 1].valid)).toBe(bestAuc);
    const last = result.epochs.at(-1)!;
    if (last.epoch < 3) expect(last.epoch - result.bestEpoch).toBe(1);
  });
});
