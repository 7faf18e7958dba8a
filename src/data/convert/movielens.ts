/**
 * `lemopt convert movielens-100k|movielens-1m SRC DEST`: the GroupLens files joined into
 * one Parquet table of interactions with user and item attributes (DEST/interactions.parquet).
 *
 * MovieLens-100K: u.data (user, item, rating, timestamp; tab-separated), u.user
 * (id|age|gender|occupation|zip), u.item (Latin-1: id|title|release date|video date|url|
 * 19 genre flags, named in u.genre). MovieLens-1M as shipped in ../shared: ratings
 * (user,item,rating CSV, gzipped; item ids re-indexed, no timestamps, no item attributes)
 * and users.dat (id::gender::age::occupation::zip).
 */
import { mkdir } from 'node:fs/promises';
import type { ColumnSource } from 'hyparquet-writer';
import path from 'node:path';
import { LemoptError } from '../../util/errors.js';
import { writeParquetTable, type ColumnSpec } from '../parquet-output.js';
import { integerField, readTextTable } from './text-table.js';

export const CONVERTED_FILE = 'interactions.parquet';

export interface ConvertResult {
  readonly file: string;
  readonly rows: number;
  readonly columns: readonly string[];
}

interface User {
  readonly age: number;
  readonly gender: string;
  readonly occupation: string;
  /** First three characters of the zip code (the US sectional center; some codes are Canadian). */
  readonly zipPrefix: string;
}

const MONTHS = 'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split(' ');

/** `01-Jan-1995` ─► 1995; null when the date is missing. */
function releaseYear(date: string, file: string, row: number): number | null {
  if (date.trim() === '') return null;
  const match = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(date.trim());
  if (!match || !MONTHS.includes(match[2]))
    throw new LemoptError(`${file}: row ${row}: release date '${date}' is not like 01-Jan-1995`);
  return Number(match[3]);
}

function userOf(fields: readonly string[], age: number): User {
  return { age, gender: fields[0], occupation: fields[1], zipPrefix: fields[2].trim().slice(0, 3) };
}

/** The user columns both MovieLens tables start with. */
const USER_SPECS: readonly ColumnSpec[] = [
  { name: 'user_id', type: 'int32', nullable: false },
  { name: 'age', type: 'int32', nullable: false },
  { name: 'gender', type: 'string', nullable: false },
  { name: 'occupation', type: 'string', nullable: false },
  { name: 'zip_prefix', type: 'string', nullable: false },
];

class UserColumns {
  readonly userId: Int32Array;
  readonly age: Int32Array;
  readonly gender: string[];
  readonly occupation: string[];
  readonly zipPrefix: string[];

  constructor(rows: number) {
    this.userId = new Int32Array(rows);
    this.age = new Int32Array(rows);
    this.gender = new Array<string>(rows);
    this.occupation = new Array<string>(rows);
    this.zipPrefix = new Array<string>(rows);
  }

  set(index: number, id: number, user: User): void {
    this.userId[index] = id;
    this.age[index] = user.age;
    this.gender[index] = user.gender;
    this.occupation[index] = user.occupation;
    this.zipPrefix[index] = user.zipPrefix;
  }

  /** In USER_SPECS order. */
  data(): ColumnSource['data'][] {
    return [this.userId, this.age, this.gender, this.occupation, this.zipPrefix];
  }
}

/** Joins users to interactions; an interaction with an unknown user is an error naming its row. */
function lookup<T>(table: ReadonlyMap<number, T>, id: number, what: string, file: string, row: number): T {
  const found = table.get(id);
  if (found === undefined)
    throw new LemoptError(`${file}: row ${row}: ${what} ${id} is not in the ${what} file`);
  return found;
}

export async function convertMovielens100k(src: string, dest: string): Promise<ConvertResult> {
  const file = (name: string) => path.join(src, name);
  const genreRows = await readTextTable(file('u.genre'), { separator: '|', fields: 2 });
  const genreNames = genreRows.map(([name]) => name);
  const users = new Map<number, User>();
  for (const [index, [id, age, gender, occupation, zip]] of (
    await readTextTable(file('u.user'), { separator: '|', fields: 5 })
  ).entries()) {
    const row = index + 1;
    users.set(
      integerField(id, file('u.user'), row, 'user id'),
      userOf([gender, occupation, zip], integerField(age, file('u.user'), row, 'age')),
    );
  }
  const items = new Map<number, { genres: string[]; year: number | null }>();
  const itemRows = await readTextTable(file('u.item'), {
    separator: '|',
    fields: 5 + genreNames.length,
    encoding: 'latin1',
  });
  itemRows.forEach((fields, index) => {
    const row = index + 1;
    const genres = genreNames.filter((_, g) => fields[5 + g] === '1');
    items.set(integerField(fields[0], file('u.item'), row, 'item id'), {
      genres,
      year: releaseYear(fields[2], file('u.item'), row),
    });
  });
  const ratings = await readTextTable(file('u.data'), { separator: '\t', fields: 4 });
  const n = ratings.length;
  const userColumns = new UserColumns(n);
  const columns = {
    item_id: new Int32Array(n),
    genres: new Array<string[]>(n),
    release_year: new Array<number | null>(n),
    timestamp: new BigInt64Array(n),
    rating: new Int32Array(n),
  };
  ratings.forEach(([userId, itemId, rating, timestamp], index) => {
    const row = index + 1;
    const where = file('u.data');
    const id = integerField(userId, where, row, 'user id');
    userColumns.set(index, id, lookup(users, id, 'user', where, row));
    const item = lookup(items, integerField(itemId, where, row, 'item id'), 'item', where, row);
    columns.item_id[index] = Number(itemId);
    columns.genres[index] = item.genres;
    columns.release_year[index] = item.year;
    columns.timestamp[index] = BigInt(integerField(timestamp, where, row, 'timestamp'));
    columns.rating[index] = integerField(rating, where, row, 'rating');
  });
  const specs: ColumnSpec[] = [
    ...USER_SPECS,
    { name: 'item_id', type: 'int32', nullable: false },
    { name: 'genres', type: 'list<string>', nullable: false },
    { name: 'release_year', type: 'int32', nullable: true },
    { name: 'timestamp', type: 'int64', nullable: false },
    { name: 'rating', type: 'int32', nullable: false },
  ];
  return write(dest, specs, [...userColumns.data(), ...Object.values(columns)]);
}

export async function convertMovielens1m(src: string, dest: string): Promise<ConvertResult> {
  const file = (name: string) => path.join(src, name);
  const users = new Map<number, User>();
  (await readTextTable(file('users.dat'), { separator: '::', fields: 5 })).forEach(
    ([id, gender, age, occupation, zip], index) => {
      const row = index + 1;
      users.set(
        integerField(id, file('users.dat'), row, 'user id'),
        userOf([gender, occupation, zip], integerField(age, file('users.dat'), row, 'age')),
      );
    },
  );
  const where = file('ratings_user_item_rating.csv.gz');
  const ratings = await readTextTable(where, { separator: ',', fields: 3, header: true });
  const n = ratings.length;
  const userColumns = new UserColumns(n);
  const columns = { item_id: new Int32Array(n), rating: new Int32Array(n) };
  ratings.forEach(([userId, itemId, rating], index) => {
    const row = index + 1;
    const id = integerField(userId, where, row, 'user id');
    userColumns.set(index, id, lookup(users, id, 'user', where, row));
    columns.item_id[index] = integerField(itemId, where, row, 'item id');
    columns.rating[index] = integerField(rating, where, row, 'rating');
  });
  const specs: ColumnSpec[] = [
    ...USER_SPECS,
    { name: 'item_id', type: 'int32', nullable: false },
    { name: 'rating', type: 'int32', nullable: false },
  ];
  return write(dest, specs, [...userColumns.data(), ...Object.values(columns)]);
}

async function write(
  dest: string,
  specs: readonly ColumnSpec[],
  data: readonly ColumnSource['data'][],
): Promise<ConvertResult> {
  await mkdir(dest, { recursive: true });
  const out = path.join(dest, CONVERTED_FILE);
  await writeParquetTable(out, specs, data, { createdBy: 'lemopt convert' });
  return { file: out, rows: data[0].length, columns: specs.map((spec) => spec.name) };
}

export const CONVERTERS = {
  'movielens-100k': convertMovielens100k,
  'movielens-1m': convertMovielens1m,
} as const;

export type DatasetName = keyof typeof CONVERTERS;
