import type { Batch, TwoTowerOptions } from '../../src/model/two-tower.js';
import { Random } from '../../src/util/random.js';

/** A batch of N(0, 1) tower inputs for a model's layout, alternating 0/1 labels and item frequencies in (0.01, 1.01). */
export function randomBatch(options: TwoTowerOptions, size: number, seed: number): Batch {
  const random = new Random(seed, 'batch');
  const fill = (n: number) => Float32Array.from({ length: n }, () => random.normal());
  return {
    size,
    user: fill(size * options.userColumnCandidate.length),
    item: fill(size * options.itemColumnCandidate.length),
    labels: Float32Array.from({ length: size }, (_, i) => i % 2),
    itemFrequency: Float32Array.from({ length: size }, () => 0.01 + random.next()),
  };
}
