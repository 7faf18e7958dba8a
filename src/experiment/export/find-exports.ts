/** The exports `lemopt export` wrote inside a run folder (its default `export/`, or any `--out` there). */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { readJsonFile } from '../../util/json-file.js';
import { EXPORT_RECORD_FILE, EXPORT_VERSION, type ExportRecord } from './record.js';

export interface FoundExport {
  readonly dir: string;
  readonly record: ExportRecord;
}

/** Every direct subfolder of `runDir` holding an export record, by folder name. */
export async function exportsOfRun(runDir: string): Promise<FoundExport[]> {
  const entries = await readdir(runDir, { withFileTypes: true }).catch(() => []);
  const found: FoundExport[] = [];
  for (const entry of entries
    .filter((candidate) => candidate.isDirectory())
    .sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = path.join(runDir, entry.name);
    const record = await readJsonFile<ExportRecord>(path.join(dir, EXPORT_RECORD_FILE));
    if (record?.export_version === EXPORT_VERSION) found.push({ dir, record });
  }
  return found;
}
