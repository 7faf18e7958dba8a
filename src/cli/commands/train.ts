import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { runTraining } from '../../experiment/train.js';
import { describeMetrics } from '../../model/metrics.js';
import { withConfigOptions } from '../options.js';
import { createProgress, type Progress } from '../progress.js';

interface TrainArgs {
  config: string;
  backend?: string;
  quiet: boolean;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train <config>',
  describe: 'Train the full model (every group at full dimension); evaluate on valid each epoch and on test',
  builder: (yargs) => withConfigOptions(yargs),
  handler: async (args) => {
    const { config } = await loadConfig(args.config);
    const say = (line: string): void => {
      if (!args.quiet) process.stderr.write(`${line}\n`);
    };
    let progress: Progress | undefined;
    let currentEpoch = 0;
    const result = await runTraining(config, {
      backend: args.backend,
      log: (line) => {
        progress?.stop();
        progress = undefined;
        say(line);
      },
      onStep: (epoch, examples, loss, expected) => {
        if (epoch !== currentEpoch) {
          currentEpoch = epoch;
          progress = createProgress(`epoch ${epoch}`, expected, { quiet: args.quiet });
        }
        progress?.update(examples, `loss ${loss.toFixed(4)}`);
      },
    });
    const { test, valid } = result;
    process.stdout.write(
      [
        `backend: ${result.backend}`,
        `valid: ${describeMetrics(valid)}`,
        `test:  ${describeMetrics(test)} (${test.examples} examples)`,
        ...(result.groundTruth
          ? [
              `ground truth: AUC ceiling ${result.groundTruth.ceilingAuc.toFixed(4)} (true latents), ` +
                `${result.groundTruth.signalColumnsAuc.toFixed(4)} from all signal columns without ids`,
            ]
          : []),
        `run folder: ${result.runDir}`,
        '',
      ].join('\n'),
    );
  },
};
