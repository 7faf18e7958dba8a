import { LABEL_RULE_PATTERN } from '../config/label-rule.js';
import type { LabelConfig } from '../config/schema.js';
import { LemoptError } from '../util/errors.js';
import type { Cell } from './types.js';

/**
 * Turns one label cell into 0 or 1. `row` is the 1-based row number in the dataset,
 * used only for the error message; bad labels are never silently dropped or coerced.
 */
export type LabelRule = (value: Cell, row: number) => number;

type Comparison = '>=' | '<=' | '==' | '!=' | '>' | '<';

export function compileLabelRule(label: LabelConfig, location: string): LabelRule {
  if (label.implicit) return () => 1;
  const column = label.column!;
  const match = LABEL_RULE_PATTERN.exec(label.rule)!;
  const fail = (value: Cell, row: number, need: string): never => {
    throw new LemoptError(`${location}: row ${row}: label column '${column}' is ${show(value)}; ${need}`);
  };
  if (match[1] === 'binary') {
    return (value, row) => {
      if (value === 1 || value === 0) return value;
      if (value === true || value === '1' || value === 1n || value === 'true') return 1;
      if (value === false || value === '0' || value === 0n || value === 'false') return 0;
      return fail(value, row, 'rule binary needs 0 or 1');
    };
  }
  const operator = match[2] as Comparison;
  const operandText = match[3];
  const operand = Number(operandText);
  if (Number.isFinite(operand)) {
    const compare = numericComparison(operator, operand);
    return (value, row) => {
      const number =
        typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : Number.NaN;
      if (Number.isNaN(number)) return fail(value, row, `rule '${label.rule}' needs a number`);
      return compare(number) ? 1 : 0;
    };
  }
  if (operator !== '==' && operator !== '!=') {
    throw new LemoptError(`${location}: data.label.rule '${label.rule}': '${operator}' needs a number`);
  }
  const expected = operandText.replace(/^(["'])(.*)\1$/, '$2');
  return (value, row) => {
    if (value === null || value === undefined) return fail(value, row, 'a label is required in every row');
    return (String(value) === expected) === (operator === '==') ? 1 : 0;
  };
}

function numericComparison(operator: Comparison, operand: number): (value: number) => boolean {
  switch (operator) {
    case '>=':
      return (value) => value >= operand;
    case '>':
      return (value) => value > operand;
    case '<=':
      return (value) => value <= operand;
    case '<':
      return (value) => value < operand;
    case '==':
      return (value) => value === operand;
    case '!=':
      return (value) => value !== operand;
  }
}

function show(value: Cell): string {
  if (value === null || value === undefined) return 'missing';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  return `'${String(value)}'`;
}
