/**
 * Candidates: the units Sequential Attention and the baselines choose among.
 *
 * - unit 'group': one candidate per table (feature group), worth all of its blocks.
 * - unit 'block': one candidate per block of `block_size` dimensions of a table; a
 *   group's dimension is block_size x its kept blocks, and a group with none is dropped.
 *
 * A group's maximum dimension is its `dim` in the config (default model.embedding_dim):
 * its candidates stop there. A selection is held as kept blocks per table. Which of a
 * table's blocks were picked does not matter to the retrained model: it keeps the
 * table's first dims.
 */
import type { EmbeddingSpec, Tower, TowerColumns } from '../embedding/layout.js';

export type SelectionUnit = 'group' | 'block';

export interface Candidate {
  /** Position in the candidate list (and the gate index). */
  readonly index: number;
  /** `<group>` or `<group>#<block>`. */
  readonly name: string;
  /** Table (group) index in the embedding spec. */
  readonly table: number;
  readonly group: string;
  readonly tower: Tower;
  /** Blocks this candidate adds to its table. */
  readonly blocks: number;
  /** Its block of the table (unit 'block'); null for unit 'group'. */
  readonly block: number | null;
}

/**
 * The candidates of a spec; `maxBlocks` per table (default: every table's numBlocks)
 * caps each group at its configured dim.
 */
export function enumerateCandidates(
  spec: EmbeddingSpec,
  unit: SelectionUnit,
  maxBlocks: ArrayLike<number> = spec.tables.map((table) => table.numBlocks),
): Candidate[] {
  const candidates: Candidate[] = [];
  for (const table of spec.tables) {
    const base = { table: table.index, group: table.name, tower: table.tower };
    const blocks = Math.min(table.numBlocks, maxBlocks[table.index]);
    if (blocks === 0) continue;
    if (unit === 'group') {
      candidates.push({ ...base, index: candidates.length, name: table.name, blocks, block: null });
      continue;
    }
    for (let block = 0; block < blocks; block++)
      candidates.push({
        ...base,
        index: candidates.length,
        name: `${table.name}#${block}`,
        blocks: 1,
        block,
      });
  }
  return candidates;
}

/** Blocks per table at the groups' configured dims (`dim`, else the spec's full dim). */
export function configuredBlocks(
  spec: EmbeddingSpec,
  groupDims: readonly (number | undefined)[],
): Int32Array {
  return Int32Array.from(spec.tables, (table) => (groupDims[table.index] ?? spec.dim) / spec.blockSize);
}

/** The candidate of each input column of a tower (the gate that scales it); -1 for none. */
export function columnCandidates(
  spec: EmbeddingSpec,
  columns: TowerColumns,
  candidates: readonly Candidate[],
): Int32Array {
  const byTable = new Map<number, number>();
  const byBlock = new Map<number, number>();
  for (const candidate of candidates) {
    if (candidate.block === null) byTable.set(candidate.table, candidate.index);
    else byBlock.set(spec.tables[candidate.table].firstBlock + candidate.block, candidate.index);
  }
  return Int32Array.from(
    { length: columns.width },
    (_, column) => byTable.get(columns.columnTable[column]) ?? byBlock.get(columns.columnBlock[column]) ?? -1,
  );
}

/** Kept blocks per table for a set of candidates. */
export function blocksPerTable(
  spec: EmbeddingSpec,
  candidates: readonly Candidate[],
  chosen: Iterable<number>,
): Int32Array {
  const blocks = new Int32Array(spec.tables.length);
  for (const index of chosen) blocks[candidates[index].table] += candidates[index].blocks;
  return blocks;
}

/** Active dims per table (what the embedding store and the retrained model take). */
export function activeDimsOf(spec: EmbeddingSpec, blocks: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: spec.tables.length }, (_, t) => blocks[t] * spec.blockSize);
}
