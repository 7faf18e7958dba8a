/**
 * Trains the full two-tower model: embedding rows in the TypeScript store, the dense part
 * in tfjs. Per batch: gather embeddings, one dense step (loss, dense update, gradients of
 * the inputs), scatter those gradients into the touched rows and update them.
 */
import type { RunConfig } from '../config/schema.js';
import { batches, prefetch, type Batch } from '../data/batcher.js';
import type { PreparedDataset } from '../data/dataset.js';
import { TEST, TRAIN, VALID } from '../data/split.js';
import { vocabularySizes } from '../embedding/layout.js';
import { embeddingStoreFromConfig, type EmbeddingStore } from '../embedding/store.js';
import { binaryMetrics, type BinaryMetrics } from './metrics.js';
import { learningRateFactor } from './schedule.js';
import { TwoTowerModel } from './two-tower.js';
import type { NamedArray } from './variables.js';
import type { StateArray } from '../embedding/store.js';

export interface EpochReport {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly trainExamples: number;
  readonly examplesPerSecond: number;
  readonly learningRate: number;
  readonly valid: BinaryMetrics;
  readonly seconds: number;
}

export interface TrainResult {
  readonly epochs: readonly EpochReport[];
  readonly bestEpoch: number;
  readonly valid: BinaryMetrics;
  readonly test: BinaryMetrics;
}

export interface TrainHooks {
  /** After each train batch: examples so far in the epoch and the batch loss. */
  readonly onStep?: (epoch: number, examples: number, loss: number) => void;
  readonly onEpoch?: (report: EpochReport) => void | Promise<void>;
}

/** The store and model for a config, with every group at its full dimension and gated as one candidate. */
export function buildFullModel(
  config: RunConfig,
  dataset: PreparedDataset,
): { store: EmbeddingStore; model: TwoTowerModel } {
  const store = embeddingStoreFromConfig(config, dataset.layout, vocabularySizes(dataset.vocabularies));
  const user = store.columns('user');
  const item = store.columns('item');
  const model = TwoTowerModel.fromConfig(config.model, config.train, {
    userColumnCandidate: user.columnTable,
    itemColumnCandidate: item.columnTable,
    numCandidates: dataset.layout.groups.length,
  });
  return { store, model };
}

export async function trainFullModel(
  config: RunConfig,
  dataset: PreparedDataset,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const { store, model } = buildFullModel(config, dataset);
  try {
    const { train } = config;
    const reports: EpochReport[] = [];
    // Until the first epoch has counted them, train rows are estimated from the split fractions.
    let epochExamples = Math.max(1, dataset.stats.rows * config.data.split.train);
    let best: { report: EpochReport; snapshot: Snapshot } | undefined;
    for (let epoch = 1; epoch <= train.epochs; epoch++) {
      const started = performance.now();
      let examples = 0;
      let lossSum = 0;
      let learningRate = train.learning_rate;
      const trainBatches = batches(dataset.encodedBatches(), {
        split: TRAIN,
        batchSize: train.batch_size,
        shuffleBuffer: train.shuffle_buffer,
        seed: train.seed * 1000 + epoch,
      });
      for await (const batch of prefetch(trainBatches)) {
        const factor = learningRateFactor(train, epoch - 1 + Math.min(1, examples / epochExamples));
        learningRate = train.learning_rate * factor;
        const inputs = store.forward(batch);
        const step = model.step(
          { size: batch.numRows, user: inputs.user, item: inputs.item, labels: batch.labels },
          { learningRate },
        );
        store.backward(batch, step.userGrad, step.itemGrad);
        store.update(train.embedding_learning_rate * factor);
        examples += batch.numRows;
        lossSum += step.loss * batch.numRows;
        hooks.onStep?.(epoch, examples, step.loss);
      }
      epochExamples = Math.max(1, examples);
      const seconds = (performance.now() - started) / 1000;
      const valid = await evaluate(dataset, store, model, VALID, train.batch_size);
      const report: EpochReport = {
        epoch,
        trainLoss: lossSum / Math.max(1, examples),
        trainExamples: examples,
        examplesPerSecond: examples / seconds,
        learningRate,
        valid,
        seconds,
      };
      reports.push(report);
      await hooks.onEpoch?.(report);
      if (!best || valid.auc > best.report.valid.auc) best = { report, snapshot: snapshot(store, model) };
      const patience = train.early_stopping_patience;
      if (patience > 0 && epoch - best.report.epoch >= patience) break;
    }
    // Early stopping keeps the best epoch's weights; without it the last epoch's stand.
    const kept = train.early_stopping_patience > 0 ? best! : undefined;
    if (kept && kept.report !== reports.at(-1)) restore(store, model, kept.snapshot);
    const test = await evaluate(dataset, store, model, TEST, train.batch_size);
    const final = kept?.report ?? reports.at(-1)!;
    return { epochs: reports, bestEpoch: final.epoch, valid: final.valid, test };
  } finally {
    model.dispose();
  }
}

interface Snapshot {
  readonly embeddings: StateArray[];
  readonly dense: NamedArray[];
}

/** Copies of every weight and optimizer state, to return to the best epoch. */
function snapshot(store: EmbeddingStore, model: TwoTowerModel): Snapshot {
  const embeddings = store.state().map((entry) => ({ ...entry, data: entry.data.slice() }));
  return { embeddings, dense: model.getWeights() };
}

function restore(store: EmbeddingStore, model: TwoTowerModel, saved: Snapshot): void {
  store.setState(saved.embeddings);
  model.setWeights(saved.dense);
}

/** Metrics of the current model on one split, in source order. */
export async function evaluate(
  dataset: PreparedDataset,
  store: EmbeddingStore,
  model: TwoTowerModel,
  split: number,
  batchSize: number,
): Promise<BinaryMetrics> {
  const scores: number[] = [];
  const labels: number[] = [];
  const splitBatches = batches(dataset.encodedBatches(), { split, batchSize, shuffleBuffer: 0, seed: 0 });
  for await (const batch of prefetch(splitBatches)) {
    const predictions = predictBatch(store, model, batch);
    for (let i = 0; i < batch.numRows; i++) {
      scores.push(predictions[i]);
      labels.push(batch.labels[i]);
    }
  }
  return binaryMetrics(scores, labels);
}

function predictBatch(store: EmbeddingStore, model: TwoTowerModel, batch: Batch): Float32Array {
  const inputs = store.forward(batch);
  return model.predict({ size: batch.numRows, user: inputs.user, item: inputs.item });
}
