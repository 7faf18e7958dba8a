/**
 * Dense-model benchmark: milliseconds per train step of the two-tower dense part
 * (gates, towers, loss, Adam, input gradients read back) on batch 1024, with tfjs's
 * stock matMul gradients ("stock") and with lemopt's explicit-transpose gradients
 * ("explicit", src/model/ops.ts), on each backend; then a per-kernel profile.
 *
 *   npm run build && node dist/bench/dense.js [--backends wasm,cpu] [--steps 30]
 *     [--towers 64-32,128-64-32] [--objectives binary,sampled_softmax] [--no-profile]
 *
 * Inputs: 8 groups x 16 dimensions per tower (128 columns each), 16 candidates, gates
 * in mode 'attention' (the selection rounds; 'ones' skips the gate expansion). Each
 * timed step is one `TwoTowerModel.step` call on a fixed random batch; the table shows
 * the median step and examples per second (batch / median step).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, selectBackend, type BackendName } from '../src/model/backend.js';
import { tfjsEngine } from '../src/model/tfjs/engine.js';
import { TwoTowerModel, type Batch, type Objective } from '../src/model/two-tower.js';
import { Random } from '../src/util/random.js';

const BATCH = 1024;
const GROUPS = 8;
const DIMS = 16;

interface Row {
  backend: string;
  towers: string;
  objective: Objective;
  gradients: 'stock' | 'explicit';
  medianMs: number;
  minMs: number;
}

function makeBatch(seed: number): Batch {
  const random = new Random(seed, 'bench');
  const width = GROUPS * DIMS;
  const fill = (n: number) => Float32Array.from({ length: n }, () => random.normal() * 0.1);
  return {
    size: BATCH,
    user: fill(BATCH * width),
    item: fill(BATCH * width),
    labels: Float32Array.from({ length: BATCH }, () => (random.next() < 0.3 ? 1 : 0)),
    itemFrequency: Float32Array.from({ length: BATCH }, () => 1e-4 + random.next() * 1e-3),
  };
}

function makeModel(towers: number[], objective: Objective, explicit: boolean): TwoTowerModel {
  const width = GROUPS * DIMS;
  const model = new TwoTowerModel({
    userColumnCandidate: Int32Array.from({ length: width }, (_, i) => Math.floor(i / DIMS)),
    itemColumnCandidate: Int32Array.from({ length: width }, (_, i) => GROUPS + Math.floor(i / DIMS)),
    numCandidates: 2 * GROUPS,
    userTower: towers,
    itemTower: towers,
    objective,
    optimizer: 'adam',
    seed: 1,
    engine: tfjsEngine({ explicitTranspose: explicit }),
  });
  model.gateMode = 'attention';
  model.selected = Array.from({ length: 2 * GROUPS }, (_, c) => c % 4 === 0);
  return model;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

function timeSteps(model: TwoTowerModel, batch: Batch, steps: number): number[] {
  for (let i = 0; i < 3; i++) model.step(batch);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    model.step(batch);
    times.push(performance.now() - start);
  }
  return times;
}

interface KernelTotal {
  name: string;
  ms: number;
  calls: number;
}

/**
 * Kernel time per step (mean of `steps` profiled steps), summed per kernel name and per
 * (name, input shapes). Only registered kernels count: tf.profile also lists composite
 * ops with a custom gradient (`forward`, `fusedMatMul__op`) around the kernels they run.
 */
async function profileSteps(
  model: TwoTowerModel,
  batch: Batch,
  steps: number,
): Promise<{ wallMs: number; kernelMs: number; byName: KernelTotal[]; byShape: KernelTotal[] }> {
  model.step(batch);
  const start = performance.now();
  const info = await tf.profile(() => {
    for (let i = 0; i < steps; i++) model.step(batch);
  });
  const wallMs = (performance.now() - start) / steps;
  const backendName = tf.getBackend();
  const byName = new Map<string, KernelTotal>();
  const byShape = new Map<string, KernelTotal>();
  let kernelMs = 0;
  for (const kernel of info.kernels) {
    if (tf.getKernel(kernel.name, backendName) === undefined) continue;
    const timed = await kernel.kernelTimeMs;
    if (typeof timed !== 'number') continue;
    const ms = timed / steps;
    kernelMs += ms;
    const shape = `${kernel.name} ${kernel.inputShapes.map((s) => (s ? `[${s.join('x')}]` : '-')).join(' ')}`;
    for (const [map, key] of [
      [byName, kernel.name],
      [byShape, shape],
    ] as const) {
      const total = map.get(key) ?? { name: key, ms: 0, calls: 0 };
      total.ms += ms;
      total.calls += 1 / steps;
      map.set(key, total);
    }
  }
  const sorted = (map: Map<string, KernelTotal>) => [...map.values()].sort((a, b) => b.ms - a.ms);
  return { wallMs, kernelMs, byName: sorted(byName), byShape: sorted(byShape) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backends: { type: 'string', default: 'wasm,cpu' },
      steps: { type: 'string', default: '30' },
      towers: { type: 'string', default: '64-32,128-64-32' },
      objectives: { type: 'string', default: 'binary,sampled_softmax' },
      'no-profile': { type: 'boolean', default: false },
    },
  });
  const backends = values.backends.split(',') as BackendName[];
  const towerList = values.towers.split(',').map((t) => t.split('-').map(Number));
  const objectives = values.objectives.split(',') as Objective[];
  const batch = makeBatch(7);
  const rows: Row[] = [];
  console.log(
    `batch ${BATCH}, inputs ${GROUPS} groups x ${DIMS} dims per tower, Adam, gates in 'attention' mode`,
  );
  for (const backend of backends) {
    console.log(describeBackend(await selectBackend({ flag: backend })));
    // The cpu backend is ~30x slower: fewer steps keep the run short.
    const steps =
      backend === 'cpu' ? Math.max(3, Math.round(Number(values.steps) / 6)) : Number(values.steps);
    for (const towers of towerList) {
      for (const objective of objectives) {
        for (const explicit of [false, true]) {
          const model = makeModel(towers, objective, explicit);
          const times = timeSteps(model, batch, steps);
          model.dispose();
          const row: Row = {
            backend,
            towers: towers.join('-'),
            objective,
            gradients: explicit ? 'explicit' : 'stock',
            medianMs: median(times),
            minMs: Math.min(...times),
          };
          rows.push(row);
          console.log(
            `  ${row.towers.padEnd(10)} ${objective.padEnd(15)} ${row.gradients.padEnd(8)} ` +
              `median ${row.medianMs.toFixed(1).padStart(7)} ms  min ${row.minMs.toFixed(1).padStart(7)} ms  ` +
              `${Math.round((BATCH / row.medianMs) * 1000)
                .toString()
                .padStart(7)} examples/s`,
          );
        }
      }
    }
    if (!values['no-profile']) {
      for (const objective of objectives) {
        for (const explicit of [false, true]) {
          const model = makeModel(towerList[towerList.length - 1], objective, explicit);
          const profile = await profileSteps(model, batch, backend === 'cpu' ? 2 : 10);
          model.dispose();
          console.log(
            `\n  profile ${backend} ${towerList[towerList.length - 1].join('-')} ${objective} ` +
              `${explicit ? 'explicit' : 'stock'}: step ${profile.wallMs.toFixed(1)} ms under tf.profile, ` +
              `kernels ${profile.kernelMs.toFixed(1)} ms`,
          );
          console.log(
            '    by kernel: ' +
              profile.byName
                .slice(0, 8)
                .map((k) => `${k.name} ${k.ms.toFixed(2)} ms (${Math.round(k.calls)})`)
                .join(', '),
          );
          for (const k of profile.byShape.slice(0, 12)) {
            console.log(`    ${k.ms.toFixed(2).padStart(7)} ms  ${Math.round(k.calls)}x ${k.name}`);
          }
        }
      }
    }
  }
  console.log('\n| backend | towers | objective | gradients | median ms/step | examples/s |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.backend} | ${row.towers} | ${row.objective} | ${row.gradients} | ${row.medianMs.toFixed(1)} | ` +
        `${Math.round((BATCH / row.medianMs) * 1000)} |`,
    );
  }
}

await main();
