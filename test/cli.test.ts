import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from './support/tmp.js';

const MAIN = path.resolve('src/cli/main.ts');
// The CLI runs from a temporary folder, so tsx is named by its resolved location.
const TSX = import.meta.resolve('tsx');
let tmp: TempDir;

function lemopt(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], {
    encoding: 'utf8',
    cwd: tmp.path,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const CONFIG = `data:
  source: events.csv
  label: { column: clicked }
features:
  - { name: [user, item], tower: user }
`;

beforeAll(async () => {
  tmp = await makeTempDir('lemopt-cli-');
  await writeFile(tmp.file('events.csv'), 'user,item,clicked\nu1,i1,1\nu2,i1,0\nu1,i2,1\n');
  await writeFile(tmp.file('good.yaml'), CONFIG);
  await writeFile(tmp.file('typo.yaml'), CONFIG.replace('tower: user }', 'tower: user, min_cont: 2 }'));
  await writeFile(tmp.file('wrong-column.yaml'), CONFIG.replace('[user, item]', '[user, itm]'));
});
afterAll(() => tmp.remove());

describe('lemopt CLI', () => {
  it('validates a good config and checks its columns', () => {
    const result = lemopt('validate', 'good.yaml');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      `${tmp.file('good.yaml')}: valid (2 features, 0 configured groups, 2 candidate groups; columns checked in 1 file(s))\n`,
    );
    expect(result.status).toBe(0);
  });

  it('prints an input error as one line naming file, line and key, without a stack trace', () => {
    const result = lemopt('validate', 'typo.yaml');
    expect(result.stderr).toBe("lemopt: typo.yaml:5: features[0].min_cont: unknown key 'min_cont'\n");
    expect(result.status).toBe(1);
  });

  it('names the missing column and lists the ones there are', () => {
    const result = lemopt('validate', 'wrong-column.yaml');
    expect(result.stderr).toBe(
      `lemopt: ${tmp.file('events.csv')}: no column 'itm' (feature 'itm'); columns are: user, item, clicked\n`,
    );
    expect(result.status).toBe(1);
  });

  it('names a missing input file', () => {
    const result = lemopt('inspect', 'nowhere.parquet');
    expect(result.stderr).toBe('lemopt: nowhere.parquet: no such file or folder\n');
    expect(result.status).toBe(1);
  });

  it('inspects a file as JSON', () => {
    const result = lemopt('inspect', 'events.csv', '--json');
    const report = JSON.parse(result.stdout) as { rows: number; columns: { name: string }[] };
    expect(report.rows).toBe(3);
    expect(report.columns.map((column) => column.name)).toEqual(['user', 'item', 'clicked']);
  });

  it('rejects bad usage with status 2', () => {
    expect(lemopt().status).toBe(2);
    const rows = lemopt('generate', '--rows', '0');
    expect(rows.stderr).toContain('lemopt: --rows must be a positive integer');
    expect(rows.status).toBe(2);
  });
});
