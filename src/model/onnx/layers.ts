/**
 * Towers and heads as ONNX nodes, forward and backward written out by hand (ONNX Runtime
 * for Node has no training API). Each forward returns a trace of the values its backward
 * needs; the backward emits the gradient nodes. The maths is architecture.ts's and the
 * tfjs engine's (src/model/tfjs), which the equivalence tests compare value by value.
 *
 * Matrix products are Gemm with transA/transB flags, which ONNX Runtime's MLAS runs
 * without transposing anything; reductions over the batch (bias gradients) are ReduceSum
 * over axis 0.
 */
import {
  COSINE_EPSILON,
  NORM_EPSILON,
  towerLayers,
  type Activation,
  type LayerSpec,
  type Normalization,
  type TowerSpec,
} from '../architecture.js';
import type { GraphBuilder } from './graph.js';

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Whether a pass trains (batch statistics) or predicts (moving averages). */
export type Phase = 'train' | 'infer';

interface NormTrace {
  /** The normalised values and 1 / sqrt(variance + eps). */
  readonly normalized: string;
  readonly inverseStd: string;
  /** Reduction axis: 1 (layer) or 0 (batch). */
  readonly axis: number;
  readonly gamma: string;
}

interface LayerTrace {
  readonly layer: LayerSpec;
  /** The layer's input and the kernel it used (the first layer's rows scaled by the gates). */
  readonly input: string;
  readonly kernel: string;
  readonly preActivation: string;
  readonly norm?: NormTrace;
  /** The activation's input (after the normalisation) and output. */
  readonly activationInput: string;
  readonly activation?: { readonly output: string; readonly extra?: string };
}

export interface TowerTrace {
  readonly spec: TowerSpec;
  readonly input: string;
  /** Gate per input column, [D]; none: every column at 1. */
  readonly scale?: string;
  readonly layers: readonly LayerTrace[];
  readonly output: string;
  /** Batch statistics of batch-normalised layers (training): moving-stat name → value. */
  readonly batchStats: ReadonlyMap<string, string>;
}

export interface TowerGradients {
  /** d loss / d input; none when not asked for. */
  readonly input?: string;
  readonly scale?: string;
  /** Trainable parameter name → gradient. */
  readonly parameters: ReadonlyMap<string, string>;
}

/** A tower's forward pass; parameters are graph values named as in architecture.ts. */
export function towerForward(
  g: GraphBuilder,
  spec: TowerSpec,
  input: string,
  scale: string | undefined,
  phase: Phase,
): TowerTrace {
  const layers: LayerTrace[] = [];
  const batchStats = new Map<string, string>();
  if (spec.units.length === 0) {
    const output = scale ? g.op('Mul', [input, g.op('Unsqueeze', [scale, g.axes(0)])]) : input;
    return { spec, input, scale, layers, output, batchStats };
  }
  let x = input;
  for (const layer of towerLayers(spec)) {
    const { names } = layer;
    const kernel =
      layers.length === 0 && scale
        ? g.op('Mul', [names.kernel, g.op('Unsqueeze', [scale, g.axes(1)])])
        : names.kernel;
    const preActivation = g.op('Gemm', [x, kernel, names.bias]);
    if (layer.last) {
      layers.push({ layer, input: x, kernel, preActivation, activationInput: preActivation });
      x = preActivation;
      continue;
    }
    let activationInput = preActivation;
    let norm: NormTrace | undefined;
    if (names.gamma !== undefined && names.beta !== undefined) {
      const normalized = normalize(g, spec.normalization, preActivation, layer, phase, batchStats);
      norm = { ...normalized, gamma: names.gamma };
      activationInput = g.op('Add', [g.op('Mul', [normalized.normalized, names.gamma]), names.beta]);
    }
    const activation = activate(g, spec.activation, activationInput);
    layers.push({ layer, input: x, kernel, preActivation, norm, activationInput, activation });
    x = activation.output;
  }
  return { spec, input, scale, layers, output: x, batchStats };
}

function normalize(
  g: GraphBuilder,
  normalization: Normalization,
  z: string,
  layer: LayerSpec,
  phase: Phase,
  batchStats: Map<string, string>,
): Omit<NormTrace, 'gamma'> {
  const { movingMean, movingVariance } = layer.names;
  const epsilon = g.constant(NORM_EPSILON);
  if (normalization === 'batch' && phase === 'infer' && movingMean && movingVariance) {
    const inverseStd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [movingVariance, epsilon])])]);
    return { normalized: g.op('Mul', [g.op('Sub', [z, movingMean]), inverseStd]), inverseStd, axis: 0 };
  }
  const axis = normalization === 'layer' ? 1 : 0;
  const mean = g.op('ReduceMean', [z, g.axes(axis)], { keepdims: 1 });
  const centered = g.op('Sub', [z, mean]);
  const variance = g.op('ReduceMean', [g.op('Mul', [centered, centered]), g.axes(axis)], { keepdims: 1 });
  const inverseStd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, epsilon])])]);
  if (normalization === 'batch' && movingMean && movingVariance) {
    batchStats.set(movingMean, g.op('Squeeze', [mean, g.axes(0)]));
    batchStats.set(movingVariance, g.op('Squeeze', [variance, g.axes(0)]));
  }
  return { normalized: g.op('Mul', [centered, inverseStd]), inverseStd, axis };
}

function activate(g: GraphBuilder, activation: Activation, z: string): { output: string; extra?: string } {
  switch (activation) {
    case 'relu':
      return { output: g.op('Relu', [z]) };
    case 'tanh':
      return { output: g.op('Tanh', [z]) };
    case 'gelu': {
      // x Φ(x), Φ(x) = (1 + erf(x / √2)) / 2; Φ is kept for the gradient.
      const cdf = g.op('Mul', [
        g.op('Add', [g.op('Erf', [g.op('Mul', [z, g.constant(INV_SQRT2)])]), g.constant(1)]),
        g.constant(0.5),
      ]);
      return { output: g.op('Mul', [z, cdf]), extra: cdf };
    }
    case 'linear':
      return { output: z };
  }
}

/** d loss / d (activation input) from d loss / d (activation output). */
function activationBackward(
  g: GraphBuilder,
  activation: Activation,
  trace: LayerTrace,
  upstream: string,
): string {
  const z = trace.activationInput;
  const out = trace.activation!;
  switch (activation) {
    case 'relu':
      return g.op('Mul', [upstream, g.op('Cast', [g.op('Greater', [z, g.constant(0)])], { to: 1 })]);
    case 'tanh':
      return g.op('Mul', [upstream, g.op('Sub', [g.constant(1), g.op('Mul', [out.output, out.output])])]);
    case 'gelu': {
      // d/dx x Φ(x) = Φ(x) + x φ(x), φ(x) = exp(-x² / 2) / √(2π).
      const density = g.op('Mul', [
        g.op('Exp', [g.op('Mul', [g.op('Mul', [z, z]), g.constant(-0.5)])]),
        g.constant(INV_SQRT_2PI),
      ]);
      return g.op('Mul', [upstream, g.op('Add', [out.extra!, g.op('Mul', [z, density])])]);
    }
    case 'linear':
      return upstream;
  }
}

/** d loss / d z of z ─► n = (z − mean) / std ─► y = n γ + β, and the γ and β gradients. */
function normBackward(
  g: GraphBuilder,
  norm: NormTrace,
  upstream: string,
  names: { gamma: string; beta: string },
  grads: Map<string, string>,
): string {
  const batchAxis = g.axes(0);
  grads.set(
    names.gamma,
    g.op('ReduceSum', [g.op('Mul', [upstream, norm.normalized]), batchAxis], { keepdims: 0 }),
  );
  grads.set(names.beta, g.op('ReduceSum', [upstream, batchAxis], { keepdims: 0 }));
  const dn = g.op('Mul', [upstream, norm.gamma]);
  const axis = g.axes(norm.axis);
  const meanDn = g.op('ReduceMean', [dn, axis], { keepdims: 1 });
  const meanDnN = g.op('ReduceMean', [g.op('Mul', [dn, norm.normalized]), axis], { keepdims: 1 });
  const inner = g.op('Sub', [g.op('Sub', [dn, meanDn]), g.op('Mul', [norm.normalized, meanDnN])]);
  return g.op('Mul', [inner, norm.inverseStd]);
}

/** Gradients of a tower's parameters, gates and (when `inputGradient`) input from d loss / d output. */
export function towerBackward(
  g: GraphBuilder,
  trace: TowerTrace,
  upstream: string,
  inputGradient: boolean,
): TowerGradients {
  const parameters = new Map<string, string>();
  const { spec, scale } = trace;
  if (trace.layers.length === 0) {
    return {
      input: inputGradient
        ? scale
          ? g.op('Mul', [upstream, g.op('Unsqueeze', [scale, g.axes(0)])])
          : upstream
        : undefined,
      scale: scale
        ? g.op('ReduceSum', [g.op('Mul', [trace.input, upstream]), g.axes(0)], { keepdims: 0 })
        : undefined,
      parameters,
    };
  }
  let gradient = upstream;
  let inputGrad: string | undefined;
  let scaleGrad: string | undefined;
  for (let index = trace.layers.length - 1; index >= 0; index--) {
    const layerTrace = trace.layers[index];
    const { names } = layerTrace.layer;
    if (!layerTrace.layer.last) {
      gradient = activationBackward(g, spec.activation, layerTrace, gradient);
      if (layerTrace.norm && names.gamma !== undefined && names.beta !== undefined) {
        gradient = normBackward(
          g,
          layerTrace.norm,
          gradient,
          { gamma: names.gamma, beta: names.beta },
          parameters,
        );
      }
    }
    // z = x K + b: dK = xᵀ dz, db = Σ_batch dz, dx = dz Kᵀ.
    const kernelGrad = g.op('Gemm', [layerTrace.input, gradient], { transA: 1 });
    parameters.set(names.bias, g.op('ReduceSum', [gradient, g.axes(0)], { keepdims: 0 }));
    const first = index === 0;
    if (first && scale) {
      // K = W diag(s): dW = dK ⊙ s, ds = Σ_units W ⊙ dK.
      parameters.set(names.kernel, g.op('Mul', [kernelGrad, g.op('Unsqueeze', [scale, g.axes(1)])]));
      scaleGrad = g.op('ReduceSum', [g.op('Mul', [names.kernel, kernelGrad]), g.axes(1)], { keepdims: 0 });
    } else {
      parameters.set(names.kernel, kernelGrad);
    }
    if (!first || inputGradient) {
      const next = g.op('Gemm', [gradient, layerTrace.kernel], { transB: 1 });
      if (first) inputGrad = next;
      else gradient = next;
    }
  }
  return { input: inputGrad, scale: scaleGrad, parameters };
}

/** Rows scaled to unit length (times `factor`), and what the backward needs. */
export function unitRows(
  g: GraphBuilder,
  x: string,
  factor: number,
): { output: string; unit: string; inverseNorm: string; factor: number } {
  const squares = g.op('ReduceSum', [g.op('Mul', [x, x]), g.axes(1)], { keepdims: 1 });
  const inverseNorm = g.op('Reciprocal', [
    g.op('Sqrt', [g.op('Add', [squares, g.constant(COSINE_EPSILON)])]),
  ]);
  const unit = g.op('Mul', [x, inverseNorm]);
  const output = factor === 1 ? unit : g.op('Mul', [unit, g.constant(factor)]);
  return { output, unit, inverseNorm, factor };
}

/** d loss / d x of unitRows: r (dy − y Σ(y ⊙ dy)), y = x r, dy = upstream · factor. */
export function unitRowsBackward(
  g: GraphBuilder,
  trace: { unit: string; inverseNorm: string; factor: number },
  upstream: string,
): string {
  const dy = trace.factor === 1 ? upstream : g.op('Mul', [upstream, g.constant(trace.factor)]);
  const dot = g.op('ReduceSum', [g.op('Mul', [trace.unit, dy]), g.axes(1)], { keepdims: 1 });
  return g.op('Mul', [g.op('Sub', [dy, g.op('Mul', [trace.unit, dot])]), trace.inverseNorm]);
}
