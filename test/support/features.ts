import { parseConfig } from '../../src/config/load.js';
import type { RunConfig } from '../../src/config/schema.js';
import type { Feature } from '../../src/data/features.js';
import { resolveFeatureLayout } from '../../src/data/features.js';

/** A validated config from YAML text, with defaults filled in as the loader fills them. */
export function configFrom(yaml: string, file = '/tmp/lemopt-test/config.yaml'): RunConfig {
  return parseConfig(yaml, file).config;
}

/** One feature with every default filled in, plus the given settings as YAML flow text. */
export function featureFrom(settings: string): Feature {
  const config = configFrom(
    `data: { source: x.csv, label: { column: y } }\nfeatures:\n  - { ${settings} }\n`,
  );
  return resolveFeatureLayout(config).features[0];
}
