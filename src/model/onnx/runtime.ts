/**
 * ONNX Runtime sessions, run synchronously.
 *
 * onnxruntime-node's public `InferenceSession.run` wraps the native binding's synchronous
 * run in a Promise resolved from setImmediate: the work itself blocks the thread either
 * way (two sessions started together with Promise.all ran one after the other, measured
 * here). lemopt's training step is synchronous (the embedding engine's update must follow
 * the dense step before the next batch), so the sessions here call the binding directly:
 * no macrotask hop per step, and a model can be built and stepped without awaiting. The
 * binding's `loadModel` also completes synchronously for sessions without callbacks (its
 * promise is already settled), so a session can run right after it is created.
 *
 * This uses `onnxruntime-node/dist/binding`, an internal module: the dependency is pinned
 * to a minor version (package.json) and `loadOnnxRuntime` checks the shape it relies on,
 * so an incompatible version fails with a message naming it instead of misbehaving.
 */
import { createRequire } from 'node:module';
import { errorMessage } from '../../util/errors.js';

const nodeRequire = createRequire(import.meta.url);

/** The few parts of onnxruntime-common's Tensor that lemopt uses. */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
interface TensorConstructor {
  new (type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensor;
  new (type: 'int64', data: BigInt64Array, dims: readonly number[]): OrtTensor;
}

interface NativeSession {
  loadModel(
    buffer: ArrayBufferLike,
    byteOffset: number,
    byteLength: number,
    options: Record<string, unknown>,
  ): Promise<void>;
  readonly inputMetadata: readonly { readonly name: string }[];
  readonly outputMetadata: readonly { readonly name: string }[];
  run(
    feeds: Record<string, OrtTensor>,
    fetches: Record<string, OrtTensor | null>,
    options: Record<string, unknown>,
  ): Record<string, OrtTensor>;
  dispose(): void;
}

interface Runtime {
  readonly Tensor: TensorConstructor;
  readonly Session: new () => NativeSession;
  readonly version: string;
}

let runtime: Runtime | undefined;

/** Loads onnxruntime-node (once); throws an Error saying why it cannot be used. */
export function loadOnnxRuntime(): Runtime {
  if (runtime) return runtime;
  const ort = nodeRequire('onnxruntime-node') as {
    Tensor?: TensorConstructor;
    env?: { versions?: { node?: string } };
  };
  const internal = nodeRequire('onnxruntime-node/dist/binding') as {
    binding?: { InferenceSession?: new () => NativeSession };
    initOrt?: () => void;
  };
  const version = ort.env?.versions?.node ?? 'unknown';
  if (
    typeof ort.Tensor !== 'function' ||
    typeof internal.initOrt !== 'function' ||
    !internal.binding?.InferenceSession
  ) {
    throw new Error(
      `onnxruntime-node ${version} has no synchronous binding in the shape lemopt uses (tested with 1.31)`,
    );
  }
  internal.initOrt();
  runtime = { Tensor: ort.Tensor, Session: internal.binding.InferenceSession, version };
  return runtime;
}

export interface SessionOptions {
  /** Threads inside one operator (default 1: at lemopt's sizes a second one made steps slower). */
  readonly intraOpThreads?: number;
}

/** Float inputs, or int64 ones (ids of an exported model). */
export type FeedData = Float32Array | BigInt64Array;
export type Feeds = Record<string, { readonly data: FeedData; readonly dims: readonly number[] }>;

export class OnnxSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly session: NativeSession;
  private readonly Tensor: TensorConstructor;
  /** Tensors wrapping long-lived arrays (the parameters), by array and shape. */
  private readonly wrapped = new WeakMap<FeedData, OrtTensor>();
  private disposed = false;

  constructor(model: Uint8Array, options: SessionOptions = {}) {
    const { Tensor, Session } = loadOnnxRuntime();
    this.Tensor = Tensor;
    this.session = new Session();
    // A session that fails to load reports why only through the rejected promise, after
    // this constructor has thrown: the reason follows as a warning.
    let thrown = false;
    this.session
      .loadModel(model.buffer, model.byteOffset, model.byteLength, {
        intraOpNumThreads: options.intraOpThreads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      })
      .catch((error: unknown) => {
        if (thrown) process.emitWarning(`ONNX Runtime did not load a lemopt graph: ${errorMessage(error)}`);
      });
    try {
      this.inputNames = this.session.inputMetadata.map((input) => input.name);
      this.outputNames = this.session.outputMetadata.map((output) => output.name);
    } catch (error) {
      thrown = true;
      throw new Error(
        `ONNX Runtime could not load a lemopt graph (${errorMessage(error).replace(/\.$/, '')}; the reason follows)`,
      );
    }
  }

  /**
   * Runs the graph; `feeds` must hold every input. Arrays in `stable` are wrapped once and
   * reused (their values may change between runs, not their size). Returns the outputs
   * asked for, as fresh arrays.
   */
  run(feeds: Feeds, outputs: readonly string[], stable?: ReadonlySet<string>): Record<string, Float32Array> {
    if (this.disposed) throw new Error('this ONNX session was disposed');
    const tensors: Record<string, OrtTensor> = {};
    for (const name of this.inputNames) {
      const feed = feeds[name];
      if (feed === undefined) throw new Error(`no value for the graph input '${name}'`);
      tensors[name] = stable?.has(name) ? this.wrap(feed.data, feed.dims) : this.tensor(feed.data, feed.dims);
    }
    const fetches: Record<string, null> = {};
    for (const name of outputs) fetches[name] = null;
    const results = this.session.run(tensors, fetches, {});
    const arrays: Record<string, Float32Array> = {};
    for (const name of outputs) arrays[name] = results[name].data as Float32Array;
    return arrays;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.session.dispose();
  }

  private tensor(data: FeedData, dims: readonly number[]): OrtTensor {
    return data instanceof BigInt64Array
      ? new this.Tensor('int64', data, dims)
      : new this.Tensor('float32', data, dims);
  }

  private wrap(data: FeedData, dims: readonly number[]): OrtTensor {
    let tensor = this.wrapped.get(data);
    if (tensor === undefined || tensor.dims.join(',') !== dims.join(',')) {
      tensor = this.tensor(data, dims);
      this.wrapped.set(data, tensor);
    }
    return tensor;
  }
}
