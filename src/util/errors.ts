/**
 * An error caused by the user's input (a file, a config key, a column, a row).
 * The CLI prints its message alone, without a stack trace; any other error is a bug
 * and is printed with its stack.
 */
export class LemoptError extends Error {
  override readonly name = 'LemoptError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Message of any thrown value, for wrapping third-party errors into a LemoptError. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
