/** The ground_truth.json document written beside the synthetic data. */
import { QUICKSTART_PROFILE, type GridSpec } from './specs.js';
import type { ColumnType } from '../parquet-output.js';
import { distinctCount, type ColumnLayout, type DataCounts } from './rows.js';
import type { SignalSummary } from './truth.js';
import {
  ITEM_POPULARITY_EXPONENT,
  LOGIT_NOISE_SD,
  LOGIT_SCALE,
  MEAN_COMPONENT,
  RATING_THRESHOLDS,
  TARGET_POSITIVE_RATE,
  TIMESTAMP_JITTER,
  TIMESTAMP_SPAN,
  TIMESTAMP_START,
  USER_ACTIVITY_EXPONENT,
  type World,
} from './world.js';

export const GENERATOR_VERSION = 1;

export type ColumnRole =
  'signal' | 'copy' | 'noise' | 'id' | 'label' | 'timestamp' | 'numeric_signal' | 'numeric_noise';

export interface TruthColumn {
  readonly tower: 'user' | 'item' | 'none';
  readonly type: ColumnType;
  readonly role: ColumnRole;
  /** Number of possible ids (1..cardinality) of id, categorical and list columns; null otherwise. */
  readonly cardinality: number | null;
  /** Distinct non-null values (list elements for the list column) present in the file. */
  readonly distinct_in_data: number | null;
  readonly null_count: number;
  readonly multi_valued: boolean;
  /** Fraction of the tower's latent variance this column explains (its signal strength). */
  readonly signal_r2: number | null;
  /** AUC given this column and the other tower's true latent vectors. */
  readonly oracle_auc: number | null;
  /** Latent dimensions the column observes. */
  readonly latent_dims: readonly number[] | null;
  /** Correlation between the observed projection and the latent (1 = no noise). */
  readonly rho: number | null;
  readonly copy_of: string | null;
  /** A column with the same information content but another vocabulary size. */
  readonly equally_informative_with: string | null;
  readonly description: string;
}

export interface GroundTruth {
  readonly generator: string;
  readonly generator_version: number;
  /** The profile, absent for the quickstart's (its files predate profiles and stay byte-identical). */
  readonly profile?: string;
  readonly seed: number;
  readonly rows: number;
  readonly row_group_size: number;
  readonly data_file: string;
  readonly model: Record<string, unknown>;
  readonly metrics: {
    readonly ceiling_auc: number;
    readonly ceiling_auc_note: string;
    readonly signal_columns_auc: number;
    readonly signal_columns_auc_note: string;
    readonly oracle_auc_baseline: { readonly user: number; readonly item: number };
    readonly oracle_auc_note: string;
    readonly signal_r2_note: string;
    readonly sample_rows: number;
  };
  readonly data: {
    readonly positives: number;
    readonly positive_rate: number;
    readonly rating_counts: Record<'1' | '2' | '3' | '4' | '5', number>;
  };
  readonly columns: Record<string, TruthColumn>;
  readonly roles: Record<ColumnRole, string[]>;
  readonly redundant_sets: string[][];
  readonly equally_informative_pairs: {
    cheaper: string;
    costlier: string;
    cardinalities: [number, number];
  }[];
}

const round = (value: number, digits = 4): number => Number(value.toFixed(digits));

/** `{ profile }` for any profile but the quickstart's, whose files predate profiles. */
export function profileField(world: Pick<World, 'profile'>): { profile?: string } {
  return world.profile === QUICKSTART_PROFILE ? {} : { profile: world.profile.name };
}

/** The latent weights of a profile that sets them (with equal weights the logit is as documented). */
function latentWeightsFields(world: World): Record<string, unknown> {
  if (!world.profile.latentWeights) return {};
  return {
    latent_weights: Array.from(world.weights),
    latent_weights_note:
      'the logit is bias + scale * sum_j w_j (user_mean + u)_j (item_mean + v)_j / sqrt(sum_j w_j^2) + noise; signal_r2 weighs the variance explained in dim j by w_j^2 / sum_j w_j^2',
  };
}

/** Pairs of grid columns with the same information (same bins, noise, nulls) and different sizes. */
function equallyInformativePairs(world: World): [GridSpec, GridSpec][] {
  const grids = world.features.map((feature) => feature.spec).filter((spec) => spec.kind === 'grid');
  const key = (spec: GridSpec): string =>
    [spec.tower, spec.bins.join('x'), spec.rho, spec.nullFraction ?? 0, spec.dims.length].join('|');
  const pairs: [GridSpec, GridSpec][] = [];
  for (let a = 0; a < grids.length; a++) {
    for (let b = a + 1; b < grids.length; b++) {
      if (key(grids[a]) !== key(grids[b]) || (grids[a].refine ?? 1) === (grids[b].refine ?? 1)) continue;
      pairs.push(
        (grids[a].refine ?? 1) < (grids[b].refine ?? 1) ? [grids[a], grids[b]] : [grids[b], grids[a]],
      );
    }
  }
  return pairs;
}

export function groundTruthDocument(options: {
  world: World;
  layout: readonly ColumnLayout[];
  signal: SignalSummary;
  counts: DataCounts;
  rowGroupSize: number;
  dataFile: string;
}): GroundTruth {
  const { world, layout, signal, counts } = options;
  const pairs = equallyInformativePairs(world);
  const partner = new Map<string, string>();
  for (const [cheap, costly] of pairs) {
    partner.set(cheap.name, costly.name);
    partner.set(costly.name, cheap.name);
  }
  const distinct = (name: string): number | null => {
    const flags = counts.seen.get(name);
    return flags ? distinctCount(flags) : null;
  };
  const columns: Record<string, TruthColumn> = {};
  const base = (column: ColumnLayout) => ({
    type: column.type,
    null_count: counts.nulls.get(column.name) ?? 0,
    distinct_in_data: distinct(column.name),
    multi_valued: column.type === 'list<int32>',
    latent_dims: null,
    rho: null,
    copy_of: null,
    equally_informative_with: null,
  });
  for (const column of layout) {
    const feature = column.feature;
    if (!feature) {
      const fixed: Record<string, Pick<TruthColumn, 'tower' | 'role' | 'cardinality' | 'description'>> = {
        timestamp: {
          tower: 'none',
          role: 'timestamp',
          cardinality: null,
          description:
            'epoch seconds; increases with the row index plus up to one hour of jitter; for time splits',
        },
        user_id: {
          tower: 'user',
          role: 'id',
          cardinality: world.users.count,
          description:
            'user id: the whole user latent vector if memorised, at the largest user-side memory cost',
        },
        item_id: {
          tower: 'item',
          role: 'id',
          cardinality: world.items.count,
          description:
            'item id: the whole item latent vector if memorised, at the largest item-side memory cost',
        },
        rating: {
          tower: 'none',
          role: 'label',
          cardinality: 5,
          description: `1-5 from the same noisy logit; rating >= 4 is exactly label`,
        },
        label: {
          tower: 'none',
          role: 'label',
          cardinality: 2,
          description: 'Bernoulli(sigmoid(bias + scale * u.v / sqrt(d) + noise)), 0 or 1',
        },
      };
      const entry = fixed[column.name];
      const isId = entry.role === 'id';
      columns[column.name] = {
        ...base(column),
        ...entry,
        signal_r2: isId ? 1 : null,
        oracle_auc: isId ? round(signal.ceilingAuc) : null,
      };
      continue;
    }
    const spec = feature.spec;
    const measured = signal.columns.get(spec.name)!;
    const common = {
      ...base(column),
      tower: spec.tower,
      description: spec.truth,
      signal_r2: round(measured.signalR2),
      oracle_auc: round(measured.oracleAuc),
    };
    switch (spec.kind) {
      case 'grid':
        columns[column.name] = {
          ...common,
          role: 'signal',
          cardinality: feature.kind === 'categorical' ? feature.cardinality : null,
          latent_dims: [...spec.dims],
          rho: spec.rho,
          equally_informative_with: partner.get(spec.name) ?? null,
        };
        break;
      case 'copy': {
        const source = world.features.find((candidate) => candidate.spec.name === spec.source)!.spec;
        columns[column.name] = {
          ...common,
          role: 'copy',
          cardinality: feature.kind === 'categorical' ? feature.cardinality : null,
          latent_dims: source.kind === 'grid' ? [...source.dims] : null,
          rho: source.kind === 'grid' ? source.rho : null,
          copy_of: spec.source,
        };
        break;
      }
      case 'noise':
        columns[column.name] = { ...common, role: 'noise', cardinality: spec.cardinality };
        break;
      case 'tags':
        columns[column.name] = {
          ...common,
          role: spec.dims.length > 0 ? 'signal' : 'noise',
          cardinality: spec.vocabulary,
          latent_dims: spec.dims.length > 0 ? [...spec.dims] : null,
        };
        break;
      case 'numeric_signal':
        columns[column.name] = {
          ...common,
          role: 'numeric_signal',
          cardinality: null,
          latent_dims: Array.from({ length: world.profile.latentDim }, (_, j) => j),
          rho: spec.rho,
        };
        break;
      case 'numeric_noise':
        columns[column.name] = { ...common, role: 'numeric_noise', cardinality: null };
        break;
    }
  }

  const roles: Record<ColumnRole, string[]> = {
    signal: [],
    copy: [],
    noise: [],
    id: [],
    label: [],
    timestamp: [],
    numeric_signal: [],
    numeric_noise: [],
  };
  for (const [name, column] of Object.entries(columns)) roles[column.role].push(name);
  // Strongest first.
  roles.signal.sort((a, b) => (columns[b].signal_r2 ?? 0) - (columns[a].signal_r2 ?? 0));

  const redundant_sets: string[][] = [];
  for (const [name, column] of Object.entries(columns)) {
    if (!column.copy_of) continue;
    const set = redundant_sets.find((candidate) => candidate.includes(column.copy_of!));
    if (set) set.push(name);
    else redundant_sets.push([column.copy_of, name]);
  }

  return {
    generator: 'lemopt synthetic two-tower interactions',
    generator_version: GENERATOR_VERSION,
    ...profileField(world),
    seed: world.seed,
    rows: counts.rows,
    row_group_size: options.rowGroupSize,
    data_file: options.dataFile,
    model: {
      latent_dim: world.profile.latentDim,
      ...latentWeightsFields(world),
      users: world.users.count,
      items: world.items.count,
      logit:
        'bias + scale * (user_mean + u) . (item_mean + v) / sqrt(latent_dim) + Normal(0, logit_noise_sd^2)',
      latent: 'u, v ~ Normal(0, I) per user and item; mean components are +-mean_component',
      label: 'label = 1 iff logit + Logistic(0, 1) >= 0, i.e. Bernoulli(sigmoid(logit))',
      rating: 'rating = 1 + number of rating_thresholds <= logit + the same Logistic draw',
      bias: round(world.bias, 6),
      scale: LOGIT_SCALE,
      logit_noise_sd: LOGIT_NOISE_SD,
      mean_component: MEAN_COMPONENT,
      user_mean: Array.from(world.users.mean),
      item_mean: Array.from(world.items.mean),
      target_positive_rate: TARGET_POSITIVE_RATE,
      rating_thresholds: RATING_THRESHOLDS,
      user_activity_zipf_exponent: USER_ACTIVITY_EXPONENT,
      item_popularity_zipf_exponent: ITEM_POPULARITY_EXPONENT,
      timestamp_start: TIMESTAMP_START,
      timestamp_span_seconds: TIMESTAMP_SPAN,
      timestamp_jitter_seconds: TIMESTAMP_JITTER,
    },
    metrics: {
      ceiling_auc: round(signal.ceilingAuc),
      ceiling_auc_note:
        'AUC of the true logit without its row noise against sampled labels: the Bayes-optimal ceiling given the true latents',
      signal_columns_auc: round(signal.signalColumnsAuc),
      signal_columns_auc_note:
        'AUC of the Bayes predictor given every signal column of both towers (no ids, copies or numeric columns)',
      oracle_auc_baseline: { user: round(signal.baselineAuc.user), item: round(signal.baselineAuc.item) },
      oracle_auc_note:
        "oracle_auc of a column: AUC with E[latent | column] on its tower and the other tower's true latent; a column that tells nothing scores oracle_auc_baseline of its tower",
      signal_r2_note:
        "signal_r2 of a column: fraction of its tower's latent variance explained by E[latent | column]; exact except for the list column (a fitted mean-pooling predictor, a lower bound)",
      sample_rows: signal.sampleRows,
    },
    data: {
      positives: counts.positives,
      positive_rate: round(counts.positives / counts.rows, 6),
      rating_counts: {
        1: counts.ratings[1],
        2: counts.ratings[2],
        3: counts.ratings[3],
        4: counts.ratings[4],
        5: counts.ratings[5],
      },
    },
    columns,
    roles,
    redundant_sets,
    equally_informative_pairs: pairs.map(([cheap, costly]) => ({
      cheaper: cheap.name,
      costlier: costly.name,
      cardinalities: [columns[cheap.name].cardinality!, columns[costly.name].cardinality!],
    })),
  };
}
