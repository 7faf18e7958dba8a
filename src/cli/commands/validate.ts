import path from 'node:path';
import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { openCheckedSource } from '../../data/dataset.js';
import { readManifest } from '../../experiment/manifest.js';

interface ValidateArgs {
  file: string;
  data: boolean;
}

async function validateConfig(args: ValidateArgs): Promise<void> {
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
}

async function validateManifestFile(file: string): Promise<void> {
  const manifest = await readManifest(file);
  const { manifest_version: version, kept, dropped } = manifest;
  process.stdout.write(
    `${path.resolve(file)}: valid manifest (version ${version}, ${kept.length} kept groups, ${dropped.length} dropped)\n`,
  );
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <file>',
  describe:
    'Check a config (keys, types, values; with --data also its columns) without running it, or a manifest (.json)',
  builder: (yargs) =>
    yargs
      .positional('file', {
        type: 'string',
        demandOption: true,
        describe: 'YAML run config, or a manifest (.json: schema and consistency with its config)',
      })
      .option('data', {
        type: 'boolean',
        default: true,
        describe:
          "Also open the data source and check every configured column's presence and type (configs only)",
      }),
  handler: (args) =>
    args.file.toLowerCase().endsWith('.json') ? validateManifestFile(args.file) : validateConfig(args),
};
