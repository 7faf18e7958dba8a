import os from 'node:os';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { formatBytes } from '../../config/size.js';
import { RESULTS_CSV, SUMMARY_FILE, type SweepSummary } from '../../experiment/sweep-results.js';
import { DEFAULT_WORKER_MEMORY_MB, runSweep, TRIAL_ERROR_FILE } from '../../experiment/sweep.js';
import { LemoptError } from '../../util/errors.js';
import { withConfigOptions } from '../options.js';
import { UsageError } from '../usage.js';

interface SweepArgs {
  config: string;
  workers?: number;
  'worker-memory': number;
  backend?: string;
  quiet: boolean;
}

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: 'sweep <config>',
  describe:
    "Run the config's sweep grid (budgets x methods x seeds), one `lemopt run` per trial in parallel worker processes; results table and Pareto summary (resumes an interrupted sweep)",
  builder: (yargs) =>
    withConfigOptions(yargs)
      .option('workers', {
        type: 'number',
        describe: `Trials at a time, each in its own process (default: ${os.availableParallelism()}, the available cores)`,
      })
      .option('worker-memory', {
        type: 'number',
        default: DEFAULT_WORKER_MEMORY_MB,
        describe: 'Heap limit of each worker process, MB (--max-old-space-size)',
      })
      .check((args) => {
        if (args.workers !== undefined && (!Number.isInteger(args.workers) || args.workers < 1))
          throw new UsageError('--workers must be a positive integer');
        if (!Number.isInteger(args['worker-memory']) || args['worker-memory'] < 64)
          throw new UsageError('--worker-memory must be an integer of at least 64 (MB)');
        return true;
      }),
  handler: async (args) => {
    const { config, file } = await loadConfig(args.config);
    const result = await runSweep(config, {
      configFile: file,
      workers: args.workers,
      backend: args.backend,
      workerMemoryMb: args['worker-memory'],
      log: (line) => {
        if (!args.quiet) process.stderr.write(`${line}\n`);
      },
    });
    process.stdout.write(summaryTable(result.summary, result.dir));
    if (result.failed.length > 0) {
      const names = result.failed.map((trial) => trial.id).join(', ');
      throw new LemoptError(
        `${result.failed.length} of ${result.trials.length} trials failed: ${names} ` +
          `(see ${path.join(result.dir, 'trials', '<trial>', TRIAL_ERROR_FILE)}); run the sweep again to retry them`,
      );
    }
  },
};

/** Per method: trials, the area under the metric-memory curve, and the memory frontier. */
export function summaryTable(summary: SweepSummary, dir: string): string {
  const value = (v: number | null) => (v === null || !Number.isFinite(v) ? 'n/a' : v.toFixed(4));
  const lines = summary.methods.map((method) => {
    // Trials at the same point (e.g. seeds that kept the same groups) show once.
    const frontier = [
      ...new Set(
        method.pareto_memory.map(
          (point) => `${formatBytes(Math.round(point.cost))} ${point.test_metric.toFixed(4)}`,
        ),
      ),
    ].join(', ');
    return [method.method, String(method.trials), value(method.area_under_curve_memory), frontier || '-'];
  });
  const header = [
    'method',
    'trials',
    `area (${summary.metric})`,
    `memory frontier (memory ${summary.metric})`,
  ];
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i].length)));
  const row = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [
    `full model: test ${summary.metric} ${value(summary.full_test_metric)} (mean over seeds), ` +
      `memory ${Number.isFinite(summary.full_memory_bytes) ? formatBytes(summary.full_memory_bytes) : 'n/a'}`,
    row(header),
    row(widths.map((width) => '-'.repeat(width))),
    ...lines.map(row),
    `results: ${path.join(dir, RESULTS_CSV)}, summary: ${path.join(dir, SUMMARY_FILE)}`,
    '',
  ].join('\n');
}
