/**
 * One lemopt process per output folder: a second `lemopt run` or `lemopt sweep` on a
 * folder another live process is writing would interleave checkpoints and results.
 * The lock is a file created exclusively (O_EXCL); a lock left by a process that no
 * longer exists on this host (killed, crashed) is taken over, so resuming just works.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LemoptError } from './errors.js';

export const LOCK_FILE = 'lemopt.lock';

/** The folder is locked by a live process, which the message names. */
export class FolderInUseError extends LemoptError {}

export interface LockInfo {
  readonly pid: number;
  readonly hostname: string;
  readonly command: string;
  readonly started: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Who holds the lock in `file` (a folder's LOCK_FILE), if anyone readable. */
export async function readLock(file: string): Promise<LockInfo | undefined> {
  try {
    const info = JSON.parse(await readFile(file, 'utf8')) as Partial<LockInfo>;
    return typeof info.pid === 'number' && typeof info.hostname === 'string' ? (info as LockInfo) : undefined;
  } catch {
    return undefined;
  }
}

async function acquire(dir: string, command: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid,
    hostname: os.hostname(),
    command,
    started: new Date().toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(`${JSON.stringify(info)}\n`);
      } finally {
        await handle.close();
      }
      return file;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
    }
    const holder = await readLock(file);
    const live = holder !== undefined && (holder.hostname !== info.hostname || alive(holder.pid));
    if (live) {
      throw new FolderInUseError(
        `${dir} is in use by lemopt ${holder.command} (pid ${holder.pid} on ${holder.hostname}, ` +
          `started ${holder.started}); wait for it to finish, or delete ${file} if that process is gone`,
      );
    }
    // Left by a process that no longer exists (or unreadable: a crash while writing it).
    await rm(file, { force: true });
  }
}

/** Removes the lock `acquire` made, unless another process took it over meanwhile. */
async function release(file: string): Promise<void> {
  const holder = await readLock(file);
  if (holder?.pid === process.pid && holder.hostname === os.hostname()) await rm(file, { force: true });
}

/** Runs `work` holding `dir`'s lock; throws a LemoptError naming the holder when a live process has it. */
export async function withFolderLock<T>(dir: string, command: string, work: () => Promise<T>): Promise<T> {
  const file = await acquire(dir, command);
  try {
    return await work();
  } finally {
    await release(file);
  }
}

/**
 * Runs `work` holding `dir`'s lock, waiting (polling every `pollMs`) while a live process
 * holds it; `onWait` is told who holds it, once.
 */
export async function withFolderLockWhenFree<T>(
  dir: string,
  command: string,
  work: () => Promise<T>,
  options: { readonly pollMs?: number; readonly onWait?: (holder: string) => void } = {},
): Promise<T> {
  let told = false;
  for (;;) {
    let file: string;
    try {
      file = await acquire(dir, command);
    } catch (error) {
      // In use, or taken by another process between a stale lock's removal and our attempt.
      const busy = error instanceof FolderInUseError || (error as NodeJS.ErrnoException).code === 'EEXIST';
      if (!busy) throw error;
      if (!told) options.onWait?.((error as Error).message);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
      continue;
    }
    try {
      return await work();
    } finally {
      await release(file);
    }
  }
}
