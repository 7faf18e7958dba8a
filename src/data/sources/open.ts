/**
 * One entry point for every format: resolve the location (file, folder or glob), pick the
 * format from the configuration or the extensions, check that no file is empty, and open
 * the matching source.
 */
import { stat } from 'node:fs/promises';
import { LemoptError } from '../../util/errors.js';
import type { DataSource } from '../types.js';
import { CsvSource, type CsvOptions } from './csv.js';
import { detectFormat, resolveFiles, type SourceFormat } from './files.js';
import { ParquetSource } from './parquet.js';

export interface SourceOptions {
  /** Overrides the format the extensions suggest. */
  format?: SourceFormat;
  csv?: CsvOptions;
}

export async function openSource(location: string, options: SourceOptions = {}): Promise<DataSource> {
  const files = await resolveFiles(location, options.format);
  const format = detectFormat(location, files, options.format);
  for (const file of files) {
    const info = await stat(file);
    if (info.size === 0) throw new LemoptError(`${file}: the file is empty`);
  }
  switch (format) {
    case 'parquet':
      return ParquetSource.open(location, files);
    case 'arrow': {
      // apache-arrow takes a fifth of a second to load: only Arrow sources pay for it.
      const { ArrowSource } = await import('./arrow.js');
      return ArrowSource.open(location, files);
    }
    case 'csv':
      return CsvSource.open(location, options.csv ?? {}, files);
  }
}
