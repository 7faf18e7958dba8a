/**
 * Worker process body of `lemopt sweep` (started by src/experiment/sweep.ts): receives one
 * job over IPC, runs it, replies with its result or error, and exits. Its log lines go to
 * stderr, which the sweep sends to the job's log file. A trial is self-contained: a
 * resolved config in, its run folder out, so any scheduler could run it the same way.
 */
import { prepareDataset } from '../data/dataset.js';
import { describeBackend, selectBackend } from '../model/backend.js';
import { errorMessage, LemoptError } from '../util/errors.js';
import type { CostModel } from '../selection/cost-model.js';
import { checkBudgets } from '../selection/picker.js';
import { latencyModel, runCosts, runSelection, trainStage } from './run.js';
import type { SweepJob, SweepJobReply, TrialSelection, UnaffordableTrial } from './sweep-jobs.js';
import { configKey } from './train.js';

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

async function run(job: SweepJob): Promise<SweepJobReply> {
  const { config } = job;
  if (job.kind === 'trial') {
    const result = await runSelection(config, { backend: job.backend, log });
    return { type: 'done', backend: result.backend };
  }
  const choice = await selectBackend({ flag: job.backend, config: config.model.backend });
  log(describeBackend(choice));
  if (job.kind === 'prepare') {
    const dataset = await prepareDataset(config, { cacheDir: job.dir });
    const done = { type: 'done', backend: choice.backend, fingerprint: dataset.fingerprint } as const;
    // As in `lemopt run`: memory budgets before calibrating, latency budgets before training.
    const memoryCosts = runCosts(config, dataset);
    const memoryFails = unaffordable(job.trials, memoryCosts);
    if (memoryFails.length > 0) return { ...done, unaffordable: memoryFails };
    const latency = await latencyModel(config, dataset, job.dir, choice.backend, log);
    const costs = memoryCosts.withLatency(latency.coefficients);
    return { ...done, latency, unaffordable: unaffordable(job.trials, costs) };
  }
  const dataset = await prepareDataset(config, { cacheDir: job.cacheDir });
  const full = await trainStage(config, dataset, job.dir, configKey(config), choice.backend, { log });
  return { type: 'done', backend: choice.backend, test: full.test };
}

/** The trials whose budgets not even one candidate fits under `costs`. */
function unaffordable(trials: readonly TrialSelection[], costs: CostModel): UnaffordableTrial[] {
  return trials.flatMap(({ id, selection }) => {
    const problem = checkBudgets(selection, costs).nothingFits;
    return problem === undefined ? [] : [{ id, problem }];
  });
}

function reply(message: SweepJobReply, code: number): void {
  process.send!(message, () => process.exit(code));
}

if (!process.send) {
  process.stderr.write('sweep-trial: run by `lemopt sweep` as a worker process, not by hand\n');
  process.exit(2);
}
// The sweep is gone (killed): stop too; the next sweep resumes this job.
process.on('disconnect', () => process.exit(1));
process.once('message', (job: SweepJob) => {
  log(`${job.kind} job: ${job.config.output.dir ?? ''}`);
  run(job).then(
    (result) => {
      log(`${job.kind} job done`);
      reply(result, 0);
    },
    (error: unknown) => {
      const userError = error instanceof LemoptError;
      const stack = !userError && error instanceof Error ? error.stack : undefined;
      log(`failed: ${stack ?? errorMessage(error)}`);
      reply({ type: 'error', message: errorMessage(error), userError, stack }, 1);
    },
  );
});
