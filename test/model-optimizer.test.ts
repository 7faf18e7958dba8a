import { describe, expect, it } from 'vitest';
import { clipScale, DenseOptimizer } from '../src/model/optimizer.js';
import { Parameters } from '../src/model/parameters.js';

describe('dense optimizer gradient clipping', () => {
  it('scales gradients to the clip norm only when their global norm exceeds it', () => {
    const gradients = [Float32Array.of(3, 0), undefined, Float32Array.of(0, 4)];
    expect(clipScale(gradients, 10)).toBe(1);
    expect(clipScale(gradients, 1)).toBeCloseTo(0.2, 12);
  });

  it('moves SGD weights by learning rate times the clipped gradient', () => {
    const parameters = new Parameters(
      [
        { name: 'a', shape: [2], trainable: true, init: () => Float32Array.of(1, 1) },
        { name: 'b', shape: [1], trainable: true, init: () => Float32Array.of(0) },
      ],
      0,
    );
    const optimizer = new DenseOptimizer('sgd', parameters.trainable());
    const gradients = new Map([
      ['a', Float32Array.of(30, 0)],
      ['b', Float32Array.of(40)],
    ]);
    optimizer.apply(parameters, gradients, 0.1, 5);
    // Global norm 50, clipped to 5: the gradients are scaled by 0.1.
    expect(Array.from(parameters.get('a'))).toEqual([1 - 0.1 * 3, 1].map(Math.fround));
    expect(parameters.get('b')[0]).toBeCloseTo(-0.4, 6);
  });

  it('leaves a parameter without a gradient as it is, and counts steps per parameter', () => {
    const parameters = new Parameters(
      [
        { name: 'a', shape: [1], trainable: true, init: () => Float32Array.of(1) },
        { name: 'b', shape: [1], trainable: true, init: () => Float32Array.of(2) },
      ],
      0,
    );
    const optimizer = new DenseOptimizer('adam', parameters.trainable());
    optimizer.apply(parameters, new Map([['a', Float32Array.of(1)]]), 0.1);
    // Adam's first step moves by the learning rate in the gradient's sign.
    expect(parameters.get('a')[0]).toBeCloseTo(0.9, 6);
    expect(parameters.get('b')[0]).toBe(2);
    expect(optimizer.getState().steps).toEqual({ a: 1, b: 0 });
  });
});
