/**
 * Streaming Parquet output for the generator: a hyparquet-writer `Writer` that flushes
 * to a file descriptor as it goes, so memory holds one row group, not the file.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { ByteWriter } from 'hyparquet-writer';

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
