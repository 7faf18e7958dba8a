/**
 * Executes every notebook in notebooks/ headlessly with Deno's Jupyter kernel
 * (`jupyter nbconvert --execute`) against a small sweep folder written here, and type-checks
 * its code cells with `deno check`. A cell that throws fails the test.
 *
 * Needs `jupyter nbconvert` (Debian: apt-get install jupyter-nbconvert) and deno (the `deno`
 * devDependency: node_modules/.bin/deno after `npm ci`). Without them the test fails when
 * CI is set and is skipped otherwise. Everything it writes (kernelspec, Jupyter runtime
 * files, Deno's cache) stays in a temporary folder.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateManifest } from '../src/experiment/manifest.js';
import { RESULT_COLUMNS } from '../src/experiment/sweep-rows.js';
import { RESULTS_CSV, SUMMARY_FILE } from '../src/experiment/sweep-results.js';
import { writeSweepFixture, type SweepFixture } from './support/sweep-fixture.js';
import { makeTempDir, type TempDir } from './support/tmp.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NOTEBOOKS = path.join(ROOT, 'notebooks');
const notebooks = readdirSync(NOTEBOOKS)
  .filter((name) => name.endsWith('.ipynb'))
  .sort();

const KERNEL = 'deno';
/** The two methods sweep-analysis.ipynb compares. */
const METHODS = ['sequential_attention', 'cardinality'];
/** Per cell, in nbconvert; the whole notebook gets the vitest timeout below. */
const CELL_TIMEOUT_S = 120;

/** The version line `command args` prints, or null when it does not run. */
function versionOf(command: string, args: readonly string[]): string | null {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 });
  return result.status === 0 ? (result.stdout || result.stderr).trim().split('\n')[0] : null;
}

/** The project's deno (npm's bin link), else one on PATH. */
const DENO = [path.join(ROOT, 'node_modules', '.bin', 'deno'), 'deno'].find(
  (candidate) => versionOf(candidate, ['--version']) !== null,
);
const JUPYTER = versionOf('jupyter', ['nbconvert', '--version']);

const missing = [
  ...(JUPYTER === null ? ['`jupyter nbconvert` (apt-get install jupyter-nbconvert)'] : []),
  ...(DENO === undefined ? ['deno (`npm ci` installs it from the deno devDependency)'] : []),
];
const inCi = !['', '0', 'false', undefined].includes(process.env.CI);
if (missing.length > 0 && !inCi) {
  console.warn(`test/notebooks.test.ts: skipped, not found: ${missing.join(' and ')}`);
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// eslint-disable-next-line no-control-regex
const plain = (output: string) => output.replace(/\u001b\[[0-9;]*m/g, '');

/** The last lines of a command's output, for a failure message. */
function tail(result: Run, lines = 40): string {
  return plain(`${result.stdout}\n${result.stderr}`).trim().split('\n').slice(-lines).join('\n');
}

/** nbconvert's failure: the failing cell's first line and the error, else the output's end. */
function cellError(result: Run): string {
  const cell = /executing the following cell:\n-+\n([\s\S]*?)\n-+\n([\s\S]*)$/.exec(plain(result.stderr));
  if (!cell) return tail(result);
  const [, source, error] = cell;
  return `the cell beginning ${JSON.stringify(source.trim().split('\n')[0])} threw:\n${error.trim()}`;
}

interface NotebookJson {
  readonly cells: readonly {
    readonly cell_type: string;
    readonly source: string | readonly string[];
    readonly execution_count?: number | null;
    readonly outputs?: readonly {
      readonly output_type: string;
      readonly ename?: string;
      readonly evalue?: string;
      readonly data?: Readonly<Record<string, string | readonly string[]>>;
    }[];
  }[];
}

const text = (source: string | readonly string[]) => (typeof source === 'string' ? source : source.join(''));

async function readNotebook(file: string): Promise<NotebookJson> {
  return JSON.parse(await readFile(file, 'utf8')) as NotebookJson;
}

describe('notebooks', () => {
  it('notebooks/ has a notebook', () => {
    expect(notebooks).toContain('sweep-analysis.ipynb');
  });

  it('the sweep folder fixture follows the contract', async () => {
    const tmp = await makeTempDir('lemopt-sweep-fixture-');
    try {
      const sweep = await writeSweepFixture(tmp.path, { methods: METHODS });
      const csv = await readFile(path.join(sweep.dir, RESULTS_CSV), 'utf8');
      expect(csv.split('\n')[0]).toBe(RESULT_COLUMNS.join(','));
      expect(csv.trim().split('\n')).toHaveLength(sweep.rows.length + 1);
      const summary = JSON.parse(await readFile(path.join(sweep.dir, SUMMARY_FILE), 'utf8'));
      expect(summary.methods.map((m: { method: string }) => m.method)).toEqual([
        'sequential_attention',
        'cardinality',
      ]);
      for (const row of sweep.rows) {
        const file = path.join(sweep.dir, 'trials', row.trial, 'manifest.json');
        const manifest = validateManifest(JSON.parse(await readFile(file, 'utf8')), file);
        expect(manifest.cost.selected.predicted.memory_bytes).toBe(row.memory_bytes);
        expect(manifest.kept.map((g) => `${g.group}:${g.dim}`).sort()).toEqual(
          row.kept_groups.split(';').sort(),
        );
      }
    } finally {
      await tmp.remove();
    }
  });

  if (missing.length > 0 && inCi) {
    it('has jupyter and deno to execute the notebooks', () => {
      throw new Error(
        `cannot execute notebooks/*.ipynb: not found: ${missing.join(' and ')}. ` +
          'CI needs `apt-get install -y jupyter-nbconvert` and `npm ci` (which installs deno).',
      );
    });
  }

  describe.skipIf(missing.length > 0)('execute with the Deno kernel', () => {
    let tmp: TempDir;
    let sweep: SweepFixture;
    /** The environment of every jupyter and deno command: nothing outside tmp. */
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      tmp = await makeTempDir('lemopt-notebooks-');
      sweep = await writeSweepFixture(tmp.file('sweep'), { methods: METHODS });
      const home = tmp.file('home');
      const base = {
        ...process.env,
        DENO_DIR: tmp.file('deno-cache'),
        DENO_NO_UPDATE_CHECK: '1',
        NO_COLOR: '1',
      };
      // `deno jupyter --install` writes to the user's Jupyter data dir, which it finds from HOME
      // (XDG_DATA_HOME on Linux): both point into tmp.
      const xdg = path.join(home, '.local', 'share');
      const install = await run(
        DENO!,
        ['jupyter', '--install', '--force', '--name', KERNEL],
        { ...base, HOME: home, XDG_DATA_HOME: xdg },
        tmp.path,
      );
      const dataDir = [path.join(xdg, 'jupyter'), path.join(home, 'Library', 'Jupyter')].find((dir) =>
        existsSync(path.join(dir, 'kernels', KERNEL, 'kernel.json')),
      );
      if (install.code !== 0 || dataDir === undefined) {
        throw new Error(`deno jupyter --install did not write a kernelspec under ${home}:\n${tail(install)}`);
      }
      env = {
        ...base,
        JUPYTER_PATH: dataDir,
        JUPYTER_DATA_DIR: dataDir,
        JUPYTER_CONFIG_DIR: tmp.file('jupyter-config'),
        JUPYTER_RUNTIME_DIR: tmp.file('jupyter-runtime'),
        // nbconvert's first-run migration creates this one.
        IPYTHONDIR: tmp.file('ipython'),
        LEMOPT_SWEEP_DIR: sweep.dir,
      };
    });

    afterAll(async () => {
      await tmp?.remove();
    });

    for (const name of notebooks) {
      it(`type-checks the code cells of ${name}`, async () => {
        const notebook = await readNotebook(path.join(NOTEBOOKS, name));
        const base = pathToFileURL(path.join(NOTEBOOKS, name));
        // The cells as one module; imports relative to the notebook become absolute.
        const code = notebook.cells
          .filter((cell) => cell.cell_type === 'code')
          .map((cell) =>
            text(cell.source).replace(
              /(from\s+|import\s*\(\s*)(['"])(\.\.?\/[^'"]+)\2/g,
              (_, keyword: string, quote: string, specifier: string) =>
                `${keyword}${quote}${new URL(specifier, base).href}${quote}`,
            ),
          )
          .join('\n\n');
        const file = tmp.file('check', name.replace(/\.ipynb$/, '.ts'));
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, `${code}\n`);
        const check = await run(DENO!, ['check', '--quiet', file], env, path.dirname(file));
        expect(check.code, `deno check ${name}:\n${tail(check)}`).toBe(0);
      }, 120_000);

      // Retried: under load the Deno kernel has twice sent a cell's result after reporting
      // idle, so nbconvert saved the notebook without it (a fresh-clone CI run lost the last
      // table); an error or a wrong table fails every attempt.
      it(`executes ${name} without errors`, { timeout: 300_000, retry: 2 }, async () => {
        const outDir = tmp.file('executed');
        const result = await run(
          'jupyter',
          [
            'nbconvert',
            '--to',
            'notebook',
            '--execute',
            `--ExecutePreprocessor.kernel_name=${KERNEL}`,
            `--ExecutePreprocessor.timeout=${CELL_TIMEOUT_S}`,
            '--output-dir',
            outDir,
            path.join(NOTEBOOKS, name),
          ],
          env,
        );
        expect(result.code, `jupyter nbconvert --execute ${name} failed: ${cellError(result)}`).toBe(0);

        const executed = await readNotebook(path.join(outDir, name));
        const code = executed.cells.filter((cell) => cell.cell_type === 'code');
        const outputs = code.flatMap((cell) => cell.outputs ?? []);
        expect(code.every((cell) => typeof cell.execution_count === 'number')).toBe(true);
        expect(
          outputs.filter((o) => o.output_type === 'error').map((o) => `${o.ename}: ${o.evalue}`),
        ).toEqual([]);

        if (name === 'sweep-analysis.ipynb') {
          const shown = (mime: string) =>
            outputs.flatMap((o) => (o.data?.[mime] ? [text(o.data[mime])] : []));
          const charts = shown('image/svg+xml');
          expect(charts.length).toBeGreaterThanOrEqual(1);
          for (const method of ['sequential_attention', 'cardinality']) {
            expect(charts[0]).toContain(method);
          }
          // Every trial is a dot on the memory chart.
          for (const row of sweep.rows) expect(charts[0]).toContain(row.trial);
          const tables = shown('text/html').join('\n');
          // The comparison at the middle budget, with each method's kept dims.
          const middle = sweep.rows.find(
            (row) => row.method === 'cardinality' && row.memory_budget === '25%',
          )!;
          expect(tables).toContain(middle.trial);
          expect(tables).toContain('sequential_attention dim');
        }
      });
    }
  });
});
