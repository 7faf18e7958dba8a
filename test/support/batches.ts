/**
 * Reads a whole DataSource in tests: the batches' sizes and every column's values joined.
 */
import type { Cell, DataSource, ReadOptions } from '../../src/data/types.js';

export interface ReadResult {
  readonly sizes: number[];
  readonly columns: Record<string, Cell[]>;
  /** The value containers of the first batch, to check typed arrays. */
  readonly firstBatch: Record<string, ArrayLike<Cell>>;
}

export async function readAll(source: DataSource, options?: ReadOptions): Promise<ReadResult> {
  const sizes: number[] = [];
  const columns: Record<string, Cell[]> = {};
  let firstBatch: Record<string, ArrayLike<Cell>> | undefined;
  for await (const batch of source.batches(options)) {
    sizes.push(batch.numRows);
    firstBatch ??= Object.fromEntries(batch.columns);
    for (const [name, values] of batch.columns) {
      if (values.length !== batch.numRows)
        throw new Error(`column ${name}: ${values.length} != ${batch.numRows}`);
      const column = (columns[name] ??= []);
      for (let i = 0; i < values.length; i++) column.push(values[i]);
    }
  }
  return { sizes, columns, firstBatch: firstBatch ?? {} };
}
