import type { CommandModule } from 'yargs';
import { DEFAULT_LEASE_SECONDS, parseQueueUrl } from '../../experiment/distributed/queue-address.js';
import { BACKEND_NAMES } from '../../model/backend.js';
import { UsageError } from '../usage.js';
import { usableQueueUrl } from '../queue-url.js';

interface WorkerArgs {
  queue: string;
  concurrency: number;
  lease: number;
  backend?: string;
  quiet: boolean;
}

export const workerCommand: CommandModule<object, WorkerArgs> = {
  command: 'worker',
  describe:
    'Take trials from the Redis queue of `lemopt sweep --queue` and run them, until stopped (SIGTERM or Ctrl-C: the running trials finish first)',
  builder: (yargs) =>
    yargs
      .option('queue', {
        type: 'string',
        demandOption: true,
        describe: 'redis://HOST:PORT[/DB], as given to `lemopt sweep --queue`',
      })
      .option('concurrency', {
        type: 'number',
        default: 1,
        describe: 'Trials at a time, each in its own process',
      })
      .option('lease', {
        type: 'number',
        default: DEFAULT_LEASE_SECONDS,
        describe:
          "Seconds a trial stays this worker's without renewal: a killed worker's trials go to others after it",
      })
      .option('backend', {
        choices: ['auto', ...BACKEND_NAMES],
        describe: 'dense engine of the trials (default: the one the sweep prepared on)',
      })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress output' })
      .check((args) => {
        if (!Number.isInteger(args.concurrency) || args.concurrency < 1)
          throw new UsageError('--concurrency must be a positive integer');
        if (!(args.lease >= 1)) throw new UsageError('--lease must be at least 1 (second)');
        if (args.queue !== undefined) usableQueueUrl(args.queue);
        return true;
      }),
  handler: async (args) => {
    const log = (line: string) => {
      if (!args.quiet) process.stderr.write(`${new Date().toISOString()} ${line}\n`);
    };
    // BullMQ and ioredis load only for the queue's commands.
    const { startQueueWorker } = await import('../../experiment/distributed/queue-worker.js');
    const worker = await startQueueWorker({
      url: parseQueueUrl(args.queue),
      concurrency: args.concurrency,
      leaseSeconds: args.lease,
      backend: args.backend,
      log,
    });
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        log(
          `worker ${worker.name}: ${signal}: finishing the running trials, taking no more (again to stop now)`,
        );
        process.once(signal, () => process.exit(130));
        worker.close().then(resolve, resolve);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    log(`worker ${worker.name}: stopped`);
  },
};
