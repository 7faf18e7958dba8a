import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { prepareDataset, type PreparedDataset } from '../src/data/dataset.js';
import type { EncodedBatch } from '../src/data/encoder.js';
import { TEST, TRAIN, VALID } from '../src/data/split.js';
import { MISSING_ID, type CategoricalVocabulary } from '../src/data/vocabulary.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

/** 600 interactions: user u{r%30}, item r%17, tags, a score, rating 1..5 and a time. */
function interactionsCsv(rows = 600): string {
  const lines = ['user,item,tags,score,rating,ts'];
  for (let r = 0; r < rows; r++) {
    const tags = ['a', 'b', 'c', 'd'].slice(0, r % 4).join('|');
    const score = r % 10 === 0 ? '' : String((r * 37) % 101);
    lines.push(`u${r % 30},${r % 17},"${tags}",${score},${1 + (r % 5)},${1_000_000 + ((r * 7919) % rows)}`);
  }
  return `${lines.join('\n')}\n`;
}

const CONFIG = `
data:
  source: interactions.csv
  label: { column: rating, rule: ">= 4" }
  split: { method: time, column: ts }
features:
  - { name: user, tower: user }
  - { name: item, tower: item, min_count: 36 }
  - { name: tags, tower: item, type: multi_categorical }
  - { name: score, tower: user, type: numeric, buckets: 4 }
`;

async function prepare(yaml: string, file = 'interactions.csv', cacheDir?: string): Promise<PreparedDataset> {
  const { config } = parseConfig(yaml.replace('interactions.csv', file), tmp.file('config.yaml'));
  return prepareDataset(config, { cacheDir });
}

async function encodeAll(dataset: PreparedDataset): Promise<EncodedBatch[]> {
  const out: EncodedBatch[] = [];
  for await (const batch of dataset.encodedBatches()) out.push(batch);
  return out;
}

async function failure(yaml: string, file: string, contents: string): Promise<string> {
  await writeFile(tmp.file(file), contents);
  try {
    await encodeAll(await prepare(yaml, file));
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the dataset to be rejected');
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-dataset-');
  await writeFile(tmp.file('interactions.csv'), interactionsCsv());
});
afterAll(() => tmp.remove());

describe('prepared dataset', () => {
  it('encodes every row so that ids decode back to the source values', async () => {
    const dataset = await prepare(CONFIG);
    const [batch] = await encodeAll(dataset);
    expect(dataset.stats).toEqual({ rows: 600, positives: 240 });
    const users = dataset.vocabularies.get('user') as CategoricalVocabulary;
    const items = dataset.vocabularies.get('item') as CategoricalVocabulary;
    const tags = dataset.vocabularies.get('tags') as CategoricalVocabulary;
    const [userIds, itemIds, tagIds, scoreIds] = batch.features;
    for (let r = 0; r < 600; r++) {
      expect(users.values[userIds.ids[r] - 1 - users.oovSlots]).toBe(`u${r % 30}`);
      // min_count 36: items 0..4 occur 36 times, the rest 35 and fall out of vocabulary.
      if (r % 17 < 5) expect(items.values[itemIds.ids[r] - 2]).toBe(r % 17);
      else expect(itemIds.ids[r]).toBe(1);
      const rowTags = Array.from(tagIds.ids.subarray(tagIds.offsets![r], tagIds.offsets![r + 1]));
      expect(rowTags.map((id) => tags.values[id - 2])).toEqual(['a', 'b', 'c', 'd'].slice(0, r % 4));
      expect(scoreIds.ids[r] === MISSING_ID).toBe(r % 10 === 0);
      expect(batch.labels[r]).toBe(1 + (r % 5) >= 4 ? 1 : 0);
    }
  });

  it('splits by time: the latest rows are test, the ones before them valid', async () => {
    const [batch] = await encodeAll(await prepare(CONFIG));
    for (let r = 0; r < 600; r++) {
      const rank = (r * 7919) % 600;
      expect(batch.splits[r]).toBe(rank < 480 ? TRAIN : rank < 540 ? VALID : TEST);
    }
  });

  it('saves the vocabularies and reuses them only while data and features are unchanged', async () => {
    const cache = tmp.file('run');
    const first = await prepare(CONFIG, 'interactions.csv', cache);
    const second = await prepare(CONFIG, 'interactions.csv', cache);
    expect([first.reusedVocabulary, second.reusedVocabulary]).toEqual([false, true]);
    expect([...second.vocabularies]).toEqual([...first.vocabularies]);
    const changed = await prepare(CONFIG.replace('min_count: 36', 'min_count: 2'), 'interactions.csv', cache);
    expect(changed.reusedVocabulary).toBe(false);
    await writeFile(tmp.file('interactions.csv'), interactionsCsv(601));
    const newData = await prepare(CONFIG, 'interactions.csv', cache);
    expect(newData.reusedVocabulary).toBe(false);
    expect(newData.stats.rows).toBe(601);
    await writeFile(tmp.file('interactions.csv'), interactionsCsv());
  });
});

describe('bad input', () => {
  it('names a missing data file', async () => {
    await expect(prepare(CONFIG, 'nowhere.csv')).rejects.toThrow(
      `${tmp.file('nowhere.csv')}: no such file or folder`,
    );
  });

  it('lists the columns that exist when one does not', async () => {
    const message = await failure(CONFIG.replace('name: user,', 'name: usr,'), 'a.csv', interactionsCsv(10));
    expect(message).toBe(
      `${tmp.file('a.csv')}: no column 'usr' (feature 'usr'); columns are: user, item, tags, score, rating, ts`,
    );
  });

  it('rejects a column whose type its feature cannot encode', async () => {
    const message = await failure(
      CONFIG.replace('name: score,', 'name: user,').replace(
        'name: user, tower: user }',
        'name: x, column: item, tower: user }',
      ),
      'b.csv',
      interactionsCsv(10),
    );
    expect(message).toBe(
      `${tmp.file('b.csv')}: column 'user' is string, which feature 'user' of type numeric cannot encode`,
    );
  });

  it('rejects an empty dataset and an empty file', async () => {
    expect(await failure(CONFIG, 'header-only.csv', 'user,item,tags,score,rating,ts\n')).toBe(
      `${tmp.file('header-only.csv')}: the dataset has no rows`,
    );
    expect(await failure(CONFIG, 'empty.csv', '')).toBe(`${tmp.file('empty.csv')}: the file is empty`);
  });

  it('rejects an all-null feature column', async () => {
    const text = interactionsCsv(20).replace(/^(u\d+),/gm, ',');
    expect(await failure(CONFIG, 'nulls.csv', text)).toBe(
      `${tmp.file('nulls.csv')}: column 'user' has only missing values`,
    );
  });

  it('names the row of a NaN or non-binary label', async () => {
    const binary = CONFIG.replace('{ column: rating, rule: ">= 4" }', '{ column: rating }');
    expect(await failure(binary, 'ratings.csv', interactionsCsv(10))).toBe(
      `${tmp.file('ratings.csv')}: row 2: label column 'rating' is '2'; rule binary needs 0 or 1`,
    );
    const nan = interactionsCsv(10).replace(/,3,(\d+)\n/, ',NaN,$1\n');
    expect(await failure(CONFIG, 'nan.csv', nan)).toBe(
      `${tmp.file('nan.csv')}: row 3: label column 'rating' is missing; rule '>= 4' needs a number`,
    );
  });
});
