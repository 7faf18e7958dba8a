/**
 * The serving exports of an evaluation sweep: Sequential Attention's seed-0 trials at 25%
 * and 50% of the full model's memory, each exported in fp32, fp16 and int8 (`lemopt
 * export`, into the trial's export-<dtype>/) and measured there: test AUC, table bytes as
 * exported against the cost model and the manifest, ONNX Runtime latency per example.
 * `npm run eval` appends this section for MovieLens-1M.
 *
 * Alone (`node dist/bench/eval-export.js`), it runs just those two trials in
 * runs/eval/movielens-1m-export (converting the dataset if needed) and prints the section.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { CONVERTERS } from '../src/data/convert/movielens.js';
import { exportRun } from '../src/experiment/export/export.js';
import type { ExportRecord } from '../src/experiment/export/record.js';
import { runSweep } from '../src/experiment/sweep.js';
import type { TrialRow } from '../src/experiment/sweep-results.js';

export const EXPORT_BUDGETS = ['25%', '50%'];
const DTYPES = ['fp32', 'fp16', 'int8'] as const;

const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB`;

export async function exportSection(
  dataset: string,
  sweepDir: string,
  rows: readonly TrialRow[],
): Promise<string[]> {
  const lines = [
    `### ${dataset}: serving exports`,
    '',
    `Sequential Attention, seed 0 (trials of \`${path.relative(process.cwd(), sweepDir)}\`), exported with ` +
      '`lemopt export TRIAL --dtype D` and checked there: ONNX Runtime ' +
      "loads each file and scores the test split (AUC change against lemopt's own fp32 model on the same rows); " +
      'table bytes as stored in the ONNX files against what the cost model charges in that dtype and what the ' +
      'manifest predicted (fp32); latency per example of `model.onnx` (both towers and the score) in ONNX ' +
      'Runtime, one thread, at batch 1 and 256.',
    '',
    '| budget | dtype | test AUC | change vs lemopt | tables as exported | cost model | manifest (fp32) | model.onnx on disk | µs/example, batch 1 | µs/example, batch 256 |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const budget of EXPORT_BUDGETS) {
    const row = rows.find(
      (candidate) =>
        candidate.method === 'sequential_attention' &&
        candidate.seed === 0 &&
        candidate.memory_budget === budget,
    );
    if (!row) continue;
    const trialDir = path.join(sweepDir, 'trials', row.trial);
    for (const dtype of DTYPES) {
      const { record } = await exportRun(trialDir, { dtype, out: path.join(trialDir, `export-${dtype}`) });
      lines.push(exportRow(budget, record));
    }
  }
  lines.push('');
  return lines;
}

function exportRow(budget: string, record: ExportRecord): string {
  const { memory, check, latency } = record;
  const model = record.files.find((file) => file.role === 'two_tower')!;
  const timing = latency.models.two_tower;
  return (
    `| ${budget} | ${record.dtype} | ${check.metric.export.toFixed(4)} | ` +
    `${check.metric.change.toExponential(1)} | ${kb(memory.tables_bytes)} | ` +
    `${kb(memory.predicted_bytes)} | ${kb(memory.manifest_predicted_bytes)} | ${kb(model.bytes)} | ` +
    `${timing.batch_1_us.toFixed(1)} | ${timing.batch_256_us.toFixed(2)} |`
  );
}

async function main(): Promise<void> {
  const { config, file } = await loadConfig('configs/movielens-1m.yaml');
  const datasets = process.env.LEMOPT_DATASETS ?? path.resolve('..', 'shared', 'datasets');
  if (!(await stat(config.data.source).catch(() => undefined)))
    await CONVERTERS['movielens-1m'](path.join(datasets, 'movielens-1m'), path.dirname(config.data.source));
  const sweepConfig: RunConfig = {
    ...config,
    sweep: { memory: EXPORT_BUDGETS, methods: ['sequential_attention'], seeds: [0] },
    output: { dir: path.resolve('runs', 'eval', 'movielens-1m-export') },
  };
  const result = await runSweep(sweepConfig, {
    configFile: file,
    workers: 1,
    log: (line) => console.error(line),
  });
  console.log((await exportSection('movielens-1m', result.dir, result.rows)).join('\n'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
