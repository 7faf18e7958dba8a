/**
 * Tower-split prototype (issue 3): could the dense step use both cores by running the
 * user and the item tower in two worker threads, each with its own tfjs-wasm? The towers
 * are independent until the score, so a step is: both forwards in parallel, the score's
 * gradient in the main thread (a dot product per row), both backwards + Adam in parallel.
 *
 *   npm run build && node dist/bench/tower-split.js [--seconds 4]
 *
 * Prints milliseconds per dense step (batch 1024, 8 groups x 16 dims per tower, towers
 * 64-32, binary loss, Adam) for: the trainer's TwoTowerModel.step in one thread; one
 * tower's step alone in one thread (the ideal per-worker time); and the two-worker split,
 * synchronised through SharedArrayBuffers and Atomics.wait (no message passing per step).
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { selectBackend } from '../src/model/backend.js';
import { Random } from '../src/util/random.js';
import {
  BATCH,
  INPUT,
  OUTPUT,
  TowerHalf,
  channelLayout,
  referenceModel,
  timeFor,
  type Channel,
} from './tower-split-shared.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' } } });
const SECONDS = Number(values.seconds);

function fill(random: Random, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => random.normal() * 0.1);
}

function makeChannel(): Channel {
  return channelLayout(new SharedArrayBuffer(channelLayout(undefined).bytes));
}

async function main(): Promise<void> {
  await selectBackend({ flag: 'wasm' });
  const random = new Random(3, 'tower-split');
  const user = fill(random, BATCH * INPUT);
  const item = fill(random, BATCH * INPUT);
  const labels = Float32Array.from({ length: BATCH }, () => (random.next() < 0.5 ? 1 : 0));

  const model = referenceModel();
  const trainer = timeFor(SECONDS, () => model.step({ size: BATCH, user, item, labels }));

  const halfBatch = BATCH / 2;
  const halfRows = halfBatch * INPUT;
  const halfLabels = labels.slice(0, halfBatch);
  const halfUser = user.slice(0, halfRows);
  const halfItem = item.slice(0, halfRows);
  const halfStep = timeFor(SECONDS, () =>
    model.step({ size: halfBatch, user: halfUser, item: halfItem, labels: halfLabels }),
  );

  const half = new TowerHalf('user', 1);
  const gradient = fill(random, BATCH * OUTPUT);
  const oneTower = timeFor(SECONDS, () => half.step(user, () => gradient));

  const here = path.dirname(fileURLToPath(import.meta.url));
  const workerFile = path.join(here, 'tower-split-worker.js');
  /** Two workers stepping at once, no synchronisation: ms per step of the slower. */
  const freeRunPair = async (halfBatch?: number): Promise<number> => {
    const times = await Promise.all(
      [0, 1].map(
        (i) =>
          new Promise<number>((resolve, reject) => {
            const channel = makeChannel();
            channel.input.set(i === 0 ? user : item);
            const worker = new Worker(workerFile, {
              workerData: {
                buffer: channel.buffer,
                name: `free${i}`,
                seed: 1 + i,
                freeRunSeconds: SECONDS,
                halfBatch,
              },
            });
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
      ),
    );
    return Math.max(...times);
  };
  // One tower per worker: how far two threads scale here.
  const freeRun = await freeRunPair();
  // Data parallel: each worker the whole model on half the batch.
  const freeHalves = await freeRunPair(halfBatch);

  const channels = [makeChannel(), makeChannel()];
  channels[0].input.set(user);
  channels[1].input.set(item);
  const workers = channels.map(
    (channel, i) =>
      new Worker(workerFile, {
        workerData: { buffer: channel.buffer, name: i === 0 ? 'user' : 'item', seed: 1 + i },
      }),
  );
  await Promise.all(workers.map((w) => new Promise<void>((resolve) => w.once('message', () => resolve()))));
  let generation = 0;
  const waitFor = (channel: Channel, slot: number, value: number) => {
    while (Atomics.load(channel.control, slot) !== value) {
      Atomics.wait(channel.control, slot, Atomics.load(channel.control, slot));
    }
  };
  const splitStep = () => {
    generation++;
    for (const c of channels) {
      Atomics.store(c.control, 0, generation);
      Atomics.notify(c.control, 0);
    }
    for (const c of channels) waitFor(c, 1, generation);
    const [u, v] = [channels[0].output, channels[1].output];
    const [gu, gv] = [channels[0].outputGrad, channels[1].outputGrad];
    for (let r = 0; r < BATCH; r++) {
      let score = 0;
      const o = r * OUTPUT;
      for (let k = 0; k < OUTPUT; k++) score += u[o + k] * v[o + k];
      const dScore = (1 / (1 + Math.exp(-score)) - labels[r]) / BATCH;
      for (let k = 0; k < OUTPUT; k++) {
        gu[o + k] = dScore * v[o + k];
        gv[o + k] = dScore * u[o + k];
      }
    }
    for (const c of channels) {
      Atomics.store(c.control, 2, generation);
      Atomics.notify(c.control, 2);
    }
    for (const c of channels) waitFor(c, 3, generation);
  };
  const split = timeFor(SECONDS, splitStep);
  for (const c of channels) {
    Atomics.store(c.control, 0, -1);
    Atomics.notify(c.control, 0);
  }
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));

  console.log(
    `machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model}, load ${os.loadavg()[0].toFixed(2)}`,
  );
  console.log('| dense step, batch 1024, towers 64-32 | ms per step | examples/s |');
  console.log('|---|---|---|');
  for (const [label, ms] of [
    ['TwoTowerModel.step, both towers, one thread (the trainer today)', trainer],
    ['one tower alone, one thread (ideal per-worker time)', oneTower],
    ['one tower in each of two workers at once, no synchronisation (slower of the two)', freeRun],
    ['tower split: two workers + score gradient in the main thread', split],
    ['both towers on half the batch (512), one thread', halfStep],
    [
      'both towers on half the batch in each of two workers at once, no synchronisation (the slower)',
      freeHalves,
    ],
  ] as const) {
    console.log(
      `| ${label} | ${ms.toFixed(2)} | ${Math.round((BATCH / ms) * 1000).toLocaleString('en-US')} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
