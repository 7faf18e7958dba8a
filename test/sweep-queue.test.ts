/**
 * `lemopt sweep --queue` and `lemopt worker` against a real redis-server on loopback, every
 * worker a separate process: the same results.csv (metrics and picks) as the same sweep
 * run locally; a worker killed with SIGKILL mid-trial (its trial retried by another after
 * the lease, each trial once in the results); Redis stopped and restarted empty mid-sweep
 * (the workers reconnect, lost jobs are put back); --status; a worker that cannot see the
 * sweep folder fails the job saying so.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME, type TrialJobData } from '../src/experiment/distributed/queue.js';
import {
  IN_CI,
  Lemopt,
  localReference,
  subset,
  untimedRows,
  writeSweepConfig,
} from './support/distributed-sweep.js';
import { HAVE_REDIS, NO_REDIS, RedisServer } from './support/redis-server.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

const LEASE_SECONDS = '3';
const RUN = HAVE_REDIS || IN_CI;
if (!RUN) console.warn(`test/sweep-queue.test.ts: skipped: ${NO_REDIS}`);

let tmp: TempDir;
let redis: RedisServer;
let reference: Map<string, string[]>;
const workers: Lemopt[] = [];

/** A `lemopt worker` on the test's Redis, its trials' embeddings in one thread each (2 cores, 3 workers). */
function startWorker(): Lemopt {
  const worker = new Lemopt(['worker', '--queue', redis.url, '--lease', LEASE_SECONDS], tmp.path, {
    LEMOPT_EMBEDDING_THREADS: '1',
  });
  workers.push(worker);
  return worker;
}

async function startWorkers(count: number): Promise<Lemopt[]> {
  const started = Array.from({ length: count }, startWorker);
  await Promise.all(started.map((worker) => worker.line(/taking trials from/)));
  return started;
}

function stopWorkers(list: readonly Lemopt[]): Promise<void[]> {
  return Promise.all(list.map((worker) => worker.stop()));
}

function sweep(name: string): Lemopt {
  return new Lemopt(['sweep', `${name}.yaml`, '--queue', redis.url, '--workers', '1'], tmp.path);
}

/** The pid in a `started <trial> on <host>:<pid>` line. */
function workerPid(line: string): number {
  return Number(/ on [^ ]+:(\d+)$/.exec(line)![1]);
}

async function trialLogHas(dir: string, trial: string, text: string): Promise<boolean> {
  return (await readFile(path.join(dir, 'trials', trial, 'log.txt'), 'utf8').catch(() => '')).includes(text);
}

async function until(condition: () => Promise<boolean>, what: string, seconds = 120): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`waited ${seconds} s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.runIf(RUN)('sweeps on a Redis queue', () => {
  beforeAll(async () => {
    tmp = await makeTempDir('lemopt-queue-');
    if (!HAVE_REDIS) throw new Error(`CI is set and the queue tests cannot run: ${NO_REDIS}`);
    redis = await RedisServer.start(tmp.path);
    reference = await localReference(tmp);
  }, 240_000);

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
    await redis?.stop();
    await tmp.remove();
  });

  it('runs the trials on 3 worker processes with the results of a local sweep', async () => {
    await writeSweepConfig(tmp, 'queued');
    const three = await startWorkers(3);
    const run = sweep('queued');
    await run.succeeded();
    const dir = tmp.file('sweeps/queued');
    expect(await untimedRows(dir)).toEqual(reference);

    // Every trial started once, on one of the three workers.
    const pids = new Set(three.map((worker) => worker.child.pid));
    const started = run.lines.filter((line) => line.startsWith('sweep: started'));
    expect(started).toHaveLength(6);
    for (const line of started) expect(pids).toContain(workerPid(line));
    expect(run.lines).toContain(`sweep: 0 of 6 trials finished before; running 6 on the queue ${redis.url}`);

    const status = new Lemopt(['sweep', 'queued.yaml', '--queue', redis.url, '--status'], tmp.path);
    let out = '';
    status.child.stdout!.on('data', (text: Buffer) => (out += text.toString()));
    await status.succeeded();
    expect(out).toMatch(new RegExp(`^sweep ${dir} on ${redis.url}: 6 trials, ended \\d+ s ago\n`));
    expect(out).toContain('\n  finished      6\n  running       0\n  waiting       0\n');
    expect(out).toContain('\nworkers connected: 3\n');
    await stopWorkers(three);
  }, 240_000);

  it('retries the trial of a worker killed with SIGKILL mid-trial after its lease: every trial once', async () => {
    const grid = { memory: ['20%', '50%', '80%'], methods: ['sequential_attention'], seeds: [0] };
    await writeSweepConfig(tmp, 'killed', grid);
    const dir = tmp.file('sweeps/killed');
    const two = await startWorkers(2);
    const run = sweep('killed');
    const first = await run.line(/^sweep: started /);
    const trial = first.split(' ')[2];
    const victim = two.find((worker) => worker.child.pid === workerPid(first))!;
    // Kill it once the trial is past its shared stages, into selection.
    await until(
      () => trialLogHas(dir, trial, 'full: reusing the finished model'),
      `${trial} to start selecting`,
    );
    victim.child.kill('SIGKILL');
    await victim.exited;
    await run.line(
      new RegExp(`^sweep: ${trial.replace(/[%]/g, '\\$&')}: its worker [^ ]+ stopped renewing its lease`),
    );
    await run.succeeded();

    const ids = [
      'sequential_attention-mem20%-seed0',
      'sequential_attention-mem50%-seed0',
      'sequential_attention-mem80%-seed0',
    ];
    expect(await untimedRows(dir)).toEqual(subset(reference, ids));
    // The killed trial ran twice (the second run resumed it), the others once.
    for (const id of ids) {
      const log = await readFile(path.join(dir, 'trials', id, 'log.txt'), 'utf8');
      expect(log.match(/ trial job: /g)).toHaveLength(id === trial ? 2 : 1);
    }
    expect(run.lines.filter((line) => line.startsWith('sweep: finished '))).toHaveLength(3);
    await stopWorkers(two.filter((worker) => worker !== victim));
  }, 240_000);

  it('goes on when Redis stops and restarts empty mid-sweep: same results', async () => {
    const grid = { memory: ['20%', '50%', '80%'], methods: ['random'], seeds: [0] };
    await writeSweepConfig(tmp, 'restarted', grid);
    const dir = tmp.file('sweeps/restarted');
    const three = await startWorkers(3);
    const run = sweep('restarted');
    const first = await run.line(/^sweep: started /);
    await until(
      () => trialLogHas(dir, first.split(' ')[2], 'full: reusing the finished model'),
      'a trial to run',
    );
    await redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await redis.restart();
    await run.succeeded();

    const ids = ['random-mem20%-seed0', 'random-mem50%-seed0', 'random-mem80%-seed0'];
    expect(await untimedRows(dir)).toEqual(subset(reference, ids));
    expect(run.lines.some((line) => line.startsWith('sweep: lost the queue'))).toBe(true);
    expect(run.lines.filter((line) => line.startsWith('sweep: finished '))).toHaveLength(3);
    await stopWorkers(three);
  }, 240_000);

  it('fails the job of a worker that cannot see the sweep folder, saying so', async () => {
    const [worker] = await startWorkers(1);
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue<TrialJobData>(QUEUE_NAME, { connection });
    try {
      const missing = tmp.file('not-mounted/sweep');
      const data = { sweepDir: missing, token: 'abc', trial: 't', backend: 'wasm', memoryMb: 512 };
      const job = await queue.add(
        'trial',
        { ...data, config: {} as TrialJobData['config'] },
        { attempts: 1 },
      );
      await until(async () => (await job.isFailed()) || false, 'the job to fail', 60);
      const failed = (await queue.getJob(job.id!))!;
      expect(failed.failedReason).toBe(
        `worker ${failed.processedBy} cannot see the sweep folder ${missing} (no ${missing}/queue.json): ` +
          'the sweep folder must be on storage every machine sees, mounted at the same path (a shared filesystem)',
      );
      expect(existsSync(missing)).toBe(false);
    } finally {
      await queue.close();
      connection.disconnect();
      await stopWorkers([worker]);
    }
  }, 120_000);
});

describe('the command line of the queue', () => {
  it('refuses a --queue that is no redis:// URL and --status without --queue, as usage errors', async () => {
    const scratch = await makeTempDir('lemopt-queue-cli-');
    try {
      const cases: [string[], string][] = [
        [
          ['worker', '--queue', 'http://host:6379'],
          "--queue: 'http://host:6379' is not a redis:// URL; write redis://HOST:PORT[/DB]",
        ],
        [
          ['sweep', 'x.yaml', '--queue', 'redis://host:6379/x'],
          "--queue: 'redis://host:6379/x': the database must be a number (redis://HOST:PORT/0), got 'x'",
        ],
        [['sweep', 'x.yaml', '--status'], '--status needs --queue URL'],
        [
          ['sweep', 'x.yaml', '--queue', 'redis://host', '--collect'],
          '--queue and --collect do not go together',
        ],
      ];
      for (const [args, message] of cases) {
        const run = new Lemopt(args, scratch.path);
        expect(await run.exited).toBe(2);
        expect(run.lines[0]).toBe(`lemopt: ${message}`);
      }
    } finally {
      await scratch.remove();
    }
  }, 60_000);
});
