/**
 * Self-contained serving models of a trained two-tower model: ids in, tower vectors and
 * the score out, every table and weight an initializer. Three kinds:
 *
 *   two_tower   both towers' ids ─► user_vector, item_vector, score
 *   user_tower  the user tower's ids ─► user_vector
 *   item_tower  the item tower's ids ─► item_vector
 *
 * A tower's input is its kept features' looked-up rows concatenated in layout order
 * (src/embedding/layout.ts), then the same tower and score nodes as lemopt's own inference
 * graph (two-tower-graph.ts). The vectors are the score's: for `dot`, score = σ(u · v)
 * (binary) or u · v; for `cosine`, unit rows with the user's divided by the temperature.
 */
import { towerOutputDim, towerParameters, type TwoTowerSpec } from '../architecture.js';
import type { StoredTable } from '../../embedding/quantize.js';
import type { Tower } from '../../embedding/layout.js';
import { GraphBuilder, type Dim, type ValueInfo } from './graph.js';
import { lookupFeature, tableInitializers } from './embedding-lookup.js';
import { inferScore, inferTowerVector, OUTPUT } from './two-tower-graph.js';

export type ServingModelKind = 'two_tower' | 'user_tower' | 'item_tower';

export const SERVING_MODEL_KINDS: readonly ServingModelKind[] = ['two_tower', 'user_tower', 'item_tower'];

export const SERVING_OUTPUT = {
  userVector: OUTPUT.userVector,
  itemVector: OUTPUT.itemVector,
  score: OUTPUT.score,
} as const;

export const BATCH_DIM = 'batch';

export interface ServingFeature {
  readonly name: string;
  /** Graph input of its ids: int64 [batch], or [batch, L] for a bag. */
  readonly input: string;
  /** Multi-valued features: the graph input of the bag lengths, int64 [batch]. */
  readonly lengths?: string;
  readonly pooling: 'none' | 'mean' | 'sum';
  /** First row of the feature in its group's table. */
  readonly rowOffset: number;
}

export interface ServingTable {
  readonly name: string;
  readonly tower: Tower;
  readonly rows: number;
  /** Kept dims: the table's width as exported. */
  readonly dim: number;
  readonly stored: StoredTable;
  readonly features: readonly ServingFeature[];
}

export interface ServingModelParts {
  readonly spec: TwoTowerSpec;
  /** Kept tables, in layout order. */
  readonly tables: readonly ServingTable[];
  /** The dense weights by name (architecture.ts). */
  readonly weights: ReadonlyMap<string, Float32Array>;
  /** Gate per input column, when not every gate is 1 (a model trained with attention gates). */
  readonly gateScales?: Partial<Record<Tower, Float32Array>>;
}

export interface ServingGraph {
  readonly model: Uint8Array;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

/** The name of a table's initializers' prefix: `embedding/<group>`. */
export const tablePrefix = (table: string): string => `embedding/${table}`;

export function servingGraph(parts: ServingModelParts, kind: ServingModelKind): ServingGraph {
  const g = new GraphBuilder(`lemopt_${kind}`);
  const towers: readonly Tower[] =
    kind === 'two_tower' ? ['user', 'item'] : [kind === 'user_tower' ? 'user' : 'item'];
  const dim = towerOutputDim(parts.spec.user);
  const vectors = new Map<Tower, string>();
  for (const tower of towers) vectors.set(tower, towerVector(g, parts, tower));
  if (vectors.has('user')) g.output(SERVING_OUTPUT.userVector, vectors.get('user')!, [BATCH_DIM, dim]);
  if (vectors.has('item')) g.output(SERVING_OUTPUT.itemVector, vectors.get('item')!, [BATCH_DIM, dim]);
  if (kind === 'two_tower') {
    const score = inferScore(g, parts.spec, SERVING_OUTPUT.userVector, SERVING_OUTPUT.itemVector);
    g.output(SERVING_OUTPUT.score, score, [BATCH_DIM]);
  }
  return { model: g.encode(), ...g.signature };
}

/** The tower's inputs, lookups, weights and vector. */
function towerVector(g: GraphBuilder, parts: ServingModelParts, tower: Tower): string {
  const columns: string[] = [];
  for (const table of parts.tables) {
    if (table.tower !== tower) continue;
    const stored = tableInitializers(g, tablePrefix(table.name), table.stored, table.rows, table.dim);
    for (const feature of table.features) {
      const bagged = feature.pooling !== 'none';
      const shape: Dim[] = bagged ? [BATCH_DIM, `${feature.name}_length`] : [BATCH_DIM];
      const ids = g.input(feature.input, shape, 'int64');
      if (!bagged) {
        columns.push(lookupFeature(g, stored, ids, feature.rowOffset));
        continue;
      }
      if (feature.lengths === undefined)
        throw new Error(`multi-valued feature '${feature.name}' has no lengths input`);
      const lengths = g.input(feature.lengths, [BATCH_DIM], 'int64');
      const pooling = feature.pooling === 'sum' ? 'sum' : 'mean';
      columns.push(lookupFeature(g, stored, ids, feature.rowOffset, { lengths, pooling }));
    }
  }
  if (columns.length === 0) throw new Error(`the ${tower} tower has no kept feature to serve`);
  const input = columns.length === 1 ? columns[0] : g.op('Concat', columns, { axis: 1 });
  const spec = parts.spec[tower];
  for (const parameter of towerParameters(spec)) {
    const values = parts.weights.get(parameter.name);
    if (values === undefined) throw new Error(`no weights for '${parameter.name}'`);
    g.initializer(parameter.name, 'float32', parameter.shape, values);
  }
  const gates = parts.gateScales?.[tower];
  const scale = gates && g.initializer(`${tower}/gate_scale`, 'float32', [spec.inputDim], gates);
  return inferTowerVector(g, parts.spec, tower, input, scale);
}
