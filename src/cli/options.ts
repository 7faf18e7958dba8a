import type { Argv } from 'yargs';
import { BACKEND_NAMES } from '../model/backend.js';

/** What every command that runs a config takes: the config, --backend and --quiet. */
export function withConfigOptions<T>(yargs: Argv<T>) {
  return yargs
    .positional('config', { type: 'string', demandOption: true, describe: 'YAML run config' })
    .option('backend', {
      choices: ['auto', ...BACKEND_NAMES],
      describe: 'dense engine; overrides LEMOPT_BACKEND and model.backend',
    })
    .option('quiet', { type: 'boolean', default: false, describe: 'No progress output' });
}
