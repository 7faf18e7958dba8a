/**
 * Issue 14 item 7 on small data: 10,000-row random subsamples (one per sample seed, drawn
 * without replacement from the whole table) of MovieLens-1M, MovieLens-100K and the
 * quickstart's generated data, Sequential Attention against random at the eval's budgets,
 * and Sequential Attention's selection time against one full training of the same sample.
 * On the generated data also the noise groups each method keeps (its ground_truth.json).
 *
 * Part of eval-value-stop.ts's section; run alone (`node dist/bench/eval-small-data.js`) it
 * replaces only its own subsection (`<!-- eval:small-data -->`) of EVALUATION.md.
 * Env: LEMOPT_SMALL_DATA_SAMPLES (default 5), LEMOPT_SMALL_DATA_DATASETS (comma-separated:
 * movielens-1m, movielens-100k, quickstart; default all) and the eval's own.
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type SchemaElement } from 'hyparquet';
import type { ColumnSource } from 'hyparquet-writer';
import { loadConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import type { DatasetName } from '../src/data/convert/movielens.js';
import { writeParquetTable, type ColumnSpec } from '../src/data/parquet-output.js';
import {
  generateSynthetic,
  SYNTHETIC_DATA_FILE,
  SYNTHETIC_TRUTH_FILE,
  type GroundTruth,
} from '../src/data/synthetic.js';
import type { TrialRow } from '../src/experiment/sweep-results.js';
import { Random } from '../src/util/random.js';
import {
  configWithData,
  mean,
  runSectionAlone,
  sweep,
  trialTimes,
  type EvalSettings,
} from './eval-sweeps.js';
import { spliceMarkedSection } from './marked-section.js';
import { noiseKept } from './recovery.js';

/** The subsection of the value-stop section this module writes. */
export const SMALL_DATA_SECTION = 'eval:small-data';

const ROWS = 10_000;
const SAMPLES = Number(process.env.LEMOPT_SMALL_DATA_SAMPLES ?? 5);
const BUDGETS = ['10%', '25%', '50%'];
const METHODS = ['sequential_attention', 'random'] as const;

interface Target {
  readonly name: DatasetName | 'quickstart';
  readonly config: string;
}

const TARGETS: readonly Target[] = [
  { name: 'movielens-1m', config: 'configs/movielens-1m.yaml' },
  { name: 'movielens-100k', config: 'configs/movielens-100k.yaml' },
  { name: 'quickstart', config: 'configs/quickstart.yaml' },
];

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

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

const PHYSICAL: Partial<Record<string, ColumnSpec['type']>> = {
  INT32: 'int32',
  INT64: 'int64',
  FLOAT: 'float32',
  DOUBLE: 'float64',
  BYTE_ARRAY: 'string',
};

/**
 * The column specs of a Parquet file's flat schema as read back by hyparquet: scalar
 * columns and the standard 3-level LIST of int32 or string elements.
 */
export function columnSpecs(schema: readonly SchemaElement[]): ColumnSpec[] {
  const specs: ColumnSpec[] = [];
  for (let i = 1; i < schema.length; i++) {
    const element = schema[i];
    const nullable = element.repetition_type === 'OPTIONAL';
    if (element.converted_type === 'LIST') {
      const item = schema[i + 2];
      const type = PHYSICAL[item?.type ?? ''];
      if (type !== 'int32' && type !== 'string') throw new Error(`column ${element.name}: unsupported list`);
      specs.push({ name: element.name, type: `list<${type}>`, nullable });
      i += 2;
      continue;
    }
    const type = PHYSICAL[element.type ?? ''];
    if (!type || element.num_children) throw new Error(`column ${element.name}: unsupported type`);
    specs.push({ name: element.name, type, nullable });
  }
  return specs;
}

/** Specs from the values of the first row (numbers as int32, bigints as int64, strings). */
function specsFromValues(row: Record<string, unknown>): ColumnSpec[] {
  return Object.entries(row).map(([name, value]): ColumnSpec => ({
    name,
    type: typeof value === 'number' ? 'int32' : typeof value === 'bigint' ? 'int64' : 'string',
    nullable: false,
  }));
}

/**
 * `rows` rows of `table` drawn by `seed`, written to `file` as Parquet with the columns
 * `specs` (default: guessed from the first row: int32, int64 and string columns).
 */
export async function writeSample(
  table: readonly Record<string, unknown>[],
  seed: number,
  file: string,
  rows = ROWS,
  specs: readonly ColumnSpec[] = specsFromValues(table[0]),
): Promise<void> {
  const picked = sampleIndices(table.length, rows, seed).map((i) => table[i]);
  const data = specs.map((spec): ColumnSource['data'] =>
    spec.type === 'int32' && !spec.nullable
      ? Int32Array.from(picked, (row) => Number(row[spec.name]))
      : picked.map((row) => row[spec.name]),
  );
  await mkdir(path.dirname(file), { recursive: true });
  await writeParquetTable(file, specs, data, { createdBy: 'lemopt eval (subsample)' });
}

/**
 * The target's config with its full data: MovieLens converted from the shared folder; the
 * quickstart's data generated (default size and seed) into the eval folder with its truth.
 */
async function targetData(
  target: Target,
  settings: EvalSettings,
  root: string,
): Promise<{ config: RunConfig; file: string; truth?: GroundTruth }> {
  if (target.name !== 'quickstart') return configWithData(target.config, settings, target.name);
  const { config, file } = await loadConfig(target.config);
  const folder = path.join(root, 'generated');
  const source = path.join(folder, SYNTHETIC_DATA_FILE);
  if (!(await exists(source))) {
    console.log(`eval: generating the quickstart's data in ${folder}`);
    await generateSynthetic({ outDir: folder });
  }
  const truth = JSON.parse(await readFile(path.join(folder, SYNTHETIC_TRUTH_FILE), 'utf8')) as GroundTruth;
  return { config: { ...config, data: { ...config.data, source } }, file, truth };
}

const range = (values: readonly number[]) =>
  `${Math.min(...values).toFixed(4)}-${Math.max(...values).toFixed(4)}`;

/** Noise groups kept over the samples: `name ×count`, most kept first. */
function noiseList(truth: GroundTruth, trials: readonly TrialRow[]): string {
  const counts = new Map<string, number>();
  for (const row of trials)
    for (const group of noiseKept(truth, row)) counts.set(group, (counts.get(group) ?? 0) + 1);
  const entries = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length === 0 ? 'none' : entries.map(([group, count]) => `${group} ×${count}`).join(', ');
}

async function targetLines(target: Target, settings: EvalSettings): Promise<string[]> {
  const root = path.join(settings.evalDir, 'small-data', target.name);
  const { config, file, truth } = await targetData(target, settings, root);
  const metadata = await parquetMetadataAsync(await asyncBufferFromFile(config.data.source));
  const specs = columnSpecs(metadata.schema);
  let table: Record<string, unknown>[] | undefined;
  const rows: TrialRow[] = [];
  const selection: number[] = [];
  const full: number[] = [];
  for (let sample = 0; sample < SAMPLES; sample++) {
    const source = path.join(root, `sample-${sample}`, 'interactions.parquet');
    // Drawn once: a sweep run again finds the same file and skips its finished trials.
    if (!(await exists(source))) {
      table ??= await parquetReadObjects({ file: await asyncBufferFromFile(config.data.source) });
      await writeSample(table, sample, source, ROWS, specs);
    }
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
    `#### ${target.name}`,
    '',
    `\`${target.config}\` (unit \`${config.selection.unit}\`${target.name === 'quickstart' ? `, its latency budget kept; the data generated with the default size and seed into \`${path.relative(process.cwd(), path.join(root, 'generated'))}\`` : ''}); sweeps in \`${path.relative(process.cwd(), root)}\`.` +
      (truth
        ? ` Noise groups of \`ground_truth.json\`: ${[...truth.roles.noise, ...truth.roles.numeric_noise].join(', ')}.`
        : ''),
    '',
    `| budget | method | test AUC (mean over samples) | min-max | memory (mean) | samples where Sequential Attention beats random (ties: the same AUC) |${truth ? ' noise groups kept (mean) | noise groups kept over the samples |' : ''}`,
    `|---|---|---|---|---|---|${truth ? '---|---|' : ''}`,
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
      if (trials.length === 0) continue;
      const aucs = trials.map((r) => r.test_metric);
      lines.push(
        `| ${budget} | ${method} | ${mean(aucs).toFixed(4)} | ${range(aucs)} | ${(mean(trials.map((r) => r.memory_bytes)) / 1000).toFixed(1)} KB | ${method === 'random' ? '' : `${wins} of ${sa.length} (${ties} ties)`} |` +
          (truth
            ? ` ${mean(trials.map((r) => noiseKept(truth, r).length)).toFixed(1)} | ${noiseList(truth, trials)} |`
            : ''),
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

/** The small-data subsection, between its markers. */
export async function smallDataSection(settings: EvalSettings): Promise<string[]> {
  return [spliceMarkedSection('', SMALL_DATA_SECTION, await smallDataBody(settings)), ''];
}

async function smallDataBody(settings: EvalSettings): Promise<string> {
  const only = process.env.LEMOPT_SMALL_DATA_DATASETS?.split(',');
  const started = performance.now();
  const lines = [
    `### Selection on small data (issue 14 item 7): ${SAMPLES} random ${ROWS.toLocaleString('en')}-row samples of each dataset`,
    '',
    `${ROWS.toLocaleString('en')} rows drawn without replacement from the whole table, one sample per seed 0-${SAMPLES - 1} (the trial's selection and training seed is the sample's); the config's own split of the sample (80/10/10). Sequential Attention against random at each budget (a share of the sample's full model's embedding memory). Produced by \`npm run build && node dist/bench/eval-small-data.js\` (this subsection alone) or with the rest of the section (${new Date().toISOString().slice(0, 10)}, ${settings.workers} worker process(es) on ${os.cpus().length} shared cores, load average at the start ${os.loadavg()[0].toFixed(1)}).`,
    '',
  ];
  for (const target of TARGETS) {
    if (only && !only.includes(target.name)) continue;
    lines.push(...(await targetLines(target, settings)));
  }
  lines.push(
    `${((performance.now() - started) / 60000).toFixed(1)} min of wall time for the small-data runs; load average at the end ${os.loadavg()[0].toFixed(1)}.`,
  );
  return lines.join('\n');
}

runSectionAlone(import.meta.url, SMALL_DATA_SECTION, smallDataBody);
