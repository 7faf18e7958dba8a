/**
 * Record batch columns some of which arrive as dictionary indices: the map builds a
 * dictionary column's values on the first get (or iteration), so that a consumer that
 * reads the indices (the encoder) never pays for them.
 */
import type { Cell, DictionaryColumn } from '../types.js';

export type TypedValues = Int32Array | Uint32Array | Float32Array | Float64Array;

export function isTypedValues(values: ArrayLike<Cell>): values is TypedValues {
  return (
    values instanceof Int32Array ||
    values instanceof Uint32Array ||
    values instanceof Float32Array ||
    values instanceof Float64Array
  );
}

/** An empty typed array of `like`'s type. */
export function typedLike(like: TypedValues, length: number): TypedValues {
  return new (like.constructor as new (length: number) => TypedValues)(length);
}

/** The values of a dictionary column: a typed array when the dictionary is one and no row is null. */
export function dictionaryValues({ indices, dictionary }: DictionaryColumn): ArrayLike<Cell> {
  if (isTypedValues(dictionary) && indices.every((index) => index >= 0)) {
    const out = typedLike(dictionary, indices.length);
    for (let i = 0; i < indices.length; i++) out[i] = dictionary[indices[i]];
    return out;
  }
  return Array.from(indices, (index) => (index < 0 ? null : dictionary[index]));
}

export class DictionaryColumns extends Map<string, ArrayLike<Cell>> {
  readonly dictionaries = new Map<string, DictionaryColumn>();
  /** Column names in the order they were added. */
  private readonly names: string[] = [];

  override set(name: string, values: ArrayLike<Cell>): this {
    if (!this.has(name)) this.names.push(name);
    return super.set(name, values);
  }

  /** Adds a column as indices; its values are built when first asked for. */
  setDictionary(name: string, column: DictionaryColumn): void {
    if (!this.has(name)) this.names.push(name);
    this.dictionaries.set(name, column);
  }

  override get(name: string): ArrayLike<Cell> | undefined {
    const values = super.get(name);
    if (values !== undefined) return values;
    const column = this.dictionaries.get(name);
    if (column === undefined) return undefined;
    const built = dictionaryValues(column);
    super.set(name, built);
    return built;
  }

  /** The column's values if they exist already: never builds a dictionary column's. */
  built(name: string): ArrayLike<Cell> | undefined {
    return super.get(name);
  }

  override has(name: string): boolean {
    return super.has(name) || this.dictionaries.has(name);
  }

  override get size(): number {
    return this.names.length;
  }

  override *entries(): MapIterator<[string, ArrayLike<Cell>]> {
    for (const name of this.names) yield [name, this.get(name)!];
  }

  override *keys(): MapIterator<string> {
    yield* this.names;
  }

  override *values(): MapIterator<ArrayLike<Cell>> {
    for (const name of this.names) yield this.get(name)!;
  }

  override [Symbol.iterator](): MapIterator<[string, ArrayLike<Cell>]> {
    return this.entries();
  }

  override forEach(
    callback: (value: ArrayLike<Cell>, key: string, map: Map<string, ArrayLike<Cell>>) => void,
    thisArg?: unknown,
  ): void {
    for (const [name, values] of this.entries()) callback.call(thisArg, values, name, this);
  }
}
