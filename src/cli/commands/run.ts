import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { formatBytes } from '../../config/size.js';
import { STOP_REASONS, type DidNotFitEntry, type Manifest } from '../../experiment/manifest.js';
import { budgetsOf, selectionCost } from '../../experiment/manifest-costs.js';
import { describeClassifierRun, runClassifierSelection } from '../../experiment/classify.js';
import { runSelection } from '../../experiment/run.js';
import { describeMetrics } from '../../model/metrics.js';
import { describeBudgets, describeCost } from '../../selection/budgets.js';
import { withConfigOptions } from '../options.js';
import { createProgress, type Progress } from '../progress.js';

interface RunArgs {
  config: string;
  backend?: string;
  quiet: boolean;
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <config>',
  describe:
    'Select feature groups and dims under the budgets, retrain the selection, write manifest.json (resumes an interrupted run)',
  builder: (yargs) => withConfigOptions(yargs),
  handler: async (args) => {
    const { config } = await loadConfig(args.config);
    if (config.model.kind === 'classifier') {
      const log = (line: string) => (args.quiet ? undefined : process.stderr.write(`${line}\n`));
      const result = await runClassifierSelection(config, { backend: args.backend, log });
      process.stdout.write(describeClassifierRun(result));
      return;
    }
    let progress: Progress | undefined;
    let current = '';
    const result = await runSelection(config, {
      backend: args.backend,
      log: (line) => {
        progress?.stop();
        progress = undefined;
        current = '';
        if (!args.quiet) process.stderr.write(`${line}\n`);
      },
      onProgress: (stage, done, expected, loss) => {
        if (stage !== current) {
          progress?.stop();
          current = stage;
          progress = createProgress(stage, expected, { quiet: args.quiet });
        }
        progress?.update(done, `loss ${loss.toFixed(4)}`);
      },
    });
    progress?.stop();
    process.stdout.write(summary(result.manifest, result.runDir));
  },
};

/** The table `lemopt run` ends with: kept groups, costs against budgets, full and selected metrics. */
export function summary(manifest: Manifest, runDir: string): string {
  const rows = manifest.kept.map((group) => [
    group.group,
    group.tower,
    String(group.dim),
    String(group.vocabulary_size),
    formatBytes(group.memory_bytes),
  ]);
  const table = formatTable(['kept group', 'tower', 'dim', 'rows', 'memory'], rows);
  const { full, selected } = manifest.cost;
  const budget = (value: number | null, format: (v: number) => string) =>
    value === null ? 'no budget' : `budget ${format(value)}`;
  const micros = (value: number | null) => (value === null ? 'n/a' : `${value.toFixed(2)} µs`);
  return [
    `method: ${manifest.method}, unit: ${manifest.unit}, dtype: ${manifest.dtype}`,
    table,
    ...didNotFitLines(manifest.did_not_fit ?? []),
    `dropped: ${manifest.dropped.map((group) => group.group + (group.copy_of ? ` (a copy of ${group.copy_of})` : '')).join(', ') || 'none'}`,
    ...(manifest.stopped ? [`stopped: ${describeStop(manifest.stopped)}`] : []),
    `memory:  selected ${formatBytes(selected.predicted.memory_bytes)} of full ${formatBytes(full.predicted.memory_bytes)} ` +
      `(${budget(manifest.budgets.memory_bytes, formatBytes)})`,
    `latency: selected ${micros(selected.predicted.latency_us)} predicted, ${micros(selected.measured.latency_us)} measured; ` +
      `full ${micros(full.predicted.latency_us)} predicted, ${micros(full.measured.latency_us)} measured ` +
      `(${budget(manifest.budgets.latency_us, (v) => `${v.toFixed(2)} µs`)})`,
    `full model:     test ${describeMetrics(manifest.metrics.full.test)}`,
    `selected model: test ${describeMetrics(manifest.metrics.selected.test)}`,
    `manifest: ${runDir}/manifest.json`,
    '',
  ].join('\n');
}

/** At most this many candidates in the summary's did-not-fit lines. */
const DID_NOT_FIT_LINES = 5;

function describeStop(stopped: NonNullable<Manifest['stopped']>): string {
  const unused = budgetsOf(stopped.unused_budget);
  const left = unused.memoryBytes === undefined && unused.latencyUs === undefined;
  return `${STOP_REASONS[stopped.reason]}${left ? '' : ` (unused: ${describeBudgets(unused)})`}`;
}

/** The candidates that ranked above a pick but did not fit, most important first, with the forms that would have. */
function didNotFitLines(entries: readonly DidNotFitEntry[]): string[] {
  if (entries.length === 0) return [];
  const more = entries.length - DID_NOT_FIT_LINES;
  return [
    'did not fit (ranked above a pick):',
    ...entries.slice(0, DID_NOT_FIT_LINES).map((entry) => `  ${describeDidNotFit(entry)}`),
    ...(more > 0 ? [`  and ${more} more (did_not_fit in the manifest)`] : []),
  ];
}

function describeDidNotFit(entry: DidNotFitEntry): string {
  const when = entry.round > 0 ? ` in round ${entry.round}` : '';
  const blocked =
    entry.blocked_by === 'other_tower'
      ? 'it would leave no room for the other tower'
      : `${describeBudgets(budgetsOf(entry.budget_left))} left`;
  const forms = [
    entry.fits_with_fewer_dims &&
      `at ${entry.fits_with_fewer_dims.dim} dims (${describeCost(selectionCost(entry.fits_with_fewer_dims))})`,
    entry.fits_as_int8 &&
      `as int8 at ${entry.fits_as_int8.dim} dims (${describeCost(selectionCost(entry.fits_as_int8))})`,
  ].filter((form) => form !== null);
  return (
    `${entry.candidate} (weight ${entry.weight.toFixed(3)}${when}, ${describeCost(selectionCost(entry.cost))}; ${blocked}): ` +
    (forms.length > 0 ? `fits ${forms.join(' or ')}` : 'no smaller form fits')
  );
}

function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => cell.padEnd(widths[column])).join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}
