/**
 * Starts a worker script both from the compiled tree and from TypeScript sources (under
 * vitest, or `node --import tsx`): there a small bootstrap registers tsx (a dev
 * dependency) in the worker and then loads the .ts file of the same name. Used by the
 * encode workers (src/data) and the embedding engine's worker (src/embedding).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `script`: the compiled name beside the caller, e.g. new URL('./x-worker.js', import.meta.url). */
export function startWorker(script: URL, options: WorkerOptions): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(script, options);
  const source = JSON.stringify(script.href.replace(/\.js$/, '.ts'));
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${source}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}
