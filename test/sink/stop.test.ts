/** Stopping the sink: bounded waits, honest events, and the caller's records left as they were. */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createClient, identityOf } from '../../src/client/client.ts';
import { compileTemplate } from '../../src/core/template.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { batchSink, type BatchEvent, type JoinedRecord, type PreparedRecord } from '../../src/stages/batch.ts';
import { toRequests } from '../../src/stages/prepare.ts';
import type { SourceRecord } from '../../src/stages/read.ts';
import type { EnrichOptions } from '../../src/enrich.ts';
import { emulator, enrich, perRecord, schema, sources, tempLedger } from '../helpers/pipeline.ts';
import { enrichStage } from '../../src/enrich.ts';
import { faultProxy } from '../helpers/proxy.ts';
import { BatchAssembler } from '../../src/sink/assembler.ts';
import { BudgetGuard } from '../../src/sink/budget.ts';
import { Intake } from '../../src/sink/intake.ts';
import { testContext } from '../helpers/sink.ts';

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i), text: `text ${i}` }));

describe('a stop with cancelOnAbort', () => {
  it('says which cancels were accepted (a "canceled" event), not a "released" or "retry" one', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const controller = new AbortController();
    const events: BatchEvent[] = [];
    const run = enrich(emu, rows(3), {
      signal: controller.signal,
      cancelOnAbort: true,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'submitted') setTimeout(() => controller.abort(), 20);
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'BE_ABORTED' });
    const batchId = emu.batches()[0] ?? '';
    expect(events).toContainEqual({ type: 'canceled', batchId });
    expect(events.filter((e) => e.type === 'released' || e.type === 'retry')).toEqual([]);
    expect((await new Anthropic({ apiKey: 'k', baseURL: emu.url }).messages.batches.retrieve(batchId)).cancel_initiated_at).not.toBeNull();
  });

  // helper-56: a scheduler's retry stopped with --cancel-on-exit said "canceling this run's batches"
  // and left the batch it followed (its job's, from the try before) running.
  it("also cancels the job's batches it follows, made by an earlier run (a stopped try's); another job's batch runs on", async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const ledger = join(mkdtempSync(join(tmpdir(), 'be-stop-')), 'l.db');
    const stopAfterSubmit = async (options: Partial<EnrichOptions>, on: BatchEvent['type']) => {
      const controller = new AbortController();
      const events: BatchEvent[] = [];
      const run = enrich(emu, rows(3), {
        ledger,
        signal: controller.signal,
        ...options,
        onEvent: (e) => {
          events.push(e);
          if (e.type === on) setTimeout(() => controller.abort(), 50);
        },
      });
      await expect(run).rejects.toMatchObject({ code: 'BE_ABORTED' });
      return events;
    };
    await stopAfterSubmit({ job: 'other', prompt: 'theirs {{id}}: {{text}}' }, 'submitted');
    await stopAfterSubmit({ job: 'mine' }, 'submitted');
    const [theirs, earlier] = emu.batches();
    const events = await stopAfterSubmit({ job: 'mine', cancelOnAbort: true }, 'following');
    expect(events).toContainEqual({ type: 'canceled', batchId: earlier });
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url });
    expect((await client.messages.batches.retrieve(earlier ?? '')).cancel_initiated_at).not.toBeNull();
    expect((await client.messages.batches.retrieve(theirs ?? '')).cancel_initiated_at).toBeNull();
    expect(emu.batches()).toHaveLength(2);
  });

  // helper-57: a worker stopped with cancelOnAbort canceled the batch of another worker of the job,
  // still running, that it followed: that worker's records came out canceled.
  it("leaves alone a followed batch whose run is still alive (another worker's)", async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const ledger = join(mkdtempSync(join(tmpdir(), 'be-stop-')), 'l.db');
    const first = new AbortController();
    let submitted!: () => void;
    const firstSubmitted = new Promise<void>((resolve) => (submitted = resolve));
    const alive = enrich(emu, rows(3), { ledger, job: 'mine', signal: first.signal, onEvent: (e) => e.type === 'submitted' && submitted() });
    await firstSubmitted;
    const second = new AbortController();
    const events: BatchEvent[] = [];
    const stopped = enrich(emu, rows(3), {
      ledger,
      job: 'mine',
      cancelOnAbort: true,
      signal: second.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'following') setTimeout(() => second.abort(), 50);
      },
    });
    await expect(stopped).rejects.toMatchObject({ code: 'BE_ABORTED' });
    expect(events.filter((e) => e.type === 'canceled')).toEqual([]);
    // And says so: the user asked for cancels, and that batch runs on, billed (note 43's leftover).
    expect(events.filter((e) => e.type === 'kept-running')).toEqual([{ type: 'kept-running', batches: 1 }]);
    const [theirs] = emu.batches();
    expect((await new Anthropic({ apiKey: 'k', baseURL: emu.url }).messages.batches.retrieve(theirs ?? '')).cancel_initiated_at).toBeNull();
    first.abort();
    await expect(alive).rejects.toMatchObject({ code: 'BE_ABORTED' });
  });

  it('does not wait on a hung API: the stop ends within seconds, and the cancel that never answered is reported', async () => {
    const { stopMs, events } = await stopWithHungCancels({ cancelOnAbort: true }, 'submitted', 20);
    expect(stopMs).toBeLessThan(8_000);
    expect(events).toContainEqual(expect.objectContaining({ type: 'canceled', error: expect.any(String) }));
  });

  it('a deadline cancel on a hung API does not outlive the stop either: bounded, and reported', async () => {
    const { stopMs, events } = await stopWithHungCancels({ deadline: Date.now() + 1_500 }, 'deadline', 300);
    expect(stopMs).toBeLessThan(8_000);
    expect(events.filter((e) => e.type === 'canceled').length).toBeGreaterThan(0);
  });
});

/**
 * Runs 3 rows in long batches against an API whose cancels never answer, and stops the run `afterMs`
 * after the first event of type `on`; resolves with the events and how long the stop took.
 */
async function stopWithHungCancels(options: Partial<EnrichOptions>, on: BatchEvent['type'], afterMs: number) {
  const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
  const proxy = await faultProxy(emu.url, (call) => (call.path.endsWith('/cancel') ? 'hang' : 'pass'));
  const controller = new AbortController();
  const events: BatchEvent[] = [];
  let stopAsked = 0;
  const run = enrich(emu, rows(3), {
    ...options,
    baseURL: proxy.url,
    signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      if (e.type === on && stopAsked === 0) setTimeout(() => ((stopAsked = Date.now()), controller.abort()), afterMs);
    },
  });
  await expect(run).rejects.toMatchObject({ code: 'BE_ABORTED' });
  return { stopMs: Date.now() - stopAsked, events };
}

describe("the caller's records", () => {
  it('are not changed by the sink, even the one it gives an error (a request over the batch byte limit)', async () => {
    const emu = await emulator({ responder: perRecord });
    const source: SourceRecord[] = [
      { seq: 0, line: 2, data: { id: '0', text: 'short' } },
      { seq: 1, line: 3, data: { id: '1', text: 'x'.repeat(5_000) } },
    ];
    const prepared: PreparedRecord[] = [];
    for await (const record of toRequests({ model: 'claude-haiku-4-5', maxTokens: 100, prompt: compileTemplate('item {{id}}: {{text}}') })(Readable.from(source))) prepared.push(record);
    const before = structuredClone(prepared);
    const client = createClient({ apiKey: 'k', baseURL: emu.url });
    const out: JoinedRecord[] = [];
    const sink = batchSink({ client, ledger: new Ledger(':memory:'), identity: identityOf(client, 'k'), maxBatchBytes: 2_000, pollMinMs: 5, pollMaxMs: 10 });
    for await (const joined of sink(Readable.from(prepared))) out.push(joined);
    expect(out[1]?.error).toMatchObject({ type: 'request_too_large' });
    expect(prepared).toEqual(before);
  });
});

it('a run notes none of its own new requests as read from the ledger, whatever batch cuts its input: a complete run of a job another try is working on leaves no notes behind', async () => {
  // The record whose request filled a group was written after that request (the group's flush wrote
  // the buffered requests first): found in the ledger, it was noted as another's (\`GcRules.borrowedKept\`).
  // Two --shard workers of one job each left such notes, and gc kept the job's work for 30 days.
  const emu = await emulator({ responder: perRecord });
  const path = join(mkdtempSync(join(tmpdir(), 'be-notes-')), 'ledger.db');
  let end: ((kept: boolean) => Promise<void>) | undefined;
  const out = await enrich(emu, rows(30), { ledger: path, batchSize: 5, onComplete: (e) => (end = e) });
  expect(out).toHaveLength(30);
  const db = new Database(path, { readonly: true });
  const notes = db.prepare('SELECT COUNT(*) FROM borrowed WHERE request_id >= 0').pluck().get();
  db.close();
  expect(notes).toBe(0);
  await end?.(true);
});

it('a new request whose record is written by the flush its own add started is known to the assembler all along: the emitter does not add it to a second group', async () => {
  // Groups of one, one slot, taken: the second record's add flushes the first group, which writes
  // both records and waits for the slot. The emitter, seeing record 1 pending, asked the assembler.
  const ctx = testContext({ batchSize: 1, maxInFlight: 1 });
  let freeSlot!: () => void;
  const slotFreed = new Promise<void>((resolve) => (freeSlot = resolve));
  let inFlight = 1;
  const assembler = new BatchAssembler(ctx, {
    budget: new BudgetGuard(ctx, undefined),
    beforeOpen: () => intake.writeBuffered(),
    inFlight: () => inFlight,
    slotFreed: () => slotFreed,
    submit: async () => {},
    sendRealtime: async () => {},
  });
  const intake: Intake = new Intake(ctx, { assembler, track: () => {} });
  const source: PreparedRecord[] = [];
  for await (const r of toRequests({ model: 'claude-haiku-4-5', maxTokens: 100, prompt: compileTemplate('item {{id}}: {{text}}') })(Readable.from(sources(rows(2))))) source.push(r);
  const filled = intake.fill(Readable.from(source));
  for (let i = 0; i < 20 && ctx.ledger.records(ctx.scope, ctx.run, 0, 10).length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  const written = ctx.ledger.records(ctx.scope, ctx.run, 0, 10);
  expect(written.map((row) => row.state)).toEqual(['pending', 'pending']);
  expect(assembler.has(source[1]!.key!)).toBe(true);
  inFlight = 0;
  freeSlot();
  await filled;
  assembler.dispose();
});

describe('a consumer that has yet to keep what it wrote (onComplete: a file renamed into place)', () => {
  /** 3 rows through a stage that opens its own ledger at a new path; the run's end, as handed over. */
  async function handedOver() {
    const emu = await emulator({ responder: perRecord });
    const dir = mkdtempSync(join(tmpdir(), 'be-complete-'));
    const path = join(dir, 'ledger.db');
    let end: ((kept: boolean) => Promise<void>) | undefined;
    const out = await enrich(emu, rows(3), { ledger: path, onComplete: (e) => (end = e) });
    expect(out).toHaveLength(3);
    const runs = () => {
      const db = new Database(path, { readonly: true });
      const n = db.prepare('SELECT COUNT(*) FROM runs').pluck().get();
      db.close();
      return n;
    };
    // Every record is out, and the run is not ended: a consumer that dies now leaves it to gc as a try cut short.
    expect(runs()).toBe(1);
    return { dir, path, runs, end: end! };
  }

  it('kept: the run ends complete, the ledger the stage opened is closed after it, and gc may then forget the job', async () => {
    const { dir, path, runs, end } = await handedOver();
    await end(true);
    expect(runs()).toBe(0);
    expect(readdirSync(dir).filter((name) => name.includes('.run-'))).toEqual([]);
    const ledger = new Ledger(path);
    expect(await ledger.gc(Date.now() + 1, Date.now() + 1)).toEqual({ batches: 1, requests: 3 });
    ledger.close();
  });

  it('not kept (the rename failed): the run ends incomplete, and gc keeps every answer for the rerun', async () => {
    const { path, runs, end } = await handedOver();
    await end(false);
    expect(runs()).toBe(0);
    const ledger = new Ledger(path);
    expect(await ledger.gc(Date.now() + 1, Date.now() + 1)).toEqual({ batches: 0, requests: 0 });
    expect(ledger.batches()).toHaveLength(1);
    ledger.close();
  });
});

/** An in-memory ledger whose `endRun` always fails as a full disk does; `calls()` counts the tries. */
function ledgerThatCannotEnd() {
  const inner = new Ledger(':memory:');
  let calls = 0;
  const ledger = new Proxy(inner, {
    get(target, name, receiver) {
      if (name === 'endRun') {
        return () => {
          calls++;
          throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        };
      }
      const value = Reflect.get(target, name, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { ledger, inner, calls: () => calls };
}

describe('a run cut short whose end the ledger cannot record (its disk full too)', () => {
  it("fails with its own error, not the ledger's, and says the end was not recorded (an 'unended' event)", async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const { ledger, inner, calls } = ledgerThatCannotEnd();
    const controller = new AbortController();
    const events: BatchEvent[] = [];
    const run = enrich(emu, rows(3), {
      ledger,
      signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'submitted') setTimeout(() => controller.abort(), 20);
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'BE_ABORTED' });
    expect(calls()).toBe(1);
    expect(events).toContainEqual({ type: 'unended', message: 'database or disk is full' });
    inner.close();
  });

  it('a consumer that stops early (a closed pipe) is not failed by it: the end that failed is said, not thrown', async () => {
    const emu = await emulator({ responder: perRecord });
    const { ledger, inner, calls } = ledgerThatCannotEnd();
    const events: BatchEvent[] = [];
    const stage = enrichStage({ prompt: 'item {{id}}: {{text}}', schema, apiKey: 'k', baseURL: emu.url, ledger, pollMinMs: 5, pollMaxMs: 20, onEvent: (e) => events.push(e) });
    const got: unknown[] = [];
    for await (const record of stage(Readable.from(sources(rows(3))))) {
      got.push(record);
      break;
    }
    expect(got).toHaveLength(1);
    expect(calls()).toBe(1);
    expect(events.filter((e) => e.type === 'unended')).toHaveLength(1);
    inner.close();
  });
});

describe('the end handed to the consumer (onComplete)', () => {
  it('a ledger that cannot record the end (a full disk) rejects the promise end returns, once, and does not throw where end is called', async () => {
    const emu = await emulator({ responder: perRecord });
    const { ledger, inner, calls: endCalls } = ledgerThatCannotEnd();
    let end: ((kept: boolean) => Promise<void>) | undefined;
    await enrich(emu, rows(2), { ledger, onComplete: (e) => (end = e) });
    let ended: Promise<void> | undefined;
    expect(() => (ended = end!(true))).not.toThrow();
    await expect(ended).rejects.toMatchObject({ code: 'SQLITE_FULL' });
    await expect(end!(false)).rejects.toMatchObject({ code: 'SQLITE_FULL' });
    expect(endCalls()).toBe(1);
    inner.close();
  });
});

// helper-97: the 'unneeded' event was said once the intake stopped reading, whether it had read the
// whole input or a stop had cut it short; and a ledger that failed while it was said (one a stop had
// closed meanwhile: a Ctrl-C while a big input was read) was a rejection nobody awaited, which ended
// the process ("The database connection is not open", exit 1).
describe('the unneeded event, at a stop', () => {
  it.each(['a path', 'an open ledger (left open)'])('is not said of the batches of rows left unread, and the stop ends as a stop (the ledger as %s)', async (given) => {
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const path = tempLedger();
    const ledger = given === 'a path' ? path : new Ledger(path);
    // A first try sends 9 rows in 3 batches, and leaves them running.
    await expect(enrich(emu, rows(9), { ledger, batchSize: 3, noWait: true })).rejects.toMatchObject({ code: 'BE_PENDING' });
    expect(emu.batches()).toHaveLength(3);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const controller = new AbortController();
      const events: BatchEvent[] = [];
      // The next try reads slowly, and is stopped once it has read the first batch's rows.
      async function* slowly(): AsyncGenerator<SourceRecord> {
        for (const record of sources(rows(9))) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          if (record.seq === 3) controller.abort();
          yield record;
        }
      }
      const run = enrich(emu, slowly(), { ledger, batchSize: 3, signal: controller.signal, onEvent: (e) => events.push(e) });
      await expect(run).rejects.toMatchObject({ code: 'BE_ABORTED' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(events.filter((e) => e.type === 'unneeded')).toEqual([]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      if (typeof ledger !== 'string') ledger.close();
    }
  });
});
