/**
 * The SQLite ledger's index of request ids by key hash (`src/ledger/key-index.ts`): what it finds
 * must not depend on whether a pair is still among the recent ones or merged into the sorted arrays.
 */
import { describe, expect, it } from 'vitest';
import { KeyIndex, sortByHash } from '../../src/ledger/key-index.ts';

/** Every id `find` offers for a hash, in the order it offers them. */
function offered(index: KeyIndex, hash: number): number[] {
  const ids: number[] = [];
  index.find(hash, (id) => {
    ids.push(id);
    return undefined;
  });
  return ids;
}

describe('KeyIndex', () => {
  it.each([
    ['nothing added', [], 5, []],
    ['one id', [[5, 1]], 5, [1]],
    ['another hash only', [[6, 1]], 5, []],
    ['two ids of one hash (a key written again after gc, or two keys that share a hash): newest first', [[5, 1], [7, 2], [5, 3]], 5, [3, 1]],
    ['the smallest and the largest hashes', [[0, 1], [2 ** 53 - 1, 2]], 2 ** 53 - 1, [2]],
    ['hashes equal in their low 32 bits: both ids offered, newest first (the caller checks each row)', [[2 ** 40 + 5, 1], [5, 2], [2 ** 33 + 6, 3]], 5, [2, 1]],
  ] as [string, [number, number][], number, number[]][])('%s', (_, pairs, hash, expected) => {
    // Merged after every pair, never merged, and merged in between: the same answer.
    for (const mergeAt of [1, 2, 1000]) {
      const index = new KeyIndex(mergeAt);
      for (const [h, id] of pairs) index.add(h, id);
      expect(offered(index, hash)).toEqual(expected);
      expect(index.size).toBe(pairs.length);
    }
  });

  it('addAll, many pairs at once (sorted once, merged once) or a few (one by one), finds what add would', () => {
    for (const count of [3, 500]) {
      const hashes = Uint32Array.from({ length: count }, (_, i) => (i * 7919) % 101);
      const ids = Uint32Array.from({ length: count }, (_, i) => 1000 + i);
      const bulk = new KeyIndex(50);
      const single = new KeyIndex(50);
      for (const index of [bulk, single]) index.add(5, 1); // an older id, not yet merged
      bulk.addAll(Uint32Array.from(hashes), Uint32Array.from(ids));
      hashes.forEach((hash, i) => single.add(hash, ids[i]!));
      expect(bulk.size).toBe(count + 1);
      for (let hash = 0; hash < 101; hash++) expect(offered(bulk, hash).sort()).toEqual(offered(single, hash).sort());
    }
  });

  it('find stops at the first id its callback takes, and gives what the callback gave', () => {
    const index = new KeyIndex(2);
    for (const id of [1, 2, 3, 4]) index.add(9, id);
    index.add(8, 5);
    const asked: number[] = [];
    expect(
      index.find(9, (id) => {
        asked.push(id);
        return id === 2 ? 'two' : undefined;
      }),
    ).toBe('two');
    expect(asked).toEqual([4, 3, 2]);
  });

  it('agrees with a Map by low 32 bits over many random 53-bit hashes, merged in several rounds; clear forgets all', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const index = new KeyIndex(97);
    const expected = new Map<number, number[]>();
    for (let id = 1; id <= 5000; id++) {
      // Few distinct hashes among the first ids, so that some have several ids across merges.
      const hash = id % 7 === 0 ? random() % 50 : random() * 2 ** 22 + (random() % 2 ** 22);
      index.add(hash, id);
      // Offered for a hash: every id whose hash agrees with it in its low 32 bits (the index keeps no more).
      expected.set(hash >>> 0, [id, ...(expected.get(hash >>> 0) ?? [])]);
    }
    expect(index.size).toBe(5000);
    for (const [hash, ids] of expected) expect(offered(index, hash)).toEqual(ids);
    expect(offered(index, -1)).toEqual([]);
    index.clear();
    expect(index.size).toBe(0);
    expect(offered(index, [...expected.keys()][0]!)).toEqual([]);
  });

  it.each([
    ['nothing', []],
    ['one', [7]],
    ['equal in their low 16 bits, not in the high ones', [2 ** 20 + 5, 2 ** 17 + 5, 5, 2 ** 31 + 5]],
    ['equal in their high 16 bits, not in the low ones', [2 ** 31 + 9, 2 ** 31 + 1, 2 ** 31 + 65_535, 2 ** 31]],
    ['the extremes, and one hash three times (kept in the order given)', [2 ** 32 - 1, 0, 123_456_789, 0, 2 ** 32 - 1, 0]],
  ] as [string, number[]][])('sortByHash sorts %s by hash, stably', (_, hashes) => {
    const ids = hashes.map((_, i) => i + 1);
    const sortedHashes = Uint32Array.from(hashes);
    const sortedIds = Uint32Array.from(ids);
    sortByHash(sortedHashes, sortedIds);
    const expected = hashes.map((hash, i) => [hash, ids[i]!]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    expect([...sortedHashes].map((hash, i) => [hash, sortedIds[i]])).toEqual(expected);
  });

  it('holds 8 bytes a request (a million requests: 8 MB, growing by a quarter at most), and refuses an id past 2^32 - 1', () => {
    const index = new KeyIndex(4096);
    for (let id = 1; id <= 100_000; id++) index.add(id * 2_654_435_761 + 2 ** 40, id);
    expect(index.size).toBe(100_000);
    expect(index.bytes).toBeGreaterThanOrEqual(8 * (100_000 - 4096));
    expect(index.bytes).toBeLessThanOrEqual(8 * 100_000 * 1.25);
    expect(offered(index, 77 * 2_654_435_761 + 2 ** 40)).toEqual([77]);
    expect(() => index.add(1, 2 ** 32)).toThrow(RangeError);
  });

  it('a snapshot holds every pair, the recent ones too, in parts of at most 131,072, and a restored index finds each as the first did (and nothing of what it held before)', () => {
    const index = new KeyIndex(64);
    for (let id = 1; id <= 200_000; id++) index.add(id % 300, id); // merged, then 200,000 % 64 recent
    const parts = [...index.snapshot()];
    expect(parts.map((part) => part.readUInt32LE(0))).toEqual([131_072, 200_000 - 131_072]);
    const restored = new KeyIndex(64);
    restored.add(5, 999_999);
    restored.restore(parts);
    expect(restored.size).toBe(200_000);
    for (const hash of [0, 1, 5, 299]) expect(offered(restored, hash)).toEqual(offered(index, hash));
    expect(offered(restored, 5)).not.toContain(999_999);
    // Read from bytes at an odd offset (a blob need not be aligned), and added to as before.
    const shifted = parts.map((part) => Buffer.concat([Buffer.from([1]), part]).subarray(1));
    const again = new KeyIndex(64);
    again.restore(shifted);
    again.add(5, 200_001);
    expect(offered(again, 5)).toEqual([200_001, ...offered(index, 5)]);
    const empty = new KeyIndex(64);
    empty.restore([...new KeyIndex(64).snapshot()]);
    expect(empty.size).toBe(0);
  });
});
