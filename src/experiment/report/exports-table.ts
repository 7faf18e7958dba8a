/**
 * The serving exports of a run folder (`lemopt export`) against the manifest: the memory
 * and latency the cost model predicted beside what was measured on the files as written.
 */
import path from 'node:path';
import type { FoundExport } from '../export/find-exports.js';
import type { Manifest } from '../manifest.js';
import { bytes, fixed, micros, table, type Cell } from './html.js';

function exportRow(runDir: string, manifest: Manifest, { dir, record }: FoundExport): Cell[] {
  const latency = record.latency.models.two_tower;
  const { metric } = record.check;
  return [
    path.relative(runDir, dir) || '.',
    record.dtype,
    bytes(manifest.cost.selected.predicted.memory_bytes),
    bytes(record.memory.predicted_bytes),
    bytes(record.memory.tables_bytes),
    micros(manifest.cost.selected.predicted.latency_us),
    micros(latency.batch_1_us),
    micros(latency.batch_256_us),
    `${fixed(metric.export)} (lemopt ${fixed(metric.lemopt)})`,
    metric.change.toExponential(1),
  ];
}

/** A table of the run's exports, or '' when it has none. */
export function exportsTable(runDir: string, manifest: Manifest, exports: readonly FoundExport[]): string {
  if (exports.length === 0) return '';
  const metric = exports[0]?.record.check.metric.name ?? 'metric';
  return table(
    [
      'export',
      'dtype',
      `memory predicted (manifest, ${manifest.dtype})`,
      'memory predicted in this dtype',
      'tables as exported',
      'latency predicted',
      'ONNX Runtime, batch 1',
      'ONNX Runtime, batch 256',
      `test ${metric}`,
      'change vs lemopt',
    ],
    exports.map((found) => exportRow(runDir, manifest, found)),
    {
      name: 'exports',
      caption: 'Serving exports: predicted against measured (µs per example)',
      numeric: [2, 3, 4, 5, 6, 7, 8, 9],
    },
  );
}
