/**
 * The run folder an export reads, checked before anything is prepared or loaded: its
 * manifest (valid, and made from the config its selected model was trained under), the
 * selected model's checkpoint, and data that still has the fingerprint the vocabularies
 * and splits were made on.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { openCheckedSource } from '../../data/dataset.js';
import { fingerprintFiles } from '../../data/sources/files.js';
import type { EmbeddingDtype } from '../../embedding/memory.js';
import { readCheckpointProgress } from '../../model/checkpoint.js';
import { LemoptError } from '../../util/errors.js';
import { MANIFEST_FILE, readManifest, type Manifest } from '../manifest.js';
import { sha256 } from './record.js';

/** Where `lemopt run` saves the model it trained on the selection (run.ts). */
export const SELECTED_MODEL_FILE = path.join('selected', 'model.ckpt');

export const EXPORT_DTYPES: readonly EmbeddingDtype[] = ['fp32', 'fp16', 'int8'];

export interface RunToExport {
  readonly runDir: string;
  readonly manifestFile: string;
  readonly manifestSha256: string;
  readonly manifest: Manifest;
  readonly checkpointFile: string;
}

/** `--dtype` as given, checked; undefined when not given. */
export function parseExportDtype(dtype: string | undefined): EmbeddingDtype | undefined {
  if (dtype === undefined) return undefined;
  if (!(EXPORT_DTYPES as readonly string[]).includes(dtype))
    throw new LemoptError(`--dtype: unknown dtype '${dtype}'; use ${EXPORT_DTYPES.join(', ')}`);
  return dtype as EmbeddingDtype;
}

export async function openRunToExport(runDir: string): Promise<RunToExport> {
  const isFolder = await stat(runDir).then(
    (info) => info.isDirectory(),
    () => false,
  );
  if (!isFolder) throw new LemoptError(`${runDir}: no such run folder`);
  const manifestFile = path.join(runDir, MANIFEST_FILE);
  const manifestBytes = await readFile(manifestFile).catch(() => undefined);
  if (manifestBytes === undefined)
    throw new LemoptError(
      `${runDir}: no ${MANIFEST_FILE}; export needs the folder of a finished \`lemopt run\``,
    );
  const manifest = await readManifest(manifestFile);
  for (const tower of ['user', 'item'] as const) {
    if (!manifest.kept.some((group) => group.tower === tower))
      throw new LemoptError(
        `${manifestFile}: keeps no group of the ${tower} tower; there is no ${tower} tower to serve`,
      );
  }
  const checkpointFile = path.join(runDir, SELECTED_MODEL_FILE);
  const progress = await readCheckpointProgress<{ key?: string }>(checkpointFile);
  if (progress === undefined)
    throw new LemoptError(`${checkpointFile}: missing; the run folder has no selected model to export`);
  if (progress.key !== manifest.config_hash) {
    throw new LemoptError(
      `${manifestFile}: made from another config than the run's selected model ` +
        `(manifest config_hash ${manifest.config_hash}, ${SELECTED_MODEL_FILE} ${progress.key ?? 'none'})`,
    );
  }
  await checkDataUnchanged(manifest);
  return { runDir, manifestFile, manifestSha256: sha256(manifestBytes), manifest, checkpointFile };
}

/** The vocabularies and the test split must be those of the run: refuse data that changed since. */
async function checkDataUnchanged(manifest: Manifest): Promise<void> {
  const { source } = await openCheckedSource(manifest.config);
  const fingerprint = await fingerprintFiles(source.files);
  if (fingerprint !== manifest.data.fingerprint) {
    throw new LemoptError(
      `${source.location}: the data changed since the run (fingerprint ${fingerprint}, the manifest's ` +
        `${manifest.data.fingerprint}); its vocabularies and test split would not be the model's`,
    );
  }
}
