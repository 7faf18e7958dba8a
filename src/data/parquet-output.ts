/**
 * Parquet output (the generator, converters, sweep results): an explicit schema from
 * simple column types, a streaming file sink, and a whole-table writer that writes to a
 * temporary name and renames, so a reader never sees half a file.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ByteWriter, ParquetWriter, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import { temporaryPathFor } from '../util/atomic.js';

export type ColumnType =
  'int32' | 'int64' | 'float32' | 'float64' | 'string' | 'list<int32>' | 'list<string>';

export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
}

/** Explicit Parquet schema of the columns (a list column as the standard 3-level LIST). */
export function parquetSchema(columns: readonly ColumnSpec[]): SchemaElement[] {
  const schema: SchemaElement[] = [{ name: 'root', num_children: columns.length }];
  for (const column of columns) {
    const repetition_type = column.nullable ? 'OPTIONAL' : 'REQUIRED';
    switch (column.type) {
      case 'int32':
        schema.push({ name: column.name, type: 'INT32', repetition_type });
        break;
      case 'int64':
        schema.push({ name: column.name, type: 'INT64', repetition_type });
        break;
      case 'float32':
        schema.push({ name: column.name, type: 'FLOAT', repetition_type });
        break;
      case 'float64':
        schema.push({ name: column.name, type: 'DOUBLE', repetition_type });
        break;
      case 'string':
        schema.push({ name: column.name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type });
        break;
      case 'list<int32>':
      case 'list<string>':
        schema.push(
          { name: column.name, repetition_type, converted_type: 'LIST', num_children: 1 },
          { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
          column.type === 'list<int32>'
            ? { name: 'element', type: 'INT32', repetition_type: 'REQUIRED' }
            : { name: 'element', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
        );
        break;
    }
  }
  return schema;
}

/** Writes a whole table (one array per column, in `columns` order) to `file` atomically. */
export async function writeParquetTable(
  file: string,
  columns: readonly ColumnSpec[],
  data: readonly ColumnSource['data'][],
  options: { rowGroupSize?: number; createdBy?: string } = {},
): Promise<void> {
  const temporary = temporaryPathFor(file);
  const sink = new FileSink(temporary);
  try {
    const writer = new ParquetWriter({
      writer: sink,
      schema: parquetSchema(columns),
      codec: 'SNAPPY',
      createdBy: options.createdBy ?? 'lemopt',
    });
    const rows = data[0]?.length ?? 0;
    const columnData = columns.map((column, i) => ({ name: column.name, data: data[i] }));
    await writer.write({ columnData, rowGroupSize: options.rowGroupSize ?? Math.max(1, rows) });
    await writer.finish();
    sink.close(true);
    renameSync(temporary, file);
  } catch (error) {
    sink.close();
    rmSync(temporary, { force: true });
    throw error;
  }
}

const FLUSH_BYTES = 1 << 20;

/**
 * A ByteWriter whose buffer is written to `path` whenever it passes 1 MiB and after each
 * row group. Call `close()` once the Parquet writer has finished (or on failure).
 */
export class FileSink extends ByteWriter {
  private fd: number | undefined;

  constructor(path: string) {
    super(FLUSH_BYTES * 2);
    this.fd = openSync(path, 'w');
  }

  override ensure(size: number): void {
    if (this.index > FLUSH_BYTES) this.flush();
    super.ensure(size);
  }

  /** Writes the buffered bytes to the file (hyparquet-writer calls it after each row group). */
  flush(): void {
    if (this.fd === undefined) throw new Error('FileSink is closed');
    const bytes = new Uint8Array(this.buffer, 0, this.index);
    let written = 0;
    while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
    this.index = 0;
  }

  override finish(): void {
    this.flush();
  }

  /** Flushes to disk (fsync) when `durable`, then closes; safe to call twice. */
  close(durable = false): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  override getBuffer(): ArrayBuffer {
    throw new Error('FileSink writes to a file; it has no buffer to return');
  }

  override getBytes(): Uint8Array<ArrayBuffer> {
    throw new Error('FileSink writes to a file; it has no bytes to return');
  }
}
