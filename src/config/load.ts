import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Document, isMap, isSeq, LineCounter, parseDocument, stringify, type Node } from 'yaml';
import type { z } from 'zod';
import { LemoptError, errorMessage } from '../util/errors.js';
import { runConfigSchema, type RunConfig } from './schema.js';

export interface LoadedConfig {
  /** Validated config with defaults filled in and paths made absolute. */
  readonly config: RunConfig;
  /** Absolute path of the YAML file. */
  readonly file: string;
}

type PathKey = string | number;

/** Reads, parses and validates a run config. Every error names the file, key path and line. */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw new LemoptError(`${file}: cannot read the config (${errorMessage(error)})`);
  });
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): LoadedConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    const error = document.errors[0];
    const line = lineCounter.linePos(error.pos[0]).line;
    throw new LemoptError(`${file}:${line}: invalid YAML: ${error.message.split('\n')[0]}`);
  }
  const raw: unknown = document.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new LemoptError(`${file}: the config must be a mapping with sections data, features, ...`);
  }
  const parsed = runConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) =>
      describeIssue(issue, raw, document, lineCounter, file),
    );
    throw new LemoptError(messages.join('\n'));
  }
  return { config: resolvePaths(parsed.data, file), file: path.resolve(file) };
}

function describeIssue(
  issue: z.core.$ZodIssue,
  raw: unknown,
  document: Document,
  lines: LineCounter,
  file: string,
): string {
  const issuePath = issue.path.filter((key): key is PathKey => typeof key !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => {
        const keyPath = [...issuePath, key];
        const line = lineOf(document, lines, keyPath, true);
        return `${location(file, line)}: ${formatPath(keyPath)}: unknown key '${key}'`;
      })
      .join('\n');
  }
  if (isMissing(raw, issuePath)) {
    const parent = issuePath.slice(0, -1);
    const line = parent.length > 0 ? lineOf(document, lines, parent, false) : undefined;
    return `${location(file, line)}: ${formatPath(issuePath)}: required, but missing`;
  }
  const line = lineOf(document, lines, issuePath, false);
  return `${location(file, line)}: ${formatPath(issuePath) || '(top level)'}: ${issue.message}`;
}

/** True when the key at the end of the path is absent from its (existing) parent object. */
function isMissing(raw: unknown, keys: readonly PathKey[]): boolean {
  let node = raw;
  for (const key of keys.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return false;
    node = (node as Record<PathKey, unknown>)[key];
  }
  const last = keys[keys.length - 1];
  return last !== undefined && node !== null && typeof node === 'object' && !(last in node);
}

function location(file: string, line: number | undefined): string {
  return line === undefined ? file : `${file}:${line}`;
}

/** `features[2].name`, as a user reads a key path. */
export function formatPath(keys: readonly PathKey[]): string {
  return keys.map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? key : `.${key}`)).join('');
}

/**
 * Line of the node at a key path; for a key that does not exist in the schema, the
 * line of the key itself. Falls back to the nearest ancestor that exists in the YAML.
 */
function lineOf(
  document: Document,
  lines: LineCounter,
  keys: readonly PathKey[],
  atKey: boolean,
): number | undefined {
  let node: unknown = document.contents;
  let line = offsetLine(node, lines);
  for (const [index, key] of keys.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      const last = index === keys.length - 1;
      node = last && atKey ? pair.key : pair.value;
      line = offsetLine(pair.key, lines) ?? line;
      if (!(last && atKey)) line = offsetLine(node, lines) ?? line;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      line = offsetLine(node, lines) ?? line;
    } else break;
  }
  return line;
}

function offsetLine(node: unknown, lines: LineCounter): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? lines.linePos(range[0]).line : undefined;
}

/** Relative paths in a config are relative to the config file's folder. */
function resolvePaths(config: RunConfig, file: string): RunConfig {
  const base = path.dirname(path.resolve(file));
  const outputDir = config.output.dir
    ? path.resolve(base, config.output.dir)
    : path.resolve('runs', path.basename(file).replace(/\.ya?ml$/i, ''));
  return {
    ...config,
    data: { ...config.data, source: resolveSource(base, config.data.source) },
    output: { ...config.output, dir: outputDir },
    selection: resolveLatencyFile(config.selection, base),
  };
}

function resolveLatencyFile(selection: RunConfig['selection'], base: string): RunConfig['selection'] {
  const file = selection.latency?.file;
  if (file === undefined) return selection;
  return { ...selection, latency: { ...selection.latency, file: path.resolve(base, file) } };
}

function resolveSource(base: string, source: string): string {
  return path.isAbsolute(source) ? source : path.join(base, source);
}

/** The resolved config as YAML, echoed into the run folder. */
export function configToYaml(config: RunConfig): string {
  return stringify(config, { lineWidth: 0 });
}
