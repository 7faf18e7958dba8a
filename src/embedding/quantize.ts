/**
 * Embedding tables in the precisions memory.ts charges for, as a server stores them:
 *
 *   fp32  the weights as they are
 *   fp16  IEEE half precision, rounded to nearest (ties to even); overflow goes to ±inf
 *   int8  symmetric per-row quantisation: scale = max |w| / 127 over the row (fp32),
 *         q = round(w / scale) in [-127, 127]; w ≈ q × scale. A row of zeros has scale 0.
 */
import type { EmbeddingDtype } from './memory.js';

export const INT8_LEVELS = 127;

export type StoredTable =
  | { readonly dtype: 'fp32'; readonly values: Float32Array }
  | { readonly dtype: 'fp16'; readonly values: Uint16Array }
  | { readonly dtype: 'int8'; readonly values: Int8Array; readonly scales: Float32Array };

/** A [rows, dim] row-major table in `dtype`. */
export function storeTable(
  values: Float32Array,
  rows: number,
  dim: number,
  dtype: EmbeddingDtype,
): StoredTable {
  if (values.length !== rows * dim)
    throw new RangeError(`table has ${values.length} values, expected ${rows} x ${dim}`);
  switch (dtype) {
    case 'fp32':
      return { dtype, values };
    case 'fp16':
      return { dtype, values: toFloat16(values) };
    case 'int8':
      return { dtype, ...quantizeRows(values, rows, dim) };
  }
}

/** Bytes the stored table takes: its values, plus the int8 scales. */
export function storedBytes(table: StoredTable): number {
  return table.values.byteLength + (table.dtype === 'int8' ? table.scales.byteLength : 0);
}

/** Half-precision bits of each value. */
export function toFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return Uint16Array.from(bits, float16Bits);
}

/** The half-precision bits nearest to the float32 with bits `x` (ties to even). */
function float16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half: the value is (1.mantissa) × 2^(exponent − 127) = m × 2^−24.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    return sign | roundShift(mantissa, 14 - halfExponent);
  }
  // A carry out of the mantissa rounds up into the exponent, which is what it should do.
  return sign | ((halfExponent << 10) + roundShift(mantissa, 13));
}

/** value >> shift, rounded to nearest with ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

/** Symmetric per-row int8 quantisation of a [rows, dim] table. */
export function quantizeRows(
  values: Float32Array,
  rows: number,
  dim: number,
): { values: Int8Array; scales: Float32Array } {
  const quantized = new Int8Array(rows * dim);
  const scales = new Float32Array(rows);
  for (let row = 0; row < rows; row++) {
    const start = row * dim;
    let largest = 0;
    for (let k = start; k < start + dim; k++) largest = Math.max(largest, Math.abs(values[k]));
    scales[row] = largest / INT8_LEVELS;
    if (largest === 0) continue;
    const scale = scales[row];
    for (let k = start; k < start + dim; k++) {
      quantized[k] = Math.max(-INT8_LEVELS, Math.min(INT8_LEVELS, Math.round(values[k] / scale)));
    }
  }
  return { values: quantized, scales };
}
