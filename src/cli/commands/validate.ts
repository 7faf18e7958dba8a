import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { openCheckedSource } from '../../data/dataset.js';
import { exportRecordFile, validateExport } from '../../experiment/export/validate-export.js';
import { readManifest } from '../../experiment/manifest.js';
import { readJsonFile } from '../../util/json-file.js';

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

async function validateExportFolder(target: string): Promise<void> {
  const record = await validateExport(target);
  const models = record.files.filter((file) => file.role !== 'vocabulary').length;
  process.stdout.write(
    `${path.resolve(await exportRecordFile(target))}: valid export (${record.dtype}, ${models} models, ` +
      `${record.tables.length} tables as kept in ${record.manifest.file})\n`,
  );
}

/** A folder, or a .json file with an export_version, is an export; another .json file a manifest. */
async function isExport(file: string): Promise<boolean> {
  if ((await stat(file).catch(() => undefined))?.isDirectory()) return true;
  if (!file.toLowerCase().endsWith('.json')) return false;
  return (await readJsonFile<{ export_version?: unknown }>(file))?.export_version !== undefined;
}

async function validate(args: ValidateArgs): Promise<void> {
  if (await isExport(args.file)) return validateExportFolder(args.file);
  return args.file.toLowerCase().endsWith('.json') ? validateManifestFile(args.file) : validateConfig(args);
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <file>',
  describe:
    'Check a config (keys, types, values; with --data also its columns) without running it, a manifest (.json), or an export folder (or its model.json)',
  builder: (yargs) =>
    yargs
      .positional('file', {
        type: 'string',
        demandOption: true,
        describe:
          'YAML run config, a manifest (.json: schema and consistency with its config), or an export folder or its model.json (files, hashes, shapes, dims as kept)',
      })
      .option('data', {
        type: 'boolean',
        default: true,
        describe:
          "Also open the data source and check every configured column's presence and type (configs only)",
      }),
  handler: validate,
};
