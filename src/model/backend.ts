/**
 * Chooses the dense engine once at start (engine.ts) and makes it the process's engine.
 *
 * Order under `auto`: tfjs-node-gpu ─► tfjs-node ─► onnxruntime ─► wasm ─► cpu, the first
 * that loads. tensorflow-gpu and tensorflow are tfjs on native TensorFlow (tfjs/backend.ts
 * loads them); onnxruntime is lemopt's ONNX graphs on ONNX Runtime (onnx/); wasm and cpu
 * are tfjs's own backends, the fallback. Every skipped candidate is recorded with the
 * reason (for `--verbose`).
 *
 * Which request wins: the caller's `flag` (a CLI option), then the LEMOPT_BACKEND
 * environment variable, then `config` (model.backend; its default `auto` counts as
 * unset), then `auto`. An explicit backend that cannot load is a LemoptError naming it
 * and why; it never falls back silently.
 */
import { LemoptError } from '../util/errors.js';
import type { DenseEngine } from './engine.js';
import { NATIVE_PACKAGES, firstLine, requireNativeBackend, requireNativePackage } from './tfjs/native.js';

/** lemopt's backend names, fastest first (the `auto` order). */
export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'onnxruntime', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export type BackendRequest = BackendName | 'auto';

export const BACKEND_ENV_VAR = 'LEMOPT_BACKEND';

export { NATIVE_PACKAGES };

export interface BackendAttempt {
  readonly backend: BackendName;
  readonly loaded: boolean;
  /** Why it was skipped (unset when it loaded). */
  readonly reason?: string;
}

export interface BackendChoice {
  /** The backend in use. */
  readonly backend: BackendName;
  /** The engine that computes on it. */
  readonly engine: DenseEngine;
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
  /** Loads a native tfjs package (default: Node's require); tests pass a stand-in. */
  readonly requireNative?: (specifier: string) => unknown;
}

let active: DenseEngine | undefined;

/** The process's engine: the last one selectBackend (or useEngine) made active. */
export function activeEngine(): DenseEngine {
  if (!active) throw new Error('no dense engine is active: selectBackend() chooses one first');
  return active;
}

/** Makes an engine the process's own without choosing (tests, and callers that built one). */
export function useEngine(engine: DenseEngine): void {
  active = engine;
}

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

/** Loads one backend's engine, or says why it cannot. */
async function tryBackend(
  name: BackendName,
  requireNative: (specifier: string) => unknown,
): Promise<{ engine: DenseEngine } | { reason: string }> {
  if (name === 'onnxruntime') {
    try {
      const { loadOnnxEngine } = await import('./onnx/engine.js');
      return { engine: loadOnnxEngine() };
    } catch (error) {
      return { reason: `onnxruntime-node did not load: ${firstLine(error)}` };
    }
  }
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const reason = requireNativeBackend(name, requireNative);
    if (reason !== undefined) return { reason };
  }
  // tfjs loads in half a second: only a tfjs engine (or the search for one) pays for it.
  const [{ activateTfjsBackend }, { tfjsEngine }] = await Promise.all([
    import('./tfjs/backend.js'),
    import('./tfjs/engine.js'),
  ]);
  const reason = await activateTfjsBackend(name);
  return reason === undefined ? { engine: tfjsEngine({ name }) } : { reason };
}

/**
 * Chooses, loads and activates the engine; the caller prints `describeBackend(choice)`.
 * Throws a LemoptError for an unknown name or an explicit backend that cannot load.
 */
export async function selectBackend(options: BackendOptions = {}): Promise<BackendChoice> {
  const { requested, source } = resolveRequest(options);
  const requireNative = options.requireNative ?? requireNativePackage;
  const candidates: readonly BackendName[] = requested === 'auto' ? BACKEND_NAMES : [requested];
  const attempts: BackendAttempt[] = [];
  for (const backend of candidates) {
    const outcome = await tryBackend(backend, requireNative);
    if ('engine' in outcome) {
      attempts.push({ backend, loaded: true });
      active = outcome.engine;
      return { backend, engine: outcome.engine, requested, source, attempts };
    }
    attempts.push({ backend, loaded: false, reason: outcome.reason });
  }
  if (requested !== 'auto') {
    const where = { flag: '--backend', env: BACKEND_ENV_VAR, config: 'model.backend', default: '' }[source];
    const hint =
      requested === 'tensorflow-gpu' || requested === 'tensorflow'
        ? ` (install it with \`npm install ${NATIVE_PACKAGES[requested]}\`, or use backend auto, onnxruntime, wasm or cpu)`
        : requested === 'onnxruntime'
          ? ' (reinstall it with `npm ci`, or use backend auto, wasm or cpu)'
          : '';
    throw new LemoptError(
      `backend '${requested}' (${where}) could not load: ${attempts[0].reason ?? 'unknown reason'}${hint}`,
    );
  }
  throw new LemoptError(
    `no dense engine could load: ${attempts.map((a) => `${a.backend}: ${a.reason}`).join('; ')}`,
  );
}

/** One line for the start of a run; with `verbose`, why each faster backend was skipped. */
export function describeBackend(
  choice: Pick<BackendChoice, 'backend' | 'requested' | 'source' | 'attempts'>,
  verbose = false,
): string {
  const how = choice.source === 'default' ? 'auto' : `${choice.requested} from ${choice.source}`;
  let line = `backend: ${choice.backend} (${how})`;
  if (verbose) {
    const skipped = choice.attempts.filter((a) => !a.loaded);
    if (skipped.length > 0) line += `; skipped ${skipped.map((a) => `${a.backend}: ${a.reason}`).join('; ')}`;
  }
  return line;
}
