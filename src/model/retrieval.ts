/**
 * Retrieval evaluation over the full item catalogue: every distinct item (by the item key
 * feature) is embedded once with the features of its first row; each positive test row's
 * user is scored against all of them, and the rank of its own item gives Recall@K and
 * NDCG@K (one relevant item per row: NDCG@K = 1 / log2(rank + 2) when rank < K).
 */
import { batches, concatBatches, prefetch, takeRows, type Batch } from '../data/batcher.js';
import type { PreparedDataset } from '../data/dataset.js';
import type { EmbeddingStore } from '../embedding/store.js';
import type { TwoTowerModel } from './two-tower.js';

export interface RetrievalMetrics {
  readonly kind: 'retrieval';
  /** Recall@K and NDCG@K per K. */
  readonly recall: Readonly<Record<string, number>>;
  readonly ndcg: Readonly<Record<string, number>>;
  readonly examples: number;
  readonly catalogue: number;
}

const EMBED_CHUNK = 4096;

/** The catalogue: one row per distinct item key, and where each key sits in it. */
export interface Catalogue {
  readonly rows: Batch;
  readonly indexOfKey: ReadonlyMap<number, number>;
}

export async function buildCatalogue(dataset: PreparedDataset, itemKey: number): Promise<Catalogue> {
  const indexOfKey = new Map<number, number>();
  const parts: Batch[] = [];
  for await (const encoded of dataset.encodedBatches()) {
    const ids = encoded.features[itemKey].ids;
    const fresh: number[] = [];
    for (let i = 0; i < encoded.numRows; i++) {
      if (!indexOfKey.has(ids[i])) {
        indexOfKey.set(ids[i], indexOfKey.size);
        fresh.push(i);
      }
    }
    if (fresh.length > 0) parts.push(takeRows(encoded, Int32Array.from(fresh)));
  }
  return { rows: concatBatches(parts), indexOfKey };
}

/** Item-tower vectors of every catalogue item, [N, dim] row-major. */
function embedCatalogue(
  catalogue: Catalogue,
  store: EmbeddingStore,
  model: TwoTowerModel,
): { vectors: Float32Array; dim: number } {
  const n = catalogue.rows.numRows;
  const chunks: Float32Array[] = [];
  let dim = 0;
  for (let start = 0; start < n; start += EMBED_CHUNK) {
    const order = Int32Array.from({ length: Math.min(EMBED_CHUNK, n - start) }, (_, i) => start + i);
    const rows = takeRows(catalogue.rows, order);
    const inputs = store.forward(rows);
    const embedded = model.embed({ size: rows.numRows, user: inputs.user, item: inputs.item });
    chunks.push(embedded.item);
    dim = embedded.dim;
  }
  const vectors = new Float32Array(n * dim);
  chunks.reduce((at, chunk) => (vectors.set(chunk, at), at + chunk.length), 0);
  return { vectors, dim };
}

export async function evaluateRetrieval(
  dataset: PreparedDataset,
  store: EmbeddingStore,
  model: TwoTowerModel,
  catalogue: Catalogue,
  itemKey: number,
  split: number,
  batchSize: number,
  ks: readonly number[],
): Promise<RetrievalMetrics> {
  const { vectors } = embedCatalogue(catalogue, store, model);
  const n = catalogue.rows.numRows;
  const hits = ks.map(() => 0);
  const gains = ks.map(() => 0);
  let examples = 0;
  const splitBatches = batches(dataset.encodedBatches(), { split, batchSize, shuffleBuffer: 0, seed: 0 });
  for await (const batch of prefetch(splitBatches)) {
    const inputs = store.forward(batch);
    const { user } = model.embed({ size: batch.numRows, user: inputs.user, item: inputs.item });
    const scores = model.scoreAgainst(user, batch.numRows, vectors, n);
    const keys = batch.features[itemKey].ids;
    for (let row = 0; row < batch.numRows; row++) {
      if (batch.labels[row] !== 1) continue;
      const own = catalogue.indexOfKey.get(keys[row]);
      if (own === undefined) continue;
      const base = row * n;
      const target = scores[base + own];
      let rank = 0;
      for (let j = 0; j < n; j++) if (scores[base + j] > target) rank += 1;
      ks.forEach((k, i) => {
        if (rank < k) {
          hits[i] += 1;
          gains[i] += 1 / Math.log2(rank + 2);
        }
      });
      examples += 1;
    }
  }
  const perK = (values: number[]) =>
    Object.fromEntries(ks.map((k, i) => [`@${k}`, examples ? values[i] / examples : NaN]));
  return { kind: 'retrieval', recall: perK(hits), ndcg: perK(gains), examples, catalogue: n };
}
