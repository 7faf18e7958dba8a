import { parseQueueUrl } from '../experiment/distributed/queue-address.js';
import { errorMessage } from '../util/errors.js';
import { UsageError } from './usage.js';

/** --queue checked while the command line is: a bad URL is a usage error (status 2). */
export function usableQueueUrl(text: string): URL {
  try {
    return parseQueueUrl(text);
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
}
