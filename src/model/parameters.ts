/**
 * A model's dense parameters under lemopt's names (`user/dense_0/kernel`, `gates/logits`)
 * as Float32Arrays: the one copy every engine reads and the dense optimizer updates in
 * place. Checkpoints store them by name, whatever engine trained them.
 */
import type { ParameterSpec } from './architecture.js';
import type { ParameterValues } from './engine.js';

export interface NamedArray {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export class Parameters {
  readonly specs: readonly ParameterSpec[];
  private readonly values = new Map<string, Float32Array>();

  constructor(specs: readonly ParameterSpec[], seed: number) {
    this.specs = specs;
    for (const spec of specs) {
      if (this.values.has(spec.name)) throw new Error(`parameter '${spec.name}' defined twice`);
      const values = spec.init(seed);
      if (values.length !== spec.shape.reduce((a, b) => a * b, 1))
        throw new Error(`parameter '${spec.name}' initialised with ${values.length} values`);
      this.values.set(spec.name, values);
    }
  }

  /** The live values (the engines' view). */
  get live(): ParameterValues {
    return this.values;
  }

  get(name: string): Float32Array {
    const values = this.values.get(name);
    if (values === undefined) throw new Error(`no parameter '${name}'`);
    return values;
  }

  trainable(): ParameterSpec[] {
    return this.specs.filter((spec) => spec.trainable);
  }

  /** Copies of every parameter, in definition order. */
  read(): NamedArray[] {
    return this.specs.map(({ name, shape }) => ({ name, shape: [...shape], values: this.get(name).slice() }));
  }

  /** Sets every parameter from arrays of the same names and shapes (a checkpoint). */
  write(arrays: readonly NamedArray[]): void {
    const given = new Map(arrays.map((array) => [array.name, array]));
    for (const { name, shape } of this.specs) {
      const array = given.get(name);
      if (array === undefined) throw new Error(`no weight '${name}' in the given arrays`);
      if (array.values.length !== this.get(name).length || array.shape.join(',') !== shape.join(',')) {
        throw new Error(
          `weight '${name}' has shape [${array.shape.join(', ')}], expected [${shape.join(', ')}]`,
        );
      }
    }
    for (const name of given.keys()) {
      if (!this.values.has(name)) throw new Error(`unknown weight '${name}'`);
    }
    for (const { name } of this.specs) this.get(name).set(given.get(name)!.values);
  }
}
