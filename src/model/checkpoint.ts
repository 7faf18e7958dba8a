/**
 * Training checkpoints: one file, written to a temporary name and renamed over the old
 * one, so a kill at any moment leaves the previous checkpoint or the new one.
 *
 *   bytes 0-7    "LEMOCKPT"
 *   bytes 8-11   n, the length of the JSON header (uint32, little-endian)
 *   12 .. 12+n   JSON: format version, where training stands (the trainer's progress
 *                record: epoch, batches done in it, running sums), the dense optimizer's
 *                kind and step counts, and a table of arrays: name, dtype (float32,
 *                float64, int32), shape, byte offset from the data start, length
 *   data         from the next multiple of 8: every array back to back, little-endian,
 *                each 8-byte aligned. Names: `embedding/<group>/weights|adagrad_accumulator|
 *                adam_m|adam_v|adam_row_steps|step`, `embedding/active_dims`,
 *                `dense/<variable>`, `dense_optimizer/<variable>/m|v`.
 */
import { open, readFile } from 'node:fs/promises';
import type { StateArray } from '../embedding/store.js';
import { writeFileAtomic } from '../util/atomic.js';
import { LemoptError } from '../util/errors.js';
import type { OptimizerState } from './optimizer.js';
import type { NamedArray } from './parameters.js';

export const CHECKPOINT_FORMAT_VERSION = 1;
const MAGIC = 'LEMOCKPT';

type ArrayData = Float32Array | Float64Array | Int32Array;
const DTYPES = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;
type Dtype = keyof typeof DTYPES;

export interface TrainingState {
  readonly embeddings: readonly StateArray[];
  readonly dense: readonly NamedArray[];
  readonly denseOptimizer: OptimizerState;
}

export interface CheckpointMeta<Progress> {
  readonly version: number;
  /** Where training stands; the trainer's own record (epoch, batches done, sums...). */
  readonly progress: Progress;
  readonly denseOptimizer: { readonly kind: OptimizerState['kind']; readonly steps: OptimizerState['steps'] };
  readonly arrays: readonly { name: string; dtype: Dtype; shape: number[]; offset: number; length: number }[];
}

function dtypeOf(data: ArrayData): Dtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return 'int32';
}

export async function writeCheckpoint<Progress>(
  file: string,
  state: TrainingState,
  progress: Progress,
): Promise<void> {
  const named: { name: string; shape: readonly number[]; data: ArrayData }[] = [
    ...state.embeddings.map((entry) => ({
      name: `embedding/${entry.name}`,
      shape: entry.shape,
      data: entry.data,
    })),
    ...state.dense.map((entry) => ({ name: `dense/${entry.name}`, shape: entry.shape, data: entry.values })),
    ...state.denseOptimizer.slots.map((entry) => ({
      name: `dense_optimizer/${entry.name}`,
      shape: entry.shape,
      data: entry.values,
    })),
  ];
  let offset = 0;
  const arrays = named.map(({ name, shape, data }) => {
    const entry = { name, dtype: dtypeOf(data), shape: [...shape], offset, length: data.length };
    offset += Math.ceil(data.byteLength / 8) * 8;
    return entry;
  });
  const meta: CheckpointMeta<Progress> = {
    version: CHECKPOINT_FORMAT_VERSION,
    progress,
    denseOptimizer: { kind: state.denseOptimizer.kind, steps: state.denseOptimizer.steps },
    arrays,
  };
  const header = Buffer.from(JSON.stringify(meta), 'utf8');
  const dataStart = Math.ceil((12 + header.length) / 8) * 8;
  const bytes = new Uint8Array(dataStart + offset);
  bytes.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(bytes.buffer).setUint32(8, header.length, true);
  bytes.set(header, 12);
  named.forEach(({ data }, i) =>
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dataStart + arrays[i].offset),
  );
  await writeFileAtomic(file, bytes);
}

/** Throws unless `prefix` starts with the magic bytes and a header length. */
function checkMagic(file: string, prefix: Buffer): void {
  if (prefix.length < 12 || prefix.subarray(0, 8).toString('latin1') !== MAGIC) {
    throw new LemoptError(`${file}: not a lemopt checkpoint; delete it to start training afresh`);
  }
}

/** The JSON header of a checkpoint's bytes (`prefix` may stop anywhere after it) and where it ends. */
function parseHeader<Progress>(
  file: string,
  prefix: Buffer,
): { meta: CheckpointMeta<Progress>; end: number } {
  checkMagic(file, prefix);
  const end = 12 + prefix.readUInt32LE(8);
  const meta = JSON.parse(prefix.subarray(12, end).toString('utf8')) as CheckpointMeta<Progress>;
  if (meta.version !== CHECKPOINT_FORMAT_VERSION) {
    throw new LemoptError(
      `${file}: checkpoint format ${meta.version}, this lemopt reads ${CHECKPOINT_FORMAT_VERSION}`,
    );
  }
  return { meta, end };
}

/** The progress record of the checkpoint in `file`, without reading its arrays; undefined when there is none. */
export async function readCheckpointProgress<Progress>(file: string): Promise<Progress | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (handle === undefined) return undefined;
  try {
    const start = Buffer.alloc(12);
    const { bytesRead } = await handle.read(start, 0, 12, 0);
    checkMagic(file, start.subarray(0, bytesRead));
    const prefix = Buffer.alloc(12 + start.readUInt32LE(8));
    await handle.read(prefix, 0, prefix.length, 0);
    return parseHeader<Progress>(file, prefix).meta.progress;
  } finally {
    await handle.close();
  }
}

/** The checkpoint in `file`, or undefined when there is none. */
export async function readCheckpoint<Progress>(
  file: string,
): Promise<{ progress: Progress; state: TrainingState } | undefined> {
  const contents = await readFile(file).catch(() => undefined);
  if (contents === undefined) return undefined;
  const { meta, end: headerEnd } = parseHeader<Progress>(file, contents);
  const bytes = contents.subarray(Math.ceil(headerEnd / 8) * 8);
  const embeddings: StateArray[] = [];
  const dense: NamedArray[] = [];
  const slots: NamedArray[] = [];
  for (const { name, dtype, shape, offset, length } of meta.arrays) {
    const Type = DTYPES[dtype];
    const data = new Type(length);
    new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + data.byteLength));
    const [kind, ...rest] = name.split('/');
    const own = rest.join('/');
    if (kind === 'embedding') embeddings.push({ name: own, shape, data });
    else if (kind === 'dense') dense.push({ name: own, shape, values: data as Float32Array });
    else slots.push({ name: own, shape, values: data as Float32Array });
  }
  return {
    progress: meta.progress,
    state: { embeddings, dense, denseOptimizer: { ...meta.denseOptimizer, slots } },
  };
}
