/**
 * Candidates: the units Sequential Attention and the baselines choose among.
 *
 * - unit 'group': one candidate per table (feature group), worth all of its blocks.
 * - unit 'block': one candidate per block of `block_size` dimensions of a table; a
 *   group's dimension is block_size x its kept blocks, and a group with none is dropped.
 *
 * A selection is held as kept blocks per table. Which of a table's blocks were picked
 * does not matter to the retrained model: it keeps the table's first dims.
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
}

export function enumerateCandidates(spec: EmbeddingSpec, unit: SelectionUnit): Candidate[] {
  const candidates: Candidate[] = [];
  for (const table of spec.tables) {
    const base = { table: table.index, group: table.name, tower: table.tower };
    if (unit === 'group') {
      candidates.push({ ...base, index: candidates.length, name: table.name, blocks: table.numBlocks });
      continue;
    }
    for (let block = 0; block < table.numBlocks; block++)
      candidates.push({ ...base, index: candidates.length, name: `${table.name}#${block}`, blocks: 1 });
  }
  return candidates;
}

/** The candidate of each input column of a tower (the gate that scales it). */
export function columnCandidates(columns: TowerColumns, unit: SelectionUnit): Int32Array {
  return unit === 'group' ? columns.columnTable : columns.columnBlock;
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
