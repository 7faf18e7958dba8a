/**
 * Vocabularies: one streaming pass counts each feature's values, then each count table
 * becomes an id map. Id layout of every categorical vocabulary:
 *   0                      missing value (null, empty cell)
 *   1 .. oovSlots          out-of-vocabulary values (one id, or `hash_buckets` hashed ids)
 *   oovSlots+1 ..          kept values, most frequent first (ties by value, so ids are stable)
 * Numeric features: 0 is missing, then one id per bucket between sorted boundaries.
 */
import { LemoptError } from '../util/errors.js';
import { hash32 } from '../util/random.js';
import type { Feature } from './features.js';
import { CategoryCounter, type CountingMemory } from './category-counter.js';
import { ReservoirSample } from './reservoir.js';
import type { Cell, DictionaryColumn, Scalar } from './types.js';

export const MISSING_ID = 0;
const QUANTILE_SAMPLE_SIZE = 100_000;

export type CategoryKey = string | number;

export interface CategoricalVocabulary {
  readonly kind: 'categorical';
  readonly feature: string;
  /** Kept values in id order (the first has id oovSlots + 1). */
  readonly values: readonly CategoryKey[];
  readonly counts: readonly number[];
  readonly oovSlots: number;
  /** Distinct values seen and values that fell out (min_count / max_size). */
  readonly distinctSeen: number;
  readonly droppedValues: number;
}

export interface NumericVocabulary {
  readonly kind: 'numeric';
  readonly feature: string;
  /** Ascending; value v goes to bucket 1 + (number of boundaries <= v). */
  readonly boundaries: readonly number[];
}

export type Vocabulary = CategoricalVocabulary | NumericVocabulary;

/** Number of embedding rows a vocabulary needs. */
export function vocabularySize(vocabulary: Vocabulary): number {
  return vocabulary.kind === 'numeric'
    ? vocabulary.boundaries.length + 2
    : 1 + vocabulary.oovSlots + vocabulary.values.length;
}

/**
 * Canonical key of a categorical cell, or undefined when missing. Integers stored as
 * bigint and as number give the same key; strings stay strings ('7' and 7 differ).
 */
export function categoryKey(value: Scalar): CategoryKey | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isNaN(value) ? undefined : value;
    case 'string':
      return value.length === 0 ? undefined : value;
    case 'bigint':
      return value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER
        ? Number(value)
        : String(value);
    case 'boolean':
      return value ? 1 : 0;
    case 'object':
      return value instanceof Date ? value.getTime() : undefined;
    default:
      return undefined;
  }
}

/** Numeric value of a cell for bucketizing, NaN when missing or not a number. */
export function numericValue(value: Cell): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.getTime();
  return Number.NaN;
}

/** Elements of a multi-valued cell: a list, or a string split on the feature's delimiter. */
export function cellElements(value: Cell, delimiter: string): ArrayLike<Scalar> {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return value.length === 0 ? [] : value.split(delimiter);
  if (typeof value === 'object' && !(value instanceof Date)) return value;
  return [value];
}

/**
 * Counts one feature's values across batches; `finish` applies min_count and max_size.
 * With a CountingMemory the counts spill to disk past its limit (same vocabulary). A
 * categorical with max_size 0 has no vocabulary: nothing is counted, every value hashes.
 */
export class VocabularyBuilder {
  private readonly counts: CategoryCounter | undefined;
  private readonly sample: ReservoirSample | undefined;
  /** Rows per dictionary entry within one batch; all 0 between batches. */
  private rowsPerEntry = new Uint32Array(0);

  constructor(
    readonly feature: Feature,
    memory?: CountingMemory,
  ) {
    this.counts =
      feature.type === 'numeric' || feature.max_size === 0 ? undefined : new CategoryCounter(memory);
    this.sample =
      feature.type === 'numeric' && !feature.boundaries
        ? new ReservoirSample(QUANTILE_SAMPLE_SIZE, 1)
        : undefined;
  }

  /**
   * One batch's column. With its dictionary indices (Parquet dictionary pages) each
   * distinct value is counted once per batch, with its number of rows, and the column's
   * values are never built.
   */
  add(column: ArrayLike<Cell> | (() => ArrayLike<Cell>), dictionary?: DictionaryColumn): void {
    if (dictionary && this.counts && this.feature.type === 'categorical') {
      this.addDictionary(this.counts, dictionary);
    } else if (dictionary && this.sample) {
      const { indices, dictionary: entries } = dictionary;
      for (let i = 0; i < indices.length; i++) {
        const value = indices[i] < 0 ? Number.NaN : numericValue(entries[indices[i]]);
        if (Number.isFinite(value)) this.sample.add(value);
      }
    } else if (this.feature.type === 'numeric' ? this.sample : this.counts) {
      this.addValues(typeof column === 'function' ? column() : column);
    }
  }

  private addDictionary(counts: CategoryCounter, { indices, dictionary }: DictionaryColumn): void {
    let rows = this.rowsPerEntry;
    if (rows.length < dictionary.length) rows = this.rowsPerEntry = new Uint32Array(dictionary.length);
    const touched: number[] = [];
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i];
      if (index < 0) continue;
      if (rows[index]++ === 0) touched.push(index);
    }
    for (const index of touched) {
      const key = categoryKey(dictionary[index] as Scalar);
      if (key !== undefined) counts.add(key, rows[index]);
      rows[index] = 0;
    }
  }

  private addValues(column: ArrayLike<Cell>): void {
    const { type } = this.feature;
    const counts = this.counts;
    if (type === 'numeric') {
      const sample = this.sample;
      if (!sample) return;
      for (let i = 0; i < column.length; i++) {
        const value = numericValue(column[i]);
        if (Number.isFinite(value)) sample.add(value);
      }
    } else if (!counts) {
      return;
    } else if (type === 'multi_categorical') {
      for (let i = 0; i < column.length; i++) {
        const elements = cellElements(column[i], this.feature.delimiter);
        for (let j = 0; j < elements.length; j++) count(counts, categoryKey(elements[j]));
      }
    } else if (isIntegerTypedArray(column)) {
      counts.addIntegers(column);
    } else {
      for (let i = 0; i < column.length; i++) count(counts, categoryKey(column[i] as Scalar));
    }
  }

  finish(location: string): Vocabulary {
    const feature = this.feature;
    if (feature.type === 'numeric') {
      if (feature.boundaries)
        return { kind: 'numeric', feature: feature.name, boundaries: feature.boundaries };
      if (!this.sample || this.sample.count === 0) {
        throw new LemoptError(`${location}: column '${feature.column}' has no numeric value to bucketize`);
      }
      const fractions = Array.from({ length: feature.buckets - 1 }, (_, i) => (i + 1) / feature.buckets);
      const boundaries = [...new Set(this.sample.quantiles(fractions))];
      return { kind: 'numeric', feature: feature.name, boundaries };
    }
    const oovSlots = Math.max(1, feature.hash_buckets);
    if (!this.counts) {
      const none = { values: [], counts: [], distinctSeen: 0, droppedValues: 0 };
      return { kind: 'categorical', feature: feature.name, oovSlots, ...none };
    }
    const kept = new TopValues(feature.min_count, feature.max_size);
    let distinct = 0;
    for (const part of this.counts.parts()) {
      distinct += part.length;
      kept.add(part);
    }
    this.counts.close();
    if (distinct === 0) {
      throw new LemoptError(`${location}: column '${feature.column}' has only missing values`);
    }
    const entries = kept.sorted();
    return {
      kind: 'categorical',
      feature: feature.name,
      values: entries.map((entry) => entry[0]),
      counts: entries.map((entry) => entry[1]),
      oovSlots,
      distinctSeen: distinct,
      droppedValues: distinct - entries.length,
    };
  }
}

function count(counts: CategoryCounter, key: CategoryKey | undefined): void {
  if (key !== undefined) counts.add(key);
}

/**
 * The values a vocabulary keeps, from counts that arrive in parts: those seen min_count
 * times or more, most frequent first (ties by value), at most max_size of them. Holds at
 * most twice max_size between parts, and once it has cut to max_size drops at once what
 * ranks below the last value kept then. The order is total (keys are distinct), so the
 * result does not depend on how the counts were parted.
 */
class TopValues {
  private entries: [CategoryKey, number][] = [];
  /** The max_size-th entry at the last cut: nothing ranked below it can be kept. */
  private cut: [CategoryKey, number] | undefined;

  constructor(
    private readonly minCount: number,
    private readonly maxSize: number | undefined,
  ) {}

  add(part: readonly [CategoryKey, number][]): void {
    const cut = this.cut;
    for (const entry of part) {
      if (entry[1] >= this.minCount && !(cut && byCountThenKey(entry, cut) > 0)) this.entries.push(entry);
    }
    if (this.maxSize !== undefined && this.entries.length > 2 * this.maxSize) {
      this.entries = this.sorted();
      this.cut = this.entries[this.maxSize - 1];
    }
  }

  sorted(): [CategoryKey, number][] {
    const entries = this.entries.sort(byCountThenKey);
    return this.maxSize === undefined ? entries : entries.slice(0, this.maxSize);
  }
}

function byCountThenKey(a: [CategoryKey, number], b: [CategoryKey, number]): number {
  return b[1] - a[1] || compareKeys(a[0], b[0]);
}

function compareKeys(a: CategoryKey, b: CategoryKey): number {
  if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
  return typeof a === 'number' ? -1 : 1;
}

/** Largest integer range served by a direct lookup table (4 bytes a slot). */
const DENSE_TABLE_MAX_SLOTS = 1 << 22;

/** Maps cells to ids for one vocabulary. */
export class CategoryIndex {
  private readonly ids = new Map<CategoryKey, number>();
  private readonly oovSlots: number;
  /** For integer vocabularies over a compact range: ids by value - denseMin, -1 if absent. */
  private readonly dense: Int32Array | undefined;
  private readonly denseMin: number = 0;

  constructor(vocabulary: CategoricalVocabulary) {
    this.oovSlots = vocabulary.oovSlots;
    vocabulary.values.forEach((key, index) => this.ids.set(key, 1 + this.oovSlots + index));
    const integers = vocabulary.values.every((key) => typeof key === 'number' && Number.isInteger(key));
    if (integers && vocabulary.values.length > 0) {
      const keys = vocabulary.values as readonly number[];
      let min = keys[0];
      let max = keys[0];
      for (const key of keys) {
        if (key < min) min = key;
        if (key > max) max = key;
      }
      const slots = max - min + 1;
      if (slots <= Math.max(DENSE_TABLE_MAX_SLOTS / 4, 8 * keys.length) && slots <= DENSE_TABLE_MAX_SLOTS) {
        this.dense = new Int32Array(slots).fill(-1);
        this.denseMin = min;
        keys.forEach((key, index) => (this.dense![key - min] = 1 + this.oovSlots + index));
      }
    }
  }

  id(value: Scalar): number {
    const key = categoryKey(value);
    if (key === undefined) return MISSING_ID;
    const id = this.ids.get(key);
    if (id !== undefined) return id;
    return this.oovId(key);
  }

  private oovId(key: CategoryKey): number {
    return this.oovSlots === 1 ? 1 : 1 + (hash32(key) % this.oovSlots);
  }

  /** Ids of a whole column; integer typed arrays take a table lookup instead of a hash map. */
  encodeInto(column: ArrayLike<Cell>, out: Int32Array): void {
    const dense = this.dense;
    if (dense && isIntegerTypedArray(column)) {
      const min = this.denseMin;
      const slots = dense.length;
      for (let i = 0; i < out.length; i++) {
        const value = column[i];
        const slot = value - min;
        const id = slot >= 0 && slot < slots ? dense[slot] : -1;
        out[i] = id >= 0 ? id : this.oovId(value);
      }
      return;
    }
    for (let i = 0; i < out.length; i++) out[i] = this.id(column[i] as Scalar);
  }
}

type IntegerTypedArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

function isIntegerTypedArray(column: ArrayLike<unknown>): column is IntegerTypedArray {
  return (
    column instanceof Int32Array ||
    column instanceof Uint32Array ||
    column instanceof Int16Array ||
    column instanceof Uint16Array ||
    column instanceof Int8Array ||
    column instanceof Uint8Array
  );
}

/** Bucket id of a numeric cell: 0 when missing, else 1 + number of boundaries <= value. */
export function bucketId(boundaries: readonly number[], value: number): number {
  if (!Number.isFinite(value)) return MISSING_ID;
  let low = 0;
  let high = boundaries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (boundaries[middle] <= value) low = middle + 1;
    else high = middle;
  }
  return 1 + low;
}
