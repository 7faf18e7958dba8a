/**
 * The train step alone of a config's full model, for bench/train-command.ts: 16 batches
 * of its train split held in memory, 10 warm-up steps, then steps for SECONDS. Prints
 * {"stepRate": examples/s} on stdout.
 *
 *   node dist/bench/train-step.js CONFIG SECONDS BACKEND
 */
import { loadConfig } from '../src/config/load.js';
import { batches, type Batch } from '../src/data/batcher.js';
import { prepareDataset } from '../src/data/dataset.js';
import { TRAIN } from '../src/data/split.js';
import { selectBackend } from '../src/model/backend.js';
import { buildFullModel, disposeTrained, objectiveParts, trainStep } from '../src/model/trainer.js';

const HELD_BATCHES = 16;
const WARMUP_STEPS = 10;

async function main(): Promise<void> {
  const [configFile, seconds, backend] = process.argv.slice(2);
  await selectBackend({ flag: backend });
  const { config } = await loadConfig(configFile);
  const dataset = await prepareDataset(config);
  const held: Batch[] = [];
  const options = {
    split: TRAIN,
    batchSize: config.train.batch_size,
    shuffleBuffer: config.train.shuffle_buffer,
    seed: 1,
    keepPartial: false,
  };
  for await (const batch of batches(dataset.encodedBatches(), options)) {
    held.push(batch);
    if (held.length === HELD_BATCHES) break;
  }
  const { store, model } = buildFullModel(config, dataset);
  await store.ready();
  const objective = objectiveParts(config, dataset);
  try {
    for (let i = 0; i < WARMUP_STEPS; i++)
      trainStep(store, model, held[i % held.length], objective, config.train);
    let steps = 0;
    let examples = 0;
    const start = performance.now();
    while (performance.now() - start < Number(seconds) * 1000) {
      const batch = held[steps++ % held.length];
      trainStep(store, model, batch, objective, config.train);
      examples += batch.numRows;
    }
    const stepRate = examples / ((performance.now() - start) / 1000);
    process.stdout.write(`${JSON.stringify({ stepRate })}\n`);
  } finally {
    disposeTrained({ store, model });
  }
}

await main();
