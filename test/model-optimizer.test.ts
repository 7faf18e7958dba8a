import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../src/model/backend.js';
import { clipScale, DenseOptimizer } from '../src/model/optimizer.js';

beforeAll(async () => {
  await selectBackend({ flag: 'cpu' });
});

describe('dense optimizer gradient clipping', () => {
  it('scales gradients to the clip norm only when their global norm exceeds it', () => {
    const gradients = [Float32Array.of(3, 0), undefined, Float32Array.of(0, 4)];
    expect(clipScale(gradients, 10)).toBe(1);
    expect(clipScale(gradients, 1)).toBeCloseTo(0.2, 12);
  });

  it('moves SGD weights by learning rate times the clipped gradient', () => {
    const a = tf.variable(tf.tensor1d([1, 1]));
    const b = tf.variable(tf.tensor1d([0]));
    const variables = [
      { name: 'a', variable: a, trainable: true },
      { name: 'b', variable: b, trainable: true },
    ];
    const optimizer = new DenseOptimizer('sgd', variables);
    const gradients = [tf.tensor1d([30, 0]), tf.tensor1d([40])];
    optimizer.apply(variables, gradients, 0.1, 5);
    // Global norm 50, clipped to 5: the gradients are scaled by 0.1.
    expect(Array.from(a.dataSync())).toEqual([1 - 0.1 * 3, 1].map(Math.fround));
    expect(b.dataSync()[0]).toBeCloseTo(-0.4, 6);
    tf.dispose([a, b, ...gradients]);
  });
});
