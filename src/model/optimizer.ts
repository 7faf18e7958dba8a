/**
 * Adam and SGD for the dense weights and the gate logits, run in TypeScript on the
 * gradients read back from tfjs. The dense part has few weights (tens of thousands) in
 * many small tensors: Adam in tfjs ops is about 13 kernels per variable (~130 per step
 * for towers 64-32), whose dispatch costs more than the arithmetic. Measured per step,
 * towers 64-32 / 128-64-32: tfjs ops 0.55 / 1.0 ms on wasm and 4.0 / 11 ms on cpu; here
 * 0.23 / 0.6 ms on both. Each variable costs one read of its gradient and its value and
 * one upload.
 *
 * The learning rate is given per step; moments can be reset per variable (the gate
 * logits between selection rounds) and each variable counts its own steps, so a reset
 * variable gets Adam's bias correction from its own first step. Adam follows PyTorch:
 * w -= lr / (1 - β1^t) · m / (sqrt(v) / sqrt(1 - β2^t) + ε).
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedArray, NamedVariable } from './variables.js';

export type OptimizerKind = 'adam' | 'sgd';

export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;
export const ADAM_EPSILON = 1e-8;

export interface OptimizerState {
  readonly kind: OptimizerKind;
  /** Steps taken per variable name. */
  readonly steps: Readonly<Record<string, number>>;
  /** Adam's first and second moments, named `<variable>/m` and `<variable>/v` (none for SGD). */
  readonly slots: readonly NamedArray[];
}

interface Slot {
  readonly shape: readonly number[];
  m: Float32Array;
  v: Float32Array;
  steps: number;
}

export class DenseOptimizer {
  readonly kind: OptimizerKind;
  private readonly slots = new Map<string, Slot>();
  /** Variables trained at their own fixed learning rate instead of the step's. */
  private readonly fixedRates = new Map<string, number>();

  constructor(kind: OptimizerKind, variables: readonly NamedVariable[]) {
    this.kind = kind;
    for (const { name, variable } of variables) {
      const size = kind === 'adam' ? variable.size : 0;
      this.slots.set(name, {
        shape: [...variable.shape],
        m: new Float32Array(size),
        v: new Float32Array(size),
        steps: 0,
      });
    }
  }

  /**
   * One update; a variable whose gradient is undefined (not used this step) is left alone.
   * `clipNorm`: the gradients are scaled together so their global L2 norm is at most this.
   */
  apply(
    variables: readonly NamedVariable[],
    gradients: readonly (tf.Tensor | undefined)[],
    learningRate: number,
    clipNorm?: number,
  ): void {
    if (!(learningRate >= 0) || !Number.isFinite(learningRate)) {
      throw new Error(`learning rate must be a finite non-negative number, got ${learningRate}`);
    }
    const values = gradients.map((gradient) => gradient?.dataSync() as Float32Array | undefined);
    const scale = clipNorm === undefined ? 1 : clipScale(values, clipNorm);
    variables.forEach(({ name, variable }, i) => {
      const g = values[i];
      if (g === undefined) return;
      const slot = this.slots.get(name);
      if (slot === undefined) throw new Error(`no optimizer state for '${name}'`);
      // A copy: the cpu backend hands out its own storage.
      const w = new Float32Array(variable.dataSync() as Float32Array);
      const rate = this.fixedRates.get(name) ?? learningRate;
      slot.steps++;
      if (this.kind === 'sgd') {
        for (let k = 0; k < w.length; k++) w[k] -= rate * scale * g[k];
      } else {
        const { m, v } = slot;
        const stepSize = rate / (1 - ADAM_BETA1 ** slot.steps);
        const root = 1 / Math.sqrt(1 - ADAM_BETA2 ** slot.steps);
        for (let k = 0; k < w.length; k++) {
          const gk = scale * g[k];
          const mk = ADAM_BETA1 * m[k] + (1 - ADAM_BETA1) * gk;
          const vk = ADAM_BETA2 * v[k] + (1 - ADAM_BETA2) * gk * gk;
          m[k] = mk;
          v[k] = vk;
          w[k] -= (stepSize * mk) / (Math.sqrt(vk) * root + ADAM_EPSILON);
        }
      }
      tf.tidy(() => variable.assign(tf.tensor(w, variable.shape)));
    });
  }

  /** Trains `name` at `learningRate` whatever rate apply() is given (the gate logits). */
  fixLearningRate(name: string, learningRate: number): void {
    if (!this.slots.has(name)) throw new Error(`no optimizer state for '${name}'`);
    if (!(learningRate >= 0) || !Number.isFinite(learningRate))
      throw new Error(`learning rate must be a finite non-negative number, got ${learningRate}`);
    this.fixedRates.set(name, learningRate);
  }

  /** Zeroes one variable's moments and step count (the gate logits after a reset). */
  reset(name: string): void {
    const slot = this.slots.get(name);
    if (slot === undefined) throw new Error(`no optimizer state for '${name}'`);
    slot.m.fill(0);
    slot.v.fill(0);
    slot.steps = 0;
  }

  /** Copies of the step counts and moments. */
  getState(): OptimizerState {
    const steps: Record<string, number> = {};
    const slots: NamedArray[] = [];
    for (const [name, slot] of this.slots) {
      steps[name] = slot.steps;
      if (this.kind === 'adam') {
        slots.push({ name: `${name}/m`, shape: slot.shape, values: slot.m.slice() });
        slots.push({ name: `${name}/v`, shape: slot.shape, values: slot.v.slice() });
      }
    }
    return { kind: this.kind, steps, slots };
  }

  setState(state: OptimizerState): void {
    if (state.kind !== this.kind) {
      throw new Error(`optimizer state is for ${state.kind}, this optimizer is ${this.kind}`);
    }
    const given = new Map(state.slots.map((array) => [array.name, array]));
    const expected = this.kind === 'adam' ? 2 * this.slots.size : 0;
    if (given.size !== expected)
      throw new Error(`optimizer state has ${given.size} slots, expected ${expected}`);
    for (const [name, slot] of this.slots) {
      if (state.steps[name] === undefined) throw new Error(`optimizer state has no step count for '${name}'`);
      for (const key of this.kind === 'adam' ? ['m', 'v'] : []) {
        const array = given.get(`${name}/${key}`);
        if (array === undefined || array.values.length !== slot.m.length) {
          throw new Error(`optimizer slot '${name}/${key}' is missing or has the wrong size`);
        }
      }
    }
    for (const [name, slot] of this.slots) {
      slot.steps = state.steps[name];
      if (this.kind === 'adam') {
        slot.m = given.get(`${name}/m`)!.values.slice();
        slot.v = given.get(`${name}/v`)!.values.slice();
      }
    }
  }

  /** Nothing to free: the state is plain typed arrays. */
  dispose(): void {}
}

/** The factor that brings the global L2 norm of `gradients` down to `clipNorm` (1 if below). */
export function clipScale(gradients: readonly (Float32Array | undefined)[], clipNorm: number): number {
  let squares = 0;
  for (const g of gradients) if (g) for (let k = 0; k < g.length; k++) squares += g[k] * g[k];
  const norm = Math.sqrt(squares);
  return norm > clipNorm ? clipNorm / norm : 1;
}
