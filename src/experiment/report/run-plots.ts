/**
 * The plots of a run folder: the picks in order with their marginal costs, every
 * candidate's attention weight per round, and the dims each group kept.
 */
import type { TopLevelSpec } from 'vega-lite';
import { resolveFeatureLayout } from '../../data/features.js';
import type { Manifest } from '../manifest.js';
import type { PlotSpec } from './vega.js';

/** One line of selection/trace.jsonl, as `lemopt run` writes it. */
export interface TraceRound {
  readonly round: number;
  /** Every candidate's weight (or score) at the end of the round; absent for methods without rounds. */
  readonly weights?: Readonly<Record<string, number | null>>;
  /** The candidates picked in the round (`name` in the single line of a method without rounds). */
  readonly picks: readonly { readonly candidate?: string; readonly name?: string }[];
}

const TOWER_COLORS = { domain: ['user', 'item'], range: ['#4c78a8', '#f58518'] };

function towerOf(manifest: Manifest): (group: string) => string {
  const towers = new Map<string, string>();
  for (const group of [...manifest.kept, ...manifest.dropped]) towers.set(group.group, group.tower);
  return (group) => towers.get(group) ?? 'unknown';
}

/** Bars of each pick's marginal memory (and latency, with a latency model), in pick order. */
export function selectionOrderPlot(manifest: Manifest): PlotSpec | null {
  const order = manifest.selection_order;
  if (order.length === 0) return null;
  const tower = towerOf(manifest);
  const values = order.map((step) => ({
    step: step.step,
    pick: `${step.step}. ${step.candidate}`,
    candidate: step.candidate,
    tower: tower(step.group),
    round: step.round,
    weight: step.weight,
    memory: step.marginal.memory_bytes,
    latency: step.marginal.latency_us,
    cumulative_memory: step.cumulative.memory_bytes,
  }));
  const hasLatency = values.some((value) => value.latency !== null);
  const x = {
    field: 'pick',
    type: 'ordinal',
    sort: null,
    title: 'pick, in selection order',
    axis: { labelAngle: -40, labelLimit: 200 },
  } as const;
  const color = { field: 'tower', type: 'nominal', title: 'tower', scale: TOWER_COLORS } as const;
  const panel = (field: 'memory' | 'latency', title: string, format: string) => ({
    width: { step: Math.max(14, Math.min(34, 640 / values.length)) },
    height: 150,
    transform: field === 'latency' ? [{ filter: 'isValid(datum.latency)' }] : [],
    mark: { type: 'bar' as const, tooltip: true },
    encoding: {
      x,
      y: { field, type: 'quantitative' as const, title, axis: { format } },
      color,
      tooltip: [
        { field: 'candidate', type: 'nominal' as const },
        { field, type: 'quantitative' as const, title, format },
      ],
    },
  });
  const spec = {
    data: { values },
    hconcat: [
      panel('memory', 'marginal memory (bytes)', '~s'),
      ...(hasLatency ? [panel('latency', 'marginal latency (µs / example)', '.3~f')] : []),
    ],
    spacing: 40,
  } as TopLevelSpec;
  return {
    name: 'selection-order',
    title: 'Selection order and marginal costs',
    caption:
      `Each pick of ${manifest.method} in order, left to right, with the embedding memory ` +
      (hasLatency ? '(left) and the predicted inference latency (right) ' : '') +
      'it added to the selection (by the cost model, at export precision ' +
      `${manifest.dtype}). Colour: the tower of the candidate's group.`,
    spec,
  };
}

/** Cell state of a candidate in a round: picked in it, selected before it, or still open. */
type CellState = 'picked' | 'selected' | 'open';

/** The rounds each candidate was passed over in: scored above the round's pick, it did not fit. */
function passedOverRounds(manifest: Manifest): Map<string, Set<number>> {
  return new Map((manifest.did_not_fit ?? []).map((entry) => [entry.candidate, new Set(entry.rounds)]));
}

/** Every candidate's weight per round as a heatmap, the round's picks and what did not fit marked. */
export function weightsPlot(manifest: Manifest, trace: readonly TraceRound[]): PlotSpec | null {
  const rounds = trace.filter((line) => line.weights && Object.keys(line.weights).length > 0);
  if (rounds.length === 0) return null;
  const order = manifest.selection_order.map((step) => step.candidate);
  const candidates = [...new Set([...order, ...rounds.flatMap((line) => Object.keys(line.weights!))])];
  const passedOver = passedOverRounds(manifest);
  const values: {
    round: number;
    candidate: string;
    weight: number | null;
    state: CellState;
    unaffordable: boolean;
  }[] = [];
  const selected = new Set<string>();
  for (const line of rounds) {
    const picked = new Set(line.picks.map((pick) => pick.candidate ?? pick.name ?? ''));
    for (const candidate of candidates) {
      const weight = line.weights![candidate];
      const state: CellState = picked.has(candidate)
        ? 'picked'
        : selected.has(candidate)
          ? 'selected'
          : 'open';
      values.push({
        round: line.round,
        candidate,
        weight: typeof weight === 'number' && Number.isFinite(weight) ? weight : null,
        state,
        unaffordable: passedOver.get(candidate)?.has(line.round) ?? false,
      });
    }
    for (const name of picked) selected.add(name);
  }
  const attention = manifest.method === 'sequential_attention' || manifest.method === 'one_shot_attention';
  const score = attention ? 'attention weight' : 'score';
  const x = { field: 'round', type: 'ordinal', title: 'round', axis: { labelAngle: 0 } } as const;
  const y = {
    field: 'candidate',
    type: 'ordinal',
    sort: candidates,
    title: 'candidate',
    axis: { labelLimit: 220 },
  } as const;
  const rowStep = candidates.length > 40 ? 9 : 16;
  const spec = {
    data: { values },
    width: { step: Math.max(12, Math.min(36, 600 / rounds.length)) },
    height: { step: rowStep },
    encoding: { x, y },
    layer: [
      {
        transform: [{ filter: "datum.state === 'selected'" }],
        mark: { type: 'rect', color: '#e3e3e3' },
      },
      {
        transform: [{ filter: "datum.state !== 'selected' && isValid(datum.weight)" }],
        mark: { type: 'rect', tooltip: true },
        encoding: {
          color: {
            field: 'weight',
            type: 'quantitative',
            title: score,
            scale: { scheme: 'blues', zero: attention },
          },
          tooltip: [
            { field: 'candidate', type: 'nominal' },
            { field: 'round', type: 'ordinal' },
            { field: 'weight', type: 'quantitative', format: '.4f', title: score },
          ],
        },
      },
      {
        transform: [{ filter: "datum.state === 'picked'" }],
        mark: { type: 'point', shape: 'circle', filled: true, color: '#d62728', size: 40, opacity: 1 },
      },
      {
        transform: [{ filter: 'datum.unaffordable' }],
        mark: {
          type: 'point',
          shape: 'circle',
          filled: false,
          color: '#111111',
          strokeWidth: 1.5,
          size: rowStep * rowStep * 0.45,
          opacity: 1,
          tooltip: true,
        },
        encoding: {
          tooltip: [
            { field: 'candidate', type: 'nominal' },
            { field: 'round', type: 'ordinal' },
            { field: 'weight', type: 'quantitative', format: '.4f', title: `${score}, did not fit` },
          ],
        },
      },
    ],
  } as TopLevelSpec;
  return {
    name: 'attention-weights',
    title: attention ? 'Attention weights per round' : `Candidate scores per round (${manifest.method})`,
    caption:
      `The ${score} of every candidate at the end of each round (darker: larger). ` +
      'A red dot marks the candidate picked in that round; grey cells are candidates already selected ' +
      "(their gates are fixed at 1). A black ring marks a candidate scored above the round's pick that " +
      'did not fit the budgets then (listed under Did not fit).',
    spec,
  };
}

/** Each group's dims in the final selection: kept dims, and the dims of its full size it lost. */
export function groupDimsPlot(manifest: Manifest): PlotSpec {
  const { groups } = resolveFeatureLayout(manifest.config);
  const kept = new Map(manifest.kept.map((group) => [group.group, group]));
  const dropped = new Map(manifest.dropped.map((group) => [group.group, group]));
  const fullDim = (name: string) =>
    dropped.get(name)?.full_dim ??
    groups.find((group) => group.name === name)?.dim ??
    manifest.config.model.embedding_dim;
  const names = groups.map((group) => group.name).filter((name) => kept.has(name) || dropped.has(name));
  for (const name of [...kept.keys(), ...dropped.keys()]) if (!names.includes(name)) names.push(name);
  const values = names.flatMap((group) => {
    const dim = kept.get(group)?.dim ?? 0;
    const full = Math.max(fullDim(group), dim);
    const status = dim === 0 ? 'dropped' : dim < full ? 'partly kept' : 'kept';
    return [
      { group, part: 'kept dims', dims: dim, order: 0, status, full },
      { group, part: 'dropped dims', dims: full - dim, order: 1, status, full },
    ].filter((bar) => bar.dims > 0);
  });
  const spec = {
    data: { values },
    width: { step: Math.max(16, Math.min(40, 640 / Math.max(1, names.length))) },
    height: 200,
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: {
        field: 'group',
        type: 'nominal',
        sort: names,
        title: 'group',
        axis: { labelAngle: -40, labelLimit: 200 },
      },
      y: { field: 'dims', type: 'quantitative', stack: 'zero', title: 'embedding dims' },
      color: {
        field: 'part',
        type: 'nominal',
        title: null,
        scale: { domain: ['kept dims', 'dropped dims'], range: ['#2f7ebc', '#d5d5d5'] },
      },
      order: { field: 'order', type: 'quantitative' },
      tooltip: [
        { field: 'group', type: 'nominal' },
        { field: 'status', type: 'nominal' },
        { field: 'dims', type: 'quantitative', title: 'dims' },
        { field: 'full', type: 'quantitative', title: 'full dim' },
      ],
    },
  } as TopLevelSpec;
  return {
    name: 'group-dims',
    title: 'Dims per group in the final selection',
    caption:
      `Blue: the dims each group keeps (unit ${manifest.unit}, blocks of ${manifest.block_size}); ` +
      'grey: the dims of its full size that were dropped. A group with no blue bar was dropped entirely.',
    spec,
  };
}
