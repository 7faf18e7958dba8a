import { prepareDataset, type PreparedDataset } from '../data/dataset.js';
import { SPLIT_NAMES } from '../data/split.js';
import { vocabularySize } from '../data/vocabulary.js';
import type { RunConfig } from '../config/schema.js';
import { openRunFolder } from './run-folder.js';

export interface FeatureSummary {
  readonly feature: string;
  readonly column: string;
  readonly tower: string;
  readonly type: string;
  /** Embedding rows: kept values plus the missing and out-of-vocabulary ids. */
  readonly vocabularySize: number;
}

export interface PrepareSummary {
  readonly runDir: string;
  readonly rows: number;
  readonly positiveRate: number;
  readonly splitRows: Record<string, number>;
  readonly splitPositiveRate: Record<string, number>;
  readonly reusedVocabulary: boolean;
  readonly features: readonly FeatureSummary[];
  readonly groups: PreparedDataset['layout']['groups'];
  readonly seconds: number;
}

/**
 * Reads the dataset end to end as training will: vocabularies (or the saved ones),
 * then every batch encoded, counting rows and positives per split.
 */
export async function prepareRun(
  config: RunConfig,
  onProgress?: (phase: 'vocabulary' | 'encode', rows: number) => void,
): Promise<PrepareSummary> {
  const started = performance.now();
  const runDir = await openRunFolder(config);
  const dataset = await prepareDataset(config, { cacheDir: runDir, onProgress });
  const rows = [0, 0, 0];
  const positives = [0, 0, 0];
  for await (const batch of dataset.encodedBatches()) {
    for (let i = 0; i < batch.numRows; i++) {
      rows[batch.splits[i]] += 1;
      positives[batch.splits[i]] += batch.labels[i];
    }
  }
  const features = dataset.layout.features.map((feature) => ({
    feature: feature.name,
    column: feature.column,
    tower: feature.tower,
    type: feature.type,
    vocabularySize: vocabularySize(dataset.vocabularies.get(feature.name)!),
  }));
  return {
    runDir,
    rows: dataset.stats.rows,
    positiveRate: dataset.stats.positives / dataset.stats.rows,
    splitRows: Object.fromEntries(SPLIT_NAMES.map((name, i) => [name, rows[i]])),
    splitPositiveRate: Object.fromEntries(
      SPLIT_NAMES.map((name, i) => [name, rows[i] ? positives[i] / rows[i] : 0]),
    ),
    reusedVocabulary: dataset.reusedVocabulary,
    features,
    groups: dataset.layout.groups,
    seconds: (performance.now() - started) / 1000,
  };
}
