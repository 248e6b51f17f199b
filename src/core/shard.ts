/**
 * Shards: N workers that each run the same command on the same input, each taking every N-th record
 * (`--shard K/N`, the library's `shard`). Together they cover every record exactly once; each writes
 * the records of its shard, in input order.
 */

/** Worker `part` of `of` (1-based): it takes the records at 0-based positions `part - 1`, `part - 1 + of`, … */
export interface Shard {
  part: number;
  of: number;
}

/** The largest N accepted (a shard per worker: thousands of workers would be a misuse, not a scale). */
export const MAX_SHARDS = 10_000;

/** Why a shard is not valid, or undefined. */
export function shardProblem(shard: Shard): string | undefined {
  const { part, of } = shard;
  if (!Number.isInteger(of) || of < 1 || of > MAX_SHARDS) return `the number of shards must be a whole number from 1 to ${MAX_SHARDS} (got ${of})`;
  if (!Number.isInteger(part) || part < 1 || part > of) return `the shard must be a whole number from 1 to ${of} (got ${part})`;
  return undefined;
}

/** Parses `K/N` (as `--shard` takes it); throws a message naming what is wrong. */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!match) throw new Error(`'${text}' is not K/N (this worker's shard K of N, as in 2/3)`);
  const shard = { part: Number(match[1]), of: Number(match[2]) };
  const problem = shardProblem(shard);
  if (problem) throw new Error(problem);
  return shard;
}

/** Whether the record at 0-based input position `index` belongs to `shard`. */
export function inShard(index: number, shard: Shard): boolean {
  return index % shard.of === shard.part - 1;
}

/** The records of one shard, in input order. */
export async function* takeShard<T>(source: AsyncIterable<T>, shard: Shard): AsyncGenerator<T> {
  let index = 0;
  for await (const record of source) if (inShard(index++, shard)) yield record;
}
