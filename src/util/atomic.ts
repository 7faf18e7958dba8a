import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A temporary name beside `target`: same folder (so rename is atomic), recognisable
 * (`.tmp-` prefix) and unique per writer.
 */
export function temporaryPathFor(target: string): string {
  return path.join(
    path.dirname(target),
    `.tmp-${path.basename(target)}-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/**
 * Runs `write` against a temporary path, then renames it onto `target`; a crash leaves
 * the old file or none, never a half-written one.
 */
export async function writeAtomically(
  target: string,
  write: (temporaryPath: string) => Promise<void>,
): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const temporary = temporaryPathFor(target);
  try {
    await write(temporary);
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true, recursive: true });
    throw error;
  }
}

export function writeFileAtomic(target: string, contents: string | Uint8Array): Promise<void> {
  return writeAtomically(target, (temporary) => writeFile(temporary, contents));
}
