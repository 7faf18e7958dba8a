/**
 * Data benchmark: rows per second from Parquet to encoded, shuffled training batches,
 * and peak RSS, on a generated file with 10 categorical columns; DuckDB's scan of the
 * same file in the same run as the reference.
 *
 *   npm run build && npm run bench:data [-- --rows 10000000] [-- --dir /tmp/x]
 *
 * The file (int and string columns, cardinalities 10 to 1M, snappy, DuckDB's default
 * row groups) is written once by DuckDB into --dir and reused while it exists. Each
 * measurement runs in a fresh child process, so its peak RSS (getrusage maxrss) is its own.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const thisFile = fileURLToPath(import.meta.url);

/** c0..c9: (cardinality, string or int); cardinalities span small enums to 1M ids. */
const COLUMNS: readonly [number, 'int' | 'string'][] = [
  [10, 'int'],
  [100, 'string'],
  [1_000, 'int'],
  [10_000, 'string'],
  [100_000, 'int'],
  [1_000_000, 'int'],
  [50, 'string'],
  [5_000, 'int'],
  [50_000, 'string'],
  [500_000, 'int'],
];

interface Measurement {
  readonly phase: string;
  readonly rows: number;
  readonly seconds: number;
  readonly maxRssMiB: number;
}

async function writeBenchFile(file: string, rows: number): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  // Skewed (squared uniform) ids, like real categorical data; hash() keeps it deterministic.
  const columns = COLUMNS.map(([cardinality, type], i) => {
    const id = `(floor(pow((hash(i * 10 + ${i}) % 1000003) / 1000003.0, 2) * ${cardinality}))::INTEGER`;
    return `${type === 'string' ? `'v' || ${id}::VARCHAR` : id} AS c${i}`;
  });
  const temporary = `${file}.tmp`;
  await connection.run(
    `COPY (SELECT ${columns.join(', ')}, (hash(i) % 2)::INTEGER AS label FROM range(${rows}) t(i))
     TO '${temporary}' (FORMAT parquet, COMPRESSION snappy)`,
  );
  connection.closeSync();
  instance.closeSync();
  await rm(file, { force: true });
  await import('node:fs/promises').then((fs) => fs.rename(temporary, file));
}

function child(mode: string, file: string): Promise<Measurement[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', thisFile, '--mode', mode, '--file', file],
      { maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${mode}: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Measurement[]);
      },
    );
  });
}

const rss = (): number => process.resourceUsage().maxRSS / 1024;

/** lemopt: vocabulary pass, then encode pass, then encode + shuffle + batch of the train split. */
async function measureLemopt(file: string): Promise<Measurement[]> {
  const { parseConfig } = await import('../src/config/load.js');
  const { prepareDataset } = await import('../src/data/dataset.js');
  const { batches } = await import('../src/data/batcher.js');
  const { TRAIN } = await import('../src/data/split.js');
  const yaml = `
data: { source: ${JSON.stringify(file)}, label: { column: label } }
features:
  - { name: [${COLUMNS.map((_, i) => `c${i}`).join(', ')}], tower: user }
train: { batch_size: 1024, shuffle_buffer: 65536 }
`;
  const { config } = parseConfig(yaml, path.join(os.tmpdir(), 'bench-data.yaml'));
  const out: Measurement[] = [];
  let started = performance.now();
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'lemopt-bench-vocabulary-'));
  const dataset = await prepareDataset(config, { cacheDir });
  const cores = os.availableParallelism();
  out.push({
    phase: 'vocabulary pass',
    rows: dataset.stats.rows,
    seconds: seconds(started),
    maxRssMiB: rss(),
  });

  const { openCheckedSource, readConfiguredBatches } = await import('../src/data/dataset.js');
  const { source, layout } = await openCheckedSource(config);
  started = performance.now();
  let rows = 0;
  for await (const batch of readConfiguredBatches(config, source, layout)) rows += batch.numRows;
  out.push({
    phase: 'read only (no encoding), in the main thread',
    rows,
    seconds: seconds(started),
    maxRssMiB: rss(),
  });

  for (const workers of [0, 1, cores]) {
    const encoding = await prepareDataset(config, { workers, cacheDir });
    started = performance.now();
    rows = 0;
    for await (const batch of encoding.encodedBatches()) rows += batch.numRows;
    const where =
      workers === 0 ? 'in the main thread' : `in ${workers} worker thread${workers > 1 ? 's' : ''}`;
    out.push({ phase: `read + encode, ${where}`, rows, seconds: seconds(started), maxRssMiB: rss() });
  }

  started = performance.now();
  rows = 0;
  const options = {
    split: TRAIN,
    batchSize: config.train.batch_size,
    shuffleBuffer: config.train.shuffle_buffer,
    seed: 1,
  };
  for await (const batch of batches(dataset.encodedBatches(), options)) rows += batch.numRows;
  out.push({
    phase: 'read + encode + shuffle + batch (train split)',
    rows,
    seconds: seconds(started),
    maxRssMiB: rss(),
  });
  return out;
}

/** DuckDB: a native scan touching every column, and the same data handed to JS. */
async function measureDuckdb(file: string): Promise<Measurement[]> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const connection = await instance.connect();
  const out: Measurement[] = [];
  const sums = COLUMNS.map(([, type], i) => (type === 'string' ? `sum(length(c${i}))` : `sum(c${i})`)).join(
    ' + ',
  );
  let started = performance.now();
  const result = await connection.runAndReadAll(
    `SELECT count(*)::BIGINT, ${sums} FROM read_parquet('${file}')`,
  );
  const rows = Number(result.getRows()[0][0]);
  out.push({ phase: 'DuckDB native scan (2 threads)', rows, seconds: seconds(started), maxRssMiB: rss() });

  started = performance.now();
  let seen = 0;
  const stream = await connection.stream(`SELECT * FROM read_parquet('${file}')`);
  for (
    let chunk = await stream.fetchChunk();
    chunk && chunk.rowCount > 0;
    chunk = await stream.fetchChunk()
  ) {
    for (let c = 0; c < chunk.columnCount; c++) chunk.getColumnValues(c);
    seen += chunk.rowCount;
  }
  out.push({
    phase: 'DuckDB into JS (streamed chunks)',
    rows: seen,
    seconds: seconds(started),
    maxRssMiB: rss(),
  });
  connection.closeSync();
  instance.closeSync();
  return out;
}

function seconds(started: number): number {
  return (performance.now() - started) / 1000;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '10000000' },
      dir: { type: 'string', default: path.join(os.tmpdir(), 'lemopt-bench') },
      mode: { type: 'string' },
      file: { type: 'string' },
    },
  });
  if (values.mode) {
    const measure = values.mode === 'lemopt' ? measureLemopt : measureDuckdb;
    process.stdout.write(`${JSON.stringify(await measure(values.file!))}\n`);
    return;
  }
  const rows = Number(values.rows);
  await mkdir(values.dir, { recursive: true });
  const file = path.join(values.dir, `categorical-${rows}.parquet`);
  if (!(await stat(file).catch(() => undefined))) {
    process.stderr.write(`writing ${file} with DuckDB ...\n`);
    await writeBenchFile(file, rows);
  }
  const size = (await stat(file)).size / 2 ** 20;
  process.stderr.write(`measuring lemopt ...\n`);
  const lemopt = await child('lemopt', file);
  process.stderr.write(`measuring DuckDB ...\n`);
  const duckdb = await child('duckdb', file);
  const lines = [
    `file: ${rows} rows x 10 categorical columns (+ label), ${size.toFixed(0)} MiB, ${file}`,
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
    '',
    '| phase | rows | seconds | rows/s | peak RSS MiB |',
    '|---|---|---|---|---|',
    ...[...lemopt, ...duckdb].map(
      (m) =>
        `| ${m.phase} | ${m.rows} | ${m.seconds.toFixed(2)} | ${Math.round(m.rows / m.seconds).toLocaleString('en-US')} | ${Math.round(m.maxRssMiB)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
