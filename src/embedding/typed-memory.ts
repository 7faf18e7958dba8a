/**
 * Where the store's typed arrays live: ordinary ArrayBuffers for a store on one thread,
 * SharedArrayBuffers for one whose tables are split with a worker thread (each thread
 * then holds views of the same memory).
 */

export interface ArrayAllocator {
  readonly shared: boolean;
  float32(length: number): Float32Array;
  float64(length: number): Float64Array;
  int32(length: number): Int32Array;
}

export function arrayAllocator(shared: boolean): ArrayAllocator {
  const buffer = (bytes: number): ArrayBufferLike =>
    shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  return {
    shared,
    float32: (length) => new Float32Array(buffer(length * Float32Array.BYTES_PER_ELEMENT)),
    float64: (length) => new Float64Array(buffer(length * Float64Array.BYTES_PER_ELEMENT)),
    int32: (length) => new Int32Array(buffer(length * Int32Array.BYTES_PER_ELEMENT)),
  };
}

export const SHARED_ARRAYS = arrayAllocator(true);
