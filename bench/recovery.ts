/**
 * How well a selection recovers the planted signal of a synthetic dataset, scored against
 * its ground_truth.json (bench/selection.ts).
 *
 * What counts:
 * - A signal unit is a column of role `signal`, together with its exact copies (a redundant
 *   set counts once: keeping the source or any copy recovers it). The two members of an
 *   equally informative pair observe different latent dimensions, so each is its own unit.
 * - A kept group is a hit when it is a signal column or a copy whose unit no earlier pick
 *   (in selection order) has recovered yet. Anything else is a miss: noise, or a second
 *   member of a redundant set (a redundant pick).
 * - precision = hits / kept groups; recall = recovered units / signal units;
 *   weighted recall = the units' signal_r2 recovered / the units' signal_r2 in total (the
 *   weakest planted columns explain almost nothing, so this says how much signal is kept).
 * - For each equally informative pair, whether its cheaper and its costlier member is kept.
 */
import type { GroundTruth } from '../src/data/synthetic.js';
import type { TrialRow } from '../src/experiment/sweep-results.js';

export interface Recovery {
  readonly kept: number;
  readonly hits: number;
  readonly noise: number;
  readonly redundant: number;
  readonly units: number;
  readonly recovered: number;
  readonly precision: number;
  readonly recall: number;
  readonly weightedRecall: number;
  /** Equally informative pairs whose cheaper (costlier) member was kept. */
  readonly cheaperKept: number;
  readonly costlierKept: number;
  readonly pairs: number;
}

/** The signal unit of a column: its copy source for a copy, itself for a signal column. */
function unitOf(truth: GroundTruth, column: string): string | undefined {
  const entry = truth.columns[column];
  if (!entry) return undefined;
  if (entry.role === 'signal') return column;
  if (entry.role === 'copy' && entry.copy_of && truth.columns[entry.copy_of]?.role === 'signal')
    return entry.copy_of;
  return undefined;
}

/** Scores kept groups (names of the ground truth's columns, in selection order). */
export function recovery(truth: GroundTruth, keptInOrder: readonly string[]): Recovery {
  const units = truth.roles.signal;
  const strength = (unit: string): number => truth.columns[unit].signal_r2 ?? 0;
  const recovered = new Set<string>();
  let hits = 0;
  let redundant = 0;
  for (const column of keptInOrder) {
    const unit = unitOf(truth, column);
    if (unit === undefined) continue;
    if (recovered.has(unit)) redundant++;
    else {
      recovered.add(unit);
      hits++;
    }
  }
  const total = units.reduce((sum, unit) => sum + strength(unit), 0);
  const kept = new Set(keptInOrder);
  const pairs = truth.equally_informative_pairs;
  return {
    kept: keptInOrder.length,
    hits,
    noise: keptInOrder.length - hits - redundant,
    redundant,
    units: units.length,
    recovered: recovered.size,
    precision: keptInOrder.length === 0 ? 0 : hits / keptInOrder.length,
    recall: units.length === 0 ? 0 : recovered.size / units.length,
    weightedRecall: total === 0 ? 0 : [...recovered].reduce((sum, unit) => sum + strength(unit), 0) / total,
    cheaperKept: pairs.filter((pair) => kept.has(pair.cheaper)).length,
    costlierKept: pairs.filter((pair) => kept.has(pair.costlier)).length,
    pairs: pairs.length,
  };
}

/** Group names of a results row's `kept_groups` (`group:dim;…`, in selection order). */
export function keptGroupNames(keptGroups: string): string[] {
  return keptGroups === '' ? [] : keptGroups.split(';').map((entry) => entry.split(':')[0]);
}

/** Noise groups (pure and numeric noise) and second copies of a redundant set among the kept groups. */
export function plantedCounts(truth: GroundTruth, row: TrialRow): { noise: number; copies: number } {
  const kept = keptGroupNames(row.kept_groups);
  return {
    noise: noiseKept(truth, row).length,
    copies: recovery(truth, kept).redundant,
  };
}

/** The noise groups (pure and numeric noise) among a row's kept groups, in selection order. */
export function noiseKept(truth: GroundTruth, row: TrialRow): string[] {
  const noise = [...truth.roles.noise, ...truth.roles.numeric_noise];
  return keptGroupNames(row.kept_groups).filter((group) => noise.includes(group));
}
