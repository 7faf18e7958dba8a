import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../config/schema.js';
import { prepareDataset, type PreparedDataset } from '../data/dataset.js';
import { SYNTHETIC_TRUTH_FILE } from '../data/synthetic.js';
import { describeBackend, selectBackend } from '../model/backend.js';
import { describeMetrics } from '../model/metrics.js';
import { trainFullModel, type EpochReport, type TrainedModel, type TrainResult } from '../model/trainer.js';
import { writeFileAtomic } from '../util/atomic.js';
import { openRunFolder } from './run-folder.js';

export const METRICS_LOG_FILE = 'metrics.jsonl';
export const METRICS_FILE = 'metrics.json';
export const CHECKPOINT_FILE = 'checkpoint.ckpt';
export const BEST_CHECKPOINT_FILE = 'best.ckpt';

type ConfigSection = keyof RunConfig;

/** A hash of config sections: results made from other values are not reused or resumed. */
export function configKey(
  config: RunConfig,
  sections: readonly ConfigSection[] = ['data', 'features', 'groups', 'model', 'train'],
  extra: unknown = null,
): string {
  const picked: Record<string, unknown> = Object.fromEntries(
    sections.map((section) => [section, config[section]]),
  );
  // How the work is done, not what it computes: changing these keeps runs and checkpoints.
  if (picked.data) {
    const { workers: _workers, cache_memory: _cache, ...data } = config.data;
    picked.data = data;
  }
  if (picked.model) {
    const { backend: _backend, ...model } = config.model;
    picked.model = model;
  }
  return createHash('sha256')
    .update(JSON.stringify({ ...picked, extra }))
    .digest('hex')
    .slice(0, 16);
}

export interface TrainRunOptions {
  /** --backend; wins over LEMOPT_BACKEND and model.backend. */
  readonly backend?: string;
  readonly log?: (line: string) => void;
  readonly onStep?: (epoch: number, examples: number, loss: number, expected: number) => void;
}

export interface TrainRunResult extends TrainResult {
  readonly runDir: string;
  readonly backend: string;
  /** From the generator's ground_truth.json beside the data, when there is one. */
  readonly groundTruth?: GroundTruth;
}

export interface GroundTruth {
  readonly ceilingAuc: number;
  readonly signalColumnsAuc: number;
}

/** The AUC ceilings that `lemopt generate` records next to its data, if the source is such data. */
export async function readGroundTruth(source: string): Promise<GroundTruth | undefined> {
  const file = path.join(path.dirname(source), SYNTHETIC_TRUTH_FILE);
  try {
    const truth = JSON.parse(await readFile(file, 'utf8')) as {
      metrics?: { ceiling_auc?: number; signal_columns_auc?: number };
    };
    const { ceiling_auc: ceilingAuc, signal_columns_auc: signalColumnsAuc } = truth.metrics ?? {};
    return ceilingAuc === undefined || signalColumnsAuc === undefined
      ? undefined
      : { ceilingAuc, signalColumnsAuc };
  } catch {
    return undefined;
  }
}

export interface TrainInFolderOptions {
  /** Identifies what is trained: a checkpoint with another key is not resumed. */
  readonly key: string;
  /** Active dims per table (see buildFullModel); default: the config's. */
  readonly activeDims?: ArrayLike<number>;
  /** Receives the trained store and model (the caller disposes the model). */
  readonly keep?: (trained: TrainedModel) => void;
  readonly log?: (line: string) => void;
  readonly onStep?: TrainRunOptions['onStep'];
}

/**
 * Trains one model with its checkpoints and logs in `dir`: metrics.jsonl (one line per
 * epoch) and metrics.json; the checkpoints go once training finished.
 */
export async function trainInFolder(
  config: RunConfig,
  dataset: PreparedDataset,
  dir: string,
  options: TrainInFolderOptions,
): Promise<TrainResult> {
  const log = options.log ?? (() => undefined);
  await mkdir(dir, { recursive: true });
  const metricsLog = path.join(dir, METRICS_LOG_FILE);
  await rm(metricsLog, { force: true });
  const checkpoints = {
    file: path.join(dir, CHECKPOINT_FILE),
    bestFile: path.join(dir, BEST_CHECKPOINT_FILE),
    key: options.key,
    everyBatches: config.train.checkpoint_every,
  };
  const result = await trainFullModel(
    config,
    dataset,
    {
      onStep: options.onStep,
      onEpoch: async (report: EpochReport) => {
        await appendFile(metricsLog, `${JSON.stringify(report)}\n`);
        log(
          `epoch ${report.epoch}: train loss ${report.trainLoss.toFixed(4)}, valid ${describeMetrics(report.valid)}, ` +
            `${Math.round(report.examplesPerSecond)} examples/s`,
        );
      },
    },
    checkpoints,
    { activeDims: options.activeDims, keep: options.keep },
  );
  // Complete even when this process resumed part-way: every epoch, one line each.
  await writeFileAtomic(metricsLog, result.epochs.map((report) => `${JSON.stringify(report)}\n`).join(''));
  // A finished run needs no resuming: its checkpoints go, its metrics stay.
  await rm(checkpoints.file, { force: true });
  await rm(checkpoints.bestFile, { force: true });
  return result;
}

/**
 * `lemopt train`: the full model (every group, full dimension) on the train split,
 * evaluated on valid each epoch and on test at the end. The run folder gets the resolved
 * config, the vocabularies, metrics.jsonl (one line per epoch) and metrics.json.
 */
export async function runTraining(config: RunConfig, options: TrainRunOptions = {}): Promise<TrainRunResult> {
  const runDir = await openRunFolder(config);
  const choice = await selectBackend({ flag: options.backend, config: config.model.backend });
  options.log?.(describeBackend(choice));
  const dataset = await prepareDataset(config, { cacheDir: runDir });
  // Encoding runs while the model and its engine sessions are built.
  dataset.prefill();
  const result = await trainInFolder(config, dataset, runDir, { ...options, key: configKey(config) });
  await writeFileAtomic(
    path.join(runDir, METRICS_FILE),
    `${JSON.stringify({ backend: choice.backend, ...result }, null, 2)}\n`,
  );
  return {
    ...result,
    runDir,
    backend: choice.backend,
    groundTruth: await readGroundTruth(config.data.source),
  };
}
