import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { prepareRun, type PrepareSummary } from '../../experiment/prepare.js';
import { createProgress, type Progress } from '../progress.js';
import { UsageError } from '../usage.js';

interface PrepareArgs {
  config: string;
  workers?: number;
  json: boolean;
  quiet: boolean;
}

export const prepareCommand: CommandModule<object, PrepareArgs> = {
  command: 'prepare <config>',
  describe: "Build the config's vocabularies and encode the dataset once; report splits and vocabulary sizes",
  builder: (yargs) =>
    yargs
      .positional('config', { type: 'string', demandOption: true, describe: 'YAML run config' })
      .option('workers', {
        type: 'number',
        describe: 'Worker threads that read and encode (0: main thread); overrides data.workers',
      })
      .check((args) => {
        if (args.workers !== undefined && !(Number.isInteger(args.workers) && args.workers >= 0)) {
          throw new UsageError('--workers must be 0 or a positive integer');
        }
        return true;
      })
      .option('json', { type: 'boolean', default: false, describe: 'Print the summary as JSON' })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress output' }),
  handler: async (args) => {
    const loaded = await loadConfig(args.config);
    const config =
      args.workers === undefined
        ? loaded.config
        : { ...loaded.config, data: { ...loaded.config.data, workers: args.workers } };
    let phase: string | undefined;
    let progress: Progress | undefined;
    const summary = await prepareRun(config, (current, rows) => {
      if (current !== phase) {
        progress?.stop();
        phase = current;
        progress = createProgress(current, undefined, { quiet: args.quiet || args.json });
      }
      progress!.update(rows);
    });
    progress?.stop();
    process.stdout.write(args.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
  },
};

function formatSummary(summary: PrepareSummary): string {
  const percent = (value: number): string => `${(100 * value).toFixed(1)}%`;
  const lines = [
    `${summary.rows} rows, ${percent(summary.positiveRate)} positive, in ${summary.seconds.toFixed(1)} s` +
      (summary.reusedVocabulary ? ' (saved vocabularies reused)' : ''),
    `split: ${Object.entries(summary.splitRows)
      .map(([name, rows]) => `${name} ${rows} (${percent(summary.splitPositiveRate[name])} positive)`)
      .join(', ')}`,
    '',
    `${'feature'.padEnd(24)} ${'tower'.padEnd(5)} ${'type'.padEnd(17)} vocabulary`,
    ...summary.features.map(
      (f) => `${f.feature.padEnd(24)} ${f.tower.padEnd(5)} ${f.type.padEnd(17)} ${f.vocabularySize}`,
    ),
    '',
    `run folder: ${summary.runDir}`,
  ];
  return `${lines.join('\n')}\n`;
}
