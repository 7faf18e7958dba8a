import { SingleBar } from 'cli-progress';

export interface Progress {
  update(done: number, detail?: string): void;
  stop(): void;
}

const PLAIN_INTERVAL_MS = 5_000;

/**
 * A progress bar on a terminal; elsewhere (CI, pipes, --quiet) a plain line every few
 * seconds, or nothing when quiet.
 */
export function createProgress(
  label: string,
  total: number | undefined,
  options: { quiet?: boolean } = {},
): Progress {
  const started = Date.now();
  if (options.quiet) return { update: () => undefined, stop: () => undefined };
  if (process.stderr.isTTY && total !== undefined) {
    const bar = new SingleBar({
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s {detail}`,
      stream: process.stderr,
      hideCursor: true,
    });
    bar.start(total, 0, { rate: 0, detail: '' });
    return {
      update: (done, detail = '') => bar.update(done, { rate: rate(done, started), detail }),
      stop: () => bar.stop(),
    };
  }
  let lastPrint = started;
  let last = 0;
  return {
    update: (done, detail = '') => {
      last = done;
      const now = Date.now();
      if (now - lastPrint < PLAIN_INTERVAL_MS) return;
      lastPrint = now;
      const of = total === undefined ? '' : `/${total}`;
      process.stderr.write(`${label}: ${done}${of} (${rate(done, started)}/s) ${detail}\n`);
    },
    stop: () => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stderr.write(`${label}: ${last} done in ${seconds} s\n`);
    },
  };
}

function rate(done: number, started: number): number {
  const seconds = (Date.now() - started) / 1000;
  return seconds > 0 ? Math.round(done / seconds) : 0;
}
