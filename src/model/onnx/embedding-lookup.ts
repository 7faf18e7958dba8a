/**
 * Embedding lookups as ONNX nodes, for exported models: a table stored as initializers in
 * its precision (src/embedding/quantize.ts), a Gather of a feature's ids, the rows turned
 * back into float32 (fp16: Cast; int8: Cast times the rows' scales), and for multi-valued
 * features the mean or sum over each row's bag, as src/embedding/lookup.ts computes them.
 *
 * A bag arrives padded: ids [B, L] and lengths [B]; positions at or past a row's length are
 * masked out (they must still hold valid ids: 0 will do). An empty bag gives zeros, as in
 * lemopt's own lookup.
 */
import type { StoredTable } from '../../embedding/quantize.js';
import type { GraphBuilder } from './graph.js';

/** TensorProto.DataType.FLOAT: the `to` of a Cast to float32. */
const FLOAT = 1;

export interface LookupTable {
  readonly dtype: StoredTable['dtype'];
  readonly weights: string;
  /** int8: the per-row scales [rows]. */
  readonly scales?: string;
}

/** The initializers of a table: `<prefix>/weights` [rows, dim], and for int8 `<prefix>/scales` [rows]. */
export function tableInitializerNames(prefix: string, dtype: StoredTable['dtype']): LookupTable {
  const weights = `${prefix}/weights`;
  return dtype === 'int8' ? { dtype, weights, scales: `${prefix}/scales` } : { dtype, weights };
}

/** Adds a stored [rows, dim] table as its initializers. */
export function tableInitializers(
  g: GraphBuilder,
  prefix: string,
  table: StoredTable,
  rows: number,
  dim: number,
): LookupTable {
  const names = tableInitializerNames(prefix, table.dtype);
  switch (table.dtype) {
    case 'fp32':
      g.initializer(names.weights, 'float32', [rows, dim], table.values);
      break;
    case 'fp16':
      g.initializer(names.weights, 'float16', [rows, dim], table.values);
      break;
    case 'int8':
      g.initializer(names.weights, 'int8', [rows, dim], table.values);
      g.initializer(names.scales!, 'float32', [rows], table.scales);
      break;
  }
  return names;
}

/** A padded bag of ids: `lengths` [B] says how many of each row's L ids count. */
export interface Bag {
  readonly lengths: string;
  readonly pooling: 'mean' | 'sum';
}

/**
 * A feature's rows as float32: [B, dim] for ids [B]; for a bag, ids [B, L] pooled to
 * [B, dim]. `rowOffset` is the feature's first row in its group's table.
 */
export function lookupFeature(
  g: GraphBuilder,
  table: LookupTable,
  ids: string,
  rowOffset: number,
  bag?: Bag,
): string {
  const rows = rowOffset === 0 ? ids : g.op('Add', [ids, g.constant(rowOffset, [], 'int64')]);
  const gathered = g.op('Gather', [table.weights, rows], { axis: 0 });
  const values = dequantized(g, table, gathered, rows);
  return bag ? pooled(g, values, ids, bag) : values;
}

function dequantized(g: GraphBuilder, table: LookupTable, gathered: string, rows: string): string {
  if (table.dtype === 'fp32') return gathered;
  const values = g.op('Cast', [gathered], { to: FLOAT });
  if (table.dtype === 'fp16') return values;
  const scales = g.op('Gather', [table.scales!, rows], { axis: 0 });
  return g.op('Mul', [values, g.op('Unsqueeze', [scales, g.axes(-1)])]);
}

/** Σ (or mean) over each row's first `lengths` of the L looked-up rows: [B, L, dim] to [B, dim]. */
function pooled(g: GraphBuilder, values: string, ids: string, bag: Bag): string {
  const zero = g.constant(0, [], 'int64');
  const one = g.constant(1, [], 'int64');
  const length = g.op('Gather', [g.op('Shape', [ids]), one], { axis: 0 });
  const positions = g.op('Range', [zero, length, one]);
  const kept = g.op('Less', [positions, g.op('Unsqueeze', [bag.lengths, g.axes(1)])]);
  const mask = g.op('Unsqueeze', [g.op('Cast', [kept], { to: FLOAT }), g.axes(2)]);
  const sum = g.op('ReduceSum', [g.op('Mul', [values, mask]), g.axes(1)], { keepdims: 0 });
  if (bag.pooling === 'sum') return sum;
  const counts = g.op('Max', [g.op('Cast', [bag.lengths], { to: FLOAT }), g.constant(1)]);
  return g.op('Div', [sum, g.op('Unsqueeze', [counts, g.axes(1)])]);
}
