import type { TrainConfig } from '../config/schema.js';

/**
 * The learning-rate factor at a point of training, `progress` in epochs (fractional):
 * constant 1; exponential lr_decay per epoch; cosine from 1 to 0 over all epochs.
 */
export function learningRateFactor(
  train: Pick<TrainConfig, 'lr_schedule' | 'lr_decay' | 'epochs'>,
  progress: number,
): number {
  switch (train.lr_schedule) {
    case 'constant':
      return 1;
    case 'exponential':
      return train.lr_decay ** progress;
    case 'cosine':
      return 0.5 * (1 + Math.cos((Math.PI * Math.min(progress, train.epochs)) / train.epochs));
  }
}
