import { describe, expect, it } from 'vitest';
import {
  bucketId,
  CategoryIndex,
  VocabularyBuilder,
  vocabularySize,
  type CategoricalVocabulary,
  type NumericVocabulary,
} from '../src/data/vocabulary.js';
import { featureFrom } from './support/features.js';

function build(settings: string, ...columns: unknown[][]) {
  const builder = new VocabularyBuilder(featureFrom(settings));
  for (const column of columns) builder.add(column as never);
  return builder.finish('data.csv');
}

describe('categorical vocabulary', () => {
  it('orders values by count, ties by value, after the missing and OOV ids', () => {
    const vocabulary = build('name: c, tower: user', [
      'b',
      'a',
      'c',
      'a',
      null,
      'b',
      'a',
      '',
    ]) as CategoricalVocabulary;
    expect(vocabulary.values).toEqual(['a', 'b', 'c']);
    expect(vocabulary.counts).toEqual([3, 2, 1]);
    expect(vocabularySize(vocabulary)).toBe(5);
    const index = new CategoryIndex(vocabulary);
    expect(['a', 'b', 'c', 'zzz', null, ''].map((v) => index.id(v))).toEqual([2, 3, 4, 1, 0, 0]);
  });

  it('applies min_count and max_size, and counts what it dropped', () => {
    const values = [1, 1, 1, 2, 2, 3, 4, 4, 4, 4];
    const byCount = build('name: c, tower: user, min_count: 2', values) as CategoricalVocabulary;
    expect(byCount.values).toEqual([4, 1, 2]);
    expect(byCount.droppedValues).toBe(1);
    const bySize = build('name: c, tower: user, max_size: 2', values) as CategoricalVocabulary;
    expect(bySize.values).toEqual([4, 1]);
    expect(new CategoryIndex(bySize).id(2)).toBe(1);
  });

  it('treats int, bigint and boolean consistently but keeps strings apart from numbers', () => {
    const vocabulary = build('name: c, tower: user', [7, 7n, true], ['7']) as CategoricalVocabulary;
    expect(vocabulary.values).toEqual([7, 1, '7']);
    const index = new CategoryIndex(vocabulary);
    expect(index.id(7n)).toBe(index.id(7));
    expect(index.id('7')).not.toBe(index.id(7));
  });

  it('hashes out-of-vocabulary values into the configured buckets, deterministically', () => {
    const vocabulary = build('name: c, tower: user, hash_buckets: 8, max_size: 1', [
      'a',
      'a',
      'b',
    ]) as CategoricalVocabulary;
    expect(vocabularySize(vocabulary)).toBe(1 + 8 + 1);
    const index = new CategoryIndex(vocabulary);
    const ids = Array.from({ length: 200 }, (_, i) => index.id(`tail-${i}`));
    expect(Math.min(...ids)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...ids)).toBeLessThanOrEqual(8);
    expect(new Set(ids).size).toBe(8);
    expect(new CategoryIndex(vocabulary).id('tail-3')).toBe(ids[3]);
    expect(index.id('a')).toBe(9);
  });

  it('encodes integer typed arrays through the lookup table exactly as value by value', () => {
    const vocabulary = build(
      'name: c, tower: user, min_count: 2, hash_buckets: 4',
      [5, 5, 9, 9, 7, 100, 100],
    );
    const index = new CategoryIndex(vocabulary as CategoricalVocabulary);
    const column = Int32Array.from([5, 9, 7, 100, 6, -3, 1_000_000, 5]);
    const fast = new Int32Array(column.length);
    index.encodeInto(column, fast);
    expect(Array.from(fast)).toEqual(Array.from(column, (value) => index.id(value)));
    expect(fast[2]).toBeGreaterThanOrEqual(1);
    expect(fast[2]).toBeLessThanOrEqual(4);
  });

  it('counts the elements of list cells and delimited strings', () => {
    const fromLists = build('name: t, tower: item, type: multi_categorical', [
      [1, 2],
      [2],
      [],
      null,
    ]) as CategoricalVocabulary;
    expect(fromLists.values).toEqual([2, 1]);
    const fromText = build('name: t, tower: item, type: multi_categorical, delimiter: ","', ['x,y', 'y', '']);
    expect((fromText as CategoricalVocabulary).values).toEqual(['y', 'x']);
  });

  it('rejects a column with only missing values, naming it', () => {
    expect(() => build('name: c, tower: user', [null, undefined, ''])).toThrow(
      "data.csv: column 'c' has only missing values",
    );
  });
});

describe('numeric buckets', () => {
  it('puts quantile boundaries so buckets hold about equal counts', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => i);
    const vocabulary = build('name: n, tower: user, type: numeric, buckets: 4', values) as NumericVocabulary;
    expect(vocabulary.boundaries).toEqual([2500, 5000, 7500]);
    expect(vocabularySize(vocabulary)).toBe(5);
  });

  it('uses explicit boundaries and gives missing values bucket 0', () => {
    const vocabulary = build(
      'name: n, tower: user, type: numeric, boundaries: [0, 10]',
      [1],
    ) as NumericVocabulary;
    expect(vocabulary.boundaries).toEqual([0, 10]);
    expect([-5, 0, 5, 10, 99, Number.NaN].map((v) => bucketId(vocabulary.boundaries, v))).toEqual([
      1, 2, 2, 3, 3, 0,
    ]);
  });

  it('drops repeated quantiles of a column with few distinct values', () => {
    const values = Array.from({ length: 1000 }, (_, i) => (i < 900 ? 0 : 1));
    const vocabulary = build('name: n, tower: user, type: numeric, buckets: 10', values) as NumericVocabulary;
    expect(vocabulary.boundaries).toEqual([0, 1]);
    expect(bucketId(vocabulary.boundaries, 0)).not.toBe(bucketId(vocabulary.boundaries, 1));
  });
});

describe('counting dictionary-encoded columns', () => {
  /** Two batches of one column chunk: indices into one shared dictionary, -1 for null. */
  const dictionary = ['x', 'y', '', 'z', 'w'];
  const batchIndices = [
    [0, 1, 1, -1, 3, 0, 2, 1],
    [3, 3, 1, -1, 0, 1, 1],
  ];
  const valuesOf = (indices: number[]): (string | null)[] =>
    indices.map((index) => (index < 0 ? null : dictionary[index]));

  it('gives the vocabulary that counting each row gives', () => {
    const settings = 'name: c, tower: user, min_count: 2';
    const fromIndices = new VocabularyBuilder(featureFrom(settings));
    for (const indices of batchIndices) {
      fromIndices.add(
        () => {
          throw new Error('the values were built');
        },
        { indices: Int32Array.from(indices), dictionary },
      );
    }
    const expected = build(settings, ...batchIndices.map(valuesOf)) as CategoricalVocabulary;
    expect(expected.values).toEqual(['y', 'x', 'z']);
    expect(fromIndices.finish('data.parquet')).toEqual(expected);
  });

  it('samples a numeric column the same way as from its values', () => {
    const numbers = [0.5, 7, Number.NaN, -2, 3];
    const indices = [0, 1, 1, 4, -1, 2, 3, 3, 0, 4, 1];
    const fromIndices = new VocabularyBuilder(featureFrom('name: n, tower: user, type: numeric, buckets: 4'));
    fromIndices.add(
      () => {
        throw new Error('the values were built');
      },
      { indices: Int32Array.from(indices), dictionary: Float64Array.from(numbers) },
    );
    const values = indices.map((index) => (index < 0 ? null : numbers[index]));
    const expected = build('name: n, tower: user, type: numeric, buckets: 4', values) as NumericVocabulary;
    expect(expected.boundaries.length).toBeGreaterThan(1);
    expect(fromIndices.finish('data.parquet')).toEqual(expected);
  });
});
