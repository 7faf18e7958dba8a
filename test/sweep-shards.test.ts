/**
 * Sweeps as cluster array jobs: 3 shard processes started as a Kubernetes Indexed Job
 * starts them (`--shard auto/3`, JOB_COMPLETION_INDEX set), `--collect` while they run and
 * after, against the same sweep run locally; the shard index from each scheduler's
 * variables; the Indexed Job manifest and the sbatch script `--emit` writes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { collectSweep, parseShard, shardTrials } from '../src/experiment/distributed/shards.js';
import { sweepTrials } from '../src/experiment/sweep.js';
import { LemoptError } from '../src/util/errors.js';
import { Lemopt, localReference, untimedRows, writeSweepConfig } from './support/distributed-sweep.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-shards-');
});
afterAll(() => tmp.remove());

/** The scheduler variables cleared, so a test's own decide. */
const NO_SCHEDULER = {
  JOB_COMPLETION_INDEX: undefined,
  SLURM_ARRAY_TASK_ID: undefined,
  SLURM_ARRAY_TASK_MIN: undefined,
  SLURM_ARRAY_TASK_COUNT: undefined,
  AWS_BATCH_JOB_ARRAY_INDEX: undefined,
};

describe('the shard of a process', () => {
  it('comes from --shard I/N or from the scheduler variable of an array job', () => {
    expect(parseShard('1/3', {})).toEqual({ index: 1, count: 3, source: '--shard' });
    expect(parseShard('auto/3', { JOB_COMPLETION_INDEX: '2' })).toEqual({
      index: 2,
      count: 3,
      source: 'JOB_COMPLETION_INDEX',
    });
    expect(parseShard('auto/4', { AWS_BATCH_JOB_ARRAY_INDEX: '0' })).toEqual({
      index: 0,
      count: 4,
      source: 'AWS_BATCH_JOB_ARRAY_INDEX',
    });
    // Slurm numbers tasks as --array says (here 1-3) and tells their count.
    const slurm = { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3' };
    expect(parseShard('auto', slurm)).toEqual({
      index: 2,
      count: 3,
      source: 'SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN',
    });
  });

  it('is refused with the way out when it cannot be known or is out of range', () => {
    expect(() => parseShard('auto/3', {})).toThrow(
      new LemoptError(
        '--shard auto: none of JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX is set; ' +
          'run it as an array job, or write --shard I/N',
      ),
    );
    expect(() => parseShard('auto', { JOB_COMPLETION_INDEX: '0' })).toThrow(
      new LemoptError('--shard auto: the number of shards is unknown; write --shard auto/N'),
    );
    expect(() => parseShard('3/3', {})).toThrow(
      new LemoptError('--shard 3/3: shard index 3 (from --shard) is not below the 3 shards'),
    );
    expect(() => parseShard('one/3', {})).toThrow(
      new LemoptError("--shard one/3: I must be a whole number, got 'one'"),
    );
  });

  it('splits the grid into disjoint shares that cover it', async () => {
    const file = await writeSweepConfig(tmp, 'split');
    const { config } = parseConfig(await readFile(file, 'utf8'), file);
    const trials = sweepTrials(config, file);
    const shares = [0, 1, 2, 3].map((index) => shardTrials(trials, { index, count: 4, source: 'test' }));
    expect(shares.map((share) => share.length)).toEqual([2, 2, 1, 1]);
    expect(
      shares
        .flat()
        .map((t) => t.id)
        .sort(),
    ).toEqual(trials.map((t) => t.id).sort());
  });
});

describe('a sweep as shards of an array job', () => {
  it('gives, collected, the results of the local sweep; --collect is safe while shards run and idempotent', async () => {
    const reference = await localReference(tmp);
    const file = await writeSweepConfig(tmp, 'sharded');
    const dir = tmp.file('sweeps/sharded');
    const { config } = parseConfig(await readFile(file, 'utf8'), file);
    await expect(collectSweep(config, file)).rejects.toThrow(
      new LemoptError(
        `${dir}: nothing to collect yet: no shard has prepared the sweep (no prepared.json); start the shards first`,
      ),
    );

    const shards = [0, 1, 2].map(
      (index) =>
        new Lemopt(['sweep', 'sharded.yaml', '--shard', 'auto/3', '--workers', '1'], tmp.path, {
          ...NO_SCHEDULER,
          JOB_COMPLETION_INDEX: String(index),
          LEMOPT_EMBEDDING_THREADS: '1',
        }),
    );
    // Collected while the shards run: only finished trials, each as the local sweep has it.
    await Promise.race(shards.map((shard) => shard.line(/^sweep: finished /)));
    const early = new Lemopt(['sweep', 'sharded.yaml', '--collect'], tmp.path);
    await early.succeeded();
    const partial = await untimedRows(dir);
    expect(partial.size).toBeGreaterThan(1);
    for (const [id, row] of partial) expect(row).toEqual(reference.get(id));

    await Promise.all(shards.map((shard) => shard.succeeded()));
    for (const [index, shard] of shards.entries()) {
      expect(shard.lines).toContain(`sweep: shard ${index} of 3 (index from JOB_COMPLETION_INDEX)`);
      expect(shard.lines).toContain(
        'sweep: 0 of 2 trials finished before; running 2 with 1 worker process(es)',
      );
    }
    // One full model for the three shards: one trained it, the others found it.
    const trained = shards.flatMap((shard) =>
      shard.lines.filter((line) => line.startsWith('sweep: training the full model')),
    );
    expect(trained).toHaveLength(1);

    const collect = new Lemopt(['sweep', 'sharded.yaml', '--collect'], tmp.path);
    await collect.succeeded();
    expect(collect.lines).toContain('collect: 6 of 6 trials finished, 0 failed, 0 not finished yet');
    expect(await untimedRows(dir)).toEqual(reference);
    const csv = await readFile(path.join(dir, 'results.csv'), 'utf8');
    await new Lemopt(['sweep', 'sharded.yaml', '--collect', '--quiet'], tmp.path).succeeded();
    expect(await readFile(path.join(dir, 'results.csv'), 'utf8')).toBe(csv);
  }, 300_000);
});

describe('lemopt sweep --emit', () => {
  it('writes a Kubernetes Indexed Job with one completion per shard, each running its shard', async () => {
    await writeSweepConfig(tmp, 'emitted');
    const run = new Lemopt(
      [
        'sweep',
        'emitted.yaml',
        '--emit',
        'kubernetes',
        '--image',
        'registry.example/lemopt:0.1',
        '--mount',
        tmp.path,
      ],
      tmp.path,
    );
    await run.succeeded();
    const file = tmp.file('sweeps/emitted/sweep-job.yaml');
    const job = parse(await readFile(file, 'utf8')) as {
      kind: string;
      metadata: { name: string };
      spec: {
        completionMode: string;
        completions: number;
        parallelism: number;
        template: {
          spec: {
            restartPolicy: string;
            containers: {
              image: string;
              command: string[];
              workingDir: string;
              volumeMounts: { mountPath: string }[];
            }[];
            volumes: { persistentVolumeClaim: { claimName: string } }[];
          };
        };
      };
    };
    expect(job.kind).toBe('Job');
    expect(job.metadata.name).toBe('lemopt-emitted');
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 6, parallelism: 6 });
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.containers[0].image).toBe('registry.example/lemopt:0.1');
    expect(pod.containers[0].command).toEqual([
      'lemopt',
      'sweep',
      tmp.file('emitted.yaml'),
      '--shard',
      'auto/6',
      '--workers',
      '1',
      '--worker-memory',
      '2048',
    ]);
    expect(pod.containers[0].workingDir).toBe(tmp.path);
    expect(pod.containers[0].volumeMounts[0].mountPath).toBe(tmp.path);
    expect(pod.volumes[0].persistentVolumeClaim.claimName).toBe('lemopt-shared');
  }, 60_000);

  it('writes an sbatch script with a job array of the shards', async () => {
    await writeSweepConfig(tmp, 'slurm');
    const out = tmp.file('slurm.sbatch');
    const run = new Lemopt(
      ['sweep', 'slurm.yaml', '--emit', 'slurm', '--shards', '3', '--mount', tmp.path, '--out', out],
      tmp.path,
    );
    await run.succeeded();
    const script = (await readFile(out, 'utf8')).split('\n');
    expect(script[0]).toBe('#!/bin/bash');
    expect(script).toContain('#SBATCH --array=0-2');
    expect(script).toContain(`#SBATCH --output=${tmp.file('sweeps/slurm/shards/slurm-%A_%a.log')}`);
    expect(script).toContain(`cd ${tmp.path}`);
    expect(script).toContain(
      `exec lemopt sweep ${tmp.file('slurm.yaml')} --shard auto/3 --workers 1 --worker-memory 2048`,
    );
  }, 60_000);
});
