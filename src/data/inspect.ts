/**
 * `lemopt inspect`: one streaming pass over a DataSource that profiles every column
 * (type, nulls, cardinality, top values, numeric / list / delimited-string shape) and
 * suggests how each column could be used as a feature. Memory is bounded per column by
 * the exact-counting limit (see sketch.ts), never by the number of rows.
 */
import type { Cell, ColumnSchema, DataSource, Scalar } from './types.js';
import { typeToString } from './types.js';
import { LemoptError } from '../util/errors.js';
import { HyperLogLog, ValueCounter, type CountKey } from './sketch.js';
import { CsvSource, type Dialect } from './sources/csv.js';

export interface InspectOptions {
  /** Distinct values counted exactly per column before switching to sketches. Default 100_000. */
  exactLimit?: number;
  /** Total characters of distinct string values kept exactly per column. Default 16M. */
  exactCharLimit?: number;
  /** Top values reported per column. Default 5. */
  topK?: number;
  /** Called after each batch with the rows read so far. */
  onProgress?: (rows: number) => void;
}

export const DEFAULT_EXACT_LIMIT = 100_000;
export const DEFAULT_EXACT_CHAR_LIMIT = 16 * 1024 * 1024;
export const DEFAULT_TOP_K = 5;

export type FeatureKind =
  'categorical' | 'multi_categorical' | 'numeric' | 'label' | 'timestamp' | 'id' | 'skip';

export interface TopValue {
  /** Numbers (and Date columns as ISO strings), strings, booleans; bigints beyond 2^53 as strings. */
  value: string | number | boolean;
  /** Exact count, or (approximate columns) an upper bound. */
  count: number;
  /**
   * Approximate columns only: a guaranteed lower bound on the count. Approximate columns
   * list only values with minCount >= count / 2, so they may list fewer than topK.
   */
  minCount?: number;
}

export interface NumericStats {
  /** Finite values counted (numbers and bigints). */
  count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** Every value is a whole number. */
  integral: boolean;
  /** ±Infinity values, left out of min/max/mean. */
  infinite: number;
}

export interface TimeRange {
  /** ISO 8601. */
  min: string;
  max: string;
  /** How the values were read: Date objects, or integers in an epoch unit. */
  unit: 'date' | 's' | 'ms' | 'us' | 'ns';
}

export interface ListStats {
  /** Non-null list cells. */
  rows: number;
  minLength: number;
  maxLength: number;
  meanLength: number;
  /** Lists with no element. */
  empty: number;
  /** Null elements inside lists (not counted as values). */
  nullElements: number;
}

export interface StringStats {
  meanLength: number;
  /** Share of values containing a space. */
  withSpaceRate: number;
}

export interface DelimitedStats {
  delimiter: string;
  /** Share of non-null values containing the delimiter. */
  rate: number;
  meanTokens: number;
  /** Distinct tokens after splitting: a HyperLogLog estimate. */
  tokenCardinality: number;
  approximate: true;
}

export interface Suggestion {
  type: FeatureKind;
  /** multi_categorical from a delimited string: the delimiter. */
  delimiter?: string;
  /** Why, and anything the user should know. */
  note?: string;
}

export interface ColumnReport {
  name: string;
  type: string;
  nullCount: number;
  nullRate: number;
  /** Distinct values; for list columns, distinct elements. */
  cardinality: number;
  cardinalityOf: 'values' | 'elements';
  /** Cardinality is a HyperLogLog estimate and top counts come from Space-Saving. */
  approximate: boolean;
  top: TopValue[];
  numeric?: NumericStats;
  time?: TimeRange;
  string?: StringStats;
  list?: ListStats;
  delimited?: DelimitedStats;
  suggestion: Suggestion;
}

/** How a CSV source was read. */
export interface CsvReport {
  delimiter: string;
  header: boolean;
  /** false: quoting off. */
  quote: string | false;
  encoding: string;
  /** The settings read off the first lines rather than given or defaulted. */
  sniffed: ('delimiter' | 'header')[];
}

export interface InspectReport {
  version: 1;
  location: string;
  files: string[];
  /** CSV sources only. */
  csv?: CsvReport;
  rows: number;
  exactLimit: number;
  topK: number;
  elapsedMs: number;
  columns: ColumnReport[];
}

// ---------------------------------------------------------------------------------------
// Per-column accumulation

const DELIMITERS = ['|', ',', ';'] as const;
const THOUSANDS = /^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$/;
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

interface DelimiterState {
  rows: number;
  tokens: number;
  hll: HyperLogLog | null;
}

function isIsoDateLike(s: string): boolean {
  if (s.length < 10) return false;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return false; // '-'
  for (const i of [0, 1, 2, 3, 5, 6, 8, 9]) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

class ColumnAccumulator {
  readonly counter: ValueCounter;
  nulls = 0;
  /** Non-null cells. */
  values = 0;
  // numbers and bigints (scalar cells)
  numCount = 0;
  numMin = Infinity;
  numMax = -Infinity;
  numShift = NaN;
  numSum = 0;
  numSumSq = 0;
  numIntegral = true;
  numInfinite = 0;
  // Date cells
  dateCount = 0;
  dateMin = Infinity;
  dateMax = -Infinity;
  // booleans
  boolCount = 0;
  // strings
  strCount = 0;
  strChars = 0;
  strWithSpace = 0;
  strIsoDate = 0;
  /** Values like "1,234,567.5": numbers with thousands separators, not lists. */
  strThousands = 0;
  readonly delims: DelimiterState[] = DELIMITERS.map(() => ({ rows: 0, tokens: 0, hll: null }));
  // lists
  listRows = 0;
  listMin = Infinity;
  listMax = 0;
  listSum = 0;
  listEmpty = 0;
  listNullElements = 0;
  listElements = 0;
  listNonIntegral = false;
  otherCount = 0;

  constructor(
    readonly schema: ColumnSchema,
    options: { exactLimit: number; exactCharLimit: number; topK: number },
  ) {
    this.counter = new ValueCounter({
      exactLimit: options.exactLimit,
      exactCharLimit: options.exactCharLimit,
      heavyHitterCapacity: Math.max(512, options.topK * 64),
    });
  }

  addColumn(col: ArrayLike<Cell>, n: number): void {
    if (ArrayBuffer.isView(col) && !(col instanceof DataView)) {
      if (col instanceof BigInt64Array || col instanceof BigUint64Array) {
        for (let i = 0; i < n; i++) this.addBigint(col[i]);
      } else {
        const nums = col as unknown as ArrayLike<number>;
        for (let i = 0; i < n; i++) this.addNumber(nums[i]);
      }
      return;
    }
    for (let i = 0; i < n; i++) this.addCell(col[i]);
  }

  addCell(cell: Cell): void {
    if (cell === null || cell === undefined) {
      this.nulls++;
      return;
    }
    switch (typeof cell) {
      case 'number':
        this.addNumber(cell);
        return;
      case 'string':
        this.addString(cell);
        return;
      case 'bigint':
        this.addBigint(cell);
        return;
      case 'boolean':
        this.values++;
        this.boolCount++;
        this.counter.add(cell);
        return;
      default:
        if (cell instanceof Date) this.addDate(cell);
        else if (typeof (cell as ArrayLike<Scalar>).length === 'number')
          this.addList(cell as ArrayLike<Scalar>);
        else this.addOther(cell);
    }
  }

  addNumber(v: number): void {
    if (v !== v) {
      this.nulls++; // NaN is how many writers spell a missing float
      return;
    }
    this.values++;
    if (v === Infinity || v === -Infinity) {
      this.numInfinite++;
      this.counter.add(v > 0 ? 'Infinity' : '-Infinity');
      return;
    }
    this.addNumericStats(v);
    this.counter.add(v);
  }

  private addNumericStats(v: number): void {
    if (this.numCount === 0) this.numShift = v;
    this.numCount++;
    if (v < this.numMin) this.numMin = v;
    if (v > this.numMax) this.numMax = v;
    const d = v - this.numShift;
    this.numSum += d;
    this.numSumSq += d * d;
    if (this.numIntegral && !Number.isInteger(v)) this.numIntegral = false;
  }

  addBigint(b: bigint): void {
    if (b >= MIN_SAFE && b <= MAX_SAFE) {
      this.addNumber(Number(b));
      return;
    }
    this.values++;
    this.addNumericStats(Number(b));
    this.counter.add(b.toString());
  }

  addDate(d: Date): void {
    const t = d.getTime();
    if (t !== t) {
      this.nulls++;
      return;
    }
    this.values++;
    this.dateCount++;
    if (t < this.dateMin) this.dateMin = t;
    if (t > this.dateMax) this.dateMax = t;
    this.counter.add(t);
  }

  addString(s: string): void {
    this.values++;
    this.strCount++;
    this.strChars += s.length;
    this.counter.add(s);
    if (s.indexOf(' ') >= 0) this.strWithSpace++;
    if (isIsoDateLike(s)) this.strIsoDate++;
    for (let j = 0; j < DELIMITERS.length; j++) {
      const d = DELIMITERS[j];
      if (s.indexOf(d) < 0) continue;
      if (d === ',' && THOUSANDS.test(s)) this.strThousands++;
      const st = this.delims[j];
      st.rows++;
      const hll = (st.hll ??= new HyperLogLog(12));
      for (const part of s.split(d)) {
        const token = part.trim();
        if (token === '') continue;
        st.tokens++;
        hll.addString(token);
      }
    }
  }

  addList(list: ArrayLike<Scalar>): void {
    this.values++;
    this.listRows++;
    const len = list.length;
    if (len < this.listMin) this.listMin = len;
    if (len > this.listMax) this.listMax = len;
    this.listSum += len;
    if (len === 0) this.listEmpty++;
    for (let i = 0; i < len; i++) {
      const key = elementKey(list[i]);
      if (key === undefined) {
        this.listNullElements++;
        continue;
      }
      this.listElements++;
      if (typeof key === 'number' && !this.listNonIntegral && !Number.isInteger(key)) {
        this.listNonIntegral = true;
      }
      this.counter.add(key);
    }
  }

  addOther(cell: object): void {
    this.values++;
    this.otherCount++;
    let key: string;
    try {
      key = JSON.stringify(cell, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    } catch {
      key = String(cell);
    }
    this.counter.add(key);
  }
}

/** Counting key of a list element, or undefined for a null element. */
function elementKey(v: Scalar): CountKey | undefined {
  switch (typeof v) {
    case 'number':
      return v !== v ? undefined : v;
    case 'string':
    case 'boolean':
      return v;
    case 'bigint':
      return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v.toString();
    case 'object':
      if (v instanceof Date) {
        const t = v.getTime();
        return t !== t ? undefined : t;
      }
      return v === null ? undefined : String(v);
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// The pass

export async function inspectSource(
  source: DataSource,
  options: InspectOptions = {},
): Promise<InspectReport> {
  const exactLimit = options.exactLimit ?? DEFAULT_EXACT_LIMIT;
  const exactCharLimit = options.exactCharLimit ?? DEFAULT_EXACT_CHAR_LIMIT;
  const topK = options.topK ?? DEFAULT_TOP_K;
  if (!Number.isInteger(exactLimit) || exactLimit < 1) {
    throw new LemoptError(`inspect: exactLimit must be a positive integer, got ${exactLimit}`);
  }
  if (!Number.isInteger(exactCharLimit) || exactCharLimit < 1) {
    throw new LemoptError(`inspect: exactCharLimit must be a positive integer, got ${exactCharLimit}`);
  }
  if (!Number.isInteger(topK) || topK < 0) {
    throw new LemoptError(`inspect: topK must be a non-negative integer, got ${topK}`);
  }
  const started = performance.now();
  const schema = await source.schema();
  const accs = schema.columns.map((c) => new ColumnAccumulator(c, { exactLimit, exactCharLimit, topK }));
  let rows = 0;
  for await (const batch of source.batches()) {
    const n = batch.numRows;
    for (const acc of accs) {
      const col = batch.columns.get(acc.schema.name);
      if (col === undefined) {
        throw new LemoptError(`${source.location}: a record batch has no column "${acc.schema.name}"`);
      }
      if (col.length !== n) {
        throw new LemoptError(
          `${source.location}: column "${acc.schema.name}" has ${col.length} values in a batch of ${n} rows`,
        );
      }
      acc.addColumn(col, n);
    }
    rows += n;
    options.onProgress?.(rows);
  }
  return {
    version: 1,
    location: source.location,
    files: [...source.files],
    ...(source instanceof CsvSource && { csv: csvReport(await source.dialect()) }),
    rows,
    exactLimit,
    topK,
    elapsedMs: Math.round(performance.now() - started),
    columns: accs.map((acc) => columnReport(acc, rows, topK)),
  };
}

function csvReport(dialect: Dialect): CsvReport {
  const { delimiter, header, quote, encoding, sniffed } = dialect;
  const sniffedNames = (['delimiter', 'header'] as const).filter((name) => sniffed[name]);
  return { delimiter, header, quote, encoding, sniffed: sniffedNames };
}

const DELIMITER_NAMES: ReadonlyMap<string, string> = new Map([
  ['\t', 'tab'],
  [',', 'comma'],
  [';', 'semicolon'],
  ['|', 'pipe'],
]);

/** 'tab', 'comma', 'semicolon', 'pipe', or the delimiter quoted. */
export function delimiterName(delimiter: string): string {
  return DELIMITER_NAMES.get(delimiter) ?? `'${delimiter}'`;
}

/** The delimiter a name from delimiterName, `\t` or one character stands for; undefined for anything else. */
export function parseDelimiterName(text: string): string | undefined {
  if (text === '\\t') return '\t';
  for (const [delimiter, name] of DELIMITER_NAMES) if (text === name) return delimiter;
  return [...text].length === 1 ? text : undefined;
}

function isoOf(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function columnReport(acc: ColumnAccumulator, rows: number, topK: number): ColumnReport {
  const counter = acc.counter;
  const dateColumn = acc.dateCount > 0 && acc.dateCount >= acc.values / 2;
  const top: TopValue[] = counter
    .top(topK)
    // Approximate: keep only values whose count is known within a factor of 2. In a
    // column of (nearly) all-distinct values, Space-Saving's counters are mostly error.
    .filter((t) => t.minCount === undefined || 2 * t.minCount >= t.count)
    .map((t) => {
      const value = dateColumn && typeof t.key === 'number' ? isoOf(t.key) : t.key;
      return t.minCount === undefined
        ? { value, count: t.count }
        : { value, count: t.count, minCount: t.minCount };
    });
  const report: ColumnReport = {
    name: acc.schema.name,
    type: typeToString(acc.schema.type),
    nullCount: acc.nulls,
    nullRate: rows > 0 ? acc.nulls / rows : 0,
    cardinality: counter.cardinality(),
    cardinalityOf: acc.schema.type.kind === 'list' || acc.listRows > 0 ? 'elements' : 'values',
    approximate: counter.approximate,
    top,
    suggestion: { type: 'skip' },
  };
  if (acc.numCount > 0 || acc.numInfinite > 0) {
    const n = acc.numCount;
    const meanShifted = n > 0 ? acc.numSum / n : 0;
    const variance = n > 0 ? Math.max(0, acc.numSumSq / n - meanShifted * meanShifted) : 0;
    report.numeric = {
      count: n,
      min: n > 0 ? acc.numMin : 0,
      max: n > 0 ? acc.numMax : 0,
      mean: n > 0 ? acc.numShift + meanShifted : 0,
      std: Math.sqrt(variance),
      integral: acc.numIntegral,
      infinite: acc.numInfinite,
    };
  }
  if (acc.dateCount > 0) {
    report.time = { min: isoOf(acc.dateMin), max: isoOf(acc.dateMax), unit: 'date' };
  }
  if (acc.strCount > 0) {
    report.string = {
      meanLength: acc.strChars / acc.strCount,
      withSpaceRate: acc.strWithSpace / acc.strCount,
    };
    const delimited = bestDelimiter(acc);
    if (delimited) report.delimited = delimited;
  }
  if (acc.listRows > 0) {
    report.list = {
      rows: acc.listRows,
      minLength: acc.listMin,
      maxLength: acc.listMax,
      meanLength: acc.listSum / acc.listRows,
      empty: acc.listEmpty,
      nullElements: acc.listNullElements,
    };
  }
  report.suggestion = suggest(acc, report, rows);
  return report;
}

/** The delimiter found in the most values (ties: '|' before ';' before ','), if any. */
function bestDelimiter(acc: ColumnAccumulator): DelimitedStats | undefined {
  let best = -1;
  for (let j = 0; j < DELIMITERS.length; j++) {
    if (acc.delims[j].rows > 0 && (best < 0 || acc.delims[j].rows > acc.delims[best].rows)) best = j;
  }
  if (best < 0) return undefined;
  const st = acc.delims[best];
  const d = DELIMITERS[best];
  // Values without the delimiter are one token each; they count too.
  const singleValues = acc.strCount - st.rows;
  return {
    delimiter: d,
    rate: st.rows / acc.strCount,
    meanTokens: (st.tokens + singleValues) / acc.strCount,
    tokenCardinality: Math.round((st.hll as HyperLogLog).estimate()),
    approximate: true,
  };
}

// ---------------------------------------------------------------------------------------
// Feature-type suggestion.
//
// The heuristics only use what any dataset has: the logical type, the column name split
// into words (snake_case, camelCase, kebab), null counts, cardinality, uniqueness
// (cardinality / non-null values), numeric ranges and string shapes. The code applies
// them in this order: skip, timestamp type, lists, label, boolean, epoch integers,
// strings, floats, integers; the first that matches wins.
//
//  1. skip: no non-null value; a type lemopt does not encode (`unknown`); a constant
//     (one distinct value and fewer than 0.1% nulls; with more nulls the column still
//     says present/absent, so it is categorical with a note).
//  2. timestamp: a timestamp type or Date values; an integer column whose name has a
//     time word (time, timestamp, ts, date, datetime, epoch, created, updated) and whose
//     whole range lies in one epoch unit between 1973 and 2100 (s, ms, us or ns); a
//     string column whose values (>= 99%) start with YYYY-MM-DD.
//  3. label: a name with a label word (label, target, click(s/ed), rating(s), y,
//     conversion, converted; not ending in an id word) and at most 11 distinct values, all multiples of 0.5 in
//     [-1, 10] (0/1 clicks, 1-5 star ratings, half stars), or a boolean.
//  4. multi_categorical: list columns of ints/strings/bools (a list of non-integral
//     numbers is a dense vector: skip); strings where >= 10% of values contain one of
//     '|', ';', ',' AND splitting shrinks the vocabulary (distinct tokens < distinct
//     values) AND tokens recur (>= 2 occurrences per distinct token on average). Free
//     text with commas fails the last two tests; numbers with thousands separators
//     ("1,234") are recognised and not split.
//  5. strings otherwise: free text (mean length >= 32, >= 50% contain spaces, >= 50%
//     distinct) is skipped; else categorical, or id (below).
//  6. floats with a non-integral value: numeric (a note when there are <= 20 distinct
//     values). Floats holding only whole numbers (ints with nulls, as pandas writes them)
//     follow the integer rules.
//  7. integers: a name ending in an id word (id, uid, uuid, guid, key) is categorical;
//     else <= 1000 distinct values that are few relative to rows (uniqueness <= 0.5, or
//     <= 50 distinct) is categorical; > 1000 values, >= 95% distinct and densely filling
//     their range (distinct >= half of max - min + 1) is a row key (id); so are > 1000
//     values, >= 50% distinct, beyond 2^53 (hashed 64-bit keys); anything else is
//     numeric: many distinct values spread over a wide range look like a measurement.
//     Notes flag the ambiguous cases (a dense range that may be ids, an epoch-like range
//     under a name without a time word).
//  8. id: a categorical with very high cardinality: > 1000 distinct and (an id-word
//     name or uniqueness >= 0.5), or >= 100_000 distinct whatever the name. Same
//     encoding as categorical; the note suggests capping the vocabulary or hashing.
//  Booleans: categorical. High-cardinality categoricals (> 10_000) get a note.

export const CATEGORICAL_MAX_CARDINALITY = 1000;
export const ID_MIN_CARDINALITY = 1000;
export const ID_ANY_NAME_CARDINALITY = 100_000;
export const HIGH_CARDINALITY_NOTE = 10_000;

const LABEL_WORDS = new Set(
  'label labels target click clicks clicked rating ratings y conversion converted'.split(' '),
);
const TIME_WORDS = new Set(['time', 'timestamp', 'ts', 'date', 'datetime', 'epoch', 'created', 'updated']);
const ID_WORDS = new Set(['id', 'uid', 'uuid', 'guid', 'key']);

/** "userID" -> ["user", "id"]; "item_id" -> ["item", "id"]; "Timestamp" -> ["timestamp"]. */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

const EPOCH_UNITS: { unit: TimeRange['unit']; lo: number; hi: number; toMs: number }[] = [
  // 1973-03 .. 2100-01 in each unit
  { unit: 's', lo: 1e8, hi: 4.1e9, toMs: 1e3 },
  { unit: 'ms', lo: 1e11, hi: 4.1e12, toMs: 1 },
  { unit: 'us', lo: 1e14, hi: 4.1e15, toMs: 1e-3 },
  { unit: 'ns', lo: 1e17, hi: 4.1e18, toMs: 1e-6 },
];

function percent(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
}

function suggest(acc: ColumnAccumulator, r: ColumnReport, rows: number): Suggestion {
  const kind = acc.schema.type.kind;
  const words = nameWords(acc.schema.name);
  const nonNull = acc.values;
  const card = r.cardinality;
  const approx = r.approximate ? '~' : '';
  const idName = words.length > 0 && ID_WORDS.has(words[words.length - 1]);

  // 1. skip
  if (nonNull === 0) {
    return { type: 'skip', note: rows === 0 ? 'no rows' : 'all values are null' };
  }
  if (kind === 'unknown') {
    return { type: 'skip', note: `type ${r.type} is not encoded by lemopt` };
  }
  const isList = acc.listRows > 0 && acc.listRows >= nonNull / 2;
  if (card <= 1 && (!isList || acc.listMin === acc.listMax)) {
    const only = r.top.length > 0 ? JSON.stringify(r.top[0].value) : isList ? '[]' : '?';
    const what = isList
      ? `every list is ${acc.listMin === 0 ? 'empty' : `[${only} x ${acc.listMin}]`}`
      : `every value is ${only}`;
    if (r.nullRate < 0.001) {
      return { type: 'skip', note: `constant: ${what}` };
    }
    return {
      type: 'categorical',
      note: `constant apart from ${percent(r.nullRate)} nulls (${what}): only presence/absence carries signal`,
    };
  }

  // 2. timestamps by type or value
  if (kind === 'timestamp' || (acc.dateCount > 0 && acc.dateCount >= nonNull / 2)) {
    const range = r.time ?? epochRange(r.numeric);
    if (range && !r.time) r.time = range;
    return range ? { type: 'timestamp', note: `${range.min} .. ${range.max}` } : { type: 'timestamp' };
  }

  // 4a. lists
  if (isList) {
    const ls = r.list as ListStats;
    const lengths = `${ls.minLength}-${ls.maxLength} elements per list (mean ${round(ls.meanLength, 2)})`;
    const elemType = acc.schema.type.kind === 'list' ? acc.schema.type.element.kind : undefined;
    if (acc.listNonIntegral || elemType === 'float') {
      return {
        type: 'skip',
        note: `list of non-integral numbers (a dense vector?): not a categorical feature; ${lengths}`,
      };
    }
    let note = `${approx}${formatInt(card)} distinct elements, ${lengths}`;
    if (card > HIGH_CARDINALITY_NOTE) note += '; high element cardinality: cap the vocabulary or hash';
    return { type: 'multi_categorical', note };
  }

  const numeric = r.numeric;
  const isNumeric = numeric !== undefined && numeric.count >= nonNull / 2;
  const isBool = acc.boolCount >= nonNull / 2;

  // 3. label candidates
  const labelWord = !idName && words.some((w) => LABEL_WORDS.has(w));
  if (labelWord && (isBool || isNumeric) && card <= 11) {
    const counts = acc.counter.exactCounts();
    const keys = counts ? [...counts.keys()] : [];
    const smallSteps = keys.every((k) => typeof k === 'boolean' || (typeof k === 'number' && isHalfStep(k)));
    if (counts && smallSteps) {
      const binary = keys.length <= 2;
      const listed = keys
        .map((k) => (typeof k === 'boolean' ? Number(k) : k))
        .sort((a, b) => (a as number) - (b as number))
        .join(', ');
      return {
        type: 'label',
        note: `label candidate: ${binary ? 'binary' : 'small-range (rating-like)'} values {${listed}}`,
      };
    }
  }

  if (isBool) return { type: 'categorical', note: 'boolean' };

  // 2b. integer epoch columns named like time
  if (isNumeric && numeric.integral && words.some((w) => TIME_WORDS.has(w))) {
    const range = epochRange(numeric);
    if (range) {
      r.time = range;
      return { type: 'timestamp', note: `epoch ${range.unit}: ${range.min} .. ${range.max}` };
    }
  }

  const uniqueness = card / nonNull;

  // strings
  if (acc.strCount >= nonNull / 2) {
    if (acc.strIsoDate >= 0.99 * acc.strCount) {
      return { type: 'timestamp', note: 'ISO date strings (YYYY-MM-DD...): parse to a time before use' };
    }
    const dl = r.delimited;
    const thousands =
      acc.strThousands > 0 && acc.strThousands >= 0.5 * acc.delims[DELIMITERS.indexOf(',')].rows;
    if (
      dl &&
      !(dl.delimiter === ',' && thousands) &&
      dl.rate >= 0.1 &&
      dl.tokenCardinality < card &&
      (dl.meanTokens * acc.strCount) / Math.max(1, dl.tokenCardinality) >= 2
    ) {
      return {
        type: 'multi_categorical',
        delimiter: dl.delimiter,
        note:
          `${percent(dl.rate)} of values contain '${dl.delimiter}'; splitting gives ~${formatInt(dl.tokenCardinality)} ` +
          `distinct tokens (vs ${approx}${formatInt(card)} distinct values), ${round(dl.meanTokens, 2)} per value`,
      };
    }
    const st = r.string as StringStats;
    if (st.meanLength >= 32 && st.withSpaceRate >= 0.5 && uniqueness >= 0.5) {
      return {
        type: 'skip',
        note: `looks like free text (mean length ${round(st.meanLength, 1)}, ${percent(uniqueness)} distinct): not encoded`,
      };
    }
    const s = categoricalOrId(card, uniqueness, idName, approx, nonNull);
    return thousands
      ? withPrefix(s, 'numbers written with thousands separators: parse them as numbers; ')
      : s;
  }

  if (isNumeric) {
    // 6. floats with fractions
    if (!numeric.integral) {
      return card <= 20
        ? {
            type: 'numeric',
            note: `only ${approx}${formatInt(card)} distinct values: could also be categorical`,
          }
        : { type: 'numeric' };
    }
    // 7. integers (or floats holding whole numbers)
    const wholeFloats = kind === 'float' ? 'float column of whole numbers; ' : '';
    if (idName) return withPrefix(categoricalOrId(card, uniqueness, true, approx, nonNull), wholeFloats);
    if (card <= CATEGORICAL_MAX_CARDINALITY && (uniqueness <= 0.5 || card <= 50)) {
      return withPrefix({ type: 'categorical' }, wholeFloats);
    }
    const span = numeric.max - numeric.min + 1;
    const fill = span > 0 ? Math.min(1, card / span) : 0;
    if (uniqueness >= 0.95 && fill >= 0.5 && card > ID_MIN_CARDINALITY) {
      return withPrefix(
        {
          type: 'id',
          note:
            `${percent(uniqueness)} of values distinct, filling ${percent(fill)} of ${fmtNum(numeric.min)} .. ` +
            `${fmtNum(numeric.max)}: a row key or id (capped vocabulary or hashing); if it is a measurement, use numeric`,
        },
        wholeFloats,
      );
    }
    const epoch = epochRange(numeric);
    const huge = Math.max(Math.abs(numeric.min), Math.abs(numeric.max)) > Number.MAX_SAFE_INTEGER;
    if (huge && !epoch && uniqueness >= 0.5 && card > ID_MIN_CARDINALITY) {
      return {
        type: 'id',
        note: `64-bit integers beyond 2^53, ${percent(uniqueness)} distinct: hashed ids or keys (capped vocabulary or hashing)`,
      };
    }
    // Notes carry advice only: the table already shows range, mean and distinct count.
    const advice: string[] = [];
    if (fill >= 0.5)
      advice.push(`values fill ${percent(fill)} of their range: if these are ids, use categorical`);
    if (epoch) {
      advice.push(
        `the range looks like epoch ${epoch.unit} (${epoch.min} .. ${epoch.max}): if a time, use timestamp`,
      );
    }
    const note = advice.join('; ');
    return withPrefix(note ? { type: 'numeric', note } : { type: 'numeric' }, wholeFloats);
  }

  return { type: 'skip', note: 'mixed or unrecognised values' };
}

function categoricalOrId(
  card: number,
  uniqueness: number,
  idName: boolean,
  approx: string,
  nonNull: number,
): Suggestion {
  const distinct = `${approx}${formatInt(card)} distinct values`;
  if ((card > ID_MIN_CARDINALITY && (idName || uniqueness >= 0.5)) || card >= ID_ANY_NAME_CARDINALITY) {
    return {
      type: 'id',
      note:
        `id-like: very high cardinality (${distinct}, ${percent(uniqueness)} of ${formatInt(nonNull)} values); ` +
        'a categorical with a capped vocabulary (min_count/max_size) or hashing buckets',
    };
  }
  if (card > HIGH_CARDINALITY_NOTE) {
    return { type: 'categorical', note: `${distinct}; high cardinality: consider min_count or hashing` };
  }
  if (uniqueness > 0.5 && nonNull >= 20) {
    return {
      type: 'categorical',
      note: `${distinct}; ${percent(uniqueness)} distinct: little sharing between rows`,
    };
  }
  return { type: 'categorical' };
}

function withPrefix(s: Suggestion, prefix: string): Suggestion {
  return prefix ? { ...s, note: prefix + (s.note ?? '') } : s;
}

function isHalfStep(v: number): boolean {
  return v >= -1 && v <= 10 && Number.isInteger(v * 2);
}

/** An epoch range read from integer min/max when both fall in one unit's 1973-2100 window. */
function epochRange(numeric: NumericStats | undefined): TimeRange | undefined {
  if (!numeric || numeric.count === 0) return undefined;
  for (const u of EPOCH_UNITS) {
    if (numeric.min >= u.lo && numeric.max <= u.hi) {
      return { min: isoOf(numeric.min * u.toMs), max: isoOf(numeric.max * u.toMs), unit: u.unit };
    }
  }
  return undefined;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ---------------------------------------------------------------------------------------
// Text rendering

export function formatInt(n: number): string {
  const s = String(Math.round(n));
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return formatInt(x);
  const a = Math.abs(x);
  if (a >= 1e9 || a < 1e-3) return x.toExponential(2);
  if (a >= 100) {
    const [int, frac] = x.toFixed(a >= 1e4 ? 0 : 1).split('.');
    return formatInt(Number(int)) + (frac && frac !== '0' ? `.${frac}` : '');
  }
  return String(Number(x.toPrecision(4)));
}

/** A top value for the table: numbers to 6 significant digits, text on one line. */
function fmtValue(v: string | number | boolean): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  return oneLine(String(v));
}

function clip(s: string, width: number): string {
  return s.length <= width ? s : s.slice(0, Math.max(0, width - 1)) + '…';
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ');
}

function statsCell(c: ColumnReport): string {
  if (c.time && c.suggestion.type === 'timestamp') {
    return `${c.time.min.slice(0, 10)} .. ${c.time.max.slice(0, 10)}`;
  }
  if (c.list) {
    return `len ${c.list.minLength}-${c.list.maxLength}, mean ${round(c.list.meanLength, 2)}`;
  }
  if (c.numeric && c.numeric.count > 0) {
    return `${fmtNum(c.numeric.min)} .. ${fmtNum(c.numeric.max)}, mean ${fmtNum(c.numeric.mean)}`;
  }
  if (c.delimited && c.suggestion.type === 'multi_categorical') {
    return `'${c.delimited.delimiter}' ${round(c.delimited.meanTokens, 2)} tok, ~${formatInt(c.delimited.tokenCardinality)} distinct`;
  }
  if (c.string) return `len ${round(c.string.meanLength, 1)}`;
  return '';
}

function topCell(c: ColumnReport): string {
  const mark = c.approximate ? '~' : '';
  return c.top.map((t) => `${clip(fmtValue(t.value), 20)} (${mark}${formatInt(t.count)})`).join(', ');
}

function nullCell(c: ColumnReport): string {
  if (c.nullCount === 0) return '0%';
  if (c.nullRate < 0.001) return '<0.1%';
  return `${(c.nullRate * 100).toFixed(1)}%`;
}

function csvLines(csv: CsvReport): string[] {
  const delimiter = `delimiter: ${delimiterName(csv.delimiter)}${csv.sniffed.includes('delimiter') ? ' (sniffed)' : ''}`;
  let header = csv.header ? 'header: first line' : 'header: none';
  if (csv.sniffed.includes('header')) header += ' (sniffed; use --header to override)';
  return [delimiter, header];
}

/**
 * A fixed-width table for a terminal: how a CSV was read, one row per column, then the
 * notes. `~` marks estimates (HyperLogLog cardinality, Space-Saving counts).
 */
export function formatInspectReport(report: InspectReport): string {
  const header = ['column', 'type', 'nulls', 'distinct', 'stats', 'top values (count)', 'suggestion'];
  const caps = [24, 16, 6, 11, 28, 40, 22];
  const right = [false, false, true, true, false, false, false];
  const rows = report.columns.map((c) => [
    oneLine(c.name),
    c.type,
    nullCell(c),
    `${c.approximate ? '~' : ''}${formatInt(c.cardinality)}${c.cardinalityOf === 'elements' ? 'e' : ''}`,
    statsCell(c),
    topCell(c),
    c.suggestion.type + (c.suggestion.delimiter ? ` '${c.suggestion.delimiter}'` : ''),
  ]);
  const widths = header.map((h, j) => Math.min(caps[j], Math.max(h.length, ...rows.map((r) => r[j].length))));
  const line = (cells: string[]): string =>
    cells
      .map((cell, j) => {
        const s = clip(cell, widths[j]);
        return right[j] ? s.padStart(widths[j]) : s.padEnd(widths[j]);
      })
      .join('  ')
      .trimEnd();
  const files = report.files.length === 1 ? '1 file' : `${report.files.length} files`;
  const out: string[] = [
    `${report.location}: ${formatInt(report.rows)} rows, ${report.columns.length} columns, ${files} (${report.elapsedMs} ms)`,
    ...(report.csv ? csvLines(report.csv) : []),
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  const notes = report.columns.filter((c) => c.suggestion.note);
  if (notes.length > 0) {
    out.push('', 'notes:');
    for (const c of notes)
      out.push(`  ${oneLine(c.name)}: ${c.suggestion.type}: ${oneLine(c.suggestion.note as string)}`);
  }
  const legend: string[] = [];
  if (report.columns.some((c) => c.approximate)) {
    legend.push(
      `~ estimate: more than ${formatInt(report.exactLimit)} distinct values (HyperLogLog cardinality, Space-Saving counts)`,
    );
  }
  if (report.columns.some((c) => c.cardinalityOf === 'elements')) legend.push('e: distinct list elements');
  if (legend.length > 0) out.push('', ...legend);
  return out.join('\n') + '\n';
}
