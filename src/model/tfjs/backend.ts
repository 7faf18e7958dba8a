/**
 * Activates one tfjs backend: tfjs-node-gpu or tfjs-node once native.ts has required their
 * package, wasm (its binaries beside the package) or cpu. The choice between engines is
 * backend.ts's.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { firstLine, NATIVE_PACKAGES, type NativeBackendName } from './native.js';

export type TfjsBackendName = NativeBackendName | 'wasm' | 'cpu';

/** tfjs's own name of the backend registered by each lemopt backend. */
const TF_NAMES: Readonly<Record<TfjsBackendName, string>> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const nodeRequire = createRequire(import.meta.url);

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

/**
 * Tries one tfjs backend; returns why it did not load, or undefined when it is active. A
 * native backend's package must have been required first (native.ts).
 */
export async function activateTfjsBackend(name: TfjsBackendName): Promise<string | undefined> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const specifier = NATIVE_PACKAGES[name];
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
