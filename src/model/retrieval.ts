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
/** Scores one product may produce: 16 MiB of float32, small enough to stay near the cache. */
const SCORES_PER_PRODUCT = 1 << 22;

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

/** The tower vectors (as the score sees them) of encoded rows: their items', and their users'. */
export interface TowerEmbedder {
  /** [rows, dim] row-major. */
  items(rows: Batch): Float32Array;
  users(rows: Batch): Float32Array;
}

/** The embedder of a trained model: lookups in its store, towers on its engine. */
export function modelEmbedder(store: EmbeddingStore, model: TwoTowerModel): TowerEmbedder {
  const embed = (rows: Batch) => {
    const inputs = store.forward(rows);
    return model.embed({ size: rows.numRows, user: inputs.user, item: inputs.item });
  };
  return { items: (rows) => embed(rows).item, users: (rows) => embed(rows).user };
}

/** Item-tower vectors of every catalogue item, [N, dim] row-major. */
function embedCatalogue(catalogue: Catalogue, embedder: TowerEmbedder): Float32Array {
  const n = catalogue.rows.numRows;
  const chunks: Float32Array[] = [];
  for (let start = 0; start < n; start += EMBED_CHUNK) {
    const order = Int32Array.from({ length: Math.min(EMBED_CHUNK, n - start) }, (_, i) => start + i);
    chunks.push(embedder.items(takeRows(catalogue.rows, order)));
  }
  const vectors = new Float32Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  chunks.reduce((at, chunk) => (vectors.set(chunk, at), at + chunk.length), 0);
  return vectors;
}

/** Hits and discounted gains at each K, summed over the rows ranked so far. */
export class RankTally {
  readonly hits: number[];
  readonly gains: number[];
  examples = 0;

  constructor(readonly ks: readonly number[]) {
    this.hits = ks.map(() => 0);
    this.gains = ks.map(() => 0);
  }

  /**
   * Scores `rows` user vectors against the catalogue's item vectors (matrix products on
   * the engine) and adds the rank of each row's own item (`own[row]`, or -1 to skip the
   * row): the number of items that score strictly higher. Rows go in slices whose scores
   * fit SCORES_PER_PRODUCT, so a large catalogue never needs a rows x items buffer.
   */
  add(
    model: Pick<TwoTowerModel, 'scoreAgainst'>,
    users: Float32Array,
    rows: number,
    items: Float32Array,
    count: number,
    own: Int32Array,
  ): void {
    const dim = users.length / rows;
    const slice = Math.max(1, Math.floor(SCORES_PER_PRODUCT / count));
    for (let first = 0; first < rows; first += slice) {
      const last = Math.min(rows, first + slice);
      const scores = model.scoreAgainst(users.subarray(first * dim, last * dim), last - first, items, count);
      for (let row = first; row < last; row++) {
        if (own[row] >= 0)
          this.count(scores.subarray((row - first) * count, (row - first + 1) * count), own[row]);
      }
    }
  }

  /** Adds one row: its own item's rank among `scores`. */
  private count(scores: Float32Array, own: number): void {
    const target = scores[own];
    let rank = 0;
    // A view and a branch-free count: about 4x faster in V8 than indexing the whole matrix.
    for (let j = 0; j < scores.length; j++) rank += +(scores[j] > target);
    this.ks.forEach((k, i) => {
      if (rank < k) {
        this.hits[i] += 1;
        this.gains[i] += 1 / Math.log2(rank + 2);
      }
    });
    this.examples += 1;
  }

  metrics(catalogue: number): RetrievalMetrics {
    const perK = (values: number[]) =>
      Object.fromEntries(this.ks.map((k, i) => [`@${k}`, this.examples ? values[i] / this.examples : NaN]));
    return {
      kind: 'retrieval',
      recall: perK(this.hits),
      ndcg: perK(this.gains),
      examples: this.examples,
      catalogue,
    };
  }
}

/**
 * Recall@K and NDCG@K of the vectors `embedder` gives: the catalogue embedded once, each
 * positive row of the split ranked against it (products on `scorer`'s engine).
 */
export async function rankCatalogue(
  dataset: PreparedDataset,
  embedder: TowerEmbedder,
  scorer: Pick<TwoTowerModel, 'scoreAgainst'>,
  catalogue: Catalogue,
  itemKey: number,
  split: number,
  batchSize: number,
  ks: readonly number[],
): Promise<RetrievalMetrics> {
  const vectors = embedCatalogue(catalogue, embedder);
  const n = catalogue.rows.numRows;
  const tally = new RankTally(ks);
  const splitBatches = batches(dataset.encodedBatches(), { split, batchSize, shuffleBuffer: 0, seed: 0 });
  for await (const batch of prefetch(splitBatches)) {
    const user = embedder.users(batch);
    const keys = batch.features[itemKey].ids;
    // Only positive rows whose item is in the catalogue are ranked.
    const own = Int32Array.from({ length: batch.numRows }, (_, row) =>
      batch.labels[row] === 1 ? (catalogue.indexOfKey.get(keys[row]) ?? -1) : -1,
    );
    tally.add(scorer, user, batch.numRows, vectors, n, own);
  }
  return tally.metrics(n);
}
