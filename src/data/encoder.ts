/**
 * Encoder: a record batch in, ids per feature, labels and split out. Typed arrays only,
 * so encoded batches move between threads without copies.
 */
import type { Feature } from './features.js';
import type { LabelRule } from './labels.js';
import type { SplitAssigner } from './split.js';
import type { Cell, DictionaryColumn, RecordBatch, Scalar } from './types.js';
import {
  bucketId,
  CategoryIndex,
  cellElements,
  MISSING_ID,
  numericValue,
  type Vocabulary,
} from './vocabulary.js';

export interface EncodedFeature {
  /** One id per row, or for multi-valued features all ids of all rows back to back. */
  readonly ids: Int32Array;
  /** Multi-valued features only: row r's ids are ids[offsets[r]] .. ids[offsets[r+1]-1]. */
  readonly offsets?: Int32Array;
}

export interface EncodedBatch {
  readonly numRows: number;
  /** 0-based position of the first row in the dataset. */
  readonly firstRow: number;
  /** In the order of the layout's features. */
  readonly features: readonly EncodedFeature[];
  readonly labels: Float32Array;
  /** TRAIN, VALID or TEST per row (see split.ts). */
  readonly splits: Uint8Array;
}

export interface EncoderParts {
  readonly features: readonly Feature[];
  readonly vocabularies: ReadonlyMap<string, Vocabulary>;
  readonly labelColumn: string | undefined;
  readonly labelRule: LabelRule;
  readonly splitColumn: string | undefined;
  readonly assignSplit: SplitAssigner;
}

/** A batch's column for one feature: its values, and its dictionary indices where the source has them. */
interface FeatureColumn {
  values(): ArrayLike<Cell>;
  readonly dictionary: DictionaryColumn | undefined;
}

type FeatureEncoder = (column: FeatureColumn, numRows: number) => EncodedFeature;

export class Encoder {
  private readonly encoders: readonly FeatureEncoder[];

  constructor(private readonly parts: EncoderParts) {
    this.encoders = parts.features.map((feature) =>
      featureEncoder(feature, parts.vocabularies.get(feature.name)!),
    );
  }

  /** `firstRow` is the 0-based position of the batch's first row in the dataset. */
  encode(batch: RecordBatch, firstRow: number): EncodedBatch {
    const { numRows, columns, dictionaries } = batch;
    const features = this.parts.features.map((feature, index) =>
      this.encoders[index](
        { values: () => columns.get(feature.column)!, dictionary: dictionaries?.get(feature.column) },
        numRows,
      ),
    );
    const labels = new Float32Array(numRows);
    const labelColumn =
      this.parts.labelColumn === undefined ? undefined : columns.get(this.parts.labelColumn)!;
    const rule = this.parts.labelRule;
    for (let i = 0; i < numRows; i++) labels[i] = rule(labelColumn?.[i] ?? null, firstRow + i + 1);
    const splits = new Uint8Array(numRows);
    const splitColumn =
      this.parts.splitColumn === undefined ? undefined : columns.get(this.parts.splitColumn);
    this.parts.assignSplit(splitColumn, firstRow, splits);
    return { numRows, firstRow, features, labels, splits };
  }
}

function featureEncoder(feature: Feature, vocabulary: Vocabulary): FeatureEncoder {
  if (vocabulary.kind === 'numeric') {
    const boundaries = vocabulary.boundaries;
    return (column, numRows) => {
      const values = column.values();
      const ids = new Int32Array(numRows);
      for (let i = 0; i < numRows; i++) ids[i] = bucketId(boundaries, numericValue(values[i]));
      return { ids };
    };
  }
  const index = new CategoryIndex(vocabulary);
  if (feature.type === 'multi_categorical') {
    const delimiter = feature.delimiter;
    return (column, numRows) => {
      const values = column.values();
      const offsets = new Int32Array(numRows + 1);
      const rows: ArrayLike<Scalar>[] = new Array(numRows);
      let total = 0;
      for (let i = 0; i < numRows; i++) {
        rows[i] = cellElements(values[i], delimiter);
        total += rows[i].length;
        offsets[i + 1] = total;
      }
      const ids = new Int32Array(total);
      let position = 0;
      for (const elements of rows)
        for (let j = 0; j < elements.length; j++) ids[position++] = index.id(elements[j]);
      return { ids, offsets };
    };
  }
  // Ids of each dictionary's entries, kept while its column chunk's batches go by.
  const dictionaryIds = new WeakMap<ArrayLike<Cell>, Int32Array>();
  return (column, numRows) => {
    const ids = new Int32Array(numRows);
    const { dictionary } = column;
    if (!dictionary) {
      index.encodeInto(column.values(), ids);
      return { ids };
    }
    let entries = dictionaryIds.get(dictionary.dictionary);
    if (!entries) {
      entries = new Int32Array(dictionary.dictionary.length);
      index.encodeInto(dictionary.dictionary, entries);
      dictionaryIds.set(dictionary.dictionary, entries);
    }
    const { indices } = dictionary;
    for (let i = 0; i < numRows; i++) ids[i] = indices[i] < 0 ? MISSING_ID : entries[indices[i]];
    return { ids };
  };
}
