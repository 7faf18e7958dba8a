/** Embedding specs for selection tests, from group definitions rather than a dataset. */
import { embeddingSpec, type EmbeddingSpec, type Tower } from '../../src/embedding/layout.js';
import { featureFrom } from './features.js';

export interface TableDef {
  readonly name: string;
  readonly tower: Tower;
  /** Vocabulary size of each feature of the group. */
  readonly vocab: readonly number[];
}

/** An embedding spec with one group per table; a group's features are `<name>_<k>` when it has several. */
export function specOf(tables: readonly TableDef[], dim: number, blockSize: number): EmbeddingSpec {
  const base = featureFrom('name: f, tower: user');
  const sizes = new Map<string, number>();
  const groups = tables.map((table) => {
    const names = table.vocab.map((_, k) => (table.vocab.length === 1 ? table.name : `${table.name}_${k}`));
    names.forEach((name, k) => sizes.set(name, table.vocab[k]));
    return { name: table.name, tower: table.tower, features: names };
  });
  const features = groups.flatMap((group) =>
    group.features.map((name) => ({ ...base, name, column: name, tower: group.tower })),
  );
  return embeddingSpec({ features, groups }, sizes, dim, blockSize);
}
