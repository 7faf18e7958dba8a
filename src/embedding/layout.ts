/**
 * Embedding layout: one table per feature group and where each table's columns land in
 * the dense tower inputs.
 *
 * Table of a group: the rows of all its features back to back (feature k's rows start at
 * `rowOffset`), `dim` columns wide (model.embedding_dim, a multiple of block_size).
 * Block b of a group is dims [b*blockSize, (b+1)*blockSize) of every feature of the group,
 * and has the global index `firstBlock + b` (blocks numbered across tables in group order).
 *
 * Dense input of a tower: for each of the tower's groups in layout order, for each feature
 * of the group in group order, that feature's first `activeDims[group]` dims. A group with
 * two features and 8 active dims occupies 16 columns: feature 0's dims 0..7, then feature
 * 1's dims 0..7 (concatenation, not sum). A group with 0 active dims has no columns.
 */
import type { FeatureLayout } from '../data/features.js';
import { vocabularySize, type Vocabulary } from '../data/vocabulary.js';
import { LemoptError } from '../util/errors.js';

export type Tower = 'user' | 'item';
export type Pooling = 'none' | 'mean' | 'sum';

export interface EmbeddingFeatureSpec {
  /** Position in layout.features (and in a batch's features). */
  readonly index: number;
  readonly name: string;
  readonly vocabularySize: number;
  /** First row of this feature in its group's table. */
  readonly rowOffset: number;
  /** 'none' for single-valued features (one id per row); mean or sum for multi-valued ones. */
  readonly pooling: Pooling;
}

export interface EmbeddingTableSpec {
  /** Position in layout.groups; also the table's index in the store. */
  readonly index: number;
  readonly name: string;
  readonly tower: Tower;
  readonly features: readonly EmbeddingFeatureSpec[];
  /** Σ vocabulary sizes of the features. */
  readonly rows: number;
  /** Full (maximum) dimension: the table's row width. */
  readonly dim: number;
  readonly blockSize: number;
  /** dim / blockSize. */
  readonly numBlocks: number;
  /** Global index of this table's block 0. */
  readonly firstBlock: number;
}

export interface EmbeddingSpec {
  readonly tables: readonly EmbeddingTableSpec[];
  readonly dim: number;
  readonly blockSize: number;
  /** Σ numBlocks over tables: the number of block candidates. */
  readonly numBlocks: number;
}

/**
 * The tables of a layout. `vocabularySizes` maps each feature name to its number of
 * embedding rows (vocabularySize of its vocabulary).
 */
export function embeddingSpec(
  layout: FeatureLayout,
  vocabularySizes: ReadonlyMap<string, number>,
  dim: number,
  blockSize: number,
): EmbeddingSpec {
  if (!Number.isInteger(blockSize) || blockSize < 1)
    throw new LemoptError(`block_size must be a positive integer, got ${blockSize}`);
  if (!Number.isInteger(dim) || dim < blockSize || dim % blockSize !== 0)
    throw new LemoptError(`embedding_dim ${dim} must be a positive multiple of block_size ${blockSize}`);
  const names = new Set<string>();
  for (const group of layout.groups) {
    if (names.has(group.name)) throw new LemoptError(`two groups are named '${group.name}'`);
    names.add(group.name);
  }
  const featureIndex = new Map(layout.features.map((feature, index) => [feature.name, index]));
  let firstBlock = 0;
  const numBlocks = dim / blockSize;
  const tables = layout.groups.map((group, index): EmbeddingTableSpec => {
    let rows = 0;
    const features = group.features.map((name): EmbeddingFeatureSpec => {
      const position = featureIndex.get(name);
      if (position === undefined)
        throw new LemoptError(`group '${group.name}' names unknown feature '${name}'`);
      const size = vocabularySizes.get(name);
      if (size === undefined || !Number.isInteger(size) || size < 1)
        throw new LemoptError(`feature '${name}' has no vocabulary size (got ${size})`);
      const feature = layout.features[position];
      const pooling: Pooling = feature.type === 'multi_categorical' ? feature.pooling : 'none';
      const spec = { index: position, name, vocabularySize: size, rowOffset: rows, pooling };
      rows += size;
      return spec;
    });
    const table = {
      index,
      name: group.name,
      tower: group.tower,
      features,
      rows,
      dim,
      blockSize,
      numBlocks,
      firstBlock,
    };
    firstBlock += numBlocks;
    return table;
  });
  return { tables, dim, blockSize, numBlocks: firstBlock };
}

/** Number of features of the layout the spec was made from (feature indices are below it). */
export function featureCount(spec: EmbeddingSpec): number {
  return Math.max(0, ...spec.tables.flatMap((table) => table.features.map((feature) => feature.index + 1)));
}

/** Number of embedding rows of each feature, from its vocabulary. */
export function vocabularySizes(vocabularies: ReadonlyMap<string, Vocabulary>): Map<string, number> {
  return new Map([...vocabularies].map(([name, vocabulary]) => [name, vocabularySize(vocabulary)]));
}

/** What each column of one tower's dense input holds. */
export interface TowerColumns {
  readonly tower: Tower;
  /** Number of columns. */
  readonly width: number;
  /** Table (group) index per column. */
  readonly columnTable: Int32Array;
  /** Feature index (in layout.features) per column. */
  readonly columnFeature: Int32Array;
  /** Global block index per column (table.firstBlock + dim / blockSize). */
  readonly columnBlock: Int32Array;
  /** Embedding dimension (0 .. dim-1) per column. */
  readonly columnDim: Int32Array;
  /**
   * First column of each table's features: featureStart[t][k] is the first column of
   * feature k of table t, or -1 when the table is in the other tower or dropped.
   */
  readonly featureStart: readonly Int32Array[];
}

/** Checks one activeDims value per table: a multiple of blockSize in [0, dim]. */
export function checkActiveDims(spec: EmbeddingSpec, activeDims: ArrayLike<number>): void {
  if (activeDims.length !== spec.tables.length)
    throw new RangeError(`activeDims has ${activeDims.length} entries for ${spec.tables.length} tables`);
  for (let t = 0; t < spec.tables.length; t++) {
    const active = activeDims[t];
    if (!Number.isInteger(active) || active < 0 || active > spec.dim || active % spec.blockSize !== 0)
      throw new RangeError(
        `activeDims of '${spec.tables[t].name}' must be a multiple of ${spec.blockSize} in [0, ${spec.dim}], got ${active}`,
      );
  }
}

/** Column map of one tower's dense input for the given active dims per table. */
export function towerColumns(spec: EmbeddingSpec, tower: Tower, activeDims: ArrayLike<number>): TowerColumns {
  checkActiveDims(spec, activeDims);
  let width = 0;
  for (const table of spec.tables)
    if (table.tower === tower) width += activeDims[table.index] * table.features.length;
  const columnTable = new Int32Array(width);
  const columnFeature = new Int32Array(width);
  const columnBlock = new Int32Array(width);
  const columnDim = new Int32Array(width);
  const featureStart: Int32Array[] = [];
  let column = 0;
  for (const table of spec.tables) {
    const starts = new Int32Array(table.features.length).fill(-1);
    featureStart.push(starts);
    const active = activeDims[table.index];
    if (table.tower !== tower || active === 0) continue;
    table.features.forEach((feature, k) => {
      starts[k] = column;
      for (let d = 0; d < active; d++, column++) {
        columnTable[column] = table.index;
        columnFeature[column] = feature.index;
        columnBlock[column] = table.firstBlock + Math.floor(d / spec.blockSize);
        columnDim[column] = d;
      }
    });
  }
  return { tower, width, columnTable, columnFeature, columnBlock, columnDim, featureStart };
}
