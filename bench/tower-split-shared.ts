/** Shared by bench/tower-split.ts and its worker: sizes, the buffer layout, one tower's step. */
import * as tf from '@tensorflow/tfjs';
import { DenseOptimizer } from '../src/model/optimizer.js';
import { Tower } from '../src/model/tower.js';
import { TwoTowerModel } from '../src/model/two-tower.js';
import { VariableStore, readFloats } from '../src/model/variables.js';

export const BATCH = 1024;
export const INPUT = 8 * 16;
export const OUTPUT = 32;

/**
 * One worker's SharedArrayBuffer. control: [0] step requested (generation, -1 = stop),
 * [1] output ready, [2] output gradient ready, [3] step done.
 */
export interface Channel {
  readonly buffer: SharedArrayBuffer;
  readonly control: Int32Array;
  readonly input: Float32Array;
  readonly output: Float32Array;
  readonly outputGrad: Float32Array;
  readonly inputGrad: Float32Array;
  readonly bytes: number;
}

export function channelLayout(buffer: SharedArrayBuffer | undefined): Channel {
  const sizes = [BATCH * INPUT, BATCH * OUTPUT, BATCH * OUTPUT, BATCH * INPUT];
  const bytes = 16 + 4 * sizes.reduce((a, b) => a + b, 0);
  const b = buffer ?? new SharedArrayBuffer(16);
  if (buffer === undefined) return { bytes } as Channel;
  let offset = 16;
  const next = (n: number) => {
    const view = new Float32Array(b, offset, n);
    offset += 4 * n;
    return view;
  };
  return {
    buffer: b,
    control: new Int32Array(b, 0, 4),
    input: next(sizes[0]),
    output: next(sizes[1]),
    outputGrad: next(sizes[2]),
    inputGrad: next(sizes[3]),
    bytes,
  };
}

/** The trainer's dense model at the benchmark's sizes, plain (no gates). */
export function referenceModel(): TwoTowerModel {
  const model = new TwoTowerModel({
    userColumnCandidate: Int32Array.from({ length: INPUT }, (_, i) => Math.floor(i / 16)),
    itemColumnCandidate: Int32Array.from({ length: INPUT }, (_, i) => 8 + Math.floor(i / 16)),
    numCandidates: 16,
    userTower: [64, OUTPUT],
    itemTower: [64, OUTPUT],
    objective: 'binary',
    optimizer: 'adam',
    seed: 1,
    explicitTranspose: true,
  });
  model.gateMode = 'ones';
  return model;
}

/** Mean milliseconds per call of `step` over `seconds`, after 5 untimed calls. */
export function timeFor(seconds: number, step: () => void): number {
  for (let i = 0; i < 5; i++) step();
  const started = performance.now();
  let steps = 0;
  while (performance.now() - started < seconds * 1000) {
    step();
    steps++;
  }
  return (performance.now() - started) / steps;
}

/** One tower (64-32, ReLU) with Adam: forward, the output gradient from `exchange`, backward, update. */
export class TowerHalf {
  private readonly store = new VariableStore();
  private readonly tower: Tower;
  private readonly optimizer: DenseOptimizer;

  constructor(name: string, seed: number) {
    this.tower = new Tower(this.store, {
      name,
      inputDim: INPUT,
      units: [64, OUTPUT],
      activation: 'relu',
      normalization: 'none',
      seed,
      explicitTranspose: true,
    });
    this.optimizer = new DenseOptimizer('adam', this.store.trainable());
  }

  /** Returns the gradient of the input. */
  step(input: Float32Array, exchange: (output: Float32Array) => Float32Array): Float32Array {
    const x = tf.tensor2d(input, [BATCH, INPUT]);
    const variables = this.store.trainable();
    const { value, grads } = tf.engine().gradients(
      () => {
        const u = this.tower.apply(x, { training: true, updateStats: true });
        const g = exchange(u.dataSync() as Float32Array);
        return tf.sum(tf.mul(u, tf.tensor2d(g, [BATCH, OUTPUT])));
      },
      [x, ...variables.map((v) => v.variable)],
      undefined,
      true,
    );
    const inputGrad = readFloats(grads[0]);
    this.optimizer.apply(variables, grads.slice(1), 0.001);
    value.dispose();
    for (const grad of grads) grad?.dispose();
    x.dispose();
    return inputGrad;
  }
}
