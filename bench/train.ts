/**
 * Training throughput benchmark (issue 3): examples per second of full train steps of the
 * reference two-tower model, lemopt on each tfjs backend against the same model in PyTorch
 * on the same machine in the same run; then the embedding engine alone against
 * torch.nn.EmbeddingBag + SparseAdam; then where a lemopt step spends its time.
 *
 *   npm run build && npm run bench:train [-- --backends onnxruntime,wasm] [-- --seconds 4]
 *     [-- --cpu-steps 20] [-- --torch-seconds 2] [-- --threads 1,2] [-- --no-torch]
 *     [-- --torch-configs refblas,openblas,openblas+malloc] [-- --python /usr/bin/python3]
 *
 * Model: 8 single-valued categorical groups per tower, vocabularies 10 .. 100k, Zipf(1.05)
 * ids (id = popularity rank), dim 16, towers 64-32 (ReLU, last layer linear), dot-product
 * score, binary cross-entropy on Bernoulli(0.5) labels, batch 1024. Embeddings: lazy Adam
 * with SparseAdam's per-table bias correction (`adamStep: 'global'`), or row-wise Adagrad;
 * dense weights (and gate logits): Adam. Variants: plain (gates mode 'ones') and gated
 * (mode 'attention', no candidate selected: every group's block scaled by the softmax of
 * 16 logits, the Sequential Attention configuration). Each step is the trainer's:
 * store.forward -> model.step -> store.backward -> store.update, on batches generated in
 * memory before timing (no file I/O); warm-up steps are not timed, and a throwaway model
 * is trained first on each backend (the peer does the same).
 *
 * The PyTorch peer (bench/torch_two_tower.py, Debian's python3-torch under /usr/bin/python3)
 * gets the same sizes and runs after lemopt, never at the same time: one process per
 * thread count (torch.set_num_threads and OMP_NUM_THREADS; OpenBLAS's own pool at 1) and
 * per configuration (--torch-configs): the reference BLAS python3-torch installs with,
 * OpenBLAS, and OpenBLAS with glibc malloc's mmap/trim thresholds raised (PeerConfig).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../src/data/batcher.js';
import type { EncodedFeature } from '../src/data/encoder.js';
import { resolveFeatureLayout, type FeatureLayout } from '../src/data/features.js';
import { AliasTable } from '../src/data/synthetic/world.js';
import { measureGemmFloor } from './gemm-floor.js';
import { measureTrainCommand } from './train-command.js';
import { embeddingSpec } from '../src/embedding/layout.js';
import type { SparseOptimizerConfig } from '../src/embedding/optimizers.js';
import { EmbeddingStore } from '../src/embedding/store.js';
import { describeBackend, selectBackend, type BackendName } from '../src/model/backend.js';
import { TwoTowerModel } from '../src/model/two-tower.js';
import { Random } from '../src/util/random.js';

const VOCABULARIES = [10, 100, 1_000, 5_000, 10_000, 30_000, 60_000, 100_000];
const DIM = 16;
const TOWERS = [64, 32];
const BATCH = 1024;
const ZIPF_EXPONENT = 1.05;
const DENSE_LEARNING_RATE = 0.001;
const PREPARED_BATCHES = 16;
const INSTALL_HINT = 'apt-get update && apt-get install -y python3-torch (installs for /usr/bin/python3)';

const thisFile = fileURLToPath(import.meta.url);
/** From dist/bench/train.js or bench/train.ts, the repository's bench folder. */
const benchSources = [path.resolve(path.dirname(thisFile), '../../bench'), path.dirname(thisFile)];

type ModelKind = 'plain' | 'gated';
type EmbeddingOptimizer = 'adam' | 'adagrad';

interface Variant {
  readonly model: ModelKind;
  readonly optimizer: EmbeddingOptimizer;
}

const VARIANTS: readonly Variant[] = [
  { model: 'plain', optimizer: 'adam' },
  { model: 'plain', optimizer: 'adagrad' },
  { model: 'gated', optimizer: 'adam' },
  { model: 'gated', optimizer: 'adagrad' },
];

const EMBEDDING_OPTIMIZERS: Record<EmbeddingOptimizer, SparseOptimizerConfig> = {
  adam: { kind: 'adam', learningRate: 0.001, adamStep: 'global' },
  adagrad: { kind: 'adagrad', learningRate: 0.05 },
};

/** The torch variant each lemopt variant is compared with (same model, closest optimizer). */
const TORCH_PEER: Record<EmbeddingOptimizer, string> = { adam: 'sparse_adam', adagrad: 'adagrad' };
/** Mean milliseconds per timed step in each phase of the trainer's step. */
interface Phases {
  forward: number;
  step: number;
  backward: number;
  update: number;
}

/** An engine and the embedding engine's thread count: one column of the tables. */
interface Setup {
  readonly backend: BackendName;
  readonly threads: number;
}

const setupName = (setup: Setup): string => `${setup.backend} ${setup.threads}t`;

interface LemoptResult {
  readonly backend: BackendName;
  /** Threads of the embedding engine. */
  readonly threads: number;
  readonly variant: Variant;
  readonly steps: number;
  readonly seconds: number;
  readonly examplesPerSecond: number;
  readonly phases: Phases;
  readonly finalLoss: number;
}

interface TorchTiming {
  readonly steps: number;
  readonly seconds: number;
  readonly examples_per_second?: number;
  readonly rows_per_second?: number;
}

/** What bench/torch_two_tower.py prints (one process, one thread count). */
interface TorchResults {
  readonly error?: string;
  readonly torch?: string;
  readonly python?: string;
  readonly lookup?: string;
  /** BLAS/LAPACK libraries the process loaded. */
  readonly libraries?: readonly string[];
  /** variant ("plain/sparse_adam") -> threads ("1") -> timing. */
  readonly train?: Record<string, Record<string, TorchTiming>>;
  /** "sparse_adam" | "adagrad" -> threads -> timing. */
  readonly embedding?: Record<string, Record<string, TorchTiming>>;
}

/**
 * How the PyTorch process runs. Debian's python3-torch links the BLAS chosen by
 * update-alternatives; it pulls in the reference BLAS (libblas3), in which the towers'
 * matrix products take most of a torch step, so OpenBLAS is measured too, chosen per
 * process with LD_LIBRARY_PATH. `malloc`: glibc's mmap and trim thresholds fixed high,
 * so the step's temporaries are not mapped and unmapped on every step (see the script).
 */
interface PeerConfig {
  readonly name: string;
  readonly label: string;
  /** Library folders put first on LD_LIBRARY_PATH (none: the system's choice). */
  readonly dirs: readonly string[];
  readonly malloc: boolean;
  /** How to get it when a folder is missing. */
  readonly install?: string;
}

interface PeerRun {
  readonly config: PeerConfig;
  readonly threads: string;
  readonly result: TorchResults;
}

const MULTIARCH: string =
  { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch as string] ?? '';
const PEER_CONFIGS: readonly PeerConfig[] = [
  {
    name: 'refblas',
    label: 'reference BLAS (libblas3 + liblapack3, what `apt-get install python3-torch` pulls in)',
    dirs: [`/usr/lib/${MULTIARCH}/blas`, `/usr/lib/${MULTIARCH}/lapack`],
    malloc: false,
  },
  {
    name: 'openblas',
    label: 'OpenBLAS (libopenblas0-pthread)',
    dirs: [`/usr/lib/${MULTIARCH}/openblas-pthread`],
    malloc: false,
    install: 'apt-get install -y libopenblas0-pthread',
  },
  {
    name: 'openblas+malloc',
    label: 'OpenBLAS, MALLOC_MMAP_THRESHOLD_=32 MiB, MALLOC_TRIM_THRESHOLD_=1 GiB',
    dirs: [`/usr/lib/${MULTIARCH}/openblas-pthread`],
    malloc: true,
    install: 'apt-get install -y libopenblas0-pthread',
  },
];
const SYSTEM_PEER: PeerConfig = { name: 'system', label: "the system's BLAS", dirs: [], malloc: false };

interface EmbeddingBenchResult {
  readonly scenario: string;
  readonly optimizer: string;
  readonly threads: number;
  readonly rowsPerSecond: number;
}

function benchLayout(): FeatureLayout {
  const features = (['user', 'item'] as const).flatMap((tower) =>
    VOCABULARIES.map((_, g) => ({
      name: `${tower}_${g}`,
      tower,
      type: 'categorical' as const,
      min_count: 1,
      hash_buckets: 0,
      delimiter: '|',
      pooling: 'mean' as const,
      buckets: 10,
    })),
  );
  return resolveFeatureLayout({ features, groups: [] });
}

/** Batches of Zipf-ranked ids (one per row and feature) and Bernoulli(0.5) labels. */
function makeBatches(layout: FeatureLayout, seed: number): Batch[] {
  const random = new Random(seed, 'bench-train');
  const samplers = VOCABULARIES.map(
    (n) => new AliasTable(Float64Array.from({ length: n }, (_, k) => Math.pow(k + 1, -ZIPF_EXPONENT))),
  );
  return Array.from({ length: PREPARED_BATCHES }, () => {
    const features = layout.features.map((_, f): EncodedFeature => {
      const sampler = samplers[f % VOCABULARIES.length];
      const ids = new Int32Array(BATCH);
      for (let r = 0; r < BATCH; r++) ids[r] = sampler.sample(random);
      return { ids };
    });
    const labels = Float32Array.from({ length: BATCH }, () => (random.next() < 0.5 ? 1 : 0));
    return { numRows: BATCH, features, labels };
  });
}

function vocabularySizes(layout: FeatureLayout): Map<string, number> {
  return new Map(layout.features.map((feature, f) => [feature.name, VOCABULARIES[f % VOCABULARIES.length]]));
}

/** Warm-up, then timed train steps until `seconds` have passed or `maxSteps` are done. */
async function measureLemopt(
  { backend, threads }: Setup,
  variant: Variant,
  layout: FeatureLayout,
  batches: readonly Batch[],
  limits: { warmup: number; seconds: number; maxSteps: number },
): Promise<LemoptResult> {
  const store = new EmbeddingStore({
    spec: embeddingSpec(layout, vocabularySizes(layout), DIM, DIM),
    optimizer: EMBEDDING_OPTIMIZERS[variant.optimizer],
    seed: 0,
    threads,
  });
  await store.ready();
  const model = new TwoTowerModel({
    userColumnCandidate: store.columns('user').columnTable,
    itemColumnCandidate: store.columns('item').columnTable,
    numCandidates: store.spec.tables.length,
    userTower: TOWERS,
    itemTower: TOWERS,
    objective: 'binary',
    optimizer: 'adam',
    learningRate: DENSE_LEARNING_RATE,
    seed: 1,
  });
  // No candidate selected: every gate is the softmax over all 16 logits.
  model.gateMode = variant.model === 'gated' ? 'attention' : 'ones';
  const phases: Phases = { forward: 0, step: 0, backward: 0, update: 0 };
  let loss = NaN;
  const trainStep = (batch: Batch, timed: boolean): void => {
    const t0 = performance.now();
    const inputs = store.forward(batch);
    const t1 = performance.now();
    const result = model.step({
      size: batch.numRows,
      user: inputs.user,
      item: inputs.item,
      labels: batch.labels,
    });
    const t2 = performance.now();
    store.backward(batch, result.userGrad, result.itemGrad);
    const t3 = performance.now();
    store.update();
    const t4 = performance.now();
    loss = result.loss;
    if (timed) {
      phases.forward += t1 - t0;
      phases.step += t2 - t1;
      phases.backward += t3 - t2;
      phases.update += t4 - t3;
    }
  };
  try {
    for (let i = 0; i < limits.warmup; i++) trainStep(batches[i % batches.length], false);
    const start = performance.now();
    const end = start + limits.seconds * 1000;
    let steps = 0;
    while (steps < limits.maxSteps) {
      trainStep(batches[(limits.warmup + steps) % batches.length], true);
      steps++;
      if (performance.now() >= end) break;
    }
    const seconds = (performance.now() - start) / 1000;
    for (const key of Object.keys(phases) as (keyof Phases)[]) phases[key] /= steps;
    return {
      backend,
      threads,
      variant,
      steps,
      seconds,
      examplesPerSecond: (steps * BATCH) / seconds,
      phases,
      finalLoss: loss,
    };
  } finally {
    model.dispose();
    store.dispose();
  }
}

/** Runs a child process; resolves with its stdout (stderr goes to ours), or rejects. */
function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}`));
    });
  });
}

function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

/** One PyTorch process: one configuration, one thread count. */
async function runTorch(
  python: string,
  config: PeerConfig,
  threads: string,
  seconds: number,
): Promise<TorchResults> {
  const script = benchSources
    .map((dir) => path.join(dir, 'torch_two_tower.py'))
    .find((file) => existsSync(file));
  if (script === undefined) return { error: 'bench/torch_two_tower.py not found' };
  // OpenBLAS's own thread pool stays at 1: beside torch's 2 OpenMP threads, 2 more OpenBLAS
  // threads on 2 cores made a step about 4x slower (31k vs 128k examples/s measured here).
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: '1' };
  delete env.MALLOC_MMAP_THRESHOLD_;
  delete env.MALLOC_TRIM_THRESHOLD_;
  if (config.dirs.length > 0)
    env.LD_LIBRARY_PATH = [...config.dirs, ...(env.LD_LIBRARY_PATH ? [env.LD_LIBRARY_PATH] : [])].join(':');
  if (config.malloc) {
    env.MALLOC_MMAP_THRESHOLD_ = String(32 * 1024 * 1024);
    env.MALLOC_TRIM_THRESHOLD_ = String(1024 * 1024 * 1024);
  }
  const args = [
    script,
    '--vocabularies',
    VOCABULARIES.join(','),
    '--dim',
    String(DIM),
    '--towers',
    TOWERS.join(','),
    '--batch',
    String(BATCH),
    '--zipf',
    String(ZIPF_EXPONENT),
    '--lr',
    String(DENSE_LEARNING_RATE),
    '--threads',
    threads,
    '--seconds',
    String(seconds),
  ];
  try {
    return lastJsonLine<TorchResults>(await run(python, args, env));
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** The configurations whose library folders exist; the system's BLAS when none does (not Debian). */
function peerConfigs(names: readonly string[]): PeerConfig[] {
  const wanted = PEER_CONFIGS.filter((config) => names.includes(config.name));
  const present = wanted.filter((config) =>
    config.dirs.every((dir) =>
      existsSync(path.join(dir, dir.endsWith('lapack') ? 'liblapack.so.3' : 'libblas.so.3')),
    ),
  );
  for (const config of wanted.filter((c) => !present.includes(c)))
    console.log(
      `  torch peer '${config.name}' skipped: ${config.dirs.join(', ')} missing (${config.install ?? ''})`,
    );
  return present.length > 0 ? present : [SYSTEM_PEER];
}

/** bench/embedding.ts (same tables, Zipf ids and batch), single-valued scenario, Adam with the global step. */
async function runEmbeddingBench(
  seconds: number,
  threads: readonly number[],
): Promise<EmbeddingBenchResult[]> {
  const script = path.join(path.dirname(thisFile), 'embedding.js');
  const stdout = await run(process.execPath, [
    script,
    '--optimizers',
    'adam,adagrad',
    '--adam-step',
    'global',
    '--seconds',
    String(seconds),
    '--batch',
    String(BATCH),
    '--dim',
    String(DIM),
    '--threads',
    threads.join(','),
  ]);
  return lastJsonLine<{ results: EmbeddingBenchResult[] }>(stdout).results.filter(
    (r) => r.scenario === 'single-valued',
  );
}

const thousands = (value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? '-' : Math.round(value).toLocaleString('en-US');
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !(b > 0) ? '-' : `${(a / b).toFixed(2)}x`;
const maximum = (values: readonly (number | undefined)[]): number | undefined => {
  const present = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return present.length === 0 ? undefined : Math.max(...present);
};

function trainRate(peer: PeerRun, variant: string): number | undefined {
  return peer.result.train?.[variant]?.[peer.threads]?.examples_per_second;
}

function embeddingRate(peer: PeerRun, kind: string): number | undefined {
  return peer.result.embedding?.[kind]?.[peer.threads]?.rows_per_second;
}

const peerHead = (peer: PeerRun): string => `torch ${peer.config.name} ${peer.threads}t`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backends: { type: 'string', default: 'onnxruntime,wasm' },
      seconds: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '10' },
      'cpu-steps': { type: 'string', default: '20' },
      'cpu-warmup': { type: 'string', default: '2' },
      'torch-seconds': { type: 'string', default: '2' },
      'torch-configs': { type: 'string', default: PEER_CONFIGS.map((c) => c.name).join(',') },
      'embedding-seconds': { type: 'string', default: '2' },
      threads: { type: 'string', default: '1,2' },
      python: { type: 'string', default: '/usr/bin/python3' },
      'no-torch': { type: 'boolean', default: false },
      'embedding-threads': { type: 'string', default: '2,1' },
      command: { type: 'string', default: 'configs/quickstart.yaml' },
      'no-command': { type: 'boolean', default: false },
    },
  });
  const backends = values.backends.split(',') as BackendName[];
  const threads = values.threads.split(',');
  const embeddingThreads = values['embedding-threads'].split(',').map(Number);
  const layout = benchLayout();
  const batches = makeBatches(layout, 1);
  console.log(
    `two-tower, 8 groups per tower (vocabularies ${VOCABULARIES.join(', ')}), Zipf(${ZIPF_EXPONENT}) ids, ` +
      `dim ${DIM}, towers ${TOWERS.join('-')}, batch ${BATCH}, binary labels; Node ${process.version}`,
  );

  // ---- lemopt, per backend ---------------------------------------------------------
  const results: LemoptResult[] = [];
  const loaded: BackendName[] = [];
  const setups: Setup[] = [];
  for (const backend of backends) {
    try {
      console.log(describeBackend(await selectBackend({ flag: backend })));
    } catch (error) {
      console.log(`${backend}: not available (${error instanceof Error ? error.message : String(error)})`);
      continue;
    }
    loaded.push(backend);
    // The cpu backend runs a step in about a second: a fixed, small number of steps.
    const limits =
      backend === 'cpu'
        ? { warmup: Number(values['cpu-warmup']), seconds: Infinity, maxSteps: Number(values['cpu-steps']) }
        : { warmup: Number(values.warmup), seconds: Number(values.seconds), maxSteps: Infinity };
    // Pre-warm, as the torch peer does: a throwaway model trained for about a second, so
    // the first variant measured does not pay for JIT tiers and memory growth alone.
    for (const threads of embeddingThreads) {
      const setup = { backend, threads };
      setups.push(setup);
      await measureLemopt(setup, VARIANTS[0], layout, batches, {
        ...limits,
        seconds: 1,
        maxSteps: backend === 'cpu' ? 3 : Infinity,
      });
      for (const variant of VARIANTS) {
        const tensors = () => (backend === 'onnxruntime' ? 0 : tf.memory().numTensors);
        const before = tensors();
        const result = await measureLemopt(setup, variant, layout, batches, limits);
        const leaked = tensors() - before;
        results.push(result);
        console.log(
          `  lemopt ${setupName(setup)} ${variant.model} ${variant.optimizer}: ${thousands(result.examplesPerSecond)} examples/s ` +
            `(${result.steps} steps in ${result.seconds.toFixed(1)} s, loss ${result.finalLoss.toFixed(4)}` +
            `${leaked !== 0 ? `, ${leaked} tensors leaked` : ''})`,
        );
      }
    }
  }

  // ---- PyTorch peer, one process per configuration and thread count ------------------
  const peers: PeerRun[] = [];
  let missing: string | undefined = values['no-torch'] ? 'skipped (--no-torch)' : undefined;
  if (missing === undefined) {
    console.log(`PyTorch peer: ${values.python} bench/torch_two_tower.py`);
    outer: for (const config of peerConfigs(values['torch-configs'].split(','))) {
      for (const t of threads) {
        const result = await runTorch(values.python, config, t, Number(values['torch-seconds']));
        if (result.error !== undefined) {
          missing = result.error;
          break outer;
        }
        peers.push({ config, threads: t, result });
      }
    }
  }
  console.log('embedding engine alone: node dist/bench/embedding.js (single-valued scenario)');
  const engine = await runEmbeddingBench(Number(values['embedding-seconds']), embeddingThreads);
  // The command on the first backend that loaded (the fastest asked for).
  const commandBackend = loaded[0];
  if (commandBackend !== undefined) await selectBackend({ flag: commandBackend });
  const command =
    values['no-command'] || commandBackend === undefined
      ? undefined
      : await measureTrainCommand(values.command, Number(values.seconds), commandBackend);
  const floor = loaded.includes('onnxruntime')
    ? measureGemmFloor(BATCH, VOCABULARIES.length * DIM, TOWERS, 2)
    : undefined;

  // ---- report ------------------------------------------------------------------------
  const rate = (setup: Setup, variant: Variant): number | undefined =>
    results.find((r) => r.backend === setup.backend && r.threads === setup.threads && r.variant === variant)
      ?.examplesPerSecond;
  const first = peers[0]?.result;
  console.log(
    `\n### End to end, examples/s${first ? ` (torch ${first.torch}, ${first.lookup}, Python ${first.python})` : ''}\n`,
  );
  const heads = [
    ...setups.map((setup) => `lemopt ${setupName(setup)}`),
    ...peers.map(peerHead),
    'lemopt / best torch',
  ];
  console.log(`| variant | ${heads.join(' | ')} |`);
  console.log(`|---|${heads.map(() => '---|').join('')}`);
  for (const model of ['plain', 'gated'] as const) {
    for (const variant of VARIANTS.filter((v) => v.model === model)) {
      const peer = `${model}/${TORCH_PEER[variant.optimizer]}`;
      const bestLemopt = maximum(setups.map((setup) => rate(setup, variant)));
      const bestPeer = maximum(peers.map((p) => trainRate(p, peer)));
      console.log(
        `| ${model}, ${variant.optimizer} | ${setups.map((setup) => thousands(rate(setup, variant))).join(' | ')} | ` +
          `${peers.map((p) => thousands(trainRate(p, peer))).join(' | ')}${peers.length ? ' | ' : ''}` +
          `${ratio(bestLemopt, bestPeer)} |`,
      );
    }
    const dense = `${model}/dense_adam`;
    console.log(
      `| ${model}, dense Adam (torch only) | ${setups.map(() => '-').join(' | ')} | ` +
        `${peers.map((p) => thousands(trainRate(p, dense))).join(' | ')}${peers.length ? ' | ' : ''}- |`,
    );
  }
  console.log(
    '\nRows: adam = lemopt lazy Adam (adamStep global) / torch SparseAdam; adagrad = lemopt row-wise',
  );
  console.log(
    'Adagrad / torch Adagrad on sparse gradients (element-wise); dense weights Adam on both sides;',
  );
  console.log('dense Adam = torch embeddings with dense gradients, one Adam over all weights. Columns:');
  for (const peer of peers.filter((p) => p.threads === threads[0]))
    console.log(
      `  torch ${peer.config.name}: ${peer.config.label}; loaded ${(peer.result.libraries ?? []).join(', ')}`,
    );
  if (missing !== undefined) {
    console.log(`\nPyTorch peer missing: ${missing}. Install it with: ${INSTALL_HINT}`);
  } else {
    console.log(
      '\nAgainst the best PyTorch variant of the same model (any optimizer, configuration, threads):',
    );
    for (const model of ['plain', 'gated'] as const) {
      const best = peers
        .flatMap((peer) =>
          Object.keys(peer.result.train ?? {})
            .filter((v) => v.startsWith(`${model}/`))
            .map((v) => ({ name: `${v}, ${peerHead(peer)}`, rate: trainRate(peer, v) ?? 0 })),
        )
        .sort((a, b) => b.rate - a.rate)[0];
      const mine = results
        .filter((r) => r.variant.model === model)
        .sort((a, b) => b.examplesPerSecond - a.examplesPerSecond)[0];
      if (best === undefined || mine === undefined) continue;
      console.log(
        `  ${model}: lemopt best ${thousands(mine.examplesPerSecond)} (${setupName(mine)}, ${mine.variant.optimizer}) ` +
          `vs torch best ${thousands(best.rate)} (${best.name}): ${ratio(mine.examplesPerSecond, best.rate)} ` +
          '(target >= 1.00x)',
      );
    }
  }

  console.log('\n### Embedding engine alone (lookup + backward + optimizer step), rows/s\n');
  const engineHeads = [
    ...embeddingThreads.map((t) => `lemopt EmbeddingStore ${t}t`),
    ...peers.map(peerHead),
    'lemopt / best torch',
  ];
  console.log(`| optimizer | ${engineHeads.join(' | ')} |`);
  console.log(`|---|${engineHeads.map(() => '---|').join('')}`);
  for (const [mine, theirs, label] of [
    ['adam', 'sparse_adam', 'lazy Adam (global step) / EmbeddingBag + SparseAdam'],
    ['adagrad', 'adagrad', 'row-wise Adagrad / EmbeddingBag + Adagrad (element-wise)'],
  ] as const) {
    const lemopt = embeddingThreads.map(
      (t) => engine.find((r) => r.optimizer === mine && r.threads === t)?.rowsPerSecond,
    );
    const torchRates = peers.map((p) => embeddingRate(p, theirs));
    console.log(
      `| ${label} | ${lemopt.map(thousands).join(' | ')} | ${torchRates.map(thousands).join(' | ')}` +
        `${peers.length ? ' | ' : ''}${ratio(maximum(lemopt), maximum(torchRates))} |`,
    );
  }

  if (floor) {
    const bound = (BATCH / floor.msPerStep) * 1000;
    const best = maximum(results.map((r) => r.examplesPerSecond)) ?? 0;
    console.log("\n### Physical bound: the step's matrix products alone (ONNX Runtime, one core)\n");
    console.log(
      `${(floor.macsPerStep / 1e6).toFixed(1)}M multiply-adds per step (both towers, forward and backward) ` +
        `in ${floor.msPerStep.toFixed(2)} ms: ${floor.gmacPerSecond.toFixed(1)} GMAC/s on one core, so at most ` +
        `${thousands(bound)} examples/s for a step that did nothing else; lemopt's best end to end is ` +
        `${thousands(best)} (${((100 * best) / bound).toFixed(0)}% of it).`,
    );
  }

  if (command) {
    console.log(
      `\n### \`lemopt train\` against the step rate of its model (${command.config}, backend ${commandBackend})\n`,
    );
    console.log('| | examples/s | share of the step rate |');
    console.log('|---|---|---|');
    console.log(`| train step alone, 16 batches in memory | ${thousands(command.stepRate)} | 100% |`);
    const share = (rate: number): string => `${((100 * rate) / command.stepRate).toFixed(0)}%`;
    command.epochRates.forEach((rate, i) =>
      console.log(
        `| \`lemopt train\`, fresh run folder, epoch ${i + 1} | ${thousands(rate)} | ${share(rate)} |`,
      ),
    );
    console.log(
      `| \`lemopt train\`, all epochs together | ${thousands(command.overallRate)} | ${share(command.overallRate)} |`,
    );
    console.log(`\nThe command's wall time, process start to exit: ${command.wallSeconds.toFixed(2)} s.`);
  }

  console.log('\n### Where a lemopt step goes (ms per step, mean over the timed steps)\n');
  console.log(
    '| backend | variant | store.forward | model.step | store.backward | store.update | total | model.step share |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const p = r.phases;
    const total = p.forward + p.step + p.backward + p.update;
    console.log(
      `| ${setupName(r)} | ${r.variant.model}, ${r.variant.optimizer} | ${p.forward.toFixed(2)} | ${p.step.toFixed(2)} | ` +
        `${p.backward.toFixed(2)} | ${p.update.toFixed(2)} | ${total.toFixed(2)} | ${((p.step / total) * 100).toFixed(0)}% |`,
    );
  }
  console.log(JSON.stringify({ lemopt: results, torch: peers, engine, floor, command }));
}

await main();
