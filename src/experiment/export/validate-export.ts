/**
 * `lemopt validate EXPORT_DIR` (or its model.json): the export folder against its record
 * and its manifest. Every file is present with the sha256 model.json records; each model
 * declares the inputs, outputs and opset recorded; each model holds exactly the kept tables
 * of its towers, [vocabulary_size, kept dim] in the recorded dtype (int8 with its scales);
 * the vocabulary file has every input feature, with the manifest's table rows. Every
 * problem is one line: the record file, a JSON Pointer into it, and what is wrong.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, LemoptError } from '../../util/errors.js';
import { readModelInfo, type DeclaredValue, type ModelInfo } from '../../model/onnx/model-info.js';
import { tableInitializerNames } from '../../model/onnx/embedding-lookup.js';
import { tablePrefix } from '../../model/onnx/serving-graph.js';
import { readManifest, type KeptGroup, type Manifest } from '../manifest.js';
import {
  EXPORT_RECORD_FILE,
  EXPORT_VERSION,
  sha256,
  type ExportRecord,
  type FileRecord,
  type TensorRecord,
} from './record.js';
import { SERVING_VOCABULARY_FORMAT, type ServingVocabulary } from './vocabulary-file.js';

interface Problem {
  readonly at: string;
  readonly message: string;
}

const ELEMENT_TYPE_OF_DTYPE = { fp32: 'float32', fp16: 'float16', int8: 'int8' } as const;

/** model.json of an export folder, or the file itself. */
export async function exportRecordFile(target: string): Promise<string> {
  const info = await stat(target).catch(() => undefined);
  return info?.isDirectory() ? path.join(target, EXPORT_RECORD_FILE) : target;
}

/** Checks an export; returns its record, or throws a LemoptError with one line per problem. */
export async function validateExport(target: string): Promise<ExportRecord> {
  const recordFile = await exportRecordFile(target);
  const record = await readRecord(recordFile);
  const dir = path.dirname(recordFile);
  const problems: Problem[] = [];
  const manifest = await checkedManifest(record, problems);
  const contents = new Map<string, Buffer>();
  for (const [index, file] of record.files.entries()) {
    const bytes = await readFile(path.join(dir, file.file)).catch(() => undefined);
    const at = `/files/${index}`;
    if (bytes === undefined) {
      problems.push({ at, message: `${file.file} is missing` });
      continue;
    }
    contents.set(file.role, bytes);
    const hash = sha256(bytes);
    if (hash !== file.sha256)
      problems.push({
        at: `${at}/sha256`,
        message: `${file.file} has sha256 ${hash}, model.json records ${file.sha256}`,
      });
    if (file.role !== 'vocabulary') problems.push(...modelProblems(record, file, at, bytes, manifest));
  }
  if (manifest) problems.push(...tableRecordProblems(record, manifest));
  const vocabularyIndex = record.files.findIndex((file) => file.role === 'vocabulary');
  const vocabulary = contents.get('vocabulary');
  if (vocabularyIndex < 0) problems.push({ at: '/files', message: 'no vocabulary file is recorded' });
  else if (vocabulary && manifest)
    problems.push(...vocabularyProblems(record, vocabulary, vocabularyIndex, manifest));
  if (problems.length > 0)
    throw new LemoptError(
      problems.map((problem) => `${recordFile}: ${problem.at}: ${problem.message}`).join('\n'),
    );
  return record;
}

async function readRecord(file: string): Promise<ExportRecord> {
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw new LemoptError(`${file}: cannot read the export record (${errorMessage(error)})`);
  });
  let value: Partial<ExportRecord>;
  try {
    value = JSON.parse(text) as Partial<ExportRecord>;
  } catch (error) {
    throw new LemoptError(`${file}: invalid JSON: ${errorMessage(error)}`);
  }
  if (value.export_version !== EXPORT_VERSION || !Array.isArray(value.files) || !Array.isArray(value.tables))
    throw new LemoptError(`${file}: not a lemopt export record (export_version ${EXPORT_VERSION})`);
  return value as ExportRecord;
}

/** The manifest the export was made from, when it is there and valid (else a problem says why). */
async function checkedManifest(record: ExportRecord, problems: Problem[]): Promise<Manifest | undefined> {
  const file = record.manifest?.file;
  const bytes = file === undefined ? undefined : await readFile(file).catch(() => undefined);
  if (bytes === undefined) {
    problems.push({ at: '/manifest/file', message: `the manifest ${file ?? '(none recorded)'} is missing` });
    return undefined;
  }
  const hash = sha256(bytes);
  if (hash !== record.manifest.sha256)
    problems.push({
      at: '/manifest/sha256',
      message: `${file} has sha256 ${hash}, model.json records ${record.manifest.sha256} (the manifest changed since the export)`,
    });
  try {
    return await readManifest(file!);
  } catch (error) {
    problems.push({
      at: '/manifest/file',
      message: `${file} is not a valid manifest: ${errorMessage(error)}`,
    });
    return undefined;
  }
}

function modelProblems(
  record: ExportRecord,
  file: FileRecord,
  at: string,
  bytes: Uint8Array,
  manifest: Manifest | undefined,
): Problem[] {
  let info: ModelInfo;
  try {
    info = readModelInfo(bytes);
  } catch (error) {
    return [{ at, message: `${file.file} is not an ONNX model (${errorMessage(error)})` }];
  }
  const problems: Problem[] = [];
  if (info.opset !== record.opset)
    problems.push({
      at,
      message: `${file.file} has opset ${info.opset}, model.json records ${record.opset}`,
    });
  problems.push(
    ...signatureProblems(file, 'inputs', info.inputs, `${at}/inputs`),
    ...signatureProblems(file, 'outputs', info.outputs, `${at}/outputs`),
  );
  if (manifest) problems.push(...tableProblems(record, file, at, info, manifest));
  return problems;
}

const describeShape = (shape: readonly (number | string)[]) => `[${shape.join(', ')}]`;

function signatureProblems(
  file: FileRecord,
  key: 'inputs' | 'outputs',
  declared: readonly DeclaredValue[],
  at: string,
): Problem[] {
  const recorded: readonly TensorRecord[] = file[key] ?? [];
  const problems: Problem[] = [];
  const byName = new Map(declared.map((value) => [value.name, value]));
  recorded.forEach((value, index) => {
    const actual = byName.get(value.name);
    if (actual === undefined) {
      problems.push({
        at: `${at}/${index}`,
        message: `${file.file} has no ${key.slice(0, -1)} '${value.name}'`,
      });
    } else if (actual.type !== value.type || describeShape(actual.shape) !== describeShape(value.shape)) {
      problems.push({
        at: `${at}/${index}`,
        message:
          `${file.file} declares '${value.name}' as ${actual.type} ${describeShape(actual.shape)}, ` +
          `model.json records ${value.type} ${describeShape(value.shape)}`,
      });
    }
  });
  const names = new Set(recorded.map((value) => value.name));
  for (const value of declared)
    if (!names.has(value.name))
      problems.push({
        at,
        message: `${file.file} has the ${key.slice(0, -1)} '${value.name}', which model.json does not record`,
      });
  return problems;
}

/** The kept tables the model of `file` must hold: all of them, or one tower's. */
function expectedTables(file: FileRecord, manifest: Manifest): KeptGroup[] {
  if (file.role === 'two_tower') return [...manifest.kept];
  const tower = file.role === 'user_tower' ? 'user' : 'item';
  return manifest.kept.filter((group) => group.tower === tower);
}

function tableProblems(
  record: ExportRecord,
  file: FileRecord,
  at: string,
  info: ModelInfo,
  manifest: Manifest,
): Problem[] {
  const problems: Problem[] = [];
  const initializers = new Map(info.initializers.map((initializer) => [initializer.name, initializer]));
  const expected = expectedTables(file, manifest);
  for (const group of expected) {
    const names = tableInitializerNames(tablePrefix(group.group), record.dtype);
    const weights = initializers.get(names.weights);
    const want = [group.vocabulary_size, group.dim];
    if (weights === undefined) {
      problems.push({
        at,
        message: `${file.file} has no table '${group.group}' (${names.weights}), a kept group`,
      });
      continue;
    }
    if (describeShape(weights.dims) !== describeShape(want))
      problems.push({
        at,
        message: `${file.file}: table '${group.group}' is ${describeShape(weights.dims)}, the manifest keeps ${describeShape(want)} (vocabulary_size, dim)`,
      });
    const type = ELEMENT_TYPE_OF_DTYPE[record.dtype];
    if (weights.type !== type)
      problems.push({
        at,
        message: `${file.file}: table '${group.group}' is ${weights.type}, the export's dtype ${record.dtype} stores ${type}`,
      });
    if (names.scales !== undefined) {
      const scales = initializers.get(names.scales);
      if (
        scales === undefined ||
        scales.type !== 'float32' ||
        describeShape(scales.dims) !== describeShape([group.vocabulary_size])
      )
        problems.push({
          at,
          message: `${file.file}: table '${group.group}' needs float32 scales [${group.vocabulary_size}] (${names.scales})`,
        });
    }
  }
  const kept = new Set(
    expected.map((group) => tableInitializerNames(tablePrefix(group.group), record.dtype).weights),
  );
  for (const name of initializers.keys())
    if (name.startsWith('embedding/') && name.endsWith('/weights') && !kept.has(name))
      problems.push({
        at,
        message: `${file.file} holds the table '${name}', which is not a kept group of its towers`,
      });
  return problems;
}

function tableRecordProblems(record: ExportRecord, manifest: Manifest): Problem[] {
  const problems: Problem[] = [];
  const kept = new Map(manifest.kept.map((group) => [group.group, group]));
  record.tables.forEach((table, index) => {
    const group = kept.get(table.group);
    if (group === undefined)
      problems.push({
        at: `/tables/${index}/group`,
        message: `'${table.group}' is not a kept group of the manifest`,
      });
    else if (group.dim !== table.dim)
      problems.push({
        at: `/tables/${index}/dim`,
        message: `${table.dim}, the manifest keeps '${table.group}' at ${group.dim}`,
      });
  });
  if (record.tables.length !== manifest.kept.length)
    problems.push({
      at: '/tables',
      message: `${record.tables.length} tables, the manifest keeps ${manifest.kept.length} groups`,
    });
  return problems;
}

function vocabularyProblems(
  record: ExportRecord,
  bytes: Buffer,
  index: number,
  manifest: Manifest,
): Problem[] {
  const at = `/files/${index}`;
  const file = record.files[index].file;
  let vocabulary: ServingVocabulary;
  try {
    vocabulary = JSON.parse(bytes.toString('utf8')) as ServingVocabulary;
  } catch (error) {
    return [{ at, message: `${file} is not JSON (${errorMessage(error)})` }];
  }
  if (vocabulary.format !== SERVING_VOCABULARY_FORMAT || typeof vocabulary.features !== 'object')
    return [{ at, message: `${file} is not a ${SERVING_VOCABULARY_FORMAT} file` }];
  const problems: Problem[] = [];
  for (const group of manifest.kept) {
    const missing = group.features.filter((feature) => !Object.hasOwn(vocabulary.features, feature));
    for (const feature of missing)
      problems.push({ at, message: `${file} has no feature '${feature}' (kept group '${group.group}')` });
    if (missing.length > 0) continue;
    const rows = group.features.reduce(
      (sum, feature) => sum + vocabulary.features[feature].vocabulary_size,
      0,
    );
    if (rows !== group.vocabulary_size)
      problems.push({
        at,
        message: `${file}: the features of '${group.group}' have ${rows} ids, the manifest's table ${group.vocabulary_size} rows`,
      });
  }
  return problems;
}
