/**
 * The shapes that flow out of every data source: record batches of columns, plus the
 * source's schema. Sources stream batches; nothing here holds a whole file.
 */

/** A single value as a source hands it over. Lists (multi-valued cells) are arrays. */
export type Scalar = string | number | bigint | boolean | Date | null | undefined;
export type Cell = Scalar | ArrayLike<Scalar>;

/**
 * Logical column type, independent of the file format.
 * `list` columns carry an element type; `unknown` is for types lemopt does not encode
 * (for example structs), which inspect still reports.
 */
export type LogicalType =
  | { kind: 'int' }
  | { kind: 'float' }
  | { kind: 'string' }
  | { kind: 'bool' }
  | { kind: 'timestamp' }
  | { kind: 'list'; element: LogicalType }
  | { kind: 'unknown'; detail: string };

export interface ColumnSchema {
  readonly name: string;
  readonly type: LogicalType;
}

export interface SourceSchema {
  readonly columns: readonly ColumnSchema[];
  /** Total rows when the format stores it (Parquet, Arrow file); undefined for CSV and streams. */
  readonly numRows?: number;
}

/**
 * A slice of rows. Every column has exactly numRows values. Numeric columns without nulls
 * may be typed arrays; nulls are `null` or `undefined` in plain arrays.
 */
export interface RecordBatch {
  readonly numRows: number;
  /** 0-based position of the batch's first row in the whole source, where the source knows it. */
  readonly firstRow?: number;
  readonly columns: ReadonlyMap<string, ArrayLike<Cell>>;
  /**
   * Columns the source also has as dictionary indices (Parquet's dictionary pages): an
   * encoder maps each distinct value once instead of once per row. `columns` still holds
   * them (the Parquet source builds them only when asked).
   */
  readonly dictionaries?: ReadonlyMap<string, DictionaryColumn>;
}

/** A column as indices into its distinct values; -1 for null. */
export interface DictionaryColumn {
  readonly indices: Int32Array;
  readonly dictionary: ArrayLike<Cell>;
}

export interface ReadOptions {
  /** Only these columns are read and returned (projection). Default: all. */
  readonly columns?: readonly string[];
  /** Upper bound on rows per batch; memory is bounded by it. Default 8192. */
  readonly batchSize?: number;
  /**
   * Read only partition `index` of `count` (sources with `partitionable`): disjoint
   * slices that together cover every row, so workers can read one each in parallel.
   * Batches then carry `firstRow`.
   */
  readonly partition?: { readonly index: number; readonly count: number };
}

export interface DataSource {
  /** What the user named: a file, folder or glob, for error messages. */
  readonly location: string;
  /** The concrete files read, in order. */
  readonly files: readonly string[];
  /** True when batches() takes `partition` (Parquet: row groups). */
  readonly partitionable?: boolean;
  schema(): Promise<SourceSchema>;
  batches(options?: ReadOptions): AsyncIterable<RecordBatch>;
}

// Arrays above 16k elements land in V8's large-object space; 8192-row batches read about 2x faster.
export const DEFAULT_READ_BATCH_SIZE = 8192;

export function typeToString(type: LogicalType): string {
  switch (type.kind) {
    case 'list':
      return `list<${typeToString(type.element)}>`;
    case 'unknown':
      return `unknown(${type.detail})`;
    default:
      return type.kind;
  }
}
