import { describe, expect, it } from 'vitest';
import { compileLabelRule } from '../src/data/labels.js';
import { createSplitAssigner, TEST, TimeCutoffBuilder, TRAIN, VALID } from '../src/data/split.js';
import { configFrom } from './support/features.js';

function labelConfig(label: string) {
  return configFrom(`data: { source: x.csv, label: ${label} }\nfeatures:\n  - { name: a, tower: user }\n`)
    .data.label;
}

function splitConfig(split: string) {
  return configFrom(
    `data: { source: x.csv, label: { column: y }, split: ${split} }\nfeatures:\n  - { name: a, tower: user }\n`,
  ).data.split;
}

describe('label rules', () => {
  it('applies thresholds and equality', () => {
    const atLeast4 = compileLabelRule(labelConfig('{ column: rating, rule: ">= 4" }'), 'r.csv');
    expect([1, 3.9, 4, 5, 4n].map((v, i) => atLeast4(v, i + 1))).toEqual([0, 0, 1, 1, 1]);
    const clicked = compileLabelRule(labelConfig('{ column: event, rule: "== click" }'), 'r.csv');
    expect(['click', 'view'].map((v, i) => clicked(v, i + 1))).toEqual([1, 0]);
    const notZero = compileLabelRule(labelConfig('{ column: n, rule: "!= 0" }'), 'r.csv');
    expect([0, 2].map((v, i) => notZero(v, i + 1))).toEqual([0, 1]);
  });

  it('takes 0/1 labels as given and rejects anything else, naming the row', () => {
    const binary = compileLabelRule(labelConfig('{ column: click }'), 'events.parquet');
    expect([0, 1, true, '1', 0n].map((v, i) => binary(v, i + 1))).toEqual([0, 1, 1, 1, 0]);
    expect(() => binary(2, 17)).toThrow(
      "events.parquet: row 17: label column 'click' is '2'; rule binary needs 0 or 1",
    );
    expect(() => binary(Number.NaN, 3)).toThrow(
      "events.parquet: row 3: label column 'click' is NaN; rule binary needs 0 or 1",
    );
    expect(() => binary(null, 4)).toThrow(
      "events.parquet: row 4: label column 'click' is missing; rule binary needs 0 or 1",
    );
  });

  it('rejects NaN and missing values under a numeric rule', () => {
    const rule = compileLabelRule(labelConfig('{ column: rating, rule: "> 3" }'), 'r.csv');
    expect(() => rule(Number.NaN, 9)).toThrow(
      "r.csv: row 9: label column 'rating' is NaN; rule '> 3' needs a number",
    );
    expect(() => rule('high', 2)).toThrow(
      "r.csv: row 2: label column 'rating' is 'high'; rule '> 3' needs a number",
    );
  });

  it('makes every row positive under implicit feedback', () => {
    const rule = compileLabelRule(labelConfig('{ implicit: true }'), 'r.csv');
    expect(rule(null, 1)).toBe(1);
  });
});

function assign(
  split: string,
  column: unknown[] | undefined,
  rows: number,
  cutoffs?: readonly [number, number],
) {
  const out = new Uint8Array(rows);
  createSplitAssigner(splitConfig(split), 'd.parquet', cutoffs)(column as never, 0, out);
  return out;
}

describe('splits', () => {
  it('random split follows the fractions and is identical on every run', () => {
    const first = assign('{ train: 0.7, valid: 0.2, test: 0.1 }', undefined, 100_000);
    const second = assign('{ train: 0.7, valid: 0.2, test: 0.1 }', undefined, 100_000);
    expect(second).toEqual(first);
    const counts = [0, 0, 0];
    for (const split of first) counts[split] += 1;
    expect(counts[TRAIN] / 1e5).toBeCloseTo(0.7, 2);
    expect(counts[VALID] / 1e5).toBeCloseTo(0.2, 2);
    expect(counts[TEST] / 1e5).toBeCloseTo(0.1, 2);
    expect(assign('{ train: 0.7, valid: 0.2, test: 0.1, seed: 1 }', undefined, 1000)).not.toEqual(
      first.subarray(0, 1000),
    );
  });

  it('hash split keeps all rows of a key together', () => {
    const users = Array.from({ length: 20_000 }, (_, i) => `user-${i % 500}`);
    const splits = assign('{ method: hash, column: user }', users, users.length);
    const byUser = new Map<string, Set<number>>();
    users.forEach((user, i) => byUser.set(user, (byUser.get(user) ?? new Set()).add(splits[i])));
    expect([...byUser.values()].every((set) => set.size === 1)).toBe(true);
    expect(new Set(splits).size).toBe(3);
  });

  it('time split puts the latest rows in test and the ones before them in valid', () => {
    const times = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000);
    const builder = new TimeCutoffBuilder(splitConfig('{ method: time, column: ts }'));
    builder.add(times);
    const cutoffs = builder.finish('d.parquet');
    expect(cutoffs).toEqual([800, 900]);
    const splits = assign('{ method: time, column: ts }', times, times.length, cutoffs);
    times.forEach((time, i) => expect(splits[i]).toBe(time < 800 ? TRAIN : time < 900 ? VALID : TEST));
  });

  it('names the row whose split key is missing', () => {
    expect(() => assign('{ method: hash, column: user }', ['a', null], 2)).toThrow(
      "d.parquet: row 2: split column 'user' is missing",
    );
  });
});
