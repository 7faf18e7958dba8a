/**
 * Temporary folders for tests, under the OS temp dir, removed after the suite.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TempDir {
  readonly path: string;
  /** A path inside the folder. */
  file(...parts: string[]): string;
  remove(): Promise<void>;
}

export async function makeTempDir(prefix = 'lemopt-test-'): Promise<TempDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return {
    path: dir,
    file: (...parts) => path.join(dir, ...parts),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
