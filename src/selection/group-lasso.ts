/**
 * Group lasso baseline: train the model with every gate at 1 and, after every update, the
 * proximal step of the penalty λ Σ_c ||W_c|| (λ from selection.group_lasso_shrink) on the first-layer kernel rows of each
 * candidate (W_c: the rows its input columns feed). Candidates the loss can do without
 * shrink to zero; the score is the share of its initial norm a candidate keeps (a ratio,
 * so towers whose first layers start at different scales compare fairly), picked largest
 * first under the budgets.
 */
import type { RunConfig } from '../config/schema.js';
import type { PreparedDataset } from '../data/dataset.js';
import type { Candidate } from './candidates.js';
import { TwoTowerLearner, type LearnerHooks } from './two-tower-learner.js';

export async function groupLassoScores(
  config: RunConfig,
  dataset: PreparedDataset,
  candidates: readonly Candidate[],
  steps: number,
  hooks: LearnerHooks = {},
): Promise<{ scores: Float32Array; steps: number }> {
  const learner = new TwoTowerLearner(config, dataset, candidates, hooks);
  try {
    // The proximal step of λ||W_c|| after a gradient step of size lr shrinks by lr λ; over
    // the run that adds up to group_lasso_shrink.
    const amount = config.selection.group_lasso_shrink / Math.max(1, steps);
    const initial = learner.model.candidateNorms();
    await learner.train(steps, 'ones', () => learner.model.shrinkCandidates(amount));
    const final = learner.model.candidateNorms();
    const scores = final.map((norm, c) => norm / Math.max(initial[c], 1e-12));
    return { scores, steps: learner.steps };
  } finally {
    await learner.dispose();
  }
}
