/**
 * Data larger than memory: rows/s and peak RSS of the vocabulary pass and of `lemopt
 * prepare` as rows and distinct values grow, with the count tables in memory (today's
 * behaviour: data.vocabulary_memory too large to reach) and out of core (the default,
 * 1GiB, spilling to disk), and DuckDB's GROUP BY of the same columns with its own spill
 * as the reference.
 *
 *   npm run build && npm run bench:data-scale [-- --rows 10000000,50000000,100000000]
 *     [-- --dir /tmp/lemopt-data-scale] [-- --modes vocabulary-out-of-core,prepare-out-of-core]
 *     [-- --keep] [-- --timeout 3600]
 *
 * The files (bench/data-scale-file.ts: a unique id per row, ids and strings whose distinct
 * values grow with the rows) are written by DuckDB into --dir and removed at the end unless
 * --keep. Each measurement runs in a fresh child process, so its peak RSS (getrusage
 * maxrss, or /usr/bin/time's for the CLI) is its own. A child that fails reports its error
 * and its peak RSS until then.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SCALE_COLUMNS, writeScaleFile } from './data-scale-file.js';

const thisFile = fileURLToPath(import.meta.url);
const cli = path.join(path.dirname(thisFile), '..', 'src', 'cli', 'main.js');

/** Never reached: the count tables stay in memory, as before out-of-core counting. */
const IN_MEMORY = '1TiB';
const OUT_OF_CORE = '1GiB';

const MODES = [
  'vocabulary-in-memory',
  'vocabulary-out-of-core',
  'vocabulary-duckdb',
  'prepare-in-memory',
  'prepare-out-of-core',
] as const;
type Mode = (typeof MODES)[number];

interface Measurement {
  readonly mode: Mode;
  readonly rows: number;
  readonly seconds: number;
  readonly maxRssMiB: number;
  /** Distinct values counted per column (from the vocabularies), when known. */
  readonly distinct?: Record<string, number>;
  readonly error?: string;
}

/** uid, item and query keep at most 1M values; uid's all count 1 (ties by value). */
function configYaml(file: string, vocabularyMemory: string, runDir: string): string {
  return `
data: { source: ${JSON.stringify(file)}, label: { column: label }, vocabulary_memory: ${vocabularyMemory} }
features:
  - { name: uid, tower: user, max_size: 1000000, hash_buckets: 1024 }
  - { name: item, tower: item, max_size: 1000000, hash_buckets: 1024 }
  - { name: query, tower: user, min_count: 2, max_size: 1000000, hash_buckets: 1024 }
  - { name: country, tower: user }
  - { name: device, tower: item }
output: { dir: ${JSON.stringify(runDir)} }
`;
}

const rssMiB = (): number => process.resourceUsage().maxRSS / 1024;
const seconds = (started: number): number => (performance.now() - started) / 1000;
const message = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0].slice(0, 200);

/** In the child: lemopt's vocabulary pass alone (prepareDataset without encoding). */
async function measureVocabulary(mode: Mode, file: string, rows: number): Promise<Measurement> {
  const { parseConfig } = await import('../src/config/load.js');
  const { prepareDataset } = await import('../src/data/dataset.js');
  const memory = mode === 'vocabulary-in-memory' ? IN_MEMORY : OUT_OF_CORE;
  const cacheDir = await mkdtemp(path.join(path.dirname(file), 'run-'));
  const { config } = parseConfig(configYaml(file, memory, cacheDir), path.join(cacheDir, 'bench.yaml'));
  const started = performance.now();
  try {
    const dataset = await prepareDataset(config, { cacheDir });
    const distinct = Object.fromEntries(
      [...dataset.vocabularies.values()].map((v) => [
        v.feature,
        v.kind === 'categorical' ? v.distinctSeen : 0,
      ]),
    );
    return { mode, rows: dataset.stats.rows, seconds: seconds(started), maxRssMiB: rssMiB(), distinct };
  } catch (error) {
    return { mode, rows, seconds: seconds(started), maxRssMiB: rssMiB(), error: message(error) };
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

/** In the child: DuckDB counts each column with the same cut-offs, spilling past 1GB. */
async function measureDuckdb(file: string, rows: number): Promise<Measurement> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const spill = await mkdtemp(path.join(path.dirname(file), 'duckdb-spill-'));
  const instance = await DuckDBInstance.create(':memory:', {
    threads: '2',
    memory_limit: '1GB',
    temp_directory: spill,
  });
  const connection = await instance.connect();
  const cuts: Record<string, string> = {
    uid: 'LIMIT 1000000',
    item: 'LIMIT 1000000',
    query: 'HAVING count(*) >= 2 LIMIT 1000000',
  };
  const started = performance.now();
  const distinct: Record<string, number> = {};
  try {
    for (const column of SCALE_COLUMNS) {
      const cut = cuts[column] ?? '';
      const [having, limit] = cut.startsWith('HAVING')
        ? cut.split(' LIMIT ')
        : ['', cut.replace('LIMIT ', '')];
      const kept = await connection.runAndReadAll(
        `SELECT ${column} AS value, count(*) AS n FROM read_parquet('${file}') GROUP BY ${column} ${having}
         ORDER BY n DESC, value ${limit ? `LIMIT ${limit}` : ''}`,
      );
      distinct[column] = kept.currentRowCount;
    }
    return { mode: 'vocabulary-duckdb', rows, seconds: seconds(started), maxRssMiB: rssMiB(), distinct };
  } catch (error) {
    return {
      mode: 'vocabulary-duckdb',
      rows,
      seconds: seconds(started),
      maxRssMiB: rssMiB(),
      error: message(error),
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(spill, { recursive: true, force: true });
  }
}

/** In the parent: `lemopt prepare` under /usr/bin/time, its run folder removed after. */
async function measurePrepare(
  mode: Mode,
  file: string,
  rows: number,
  timeoutS: number,
): Promise<Measurement> {
  const runDir = await mkdtemp(path.join(path.dirname(file), 'run-'));
  const configFile = path.join(runDir, 'bench.yaml');
  const memory = mode === 'prepare-in-memory' ? IN_MEMORY : OUT_OF_CORE;
  await writeFile(configFile, configYaml(file, memory, path.join(runDir, 'run')));
  const started = performance.now();
  const result = await run(
    '/usr/bin/time',
    ['-f', 'maxrss_kib=%M', process.execPath, cli, 'prepare', configFile, '--json', '--quiet'],
    timeoutS,
  );
  const elapsed = seconds(started);
  const maxRss = Number(/maxrss_kib=(\d+)/.exec(result.stderr)?.[1] ?? 0) / 1024;
  await rm(runDir, { recursive: true, force: true });
  if (result.error) {
    const last = result.stderr.split('\n').filter((line) => line && !line.startsWith('maxrss_kib'));
    return { mode, rows, seconds: elapsed, maxRssMiB: maxRss, error: last.at(-1) ?? result.error };
  }
  const summary = JSON.parse(result.stdout) as { rows: number };
  return { mode, rows: summary.rows, seconds: elapsed, maxRssMiB: maxRss };
}

function run(
  command: string,
  args: readonly string[],
  timeoutS: number,
): Promise<{ stdout: string; stderr: string; error?: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { maxBuffer: 64 << 20, timeout: timeoutS * 1000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) =>
        resolve({
          stdout,
          stderr,
          error: error ? (error.killed ? `killed after ${timeoutS} s` : error.message) : undefined,
        }),
    );
  });
}

async function measure(mode: Mode, file: string, rows: number, timeoutS: number): Promise<Measurement> {
  if (mode.startsWith('prepare')) return measurePrepare(mode, file, rows, timeoutS);
  const result = await run(
    process.execPath,
    [thisFile, '--mode', mode, '--file', file, '--rows', String(rows)],
    timeoutS,
  );
  const line = result.stdout.trim().split('\n').at(-1);
  if (result.error || !line)
    return { mode, rows, seconds: timeoutS, maxRssMiB: 0, error: result.error ?? 'no output' };
  return JSON.parse(line) as Measurement;
}

function table(measurements: readonly Measurement[]): string {
  const format = (value: number): string => Math.round(value).toLocaleString('en-US');
  const rows = measurements.map((m) => {
    const distinct = m.distinct
      ? SCALE_COLUMNS.slice(0, 3)
          .map((c) => format(m.distinct![c] ?? 0))
          .join(' / ')
      : '';
    const speed = m.error ? `failed: ${m.error}` : format(m.rows / m.seconds);
    return `| ${m.mode} | ${format(m.rows)} | ${distinct} | ${m.seconds.toFixed(1)} | ${speed} | ${format(m.maxRssMiB)} |`;
  });
  return [
    '| measurement | rows | distinct uid / item / query (kept for duckdb) | seconds | rows/s | peak RSS MiB |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '10000000,50000000,100000000' },
      dir: { type: 'string', default: path.join(os.tmpdir(), 'lemopt-data-scale') },
      modes: { type: 'string', default: MODES.join(',') },
      keep: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '3600' },
      mode: { type: 'string' },
      file: { type: 'string' },
    },
  });
  if (values.mode) {
    const mode = values.mode as Mode;
    const rows = Number(values.rows);
    const result =
      mode === 'vocabulary-duckdb'
        ? await measureDuckdb(values.file!, rows)
        : await measureVocabulary(mode, values.file!, rows);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const modes = values.modes.split(',') as Mode[];
  const unknown = modes.filter((mode) => !MODES.includes(mode));
  if (unknown.length > 0)
    throw new Error(`--modes: unknown ${unknown.join(', ')}; known: ${MODES.join(', ')}`);
  const timeoutS = Number(values.timeout);
  await mkdir(values.dir, { recursive: true });
  const measurements: Measurement[] = [];
  for (const rows of values.rows.split(',').map(Number)) {
    const file = path.join(values.dir, `scale-${rows}.parquet`);
    if (!(await stat(file).catch(() => undefined))) {
      process.stderr.write(`writing ${file} with DuckDB ...\n`);
      await writeScaleFile(file, rows);
    }
    for (const mode of modes) {
      process.stderr.write(`${rows} rows: ${mode} ...\n`);
      const result = await measure(mode, file, rows, timeoutS);
      process.stderr.write(`${JSON.stringify(result)}\n`);
      measurements.push(result);
    }
    if (!values.keep) await rm(file, { force: true });
  }
  const load = os.loadavg().map((value) => value.toFixed(1));
  const lines = [
    `machine: ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; load average at the end ${load.join(' ')}`,
    '',
    table(measurements),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
