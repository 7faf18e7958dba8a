import path from 'node:path';
import type { CommandModule } from 'yargs';
import { configToYaml } from '../../config/load.js';
import { readManifest, reducedConfig } from '../../experiment/manifest.js';
import { writeFileAtomic } from '../../util/atomic.js';

interface ApplyArgs {
  manifest: string;
  out?: string;
}

export const applyCommand: CommandModule<object, ApplyArgs> = {
  command: 'apply <manifest>',
  describe: "Write the training config of a manifest's selected feature set (kept groups at their dims)",
  builder: (yargs) =>
    yargs
      .positional('manifest', { type: 'string', demandOption: true, describe: 'manifest.json of a run' })
      .option('out', {
        type: 'string',
        describe: 'YAML file to write (default: selected.yaml beside the manifest)',
      }),
  handler: async (args) => {
    const manifest = await readManifest(args.manifest);
    const out = path.resolve(args.out ?? path.join(path.dirname(args.manifest), 'selected.yaml'));
    const config = reducedConfig(manifest);
    const header = `# The selected feature set of ${path.resolve(args.manifest)} (lemopt apply).\n`;
    await writeFileAtomic(out, header + configToYaml(config));
    const groups = manifest.kept.map((group) => `${group.group} (${group.dim})`).join(', ');
    process.stdout.write(`${out}: reduced config with ${manifest.kept.length} groups: ${groups}\n`);
  },
};
