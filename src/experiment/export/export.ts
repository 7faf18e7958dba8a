/**
 * `lemopt export RUN_DIR`: the run's selected model for serving, written to RUN_DIR/export
 * (or --out) and checked there:
 *
 *   model.onnx        both towers and the score
 *   user_tower.onnx   the user tower alone (user_vector)
 *   item_tower.onnx   the item tower alone (item_vector)
 *   vocabulary.json   raw values to ids (vocabulary-file.ts)
 *   model.json        the record: files, hashes, inputs and outputs, measurements (record.ts)
 *
 * Every file is written atomically. ONNX Runtime then loads the model files from disk and
 * scores the test split against lemopt's own model; an fp32 export that disagrees is
 * removed and the export fails. model.json is written last, so a folder with it holds a
 * checked export.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { prepareDataset, type PreparedDataset } from '../../data/dataset.js';
import type { EmbeddingDtype } from '../../embedding/memory.js';
import { selectBackend } from '../../model/backend.js';
import { IR_VERSION, OPSET } from '../../model/onnx/graph.js';
import { loadOnnxRuntime, OnnxSession } from '../../model/onnx/runtime.js';
import {
  SERVING_MODEL_KINDS,
  SERVING_OUTPUT,
  type ServingGraph,
  type ServingModelKind,
} from '../../model/onnx/serving-graph.js';
import { disposeTrained, loadTrainedModel } from '../../model/trainer.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { LemoptError } from '../../util/errors.js';
import { lemoptVersion } from '../../util/version.js';
import type { Manifest } from '../manifest.js';
import { buildServingModels, type ServingModels } from './build.js';
import { checkAgainstLemopt, type CheckResult, type ServingSessions } from './check.js';
import { latencyRows, measureLatency } from './latency.js';
import { openRunToExport, parseExportDtype, type RunToExport } from './open-run.js';
import {
  EXPORT_RECORD_FILE,
  EXPORT_VERSION,
  MODEL_FILES,
  SERVING_VOCABULARY_FILE,
  sha256,
  type ExportRecord,
  type FileRecord,
  type LatencyRecord,
} from './record.js';
import { servingVocabulary } from './vocabulary-file.js';

export const DEFAULT_EXPORT_DIR = 'export';

export interface ExportOptions {
  /** Default: RUN_DIR/export. */
  readonly out?: string;
  /** fp32, fp16 or int8; default: the manifest's dtype. */
  readonly dtype?: string;
  /** lemopt's engine for the reference scores (as `lemopt run --backend`). */
  readonly backend?: string;
  readonly log?: (line: string) => void;
}

export interface ExportResult {
  readonly dir: string;
  readonly record: ExportRecord;
}

export async function exportRun(runDir: string, options: ExportOptions = {}): Promise<ExportResult> {
  const log = options.log ?? (() => undefined);
  const requested = parseExportDtype(options.dtype);
  const run = await openRunToExport(runDir);
  const { manifest } = run;
  const config = manifest.config;
  const dtype = requested ?? manifest.dtype;
  const dir = options.out ?? path.join(runDir, DEFAULT_EXPORT_DIR);
  const choice = await selectBackend({ flag: options.backend, config: config.model.backend });
  const dataset = await prepareDataset(config, { cacheDir: runDir });
  const layout = dataset.layout;
  const keptDims = layout.groups.map(
    (group) => manifest.kept.find((kept) => kept.group === group.name)?.dim ?? 0,
  );
  const trained = await loadTrainedModel(config, dataset, run.checkpointFile, keptDims);
  if (trained === undefined) throw new LemoptError(`${run.checkpointFile}: missing`);
  // Serving looks rows up in one thread: end the embedding worker (the store goes on in this one).
  trained.store.dispose();
  const sessions: Partial<Record<ServingModelKind, OnnxSession>> = {};
  try {
    const models = buildServingModels(trained, layout, dtype);
    log(`writing the ${dtype} export to ${dir}`);
    // A record left by an earlier export must not vouch for the files about to be replaced.
    await rm(path.join(dir, EXPORT_RECORD_FILE), { force: true });
    const files = await writeModelFiles(dir, models);
    const vocabulary = servingVocabulary(models.inputs, layout, dataset.vocabularies);
    const vocabularyFile = await writeRecordedFile(
      dir,
      SERVING_VOCABULARY_FILE,
      'vocabulary',
      `${JSON.stringify(vocabulary)}\n`,
    );
    for (const kind of SERVING_MODEL_KINDS)
      sessions[kind] = new OnnxSession(await readFile(path.join(dir, MODEL_FILES[kind])));
    log('scoring the test split with ONNX Runtime and with lemopt');
    const check = await checkAgainstLemopt(dataset, trained, sessions as ServingSessions, models.inputs, {
      config,
      dtype,
      backend: choice.backend,
    });
    if (check.mismatch) {
      await Promise.all(
        [...files, vocabularyFile].map((file) => rm(path.join(dir, file.file), { force: true })),
      );
      throw new LemoptError(mismatchMessage(dir, check));
    }
    log('timing ONNX Runtime at batch 1 and 256');
    const latency = await measureModels(dataset, sessions as ServingSessions, models);
    const record = exportRecord(run, manifest, dtype, models, [...files, vocabularyFile], check, latency);
    await writeFileAtomic(path.join(dir, EXPORT_RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
    return { dir, record };
  } finally {
    for (const session of Object.values(sessions)) session.dispose();
    disposeTrained(trained);
  }
}

async function writeRecordedFile(
  dir: string,
  file: string,
  role: FileRecord['role'],
  contents: Uint8Array | string,
) {
  await writeFileAtomic(path.join(dir, file), contents);
  const bytes = typeof contents === 'string' ? Buffer.byteLength(contents) : contents.byteLength;
  return { file, role, bytes, sha256: sha256(contents) };
}

async function writeModelFiles(dir: string, models: ServingModels): Promise<FileRecord[]> {
  const files: FileRecord[] = [];
  for (const kind of SERVING_MODEL_KINDS) {
    const graph: ServingGraph = models.graphs[kind];
    const written = await writeRecordedFile(dir, MODEL_FILES[kind], kind, graph.model);
    files.push({ ...written, inputs: graph.inputs, outputs: graph.outputs });
  }
  return files;
}

async function measureModels(
  dataset: PreparedDataset,
  sessions: ServingSessions,
  models: ServingModels,
): Promise<Record<ServingModelKind, LatencyRecord>> {
  const rows = await latencyRows(dataset);
  const tower = (name: 'user' | 'item') => models.inputs.filter((input) => input.tower === name);
  return {
    two_tower: measureLatency(sessions.two_tower, rows, models.inputs, Object.values(SERVING_OUTPUT)),
    user_tower: measureLatency(sessions.user_tower, rows, tower('user'), [SERVING_OUTPUT.userVector]),
    item_tower: measureLatency(sessions.item_tower, rows, tower('item'), [SERVING_OUTPUT.itemVector]),
  };
}

function mismatchMessage(dir: string, { mismatch, record }: CheckResult): string {
  const { kind, output, row, exported, lemopt } = mismatch!;
  const { absolute, relative } = record.tolerance!;
  return (
    `${path.join(dir, MODEL_FILES[kind])}: ${output} of test row ${row} is ${exported}, lemopt's model gives ${lemopt} ` +
    `(allowed: ${absolute} + ${relative} x |lemopt|); the fp32 export does not match the model and was removed`
  );
}

function exportRecord(
  run: RunToExport,
  manifest: Manifest,
  dtype: EmbeddingDtype,
  models: ServingModels,
  files: readonly FileRecord[],
  check: CheckResult,
  latency: Record<ServingModelKind, LatencyRecord>,
): ExportRecord {
  const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
  return {
    export_version: EXPORT_VERSION,
    lemopt_version: lemoptVersion(),
    created: new Date().toISOString(),
    dtype,
    opset: OPSET,
    ir_version: IR_VERSION,
    objective: manifest.config.model.objective,
    score: manifest.config.model.score,
    manifest: {
      file: path.resolve(run.manifestFile),
      sha256: run.manifestSha256,
      config_hash: manifest.config_hash,
      dtype: manifest.dtype,
    },
    files,
    tables: models.tables,
    memory: {
      tables_bytes: sum(models.tables.map((table) => table.bytes)),
      predicted_bytes: sum(models.tables.map((table) => table.predicted_bytes)),
      manifest_predicted_bytes: manifest.cost.selected.predicted.memory_bytes,
    },
    check: check.record,
    latency: {
      runtime: `onnxruntime-node ${loadOnnxRuntime().version}`,
      intra_op_threads: 1,
      models: latency,
    },
  };
}
