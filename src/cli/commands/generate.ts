import type { CommandModule } from 'yargs';
import {
  generateSynthetic,
  SYNTHETIC_PROFILES,
  syntheticProfile,
  type SyntheticProfileName,
} from '../../data/synthetic.js';
import { createProgress } from '../progress.js';
import { UsageError } from '../usage.js';

interface GenerateArgs {
  profile: SyntheticProfileName;
  out?: string;
  rows?: number;
  seed: number;
  quiet: boolean;
}

/** Where a profile's dataset goes unless --out says otherwise (the configs read it there). */
const DEFAULT_OUT: Record<SyntheticProfileName, string> = {
  quickstart: 'data/synthetic',
  large: 'data/synthetic-large',
};

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'Write the embedded synthetic dataset (Parquet) and its ground truth (JSON)',
  builder: (yargs) =>
    yargs
      .option('profile', {
        choices: Object.keys(SYNTHETIC_PROFILES) as SyntheticProfileName[],
        default: 'quickstart' as SyntheticProfileName,
        describe: "The dataset's shape: quickstart (19 feature columns) or large (200 feature groups)",
      })
      .option('out', {
        type: 'string',
        describe: 'Output folder (default: data/synthetic, or data/synthetic-large for --profile large)',
      })
      .option('rows', {
        type: 'number',
        describe: 'Number of interactions (default: 200,000, or 500,000 for --profile large)',
      })
      .option('seed', {
        type: 'number',
        default: 7,
        describe: 'Random seed; the same seed gives the same bytes',
      })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress output' })
      .check((args) => {
        if (args.rows !== undefined && (!Number.isInteger(args.rows) || args.rows < 1))
          throw new UsageError('--rows must be a positive integer');
        if (!Number.isInteger(args.seed)) throw new UsageError('--seed must be an integer');
        return true;
      }),
  handler: async (args) => {
    const rows = args.rows ?? syntheticProfile(args.profile).defaultRows;
    const progress = createProgress('generate', rows, { quiet: args.quiet });
    const result = await generateSynthetic({
      outDir: args.out ?? DEFAULT_OUT[args.profile],
      profile: args.profile,
      rows,
      seed: args.seed,
      onProgress: (written) => progress.update(written),
    });
    progress.stop();
    process.stdout.write(
      `wrote ${result.rows} rows to ${result.dataFile}\nground truth: ${result.truthFile}\n`,
    );
  },
};
