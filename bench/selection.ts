/**
 * `npm run bench:selection`: feature selection at scale, on the large synthetic profile
 * (`lemopt generate --profile large`: 200 feature groups with planted signal, copies, pairs
 * and noise, and their ground truth). Two parts, each one or more `lemopt sweep`s
 * (runSweep, so an interrupted benchmark resumes where it stopped):
 *
 * 1. Recovery: configs/large.yaml with `unit: group` (200 candidates), every method but
 *    greedy (which needs at most selection.greedy_max_candidates candidates) at each memory
 *    budget: precision and recall of the kept groups against the ground truth's signal
 *    (bench/recovery.ts says what counts), test AUC, selection wall time.
 * 2. Scaling: Sequential Attention at the first budget with 50 candidates (25 groups per
 *    tower, the first by name; `unit: group`), 200 (`unit: group`) and 800 (`unit: block`,
 *    4 blocks of 4 dims per group), each against one full training of the same config in
 *    the same sweep.
 *
 * The table goes into EVALUATION.md between `<!-- bench:selection -->` markers (kept there
 * when `npm run eval` rewrites the file).
 *
 * Options (env): LEMOPT_BENCH_ROWS (default 100000), LEMOPT_BENCH_DIR (default
 * runs/bench-selection: the dataset and the sweeps), LEMOPT_BENCH_BUDGETS (default
 * 2%,5%,10%), LEMOPT_BENCH_METHODS (default: every method), LEMOPT_BENCH_SEEDS (default 1),
 * LEMOPT_BENCH_WORKERS (default: cores), LEMOPT_BENCH_EVALUATION=0 to leave EVALUATION.md
 * alone (the section is printed either way).
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import {
  generateSynthetic,
  SYNTHETIC_DATA_FILE,
  SYNTHETIC_TRUTH_FILE,
  type GroundTruth,
} from '../src/data/synthetic.js';
import { runSweep, type SweepResult } from '../src/experiment/sweep.js';
import type { TrialRow } from '../src/experiment/sweep-results.js';
import { TRIALS_DIR } from '../src/experiment/sweep-results.js';
import { selectBackend } from '../src/model/backend.js';
import { readJsonFile } from '../src/util/json-file.js';
import { SELECTION_SECTION, spliceMarkedSection } from './marked-section.js';
import { keptGroupNames, recovery } from './recovery.js';
import { fullTrainingBatches, fullTrainingSeconds, selectionSeconds } from './trial-times.js';

const ROWS = Number(process.env.LEMOPT_BENCH_ROWS ?? 100_000);
const DIR = path.resolve(process.env.LEMOPT_BENCH_DIR ?? path.join('runs', 'bench-selection'));
const BUDGETS = (process.env.LEMOPT_BENCH_BUDGETS ?? '2%,5%,10%').split(',');
const SEEDS = Array.from({ length: Number(process.env.LEMOPT_BENCH_SEEDS ?? 1) }, (_, i) => i);
const WORKERS = Number(process.env.LEMOPT_BENCH_WORKERS ?? os.availableParallelism());
const WRITE_EVALUATION = process.env.LEMOPT_BENCH_EVALUATION !== '0';
const CONFIG_FILE = 'configs/large.yaml';
type Method = RunConfig['selection']['method'];
const ALL_METHODS: Method[] = [
  'sequential_attention',
  'random',
  'cardinality',
  'one_shot_attention',
  'permutation',
  'group_lasso',
  'greedy',
];
const METHODS = (process.env.LEMOPT_BENCH_METHODS?.split(',') as Method[] | undefined) ?? ALL_METHODS;
/** Groups per tower in the 50-candidate configuration. */
const SUBSET_PER_TOWER = 25;

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const fixed = (values: readonly number[], digits: number) =>
  values.length === 0 ? 'n/a' : mean(values).toFixed(digits);

function log(line: string): void {
  console.log(`bench:selection: ${line}`);
}

/** The large dataset in DIR/data, generated unless a finished one of ROWS rows is there. */
async function dataset(): Promise<{ source: string; truth: GroundTruth }> {
  const dir = path.join(DIR, 'data');
  const truthFile = path.join(dir, SYNTHETIC_TRUTH_FILE);
  let truth = await readJsonFile<GroundTruth>(truthFile);
  if (truth?.profile !== 'large' || truth.rows !== ROWS) {
    log(`generating the large profile (${ROWS} rows) into ${dir}`);
    await generateSynthetic({ outDir: dir, profile: 'large', rows: ROWS });
    truth = JSON.parse(await readFile(truthFile, 'utf8')) as GroundTruth;
  }
  return { source: path.join(dir, SYNTHETIC_DATA_FILE), truth };
}

function groupCount(config: RunConfig): number {
  return config.features.flatMap((f) => (Array.isArray(f.name) ? f.name : [f.name])).length;
}

function candidateCount(config: RunConfig): number {
  const groups = groupCount(config);
  return config.selection.unit === 'block'
    ? (groups * config.model.embedding_dim) / config.selection.block_size
    : groups;
}

/** The config with only the first `perTower` features of each tower (by name). */
function subset(config: RunConfig, perTower: number): RunConfig {
  const names = (tower: string) =>
    config.features
      .filter((f) => f.tower === tower)
      .flatMap((f) => (Array.isArray(f.name) ? f.name : [f.name]))
      .sort()
      .slice(0, perTower);
  const keep = new Set([...names('user'), ...names('item')]);
  const features = config.features
    .map((f) => ({ ...f, name: (Array.isArray(f.name) ? f.name : [f.name]).filter((n) => keep.has(n)) }))
    .filter((f) => f.name.length > 0);
  return { ...config, features };
}

async function sweep(
  base: RunConfig,
  file: string,
  name: string,
  methods: readonly Method[],
  budgets: readonly string[],
): Promise<SweepResult> {
  const config: RunConfig = {
    ...base,
    sweep: { memory: [...budgets], methods: [...methods], seeds: SEEDS },
    output: { dir: path.join(DIR, name) },
  };
  const result = await runSweep(config, {
    configFile: file,
    workers: WORKERS,
    log: (line) => log(`${name}: ${line}`),
  });
  if (result.failed.length > 0)
    throw new Error(`${name}: ${result.failed.map((f) => `${f.id}: ${f.message}`).join('; ')}`);
  return result;
}

const trialDir = (result: SweepResult, row: TrialRow) => path.join(result.dir, TRIALS_DIR, row.trial);

async function recoveryTable(result: SweepResult, truth: GroundTruth, methods: readonly Method[]) {
  const lines = [
    `| budget | method | kept groups | precision | recall (of ${truth.roles.signal.length}) | weighted recall | noise kept | redundant picks | pairs: cheaper / costlier kept (of ${truth.equally_informative_pairs.length}) | test AUC | memory KB | selection s |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const budget of BUDGETS) {
    for (const method of methods) {
      const cell = result.rows.filter((row) => row.method === method && row.memory_budget === budget);
      if (cell.length === 0) continue;
      const scores = cell.map((row) => recovery(truth, keptGroupNames(row.kept_groups)));
      const seconds: number[] = [];
      for (const row of cell) {
        const value = await selectionSeconds(trialDir(result, row));
        if (value !== undefined) seconds.push(value);
      }
      const cells = [
        budget,
        method,
        fixed(
          scores.map((s) => s.kept),
          1,
        ),
        ...(['precision', 'recall', 'weightedRecall'] as const).map((key) =>
          fixed(
            scores.map((s) => s[key]),
            2,
          ),
        ),
        ...(['noise', 'redundant'] as const).map((key) =>
          fixed(
            scores.map((s) => s[key]),
            1,
          ),
        ),
        `${fixed(
          scores.map((s) => s.cheaperKept),
          1,
        )} / ${fixed(
          scores.map((s) => s.costlierKept),
          1,
        )}`,
        fixed(
          cell.map((row) => row.test_metric),
          4,
        ),
        fixed(
          cell.map((row) => row.memory_bytes / 1000),
          1,
        ),
        fixed(seconds, 1),
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  return lines;
}

interface ScalePoint {
  readonly label: string;
  readonly candidates: number;
  readonly result: SweepResult;
}

async function scalingTable(
  points: readonly ScalePoint[],
  budget: string,
  batchSize: number,
): Promise<string[]> {
  const lines = [
    `| candidates | configuration | one full training s | Sequential Attention selection s | x one full training | rounds / picks | batches trained: selection / full training | test AUC selected / full |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const point of points) {
    const rows = point.result.rows.filter(
      (row) => row.method === 'sequential_attention' && row.memory_budget === budget,
    );
    const full: number[] = [];
    const selection: number[] = [];
    const picks: number[] = [];
    const rounds: number[] = [];
    const steps: number[] = [];
    const fullSteps: number[] = [];
    for (const row of rows) {
      const dir = trialDir(point.result, row);
      const f = await fullTrainingSeconds(dir);
      const s = await selectionSeconds(dir);
      if (f !== undefined) full.push(f);
      if (s !== undefined) selection.push(s);
      const saved = await readJsonFile<{ order: readonly unknown[]; steps: number }>(
        path.join(dir, 'selection', 'selection.json'),
      );
      if (saved) {
        picks.push(saved.order.length);
        steps.push(saved.steps);
      }
      // trace.jsonl: one line per round (a last round may pick nothing).
      const trace = await readFile(path.join(dir, 'selection', 'trace.jsonl'), 'utf8').catch(() => undefined);
      if (trace !== undefined) rounds.push(trace.split('\n').filter((line) => line.trim()).length);
      const batches = await fullTrainingBatches(dir, batchSize);
      if (batches !== undefined) fullSteps.push(batches);
    }
    const ratio = full.length && selection.length ? (mean(selection) / mean(full)).toFixed(2) : 'n/a';
    lines.push(
      `| ${point.candidates} | ${point.label} | ${fixed(full, 1)} | ${fixed(selection, 1)} | ${ratio} | ${fixed(rounds, 0)} / ${fixed(picks, 0)} | ${fixed(steps, 0)} / ${fixed(fullSteps, 0)} | ${fixed(
        rows.map((r) => r.test_metric),
        4,
      )} / ${fixed(
        rows.map((r) => r.full_test_metric),
        4,
      )} |`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = os.loadavg();
  const { backend } = await selectBackend({});
  const { source, truth } = await dataset();
  const loaded = await loadConfig(CONFIG_FILE);
  const base: RunConfig = { ...loaded.config, data: { ...loaded.config.data, source } };
  const byGroup: RunConfig = { ...base, selection: { ...base.selection, unit: 'group' } };
  const byBlock: RunConfig = { ...base, selection: { ...base.selection, unit: 'block' } };
  const affordable = (config: RunConfig) =>
    METHODS.filter(
      (method) => method !== 'greedy' || candidateCount(config) <= config.selection.greedy_max_candidates,
    );

  const methods = affordable(byGroup);
  const main = await sweep(byGroup, loaded.file, 'recovery', methods, BUDGETS);
  const scaleBudget = BUDGETS[0];
  const small = subset(byGroup, SUBSET_PER_TOWER);
  const points: ScalePoint[] = [
    {
      label: `${SUBSET_PER_TOWER} groups per tower, unit group`,
      candidates: candidateCount(small),
      result: await sweep(small, loaded.file, 'scale-50', ['sequential_attention'], [scaleBudget]),
    },
    { label: 'all groups, unit group', candidates: candidateCount(byGroup), result: main },
    {
      label: `all groups, unit block (${base.model.embedding_dim / base.selection.block_size} blocks per group)`,
      candidates: candidateCount(byBlock),
      result: await sweep(byBlock, loaded.file, 'scale-800', ['sequential_attention'], [scaleBudget]),
    },
  ];
  const minutes = (performance.now() - started) / 60_000;
  const loadAfter = os.loadavg();
  const full = main.rows[0];
  const section = [
    '## Scale: selection among 200 feature groups (synthetic, large profile)',
    '',
    `Produced by \`npm run build && npm run bench:selection\` (${new Date().toISOString().slice(0, 10)}, ` +
      `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown cpu'}, Node ${process.version}, backend ${backend}; ` +
      `load average ${loadBefore[0].toFixed(1)} at the start and ${loadAfter[0].toFixed(1)} at the end, the machine shared with other work; ` +
      `${minutes.toFixed(1)} min of wall time in this invocation, which skips finished trials). ` +
      `Data: \`lemopt generate --profile large --rows ${ROWS}\` (seed ${truth.seed}; ${truth.roles.signal.length} signal columns of graded strength, ` +
      `${truth.roles.copy.length} copies, ${truth.equally_informative_pairs.length} equally informative pairs, ${truth.roles.noise.length} noise columns; ` +
      `AUC ceiling ${truth.metrics.ceiling_auc}, ${truth.metrics.signal_columns_auc} from all signal columns). ` +
      `Config \`${CONFIG_FILE}\` (${groupCount(base)} groups, ${base.train.epochs} epochs, selection settings at their defaults), ` +
      `${SEEDS.length} seed${SEEDS.length > 1 ? 's' : ''} (means shown); sweeps in \`${path.relative(process.cwd(), DIR)}\`. ` +
      (full
        ? `Full model: test AUC ${full.full_test_metric.toFixed(4)}, embedding memory ${(full.full_memory_bytes / 1000).toFixed(1)} KB.`
        : ''),
    '',
    `Recovery of the planted signal, \`unit: group\` (${candidateCount(byGroup)} candidates)` +
      (methods.includes('greedy') ? '' : '; greedy left out: it retrains per candidate and pick') +
      '. A signal unit is a signal column with its exact copies (keeping either recovers it; keeping both is one hit and one redundant pick); ' +
      'the two members of an equally informative pair observe different latent dimensions, so each is a unit of its own. ' +
      'Precision: hits / kept groups; recall: units recovered / signal units; weighted recall: the recovered units’ share of the summed signal_r2 ' +
      '(the weakest planted columns explain almost nothing).',
    '',
    ...(await recoveryTable(main, truth, methods)),
    '',
    `Selection time against the number of candidates: Sequential Attention at ${scaleBudget} memory, seed ${SEEDS[0]}, ` +
      'each against one full training (summed epoch seconds) of the same config in the same sweep. ' +
      'Rounds: rounds run (trace.jsonl lines); picks: candidates selected. Batches trained: the selection run’s ' +
      '(warm-up and rounds, selection.json `steps`; it ends when the budget is full, which can be before its plan’s last round) ' +
      'and one full training’s.',
    '',
    ...(await scalingTable(points, scaleBudget, base.train.batch_size)),
    '',
  ].join('\n');
  console.log(section);
  if (WRITE_EVALUATION) {
    const current = await readFile('EVALUATION.md', 'utf8').catch(() => '');
    await writeFile('EVALUATION.md', spliceMarkedSection(current, SELECTION_SECTION, section));
    log('wrote its section of EVALUATION.md');
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
