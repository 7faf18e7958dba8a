/**
 * Commands from the main thread to its embedding worker through one small
 * SharedArrayBuffer, without a message per step: the main thread writes a command into
 * a ring and bumps `posted`; the worker runs commands in order and bumps `done`. Either
 * side spins a while before it sleeps in Atomics.wait, because a thread woken from
 * Atomics.wait takes 20-30 µs to run again (measured here) while the other side often
 * finishes within that time. The main thread, which has nothing else to do while it
 * waits, spins longer than the worker, whose core may be wanted by other work (data
 * loading) between steps.
 *
 * Up to RING commands may wait: the main thread queues backward and update of a step,
 * and the next forward behind them, without waiting in between.
 */

export const Command = {
  forward: 1,
  backward: 2,
  update: 3,
  /** Read one request from the message port and answer it there. */
  request: 4,
  /** Nothing: measures a round trip. */
  noop: 5,
} as const;
export type CommandCode = (typeof Command)[keyof typeof Command];

export interface PostedCommand {
  readonly code: CommandCode;
  readonly rows: number;
  readonly rate: number;
}

const RING = 4;
/** Int32 slots. */
const POSTED = 0;
const DONE = 1;
const FAILED = 2;
const READY = 3;
const RING_START = 4;
/** Float64 slots (a learning rate per ring slot), after the Int32 ones. */
const INT_SLOTS = RING_START + 2 * RING;
const FLOAT_SLOTS = RING;
/** `done` of a worker that has exited. */
const EXITED = -1;
const MAIN_SPIN_MS = 0.1;
const WORKER_SPIN_MS = 0.03;

export class CommandChannel {
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;
  /** Worker side: sequence number of the last command taken. */
  private taken = 0;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.ints = new Int32Array(buffer, 0, INT_SLOTS);
    this.floats = new Float64Array(buffer, INT_SLOTS * 4, FLOAT_SLOTS);
  }

  static create(): CommandChannel {
    return new CommandChannel(new SharedArrayBuffer(INT_SLOTS * 4 + FLOAT_SLOTS * 8));
  }

  // Main thread.

  /** Queues a command (waiting for room in the ring); returns its sequence number (see settle). */
  post(code: CommandCode, rows = 0, rate = 0): number {
    const sequence = this.ints[POSTED] + 1;
    this.waitDone(sequence - RING);
    const slot = sequence % RING;
    this.ints[RING_START + 2 * slot] = code;
    this.ints[RING_START + 2 * slot + 1] = rows;
    this.floats[slot] = rate;
    Atomics.store(this.ints, POSTED, sequence);
    Atomics.notify(this.ints, POSTED);
    return sequence;
  }

  get ready(): boolean {
    return Atomics.load(this.ints, READY) === 1;
  }

  /**
   * Waits until the worker has run the commands up to sequence number `through` (all
   * posted ones by default). Returns 'failed' when a command threw (its error waits on
   * the message port), after the commands queued behind it have been skipped, and clears
   * the mark; 'exited' when the worker thread is gone.
   */
  settle(through = this.ints[POSTED]): 'done' | 'failed' | 'exited' {
    if (this.waitDone(through) === EXITED) return 'exited';
    if (Atomics.load(this.ints, FAILED) === 0) return 'done';
    if (this.waitDone(this.ints[POSTED]) === EXITED) return 'exited';
    Atomics.store(this.ints, FAILED, 0);
    return 'failed';
  }

  private waitDone(through: number): number {
    return waitFor(this.ints, DONE, MAIN_SPIN_MS, (value) => value >= through || value === EXITED);
  }

  // Worker thread.

  markReady(): void {
    Atomics.store(this.ints, READY, 1);
  }

  markExited(): void {
    Atomics.store(this.ints, DONE, EXITED);
    Atomics.notify(this.ints, DONE);
  }

  /** The next command, waiting for it. */
  take(): PostedCommand {
    const sequence = this.taken + 1;
    waitFor(this.ints, POSTED, WORKER_SPIN_MS, (value) => value >= sequence);
    this.taken = sequence;
    const slot = sequence % RING;
    return {
      code: this.ints[RING_START + 2 * slot] as CommandCode,
      rows: this.ints[RING_START + 2 * slot + 1],
      rate: this.floats[slot],
    };
  }

  /** Marks the taken command done. */
  complete(): void {
    Atomics.store(this.ints, DONE, this.taken);
    Atomics.notify(this.ints, DONE);
  }

  /** Marks a command as failed; the commands queued after it are skipped until the main thread has seen it. */
  markFailed(): void {
    Atomics.store(this.ints, FAILED, 1);
  }

  get failed(): boolean {
    return Atomics.load(this.ints, FAILED) === 1;
  }
}

function waitFor(ints: Int32Array, index: number, spinMs: number, until: (value: number) => boolean): number {
  let value = Atomics.load(ints, index);
  if (until(value)) return value;
  const spinEnd = performance.now() + spinMs;
  while (performance.now() < spinEnd) {
    value = Atomics.load(ints, index);
    if (until(value)) return value;
  }
  for (;;) {
    Atomics.wait(ints, index, value);
    value = Atomics.load(ints, index);
    if (until(value)) return value;
  }
}
