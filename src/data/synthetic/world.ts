/**
 * The latent world behind the synthetic dataset: users and items with latent vectors,
 * their feature values, their activity, and the label model. Everything is a pure
 * function of the seed; each part draws from its own random stream, so changing one
 * feature leaves the others unchanged.
 */
import { Random } from '../../util/random.js';
import { normalCdf } from './gaussian.js';
import {
  cardinalityOf,
  QUICKSTART_PROFILE,
  type CategoricalSpec,
  type CopySpec,
  type FeatureSpec,
  type GridSpec,
  type NoiseSpec,
  type NumericNoiseSpec,
  type NumericSignalSpec,
  type SyntheticProfile,
  type TagsSpec,
  type Tower,
} from './specs.js';

/**
 * Scale of the dot product in the logit: logit = bias + LOGIT_SCALE * Σ_j w_j u_j v_j / sqrt(Σ_j w_j²)
 * + noise, with the latent weights w_j of the profile (all 1 by default: u.v / sqrt(d)).
 */
export const LOGIT_SCALE = 1.6;
/** Standard deviation of the Gaussian noise added to each row's logit. */
export const LOGIT_NOISE_SD = 0.5;
/** Each component of the user and item mean vectors is +-MEAN_COMPONENT. */
export const MEAN_COMPONENT = 0.35;
/** The bias is calibrated so that this fraction of rows is positive. */
export const TARGET_POSITIVE_RATE = 0.42;
/** Zipf exponents of user activity and item popularity (row sampling weights). */
export const USER_ACTIVITY_EXPONENT = 0.6;
export const ITEM_POPULARITY_EXPONENT = 0.8;
/** rating = 1 + number of thresholds <= logit + Logistic(0, 1); label = rating >= 4. */
export const RATING_THRESHOLDS: readonly number[] = [-3, -1.2, 0, 2.5];
/** 2024-01-01T00:00:00Z; rows span TIMESTAMP_SPAN seconds in order, plus jitter. */
export const TIMESTAMP_START = 1_704_067_200;
export const TIMESTAMP_SPAN = 90 * 24 * 3600;
export const TIMESTAMP_JITTER = 3600;

/** Walker/Vose alias table: O(1) sampling from a discrete distribution. */
export class AliasTable {
  readonly probability: Float64Array;
  readonly alias: Int32Array;
  readonly size: number;

  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.size = n;
    this.probability = new Float64Array(n);
    this.alias = new Int32Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i];
    const scaled = new Float64Array(n);
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = (weights[i] * n) / total;
      (scaled[i] < 1 ? small : large).push(i);
    }
    while (small.length > 0 && large.length > 0) {
      const less = small.pop()!;
      const more = large.pop()!;
      this.probability[less] = scaled[less];
      this.alias[less] = more;
      scaled[more] = scaled[more] + scaled[less] - 1;
      (scaled[more] < 1 ? small : large).push(more);
    }
    for (const i of large) this.probability[i] = 1;
    for (const i of small) this.probability[i] = 1;
  }

  sample(random: Random): number {
    const u = random.next() * this.size;
    const i = Math.floor(u);
    return u - i < this.probability[i] ? i : this.alias[i];
  }
}

export interface Population {
  readonly tower: Tower;
  readonly count: number;
  /** Latent dimensions per entity. */
  readonly dim: number;
  /** Centred latent vectors, row-major (count x dim), each component N(0, 1). */
  readonly latent: Float64Array;
  /** Mean vector added to every latent vector in the dot product. */
  readonly mean: Float64Array;
  /** Row sampling distribution (activity or popularity). */
  readonly sampler: AliasTable;
}

export interface CategoricalFeature {
  readonly kind: 'categorical';
  readonly spec: CategoricalSpec;
  readonly cardinality: number;
  /** Output id per entity, 1..cardinality; 0 means null. */
  readonly ids: Int32Array;
  /**
   * The information the value carries, per entity: the grid cell before refinement (same
   * for a copy as for its source), -1 when null or for noise.
   */
  readonly cells: Int32Array;
  /** For string columns, the string of each id (index 0 unused). */
  readonly strings?: readonly string[];
}

export interface TagsFeature {
  readonly kind: 'tags';
  readonly spec: TagsSpec;
  readonly cardinality: number;
  /** Sorted tag ids (1..vocabulary) per item; one shared array per item. */
  readonly tags: readonly number[][];
  readonly prototypes: Float64Array;
  readonly popularity: Float64Array;
  /** Tag id (1-based) of each prototype index. */
  readonly tagIds: Int32Array;
}

export interface NumericFeature {
  readonly kind: 'numeric';
  readonly spec: NumericSignalSpec | NumericNoiseSpec;
  /** Value per entity (already rounded to float32); NaN means null. */
  readonly values: Float64Array;
}

export type Feature = CategoricalFeature | TagsFeature | NumericFeature;

export interface World {
  readonly seed: number;
  readonly profile: SyntheticProfile;
  readonly users: Population;
  readonly items: Population;
  /** The weight w_j of each latent dimension in the logit. */
  readonly weights: Float64Array;
  /** Σ_j w_j²; its square root divides the logit, which keeps its spread whatever the weights. */
  readonly weightSquares: number;
  readonly features: readonly Feature[];
  readonly bias: number;
}

function streamFor(seed: number, name: string): Random {
  return new Random(seed, `lemopt-synthetic/${name}`);
}

function population(seed: number, tower: Tower, count: number, dim: number, exponent: number): Population {
  const random = streamFor(seed, `${tower}/latent`);
  const latent = new Float64Array(count * dim);
  for (let i = 0; i < latent.length; i++) latent[i] = random.normal();
  const mean = new Float64Array(dim);
  for (let j = 0; j < dim; j++) mean[j] = random.next() < 0.5 ? -MEAN_COMPONENT : MEAN_COMPONENT;
  const rank = streamFor(seed, `${tower}/activity`).permutation(count);
  const weights = new Float64Array(count);
  for (let i = 0; i < count; i++) weights[i] = Math.pow(rank[i] + 1, -exponent);
  return { tower, count, dim, latent, mean, sampler: new AliasTable(weights) };
}

/** Zero-padded string labels `${prefix}${id}` for ids 1..cardinality (index 0 unused). */
function stringLabels(prefix: string, cardinality: number): string[] {
  const width = String(cardinality).length;
  const labels = [''];
  for (let id = 1; id <= cardinality; id++) labels.push(prefix + String(id).padStart(width, '0'));
  return labels;
}

/** Ids 1..n in a random order: relabel[code] is the id of code. */
function relabelling(random: Random, n: number, ordinal: boolean): Int32Array {
  const ids = ordinal ? new Int32Array(n).map((_, i) => i) : random.permutation(n);
  for (let i = 0; i < n; i++) ids[i] += 1;
  return ids;
}

/** Grid cell of one entity for a grid spec: the bins of its noisy projections. */
export function gridCell(spec: GridSpec, latent: Float64Array, offset: number, random: Random): number {
  const noise = Math.sqrt(1 - spec.rho * spec.rho);
  let cell = 0;
  for (let k = 0; k < spec.dims.length; k++) {
    const bins = spec.bins[k];
    const observed = spec.rho * latent[offset + spec.dims[k]] + noise * random.normal();
    const bin = Math.min(bins - 1, Math.floor(normalCdf(observed) * bins));
    cell = cell * bins + bin;
  }
  return cell;
}

function gridFeature(seed: number, spec: GridSpec, people: Population): CategoricalFeature {
  const random = streamFor(seed, `feature/${spec.name}`);
  const cardinality = cardinalityOf(spec);
  const relabel = relabelling(random, cardinality, spec.ordinal ?? false);
  const refine = spec.refine ?? 1;
  const nullFraction = spec.nullFraction ?? 0;
  const ids = new Int32Array(people.count);
  const cells = new Int32Array(people.count);
  for (let e = 0; e < people.count; e++) {
    const missing = random.next() < nullFraction;
    const cell = gridCell(spec, people.latent, e * people.dim, random);
    const code = cell * refine + (refine > 1 ? random.integer(refine) : 0);
    ids[e] = missing ? 0 : relabel[code];
    cells[e] = missing ? -1 : cell;
  }
  return categorical(spec, cardinality, ids, cells);
}

function copyFeature(seed: number, spec: CopySpec, source: CategoricalFeature): CategoricalFeature {
  const random = streamFor(seed, `feature/${spec.name}`);
  const cardinality = source.cardinality;
  const relabel = relabelling(random, cardinality, false);
  const ids = source.ids.map((id) => (id === 0 ? 0 : relabel[id - 1]));
  return categorical(spec, cardinality, ids, source.cells.slice());
}

function noiseFeature(seed: number, spec: NoiseSpec, people: Population): CategoricalFeature {
  const random = streamFor(seed, `feature/${spec.name}`);
  const ids = new Int32Array(people.count);
  for (let e = 0; e < people.count; e++) ids[e] = 1 + random.integer(spec.cardinality);
  return categorical(spec, spec.cardinality, ids, new Int32Array(people.count).fill(-1));
}

function categorical(
  spec: CategoricalSpec,
  cardinality: number,
  ids: Int32Array,
  cells: Int32Array,
): CategoricalFeature {
  const strings =
    spec.valueType === 'string' ? stringLabels(spec.prefix ?? `${spec.name}_`, cardinality) : undefined;
  return { kind: 'categorical', spec, cardinality, ids, cells, strings };
}

/** Model parameters of the tags feature (prototypes, popularity, id relabelling). */
export function tagModel(
  seed: number,
  spec: TagsSpec,
): Pick<TagsFeature, 'prototypes' | 'popularity' | 'tagIds'> {
  const random = streamFor(seed, `feature/${spec.name}/model`);
  const prototypes = new Float64Array(spec.vocabulary * spec.dims.length);
  for (let i = 0; i < prototypes.length; i++) prototypes[i] = random.normal();
  const popularity = new Float64Array(spec.vocabulary);
  for (let t = 0; t < spec.vocabulary; t++) popularity[t] = spec.popularitySd * random.normal();
  const tagIds = relabelling(random, spec.vocabulary, false);
  return { prototypes, popularity, tagIds };
}

/**
 * Draws the tag set of one entity: `count` distinct tags, one after the other, each with
 * probability proportional to its weight among the tags not drawn yet.
 */
export function drawTags(
  spec: TagsSpec,
  model: Pick<TagsFeature, 'prototypes' | 'popularity' | 'tagIds'>,
  latent: Float64Array,
  offset: number,
  random: Random,
  weights: Float64Array,
): number[] {
  const count = spec.minTags + random.integer(spec.maxTags - spec.minTags + 1);
  const k = spec.dims.length;
  const vocabulary = spec.vocabulary;
  let total = 0;
  for (let t = 0; t < vocabulary; t++) {
    let affinity = 0;
    for (let j = 0; j < k; j++) affinity += model.prototypes[t * k + j] * latent[offset + spec.dims[j]];
    const weight = Math.exp(spec.sharpness * affinity + model.popularity[t]);
    weights[t] = weight;
    total += weight;
  }
  const chosen: number[] = [];
  for (let c = 0; c < count; c++) {
    let target = random.next() * total;
    let pick = -1;
    for (let t = 0; t < vocabulary; t++) {
      if (weights[t] === 0) continue;
      pick = t;
      target -= weights[t];
      if (target < 0) break;
    }
    chosen.push(model.tagIds[pick]);
    total -= weights[pick];
    weights[pick] = 0;
  }
  return chosen.sort((a, b) => a - b);
}

function tagsFeature(seed: number, spec: TagsSpec, people: Population): TagsFeature {
  const model = tagModel(seed, spec);
  const random = streamFor(seed, `feature/${spec.name}`);
  const weights = new Float64Array(spec.vocabulary);
  const tags: number[][] = [];
  for (let e = 0; e < people.count; e++)
    tags.push(drawTags(spec, model, people.latent, e * people.dim, random, weights));
  return { kind: 'tags', spec, cardinality: spec.vocabulary, tags, ...model };
}

/** Unit vector of the other tower's mean: the direction of an entity's overall affinity. */
export function affinityDirection(other: Population): Float64Array {
  let norm = 0;
  for (let j = 0; j < other.dim; j++) norm += other.mean[j] * other.mean[j];
  return other.mean.map((value) => value / Math.sqrt(norm));
}

function numericFeature(
  seed: number,
  spec: NumericSignalSpec | NumericNoiseSpec,
  people: Population,
  other: Population,
): NumericFeature {
  const random = streamFor(seed, `feature/${spec.name}`);
  const values = new Float64Array(people.count);
  const direction = affinityDirection(other);
  for (let e = 0; e < people.count; e++) {
    if (spec.kind === 'numeric_noise') {
      values[e] = Math.fround(Math.exp(spec.logMean + spec.logSd * random.normal()));
      continue;
    }
    const missing = random.next() < spec.nullFraction;
    let projection = 0;
    for (let j = 0; j < people.dim; j++) projection += direction[j] * people.latent[e * people.dim + j];
    const observed = spec.rho * projection + Math.sqrt(1 - spec.rho * spec.rho) * random.normal();
    values[e] = missing ? NaN : Math.fround(spec.offset + spec.scale * observed);
  }
  return { kind: 'numeric', spec, values };
}

type LogitModel = Pick<World, 'users' | 'items' | 'weights' | 'weightSquares'>;

/** Logit without the row noise and without the bias: LOGIT_SCALE * Σ w_j u_j v_j / sqrt(Σ w_j²). */
export function interaction(world: LogitModel, user: number, item: number): number {
  const u = world.users;
  const v = world.items;
  const w = world.weights;
  const dim = u.dim;
  let dot = 0;
  for (let j = 0; j < dim; j++) {
    dot += w[j] * (u.mean[j] + u.latent[user * dim + j]) * (v.mean[j] + v.latent[item * dim + j]);
  }
  return (LOGIT_SCALE * dot) / Math.sqrt(world.weightSquares);
}

function latentWeights(profile: SyntheticProfile): Float64Array {
  const weights = profile.latentWeights ?? new Array<number>(profile.latentDim).fill(1);
  if (weights.length !== profile.latentDim || weights.some((w) => !(w > 0)))
    throw new Error(`profile ${profile.name}: one positive latent weight per latent dim is needed`);
  return Float64Array.from(weights);
}

/** Bias that makes the expected positive rate TARGET_POSITIVE_RATE over the row distribution. */
function calibrateBias(seed: number, model: LogitModel): number {
  const { users, items } = model;
  const random = streamFor(seed, 'calibration');
  const n = 50_000;
  const logits = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const user = users.sampler.sample(random);
    const item = items.sampler.sample(random);
    logits[i] = interaction(model, user, item) + LOGIT_NOISE_SD * random.normal();
  }
  let low = -20;
  let high = 20;
  for (let step = 0; step < 60; step++) {
    const bias = (low + high) / 2;
    let rate = 0;
    for (let i = 0; i < n; i++) rate += 1 / (1 + Math.exp(-(bias + logits[i])));
    if (rate / n < TARGET_POSITIVE_RATE) low = bias;
    else high = bias;
  }
  return (low + high) / 2;
}

function checkDims(spec: FeatureSpec, latentDim: number): void {
  const dims = spec.kind === 'grid' || spec.kind === 'tags' ? spec.dims : [];
  if (dims.some((dim) => !Number.isInteger(dim) || dim < 0 || dim >= latentDim))
    throw new Error(`${spec.name}: latent dims ${dims.join(', ')} outside 0..${latentDim - 1}`);
}

/**
 * Builds the whole latent world of a profile for a seed. Each feature draws from its own
 * stream, so the order features are built in does not change them: copies are built after
 * every other feature (a copy may come before its source in the column order).
 */
export function buildWorld(seed: number, profile: SyntheticProfile = QUICKSTART_PROFILE): World {
  const users = population(seed, 'user', profile.userCount, profile.latentDim, USER_ACTIVITY_EXPONENT);
  const items = population(seed, 'item', profile.itemCount, profile.latentDim, ITEM_POPULARITY_EXPONENT);
  const weights = latentWeights(profile);
  let weightSquares = 0;
  for (const w of weights) weightSquares += w * w;
  const unitWeights = weights.every((w) => w === 1);
  const byName = new Map<string, Feature>();
  for (const spec of profile.specs) {
    checkDims(spec, profile.latentDim);
    // The numeric signal observes a projection on all dims, whose truth assumes equal weights.
    if (spec.kind === 'numeric_signal' && !unitWeights)
      throw new Error(`${spec.name}: numeric signal columns need equal latent weights`);
    const people = spec.tower === 'user' ? users : items;
    const other = spec.tower === 'user' ? items : users;
    switch (spec.kind) {
      case 'grid':
        byName.set(spec.name, gridFeature(seed, spec, people));
        break;
      case 'noise':
        byName.set(spec.name, noiseFeature(seed, spec, people));
        break;
      case 'tags':
        byName.set(spec.name, tagsFeature(seed, spec, people));
        break;
      case 'numeric_signal':
      case 'numeric_noise':
        byName.set(spec.name, numericFeature(seed, spec, people, other));
        break;
      case 'copy':
        break;
    }
  }
  for (const spec of profile.specs) {
    if (spec.kind !== 'copy') continue;
    const source = byName.get(spec.source);
    if (
      !source ||
      source.kind !== 'categorical' ||
      source.spec.kind === 'copy' ||
      source.spec.tower !== spec.tower
    ) {
      throw new Error(
        `copy ${spec.name}: source ${spec.source} must be a categorical, not a copy, on the same tower`,
      );
    }
    byName.set(spec.name, copyFeature(seed, spec, source));
  }
  const features = profile.specs.map((spec) => byName.get(spec.name)!);
  const model = { users, items, weights, weightSquares };
  return { seed, profile, ...model, features, bias: calibrateBias(seed, model) };
}

/** Rating (1-5) of a row from its noisy logit plus a Logistic(0, 1) draw. */
export function ratingOf(latentScore: number): number {
  let rating = 1;
  for (const threshold of RATING_THRESHOLDS) if (latentScore >= threshold) rating++;
  return rating;
}
