/**
 * Rows of the synthetic dataset, one row group at a time: the Parquet schema, the column
 * arrays of a row group, and the counts the ground truth reports about the data.
 */
import type { ColumnSource } from 'hyparquet-writer';
import type { ColumnSpec, ColumnType } from '../parquet-output.js';
import { Random } from '../../util/random.js';
import type { FeatureSpec } from './specs.js';
import {
  LOGIT_NOISE_SD,
  LOGIT_SCALE,
  ratingOf,
  TIMESTAMP_JITTER,
  TIMESTAMP_SPAN,
  TIMESTAMP_START,
  type Feature,
  type World,
} from './world.js';

export interface ColumnLayout extends ColumnSpec {
  /** The feature behind the column, if any. */
  readonly feature?: Feature;
}

function nullable(feature: Feature, specs: readonly FeatureSpec[]): boolean {
  const spec = feature.spec;
  switch (spec.kind) {
    case 'grid':
      return (spec.nullFraction ?? 0) > 0;
    case 'numeric_signal':
      return spec.nullFraction > 0;
    case 'copy': {
      const source = specs.find((candidate) => candidate.name === spec.source);
      return source?.kind === 'grid' && (source.nullFraction ?? 0) > 0;
    }
    default:
      return false;
  }
}

/** Columns of the file, in order. */
export function columnLayout(world: World): ColumnLayout[] {
  const specs = world.features.map((feature) => feature.spec);
  const layout: ColumnLayout[] = [
    { name: 'timestamp', type: 'int64', nullable: false },
    { name: 'user_id', type: 'int32', nullable: false },
    { name: 'item_id', type: 'int32', nullable: false },
  ];
  for (const feature of world.features) {
    const type: ColumnType =
      feature.kind === 'tags'
        ? 'list<int32>'
        : feature.kind === 'numeric'
          ? 'float32'
          : feature.spec.valueType === 'string'
            ? 'string'
            : 'int32';
    layout.push({ name: feature.spec.name, type, nullable: nullable(feature, specs), feature });
  }
  layout.push(
    { name: 'rating', type: 'int32', nullable: false },
    { name: 'label', type: 'int32', nullable: false },
  );
  return layout;
}

/** What the ground truth reports about the written rows. */
export interface DataCounts {
  rows: number;
  positives: number;
  /** Rows per rating 1..5 (index 0 unused). */
  readonly ratings: number[];
  readonly nulls: Map<string, number>;
  /** Seen flags per id (index = id) of the id, categorical and list columns. */
  readonly seen: Map<string, Uint8Array>;
}

export function emptyCounts(world: World): DataCounts {
  const seen = new Map<string, Uint8Array>([
    ['user_id', new Uint8Array(world.users.count + 1)],
    ['item_id', new Uint8Array(world.items.count + 1)],
  ]);
  for (const feature of world.features) {
    if (feature.kind !== 'numeric') seen.set(feature.spec.name, new Uint8Array(feature.cardinality + 1));
  }
  return { rows: 0, positives: 0, ratings: [0, 0, 0, 0, 0, 0], nulls: new Map(), seen };
}

export function distinctCount(flags: Uint8Array): number {
  let count = 0;
  for (let i = 1; i < flags.length; i++) count += flags[i];
  return count;
}

/**
 * Generates rows [start, start + count) of a file of `totalRows` rows. Rows are drawn from
 * one sequential random stream, so a file is a pure function of (seed, totalRows).
 */
export class RowGenerator {
  private readonly random: Random;

  constructor(
    private readonly world: World,
    private readonly layout: readonly ColumnLayout[],
    private readonly totalRows: number,
    readonly counts: DataCounts,
  ) {
    this.random = new Random(world.seed, 'lemopt-synthetic/rows');
  }

  /** The column data of the next `count` rows starting at row `start`. */
  next(start: number, count: number): ColumnSource[] {
    const { world, random } = this;
    const { users, items } = world;
    const userIndex = new Int32Array(count);
    const itemIndex = new Int32Array(count);
    const timestamp = new BigInt64Array(count);
    const userId = new Int32Array(count);
    const itemId = new Int32Array(count);
    const rating = new Int32Array(count);
    const label = new Int32Array(count);
    const dim = users.dim;
    const weights = world.weights;
    const scale = LOGIT_SCALE / Math.sqrt(world.weightSquares);
    for (let i = 0; i < count; i++) {
      const user = users.sampler.sample(random);
      const item = items.sampler.sample(random);
      let dot = 0;
      const uo = user * dim;
      const io = item * dim;
      for (let j = 0; j < dim; j++) {
        dot += weights[j] * (users.mean[j] + users.latent[uo + j]) * (items.mean[j] + items.latent[io + j]);
      }
      const logit = world.bias + scale * dot + LOGIT_NOISE_SD * random.normal();
      const u = (random.nextUint32() + 0.5) / 4294967296;
      const score = logit + Math.log(u / (1 - u));
      const stars = ratingOf(score);
      userIndex[i] = user;
      itemIndex[i] = item;
      userId[i] = user + 1;
      itemId[i] = item + 1;
      rating[i] = stars;
      label[i] = score >= 0 ? 1 : 0;
      const row = start + i;
      const base = TIMESTAMP_START + Math.floor((row * TIMESTAMP_SPAN) / this.totalRows);
      timestamp[i] = BigInt(base + random.integer(TIMESTAMP_JITTER));
    }

    const counts = this.counts;
    counts.rows += count;
    for (let i = 0; i < count; i++) {
      counts.positives += label[i];
      counts.ratings[rating[i]]++;
    }
    markSeen(counts.seen.get('user_id')!, userId);
    markSeen(counts.seen.get('item_id')!, itemId);

    const fixed = new Map<string, ColumnSource['data']>([
      ['timestamp', timestamp],
      ['user_id', userId],
      ['item_id', itemId],
      ['rating', rating],
      ['label', label],
    ]);
    const columns: ColumnSource[] = [];
    for (const column of this.layout) {
      const data = fixed.get(column.name);
      if (data) {
        columns.push({ name: column.name, data });
        continue;
      }
      const feature = column.feature!;
      const entity = feature.spec.tower === 'user' ? userIndex : itemIndex;
      columns.push({
        name: column.name,
        data: this.featureColumn(column, feature, entity),
        // min/max of strings and lists cost more time than they are worth here
        statistics: column.type !== 'string' && column.type !== 'list<int32>',
      });
    }
    return columns;
  }

  private featureColumn(column: ColumnLayout, feature: Feature, entity: Int32Array): ColumnSource['data'] {
    const count = entity.length;
    const counts = this.counts;
    const name = feature.spec.name;
    let nulls = 0;
    if (feature.kind === 'tags') {
      const seen = counts.seen.get(name)!;
      const data = new Array<number[]>(count);
      for (let i = 0; i < count; i++) {
        const tags = feature.tags[entity[i]];
        data[i] = tags;
        for (const tag of tags) seen[tag] = 1;
      }
      return data;
    }
    if (feature.kind === 'numeric') {
      if (!column.nullable) {
        const data = new Float32Array(count);
        for (let i = 0; i < count; i++) data[i] = feature.values[entity[i]];
        return data;
      }
      const data = new Array<number | null>(count);
      for (let i = 0; i < count; i++) {
        const value = feature.values[entity[i]];
        if (Number.isNaN(value)) {
          data[i] = null;
          nulls++;
        } else data[i] = value;
      }
      addNulls(counts, name, nulls);
      return data;
    }
    const seen = counts.seen.get(name)!;
    const ids = feature.ids;
    const strings = feature.strings;
    if (!strings && !column.nullable) {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = ids[entity[i]];
      markSeen(seen, data);
      return data;
    }
    // String labels, or ids with nulls: id 0 is null.
    const data = new Array<string | number | null>(count);
    for (let i = 0; i < count; i++) {
      const id = ids[entity[i]];
      seen[id] = 1;
      if (id === 0) {
        data[i] = null;
        nulls++;
      } else data[i] = strings ? strings[id] : id;
    }
    addNulls(counts, name, nulls);
    return data;
  }
}

function addNulls(counts: DataCounts, name: string, nulls: number): void {
  counts.nulls.set(name, (counts.nulls.get(name) ?? 0) + nulls);
}

function markSeen(seen: Uint8Array, ids: Int32Array): void {
  for (let i = 0; i < ids.length; i++) seen[ids[i]] = 1;
}
