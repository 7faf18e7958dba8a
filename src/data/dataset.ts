/**
 * From a run config to a stream of encoded batches: open the source, check that every
 * configured column exists with a usable type, build (or reuse) the vocabularies in one
 * streaming pass, then encode batch by batch; the first full pass fills the encoded cache
 * that later passes read.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunConfig } from '../config/schema.js';
import { writeFileAtomic } from '../util/atomic.js';
import { LemoptError } from '../util/errors.js';
import { CountingMemory } from './category-counter.js';
import { DecodedBatches } from './decoded-batches.js';
import { EncodedCache } from './encoded-cache.js';
import { Encoder, type EncodedBatch } from './encoder.js';
import { encodeInWorkers } from './parallel-encode.js';
import type { EncodedRows } from './split-block.js';
import { resolveFeatureLayout, type FeatureLayout } from './features.js';
import { compileLabelRule } from './labels.js';
import { fingerprintFiles } from './sources/files.js';
import { openSource } from './sources/open.js';
import { createSplitAssigner, TimeCutoffBuilder, type TimeCutoffs } from './split.js';
import {
  typeToString,
  type ColumnSchema,
  type DataSource,
  type LogicalType,
  type ReadOptions,
  type RecordBatch,
} from './types.js';
import { VocabularyBuilder, type Vocabulary } from './vocabulary.js';

export const VOCABULARY_FILE = 'vocabulary.json';
const VOCABULARY_FORMAT_VERSION = 1;

export interface DatasetStats {
  readonly rows: number;
  readonly positives: number;
}

/** What the vocabulary pass learns; saved as vocabulary.json in the run folder. */
export interface VocabularyState {
  readonly version: number;
  readonly fingerprint: string;
  readonly configHash: string;
  readonly vocabularies: readonly Vocabulary[];
  readonly timeCutoffs?: TimeCutoffs;
  readonly stats: DatasetStats;
}

export interface PreparedDataset {
  readonly source: DataSource;
  readonly layout: FeatureLayout;
  readonly vocabularies: ReadonlyMap<string, Vocabulary>;
  readonly stats: DatasetStats;
  /** True when vocabulary.json was reused instead of a new counting pass. */
  readonly reusedVocabulary: boolean;
  /** Hash of the data files the vocabularies were counted on. */
  readonly fingerprint: string;
  /**
   * Every row of the dataset, encoded, in source order. The first full pass fills the
   * encoded cache (data.cache_memory); later passes read it, and batches() then reads
   * only the split it wants. The first pass's batches share arrays with the cache: read
   * them, never modify or transfer them.
   */
  encodedBatches(): EncodedRows;
  /** Starts encoding every row in the background now; the next encodedBatches() pass follows it. */
  prefill(): void;
}

export interface PrepareOptions {
  /**
   * Where vocabulary.json is read from and written to, and encoded shards when the data
   * is larger than data.cache_memory; none: always count, never save.
   */
  readonly cacheDir?: string;
  readonly onProgress?: (phase: 'vocabulary' | 'encode', rows: number) => void;
  /**
   * Worker threads that read and encode, so the calling thread stays free (to train).
   * 0 encodes in the calling thread. More than 1 splits partitionable sources (Parquet row
   * groups, without data.max_rows) between workers; others use one. Default: data.workers.
   */
  readonly workers?: number;
}

/**
 * Opens the configured source and checks its schema against the config (columns exist,
 * types fit) without reading any row: what `lemopt validate` runs.
 */
export async function openCheckedSource(
  config: RunConfig,
): Promise<{ source: DataSource; layout: FeatureLayout }> {
  const { data } = config;
  const { delimiter, header, quote, encoding, null_values: nullValues } = data.csv;
  const csv = { delimiter, header, quote, encoding, nullValues };
  const source = await openSource(data.source, { format: data.format, csv });
  const layout = resolveFeatureLayout(config);
  const schema = await source.schema();
  if (schema.numRows === 0) throw new LemoptError(`${source.location}: the dataset has no rows`);
  checkColumns(config, layout, source.location, schema.columns);
  return { source, layout };
}

export async function prepareDataset(
  config: RunConfig,
  options: PrepareOptions = {},
): Promise<PreparedDataset> {
  const { data } = config;
  const { source, layout } = await openCheckedSource(config);
  const read = (): AsyncIterable<NumberedBatch> => readConfiguredBatches(config, source, layout);

  const fingerprint = await fingerprintFiles(source.files);
  const configHash = hashVocabularyConfig(config);
  const cacheFile = options.cacheDir ? path.join(options.cacheDir, VOCABULARY_FILE) : undefined;
  const cached = cacheFile ? await readVocabularyState(cacheFile) : undefined;
  const reusedVocabulary = cached?.fingerprint === fingerprint && cached.configHash === configHash;
  let state: VocabularyState;
  let decoded: DecodedBatches<NumberedBatch> | undefined;
  if (reusedVocabulary) {
    state = cached!;
  } else {
    const memory = new CountingMemory(data.vocabulary_memory, options.cacheDir ?? os.tmpdir());
    // What the pass decoded, for the first encoding: within data.cache_memory and the pass's memory.
    decoded = new DecodedBatches<NumberedBatch>(data.cache_memory, memory);
    let counted: Omit<VocabularyState, 'fingerprint' | 'configHash'>;
    try {
      const pass = { read, memory, decoded, onProgress: options.onProgress };
      counted = await countVocabularies(config, layout, source.location, pass);
    } finally {
      memory.dispose();
    }
    state = { ...counted, fingerprint, configHash };
    if (cacheFile) await writeFileAtomic(cacheFile, JSON.stringify(state));
  }

  const vocabularies = new Map(state.vocabularies.map((vocabulary) => [vocabulary.feature, vocabulary]));
  const workers = options.workers ?? data.workers;
  const partitions = workers > 1 && source.partitionable && data.max_rows === undefined ? workers : 1;
  const encode = (): AsyncIterable<EncodedBatch> =>
    workers > 0
      ? encodeInWorkers({ config, state }, partitions)
      : encodeInThread(createEncoder(config, layout, state, source.location), read());
  const cache = await EncodedCache.open({
    memoryBytes: data.cache_memory,
    cacheDir: options.cacheDir,
    key: { fingerprint, configHash },
    read: encode,
  });
  const onProgress = options.onProgress;
  const kept = decoded?.take();
  if (kept) {
    const encoder = createEncoder(config, layout, state, source.location);
    await cache.fill(encodeInThread(encoder, kept), onProgress && ((rows) => onProgress('encode', rows)));
  }
  const encodedBatches = (): EncodedRows =>
    onProgress ? withProgress(cache.rows(), onProgress) : cache.rows();
  return {
    source,
    layout,
    vocabularies,
    stats: state.stats,
    reusedVocabulary,
    fingerprint,
    encodedBatches,
    prefill: () => cache.prefill(),
  };
}

/** The rows, reporting the count handed out after each batch. */
function withProgress(rows: EncodedRows, onProgress: NonNullable<PrepareOptions['onProgress']>): EncodedRows {
  async function* counted(): AsyncGenerator<EncodedBatch> {
    let count = 0;
    for await (const batch of rows) {
      yield batch;
      count += batch.numRows;
      onProgress('encode', count);
    }
  }
  return { bySplit: rows.bySplit, [Symbol.asyncIterator]: counted };
}

/** The encoder for a config and its vocabulary state: the same in every thread. */
export function createEncoder(
  config: RunConfig,
  layout: FeatureLayout,
  state: Pick<VocabularyState, 'vocabularies' | 'timeCutoffs'>,
  location: string,
): Encoder {
  const { data } = config;
  return new Encoder({
    features: layout.features,
    vocabularies: new Map(state.vocabularies.map((vocabulary) => [vocabulary.feature, vocabulary])),
    labelColumn: data.label.column,
    labelRule: compileLabelRule(data.label, location),
    splitColumn: data.split.column,
    assignSplit: createSplitAssigner(data.split, location, state.timeCutoffs),
  });
}

export type NumberedBatch = RecordBatch & { readonly firstRow: number };

/**
 * The configured columns of a source, or of one partition of it, with each batch's first
 * row numbered (by the source where it knows, else by counting) and data.max_rows applied.
 */
export async function* readConfiguredBatches(
  config: RunConfig,
  source: DataSource,
  layout: FeatureLayout,
  partition?: ReadOptions['partition'],
): AsyncGenerator<NumberedBatch> {
  const batches = source.batches({ columns: requiredColumns(config, layout), partition });
  // A row limit counts rows from the start of the source: it cannot apply to one partition.
  const limited = partition ? batches : limitRows(batches, config.data.max_rows);
  let next = 0;
  for await (const batch of limited) {
    const firstRow = batch.firstRow ?? next;
    next = firstRow + batch.numRows;
    yield batch.firstRow === undefined ? { ...batch, firstRow } : (batch as NumberedBatch);
  }
}

export async function* encodeInThread(
  encoder: Encoder,
  batches: AsyncIterable<NumberedBatch> | Iterable<NumberedBatch>,
): AsyncGenerator<EncodedBatch> {
  for await (const batch of batches) yield encoder.encode(batch, batch.firstRow);
}

interface VocabularyPass {
  readonly read: () => AsyncIterable<NumberedBatch>;
  readonly memory: CountingMemory;
  /** Receives each batch once counted. */
  readonly decoded: DecodedBatches<NumberedBatch>;
  readonly onProgress: PrepareOptions['onProgress'];
}

async function countVocabularies(
  config: RunConfig,
  layout: FeatureLayout,
  location: string,
  { read, memory, decoded, onProgress }: VocabularyPass,
): Promise<Omit<VocabularyState, 'fingerprint' | 'configHash'>> {
  const { label, split } = config.data;
  const builders = layout.features.map((feature) => new VocabularyBuilder(feature, memory));
  const timeBuilder = split.method === 'time' ? new TimeCutoffBuilder(split) : undefined;
  const labelRule = compileLabelRule(label, location);
  let rows = 0;
  let positives = 0;
  for await (const batch of read()) {
    for (const builder of builders) {
      const { column } = builder.feature;
      builder.add(() => batch.columns.get(column)!, batch.dictionaries?.get(column));
    }
    if (timeBuilder) timeBuilder.add(batch.columns.get(split.column!)!);
    const labels = label.column === undefined ? undefined : batch.columns.get(label.column)!;
    for (let i = 0; i < batch.numRows; i++) positives += labelRule(labels?.[i] ?? null, rows + i + 1);
    rows += batch.numRows;
    decoded.keep(batch);
    onProgress?.('vocabulary', rows);
  }
  if (rows === 0) throw new LemoptError(`${location}: the dataset has no rows`);
  return {
    version: VOCABULARY_FORMAT_VERSION,
    vocabularies: builders.map((builder) => builder.finish(location)),
    timeCutoffs: timeBuilder?.finish(location),
    stats: { rows, positives },
  };
}

async function readVocabularyState(file: string): Promise<VocabularyState | undefined> {
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as VocabularyState;
    return state.version === VOCABULARY_FORMAT_VERSION ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Everything that changes the vocabularies, labels' meaning or split; nothing else. */
function hashVocabularyConfig(config: RunConfig): string {
  const { features, groups } = config;
  const { label, split, max_rows, format, csv } = config.data;
  const relevant = {
    features,
    groups,
    label,
    split,
    max_rows,
    format,
    csv,
    version: VOCABULARY_FORMAT_VERSION,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

export function requiredColumns(config: RunConfig, layout: FeatureLayout): string[] {
  const columns = layout.features.map((feature) => feature.column);
  if (config.data.label.column !== undefined) columns.push(config.data.label.column);
  if (config.data.split.column !== undefined) columns.push(config.data.split.column);
  return [...new Set(columns)];
}

async function* limitRows(
  batches: AsyncIterable<RecordBatch>,
  maxRows: number | undefined,
): AsyncIterable<RecordBatch> {
  if (maxRows === undefined) {
    yield* batches;
    return;
  }
  let remaining = maxRows;
  for await (const batch of batches) {
    if (batch.numRows <= remaining) {
      yield batch;
    } else {
      const columns = new Map(
        [...batch.columns].map(([name, values]) => [name, sliceColumn(values, remaining)]),
      );
      yield { numRows: remaining, columns };
    }
    remaining -= Math.min(remaining, batch.numRows);
    if (remaining === 0) return;
  }
}

function sliceColumn<T>(values: ArrayLike<T>, end: number): ArrayLike<T> {
  const sliceable = values as ArrayLike<T> & { slice?: (start: number, end: number) => ArrayLike<T> };
  return sliceable.slice ? sliceable.slice(0, end) : Array.from({ length: end }, (_, i) => values[i]);
}

/** Every configured column must exist and have a type its feature can encode. */
function checkColumns(
  config: RunConfig,
  layout: FeatureLayout,
  location: string,
  columns: readonly ColumnSchema[],
): void {
  const types = new Map(columns.map((column) => [column.name, column.type]));
  const known = columns.map((column) => column.name).join(', ');
  const lookup = (column: string, role: string): LogicalType => {
    const type = types.get(column);
    if (!type) throw new LemoptError(`${location}: no column '${column}' (${role}); columns are: ${known}`);
    return type;
  };
  for (const feature of layout.features) {
    const role = `feature '${feature.name}'`;
    const type = lookup(feature.column, role);
    const fits =
      feature.type === 'numeric'
        ? ['int', 'float', 'bool', 'timestamp'].includes(type.kind)
        : feature.type === 'multi_categorical'
          ? type.kind === 'string' || (type.kind === 'list' && isScalar(type.element))
          : isScalar(type);
    if (!fits) {
      throw new LemoptError(
        `${location}: column '${feature.column}' is ${typeToString(type)}, which ${role} of type ${feature.type} cannot encode`,
      );
    }
  }
  const { label, split } = config.data;
  if (label.column !== undefined) {
    const type = lookup(label.column, 'data.label.column');
    if (!isScalar(type)) {
      throw new LemoptError(
        `${location}: label column '${label.column}' is ${typeToString(type)}, not a scalar`,
      );
    }
  }
  if (split.column !== undefined) {
    const type = lookup(split.column, 'data.split.column');
    if (split.method === 'time' && !['int', 'float', 'timestamp'].includes(type.kind)) {
      throw new LemoptError(
        `${location}: split column '${split.column}' is ${typeToString(type)}; a time split needs numbers or timestamps`,
      );
    }
  }
}

function isScalar(type: LogicalType): boolean {
  return type.kind !== 'list' && type.kind !== 'unknown';
}
