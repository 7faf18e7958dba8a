/**
 * Sweep wall time on the Redis queue with 1, 2 and 3 `lemopt worker` processes against the
 * same sweep run locally with one worker process, all in one run (the same minute's load):
 *
 *   redis-server --port 6391 --bind 127.0.0.1 --save '' --appendonly no &
 *   node dist/bench/sweep-queue.js redis://127.0.0.1:6391/0 [ROWS] [EPOCHS]
 *
 * Six trials (two methods at three memory budgets, one seed) on generated data (ROWS,
 * default 20,000; EPOCHS of training, default 1). Every sweep starts in an empty folder, so each prepares and trains its
 * full model; the trial phase is timed from the sweep's `running` line to its end. Every
 * trial process keeps its embedding engine in one thread (LEMOPT_EMBEDDING_THREADS=1), so
 * the rows differ only in how many trials run at once and in the queue.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { generateSynthetic } from '../src/data/synthetic.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const ENV = { ...process.env, LEMOPT_EMBEDDING_THREADS: '1' };

interface Timing {
  readonly label: string;
  readonly total: number;
  readonly trials: number;
  /** Mean seconds per trial from its start to its end as the sweep saw them. */
  readonly perTrial: number;
}

function config(name: string, epochs: string): string {
  return `data:
  source: data/interactions.parquet
  label: { column: label }
  split: { method: random, train: 0.8, valid: 0.1, test: 0.1 }
  workers: 0
features:
  - name: [u_region, u_age_band, u_occupation, u_browser, u_referrer]
    tower: user
  - name: [i_category, i_brand, i_color]
    tower: item
model: { embedding_dim: 8, user_tower: [16, 8], item_tower: [16, 8], backend: wasm }
train: { batch_size: 256, epochs: ${epochs}, seed: 3 }
selection:
  min_steps_per_round: 5
  latency: { coefficients: { constant_us: 1, per_lookup_us: 0.2, per_dim_us: 0.01, per_mflop_us: 50 } }
output: { dir: sweeps/${name} }
sweep: { memory: [20%, 50%, 80%], methods: [sequential_attention, random], seeds: [0] }
`;
}

/** Runs the CLI; resolves with its stderr lines, each with the seconds since start. */
function lemopt(args: readonly string[], cwd: string): Promise<{ at: number; line: string }[]> {
  const started = performance.now();
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd,
    env: ENV,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: { at: number; line: string }[] = [];
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop()!;
    for (const line of parts) lines.push({ at: (performance.now() - started) / 1000, line });
  });
  return new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0
        ? resolve(lines)
        : reject(new Error(`lemopt ${args.join(' ')}: exit ${code}\n${lines.map((l) => l.line).join('\n')}`)),
    ),
  );
}

async function timeSweep(
  label: string,
  dir: string,
  name: string,
  args: readonly string[],
  epochs: string,
): Promise<Timing> {
  await writeFile(path.join(dir, `${name}.yaml`), config(name, epochs));
  const lines = await lemopt(['sweep', `${name}.yaml`, ...args], dir);
  const running = lines.find((l) => / finished before; running /.test(l.line))!.at;
  const end = lines.at(-1)!.at;
  const each = lines.flatMap((l) => /^sweep: finished \S+ in ([\d.]+) s/.exec(l.line)?.[1] ?? []).map(Number);
  return {
    label,
    total: end,
    trials: end - running,
    perTrial: each.reduce((a, b) => a + b, 0) / each.length,
  };
}

async function main(): Promise<void> {
  const [url, rows = '20000', epochs = '1'] = process.argv.slice(2);
  if (!url?.startsWith('redis://'))
    throw new Error('usage: node dist/bench/sweep-queue.js redis://HOST:PORT/DB [ROWS] [EPOCHS]');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lemopt-bench-queue-'));
  try {
    await generateSynthetic({ outDir: path.join(dir, 'data'), rows: Number(rows), seed: 5 });
    const timings = [await timeSweep('local, 1 worker process', dir, 'local', ['--workers', '1'], epochs)];
    for (const count of [1, 2, 3]) {
      const workers = Array.from({ length: count }, () =>
        spawn(process.execPath, [MAIN, 'worker', '--queue', url, '--quiet'], {
          cwd: dir,
          env: ENV,
          stdio: 'ignore',
        }),
      );
      try {
        const args = ['--queue', url, '--workers', '1'];
        timings.push(await timeSweep(`queue, ${count} worker(s)`, dir, `queue${count}`, args, epochs));
      } finally {
        for (const worker of workers) worker.kill('SIGTERM');
      }
    }
    const base = timings[1].trials;
    console.log(
      `load average at the end: ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}; ${os.availableParallelism()} cores`,
    );
    console.log(
      '| sweep | wall, s | trial phase, s | speed-up of the trial phase vs 1 queue worker | mean trial, s |',
    );
    console.log('|---|---|---|---|---|');
    for (const t of timings)
      console.log(
        `| ${t.label} | ${t.total.toFixed(1)} | ${t.trials.toFixed(1)} | ${(base / t.trials).toFixed(2)} | ${t.perTrial.toFixed(1)} |`,
      );
    const overhead = (timings[1].trials - timings[0].trials) / 6;
    console.log(
      `queue overhead per trial (1 queue worker against 1 local worker process): ${overhead.toFixed(2)} s`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
