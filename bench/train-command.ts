/**
 * `lemopt train`'s own speed against the step rate of the same model and batch: the
 * quickstart (configs/quickstart.yaml on the embedded dataset, generated into a temporary
 * folder) trained by the command itself, in a child process on a fresh run folder (module
 * loading, the vocabulary pass, encoding, every epoch), next to the same model's train
 * step alone on 16 of its batches held in memory. The ratio says how much of the step
 * rate the data path and the loop around the step leave.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { batches, type Batch } from '../src/data/batcher.js';
import { prepareDataset } from '../src/data/dataset.js';
import { TRAIN } from '../src/data/split.js';
import { generateSynthetic, SYNTHETIC_DATA_FILE } from '../src/data/synthetic.js';
import { METRICS_FILE } from '../src/experiment/train.js';
import type { EpochReport } from '../src/model/trainer.js';
import { buildFullModel, disposeTrained, objectiveParts, trainStep } from '../src/model/trainer.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface TrainCommandResult {
  readonly config: string;
  /** Examples/s of the train step alone, on batches in memory. */
  readonly stepRate: number;
  /** Examples/s of each epoch of `lemopt train` on a fresh run folder. */
  readonly epochRates: readonly number[];
  /** Every epoch's examples over every epoch's seconds. */
  readonly overallRate: number;
  /** The command's wall time, process start to exit. */
  readonly wallSeconds: number;
}

export async function measureTrainCommand(
  configFile: string,
  seconds: number,
  backend: string,
): Promise<TrainCommandResult> {
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
    const command = await runCommand(configFile, config.data.source, path.join(dir, 'command'), backend);
    const examples = command.epochs.reduce((sum, epoch) => sum + epoch.trainExamples, 0);
    const epochSeconds = command.epochs.reduce((sum, epoch) => sum + epoch.seconds, 0);
    return {
      config: configFile,
      stepRate,
      epochRates: command.epochs.map((epoch) => epoch.examplesPerSecond),
      overallRate: examples / epochSeconds,
      wallSeconds: command.wallSeconds,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `lemopt train` on a copy of the config that reads `source` and writes its run folder to `runDir`. */
async function runCommand(
  configFile: string,
  source: string,
  runDir: string,
  backend: string,
): Promise<{ epochs: EpochReport[]; wallSeconds: number }> {
  const raw = parse(await readFile(configFile, 'utf8')) as {
    data: Record<string, unknown>;
    output?: Record<string, unknown>;
  };
  const copy = path.join(path.dirname(runDir), 'command.yaml');
  await writeFile(
    copy,
    stringify({ ...raw, data: { ...raw.data, source }, output: { ...raw.output, dir: runDir } }),
  );
  const started = performance.now();
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [MAIN, 'train', copy, '--backend', backend, '--quiet'], (error, _out, stderr) =>
      error ? reject(new Error(`lemopt train failed: ${stderr}`)) : resolve(),
    ),
  );
  const wallSeconds = (performance.now() - started) / 1000;
  const metrics = JSON.parse(await readFile(path.join(runDir, METRICS_FILE), 'utf8')) as {
    epochs: EpochReport[];
  };
  return { epochs: metrics.epochs, wallSeconds };
}
