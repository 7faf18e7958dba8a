import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE, withFolderLock } from '../src/util/folder-lock.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('lemopt-lock-');
});
afterAll(async () => tmp.remove());

const exists = (file: string) =>
  readFile(file).then(
    () => true,
    () => false,
  );

async function lockOf(pid: number, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, LOCK_FILE),
    JSON.stringify({ pid, hostname: os.hostname(), command: 'sweep', started: '2026-01-01T00:00:00.000Z' }),
  );
}

describe('withFolderLock', () => {
  it('holds the lock while the work runs and removes it after, also when the work throws', async () => {
    const dir = tmp.file('plain');
    const seen = await withFolderLock(dir, 'run', async () =>
      JSON.parse(await readFile(tmp.file('plain', LOCK_FILE), 'utf8')),
    );
    expect(seen).toMatchObject({ pid: process.pid, hostname: os.hostname(), command: 'run' });
    expect(await exists(tmp.file('plain', LOCK_FILE))).toBe(false);
    await expect(withFolderLock(dir, 'run', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await exists(tmp.file('plain', LOCK_FILE))).toBe(false);
  });

  it('refuses a folder a live process holds, naming it; a second holder in the same process too', async () => {
    const dir = tmp.file('busy');
    const child = spawn('sleep', ['30']);
    try {
      await lockOf(child.pid!, dir);
      await expect(withFolderLock(dir, 'run', async () => 1)).rejects.toThrow(
        `${dir} is in use by lemopt sweep (pid ${child.pid} on ${os.hostname()}, started 2026-01-01T00:00:00.000Z); ` +
          `wait for it to finish, or delete ${tmp.file('busy', LOCK_FILE)} if that process is gone`,
      );
      expect(await exists(tmp.file('busy', LOCK_FILE))).toBe(true);
    } finally {
      child.kill();
    }
    const nested = tmp.file('nested');
    await expect(
      withFolderLock(nested, 'sweep', () => withFolderLock(nested, 'run', async () => 1)),
    ).rejects.toThrow(`${nested} is in use by lemopt sweep (pid ${process.pid}`);
  });

  it('takes over a lock whose process is gone (a killed run resumes)', async () => {
    const dir = tmp.file('stale');
    const child = spawn('true');
    await new Promise((resolve) => child.once('exit', resolve));
    await lockOf(child.pid!, dir);
    expect(await withFolderLock(dir, 'run', async () => 'resumed')).toBe('resumed');
    expect(await exists(tmp.file('stale', LOCK_FILE))).toBe(false);
    await writeFile(tmp.file('stale', LOCK_FILE), '{"pid": 12'); // torn by a crash while written
    expect(await withFolderLock(dir, 'run', async () => 'again')).toBe('again');
  });
});
