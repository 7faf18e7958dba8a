/**
 * Decoy candidates for the value stop: for every real candidate, a copy of its group in
 * the same tower whose inputs are the real group's values moved to other entities
 * (DecoyMaker). That keeps the group's distribution (its cardinality, skew, missing values
 * and list lengths) and breaks its relation to the label, so a decoy's attention weight is
 * what a candidate worth nothing scores on this data. Decoys share the
 * softmax with the real candidates, cost nothing and are never picked or exported.
 *
 * A candidate's value floor is the largest weight of the decoys of groups no larger than
 * its own (embedding rows): a decoy that large can fit the training data as well by
 * memorising entities, so a candidate must weigh more than every such decoy to show it is
 * worth more than its size. A round whose affordable candidates all weigh no more than
 * their floors ends selection.
 */
import { concatBatches, takeRows, type Batch } from '../data/batch-rows.js';
import type { FeatureLayout } from '../data/features.js';
import type { Tower } from '../embedding/layout.js';
import { hashInt, mix32, Random } from '../util/random.js';
import type { Candidate } from './candidates.js';

/** Decoy groups and features are named after their real one with this prefix (never a valid config name). */
export const DECOY_PREFIX = '~decoy:';

export interface DecoyLayout {
  /** The real layout, then one decoy group per real group (same tower and dim) over copies of its features. */
  readonly layout: FeatureLayout;
  /** Rows per feature, the decoys' the same as their real feature's. */
  readonly vocabularySizes: Map<string, number>;
  /** The real candidates, then one decoy per real candidate: decoy `n + i` mirrors candidate `i`. */
  readonly candidates: readonly Candidate[];
}

/** The layout and candidates with decoys; see the module comment. */
export function decoyLayout(
  layout: FeatureLayout,
  vocabularySizes: ReadonlyMap<string, number>,
  candidates: readonly Candidate[],
): DecoyLayout {
  const decoyName = (name: string): string => `${DECOY_PREFIX}${name}`;
  const features = [
    ...layout.features,
    ...layout.features.map((feature) => ({ ...feature, name: decoyName(feature.name) })),
  ];
  const groups = [
    ...layout.groups,
    ...layout.groups.map((group) => ({
      ...group,
      name: decoyName(group.name),
      features: group.features.map(decoyName),
    })),
  ];
  const sizes = new Map(vocabularySizes);
  for (const [name, size] of vocabularySizes) sizes.set(decoyName(name), size);
  const tables = layout.groups.length;
  const decoys = candidates.map((candidate): Candidate => ({
    ...candidate,
    index: candidates.length + candidate.index,
    name: decoyName(candidate.name),
    group: decoyName(candidate.group),
    table: tables + candidate.table,
  }));
  return { layout: { features, groups }, vocabularySizes: sizes, candidates: [...candidates, ...decoys] };
}

/** Per candidate, its value floor (module comment): the largest weight of a decoy of a group with no more rows. */
export function valueFloors(
  candidates: readonly Candidate[],
  rows: (candidate: Candidate) => number,
  decoyWeights: ArrayLike<number>,
): Float32Array {
  return Float32Array.from(candidates, (candidate) => {
    let floor = -Infinity;
    candidates.forEach((other, j) => {
      if (rows(other) <= rows(candidate)) floor = Math.max(floor, decoyWeights[j]);
    });
    return floor;
  });
}

/** Rows of the sample decoys draw their values from. */
export const DECOY_SAMPLE_ROWS = 4096;

/**
 * Appends decoy features to batches. A decoy is an attribute of its tower's entity, as
 * real groups are: its value for a row is the real group's value in a row of a sample
 * (the first DECOY_SAMPLE_ROWS rows the learner sees) chosen by a hash of the row's
 * features of that tower, so the same user (or item) always gets the same decoy value, of
 * the real group's distribution, unrelated to the label. A group that nearly identifies
 * its tower's entity in the sample (at least half as many distinct values as the
 * entities) would make such a decoy another id, which is informative; its decoy takes a
 * permutation of the batch's rows instead. Until the sample is full, every decoy does.
 */
export class DecoyMaker {
  private readonly featureIndex: Map<string, number>;
  private readonly pending: Batch[] = [];
  private pendingRows = 0;
  private sample: Batch | undefined;
  /** Per real group: decoys drawn from the sample by entity (false: permuted within the batch). */
  private byEntity: boolean[] = [];

  constructor(
    private readonly layout: FeatureLayout,
    private readonly seed: number,
    private readonly sampleRows = DECOY_SAMPLE_ROWS,
  ) {
    this.featureIndex = new Map(layout.features.map((feature, position) => [feature.name, position]));
  }

  /** The batch with its decoys appended (the same batch and step give the same decoys). */
  augment(batch: Batch, step: number, observe = true): Batch {
    if (observe) this.observe(batch);
    const decoys = new Array<Batch['features'][number]>(batch.features.length);
    const random = new Random(this.seed, `decoys-${step}`);
    const keys = this.sample
      ? {
          user: entityKeys(batch, this.towerFeatures('user')),
          item: entityKeys(batch, this.towerFeatures('item')),
        }
      : undefined;
    this.layout.groups.forEach((group, g) => {
      const positions = this.positions(group.features);
      let permuted: Batch;
      if (this.sample && keys && this.byEntity[g]) {
        const draw = Int32Array.from(
          keys[group.tower],
          (key) => mix32(key ^ Math.imul(g + 1, 0x9e3779b1)) % this.sample!.numRows,
        );
        permuted = takeRows(subset(this.sample, positions), draw);
      } else {
        permuted = takeRows(subset(batch, positions), random.permutation(batch.numRows));
      }
      positions.forEach((position, k) => (decoys[position] = permuted.features[k]));
    });
    return { numRows: batch.numRows, features: [...batch.features, ...decoys], labels: batch.labels };
  }

  /** Feeds a batch to the sample (also the batches a resumed learner skips). */
  observe(batch: Batch): void {
    if (this.sample) return;
    this.pending.push(
      takeRows(
        batch,
        Int32Array.from({ length: batch.numRows }, (_, row) => row),
      ),
    );
    this.pendingRows += batch.numRows;
    if (this.pendingRows < this.sampleRows) return;
    const sample = concatBatches(this.pending);
    this.sample = sample;
    this.pending.length = 0;
    const keys = {
      user: entityKeys(sample, this.towerFeatures('user')),
      item: entityKeys(sample, this.towerFeatures('item')),
    };
    this.byEntity = this.layout.groups.map((group) => {
      const entities = new Set(keys[group.tower]).size;
      const values = new Set(entityKeys(sample, this.positions(group.features))).size;
      return values < entities / 2;
    });
  }

  private positions(names: readonly string[]): number[] {
    return names.map((name) => this.featureIndex.get(name)!);
  }

  private towerFeatures(tower: Tower): number[] {
    return this.positions(
      this.layout.groups.filter((group) => group.tower === tower).flatMap((group) => group.features),
    );
  }
}

/** The batch's features at `positions` only. */
function subset(batch: Batch, positions: readonly number[]): Batch {
  return { numRows: batch.numRows, features: positions.map((p) => batch.features[p]), labels: batch.labels };
}

/** Per row, a hash of the ids of the features at `positions` (lists in full). */
function entityKeys(batch: Batch, positions: readonly number[]): Uint32Array {
  const keys = new Uint32Array(batch.numRows);
  for (const position of positions) {
    const { ids, offsets } = batch.features[position];
    for (let row = 0; row < batch.numRows; row++) {
      let key = keys[row] ^ Math.imul(position + 1, 0x27d4eb2d);
      if (!offsets) key = hashInt(ids[row], key);
      else for (let i = offsets[row]; i < offsets[row + 1]; i++) key = hashInt(ids[i], key);
      keys[row] = mix32(key);
    }
  }
  return keys;
}
