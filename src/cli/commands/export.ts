import type { CommandModule } from 'yargs';
import { formatBytes } from '../../config/size.js';
import { exportRun } from '../../experiment/export/export.js';
import { EXPORT_RECORD_FILE } from '../../experiment/export/record.js';
import { BACKEND_NAMES } from '../../model/backend.js';

interface ExportArgs {
  dir: string;
  out?: string;
  dtype?: string;
  backend?: string;
  quiet: boolean;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <dir>',
  describe:
    "Write the run's selected model for serving (ONNX: both towers with the score, and each tower alone) with its vocabulary, checked in ONNX Runtime",
  builder: (yargs) =>
    yargs
      .positional('dir', { type: 'string', demandOption: true, describe: 'A run folder of `lemopt run`' })
      .option('out', { type: 'string', describe: 'Export folder (default: DIR/export)' })
      .option('dtype', {
        type: 'string',
        describe: "Precision of the tables: fp32, fp16 or int8 (default: the manifest's dtype)",
      })
      .option('backend', {
        choices: ['auto', ...BACKEND_NAMES],
        describe:
          "lemopt's dense engine for the reference scores; overrides LEMOPT_BACKEND and model.backend",
      })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress output' }),
  handler: async (args) => {
    const { dir, record } = await exportRun(args.dir, {
      out: args.out,
      dtype: args.dtype,
      backend: args.backend,
      log: args.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
    });
    const { memory, check, latency } = record;
    const { name, lemopt, change } = check.metric;
    const metric = `test ${name === 'auc' ? 'AUC' : name} ${check.metric.export.toFixed(4)} (lemopt ${lemopt.toFixed(4)}, change ${change.toExponential(2)})`;
    const timing = latency.models.two_tower;
    process.stdout.write(
      [
        `${dir}/${EXPORT_RECORD_FILE}: ${record.dtype} export of ${record.tables.length} tables, ${record.files.length} files`,
        `tables: ${formatBytes(memory.tables_bytes)} as exported (cost model ${formatBytes(memory.predicted_bytes)})`,
        `check: ${check.rows} test rows, max score difference ${check.max_difference.score.toExponential(2)}; ${metric}`,
        `latency (ONNX Runtime, model.onnx): ${timing.batch_1_us.toFixed(1)} µs/example at batch 1, ${timing.batch_256_us.toFixed(2)} at batch 256`,
        '',
      ].join('\n'),
    );
  },
};
