/**
 * Cost of retrieval evaluation (Recall@K, NDCG@K over the whole catalogue) per 1,000
 * evaluated rows, apart from the towers: scoring the rows' user vectors against every
 * item vector (one [rows x d] by [d x items] product on the dense engine) and counting,
 * per row, the items that score above its own. The product alone is timed too, so the
 * difference is the ranking.
 *
 *   npm run build && npm run bench:retrieval [-- --backends onnxruntime,wasm] [-- --items 4082,100000]
 */
import { parseArgs } from 'node:util';
import { selectBackend, type BackendName } from '../src/model/backend.js';
import type { DenseEngine } from '../src/model/engine.js';
import { RankTally } from '../src/model/retrieval.js';
import { Random } from '../src/util/random.js';

const DIM = 32;
const ROWS = 1024;
const KS = [10, 100];

function vectors(count: number, random: Random): Float32Array {
  return Float32Array.from({ length: count * DIM }, () => random.normal());
}

function msPer1kRows(run: () => void, seconds: number): number {
  run();
  let batches = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    run();
    batches++;
  }
  return (performance.now() - start) / batches / (ROWS / 1000);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backends: { type: 'string', default: 'onnxruntime,wasm' },
      items: { type: 'string', default: '4082,100000' },
      seconds: { type: 'string', default: '2' },
    },
  });
  const random = new Random(1, 'bench-retrieval');
  const users = vectors(ROWS, random);
  console.log(
    `retrieval scoring, ${ROWS} rows per batch, dim ${DIM}, K ${KS.join(', ')}; Node ${process.version}\n`,
  );
  console.log('| backend | items | product ms / 1k rows | product + ranks ms / 1k rows |');
  console.log('|---|---|---|---|');
  for (const backend of values.backends.split(',') as BackendName[]) {
    const engine: DenseEngine = (await selectBackend({ flag: backend })).engine;
    const model = {
      scoreAgainst: (u: Float32Array, r: number, i: Float32Array, n: number) =>
        engine.matMulNT(u, i, r, n, DIM),
    };
    for (const count of values.items.split(',').map(Number)) {
      const items = vectors(count, random);
      const own = Int32Array.from({ length: ROWS }, (_, row) => (row * 7919) % count);
      const product = msPer1kRows(
        () => model.scoreAgainst(users, ROWS, items, count),
        Number(values.seconds),
      );
      const tally = new RankTally(KS);
      const total = msPer1kRows(
        () => tally.add(model, users, ROWS, items, count, own),
        Number(values.seconds),
      );
      console.log(
        `| ${backend} | ${count.toLocaleString('en-US')} | ${product.toFixed(2)} | ${total.toFixed(2)} |`,
      );
    }
  }
}

await main();
