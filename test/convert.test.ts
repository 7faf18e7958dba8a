/** MovieLens converters on a handful of rows written in the GroupLens formats by the test itself. */
import { mkdir, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertMovielens100k, convertMovielens1m } from '../src/data/convert/movielens.js';
import { openSource } from '../src/data/sources/open.js';
import type { Cell } from '../src/data/types.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

const GENRES = ['unknown', 'Action', 'Adventure', 'Comedy', 'Drama'];

function itemLine(id: number, title: string, date: string, genres: string[]): string {
  const flags = GENRES.map((genre) => (genres.includes(genre) ? '1' : '0'));
  return [id, title, date, '', 'http://example.org', ...flags].join('|');
}

async function write100k(dir: string, data: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(`${dir}/u.genre`, `${GENRES.map((genre, i) => `${genre}|${i}`).join('\n')}\n\n`);
  await writeFile(`${dir}/u.user`, '1|24|M|technician|85711\n2|53|F|other|T8H1N\n');
  const items = [
    itemLine(1, 'Toy Story (1995)', '01-Jan-1995', ['Comedy']),
    itemLine(2, 'Café (1996)', '4-Feb-1996', ['Action', 'Drama']),
    itemLine(3, 'unknown', '', ['unknown']),
  ];
  await writeFile(`${dir}/u.item`, Buffer.from(`${items.join('\n')}\n`, 'latin1'));
  await writeFile(`${dir}/u.data`, data);
}

async function readAll(file: string): Promise<Record<string, Cell[]>> {
  const source = await openSource(file);
  const columns: Record<string, Cell[]> = {};
  for await (const batch of source.batches())
    for (const [name, values] of batch.columns) (columns[name] ??= []).push(...Array.from(values));
  return columns;
}

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-convert-');
});
afterAll(() => tmp.remove());

describe('lemopt convert movielens-100k', () => {
  it('joins ratings with user and item attributes', async () => {
    await write100k(tmp.file('ml100k'), '1\t2\t4\t881250949\n2\t1\t2\t891717742\n2\t3\t5\t878887116\n');
    const result = await convertMovielens100k(tmp.file('ml100k'), tmp.file('out100k'));
    expect(result.rows).toBe(3);
    const table = await readAll(result.file);
    expect(table.user_id).toEqual([1, 2, 2]);
    expect(table.age).toEqual([24, 53, 53]);
    expect(table.gender).toEqual(['M', 'F', 'F']);
    expect(table.occupation).toEqual(['technician', 'other', 'other']);
    expect(table.zip_prefix).toEqual(['857', 'T8H', 'T8H']);
    expect(table.item_id).toEqual([2, 1, 3]);
    expect(table.genres.map((genres) => Array.from(genres as ArrayLike<Cell>))).toEqual([
      ['Action', 'Drama'],
      ['Comedy'],
      ['unknown'],
    ]);
    expect(table.release_year).toEqual([1996, 1995, null]);
    expect(table.timestamp.map(Number)).toEqual([881250949, 891717742, 878887116]);
    expect(table.rating).toEqual([4, 2, 5]);
  });

  it('names the file and row of a rating whose user is unknown', async () => {
    await write100k(tmp.file('bad-user'), '1\t1\t4\t881250949\n7\t1\t3\t881250950\n');
    await expect(convertMovielens100k(tmp.file('bad-user'), tmp.file('out'))).rejects.toThrow(
      `${tmp.file('bad-user', 'u.data')}: row 2: user 7 is not in the user file`,
    );
  });

  it('names the file and line of a malformed line', async () => {
    await write100k(tmp.file('bad-line'), '1\t1\t4\t881250949\n1\t2 4\t881250950\n');
    await expect(convertMovielens100k(tmp.file('bad-line'), tmp.file('out'))).rejects.toThrow(
      `${tmp.file('bad-line', 'u.data')}:2: expected 4 fields separated by '\t', got 3`,
    );
  });
});

describe('lemopt convert movielens-1m', () => {
  it('joins the gzipped ratings with users.dat', async () => {
    const dir = tmp.file('ml1m');
    await mkdir(dir, { recursive: true });
    await writeFile(`${dir}/users.dat`, '1::F::1::10::48067\n2::M::56::16::70072\n');
    await writeFile(
      `${dir}/ratings_user_item_rating.csv.gz`,
      gzipSync('user,item,rating\n1,1,5\n2,1,3\n1,3,4\n'),
    );
    const result = await convertMovielens1m(dir, tmp.file('out1m'));
    const table = await readAll(result.file);
    expect(table.user_id).toEqual([1, 2, 1]);
    expect(table.gender).toEqual(['F', 'M', 'F']);
    expect(table.age).toEqual([1, 56, 1]);
    expect(table.occupation).toEqual(['10', '16', '10']);
    expect(table.zip_prefix).toEqual(['480', '700', '480']);
    expect(table.item_id).toEqual([1, 1, 3]);
    expect(table.rating).toEqual([5, 3, 4]);
  });
});
