/**
 * Chooses the tfjs backend for the dense part (gates, towers, loss) once at start.
 *
 * Order under `auto`: tfjs-node-gpu ─► tfjs-node ─► wasm ─► cpu, the first that loads.
 * The two native packages are optionalDependencies: absent, or present with their
 * libtensorflow binding missing (an install without scripts), `require()` throws, and
 * with an error that is not always MODULE_NOT_FOUND, so any error skips the candidate
 * and is recorded as the reason (for `--verbose`).
 *
 * Which request wins: the caller's `flag` (a CLI option), then the LEMOPT_BACKEND
 * environment variable, then `config` (model.backend; its default `auto` counts as
 * unset), then `auto`. An explicit backend that cannot load is a LemoptError naming it
 * and why; it never falls back silently.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { LemoptError, errorMessage } from '../util/errors.js';

/** lemopt's backend names, fastest first (the `auto` order). */
export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export type BackendRequest = BackendName | 'auto';

export const BACKEND_ENV_VAR = 'LEMOPT_BACKEND';

/** The npm package behind each native backend. */
export const NATIVE_PACKAGES: Readonly<Record<'tensorflow-gpu' | 'tensorflow', string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

/** tfjs's own name of the backend registered by each lemopt backend. */
const TF_NAMES: Readonly<Record<BackendName, string>> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

export interface BackendAttempt {
  readonly backend: BackendName;
  readonly loaded: boolean;
  /** Why it was skipped (unset when it loaded). */
  readonly reason?: string;
}

export interface BackendChoice {
  /** The backend in use. */
  readonly backend: BackendName;
  /** tfjs's name for it (`tf.getBackend()`). */
  readonly tfBackend: string;
  /** What was asked for, and where that came from. */
  readonly requested: BackendRequest;
  readonly source: 'flag' | 'env' | 'config' | 'default';
  /** Every candidate tried, in order, the chosen one last. */
  readonly attempts: readonly BackendAttempt[];
}

export interface BackendOptions {
  /** From a CLI option; wins over everything. Undefined: not given. */
  readonly flag?: string;
  /** model.backend from the config; `auto` (its default) defers to the order. */
  readonly config?: string;
  /** Environment to read LEMOPT_BACKEND from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Loads a native package (default: Node's require); tests pass a stand-in. */
  readonly requireNative?: (specifier: string) => unknown;
}

const nodeRequire = createRequire(import.meta.url);

function parseRequest(value: string, where: string): BackendRequest {
  const trimmed = value.trim();
  if (trimmed === 'auto' || (BACKEND_NAMES as readonly string[]).includes(trimmed)) {
    return trimmed as BackendRequest;
  }
  throw new LemoptError(`${where}: unknown backend '${value}'; use one of auto, ${BACKEND_NAMES.join(', ')}`);
}

function resolveRequest(options: BackendOptions): Pick<BackendChoice, 'requested' | 'source'> {
  const env = options.env ?? process.env;
  const fromEnv = env[BACKEND_ENV_VAR];
  if (options.flag !== undefined)
    return { requested: parseRequest(options.flag, '--backend'), source: 'flag' };
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return { requested: parseRequest(fromEnv, BACKEND_ENV_VAR), source: 'env' };
  }
  if (options.config !== undefined) {
    const requested = parseRequest(options.config, 'model.backend');
    if (requested !== 'auto') return { requested, source: 'config' };
  }
  return { requested: 'auto', source: 'default' };
}

/** First line of an error: a missing module's message goes on with its require stack. */
function firstLine(error: unknown): string {
  return errorMessage(error).split('\n')[0].trim();
}

/** Runs tf.setBackend, collecting what tfjs warns about while it initialises. */
async function setTfBackend(name: string): Promise<{ ok: boolean; warnings: string[] }> {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' '));
  };
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    if (ok) await tf.ready();
  } catch (error) {
    ok = false;
    warnings.push(firstLine(error));
  } finally {
    console.warn = warn;
  }
  // Warnings of a backend that did load are tfjs's to show, not lemopt's to hide.
  if (ok) for (const message of warnings) console.warn(message);
  return { ok, warnings };
}

function failure(warnings: string[], fallback: string): string {
  const text = warnings
    .map((w) => w.trim())
    .filter((w) => w !== '')
    .join('; ');
  return text === '' ? fallback : firstLine(text);
}

/** The folder of the wasm backend's .wasm binaries inside node_modules. */
export function wasmBinaryFolder(): string {
  return path.dirname(nodeRequire.resolve('@tensorflow/tfjs-backend-wasm'));
}

const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'];
let wasmPathsSet = false;

/** Tries one backend; returns why it did not load, or undefined when it is active. */
async function tryBackend(
  name: BackendName,
  requireNative: (specifier: string) => unknown,
): Promise<string | undefined> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const specifier = NATIVE_PACKAGES[name];
    try {
      requireNative(specifier);
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND'
        ? `${specifier} is not installed`
        : `${specifier} did not load: ${firstLine(error)}`;
    }
    if (tf.findBackendFactory(TF_NAMES[name]) === null) {
      return `${specifier} loaded but registered no '${TF_NAMES[name]}' backend with this copy of @tensorflow/tfjs (versions differ?)`;
    }
    const { ok, warnings } = await setTfBackend(TF_NAMES[name]);
    return ok ? undefined : `${specifier} did not initialise: ${failure(warnings, 'tf.setBackend failed')}`;
  }
  if (name === 'wasm') {
    let folder: string;
    try {
      folder = wasmBinaryFolder();
    } catch (error) {
      return `@tensorflow/tfjs-backend-wasm not found: ${firstLine(error)}`;
    }
    const missing = WASM_BINARIES.filter((file) => !existsSync(path.join(folder, file)));
    if (missing.length > 0) return `${missing.join(', ')} missing in ${folder}`;
    if (!wasmPathsSet) {
      // setWasmPaths must precede the wasm backend's first initialisation.
      setWasmPaths(folder + path.sep);
      wasmPathsSet = true;
    }
    const { ok, warnings } = await setTfBackend('wasm');
    return ok ? undefined : `wasm did not initialise: ${failure(warnings, 'tf.setBackend failed')}`;
  }
  const { ok, warnings } = await setTfBackend('cpu');
  return ok ? undefined : `cpu did not initialise: ${failure(warnings, 'tf.setBackend failed')}`;
}

/**
 * Chooses, loads and activates the backend; the caller prints `describeBackend(choice)`.
 * Throws a LemoptError for an unknown name or an explicit backend that cannot load.
 */
export async function selectBackend(options: BackendOptions = {}): Promise<BackendChoice> {
  const { requested, source } = resolveRequest(options);
  const requireNative = options.requireNative ?? ((specifier: string) => nodeRequire(specifier));
  const candidates: readonly BackendName[] = requested === 'auto' ? BACKEND_NAMES : [requested];
  const attempts: BackendAttempt[] = [];
  for (const backend of candidates) {
    const reason = await tryBackend(backend, requireNative);
    if (reason === undefined) {
      attempts.push({ backend, loaded: true });
      return { backend, tfBackend: tf.getBackend(), requested, source, attempts };
    }
    attempts.push({ backend, loaded: false, reason });
  }
  if (requested !== 'auto') {
    const where = { flag: '--backend', env: BACKEND_ENV_VAR, config: 'model.backend', default: '' }[source];
    const hint =
      requested === 'tensorflow-gpu' || requested === 'tensorflow'
        ? ` (install it with \`npm install ${NATIVE_PACKAGES[requested]}\`, or use backend auto, wasm or cpu)`
        : '';
    throw new LemoptError(
      `backend '${requested}' (${where}) could not load: ${attempts[0].reason ?? 'unknown reason'}${hint}`,
    );
  }
  throw new LemoptError(
    `no tfjs backend could load: ${attempts.map((a) => `${a.backend}: ${a.reason}`).join('; ')}`,
  );
}

/** One line for the start of a run; with `verbose`, why each faster backend was skipped. */
export function describeBackend(choice: BackendChoice, verbose = false): string {
  const how = choice.source === 'default' ? 'auto' : `${choice.requested} from ${choice.source}`;
  let line = `backend: ${choice.backend} (${how})`;
  if (verbose) {
    const skipped = choice.attempts.filter((a) => !a.loaded);
    if (skipped.length > 0) line += `; skipped ${skipped.map((a) => `${a.backend}: ${a.reason}`).join('; ')}`;
  }
  return line;
}
