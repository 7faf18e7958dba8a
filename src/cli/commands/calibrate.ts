import type { CommandModule } from 'yargs';
import { withConfigOptions } from '../options.js';
import { loadConfig } from '../../config/load.js';
import {
  CALIBRATION_DEFAULTS,
  runCalibration,
  type CalibrationRunResult,
  type CalibrationSample,
} from '../../experiment/calibrate.js';
import { UsageError } from '../usage.js';

interface CalibrateArgs {
  config: string;
  out?: string;
  backend?: string;
  samples: number;
  quiet: boolean;
}

export const calibrateCommand: CommandModule<object, CalibrateArgs> = {
  command: 'calibrate <config>',
  describe: 'Time real inference of model variants on this machine and fit the latency cost model',
  builder: (yargs) =>
    withConfigOptions(yargs)
      .option('out', {
        type: 'string',
        describe: 'Latency file to write (default: <run folder>/latency.json)',
      })
      .option('samples', {
        type: 'number',
        default: CALIBRATION_DEFAULTS.samples,
        describe: 'Model variants to time (more: a steadier fit, longer)',
      })
      .check((args) => {
        if (!Number.isInteger(args.samples) || args.samples < 4)
          throw new UsageError('--samples must be an integer of at least 4');
        return true;
      }),
  handler: async (args) => {
    const { config } = await loadConfig(args.config);
    const say = (line: string): void => {
      if (!args.quiet) process.stderr.write(`${line}\n`);
    };
    const result = await runCalibration(config, {
      backend: args.backend,
      out: args.out,
      samples: args.samples,
      log: say,
    });
    result.samples.forEach((sample, index) => say(describeSample(sample, index, result.samples.length)));
    process.stdout.write(formatResult(result));
  },
};

function describeSample(sample: CalibrationSample, index: number, total: number): string {
  const { lookups, dims, mflops } = sample.shape;
  const { user, item } = sample.towers;
  return (
    `variant ${index + 1}/${total}: ${lookups} lookups, ${dims} dims, ${mflops.toFixed(4)} MFLOP ` +
    `(towers ${user.join('-')} / ${item.join('-')}): ${sample.latencyUs.toFixed(2)} µs/example`
  );
}

function formatResult(result: CalibrationRunResult): string {
  const { constant_us, per_lookup_us, per_dim_us, per_mflop_us } = result.coefficients;
  const number = (value: number): string => value.toPrecision(4);
  return [
    `backend: ${result.backend}`,
    `latency_us = ${number(constant_us)} + ${number(per_lookup_us)} x lookups + ${number(per_dim_us)} x dims + ` +
      `${number(per_mflop_us)} x mflops`,
    `r2: ${result.r2.toFixed(4)} (${result.samples.length} variants, ${result.seconds.toFixed(1)} s)`,
    `wrote: ${result.file}`,
    '',
  ].join('\n');
}
