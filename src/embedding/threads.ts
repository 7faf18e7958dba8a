/**
 * How many threads an embedding store of a run uses: 2 (the calling thread and one
 * worker) where the machine has at least two cores, else 1. LEMOPT_EMBEDDING_THREADS
 * (1 or 2) overrides it: a process that shares the cores with others, such as one of
 * several sweep trial processes, sets 1. Results do not depend on it.
 */
import os from 'node:os';
import { LemoptError } from '../util/errors.js';

export const EMBEDDING_THREADS_ENV_VAR = 'LEMOPT_EMBEDDING_THREADS';

export function defaultEmbeddingThreads(env: NodeJS.ProcessEnv = process.env): number {
  const requested = env[EMBEDDING_THREADS_ENV_VAR];
  if (requested !== undefined && requested !== '') {
    if (requested !== '1' && requested !== '2')
      throw new LemoptError(`${EMBEDDING_THREADS_ENV_VAR} must be 1 or 2, got '${requested}'`);
    return Number(requested);
  }
  return os.availableParallelism() >= 2 ? 2 : 1;
}
