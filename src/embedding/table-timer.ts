/**
 * Times the tables of a two-thread store, so that its split can follow what the tables
 * cost on this machine rather than estimates (partition.ts). Each thread adds the
 * milliseconds it spends on a table to `clock` (shared memory, one entry per table, each
 * written by the table's owner only); the main thread adds the copies it makes for the
 * worker. Timing runs in windows of steps: a window starts a few steps after a new split
 * (the first ones compile the worker's code and warm its caches), and at its end the
 * store compares its split with the best one for the measured costs, smoothed over
 * windows so that one disturbed window does not decide alone. The clock is only read
 * and reset while the worker is idle.
 */
import type { ArrayAllocator } from './typed-memory.js';

const UNTIMED_STEPS = 5;
const TIMED_STEPS = 25;

export class TableTimer {
  readonly clock: Float64Array;
  private copyMs = 0;
  private steps = 0;
  /** Step count when the window started; undefined before. */
  private windowStart: number | undefined;
  /** Milliseconds per step of each table and of the copies, smoothed over windows. */
  private costs: Float64Array | undefined;
  private copyCost = 0;

  constructor(tables: number, memory: ArrayAllocator) {
    this.clock = memory.float64(tables);
  }

  addCopy(ms: number): void {
    this.copyMs += ms;
  }

  countStep(): void {
    this.steps++;
  }

  /** A new split: its first window starts UNTIMED_STEPS steps later. */
  restart(): void {
    this.steps = 0;
    this.windowStart = undefined;
  }

  /** The tables' costs changed (active dims): forget the measured ones. */
  forget(): void {
    this.costs = undefined;
  }

  /** What is due between two steps: starting a window, deciding on one, or nothing. */
  due(): 'start' | 'decide' | undefined {
    if (this.windowStart === undefined) return this.steps >= UNTIMED_STEPS ? 'start' : undefined;
    return this.steps - this.windowStart >= TIMED_STEPS ? 'decide' : undefined;
  }

  /** Starts a window (the worker is idle). */
  startWindow(): void {
    this.clock.fill(0);
    this.copyMs = 0;
    this.windowStart = this.steps;
  }

  /** Ends the window (the worker is idle): the smoothed costs per step, and starts the next window. */
  measured(): { readonly costs: Float64Array; readonly copyCost: number } {
    const steps = Math.max(1, this.steps - (this.windowStart ?? 0));
    const fresh = this.clock.map((ms) => ms / steps);
    const copies = this.copyMs / steps;
    if (this.costs === undefined) {
      this.costs = fresh;
      this.copyCost = copies;
    } else {
      for (let t = 0; t < fresh.length; t++) this.costs[t] = (this.costs[t] + fresh[t]) / 2;
      this.copyCost = (this.copyCost + copies) / 2;
    }
    this.startWindow();
    return { costs: this.costs, copyCost: this.copyCost };
  }
}
