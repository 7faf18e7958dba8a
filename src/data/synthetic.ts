/**
 * The embedded default dataset (`lemopt generate`): synthetic user-item interactions
 * with a planted structure, written as `interactions.parquet` plus `ground_truth.json`.
 * A profile picks the shape: `quickstart` (the default, 19 feature columns) or `large`
 * (200 feature groups, like a large embedding model's log; synthetic/large-profile.ts).
 *
 * Users and items have latent vectors; the label is Bernoulli(sigmoid(u.v + noise)).
 * Feature columns are signal (noisy quantisations of latent dimensions, of different
 * strengths and vocabulary sizes), exact copies of signal columns, pure noise, ids, one
 * multi-valued list column and two float columns. Column names are neutral; the roles
 * and signal strengths are in ground_truth.json only (see datasets/README.md).
 *
 * Output is deterministic (same seed and rows: byte-identical files), written one row
 * group at a time (memory bounded by the row group size), and atomic: both files are
 * written under temporary names in the output folder and renamed at the end.
 */
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ParquetWriter } from 'hyparquet-writer';
import { temporaryPathFor } from '../util/atomic.js';
import { errorMessage, LemoptError } from '../util/errors.js';
import {
  GENERATOR_VERSION,
  groundTruthDocument,
  profileField,
  type GroundTruth,
} from './synthetic/document.js';
import { FileSink, parquetSchema } from './parquet-output.js';
import { LARGE_PROFILE } from './synthetic/large-profile.js';
import { columnLayout, emptyCounts, RowGenerator } from './synthetic/rows.js';
import { QUICKSTART_PROFILE, type SyntheticProfile } from './synthetic/specs.js';
import { measureSignal } from './synthetic/truth.js';
import { buildWorld } from './synthetic/world.js';

export type { GroundTruth, TruthColumn, ColumnRole } from './synthetic/document.js';

export const SYNTHETIC_DATA_FILE = 'interactions.parquet';
export const SYNTHETIC_TRUTH_FILE = 'ground_truth.json';
export const SYNTHETIC_PROFILES = {
  quickstart: QUICKSTART_PROFILE,
  large: LARGE_PROFILE,
} as const satisfies Record<string, SyntheticProfile>;
export type SyntheticProfileName = keyof typeof SYNTHETIC_PROFILES;
export const DEFAULT_SYNTHETIC_ROWS = QUICKSTART_PROFILE.defaultRows;
export const DEFAULT_SYNTHETIC_SEED = 7;
export const DEFAULT_SYNTHETIC_ROW_GROUP_SIZE = 100_000;
/** Upper bound on rows (row indexes and timestamps stay exact far below it). */
export const MAX_SYNTHETIC_ROWS = 2 ** 31 - 1;

export interface GenerateSyntheticOptions {
  /** Output folder, created if missing; existing output files in it are replaced. */
  readonly outDir: string;
  /** The dataset's shape (default `quickstart`). */
  readonly profile?: SyntheticProfileName;
  /** Number of rows (default: the profile's, 200,000 for the quickstart). */
  readonly rows?: number;
  /** Seed of every random draw, an integer in [0, 2^32) (default 7). */
  readonly seed?: number;
  /** Rows per Parquet row group, which bounds memory (default 100,000). */
  readonly rowGroupSize?: number;
  /** Called after each row group is written. */
  readonly onProgress?: (rowsWritten: number, totalRows: number) => void;
}

export interface GenerateSyntheticResult {
  readonly dataFile: string;
  readonly truthFile: string;
  readonly rows: number;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LemoptError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

function prepareFolder(outDir: string): void {
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (error) {
    throw new LemoptError(`cannot create output folder ${outDir}: ${errorMessage(error)}`, { cause: error });
  }
  if (!statSync(outDir).isDirectory()) throw new LemoptError(`output path ${outDir} is not a folder`);
}

/** The profile of a name, or an error listing the names. */
export function syntheticProfile(name: string): SyntheticProfile {
  if (!Object.hasOwn(SYNTHETIC_PROFILES, name))
    throw new LemoptError(
      `unknown synthetic profile '${name}'; one of: ${Object.keys(SYNTHETIC_PROFILES).join(', ')}`,
    );
  return SYNTHETIC_PROFILES[name as SyntheticProfileName];
}

/** Writes the synthetic dataset into `outDir`; see the module comment. */
export async function generateSynthetic(options: GenerateSyntheticOptions): Promise<GenerateSyntheticResult> {
  const profile = syntheticProfile(options.profile ?? 'quickstart');
  const rows = options.rows ?? profile.defaultRows;
  const seed = options.seed ?? DEFAULT_SYNTHETIC_SEED;
  const rowGroupSize = options.rowGroupSize ?? DEFAULT_SYNTHETIC_ROW_GROUP_SIZE;
  checkInteger('rows', rows, 1, MAX_SYNTHETIC_ROWS);
  checkInteger('seed', seed, 0, 2 ** 32 - 1);
  checkInteger('rowGroupSize', rowGroupSize, 1, 2 ** 24);
  prepareFolder(options.outDir);

  const dataFile = path.join(options.outDir, SYNTHETIC_DATA_FILE);
  const truthFile = path.join(options.outDir, SYNTHETIC_TRUTH_FILE);
  const dataTemporary = temporaryPathFor(dataFile);
  const truthTemporary = temporaryPathFor(truthFile);

  const world = buildWorld(seed, profile);
  const layout = columnLayout(world);
  const counts = emptyCounts(world);
  let sink: FileSink | undefined;
  try {
    sink = new FileSink(dataTemporary);
    const writer = new ParquetWriter({
      writer: sink,
      schema: parquetSchema(layout),
      codec: 'SNAPPY',
      createdBy: `lemopt synthetic generator v${GENERATOR_VERSION}`,
      kvMetadata: [
        {
          key: 'lemopt.synthetic',
          value: JSON.stringify({ generator_version: GENERATOR_VERSION, ...profileField(world), seed, rows }),
        },
      ],
    });
    const generator = new RowGenerator(world, layout, rows, counts);
    for (let start = 0; start < rows; start += rowGroupSize) {
      const count = Math.min(rowGroupSize, rows - start);
      await writer.write({ columnData: generator.next(start, count), rowGroupSize: count });
      options.onProgress?.(start + count, rows);
      await yieldToEventLoop();
    }
    await writer.finish();
    sink.close(true);

    const truth: GroundTruth = groundTruthDocument({
      world,
      layout,
      signal: measureSignal(world),
      counts,
      rowGroupSize,
      dataFile: SYNTHETIC_DATA_FILE,
    });
    writeFileSync(truthTemporary, `${JSON.stringify(truth, null, 2)}\n`);
    // A data file next to a stale ground truth would look complete: drop the old truth first.
    rmSync(truthFile, { force: true });
    renameSync(dataTemporary, dataFile);
    renameSync(truthTemporary, truthFile);
  } catch (error) {
    sink?.close();
    rmSync(dataTemporary, { force: true });
    rmSync(truthTemporary, { force: true });
    if (error instanceof LemoptError) throw error;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      throw new LemoptError(
        `cannot write the synthetic dataset to ${options.outDir}: ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  return { dataFile, truthFile, rows };
}
