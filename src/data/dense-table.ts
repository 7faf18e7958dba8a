/**
 * A small table as a dense matrix, for the classifier mode (model.kind: classifier): the
 * configured numeric columns and the class column of a CSV, Parquet or Arrow source,
 * read whole into memory.
 *
 * - Classes: the distinct values of data.label.column (strings or numbers), numbers first
 *   in ascending order, then strings in code-unit order; a class id is the position.
 * - Split: the configured deterministic split (random: by row position; hash: by key).
 * - Missing values (nulls, data.csv.null_values) are imputed from the train rows only:
 *   a train row takes the mean of its column over the train rows of its class (the
 *   standard protocol for Mice Protein); a valid or test row takes the column's mean over
 *   all train rows, because at prediction time its class is unknown. (LassoNet, Concrete
 *   Autoencoders and Sequential Attention impute every row with the class-wise mean over
 *   all rows, which leaks test labels into the test inputs.) A class with no train value
 *   in a column falls back to the train column mean.
 * - Then min-max scaling fitted on the train rows: (x − min) / (max − min), a constant
 *   column to 0. Valid and test values are not clipped and may fall outside [0, 1].
 */
import type { RunConfig } from '../config/schema.js';
import { LemoptError } from '../util/errors.js';
import { resolveFeatureLayout } from './features.js';
import { openSource } from './sources/open.js';
import { createSplitAssigner, TRAIN } from './split.js';
import type { Cell, Scalar } from './types.js';
import { categoryKey } from './vocabulary.js';

export type ClassValue = string | number;

export interface DenseTable {
  /** What data.source names, for messages. */
  readonly location: string;
  /** Feature names, one per matrix column. */
  readonly columns: readonly string[];
  /** Class values; a class id is the index. */
  readonly classes: readonly ClassValue[];
  readonly rows: number;
  /** Imputed and scaled values, [rows, columns.length] row-major. */
  readonly x: Float32Array;
  /** Class id per row. */
  readonly y: Int32Array;
  /** TRAIN, VALID or TEST per row. */
  readonly split: Uint8Array;
  /** Cells that were missing and imputed. */
  readonly imputed: number;
}

/** Reads the configured numeric columns and class column and prepares them as above. */
export async function loadDenseTable(config: RunConfig): Promise<DenseTable> {
  const { data } = config;
  const labelColumn = data.label.column;
  if (labelColumn === undefined)
    throw new LemoptError('data.label.column: a classifier needs a class column');
  const { delimiter, header, quote, encoding, null_values: nullValues } = data.csv;
  const source = await openSource(data.source, {
    format: data.format,
    csv: { delimiter, header, quote, encoding, nullValues },
  });
  const location = source.location;
  const features = resolveFeatureLayout(config).features;
  const schema = await source.schema();
  const available = new Set(schema.columns.map((column) => column.name));
  const known = schema.columns.map((column) => column.name).join(', ');
  const wanted = [...features.map((feature) => feature.column), labelColumn];
  if (data.split.column !== undefined) wanted.push(data.split.column);
  for (const column of wanted) {
    if (!available.has(column))
      throw new LemoptError(`${location}: no column '${column}'; columns are: ${known}`);
  }
  const assign = createSplitAssigner(data.split, location);
  const d = features.length;
  const values: number[] = [];
  const labels: ClassValue[] = [];
  const splits: number[] = [];
  const limit = data.max_rows ?? Infinity;
  for await (const batch of source.batches({ columns: [...new Set(wanted)] })) {
    const first = labels.length;
    const take = Math.min(batch.numRows, limit - first);
    if (take <= 0) break;
    const out = new Uint8Array(take);
    const key = data.split.column === undefined ? undefined : batch.columns.get(data.split.column);
    assign(key && sliceCells(key, take), first, out);
    const cells = features.map((feature) => batch.columns.get(feature.column)!);
    const classCells = batch.columns.get(labelColumn)!;
    for (let i = 0; i < take; i++) {
      const row = first + i + 1;
      const label = categoryKey(classCells[i] as Scalar);
      if (label === undefined)
        throw new LemoptError(`${location}: row ${row}: class column '${labelColumn}' is missing`);
      labels.push(label);
      splits.push(out[i]);
      for (let j = 0; j < d; j++) values.push(numericCell(cells[j][i], location, row, features[j].column));
    }
  }
  const rows = labels.length;
  if (rows === 0) throw new LemoptError(`${location}: the dataset has no rows`);
  const classes = sortClasses(new Set(labels));
  const ids = new Map(classes.map((value, index) => [value, index]));
  const y = Int32Array.from(labels, (label) => ids.get(label)!);
  const split = Uint8Array.from(splits);
  const columns = features.map((feature) => feature.column);
  const raw = Float64Array.from(values);
  const imputed = imputeClassMeans(raw, y, split, rows, columns, classes.length, location);
  return {
    location,
    columns: features.map((feature) => feature.name),
    classes,
    rows,
    x: minMaxScale(raw, split, rows, d),
    y,
    split,
    imputed,
  };
}

function sliceCells(column: ArrayLike<Cell>, take: number): ArrayLike<Cell> {
  return column.length === take ? column : Array.from({ length: take }, (_, i) => column[i]);
}

/** A cell as a number; NaN for a missing one. */
export function numericCell(cell: Cell, location: string, row: number, column: string): number {
  if (cell === null || cell === undefined) return Number.NaN;
  if (typeof cell === 'number') return cell;
  if (typeof cell === 'bigint') return Number(cell);
  if (typeof cell === 'boolean') return cell ? 1 : 0;
  if (typeof cell === 'string') {
    const text = cell.trim();
    if (text === '') return Number.NaN;
    const value = Number(text);
    if (Number.isFinite(value)) return value;
  }
  const shown = typeof cell === 'string' ? cell : Array.isArray(cell) ? 'a list' : String(cell);
  throw new LemoptError(`${location}: row ${row}, column '${column}': '${shown}' is not a number`);
}

/** Numbers ascending, then strings in code-unit order. */
function sortClasses(values: Set<ClassValue>): ClassValue[] {
  return [...values].sort((a, b) => {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    if (typeof a === 'number') return -1;
    if (typeof b === 'number') return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/**
 * Fills the NaNs of `x` [rows, columns.length] in place: train rows with the train mean of
 * their class (or the train column mean when the class has none), other rows with the
 * train column mean. Returns the number of cells filled.
 */
export function imputeClassMeans(
  x: Float64Array,
  y: ArrayLike<number>,
  split: ArrayLike<number>,
  rows: number,
  columns: readonly string[],
  numClasses: number,
  location: string,
): number {
  const d = columns.length;
  const sums = new Float64Array(numClasses * d);
  const counts = new Float64Array(numClasses * d);
  const anyValue = new Uint8Array(d);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < d; j++) {
      const value = x[i * d + j];
      if (Number.isNaN(value)) continue;
      anyValue[j] = 1;
      if (split[i] !== TRAIN) continue;
      sums[y[i] * d + j] += value;
      counts[y[i] * d + j] += 1;
    }
  }
  const columnMean = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    if (!anyValue[j]) throw new LemoptError(`${location}: column '${columns[j]}' has no value in any row`);
    let sum = 0;
    let count = 0;
    for (let c = 0; c < numClasses; c++) {
      sum += sums[c * d + j];
      count += counts[c * d + j];
    }
    if (count === 0)
      throw new LemoptError(`${location}: column '${columns[j]}' has no value in the train rows`);
    columnMean[j] = sum / count;
  }
  let filled = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < d; j++) {
      if (!Number.isNaN(x[i * d + j])) continue;
      const cell = y[i] * d + j;
      x[i * d + j] = split[i] === TRAIN && counts[cell] > 0 ? sums[cell] / counts[cell] : columnMean[j];
      filled++;
    }
  }
  return filled;
}

/** Min-max scaling of every column, fitted on the train rows (a constant column becomes 0). */
export function minMaxScale(
  x: Float64Array,
  split: ArrayLike<number>,
  rows: number,
  d: number,
): Float32Array {
  const min = new Float64Array(d).fill(Infinity);
  const max = new Float64Array(d).fill(-Infinity);
  for (let i = 0; i < rows; i++) {
    if (split[i] !== TRAIN) continue;
    for (let j = 0; j < d; j++) {
      const value = x[i * d + j];
      if (value < min[j]) min[j] = value;
      if (value > max[j]) max[j] = value;
    }
  }
  const out = new Float32Array(rows * d);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < d; j++) {
      const range = max[j] - min[j];
      out[i * d + j] = range > 0 ? (x[i * d + j] - min[j]) / range : 0;
    }
  }
  return out;
}
