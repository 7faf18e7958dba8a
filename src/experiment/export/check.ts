/**
 * The export checked against lemopt's own model: every model file, loaded by ONNX Runtime
 * from disk, scores the run's test split; the two-tower model's scores and each tower
 * file's vectors are compared with lemopt's, row by row. In fp32 they must agree within
 * float tolerance (lookups, pooling and matrix products add in other orders); in fp16 and
 * int8 the differences are the precision's, and the change of the test metric is what
 * counts: AUC for `binary`, Recall@K over the item catalogue for `sampled_softmax` (the
 * catalogue's vectors from item_tower.onnx, the users' from user_tower.onnx).
 */
import type { RunConfig } from '../../config/schema.js';
import { batches } from '../../data/batcher.js';
import type { PreparedDataset } from '../../data/dataset.js';
import { TEST } from '../../data/split.js';
import type { EmbeddingDtype } from '../../embedding/memory.js';
import { rocAuc } from '../../model/metrics.js';
import type { OnnxSession } from '../../model/onnx/runtime.js';
import { SERVING_OUTPUT, type ServingModelKind } from '../../model/onnx/serving-graph.js';
import { buildCatalogue, modelEmbedder, rankCatalogue, type TowerEmbedder } from '../../model/retrieval.js';
import { itemKeyFeature, type TrainedModel } from '../../model/trainer.js';
import type { CheckRecord, MetricName } from './record.js';
import { batchFeeds, type ServingInput } from './serving-inputs.js';

export const FP32_TOLERANCE = { absolute: 1e-5, relative: 1e-4 } as const;

export type ServingSessions = Readonly<Record<ServingModelKind, OnnxSession>>;

/** The first row where an fp32 export disagrees with lemopt beyond the tolerance. */
export interface Mismatch {
  readonly kind: ServingModelKind;
  readonly output: string;
  /** Test row (0-based, in source order). */
  readonly row: number;
  readonly exported: number;
  readonly lemopt: number;
}

export interface CheckOptions {
  readonly config: RunConfig;
  readonly dtype: EmbeddingDtype;
  /** lemopt's engine. */
  readonly backend: string;
}

export interface CheckResult {
  readonly record: CheckRecord;
  readonly mismatch?: Mismatch;
}

export async function checkAgainstLemopt(
  dataset: PreparedDataset,
  trained: TrainedModel,
  sessions: ServingSessions,
  inputs: readonly ServingInput[],
  options: CheckOptions,
): Promise<CheckResult> {
  const { store, model } = trained;
  const userInputs = inputs.filter((input) => input.tower === 'user');
  const itemInputs = inputs.filter((input) => input.tower === 'item');
  const tolerance = options.dtype === 'fp32' ? FP32_TOLERANCE : null;
  const differences = { score: 0, user_vector: 0, item_vector: 0 };
  let mismatch: Mismatch | undefined;
  const exportedScores: number[] = [];
  const lemoptScores: number[] = [];
  const labels: number[] = [];
  let rows = 0;
  /** Compares one output of a batch of `size` rows with lemopt's values. */
  const compare = (
    kind: ServingModelKind,
    output: keyof typeof differences,
    got: Float32Array,
    want: Float32Array,
    size: number,
  ) => {
    const width = got.length / size;
    for (let k = 0; k < got.length; k++) {
      const difference = Math.abs(got[k] - want[k]);
      differences[output] = Math.max(differences[output], difference);
      if (mismatch || !tolerance) continue;
      if (!(difference <= tolerance.absolute + tolerance.relative * Math.abs(want[k])))
        mismatch = { kind, output, row: rows + Math.floor(k / width), exported: got[k], lemopt: want[k] };
    }
  };
  for await (const batch of batches(dataset.encodedBatches(), {
    split: TEST,
    batchSize: options.config.train.batch_size,
    shuffleBuffer: 0,
    seed: 0,
  })) {
    const size = batch.numRows;
    const towerInputs = store.forward(batch);
    const lemopt = { size, user: towerInputs.user, item: towerInputs.item };
    const scores = model.predict(lemopt);
    const vectors = model.embed(lemopt);
    const both = sessions.two_tower.run(batchFeeds(batch, inputs), Object.values(SERVING_OUTPUT));
    const user = sessions.user_tower.run(batchFeeds(batch, userInputs), [SERVING_OUTPUT.userVector]);
    const item = sessions.item_tower.run(batchFeeds(batch, itemInputs), [SERVING_OUTPUT.itemVector]);
    compare('two_tower', 'score', both[SERVING_OUTPUT.score], scores, size);
    compare('two_tower', 'user_vector', both[SERVING_OUTPUT.userVector], vectors.user, size);
    compare('two_tower', 'item_vector', both[SERVING_OUTPUT.itemVector], vectors.item, size);
    compare('user_tower', 'user_vector', user[SERVING_OUTPUT.userVector], vectors.user, size);
    compare('item_tower', 'item_vector', item[SERVING_OUTPUT.itemVector], vectors.item, size);
    for (let r = 0; r < size; r++) {
      exportedScores.push(both[SERVING_OUTPUT.score][r]);
      lemoptScores.push(scores[r]);
      labels.push(batch.labels[r]);
    }
    rows += size;
  }
  const metric =
    model.objective === 'binary'
      ? change('auc', rocAuc(lemoptScores, labels), rocAuc(exportedScores, labels))
      : await recall(dataset, trained, sessions, inputs, options);
  return {
    record: { split: 'test', rows, backend: options.backend, tolerance, max_difference: differences, metric },
    mismatch,
  };
}

function change(name: MetricName, lemopt: number, exported: number): CheckRecord['metric'] {
  return { name, lemopt, export: exported, change: exported - lemopt };
}

/** sampled_softmax: Recall@K (the first of train.retrieval_k) over the catalogue, of lemopt's vectors and of the tower files'. */
async function recall(
  dataset: PreparedDataset,
  trained: TrainedModel,
  sessions: ServingSessions,
  inputs: readonly ServingInput[],
  options: CheckOptions,
): Promise<CheckRecord['metric']> {
  const { config } = options;
  const itemKey = itemKeyFeature(config, dataset);
  const catalogue = await buildCatalogue(dataset, itemKey);
  const k = config.train.retrieval_k[0];
  const rank = (embedder: TowerEmbedder) =>
    rankCatalogue(dataset, embedder, trained.model, catalogue, itemKey, TEST, config.train.batch_size, [k]);
  const lemopt = await rank(modelEmbedder(trained.store, trained.model));
  const exported = await rank(sessionEmbedder(sessions, inputs));
  return change(`recall@${k}`, lemopt.recall[`@${k}`], exported.recall[`@${k}`]);
}

/** The tower files' vectors. */
function sessionEmbedder(sessions: ServingSessions, inputs: readonly ServingInput[]): TowerEmbedder {
  const user = inputs.filter((input) => input.tower === 'user');
  const item = inputs.filter((input) => input.tower === 'item');
  const { userVector, itemVector } = SERVING_OUTPUT;
  return {
    users: (rows) => sessions.user_tower.run(batchFeeds(rows, user), [userVector])[userVector],
    items: (rows) => sessions.item_tower.run(batchFeeds(rows, item), [itemVector])[itemVector],
  };
}
