/**
 * The sink's own work per record: what it reads from the ledger and does for each record, measured
 * in calls and rows (CPU time itself is too noisy for a test; bench/measure.mjs measures it).
 */
import { describe, expect, it, vi } from 'vitest';
import { Ledger } from '../../src/ledger/ledger.ts';
import type { LedgerStore } from '../../src/ledger/store.ts';
import { intercept } from '../helpers/intercept.ts';
import { emulator, enrich, perRecord, tempLedger } from '../helpers/pipeline.ts';

// Results stored in chunks of 100 (not 16,000): a batch's answers come in, in random order, a chunk at a time.
vi.mock('../../src/sink/options.ts', async (importOriginal) => ({ ...(await importOriginal<typeof import('../../src/sink/options.ts')>()), RESULT_CHUNK: 100 }));

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i), text: `text ${i}` }));

/** The ledger, counting the record rows `records` hands out. */
function countingRecords(ledger: Ledger): { store: LedgerStore; rowsRead: () => number; largestPage: () => number } {
  let read = 0;
  let largest = 0;
  const store = intercept<LedgerStore>(ledger, (name, _args, call) => {
    const result = call();
    if (name === 'records') {
      const page = result as ReturnType<Ledger['records']>;
      read += page.length;
      largest = Math.max(largest, page.length);
    }
    return result;
  });
  return { store, rowsRead: () => read, largestPage: () => largest };
}

describe('the emitter reads each record about once', () => {
  // A row carries the record and its answer: reading it costs the ledger and the garbage collector.
  // Each record is read once to come out. Besides, each time the head comes to wait (at the start,
  // when the input ends, and at each stored chunk that lets the head step on a little), `unblock`
  // looks at the window after it (here all n records). It was read whole at each of those steps,
  // and the page that found the head waiting was read whole too: 5n rows here. Now that page is a
  // small one, and at a step of the head only the head and what lies beyond the window read last
  // are read: about 3n (the window read whole at the start and when the input ends).
  it('a page that stops at its waiting head is not read whole, nor is the window after the head read again at each step', async () => {
    const n = 3000;
    const emu = await emulator({ responder: perRecord, processingMs: 200 });
    const ledger = new Ledger(tempLedger());
    const { store, rowsRead } = countingRecords(ledger);
    try {
      const out = await enrich(emu, rows(n), { ledger: store, batchSize: n, flushAfterMs: 10_000 });
      expect(out.map((r) => r['id'])).toEqual(rows(n).map((r) => r.id));
      expect(rowsRead()).toBeLessThanOrEqual(3.5 * n);
    } finally {
      ledger.close();
    }
  });

  // A page stays alive until its last record has gone downstream, where everything allocates: a
  // large one outlives scavenges and is promoted (garbage the old generation then collects).
  it('reads at most 1,000 records at a time, also when every answer is in (a rerun)', async () => {
    const n = 2500;
    const emu = await emulator({ responder: perRecord });
    const path = tempLedger();
    await enrich(emu, rows(n), { ledger: path, batchSize: n, flushAfterMs: 10_000 });
    const ledger = new Ledger(path);
    const { store, rowsRead, largestPage } = countingRecords(ledger);
    try {
      const out = await enrich(emu, rows(n), { ledger: store });
      expect(out.map((r) => r['id'])).toEqual(rows(n).map((r) => r.id));
      expect(largestPage()).toBeLessThanOrEqual(1000);
      expect(rowsRead()).toBe(n);
    } finally {
      ledger.close();
    }
  });
});
