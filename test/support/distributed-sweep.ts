/**
 * What the queue and shard tests share: a tiny sweep on generated data (six trials of a
 * few seconds), its local run as the reference, `lemopt` CLI processes whose stderr lines
 * the test can wait for, and results.csv without its timing columns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { generateSynthetic } from '../../src/data/synthetic.js';
import { runSweep } from '../../src/experiment/sweep.js';
import { dataSection, FIXED_LATENCY, SMALL_FEATURES, SMALL_MODEL } from './synthetic-config.js';
import type { TempDir } from './tmp.js';

const MAIN = path.resolve('src/cli/main.ts');
const TSX = import.meta.resolve('tsx');
export const IN_CI = Boolean(process.env.CI) && !['false', '0'].includes(process.env.CI!.toLowerCase());

/** Six trials: two methods at three memory budgets, one seed. */
export const GRID = {
  memory: ['20%', '50%', '80%'],
  methods: ['sequential_attention', 'random'],
  seeds: [0],
};
/** Timings, different on every run: everything else must match exactly. */
const TIMED = new Set(['wall_seconds', 'measured_latency_us']);

/** Writes `name`.yaml in the temp folder: the tiny sweep into sweeps/`name` with `grid`. */
export async function writeSweepConfig(tmp: TempDir, name: string, grid = GRID): Promise<string> {
  const file = tmp.file(`${name}.yaml`);
  await writeFile(
    file,
    `${dataSection()}
${SMALL_FEATURES}
${SMALL_MODEL}
train: { batch_size: 256, epochs: 1, seed: 3 }
selection:
  min_steps_per_round: 5
  ${FIXED_LATENCY}
output: { dir: sweeps/${name} }
sweep: ${JSON.stringify(grid)}
`,
  );
  return file;
}

/** The generated data (6,000 rows) and the local sweep's results by trial id, untimed. */
export async function localReference(tmp: TempDir): Promise<Map<string, string[]>> {
  await generateSynthetic({ outDir: tmp.file('data'), rows: 6000, seed: 5 });
  const file = await writeSweepConfig(tmp, 'local');
  const { config } = parseConfig(await readFile(file, 'utf8'), file);
  const result = await runSweep(config, { configFile: file, workers: 2 });
  if (result.failed.length > 0)
    throw new Error(`local sweep: ${result.failed.map((f) => f.message).join('; ')}`);
  return untimedRows(tmp.file('sweeps/local'));
}

/** results.csv of a sweep folder without its timing columns, by trial id (the header under ''). */
export async function untimedRows(dir: string): Promise<Map<string, string[]>> {
  const lines = (await readFile(path.join(dir, 'results.csv'), 'utf8')).trimEnd().split('\n');
  const header = lines[0].split(',');
  const keep = header.map((name, i) => (TIMED.has(name) ? -1 : i)).filter((i) => i >= 0);
  const rows = new Map<string, string[]>([['', keep.map((i) => header[i])]]);
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    if (rows.has(cells[0])) throw new Error(`results.csv holds trial ${cells[0]} twice`);
    rows.set(
      cells[0],
      keep.map((i) => cells[i]),
    );
  }
  return rows;
}

/** The reference's rows of the given trials (and its header), for a smaller grid. */
export function subset(reference: Map<string, string[]>, ids: readonly string[]): Map<string, string[]> {
  return new Map([
    ['', reference.get('')!],
    ...ids.map((id) => [id, reference.get(id)!] as [string, string[]]),
  ]);
}

/** A `lemopt` process (the CLI under tsx) and its stderr lines so far. */
export class Lemopt {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];

  /** `env`: variables to set over this process's, or to leave out (undefined). */
  constructor(args: readonly string[], cwd: string, env: Record<string, string | undefined> = {}) {
    const merged = { ...process.env, ...env };
    for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
    this.child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
      cwd,
      env: merged,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop()!;
      for (const line of parts) this.heard(line);
    });
    this.child.stdout!.resume();
    // 'close': the process ended and its stderr was read to the end.
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  private heard(line: string): void {
    this.lines.push(line);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.test(line)) return true;
      waiter.resolve(line);
      return false;
    });
  }

  /** The first line (already heard or to come) that matches. */
  line(pattern: RegExp): Promise<string> {
    const heard = this.lines.find((line) => pattern.test(line));
    if (heard !== undefined) return Promise.resolve(heard);
    return new Promise((resolve) => this.waiters.push({ test: (line) => pattern.test(line), resolve }));
  }

  /** Exit status; the stderr lines are in the error when it is not 0. */
  async succeeded(): Promise<void> {
    const code = await this.exited;
    if (code !== 0) throw new Error(`lemopt exited with ${code}:\n${this.lines.join('\n')}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}
