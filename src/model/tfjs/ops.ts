/**
 * Matrix products whose gradients never use BatchMatMul's transpose flags.
 *
 * On tfjs-wasm 4.22 a BatchMatMul with a transpose flag runs 4-40x slower than an
 * explicit tf.transpose followed by a plain matMul (measured, batch 1024: xᵀ·dy for
 * x [1024, 128], dy [1024, 64] 5.7 ms with the flag, 1.5 ms transposed; dS [1024, 1024]
 * ᵀ·u [1024, 32] 84 ms, 2.1 ms as (uᵀ dS)ᵀ), and tfjs's own matMul gradient uses those
 * flags. Here each product is a tf.customGrad whose backward transposes explicitly,
 * choosing the side with fewer elements to transpose (the wasm Transpose kernel costs
 * about 8 ns per element). Sums over the batch axis (bias gradients) are a ones-row
 * matMul: `tf.sum(x, 0)` transposes internally (0.53 ms vs 0.04 ms for [1024, 64]).
 * bench/dense.ts measures a whole step both ways.
 *
 * `explicit = false` gives the stock tfjs ops instead.
 */
import * as tf from '@tensorflow/tfjs';

type Grads = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
type Custom = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => { value: tf.Tensor; gradFunc: Grads };

/** aᵀ b for a [K, M], b [K, N]: one transpose of a, or of b and the result, whichever is smaller. */
export function matMulTN(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const [k, m] = a.shape;
  const n = b.shape[1];
  return k * m <= k * n + m * n
    ? tf.matMul(tf.transpose(a), b)
    : (tf.transpose(tf.matMul(tf.transpose(b), a)) as tf.Tensor2D);
}

/** a bᵀ for a [M, K], b [N, K]: one transpose of b, or of a and the result, whichever is smaller. */
export function matMulNT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const [m, k] = a.shape;
  const n = b.shape[0];
  return n * k <= m * k + m * n
    ? tf.matMul(a, tf.transpose(b))
    : (tf.transpose(tf.matMul(b, tf.transpose(a))) as tf.Tensor2D);
}

/** Column sums of x [B, N] as [N], via a ones-row product. */
export function sumRows(x: tf.Tensor2D): tf.Tensor1D {
  const ones = tf.ones([1, x.shape[0]]) as tf.Tensor2D;
  return tf.reshape(tf.matMul(ones, x), [x.shape[1]]);
}

const customMatMul = tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy, [sa, sb]) => [
      matMulNT(dy as tf.Tensor2D, sb as tf.Tensor2D),
      matMulTN(sa as tf.Tensor2D, dy as tf.Tensor2D),
    ],
  };
}) as Custom);

const customMatMulBT = tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: matMulNT(a, b),
    // y = a bᵀ: da = dy b, db = dyᵀ a.
    gradFunc: (dy, [sa, sb]) => [
      tf.matMul(dy as tf.Tensor2D, sb as tf.Tensor2D),
      matMulTN(dy as tf.Tensor2D, sa as tf.Tensor2D),
    ],
  };
}) as Custom);

const customDense = tf.customGrad(((
  x: tf.Tensor2D,
  kernel: tf.Tensor2D,
  bias: tf.Tensor1D,
  save: tf.GradSaveFunc,
) => {
  save([x, kernel]);
  return {
    value: tf.fused.matMul({ a: x, b: kernel, bias }),
    gradFunc: (dy, [sx, sk]) => [
      matMulNT(dy as tf.Tensor2D, sk as tf.Tensor2D),
      matMulTN(sx as tf.Tensor2D, dy as tf.Tensor2D),
      sumRows(dy as tf.Tensor2D),
    ],
  };
}) as Custom);

/** a [M, K] · b [K, N]. */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, explicit = true): tf.Tensor2D {
  return explicit ? (customMatMul(a, b) as tf.Tensor2D) : tf.matMul(a, b);
}

/** a [M, K] · bᵀ for b [N, K]. */
export function matMulBT(a: tf.Tensor2D, b: tf.Tensor2D, explicit = true): tf.Tensor2D {
  return explicit ? (customMatMulBT(a, b) as tf.Tensor2D) : tf.matMul(a, b, false, true);
}

/**
 * x [B, I] · kernel [I, O] + bias [O]. With I = 0 (a tower whose every group the selection
 * dropped) the layer is its bias: tfjs-wasm's matmul leaves an output over an empty inner
 * dimension unwritten (whatever the memory held, NaN included) instead of zeros.
 */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, explicit = true): tf.Tensor2D {
  if (x.shape[1] === 0) return tf.add(tf.zeros([x.shape[0], kernel.shape[1]]), bias) as tf.Tensor2D;
  return explicit
    ? (customDense(x, kernel, bias) as tf.Tensor2D)
    : (tf.fused.matMul({ a: x, b: kernel, bias }) as tf.Tensor2D);
}

/**
 * Per-row softmax cross-entropy of logits [B, B] with the positive on the diagonal
 * (in-batch negatives), as [B]. `eye` is the [B, B] identity, kept by the caller.
 *
 * Uses the Softmax kernel (vectorised on wasm; Exp over 1M elements is ~8x slower) and
 * stays exact without a log of a tiny probability: with m = max_j L_ij, the largest
 * probability is 1/Z, so logsumexp_i = m_i - log(max_j P_ij), and max_j P_ij >= 1/B.
 * Gradient: (P - I) scaled by the incoming per-row gradient.
 */
export function inBatchSoftmaxLoss(logits: tf.Tensor2D, eye: tf.Tensor2D): tf.Tensor1D {
  const op = tf.customGrad(((l: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const probabilities = tf.softmax(l);
    save([probabilities]);
    const logSumExp = tf.sub(tf.max(l, 1), tf.log(tf.max(probabilities, 1)));
    const positive = tf.sum(tf.mul(l, eye), 1);
    return {
      value: tf.sub(logSumExp, positive),
      gradFunc: (dy, [p]) => [tf.mul(tf.sub(p, eye), tf.reshape(dy, [-1, 1]))],
    };
  }) as Custom);
  return op(logits) as tf.Tensor1D;
}
