/**
 * The classifier (architecture.ts ClassifierSpec) as ONNX graphs: train (loss Σ_rows
 * rowWeight · −log softmax(logits)[label], the gradients of the parameters and of the
 * column gates) and infer (class probabilities). Inputs arrive standardised.
 */
import { towerParameters, type ClassifierSpec } from '../architecture.js';
import { GraphBuilder, type Dim } from './graph.js';
import { towerBackward, towerForward } from './layers.js';
import { gradientName, type BuiltGraph } from './two-tower-graph.js';

export const CLASSIFIER_INPUT = {
  x: 'x',
  scale: 'scale',
  oneHot: 'one_hot',
  rowWeights: 'row_weights',
} as const;
export const CLASSIFIER_OUTPUT = {
  loss: 'loss',
  scaleGrad: 'scale_grad',
  probabilities: 'probabilities',
} as const;

const BATCH: Dim = 'batch';

function declareInputs(g: GraphBuilder, spec: ClassifierSpec): BuiltGraph['parameters'] {
  g.input(CLASSIFIER_INPUT.x, [BATCH, spec.tower.inputDim]);
  g.input(CLASSIFIER_INPUT.scale, [spec.tower.inputDim]);
  const parameters = towerParameters(spec.tower);
  for (const parameter of parameters) g.input(parameter.name, parameter.shape);
  return parameters;
}

export function classifierTrainGraph(spec: ClassifierSpec): BuiltGraph {
  const g = new GraphBuilder('lemopt_classifier_train');
  const parameters = declareInputs(g, spec);
  const oneHot = g.input(CLASSIFIER_INPUT.oneHot, [BATCH, spec.numClasses]);
  const rowWeights = g.op('Unsqueeze', [g.input(CLASSIFIER_INPUT.rowWeights, [BATCH]), g.axes(1)]);
  const trace = towerForward(g, spec.tower, CLASSIFIER_INPUT.x, CLASSIFIER_INPUT.scale, 'train');
  const axis = g.axes(1);
  const shifted = g.op('Sub', [trace.output, g.op('ReduceMax', [trace.output, axis], { keepdims: 1 })]);
  const logSum = g.op('Log', [g.op('ReduceSum', [g.op('Exp', [shifted]), axis], { keepdims: 1 })]);
  const logProbabilities = g.op('Sub', [shifted, logSum]);
  const picked = g.op('Mul', [g.op('Mul', [logProbabilities, oneHot]), rowWeights]);
  g.output(CLASSIFIER_OUTPUT.loss, g.op('Neg', [g.op('ReduceSum', [picked], { keepdims: 0 })]), []);
  const upstream = g.op('Mul', [g.op('Sub', [g.op('Exp', [logProbabilities]), oneHot]), rowWeights]);
  const grads = towerBackward(g, trace, upstream, false);
  g.output(CLASSIFIER_OUTPUT.scaleGrad, grads.scale!, [spec.tower.inputDim]);
  const outputs: string[] = [CLASSIFIER_OUTPUT.loss, CLASSIFIER_OUTPUT.scaleGrad];
  for (const parameter of towerParameters(spec.tower)) {
    outputs.push(
      g.output(gradientName(parameter.name), grads.parameters.get(parameter.name)!, parameter.shape),
    );
  }
  return { model: g.encode(), parameters, outputs };
}

export function classifierInferGraph(spec: ClassifierSpec): BuiltGraph {
  const g = new GraphBuilder('lemopt_classifier_infer');
  const parameters = declareInputs(g, spec);
  const trace = towerForward(g, spec.tower, CLASSIFIER_INPUT.x, CLASSIFIER_INPUT.scale, 'infer');
  g.output(CLASSIFIER_OUTPUT.probabilities, g.op('Softmax', [trace.output], { axis: 1 }), [
    BATCH,
    spec.numClasses,
  ]);
  return { model: g.encode(), parameters, outputs: [CLASSIFIER_OUTPUT.probabilities] };
}
