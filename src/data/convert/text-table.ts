/**
 * Reading the small delimited text files raw datasets ship as (no quoting, fixed field
 * counts), with errors that name the file and line.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { LemoptError, errorMessage } from '../../util/errors.js';

export interface TextTableOptions {
  readonly separator: string;
  /** Fields every line must have (at least, with `minFields`). */
  readonly fields: number;
  readonly encoding?: 'utf8' | 'latin1';
  /** Skip the first line (a header). */
  readonly header?: boolean;
}

/** The lines of `file` split into fields; blank lines are skipped. A `.gz` file is gunzipped. */
export async function readTextTable(file: string, options: TextTableOptions): Promise<string[][]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new LemoptError(`${file}: cannot read (${errorMessage(error)})`);
  }
  if (file.endsWith('.gz')) bytes = gunzipSync(bytes);
  const lines = bytes.toString(options.encoding ?? 'utf8').split(/\r?\n/);
  const rows: string[][] = [];
  lines.forEach((line, index) => {
    if ((options.header && index === 0) || line.trim() === '') return;
    const fields = line.split(options.separator);
    if (fields.length !== options.fields) {
      throw new LemoptError(
        `${file}:${index + 1}: expected ${options.fields} fields separated by '${options.separator}', got ${fields.length}`,
      );
    }
    rows.push(fields);
  });
  return rows;
}

/** A whole-number field, or an error naming the file, line (1-based data row) and field. */
export function integerField(value: string, file: string, row: number, field: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number))
    throw new LemoptError(`${file}: row ${row}: ${field} '${value}' is not an integer`);
  return number;
}
