/**
 * Deterministic train/valid/test assignment. The same config gives the same split on
 * every run and on every machine: no state but the seed, the key and the time quantiles.
 *   random: hash of the row's position in the dataset
 *   hash:   hash of a key column (all rows of a user land in one split)
 *   time:   the latest `test` fraction of rows by the time column is test, before it valid
 */
import type { SplitConfig } from '../config/schema.js';
import { LemoptError } from '../util/errors.js';
import { hashUnit } from '../util/random.js';
import { ReservoirSample } from './reservoir.js';
import type { Cell, Scalar } from './types.js';
import { categoryKey, numericValue } from './vocabulary.js';

export const SPLIT_NAMES = ['train', 'valid', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];
export const TRAIN = 0;
export const VALID = 1;
export const TEST = 2;

const TIME_SAMPLE_SIZE = 1_000_000;

/** Time thresholds learnt in the vocabulary pass: [end of train, end of valid]. */
export type TimeCutoffs = readonly [number, number];

export class TimeCutoffBuilder {
  private readonly sample = new ReservoirSample(TIME_SAMPLE_SIZE, 2);
  constructor(private readonly split: SplitConfig) {}

  add(column: ArrayLike<Cell>): void {
    for (let i = 0; i < column.length; i++) {
      const value = numericValue(column[i]);
      if (Number.isFinite(value)) this.sample.add(value);
    }
  }

  finish(location: string): TimeCutoffs {
    if (this.sample.count === 0) {
      throw new LemoptError(`${location}: split column '${this.split.column}' has no time value`);
    }
    const [train, valid] = this.sample.quantiles([this.split.train, this.split.train + this.split.valid]);
    return [train, valid];
  }
}

/** Writes the split (TRAIN, VALID or TEST) of each row of a batch into `out`. */
export type SplitAssigner = (column: ArrayLike<Cell> | undefined, firstRow: number, out: Uint8Array) => void;

export function createSplitAssigner(
  split: SplitConfig,
  location: string,
  cutoffs?: TimeCutoffs,
): SplitAssigner {
  const trainEnd = split.train;
  const validEnd = split.train + split.valid;
  const byFraction = (unit: number): number => (unit < trainEnd ? TRAIN : unit < validEnd ? VALID : TEST);
  const seed = split.seed;
  switch (split.method) {
    case 'random':
      return (_column, firstRow, out) => {
        for (let i = 0; i < out.length; i++) out[i] = byFraction(hashUnit(firstRow + i, seed));
      };
    case 'hash':
      return (column, firstRow, out) => {
        for (let i = 0; i < out.length; i++) {
          const key = categoryKey(column![i] as Scalar);
          if (key === undefined) missing(location, split, firstRow + i);
          out[i] = byFraction(hashUnit(key!, seed));
        }
      };
    case 'time': {
      const [trainCutoff, validCutoff] = cutoffs!;
      return (column, firstRow, out) => {
        for (let i = 0; i < out.length; i++) {
          const time = numericValue(column![i]);
          if (!Number.isFinite(time)) missing(location, split, firstRow + i);
          out[i] = time < trainCutoff ? TRAIN : time < validCutoff ? VALID : TEST;
        }
      };
    }
  }
}

function missing(location: string, split: SplitConfig, row: number): never {
  throw new LemoptError(`${location}: row ${row + 1}: split column '${split.column}' is missing`);
}
