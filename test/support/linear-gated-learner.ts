/**
 * The linear special case of Sequential Attention (Yasuda et al., ICLR 2023): a linear
 * model with one gate per column and least-squares loss,
 *
 *   ŷ = b + Σ_j g_j w_j x_j,   loss = 1/(2n) ‖y − ŷ‖² + λ/2 Σ_{j unselected} w_j²,
 *
 * with g_j = 1 for selected columns (and for every column in mode 'ones') and
 * g = softmax over the unselected columns' logits otherwise.
 *
 * The ℓ2 penalty on the gated weights is what gives the logits something to learn:
 * without it only g_j w_j matters and any gate value fits as well as any other. With the
 * weights at their optimum for the current gates, ∂loss/∂g_j = −g_j (x_jᵀ r / n)² / λ, r
 * the model's residual; while the gated coefficients g_j w_j are small (λ large next to
 * the gates) r is the selected columns' least-squares residual, so the logits grow in the
 * order of |x_jᵀ r|, which is what OMP ranks by, and the softmax ends on OMP's pick. The
 * selected columns are not penalised: they are fit by plain least squares, as OMP refits
 * them. The penalty depends on the columns' scale: give standardised columns.
 *
 * That argument needs the weights to keep up with the logits (logit steps small next to
 * the weights' convergence), and rounds long enough for the softmax to settle.
 *
 * Training is full-batch gradient descent in Float64, deterministic. The loss is
 * quadratic in the data, so each step computes the exact full-batch gradient from the
 * sufficient statistics XᵀX/n, Xᵀy/n and the means (d² work instead of n·d). Each weight's
 * step is scaled by the inverse of its diagonal Hessian entry (g_j² (XᵀX/n)_jj, + λ when
 * gated), so penalised and unpenalised weights converge at the same pace.
 */
import type { GateMode, GatedLearner } from '../../src/selection/sequential-attention.js';

export interface LinearGatedOptions {
  /** Step size of the weights and the bias. */
  readonly learningRate: number;
  /** Step size of the logits. */
  readonly logitLearningRate: number;
  /** λ: the ℓ2 penalty on the unselected (gated) weights in mode 'attention'. */
  readonly l2: number;
}

export class LinearGatedLearner implements GatedLearner {
  readonly numCandidates: number;
  readonly weights: Float64Array;
  bias = 0;
  private readonly logits: Float64Array;
  private selected: Uint8Array;
  /** XᵀX / n, d x d row-major. */
  private readonly gram: Float64Array;
  /** Xᵀy / n. */
  private readonly xy: Float64Array;
  private readonly xMean: Float64Array;
  private readonly yMean: number;

  constructor(
    x: Float64Array,
    y: Float64Array,
    readonly n: number,
    readonly d: number,
    readonly options: LinearGatedOptions,
  ) {
    this.numCandidates = d;
    this.weights = new Float64Array(d);
    this.logits = new Float64Array(d);
    this.selected = new Uint8Array(d);
    this.gram = new Float64Array(d * d);
    this.xy = new Float64Array(d);
    this.xMean = new Float64Array(d);
    let ySum = 0;
    for (let i = 0; i < n; i++) {
      const row = i * d;
      ySum += y[i];
      for (let a = 0; a < d; a++) {
        const value = x[row + a];
        this.xMean[a] += value / n;
        this.xy[a] += (value * y[i]) / n;
        for (let b = 0; b <= a; b++) this.gram[a * d + b] += (value * x[row + b]) / n;
      }
    }
    for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) this.gram[b * d + a] = this.gram[a * d + b];
    this.yMean = ySum / n;
  }

  async train(steps: number, mode: GateMode): Promise<void> {
    for (let step = 0; step < steps; step++) this.step(mode);
  }

  setSelected(mask: Uint8Array): void {
    this.selected = mask.slice();
  }

  resetLogits(): void {
    this.logits.fill(0);
  }

  gateValues(): Float32Array {
    return Float32Array.from(this.gates('attention'));
  }

  private gates(mode: GateMode): Float64Array {
    const gates = new Float64Array(this.d).fill(1);
    if (mode === 'ones') return gates;
    let max = -Infinity;
    for (let j = 0; j < this.d; j++) if (!this.selected[j]) max = Math.max(max, this.logits[j]);
    let total = 0;
    for (let j = 0; j < this.d; j++) {
      if (this.selected[j]) continue;
      gates[j] = Math.exp(this.logits[j] - max);
      total += gates[j];
    }
    for (let j = 0; j < this.d; j++) if (!this.selected[j]) gates[j] /= total;
    return gates;
  }

  /** ∂loss/∂β for the effective coefficients β: G β + b μ − Xᵀy/n. */
  private betaGradient(beta: Float64Array): Float64Array {
    const { d, gram } = this;
    const gradient = new Float64Array(d);
    for (let a = 0; a < d; a++) {
      let sum = this.bias * this.xMean[a] - this.xy[a];
      for (let b = 0; b < d; b++) sum += gram[a * d + b] * beta[b];
      gradient[a] = sum;
    }
    return gradient;
  }

  private step(mode: GateMode): void {
    const { d, weights, logits, selected } = this;
    const { learningRate, logitLearningRate, l2 } = this.options;
    const gates = this.gates(mode);
    const beta = gates.map((gate, j) => gate * weights[j]);
    const gradBeta = this.betaGradient(beta);
    let gradBias = this.bias - this.yMean;
    for (let j = 0; j < d; j++) gradBias += this.xMean[j] * beta[j];
    // Logits: ∂loss/∂g_j = w_j ∂loss/∂β_j through the softmax over the unselected columns.
    const gradGate = gradBeta.map((g, j) => g * weights[j]);
    let mean = 0;
    if (mode === 'attention') for (let j = 0; j < d; j++) if (!selected[j]) mean += gates[j] * gradGate[j];
    for (let j = 0; j < d; j++) {
      const gated = mode === 'attention' && !selected[j];
      // Step scaled by the inverse diagonal of the Hessian in w_j (Jacobi preconditioning).
      const curvature = gates[j] * gates[j] * this.gram[j * d + j] + (gated ? l2 : 0);
      const gradient = gates[j] * gradBeta[j] + (gated ? l2 * weights[j] : 0);
      weights[j] -= (learningRate * gradient) / Math.max(curvature, 1e-12);
      if (gated) logits[j] -= logitLearningRate * gates[j] * (gradGate[j] - mean);
    }
    this.bias -= learningRate * gradBias;
  }
}
