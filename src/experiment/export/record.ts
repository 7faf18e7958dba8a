/**
 * `model.json`, the record of an export: its files with their sha256, each model's inputs
 * and outputs, the precision and opset, the manifest it was made from, and what was
 * measured on the files as written (table bytes, the check against lemopt's own model,
 * ONNX Runtime latency). `lemopt validate` checks a folder against it.
 */
import { createHash } from 'node:crypto';
import type { Dim, ElementType } from '../../model/onnx/graph.js';
import type { ServingModelKind } from '../../model/onnx/serving-graph.js';
import type { EmbeddingDtype } from '../../embedding/memory.js';

export const EXPORT_RECORD_FILE = 'model.json';
export const EXPORT_VERSION = 1;

export const MODEL_FILES: Readonly<Record<ServingModelKind, string>> = {
  two_tower: 'model.onnx',
  user_tower: 'user_tower.onnx',
  item_tower: 'item_tower.onnx',
};
export const SERVING_VOCABULARY_FILE = 'vocabulary.json';

export interface TensorRecord {
  readonly name: string;
  readonly type: ElementType;
  readonly shape: readonly Dim[];
}

export interface FileRecord {
  readonly file: string;
  readonly role: ServingModelKind | 'vocabulary';
  readonly bytes: number;
  readonly sha256: string;
  /** Models only. */
  readonly inputs?: readonly TensorRecord[];
  readonly outputs?: readonly TensorRecord[];
}

export interface TableRecord {
  readonly group: string;
  readonly tower: 'user' | 'item';
  readonly rows: number;
  /** Kept dims: the table's width as exported. */
  readonly dim: number;
  readonly dtype: EmbeddingDtype;
  /** The initializers holding it: `embedding/<group>/weights` (and `/scales` for int8). */
  readonly initializers: readonly string[];
  /** Bytes of those initializers' values. */
  readonly bytes: number;
  /** What the cost model charges for it in this dtype (src/embedding/memory.ts). */
  readonly predicted_bytes: number;
}

export interface LatencyRecord {
  /** µs per example, median of the timed passes. */
  readonly batch_1_us: number;
  readonly batch_256_us: number;
}

export interface ExportRecord {
  readonly export_version: typeof EXPORT_VERSION;
  readonly lemopt_version: string;
  /** ISO 8601. */
  readonly created: string;
  readonly dtype: EmbeddingDtype;
  readonly opset: number;
  readonly ir_version: number;
  readonly objective: 'binary' | 'sampled_softmax';
  readonly score: 'dot' | 'cosine';
  readonly manifest: {
    /** Absolute path of the manifest.json the export was made from. */
    readonly file: string;
    readonly sha256: string;
    readonly config_hash: string;
    readonly dtype: EmbeddingDtype;
  };
  readonly files: readonly FileRecord[];
  readonly tables: readonly TableRecord[];
  readonly memory: {
    /** Σ table bytes as exported (each model file holds its towers' tables). */
    readonly tables_bytes: number;
    readonly predicted_bytes: number;
    /** The manifest's predicted memory of the selection, in the manifest's dtype. */
    readonly manifest_predicted_bytes: number;
  };
  readonly check: CheckRecord;
  readonly latency: {
    readonly runtime: string;
    readonly intra_op_threads: number;
    readonly models: Readonly<Record<ServingModelKind, LatencyRecord>>;
  };
}

export type MetricName = 'auc' | `recall@${number}`;

export interface CheckRecord {
  readonly split: 'test';
  readonly rows: number;
  /** lemopt's engine that scored the same rows. */
  readonly backend: string;
  /** fp32 exports must match within it: |export − lemopt| <= absolute + relative × |lemopt|. Null for fp16 and int8. */
  readonly tolerance: { readonly absolute: number; readonly relative: number } | null;
  /** Largest |export − lemopt| over the rows, per output (the towers' vectors from their own files). */
  readonly max_difference: {
    readonly score: number;
    readonly user_vector: number;
    readonly item_vector: number;
  };
  /**
   * The test metric of lemopt's model and of the export: AUC for `binary`; for
   * `sampled_softmax`, Recall@K (the first train.retrieval_k) over the item catalogue.
   */
  readonly metric: {
    readonly name: MetricName;
    readonly lemopt: number;
    readonly export: number;
    readonly change: number;
  };
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
