#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LemoptError } from '../util/errors.js';
import { applyCommand } from './commands/apply.js';
import { calibrateCommand } from './commands/calibrate.js';
import { convertCommand } from './commands/convert.js';
import { exportCommand } from './commands/export.js';
import { generateCommand } from './commands/generate.js';
import { inspectCommand } from './commands/inspect.js';
import { prepareCommand } from './commands/prepare.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { sweepCommand } from './commands/sweep.js';
import { trainCommand } from './commands/train.js';
import { validateCommand } from './commands/validate.js';
import { workerCommand } from './commands/worker.js';
import { UsageError } from './usage.js';

/** Input errors print their message alone; anything else is a bug and keeps its stack. */
function reportError(error: unknown): never {
  if (error instanceof LemoptError) {
    process.stderr.write(`lemopt: ${error.message}\n`);
  } else {
    process.stderr.write(
      `lemopt: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exit(1);
}

export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('lemopt')
    .usage(
      '$0 <command> [options]\n\nSelect embedding feature groups and dimensions under memory and latency budgets.',
    )
    .command(generateCommand)
    .command(convertCommand)
    .command(inspectCommand)
    .command(validateCommand)
    .command(prepareCommand)
    .command(trainCommand)
    .command(calibrateCommand)
    .command(runCommand)
    .command(sweepCommand)
    .command(workerCommand)
    .command(reportCommand)
    .command(applyCommand)
    .command(exportCommand)
    .demandCommand(1, 'Name a command; `lemopt --help` lists them.')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, error) => {
      if (error && !(error instanceof UsageError)) reportError(error);
      process.stderr.write(`lemopt: ${message ?? error?.message}\nRun \`lemopt --help\` for usage.\n`);
      process.exit(2);
    })
    .parseAsync();
}

main(hideBin(process.argv)).catch(reportError);
