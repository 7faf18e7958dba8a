/**
 * Issue 14's sections of EVALUATION.md (kept between `<!-- eval:value-stop -->` markers):
 *
 * - The value stop (`selection.stop: decoys`) against budget-only selection, Sequential
 *   Attention on MovieLens-100K, MovieLens-1M and the quickstart's generated data: kept
 *   groups, memory used, test AUC, selection time; on the generated data also the noise
 *   groups and second copies kept, from its ground_truth.json.
 * - The small-data comparison (eval-small-data.ts).
 *
 * `npm run eval` runs it with the rest (or alone: LEMOPT_EVAL_ONLY=value-stop keeps the other
 * sections of EVALUATION.md as they are, since this file replaces only its own section when run
 * directly: `node dist/bench/eval-value-stop.js`). Env: LEMOPT_VALUE_STOP_DATASETS
 * (comma-separated: movielens-100k, movielens-1m, quickstart) and the eval's own.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunConfig } from '../src/config/schema.js';
import type { DatasetName } from '../src/data/convert/movielens.js';
import type { GroundTruth } from '../src/data/synthetic.js';
import { MANIFEST_FILE, readManifest } from '../src/experiment/manifest.js';
import type { TrialRow } from '../src/experiment/sweep-results.js';
import { smallDataSection } from './eval-small-data.js';
import {
  configWithData,
  mean,
  runSectionAlone,
  sweep,
  trialTimes,
  type EvalSettings,
} from './eval-sweeps.js';
import { plantedCounts } from './recovery.js';

/** The marked section of EVALUATION.md this module writes. */
export const VALUE_STOP_SECTION = 'eval:value-stop';

interface Target {
  readonly name: DatasetName | 'quickstart';
  readonly config: string;
  readonly budgets: readonly string[];
}

const TARGETS: readonly Target[] = [
  { name: 'movielens-100k', config: 'configs/movielens-100k.yaml', budgets: ['10%', '25%', '50%'] },
  { name: 'movielens-1m', config: 'configs/movielens-1m.yaml', budgets: ['10%', '25%', '50%'] },
  // The quickstart as shipped (5%) and the budgets where everything but the ids fits.
  { name: 'quickstart', config: 'configs/quickstart.yaml', budgets: ['5%', '25%', '50%'] },
];
const STOPS: readonly RunConfig['selection']['stop'][] = ['budget', 'decoys'];

const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB`;
const list = (values: readonly number[], digits: number) =>
  `${mean(values).toFixed(digits)} (${values.map((v) => v.toFixed(digits)).join(', ')})`;

export { plantedCounts } from './recovery.js';

async function targetLines(target: Target, settings: EvalSettings): Promise<string[]> {
  const { config, file } = await configWithData(target.config, settings, target.name);
  const truthFile = path.join(path.dirname(config.data.source), 'ground_truth.json');
  const truth =
    target.name === 'quickstart' ? (JSON.parse(await readFile(truthFile, 'utf8')) as GroundTruth) : undefined;
  const lines = [
    `### ${target.name}`,
    '',
    `\`${target.config}\` (unit \`${config.selection.unit}\`), Sequential Attention, seeds ${settings.seeds.join(', ')}; ` +
      `sweeps in \`${path.relative(process.cwd(), path.join(settings.evalDir, 'value-stop'))}/${target.name}-<stop>\`.` +
      (truth
        ? ` Against \`ground_truth.json\`: ${truth.roles.noise.length + truth.roles.numeric_noise.length} noise groups, ${truth.redundant_sets.length} copied pairs (a second copy kept counts as one).`
        : ''),
    '',
    `| budget | stop | test AUC (mean; per seed) | groups kept (mean) | memory used (mean) | stopped on value | selection s (mean) | x one full training |${truth ? ' noise kept | second copies kept |' : ''} kept groups:dims (seed ${settings.seeds[0]}) |`,
    `|---|---|---|---|---|---|---|---|${truth ? '---|---|' : ''}---|`,
  ];
  const results = new Map<string, { rows: readonly TrialRow[]; dir: string }>();
  for (const stop of STOPS) {
    const dir = path.join(settings.evalDir, 'value-stop', `${target.name}-${stop}`);
    const stopConfig = { ...config, selection: { ...config.selection, stop } };
    const grid = {
      memory: [...target.budgets],
      methods: ['sequential_attention' as const],
      seeds: [...settings.seeds],
    };
    results.set(stop, await sweep(stopConfig, file, grid, dir, settings));
  }
  for (const budget of target.budgets) {
    for (const stop of STOPS) {
      const { rows: all, dir } = results.get(stop)!;
      const rows = all.filter((row) => row.memory_budget === budget).sort((a, b) => a.seed - b.seed);
      if (rows.length === 0) continue;
      const times = await trialTimes(rows, dir);
      const selection = rows.map((row) => times.selection.get(row.trial) ?? Number.NaN);
      const full = rows.map((row) => times.full.get(row.seed) ?? Number.NaN);
      const planted = truth ? rows.map((row) => plantedCounts(truth, row)) : [];
      const seed0 = rows[0];
      const reasons = await Promise.all(
        rows.map(
          async (row) =>
            (await readManifest(path.join(dir, 'trials', row.trial, MANIFEST_FILE))).stopped?.reason,
        ),
      );
      lines.push(
        `| ${budget} | ${stop} | ${list(
          rows.map((r) => r.test_metric),
          4,
        )} | ${mean(rows.map((r) => r.kept_group_count)).toFixed(1)} | ${kb(mean(rows.map((r) => r.memory_bytes)))} | ${reasons.filter((r) => r === 'value').length} of ${rows.length} | ${mean(selection).toFixed(1)} | ${(mean(selection) / mean(full)).toFixed(2)} |` +
          (truth
            ? ` ${mean(planted.map((p) => p.noise)).toFixed(1)} | ${mean(planted.map((p) => p.copies)).toFixed(1)} |`
            : '') +
          ` ${seed0.kept_groups.replaceAll(';', ', ')} |`,
      );
    }
  }
  lines.push('');
  return lines;
}

/** The section's body: the value stop on every target, then the small-data comparison. */
export async function valueStopSection(settings: EvalSettings): Promise<string> {
  const only = process.env.LEMOPT_VALUE_STOP_DATASETS?.split(',');
  const started = performance.now();
  const lines = [
    '## Issue 14: the value stop and selection on small data',
    '',
    `Produced by \`npm run build && node dist/bench/eval-value-stop.js\` (also part of \`npm run eval\`; ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown cpu'}, Node ${process.version}, load average at the start ${os.loadavg()[0].toFixed(1)}). Times are wall seconds on shared cores: compare them within a row, not across runs.`,
    '',
    '### The value stop (`selection.stop: decoys`) against budget-only selection',
    '',
  ];
  for (const target of TARGETS) {
    if (only && !only.includes(target.name)) continue;
    lines.push(...(await targetLines(target, settings)));
  }
  lines.push(...(await smallDataSection(settings)));
  lines.push(
    `${((performance.now() - started) / 60000).toFixed(1)} min of wall time for this section (finished trials are skipped when run again); load average at the end ${os.loadavg()[0].toFixed(1)}.`,
  );
  return lines.join('\n');
}

runSectionAlone(import.meta.url, VALUE_STOP_SECTION, valueStopSection);
