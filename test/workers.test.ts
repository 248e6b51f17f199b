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

describe('a record answered by another process', () => {
  it('is noticed within seconds, though this run heard nothing of it (its batch still runs for a minute)', async () => {
    const { Ledger } = await import('../src/ledger/ledger.ts');
    const { RECHECK_MS } = await import('../src/sink/emitter.ts');
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const ledger = tempLedger();
    let submitted!: () => void;
    const isSubmitted = new Promise<void>((resolve) => (submitted = resolve));
    const run = enrich(emu, rows(1), { ledger, pollMinMs: 50, pollMaxMs: 100, onEvent: (e) => e.type === 'submitted' && submitted() });
    await isSubmitted;
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the run has settled down to polling
    // Another worker stores the answer (as its own download of this batch would): nothing tells this run.
    const other = new Ledger(ledger);
    const [batch] = other.batches();
    if (!batch) throw new Error('no batch');
    const waiting = other.submittedOf(batch.id);
    const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [{ type: 'text', text: '{"label":"label-0","n":0}' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 10, output_tokens: 5 } };
    other.settle(batch.id, [...waiting.values()].map((w) => ({ waiting: w, result: JSON.stringify({ type: 'succeeded', message }), retry: false })), Date.now());
    other.close();
    const stored = Date.now();
    const out = await run;
    expect(Date.now() - stored).toBeLessThan(RECHECK_MS + 5_000);
    expect(out).toEqual([expect.objectContaining({ id: '0', label: 'label-0', n: 0 })]);
  }, 30_000);
});
