/**
 * Ground truth of the synthetic dataset: how much each column tells about the label,
 * computed from the latent world (not from a trained model).
 *
 * - signal_r2: fraction of the tower's latent variance (trace of the covariance of the
 *   centred latent vectors) explained by the Bayes predictor E[latent | column], each
 *   dimension weighted by its share w_j² / Σ w² of the logit (equal weights by default).
 *   Exact (analytic) for grid, copy and numeric columns; for the tags a fitted
 *   mean-pooling predictor on simulated items (a lower bound).
 * - oracle_auc: AUC of the label for the score (mean + E[latent | column]) . (true latent
 *   of the other tower), on a sample of rows: what the column is worth when the other
 *   tower is perfect. Compare with oracle_auc_baseline of its tower (no information).
 * - ceiling_auc: AUC of the true logit (without the row noise) against sampled labels.
 */
import { Random } from '../../util/random.js';
import { equalFrequencyBinMeans } from './gaussian.js';
import type { GridSpec, Tower } from './specs.js';
import {
  affinityDirection,
  drawTags,
  interaction,
  LOGIT_NOISE_SD,
  type CategoricalFeature,
  type Feature,
  type Population,
  type TagsFeature,
  type World,
} from './world.js';

/** Rows sampled to estimate the AUCs. */
export const TRUTH_SAMPLE_ROWS = 100_000;
/** Simulated items per half (fit, evaluate) for the tags predictor. */
const TAG_SIMULATION_ITEMS = 25_000;

/** AUC of `scores` against 0/1 `labels` (ties count one half). */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) positives++;
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  const pos = new Float64Array(positives);
  const neg = new Float64Array(negatives);
  let p = 0;
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) pos[p++] = scores[i];
    else neg[n++] = scores[i];
  }
  pos.sort();
  neg.sort();
  let below = 0;
  let belowOrEqual = 0;
  let total = 0;
  for (let i = 0; i < positives; i++) {
    const score = pos[i];
    while (below < negatives && neg[below] < score) below++;
    if (belowOrEqual < below) belowOrEqual = below;
    while (belowOrEqual < negatives && neg[belowOrEqual] <= score) belowOrEqual++;
    total += below + 0.5 * (belowOrEqual - below);
  }
  return total / (positives * negatives);
}

export interface ColumnSignal {
  /** Fraction of the tower's latent variance explained by the column (1 for ids, 0 for noise). */
  readonly signalR2: number;
  /** AUC given this column and the other tower's true latent vector. */
  readonly oracleAuc: number;
}

export interface SignalSummary {
  readonly ceilingAuc: number;
  /** AUC given all signal columns (no ids, copies or numeric columns) on both towers. */
  readonly signalColumnsAuc: number;
  /** oracle_auc of a column that tells nothing, per tower. */
  readonly baselineAuc: Record<Tower, number>;
  readonly columns: ReadonlyMap<string, ColumnSignal>;
  readonly sampleRows: number;
}

/** E[latent | cell] of a grid column, row-major (cell x dim). */
function gridConditionalMeans(spec: GridSpec, dim: number): Float64Array {
  const cells = spec.bins.reduce((product, bins) => product * bins, 1);
  const means = new Float64Array(cells * dim);
  const binMeans = spec.bins.map((bins) => equalFrequencyBinMeans(bins));
  for (let cell = 0; cell < cells; cell++) {
    let rest = cell;
    for (let k = spec.dims.length - 1; k >= 0; k--) {
      const bin = rest % spec.bins[k];
      rest = Math.floor(rest / spec.bins[k]);
      means[cell * dim + spec.dims[k]] = spec.rho * binMeans[k][bin];
    }
  }
  return means;
}

function gridSignalR2(spec: GridSpec, world: World): number {
  let explained = 0;
  spec.bins.forEach((bins, k) => {
    const means = equalFrequencyBinMeans(bins);
    let second = 0;
    for (const mean of means) second += (mean * mean) / bins;
    const w = world.weights[spec.dims[k]];
    explained += w * w * spec.rho * spec.rho * second;
  });
  return ((1 - (spec.nullFraction ?? 0)) * explained) / world.weightSquares;
}

function sourceGrid(world: World, feature: CategoricalFeature): GridSpec | undefined {
  const spec = feature.spec;
  if (spec.kind === 'grid') return spec;
  if (spec.kind === 'copy') {
    const source = world.features.find((candidate) => candidate.spec.name === spec.source);
    return source?.spec.kind === 'grid' ? source.spec : undefined;
  }
  return undefined;
}

/** Per-entity E[latent | column] (count x dim) and the column's signal_r2. */
function conditionalLatent(
  world: World,
  feature: Feature,
  people: Population,
): { mean: Float64Array; r2: number } {
  const dim = people.dim;
  const mean = new Float64Array(people.count * dim);
  if (feature.kind === 'categorical') {
    const grid = sourceGrid(world, feature);
    if (!grid) return { mean, r2: 0 };
    const table = gridConditionalMeans(grid, dim);
    for (let e = 0; e < people.count; e++) {
      const cell = feature.cells[e];
      if (cell < 0) continue;
      for (let j = 0; j < dim; j++) mean[e * dim + j] = table[cell * dim + j];
    }
    return { mean, r2: gridSignalR2(grid, world) };
  }
  if (feature.kind === 'numeric') {
    const spec = feature.spec;
    if (spec.kind === 'numeric_noise') return { mean, r2: 0 };
    const other = people.tower === 'user' ? world.items : world.users;
    const direction = affinityDirection(other);
    for (let e = 0; e < people.count; e++) {
      const value = feature.values[e];
      if (Number.isNaN(value)) continue;
      const observed = (value - spec.offset) / spec.scale;
      for (let j = 0; j < dim; j++) mean[e * dim + j] = spec.rho * observed * direction[j];
    }
    return { mean, r2: ((1 - spec.nullFraction) * spec.rho * spec.rho) / dim };
  }
  if (feature.spec.dims.length === 0) return { mean, r2: 0 };
  return tagsConditionalLatent(world, feature, people);
}

/**
 * A mean-pooling predictor of the latent dims of the tags: the average over an item's tags
 * of each tag's mean latent, scaled per dimension by least squares. Fitted on simulated
 * items, its R^2 measured on other simulated items.
 */
function tagsConditionalLatent(
  world: World,
  feature: TagsFeature,
  people: Population,
): { mean: Float64Array; r2: number } {
  const spec = feature.spec;
  const k = spec.dims.length;
  const dim = people.dim;
  const random = new Random(world.seed, `lemopt-synthetic/truth/${spec.name}`);
  const scores = new Float64Array(spec.vocabulary);
  const simulate = (): { latent: Float64Array; tags: number[][] } => {
    const latent = new Float64Array(TAG_SIMULATION_ITEMS * dim);
    for (let i = 0; i < latent.length; i++) latent[i] = random.normal();
    const tags: number[][] = [];
    for (let e = 0; e < TAG_SIMULATION_ITEMS; e++) {
      tags.push(drawTags(spec, feature, latent, e * dim, random, scores));
    }
    return { latent, tags };
  };
  const fit = simulate();
  const tagSum = new Float64Array((spec.vocabulary + 1) * k);
  const tagCount = new Float64Array(spec.vocabulary + 1);
  for (let e = 0; e < TAG_SIMULATION_ITEMS; e++) {
    for (const tag of fit.tags[e]) {
      tagCount[tag]++;
      for (let j = 0; j < k; j++) tagSum[tag * k + j] += fit.latent[e * dim + spec.dims[j]];
    }
  }
  const tagMean = tagSum.map((sum, index) => {
    const count = tagCount[Math.floor(index / k)];
    return count > 0 ? sum / count : 0;
  });
  const pooled = (tags: readonly number[], j: number): number => {
    let sum = 0;
    for (const tag of tags) sum += tagMean[tag * k + j];
    return sum / tags.length;
  };
  const check = simulate();
  const scale = new Float64Array(k);
  let explained = 0;
  for (let j = 0; j < k; j++) {
    let cross = 0;
    let square = 0;
    let total = 0;
    for (let e = 0; e < TAG_SIMULATION_ITEMS; e++) {
      const prediction = pooled(check.tags[e], j);
      const truth = check.latent[e * dim + spec.dims[j]];
      cross += prediction * truth;
      square += prediction * prediction;
      total += truth * truth;
    }
    scale[j] = square > 0 ? cross / square : 0;
    const w = world.weights[spec.dims[j]];
    explained += w * w * ((scale[j] * cross) / total);
  }
  const mean = new Float64Array(people.count * dim);
  for (let e = 0; e < people.count; e++) {
    for (let j = 0; j < k; j++) mean[e * dim + spec.dims[j]] = scale[j] * pooled(feature.tags[e], j);
  }
  return { mean, r2: explained / world.weightSquares };
}

/** Computes the ground-truth signal of every column of the world. */
export function measureSignal(world: World, sampleRows = TRUTH_SAMPLE_ROWS): SignalSummary {
  const { users, items } = world;
  const dim = users.dim;
  const weights = world.weights;
  const random = new Random(world.seed, 'lemopt-synthetic/truth/sample');
  const sampleUsers = new Int32Array(sampleRows);
  const sampleItems = new Int32Array(sampleRows);
  const labels = new Uint8Array(sampleRows);
  const cleanLogits = new Float64Array(sampleRows);
  for (let i = 0; i < sampleRows; i++) {
    const user = users.sampler.sample(random);
    const item = items.sampler.sample(random);
    sampleUsers[i] = user;
    sampleItems[i] = item;
    cleanLogits[i] = world.bias + interaction(world, user, item);
    const u = (random.nextUint32() + 0.5) / 4294967296;
    const logistic = Math.log(u / (1 - u));
    labels[i] = cleanLogits[i] + LOGIT_NOISE_SD * random.normal() + logistic >= 0 ? 1 : 0;
  }

  /** AUC of (user mean + userPart) . (item mean + itemPart); undefined part = true latent. */
  const scoreAuc = (userPart: Float64Array | undefined, itemPart: Float64Array | undefined): number => {
    const scores = new Float64Array(sampleRows);
    for (let i = 0; i < sampleRows; i++) {
      const uo = sampleUsers[i] * dim;
      const io = sampleItems[i] * dim;
      let dot = 0;
      for (let j = 0; j < dim; j++) {
        const u = users.mean[j] + (userPart ? userPart[uo + j] : users.latent[uo + j]);
        const v = items.mean[j] + (itemPart ? itemPart[io + j] : items.latent[io + j]);
        dot += weights[j] * u * v;
      }
      scores[i] = dot;
    }
    return auc(scores, labels);
  };

  const none: Record<Tower, Float64Array> = {
    user: new Float64Array(users.count * dim),
    item: new Float64Array(items.count * dim),
  };
  const baselineAuc: Record<Tower, number> = {
    user: scoreAuc(none.user, undefined),
    item: scoreAuc(undefined, none.item),
  };
  const combined: Record<Tower, Float64Array> = {
    user: new Float64Array(users.count * dim),
    item: new Float64Array(items.count * dim),
  };
  const columns = new Map<string, ColumnSignal>();
  for (const feature of world.features) {
    const tower = feature.spec.tower;
    const people = tower === 'user' ? users : items;
    const { mean, r2 } = conditionalLatent(world, feature, people);
    const isSignal = feature.spec.kind === 'grid' || feature.spec.kind === 'tags';
    if (isSignal) for (let i = 0; i < mean.length; i++) combined[tower][i] += mean[i];
    const oracleAuc =
      r2 === 0
        ? baselineAuc[tower]
        : tower === 'user'
          ? scoreAuc(mean, undefined)
          : scoreAuc(undefined, mean);
    columns.set(feature.spec.name, { signalR2: r2, oracleAuc });
  }
  return {
    ceilingAuc: auc(cleanLogits, labels),
    signalColumnsAuc: scoreAuc(combined.user, combined.item),
    baselineAuc,
    columns,
    sampleRows,
  };
}
