/**
 * The two-tower model as two ONNX graphs built from its spec:
 *
 * - train: inputs, gates per column, targets and parameters in; the loss, the gradient of
 *   every trainable parameter, of the gates (per column), of both tower inputs (for the
 *   embedding engine), and the batch statistics of batch-normalised layers out.
 * - infer: the tower vectors (after the cosine's normalisation) and the score
 *   (a probability for `binary`), with batch normalisation on its moving averages.
 *
 * The loss is Σ_rows rowWeight · ℓ_row: the caller gives 1/B per row for a mean, or the
 * sampled softmax's normalised label weights. `binary`: ℓ = softplus(z) − z y, written
 * max(z, 0) − z y + log(1 + exp(−|z|)). `sampled_softmax`: logits U Vᵀ − log q_j, ℓ_i =
 * logsumexp_j − logit_ii (the row's own item is the positive, the batch's other items the
 * negatives).
 */
import { towerOutputDim, towerParameters, type TwoTowerSpec } from '../architecture.js';
import { GraphBuilder, type Dim } from './graph.js';
import { towerBackward, towerForward, unitRows, unitRowsBackward, type TowerTrace } from './layers.js';

export const INPUT = {
  user: 'user_input',
  item: 'item_input',
  userScale: 'user_scale',
  itemScale: 'item_scale',
  labels: 'labels',
  rowWeights: 'row_weights',
  logQ: 'log_q',
} as const;

export const OUTPUT = {
  loss: 'loss',
  userGrad: 'user_input_grad',
  itemGrad: 'item_input_grad',
  userScaleGrad: 'user_scale_grad',
  itemScaleGrad: 'item_scale_grad',
  userVector: 'user_vector',
  itemVector: 'item_vector',
  score: 'score',
} as const;

export const gradientName = (parameter: string): string => `${parameter}:grad`;
export const batchStatName = (parameter: string): string => `${parameter}:batch`;

const BATCH: Dim = 'batch';

export interface BuiltGraph {
  readonly model: Uint8Array;
  /** Parameters the graph reads. */
  readonly parameters: readonly { readonly name: string; readonly shape: readonly number[] }[];
  readonly outputs: readonly string[];
}

/** Declares both towers' inputs, gates and parameters (trainable ones only for training). */
function declareInputs(g: GraphBuilder, spec: TwoTowerSpec, trainable: boolean): BuiltGraph['parameters'] {
  g.input(INPUT.user, [BATCH, spec.user.inputDim]);
  g.input(INPUT.item, [BATCH, spec.item.inputDim]);
  g.input(INPUT.userScale, [spec.user.inputDim]);
  g.input(INPUT.itemScale, [spec.item.inputDim]);
  const parameters = [...towerParameters(spec.user), ...towerParameters(spec.item)].filter(
    (parameter) => parameter.trainable || !trainable,
  );
  for (const parameter of parameters) g.input(parameter.name, parameter.shape);
  return parameters;
}

function trainTowers(g: GraphBuilder, spec: TwoTowerSpec): [TowerTrace, TowerTrace] {
  return [
    towerForward(g, spec.user, INPUT.user, INPUT.userScale, 'train'),
    towerForward(g, spec.item, INPUT.item, INPUT.itemScale, 'train'),
  ];
}

/** Tower outputs as the score sees them: unit rows (the user's divided by the temperature) for cosine. */
function scored(g: GraphBuilder, spec: TwoTowerSpec, user: string, item: string) {
  if (spec.score === 'dot') return { user, item, userNorm: undefined, itemNorm: undefined };
  const userNorm = unitRows(g, user, 1 / spec.temperature);
  const itemNorm = unitRows(g, item, 1);
  return { user: userNorm.output, item: itemNorm.output, userNorm, itemNorm };
}

export function twoTowerTrainGraph(spec: TwoTowerSpec): BuiltGraph {
  const g = new GraphBuilder('lemopt_two_tower_train');
  const parameters = declareInputs(g, spec, true);
  const rowWeights = g.input(INPUT.rowWeights, [BATCH]);
  const [userTrace, itemTrace] = trainTowers(g, spec);
  const head = scored(g, spec, userTrace.output, itemTrace.output);
  const columnWeights = g.op('Unsqueeze', [rowWeights, g.axes(1)]);
  let userUp: string;
  let itemUp: string;
  if (spec.objective === 'binary') {
    const labels = g.input(INPUT.labels, [BATCH]);
    const z = g.op('ReduceSum', [g.op('Mul', [head.user, head.item]), g.axes(1)], { keepdims: 0 });
    const softplus = g.op('Softplus', [g.op('Neg', [g.op('Abs', [z])])]);
    const perRow = g.op('Add', [g.op('Sub', [g.op('Relu', [z]), g.op('Mul', [z, labels])]), softplus]);
    g.output(OUTPUT.loss, g.op('ReduceSum', [g.op('Mul', [perRow, rowWeights])], { keepdims: 0 }), []);
    const dz = g.op('Unsqueeze', [
      g.op('Mul', [g.op('Sub', [g.op('Sigmoid', [z]), labels]), rowWeights]),
      g.axes(1),
    ]);
    userUp = g.op('Mul', [dz, head.item]);
    itemUp = g.op('Mul', [dz, head.user]);
  } else {
    const logQ = g.input(INPUT.logQ, [BATCH]);
    const logits = g.op('Sub', [
      g.op('Gemm', [head.user, head.item], { transB: 1 }),
      g.op('Unsqueeze', [logQ, g.axes(0)]),
    ]);
    const rowAxis = g.axes(1);
    const max = g.op('ReduceMax', [logits, rowAxis], { keepdims: 1 });
    const exps = g.op('Exp', [g.op('Sub', [logits, max])]);
    const sums = g.op('ReduceSum', [exps, rowAxis], { keepdims: 1 });
    const probabilities = g.op('Div', [exps, sums]);
    const eye = g.op('EyeLike', [logits]);
    const positive = g.op('ReduceSum', [g.op('Mul', [logits, eye]), rowAxis], { keepdims: 1 });
    const perRow = g.op('Sub', [g.op('Add', [max, g.op('Log', [sums])]), positive]);
    g.output(OUTPUT.loss, g.op('ReduceSum', [g.op('Mul', [perRow, columnWeights])], { keepdims: 0 }), []);
    // d logits = (P − I) scaled per row: dU = dL V, dV = dLᵀ U.
    const dLogits = g.op('Mul', [g.op('Sub', [probabilities, eye]), columnWeights]);
    userUp = g.op('Gemm', [dLogits, head.item]);
    itemUp = g.op('Gemm', [dLogits, head.user], { transA: 1 });
  }
  if (head.userNorm && head.itemNorm) {
    userUp = unitRowsBackward(g, head.userNorm, userUp);
    itemUp = unitRowsBackward(g, head.itemNorm, itemUp);
  }
  const userGrads = towerBackward(g, userTrace, userUp, true);
  const itemGrads = towerBackward(g, itemTrace, itemUp, true);
  g.output(OUTPUT.userGrad, userGrads.input!, [BATCH, spec.user.inputDim]);
  g.output(OUTPUT.itemGrad, itemGrads.input!, [BATCH, spec.item.inputDim]);
  g.output(OUTPUT.userScaleGrad, userGrads.scale!, [spec.user.inputDim]);
  g.output(OUTPUT.itemScaleGrad, itemGrads.scale!, [spec.item.inputDim]);
  const outputs: string[] = [
    OUTPUT.loss,
    OUTPUT.userGrad,
    OUTPUT.itemGrad,
    OUTPUT.userScaleGrad,
    OUTPUT.itemScaleGrad,
  ];
  for (const parameter of [...towerParameters(spec.user), ...towerParameters(spec.item)]) {
    if (!parameter.trainable) continue;
    const gradient = userGrads.parameters.get(parameter.name) ?? itemGrads.parameters.get(parameter.name);
    if (gradient === undefined) throw new Error(`unreachable: no gradient for '${parameter.name}'`);
    outputs.push(g.output(gradientName(parameter.name), gradient, parameter.shape));
  }
  for (const [name, value] of [...userTrace.batchStats, ...itemTrace.batchStats]) {
    const units = towerParameters(name.startsWith(`${spec.user.name}/`) ? spec.user : spec.item).find(
      (parameter) => parameter.name === name,
    )!.shape;
    outputs.push(g.output(batchStatName(name), value, units));
  }
  return { model: g.encode(), parameters, outputs };
}

/**
 * One tower's vector as the score sees it (prediction): the tower's output, scaled to unit
 * length for the cosine (the user's divided by the temperature). Reads the tower's
 * parameters by their names in architecture.ts.
 */
export function inferTowerVector(
  g: GraphBuilder,
  spec: TwoTowerSpec,
  tower: 'user' | 'item',
  input: string,
  scale: string | undefined,
): string {
  const output = towerForward(g, spec[tower], input, scale, 'infer').output;
  if (spec.score === 'dot') return output;
  return unitRows(g, output, tower === 'user' ? 1 / spec.temperature : 1).output;
}

/** The score of tower vectors: their row-wise dot product, through a sigmoid for `binary`. */
export function inferScore(g: GraphBuilder, spec: TwoTowerSpec, user: string, item: string): string {
  const z = g.op('ReduceSum', [g.op('Mul', [user, item]), g.axes(1)], { keepdims: 0 });
  return spec.objective === 'binary' ? g.op('Sigmoid', [z]) : z;
}

export function twoTowerInferGraph(spec: TwoTowerSpec): BuiltGraph {
  const g = new GraphBuilder('lemopt_two_tower_infer');
  const parameters = declareInputs(g, spec, false);
  const user = inferTowerVector(g, spec, 'user', INPUT.user, INPUT.userScale);
  const item = inferTowerVector(g, spec, 'item', INPUT.item, INPUT.itemScale);
  const dim = towerOutputDim(spec.user);
  const score = inferScore(g, spec, user, item);
  g.output(OUTPUT.userVector, user, [BATCH, dim]);
  g.output(OUTPUT.itemVector, item, [BATCH, dim]);
  g.output(OUTPUT.score, score, [BATCH]);
  return { model: g.encode(), parameters, outputs: [OUTPUT.userVector, OUTPUT.itemVector, OUTPUT.score] };
}
