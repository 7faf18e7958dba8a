/**
 * Exact greedy forward selection, the oracle baseline: each step trains a fresh model on
 * the selection plus each affordable unselected candidate in turn (train.epochs each) and
 * keeps the candidate whose model has the best validation metric (its weight). It stops
 * when nothing more fits or at max_candidates.
 *
 * With n candidates that is up to n(n+1)/2 trainings, so it refuses more than
 * selection.greedy_max_candidates candidates unless selection.force_greedy.
 */
import type { RunConfig } from '../config/schema.js';
import type { PreparedDataset } from '../data/dataset.js';
import { primaryMetric } from '../model/metrics.js';
import { trainFullModel } from '../model/trainer.js';
import { LemoptError } from '../util/errors.js';
import { activeDimsOf, blocksPerTable } from './candidates.js';
import type { Picker, PickedCandidate } from './picker.js';
import type { SelectionRound } from './sequential-attention.js';
import type { LearnerHooks } from './two-tower-learner.js';

export interface GreedyOptions extends LearnerHooks {
  /** After each pick: the validation metric of every candidate tried (NaN for the others). */
  readonly onRound?: (round: SelectionRound) => void | Promise<void>;
}

export interface GreedyOutcome {
  readonly rounds: readonly SelectionRound[];
  /** Training batches run. */
  readonly steps: number;
}

/** Trainings greedy needs at most for n candidates. */
export const greedyTrainings = (n: number): number => (n * (n + 1)) / 2;

/** Fails when greedy would be too dear for the config's limit. */
export function assertGreedyAffordable(config: RunConfig, numCandidates: number): void {
  const { greedy_max_candidates: limit, force_greedy: force } = config.selection;
  if (numCandidates <= limit || force) return;
  throw new LemoptError(
    `selection.method greedy: ${numCandidates} candidates need up to ${greedyTrainings(numCandidates)} ` +
      `trainings; the limit is greedy_max_candidates = ${limit} (set force_greedy: true to run anyway)`,
  );
}

export async function greedySelection(
  config: RunConfig,
  dataset: PreparedDataset,
  picker: Picker,
  options: GreedyOptions = {},
): Promise<GreedyOutcome> {
  const { candidates, costs } = picker;
  const rounds: SelectionRound[] = [];
  let steps = 0;
  for (;;) {
    const affordable = picker.affordable();
    if (affordable.length === 0) break;
    const weights: number[] = candidates.map(() => Number.NaN);
    let best = -1;
    for (const index of affordable) {
      const blocks = blocksPerTable(costs.spec, candidates, [...picker.selected, index]);
      const result = await trainFullModel(
        config,
        dataset,
        {
          onStep: (_epoch, _examples, loss) => {
            steps += 1;
            options.onStep?.(steps, loss);
          },
        },
        undefined,
        { activeDims: activeDimsOf(costs.spec, blocks) },
      );
      weights[index] = primaryMetric(result.valid);
      // Ties (and NaN metrics) go to the earlier candidate.
      if (best < 0 || weights[index] > weights[best]) best = index;
    }
    const pick: PickedCandidate = picker.add(best, weights[best]);
    const round: SelectionRound = { round: rounds.length + 1, weights, picks: [pick] };
    rounds.push(round);
    await options.onRound?.(round);
  }
  return { rounds, steps };
}
