/**
 * Real-time mode: the same pipeline through `messages.create`: the same records as batch mode, the
 * same ledger (a real-time answer is not paid for again, an interrupted run resumes), concurrency
 * that backs off on 429, and a deadline that moves unfinished batch work to real time.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import type { BatchEvent } from '../src/stages/batch.ts';
import { newCostTotals } from '../src/core/pricing.ts';
import { ROOT, runCli } from './helpers/cli.ts';
import { emulator, enrich, perRecord, tempLedger } from './helpers/pipeline.ts';
import { faultProxy, isCancel, isCreate } from './helpers/proxy.ts';
import { createClient } from '../src/client/client.ts';
import { STOP_WAIT_MS } from '../src/sink/options.ts';

/** Real time, but waits under a second pass at once; longer ones (a retry-after, a grown poll interval) last until cut short. */
const cutClock = {
  now: Date.now,
  sleep: (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (ms < 1000 || signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    }),
};
const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i), text: `text ${i}` }));
const ok = (out: Record<string, unknown>[]) => out.every((r) => r['_error'] === undefined && r['label'] === `label-${r['id']}`);

describe('real-time mode', () => {
  it('two runs on one ledger: a request the other run is sending in real time is waited for, not sent again', async () => {
    // Run B reads rows run A is answering in real time: their requests are submitted on A's real-time
    // group. B followed that group and took it for one left over by a stopped run, released its
    // requests and sent them again (each paid twice; A's answers were then refused by the ledger).
    const emu = await emulator({ responder: perRecord, messagesLatencyMs: 150 });
    const ledger = tempLedger();
    let started!: () => void;
    const aSending = new Promise<void>((resolve) => (started = resolve));
    const a = enrich(emu, rows(4), { ledger, mode: 'realtime', concurrency: 1, onEvent: (e) => e.type === 'realtime' && started() });
    await aSending;
    const events: BatchEvent[] = [];
    const b = await enrich(emu, rows(4), { ledger, mode: 'realtime', concurrency: 1, onEvent: (e) => events.push(e) });
    expect(ok(await a) && ok(b)).toBe(true);
    expect(events.filter((e) => e.type === 'released')).toEqual([]);
    expect(emu.stats.calls['messages.create']).toBe(4);
  });

  it('gives the same records as batch mode for the same input (the bundled recipe, through the CLI)', async () => {
    const tickets = join(ROOT, 'fixtures', 'csv', 'tickets.csv');
    const batch = await runCli(['--emulator', '--poll-min', '0.01', '--transform', 'ticket-triage', tickets]);
    const realtime = await runCli(['--emulator', '--mode', 'realtime', '--transform', 'ticket-triage', tickets]);
    expect(realtime.code, realtime.stderr).toBe(0);
    expect(realtime.stdout).toBe(batch.stdout);
    expect(realtime.stderr).toMatch(/real time: sending 12 requests/);
    expect(realtime.stderr).toMatch(/cost \$[\d.]+ at real-time prices/);
    expect(realtime.stderr).not.toMatch(/msgbatch_/);
  });

  it('keeps input order and joins each answer to its record (library)', async () => {
    const emu = await emulator({ responder: perRecord, messagesLatencyMs: 5 });
    const costs = newCostTotals();
    const out = await enrich(emu, rows(70), { mode: 'realtime', concurrency: 6, costs });
    expect(out.map((r) => r['id'])).toEqual(rows(70).map((r) => r.id));
    expect(ok(out)).toBe(true);
    expect(emu.stats.calls['batches.create']).toBe(0);
    expect(emu.stats.calls['messages.create']).toBe(70);
    expect(costs.usd).toBeCloseTo(costs.realtimeUsd, 10); // priced at real-time rates
  });

  it('backs off its concurrency when the API answers 429, and still finishes every record', async () => {
    const emu = await emulator({ responder: perRecord, messagesConcurrency: 2, messagesLatencyMs: 30, retryAfterSeconds: 0.01 });
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(24), { mode: 'realtime', concurrency: 8, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(emu.stats.faults['429']).toBeGreaterThan(0);
    const limits = events.flatMap((e) => (e.type === 'concurrency' ? [e.limit] : []));
    expect(limits[0]).toBe(4); // halved from 8 on the first 429
    expect(Math.min(...limits)).toBeLessThanOrEqual(2);
  });

  it('slows down on the rate-limit headers before the API has to refuse anything', async () => {
    const emu = await emulator({ responder: perRecord, messagesConcurrency: 4, messagesLatencyMs: 20 });
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(24), { mode: 'realtime', concurrency: 4, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'concurrency', reason: expect.stringMatching(/rate-limit headers leave \d+ requests/) }));
  });

  it('says what the rate-limit headers leave as a person reads it: 1 request, not 1 requests', async () => {
    // Three calls at most at once, two ours: the headers say one request is left.
    const emu = await emulator({ responder: perRecord, messagesConcurrency: 3, messagesLatencyMs: 10 });
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(6), { mode: 'realtime', concurrency: 2, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    const reasons = events.flatMap((e) => (e.type === 'concurrency' ? [e.reason] : []));
    expect(reasons).toContain('the rate-limit headers leave 1 request');
    expect(reasons.filter((r) => /\b1 requests\b/.test(r ?? ''))).toEqual([]);
  });

  it('a key the API refuses (401) stops the run, as in batch mode; no refusal is kept as an answer, and the right key then runs', async () => {
    // 100 rows: several groups at once, each of which has its calls refused.
    const emu = await emulator({ responder: perRecord, apiKeys: ['good-key'] });
    const ledger = tempLedger();
    await expect(enrich(emu, rows(100), { mode: 'realtime', concurrency: 3, apiKey: 'bad-key', ledger })).rejects.toThrow(/401|authentication/i);
    const out = await enrich(emu, rows(100), { mode: 'realtime', apiKey: 'good-key', ledger });
    expect(ok(out)).toBe(true);
    expect(out.map((r) => r['id'])).toEqual(rows(100).map((r) => r.id));
  });

  it('a stop (Ctrl-C) keeps the answers of the calls already in flight: the rerun asks none of them again', async () => {
    // Each call takes 300 ms; the stop comes 100 ms after the first group went out, with 4 calls in
    // flight. Aborted, their answers were lost and paid again by the rerun (the API bills a call whose
    // caller hung up); now the stop waits for them (up to STOP_WAIT_MS) and keeps them.
    const emu = await emulator({ responder: perRecord, messagesLatencyMs: 300 });
    const ledger = tempLedger();
    const controller = new AbortController();
    const stopped = enrich(emu, rows(12), { ledger, mode: 'realtime', concurrency: 4, signal: controller.signal, onEvent: (e) => e.type === 'realtime' && setTimeout(() => controller.abort(), 100) });
    await expect(stopped).rejects.toMatchObject({ code: 'BE_ABORTED' });
    const asked = emu.stats.calls['messages.create'] ?? 0;
    expect(asked).toBeGreaterThan(0);
    const out = await enrich(emu, rows(12), { ledger, mode: 'realtime', concurrency: 4 });
    expect(ok(out)).toBe(true);
    expect(emu.stats.calls['messages.create']).toBe(12);
  });

  it('a stop waits for the real-time calls in flight however long they take (each is paid once sent), and says so: the rerun asks none of them again', async () => {
    // Each call takes longer than the stop waits for the rest of the run (STOP_WAIT_MS): aborted then,
    // its answer was lost and the rerun paid for it again.
    const emu = await emulator({ responder: perRecord, messagesLatencyMs: STOP_WAIT_MS + 400 });
    const ledger = tempLedger();
    const controller = new AbortController();
    const events: BatchEvent[] = [];
    const onEvent = (event: BatchEvent) => {
      events.push(event);
      if (event.type === 'realtime') setTimeout(() => controller.abort(), 100);
    };
    const stopped = enrich(emu, rows(2), { ledger, mode: 'realtime', concurrency: 2, signal: controller.signal, onEvent });
    await expect(stopped).rejects.toMatchObject({ code: 'BE_ABORTED' });
    expect(emu.stats.calls['messages.create']).toBe(2);
    expect(events).toContainEqual({ type: 'finishing', calls: 2 });
    const out = await enrich(emu, rows(2), { ledger, mode: 'realtime' });
    expect(ok(out)).toBe(true);
    expect(emu.stats.calls['messages.create']).toBe(2);
  });

  it.each([
    ['broken off half way (the API answered, and billed it)', 'cut-body'],
    ['reset with no answer (the API may have answered)', 'drop'],
  ] as const)('a real-time answer lost on the way, %s, is not asked again in the run: the record says so, and a rerun sends it', async (_what, action) => {
    // helper-68: it came back as a free `api_error`, tried again at once: paid twice, and counted once.
    const emu = await emulator({ responder: perRecord });
    const dir = mkdtempSync(join(tmpdir(), 'be-rt-lost-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, `id,text\n${rows(4).map((r) => `${r.id},${r.text}`).join('\n')}\n`);
    const isMessage = (call: { method: string; path: string }) => call.method === 'POST' && call.path.split('?')[0] === '/v1/messages';
    const proxy = await faultProxy(emu.url, (call) => (isMessage(call) && call.n === 0 ? action : 'pass'));
    const env = { ANTHROPIC_BASE_URL: proxy.url, ANTHROPIC_API_KEY: 'test', BATCH_ENRICH_LEDGER: join(dir, 'ledger.db') };
    const args = ['--mode', 'realtime', '--concurrency', '1', '--prompt', 'Label: {{text}}', '--max-cost', '1', '--summary', join(dir, 's.json'), input];
    const first = await runCli(args, { env });
    expect(first.code, first.stderr).toBe(3);
    expect(proxy.calls.filter(isMessage)).toHaveLength(4);
    const out = first.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; _error?: { type: string; message: string } });
    expect(out.map((r) => r.id)).toEqual(['0', '1', '2', '3']);
    const lost = out.filter((r) => r._error);
    expect(lost.map((r) => [r.id, r._error?.type])).toEqual([['0', 'answer_lost']]);
    expect(lost[0]?._error?.message).toMatch(/may have .*billed.*not sent again.*run the same command again/s);
    expect(first.stderr).toMatch(/answer_lost: 1\)/);
    // helper-71: status showed every answer in and nothing a rerun would send again (a real-time group
    // is never refreshed from the API): its counts now come from the ledger.
    const status = await runCli(['status', '--json'], { env });
    const job = JSON.parse(status.stdout) as { live_request_counts: unknown; batches: { request_counts: unknown }[] };
    expect(job.batches.map((b) => b.request_counts)).toEqual([{ processing: 0, succeeded: 3, errored: 1, canceled: 0, expired: 0 }]);
    expect(job.live_request_counts).toEqual({ processing: 0, succeeded: 3, errored: 1, canceled: 0, expired: 0 });
    expect(first.stderr).toMatch(/^batch-enrich: cost \$[\d.]+ at real-time prices .*, plus what 1 answer lost on the way may have cost; /m);
    const second = await runCli(args, { env });
    expect(second.code, second.stderr).toBe(0);
    expect(proxy.calls.filter(isMessage)).toHaveLength(5);
  });

  it('against an emulator that loses a share of the answers (lostMessageRate): each record comes out once, no call is made twice in a run, and reruns finish the job', async () => {
    const emu = await emulator({ responder: perRecord, lostMessageRate: 0.3, seed: 5 });
    const ledger = tempLedger();
    let asked = 0;
    let lost = 30;
    for (let run = 0; run < 10 && lost > 0; run++) {
      const out = await enrich(emu, rows(30), { mode: 'realtime', ledger });
      expect(out.map((r) => r['id'])).toEqual(rows(30).map((r) => r.id));
      const lostNow = out.filter((r) => (r['_error'] as { type?: string } | undefined)?.type === 'answer_lost').length;
      if (run === 0) expect(lostNow).toBeGreaterThan(0);
      expect(out.filter((r) => r['_error'] !== undefined)).toHaveLength(lostNow);
      // This run asked each request that had no answer once: all 30 at first, then those lost last time.
      expect(emu.stats.calls['messages.create'] - asked).toBe(lost);
      asked = emu.stats.calls['messages.create'];
      lost = lostNow;
      if (lost === 0) expect(ok(out)).toBe(true);
    }
    expect(lost).toBe(0);
    expect(asked).toBe(30 + emu.stats.faults.lostMessage);
  });

  // helper-71: the SDK refuses, before sending anything, a non-streaming call whose max_tokens might
  // take over 10 minutes (over 21,333) unless given a timeout: every such call came back answer_lost.
  it('sends a real-time call with a max_tokens batches take (32,000): it is answered, not refused by the SDK', async () => {
    const emu = await emulator({ responder: perRecord });
    const out = await enrich(emu, rows(2), { mode: 'realtime', maxTokens: 32_000 });
    expect(ok(out)).toBe(true);
    expect(emu.stats.calls['messages.create']).toBe(2);
    const dir = mkdtempSync(join(tmpdir(), 'be-rt-32k-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'id,text\n0,text 0\n1,text 1\n');
    const env = { ANTHROPIC_BASE_URL: emu.url, ANTHROPIC_API_KEY: 'test', BATCH_ENRICH_LEDGER: join(dir, 'ledger.db') };
    const r = await runCli(['--mode', 'auto', '--max-tokens', '32000', '--prompt', 'item {{id}}: {{text}}', input], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(emu.stats.calls['messages.create']).toBe(4);
  });

  // helper-71: the cost line was left out when no answer came (every call lost), and counted records,
  // not calls (two identical records share one request, and one call).
  it.each([
    ['every call lost', ['0,text 0'], 1, 1],
    ['two identical records, one call lost', ['0,text 0', '0,text 0', '1,text 1'], 2, 1],
  ] as const)('the cost line says how many calls lost their answer (%s)', async (_what, lines, calls, lost) => {
    const emu = await emulator({ responder: perRecord });
    const dir = mkdtempSync(join(tmpdir(), 'be-rt-lost-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, `id,text\n${lines.join('\n')}\n`);
    const isMessage = (call: { method: string; path: string }) => call.method === 'POST' && call.path.split('?')[0] === '/v1/messages';
    const proxy = await faultProxy(emu.url, (call) => (isMessage(call) && call.n === 0 ? 'cut-body' : 'pass'));
    const summary = join(dir, 's.json');
    const env = { ANTHROPIC_BASE_URL: proxy.url, ANTHROPIC_API_KEY: 'test', BATCH_ENRICH_LEDGER: join(dir, 'ledger.db') };
    const r = await runCli(['--mode', 'realtime', '--concurrency', '1', '--prompt', 'item {{id}}: {{text}}', '--summary', summary, input], { env });
    expect(r.code, r.stderr).toBe(3);
    expect(proxy.calls.filter(isMessage)).toHaveLength(calls);
    expect(r.stderr).toMatch(new RegExp(`^batch-enrich: cost \\$[\\d.]+ at real-time prices .*, plus what ${lost} answer lost on the way may have cost; `, 'm'));
    expect(JSON.parse(readFileSync(summary, 'utf8'))).toMatchObject({ answers_lost: lost });
  });

  it('stores a real-time answer like a batch answer: a rerun in either mode pays nothing again', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    const first = await enrich(emu, rows(10), { mode: 'realtime', ledger });
    const calls = emu.stats.calls['messages.create'];
    expect(await enrich(emu, rows(10), { mode: 'realtime', ledger })).toEqual(first);
    expect(await enrich(emu, rows(10), { mode: 'batch', ledger })).toEqual(first);
    expect(emu.stats.calls['messages.create']).toBe(calls);
    expect(emu.stats.calls['batches.create']).toBe(0);
  });

  it('an interrupted real-time run resumes: what was answered is not asked again', async () => {
    const emu = await emulator({ responder: perRecord, messagesLatencyMs: 20 });
    const ledger = tempLedger();
    const controller = new AbortController();
    let done = 0;
    const run = enrich(emu, rows(40), {
      mode: 'realtime',
      concurrency: 2,
      ledger,
      signal: controller.signal,
      onEvent: () => {},
      counts: { ok: 0, failed: 0, byType: {} },
    });
    const timer = setInterval(() => {
      done = emu.stats.calls['messages.create'];
      if (done >= 10) controller.abort();
    }, 5);
    await expect(run).rejects.toMatchObject({ code: 'BE_ABORTED' });
    clearInterval(timer);
    const askedBefore = emu.stats.calls['messages.create'];
    expect(askedBefore).toBeLessThan(40);
    const out = await enrich(emu, rows(40), { mode: 'realtime', ledger });
    expect(ok(out)).toBe(true);
    // Only what was not answered is asked again: 40 in all, plus at most the 2 calls in flight at the stop.
    expect(emu.stats.calls['messages.create']).toBeLessThanOrEqual(40 + 2);
  });
});

describe('what a record says it cost', () => {
  it('_meta.cost_usd of an answer bought in real time is priced at real-time rates, and adds up to what was billed', async () => {
    const emu = await emulator({ responder: perRecord });
    const costs = newCostTotals();
    const out = await enrich(emu, rows(2), { mode: 'realtime', costs, meta: true });
    const perRecordUsd = out.reduce((sum, r) => sum + ((r['_meta'] as { cost_usd: number }).cost_usd ?? 0), 0);
    expect(costs.usd).toBeGreaterThan(0);
    expect(perRecordUsd).toBeCloseTo(costs.usd, 8);
  });

  it('after a deadline, each record is priced in the mode that answered it', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 2_000 });
    const costs = newCostTotals();
    const out = await enrich(emu, rows(12), { deadline: Date.now() + 600, costs, meta: true, pollMinMs: 50, pollMaxMs: 100 });
    const perRecordUsd = out.reduce((sum, r) => sum + ((r['_meta'] as { cost_usd: number }).cost_usd ?? 0), 0);
    expect(emu.stats.calls['messages.create']).toBeGreaterThan(0);
    expect(perRecordUsd).toBeCloseTo(costs.usd, 8);
  });
});

describe('--deadline', () => {
  it('cancels batches still running at the deadline, keeps what they answered, and finishes the rest in real time', async () => {
    // Each batch needs 2 s; the deadline comes after 0.6 s, when about a third of it is answered.
    const emu = await emulator({ responder: perRecord, processingMs: 2_000 });
    const events: BatchEvent[] = [];
    const costs = newCostTotals();
    const out = await enrich(emu, rows(30), { deadline: Date.now() + 600, onEvent: (e) => events.push(e), costs, pollMinMs: 50, pollMaxMs: 100 });
    expect(ok(out)).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'deadline', canceling: 1 }));
    const batch = await new Anthropic({ apiKey: 'k', baseURL: emu.url }).messages.batches.retrieve(emu.batches()[0] ?? '');
    expect(batch.request_counts.succeeded).toBeGreaterThan(0); // the batch price for what the batch answered…
    expect(emu.stats.calls['messages.create']).toBeGreaterThan(0); // …and the answers on time
    // Each record answered once: by the batch, or (canceled there) in real time.
    expect(batch.request_counts.succeeded + emu.stats.calls['messages.create']).toBe(30);
    expect(batch.request_counts.canceled).toBe(emu.stats.calls['messages.create']);
    expect(costs.realtimeUsd).toBeGreaterThan(costs.usd); // part of it was billed at batch prices
  });

  it('cancels a batch whose create was on its way at the deadline, once it is created', async () => {
    // The create takes 600 ms and the deadline comes after 300 ms: the deadline's list of this run's
    // running batches did not have it yet. It ran its full 20 s (the deadline long past) instead of
    // being canceled and finished in real time.
    const emu = await emulator({ responder: perRecord, processingMs: 20_000, createLatencyMs: 600 });
    const events: BatchEvent[] = [];
    const started = Date.now();
    const out = await enrich(emu, rows(5), { deadline: Date.now() + 300, flushAfterMs: 5, onEvent: (e) => events.push(e), pollMinMs: 50, pollMaxMs: 100 });
    expect(ok(out)).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'canceled', batchId: emu.batches()[0] }));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  // helper-66: the cancel was never tried again: one 529 and the batch ran on, billed, the deadline
  // 4 s long past (41 s), with no answer in real time.
  it('a cancel the API refuses once (a 5xx) is asked again: the batch is canceled at the deadline', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 20_000 });
    const proxy = await faultProxy(emu.url, (call) => (isCancel(call) && call.n === 0 ? 'refuse' : 'pass'));
    const events: BatchEvent[] = [];
    const started = Date.now();
    const out = await enrich(emu, rows(5), { baseURL: proxy.url, deadline: Date.now() + 300, flushAfterMs: 5, onEvent: (e) => events.push(e), pollMinMs: 50, pollMaxMs: 100 });
    expect(ok(out)).toBe(true);
    expect(events.filter((e) => e.type === 'canceled')).toEqual([{ type: 'canceled', batchId: emu.batches()[0] }]);
    expect(proxy.calls.filter(isCancel).length).toBeGreaterThanOrEqual(2);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  // helper-54: the README's pattern for schedulers, --no-wait tries and a last try with --deadline:
  // the last try only followed the batch of an earlier try, which the deadline did not cancel
  // ("canceling 0 running batches"): it waited for the batch to end, 996 s for a 10 s deadline.
  it("cancels at the deadline the running batches of the job that an earlier try made and this run follows, and finishes them in real time", async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 20_000 });
    const ledger = tempLedger();
    await expect(enrich(emu, rows(5), { ledger, job: 'nightly', noWait: true })).rejects.toMatchObject({ code: 'BE_PENDING' });
    expect(emu.batches()).toHaveLength(1);
    const events: BatchEvent[] = [];
    const started = Date.now();
    const out = await enrich(emu, rows(5), { ledger, job: 'nightly', deadline: Date.now() + 300, onEvent: (e) => events.push(e), pollMinMs: 50, pollMaxMs: 100 });
    expect(ok(out)).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'deadline', canceling: 1 }));
    expect(events).toContainEqual(expect.objectContaining({ type: 'canceled', batchId: emu.batches()[0] }));
    expect(emu.stats.calls['messages.create']).toBe(5);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  // Stop 45's leftover: a create waiting out the API's retry-after (up to 15 minutes) slept on the
  // run's signal only, past the deadline.
  it('gives up at the deadline a create waiting out a long retry-after: its requests go out in real time at once', async () => {
    const emu = await emulator({ responder: perRecord });
    const proxy = await faultProxy(emu.url, (call) => (isCreate(call) ? 'rate-limit' : 'pass'));
    const client = createClient({ apiKey: 'test-key', baseURL: proxy.url, maxRetries: 0 });
    const events: BatchEvent[] = [];
    const started = Date.now();
    const out = await enrich(emu, rows(5), { client, deadline: Date.now() + 300, clock: cutClock, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(emu.batches()).toHaveLength(0);
    expect(emu.stats.calls['messages.create']).toBe(5);
    expect(events).toContainEqual(expect.objectContaining({ type: 'released', requests: 5 }));
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 15_000);

  it('cuts a long poll wait short at the deadline, so the canceled batch is seen to end at once', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 3_600_000 });
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(5), { deadline: Date.now() + 300, clock: cutClock, pollMinMs: 10, pollMaxMs: undefined, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'deadline', canceling: 1 }));
    expect(emu.stats.calls['messages.create']).toBe(5);
  });

  it('--mode auto sends a small file in real time and a large one in batches', async () => {
    const tickets = join(ROOT, 'fixtures', 'csv', 'tickets.csv');
    const small = await runCli(['--emulator', '--poll-min', '0.01', '--mode', 'auto', '--transform', 'ticket-triage', tickets]);
    expect(small.code, small.stderr).toBe(0);
    expect(small.stderr).toMatch(/real time: sending 12 requests/);
    const dir = mkdtempSync(join(tmpdir(), 'be-auto-'));
    const big = join(dir, 'big.csv');
    writeFileSync(big, ['subject,body', ...Array.from({ length: 101 }, (_, i) => `s${i},b${i}`)].join('\n'));
    const large = await runCli(['--emulator', '--poll-min', '0.01', '--mode', 'auto', '--transform', 'ticket-triage', big]);
    expect(large.code, large.stderr).toBe(0);
    expect(large.stderr).toMatch(/batch msgbatch_\w+ submitted: 101 requests/);
  });

  it('is refused in real-time mode, and a bad duration is a usage error', async () => {
    const tickets = join(ROOT, 'fixtures', 'csv', 'tickets.csv');
    expect((await runCli(['--emulator', '--mode', 'realtime', '--deadline', '1h', '--transform', 'ticket-triage', tickets])).code).toBe(2);
    const bad = await runCli(['--emulator', '--deadline', 'soon', '--transform', 'ticket-triage', tickets]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--deadline: expected a duration such as 90s, 45m, 2h or 1h30m, got "soon"/);
  });
});
