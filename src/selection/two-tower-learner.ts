/**
 * The two-tower model as a GatedLearner: the embedding store at full dims, the dense
 * towers with one gate per candidate (a group, or a block of a group's dims), trained on
 * the train split batch after batch, epoch after epoch.
 */
import type { RunConfig } from '../config/schema.js';
import { batches, prefetch, type Batch } from '../data/batcher.js';
import type { PreparedDataset } from '../data/dataset.js';
import { TRAIN, VALID } from '../data/split.js';
import { vocabularySizes } from '../embedding/layout.js';
import { embeddingStoreFromConfig, type EmbeddingStore } from '../embedding/store.js';
import type { TrainingState } from '../model/checkpoint.js';
import { objectiveParts, restore, trainingState, trainStep, type ObjectiveParts } from '../model/trainer.js';
import { TwoTowerModel, twoTowerOptions } from '../model/two-tower.js';
import { columnCandidates, type Candidate } from './candidates.js';
import { DecoyMaker, decoyLayout, valueFloor } from './decoys.js';
import type { GatedLearner, GateMode } from './sequential-attention.js';

export interface LearnerHooks {
  /** After each batch: batches trained so far and the batch's loss. */
  readonly onStep?: (steps: number, loss: number) => void;
}

export interface LearnerOptions {
  /** Train a decoy beside every candidate (decoys.ts): gates past `numCandidates`, read with decoyGateValues. */
  readonly decoys?: boolean;
}

export class TwoTowerLearner implements GatedLearner {
  readonly numCandidates: number;
  readonly store: EmbeddingStore;
  readonly model: TwoTowerModel;
  private readonly objective: ObjectiveParts;
  private readonly stream: AsyncIterator<Batch>;
  /** Valid batches for the gate logits (selection.gate_data: valid); undefined otherwise. */
  private readonly gateStream: AsyncIterator<Batch> | undefined;
  private stepsDone = 0;
  /** Batches read from the stream ahead of training (to fill the decoys' sample first). */
  private readonly ahead: Batch[] = [];
  /** Appends decoys to the batches; undefined without decoys. */
  private readonly decoys: DecoyMaker | undefined;

  constructor(
    private readonly config: RunConfig,
    dataset: PreparedDataset,
    private readonly candidates: readonly Candidate[],
    private readonly hooks: LearnerHooks = {},
    options: LearnerOptions = {},
  ) {
    const sizes = vocabularySizes(dataset.vocabularies);
    const gatedSet = options.decoys
      ? decoyLayout(dataset.layout, sizes, candidates)
      : { layout: dataset.layout, vocabularySizes: sizes, candidates };
    this.decoys = options.decoys ? new DecoyMaker(dataset.layout, config.selection.seed) : undefined;
    this.store = embeddingStoreFromConfig(config, gatedSet.layout, gatedSet.vocabularySizes);
    const spec = this.store.spec;
    // Every group at its configured (maximum) dim.
    this.store.setActiveDims(gatedSet.layout.groups.map((group) => group.dim ?? spec.dim));
    this.numCandidates = candidates.length;
    const gated = (tower: 'user' | 'item') =>
      columnCandidates(spec, this.store.columns(tower), gatedSet.candidates);
    this.model = new TwoTowerModel({
      ...twoTowerOptions(config.model, config.train, {
        userColumnCandidate: gated('user'),
        itemColumnCandidate: gated('item'),
        numCandidates: gatedSet.candidates.length,
      }),
      maskScale: config.selection.mask_scale,
      gateLearningRate: config.selection.gate_learning_rate,
    });
    this.objective = objectiveParts(config, dataset);
    this.stream = trainBatchesForever(config, dataset)[Symbol.asyncIterator]();
    this.gateStream =
      config.selection.gate_data === 'valid'
        ? trainBatchesForever(config, dataset, VALID)[Symbol.asyncIterator]()
        : undefined;
  }

  get steps(): number {
    return this.stepsDone;
  }

  /** `afterStep`: run after every batch's update (group lasso's proximal step). */
  async train(steps: number, mode: GateMode, afterStep?: () => void): Promise<void> {
    this.model.gateMode = mode;
    await this.fillDecoySample();
    for (let i = 0; i < steps; i++) {
      const next = this.ahead.shift() ?? (await this.nextTrainBatch());
      const batch = this.decoys ? this.decoys.augment(next, this.stepsDone) : next;
      const held = mode === 'attention' ? this.gateStream : undefined;
      const loss = trainStep(
        this.store,
        this.model,
        batch,
        this.objective,
        this.config.train,
        1,
        held ? 'weights' : 'all',
      );
      if (held) {
        const gates = await held.next();
        if (gates.done) throw new Error('the valid split has no rows');
        trainStep(
          this.store,
          this.model,
          // Valid rows never join the decoys' sample (drawn from train rows).
          this.decoys ? this.decoys.augment(gates.value, this.stepsDone, false) : gates.value,
          this.objective,
          this.config.train,
          1,
          'gates',
        );
      }
      afterStep?.();
      this.stepsDone += 1;
      this.hooks.onStep?.(this.stepsDone, loss);
    }
  }

  private async nextTrainBatch(): Promise<Batch> {
    const next = await this.stream.next();
    if (next.done) throw new Error('the train split has no rows');
    return next.value;
  }

  /**
   * Reads batches ahead until the decoys' sample is full, so that every decoy is drawn by
   * entity from the first step, trained as long as the real groups (a sample filling
   * during training would change what the decoys are halfway).
   */
  private async fillDecoySample(): Promise<void> {
    while (this.decoys && !this.decoys.sampled) {
      const batch = await this.nextTrainBatch();
      this.ahead.push(batch);
      this.decoys.observe(batch);
    }
  }

  setSelected(mask: Uint8Array): void {
    // Decoys are never selected.
    const all = new Uint8Array(this.model.numCandidates);
    all.set(mask);
    this.model.selected = all;
  }

  resetLogits(round: number): void {
    this.model.resetGateLogits(round);
  }

  setExcluded(mask: Uint8Array): void {
    const all = new Uint8Array(this.model.numCandidates);
    all.set(mask);
    this.model.excluded = all;
  }

  /** Weights and optimizer state, for a checkpoint. */
  state(): TrainingState {
    return trainingState(this.store, this.model);
  }

  /** Resumes from a checkpoint taken after `steps` batches (`gateSteps` of them in rounds): its state, and the batch streams moved past them. */
  async resume(state: TrainingState, steps: number, gateSteps = 0): Promise<void> {
    restore(this.store, this.model, state);
    // The valid batches the gate logits learned from (selection.gate_data: valid), one per attention step.
    for (let i = 0; this.gateStream && i < gateSteps; i++) {
      const next = await this.gateStream.next();
      if (next.done) throw new Error('the valid split has no rows');
    }
    for (; this.stepsDone < steps; this.stepsDone++) {
      const batch = this.ahead.shift() ?? (await this.nextTrainBatch());
      this.decoys?.observe(batch);
    }
  }

  gateValues(): Float32Array {
    return this.model.gateValues().slice(0, this.numCandidates);
  }

  /** The weight a candidate must exceed this round to be worth picking (decoys.ts valueFloor); undefined without decoys. */
  valueFloor(): number | undefined {
    if (!this.decoys) return undefined;
    const decoyWeights = this.model.gateValues().slice(this.numCandidates);
    const { selected, excluded } = this.model;
    // Groups, not blocks, compete: a worthless group's blocks rise and fall together.
    const competing = new Set<number>();
    for (let i = 0; i < this.numCandidates; i++)
      if (!selected[i] && !excluded[i]) competing.add(this.candidates[i].table);
    return valueFloor(decoyWeights, competing.size);
  }

  /** Per table of the real layout, its class of exact copies (decoys.ts); undefined without decoys or before the sample. */
  copyClasses(): Int32Array | undefined {
    return this.decoys?.copyClasses;
  }

  async dispose(): Promise<void> {
    await this.stream.return?.();
    this.model.dispose();
    this.store.dispose();
  }
}

/** Train batches, epoch after epoch, each epoch shuffled with its own seed. */
async function* trainBatchesForever(
  config: RunConfig,
  dataset: PreparedDataset,
  split: number = TRAIN,
): AsyncGenerator<Batch> {
  const { train } = config;
  for (let epoch = 1; ; epoch++) {
    let any = false;
    const epochBatches = batches(dataset.encodedBatches(), {
      split,
      batchSize: train.batch_size,
      shuffleBuffer: train.shuffle_buffer,
      seed: (config.selection.seed + 1) * 7919 + epoch,
    });
    for await (const batch of prefetch(epochBatches)) {
      any = true;
      yield batch;
    }
    if (!any) return;
  }
}
