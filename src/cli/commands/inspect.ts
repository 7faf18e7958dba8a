import type { CommandModule } from 'yargs';
import { formatInspectReport, inspectSource } from '../../data/inspect.js';
import { openSource } from '../../data/sources/open.js';
import { createProgress } from '../progress.js';
import { UsageError } from '../usage.js';

interface InspectArgs {
  path: string;
  format?: 'parquet' | 'arrow' | 'csv';
  json: boolean;
  top: number;
  quiet: boolean;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <path>',
  describe:
    'Summarise a Parquet, Arrow or CSV file or folder: types, nulls, cardinality, top values, feature types',
  builder: (yargs) =>
    yargs
      .positional('path', {
        type: 'string',
        demandOption: true,
        describe: 'File, folder of part files, or glob',
      })
      .option('format', {
        choices: ['parquet', 'arrow', 'csv'] as const,
        describe: 'Override the format detected from extensions',
      })
      .option('json', { type: 'boolean', default: false, describe: 'Print the report as JSON' })
      .option('top', { type: 'number', default: 5, describe: 'Top values shown per column' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress output' })
      .check((args) => {
        if (!Number.isInteger(args.top) || args.top < 1)
          throw new UsageError('--top must be a positive integer');
        return true;
      }),
  handler: async (args) => {
    const source = await openSource(args.path, { format: args.format });
    const schema = await source.schema();
    const progress = createProgress('inspect', schema.numRows, { quiet: args.quiet || args.json });
    const report = await inspectSource(source, {
      topK: args.top,
      onProgress: (rows) => progress.update(rows),
    });
    progress.stop();
    process.stdout.write(
      args.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInspectReport(report)}\n`,
    );
  },
};
