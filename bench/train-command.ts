/**
 * `lemopt train`'s own speed against the step rate of the same model and batch: the
 * quickstart (configs/quickstart.yaml on the embedded dataset, generated into a temporary
 * folder) trained as the command trains it (trainFullModel: batches from the encoded
 * cache, shuffled, prefetched), next to the same model's train step alone on 16 of its
 * batches held in memory. The ratio says how much of the step rate the data path and the
 * loop around the step leave.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { batches, type Batch } from '../src/data/batcher.js';
import { prepareDataset } from '../src/data/dataset.js';
import { TRAIN } from '../src/data/split.js';
import { generateSynthetic, SYNTHETIC_DATA_FILE } from '../src/data/synthetic.js';
import {
  buildFullModel,
  disposeTrained,
  objectiveParts,
  trainFullModel,
  trainStep,
} from '../src/model/trainer.js';

export interface TrainCommandResult {
  readonly config: string;
  /** Examples/s of the train step alone, on batches in memory. */
  readonly stepRate: number;
  /** Examples/s of each epoch of trainFullModel (the encoded cache already filled). */
  readonly epochRates: readonly number[];
}

export async function measureTrainCommand(configFile: string, seconds: number): Promise<TrainCommandResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lemopt-bench-train-'));
  try {
    await generateSynthetic({ outDir: dir });
    const loaded = await loadConfig(configFile);
    const config = {
      ...loaded.config,
      data: { ...loaded.config.data, source: path.join(dir, SYNTHETIC_DATA_FILE) },
      output: { ...loaded.config.output, dir: path.join(dir, 'run') },
    };
    const dataset = await prepareDataset(config);
    // A full pass fills the encoded cache, as the command's first epoch does.
    for await (const _ of dataset.encodedBatches());
    const held: Batch[] = [];
    for await (const batch of batches(dataset.encodedBatches(), {
      split: TRAIN,
      batchSize: config.train.batch_size,
      shuffleBuffer: config.train.shuffle_buffer,
      seed: 1,
      keepPartial: false,
    })) {
      held.push(batch);
      if (held.length === 16) break;
    }
    const { store, model } = buildFullModel(config, dataset);
    await store.ready();
    const objective = objectiveParts(config, dataset);
    let stepRate: number;
    try {
      for (let i = 0; i < 10; i++) trainStep(store, model, held[i % held.length], objective, config.train);
      let steps = 0;
      let examples = 0;
      const start = performance.now();
      while (performance.now() - start < seconds * 1000) {
        const batch = held[steps++ % held.length];
        trainStep(store, model, batch, objective, config.train);
        examples += batch.numRows;
      }
      stepRate = examples / ((performance.now() - start) / 1000);
    } finally {
      disposeTrained({ store, model });
    }
    const trained = await trainFullModel(
      { ...config, train: { ...config.train, early_stopping_patience: 0 } },
      dataset,
    );
    return {
      config: configFile,
      stepRate,
      epochRates: trained.epochs.map((epoch) => epoch.examplesPerSecond),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
