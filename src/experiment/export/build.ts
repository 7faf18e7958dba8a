/**
 * The serving models of a trained selected model: its kept tables cut to their kept dims
 * and stored in the export precision, its dense weights, and the three ONNX graphs.
 */
import type { FeatureLayout } from '../../data/features.js';
import type { EmbeddingTableSpec, Tower } from '../../embedding/layout.js';
import { embeddingBytes, type EmbeddingDtype } from '../../embedding/memory.js';
import { storeTable, storedBytes } from '../../embedding/quantize.js';
import {
  SERVING_MODEL_KINDS,
  servingGraph,
  tablePrefix,
  type ServingGraph,
  type ServingModelKind,
  type ServingModelParts,
  type ServingTable,
} from '../../model/onnx/serving-graph.js';
import { tableInitializerNames } from '../../model/onnx/embedding-lookup.js';
import type { TrainedModel } from '../../model/trainer.js';
import type { TableRecord } from './record.js';
import { servingInputs, type ServingInput } from './serving-inputs.js';

export interface ServingModels {
  readonly inputs: readonly ServingInput[];
  readonly tables: readonly TableRecord[];
  readonly graphs: Readonly<Record<ServingModelKind, ServingGraph>>;
}

export function buildServingModels(
  trained: TrainedModel,
  layout: FeatureLayout,
  dtype: EmbeddingDtype,
): ServingModels {
  const { store, model } = trained;
  const keptDims = store.activeDims;
  const inputs = servingInputs(store.spec, layout, keptDims);
  const weights = new Map(store.state().map((entry) => [entry.name, entry.data]));
  const tables: ServingTable[] = store.spec.tables
    .filter((table) => keptDims[table.index] > 0)
    .map((table) => {
      const dim = keptDims[table.index];
      const full = weights.get(`${table.name}/weights`);
      if (!(full instanceof Float32Array)) throw new Error(`no weights for table '${table.name}'`);
      return {
        name: table.name,
        tower: table.tower,
        rows: table.rows,
        dim,
        stored: storeTable(keptColumns(full, table, dim), table.rows, dim, dtype),
        features: inputs.filter((input) => input.group === table.name),
      };
    });
  const parts: ServingModelParts = {
    spec: model.spec,
    tables,
    weights: new Map(model.getWeights().map((entry) => [entry.name, entry.values])),
    gateScales: gateScales(trained),
  };
  const graphs = Object.fromEntries(
    SERVING_MODEL_KINDS.map((kind) => [kind, servingGraph(parts, kind)]),
  ) as Record<ServingModelKind, ServingGraph>;
  return { inputs, tables: tables.map((table) => tableRecord(table, dtype)), graphs };
}

/** The first `dim` columns of a [rows, table.dim] table. */
function keptColumns(full: Float32Array, table: EmbeddingTableSpec, dim: number): Float32Array {
  if (dim === table.dim) return full.slice();
  const kept = new Float32Array(table.rows * dim);
  for (let row = 0; row < table.rows; row++)
    kept.set(full.subarray(row * table.dim, row * table.dim + dim), row * dim);
  return kept;
}

/** Each tower's gate per input column, or nothing when every gate is 1 (a model trained without attention). */
function gateScales({ store, model }: TrainedModel): Partial<Record<Tower, Float32Array>> | undefined {
  const gates = model.gateValues();
  if (gates.every((gate) => gate === 1)) return undefined;
  const scales: Partial<Record<Tower, Float32Array>> = {};
  for (const tower of ['user', 'item'] as const)
    scales[tower] = Float32Array.from(store.columns(tower).columnTable, (table) => gates[table]);
  return scales;
}

function tableRecord(table: ServingTable, dtype: EmbeddingDtype): TableRecord {
  const names = tableInitializerNames(tablePrefix(table.name), dtype);
  return {
    group: table.name,
    tower: table.tower,
    rows: table.rows,
    dim: table.dim,
    dtype,
    initializers: names.scales === undefined ? [names.weights] : [names.weights, names.scales],
    bytes: storedBytes(table.stored),
    predicted_bytes: embeddingBytes(table.rows, table.dim, dtype),
  };
}
