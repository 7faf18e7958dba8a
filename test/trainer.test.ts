import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { prepareDataset } from '../src/data/dataset.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { selectBackend } from '../src/model/backend.js';
import { trainFullModel } from '../src/model/trainer.js';
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

function config(epochs: number, patience = 0, features = SIGNAL) {
  const yaml = `
data:
  source: data/interactions.parquet
  label: { column: label }
  split: { method: hash, column: user_id, seed: 3 }
  workers: 0
features:${features}
model: { embedding_dim: 8, user_tower: [16, 8], item_tower: [16, 8], backend: wasm }
train: { batch_size: 256, epochs: ${epochs}, early_stopping_patience: ${patience}, seed: 5 }
`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-trainer-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 30_000, seed: 11 });
  await selectBackend({ flag: 'wasm' });
});
afterAll(() => tmp.remove());

describe('full-model training', () => {
  it('learns the planted signal: signal features beat noise features on unseen users', async () => {
    const signal = await trainFullModel(config(2), await prepareDataset(config(2)));
    const noise = await trainFullModel(config(2, 0, NOISE), await prepareDataset(config(2, 0, NOISE)));
    expect(signal.test.examples).toBeGreaterThan(2000);
    expect(signal.test.auc).toBeGreaterThan(noise.test.auc + 0.05);
  });

  it('gives the same metrics for the same config and seed', async () => {
    const first = await trainFullModel(config(1), await prepareDataset(config(1)));
    const second = await trainFullModel(config(1), await prepareDataset(config(1)));
    expect(second.test).toEqual(first.test);
    expect(second.epochs[0].trainLoss).toBe(first.epochs[0].trainLoss);
  });

  it('keeps the best epoch by validation AUC when stopping early', async () => {
    const result = await trainFullModel(config(3, 1), await prepareDataset(config(3, 1)));
    const bestAuc = Math.max(...result.epochs.map((epoch) => epoch.valid.auc));
    expect(result.valid.auc).toBe(bestAuc);
    expect(result.epochs[result.bestEpoch - 1].valid.auc).toBe(bestAuc);
    const last = result.epochs.at(-1)!;
    if (last.epoch < 3) expect(last.epoch - result.bestEpoch).toBe(1);
  });
});
