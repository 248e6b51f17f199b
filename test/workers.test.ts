/**
 * Several workers on one ledger, as schedulers run them: the same job started on several machines
 * at once (each reads the whole input and writes the whole output), or split with shards (each takes
 * every N-th row). Every request goes into exactly one batch, whoever submits it.
 */
import { describe, expect, it } from 'vitest';
import { emulator, enrich, paidTwice, perRecord, tempLedger } from './helpers/pipeline.ts';
import { freshSchema, postgres } from './helpers/postgres.ts';

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i), text: `text ${i}` }));
const answered = (out: Record<string, unknown>[]) => out.every((r) => r['_error'] === undefined && r['label'] === `label-${r['id']}`);

/** The stores a shared ledger can live in; PostgreSQL only where the test server started. */
const stores: { name: string; ledger: () => Promise<string>; skip: boolean }[] = [
  { name: 'SQLite', ledger: async () => tempLedger(), skip: false },
  { name: 'PostgreSQL', ledger: freshSchema, skip: !postgres.url },
];

describe.each(stores)('workers sharing one ledger ($name)', ({ ledger: newLedger, skip }) => {
  it.skipIf(skip)('three workers of one job, each with the whole input: each writes the whole output in order, and no request is paid twice', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 50 });
    const ledger = await newLedger();
    const input = rows(300);
    const outs = await Promise.all([0, 1, 2].map(() => enrich(emu, input, { ledger, batchSize: 40, flushAfterMs: 20, job: 'shared' })));
    for (const out of outs) {
      expect(out.map((r) => r['id'])).toEqual(input.map((r) => r.id));
      expect(answered(out)).toBe(true);
    }
    expect(paidTwice(emu)).toEqual([]);
    expect([...emu.submittedCustomIds().values()].reduce((a, b) => a + b, 0)).toBe(300);
  });

  it.skipIf(skip)('three shard workers (shard K/3): each writes every third row in order; together every row once, none paid twice', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 50 });
    const ledger = await newLedger();
    const input = rows(100);
    const outs = await Promise.all([1, 2, 3].map((part) => enrich(emu, input, { ledger, batchSize: 10, flushAfterMs: 20, shard: { part, of: 3 } })));
    outs.forEach((out, k) => {
      expect(out.map((r) => r['id'])).toEqual(input.filter((_, i) => i % 3 === k).map((r) => r.id));
      expect(answered(out)).toBe(true);
    });
    expect(outs.flat().map((r) => Number(r['id'])).sort((a, b) => a - b)).toEqual(input.map((_, i) => i));
    expect(paidTwice(emu)).toEqual([]);
    expect([...emu.submittedCustomIds().values()].reduce((a, b) => a + b, 0)).toBe(100);
  });
});

describe('shards', () => {
  it('refuses a shard that cannot be (part 0, part over N), naming the option', async () => {
    const emu = await emulator({ responder: perRecord });
    await expect(enrich(emu, rows(3), { shard: { part: 0, of: 3 } })).rejects.toThrow(/`shard`: the shard must be a whole number from 1 to 3/);
    await expect(enrich(emu, rows(3), { shard: { part: 4, of: 3 } })).rejects.toThrow(/from 1 to 3/);
  });
});
