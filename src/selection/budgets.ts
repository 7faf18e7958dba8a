/**
 * Budgets a selection must fit: embedding memory in bytes and predicted latency in
 * microseconds per example, either absolute or as a percentage of the full model's cost.
 */
import type { SelectionConfig } from '../config/schema.js';
import { formatBytes, parsePercent } from '../config/size.js';
import { LemoptError } from '../util/errors.js';
import type { SelectionCost } from './cost-model.js';

export interface Budgets {
  readonly memoryBytes?: number;
  readonly latencyUs?: number;
}

/** Absolute budgets; percentages are of the full model's cost. */
export function resolveBudgets(budgets: SelectionConfig['budgets'], full: SelectionCost): Budgets {
  const resolve = (value: number | string | undefined, fullValue: number | undefined, field: string) => {
    if (value === undefined) return undefined;
    if (fullValue === undefined)
      throw new LemoptError(`selection.budgets.${field}: a latency budget needs a latency model`);
    const fraction = parsePercent(value);
    return fraction === undefined ? Number(value) : fraction * fullValue;
  };
  return {
    memoryBytes: resolve(budgets.memory, full.memoryBytes, 'memory'),
    latencyUs: resolve(budgets.latency_us, full.latencyUs, 'latency_us'),
  };
}

/** Tolerance for float sums of costs that equal a budget exactly. */
const SLACK = 1e-9;

export function withinBudgets(cost: SelectionCost, budgets: Budgets): boolean {
  if (budgets.memoryBytes !== undefined && cost.memoryBytes > budgets.memoryBytes * (1 + SLACK)) return false;
  if (budgets.latencyUs !== undefined && cost.latencyUs !== undefined)
    return cost.latencyUs <= budgets.latencyUs * (1 + SLACK);
  return true;
}

/** Each budget minus a cost; undefined where there is no budget (or the cost has no latency). */
export function budgetsLeft(budgets: Budgets, cost: SelectionCost): Budgets {
  const less = (budget: number | undefined, used: number | undefined) =>
    budget === undefined || used === undefined ? undefined : budget - used;
  return {
    memoryBytes: less(budgets.memoryBytes, cost.memoryBytes),
    latencyUs: less(budgets.latencyUs, cost.latencyUs),
  };
}

/** A cost in words; a negative memory cost (a form that frees memory) with its sign. */
export function describeCost(cost: SelectionCost): string {
  const bytes = Math.round(cost.memoryBytes);
  const memory = bytes < 0 ? `-${formatBytes(-bytes)}` : formatBytes(bytes);
  return cost.latencyUs === undefined ? memory : `${memory}, ${cost.latencyUs.toFixed(2)} µs/example`;
}

export function describeBudgets(budgets: Budgets): string {
  const parts = [
    budgets.memoryBytes !== undefined ? `memory ${formatBytes(Math.round(budgets.memoryBytes))}` : undefined,
    budgets.latencyUs !== undefined ? `latency ${budgets.latencyUs.toFixed(2)} µs/example` : undefined,
  ].filter((part) => part !== undefined);
  return parts.length > 0 ? parts.join(', ') : 'no budget';
}
