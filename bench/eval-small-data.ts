/**
 * Issue 14 item 7 on small data: 10,000-row random subsamples of MovieLens-1M (one per
 * sample seed, drawn without replacement from the converted table), Sequential Attention
 * against random at the eval's budgets, and Sequential Attention's selection time against
 * one full training of the same sample. Env: LEMOPT_SMALL_DATA_SAMPLES (default 5).
 */
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import type { ColumnSource } from 'hyparquet-writer';
import type { TrialRow } from '../src/experiment/sweep-results.js';
import { writeParquetTable, type ColumnSpec } from '../src/data/parquet-output.js';
import { Random } from '../src/util/random.js';
import { configWithData, mean, sweep, trialTimes, type EvalSettings } from './eval-sweeps.js';

const ROWS = 10_000;
const SAMPLES = Number(process.env.LEMOPT_SMALL_DATA_SAMPLES ?? 5);
const BUDGETS = ['10%', '25%', '50%'];
const METHODS = ['sequential_attention', 'random'] as const;
/** `count` distinct row indices of `rows`, drawn by a partial Fisher-Yates shuffle. */
export function sampleIndices(rows: number, count: number, seed: number): number[] {
  if (count > rows) throw new Error(`cannot sample ${count} rows from ${rows}`);
  const random = new Random(seed, 'subsample');
  const order = Array.from({ length: rows }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + random.integer(rows - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, count);
}

/** `rows` rows of `table` drawn by `seed`, written to `file` as Parquet (int32 and string columns). */
export async function writeSample(
  table: readonly Record<string, unknown>[],
  seed: number,
  file: string,
  rows = ROWS,
): Promise<void> {
  const picked = sampleIndices(table.length, rows, seed).map((i) => table[i]);
  // The converted table's columns are int32 or string (src/data/convert/movielens.ts).
  const specs = Object.entries(table[0]).map(([name, value]): ColumnSpec => ({
    name,
    type: typeof value === 'number' ? 'int32' : 'string',
    nullable: false,
  }));
  const data = specs.map((spec): ColumnSource['data'] =>
    spec.type === 'int32'
      ? Int32Array.from(picked, (row) => Number(row[spec.name]))
      : picked.map((row) => String(row[spec.name])),
  );
  await mkdir(path.dirname(file), { recursive: true });
  await writeParquetTable(file, specs, data, { createdBy: 'lemopt eval (subsample)' });
}

export async function smallDataSection(settings: EvalSettings): Promise<string[]> {
  const { config, file } = await configWithData('configs/movielens-1m.yaml', settings, 'movielens-1m');
  const table = await parquetReadObjects({ file: await asyncBufferFromFile(config.data.source) });
  const root = path.join(settings.evalDir, 'small-data');
  const rows: TrialRow[] = [];
  const selection: number[] = [];
  const full: number[] = [];
  for (let sample = 0; sample < SAMPLES; sample++) {
    const source = path.join(root, `sample-${sample}`, 'interactions.parquet');
    // Drawn once: a sweep run again finds the same file and skips its finished trials.
    if (
      !(await access(source).then(
        () => true,
        () => false,
      ))
    )
      await writeSample(table, sample, source);
    const sampleConfig = { ...config, data: { ...config.data, source } };
    const grid = { memory: BUDGETS, methods: [...METHODS], seeds: [sample] };
    const result = await sweep(sampleConfig, file, grid, path.join(root, `sweep-${sample}`), settings);
    rows.push(...result.rows);
    const times = await trialTimes(result.rows, result.dir);
    for (const row of result.rows)
      if (row.method === 'sequential_attention' && times.selection.has(row.trial))
        selection.push(times.selection.get(row.trial)!);
    full.push(...times.full.values());
  }
  const lines = [
    `### Selection on small data (issue 14 item 7): ${SAMPLES} random 10,000-row samples of MovieLens-1M`,
    '',
    `\`configs/movielens-1m.yaml\` (unit \`${config.selection.unit}\`) on ${ROWS.toLocaleString('en')} rows drawn without replacement from the converted table, one sample per seed 0-${SAMPLES - 1} (the trial's selection and training seed is the sample's); its own 80/10/10 split; sweeps in \`${path.relative(process.cwd(), root)}\`.`,
    '',
    '| budget | method | test AUC (mean over samples) | min-max | memory (mean) | samples where Sequential Attention beats random (ties: the same AUC) |',
    '|---|---|---|---|---|---|',
  ];
  for (const budget of BUDGETS) {
    const cell = (method: string) =>
      rows.filter((r) => r.method === method && r.memory_budget === budget).sort((a, b) => a.seed - b.seed);
    const sa = cell('sequential_attention');
    const random = cell('random');
    const against = (row: TrialRow) => random.find((r) => r.seed === row.seed)?.test_metric;
    const wins = sa.filter((row) => row.test_metric > (against(row) ?? Infinity)).length;
    const ties = sa.filter((row) => row.test_metric === against(row)).length;
    for (const [method, trials] of [
      ['sequential_attention', sa],
      ['random', random],
    ] as const) {
      const aucs = trials.map((r) => r.test_metric);
      lines.push(
        `| ${budget} | ${method} | ${mean(aucs).toFixed(4)} | ${Math.min(...aucs).toFixed(4)}-${Math.max(...aucs).toFixed(4)} | ${(mean(trials.map((r) => r.memory_bytes)) / 1000).toFixed(1)} KB | ${method === 'random' ? '' : `${wins} of ${sa.length} (${ties} ties)`} |`,
      );
    }
  }
  const fullAuc = mean([...new Map(rows.map((r) => [r.seed, r.full_test_metric])).values()]);
  lines.push(
    '',
    `Full model on the samples: test AUC ${fullAuc.toFixed(4)} (mean). Sequential Attention's selection: ${mean(selection).toFixed(2)} s (mean of ${selection.length} trials) against ${mean(full).toFixed(2)} s for one full training (mean of ${full.length}): ${(mean(selection) / mean(full)).toFixed(2)}x.`,
    '',
  );
  return lines;
}
