/**
 * Where a distributed sweep's queue is and its defaults, apart from the Redis client
 * (queue.ts) so that commands can check --queue without loading ioredis and BullMQ.
 */
import { LemoptError } from '../../util/errors.js';

/** Attempts of a trial (first run and retries) before it counts as failed. */
export const DEFAULT_ATTEMPTS = 3;
/** Seconds a worker's hold on a trial lasts without renewal before another worker may take it. */
export const DEFAULT_LEASE_SECONDS = 30;

/** A redis:// or rediss:// URL (host, port, optional /db), or an error naming what is wrong. */
export function parseQueueUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LemoptError(`--queue: '${text}' is not a URL; write redis://HOST:PORT[/DB]`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new LemoptError(`--queue: '${text}' is not a redis:// URL; write redis://HOST:PORT[/DB]`);
  if (!url.hostname) throw new LemoptError(`--queue: '${text}' names no host; write redis://HOST:PORT[/DB]`);
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db))
    throw new LemoptError(
      `--queue: '${text}': the database must be a number (redis://HOST:PORT/0), got '${db}'`,
    );
  return url;
}

/** The URL without its password, for logs. */
export function displayUrl(url: URL): string {
  if (!url.password) return url.href;
  const shown = new URL(url.href);
  shown.password = '***';
  return shown.href;
}
