/** Worker of bench/tower-split.ts: one tower on its own tfjs-wasm, driven through a SharedArrayBuffer. */
import { parentPort, workerData } from 'node:worker_threads';
import { selectBackend } from '../src/model/backend.js';
import { INPUT, TowerHalf, channelLayout, referenceModel, timeFor } from './tower-split-shared.js';

const { buffer, name, seed, freeRunSeconds, halfBatch } = workerData as {
  buffer: SharedArrayBuffer;
  name: string;
  seed: number;
  /** Set: step alone, without the main thread, for this long; post the ms per step. */
  freeRunSeconds?: number;
  /** With freeRunSeconds: step the whole two-tower model on the first `halfBatch` rows. */
  halfBatch?: number;
};
const channel = channelLayout(buffer);

function waitUntil(slot: number, predicate: (value: number) => boolean): number {
  for (;;) {
    const value = Atomics.load(channel.control, slot);
    if (predicate(value)) return value;
    Atomics.wait(channel.control, slot, value);
  }
}

await selectBackend({ flag: 'wasm' });
if (freeRunSeconds !== undefined && halfBatch !== undefined) {
  const model = referenceModel();
  const rows = halfBatch * INPUT;
  const batch = {
    size: halfBatch,
    user: channel.input.slice(0, rows),
    item: channel.input.slice(rows, 2 * rows),
    labels: Float32Array.from({ length: halfBatch }, (_, r) => r % 2),
  };
  parentPort?.postMessage(timeFor(freeRunSeconds, () => model.step(batch)));
  process.exit(0);
}
const half = new TowerHalf(name, seed);
if (freeRunSeconds !== undefined) {
  const gradient = channel.outputGrad.fill(1e-3);
  parentPort?.postMessage(timeFor(freeRunSeconds, () => half.step(channel.input, () => gradient)));
  process.exit(0);
}
parentPort?.postMessage('ready');
let done = 0;
for (;;) {
  const generation = waitUntil(0, (value) => value !== done);
  if (generation < 0) break;
  const inputGrad = half.step(channel.input, (output) => {
    channel.output.set(output);
    Atomics.store(channel.control, 1, generation);
    Atomics.notify(channel.control, 1);
    waitUntil(2, (value) => value === generation);
    return channel.outputGrad;
  });
  channel.inputGrad.set(inputGrad);
  done = generation;
  Atomics.store(channel.control, 3, generation);
  Atomics.notify(channel.control, 3);
}
