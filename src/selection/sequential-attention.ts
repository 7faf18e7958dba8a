/**
 * Sequential Attention (Yasuda et al., ICLR 2023) over any model with one gate per
 * candidate: warm up with every gate at 1, then rounds. In a round the selected
 * candidates' gates are 1 and the unselected ones share a softmax over their logits;
 * the logits train with the model. At the end of the round the picker takes the
 * candidates with the largest weights that still fit the budgets; the logits are reset
 * and the model's weights carry over.
 *
 * Unlike the reference implementation, whose first pick comes before the logits have had
 * any gradient, every pick here is made on logits trained during the round before it.
 */
import type { PassedOver, PickedCandidate, Picker } from './picker.js';

export type GateMode = 'ones' | 'attention';

/** A model with one gate per candidate, trained in steps (batches). */
export interface GatedLearner {
  readonly numCandidates: number;
  /** Trains `steps` batches with the gates in `mode` ('ones': every gate 1). */
  train(steps: number, mode: GateMode): Promise<void>;
  /** Selected candidates (gate 1 in mode 'attention'). */
  setSelected(mask: Uint8Array): void;
  /** Fresh logits (and fresh optimizer state for them), drawn for round `round`. */
  resetLogits(round: number): void;
  /** Gate values as the next step would use them: softmax weights for unselected candidates. */
  gateValues(): Float32Array;
}

export interface SequentialAttentionPlan {
  readonly warmupSteps: number;
  readonly stepsPerRound: number;
  readonly selectPerRound: number;
}

export interface SelectionRound {
  /** 1, 2, ... */
  readonly round: number;
  /** Attention weight of every candidate at the end of the round (1 for selected ones). */
  readonly weights: readonly number[];
  readonly picks: readonly PickedCandidate[];
  /** Candidates weighted above a pick that did not fit (absent in rounds saved before it was recorded). */
  readonly passedOver?: readonly PassedOver[];
}

export interface SequentialAttentionOptions {
  /** Rounds already done (a resumed selection): the picker holds their picks, the learner their weights. */
  readonly completedRounds?: number;
  /** Called after each round, e.g. to save a checkpoint. */
  readonly onRound?: (round: SelectionRound) => void | Promise<void>;
}

export async function sequentialAttention(
  learner: GatedLearner,
  picker: Picker,
  plan: SequentialAttentionPlan,
  options: SequentialAttentionOptions = {},
): Promise<SelectionRound[]> {
  if (learner.numCandidates !== picker.candidates.length)
    throw new Error(
      `the learner has ${learner.numCandidates} gates for ${picker.candidates.length} candidates`,
    );
  picker.assertSomethingFits();
  const rounds: SelectionRound[] = [];
  let round = options.completedRounds ?? 0;
  if (round === 0 && plan.warmupSteps > 0) await learner.train(plan.warmupSteps, 'ones');
  while (!picker.done()) {
    round += 1;
    learner.setSelected(picker.mask);
    learner.resetLogits(round);
    await learner.train(plan.stepsPerRound, 'attention');
    const weights = Array.from(learner.gateValues());
    const { picks, passedOver } = picker.pickExplained(weights, plan.selectPerRound);
    const record = { round, weights, picks, passedOver };
    rounds.push(record);
    await options.onRound?.(record);
    if (picks.length === 0) break;
  }
  return rounds;
}
