/**
 * The data-scale benchmark's dataset, written by DuckDB straight to Parquet (it streams:
 * 100M rows in a few hundred MiB of memory). Distinct values grow with the rows:
 *   uid      BIGINT   one per row (ids of unbounded cardinality)
 *   item     INTEGER  skewed (squared uniform) over rows / 10 ids
 *   query    VARCHAR  uniform over rows / 4 strings
 *   country  VARCHAR  200 values
 *   device   INTEGER  10 values
 *   label    INTEGER  0/1
 * Deterministic (DuckDB's hash of the row number). Not `lemopt generate`: its bytes are
 * other work's fixtures, and its columns have fixed cardinalities.
 */
import { rename, rm } from 'node:fs/promises';

export const SCALE_COLUMNS = ['uid', 'item', 'query', 'country', 'device'] as const;

export async function writeScaleFile(file: string, rows: number): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:', { threads: '2', memory_limit: '1GB' });
  const connection = await instance.connect();
  // A uniform double in [0, 1) from the row number and a salt.
  const unit = (salt: number): string => `(hash(i * 8 + ${salt}) / 18446744073709551616.0)`;
  const columns = [
    // An odd multiplier is a bijection modulo 2^32: distinct for every row below 2^32.
    `((i * 2654435761) % 4294967296)::BIGINT AS uid`,
    `floor(pow(${unit(1)}, 2) * ${Math.max(1, Math.floor(rows / 10))})::INTEGER AS item`,
    `'q' || floor(${unit(2)} * ${Math.max(1, Math.floor(rows / 4))})::BIGINT::VARCHAR AS query`,
    `'c' || floor(${unit(3)} * 200)::INTEGER::VARCHAR AS country`,
    `floor(${unit(4)} * 10)::INTEGER AS device`,
    `(hash(i * 8 + 5) % 2)::INTEGER AS label`,
  ];
  const temporary = `${file}.tmp`;
  try {
    await connection.run(
      `COPY (SELECT ${columns.join(', ')} FROM range(${rows}) t(i))
       TO '${temporary}' (FORMAT parquet, COMPRESSION snappy)`,
    );
    await rename(temporary, file);
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(temporary, { force: true });
  }
}
