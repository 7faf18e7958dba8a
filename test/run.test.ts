/** `lemopt run` end to end on a small generated dataset: manifest, budgets, outputs, resume. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { RunConfig } from '../src/config/schema.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { readManifest, validateManifest } from '../src/experiment/manifest.js';
import { runSelection } from '../src/experiment/run.js';
import { summary } from '../src/cli/commands/run.js';
import type { DidNotFitEntry, Manifest } from '../src/experiment/manifest.js';
import { makeManifest, manifestConfig } from './support/manifest.js';
import { LemoptError } from '../src/util/errors.js';
import { dataSection, FIXED_LATENCY, SMALL_FEATURES, SMALL_MODEL } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

let tmp: TempDir;

/** `latency`: a selection.latency entry; empty, the run calibrates. */
function config(
  budgets: string,
  output: string,
  unit = 'group',
  groups = '',
  latency = FIXED_LATENCY,
): RunConfig {
  const yaml = `
${dataSection()}
${SMALL_FEATURES}
${groups}
${SMALL_MODEL}
train: { batch_size: 256, epochs: 1, seed: 3 }
selection:
  unit: ${unit}
  budgets: ${budgets}
  min_steps_per_round: 10
  ${latency}
output: { dir: ${output} }
`;
  return parseConfig(yaml, tmp.file('config.yaml')).config;
}

const SUMMARY_CONFIG = `data: { source: events.csv, label: { column: clicked } }
features:
  - { name: [user_id], tower: user }
  - { name: [item_id, genre], tower: item }
selection: { budgets: { memory: 1MB } }
`;

/** The folders of the stages that train, which a run refused up front never makes. */
const STAGES = ['full', 'selection', 'selected'];

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-run-');
  await generateSynthetic({ outDir: tmp.file('data'), rows: 12_000, seed: 5 });
});
afterAll(() => tmp.remove());

describe('lemopt run', () => {
  it('writes a valid manifest within both budgets, with its trace and models, and resumes finished stages', async () => {
    const cfg = config('{ memory: 30%, latency_us: 90% }', 'runs/a', 'block');
    const result = await runSelection(cfg);
    const manifest = validateManifest(await readManifest(tmp.file('runs/a/manifest.json')), 'manifest.json');
    const { budgets, cost } = manifest;
    expect(budgets.memory_bytes).toBeCloseTo(0.3 * cost.full.predicted.memory_bytes, 6);
    expect(budgets.latency_us).toBeCloseTo(0.9 * cost.full.predicted.latency_us!, 6);
    expect(cost.selected.predicted.memory_bytes).toBeLessThanOrEqual(budgets.memory_bytes!);
    expect(cost.selected.predicted.latency_us!).toBeLessThanOrEqual(budgets.latency_us!);
    expect(manifest.kept.length).toBeGreaterThan(0);
    expect(manifest.kept.length + manifest.dropped.length).toBe(8);
    expect(cost.selected.measured.latency_us).toBeGreaterThan(0);
    // Kept dims add up to the blocks picked.
    const picked = new Map<string, number>();
    for (const step of manifest.selection_order) picked.set(step.group, (picked.get(step.group) ?? 0) + 4);
    for (const group of manifest.kept) expect(group.dim).toBe(picked.get(group.group));
    const trace = (await readFile(tmp.file('runs/a/selection/trace.jsonl'), 'utf8')).trim().split('\n');
    const rounds = trace.map(
      (line) => JSON.parse(line) as { weights: Record<string, number>; picks: unknown[] },
    );
    expect(rounds.flatMap((round) => round.picks)).toHaveLength(manifest.selection_order.length);
    expect(Object.keys(rounds[0].weights)).toHaveLength(16);
    for (const stage of ['full', 'selected'])
      expect((await stat(tmp.file(`runs/a/${stage}/model.ckpt`))).size).toBeGreaterThan(0);
    expect(result.manifest.kept).toEqual(manifest.kept);
    expect(new Set(manifest.kept.map((group) => group.tower))).toEqual(new Set(['user', 'item']));
    // Why it stopped, what it left unused, and what ranked above a pick but did not fit.
    expect(manifest.stopped?.reason).toBe('budget_full');
    expect(manifest.stopped?.unused_budget.memory_bytes).toBeCloseTo(
      budgets.memory_bytes! - cost.selected.predicted.memory_bytes,
      6,
    );
    expect(manifest.stopped?.unused_budget.latency_us).toBeCloseTo(
      budgets.latency_us! - cost.selected.predicted.latency_us!,
      6,
    );
    const didNotFit = manifest.did_not_fit!;
    expect(didNotFit.length).toBeGreaterThan(0);
    for (const entry of didNotFit) {
      expect(entry.rounds).toContain(entry.round);
      const memoryOver = entry.cost.memory_bytes > entry.budget_left.memory_bytes!;
      const latencyOver = entry.cost.latency_us! > entry.budget_left.latency_us!;
      expect(entry.blocked_by, entry.candidate).toBe(
        memoryOver && latencyOver
          ? 'memory_and_latency'
          : memoryOver
            ? 'memory'
            : latencyOver
              ? 'latency'
              : 'other_tower',
      );
    }
    expect(didNotFit.map((entry) => entry.weight)).toEqual(
      [...didNotFit.map((entry) => entry.weight)].sort((a, b) => b - a),
    );
    const text = summary(manifest, 'runs/a');
    expect(text).toContain('\nstopped: nothing left fits the budgets (unused: memory ');
    expect(text).toContain(`\ndid not fit (ranked above a pick):\n  ${didNotFit[0].candidate} (weight `);

    const log: string[] = [];
    const again = await runSelection(cfg, { log: (line) => log.push(line) });
    expect(log.filter((line) => line.includes('reusing'))).toHaveLength(3);
    expect(again.manifest.kept).toEqual(manifest.kept);
    expect(again.manifest.metrics).toEqual(manifest.metrics);
  });

  it('summarises what did not fit: weight, cost, budget left and the forms that fit', () => {
    const manifest = makeManifest(manifestConfig(SUMMARY_CONFIG), { kept: { user_id: 16, genre: 16 } });
    const entry = (candidate: string, changes: Partial<DidNotFitEntry>): DidNotFitEntry => ({
      candidate,
      group: candidate,
      block: null,
      tower: 'item',
      weight: 0.41,
      round: 3,
      rounds: [2, 3],
      cost: { memory_bytes: 320_000, latency_us: null },
      budget_left: { memory_bytes: 128_000, latency_us: null },
      blocked_by: 'memory',
      fits_with_fewer_dims: null,
      fits_as_int8: null,
      ...changes,
    });
    const withDiagnostics: Manifest = {
      ...manifest,
      stopped: { reason: 'max_candidates', unused_budget: { memory_bytes: 2000, latency_us: null } },
      did_not_fit: [
        entry('item_id', {
          fits_with_fewer_dims: { dim: 4, dtype: 'fp32', memory_bytes: 80_000, latency_us: null },
          fits_as_int8: { dim: 16, dtype: 'int8', memory_bytes: 100_000, latency_us: null },
        }),
        entry('user_id', { tower: 'user', weight: 0.2, round: 0, rounds: [0], blocked_by: 'other_tower' }),
      ],
    };
    const lines = summary(withDiagnostics, 'runs/x').split('\n');
    const at = lines.indexOf('did not fit (ranked above a pick):');
    expect(lines.slice(at, at + 3)).toEqual([
      'did not fit (ranked above a pick):',
      '  item_id (weight 0.410 in round 3, 320 KB; memory 128 KB left): fits at 4 dims (80.0 KB) or as int8 at 16 dims (100 KB)',
      '  user_id (weight 0.200, 320 KB; it would leave no room for the other tower): no smaller form fits',
    ]);
    expect(lines).toContain('stopped: selection.max_candidates reached (unused: memory 2.00 KB)');
  });

  it('resumes a selection killed mid-round and ends with the same picks and metrics', async () => {
    const budgets = '{ memory: 30%, latency_us: 90% }';
    const uninterrupted = await runSelection(config(budgets, 'runs/whole', 'block'));
    const killed = config(budgets, 'runs/killed', 'block');
    const kill = new Error('killed');
    await expect(
      runSelection(killed, {
        onProgress: (stage, done) => {
          if (stage === 'selection' && done === 25) throw kill;
        },
      }),
    ).rejects.toBe(kill);
    // Rounds finished before the kill are in the checkpoint.
    expect((await stat(tmp.file('runs/killed/selection/checkpoint.ckpt'))).size).toBeGreaterThan(0);
    const resumed = await runSelection(killed);
    expect(resumed.manifest.selection_order).toEqual(uninterrupted.manifest.selection_order);
    expect(resumed.manifest.metrics).toEqual(uninterrupted.manifest.metrics);
    const trace = await readFile(tmp.file('runs/killed/selection/trace.jsonl'), 'utf8');
    expect(trace).toBe(await readFile(tmp.file('runs/whole/selection/trace.jsonl'), 'utf8'));
    await expect(stat(tmp.file('runs/killed/selection/checkpoint.ckpt'))).rejects.toThrow();
  });

  it('resumes a selection whose gates learn from valid batches (selection.gate_data: valid) to the same picks', async () => {
    const budgets = '{ memory: 30%, latency_us: 90% }';
    const held = (output: string): RunConfig => {
      const base = config(budgets, output, 'block');
      return { ...base, selection: { ...base.selection, gate_data: 'valid' } };
    };
    const uninterrupted = await runSelection(held('runs/whole'));
    expect(uninterrupted.manifest.selection_order.length).toBeGreaterThan(1);
    const kill = new Error('killed');
    await expect(
      runSelection(held('runs/killed'), {
        onProgress: (stage, done) => {
          if (stage === 'selection' && done === 25) throw kill;
        },
      }),
    ).rejects.toBe(kill);
    const resumed = await runSelection(held('runs/killed'));
    expect(resumed.manifest.selection_order).toEqual(uninterrupted.manifest.selection_order);
    expect(resumed.manifest.metrics).toEqual(uninterrupted.manifest.metrics);
  });

  it("caps a group at its configured dim: fewer block candidates, and the full model's cost at that dim", async () => {
    const groups = 'groups: [{ name: place, features: [u_region, u_occupation], dim: 4 }]';
    const result = await runSelection(config('{ memory: 50% }', 'runs/capped', 'block', groups));
    const manifest = result.manifest;
    const trace = (await readFile(tmp.file('runs/capped/selection/trace.jsonl'), 'utf8')).split('\n')[0];
    const names = Object.keys((JSON.parse(trace) as { weights: Record<string, number> }).weights);
    // 6 other groups x 2 blocks of 4 dims, and 1 block for the capped group.
    expect(names).toHaveLength(13);
    expect(names.filter((name) => name.startsWith('place#'))).toEqual(['place#0']);
    const place = [...manifest.kept, ...manifest.dropped].find((group) => group.group === 'place')!;
    expect('dim' in place ? place.dim : place.full_dim).toBe(4);
    // The full model's memory counts the capped group at 4 dims: 2 features' rows x 4 x 4 bytes.
    const rows = place.vocabulary_size;
    const others = [...manifest.kept, ...manifest.dropped].filter((group) => group.group !== 'place');
    const othersFull = others.reduce((sum, group) => sum + group.vocabulary_size * 8 * 4, 0);
    expect(manifest.cost.full.predicted.memory_bytes).toBe(othersFull + rows * 4 * 4);
  });

  it('fails on a memory budget nothing fits before calibrating or training, naming the cheapest candidate', async () => {
    // No latency coefficients: reaching the latency model would calibrate (latency.json).
    // u_browser: 5 values + missing + OOV = 7 rows x 8 dims x 4 bytes.
    await expect(runSelection(config('{ memory: 10B }', 'runs/b', 'group', '', ''))).rejects.toThrow(
      new LemoptError(
        "selection.budgets: nothing fits memory 10 B: the cheapest candidate 'u_browser' costs 224 B",
      ),
    );
    const entries = await readdir(tmp.file('runs/b'));
    expect(entries).not.toContain('latency.json');
    expect(entries.filter((entry) => STAGES.includes(entry))).toEqual([]);
  });

  it('fails on a latency budget nothing fits before training, naming the cheapest candidate', async () => {
    // The fixed coefficients: the model without embeddings takes 1.01 µs per example, with
    // one group 1.30 µs (+ 0.2 for the lookup, 0.08 for 8 dims, and the first layer's multiply-adds).
    await expect(runSelection(config('{ latency_us: 1.2 }', 'runs/slow'))).rejects.toThrow(
      new LemoptError(
        "selection.budgets: nothing fits latency 1.20 µs/example: the cheapest candidate 'u_region' " +
          'costs 576 B, 1.30 µs/example',
      ),
    );
    const entries = await readdir(tmp.file('runs/slow'));
    expect(entries.filter((entry) => STAGES.includes(entry))).toEqual([]);
  });
});
