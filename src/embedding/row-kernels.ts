/**
 * Loops over one embedding row: dst[o .. o+dims) op src[s .. s+dims). Unrolled by four
 * (V8 does not unroll or vectorise; this removes about a quarter of the loop cost) with a
 * remainder loop for dims that are not a multiple of four. Small enough for TurboFan to
 * inline into the gather and scatter loops.
 */

/** dst[o+d] = src[s+d] */
export function copyRow(dst: Float32Array, o: number, src: Float32Array, s: number, dims: number): void {
  let d = 0;
  for (; d + 4 <= dims; d += 4) {
    dst[o + d] = src[s + d];
    dst[o + d + 1] = src[s + d + 1];
    dst[o + d + 2] = src[s + d + 2];
    dst[o + d + 3] = src[s + d + 3];
  }
  for (; d < dims; d++) dst[o + d] = src[s + d];
}

/** dst[o+d] += src[s+d] */
export function addRow(dst: Float32Array, o: number, src: Float32Array, s: number, dims: number): void {
  let d = 0;
  for (; d + 4 <= dims; d += 4) {
    dst[o + d] += src[s + d];
    dst[o + d + 1] += src[s + d + 1];
    dst[o + d + 2] += src[s + d + 2];
    dst[o + d + 3] += src[s + d + 3];
  }
  for (; d < dims; d++) dst[o + d] += src[s + d];
}

/** dst[o+d] = scale * src[s+d] */
export function copyScaledRow(
  dst: Float32Array,
  o: number,
  src: Float32Array,
  s: number,
  dims: number,
  scale: number,
): void {
  let d = 0;
  for (; d + 4 <= dims; d += 4) {
    dst[o + d] = scale * src[s + d];
    dst[o + d + 1] = scale * src[s + d + 1];
    dst[o + d + 2] = scale * src[s + d + 2];
    dst[o + d + 3] = scale * src[s + d + 3];
  }
  for (; d < dims; d++) dst[o + d] = scale * src[s + d];
}

/** dst[o+d] += scale * src[s+d] */
export function addScaledRow(
  dst: Float32Array,
  o: number,
  src: Float32Array,
  s: number,
  dims: number,
  scale: number,
): void {
  let d = 0;
  for (; d + 4 <= dims; d += 4) {
    dst[o + d] += scale * src[s + d];
    dst[o + d + 1] += scale * src[s + d + 1];
    dst[o + d + 2] += scale * src[s + d + 2];
    dst[o + d + 3] += scale * src[s + d + 3];
  }
  for (; d < dims; d++) dst[o + d] += scale * src[s + d];
}

/** dst[o+d] *= scale */
export function scaleRow(dst: Float32Array, o: number, dims: number, scale: number): void {
  let d = 0;
  for (; d + 4 <= dims; d += 4) {
    dst[o + d] *= scale;
    dst[o + d + 1] *= scale;
    dst[o + d + 2] *= scale;
    dst[o + d + 3] *= scale;
  }
  for (; d < dims; d++) dst[o + d] *= scale;
}

/** dst[o+d] = decay * dst[o+d] - rate * src[s+d]: a plain (decoupled-decay) gradient step. */
export function stepRow(
  dst: Float32Array,
  o: number,
  src: Float32Array,
  s: number,
  dims: number,
  decay: number,
  rate: number,
): void {
  let d = 0;
  for (; d + 4 <= dims; d += 4) {
    dst[o + d] = decay * dst[o + d] - rate * src[s + d];
    dst[o + d + 1] = decay * dst[o + d + 1] - rate * src[s + d + 1];
    dst[o + d + 2] = decay * dst[o + d + 2] - rate * src[s + d + 2];
    dst[o + d + 3] = decay * dst[o + d + 3] - rate * src[s + d + 3];
  }
  for (; d < dims; d++) dst[o + d] = decay * dst[o + d] - rate * src[s + d];
}

/** Σ src[s+d]² */
export function sumSquaresRow(src: Float32Array, s: number, dims: number): number {
  let a = 0;
  let b = 0;
  let d = 0;
  for (; d + 4 <= dims; d += 4) {
    const x0 = src[s + d];
    const x1 = src[s + d + 1];
    const x2 = src[s + d + 2];
    const x3 = src[s + d + 3];
    a += x0 * x0 + x2 * x2;
    b += x1 * x1 + x3 * x3;
  }
  for (; d < dims; d++) a += src[s + d] * src[s + d];
  return a + b;
}
