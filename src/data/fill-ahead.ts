/**
 * A pass over the source started before anyone asks for its rows: it runs to the end on
 * its own, and a consumer that arrives while it runs follows it (the rows it has, then
 * each new one as it comes) instead of reading the source a second time.
 *
 * Memory: the pass keeps its batches for followers yet to come up to `holdBytes`; past
 * that it lets go of every batch its present followers have taken, and a newcomer reads
 * the source on its own instead.
 */
import { batchBytes } from './split-block.js';
import type { EncodedBatch } from './encoder.js';

export class FillAhead {
  private readonly batches: (EncodedBatch | undefined)[] = [];
  private heldBytes = 0;
  /** Batches before this index are let go. */
  private released = 0;
  private done = false;
  private failure: { error: unknown } | undefined;
  private readonly positions = new Set<{ index: number }>();
  private waiters: (() => void)[] = [];
  /** Settles when the pass has ended, well or not. */
  readonly finished: Promise<void>;

  constructor(
    pass: AsyncIterable<EncodedBatch>,
    private readonly holdBytes: number,
  ) {
    this.finished = this.run(pass);
  }

  /** A follower may join while the pass runs and has let nothing go. */
  get followable(): boolean {
    return !this.done && this.released === 0;
  }

  private async run(pass: AsyncIterable<EncodedBatch>): Promise<void> {
    try {
      for await (const batch of pass) {
        this.batches.push(batch);
        this.heldBytes += batchBytes(batch) + batch.splits.byteLength;
        this.release();
        this.wake();
      }
    } catch (error) {
      this.failure = { error };
    } finally {
      this.done = true;
      this.release();
      this.wake();
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Every row of the pass, in source order; its error, if it fails. */
  async *follow(): AsyncGenerator<EncodedBatch> {
    if (!this.followable)
      throw new Error('FillAhead.follow: the pass has let rows go; read the source instead');
    const position = { index: 0 };
    this.positions.add(position);
    try {
      while (true) {
        if (position.index < this.batches.length) {
          const batch = this.batches[position.index]!;
          position.index += 1;
          this.release();
          yield batch;
          continue;
        }
        if (this.done) {
          if (this.failure) throw this.failure.error;
          return;
        }
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    } finally {
      this.positions.delete(position);
      this.release();
    }
  }

  /** Past holdBytes (or once the pass is over), lets go of what every present follower has taken. */
  private release(): void {
    if (this.heldBytes <= this.holdBytes && !this.done) return;
    let slowest = this.batches.length;
    for (const position of this.positions) slowest = Math.min(slowest, position.index);
    for (let i = this.released; i < slowest; i++) this.batches[i] = undefined;
    this.released = Math.max(this.released, slowest);
  }
}
