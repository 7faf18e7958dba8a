/**
 * What the main thread hands its embedding worker each step, in shared memory instead of
 * a structured clone: the ids (and offsets) of the worker's features, and one staging
 * matrix per tower that holds the tower input after forward (the worker writes its
 * columns there) and the tower input's gradient before backward. Staging is needed at
 * all because onnxruntime-node rejects tensors over a SharedArrayBuffer ("Invalid
 * argument", checked here), so the tower inputs and gradients the dense engine sees are
 * ordinary arrays, and a memcpy of a whole matrix is about 3x faster than copying the
 * worker's columns row by row.
 *
 * The main thread grows the buffers (by half again, never per step) while the worker is
 * idle and sends it the new set; the worker's views are then valid until the next set.
 */
import type { Batch } from '../data/batcher.js';
import type { EncodedFeature } from '../data/encoder.js';
import type { Tower } from './layout.js';
import type { FeaturePlan } from './lookup.js';
import { SHARED_ARRAYS } from './typed-memory.js';

export interface ExchangeBuffers {
  /** Per feature (layout order); empty for features the worker has not owned. */
  readonly ids: readonly Int32Array[];
  readonly offsets: readonly Int32Array[];
  /** Staging of each tower input and its gradient, row-major [rows, width]. */
  readonly user: Float32Array;
  readonly item: Float32Array;
}

/** Main-thread side: the current buffers, grown to fit. */
export class BatchExchange {
  private current: ExchangeBuffers;

  constructor(numFeatures: number) {
    const none = Array.from({ length: numFeatures }, () => SHARED_ARRAYS.int32(0));
    this.current = {
      ids: none,
      offsets: none,
      user: SHARED_ARRAYS.float32(0),
      item: SHARED_ARRAYS.float32(0),
    };
  }

  get buffers(): ExchangeBuffers {
    return this.current;
  }

  /**
   * Makes room for the ids of the plans' features of `batch` and for `staged` values of
   * each tower. Returns true when the buffers were replaced (send them to the worker).
   */
  fit(batch: Batch, plans: readonly FeaturePlan[], staged: Readonly<Record<Tower, number>>): boolean {
    const ids = [...this.current.ids];
    const offsets = [...this.current.offsets];
    let grown = false;
    for (const plan of plans) {
      const f = plan.feature;
      const need = idsLength(plan, batch.features[f], batch.numRows);
      if (ids[f].length < need) {
        ids[f] = SHARED_ARRAYS.int32(grownLength(ids[f].length, need));
        grown = true;
      }
      if (plan.pooling !== 'none' && offsets[f].length < batch.numRows + 1) {
        offsets[f] = SHARED_ARRAYS.int32(grownLength(offsets[f].length, batch.numRows + 1));
        grown = true;
      }
    }
    let { user, item } = this.current;
    if (user.length < staged.user) user = SHARED_ARRAYS.float32(grownLength(user.length, staged.user));
    if (item.length < staged.item) item = SHARED_ARRAYS.float32(grownLength(item.length, staged.item));
    grown ||= user !== this.current.user || item !== this.current.item;
    if (grown) this.current = { ids, offsets, user, item };
    return grown;
  }

  /** Copies the ids (and offsets) of the plans' features of `batch`; fit() made room. */
  copyIds(batch: Batch, plans: readonly FeaturePlan[]): void {
    for (const plan of plans) {
      const encoded = batch.features[plan.feature];
      this.current.ids[plan.feature].set(encoded.ids.subarray(0, idsLength(plan, encoded, batch.numRows)));
      if (plan.pooling !== 'none')
        this.current.offsets[plan.feature].set(encoded.offsets!.subarray(0, batch.numRows + 1));
    }
  }

  bytes(): number {
    const { ids, offsets, user, item } = this.current;
    return [...ids, ...offsets, user, item].reduce((sum, array) => sum + array.byteLength, 0);
  }
}

/** Worker side: the features of a batch as views of the buffers. */
export function exchangedFeatures(buffers: ExchangeBuffers): EncodedFeature[] {
  return buffers.ids.map((ids, f) => ({ ids, offsets: buffers.offsets[f] }));
}

function idsLength(plan: FeaturePlan, encoded: EncodedFeature, numRows: number): number {
  return plan.pooling === 'none' ? numRows : encoded.offsets![numRows];
}

function grownLength(current: number, need: number): number {
  return Math.max(need, Math.ceil(current * 1.5));
}
