import { createHash } from 'node:crypto';
import { appendFile, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../config/schema.js';
import { prepareDataset } from '../data/dataset.js';
import { SYNTHETIC_TRUTH_FILE } from '../data/synthetic.js';
import { describeBackend, selectBackend } from '../model/backend.js';
import { describeMetrics } from '../model/metrics.js';
import { trainFullModel, type EpochReport, type TrainResult } from '../model/trainer.js';
import { writeFileAtomic } from '../util/atomic.js';
import { openRunFolder } from './run-folder.js';

export const METRICS_LOG_FILE = 'metrics.jsonl';
export const METRICS_FILE = 'metrics.json';
export const CHECKPOINT_FILE = 'checkpoint.ckpt';
export const BEST_CHECKPOINT_FILE = 'best.ckpt';

/** Everything that shapes training; a checkpoint from a run with another key is not resumed. */
function runKey(config: RunConfig): string {
  const { data, features, groups, model, train } = config;
  return createHash('sha256')
    .update(JSON.stringify({ data, features, groups, model, train }))
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
  readonly groundTruth?: { readonly ceilingAuc: number; readonly signalColumnsAuc: number };
}

/** The AUC ceilings that `lemopt generate` records next to its data, if the source is such data. */
async function readGroundTruth(source: string): Promise<TrainRunResult['groundTruth']> {
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

/**
 * `lemopt train`: the full model (every group, full dimension) on the train split,
 * evaluated on valid each epoch and on test at the end. The run folder gets the resolved
 * config, the vocabularies, metrics.jsonl (one line per epoch) and metrics.json.
 */
export async function runTraining(config: RunConfig, options: TrainRunOptions = {}): Promise<TrainRunResult> {
  const log = options.log ?? (() => undefined);
  const runDir = await openRunFolder(config);
  const choice = await selectBackend({ flag: options.backend, config: config.model.backend });
  log(describeBackend(choice));
  const dataset = await prepareDataset(config, { cacheDir: runDir });
  const metricsLog = path.join(runDir, METRICS_LOG_FILE);
  await rm(metricsLog, { force: true });
  const checkpoints = {
    file: path.join(runDir, CHECKPOINT_FILE),
    bestFile: path.join(runDir, BEST_CHECKPOINT_FILE),
    key: runKey(config),
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
  );
  // Complete even when this process resumed part-way: every epoch, one line each.
  await writeFileAtomic(metricsLog, result.epochs.map((report) => `${JSON.stringify(report)}\n`).join(''));
  // A finished run needs no resuming: its checkpoints go, its metrics stay.
  await rm(checkpoints.file, { force: true });
  await rm(checkpoints.bestFile, { force: true });
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
