/**
 * `lemopt report DIR`: one self-contained HTML file, DIR/report.html, with SVG plots drawn
 * by Vega-Lite in Node (no browser, no canvas, no script in the page).
 *
 * A run folder (manifest.json) gets its selection order with marginal costs, the attention
 * weights per round, the dims per group and the manifest as tables. A sweep folder
 * (results.csv, summary.json, trials/) gets Pareto curves per method, the area under the
 * curve per method, the trials with links to their own reports (written too), and the run
 * plots of one chosen trial.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { LemoptError } from '../util/errors.js';
import { lemoptVersion } from '../util/version.js';
import { MANIFEST_FILE } from './manifest.js';
import { escapeHtml, figure, integer, note, page, raw, type Html } from './report/html.js';
import { readRunFolder, runSection, type Section } from './report/run-section.js';
import {
  areaTable,
  chooseTrial,
  fullModel,
  metricLabel,
  paretoPlot,
  readSweepFolder,
  trialsTable,
  type SweepFolder,
} from './report/sweep-section.js';
import { renderPlots, type PlotSpec } from './report/vega.js';
import { RESULTS_CSV, SUMMARY_FILE, TRIALS_DIR } from './sweep-results.js';

export const REPORT_FILE = 'report.html';

export type FolderKind = 'run' | 'sweep';

export interface ReportOptions {
  /** The HTML file to write; default DIR/report.html. */
  readonly out?: string;
  /** Sweep: the trial whose run plots to show; default the best Sequential Attention trial at the middle budget. */
  readonly trial?: string;
  /** Sweep: also write trials/<id>/report.html for every finished trial (default true). */
  readonly trialReports?: boolean;
  readonly log?: (line: string) => void;
}

export interface ReportResult {
  readonly file: string;
  readonly kind: FolderKind;
  /** Names of the plots in the page, in order (a sweep's trial plots prefixed `trial/`). */
  readonly plots: readonly string[];
  /** Sweep: the trial shown. */
  readonly trial?: string;
  /** Sweep: the per-trial reports written. */
  readonly trialReports: readonly string[];
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** A run folder has manifest.json, a sweep folder results.csv or summary.json. */
export async function folderKind(dir: string): Promise<FolderKind> {
  if (await exists(path.join(dir, MANIFEST_FILE))) return 'run';
  if ((await exists(path.join(dir, RESULTS_CSV))) || (await exists(path.join(dir, SUMMARY_FILE))))
    return 'sweep';
  if (!(await exists(dir))) throw new LemoptError(`${dir}: no such folder`);
  throw new LemoptError(
    `${dir}: neither a run folder (no ${MANIFEST_FILE}) nor a sweep folder (no ${RESULTS_CSV}); ` +
      'run `lemopt run` or `lemopt sweep` first',
  );
}

function header(title: string, subtitle: string): string {
  const created = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return (
    `<header><h1>${escapeHtml(title)}</h1>` +
    `<p class="meta">${escapeHtml(subtitle)} · written ${created} by lemopt ${escapeHtml(lemoptVersion())}</p></header>`
  );
}

/** The report page of a run folder. */
export async function runReportPage(dir: string): Promise<{ html: string; section: Section }> {
  const run = await readRunFolder(dir);
  const section = await runSection(run, { scope: 'run' });
  const { manifest } = run;
  const kept = manifest.kept.map((group) => `${group.group} (${group.dim})`).join(', ');
  const body = [
    header(
      `lemopt run report: ${path.basename(path.resolve(dir))}`,
      `${manifest.method}, ${manifest.kept.length} kept groups, ${manifest.dropped.length} dropped`,
    ),
    `<p>Kept: ${escapeHtml(kept || 'nothing')}.</p>`,
    section.html,
  ].join('\n');
  return { html: page(`lemopt report: ${path.basename(path.resolve(dir))}`, body), section };
}

/** A link from the sweep's report to a trial's, relative to the sweep report's folder. */
function trialHref(from: string, trialReport: string): string {
  return path
    .relative(path.dirname(from), trialReport)
    .split(path.sep)
    .map((part) => encodeURIComponent(part))
    .join('/');
}

async function writeTrialReports(
  sweep: SweepFolder,
  out: string,
  log: (line: string) => void,
): Promise<{ written: string[]; links: Map<string, Html> }> {
  const written: string[] = [];
  const links = new Map<string, Html>();
  for (const row of sweep.rows) {
    const dir = path.join(sweep.dir, TRIALS_DIR, row.trial);
    if (!(await exists(path.join(dir, MANIFEST_FILE)))) continue;
    const file = path.resolve(dir, REPORT_FILE);
    const { html } = await runReportPage(dir);
    await writeFileAtomic(file, html);
    written.push(file);
    links.set(row.trial, raw(`<a href="${escapeHtml(trialHref(out, file))}">${escapeHtml(row.trial)}</a>`));
    log(`${file}: trial report`);
  }
  return { written, links };
}

interface SweepPage {
  readonly html: string;
  readonly plots: string[];
  readonly trial?: string;
  readonly trialReports: string[];
}

async function sweepReportPage(dir: string, out: string, options: ReportOptions): Promise<SweepPage> {
  const sweep = await readSweepFolder(dir);
  const log = options.log ?? (() => undefined);
  const full = fullModel(sweep);
  const label = metricLabel(full.metric);
  const specs = [paretoPlot(sweep, 'memory'), paretoPlot(sweep, 'latency')].filter(
    (spec): spec is PlotSpec => spec !== null,
  );
  const plots = await renderPlots(specs, 'sweep');
  const drawn = (name: string, missing: string) => {
    const plot = plots.find((p) => p.name === name);
    return plot ? figure(plot) : note(missing, name);
  };
  const { written, links } =
    options.trialReports === false
      ? { written: [], links: new Map<string, Html>() }
      : await writeTrialReports(sweep, out, log);

  const chosen = chooseTrial(sweep, options.trial);
  let trialHtml = note('No finished trial to show.', 'trial');
  let trialPlots: string[] = [];
  if (chosen) {
    const trialDir = path.join(dir, TRIALS_DIR, chosen.row.trial);
    const title = `<h2 id="trial">Trial ${escapeHtml(chosen.row.trial)}</h2>`;
    const link = links.get(chosen.row.trial);
    const intro =
      `<p>${escapeHtml(`Shown: ${chosen.reason}.`)}` +
      `${link ? ` Its own report: ${link.html}; every trial's is linked under Trials.` : ''}</p>`;
    if (await exists(path.join(trialDir, MANIFEST_FILE))) {
      const section = await runSection(await readRunFolder(trialDir), { scope: 'trial', level: 3 });
      trialHtml = `${title}${intro}<section data-section="trial">${section.html}</section>`;
      trialPlots = section.plots.map((plot) => `trial/${plot.name}`);
    } else {
      trialHtml = `${title}${note(`${path.join(trialDir, MANIFEST_FILE)} is missing.`, 'trial')}`;
    }
  }

  const methods = [...new Set(sweep.rows.map((row) => row.method))];
  const fullText = full.test === null ? 'unknown' : full.test.toFixed(4);
  const body = [
    header(
      `lemopt sweep report: ${path.basename(path.resolve(dir))}`,
      `${integer(sweep.rows.length)} trials, methods ${methods.join(', ')}; full model test ${label} ${fullText}`,
    ),
    '<h2>Pareto curves</h2>',
    drawn('pareto-memory', 'No trial has a memory cost.'),
    drawn('pareto-latency', 'No trial has a predicted latency (no latency model).'),
    '<h2>Area under the curve</h2>',
    areaTable(sweep),
    '<h2>Trials</h2>',
    `<details${sweep.rows.length <= 30 ? ' open' : ''}><summary>${sweep.rows.length} trials` +
      `${written.length > 0 ? ', each linked to its own report' : ''}</summary>${trialsTable(sweep, links)}</details>`,
    trialHtml,
  ].join('\n');
  return {
    html: page(`lemopt sweep report: ${path.basename(path.resolve(dir))}`, body),
    plots: [...plots.map((plot) => plot.name), ...trialPlots],
    trial: chosen?.row.trial,
    trialReports: written,
  };
}

/** Writes the report of a run or sweep folder; returns what it wrote. */
export async function writeReport(dir: string, options: ReportOptions = {}): Promise<ReportResult> {
  const kind = await folderKind(dir);
  const file = path.resolve(options.out ?? path.join(dir, REPORT_FILE));
  if (kind === 'run') {
    const { html, section } = await runReportPage(dir);
    await writeFileAtomic(file, html);
    return { file, kind, plots: section.plots.map((plot) => plot.name), trialReports: [] };
  }
  const sweep = await sweepReportPage(dir, file, options);
  await writeFileAtomic(file, sweep.html);
  return { file, kind, plots: sweep.plots, trial: sweep.trial, trialReports: sweep.trialReports };
}
