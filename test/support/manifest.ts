/**
 * A realistic feature-set manifest for tests, built from a parsed config the way
 * `lemopt run` builds one: vocabularies, costs from the cost model's formulas, a pick
 * order, budgets, metrics and the resolved config (through JSON, as written to disk).
 */
import { parseConfig } from '../../src/config/load.js';
import type { RunConfig } from '../../src/config/schema.js';
import { resolveFeatureLayout, type FeatureGroup } from '../../src/data/features.js';
import { embeddingBytes } from '../../src/embedding/memory.js';
import {
  MANIFEST_VERSION,
  type DroppedGroup,
  type KeptGroup,
  type Manifest,
  type ManifestCost,
  type SelectionStep,
} from '../../src/experiment/manifest.js';
import type { BinaryMetrics } from '../../src/model/metrics.js';
import type { LatencyCoefficients } from '../../src/selection/latency.js';

export interface ManifestOptions {
  /** Kept groups with their dims, in pick order; default: every group at model.embedding_dim. */
  readonly kept?: Readonly<Record<string, number>>;
  /** Absolute budgets; default: 25% above the selected model's predicted cost. */
  readonly budgets?: Manifest['budgets'];
}

export const TEST_COEFFICIENTS: LatencyCoefficients = {
  constant_us: 20,
  per_lookup_us: 0.5,
  per_dim_us: 0.05,
  per_mflop_us: 2,
};

/** A config from YAML text, as `lemopt` loads it (paths absolute against `file`). */
export function manifestConfig(yaml: string, file = '/tmp/lemopt-test/config.yaml'): RunConfig {
  return parseConfig(yaml, file).config;
}

/** Embedding rows of a feature: missing and OOV ids (or hash buckets) plus a vocabulary. */
function featureRows(config: RunConfig, name: string, position: number): number {
  const feature = resolveFeatureLayout(config).features.find((f) => f.name === name);
  const special = 1 + Math.max(1, feature?.hash_buckets ?? 0);
  return special + (feature?.type === 'numeric' ? feature.buckets : 100 * (position + 1));
}

interface Sized {
  readonly group: FeatureGroup;
  readonly columns: string[];
  readonly vocabulary: number;
}

function sizeGroups(config: RunConfig): Sized[] {
  const { features, groups } = resolveFeatureLayout(config);
  const order = features.map((feature) => feature.name);
  return groups.map((group) => ({
    group,
    columns: group.features.map((name) => features.find((f) => f.name === name)!.column),
    vocabulary: group.features.reduce((sum, name) => sum + featureRows(config, name, order.indexOf(name)), 0),
  }));
}

function latency(lookups: number, dims: number): number {
  return (
    TEST_COEFFICIENTS.constant_us +
    TEST_COEFFICIENTS.per_lookup_us * lookups +
    TEST_COEFFICIENTS.per_dim_us * dims
  );
}

function costOf(groups: readonly { lookups: number; dim: number; memory_bytes: number }[]): ManifestCost {
  const lookups = groups.reduce((sum, g) => sum + g.lookups, 0);
  const dims = groups.reduce((sum, g) => sum + g.lookups * g.dim, 0);
  const memory = groups.reduce((sum, g) => sum + g.memory_bytes, 0);
  return { memory_bytes: memory, latency_us: latency(lookups, dims) };
}

function binary(auc: number): BinaryMetrics {
  return { kind: 'binary', auc, logloss: 0.52, accuracy: 0.74, examples: 20_000, positiveRate: 0.31 };
}

function pickOrder(kept: readonly KeptGroup[]): SelectionStep[] {
  const steps: SelectionStep[] = [];
  kept.forEach((group, i) => {
    const cumulative = costOf(kept.slice(0, i + 1));
    const previous =
      i === 0 ? { memory_bytes: 0, latency_us: TEST_COEFFICIENTS.constant_us } : steps[i - 1].cumulative;
    steps.push({
      step: i + 1,
      round: i + 1,
      candidate: group.group,
      group: group.group,
      block: null,
      weight: 0.5 / (i + 1),
      marginal: {
        memory_bytes: cumulative.memory_bytes - previous.memory_bytes,
        latency_us: cumulative.latency_us! - previous.latency_us!,
      },
      cumulative,
    });
  });
  return steps;
}

/** A valid manifest of a run of `config` that kept `options.kept`. */
export function makeManifest(config: RunConfig, options: ManifestOptions = {}): Manifest {
  const sized = sizeGroups(config);
  const { embedding_dim: fullDim } = config.model;
  const { dtype, block_size: blockSize } = config.selection;
  const keptDims = options.kept ?? Object.fromEntries(sized.map(({ group }) => [group.name, fullDim]));
  const keptGroup = (name: string): KeptGroup => {
    const { group, columns, vocabulary } = sized.find((s) => s.group.name === name)!;
    const dim = keptDims[name];
    const memory = embeddingBytes(vocabulary, dim, dtype);
    const features = [...group.features];
    return {
      group: name,
      tower: group.tower,
      columns,
      features,
      vocabulary_size: vocabulary,
      dim,
      dtype,
      memory_bytes: memory,
      lookups: features.length,
    };
  };
  const picked = Object.keys(keptDims).map(keptGroup);
  const kept = sized.flatMap(({ group }) => picked.filter((k) => k.group === group.name));
  const dropped: DroppedGroup[] = sized
    .filter(({ group }) => !(group.name in keptDims))
    .map(({ group, columns, vocabulary }) => ({
      group: group.name,
      tower: group.tower,
      columns,
      features: [...group.features],
      vocabulary_size: vocabulary,
      full_dim: fullDim,
      full_memory_bytes: embeddingBytes(vocabulary, fullDim, dtype),
    }));
  const order = pickOrder(picked);
  const selected =
    order.length > 0 ? order[order.length - 1].cumulative : { memory_bytes: 0, latency_us: 20 };
  const full = costOf(
    sized.map(({ group, vocabulary }) => ({
      lookups: group.features.length,
      dim: fullDim,
      memory_bytes: embeddingBytes(vocabulary, fullDim, dtype),
    })),
  );
  const measured = (cost: ManifestCost): ManifestCost => ({ ...cost, latency_us: cost.latency_us! * 1.1 });
  const manifest: Manifest = {
    manifest_version: MANIFEST_VERSION,
    lemopt_version: '0.1.0',
    created: '2025-06-01T12:00:00.000Z',
    method: config.selection.method,
    unit: config.selection.unit,
    block_size: blockSize,
    dtype,
    data: { source: config.data.source, fingerprint: 'sha256:0f1e2d3c4b5a6978', rows: 200_000 },
    config_hash: 'sha256:8a7b6c5d4e3f2a1b',
    budgets: options.budgets ?? {
      memory_bytes: Math.ceil(selected.memory_bytes * 1.25),
      latency_us: selected.latency_us! * 1.25,
    },
    kept,
    dropped,
    selection_order: order,
    cost: {
      full: { predicted: full, measured: measured(full) },
      selected: { predicted: selected, measured: measured(selected) },
    },
    latency_model: { source: 'calibrated', backend: 'wasm', coefficients: TEST_COEFFICIENTS },
    metrics: {
      full: { valid: binary(0.781), test: binary(0.779) },
      selected: { valid: binary(0.776), test: binary(0.774) },
    },
    config,
  };
  return JSON.parse(JSON.stringify(manifest)) as Manifest;
}
