/**
 * The planted structure of the synthetic dataset: one spec per feature column.
 *
 * Users and items each carry a latent vector of LATENT_DIM dimensions. A categorical
 * signal feature ('grid') observes a few latent dimensions through noise
 * (z = rho * latent + sqrt(1 - rho^2) * noise, a standard normal) and quantises each
 * into equal-frequency bins; the bins of its dimensions form a grid whose cells are the
 * categories. Column names are realistic and neutral: the roles live only in
 * ground_truth.json.
 */

export const LATENT_DIM = 8;
export const USER_COUNT = 20_000;
export const ITEM_COUNT = 5_000;

export type Tower = 'user' | 'item';
export type ValueType = 'int' | 'string';

interface SpecBase {
  readonly name: string;
  readonly tower: Tower;
  /** What the column is in the planted model (ground truth only, never in the data). */
  readonly truth: string;
}

/** A noisy quantisation of some latent dimensions. */
export interface GridSpec extends SpecBase {
  readonly kind: 'grid';
  readonly valueType: ValueType;
  /** String values are `${prefix}${id}`, ids zero-padded to the width of the cardinality. */
  readonly prefix?: string;
  readonly dims: readonly number[];
  readonly bins: readonly number[];
  /** Correlation between the observed projection and the latent dimension. */
  readonly rho: number;
  /**
   * Each cell is split into `refine` ids drawn at random per entity: more ids (more
   * memory), no more information.
   */
  readonly refine?: number;
  /** Ids follow the bin order (a band); otherwise ids are a random relabelling. */
  readonly ordinal?: boolean;
  /** Fraction of entities whose value is missing (null), at random. */
  readonly nullFraction?: number;
}

/** The same partition as `source` under other ids: a redundant copy. */
export interface CopySpec extends SpecBase {
  readonly kind: 'copy';
  readonly valueType: ValueType;
  readonly prefix?: string;
  readonly source: string;
}

/** A categorical value drawn uniformly per entity, independent of everything else. */
export interface NoiseSpec extends SpecBase {
  readonly kind: 'noise';
  readonly valueType: ValueType;
  readonly prefix?: string;
  readonly cardinality: number;
}

/**
 * A multi-valued feature: each entity gets between minTags and maxTags distinct tags, drawn
 * without replacement with probability proportional to
 * exp(sharpness * prototype_t . latent[dims] + popularity_t). With no dims the tags follow
 * popularity only: a multi-valued noise feature.
 */
export interface TagsSpec extends SpecBase {
  readonly kind: 'tags';
  readonly dims: readonly number[];
  readonly vocabulary: number;
  readonly minTags: number;
  readonly maxTags: number;
  readonly sharpness: number;
  readonly popularitySd: number;
}

/**
 * A float observing the projection of the latent vector on the other tower's mean
 * direction (the entity's overall affinity), through noise; value = offset + scale * z.
 */
export interface NumericSignalSpec extends SpecBase {
  readonly kind: 'numeric_signal';
  readonly rho: number;
  readonly nullFraction: number;
  readonly offset: number;
  readonly scale: number;
}

/** A log-normal float per entity, independent of everything else. */
export interface NumericNoiseSpec extends SpecBase {
  readonly kind: 'numeric_noise';
  readonly logMean: number;
  readonly logSd: number;
}

export type FeatureSpec = GridSpec | CopySpec | NoiseSpec | TagsSpec | NumericSignalSpec | NumericNoiseSpec;
export type CategoricalSpec = GridSpec | CopySpec | NoiseSpec;

/** A dataset shape: the size of the latent world and its feature columns. */
export interface SyntheticProfile {
  readonly name: string;
  readonly latentDim: number;
  readonly userCount: number;
  readonly itemCount: number;
  /** Rows written unless told otherwise. */
  readonly defaultRows: number;
  /**
   * Importance w_j of each latent dimension: it enters the logit as w_j * u_j * v_j (see
   * world.ts). Default 1 for every dimension.
   */
  readonly latentWeights?: readonly number[];
  readonly specs: readonly FeatureSpec[];
}

export const FEATURE_SPECS: readonly FeatureSpec[] = [
  {
    kind: 'grid',
    name: 'u_region',
    tower: 'user',
    valueType: 'int',
    dims: [0, 1],
    bins: [4, 4],
    rho: 0.95,
    truth: 'strong signal: 4x4 grid over user latent dims 0-1',
  },
  {
    kind: 'copy',
    name: 'u_market',
    tower: 'user',
    valueType: 'string',
    prefix: 'mkt_',
    source: 'u_region',
    truth: 'exact copy of u_region under different ids (strings)',
  },
  {
    kind: 'grid',
    name: 'u_age_band',
    tower: 'user',
    valueType: 'int',
    dims: [2],
    bins: [7],
    rho: 0.9,
    ordinal: true,
    nullFraction: 0.05,
    truth: 'signal: 7 ordered bands of user latent dim 2; 5% of users missing',
  },
  {
    kind: 'grid',
    name: 'u_occupation',
    tower: 'user',
    valueType: 'string',
    prefix: 'occ_',
    dims: [3, 4],
    bins: [5, 5],
    rho: 0.7,
    truth: 'medium signal: 5x5 grid over user latent dims 3-4, noisier',
  },
  {
    kind: 'grid',
    name: 'u_device',
    tower: 'user',
    valueType: 'int',
    dims: [5],
    bins: [6],
    rho: 0.9,
    truth: 'signal: 6 bins of user latent dim 5; as informative as u_postcode, 100x cheaper',
  },
  {
    kind: 'grid',
    name: 'u_postcode',
    tower: 'user',
    valueType: 'int',
    dims: [6],
    bins: [6],
    rho: 0.9,
    refine: 100,
    truth: 'signal: 6 bins of user latent dim 6, each split into 100 random ids; as informative as u_device',
  },
  {
    kind: 'grid',
    name: 'u_city',
    tower: 'user',
    valueType: 'string',
    prefix: 'city_',
    dims: [7],
    bins: [1000],
    rho: 0.8,
    truth: 'high-cardinality signal: 1000 fine bins of user latent dim 7 (about 20 users each)',
  },
  {
    kind: 'noise',
    name: 'u_signup_cohort',
    tower: 'user',
    valueType: 'int',
    cardinality: 36,
    truth: 'pure noise, uniform per user',
  },
  {
    kind: 'noise',
    name: 'u_browser',
    tower: 'user',
    valueType: 'string',
    prefix: 'browser_',
    cardinality: 5,
    truth: 'pure noise, uniform per user',
  },
  {
    kind: 'noise',
    name: 'u_referrer',
    tower: 'user',
    valueType: 'int',
    cardinality: 400,
    truth: 'pure noise with a large vocabulary, uniform per user',
  },
  {
    kind: 'numeric_signal',
    name: 'u_engagement',
    tower: 'user',
    rho: 0.8,
    nullFraction: 0.1,
    offset: 50,
    scale: 15,
    truth:
      "numeric signal: the user's projection on the mean item vector (overall affinity) through noise; 10% of users missing",
  },
  {
    kind: 'grid',
    name: 'i_category',
    tower: 'item',
    valueType: 'int',
    dims: [0, 1],
    bins: [4, 5],
    rho: 0.95,
    truth: 'strong signal: 4x5 grid over item latent dims 0-1',
  },
  {
    kind: 'copy',
    name: 'i_department',
    tower: 'item',
    valueType: 'string',
    prefix: 'dept_',
    source: 'i_category',
    truth: 'exact copy of i_category under different ids (strings)',
  },
  {
    kind: 'grid',
    name: 'i_brand',
    tower: 'item',
    valueType: 'int',
    dims: [2, 3],
    bins: [20, 20],
    rho: 0.8,
    truth: 'signal with a large vocabulary: 20x20 grid over item latent dims 2-3',
  },
  {
    kind: 'grid',
    name: 'i_price_band',
    tower: 'item',
    valueType: 'int',
    dims: [4],
    bins: [10],
    rho: 0.85,
    ordinal: true,
    truth: 'signal: 10 ordered bands of item latent dim 4',
  },
  {
    kind: 'tags',
    name: 'i_tags',
    tower: 'item',
    dims: [5, 6, 7],
    vocabulary: 200,
    minTags: 1,
    maxTags: 5,
    sharpness: 2,
    popularitySd: 0.7,
    truth: 'multi-valued signal: 1-5 tags per item out of 200, drawn by affinity to item latent dims 5-7',
  },
  {
    kind: 'noise',
    name: 'i_supplier',
    tower: 'item',
    valueType: 'int',
    cardinality: 150,
    truth: 'pure noise, uniform per item',
  },
  {
    kind: 'noise',
    name: 'i_color',
    tower: 'item',
    valueType: 'string',
    prefix: 'color_',
    cardinality: 12,
    truth: 'pure noise, uniform per item',
  },
  {
    kind: 'numeric_noise',
    name: 'i_weight',
    tower: 'item',
    logMean: 0.3,
    logSd: 0.8,
    truth: 'numeric noise: log-normal per item',
  },
];

/** The embedded default dataset (`lemopt generate`), the quickstart's. */
export const QUICKSTART_PROFILE: SyntheticProfile = {
  name: 'quickstart',
  latentDim: LATENT_DIM,
  userCount: USER_COUNT,
  itemCount: ITEM_COUNT,
  defaultRows: 200_000,
  specs: FEATURE_SPECS,
};

/** Number of categories of a categorical spec (ids run 1..cardinality). */
export function cardinalityOf(spec: CategoricalSpec, specs: readonly FeatureSpec[] = FEATURE_SPECS): number {
  switch (spec.kind) {
    case 'grid':
      return spec.bins.reduce((product, bins) => product * bins, 1) * (spec.refine ?? 1);
    case 'noise':
      return spec.cardinality;
    case 'copy': {
      const source = specs.find((candidate) => candidate.name === spec.source);
      if (!source || (source.kind !== 'grid' && source.kind !== 'noise')) {
        throw new Error(`copy ${spec.name}: source ${spec.source} is not a grid or noise feature`);
      }
      return cardinalityOf(source, specs);
    }
  }
}
