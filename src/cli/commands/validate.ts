import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { openCheckedSource } from '../../data/dataset.js';

interface ValidateArgs {
  file: string;
  data: boolean;
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <file>',
  describe: 'Check a config (keys, types, values; with --data also its columns) without running it',
  builder: (yargs) =>
    yargs
      .positional('file', { type: 'string', demandOption: true, describe: 'YAML run config' })
      .option('data', {
        type: 'boolean',
        default: true,
        describe: "Also open the data source and check every configured column's presence and type",
      }),
  handler: async (args) => {
    const { config, file } = await loadConfig(args.file);
    const groups = config.groups.length;
    const features = config.features.flatMap((feature) =>
      Array.isArray(feature.name) ? feature.name : [feature.name],
    );
    let detail = `${features.length} features, ${groups} configured groups`;
    if (args.data) {
      const { source, layout } = await openCheckedSource(config);
      detail += `, ${layout.groups.length} candidate groups; columns checked in ${source.files.length} file(s)`;
    }
    process.stdout.write(`${file}: valid (${detail})\n`);
  },
};
