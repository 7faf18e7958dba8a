/**
 * The native tfjs packages (tfjs-node-gpu, tfjs-node: optionalDependencies) found and
 * required without loading tfjs itself, so that a machine without them does not pay for
 * loading tfjs on its way to another engine. Absent, or present with their libtensorflow
 * binding missing after an install without scripts, `require()` throws, and with an error
 * that is not always MODULE_NOT_FOUND, so any error is a reason to skip.
 */
import { createRequire } from 'node:module';
import { errorMessage } from '../../util/errors.js';

export type NativeBackendName = 'tensorflow-gpu' | 'tensorflow';

/** The npm package behind each native backend. */
export const NATIVE_PACKAGES: Readonly<Record<NativeBackendName, string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

const nodeRequire = createRequire(import.meta.url);

/** Node's require, for the native packages (tests pass a stand-in). */
export const requireNativePackage = (specifier: string): unknown => nodeRequire(specifier);

/** First line of an error: a missing module's message goes on with its require stack. */
export function firstLine(error: unknown): string {
  return errorMessage(error).split('\n')[0].trim();
}

/** Requires a native backend's package; returns why it cannot, or undefined when it loaded. */
export function requireNativeBackend(
  name: NativeBackendName,
  requireNative: (specifier: string) => unknown,
): string | undefined {
  const specifier = NATIVE_PACKAGES[name];
  try {
    requireNative(specifier);
    return undefined;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND'
      ? `${specifier} is not installed`
      : `${specifier} did not load: ${firstLine(error)}`;
  }
}
