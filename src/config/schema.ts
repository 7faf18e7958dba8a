/**
 * The run configuration: one zod schema per section. Every object is strict, so a
 * misspelt key is an error rather than a silently ignored setting. Defaults live here
 * and nowhere else; README.md's config reference documents the same keys.
 */
import { z } from 'zod';
import { LABEL_RULE_PATTERN } from './label-rule.js';
import { parseByteSize, parsePercent } from './size.js';

const positiveInt = z.number().int().positive();
const fraction = z.number().min(0).max(1);

export const csvSchema = z.strictObject({
  delimiter: z.string().min(1).optional(),
  header: z.boolean().default(true),
  quote: z.string().length(1).default('"'),
  encoding: z.enum(['utf8', 'latin1']).default('utf8'),
  null_values: z.array(z.string()).default(['', 'NA', 'NaN', 'null', 'NULL']),
});

const labelSchema = z
  .strictObject({
    column: z.string().min(1).optional(),
    rule: z
      .string()
      .regex(LABEL_RULE_PATTERN, 'expected `binary` or a comparison like `>= 4` or `== click`')
      .default('binary'),
    implicit: z.boolean().default(false),
  })
  .superRefine((label, ctx) => {
    if (!label.implicit && label.column === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['column'],
        message: 'a label column is required unless implicit: true',
      });
    }
    if (label.implicit && label.column !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['column'], message: 'implicit feedback takes no label column' });
    }
  });

const splitSchema = z
  .strictObject({
    method: z.enum(['hash', 'time', 'random']).default('random'),
    /** hash: the key column (for example user_id); time: the timestamp column. */
    column: z.string().min(1).optional(),
    train: fraction.default(0.8),
    valid: fraction.default(0.1),
    test: fraction.default(0.1),
    seed: z.number().int().default(0),
  })
  .superRefine((split, ctx) => {
    const total = split.train + split.valid + split.test;
    if (Math.abs(total - 1) > 1e-9) {
      ctx.addIssue({
        code: 'custom',
        path: ['train'],
        message: `train + valid + test must be 1, not ${total}`,
      });
    }
    if (split.method !== 'random' && split.column === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['column'],
        message: `split method '${split.method}' needs a column`,
      });
    }
  });

const dataSchema = z.strictObject({
  /** A file, a folder of part files or a glob; relative paths start at the config file's folder. */
  source: z.string().min(1),
  format: z.enum(['parquet', 'arrow', 'csv']).optional(),
  csv: csvSchema.prefault({}),
  label: labelSchema,
  split: splitSchema.prefault({}),
  /** Stop reading after this many rows (a quick look at a big dataset). */
  max_rows: positiveInt.optional(),
  /**
   * Worker threads that read and encode; 0 keeps it in the main thread. More than one
   * splits Parquet row groups between them.
   */
  workers: z.number().int().min(0).max(64).default(1),
  /**
   * Bytes the encoded dataset may take in memory, where every pass after the first reads
   * it; a larger dataset goes to encoded shards on disk instead. Results are the same.
   * Also bounds the decoded rows the vocabulary pass keeps for encoding (one read of the file).
   */
  cache_memory: z
    .union([z.number(), z.string()])
    .default('2GiB')
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes !== undefined) return bytes;
      ctx.addIssue({
        code: 'custom',
        message: `'${value}' is not a size; write bytes, e.g. 2GiB or 512MB (0 keeps the encoded data on disk)`,
      });
      return z.NEVER;
    }),
  /**
   * Bytes the vocabulary pass may hold in its count tables; past it the counts spill to
   * disk (the run folder) and are merged partition by partition. Same vocabularies.
   */
  vocabulary_memory: z
    .union([z.number(), z.string()])
    .default('1GiB')
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes !== undefined && bytes > 0) return bytes;
      ctx.addIssue({
        code: 'custom',
        message: `'${value}' is not a size above 0; write bytes, e.g. 1GiB or 512MB`,
      });
      return z.NEVER;
    }),
});

const featureSchema = z
  .strictObject({
    /** One feature name, or a list of names sharing the settings below (compact form). */
    name: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Source column; defaults to the name. Only with a single name. */
    column: z.string().min(1).optional(),
    tower: z.enum(['user', 'item']),
    type: z.enum(['categorical', 'multi_categorical', 'numeric']).default('categorical'),
    /** Values seen fewer times than this map to the OOV id (or the hash buckets). */
    min_count: positiveInt.default(1),
    /** Keep at most this many most frequent values; 0: no vocabulary, every value hashes. */
    max_size: z.number().int().min(0).optional(),
    /** Hash values outside the vocabulary into this many buckets instead of one OOV id. */
    hash_buckets: z.number().int().min(0).default(0),
    /** multi_categorical stored as a delimited string. */
    delimiter: z.string().min(1).default('|'),
    pooling: z.enum(['mean', 'sum']).default('mean'),
    /** numeric: number of quantile buckets, or explicit ascending boundaries. */
    buckets: z.number().int().min(2).default(10),
    boundaries: z.array(z.number()).min(1).optional(),
  })
  .superRefine((feature, ctx) => {
    if (feature.max_size === 0 && feature.type !== 'numeric' && feature.hash_buckets < 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_size'],
        message: '0 keeps no vocabulary: set hash_buckets (2 or more) to hash every value into that many ids',
      });
    }
    if (Array.isArray(feature.name) && feature.column !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['column'],
        message: 'column can only be given with a single name',
      });
    }
    const boundaries = feature.boundaries;
    if (boundaries && boundaries.some((value, i) => i > 0 && value <= boundaries[i - 1])) {
      ctx.addIssue({
        code: 'custom',
        path: ['boundaries'],
        message: 'boundaries must be strictly ascending',
      });
    }
  });

const groupSchema = z.strictObject({
  name: z.string().min(1),
  features: z.array(z.string().min(1)).min(1),
  /** Embedding dims of this group (a multiple of selection.block_size, at most model.embedding_dim); default: embedding_dim. */
  dim: positiveInt.optional(),
});

const modelSchema = z.strictObject({
  /**
   * two_tower (absent): the recommender model. classifier: an MLP over numeric columns,
   * one candidate per column (src/experiment/classify.ts).
   */
  kind: z.enum(['two_tower', 'classifier']).optional(),
  /** classifier: hidden layer sizes (default [67], the reference's). */
  hidden: z.array(positiveInt).optional(),
  embedding_dim: positiveInt.default(16),
  user_tower: z.array(positiveInt).default([64, 32]),
  item_tower: z.array(positiveInt).default([64, 32]),
  activation: z.enum(['relu', 'tanh', 'gelu', 'linear']).default('relu'),
  normalization: z.enum(['none', 'layer', 'batch']).default('none'),
  score: z.enum(['dot', 'cosine']).default('dot'),
  temperature: z.number().positive().default(0.05),
  objective: z.enum(['binary', 'sampled_softmax']).default('binary'),
  /**
   * sampled_softmax: the item-tower feature that identifies an item (for the log-Q
   * correction and the retrieval catalogue). Default: the item-tower categorical feature
   * with the largest vocabulary.
   */
  item_key: z.string().min(1).optional(),
  backend: z.enum(['auto', 'tensorflow-gpu', 'tensorflow', 'onnxruntime', 'wasm', 'cpu']).default('auto'),
});

const trainSchema = z.strictObject({
  batch_size: positiveInt.default(1024),
  epochs: positiveInt.default(3),
  learning_rate: z.number().positive().default(0.003),
  optimizer: z.enum(['adam', 'sgd']).default('adam'),
  embedding_optimizer: z.enum(['adagrad', 'adam', 'sgd']).default('adagrad'),
  embedding_learning_rate: z.number().positive().default(0.05),
  weight_decay: z.number().min(0).default(0),
  shuffle_buffer: z.number().int().min(0).default(65_536),
  seed: z.number().int().default(0),
  /** Learning-rate schedule over steps, for the dense part and the embeddings alike. */
  lr_schedule: z.enum(['constant', 'exponential', 'cosine']).default('constant'),
  /** exponential: the factor applied to the learning rate per epoch. */
  lr_decay: z.number().positive().max(1).default(0.5),
  /** Stop after this many epochs without a better validation AUC and keep the best epoch; 0: off. */
  early_stopping_patience: z.number().int().min(0).default(2),
  /** sampled_softmax: the K of Recall@K and NDCG@K; the first one drives early stopping. */
  retrieval_k: z.array(positiveInt).min(1).default([10, 100]),
  /** Clip the dense part's gradients (weights, gate logits) to this global L2 norm; none by default. */
  clip_norm: z.number().positive().optional(),
  /** Save a checkpoint every this many batches (and after every epoch); a killed run resumes from it. */
  checkpoint_every: positiveInt.default(500),
});

/** Budgets given as a share of the full model's cost (`25%`) are kept as written, resolved once the full cost is known. */
const isPercent = (value: number | string): boolean => parsePercent(value) !== undefined;

const memoryBudget = z.union([z.number(), z.string()]).transform((value, ctx) => {
  if (isPercent(value)) return value;
  const bytes = parseByteSize(value);
  if (bytes === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `'${value}' is not a size; write bytes, e.g. 4MB, 512KiB, or a share of the full model's, e.g. 25%`,
    });
    return z.NEVER;
  }
  return bytes;
});

const latencyBudget = z.union([z.number(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number' && value > 0 && Number.isFinite(value)) return value;
  if (isPercent(value)) return value;
  ctx.addIssue({
    code: 'custom',
    message: `'${value}' is not a latency; write positive microseconds, e.g. 20, or a share of the full model's, e.g. 50%`,
  });
  return z.NEVER;
});

/** The selection methods: Sequential Attention and the baselines. */
export const SELECTION_METHODS = [
  'sequential_attention',
  'all',
  'random',
  'cardinality',
  'permutation',
  'one_shot_attention',
  'group_lasso',
  'greedy',
] as const;

const selectionSchema = z.strictObject({
  method: z.enum(SELECTION_METHODS).default('sequential_attention'),
  unit: z.enum(['group', 'block']).default('group'),
  block_size: positiveInt.default(4),
  dtype: z.enum(['fp32', 'fp16', 'int8']).default('fp32'),
  budgets: z
    .strictObject({
      /** Embedding memory: bytes, a size like 4MB, or a share of the full model's like 25%. */
      memory: memoryBudget.optional(),
      /** Predicted inference time per example: microseconds, or a share of the full model's like 50%. */
      latency_us: latencyBudget.optional(),
    })
    .prefault({}),
  pick: z.enum(['weight', 'weight_per_cost']).default('weight'),
  warmup_fraction: fraction.default(0.1),
  select_per_round: positiveInt.default(1),
  max_candidates: positiveInt.optional(),
  /** classifier: select exactly k candidates (fewer when the budgets stop first). */
  k: positiveInt.optional(),
  /**
   * Learning rate of the gate logits during selection. Adam moves a logit by about this
   * much per batch, so a round of min_steps_per_round batches can separate the weights.
   */
  gate_learning_rate: z.number().positive().default(0.05),
  /**
   * sequential_attention: the batches the gate logits learn from during rounds: 'train' (the
   * model's own batches) or 'valid' (a valid batch after each train batch; the model's
   * weights then learn from train batches alone).
   */
  gate_data: z.enum(['train', 'valid']).default('train'),
  /** Multiply the unselected gates by their number (they sum to |U|, not 1). */
  mask_scale: z.boolean().default(false),
  /**
   * sequential_attention: stop when what is left is worth no more than noise. 'decoys'
   * trains a decoy beside every candidate (its group's values given to other users or
   * items; never picked or exported) and ends selection at the first round where no
   * affordable candidate weighs more than the value floor, the weight that the best of that
   * many worthless candidates would rarely exceed, estimated from the decoys' weights; it
   * never picks an exact copy (other ids, same values) of a kept group.
   * 'budget': stop only when nothing fits (or at max_candidates).
   */
  stop: z.enum(['decoys', 'budget']).default('budget'),
  /**
   * sequential_attention: what a candidate the budgets can no longer hold does in the
   * rounds after: 'exclude' (gate 0, out of the softmax the others share) or 'attend'
   * (it keeps its share of the softmax, and is never picked).
   */
  unaffordable: z.enum(['exclude', 'attend']).default('attend'),
  /** Epochs of the selection training run (warm-up and rounds); default: train.epochs. */
  epochs: positiveInt.optional(),
  /** Each round trains at least this many batches, even if the selection run then exceeds its epochs. */
  min_steps_per_round: positiveInt.default(25),
  /** Seed of the random baseline and of the selection run's initialisation. */
  seed: z.number().int().min(0).default(0),
  /** Latency cost model: coefficients measured on the serving target, or a file from `lemopt calibrate`; default: calibrate here. */
  latency: z
    .strictObject({
      file: z.string().min(1).optional(),
      coefficients: z
        .strictObject({
          constant_us: z.number().min(0),
          per_lookup_us: z.number().min(0),
          per_dim_us: z.number().min(0),
          per_mflop_us: z.number().min(0),
        })
        .optional(),
    })
    .optional(),
  /**
   * group_lasso: the strength of the penalty Σ ||W_c|| on each candidate's first-layer
   * kernel rows, as the L2 norm its proximal steps take from a candidate over the whole
   * run (λ x learning rate x batches), so the default holds for short and long runs alike.
   */
  group_lasso_shrink: z.number().positive().default(2),
  /** greedy: refuse more candidates than this (it retrains once per candidate per pick) unless `force_greedy`. */
  greedy_max_candidates: positiveInt.default(12),
  force_greedy: z.boolean().default(false),
});

const outputSchema = z.strictObject({
  /** Run folder; relative paths start at the config file's folder. Default: runs/<config name>. */
  dir: z.string().min(1).optional(),
});

/**
 * A grid of budgets, methods and seeds for `lemopt sweep`. Values stay as written (`25%`,
 * `4MB`, 20): they name the trials, and each trial's config takes them as its budgets.
 */
const budgetList = (budget: z.ZodType, empty: string) =>
  z
    .array(z.union([z.number(), z.string()]))
    .min(1, empty)
    .superRefine((values, ctx) => {
      const seen = new Set<string>();
      values.forEach((value, index) => {
        const parsed = budget.safeParse(value);
        if (!parsed.success)
          ctx.addIssue({ code: 'custom', path: [index], message: parsed.error.issues[0].message });
        const label = String(value).trim();
        if (seen.has(label)) ctx.addIssue({ code: 'custom', path: [index], message: `'${label}' twice` });
        seen.add(label);
      });
    });

const sweepSchema = z.strictObject({
  /** Memory budgets, as selection.budgets.memory takes them. */
  memory: budgetList(memoryBudget, 'list at least one memory budget'),
  /** Latency budgets, as selection.budgets.latency_us takes them; default: the selection's own. */
  latency_us: budgetList(latencyBudget, 'list at least one latency budget, or leave the key out').optional(),
  methods: z
    .array(
      z.enum(SELECTION_METHODS, {
        error: (issue) =>
          `unknown selection method ${JSON.stringify(issue.input)}; methods are: ${SELECTION_METHODS.join(', ')}`,
      }),
    )
    .min(1, 'list at least one selection method')
    .superRefine((methods, ctx) => {
      methods.forEach((method, index) => {
        if (methods.indexOf(method) !== index)
          ctx.addIssue({ code: 'custom', path: [index], message: `'${method}' twice` });
      });
    }),
  /** Each trial sets selection.seed and train.seed to its seed. */
  seeds: z
    .array(z.number().int().min(0))
    .min(1, 'list at least one seed')
    .superRefine((seeds, ctx) => {
      seeds.forEach((seed, index) => {
        if (seeds.indexOf(seed) !== index)
          ctx.addIssue({ code: 'custom', path: [index], message: `seed ${seed} twice` });
      });
    }),
});

export const runConfigSchema = z
  .strictObject({
    data: dataSchema,
    features: z.array(featureSchema).min(1),
    groups: z.array(groupSchema).default([]),
    model: modelSchema.prefault({}),
    train: trainSchema.prefault({}),
    selection: selectionSchema.prefault({}),
    output: outputSchema.prefault({}),
    /** `lemopt sweep`: every combination of these is one trial (`lemopt run` ignores it). */
    sweep: sweepSchema.optional(),
  })
  .superRefine((config, ctx) => {
    checkClassifier(config, ctx);
    const towers = new Map<string, string>();
    config.features.forEach((feature, index) => {
      for (const name of Array.isArray(feature.name) ? feature.name : [feature.name]) {
        if (towers.has(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['features', index, 'name'],
            message: `feature '${name}' twice`,
          });
        }
        towers.set(name, feature.tower);
      }
    });
    const grouped = new Set<string>();
    config.groups.forEach((group, index) => {
      const groupTowers = new Set<string>();
      group.features.forEach((name, position) => {
        const path = ['groups', index, 'features', position];
        const tower = towers.get(name);
        if (tower === undefined) {
          const known = [...towers.keys()].join(', ');
          ctx.addIssue({ code: 'custom', path, message: `no feature '${name}'; features are: ${known}` });
        } else groupTowers.add(tower);
        if (grouped.has(name))
          ctx.addIssue({ code: 'custom', path, message: `feature '${name}' is in two groups` });
        grouped.add(name);
      });
      const { embedding_dim: maxDim } = config.model;
      const { block_size: blockSize } = config.selection;
      if (group.dim !== undefined && (group.dim > maxDim || group.dim % blockSize !== 0)) {
        ctx.addIssue({
          code: 'custom',
          path: ['groups', index, 'dim'],
          message: `dim ${group.dim} must be a multiple of selection.block_size (${blockSize}) up to model.embedding_dim (${maxDim})`,
        });
      }
      if (groupTowers.size > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['groups', index, 'features'],
          message: `group '${group.name}' mixes user and item features`,
        });
      }
    });
  });

/** What model.kind classifier needs: numeric features, no groups, a class column, no time split. */
function checkClassifier(
  config: {
    model: { kind?: string };
    selection: { k?: number };
    features: readonly { type: string }[];
    groups: readonly unknown[];
    data: { label: { implicit: boolean }; split: { method: string } };
  },
  ctx: z.RefinementCtx,
): void {
  if (config.model.kind !== 'classifier') {
    if (config.selection.k !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['selection', 'k'],
        message: 'k is for model.kind: classifier; the two-tower selection stops at selection.max_candidates',
      });
    return;
  }
  config.features.forEach((feature, index) => {
    if (feature.type !== 'numeric')
      ctx.addIssue({
        code: 'custom',
        path: ['features', index, 'type'],
        message: 'a classifier takes numeric columns only: write type: numeric',
      });
  });
  if (config.groups.length > 0)
    ctx.addIssue({
      code: 'custom',
      path: ['groups'],
      message: 'a classifier has one candidate per column: no groups',
    });
  if (config.data.label.implicit)
    ctx.addIssue({
      code: 'custom',
      path: ['data', 'label', 'implicit'],
      message: 'a classifier needs a class column',
    });
  if (config.data.split.method === 'time')
    ctx.addIssue({
      code: 'custom',
      path: ['data', 'split', 'method'],
      message: 'a classifier splits by random or hash, not time',
    });
}

export type RunConfigInput = z.input<typeof runConfigSchema>;
export type RunConfig = z.output<typeof runConfigSchema>;
export type DataConfig = RunConfig['data'];
export type LabelConfig = DataConfig['label'];
export type SplitConfig = DataConfig['split'];
export type CsvConfig = DataConfig['csv'];
export type FeatureConfig = RunConfig['features'][number];
export type GroupConfig = RunConfig['groups'][number];
export type ModelConfig = RunConfig['model'];
export type TrainConfig = RunConfig['train'];
export type SelectionConfig = RunConfig['selection'];
export type SweepConfig = NonNullable<RunConfig['sweep']>;
