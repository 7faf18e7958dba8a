/**
 * Decoy candidates for the value stop: for every real candidate, a copy of its group in
 * the same tower whose inputs are the real group's values moved to other entities
 * (DecoyMaker). That keeps the group's distribution (its cardinality, skew, missing values
 * and list lengths) and breaks its relation to the label, so a decoy's attention weight is
 * what a candidate worth nothing scores on this data. Decoys share the
 * softmax with the real candidates, cost nothing and are never picked or exported.
 *
 * A round's value floor (valueFloor) is the weight that a candidate worth no more than a
 * decoy would exceed only rarely, given how many candidates compete: the decoys' weights
 * are the null distribution. A round whose affordable candidates all weigh no more than
 * the floor ends selection. The sample that decoys draw from also shows which groups are
 * exact copies of others (copyClasses): the same values under other ids add parameters,
 * not information, so the value stop never picks a copy of a kept group.
 */
import { concatBatches, takeRows, type Batch } from '../data/batch-rows.js';
import type { FeatureLayout } from '../data/features.js';
import type { Tower } from '../embedding/layout.js';
import { hashInt, mix32, Random } from '../util/random.js';
import { median } from '../util/statistics.js';
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

/** Chance that a round with only worthless candidates left picks one anyway (valueFloor). */
export const VALUE_STOP_ALPHA = 0.1;

/**
 * The value floor of a round: the weight that a candidate worth no more than a decoy
 * exceeds with probability VALUE_STOP_ALPHA / `competing` (so that, with `competing`
 * groups' candidates in the softmax, a round of worthless ones picks one with probability
 * about VALUE_STOP_ALPHA). The decoys' log weights are the null distribution; its upper tail is
 * taken as exponential above the median, its scale the mean excess of the decoys above
 * it: P(log weight > median + x) = exp(-x / scale) / 2. The largest decoy alone would be
 * exceeded by one of m worthless candidates with probability m / (m + decoys), most
 * rounds when many are left.
 */
export function valueFloor(decoyWeights: ArrayLike<number>, competing: number): number {
  const logs = Array.from(decoyWeights, Math.log).filter(Number.isFinite);
  if (logs.length === 0) return 0;
  const middle = median(logs);
  const above = logs.filter((log) => log > middle);
  const scale = above.length ? above.reduce((sum, log) => sum + log - middle, 0) / above.length : 0;
  return Math.exp(middle + scale * Math.log(Math.max(1, competing) / (2 * VALUE_STOP_ALPHA)));
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
  /** See copyClasses. */
  private classes: Int32Array | undefined;

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

  /** Per real group, the first group of its tower it is an exact copy of, itself if none (copyClasses); undefined until the sample is full. */
  get copyClasses(): Int32Array | undefined {
    return this.classes;
  }

  /** Whether the sample is full (decoys are drawn by entity from then on). */
  get sampled(): boolean {
    return this.sample !== undefined;
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
    const groupKeys = this.layout.groups.map((group) => entityKeys(sample, this.positions(group.features)));
    this.byEntity = this.layout.groups.map((group, g) => {
      const entities = new Set(keys[group.tower]).size;
      return new Set(groupKeys[g]).size < entities / 2;
    });
    this.classes = copyClasses(
      this.layout.groups.map((group) => group.tower),
      groupKeys,
    );
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

/** Rows per value, on average, from which a match of two groups on the sample counts as a copy. */
const COPY_ROWS_PER_VALUE = 4;

/**
 * Per group, the first group of its tower that it is an exact copy of (itself if none): the
 * same partition of the sample's rows under other ids (per row, `keys` hashes a group's
 * values). Only groups whose values repeat (COPY_ROWS_PER_VALUE rows each on average, at
 * least 2 values) are compared: groups whose values are nearly all seen once match any
 * other such group.
 */
export function copyClasses(towers: readonly Tower[], keys: readonly Uint32Array[]): Int32Array {
  const classes = Int32Array.from(towers, (_, group) => group);
  const distinct = keys.map((groupKeys) => new Set(groupKeys).size);
  const sameRows = (a: Uint32Array, b: Uint32Array): boolean => {
    const partner = new Map<number, number>();
    for (let row = 0; row < a.length; row++) {
      const seen = partner.get(a[row]);
      if (seen === undefined) partner.set(a[row], b[row]);
      else if (seen !== b[row]) return false;
    }
    return true;
  };
  for (let g = 0; g < keys.length; g++) {
    if (distinct[g] < 2 || distinct[g] * COPY_ROWS_PER_VALUE > keys[g].length) continue;
    for (let h = 0; h < g; h++) {
      if (classes[h] !== h || towers[h] !== towers[g] || distinct[h] !== distinct[g]) continue;
      // A consistent map from g's values to h's with as many values each way is a bijection.
      if (sameRows(keys[g], keys[h])) {
        classes[g] = h;
        break;
      }
    }
  }
  return classes;
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
