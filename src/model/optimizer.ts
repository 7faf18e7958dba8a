/**
 * Adam and SGD for the dense weights and the gate logits, in TypeScript on the parameters'
 * Float32Arrays (parameters.ts), whatever engine computed the gradients. The dense part
 * has few weights (tens of thousands) in many small arrays: Adam as tfjs ops was about 13
 * kernels per variable, whose dispatch cost more than the arithmetic (towers 64-32 /
 * 128-64-32: 0.55 / 1.0 ms per step on wasm, 4.0 / 11 ms on cpu; in TypeScript 0.23 /
 * 0.6 ms).
 *
 * The learning rate is given per step; moments can be reset per variable (the gate
 * logits between selection rounds) and each variable counts its own steps, so a reset
 * variable gets Adam's bias correction from its own first step. Adam follows PyTorch:
 * w -= lr / (1 - β1^t) · m / (sqrt(v) / sqrt(1 - β2^t) + ε).
 */
import type { ParameterSpec } from './architecture.js';
import type { NamedArray, Parameters } from './parameters.js';

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

  constructor(kind: OptimizerKind, variables: readonly Pick<ParameterSpec, 'name' | 'shape'>[]) {
    this.kind = kind;
    for (const { name, shape } of variables) {
      const size = kind === 'adam' ? shape.reduce((a, b) => a * b, 1) : 0;
      this.slots.set(name, {
        shape: [...shape],
        m: new Float32Array(size),
        v: new Float32Array(size),
        steps: 0,
      });
    }
  }

  /**
   * One update of `parameters` in place; a parameter without a gradient (not used this
   * step) is left alone. `clipNorm`: the gradients are scaled together so their global L2
   * norm is at most this.
   */
  apply(
    parameters: Parameters,
    gradients: ReadonlyMap<string, Float32Array>,
    learningRate: number,
    clipNorm?: number,
  ): void {
    if (!(learningRate >= 0) || !Number.isFinite(learningRate)) {
      throw new Error(`learning rate must be a finite non-negative number, got ${learningRate}`);
    }
    const scale = clipNorm === undefined ? 1 : clipScale([...gradients.values()], clipNorm);
    for (const [name, g] of gradients) {
      const slot = this.slots.get(name);
      if (slot === undefined) throw new Error(`no optimizer state for '${name}'`);
      const w = parameters.get(name);
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
    }
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
}

/** The factor that brings the global L2 norm of `gradients` down to `clipNorm` (1 if below). */
export function clipScale(gradients: readonly (Float32Array | undefined)[], clipNorm: number): number {
  let squares = 0;
  for (const g of gradients) if (g) for (let k = 0; k < g.length; k++) squares += g[k] * g[k];
  const norm = Math.sqrt(squares);
  return norm > clipNorm ? clipNorm / norm : 1;
}
