/**
 * The `large` profile (`lemopt generate --profile large`): an interaction log shaped like a
 * large embedding model's, 100 feature groups per tower over 32 latent dimensions per side.
 *
 * Each tower has the same recipe:
 * - 26 signal sources, each observing latent dimensions no other source observes, graded in
 *   strength by the number of dimensions, rho and bins: 4 strong 2-dim grids, 1
 *   high-cardinality grid, 3 equally informative pairs (a grid and one as informative,
 *   about another dimension, split into 50-100x the ids), 2 multi-valued lists and 13
 *   single-dimension grids from rho 0.9 down to 0.3;
 * - 8 exact copies of signal sources under other ids (string or int);
 * - 66 noise columns: 61 uniform ones of 2 to a few hundred values, 3 high-cardinality ones
 *   and 2 lists whose tags follow popularity only.
 *
 * Columns are named u001-u100 and i001-i100 in file order, and roles are dealt to names by a
 * fixed shuffle (the same for every seed): nothing in a name or a position tells a role.
 */
import { Random } from '../../util/random.js';
import type { FeatureSpec, SyntheticProfile, Tower } from './specs.js';

const LATENT_DIM = 32;
const GROUPS_PER_TOWER = 100;

interface TowerRecipe {
  readonly tower: Tower;
  /** Bins of the high-cardinality signal source (one latent dimension). */
  readonly highCardinalitySignal: number;
  /** Ids per cell of the costly member of each equally informative pair. */
  readonly pairRefine: number;
  /** Largest vocabulary of the ordinary noise columns (the smallest is 2). */
  readonly noiseMax: number;
  readonly highCardinalityNoise: readonly number[];
}

const RECIPES: readonly TowerRecipe[] = [
  {
    tower: 'user',
    highCardinalitySignal: 2000,
    pairRefine: 100,
    noiseMax: 500,
    highCardinalityNoise: [1000, 2000, 5000],
  },
  {
    tower: 'item',
    highCardinalitySignal: 1000,
    pairRefine: 50,
    noiseMax: 300,
    highCardinalityNoise: [800, 1500, 3000],
  },
];

/** `weight`: the latent weight w_j (importance in the logit) of each dimension a source observes. */
const STRONG_GRIDS: readonly {
  bins: [number, number];
  rho: number;
  weight: number;
  nullFraction?: number;
}[] = [
  { bins: [4, 4], rho: 0.95, weight: 2 },
  { bins: [5, 4], rho: 0.92, weight: 1.8, nullFraction: 0.05 },
  { bins: [4, 3], rho: 0.9, weight: 1.6 },
  { bins: [3, 3], rho: 0.85, weight: 1.4 },
];
const HIGH_CARDINALITY_SIGNAL = { rho: 0.85, weight: 1.4 };
/** Each pair: two dimensions of equal weight at this rho in 8 bins, the costly one refined. */
const PAIRS: readonly { rho: number; weight: number }[] = [
  { rho: 0.9, weight: 1.3 },
  { rho: 0.75, weight: 1.1 },
  { rho: 0.6, weight: 0.9 },
];
const PAIR_BINS = 8;
const SIGNAL_TAGS = [
  { vocabulary: 300, minTags: 1, maxTags: 6, weight: 1.3 },
  { vocabulary: 1000, minTags: 2, maxTags: 8, weight: 1 },
] as const;
/**
 * Bins of the single-dimension grids (never PAIR_BINS, so none of them looks like a pair
 * member); their rho falls from 0.9 to 0.3 and their weight from 1.2 to 0.4.
 */
const TAIL_BINS: readonly number[] = [10, 6, 20, 4, 12, 30, 5, 16, 9, 25, 3, 15, 40];
const NOISE_TAGS = [
  { vocabulary: 100, minTags: 1, maxTags: 4 },
  { vocabulary: 500, minTags: 1, maxTags: 6 },
] as const;
const ORDINARY_NOISE = 61;

/**
 * Specs of one tower under placeholder names (`signal/…`, `copy/…`, `noise/…`), in recipe
 * order, and the latent weight of each dimension they observe.
 */
function towerSpecs(recipe: TowerRecipe): { specs: FeatureSpec[]; weights: number[] } {
  const { tower } = recipe;
  const specs: FeatureSpec[] = [];
  const weights: number[] = [];
  const nextDims = (count: number, weight: number): number[] =>
    Array.from({ length: count }, () => weights.push(weight) - 1);

  STRONG_GRIDS.forEach((grid, index) =>
    specs.push({
      kind: 'grid',
      name: `signal/strong${index}`,
      tower,
      valueType: 'int',
      dims: nextDims(2, grid.weight),
      bins: grid.bins,
      rho: grid.rho,
      nullFraction: grid.nullFraction,
      truth: `strong signal: ${grid.bins.join('x')} grid over two latent dims, rho ${grid.rho}`,
    }),
  );
  specs.push({
    kind: 'grid',
    name: 'signal/high-cardinality',
    tower,
    valueType: 'string',
    dims: nextDims(1, HIGH_CARDINALITY_SIGNAL.weight),
    bins: [recipe.highCardinalitySignal],
    rho: HIGH_CARDINALITY_SIGNAL.rho,
    truth: `high-cardinality signal: ${recipe.highCardinalitySignal} fine bins of one latent dim, rho ${HIGH_CARDINALITY_SIGNAL.rho}`,
  });
  PAIRS.forEach(({ rho, weight }, index) => {
    const ids = PAIR_BINS * recipe.pairRefine;
    specs.push(
      {
        kind: 'grid',
        name: `signal/pair${index}-cheap`,
        tower,
        valueType: 'int',
        dims: nextDims(1, weight),
        bins: [PAIR_BINS],
        rho,
        truth: `signal: ${PAIR_BINS} bins of one latent dim, rho ${rho}; as informative as its pair with ${ids} ids`,
      },
      {
        kind: 'grid',
        name: `signal/pair${index}-costly`,
        tower,
        valueType: 'int',
        dims: nextDims(1, weight),
        bins: [PAIR_BINS],
        rho,
        refine: recipe.pairRefine,
        truth: `signal: ${PAIR_BINS} bins of one latent dim, rho ${rho}, each split into ${recipe.pairRefine} random ids; as informative as its pair with ${PAIR_BINS} ids`,
      },
    );
  });
  SIGNAL_TAGS.forEach((tags, index) =>
    specs.push({
      kind: 'tags',
      name: `signal/tags${index}`,
      tower,
      dims: nextDims(2, tags.weight),
      vocabulary: tags.vocabulary,
      minTags: tags.minTags,
      maxTags: tags.maxTags,
      sharpness: 2,
      popularitySd: 0.7,
      truth: `multi-valued signal: ${tags.minTags}-${tags.maxTags} tags out of ${tags.vocabulary}, drawn by affinity to two latent dims`,
    }),
  );
  TAIL_BINS.forEach((bins, index) => {
    const fall = index / (TAIL_BINS.length - 1);
    const rho = Number((0.9 - 0.6 * fall).toFixed(2));
    specs.push({
      kind: 'grid',
      name: `signal/tail${index}`,
      tower,
      valueType: index % 4 === 1 ? 'string' : 'int',
      dims: nextDims(1, Number((1.2 - 0.8 * fall).toFixed(2))),
      bins: [bins],
      rho,
      nullFraction: index === 4 ? 0.1 : undefined,
      truth: `signal: ${bins} bins of one latent dim, rho ${rho}`,
    });
  });
  if (weights.length !== LATENT_DIM)
    throw new Error(`the ${tower} recipe observes ${weights.length} latent dims, not ${LATENT_DIM}`);

  const copied = [
    'strong0',
    'strong1',
    'strong2',
    'strong3',
    'high-cardinality',
    'pair0-cheap',
    'tail2',
    'tail10',
  ];
  copied.forEach((source, index) =>
    specs.push({
      kind: 'copy',
      name: `copy/${source}`,
      tower,
      valueType: index % 2 === 0 ? 'string' : 'int',
      source: `signal/${source}`,
      truth: 'exact copy of a signal column (copy_of) under different ids',
    }),
  );

  for (let index = 0; index < ORDINARY_NOISE; index++) {
    // Vocabularies spaced evenly in log scale from 2 to noiseMax.
    const cardinality = Math.round(2 * Math.pow(recipe.noiseMax / 2, index / (ORDINARY_NOISE - 1)));
    specs.push({
      kind: 'noise',
      name: `noise/${index}`,
      tower,
      valueType: index % 5 === 2 ? 'string' : 'int',
      cardinality,
      truth: `pure noise, uniform over ${cardinality} values per ${tower}`,
    });
  }
  recipe.highCardinalityNoise.forEach((cardinality, index) =>
    specs.push({
      kind: 'noise',
      name: `noise/high-cardinality${index}`,
      tower,
      valueType: 'int',
      cardinality,
      truth: `pure noise with a high cardinality: uniform over ${cardinality} values per ${tower}`,
    }),
  );
  NOISE_TAGS.forEach((tags, index) =>
    specs.push({
      kind: 'tags',
      name: `noise/tags${index}`,
      tower,
      dims: [],
      vocabulary: tags.vocabulary,
      minTags: tags.minTags,
      maxTags: tags.maxTags,
      sharpness: 0,
      popularitySd: 0.7,
      truth: `multi-valued noise: ${tags.minTags}-${tags.maxTags} tags out of ${tags.vocabulary} by popularity only`,
    }),
  );
  if (specs.length !== GROUPS_PER_TOWER)
    throw new Error(`the ${tower} recipe makes ${specs.length} columns, not ${GROUPS_PER_TOWER}`);
  return { specs, weights };
}

/** The recipe's specs named u001.../i001... by a fixed shuffle, in name order. */
function namedSpecs(): FeatureSpec[] {
  const named: FeatureSpec[] = [];
  for (const recipe of RECIPES) {
    const { specs } = towerSpecs(recipe);
    const order = new Random(0, `lemopt-synthetic/large/${recipe.tower}-names`).permutation(specs.length);
    const prefix = recipe.tower === 'user' ? 'u' : 'i';
    const names = new Map(
      specs.map((spec, index) => [spec.name, prefix + String(order[index] + 1).padStart(3, '0')]),
    );
    const renamed = specs.map((spec): FeatureSpec => {
      const name = names.get(spec.name)!;
      return spec.kind === 'copy' ? { ...spec, name, source: names.get(spec.source)! } : { ...spec, name };
    });
    named.push(...renamed.sort((a, b) => a.name.localeCompare(b.name)));
  }
  return named;
}

export const LARGE_PROFILE: SyntheticProfile = {
  name: 'large',
  latentDim: LATENT_DIM,
  userCount: 40_000,
  itemCount: 10_000,
  defaultRows: 500_000,
  // Both towers' recipes give each latent dimension the same weight.
  latentWeights: towerSpecs(RECIPES[0]).weights,
  specs: namedSpecs(),
};
