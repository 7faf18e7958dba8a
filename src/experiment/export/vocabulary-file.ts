/**
 * The serving vocabulary (`vocabulary.json` of an export): how a server turns a raw value
 * into the id an exported model's input takes, for every kept feature. The rules are
 * src/data/vocabulary.ts's, which the encoder applies in training:
 *
 * - categorical (and each element of a multi_categorical): a missing value (null, NaN,
 *   empty string; for a delimited string also an empty element) is `missing_id` 0. A value
 *   is keyed as a string: strings as they are, integers in decimal (`7`, `-3`), other
 *   numbers as JavaScript prints them, booleans as `1`/`0`; `ids[key]` is its id. Any other
 *   value is out of vocabulary: id `oov.first_id` (1) when `oov.buckets` is 1, else
 *   `1 + murmur3_x86_32(bytes, seed 0) mod buckets` over the value's bytes: a string's
 *   UTF-8, an integer in the int32 range its 4 little-endian bytes, another safe integer
 *   its 8 little-endian two's-complement bytes, any other number its float64 bytes.
 * - multi_categorical: a list, or a string split on `delimiter`; each element maps as
 *   above; the model pools the bag (`pooling`).
 * - numeric: missing or not finite: 0; else `1 + (number of boundaries <= value)`.
 *
 * Ids are always below `vocabulary_size`.
 */
import type { FeatureLayout } from '../../data/features.js';
import { MISSING_ID, type CategoricalVocabulary, type Vocabulary } from '../../data/vocabulary.js';
import { LemoptError } from '../../util/errors.js';
import type { ServingInput } from './serving-inputs.js';

export const SERVING_VOCABULARY_FORMAT = 'lemopt-serving-vocabulary';
export const SERVING_VOCABULARY_VERSION = 1;
export const OOV_HASH = 'murmur3_x86_32';

interface FeatureEntryBase {
  readonly column: string;
  readonly tower: 'user' | 'item';
  readonly group: string;
  /** Graph inputs: the ids, and for a bag their lengths. */
  readonly inputs: { readonly ids: string; readonly lengths?: string };
  readonly vocabulary_size: number;
}

export interface CategoricalEntry extends FeatureEntryBase {
  readonly type: 'categorical' | 'multi_categorical';
  /** multi_categorical: the separator of a delimited string, and how the bag is pooled. */
  readonly delimiter?: string;
  readonly pooling?: 'mean' | 'sum';
  readonly oov: { readonly first_id: number; readonly buckets: number; readonly hash: typeof OOV_HASH };
  /** What the kept values are: all numbers, all strings, or both. */
  readonly key_type: 'number' | 'string' | 'mixed';
  readonly ids: Readonly<Record<string, number>>;
}

export interface NumericEntry extends FeatureEntryBase {
  readonly type: 'numeric';
  readonly boundaries: readonly number[];
}

export type FeatureEntry = CategoricalEntry | NumericEntry;

export interface ServingVocabulary {
  readonly format: typeof SERVING_VOCABULARY_FORMAT;
  readonly version: typeof SERVING_VOCABULARY_VERSION;
  readonly missing_id: typeof MISSING_ID;
  /** By feature name, in the models' input order. */
  readonly features: Readonly<Record<string, FeatureEntry>>;
}

export function servingVocabulary(
  inputs: readonly ServingInput[],
  layout: FeatureLayout,
  vocabularies: ReadonlyMap<string, Vocabulary>,
): ServingVocabulary {
  const features: Record<string, FeatureEntry> = {};
  for (const input of inputs) {
    const vocabulary = vocabularies.get(input.name);
    if (vocabulary === undefined) throw new Error(`no vocabulary for feature '${input.name}'`);
    const base: FeatureEntryBase = {
      column: input.column,
      tower: input.tower,
      group: input.group,
      inputs:
        input.lengths === undefined ? { ids: input.input } : { ids: input.input, lengths: input.lengths },
      vocabulary_size: input.vocabularySize,
    };
    if (vocabulary.kind === 'numeric') {
      features[input.name] = { ...base, type: 'numeric', boundaries: vocabulary.boundaries };
      continue;
    }
    const feature = layout.features[input.index];
    const bag =
      feature.type === 'multi_categorical' ? { delimiter: feature.delimiter, pooling: feature.pooling } : {};
    features[input.name] = {
      ...base,
      type: feature.type === 'multi_categorical' ? 'multi_categorical' : 'categorical',
      ...bag,
      oov: { first_id: MISSING_ID + 1, buckets: vocabulary.oovSlots, hash: OOV_HASH },
      key_type: keyType(vocabulary),
      ids: idsByKey(vocabulary),
    };
  }
  return {
    format: SERVING_VOCABULARY_FORMAT,
    version: SERVING_VOCABULARY_VERSION,
    missing_id: MISSING_ID,
    features,
  };
}

function keyType(vocabulary: CategoricalVocabulary): CategoricalEntry['key_type'] {
  const numbers = vocabulary.values.some((value) => typeof value === 'number');
  const strings = vocabulary.values.some((value) => typeof value === 'string');
  return numbers && strings ? 'mixed' : strings ? 'string' : 'number';
}

/** Kept values by key (ids after the missing and OOV ids, in vocabulary order). */
function idsByKey(vocabulary: CategoricalVocabulary): Record<string, number> {
  // No prototype: a value named `__proto__` or `constructor` is a key like any other.
  const ids = Object.create(null) as Record<string, number>;
  const first = MISSING_ID + 1 + vocabulary.oovSlots;
  vocabulary.values.forEach((value, index) => {
    const key = String(value);
    if (Object.hasOwn(ids, key))
      throw new LemoptError(
        `feature '${vocabulary.feature}' keeps both the number ${key} and the string '${key}': ` +
          'the serving vocabulary keys values as strings and cannot tell them apart',
      );
    ids[key] = first + index;
  });
  return ids;
}
