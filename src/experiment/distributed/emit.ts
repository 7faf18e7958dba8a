/**
 * `lemopt sweep CONFIG --emit kubernetes|slurm`: a ready array job that runs the sweep as
 * shards (shards.ts), one shard per array index: a Kubernetes Indexed Job manifest
 * (completions = shards, the shared folder from a PersistentVolumeClaim mounted at the
 * same path as here) or an sbatch script with a job array (--array=0-(N-1)). Each index
 * runs `lemopt sweep CONFIG --shard auto/N`; `lemopt sweep CONFIG --collect` merges the
 * results, at any time and once they ended.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import type { RunConfig } from '../../config/schema.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { LemoptError } from '../../util/errors.js';

export const EMIT_TARGETS = ['kubernetes', 'slurm'] as const;
export type EmitTarget = (typeof EMIT_TARGETS)[number];

export interface EmitOptions {
  readonly target: EmitTarget;
  readonly configFile: string;
  /** Array indices; default: one per trial. */
  readonly shards: number;
  /** Container image with lemopt on its PATH (kubernetes). */
  readonly image: string;
  /** PersistentVolumeClaim of the shared folder (kubernetes). */
  readonly volumeClaim: string;
  /** The shared folder: mounted at this path in the pods; the folder the script runs in. */
  readonly mount: string;
  /** Heap limit of each trial process, MB (sizes the memory request). */
  readonly workerMemoryMb: number;
  readonly backend?: string;
}

/** Default file of each target, in the sweep folder. */
export function emitFile(dir: string, target: EmitTarget): string {
  return path.join(dir, target === 'kubernetes' ? 'sweep-job.yaml' : 'sweep.sbatch');
}

/** A name Kubernetes and Slurm accept: lowercase letters, digits and '-', at most 52 characters. */
function jobName(dir: string): string {
  const base = path
    .basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `lemopt-${base || 'sweep'}`.slice(0, 52).replace(/-+$/, '');
}

/** The command each index runs. */
function shardCommand(options: EmitOptions): string[] {
  const command = [
    'lemopt',
    'sweep',
    options.configFile,
    '--shard',
    `auto/${options.shards}`,
    '--workers',
    '1',
  ];
  command.push('--worker-memory', String(options.workerMemoryMb));
  if (options.backend) command.push('--backend', options.backend);
  return command;
}

/** Memory a shard asks for: the trial's heap and the shard process beside it. */
function requestMb(options: EmitOptions): number {
  return options.workerMemoryMb + 1024;
}

/** The Indexed Job manifest as YAML. */
export function kubernetesJob(config: RunConfig, options: EmitOptions): string {
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: jobName(config.output.dir!), labels: { app: 'lemopt-sweep' } },
    spec: {
      completionMode: 'Indexed',
      completions: options.shards,
      parallelism: options.shards,
      // A failed index is started again (it resumes: finished trials are skipped).
      backoffLimit: options.shards,
      template: {
        metadata: { labels: { app: 'lemopt-sweep' } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'lemopt',
              image: options.image,
              workingDir: options.mount,
              command: shardCommand(options),
              resources: {
                requests: { cpu: '2', memory: `${requestMb(options)}Mi` },
                limits: { memory: `${requestMb(options)}Mi` },
              },
              volumeMounts: [{ name: 'shared', mountPath: options.mount }],
            },
          ],
          volumes: [{ name: 'shared', persistentVolumeClaim: { claimName: options.volumeClaim } }],
        },
      },
    },
  };
  const comment = [
    `# lemopt sweep ${options.configFile} as a Kubernetes Indexed Job of ${options.shards} shards.`,
    `# The PersistentVolumeClaim ${options.volumeClaim} (ReadWriteMany) holds the config, the data and`,
    `# the sweep folder ${config.output.dir!}, mounted at ${options.mount} as here.`,
    `# kubectl apply -f THIS_FILE; when it completes: lemopt sweep ${options.configFile} --collect`,
  ];
  return `${comment.join('\n')}\n${stringify(job)}`;
}

/** Single-quoted for a POSIX shell. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The sbatch script with a job array of `shards` tasks. */
export function slurmScript(config: RunConfig, options: EmitOptions): string {
  const logs = path.join(config.output.dir!, 'shards', 'slurm-%A_%a.log');
  return [
    '#!/bin/bash',
    `#SBATCH --job-name=${jobName(config.output.dir!)}`,
    `#SBATCH --array=0-${options.shards - 1}`,
    '#SBATCH --cpus-per-task=2',
    `#SBATCH --mem=${requestMb(options)}M`,
    `#SBATCH --output=${logs}`,
    `# lemopt sweep ${options.configFile} as a Slurm job array of ${options.shards} shards; every node`,
    `# sees ${options.mount} (the config, the data and the sweep folder) at this path. Submit, then collect:`,
    `#   JOB=$(sbatch --parsable THIS_FILE)`,
    `#   sbatch --dependency=afterany:$JOB --wrap ${shellQuote(`lemopt sweep ${options.configFile} --collect`)}`,
    'set -euo pipefail',
    `mkdir -p ${shellQuote(path.dirname(logs))}`,
    `cd ${shellQuote(options.mount)}`,
    `exec ${shardCommand(options).map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

/** Writes the target's file (atomically) and returns its path. */
export async function emitArrayJob(config: RunConfig, options: EmitOptions, file?: string): Promise<string> {
  if (!Number.isInteger(options.shards) || options.shards < 1)
    throw new LemoptError(`--shards must be a positive integer, got ${options.shards}`);
  const target = file ?? emitFile(config.output.dir!, options.target);
  const text =
    options.target === 'kubernetes' ? kubernetesJob(config, options) : slurmScript(config, options);
  await writeFileAtomic(target, text);
  return target;
}
