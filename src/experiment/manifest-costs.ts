/**
 * Costs, budgets and what did not fit, between the selection's terms (bytes and µs as
 * optional numbers) and the manifest's (snake_case, null where unknown).
 */
import type { Budgets } from '../selection/budgets.js';
import type { Candidate } from '../selection/candidates.js';
import type { SelectionCost } from '../selection/cost-model.js';
import type { DidNotFit, FittingForm } from '../selection/did-not-fit.js';
import type { BudgetValues, DidNotFitEntry, ManifestCost, ManifestFittingForm } from './manifest.js';

export function manifestCost(cost: SelectionCost): ManifestCost {
  return { memory_bytes: cost.memoryBytes, latency_us: cost.latencyUs ?? null };
}

export function selectionCost(cost: ManifestCost): SelectionCost {
  return { memoryBytes: cost.memory_bytes, latencyUs: cost.latency_us ?? undefined };
}

export function budgetValues(budgets: Budgets): BudgetValues {
  return { memory_bytes: budgets.memoryBytes ?? null, latency_us: budgets.latencyUs ?? null };
}

export function budgetsOf(values: BudgetValues): Budgets {
  return { memoryBytes: values.memory_bytes ?? undefined, latencyUs: values.latency_us ?? undefined };
}

function fittingForm(form: FittingForm | undefined): ManifestFittingForm | null {
  return form ? { dim: form.dim, dtype: form.dtype, ...manifestCost(form.marginal) } : null;
}

export function didNotFitEntry(entry: DidNotFit, candidates: readonly Candidate[]): DidNotFitEntry {
  const { group, block, tower } = candidates[entry.candidate];
  return {
    candidate: entry.name,
    group,
    block,
    tower,
    weight: entry.weight,
    round: entry.round,
    rounds: entry.rounds,
    cost: manifestCost(entry.marginal),
    budget_left: budgetValues(entry.left),
    blocked_by: entry.blockedBy,
    fits_with_fewer_dims: fittingForm(entry.fewerDims),
    fits_as_int8: fittingForm(entry.int8),
  };
}
