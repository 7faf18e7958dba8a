import os from 'node:os';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { formatBytes } from '../../config/size.js';
import { EMIT_TARGETS, emitArrayJob, type EmitTarget } from '../../experiment/distributed/emit.js';
import { DEFAULT_ATTEMPTS, parseQueueUrl } from '../../experiment/distributed/queue-address.js';
import { collectSweep, parseShard, shardTrials } from '../../experiment/distributed/shards.js';
import { RESULTS_CSV, SUMMARY_FILE, type SweepSummary } from '../../experiment/sweep-results.js';
import { DEFAULT_WORKER_MEMORY_MB, runSweep, sweepTrials, TRIAL_ERROR_FILE } from '../../experiment/sweep.js';
import { LemoptError } from '../../util/errors.js';
import { withConfigOptions } from '../options.js';
import { UsageError } from '../usage.js';
import { usableQueueUrl } from '../queue-url.js';

interface SweepArgs {
  config: string;
  workers?: number;
  'worker-memory': number;
  backend?: string;
  quiet: boolean;
  queue?: string;
  status: boolean;
  attempts: number;
  shard?: string;
  collect: boolean;
  emit?: EmitTarget;
  shards?: number;
  image: string;
  'volume-claim': string;
  mount?: string;
  out?: string;
}

/** The ways of running a sweep besides the default; at most one at a time. */
const MODES = ['queue', 'shard', 'collect', 'emit'] as const;

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: 'sweep <config>',
  describe:
    "Run the config's sweep grid (budgets x methods x seeds), one `lemopt run` per trial in parallel worker processes, on a Redis queue (--queue) or as shards of an array job (--shard, --collect, --emit); results table and Pareto summary (resumes an interrupted sweep)",
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
      .option('queue', {
        type: 'string',
        describe:
          'redis://HOST:PORT[/DB]: put the trials on this Redis queue for `lemopt worker` processes on any machine (the sweep folder must be on storage they all see)',
      })
      .option('status', {
        type: 'boolean',
        default: false,
        describe: 'With --queue: print where the sweep stands (from any machine) and exit',
      })
      .option('attempts', {
        type: 'number',
        default: DEFAULT_ATTEMPTS,
        describe: 'With --queue: runs of a trial (the first and its retries) before it counts as failed',
      })
      .option('shard', {
        type: 'string',
        describe:
          'I/N: run shard I (from 0) of N, every N-th trial; auto/N or auto: I from JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or AWS_BATCH_JOB_ARRAY_INDEX',
      })
      .option('collect', {
        type: 'boolean',
        default: false,
        describe:
          "Merge the shards' finished trials into results.csv, results.parquet and summary.json (safe while shards run)",
      })
      .option('emit', {
        choices: EMIT_TARGETS,
        describe:
          'Write an array job that runs the sweep as shards: a Kubernetes Indexed Job or an sbatch script',
      })
      .option('shards', {
        type: 'number',
        describe: 'With --emit: array indices (default: one per trial)',
      })
      .option('image', {
        type: 'string',
        default: 'lemopt:latest',
        describe: 'With --emit kubernetes: the container image, with lemopt on its PATH',
      })
      .option('volume-claim', {
        type: 'string',
        default: 'lemopt-shared',
        describe: 'With --emit kubernetes: the PersistentVolumeClaim (ReadWriteMany) of the shared folder',
      })
      .option('mount', {
        type: 'string',
        describe:
          'With --emit: the shared folder, mounted at the same path everywhere (default: the current folder)',
      })
      .option('out', {
        type: 'string',
        describe:
          'With --emit: the file to write (default: sweep-job.yaml or sweep.sbatch in the sweep folder)',
      })
      .check((args) => {
        const modes = MODES.filter((mode) => args[mode] !== undefined && args[mode] !== false);
        if (modes.length > 1) throw new UsageError(`--${modes[0]} and --${modes[1]} do not go together`);
        if (args.status && args.queue === undefined) throw new UsageError('--status needs --queue URL');
        if (args.queue !== undefined) usableQueueUrl(args.queue);
        if (!Number.isInteger(args.attempts) || args.attempts < 1)
          throw new UsageError('--attempts must be a positive integer');
        if (args.shards !== undefined && (!Number.isInteger(args.shards) || args.shards < 1))
          throw new UsageError('--shards must be a positive integer');
        if (args.workers !== undefined && (!Number.isInteger(args.workers) || args.workers < 1))
          throw new UsageError('--workers must be a positive integer');
        if (!Number.isInteger(args['worker-memory']) || args['worker-memory'] < 64)
          throw new UsageError('--worker-memory must be an integer of at least 64 (MB)');
        return true;
      }),
  handler: async (args) => {
    const { config, file } = await loadConfig(args.config);
    const dir = config.output.dir!;
    const log = (line: string) => {
      if (!args.quiet) process.stderr.write(`${line}\n`);
    };
    const queue = args.queue === undefined ? undefined : parseQueueUrl(args.queue);
    if (queue && args.status) {
      // BullMQ and ioredis load only for the queue's commands.
      const { formatQueueStatus, queueStatus } = await import('../../experiment/distributed/queue-status.js');
      process.stdout.write(formatQueueStatus(await queueStatus(queue, dir), queue));
      return;
    }
    if (args.emit) {
      const written = await emitArrayJob(
        config,
        {
          target: args.emit,
          configFile: file,
          shards: args.shards ?? sweepTrials(config, file).length,
          image: args.image,
          volumeClaim: args['volume-claim'],
          mount: path.resolve(args.mount ?? '.'),
          workerMemoryMb: args['worker-memory'],
          backend: args.backend,
        },
        args.out,
      );
      process.stdout.write(`${written}\n`);
      return;
    }
    if (args.collect) {
      const collected = await collectSweep(config, file);
      process.stdout.write(summaryTable(collected.summary, dir));
      const waiting = collected.unfinished.length;
      log(
        `collect: ${collected.rows.length} of ${collected.trials.length} trials finished, ${collected.failed.length} failed, ` +
          `${waiting} not finished yet${waiting > 0 ? ' (running or not started; collect again later)' : ''}`,
      );
      if (collected.failed.length > 0)
        throw new LemoptError(
          `${collected.failed.length} of ${collected.trials.length} trials failed: ${collected.failed.join(', ')} ` +
            `(see ${path.join(dir, 'trials', '<trial>', TRIAL_ERROR_FILE)}); run their shards again to retry them`,
        );
      return;
    }
    const shard = args.shard === undefined ? undefined : parseShard(args.shard);
    if (shard) log(`sweep: shard ${shard.index} of ${shard.count} (index from ${shard.source})`);
    const result = await runSweep(config, {
      configFile: file,
      workers: args.workers,
      backend: args.backend,
      workerMemoryMb: args['worker-memory'],
      log,
      runner: queue
        ? (await import('../../experiment/distributed/queue-sweep.js')).queueRunner({
            url: queue,
            attempts: args.attempts,
          })
        : undefined,
      share: shard ? (trials) => shardTrials(trials, shard) : undefined,
    });
    if (!shard) process.stdout.write(summaryTable(result.summary, result.dir));
    if (result.failed.length > 0) {
      const names = result.failed.map((trial) => trial.id).join(', ');
      throw new LemoptError(
        `${result.failed.length} of ${result.trials.length} trials failed: ${names} ` +
          `(see ${path.join(result.dir, 'trials', '<trial>', TRIAL_ERROR_FILE)}); run the ${shard ? 'shard' : 'sweep'} again to retry them`,
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
