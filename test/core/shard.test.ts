import { describe, expect, it } from 'vitest';
import { inShard, parseShard, takeShard } from '../../src/core/shard.ts';

describe('shards (--shard K/N)', () => {
  it.each([
    ['1/1', { part: 1, of: 1 }],
    ['2/3', { part: 2, of: 3 }],
    [' 3 / 3 ', { part: 3, of: 3 }],
  ])('parses %j', (text, shard) => expect(parseShard(text)).toEqual(shard));

  it.each([
    ['0/3', /from 1 to 3/],
    ['4/3', /from 1 to 3/],
    ['1/0', /from 1 to 10000/],
    ['2', /not K\/N/],
    ['a/b', /not K\/N/],
    ['-1/3', /not K\/N/],
    ['1.5/3', /not K\/N/],
  ])('refuses %j, saying why', (text, message) => expect(() => parseShard(text)).toThrow(message));

  it('N workers together take every record exactly once, each every N-th in input order', async () => {
    async function* records() {
      for (let i = 0; i < 100; i++) yield i;
    }
    for (const of of [1, 2, 3, 7]) {
      const parts: number[][] = [];
      for (let part = 1; part <= of; part++) {
        const taken: number[] = [];
        for await (const r of takeShard(records(), { part, of })) taken.push(r);
        expect(taken.every((r, i) => i === 0 || r - (taken[i - 1] as number) === of)).toBe(true);
        parts.push(taken);
      }
      expect(parts.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    }
    expect(inShard(4, { part: 2, of: 3 })).toBe(true);
    expect(inShard(4, { part: 1, of: 3 })).toBe(false);
  });
});
