/**
 * The inputs of an exported model: one per kept feature, named after the feature, holding
 * lemopt's vocabulary ids as int64; a multi-valued feature also has `<feature>_lengths`.
 *
 *   single-valued   <feature>           int64 [batch]
 *   multi-valued    <feature>           int64 [batch, L]  ids padded to the longest bag (pad with 0)
 *                   <feature>_lengths   int64 [batch]     ids that count in each row (0: empty bag)
 *
 * A padded matrix with lengths rather than flat ids with offsets (the EmbeddingBag form):
 * every input then has the batch as its first dimension, so a server batches requests by
 * stacking rows, and one example is ids [1, L] with its length. Padding cannot be an id
 * value (0 is the missing-value id, which counts in a bag), hence the lengths.
 */
import type { Batch } from '../../data/batcher.js';
import type { FeatureLayout } from '../../data/features.js';
import type { EmbeddingSpec, Tower } from '../../embedding/layout.js';
import type { ServingFeature } from '../../model/onnx/serving-graph.js';
import { SERVING_OUTPUT } from '../../model/onnx/serving-graph.js';
import type { Feeds } from '../../model/onnx/runtime.js';
import { LemoptError } from '../../util/errors.js';

export const LENGTHS_SUFFIX = '_lengths';

export interface ServingInput extends ServingFeature {
  /** Index in the layout's features (and in an encoded batch's features). */
  readonly index: number;
  readonly column: string;
  readonly tower: Tower;
  readonly group: string;
  readonly type: 'categorical' | 'multi_categorical' | 'numeric';
  readonly vocabularySize: number;
}

/** The kept features' inputs, in layout order (tables with 0 kept dims have none). */
export function servingInputs(
  spec: EmbeddingSpec,
  layout: FeatureLayout,
  keptDims: ArrayLike<number>,
): ServingInput[] {
  const inputs = spec.tables
    .filter((table) => keptDims[table.index] > 0)
    .flatMap((table) =>
      table.features.map((feature): ServingInput => {
        const configured = layout.features[feature.index];
        return {
          name: feature.name,
          index: feature.index,
          column: configured.column,
          tower: table.tower,
          group: table.name,
          type: configured.type,
          vocabularySize: feature.vocabularySize,
          input: feature.name,
          lengths: feature.pooling === 'none' ? undefined : `${feature.name}${LENGTHS_SUFFIX}`,
          pooling: feature.pooling,
          rowOffset: feature.rowOffset,
        };
      }),
    );
  checkUniqueNames(inputs);
  return inputs;
}

function checkUniqueNames(inputs: readonly ServingInput[]): void {
  const taken = new Map<string, string>(Object.values(SERVING_OUTPUT).map((name) => [name, 'an output']));
  for (const input of inputs) {
    for (const name of [input.input, input.lengths]) {
      if (name === undefined) continue;
      const other = taken.get(name);
      if (other !== undefined)
        throw new LemoptError(
          `feature '${input.name}': its input '${name}' would have the name of ${other}; rename the feature to export`,
        );
      taken.set(name, `the input of feature '${input.name}'`);
    }
  }
}

/** The feeds of `batch`'s rows for the given inputs (those of one tower, or all). */
export function batchFeeds(batch: Batch, inputs: readonly ServingInput[]): Feeds {
  const feeds: Feeds = {};
  const rows = batch.numRows;
  for (const input of inputs) {
    const { ids, offsets } = batch.features[input.index];
    if (input.lengths === undefined) {
      feeds[input.input] = { data: int64(ids.subarray(0, rows)), dims: [rows] };
      continue;
    }
    const lengths = new Int32Array(rows);
    let longest = 1;
    for (let r = 0; r < rows; r++) {
      lengths[r] = offsets![r + 1] - offsets![r];
      longest = Math.max(longest, lengths[r]);
    }
    const padded = new Int32Array(rows * longest);
    for (let r = 0; r < rows; r++) padded.set(ids.subarray(offsets![r], offsets![r + 1]), r * longest);
    feeds[input.input] = { data: int64(padded), dims: [rows, longest] };
    feeds[input.lengths] = { data: int64(lengths), dims: [rows] };
  }
  return feeds;
}

/** int32 values as int64: the low word, and the sign in the high word (little-endian). */
function int64(values: Int32Array): BigInt64Array {
  const out = new BigInt64Array(values.length);
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < values.length; i++) {
    words[2 * i] = values[i];
    words[2 * i + 1] = values[i] >> 31;
  }
  return out;
}
