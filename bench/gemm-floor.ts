/**
 * The physical bound of a dense training step: the matrix products of the reference
 * two-tower model's forward and backward pass, alone, as ONNX Runtime runs them on one
 * core. A step of towers I → H1 → H2 at batch B does, per tower, B·(I·H1 + H1·H2)
 * multiply-adds forward and twice that backward (the kernel and the input gradients), so
 * 3·B·(I·H1 + H1·H2) in all.
 */
import { GraphBuilder } from '../src/model/onnx/graph.js';
import { OnnxSession } from '../src/model/onnx/runtime.js';

export interface GemmFloor {
  /** Multiply-adds of one step (both towers). */
  readonly macsPerStep: number;
  /** Milliseconds of the step's products alone (both towers). */
  readonly msPerStep: number;
  /** Billions of multiply-adds per second on one core. */
  readonly gmacPerSecond: number;
}

/** Times the six products of one tower's step (three shapes, forward and backward) as one graph, `seconds` long. */
export function measureGemmFloor(
  batch: number,
  towerInput: number,
  towers: readonly number[],
  seconds: number,
): GemmFloor {
  if (towers.length !== 2) throw new Error('the floor is measured for two-layer towers');
  const [h1, h2] = towers;
  const g = new GraphBuilder('gemm_floor');
  const x = g.input('x', [batch, towerInput]);
  const w1 = g.input('w1', [towerInput, h1]);
  const w2 = g.input('w2', [h1, h2]);
  const a1 = g.input('a1', [batch, h1]);
  const d2 = g.input('d2', [batch, h2]);
  const d1 = g.input('d1', [batch, h1]);
  const products = [
    g.op('Gemm', [x, w1]), // forward, layer 1
    g.op('Gemm', [a1, w2]), // forward, layer 2
    g.op('Gemm', [a1, d2], { transA: 1 }), // d w2 = a1ᵀ d2
    g.op('Gemm', [d2, w2], { transB: 1 }), // d a1 = d2 w2ᵀ
    g.op('Gemm', [x, d1], { transA: 1 }), // d w1 = xᵀ d1
    g.op('Gemm', [d1, w1], { transB: 1 }), // d x = d1 w1ᵀ
  ];
  const shapes = [
    [batch, h1],
    [batch, h2],
    [h1, h2],
    [batch, h1],
    [towerInput, h1],
    [batch, towerInput],
  ];
  products.forEach((product, i) => g.output(`p${i}`, product, shapes[i]));
  const session = new OnnxSession(g.encode());
  const filled = (rows: number, cols: number) => ({
    data: Float32Array.from({ length: rows * cols }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5),
    dims: [rows, cols],
  });
  const feeds = {
    x: filled(batch, towerInput),
    w1: filled(towerInput, h1),
    w2: filled(h1, h2),
    a1: filled(batch, h1),
    d2: filled(batch, h2),
    d1: filled(batch, h1),
  };
  const outputs = products.map((_, i) => `p${i}`);
  try {
    for (let i = 0; i < 20; i++) session.run(feeds, outputs);
    let runs = 0;
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      session.run(feeds, outputs);
      runs++;
    }
    const msPerTower = (performance.now() - start) / runs;
    const macsPerTower = 3 * batch * (towerInput * h1 + h1 * h2);
    return {
      macsPerStep: 2 * macsPerTower,
      msPerStep: 2 * msPerTower,
      gmacPerSecond: macsPerTower / msPerTower / 1e6,
    };
  } finally {
    session.dispose();
  }
}
