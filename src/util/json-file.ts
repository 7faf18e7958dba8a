import { readFile } from 'node:fs/promises';

/** The parsed contents of a JSON file, or undefined when it is missing or not valid JSON (a stage not finished). */
export async function readJsonFile<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
