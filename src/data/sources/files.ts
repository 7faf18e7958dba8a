import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { LemoptError } from '../../util/errors.js';

export type SourceFormat = 'parquet' | 'arrow' | 'csv';

const EXTENSIONS: Record<SourceFormat, readonly string[]> = {
  parquet: ['.parquet', '.parq', '.pq'],
  arrow: ['.arrow', '.arrows', '.ipc', '.feather'],
  csv: ['.csv', '.tsv', '.txt', '.csv.gz', '.tsv.gz'],
};

/** Format from a file name's extension, or undefined when it does not say. */
export function formatFromExtension(file: string): SourceFormat | undefined {
  const lower = file.toLowerCase();
  for (const [format, extensions] of Object.entries(EXTENSIONS) as [SourceFormat, readonly string[]][]) {
    if (extensions.some((ext) => lower.endsWith(ext))) return format;
  }
  return undefined;
}

/**
 * Expands a file, a folder (its data files, recursively, as written by Spark/DuckDB
 * part-file layouts) or a glob into a sorted list of files. Errors name the location.
 */
export async function resolveFiles(location: string, format?: SourceFormat): Promise<string[]> {
  if (isDynamicPattern(location)) {
    const files = (await glob(location, { absolute: true, onlyFiles: true })).sort();
    if (files.length === 0) throw new LemoptError(`${location}: the pattern matches no file`);
    return files;
  }
  const info = await stat(location).catch(() => undefined);
  if (!info) throw new LemoptError(`${location}: no such file or folder`);
  if (info.isFile()) return [path.resolve(location)];
  const all = await glob('**/*', { cwd: location, absolute: true, onlyFiles: true });
  const files = all
    .filter((file) => !path.basename(file).startsWith('.') && !path.basename(file).startsWith('_'))
    .filter((file) => {
      const detected = formatFromExtension(file);
      return format ? detected === format : detected !== undefined;
    })
    .sort();
  if (files.length === 0) {
    throw new LemoptError(`${location}: the folder holds no ${format ?? 'parquet, arrow or csv'} file`);
  }
  return files;
}

/**
 * Picks the format: the configured one, else from the files' extensions, which must agree.
 */
export function detectFormat(
  location: string,
  files: readonly string[],
  format?: SourceFormat,
): SourceFormat {
  if (format) return format;
  const formats = new Set(files.map(formatFromExtension));
  if (formats.size === 1) {
    const [only] = formats;
    if (only) return only;
  }
  if (formats.has(undefined)) {
    throw new LemoptError(
      `${location}: cannot tell the file format from the extension; set data.format to parquet, arrow or csv`,
    );
  }
  throw new LemoptError(
    `${location}: files of several formats (${[...formats].join(', ')}); point at one kind`,
  );
}

/**
 * A cheap identity of the files' contents: path, size and modification time of each.
 * Cached vocabularies are reused only while it is unchanged.
 */
export async function fingerprintFiles(files: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    const info = await stat(file);
    hash.update(`${path.resolve(file)}\0${info.size}\0${info.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}
