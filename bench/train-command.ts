/**
 * `lemopt train`'s own speed against the step rate of the same model and batch: the
 * quickstart (configs/quickstart.yaml on the embedded dataset, generated into a temporary
 * folder) trained by the command itself, in a child process on a fresh run folder (module
 * loading, the vocabulary pass, encoding, every epoch), next to the same model's train
 * step alone on 16 of its batches held in memory (bench/train-step.ts, also a child
 * process), alternately, three times, the best of each. The ratio says how much of the step
 * rate the data path and the loop around the step leave.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { generateSynthetic, SYNTHETIC_DATA_FILE } from '../src/data/synthetic.js';
import { METRICS_FILE } from '../src/experiment/train.js';
import type { EpochReport } from '../src/model/trainer.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const STEP = fileURLToPath(new URL('./train-step.js', import.meta.url));
const ROUNDS = 3;

export interface TrainCommandResult {
  readonly config: string;
  /** Examples/s of the train step alone, on batches in memory. */
  readonly stepRate: number;
  /** Examples/s of each epoch of `lemopt train` on a fresh run folder. */
  readonly epochRates: readonly number[];
  /** Every epoch's examples over every epoch's seconds. */
  readonly overallRate: number;
  /** The command's wall time, process start to exit. */
  readonly wallSeconds: number;
}

export async function measureTrainCommand(
  configFile: string,
  seconds: number,
  backend: string,
): Promise<TrainCommandResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lemopt-bench-train-'));
  try {
    await generateSynthetic({ outDir: dir });
    const source = path.join(dir, SYNTHETIC_DATA_FILE);
    const stepConfig = await writeConfigCopy(configFile, source, path.join(dir, 'step'));
    // Both in fresh processes, alternately, ROUNDS times: the best of each (the host's speed drifts).
    let stepRate = 0;
    let best: { epochs: EpochReport[]; wallSeconds: number; overallRate: number } | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      stepRate = Math.max(stepRate, await runStepAlone(stepConfig, seconds, backend));
      const runDir = path.join(dir, `command-${round}`);
      const command = await runCommand(await writeConfigCopy(configFile, source, runDir), runDir, backend);
      const examples = command.epochs.reduce((sum, epoch) => sum + epoch.trainExamples, 0);
      const epochSeconds = command.epochs.reduce((sum, epoch) => sum + epoch.seconds, 0);
      const overallRate = examples / epochSeconds;
      if (!best || overallRate > best.overallRate) best = { ...command, overallRate };
    }
    return {
      config: configFile,
      stepRate,
      epochRates: best!.epochs.map((epoch) => epoch.examplesPerSecond),
      overallRate: best!.overallRate,
      wallSeconds: best!.wallSeconds,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A copy of the config, `runDir`.yaml, that reads `source` and writes its run folder to `runDir`. */
async function writeConfigCopy(configFile: string, source: string, runDir: string): Promise<string> {
  const raw = parse(await readFile(configFile, 'utf8')) as {
    data: Record<string, unknown>;
    output?: Record<string, unknown>;
  };
  const copy = `${runDir}.yaml`;
  await writeFile(
    copy,
    stringify({ ...raw, data: { ...raw.data, source }, output: { ...raw.output, dir: runDir } }),
  );
  return copy;
}

/** The train step alone (bench/train-step.ts), in a child process. */
async function runStepAlone(config: string, seconds: number, backend: string): Promise<number> {
  const out = await run([STEP, config, String(seconds), backend]);
  return (JSON.parse(out) as { stepRate: number }).stepRate;
}

function run(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, (error, stdout, stderr) =>
      error ? reject(new Error(`${args.join(' ')} failed: ${stderr}`)) : resolve(stdout),
    ),
  );
}

/** `lemopt train CONFIG`, whose run folder is `runDir`. */
async function runCommand(
  config: string,
  runDir: string,
  backend: string,
): Promise<{ epochs: EpochReport[]; wallSeconds: number }> {
  const started = performance.now();
  await run([MAIN, 'train', config, '--backend', backend, '--quiet']);
  const wallSeconds = (performance.now() - started) / 1000;
  const metrics = JSON.parse(await readFile(path.join(runDir, METRICS_FILE), 'utf8')) as {
    epochs: EpochReport[];
  };
  return { epochs: metrics.epochs, wallSeconds };
}
