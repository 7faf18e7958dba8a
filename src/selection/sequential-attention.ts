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
 *
 * With a value floor (a learner that trains decoys, decoys.ts), only candidates weighing
 * more than the round's floor, and no exact copy of a kept group, are picked: a round where
 * none of the affordable ones qualifies ends the selection on value, after adding the best
 * affordable candidate of each tower the selection has none of yet.
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
  /** Candidates with gate 0, outside the softmax, from the next step on (0/1 per candidate). */
  setExcluded?(mask: Uint8Array): void;
  /** The weight a candidate must exceed to be picked this round, when the learner trains decoys beside the candidates. */
  valueFloor?(): number | undefined;
  /** Per table, its class of exact copies (a copy of a kept table is not picked), when the learner knows them. */
  copyClasses?(): Int32Array | undefined;
}

export interface SequentialAttentionPlan {
  readonly warmupSteps: number;
  readonly stepsPerRound: number;
  readonly selectPerRound: number;
  /** Candidates that no longer fit leave the softmax (gate 0) from the round they stop fitting. */
  readonly excludeUnaffordable?: boolean;
  /**
   * With `rounds`: rounds fill equal shares of the budgets. Round k picks at least
   * selectPerRound candidates and goes on until k / rounds of the budgets is used (the
   * last round fills them), maxPerRound at most.
   */
  readonly shareRounds?: boolean;
  /** Rounds planned (the budget shares' denominator). */
  readonly rounds?: number;
  /** With shareRounds: picks a round makes at most (enough for the most the budgets can hold in `rounds`). */
  readonly maxPerRound?: number;
}

export interface SelectionRound {
  /** 1, 2, ... */
  readonly round: number;
  /** Attention weight of every candidate at the end of the round (1 for selected ones). */
  readonly weights: readonly number[];
  readonly picks: readonly PickedCandidate[];
  /** Candidates weighted above a pick that did not fit (absent in rounds saved before it was recorded). */
  readonly passedOver?: readonly PassedOver[];
  /** The weight a candidate had to exceed to be picked (with decoys only). */
  readonly valueFloor?: number;
  /** Per table, its class of exact copies (decoys.ts copyClasses) as the value stop saw it; with decoys only. */
  readonly copyClasses?: readonly number[];
  /** The round ended the selection on value: no affordable candidate (other than copies of kept groups) weighed more than the value floor. */
  readonly valueStop?: boolean;
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
    if (plan.excludeUnaffordable) learner.setExcluded?.(unaffordable(picker));
    learner.resetLogits(round);
    await learner.train(plan.stepsPerRound, 'attention');
    const weights = Array.from(learner.gateValues());
    const floor = learner.valueFloor?.();
    const copies = floor === undefined ? undefined : learner.copyClasses?.();
    const shares = plan.shareRounds && plan.rounds;
    const { picks, passedOver } = picker.pickExplained(weights, plan.selectPerRound, {
      floor,
      copyClasses: copies,
      ...(shares && { untilShare: Math.min(1, round / shares), atMost: plan.maxPerRound }),
    });
    const valueStop = picker.stoppedOnValue;
    if (valueStop) picks.push(...picker.coverTowers(weights));
    const record: SelectionRound = {
      round,
      weights,
      picks,
      passedOver,
      ...(floor !== undefined && { valueFloor: floor }),
      ...(copies && { copyClasses: Array.from(copies) }),
      ...(valueStop && { valueStop }),
    };
    rounds.push(record);
    await options.onRound?.(record);
    if (picks.length === 0) break;
  }
  return rounds;
}

/** 1 for each unselected candidate that no longer fits. */
function unaffordable(picker: Picker): Uint8Array {
  const mask = picker.mask.map((selected) => 1 - selected);
  for (const index of picker.affordable()) mask[index] = 0;
  return mask;
}
