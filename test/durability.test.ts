/**
 * Never lose a record, never pay twice: retries of failed results, lost creates, crashed runs, gone
 * batches, shared ledgers, identities, stops, and a soak with every fault the emulator can inject.
 *
 * The invariant behind "never pay twice": every submission sends `<nonce>_<key>` custom_ids with a
 * fresh nonce, so a batch created twice would show some custom_id submitted twice.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { EmulatorHandle } from '../src/emulator/index.ts';
import { newCostTotals } from '../src/core/pricing.ts';
import { enrichStage } from '../src/enrich.ts';
import { Ledger } from '../src/ledger/ledger.ts';
import type { BatchEvent } from '../src/stages/batch.ts';
import type { SourceRecord } from '../src/stages/read.ts';
import { intercept } from './helpers/intercept.ts';
import { emulator, enrich, FORGET_ANSWERS, idOf, perRecord, schema, sources, tamper, tempLedger } from './helpers/pipeline.ts';

const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ id: String(from + i), text: `text ${from + i}` }));

/** No custom_id was ever submitted twice (a duplicated batch would repeat them). */
function expectNoDuplicateSubmission(emu: EmulatorHandle) {
  const twice = [...emu.submittedCustomIds()].filter(([, n]) => n > 1);
  expect(twice).toEqual([]);
}

/** How many times each request key was submitted (custom_id = 6-character nonce, '_', key). */
function submissionsPerKey(emu: EmulatorHandle): Map<string, number> {
  const perKey = new Map<string, number>();
  for (const [customId, n] of emu.submittedCustomIds()) perKey.set(customId.slice(7), (perKey.get(customId.slice(7)) ?? 0) + n);
  return perKey;
}

const ok = (out: Record<string, unknown>[]) => out.every((r) => r['_error'] === undefined && r['label'] === `label-${r['id']}`);

describe('results worth another attempt', () => {
  it('a transient error is submitted again in a later batch and then succeeds', async () => {
    const seen = new Map<string, number>();
    const emu = await emulator({
      responder: ({ params }) => {
        const id = idOf(params);
        seen.set(id, (seen.get(id) ?? 0) + 1);
        return seen.get(id) === 1 && Number(id) % 2 === 0 ? { error: { type: 'overloaded_error', message: 'Overloaded' } } : perRecord({ params });
      },
    });
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(10), { onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(emu.stats.requestsSubmitted).toBe(15);
    expect(events).toContainEqual(expect.objectContaining({ type: 'requeued', requests: 5, reasons: { overloaded_error: 5 } }));
    expectNoDuplicateSubmission(emu);
  });

  it('gives up after --max-attempts and says what the last attempt got and how many there were', async () => {
    const emu = await emulator({ responder: () => ({ error: { type: 'overloaded_error', message: 'Overloaded' } }) });
    const out = await enrich(emu, rows(2), { maxAttempts: 3 });
    for (const record of out) {
      expect(record['_error']).toEqual({ type: 'overloaded_error', message: expect.stringMatching(/^<stdin>:\d+: Overloaded \(after 3 attempts\)$/), attempts: 3 });
    }
    expect([...submissionsPerKey(emu).values()]).toEqual([3, 3]);
  });

  it('does not retry a final error such as invalid_request_error', async () => {
    const emu = await emulator({ responder: () => ({ error: { type: 'invalid_request_error', message: 'bad' } }) });
    const out = await enrich(emu, rows(2));
    expect(out.map((r) => (r['_error'] as { type: string }).type)).toEqual(['invalid_request_error', 'invalid_request_error']);
    expect(emu.stats.requestsSubmitted).toBe(2);
  });

  it('retries expired requests', async () => {
    const emu = await emulator({ expiredRate: 1 });
    const out = await enrich(emu, rows(1), { maxAttempts: 2 });
    expect(out[0]?.['_error']).toMatchObject({ type: 'expired', attempts: 2 });
    expect(emu.stats.requestsSubmitted).toBe(2);
  });

  it('retries a truncated answer with max_tokens doubled, for that row only', async () => {
    const limits: Record<string, number[]> = {};
    const emu = await emulator({
      responder: ({ params }) => {
        const id = idOf(params);
        const maxTokens = params['max_tokens'] as number;
        (limits[id] ??= []).push(maxTokens);
        return id === '1' && maxTokens < 400 ? { json: { label: 'cut', n: 0 }, stop_reason: 'max_tokens' } : perRecord({ params });
      },
    });
    const out = await enrich(emu, rows(3), { maxTokens: 100 });
    expect(ok(out)).toBe(true);
    expect(limits).toEqual({ '0': [100], '1': [100, 200, 400], '2': [100] });
  });

  it('tries a schema-invalid answer once more, not more', async () => {
    const calls = new Map<string, number>();
    const emu = await emulator({
      responder: ({ params }) => {
        const id = idOf(params);
        calls.set(id, (calls.get(id) ?? 0) + 1);
        if (id === '0') return { json: { label: 5 } }; // always wrong
        return calls.get(id) === 1 ? { text: 'not json' } : perRecord({ params });
      },
    });
    const out = await enrich(emu, rows(2), { maxAttempts: 5 });
    expect(out[0]?.['_error']).toMatchObject({ type: 'schema_mismatch', attempts: 2 });
    expect(out[1]).toMatchObject({ id: '1', label: 'label-1' });
    expect(Object.fromEntries(calls)).toEqual({ '0': 2, '1': 2 });
  });

  it('a new run tries again what an earlier run gave up on as transient', async () => {
    let healthy = false;
    const emu = await emulator({ responder: (r) => (healthy ? perRecord(r) : { error: { type: 'overloaded_error', message: 'Overloaded' } }) });
    const ledger = tempLedger();
    const first = await enrich(emu, rows(3), { ledger, maxAttempts: 1 });
    expect(first.every((r) => (r['_error'] as { type?: string } | undefined)?.type === 'overloaded_error')).toBe(true);
    healthy = true;
    const second = await enrich(emu, rows(3), { ledger, maxAttempts: 1 });
    expect(ok(second)).toBe(true);
    expect(emu.stats.calls['batches.create']).toBe(2);
  });

  it('a request an earlier run gave up on, repeated in the input, is tried again once, not once per repeat', async () => {
    // The intake reads what the ledger knows of a page of input in one step. Row 0 comes again at the
    // end of the page; by the time the intake places it, this run has already tried row 0 again and
    // stored its success (one batch at a time, one request a batch). The page's stale view still
    // said "a transient failure of an earlier run": it was reopened and paid a third time.
    let healthy = false;
    const emu = await emulator({ responder: (r) => (healthy ? perRecord(r) : { error: { type: 'overloaded_error', message: 'Overloaded' } }) });
    const ledger = tempLedger();
    await enrich(emu, rows(3), { ledger, maxAttempts: 1 });
    healthy = true;
    const second = await enrich(emu, [...rows(3), ...rows(1)], { ledger, maxAttempts: 1, batchSize: 1, maxInFlight: 1 });
    expect(second.map((r) => r['id'])).toEqual(['0', '1', '2', '0']);
    expect(ok(second)).toBe(true);
    expect([...submissionsPerKey(emu).values()]).toEqual([2, 2, 2]);
  });
});

describe('creates whose outcome is unknown', () => {
  it('a create that made the batch but lost its answer is adopted, not made again', async () => {
    const emu = await emulator({ responder: perRecord, lostCreateRate: 1 });
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(12), { batchSize: 5, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(emu.batches()).toHaveLength(3);
    expect(events.filter((e) => e.type === 'adopted')).toHaveLength(3);
    expect([...submissionsPerKey(emu).values()].every((n) => n === 1)).toBe(true);
  });

  it('a create that failed with a 500 before making anything is tried again, once the list shows no such batch', async () => {
    const emu = await emulator({ responder: perRecord, faultRate500: 0.4, retryAfterSeconds: 0.001, seed: 7 });
    const out = await enrich(emu, rows(30), { batchSize: 6 });
    expect(ok(out)).toBe(true);
    expect([...submissionsPerKey(emu).values()].every((n) => n === 1)).toBe(true);
    expect(emu.stats.faults['500']).toBeGreaterThan(0);
  });
});

describe('what a crashed run leaves behind', () => {
  it("a batch whose creator died before learning the outcome is found in the API's list and adopted", async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    const first = await enrich(emu, rows(4), { ledger });
    // As if the process died after the API made the batch but before the ledger recorded its id:
    tamper(ledger, "UPDATE batches SET state = 'creating', remote_id = NULL, run = 999999");
    tamper(ledger, FORGET_ANSWERS);
    tamper(ledger, 'DELETE FROM results');
    const events: BatchEvent[] = [];
    const second = await enrich(emu, rows(4), { ledger, onEvent: (e) => events.push(e) });
    expect(second).toEqual(first);
    expect(emu.stats.calls['batches.create']).toBe(1);
    expect(events).toContainEqual(expect.objectContaining({ type: 'adopted', requests: 4 }));
  });

  it('a batch whose create never reached the API is submitted again', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    await enrich(emu, rows(4), { ledger });
    tamper(ledger, "UPDATE batches SET state = 'creating', remote_id = NULL, run = 999999, request_count = 3");
    tamper(ledger, FORGET_ANSWERS);
    tamper(ledger, 'DELETE FROM results');
    const second = await enrich(emu, rows(4), { ledger });
    expect(ok(second)).toBe(true);
    expect(emu.stats.calls['batches.create']).toBe(2);
  });

  it('a batch the API no longer knows (404 long after create) has its requests submitted again', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    await enrich(emu, rows(3), { ledger });
    tamper(ledger, "UPDATE batches SET state = 'in_progress', remote_id = 'msgbatch_gone', created_at = ?", Date.now() - 3_600_000);
    tamper(ledger, FORGET_ANSWERS);
    tamper(ledger, 'DELETE FROM results');
    const events: BatchEvent[] = [];
    // Gone means 404s for minutes (see never-pay-twice.test.ts): waited out on a virtual clock.
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const second = await enrich(emu, rows(3), { ledger, clock, pollMinMs: undefined, pollMaxMs: undefined, onEvent: (e) => events.push(e) });
    expect(ok(second)).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'released', batchId: 'msgbatch_gone', requests: 3 }));
  });

  it("a crashed run's records do not stay in the ledger", async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    await enrich(emu, rows(2), { ledger });
    // A killed run leaves its row and its scratch file of records (see src/ledger/scratch.ts).
    const scratch = `${basename(ledger)}.run-00000000dead`;
    writeFileSync(join(dirname(ledger), scratch), 'records of a killed run');
    tamper(ledger, "INSERT INTO runs (job, pid, started_at, scratch) VALUES ('dead', 999999, 0, ?)", scratch);
    await enrich(emu, rows(2), { ledger });
    expect(readdirSync(dirname(ledger)).filter((name) => name.includes('.run-'))).toEqual([]);
    const db = new Database(ledger);
    expect(db.prepare('SELECT COUNT(*) AS n FROM runs').get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('a request that leaves the ledger while a run reads it', () => {
  // What a `batch-enrich gc` on a shared ledger can do between a run's lookup of an answered request
  // and the write of its record: the record then points at no request. It used to wait forever.
  it('its record comes out in its place with `request_lost`, and the next run sends it again', async () => {
    const emu = await emulator({ responder: perRecord });
    const path = tempLedger();
    expect(ok(await enrich(emu, rows(3), { ledger: path }))).toBe(true);
    const ledger = new Ledger(path);
    const gcBetween = intercept(ledger, (name, args, call) => {
      const result = call();
      // Answered long ago, and deleted now: after the lookup, before the intake.
      if (name === 'known') tamper(path, 'DELETE FROM request_rows WHERE key = ?', (args[1] as string[])[1]);
      return result;
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const out = await Promise.race([
        enrich(emu, rows(3), { ledger: gcBetween }),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the run never ended')), 10_000))),
      ]);
      expect(out.map((r) => r['id'])).toEqual(['0', '1', '2']);
      expect(out[1]?.['_error']).toMatchObject({ type: 'request_lost' });
      expect(ok([out[0]!, out[2]!])).toBe(true);
    } finally {
      clearTimeout(timer);
      ledger.close();
    }
    const before = emu.submittedCustomIds().size;
    expect(ok(await enrich(emu, rows(3), { ledger: path }))).toBe(true);
    expect(emu.submittedCustomIds().size).toBe(before + 1);
  });
});

describe('shared ledgers and identities', () => {
  it('two runs on one ledger at once both finish, and no request is submitted twice', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 20 });
    const ledger = tempLedger();
    const [a, b] = await Promise.all([
      enrich(emu, rows(30), { ledger, batchSize: 7, flushAfterMs: 5 }),
      enrich(emu, rows(30, 15), { ledger, batchSize: 7, flushAfterMs: 5 }),
    ]);
    expect(ok(a) && a.length === 30).toBe(true);
    expect(ok(b) && b.length === 30).toBe(true);
    expect([...submissionsPerKey(emu).values()].every((n) => n === 1)).toBe(true);
    expect(submissionsPerKey(emu).size).toBe(45);
  });

  it.each([
    { batchSize: 7, maxInFlight: 1 },
    { batchSize: 4, maxInFlight: 2 },
    { batchSize: 30, maxInFlight: 1 },
  ])('two runs on the same rows at once both finish, whoever submits each request ($batchSize a batch, $maxInFlight in flight)', async (sizes) => {
    const emu = await emulator({ responder: perRecord, processingMs: 30 });
    const ledger = tempLedger();
    const [a, b] = await Promise.all([
      enrich(emu, rows(40), { ledger, ...sizes, flushAfterMs: 5 }),
      enrich(emu, rows(40), { ledger, ...sizes, flushAfterMs: 5 }),
    ]);
    expect(ok(a) && a.length === 40).toBe(true);
    expect(ok(b) && b.length === 40).toBe(true);
    expect([...submissionsPerKey(emu).values()].every((n) => n === 1)).toBe(true);
  });

  it('work submitted under another identity stops the run with an explanation, unless told to pay again', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    await enrich(emu, rows(2), { ledger, apiKey: 'key-a' });
    await expect(enrich(emu, rows(2), { ledger, apiKey: 'key-b' })).rejects.toMatchObject({
      code: 'BE_IDENTITY',
      message: expect.stringMatching(/another API identity.*--new-identity/),
    });
    expect(emu.stats.calls['batches.create']).toBe(1);
    const paid = await enrich(emu, rows(2), { ledger, apiKey: 'key-b', allowOtherIdentity: true });
    expect(ok(paid)).toBe(true);
    expect(emu.stats.calls['batches.create']).toBe(2);
  });
});

describe('record flow', () => {
  it('a request repeated while its batch is being created is neither lost nor paid twice', async () => {
    for (let seed = 1; seed <= 4; seed++) {
      const emu = await emulator({ responder: perRecord, seed });
      // Repeats close together, a flush timer of a few ms, small batches: repeats land mid-create.
      const ids = Array.from({ length: 60 }, (_, i) => String((i * 7 + seed) % 23));
      async function* source(): AsyncGenerator<SourceRecord> {
        for (const [seq, id] of ids.entries()) {
          yield { seq, line: seq + 1, data: { id, text: 'x' } };
          if (seq % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
        }
      }
      const out = await enrich(emu, source(), { batchSize: 7, maxInFlight: 2, flushAfterMs: 3 });
      expect(out.map((r) => r['id'])).toEqual(ids);
      expect(ok(out)).toBe(true);
      expect([...submissionsPerKey(emu).values()].every((n) => n === 1)).toBe(true);
    }
  });

  it('a source numbering its records from 1 (or with gaps) still gets every record out, in order', async () => {
    const emu = await emulator({ responder: perRecord });
    const records: SourceRecord[] = [1, 2, 5].map((seq) => ({ seq, line: seq, data: { id: String(seq), text: 'x' } }));
    const out = await enrich(emu, Readable.from(records));
    expect(out.map((r) => r['id'])).toEqual(['1', '2', '5']);
  });

  it('records already answered come out while the input is still open', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    await enrich(emu, rows(2), { ledger });
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* stalled(): AsyncGenerator<SourceRecord> {
      yield* sources(rows(2));
      await gate;
    }
    const out: string[] = [];
    const run = enrich(emu, stalled(), { ledger }).then((records) => records.length);
    const started = Date.now();
    await pipeline(
      (async function* () {
        yield* sources(rows(2));
        await gate;
      })(),
      enrichStage({ prompt: 'item {{id}}: {{text}}', schema, apiKey: 'test-key', baseURL: emu.url, ledger, pollMinMs: 5, flushAfterMs: 60_000 }),
      async (records: AsyncIterable<Record<string, unknown>>) => {
        for await (const record of records) {
          out.push(String(record['id']));
          if (out.length === 2) release();
        }
      },
    );
    expect(out).toEqual(['0', '1']);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await run).toBe(2);
  });
});

describe('stopping', () => {
  it('the signal stops a run promptly even when the input is stalled (stdin left open)', async () => {
    const emu = await emulator({ responder: perRecord });
    const controller = new AbortController();
    async function* stalled(): AsyncGenerator<SourceRecord> {
      yield { seq: 0, line: 1, data: { id: '1', text: 'x' } };
      await new Promise(() => {}); // never resumes
    }
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    await expect(enrich(emu, stalled(), { signal: controller.signal })).rejects.toMatchObject({ code: 'BE_ABORTED' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('an abort after all input was read is reported as a stop, not as a lost record', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const controller = new AbortController();
    const run = enrich(emu, rows(2), { signal: controller.signal, onEvent: (e) => e.type === 'submitted' && setTimeout(() => controller.abort(), 20) });
    await expect(run).rejects.toMatchObject({ code: 'BE_ABORTED' });
  });

  it('a failing later stage stops polling at once', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const submitted = new Promise<void>((resolve) => {
      void pipeline(
        Readable.from(sources(rows(2))),
        enrichStage({ prompt: 'item {{id}}: {{text}}', schema, apiKey: 'k', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5, pollMaxMs: 10, onEvent: (e) => e.type === 'submitted' && resolve() }),
        async (records: AsyncIterable<Record<string, unknown>>) => {
          // Start pulling (a generator runs only when pulled), then fail while the batch is still running.
          void records[Symbol.asyncIterator]().next().catch(() => {});
          await new Promise((r) => setTimeout(r, 100));
          throw new Error('downstream failed');
        },
      ).catch(() => {});
    });
    await submitted;
    await new Promise((r) => setTimeout(r, 300));
    const retrieves = emu.stats.calls['batches.retrieve'];
    await new Promise((r) => setTimeout(r, 300));
    expect(emu.stats.calls['batches.retrieve']).toBe(retrieves);
  });

  it('a rerun after a stop that canceled the batches finishes the job: canceled requests are sent again', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 400 });
    const ledger = tempLedger();
    const controller = new AbortController();
    const stopped = enrich(emu, rows(6), { ledger, signal: controller.signal, cancelOnAbort: true, onEvent: (e) => e.type === 'submitted' && setTimeout(() => controller.abort(), 20) });
    await expect(stopped).rejects.toMatchObject({ code: 'BE_ABORTED' });
    const out = await enrich(emu, rows(6), { ledger });
    expect(ok(out)).toBe(true);
    expect(emu.stats.calls['batches.create']).toBe(2);
  });

  it('cancelOnAbort cancels the batches the run submitted', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const controller = new AbortController();
    const run = enrich(emu, rows(3), { signal: controller.signal, cancelOnAbort: true, onEvent: (e) => e.type === 'submitted' && setTimeout(() => controller.abort(), 20) });
    await expect(run).rejects.toMatchObject({ code: 'BE_ABORTED' });
    const batch = await new Anthropic({ apiKey: 'k', baseURL: emu.url }).messages.batches.retrieve(emu.batches()[0] ?? '');
    expect(batch.cancel_initiated_at).not.toBeNull();
  });
});

describe('downloads that break off', () => {
  it('fetches the results again, stores each once and counts each result once in the cost', async () => {
    const clean = await emulator({ responder: perRecord });
    const cleanCosts = newCostTotals();
    const expected = await enrich(clean, rows(40), { costs: cleanCosts });

    const emu = await emulator({ responder: perRecord, cutResultsRate: 0.6, seed: 3 });
    const costs = newCostTotals();
    const out = await enrich(emu, rows(40), { costs });
    expect(emu.stats.faults.cutResults).toBeGreaterThan(0);
    expect(emu.stats.calls['batches.results']).toBeGreaterThan(1);
    expect(out).toEqual(expected);
    expect(costs).toEqual(cleanCosts);
    expect(costs.usages).toBe(40);
  });
});

describe('a stop during a download', () => {
  it('leaves the answers worth another attempt to the next run, not stored as final', async () => {
    const ledger = tempLedger();
    // Every answer is cut off at the first max_tokens and complete at double.
    const responder = ({ params }: { params: Record<string, unknown> }) =>
      (params['max_tokens'] as number) < 200 ? { json: { label: 'cut', n: 0 }, stop_reason: 'max_tokens' as const } : perRecord({ params });
    const emu = await emulator({ responder, resultsPauseMs: 1_500 });
    const controller = new AbortController();
    let stopped = false;
    const stopMidDownload = (event: BatchEvent) => {
      if (event.type !== 'ended' || stopped) return;
      stopped = true;
      // Half the results are in (the emulator pauses half way through the download).
      setTimeout(() => controller.abort(), 200);
    };
    await expect(enrich(emu, rows(10), { ledger, maxTokens: 100, signal: controller.signal, onEvent: stopMidDownload })).rejects.toMatchObject({ code: 'BE_ABORTED' });

    const out = await enrich(emu, rows(10), { ledger, maxTokens: 100 });
    expect(ok(out)).toBe(true);
  });
});

describe('waits between tries', () => {
  it('stop growing at a minute for a failing call, although polls may wait 15 minutes', async () => {
    const emu = await emulator({ responder: perRecord, cutResultsRate: 1 });
    const waits: number[] = [];
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (waits.push(ms), (t += ms)) };
    await expect(enrich(emu, rows(3), { clock, pollMinMs: undefined, pollMaxMs: undefined })).rejects.toMatchObject({ code: 'BE_API' });
    // Every download was cut: each was tried again after a wait that doubled, up to a minute.
    expect(emu.stats.calls['batches.results']).toBeGreaterThan(8);
    expect(Math.max(...waits)).toBeGreaterThan(30_000);
    expect(Math.max(...waits)).toBeLessThanOrEqual(60_000);
  });
});

describe('soak: every fault at once', () => {
  it.each([11, 12, 13])('finishes every record correctly and never submits a custom_id twice (seed %i)', async (seed) => {
    const emu = await emulator({
      responder: perRecord,
      seed,
      processingMs: 5,
      faultRate429: 0.1,
      faultRate500: 0.1,
      faultRate529: 0.1,
      retryAfterSeconds: 0.001,
      cutResultsRate: 0.3,
      transient404: true,
      erroredRate: 0.15,
      expiredRate: 0.1,
      lostCreateRate: 0.2,
    });
    const out = await enrich(emu, rows(200), { batchSize: 20, maxInFlight: 3, maxAttempts: 15 });
    expect(out.map((r) => r['id'])).toEqual(rows(200).map((r) => r.id));
    expect(out.filter((r) => r['_error'] !== undefined)).toEqual([]);
    expect(ok(out)).toBe(true);
    expectNoDuplicateSubmission(emu);
    expect(emu.stats.faults.lostCreate).toBeGreaterThan(0);
    expect(emu.stats.faults.cutResults).toBeGreaterThan(0);
  });
});

describe('retries that come back while the last group is being created', () => {
  it('are sent as soon as the input has ended, not after --flush-after', async () => {
    // Row 0 fails transiently on its first attempt; its batch settles while the second (last)
    // group's create is still in flight, so the retry lands in a new group before the input has ended.
    let first = true;
    const emu = await emulator({
      createLatencyMs: 400,
      processingMs: 5,
      responder: (request) => {
        if (idOf(request.params) === '0' && first) {
          first = false;
          return { error: { type: 'overloaded_error', message: 'busy' } };
        }
        return perRecord(request);
      },
    });
    const started = Date.now();
    const out = await enrich(emu, rows(10), { batchSize: 5, maxInFlight: 2, flushAfterMs: 60_000 });
    expect(ok(out)).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);
});
