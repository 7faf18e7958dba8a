import type { FeatureConfig, RunConfig } from '../config/schema.js';

/** One feature after the compact multi-name form is expanded: exactly one name and column. */
export type Feature = Omit<FeatureConfig, 'name' | 'column'> & {
  readonly name: string;
  readonly column: string;
};

export interface FeatureGroup {
  readonly name: string;
  readonly tower: 'user' | 'item';
  readonly features: readonly string[];
  /** Configured embedding dims; undefined: model.embedding_dim. */
  readonly dim?: number;
}

export interface FeatureLayout {
  readonly features: readonly Feature[];
  readonly groups: readonly FeatureGroup[];
}

/**
 * Expands `name: [a, b, c]` entries into one feature each and fills in the groups:
 * the configured ones, then one group per feature that no group names.
 * The schema has already checked names are unique and groups are consistent.
 */
export function resolveFeatureLayout(config: Pick<RunConfig, 'features' | 'groups'>): FeatureLayout {
  const features: Feature[] = config.features.flatMap((entry) => {
    const { name, column, ...settings } = entry;
    const names = Array.isArray(name) ? name : [name];
    return names.map((single) => ({ ...settings, name: single, column: column ?? single }));
  });
  const byName = new Map(features.map((feature) => [feature.name, feature]));
  const grouped = new Set(config.groups.flatMap((group) => group.features));
  const groups: FeatureGroup[] = config.groups.map((group) => ({
    name: group.name,
    tower: byName.get(group.features[0])!.tower,
    features: group.features,
    dim: group.dim,
  }));
  for (const feature of features) {
    if (!grouped.has(feature.name))
      groups.push({ name: feature.name, tower: feature.tower, features: [feature.name] });
  }
  return { features, groups };
}
