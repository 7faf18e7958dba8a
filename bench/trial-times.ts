/** Seconds a sweep trial spent training its full model and selecting, from its run folder. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SELECTION_FILE } from '../src/experiment/run.js';
import { METRICS_FILE } from '../src/experiment/train.js';

/** One full training of the trial's config: the sum of its epochs' seconds (undefined before it finished). */
export async function fullTrainingSeconds(trialDir: string): Promise<number | undefined> {
  try {
    const metrics = JSON.parse(await readFile(path.join(trialDir, 'full', METRICS_FILE), 'utf8')) as {
      epochs: { seconds: number }[];
    };
    return metrics.epochs.reduce((sum, epoch) => sum + epoch.seconds, 0);
  } catch {
    return undefined;
  }
}

/** Batches of one full training of the trial's config: its epochs' train examples in batches of `batchSize`. */
export async function fullTrainingBatches(trialDir: string, batchSize: number): Promise<number | undefined> {
  try {
    const metrics = JSON.parse(await readFile(path.join(trialDir, 'full', METRICS_FILE), 'utf8')) as {
      epochs: { trainExamples: number }[];
    };
    return metrics.epochs.reduce((sum, epoch) => sum + Math.ceil(epoch.trainExamples / batchSize), 0);
  } catch {
    return undefined;
  }
}

/** The selection stage's wall time (undefined before it finished). */
export async function selectionSeconds(trialDir: string): Promise<number | undefined> {
  try {
    return (
      JSON.parse(await readFile(path.join(trialDir, 'selection', SELECTION_FILE), 'utf8')) as {
        seconds: number;
      }
    ).seconds;
  } catch {
    return undefined;
  }
}
