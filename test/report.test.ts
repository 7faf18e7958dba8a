/**
 * `lemopt report`: the HTML report of a run folder (made by a real `runSelection` on a
 * small generated dataset) and of a sweep folder (test/support/sweep-fixture.ts), checked
 * in Node and in a real headless Chromium.
 *
 * The reports and their screenshots stay in test/.tmp/report/{run,sweep}/ after the suite
 * (report.html, report.png): CI keeps them as artifacts. The browser tests need Chromium at
 * /usr/bin/chromium (Debian: `apt-get install chromium`; another path: LEMOPT_CHROMIUM);
 * without it they fail under CI and are skipped, with the reason printed, elsewhere.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { formatBytes } from '../src/config/size.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { readManifest, type Manifest } from '../src/experiment/manifest.js';
import { writeReport, type ReportResult } from '../src/experiment/report.js';
import { runSelection } from '../src/experiment/run.js';
import { writeSweepFixture, type SweepFixture } from './support/sweep-fixture.js';
import { dataSection, FIXED_LATENCY, SMALL_FEATURES, SMALL_MODEL } from './support/synthetic-config.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

const ARTIFACTS = path.resolve('test/.tmp/report');
const RUN_DIR = path.join(ARTIFACTS, 'run');
const SWEEP_DIR = path.join(ARTIFACTS, 'sweep');
const CHROMIUM = process.env.LEMOPT_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = Boolean(process.env.CI) && !['false', '0'].includes(process.env.CI!.toLowerCase());
const NO_CHROMIUM =
  `no Chromium at ${CHROMIUM}: install Debian's chromium ` +
  '(apt-get install -y --no-install-recommends chromium fonts-liberation) or point LEMOPT_CHROMIUM at one';

const MAIN = path.resolve('src/cli/main.ts');
const TSX = import.meta.resolve('tsx');

const RUN_PLOTS = ['selection-order', 'attention-weights', 'group-dims'];
const SWEEP_PLOTS = ['pareto-memory', 'pareto-latency', ...RUN_PLOTS.map((name) => `trial/${name}`)];

let data: TempDir;
let runManifest: Manifest;
let runRounds: { round: number; weights: Record<string, number>; picks: unknown[] }[];
let sweep: SweepFixture;
let runReport: ReportResult;
let sweepReport: ReportResult;

const RUN_CONFIG = `
${dataSection(null)}
${SMALL_FEATURES}
${SMALL_MODEL}
train: { batch_size: 256, epochs: 1, seed: 3 }
selection:
  unit: block
  budgets: { memory: 30%, latency_us: 90% }
  min_steps_per_round: 5
  ${FIXED_LATENCY}
output: { dir: ${RUN_DIR} }
`;

beforeAll(async () => {
  // Last run's artifacts go now, not after the suite: CI collects them.
  await rm(ARTIFACTS, { recursive: true, force: true });
  await mkdir(ARTIFACTS, { recursive: true });
  data = await makeTempDir('lemopt-report-');
  await generateSynthetic({ outDir: data.file('data'), rows: 4000, seed: 5 });
  await runSelection(parseConfig(RUN_CONFIG, data.file('config.yaml')).config);
  runManifest = await readManifest(path.join(RUN_DIR, 'manifest.json'));
  runRounds = (await readFile(path.join(RUN_DIR, 'selection/trace.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as (typeof runRounds)[number]);
  sweep = await writeSweepFixture(SWEEP_DIR);
  runReport = await writeReport(RUN_DIR);
  sweepReport = await writeReport(SWEEP_DIR);
});
afterAll(() => data?.remove());

// ---------------------------------------------------------------------------------------
// Reading the HTML in Node

/** The figures of a page by their `data-plot` name (inside the trial section: `trial/<name>`). */
function figures(html: string): Map<string, string> {
  const found = new Map<string, string>();
  const trialStart = html.indexOf('<section data-section="trial">');
  for (const match of html.matchAll(/<figure data-plot="([^"]+)">([\s\S]*?)<\/figure>/g)) {
    const inTrial = trialStart >= 0 && (match.index ?? 0) > trialStart;
    found.set(inTrial ? `trial/${match[1]}` : match[1], match[2]);
  }
  return found;
}

/** The data marks of an SVG: Vega's graphics symbols with their data as aria-label. */
function marks(svg: string): { element: string; label: string }[] {
  return [
    ...svg.matchAll(/<(path|line|rect|text|circle)\b[^>]*\baria-label="([^"]*)"[^>]*role="graphics-symbol"/g),
  ].map((match) => ({ element: match[1], label: match[2] }));
}

/** A mark's data, from its aria-label `field: value; field: value`. */
function fields(label: string): Record<string, string> {
  return Object.fromEntries(
    label.split('; ').map((pair) => {
      const at = pair.indexOf(': ');
      return [pair.slice(0, at), pair.slice(at + 2)];
    }),
  );
}

/** Marks of one mark type (`rect`, `symbol`, `line`, `rule`, `text`) in an SVG. */
function marksOf(svg: string, type: string): string[] {
  const groups = [
    ...svg.matchAll(new RegExp(`<g class="mark-${type} role-mark[^"]*"[^>]*>([\\s\\S]*?)</g>`, 'g')),
  ];
  return groups.flatMap((group) => marks(group[1]).map((mark) => mark.label));
}

/** Rows of a table by its `data-table` name: cell texts, tags stripped. */
function tableRows(html: string, name: string): string[][] {
  const table = new RegExp(`<table data-table="${name}">([\\s\\S]*?)</table>`).exec(html);
  if (!table) throw new Error(`no table '${name}'`);
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(table[1])![1];
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1].matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((cell) =>
      cell[1]
        .replace(/<[^>]+>/g, '')
        .replace(/&amp;/g, '&')
        .trim(),
    ),
  );
}

function expectSelfContained(html: string): void {
  expect(html).not.toMatch(/<script|<link|<img|<iframe|@import/i);
  expect(html).not.toMatch(/\s(src|srcset)=/i);
  expect(html).not.toMatch(/url\((?!#)/);
  expect(html).not.toMatch(/href="(?!#)[a-z]+:/i);
  // Every id once, however many SVGs the page inlines.
  const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((match) => match[1]);
  expect(ids.length).toBeGreaterThan(0);
  expect(new Set(ids).size).toBe(ids.length);
}

describe('lemopt report on a run folder', () => {
  it('draws the selection order, the attention weights per round and the dims per group', async () => {
    expect(runReport).toMatchObject({
      kind: 'run',
      file: path.join(RUN_DIR, 'report.html'),
      plots: RUN_PLOTS,
    });
    const html = await readFile(runReport.file, 'utf8');
    const plots = figures(html);
    expect([...plots.keys()]).toEqual(RUN_PLOTS);
    for (const [name, svg] of plots) {
      expect(svg, name).toMatch(/^<h3>[^<]+<\/h3><div class="plot"><svg /);
      expect(marks(svg).length, name).toBeGreaterThan(0);
    }
    // One bar of memory and one of latency per pick, each naming its candidate.
    const order = runManifest.selection_order;
    const bars = marksOf(plots.get('selection-order')!, 'rect');
    expect(bars).toHaveLength(2 * order.length);
    for (const step of order)
      expect(bars.filter((label) => fields(label).candidate === step.candidate)).toHaveLength(2);
    // A cell per candidate and round, a dot per pick.
    const candidates = Object.keys(runRounds[0].weights);
    expect(candidates).toHaveLength(16);
    const weights = plots.get('attention-weights')!;
    expect(marksOf(weights, 'rect')).toHaveLength(candidates.length * runRounds.length);
    const symbols = marksOf(weights, 'symbol');
    const rings = symbols.filter((label) => label.includes('did not fit'));
    expect(symbols.length - rings.length).toBe(runRounds.flatMap((round) => round.picks).length);
    // A black ring in every round a candidate was scored above the pick but did not fit.
    const passedOver = runManifest.did_not_fit!.flatMap((entry) =>
      entry.rounds.map((round) => `${round} ${entry.candidate}`),
    );
    expect(passedOver.length).toBeGreaterThan(0);
    expect(rings.map((label) => `${fields(label).round} ${fields(label).candidate}`).sort()).toEqual(
      passedOver.sort(),
    );
    // Every group: a bar of kept dims and/or one of dropped dims.
    const dims = marksOf(plots.get('group-dims')!, 'rect').map(fields);
    for (const group of runManifest.kept)
      expect(dims).toContainEqual(
        expect.objectContaining({ group: group.group, part: 'kept dims', dims: `${group.dim}` }),
      );
    for (const group of runManifest.dropped)
      expect(dims).toContainEqual(
        expect.objectContaining({
          group: group.group,
          part: 'dropped dims',
          status: 'dropped',
          dims: `${group.full_dim}`,
        }),
      );
    expectSelfContained(html);
  });

  it('lists the manifest: kept and dropped groups, budgets and costs, full and selected metrics', async () => {
    const html = await readFile(runReport.file, 'utf8');
    const kept = tableRows(html, 'kept');
    expect(kept.map((row) => row[0])).toEqual(runManifest.kept.map((group) => group.group));
    for (const [i, group] of runManifest.kept.entries()) {
      expect(kept[i].slice(0, 6)).toEqual([
        group.group,
        group.tower,
        group.columns.join(', '),
        group.vocabulary_size.toLocaleString('en-US'),
        String(group.dim),
        group.dtype,
      ]);
    }
    expect(tableRows(html, 'dropped').map((row) => row[0])).toEqual(runManifest.dropped.map((g) => g.group));
    const cost = tableRows(html, 'cost');
    expect(cost.map((row) => row[0])).toEqual(['embedding memory', 'latency per example']);
    expect(cost[1][1]).toBe(`${runManifest.budgets.latency_us!.toFixed(2)} µs`);
    expect(cost[1][4]).toBe(`${runManifest.cost.selected.predicted.latency_us!.toFixed(2)} µs`);
    const metrics = tableRows(html, 'metrics');
    const { full, selected } = runManifest.metrics;
    if (full.test.kind !== 'binary' || selected.test.kind !== 'binary')
      throw new Error('binary run expected');
    expect(metrics[0].slice(0, 5)).toEqual([
      'AUC',
      full.valid.kind === 'binary' ? full.valid.auc.toFixed(4) : '',
      full.test.auc.toFixed(4),
      selected.valid.kind === 'binary' ? selected.valid.auc.toFixed(4) : '',
      selected.test.auc.toFixed(4),
    ]);
    expect(tableRows(html, 'selection-order')).toHaveLength(runManifest.selection_order.length);
  });

  it('tables what did not fit, why selection stopped and the budget it left unused', async () => {
    const html = await readFile(runReport.file, 'utf8');
    const { stopped, did_not_fit: didNotFit, budgets, cost } = runManifest;
    expect(stopped?.reason).toBe('budget_full');
    expect(tableRows(html, 'overview')).toContainEqual(['stopped', 'nothing left fits the budgets']);
    const [memory, latency] = tableRows(html, 'cost');
    expect(memory[7]).toBe(formatBytes(budgets.memory_bytes! - cost.selected.predicted.memory_bytes));
    expect(latency[7]).toBe(`${stopped!.unused_budget.latency_us!.toFixed(2)} µs`);
    const rows = tableRows(html, 'did-not-fit');
    expect(rows.map((row) => row[0])).toEqual(didNotFit!.map((entry) => entry.candidate));
    for (const [i, entry] of didNotFit!.entries())
      expect(rows[i].slice(1, 5)).toEqual([
        entry.tower,
        entry.weight.toFixed(4),
        entry.rounds.join(', '),
        formatBytes(entry.cost.memory_bytes),
      ]);
  });
});

describe('lemopt report on a sweep folder', () => {
  it('draws Pareto curves per method against memory and latency, with the full model as a reference', async () => {
    expect(sweepReport).toMatchObject({ kind: 'sweep', plots: SWEEP_PLOTS });
    const html = await readFile(sweepReport.file, 'utf8');
    const plots = figures(html);
    expect([...plots.keys()]).toEqual(SWEEP_PLOTS);
    for (const [name, svg] of plots) expect(marks(svg).length, name).toBeGreaterThan(0);
    for (const axis of ['memory', 'latency'] as const) {
      const svg = plots.get(`pareto-${axis}`)!;
      const points = marksOf(svg, 'symbol');
      // Every trial a dot, every frontier point another.
      for (const row of sweep.rows)
        expect(points.map(fields)).toContainEqual(expect.objectContaining({ trial: row.trial }));
      const frontiers = sweep.summary.methods.flatMap((m) =>
        axis === 'memory' ? m.pareto_memory : m.pareto_latency,
      );
      expect(points).toHaveLength(sweep.rows.length + frontiers.length);
      expect(marksOf(svg, 'line')).toHaveLength(sweep.summary.methods.length);
      expect(marksOf(svg, 'rule')).toEqual([`metric: ${sweep.summary.full_test_metric}`]);
      expect(marksOf(svg, 'text')[0]).toContain(`full model ${sweep.summary.full_test_metric.toFixed(4)}`);
    }
    expectSelfContained(html);
  });

  it('tables the area under the curve per method and every trial with a link to its own report', async () => {
    const html = await readFile(sweepReport.file, 'utf8');
    const areas = tableRows(html, 'area-under-curve');
    const byArea = [...sweep.summary.methods].sort(
      (a, b) => b.area_under_curve_memory! - a.area_under_curve_memory!,
    );
    expect(areas.map((row) => [row[0], row[1], row[2]])).toEqual(
      byArea.map((m) => [m.method, String(m.trials), m.area_under_curve_memory!.toFixed(4)]),
    );
    expect(areas[0][0]).toBe('sequential_attention');
    const trials = tableRows(html, 'trials');
    expect(trials.map((row) => row[0])).toEqual(sweep.rows.map((row) => row.trial));
    expect(sweepReport.trialReports).toHaveLength(sweep.rows.length);
    for (const row of sweep.rows) {
      const file = path.join(SWEEP_DIR, 'trials', row.trial, 'report.html');
      expect(sweepReport.trialReports).toContain(file);
      expect(html).toContain(
        `<a href="trials/${encodeURIComponent(row.trial)}/report.html">${row.trial}</a>`,
      );
      const trialPlots = figures(await readFile(file, 'utf8'));
      // Methods without rounds have no attention weights to draw.
      const expected =
        row.method === 'sequential_attention'
          ? RUN_PLOTS
          : RUN_PLOTS.filter((name) => name !== 'attention-weights');
      expect([...trialPlots.keys()], row.trial).toEqual(expected);
    }
  });

  it('shows the best sequential_attention trial at the middle memory budget', async () => {
    const own = sweep.rows.filter((row) => row.method === 'sequential_attention');
    const budgets = [...new Set(own.map((row) => row.memory_budget_bytes!))].sort((a, b) => a - b);
    const middle = own.filter((row) => row.memory_budget_bytes === budgets[1]);
    const best = middle.reduce((top, row) => (row.test_metric > top.test_metric ? row : top));
    expect(sweepReport.trial).toBe(best.trial);
    const html = await readFile(sweepReport.file, 'utf8');
    expect(html).toContain(`<h2 id="trial">Trial ${best.trial}</h2>`);
    const manifest = sweep.manifests.get(best.trial)!;
    const section = html.slice(html.indexOf('<section data-section="trial">'));
    expect(tableRows(section, 'kept').map((row) => row[0])).toEqual(manifest.kept.map((g) => g.group));

    const chosen = await writeReport(SWEEP_DIR, {
      trial: 'random-mem50%-seed1',
      trialReports: false,
      out: path.join(ARTIFACTS, 'sweep-random.html'),
    });
    expect(chosen.trial).toBe('random-mem50%-seed1');
    expect(chosen.trialReports).toEqual([]);
    expect(chosen.plots).toEqual([...SWEEP_PLOTS.filter((name) => name !== 'trial/attention-weights')]);
    const other = await readFile(chosen.file, 'utf8');
    expect(other).toContain('No attention weights: method random selects without rounds of attention.');
    await expect(writeReport(SWEEP_DIR, { trial: 'nope', trialReports: false })).rejects.toThrow(
      `no trial 'nope' in ${path.join(SWEEP_DIR, 'results.csv')}; trials are: cardinality-mem10%-seed0, cardinality-mem10%-seed1, `,
    );
  });

  it('names the problem in a folder that is not a report folder or has a broken results.csv', async () => {
    const empty = path.join(ARTIFACTS, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(writeReport(empty)).rejects.toThrow(
      `${empty}: neither a run folder (no manifest.json) nor a sweep folder (no results.csv)`,
    );
    const broken = path.join(ARTIFACTS, 'broken');
    await mkdir(broken, { recursive: true });
    await writeFile(path.join(broken, 'results.csv'), 'trial,method,memory_bytes\nx,random,12\n');
    await expect(writeReport(broken)).rejects.toThrow(
      `${path.join(broken, 'results.csv')}: no column 'test_metric', 'full_test_metric', 'full_memory_bytes'; columns are: trial, method, memory_bytes`,
    );
  });
});

describe('lemopt report CLI', () => {
  it('writes the report and says what it wrote', () => {
    // One start of the CLI (it loads TensorFlow.js); input errors print as for every command.
    const result = spawnSync(
      process.execPath,
      ['--import', TSX, MAIN, 'report', 'run', '--out', 'run-cli.html'],
      {
        encoding: 'utf8',
        cwd: ARTIFACTS,
      },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${path.join(ARTIFACTS, 'run-cli.html')}: run report with 3 plots\n`);
    expect(result.status).toBe(0);
    expect(existsSync(path.join(ARTIFACTS, 'run-cli.html'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// In a real browser

if (!HAVE_CHROMIUM && !IN_CI) console.warn(`test/report.test.ts: browser tests skipped: ${NO_CHROMIUM}`);

describe('lemopt report in headless Chromium', () => {
  let browser: Browser | undefined;
  beforeAll(async () => {
    if (HAVE_CHROMIUM) browser = await chromium.launch({ executablePath: CHROMIUM });
  });
  afterAll(async () => {
    await browser?.close();
  });

  function needChromium(context: TestContext): Browser {
    if (browser) return browser;
    if (IN_CI) throw new Error(`CI is set and the report's browser test cannot run: ${NO_CHROMIUM}`);
    return context.skip(NO_CHROMIUM);
  }

  /** Loads the report: no console errors, no request but the page, every plot with marks; saves DIR/report.png. */
  async function checkInBrowser(dir: string, plots: readonly string[], context: TestContext): Promise<void> {
    const page = await needChromium(context).newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning')
        problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`failed request: ${request.url()}`));
    page.on('request', (request) => requests.push(request.url()));
    try {
      const url = pathToFileURL(path.join(dir, 'report.html')).href;
      const response = await page.goto(url, { waitUntil: 'load' });
      expect(response?.ok()).toBe(true);
      expect(problems).toEqual([]);
      expect(requests).toEqual([url]);
      const figures = page.locator('figure[data-plot]');
      expect(await figures.count()).toBe(plots.length);
      for (let i = 0; i < plots.length; i++) {
        const figure = figures.nth(i);
        const name = plots[i].replace(/^trial\//, '');
        expect(await figure.getAttribute('data-plot')).toBe(name);
        const svg = figure.locator('svg');
        expect(await svg.count(), name).toBe(1);
        const box = await svg.boundingBox();
        expect(box!.width * box!.height, name).toBeGreaterThan(10_000);
        const symbols = svg.locator('[role="graphics-symbol"][aria-label]');
        expect(await symbols.count(), name).toBeGreaterThan(0);
        // Marks are drawn, not just present: the first one has a size on screen.
        const first = await symbols.first().boundingBox();
        expect(first!.width + first!.height, name).toBeGreaterThan(0);
      }
      await page.screenshot({ path: path.join(dir, 'report.png'), fullPage: true });
      expect(existsSync(path.join(dir, 'report.png'))).toBe(true);
    } finally {
      await page.close();
    }
  }

  it('opens the run report with every plot drawn and no errors or requests', async (context) => {
    await checkInBrowser(RUN_DIR, RUN_PLOTS, context);
  });

  it('opens the sweep report with every plot drawn and no errors or requests, and its trial links', async (context) => {
    await checkInBrowser(SWEEP_DIR, SWEEP_PLOTS, context);
    const page = await needChromium(context).newPage();
    try {
      await page.goto(pathToFileURL(path.join(SWEEP_DIR, 'report.html')).href);
      const links = page.locator('table[data-table="trials"] a');
      expect(await links.count()).toBe(sweep.rows.length);
      // Trial ids hold a '%': the link must be escaped to reach the file. The first
      // sequential_attention trial's report has every run plot (results.csv is by trial id).
      const first = sweep.rows.findIndex((row) => row.method === 'sequential_attention');
      await links.nth(first).click();
      expect(decodeURIComponent(page.url())).toBe(
        pathToFileURL(path.join(SWEEP_DIR, 'trials', sweep.rows[first].trial, 'report.html')).href.replace(
          /%25/g,
          '%',
        ),
      );
      expect(await page.locator('figure[data-plot]').count()).toBe(RUN_PLOTS.length);
    } finally {
      await page.close();
    }
  });
});
