/**
 * Runs the configured selection method under the budgets and returns the picks in order.
 *
 *   sequential_attention  rounds of attention over the unselected candidates (sequential-attention.ts)
 *   one_shot_attention    one attention round over every candidate, then the top weights that fit
 *   all                   every candidate, ignoring the budgets (the reference model)
 *   random                a seeded random order, taking what fits
 *   cardinality           groups with larger vocabularies first (more distinct values, more to learn)
 *   permutation           validation metric drop of the trained full model when a candidate's
 *                         inputs are shuffled across rows, largest first (permutation.ts)
 *   group_lasso           norms of each candidate's first-layer weights after training with a
 *                         group lasso penalty, largest first (group-lasso.ts)
 *   greedy                exact greedy forward selection, one retraining per candidate per pick (greedy.ts)
 */
import { existsSync } from 'node:fs';
import type { RunConfig } from '../config/schema.js';
import type { PreparedDataset } from '../data/dataset.js';
import type { EmbeddingSpec } from '../embedding/layout.js';
import { readCheckpoint, writeCheckpoint } from '../model/checkpoint.js';
import { Random } from '../util/random.js';
import { blocksPerTable, type Candidate } from './candidates.js';
import type { CostModel, SelectionCost } from './cost-model.js';
import type { Budgets } from './budgets.js';
import {
  configuredPicker,
  Picker,
  type PassedOver,
  type PickedCandidate,
  type StopReason,
} from './picker.js';
import { explainDidNotFit, type DidNotFit, type RoundPassedOver } from './did-not-fit.js';
import { groupLassoScores } from './group-lasso.js';
import { permutationImportance } from './permutation.js';
import { assertGreedyAffordable, greedySelection, greedyTrainings } from './greedy.js';
import {
  sequentialAttention,
  type SelectionRound,
  type SequentialAttentionPlan,
} from './sequential-attention.js';
import { TwoTowerLearner, type LearnerHooks } from './two-tower-learner.js';

export interface OrderedPick extends PickedCandidate {
  /** Round it was picked in (0: methods without rounds). */
  readonly round: number;
}

export interface SelectionOutcome {
  readonly method: RunConfig['selection']['method'];
  readonly candidates: readonly Candidate[];
  readonly order: readonly OrderedPick[];
  /** Kept blocks per table. */
  readonly keptBlocks: Int32Array;
  readonly cost: SelectionCost;
  /** Rounds of attention (empty for methods without). */
  readonly rounds: readonly SelectionRound[];
  readonly plan?: SequentialAttentionPlan;
  /** Training batches the selection ran. */
  readonly steps: number;
  readonly seconds: number;
  readonly stop: StopReason;
  /** Candidates scored above a pick that did not fit then, largest score first. */
  readonly didNotFit: readonly DidNotFit[];
  /** Dropped groups that are exact copies of a kept one (value stop: never picked), by name: group → the kept group. */
  readonly copies?: Readonly<Record<string, string>>;
}

/** What a method hands back to be summed up as its outcome. */
interface MethodResult {
  readonly order: readonly OrderedPick[];
  readonly rounds?: readonly SelectionRound[];
  readonly steps?: number;
  readonly plan?: SequentialAttentionPlan;
  /** Candidates passed over per round; default the rounds' own. */
  readonly passedOver?: readonly RoundPassedOver[];
}

export interface SelectionHooks extends LearnerHooks {
  readonly onRound?: (round: SelectionRound, candidates: readonly Candidate[]) => void | Promise<void>;
  /** Batches the selection expects to train, and how they split, once it knows. */
  readonly onPlan?: (totalSteps: number, description: string) => void;
}

/** Where Sequential Attention saves its state after every round, and the key of this selection. */
export interface SelectionCheckpoint {
  readonly file: string;
  readonly key: string;
}

interface SelectionProgress {
  readonly key: string;
  readonly rounds: readonly SelectionRound[];
  /** Batches trained when the checkpoint was taken. */
  readonly steps: number;
}

export async function selectCandidates(
  config: RunConfig,
  dataset: PreparedDataset,
  costs: CostModel,
  budgets: Budgets,
  hooks: SelectionHooks = {},
  checkpoint?: SelectionCheckpoint,
  /** The run's trained full model (model.ckpt): permutation scores it instead of training its own. */
  fullModelFile?: string,
): Promise<SelectionOutcome> {
  const started = performance.now();
  const { selection } = config;
  const picker = configuredPicker(selection, costs, budgets);
  const { candidates } = picker;
  const finish = (result: MethodResult, by = picker): SelectionOutcome => {
    const { order, rounds = [], steps = 0, plan, passedOver = rounds } = result;
    const picked = order.map((pick) => pick.candidate);
    const keptBlocks = blocksPerTable(costs.spec, candidates, picked);
    return {
      method: selection.method,
      candidates,
      order,
      keptBlocks,
      cost: costs.cost(keptBlocks),
      rounds,
      plan,
      steps,
      seconds: (performance.now() - started) / 1000,
      stop: by.stopReason(),
      didNotFit: explainDidNotFit(by, picked, passedOver),
      ...copiesOfKept(costs.spec, rounds, keptBlocks),
    };
  };
  switch (selection.method) {
    case 'all': {
      const all = new Picker(candidates, costs, {}, 'weight');
      return finish({ order: candidates.map((c) => ({ ...all.add(c.index, 1), round: 0 })) }, all);
    }
    case 'random': {
      picker.assertSomethingFits();
      const random = new Random(selection.seed);
      return finish(
        pickRanked(
          picker,
          candidates.map(() => random.next()),
        ),
      );
    }
    case 'cardinality': {
      picker.assertSomethingFits();
      return finish(pickRanked(picker, cardinalityScores(costs.spec, candidates)));
    }
    case 'sequential_attention':
    case 'one_shot_attention':
      return attentionSelection(config, dataset, picker, hooks, finish, checkpoint);
    case 'permutation': {
      picker.assertSomethingFits();
      const full = fullModelFile !== undefined && existsSync(fullModelFile) ? fullModelFile : undefined;
      const trainSteps = full ? 0 : trainingSteps(config, dataset);
      hooks.onPlan?.(
        trainSteps,
        full
          ? `the run's full model, shuffles per candidate`
          : `the full model (${trainSteps} batches), then shuffles per candidate`,
      );
      const { scores, steps } = await permutationImportance(
        config,
        dataset,
        costs.spec,
        candidates,
        hooks,
        full,
      );
      const round = await pickByScores(picker, scores, hooks);
      return finish({ order: round.picks, rounds: [round], steps });
    }
    case 'group_lasso': {
      picker.assertSomethingFits();
      const trainSteps = trainingSteps(config, dataset, selection.epochs);
      hooks.onPlan?.(trainSteps, `${trainSteps} batches with the group penalty`);
      const { scores, steps } = await groupLassoScores(config, dataset, candidates, trainSteps, hooks);
      const round = await pickByScores(picker, scores, hooks);
      return finish({ order: round.picks, rounds: [round], steps });
    }
    case 'greedy': {
      assertGreedyAffordable(config, candidates.length);
      picker.assertSomethingFits();
      const trainSteps = trainingSteps(config, dataset);
      const picks = Math.min(candidates.length, selection.max_candidates ?? candidates.length);
      const trainings = greedyTrainings(candidates.length) - greedyTrainings(candidates.length - picks);
      hooks.onPlan?.(trainSteps * trainings, `up to ${trainings} trainings of ${trainSteps} batches`);
      const { rounds, steps } = await greedySelection(config, dataset, picker, {
        onStep: hooks.onStep,
        onRound: (round) => hooks.onRound?.(round, candidates),
      });
      return finish({ order: roundsOrder(rounds), rounds, steps });
    }
  }
}

/** The picks of rounds, in order, each with its round. */
function roundsOrder(rounds: readonly SelectionRound[]): OrderedPick[] {
  return rounds.flatMap((round) => round.picks.map((pick) => ({ ...pick, round: round.round })));
}

/** Picks by scores until nothing more fits, recorded as one round with every candidate's score. */
async function pickByScores(
  picker: Picker,
  scores: ArrayLike<number>,
  hooks: SelectionHooks,
): Promise<SelectionRound & { picks: OrderedPick[] }> {
  const { order, passedOver } = pickAll(picker, scores, 1);
  const round = { round: 1, weights: Array.from(scores), picks: order, passedOver };
  await hooks.onRound?.(round, picker.candidates);
  return round;
}

/** Picks by fixed scores until nothing more fits, as round `round`. */
function pickAll(
  picker: Picker,
  scores: ArrayLike<number>,
  round: number,
): { order: OrderedPick[]; passedOver: PassedOver[] } {
  const { picks, passedOver } = picker.pickExplained(scores, picker.candidates.length);
  return { order: picks.map((pick) => ({ ...pick, round })), passedOver };
}

/** A method without rounds: picks by fixed scores until nothing more fits. */
function pickRanked(picker: Picker, scores: ArrayLike<number>): MethodResult {
  const { order, passedOver } = pickAll(picker, scores, 0);
  return { order, passedOver: [{ round: 0, passedOver }] };
}

/** log of the group's embedding rows; a group's blocks share it, earlier blocks slightly ahead. */
function cardinalityScores(spec: EmbeddingSpec, candidates: readonly Candidate[]): number[] {
  const seen = new Map<number, number>();
  return candidates.map((candidate) => {
    const position = seen.get(candidate.table) ?? 0;
    seen.set(candidate.table, position + 1);
    return Math.log(spec.tables[candidate.table].rows + 1) - position * 1e-6;
  });
}

/** Dropped tables whose copy class (the last round's that records them) has a kept table: name → the kept one's name. */
function copiesOfKept(
  spec: EmbeddingSpec,
  rounds: readonly SelectionRound[],
  keptBlocks: Int32Array,
): { copies?: Record<string, string> } {
  const classes = rounds.findLast((round) => round.copyClasses)?.copyClasses;
  if (!classes) return {};
  const copies: Record<string, string> = {};
  for (const table of spec.tables) {
    if (keptBlocks[table.index] > 0) continue;
    const kept = spec.tables.find(
      (other) => keptBlocks[other.index] > 0 && classes[other.index] === classes[table.index],
    );
    if (kept) copies[table.name] = kept.name;
  }
  return Object.keys(copies).length > 0 ? { copies } : {};
}

/** Batches of `epochs` (default train.epochs) over the train split. */
function trainingSteps(config: RunConfig, dataset: PreparedDataset, epochs = config.train.epochs): number {
  const trainRows = Math.max(1, Math.round(dataset.stats.rows * config.data.split.train));
  return epochs * Math.max(1, Math.ceil(trainRows / config.train.batch_size));
}

/**
 * How many batches the selection trains: `selection.epochs` passes over the train split,
 * a warm-up, then equal rounds sharing the rest, for `picks` picks at most. When rounds of
 * select_per_round picks would train fewer than min_steps_per_round batches each, rounds
 * pick more candidates each instead, so the run keeps its length whatever the number of
 * candidates (it only exceeds it when one round of min_steps_per_round does).
 */
export function selectionPlan(
  config: RunConfig,
  dataset: Pick<PreparedDataset, 'stats'>,
  picks: number,
): SequentialAttentionPlan & { totalSteps: number; rounds: number } {
  const { selection, train, data } = config;
  const trainRows = Math.max(1, Math.round(dataset.stats.rows * data.split.train));
  const batchesPerEpoch = Math.max(1, Math.ceil(trainRows / train.batch_size));
  const budgetSteps = (selection.epochs ?? train.epochs) * batchesPerEpoch;
  const warmupSteps = Math.round(selection.warmup_fraction * budgetSteps);
  const roundSteps = Math.max(0, budgetSteps - warmupSteps);
  const wanted = Math.max(1, Math.ceil(picks / selection.select_per_round));
  const affordableRounds = Math.max(1, Math.floor(roundSteps / selection.min_steps_per_round));
  const selectPerRound = Math.max(
    selection.select_per_round,
    Math.ceil(picks / Math.min(wanted, affordableRounds)),
  );
  const rounds = Math.max(1, Math.ceil(picks / selectPerRound));
  const stepsPerRound = Math.max(selection.min_steps_per_round, Math.floor(roundSteps / rounds));
  // `picks` is what the budgets could hold at most (cheapest first), often far more than
  // they take: rounds of picks / rounds picks would fill them in the first few. Equal
  // budget shares spread the picks over every round; that count stays each round's most, so
  // cheap candidates are not picked many at once either.
  const shareRounds = selectPerRound > selection.select_per_round;
  return {
    warmupSteps,
    stepsPerRound,
    rounds,
    selectPerRound: shareRounds ? selection.select_per_round : selectPerRound,
    shareRounds,
    ...(shareRounds && { maxPerRound: selectPerRound }),
    excludeUnaffordable: selection.unaffordable === 'exclude',
    totalSteps: warmupSteps + stepsPerRound * rounds,
  };
}

async function attentionSelection(
  config: RunConfig,
  dataset: PreparedDataset,
  picker: Picker,
  hooks: SelectionHooks,
  finish: (result: MethodResult) => SelectionOutcome,
  checkpoint?: SelectionCheckpoint,
): Promise<SelectionOutcome> {
  picker.assertSomethingFits();
  const oneShot = config.selection.method === 'one_shot_attention';
  const plan = selectionPlan(config, dataset, oneShot ? 1 : picker.maxSelectable());
  hooks.onPlan?.(
    plan.totalSteps,
    oneShot
      ? `${plan.warmupSteps} warm-up batches, then ${plan.stepsPerRound} with attention`
      : `${plan.warmupSteps} warm-up batches, then rounds of ${plan.stepsPerRound}` +
          (plan.shareRounds
            ? `, each filling 1/${plan.rounds} of the budgets`
            : plan.selectPerRound > 1
              ? ` picking ${plan.selectPerRound} each`
              : ''),
  );
  const learner = new TwoTowerLearner(config, dataset, picker.candidates, hooks, {
    decoys: !oneShot && config.selection.stop === 'decoys',
  });
  try {
    if (oneShot) {
      await learner.train(plan.warmupSteps, 'ones');
      learner.resetLogits(1);
      await learner.train(plan.stepsPerRound, 'attention');
      const round = await pickByScores(picker, learner.gateValues(), hooks);
      return finish({ order: round.picks, rounds: [round], steps: learner.steps, plan });
    }
    const rounds = await resumeRounds(learner, picker, checkpoint, plan.warmupSteps);
    for (const round of rounds) await hooks.onRound?.(round, picker.candidates);
    await sequentialAttention(learner, picker, plan, {
      completedRounds: rounds.length,
      onRound: async (round) => {
        rounds.push(round);
        if (checkpoint) {
          const progress: SelectionProgress = { key: checkpoint.key, rounds, steps: learner.steps };
          await writeCheckpoint(checkpoint.file, learner.state(), progress);
        }
        await hooks.onRound?.(round, picker.candidates);
      },
    });
    return finish({ order: roundsOrder(rounds), rounds, steps: learner.steps, plan });
  } finally {
    await learner.dispose();
  }
}

/** The rounds a checkpoint of this selection holds, replayed into the picker and the learner; none without one. */
async function resumeRounds(
  learner: TwoTowerLearner,
  picker: Picker,
  checkpoint: SelectionCheckpoint | undefined,
  warmupSteps: number,
): Promise<SelectionRound[]> {
  if (!checkpoint) return [];
  const saved = await readCheckpoint<SelectionProgress>(checkpoint.file);
  if (saved?.progress.key !== checkpoint.key) return [];
  for (const round of saved.progress.rounds) {
    for (const pick of round.picks) picker.add(pick.candidate, pick.weight);
    if (round.valueStop) picker.stopOnValue();
  }
  // A checkpoint follows a round: every step past the warm-up was an attention step.
  await learner.resume(saved.state, saved.progress.steps, saved.progress.steps - warmupSteps);
  return [...saved.progress.rounds];
}
