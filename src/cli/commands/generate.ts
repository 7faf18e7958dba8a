import type { CommandModule } from 'yargs';
import { generateSynthetic } from '../../data/synthetic.js';
import { createProgress } from '../progress.js';
import { UsageError } from '../usage.js';

interface GenerateArgs {
  out: string;
  rows: number;
  seed: number;
  quiet: boolean;
}

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'Write the embedded synthetic dataset (Parquet) and its ground truth (JSON)',
  builder: (yargs) =>
    yargs
      .option('out', { type: 'string', default: 'data/synthetic', describe: 'Output folder' })
      .option('rows', { type: 'number', default: 200_000, describe: 'Number of interactions' })
      .option('seed', {
        type: 'number',
        default: 7,
        describe: 'Random seed; the same seed gives the same bytes',
      })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress output' })
      .check((args) => {
        if (!Number.isInteger(args.rows) || args.rows < 1)
          throw new UsageError('--rows must be a positive integer');
        if (!Number.isInteger(args.seed)) throw new UsageError('--seed must be an integer');
        return true;
      }),
  handler: async (args) => {
    const progress = createProgress('generate', args.rows, { quiet: args.quiet });
    const result = await generateSynthetic({
      outDir: args.out,
      rows: args.rows,
      seed: args.seed,
      onProgress: (written) => progress.update(written),
    });
    progress.stop();
    process.stdout.write(
      `wrote ${result.rows} rows to ${result.dataFile}\nground truth: ${result.truthFile}\n`,
    );
  },
};
