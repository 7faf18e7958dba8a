import type { CommandModule } from 'yargs';
import { csvSchema, type CsvConfig } from '../../config/schema.js';
import { formatInspectReport, inspectSource, parseDelimiterName } from '../../data/inspect.js';
import { CsvSource, type CsvOptions } from '../../data/sources/csv.js';
import { openSource } from '../../data/sources/open.js';
import { createProgress } from '../progress.js';
import { UsageError } from '../usage.js';

/** The CSV options take the values and defaults of the config's `data.csv` section. */
const CSV_DEFAULTS: CsvConfig = csvSchema.parse({});

/** The CSV reading options, named as the config's `data.csv` keys are. */
interface CsvArgs {
  header?: boolean;
  delimiter?: string;
  quote?: string;
  encoding?: CsvConfig['encoding'];
  nullValues?: string;
}

interface InspectArgs extends CsvArgs {
  path: string;
  format?: 'parquet' | 'arrow' | 'csv';
  json: boolean;
  top: number;
  quiet: boolean;
}

/** The CSV options given, spelt as on the command line. */
function givenCsvFlags(args: CsvArgs): string[] {
  const flags: Record<keyof CsvArgs, string> = {
    header: args.header ? '--header' : '--no-header',
    delimiter: '--delimiter',
    quote: '--quote',
    encoding: '--encoding',
    nullValues: '--null-values',
  };
  return (Object.keys(flags) as (keyof CsvArgs)[])
    .filter((key) => args[key] !== undefined)
    .map((key) => flags[key]);
}

/**
 * The source's CSV options from the command line: what is given wins, delimiter and header
 * left open are sniffed, the rest take the config's defaults.
 */
export function csvOptionsFromArgs(args: CsvArgs): CsvOptions {
  let delimiter: string | undefined;
  if (args.delimiter !== undefined) {
    delimiter = parseDelimiterName(args.delimiter);
    if (delimiter === undefined) {
      throw new UsageError(
        `--delimiter takes one character, \\t or tab, comma, semicolon, pipe; got '${args.delimiter}'`,
      );
    }
  }
  if (args.quote !== undefined && !csvSchema.shape.quote.safeParse(args.quote).success) {
    throw new UsageError(`--quote takes one character; got '${args.quote}'`);
  }
  return {
    delimiter,
    header: args.header,
    quote: args.quote ?? CSV_DEFAULTS.quote,
    encoding: args.encoding ?? CSV_DEFAULTS.encoding,
    nullValues: args.nullValues?.split(',') ?? CSV_DEFAULTS.null_values,
    sniff: true,
  };
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
      .option('header', {
        type: 'boolean',
        describe:
          'CSV: the first line names the columns (--no-header: columns column_1..n); default: sniffed',
      })
      .option('delimiter', {
        type: 'string',
        describe: 'CSV: field separator, one character or \\t, tab, comma, semicolon, pipe; default: sniffed',
      })
      .option('quote', { type: 'string', describe: `CSV: quote character (default ${CSV_DEFAULTS.quote})` })
      .option('encoding', {
        choices: csvSchema.shape.encoding.unwrap().options,
        describe: `CSV: text encoding (default ${CSV_DEFAULTS.encoding})`,
      })
      .option('null-values', {
        type: 'string',
        describe: `CSV: comma-separated cells read as missing (default ${CSV_DEFAULTS.null_values.join(',')})`,
      })
      .check((args) => {
        if (!Number.isInteger(args.top) || args.top < 1)
          throw new UsageError('--top must be a positive integer');
        return true;
      }),
  handler: async (args) => {
    const source = await openSource(args.path, { format: args.format, csv: csvOptionsFromArgs(args) });
    const csvFlags = givenCsvFlags(args);
    if (!(source instanceof CsvSource) && csvFlags.length > 0) {
      throw new UsageError(`${csvFlags.join(', ')}: options for CSV files, and ${args.path} is not one`);
    }
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
