import type { CommandModule } from 'yargs';

interface ReportArgs {
  dir: string;
  out?: string;
  trial?: string;
  'trial-reports': boolean;
  quiet: boolean;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <dir>',
  describe:
    'Write DIR/report.html: plots and tables of a run folder or a sweep folder, in one self-contained file',
  builder: (yargs) =>
    yargs
      .positional('dir', {
        type: 'string',
        demandOption: true,
        describe: 'A run folder (manifest.json) or a sweep folder (results.csv, summary.json, trials/)',
      })
      .option('out', { type: 'string', describe: 'HTML file to write (default: DIR/report.html)' })
      .option('trial', {
        type: 'string',
        describe:
          'Sweep: the trial whose run plots to show (default: the best sequential_attention trial at the middle memory budget)',
      })
      .option('trial-reports', {
        type: 'boolean',
        default: true,
        describe: 'Sweep: also write trials/<id>/report.html for every trial (--no-trial-reports to skip)',
      })
      .option('quiet', { type: 'boolean', default: false, describe: 'No progress output' }),
  handler: async (args) => {
    // Vega loads in half a second: only the report command pays for it.
    const { writeReport } = await import('../../experiment/report.js');
    const result = await writeReport(args.dir, {
      out: args.out,
      trial: args.trial,
      trialReports: args['trial-reports'],
      log: args.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
    });
    const trial = result.trial ? `, trial ${result.trial}` : '';
    const trials = result.trialReports.length > 0 ? `; ${result.trialReports.length} trial reports` : '';
    process.stdout.write(
      `${result.file}: ${result.kind} report with ${result.plots.length} plots${trial}${trials}\n`,
    );
  },
};
