/**
 * Permutation importance, a baseline: train the full model once (or take the run's
 * full model, trained at the same dims), then score each
 * candidate by how much the validation metric drops when its input columns are destroyed.
 *
 * Per validation batch the embedding inputs are gathered once; for each candidate a copy
 * of its tower's inputs has the candidate's columns (a group's, or one block's) shuffled
 * across the batch's rows (one seeded row permutation for all of them), and the model
 * predicts on that. Score = primary metric (AUC) unpermuted minus permuted: near 0 for a
 * candidate the model does not use, negative by chance.
 */
import type { RunConfig } from '../config/schema.js';
import { batches, prefetch } from '../data/batcher.js';
import type { PreparedDataset } from '../data/dataset.js';
import { VALID } from '../data/split.js';
import type { EmbeddingSpec, Tower } from '../embedding/layout.js';
import { binaryMetrics, primaryMetric } from '../model/metrics.js';
import { disposeTrained, loadTrainedModel, trainFullModel } from '../model/trainer.js';
import { LemoptError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { activeDimsOf, blocksPerTable, columnCandidates, type Candidate } from './candidates.js';
import type { LearnerHooks } from './two-tower-learner.js';

export interface PermutationImportance {
  /** Metric drop per candidate. */
  readonly scores: number[];
  /** Validation metric of the unpermuted model. */
  readonly baseline: number;
  /** Training batches run. */
  readonly steps: number;
}

export async function permutationImportance(
  config: RunConfig,
  dataset: PreparedDataset,
  spec: EmbeddingSpec,
  candidates: readonly Candidate[],
  hooks: LearnerHooks = {},
  /** The run's trained full model (saveTrainedModel's file), scored instead of training one. */
  fullModelFile?: string,
): Promise<PermutationImportance> {
  if (config.model.objective !== 'binary')
    throw new LemoptError(
      `selection.method permutation supports the binary objective only (model.objective is '${config.model.objective}')`,
    );
  const all = candidates.map((candidate) => candidate.index);
  const activeDims = activeDimsOf(spec, blocksPerTable(spec, candidates, all));
  let steps = 0;
  let trained = fullModelFile
    ? await loadTrainedModel(config, dataset, fullModelFile, activeDims)
    : undefined;
  if (trained === undefined) {
    await trainFullModel(
      config,
      dataset,
      {
        onStep: (_epoch, _examples, loss) => {
          steps += 1;
          hooks.onStep?.(steps, loss);
        },
      },
      undefined,
      { activeDims, keep: (kept) => (trained = kept) },
    );
  }
  const { store, model } = trained!;
  try {
    // The columns of each candidate, in its tower.
    const towers: Record<Tower, { width: number; columns: number[][] }> = {
      user: { width: 0, columns: [] },
      item: { width: 0, columns: [] },
    };
    for (const tower of ['user', 'item'] as const) {
      const layout = store.columns(tower);
      const owner = columnCandidates(spec, layout, candidates);
      const columns = candidates.map(() => [] as number[]);
      for (let column = 0; column < layout.width; column++) columns[owner[column]]?.push(column);
      towers[tower] = { width: layout.width, columns };
    }
    const randoms = candidates.map((c) => new Random(config.selection.seed, `permutation:${c.index}`));
    const labels: number[] = [];
    const base: number[] = [];
    const permuted = candidates.map(() => [] as number[]);
    const validBatches = batches(dataset.encodedBatches(), {
      split: VALID,
      batchSize: config.train.batch_size,
      shuffleBuffer: 0,
      seed: 0,
    });
    for await (const batch of prefetch(validBatches)) {
      const size = batch.numRows;
      const inputs = store.forward(batch);
      // forward() returns scratch buffers: copy before predicting.
      const original = { user: inputs.user.slice(), item: inputs.item.slice() };
      const predictions = model.predict({ size, ...original });
      for (let row = 0; row < size; row++) {
        base.push(predictions[row]);
        labels.push(batch.labels[row]);
      }
      for (const candidate of candidates) {
        const { width, columns } = towers[candidate.tower];
        const own = columns[candidate.index];
        const order = randoms[candidate.index].permutation(size);
        const source = original[candidate.tower];
        const destroyed = source.slice();
        for (let row = 0; row < size; row++) {
          const from = order[row] * width;
          const to = row * width;
          for (const column of own) destroyed[to + column] = source[from + column];
        }
        const scores =
          own.length === 0 ? predictions : model.predict({ size, ...original, [candidate.tower]: destroyed });
        const out = permuted[candidate.index];
        for (let row = 0; row < size; row++) out.push(scores[row]);
      }
    }
    const baseline = primaryMetric(binaryMetrics(base, labels));
    const scores = permuted.map(
      (predictions) => baseline - primaryMetric(binaryMetrics(predictions, labels)),
    );
    return { scores, baseline, steps };
  } finally {
    disposeTrained(trained!);
  }
}
