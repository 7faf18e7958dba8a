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
import { vocabularySize, type CategoricalVocabulary } from '../data/vocabulary.js';
import { embeddingStoreFromConfig, type EmbeddingStore } from '../embedding/store.js';
import { binaryMetrics, primaryMetric, type EvalMetrics } from './metrics.js';
import { buildCatalogue, modelEmbedder, rankCatalogue, type Catalogue } from './retrieval.js';
import { learningRateFactor } from './schedule.js';
import { TwoTowerModel, type StepOptions } from './two-tower.js';
import { readCheckpoint, writeCheckpoint, type TrainingState } from './checkpoint.js';
import { LemoptError } from '../util/errors.js';

export interface EpochReport {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly trainExamples: number;
  readonly examplesPerSecond: number;
  readonly learningRate: number;
  readonly valid: EvalMetrics;
  readonly seconds: number;
}

export interface TrainResult {
  readonly epochs: readonly EpochReport[];
  readonly bestEpoch: number;
  readonly valid: EvalMetrics;
  readonly test: EvalMetrics;
}

export interface TrainHooks {
  /** After each train batch: examples so far in the epoch, the batch loss, and the examples expected in the epoch. */
  readonly onStep?: (epoch: number, examples: number, loss: number, expected: number) => void;
  readonly onEpoch?: (report: EpochReport) => void | Promise<void>;
}

export interface CheckpointOptions {
  /** The checkpoint file; training resumes from it when it exists and `key` matches. */
  readonly file: string;
  /** Where the best epoch's weights are kept for early stopping. */
  readonly bestFile: string;
  /** Identifies the run (a hash of its config): a checkpoint of another run is ignored. */
  readonly key: string;
  /** Write a checkpoint every this many batches (and at the end of every epoch). */
  readonly everyBatches: number;
}

/** Where training stands, saved in every checkpoint. */
interface Progress {
  readonly key: string;
  readonly epoch: number;
  /** Batches of `epoch` already trained. */
  readonly batches: number;
  readonly examples: number;
  readonly lossSum: number;
  readonly epochExamples: number;
  readonly reports: readonly EpochReport[];
  readonly best?: EpochReport;
}

/**
 * The store and model for a config, each group gated as one candidate, at its configured
 * dim (groups[].dim, else model.embedding_dim) or at `activeDims` (per table; 0 drops one).
 */
export function buildFullModel(
  config: RunConfig,
  dataset: PreparedDataset,
  activeDims?: ArrayLike<number>,
): { store: EmbeddingStore; model: TwoTowerModel } {
  const store = embeddingStoreFromConfig(config, dataset.layout, vocabularySizes(dataset.vocabularies));
  store.setActiveDims(
    activeDims ?? dataset.layout.groups.map((group) => group.dim ?? config.model.embedding_dim),
  );
  const user = store.columns('user');
  const item = store.columns('item');
  const model = TwoTowerModel.fromConfig(config.model, config.train, {
    userColumnCandidate: user.columnTable,
    itemColumnCandidate: item.columnTable,
    numCandidates: dataset.layout.groups.length,
  });
  return { store, model };
}

export interface TrainedModel {
  readonly store: EmbeddingStore;
  readonly model: TwoTowerModel;
}

/**
 * Trains the model of `config` (or of `activeDims`, see buildFullModel). `keep` receives
 * the trained store and model (else the model is disposed at the end).
 */
export async function trainFullModel(
  config: RunConfig,
  dataset: PreparedDataset,
  hooks: TrainHooks = {},
  checkpoints?: CheckpointOptions,
  options: { activeDims?: ArrayLike<number>; keep?: (trained: TrainedModel) => void } = {},
): Promise<TrainResult> {
  const { store, model } = buildFullModel(config, dataset, options.activeDims);
  let kept = false;
  try {
    const { train } = config;
    const objective = objectiveParts(config, dataset);
    const resumed = checkpoints ? await readCheckpoint<Progress>(checkpoints.file) : undefined;
    const start = resumed?.progress.key === checkpoints?.key ? resumed : undefined;
    if (start) restore(store, model, start.state);
    const reports: EpochReport[] = [...(start?.progress.reports ?? [])];
    // Until the first epoch has counted them, train rows are estimated from the split fractions.
    let epochExamples =
      start?.progress.epochExamples ?? Math.max(1, dataset.stats.rows * config.data.split.train);
    let best: { report: EpochReport; snapshot?: TrainingState } | undefined = start?.progress.best && {
      report: start.progress.best,
    };
    const firstEpoch = start?.progress.epoch ?? 1;
    const patience = train.early_stopping_patience;
    const stopped = (): boolean =>
      patience > 0 &&
      best !== undefined &&
      reports.length > 0 &&
      reports.at(-1)!.epoch - best.report.epoch >= patience;
    for (let epoch = firstEpoch; epoch <= train.epochs && !stopped(); epoch++) {
      const started = performance.now();
      const resuming = start && epoch === firstEpoch ? start.progress : undefined;
      let examples = resuming?.examples ?? 0;
      let lossSum = resuming?.lossSum ?? 0;
      let done = 0;
      let learningRate = train.learning_rate;
      const save = async (batchesDone: number, nextEpoch = epoch): Promise<void> => {
        if (!checkpoints) return;
        const progress: Progress = {
          key: checkpoints.key,
          epoch: nextEpoch,
          batches: batchesDone,
          examples: nextEpoch === epoch ? examples : 0,
          lossSum: nextEpoch === epoch ? lossSum : 0,
          epochExamples,
          reports,
          best: best?.report,
        };
        await writeCheckpoint(checkpoints.file, trainingState(store, model), progress);
      };
      const trainBatches = batches(dataset.encodedBatches(), {
        split: TRAIN,
        batchSize: train.batch_size,
        shuffleBuffer: train.shuffle_buffer,
        seed: train.seed * 1000 + epoch,
      });
      for await (const batch of prefetch(trainBatches)) {
        done += 1;
        // The epoch's batch order is fixed by its seed: a resumed epoch skips what it trained.
        if (resuming && done <= resuming.batches) continue;
        const factor = learningRateFactor(train, epoch - 1 + Math.min(1, examples / epochExamples));
        learningRate = train.learning_rate * factor;
        const loss = trainStep(store, model, batch, objective, train, factor);
        examples += batch.numRows;
        lossSum += loss * batch.numRows;
        if (checkpoints && done % checkpoints.everyBatches === 0) await save(done);
        hooks.onStep?.(epoch, examples, loss, Math.round(epochExamples));
      }
      epochExamples = Math.max(1, examples);
      const seconds = (performance.now() - started) / 1000;
      const valid = await objective.evaluate(store, model, VALID);
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
      if (!best || primaryMetric(valid) > primaryMetric(best.report.valid)) {
        best = { report, snapshot: trainingState(store, model, true) };
        if (checkpoints) await writeCheckpoint(checkpoints.bestFile, best.snapshot!, { epoch });
      }
      await save(0, epoch + 1);
    }
    // Early stopping keeps the best epoch's weights; without it the last epoch's stand.
    const keptBest = train.early_stopping_patience > 0 ? best! : undefined;
    if (keptBest && keptBest.report.epoch !== reports.at(-1)!.epoch) {
      const snapshot = keptBest.snapshot ?? (await readCheckpoint(checkpoints!.bestFile))?.state;
      if (!snapshot) throw new LemoptError(`${checkpoints!.bestFile}: the best epoch's weights are missing`);
      restore(store, model, snapshot);
    }
    const test = await objective.evaluate(store, model, TEST);
    const final = keptBest?.report ?? reports.at(-1)!;
    if (options.keep) {
      options.keep({ store, model });
      kept = true;
    }
    return { epochs: reports, bestEpoch: final.epoch, valid: final.valid, test };
  } finally {
    if (!kept) disposeTrained({ store, model });
  }
}

/** Frees a trained model: the dense engine's resources and the embedding engine's worker. */
export function disposeTrained(trained: TrainedModel): void {
  trained.model.dispose();
  trained.store.dispose();
}

/**
 * One training batch: gather, dense step, scatter and update the touched rows. Returns the
 * batch's loss. `update` (see StepOptions): 'weights' leaves the gate logits as they are;
 * 'gates' updates them alone, for held-out rows: the tables and weights stay.
 */
export function trainStep(
  store: EmbeddingStore,
  model: TwoTowerModel,
  batch: Batch,
  objective: ObjectiveParts,
  train: RunConfig['train'],
  factor = 1,
  update: StepOptions['update'] = 'all',
): number {
  const inputs = store.forward(batch);
  const step = model.step(
    {
      size: batch.numRows,
      user: inputs.user,
      item: inputs.item,
      labels: batch.labels,
      itemFrequency: objective.itemFrequency?.(batch),
    },
    { learningRate: train.learning_rate * factor, clipNorm: train.clip_norm, update },
  );
  // Before the tables are touched: a NaN would spread into every row it updates.
  if (!Number.isFinite(step.loss)) {
    throw new LemoptError(
      `the training loss became ${step.loss} on a batch of ${batch.numRows} rows: training diverged ` +
        '(lower train.learning_rate or train.embedding_learning_rate, or set train.clip_norm)',
    );
  }
  if (update === 'gates') return step.loss;
  store.backward(batch, step.userGrad, step.itemGrad);
  store.update(train.embedding_learning_rate * factor);
  return step.loss;
}

/**
 * The model saveTrainedModel wrote to `file`, rebuilt for `config` (see buildFullModel);
 * undefined when there is no such file. The caller disposes the model.
 */
export async function loadTrainedModel(
  config: RunConfig,
  dataset: PreparedDataset,
  file: string,
  activeDims?: ArrayLike<number>,
): Promise<TrainedModel | undefined> {
  const saved = await readCheckpoint(file);
  if (saved === undefined) return undefined;
  const trained = buildFullModel(config, dataset, activeDims);
  try {
    restore(trained.store, trained.model, saved.state);
  } catch (error) {
    disposeTrained(trained);
    throw error;
  }
  return trained;
}

/** Saves a trained model (tables, dense weights, optimizer state) as a checkpoint file with `info` as its progress record. */
export async function saveTrainedModel(file: string, trained: TrainedModel, info: unknown): Promise<void> {
  await writeCheckpoint(file, trainingState(trained.store, trained.model), info);
}

/** Every weight and optimizer state; `copy` for a snapshot that must outlive further training. */
export function trainingState(store: EmbeddingStore, model: TwoTowerModel, copy = false): TrainingState {
  const embeddings = store.state().map((entry) => (copy ? { ...entry, data: entry.data.slice() } : entry));
  return { embeddings, dense: model.getWeights(), denseOptimizer: model.getOptimizerState() };
}

export function restore(store: EmbeddingStore, model: TwoTowerModel, state: TrainingState): void {
  store.setState(state.embeddings);
  model.setWeights(state.dense);
  model.setOptimizerState(state.denseOptimizer);
}

export interface ObjectiveParts {
  /** Per-row item frequency for the log-Q correction (sampled_softmax). */
  readonly itemFrequency?: (batch: Batch) => Float32Array;
  readonly evaluate: (store: EmbeddingStore, model: TwoTowerModel, split: number) => Promise<EvalMetrics>;
}

/** What differs between objectives: binary scores rows; sampled_softmax ranks a catalogue. */
export function objectiveParts(config: RunConfig, dataset: PreparedDataset): ObjectiveParts {
  const batchSize = config.train.batch_size;
  if (config.model.objective === 'binary') {
    return { evaluate: (store, model, split) => evaluate(dataset, store, model, split, batchSize) };
  }
  const itemKey = itemKeyFeature(config, dataset);
  const vocabulary = dataset.vocabularies.get(dataset.layout.features[itemKey].name) as CategoricalVocabulary;
  // Frequencies by id; missing and out-of-vocabulary ids count as seen once.
  const frequency = new Float32Array(1 + vocabulary.oovSlots + vocabulary.values.length).fill(1);
  vocabulary.counts.forEach((count, index) => (frequency[1 + vocabulary.oovSlots + index] = count));
  let catalogue: Catalogue | undefined;
  return {
    itemFrequency: (batch) => {
      const ids = batch.features[itemKey].ids;
      return Float32Array.from({ length: batch.numRows }, (_, row) => frequency[ids[row]]);
    },
    evaluate: async (store, model, split) => {
      catalogue ??= await buildCatalogue(dataset, itemKey);
      return rankCatalogue(
        dataset,
        modelEmbedder(store, model),
        model,
        catalogue,
        itemKey,
        split,
        batchSize,
        config.train.retrieval_k,
      );
    },
  };
}

/** Index (in layout.features) of model.item_key, or of the item tower's largest categorical vocabulary. */
export function itemKeyFeature(config: RunConfig, dataset: PreparedDataset): number {
  const features = dataset.layout.features;
  const name = config.model.item_key;
  if (name !== undefined) {
    const index = features.findIndex((feature) => feature.name === name);
    if (index < 0 || features[index].tower !== 'item' || features[index].type !== 'categorical') {
      throw new LemoptError(`model.item_key: '${name}' is not a categorical feature of the item tower`);
    }
    return index;
  }
  let best = -1;
  features.forEach((feature, index) => {
    if (feature.tower !== 'item' || feature.type !== 'categorical') return;
    const size = vocabularySize(dataset.vocabularies.get(feature.name)!);
    if (best < 0 || size > vocabularySize(dataset.vocabularies.get(features[best].name)!)) best = index;
  });
  if (best < 0)
    throw new LemoptError('sampled_softmax needs a categorical item-tower feature to identify items');
  return best;
}

/** Metrics of the current model on one split, in source order. */
export async function evaluate(
  dataset: PreparedDataset,
  store: EmbeddingStore,
  model: TwoTowerModel,
  split: number,
  batchSize: number,
): Promise<EvalMetrics> {
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
