/**
 * The feature-set manifest: what `lemopt run` hands to training and serving. Versioned;
 * its JSON Schema is schemas/manifest.schema.json (keep the two in step and raise
 * MANIFEST_VERSION on any incompatible change).
 */
import { readFile } from 'node:fs/promises';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { z } from 'zod';
import manifestSchema from '../../schemas/manifest.schema.json' with { type: 'json' };
import { runConfigSchema, type FeatureConfig, type RunConfig } from '../config/schema.js';
import { resolveFeatureLayout, type FeatureGroup } from '../data/features.js';
import type { EvalMetrics } from '../model/metrics.js';
import type { LatencyCoefficients } from '../selection/latency.js';
import { writeFileAtomic } from '../util/atomic.js';
import { errorMessage, LemoptError } from '../util/errors.js';

export const MANIFEST_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';

export interface ManifestCost {
  readonly memory_bytes: number;
  /** Null without a latency model (predicted) or measurement (measured). */
  readonly latency_us: number | null;
}

/** What names a group, kept or dropped. */
export interface GroupIdentity {
  readonly group: string;
  readonly tower: 'user' | 'item';
  /** Source columns of the group's features, in order. */
  readonly columns: readonly string[];
  /** Feature names (a feature may read a column under another name). */
  readonly features: readonly string[];
  /** Embedding rows of the group (Σ over its features: missing, OOV and vocabulary ids). */
  readonly vocabulary_size: number;
}

export interface KeptGroup extends GroupIdentity {
  /** Kept embedding dims (a multiple of block_size). */
  readonly dim: number;
  readonly dtype: 'fp32' | 'fp16' | 'int8';
  readonly memory_bytes: number;
  /** Embedding lookups per example (one per feature). */
  readonly lookups: number;
}

export interface DroppedGroup extends GroupIdentity {
  /** What it would cost at its full dim. */
  readonly full_dim: number;
  readonly full_memory_bytes: number;
  /** The kept group it is an exact copy of (the same values under other ids): the value stop never picks it. */
  readonly copy_of?: string;
}

export interface SelectionStep {
  /** 1, 2, ... in pick order. */
  readonly step: number;
  /** Round of the selection it was picked in (0 for methods without rounds). */
  readonly round: number;
  readonly candidate: string;
  readonly group: string;
  /** Block index for unit 'block'; null for unit 'group'. */
  readonly block: number | null;
  /** The score it was picked on: attention weight, importance, ... */
  readonly weight: number;
  readonly marginal: ManifestCost;
  readonly cumulative: ManifestCost;
}

/** A value per budget; null where there is no such budget (or no latency model). */
export interface BudgetValues {
  readonly memory_bytes: number | null;
  readonly latency_us: number | null;
}

/** Why the selection ended and what it left of the budgets. */
export interface SelectionStop {
  /**
   * budget_full: no unselected candidate fits what is left of the budgets; all_selected:
   * every candidate is kept; max_candidates: selection.max_candidates picks were made;
   * value: no affordable candidate weighed more than the value floor set by the decoys (selection.stop: decoys).
   */
  readonly reason: 'budget_full' | 'all_selected' | 'max_candidates' | 'value';
  /** Each budget minus the selected model's predicted cost. */
  readonly unused_budget: BudgetValues;
}

/** A stop reason in words. */
export const STOP_REASONS: Readonly<Record<SelectionStop['reason'], string>> = {
  budget_full: 'nothing left fits the budgets',
  all_selected: 'every candidate is kept',
  max_candidates: 'selection.max_candidates reached',
  value: 'what is left weighs no more than a decoy (worth no more than noise)',
};

/** A form of a group that would have fit where its candidate did not. */
export interface ManifestFittingForm extends ManifestCost {
  readonly dim: number;
  readonly dtype: 'fp32' | 'fp16' | 'int8';
}

/** A candidate scored above a pick that the budgets could not hold when the pick was made. */
export interface DidNotFitEntry {
  readonly candidate: string;
  readonly group: string;
  readonly block: number | null;
  readonly tower: 'user' | 'item';
  /** Its largest score (attention weight, importance, ...) among the rounds it was passed over in. */
  readonly weight: number;
  /** The round of that score (0 for methods without rounds), and every round it was passed over in. */
  readonly round: number;
  readonly rounds: readonly number[];
  /** What it would have added to the selection in that round. */
  readonly cost: ManifestCost;
  /** What was left of each budget in that round. */
  readonly budget_left: BudgetValues;
  /** The budget it would have exceeded; other_tower: it fitted but left no room for a tower without a candidate. */
  readonly blocked_by: 'memory' | 'latency' | 'memory_and_latency' | 'other_tower';
  /** The group at the most dims that would have fit, fewer than the candidate's (unit group); cost is what it adds. */
  readonly fits_with_fewer_dims: ManifestFittingForm | null;
  /** The group stored as int8 at the most dims that would have fit; null when none would, or the run is int8. */
  readonly fits_as_int8: ManifestFittingForm | null;
}

export interface SplitMetrics {
  readonly valid: EvalMetrics;
  readonly test: EvalMetrics;
}

export interface Manifest {
  readonly manifest_version: typeof MANIFEST_VERSION;
  readonly lemopt_version: string;
  /** ISO 8601. */
  readonly created: string;
  readonly method: RunConfig['selection']['method'];
  readonly unit: 'group' | 'block';
  readonly block_size: number;
  readonly dtype: 'fp32' | 'fp16' | 'int8';
  readonly data: {
    readonly source: string;
    /** Hash of the data files (size, time, content sample): what the vocabularies were built on. */
    readonly fingerprint: string;
    readonly rows: number;
  };
  /** Hash of the resolved config's data, features, groups, model, train and selection. */
  readonly config_hash: string;
  /** Absolute budgets as applied (percentages resolved); null: no budget. */
  readonly budgets: BudgetValues;
  readonly kept: readonly KeptGroup[];
  readonly dropped: readonly DroppedGroup[];
  readonly selection_order: readonly SelectionStep[];
  /** Why the selection ended (absent in manifests of lemopt before it was recorded). */
  readonly stopped?: SelectionStop;
  /** Candidates scored above a pick that did not fit, largest score first (absent likewise). */
  readonly did_not_fit?: readonly DidNotFitEntry[];
  readonly cost: {
    readonly full: { readonly predicted: ManifestCost; readonly measured: ManifestCost };
    readonly selected: { readonly predicted: ManifestCost; readonly measured: ManifestCost };
  };
  readonly latency_model: {
    /** 'calibrated' on this machine by the run, 'file' from `lemopt calibrate`, or 'config' coefficients. */
    readonly source: 'calibrated' | 'file' | 'config';
    readonly backend: string;
    readonly coefficients: LatencyCoefficients;
  } | null;
  readonly metrics: { readonly full: SplitMetrics; readonly selected: SplitMetrics };
  /** The resolved run config (absolute paths): `lemopt apply` derives the reduced config from it. */
  readonly config: RunConfig;
}

/** One problem found in a manifest: where (a JSON Pointer) and what. */
interface Problem {
  readonly at: string;
  readonly message: string;
}

type PathKey = string | number;

/** A JSON Pointer (RFC 6901) from keys. */
function pointer(keys: readonly PathKey[]): string {
  return keys.map((key) => `/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

function fail(file: string, problems: readonly Problem[]): never {
  throw new LemoptError(
    problems.map((problem) => `${file}: ${problem.at || '/'}: ${problem.message}`).join('\n'),
  );
}

// ---------------------------------------------------------------------------------------
// JSON Schema

let compiled: ValidateFunction<Manifest> | undefined;

function schemaValidator(): ValidateFunction<Manifest> {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true, verbose: true });
    addFormats.default(ajv, ['date-time']);
    compiled = ajv.compile<Manifest>(manifestSchema);
  }
  return compiled;
}

/** A value as a message shows it: strings quoted, containers by kind. */
function show(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function describeSchemaError(error: ErrorObject): Problem {
  const at = error.instancePath;
  const { params, propertyName } = error;
  if (propertyName !== undefined) {
    return { at: `${at}${pointer([propertyName])}`, message: `key ${error.message ?? error.keyword}` };
  }
  switch (error.keyword) {
    case 'required':
      return { at: `${at}${pointer([String(params.missingProperty)])}`, message: 'required, but missing' };
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      return { at: `${at}${pointer([key])}`, message: `unknown key '${key}'` };
    }
    case 'type':
      return { at, message: `must be ${String(params.type).replace(',', ' or ')}, got ${show(error.data)}` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String).join(', ');
      return { at, message: `must be one of ${allowed}, got ${show(error.data)}` };
    }
    case 'const':
      return { at, message: `must be ${show(params.allowedValue)}, got ${show(error.data)}` };
    default:
      return { at, message: `${error.message ?? error.keyword}, got ${show(error.data)}` };
  }
}

/** Keywords whose errors only sum up the errors of their subschemas, which are reported. */
const SUMMARY_KEYWORDS = new Set(['if', 'propertyNames']);

/** Problems against schemas/manifest.schema.json. */
function schemaProblems(errors: readonly ErrorObject[] | null | undefined): Problem[] {
  return (errors ?? []).filter((error) => !SUMMARY_KEYWORDS.has(error.keyword)).map(describeSchemaError);
}

// ---------------------------------------------------------------------------------------
// The embedded config

function configProblems(issues: readonly z.core.$ZodIssue[], base: readonly PathKey[]): Problem[] {
  return issues.flatMap((issue) => {
    const keys = [...base, ...issue.path.filter((key): key is PathKey => typeof key !== 'symbol')];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ at: pointer([...keys, key]), message: `unknown key '${key}'` }));
    }
    return [{ at: pointer(keys), message: issue.message }];
  });
}

// ---------------------------------------------------------------------------------------
// Consistency

/** Budgets are met up to float rounding of summed costs (as in src/selection/budgets.ts). */
const SLACK = 1e-9;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

/** Kept and dropped groups: disjoint, together the config's groups, with the config's features; a dropped group's copy_of is kept. */
function membershipProblems(manifest: Manifest, groups: readonly FeatureGroup[]): Problem[] {
  const problems: Problem[] = [];
  const byName = new Map(groups.map((group) => [group.name, group]));
  const seen = new Map<string, string>();
  const entries = [
    ...manifest.kept.map((group, i) => ({ group, at: `/kept/${i}`, list: 'kept' })),
    ...manifest.dropped.map((group, i) => ({ group, at: `/dropped/${i}`, list: 'dropped' })),
  ];
  for (const { group, at, list } of entries) {
    const name = group.group;
    const earlier = seen.get(name);
    const configured = byName.get(name);
    if (earlier !== undefined) {
      const where = earlier.startsWith('/kept') ? 'kept' : 'dropped';
      const message =
        where === list
          ? `group '${name}' is ${list} twice (also ${earlier})`
          : `group '${name}' is both kept (${earlier}) and dropped`;
      problems.push({ at: `${at}/group`, message });
    } else if (configured === undefined) {
      const known = groups.map((g) => g.name).join(', ');
      problems.push({ at: `${at}/group`, message: `no group '${name}' in the config; groups are: ${known}` });
    } else if (!sameList(group.features, configured.features)) {
      problems.push({
        at: `${at}/features`,
        message: `must be the config group's features [${configured.features.join(', ')}], got [${group.features.join(', ')}]`,
      });
    }
    if (earlier === undefined) seen.set(name, at);
  }
  for (const group of groups) {
    if (!seen.has(group.name))
      problems.push({ at: '/dropped', message: `config group '${group.name}' is neither kept nor dropped` });
  }
  const kept = new Set(manifest.kept.map((group) => group.group));
  manifest.dropped.forEach(({ copy_of: original }, i) => {
    if (original !== undefined && !kept.has(original))
      problems.push({ at: `/dropped/${i}/copy_of`, message: `must name a kept group, got '${original}'` });
  });
  return problems;
}

function dimProblems(manifest: Manifest, config: RunConfig): Problem[] {
  const { block_size: blockSize } = manifest;
  const maxDim = config.model.embedding_dim;
  const problems: Problem[] = [];
  if (blockSize !== config.selection.block_size) {
    problems.push({
      at: '/block_size',
      message: `must equal the config's selection.block_size ${config.selection.block_size}, got ${blockSize}`,
    });
  }
  manifest.kept.forEach(({ dim }, i) => {
    if (dim % blockSize !== 0)
      problems.push({
        at: `/kept/${i}/dim`,
        message: `must be a multiple of block_size ${blockSize}, got ${dim}`,
      });
    if (dim > maxDim)
      problems.push({
        at: `/kept/${i}/dim`,
        message: `must be at most model.embedding_dim ${maxDim}, got ${dim}`,
      });
  });
  return problems;
}

function orderProblems(manifest: Manifest): Problem[] {
  const problems: Problem[] = [];
  manifest.selection_order.forEach((step, i) => {
    if (i === 0) return;
    const previous = manifest.selection_order[i - 1].cumulative;
    const at = `/selection_order/${i}/cumulative`;
    if (step.cumulative.memory_bytes < previous.memory_bytes) {
      problems.push({
        at: `${at}/memory_bytes`,
        message: `must not be below the previous step's ${previous.memory_bytes}, got ${step.cumulative.memory_bytes}`,
      });
    }
    const latency = step.cumulative.latency_us;
    if (latency !== null && previous.latency_us !== null && latency < previous.latency_us) {
      problems.push({
        at: `${at}/latency_us`,
        message: `must not be below the previous step's ${previous.latency_us}, got ${latency}`,
      });
    }
  });
  return problems;
}

function budgetProblems(manifest: Manifest): Problem[] {
  const { memory_bytes: memoryBudget, latency_us: latencyBudget } = manifest.budgets;
  const { memory_bytes: memory, latency_us: latency } = manifest.cost.selected.predicted;
  const at = '/cost/selected/predicted';
  const problems: Problem[] = [];
  if (memoryBudget !== null && memory > memoryBudget * (1 + SLACK)) {
    problems.push({
      at: `${at}/memory_bytes`,
      message: `${memory} exceeds the memory budget ${memoryBudget}`,
    });
  }
  if (latencyBudget !== null && latency !== null && latency > latencyBudget * (1 + SLACK)) {
    problems.push({
      at: `${at}/latency_us`,
      message: `${latency} exceeds the latency budget ${latencyBudget}`,
    });
  }
  return problems;
}

function consistencyProblems(manifest: Manifest): Problem[] {
  const { groups } = resolveFeatureLayout(manifest.config);
  return [
    ...membershipProblems(manifest, groups),
    ...dimProblems(manifest, manifest.config),
    ...orderProblems(manifest),
    ...budgetProblems(manifest),
  ];
}

// ---------------------------------------------------------------------------------------
// Read, write, validate

/**
 * Checks a manifest against its JSON Schema, its embedded config against the config
 * schema, and the two against each other. Every problem is one line naming the file and
 * a JSON Pointer; the manifest comes back with the config's defaults filled in.
 */
export function validateManifest(value: unknown, file: string): Manifest {
  const validate = schemaValidator();
  const valid = validate(value);
  const problems = valid ? [] : schemaProblems(validate.errors);
  const rawConfig = (value as { config?: unknown } | null)?.config;
  const parsed = runConfigSchema.safeParse(rawConfig);
  if (!parsed.success && typeof rawConfig === 'object' && rawConfig !== null) {
    problems.push(...configProblems(parsed.error.issues, ['config']));
  }
  if (!valid || !parsed.success) fail(file, problems);
  const manifest: Manifest = { ...value, config: parsed.data };
  const inconsistent = consistencyProblems(manifest);
  if (inconsistent.length > 0) fail(file, inconsistent);
  return manifest;
}

export async function readManifest(file: string): Promise<Manifest> {
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw new LemoptError(`${file}: cannot read the manifest (${errorMessage(error)})`);
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LemoptError(`${file}: invalid JSON: ${errorMessage(error)}`);
  }
  return validateManifest(value, file);
}

/** Writes the manifest as indented JSON, atomically. */
export function writeManifest(file: string, manifest: Manifest): Promise<void> {
  return writeFileAtomic(file, `${JSON.stringify(manifest, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------
// The reduced config

/**
 * Feature entries restricted to `kept`, settings unchanged; a compact `name: [...]` entry
 * keeps the names kept (a single one as a plain name: compact entries read their own column).
 */
function keptFeatures(features: readonly FeatureConfig[], kept: ReadonlySet<string>): FeatureConfig[] {
  return features.flatMap((entry): FeatureConfig[] => {
    if (!Array.isArray(entry.name)) return kept.has(entry.name) ? [entry] : [];
    const names = entry.name.filter((name) => kept.has(name));
    if (names.length === 0) return [];
    if (names.length === entry.name.length) return [entry];
    return [{ ...entry, name: names.length === 1 ? names[0] : names }];
  });
}

/** One explicit group per kept group with its dim, in the config's group order. */
function keptGroups(manifest: Manifest): RunConfig['groups'] {
  const order = resolveFeatureLayout(manifest.config).groups.map((group) => group.name);
  return [...manifest.kept]
    .sort((a, b) => order.indexOf(a.group) - order.indexOf(b.group))
    .map((group) => ({ name: group.group, features: [...group.features], dim: group.dim }));
}

function checkItemKey(config: RunConfig, kept: ReadonlySet<string>): void {
  const itemKey = config.model.item_key;
  if (itemKey !== undefined && !kept.has(itemKey)) {
    throw new LemoptError(
      `model.item_key '${itemKey}' is not among the kept features; the reduced config cannot identify items`,
    );
  }
}

/**
 * The training config of the selected feature set: the kept groups' features (with their
 * settings), one explicit group per kept group at its kept dim, selection method `all`
 * without budgets, and output to `outputDir` (default: the original output dir + `-selected`).
 */
export function reducedConfig(manifest: Manifest, outputDir?: string): RunConfig {
  const { config } = manifest;
  const kept = new Set(manifest.kept.flatMap((group) => group.features));
  checkItemKey(config, kept);
  const originalDir = config.output.dir?.replace(/[\\/]+$/, '');
  const reduced = {
    ...config,
    features: keptFeatures(config.features, kept),
    groups: keptGroups(manifest),
    selection: { ...config.selection, method: 'all' as const, budgets: {} },
    output: { ...config.output, dir: outputDir ?? (originalDir ? `${originalDir}-selected` : undefined) },
  };
  const parsed = runConfigSchema.safeParse(reduced);
  if (!parsed.success) fail('reduced config', configProblems(parsed.error.issues, []));
  return parsed.data;
}
