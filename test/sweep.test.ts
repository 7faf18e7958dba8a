/**
 * `lemopt sweep`: the grid, the Pareto and area math, and a small sweep on generated data
 * in two worker processes: results, budgets, frontiers, a failing trial, and a sweep killed
 * part-way that resumes to the same results as an uninterrupted one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import {
  areaUnderMemoryCurve,
  isDominated,
  meanCurve,
  normalisedArea,
  paretoFrontier,
  summarizeSweep,
} from '../src/experiment/pareto.js';
import type { FrontierPoint, SweepSummary, TrialRow } from '../src/experiment/sweep-results.js';
import { RESULT_COLUMNS } from '../src/experiment/sweep-rows.js';
import { runSweep, sweepTrials, type SweepDefinition } from '../src/experiment/sweep.js';
import { configKey } from '../src/experiment/train.js';
import { LemoptError } from '../src/util/errors.js';
import { dataSection, FIXED_LATENCY, SMALL_FEATURES, SMALL_MODEL } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

const MAIN = path.resolve('src/cli/main.ts');
const TSX = import.meta.resolve('tsx');
let tmp: TempDir;

/**
 * greedy refuses the 8 candidates over greedy_max_candidates (4) when its selection starts:
 * those two trials fail, the others go on.
 */
const GRID = `sweep:
  memory: [20%, 50%]
  methods: [sequential_attention, random, greedy]
  seeds: [0]
`;

/** `latency`: a selection.latency entry; empty, the sweep calibrates. */
function yaml(output: string, sweep = GRID, latency = FIXED_LATENCY): string {
  return `
${dataSection()}
${SMALL_FEATURES}
${SMALL_MODEL}
train: { batch_size: 256, epochs: 1, seed: 3 }
selection:
  min_steps_per_round: 10
  greedy_max_candidates: 4
  ${latency}
output: { dir: ${output} }
${sweep}`;
}

const GOOD = [
  'random-mem20%-seed0',
  'random-mem50%-seed0',
  'sequential_attention-mem20%-seed0',
  'sequential_attention-mem50%-seed0',
];
const FAILING = ['greedy-mem20%-seed0', 'greedy-mem50%-seed0'];
/** Timings, different on every run: everything else must match exactly. */
const TIMED = new Set(['wall_seconds', 'measured_latency_us']);

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-sweep-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 12_000, seed: 5 });
});
afterAll(() => tmp.remove());

function row(trial: string, method: string, seed: number, share: number, memory: number, metric: number) {
  return {
    trial,
    method,
    seed,
    memory_budget: `${share * 100}%`,
    latency_budget: null,
    memory_budget_bytes: share * 1000,
    latency_budget_us: null,
    kept_groups: 'a:8',
    kept_group_count: 1,
    total_dims: 8,
    memory_bytes: memory,
    predicted_latency_us: memory / 100,
    measured_latency_us: 1,
    metric: 'auc',
    test_metric: metric,
    valid_metric: metric,
    full_test_metric: 0.7 + seed / 100,
    full_memory_bytes: 1000,
    wall_seconds: 1,
  } satisfies TrialRow;
}

describe('Pareto frontiers and areas', () => {
  const point = (trial: string, cost: number, test_metric: number): FrontierPoint => ({
    trial,
    cost,
    test_metric,
  });

  it('keeps exactly the points nothing beats, by cost, ties and duplicates included', () => {
    const points = [
      point('a', 10, 0.6),
      point('b', 20, 0.7),
      point('c', 20, 0.65), // beaten by b (same cost, lower metric)
      point('d', 30, 0.7), // beaten by b (more cost, same metric)
      point('e', 5, 0.5),
      point('f', 40, 0.8),
      point('g', 10, 0.6), // same as a: neither beats the other
      point('h', 15, Number.NaN),
    ];
    expect(paretoFrontier(points).map((p) => p.trial)).toEqual(['e', 'a', 'g', 'b', 'f']);
    expect(paretoFrontier([])).toEqual([]);
  });

  it('agrees with the definition on random points', () => {
    let state = 7;
    const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 50; trial++) {
      const points = Array.from({ length: 12 }, (_, i) =>
        point(`p${i}`, Math.floor(random() * 6), Math.floor(random() * 6) / 10),
      );
      const frontier = paretoFrontier(points);
      const expected = points.filter((p) => !isDominated(p, points));
      expect(new Set(frontier)).toEqual(new Set(expected));
      for (let i = 1; i < frontier.length; i++) {
        expect(frontier[i].cost).toBeGreaterThanOrEqual(frontier[i - 1].cost);
        expect(frontier[i].test_metric).toBeGreaterThanOrEqual(frontier[i - 1].test_metric);
      }
    }
  });

  it('averages over seeds per budget and integrates by trapezoids over the budget range', () => {
    const curve = meanCurve([
      { x: 0.5, y: 0.8 },
      { x: 0.1, y: 0.6 },
      { x: 0.1, y: 0.7 },
      { x: 0.5 + 1e-12, y: 0.6 },
    ]);
    expect(curve.map((p) => p.x)).toEqual([0.1, 0.5]);
    expect(curve[0].y).toBeCloseTo(0.65, 12);
    expect(curve[1].y).toBeCloseTo(0.7, 12);
    // (0.1, 0.6) (0.3, 0.8) (0.5, 0.8): (0.2 x 0.7 + 0.2 x 0.8) / 0.4 = 0.75.
    expect(
      normalisedArea([
        { x: 0.1, y: 0.6 },
        { x: 0.3, y: 0.8 },
        { x: 0.5, y: 0.8 },
      ]),
    ).toBeCloseTo(0.75, 12);
    expect(normalisedArea([{ x: 0.1, y: 0.6 }])).toBeNull();
    const rows = [
      row('m-10-0', 'm', 0, 0.1, 90, 0.6),
      row('m-10-1', 'm', 1, 0.1, 95, 0.7),
      row('m-50-0', 'm', 0, 0.5, 400, 0.8),
      row('m-50-1', 'm', 1, 0.5, 480, 0.6),
    ];
    // Means 0.65 at 10% and 0.7 at 50%: the mean height of the line between them.
    expect(areaUnderMemoryCurve(rows)).toBeCloseTo(0.675, 12);
    const summary = summarizeSweep(rows, ['m', 'other'], 'auc');
    expect(summary.full_test_metric).toBeCloseTo(0.705, 12);
    expect(summary.methods.map((m) => [m.method, m.trials])).toEqual([
      ['m', 4],
      ['other', 0],
    ]);
    expect(summary.methods[0].pareto_memory.map((p) => p.trial)).toEqual(['m-10-0', 'm-10-1', 'm-50-0']);
    expect(summary.methods[1].area_under_curve_memory).toBeNull();
  });
});

describe('the sweep grid', () => {
  it('makes one trial per combination, each with its method, budgets and seeds', () => {
    const sweep =
      'sweep: { memory: [4 MB, 25%], latency_us: [20], methods: [random, greedy], seeds: [0, 1] }';
    const { config } = parseConfig(yaml('sweeps/grid', sweep), tmp.file('grid.yaml'));
    const trials = sweepTrials(config);
    expect(trials.map((trial) => trial.id)).toEqual([
      'random-mem4MB-lat20-seed0',
      'random-mem4MB-lat20-seed1',
      'random-mem25%-lat20-seed0',
      'random-mem25%-lat20-seed1',
      'greedy-mem4MB-lat20-seed0',
      'greedy-mem4MB-lat20-seed1',
      'greedy-mem25%-lat20-seed0',
      'greedy-mem25%-lat20-seed1',
    ]);
    const trial = trials[5];
    expect(trial.config.selection).toMatchObject({
      method: 'greedy',
      seed: 1,
      budgets: { memory: 4_000_000, latency_us: 20 },
    });
    expect(trial.config.train.seed).toBe(1);
    expect(trial.config.sweep).toBeUndefined();
    expect(trial.config.output.dir).toBe(tmp.file('sweeps/grid/trials/greedy-mem4MB-lat20-seed1'));
    // The full model's key: one per seed, shared by every method and budget of that seed.
    const keys = new Map(trials.map((t) => [t.seed, configKey(t.config)]));
    expect(new Set(keys.values()).size).toBe(2);
    for (const t of trials) expect(configKey(t.config)).toBe(keys.get(t.seed));
  });
});

describe('a sweep with budgets nothing fits', () => {
  // u_browser, the cheapest group: 7 rows x 8 dims x 4 bytes = 224 B.
  it('is refused whole before calibrating or training, naming every such budget and its trials', async () => {
    const sweep = 'sweep: { memory: [10B, 50%, 100], methods: [random, all], seeds: [0, 1] }';
    const { config } = parseConfig(yaml('sweeps/small', sweep, ''), tmp.file('small.yaml'));
    await expect(runSweep(config, { configFile: tmp.file('small.yaml'), workers: 2 })).rejects.toThrow(
      new LemoptError(
        `${tmp.file('small.yaml')}: sweep: 4 of 12 trials have budgets nothing fits, so none ran; ` +
          'remove them from the grid: ' +
          "memory 10B: nothing fits memory 10 B: the cheapest candidate 'u_browser' costs 224 B " +
          '(trials random-mem10B-seed0, random-mem10B-seed1); ' +
          "memory 100: nothing fits memory 100 B: the cheapest candidate 'u_browser' costs 224 B " +
          '(trials random-mem100-seed0, random-mem100-seed1)',
      ),
    );
    // The vocabularies only: no latency model calibrated, no full model, no trial.
    const dir = tmp.file('sweeps/small');
    expect(existsSync(path.join(dir, 'vocabulary.json'))).toBe(true);
    expect(existsSync(path.join(dir, 'latency.json'))).toBe(false);
    expect(existsSync(path.join(dir, 'full'))).toBe(false);
    expect(await readdir(path.join(dir, 'trials'))).toEqual([]);
  }, 60_000);

  it('checks latency budgets once the latency model is known, with the memory budget beside them', async () => {
    // The fixed coefficients: any one group takes 1.30 µs per example (see run.test.ts); the
    // cheapest is the one using the least of both budgets together.
    const sweep = 'sweep: { memory: [50%], latency_us: [1.2, 90%], methods: [random], seeds: [0] }';
    const { config } = parseConfig(yaml('sweeps/fast', sweep), tmp.file('fast.yaml'));
    await expect(runSweep(config, { configFile: tmp.file('fast.yaml'), workers: 1 })).rejects.toThrow(
      new LemoptError(
        `${tmp.file('fast.yaml')}: sweep: 1 of 2 trials have budgets nothing fits, so none ran; ` +
          'remove them from the grid: memory 50%, latency_us 1.2: ' +
          "nothing fits memory 14.4 KB, latency 1.20 µs/example: the cheapest candidate 'u_browser' " +
          'costs 224 B, 1.30 µs/example (trials random-mem50%-lat1.2-seed0)',
      ),
    );
    expect(existsSync(tmp.file('sweeps/fast/full'))).toBe(false);
  }, 60_000);
});

async function readCsv(file: string): Promise<string[][]> {
  return (await readFile(file, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => line.split(','));
}

/** The table without its timing columns. */
function untimed(table: string[][]): string[][] {
  const keep = table[0].map((name, i) => (TIMED.has(name) ? -1 : i)).filter((i) => i >= 0);
  return table.map((line) => keep.map((i) => line[i]));
}

async function manifests(dir: string): Promise<string[]> {
  const trials = await readdir(path.join(dir, 'trials')).catch(() => [] as string[]);
  return trials.filter((trial) => existsSync(path.join(dir, 'trials', trial, 'manifest.json')));
}

function lemopt(...args: string[]) {
  return spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { encoding: 'utf8', cwd: tmp.path });
}

describe('lemopt sweep', () => {
  let whole: string[][];

  it('runs every trial in worker processes: a row per finished trial within its budget, non-dominated frontiers, failures recorded', async () => {
    const { config } = parseConfig(yaml('sweeps/whole'), tmp.file('whole.yaml'));
    const lines: string[] = [];
    const result = await runSweep(config, {
      configFile: tmp.file('whole.yaml'),
      workers: 2,
      log: (line) => lines.push(line),
    });
    const dir = tmp.file('sweeps/whole');
    expect(result.failed.map((f) => f.id)).toEqual(FAILING);
    expect(result.failed[0].message).toContain('the limit is greedy_max_candidates = 4');
    for (const id of FAILING)
      expect(await readFile(path.join(dir, 'trials', id, 'error.txt'), 'utf8')).toContain(
        'greedy_max_candidates',
      );
    expect(lines.filter((line) => line.startsWith('sweep: started'))).toHaveLength(6);
    expect(lines.filter((line) => line.startsWith('sweep: finished'))).toHaveLength(4);

    const definition = JSON.parse(await readFile(path.join(dir, 'sweep.json'), 'utf8')) as SweepDefinition;
    expect(definition).toEqual({
      version: 1,
      config: tmp.file('whole.yaml'),
      grid: config.sweep,
      trials: result.trials.map((trial) => trial.id),
    });
    expect([...definition.trials].sort()).toEqual([...FAILING, ...GOOD].sort());

    // results.csv: the header, then one row per finished trial by id; the same in Parquet.
    whole = await readCsv(path.join(dir, 'results.csv'));
    expect(whole[0]).toEqual(RESULT_COLUMNS);
    expect(whole.slice(1).map((line) => line[0])).toEqual(GOOD);
    const parquet = (await parquetReadObjects({
      file: await asyncBufferFromFile(path.join(dir, 'results.parquet')),
    })) as TrialRow[];
    expect(parquet).toEqual(result.rows);

    for (const r of result.rows) {
      expect(r.memory_budget_bytes).toBeCloseTo(
        (r.memory_budget === '20%' ? 0.2 : 0.5) * r.full_memory_bytes,
        6,
      );
      expect(r.memory_bytes).toBeLessThanOrEqual(r.memory_budget_bytes!);
      expect(r.memory_bytes).toBeGreaterThan(0);
      expect(r.latency_budget).toBeNull();
      expect(r.predicted_latency_us).toBeGreaterThan(0);
      expect(r.metric).toBe('auc');
      expect(r.test_metric).toBeGreaterThan(0.5);
      expect(r.kept_groups.split(';')).toHaveLength(r.kept_group_count);
      expect(r.total_dims).toBe(8 * r.kept_group_count);
      // The trial reused the shared full model of its seed instead of training one.
      const trialDir = path.join(dir, 'trials', r.trial);
      const full = JSON.parse(await readFile(path.join(trialDir, 'full', 'metrics.json'), 'utf8')) as {
        key: string;
      };
      const shared = JSON.parse(await readFile(path.join(dir, 'full', 'seed-0', 'metrics.json'), 'utf8')) as {
        key: string;
      };
      expect(full.key).toBe(shared.key);
      expect(await readFile(path.join(trialDir, 'log.txt'), 'utf8')).toContain(
        'full: reusing the finished model',
      );
    }

    const summary = JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8')) as SweepSummary;
    expect(summary).toEqual(JSON.parse(JSON.stringify(result.summary)));
    expect(summary.methods.map((m) => [m.method, m.trials])).toEqual([
      ['sequential_attention', 2],
      ['random', 2],
      ['greedy', 0],
    ]);
    for (const method of summary.methods.filter((m) => m.trials > 0)) {
      const own = result.rows.filter((r) => r.method === method.method);
      const memory = own.map((r) => ({ trial: r.trial, cost: r.memory_bytes, test_metric: r.test_metric }));
      const latency = own.map((r) => ({
        trial: r.trial,
        cost: r.predicted_latency_us!,
        test_metric: r.test_metric,
      }));
      expect(method.pareto_memory.length).toBeGreaterThan(0);
      for (const p of method.pareto_memory) expect(isDominated(p, memory)).toBe(false);
      for (const p of method.pareto_latency) expect(isDominated(p, latency)).toBe(false);
      // Every trial off the frontier is beaten by one on it.
      for (const p of memory.filter((m) => !method.pareto_memory.some((f) => f.trial === m.trial)))
        expect(isDominated(p, method.pareto_memory)).toBe(true);
      expect(method.area_under_curve_memory).toBeCloseTo(areaUnderMemoryCurve(own)!, 12);
    }
  }, 90_000);

  it('resumes a sweep killed part-way and ends with the uninterrupted results', async () => {
    await writeFile(tmp.file('killed.yaml'), yaml('sweeps/killed'));
    const dir = tmp.file('sweeps/killed');
    const child = spawn(
      process.execPath,
      ['--import', TSX, MAIN, 'sweep', 'killed.yaml', '--workers', '2', '--quiet'],
      { cwd: tmp.path, detached: true, stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let running = true;
    void exited.then(() => (running = false));
    // Kill the whole process group once a trial finished while another is mid-selection.
    const partial = async () => {
      const done = await manifests(dir);
      const inFlight = GOOD.filter(
        (id) => !done.includes(id) && existsSync(path.join(dir, 'trials', id, 'selection')),
      );
      return done.length >= 1 && inFlight.length >= 1;
    };
    try {
      while (running && !(await partial())) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(running).toBe(true);
    } finally {
      if (running) process.kill(-child.pid!, 'SIGKILL'); // the CLI and its worker processes
      await exited;
    }

    const before = await manifests(dir);
    expect(before.length).toBeGreaterThanOrEqual(1);
    expect(before.length).toBeLessThan(GOOD.length);
    // What results.csv holds so far are finished trials only, never partial ones.
    const sofar = await readCsv(path.join(dir, 'results.csv')).catch(() => [[]]);
    for (const line of sofar.slice(1)) expect(before).toContain(line[0]);

    const resumed = lemopt('sweep', 'killed.yaml', '--workers', '2');
    expect(resumed.status).toBe(1);
    expect(resumed.stderr).toContain(`finished before`);
    expect(resumed.stderr.trimEnd().split('\n').at(-1)).toBe(
      `lemopt: 2 of 6 trials failed: ${FAILING.join(', ')} (see ${dir}/trials/<trial>/error.txt); ` +
        'run the sweep again to retry them',
    );
    expect(resumed.stdout).toContain('sequential_attention');
    const skipped = resumed.stderr.match(/sweep: (\d+) of 6 trials finished before/);
    expect(Number(skipped?.[1])).toBe(before.length);

    const table = await readCsv(path.join(dir, 'results.csv'));
    expect(table).toHaveLength(GOOD.length + 1);
    expect(untimed(table)).toEqual(untimed(whole));
  }, 90_000);
});
