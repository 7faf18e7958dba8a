import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { configToYaml } from '../config/load.js';
import type { RunConfig } from '../config/schema.js';
import { writeFileAtomic } from '../util/atomic.js';

export const RESOLVED_CONFIG_FILE = 'config.resolved.yaml';

/** Creates the run folder and echoes the resolved config (defaults filled in) into it. */
export async function openRunFolder(config: RunConfig): Promise<string> {
  const dir = config.output.dir!;
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, RESOLVED_CONFIG_FILE), configToYaml(config));
  return dir;
}
