/**
 * The main thread's handle of the worker thread that runs a share of the tables
 * (shard-worker.ts). Steps go through the CommandChannel; the rare requests (a new split,
 * new exchange buffers, pending gradients, scratch bytes) and the worker's errors go over
 * a MessagePort read synchronously with receiveMessageOnPort, so no call waits for the
 * event loop. The worker starts in the background; `running` says when it has.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import { LemoptError } from '../util/errors.js';
import { Command, CommandChannel } from './command-channel.js';
import type { ExchangeBuffers } from './exchange.js';
import type { EmbeddingSpec } from './layout.js';
import type { ResolvedOptimizerConfig } from './optimizers.js';
import type { PendingGradient } from './shard.js';
import { startWorker } from '../util/start-worker.js';
import type { TableArrays } from './table-state.js';

export interface ShardWorkerData {
  readonly spec: EmbeddingSpec;
  readonly optimizer: ResolvedOptimizerConfig;
  /** Every table's shared arrays, in table order. */
  readonly tables: readonly TableArrays[];
  /** Milliseconds spent per table (the worker adds its tables' times). */
  readonly clock: Float64Array;
  readonly control: SharedArrayBuffer;
  readonly port: MessagePort;
  /** The exchange buffers until the main thread sends others. */
  readonly exchange: ExchangeBuffers;
}

export type WorkerRequest =
  /** Own `tables` (and no other) at these active dims. */
  | { readonly kind: 'own'; readonly tables: readonly number[]; readonly activeDims: Int32Array }
  | { readonly kind: 'exchange'; readonly buffers: ExchangeBuffers }
  | { readonly kind: 'discard' }
  | { readonly kind: 'has-pending' }
  | { readonly kind: 'pending'; readonly table: number; readonly dims: number }
  | { readonly kind: 'scratch-bytes' };

export type ReplyValue = PendingGradient | boolean | number | null;

export type WorkerReply =
  | { readonly kind: 'reply'; readonly value: ReplyValue }
  | { readonly kind: 'error'; readonly name: string; readonly message: string };

export class WorkerShard {
  private readonly channel = CommandChannel.create();
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private failureReason: Error | undefined;
  private readonly started: Promise<void>;

  constructor(
    spec: EmbeddingSpec,
    optimizer: ResolvedOptimizerConfig,
    tables: readonly TableArrays[],
    clock: Float64Array,
    exchange: ExchangeBuffers,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const control = this.channel.buffer;
    const workerData: ShardWorkerData = { spec, optimizer, tables, clock, control, port: port2, exchange };
    this.worker = startWorker(new URL('./shard-worker.js', import.meta.url), {
      workerData,
      transferList: [port2],
    });
    // A store that is never disposed must not keep the process alive.
    this.worker.unref();
    this.started = new Promise<void>((resolve, reject) => {
      const fail = (error: Error): void => {
        this.failureReason ??= error;
        reject(error);
      };
      this.worker.once('message', () => resolve());
      this.worker.once('error', fail);
      this.worker.once('exit', (code) =>
        fail(new Error(`the embedding worker thread stopped (exit code ${code})`)),
      );
    });
    this.started.catch(() => undefined);
  }

  /** Resolves when the worker takes commands; rejects when it cannot start. */
  whenRunning(): Promise<void> {
    return this.started;
  }

  get running(): boolean {
    return this.channel.ready && this.failureReason === undefined;
  }

  /** Why the worker could not start (or stopped), once the event loop has told. */
  get failure(): Error | undefined {
    return this.failureReason;
  }

  /** forward, backward and update queue their command and return its sequence number. */
  forward(numRows: number): number {
    return this.channel.post(Command.forward, numRows);
  }

  backward(numRows: number): number {
    return this.channel.post(Command.backward, numRows);
  }

  update(learningRate: number): number {
    return this.channel.post(Command.update, 0, learningRate);
  }

  /**
   * Waits until the worker has run the commands up to sequence number `through` (all by
   * default); rethrows the error of one that failed.
   */
  settle(through?: number): void {
    const outcome = this.channel.settle(through);
    if (outcome === 'exited')
      throw this.failureReason ?? new Error('the embedding worker thread has stopped');
    if (outcome === 'failed') throw this.receivedError();
  }

  /** A round trip with nothing to do (benchmarks). */
  roundTrip(): void {
    this.channel.post(Command.noop);
    this.settle();
  }

  request(request: {
    readonly kind: 'pending';
    readonly table: number;
    readonly dims: number;
  }): PendingGradient;
  request(request: { readonly kind: 'scratch-bytes' }): number;
  request(request: { readonly kind: 'has-pending' }): boolean;
  request(request: WorkerRequest): null;
  request(request: WorkerRequest): ReplyValue {
    this.port.postMessage(request);
    this.channel.post(Command.request);
    this.settle();
    const reply = receiveMessageOnPort(this.port)?.message as WorkerReply | undefined;
    if (reply?.kind !== 'reply') throw new Error(`the embedding worker did not answer '${request.kind}'`);
    return reply.value;
  }

  /** Ends the worker thread, at once. */
  stop(): void {
    void this.worker.terminate();
  }

  private receivedError(): Error {
    const reply = receiveMessageOnPort(this.port)?.message as WorkerReply | undefined;
    if (reply?.kind !== 'error') return new Error('the embedding worker failed without saying why');
    const types: Record<string, new (message: string) => Error> = { RangeError, TypeError, LemoptError };
    return new (types[reply.name] ?? Error)(reply.message);
  }
}
