/**
 * The model's variables under lemopt's own names (`user/dense_0/kernel`, `gates/logits`).
 * tfjs keeps one global registry of variable names, so the tfjs names are left to tfjs
 * (unique per process) and several models can live side by side.
 */
import * as tf from '@tensorflow/tfjs';

export interface NamedArray {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export interface NamedVariable {
  readonly name: string;
  readonly variable: tf.Variable;
  readonly trainable: boolean;
}

export class VariableStore {
  private readonly entries = new Map<string, NamedVariable>();

  /** A variable holding `init()`'s value; the initial tensor is not kept. */
  create<R extends tf.Rank>(name: string, init: () => tf.Tensor<R>, trainable = true): tf.Variable<R> {
    if (this.entries.has(name)) throw new Error(`variable '${name}' defined twice`);
    const variable = tf.tidy(() => tf.variable(init(), trainable));
    this.entries.set(name, { name, variable, trainable });
    return variable;
  }

  get(name: string): tf.Variable | undefined {
    return this.entries.get(name)?.variable;
  }

  /** Every variable, in creation order. */
  all(): NamedVariable[] {
    return [...this.entries.values()];
  }

  trainable(): NamedVariable[] {
    return this.all().filter((entry) => entry.trainable);
  }

  /** Copies of every variable's values. */
  read(): NamedArray[] {
    return this.all().map(({ name, variable }) => ({
      name,
      shape: [...variable.shape],
      values: readFloats(variable),
    }));
  }

  /** Sets every variable from arrays of the same names and shapes (a checkpoint). */
  write(arrays: readonly NamedArray[], what = 'weight'): void {
    const given = new Map(arrays.map((array) => [array.name, array]));
    for (const { name, variable } of this.entries.values()) {
      const array = given.get(name);
      if (array === undefined) throw new Error(`no ${what} '${name}' in the given arrays`);
      if (array.values.length !== variable.size || array.shape.join(',') !== variable.shape.join(',')) {
        throw new Error(
          `${what} '${name}' has shape [${array.shape.join(', ')}], expected [${variable.shape.join(', ')}]`,
        );
      }
    }
    for (const name of given.keys()) {
      if (!this.entries.has(name)) throw new Error(`unknown ${what} '${name}'`);
    }
    tf.tidy(() => {
      for (const { name, variable } of this.entries.values()) {
        const array = given.get(name)!;
        variable.assign(tf.tensor(array.values, [...array.shape]));
      }
    });
  }

  dispose(): void {
    for (const { variable } of this.entries.values()) variable.dispose();
    this.entries.clear();
  }
}

/** A copy of a float32 tensor's values. */
export function readFloats(tensor: tf.Tensor): Float32Array {
  // The cpu backend hands out its own storage: copy so the caller owns the array.
  return new Float32Array(tensor.dataSync());
}
