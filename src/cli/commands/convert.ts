import type { CommandModule } from 'yargs';
import { CONVERTERS, type DatasetName } from '../../data/convert/movielens.js';

interface ConvertArgs {
  name: string;
  src: string;
  dest: string;
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert <name> <src> <dest>',
  describe: 'Convert a raw public dataset (its original files in SRC) to DEST/interactions.parquet',
  builder: (yargs) =>
    yargs
      .positional('name', { choices: Object.keys(CONVERTERS), demandOption: true, describe: 'Dataset' })
      .positional('src', { type: 'string', demandOption: true, describe: "Folder of the dataset's files" })
      .positional('dest', { type: 'string', demandOption: true, describe: 'Output folder' }),
  handler: async (args) => {
    const result = await CONVERTERS[args.name as DatasetName](args.src, args.dest);
    process.stdout.write(`${result.file}: ${result.rows} rows, columns ${result.columns.join(', ')}\n`);
  },
};
