import { readdir, readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { CountingMemory } from '../src/data/category-counter.js';
import { readSpillFile, SpillWriter, type SpillKey } from '../src/data/count-spill.js';
import { prepareDataset, VOCABULARY_FILE, type VocabularyState } from '../src/data/dataset.js';
import {
  CategoryIndex,
  VocabularyBuilder,
  vocabularySize,
  type CategoricalVocabulary,
  type Vocabulary,
} from '../src/data/vocabulary.js';
import { Random } from '../src/util/random.js';
import { configFrom, featureFrom } from './support/features.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('lemopt-out-of-core-');
});
afterAll(() => tmp.remove());

/**
 * Columns whose values repeat with a skew, so counts tie and differ: small ints (dense
 * table), large and negative ints, fractions, strings with non-ASCII characters, missing
 * values, and lists for a multi-valued feature.
 */
function generatedColumns(rows: number, seed: number): Record<string, unknown[]> {
  const random = new Random(seed);
  const skewed = (n: number): number => Math.floor(random.next() ** 2 * n);
  const columns: Record<string, unknown[]> = { small: [], large: [], mixed: [], text: [], tags: [] };
  for (let r = 0; r < rows; r++) {
    columns.small.push(skewed(300));
    columns.large.push(5_000_000_000 + skewed(4000) * 7919);
    const m = skewed(3000);
    columns.mixed.push(m % 5 === 0 ? null : m % 3 === 0 ? -m - 0.5 : m % 3 === 1 ? `m${m}` : m);
    columns.text.push(r % 97 === 0 ? '' : `välue-${skewed(5000)}-é`);
    columns.tags.push(Array.from({ length: r % 4 }, (_, i) => `t${skewed(1500) + i}`));
  }
  return columns;
}

const FEATURES = [
  'name: small, tower: user',
  'name: large, tower: user, min_count: 2',
  'name: mixed, tower: item, max_size: 700',
  'name: text, tower: item, min_count: 3, max_size: 1200',
  'name: tags, tower: item, type: multi_categorical',
];

function buildAll(columns: Record<string, unknown[]>, memory?: CountingMemory): Vocabulary[] {
  const builders = FEATURES.map((settings) => new VocabularyBuilder(featureFrom(settings), memory));
  // Batches of 1000 rows, as a source would hand them.
  const rows = columns.small.length;
  for (let start = 0; start < rows; start += 1000) {
    for (const builder of builders)
      builder.add(columns[builder.feature.column].slice(start, start + 1000) as never);
  }
  try {
    return builders.map((builder) => builder.finish('generated.parquet'));
  } finally {
    memory?.dispose();
  }
}

describe('out-of-core vocabulary counting', () => {
  it('gives the same vocabularies as in-memory counting when the counts spill to disk', async () => {
    const columns = generatedColumns(8000, 3);
    const inMemory = buildAll(columns);
    const memory = new CountingMemory(48 << 10, tmp.file('spill-a'));
    const spilled = buildAll(columns, memory);
    expect(memory.spilled).toBeGreaterThanOrEqual(4);
    expect(spilled).toEqual(inMemory);
    // The cut-offs did apply, so the comparison covers them.
    const [, large, mixed, text] = inMemory as CategoricalVocabulary[];
    expect(large.droppedValues).toBeGreaterThan(0);
    expect(mixed.values).toHaveLength(700);
    expect(text.values.length).toBeLessThanOrEqual(1200);
    expect(text.counts.at(-1)).toBeGreaterThanOrEqual(3);
    expect(await readdir(tmp.file('spill-a'))).toEqual([]);
  });

  it('counts a partition too large for the memory through a deeper spill', () => {
    const values = Array.from({ length: 450 }, (_, i) => 10_000_000 + ((i * 31) % 300));
    const feature = featureFrom('name: v, tower: user, max_size: 20');
    const reference = new VocabularyBuilder(feature);
    reference.add(values);
    const memory = new CountingMemory(256, tmp.file('spill-b'));
    const builder = new VocabularyBuilder(feature, memory);
    builder.add(values);
    const vocabulary = builder.finish('v.parquet') as CategoricalVocabulary;
    // 300 distinct in 64 partitions of ~4.7 against 4 entries of memory: partitions spill
    // again, one writer each beyond the top level's.
    expect(memory.spilled).toBeGreaterThan(5);
    memory.dispose();
    expect(vocabulary).toEqual(reference.finish('v.parquet'));
    expect(vocabulary.distinctSeen).toBe(300);
  });

  it('names the setting when a partition cannot be split small enough', () => {
    const memory = new CountingMemory(10, tmp.file('spill-c'));
    const builder = new VocabularyBuilder(featureFrom('name: v, tower: user'), memory);
    builder.add(['a', 'b', 'c']);
    try {
      expect(() => builder.finish('v.csv')).toThrow(
        'data.vocabulary_memory (10 bytes) is too small to count the values of a spill partition; raise it',
      );
    } finally {
      memory.dispose();
    }
  });
});

describe('spill files', () => {
  it('read back every pair written, across read chunks, in each key partition', () => {
    const writer = new SpillWriter(tmp.path, 0);
    const keys: SpillKey[] = [-0.25, 2 ** 40 + 3, 'ü€😀', '', 'x'.repeat(5 << 20), 7];
    writer.write(keys, [1, 2, 3, 4, 5, 6]);
    writer.write(['ü€😀', 7], [10, 20]);
    writer.close();
    const read = new Map<SpillKey, number[]>();
    const partitions = new Map<SpillKey, number>();
    writer.files.forEach((file, partition) => {
      if (!writer.written[partition]) return;
      for (const [key, count] of readSpillFile(file)) {
        read.set(key, [...(read.get(key) ?? []), count]);
        expect(partitions.get(key) ?? partition).toBe(partition);
        partitions.set(key, partition);
      }
    });
    expect(read).toEqual(
      new Map<SpillKey, number[]>([
        [-0.25, [1]],
        [2 ** 40 + 3, [2]],
        ['ü€😀', [3, 10]],
        ['', [4]],
        ['x'.repeat(5 << 20), [5]],
        [7, [6, 20]],
      ]),
    );
  });
});

describe('prepare with a small data.vocabulary_memory', () => {
  it('writes the same vocabulary.json and leaves no spill files behind', async () => {
    const lines = ['user,item,query,tags,label'];
    const random = new Random(11);
    for (let r = 0; r < 5000; r++) {
      const item = Math.floor(random.next() ** 3 * 4000);
      const tags = [`g${item % 7}`, `g${item % 11}`].join('|');
      lines.push(
        `${900_000_000 + r * 13},${item},q-${Math.floor(random.next() * 3000)},${tags},${r % 3 === 0 ? 1 : 0}`,
      );
    }
    await writeFile(tmp.file('rows.csv'), `${lines.join('\n')}\n`);
    const states: VocabularyState['vocabularies'][] = [];
    for (const memory of ['1GiB', '32KiB']) {
      const dir = tmp.file(`run-${memory}`);
      const { config } = parseConfig(
        `data: { source: rows.csv, label: { column: label }, vocabulary_memory: ${memory} }
features:
  - { name: user, tower: user, max_size: 2000, hash_buckets: 64 }
  - { name: item, tower: item, min_count: 2 }
  - { name: query, tower: user, min_count: 5 }
  - { name: tags, tower: item, type: multi_categorical }
`,
        tmp.file('config.yaml'),
      );
      await prepareDataset(config, { cacheDir: dir });
      const state = JSON.parse(await readFile(`${dir}/${VOCABULARY_FILE}`, 'utf8')) as VocabularyState;
      states.push(state.vocabularies);
      expect(await readdir(dir)).toEqual([VOCABULARY_FILE]);
    }
    expect(states[1]).toEqual(states[0]);
    expect((states[0][0] as CategoricalVocabulary).distinctSeen).toBe(5000);
  });
});

describe('hash_buckets without a vocabulary (max_size: 0)', () => {
  it('counts nothing and hashes every value into the buckets', () => {
    const builder = new VocabularyBuilder(
      featureFrom('name: uid, tower: user, max_size: 0, hash_buckets: 16'),
    );
    builder.add(Array.from({ length: 500 }, (_, i) => `user-${i}`));
    const vocabulary = builder.finish('events.parquet') as CategoricalVocabulary;
    expect(vocabulary.values).toEqual([]);
    expect(vocabularySize(vocabulary)).toBe(17);
    const index = new CategoryIndex(vocabulary);
    const ids = Array.from({ length: 500 }, (_, i) => index.id(`user-${i}`));
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: 16 }, (_, i) => i + 1)));
    expect(index.id(null)).toBe(0);
  });

  it('is refused without hash buckets to hash into', () => {
    expect(() =>
      configFrom(
        'data: { source: x.csv, label: { column: y } }\nfeatures:\n  - { name: uid, tower: user, max_size: 0 }\n',
      ),
    ).toThrow(
      '/tmp/lemopt-test/config.yaml:3: features[0].max_size: 0 keeps no vocabulary: set hash_buckets (2 or more) to hash every value into that many ids',
    );
  });
});
