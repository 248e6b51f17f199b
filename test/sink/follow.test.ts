/**
 * The parts that take a batch from its creation to its results, on their own: the tracker, the
 * follower (waiting, polling, a 404 that is a question), the download, the deadline switch and the
 * real-time sender. An in-memory ledger, a virtual clock and a fake client (test/helpers/sink.ts);
 * the whole sink runs against the emulator in the pipeline, durability, kill and real-time suites.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { APIConnectionError } from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { customIdOf } from '../../src/core/request.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { batchesToCancel, startDeadline } from '../../src/sink/deadline.ts';
import { download } from '../../src/sink/download.ts';
import { follow } from '../../src/sink/follower.ts';
import { GONE_404S, GONE_AFTER_MS, NO_WAIT_UNREACHABLE_MS, REALTIME_PREFIX } from '../../src/sink/options.ts';
import { RealtimeSender } from '../../src/sink/realtime.ts';
import { ResultRecorder, type Requeued } from '../../src/sink/recorder.ts';
import { Tracker } from '../../src/sink/tracker.ts';
import { message, succeeded, text } from '../helpers/messages.ts';
import { apiError, identity, keyN, testContext, type TestContext } from '../helpers/sink.ts';

const NONCE = 'nonce1';

const answer = (answerText = '{"ok":true}') => succeeded([text(answerText)]);
/** What `messages.create` gives back for the same answer. */
const reply = (answerText = '{"ok":true}') => message([text(answerText)], 'end_turn');
/** A stored result's answer text (the first content block's). */
const answerOf = (stored: string | undefined) => (JSON.parse(stored ?? 'null') as { message: { content: { text: string }[] } }).message.content[0]!.text;
const errored = (type: string) => ({ type: 'errored', error: { type: 'error', error: { type, message: type } } });
const line = (key: string, result: unknown) => `${JSON.stringify({ custom_id: customIdOf(NONCE, key), result })}\n`;

/** Pending requests `keys` in one batch of this run (or `run`), with a remote id unless `remote` is null. */
function batchOf(ctx: TestContext, keys: string[], { run = ctx.run, remote = 'msgbatch_1' as string | null } = {}): number {
  const { ledger } = ctx;
  ledger.ensureSpec('s', '{"model":"m","max_tokens":5,"messages":', '}');
  for (const key of keys) ledger.insertRequest(identity.scope, key, null, 's', `[{"role":"user","content":"${key}"}]`, 0);
  const { id } = ledger.openBatch(identity, run, 'test', NONCE, keys, ctx.clock.t);
  if (remote !== null) ledger.setRemote(id, remote, ctx.clock.t);
  return id;
}

const stateOf = (ctx: TestContext, key: string) => ctx.ledger.request(identity.scope, key)?.state;

/** A results file served in `parts` (each one chunk: text, or bytes as they are); `cut` makes the body fail after them. */
function resultsResponse(parts: (string | Uint8Array)[], cut?: Error): Response {
  const encoder = new TextEncoder();
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(typeof part === 'string' ? encoder.encode(part) : part);
        if (cut) controller.error(cut);
        else controller.close();
      },
    }),
  );
}

interface FakeApi {
  /** What each `retrieve` answers, in turn (an Error is thrown); the last one repeats. */
  retrieves: (Record<string, unknown> | Error)[];
  /** What each download of a results file answers, in turn. */
  downloads: (() => Response)[];
  listed?: string[];
  calls: string[];
}

function fakeClient(api: FakeApi): Partial<Anthropic> {
  let retrieved = 0;
  let downloaded = 0;
  return {
    baseURL: 'https://api.example',
    messages: {
      batches: {
        retrieve: async (id: string) => {
          api.calls.push(`retrieve ${id}`);
          const seen = api.retrieves[Math.min(retrieved++, api.retrieves.length - 1)];
          if (seen instanceof Error) throw seen;
          return { id, ...seen };
        },
        list: () => {
          api.calls.push('list');
          const page = (async function* () {
            for (const id of api.listed ?? []) yield { id, created_at: new Date(2_000_000).toISOString() };
          })();
          // As the SDK's page: iterable, and with the answer (here without a `Date`: our clock is taken for the API's).
          return Object.assign(page, { withResponse: async () => ({ data: page, response: new Response(null) }) });
        },
      },
    } as unknown as Anthropic['messages'],
    get: ((url: string) => {
      api.calls.push(`get ${url}`);
      const response = (api.downloads[downloaded++] ?? (() => resultsResponse([])))();
      return { asResponse: async () => response };
    }) as unknown as Anthropic['get'],
  };
}

const running = { processing_status: 'in_progress', expires_at: '2026-12-04T00:00:00Z', request_counts: {} };
const ended = { processing_status: 'ended', results_url: 'https://api.example/results/1', request_counts: { succeeded: 2 } };

describe('the follower polls a running batch to its end, then downloads it', () => {
  it('polls with the growing interval until the batch ends, then stores every answer once', async () => {
    const keys = [keyN(1), keyN(2)];
    const api: FakeApi = { retrieves: [running, running, running, ended], downloads: [() => resultsResponse([line(keys[1]!, answer()), line(keys[0]!, answer())])], calls: [] };
    const ctx = testContext({ pollMinMs: 1_000, pollMaxMs: 60_000 }, fakeClient(api));
    const id = batchOf(ctx, keys);
    const requeued = await follow(ctx, new ResultRecorder(ctx), id);
    expect(requeued?.size).toBe(0);
    expect(api.calls).toEqual(['retrieve msgbatch_1', 'retrieve msgbatch_1', 'retrieve msgbatch_1', 'retrieve msgbatch_1', 'get https://api.example/results/1']);
    // Each wait is the poll backoff: growing, within its jitter.
    expect(ctx.sleeps).toHaveLength(4);
    for (const [i, ms] of ctx.sleeps.entries()) expect(ms).toBeGreaterThanOrEqual(ctx.opts.pollDelay(i) * 0.85);
    expect(ctx.sleeps[3]).toBeGreaterThan(ctx.sleeps[0]!);
    expect(keys.map((key) => stateOf(ctx, key))).toEqual(['done', 'done']);
    expect(ctx.ledger.batch(id)?.state).toBe('downloaded');
    expect(ctx.events.filter((e) => e.type === 'ended')).toHaveLength(1);
  });

  it('a failed poll waits what the API asks (retry-after-ms), says so, and polls again', async () => {
    const api: FakeApi = { retrieves: [apiError(529, { 'retry-after-ms': '4321' }), ended], downloads: [() => resultsResponse([line(keyN(1), answer())])], calls: [] };
    const ctx = testContext({}, fakeClient(api));
    const id = batchOf(ctx, [keyN(1)]);
    await follow(ctx, new ResultRecorder(ctx), id);
    expect(ctx.sleeps[1]).toBe(4321);
    expect(ctx.events).toContainEqual(expect.objectContaining({ type: 'retry', what: 'poll msgbatch_1 (api.example)', delayMs: 4321 }));
    expect(stateOf(ctx, keyN(1))).toBe('done');
  });

  it('a poll the API refuses (400) fails the follow, naming the batch', async () => {
    const ctx = testContext({}, fakeClient({ retrieves: [apiError(400)], downloads: [], calls: [] }));
    const id = batchOf(ctx, [keyN(1)]);
    await expect(follow(ctx, new ResultRecorder(ctx), id)).rejects.toThrow(/Polling batch msgbatch_1 failed/);
    expect(stateOf(ctx, keyN(1))).toBe('submitted');
  });

  it('a 404 is a question: the batch is released only after minutes of 404s, enough of them, and when the list does not show it', async () => {
    // 404s 200 s apart: five minutes pass by the third, but it takes five to count as gone.
    const api: FakeApi = { retrieves: [apiError(404, { 'retry-after': '200' })], downloads: [], listed: ['msgbatch_other'], calls: [] };
    const ctx = testContext({ pollMinMs: 1_000, pollMaxMs: 60_000 }, fakeClient(api));
    const id = batchOf(ctx, [keyN(1), keyN(2)]);
    const requeued = await follow(ctx, new ResultRecorder(ctx), id);
    expect(requeued).toBeUndefined();
    expect(api.calls.filter((c) => c.startsWith('retrieve'))).toHaveLength(GONE_404S);
    expect(ctx.sleeps.slice(1).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(GONE_AFTER_MS);
    expect(api.calls.filter((c) => c === 'list')).toHaveLength(1);
    expect(ctx.ledger.batch(id)?.state).toBe('failed');
    expect([keyN(1), keyN(2)].map((key) => stateOf(ctx, key))).toEqual(['pending', 'pending']);
    expect(ctx.events).toContainEqual(expect.objectContaining({ type: 'released', batchId: 'msgbatch_1', requests: 2 }));
  });

  it('a batch that answers 404 but is still listed is polled on, and its answers kept', async () => {
    const notFound = apiError(404);
    const api: FakeApi = { retrieves: [...Array<Error>(40).fill(notFound), ended], downloads: [() => resultsResponse([line(keyN(1), answer())])], listed: ['msgbatch_1'], calls: [] };
    const ctx = testContext({ pollMinMs: 1_000, pollMaxMs: 60_000 }, fakeClient(api));
    const id = batchOf(ctx, [keyN(1)]);
    await follow(ctx, new ResultRecorder(ctx), id);
    expect(api.calls.filter((c) => c === 'list').length).toBeGreaterThanOrEqual(1);
    expect(ctx.ledger.batch(id)?.state).toBe('downloaded');
    expect(stateOf(ctx, keyN(1))).toBe('done');
    expect(ctx.events.some((e) => e.type === 'released')).toBe(false);
  });

  it('a 404 while the list cannot be read is not taken for gone: the batch is polled on', async () => {
    const notFound = apiError(404);
    const api: FakeApi = { retrieves: [...Array<Error>(30).fill(notFound), ended], downloads: [() => resultsResponse([line(keyN(1), answer())])], calls: [] };
    const client = fakeClient(api);
    (client.messages!.batches as { list: unknown }).list = () => {
      api.calls.push('list');
      return (async function* () {
        yield* [];
        throw apiError(503);
      })();
    };
    const ctx = testContext({ pollMinMs: 1_000, pollMaxMs: 60_000 }, client);
    const id = batchOf(ctx, [keyN(1)]);
    await follow(ctx, new ResultRecorder(ctx), id);
    expect(api.calls.filter((c) => c === 'list').length).toBeGreaterThanOrEqual(1);
    expect(stateOf(ctx, keyN(1))).toBe('done');
    expect(ctx.events.some((e) => e.type === 'released')).toBe(false);
  });

  it('a batch that ended before this run and now answers 404 (deleted, or its emulator gone) is a question too: released after minutes, not a failed run', async () => {
    // Before: the download's retrieve threw its 404, and the run failed on every rerun for ever.
    const api: FakeApi = { retrieves: [apiError(404, { 'retry-after': '200' })], downloads: [], listed: [], calls: [] };
    const ctx = testContext({ pollMinMs: 1_000, pollMaxMs: 60_000 }, fakeClient(api));
    const id = batchOf(ctx, [keyN(1), keyN(2)]);
    ctx.ledger.setBatchState(id, 'ended', ctx.clock.t);
    expect(await follow(ctx, new ResultRecorder(ctx), id)).toBeUndefined();
    expect(api.calls.filter((c) => c.startsWith('retrieve')).length).toBeGreaterThanOrEqual(GONE_404S);
    expect(ctx.sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(GONE_AFTER_MS);
    expect(ctx.ledger.batch(id)?.state).toBe('failed');
    expect([keyN(1), keyN(2)].map((key) => stateOf(ctx, key))).toEqual(['pending', 'pending']);
    expect(ctx.events).toContainEqual(expect.objectContaining({ type: 'released', batchId: 'msgbatch_1', requests: 2 }));
  });

  it('an ended batch whose results file and retrieve answer 404 for a while (the API catching up) is downloaded once they answer', async () => {
    const notFound = apiError(404);
    const api: FakeApi = {
      // The retrieve before the download, then the one asking why the file answered 404, then a poll.
      retrieves: [ended, notFound, ended],
      downloads: [() => resultsResponse([line(keyN(1), answer())])],
      listed: ['msgbatch_1'],
      calls: [],
    };
    const client = fakeClient(api);
    const get = client.get!;
    let gets = 0;
    // The first results download answers 404 too.
    client.get = ((url: string) => (gets++ === 0 ? { asResponse: () => Promise.reject(notFound) } : (get as (u: string) => unknown)(url))) as unknown as Anthropic['get'];
    const ctx = testContext({ pollMinMs: 1_000, pollMaxMs: 60_000 }, client);
    const id = batchOf(ctx, [keyN(1)]);
    ctx.ledger.setBatchState(id, 'ended', ctx.clock.t);
    await follow(ctx, new ResultRecorder(ctx), id);
    expect(ctx.ledger.batch(id)?.state).toBe('downloaded');
    expect(stateOf(ctx, keyN(1))).toBe('done');
    expect(ctx.events.some((e) => e.type === 'released')).toBe(false);
  });

  // helper-61's emulator fault: the batch is there and ended, and only its results file answers 404
  // just after the end [DOC §2.2: "results can 404 just after ended; retrying fixes it"]. The run failed.
  it('a results file that answers 404 just after the end, while the batch is there, is downloaded again after a wait', async () => {
    const notFound = apiError(404);
    const api: FakeApi = { retrieves: [ended], downloads: [() => resultsResponse([line(keyN(1), answer())])], calls: [] };
    const client = fakeClient(api);
    const get = client.get!;
    let gets = 0;
    client.get = ((url: string) => (gets++ === 0 ? { asResponse: () => Promise.reject(notFound) } : (get as (u: string) => unknown)(url))) as unknown as Anthropic['get'];
    const ctx = testContext({}, client);
    const id = batchOf(ctx, [keyN(1)]);
    ctx.ledger.setBatchState(id, 'ended', ctx.clock.t);
    await follow(ctx, new ResultRecorder(ctx), id);
    expect(ctx.ledger.batch(id)?.state).toBe('downloaded');
    expect(stateOf(ctx, keyN(1))).toBe('done');
    expect(gets).toBe(2);
    expect(ctx.sleeps.some((ms) => ms > 0)).toBe(true);
  });

  it('an ended batch answering 404 that another run downloaded meanwhile is left at that: not polled through minutes of 404s, not released', async () => {
    const api: FakeApi = { retrieves: [apiError(404)], downloads: [], listed: [], calls: [] };
    const client = fakeClient(api);
    const ctx = testContext({ pollMinMs: 1_000, pollMaxMs: 60_000 }, client);
    const id = batchOf(ctx, [keyN(1)]);
    ctx.ledger.setBatchState(id, 'ended', ctx.clock.t);
    const retrieve = client.messages!.batches.retrieve.bind(client.messages!.batches);
    // The other run finishes it while this one's retrieve is on its way.
    (client.messages!.batches as { retrieve: unknown }).retrieve = (batchId: string) => {
      ctx.ledger.setBatchState(id, 'downloaded', ctx.clock.t);
      return retrieve(batchId);
    };
    expect(await follow(ctx, new ResultRecorder(ctx), id)).toBeUndefined();
    expect(api.calls).toEqual(['retrieve msgbatch_1']);
    expect(ctx.ledger.batch(id)?.state).toBe('downloaded');
    expect(ctx.events.some((e) => e.type === 'released')).toBe(false);
  });

  it("a batch of another run is followed with a 'following' event that says whether that run is still alive (another worker) or not (an earlier try)", async () => {
    const api: FakeApi = { retrieves: [ended], downloads: [() => resultsResponse([line(keyN(1), answer())]), () => resultsResponse([line(keyN(2), answer())])], calls: [] };
    const ctx = testContext({}, fakeClient(api));
    const worker = ctx.ledger.startRun('test', ctx.clock.t);
    const earlier = ctx.ledger.startRun('test', ctx.clock.t);
    ctx.ledger.endRun(earlier);
    const live = batchOf(ctx, [keyN(1)], { run: worker });
    const dead = batchOf(ctx, [keyN(2)], { run: earlier, remote: 'msgbatch_2' });
    await follow(ctx, new ResultRecorder(ctx), live);
    await follow(ctx, new ResultRecorder(ctx), dead);
    expect(ctx.events.filter((e) => e.type === 'following')).toEqual([
      { type: 'following', batchId: 'msgbatch_1', requests: 0, live: true },
      { type: 'following', batchId: 'msgbatch_2', requests: 0 },
    ]);
  });

  it("an ended batch answering 404 whose row another run's gc deleted meanwhile: its requests are sent back, not waited on for ever", async () => {
    const api: FakeApi = { retrieves: [apiError(404)], downloads: [], listed: [], calls: [] };
    const client = fakeClient(api);
    const path = join(mkdtempSync(join(tmpdir(), 'be-follow-')), 'l.db');
    const ctx = testContext({ pollMinMs: 1_000, pollMaxMs: 60_000 }, client, new Ledger(path));
    const id = batchOf(ctx, [keyN(1), keyN(2)]);
    ctx.ledger.setBatchState(id, 'ended', ctx.clock.t);
    const retrieve = client.messages!.batches.retrieve.bind(client.messages!.batches);
    (client.messages!.batches as { retrieve: unknown }).retrieve = (batchId: string) => {
      const other = new Database(path);
      other.prepare('DELETE FROM batches WHERE id = ?').run(id);
      other.close();
      return retrieve(batchId);
    };
    expect(await follow(ctx, new ResultRecorder(ctx), id)).toBeUndefined();
    expect(api.calls).toEqual(['retrieve msgbatch_1']);
    expect([keyN(1), keyN(2)].map((key) => stateOf(ctx, key))).toEqual(['pending', 'pending']);
    ctx.ledger.close();
  });

  it('with noWait, polls the API keeps refusing (500) give up after a minute, naming the batch: the try ends (as pending), not polls for ever', async () => {
    const api: FakeApi = { retrieves: [apiError(500)], downloads: [], calls: [] };
    const ctx = testContext({ noWait: true }, fakeClient(api));
    const id = batchOf(ctx, [keyN(1)]);
    const started = ctx.clock.t;
    await expect(follow(ctx, new ResultRecorder(ctx), id)).rejects.toMatchObject({ code: 'BE_API', message: expect.stringMatching(/^Polling batch msgbatch_1 failed: 500/) });
    expect(ctx.clock.t - started).toBeGreaterThanOrEqual(NO_WAIT_UNREACHABLE_MS);
    expect(ctx.clock.t - started).toBeLessThan(3 * NO_WAIT_UNREACHABLE_MS);
    expect(stateOf(ctx, keyN(1))).toBe('submitted');
  });

  it('with noWait, a running batch is polled once and left for a later run, with its expiry', async () => {
    const api: FakeApi = { retrieves: [running], downloads: [], calls: [] };
    const ctx = testContext({ noWait: true }, fakeClient(api));
    const id = batchOf(ctx, [keyN(1)]);
    expect(await follow(ctx, new ResultRecorder(ctx), id)).toBeUndefined();
    expect(api.calls).toEqual(['retrieve msgbatch_1']);
    expect(ctx.sleeps).toEqual([0]);
    expect(ctx.deferred.get(id)).toBe(running.expires_at);
    expect(stateOf(ctx, keyN(1))).toBe('submitted');
  });

  // helper-75: a --no-wait try whose batch answered 404 (an emulator restarted, the API's propagation
  // delay) polled it for six minutes before it ended: a scheduler's task timeout killed it first.
  it('with noWait, a batch answering 404 is polled once and left for a later try; the 404s are counted across tries in the ledger, and it is released once they last minutes and the list does not show it', async () => {
    const api: FakeApi = { retrieves: [apiError(404)], downloads: [], listed: ['msgbatch_other'], calls: [] };
    const ctx = testContext({ noWait: true }, fakeClient(api));
    const id = batchOf(ctx, [keyN(1), keyN(2)]);
    const tries: number[] = [];
    for (let attempt = 1; attempt <= GONE_404S; attempt++) {
      ctx.deferred.clear();
      const sleeps = ctx.sleeps.length;
      expect(await follow(ctx, new ResultRecorder(ctx), id)).toBeUndefined();
      tries.push(ctx.sleeps.length - sleeps);
      if (attempt < GONE_404S) {
        expect(ctx.deferred.has(id), `try ${attempt}`).toBe(true);
        expect(ctx.ledger.batch(id)?.error).toMatch(new RegExp(`^not found \\(404\\) ${attempt} times? since `));
        expect(ctx.events.at(-1)).toMatchObject({ type: 'retry', what: 'poll msgbatch_1 (api.example)', later: true });
      }
      ctx.clock.t += 2 * 60_000; // the scheduler's next try
    }
    // One poll a try, none waited for.
    expect(tries).toEqual(Array(GONE_404S).fill(1));
    expect(ctx.sleeps.every((ms) => ms === 0)).toBe(true);
    expect(api.calls.filter((c) => c === 'list')).toHaveLength(1);
    expect(ctx.ledger.batch(id)?.state).toBe('failed');
    expect([keyN(1), keyN(2)].map((key) => stateOf(ctx, key))).toEqual(['pending', 'pending']);
  });

  it('with noWait, a batch whose 404s have lasted but which the list still shows is left to a later try, its count afresh (not polled on in this one)', async () => {
    const api: FakeApi = { retrieves: [apiError(404)], downloads: [], listed: ['msgbatch_1'], calls: [] };
    const ctx = testContext({ noWait: true }, fakeClient(api));
    const id = batchOf(ctx, [keyN(1)]);
    for (let attempt = 1; attempt <= GONE_404S; attempt++) {
      ctx.deferred.clear();
      await follow(ctx, new ResultRecorder(ctx), id);
      ctx.clock.t += 2 * 60_000;
    }
    expect(api.calls.filter((c) => c.startsWith('retrieve'))).toHaveLength(GONE_404S);
    expect(ctx.deferred.has(id)).toBe(true);
    expect(ctx.ledger.batch(id)?.state).toBe('in_progress');
    expect(ctx.ledger.batch(id)?.error ?? '').toBe('');
  });

  // helper-76: the note was written with the state `in_progress`, which a row `ended` may not go back
  // to: the write was a no-op, every try counted "1 time", and the job never finished.
  it('with noWait, an ended batch answering 404 counts its 404s across tries too, keeps its state, and is released in time', async () => {
    const api: FakeApi = { retrieves: [apiError(404)], downloads: [], listed: [], calls: [] };
    const ctx = testContext({ noWait: true }, fakeClient(api));
    const id = batchOf(ctx, [keyN(1)]);
    ctx.ledger.setBatchState(id, 'ended', ctx.clock.t);
    for (let attempt = 1; attempt < GONE_404S; attempt++) {
      ctx.deferred.clear();
      await follow(ctx, new ResultRecorder(ctx), id);
      expect(ctx.ledger.batch(id)?.state, `try ${attempt}`).toBe('ended');
      expect(ctx.ledger.batch(id)?.error, `try ${attempt}`).toMatch(new RegExp(`^not found \\(404\\) ${attempt} times? since `));
      ctx.clock.t += 2 * 60_000;
    }
    for (let more = 0; more < 3 && ctx.ledger.batch(id)?.state === 'ended'; more++) {
      ctx.deferred.clear();
      await follow(ctx, new ResultRecorder(ctx), id);
      ctx.clock.t += 2 * 60_000;
    }
    expect(ctx.ledger.batch(id)?.state).toBe('failed');
    expect(stateOf(ctx, keyN(1))).toBe('pending');
  });

  it('with noWait, a batch that answers again after 404s starts its count afresh', async () => {
    const api: FakeApi = { retrieves: [apiError(404), running, apiError(404)], downloads: [], listed: [], calls: [] };
    const ctx = testContext({ noWait: true }, fakeClient(api));
    const id = batchOf(ctx, [keyN(1)]);
    await follow(ctx, new ResultRecorder(ctx), id);
    expect(ctx.ledger.batch(id)?.error).toMatch(/^not found \(404\) 1 time since /);
    ctx.deferred.clear();
    await follow(ctx, new ResultRecorder(ctx), id);
    expect(ctx.ledger.batch(id)?.error ?? '').toBe('');
    ctx.deferred.clear();
    ctx.clock.t += 10 * 60_000;
    await follow(ctx, new ResultRecorder(ctx), id);
    expect(ctx.ledger.batch(id)?.error).toMatch(/^not found \(404\) 1 time since /);
    expect(ctx.ledger.batch(id)?.state).toBe('in_progress');
  });

  it("a batch another live run is creating is waited for (not resolved as a lost create); with noWait it is left to that run", async () => {
    const api: FakeApi = { retrieves: [running], downloads: [], calls: [] };
    const ctx = testContext({ noWait: true }, fakeClient(api));
    const other = ctx.ledger.startRun('other', ctx.clock.t);
    const id = batchOf(ctx, [keyN(1)], { run: other, remote: null });
    expect(await follow(ctx, new ResultRecorder(ctx), id)).toBeUndefined();
    expect(api.calls).toEqual([]);
    expect(ctx.deferred.has(id)).toBe(true);
    expect(ctx.ledger.batch(id)?.state).toBe('creating');
    // helper-62: a --no-wait try said only that records wait "from 1 batch", for a batch that run had not
    // made yet (or never would: killed on another host, it is alive until its heartbeat is stale). Whose it is, said.
    expect(ctx.events.filter((e) => e.type === 'waiting')).toEqual([expect.objectContaining({ type: 'waiting', run: other, requests: 0, deferred: true })]);
  });

  it("a real-time group another live run is sending is said as such, not as a batch being created (helper-64)", async () => {
    const ctx = testContext({ noWait: true }, fakeClient({ retrieves: [], downloads: [], calls: [] }));
    const other = ctx.ledger.startRun('other', ctx.clock.t);
    const id = batchOf(ctx, [keyN(1)], { run: other, remote: `${REALTIME_PREFIX}abc` });
    expect(await follow(ctx, new ResultRecorder(ctx), id)).toBeUndefined();
    expect(ctx.events.filter((e) => e.type === 'waiting')).toEqual([expect.objectContaining({ run: other, realtime: true, deferred: true })]);
  });

  it("this run's own batch still being created is left to its submitter", async () => {
    const api: FakeApi = { retrieves: [running], downloads: [], calls: [] };
    const ctx = testContext({}, fakeClient(api));
    const id = batchOf(ctx, [keyN(1)], { remote: null });
    expect(await follow(ctx, new ResultRecorder(ctx), id)).toBeUndefined();
    expect(api.calls).toEqual([]);
    expect(ctx.ledger.batch(id)?.state).toBe('creating');
  });

  it("a dead run's real-time group is released: its answers in flight were never stored", async () => {
    const ctx = testContext({}, fakeClient({ retrieves: [], downloads: [], calls: [] }));
    const other = ctx.ledger.startRun('other', 0);
    const id = batchOf(ctx, [keyN(1)], { run: other, remote: `${REALTIME_PREFIX}abc` });
    ctx.clock.t += 10 * 60_000; // the other run's heartbeat is long stale
    await follow(ctx, new ResultRecorder(ctx), id);
    expect(stateOf(ctx, keyN(1))).toBe('pending');
    expect(ctx.events).toContainEqual(expect.objectContaining({ type: 'released', reason: 'real-time requests in flight when the run stopped' }));
  });
});

describe('the download', () => {
  const row = (ctx: TestContext, id: number) => {
    const found = ctx.ledger.batch(id);
    if (!found) throw new Error('no batch row');
    return found;
  };

  it('a results file cut at every byte boundary is read whole, each answer stored once', async () => {
    const keys = [keyN(1), keyN(2), keyN(3)];
    const file = keys.map((key, i) => line(key, answer(`{"n":${i},"text":"é ☃ 𝄞"}`))).join('');
    const bytes = new TextEncoder().encode(file);
    // A byte at a time (every character of 2, 3 and 4 bytes split across chunks), and in larger chunks.
    for (const cut of [1, 7, 64, bytes.length]) {
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < bytes.length; at += cut) chunks.push(bytes.subarray(at, at + cut));
      const api: FakeApi = { retrieves: [], downloads: [() => resultsResponse(chunks)], calls: [] };
      const ctx = testContext({}, fakeClient(api));
      const id = batchOf(ctx, keys);
      const requeued = (await download(ctx, new ResultRecorder(ctx), row(ctx, id), 'msgbatch_1', 'https://api.example/results/1')) as Requeued | undefined;
      expect(requeued?.size).toBe(0);
      for (const [i, key] of keys.entries()) {
        expect(JSON.parse(answerOf(ctx.ledger.storedResult(identity.scope, key)))).toEqual({ n: i, text: 'é ☃ 𝄞' });
      }
    }
  });

  it('a download cut off is fetched again; what was stored before the cut is not stored twice', async () => {
    const keys = [keyN(1), keyN(2)];
    const decided: string[] = [];
    const api: FakeApi = {
      retrieves: [],
      downloads: [
        () => resultsResponse([line(keys[0]!, answer())], Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })),
        () => resultsResponse([line(keys[0]!, answer()), line(keys[1]!, answer())]),
      ],
      calls: [],
    };
    const ctx = testContext({ onResult: (result) => decided.push(result.type) }, fakeClient(api));
    const id = batchOf(ctx, keys);
    await download(ctx, new ResultRecorder(ctx), row(ctx, id), 'msgbatch_1', 'https://api.example/results/1');
    expect(api.calls.filter((c) => c.startsWith('get'))).toHaveLength(2);
    expect(decided).toEqual(['succeeded', 'succeeded']);
    expect(keys.map((key) => stateOf(ctx, key))).toEqual(['done', 'done']);
    expect(ctx.events).toContainEqual(expect.objectContaining({ type: 'retry', what: 'results msgbatch_1 (api.example)' }));
  });

  it('without a results_url it retrieves the batch for one; requests the file does not mention are tried again (missing_result)', async () => {
    const keys = [keyN(1), keyN(2)];
    const api: FakeApi = { retrieves: [ended], downloads: [() => resultsResponse([line(keys[0]!, answer())])], calls: [] };
    const ctx = testContext({}, fakeClient(api));
    const id = batchOf(ctx, keys);
    const requeued = (await download(ctx, new ResultRecorder(ctx), row(ctx, id), 'msgbatch_1', null)) as Requeued | undefined;
    expect(api.calls).toEqual(['retrieve msgbatch_1', 'get https://api.example/results/1']);
    expect([...(requeued?.keys() ?? [])]).toEqual([keys[1]]);
    expect(keys.map((key) => stateOf(ctx, key))).toEqual(['done', 'pending']);
    expect(ctx.events).toContainEqual(expect.objectContaining({ type: 'requeued', requests: 1, reasons: { missing_result: 1 } }));
  });

  it('a line whose custom id carries another nonce is not taken for one of ours', async () => {
    const keys = [keyN(1)];
    const foreign = `${JSON.stringify({ custom_id: customIdOf('nonce2', keys[0]!), result: answer('{"theirs":1}') })}\n`;
    const api: FakeApi = { retrieves: [], downloads: [() => resultsResponse([foreign, line(keys[0]!, answer('{"ours":1}'))])], calls: [] };
    const ctx = testContext({}, fakeClient(api));
    const id = batchOf(ctx, keys);
    await download(ctx, new ResultRecorder(ctx), row(ctx, id), 'msgbatch_1', 'https://api.example/results/1');
    expect(ctx.ledger.storedResult(identity.scope, keys[0]!)).toContain('{\\"ours\\":1}');
  });
});

describe('the tracker', () => {
  it('follows a batch once however often it is asked, and settles it once', async () => {
    const ctx = testContext();
    const followed: number[] = [];
    const settled: number[] = [];
    const requeued: Requeued[] = [];
    let finish!: (value: Requeued) => void;
    const tracker = new Tracker(ctx, {
      isCreating: () => false,
      follow: (id) => (followed.push(id), new Promise((resolve) => (finish = resolve))),
      settled: (id) => void settled.push(id),
      requeue: async (r) => void requeued.push(r),
    });
    tracker.track(7);
    tracker.track(7);
    expect(followed).toEqual([7]);
    expect(tracker.size).toBe(1);
    finish(new Map([['k', { bytes: 10 }]]));
    await Promise.all(tracker.tasks());
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toEqual([7]);
    expect(requeued.map((r) => [...r.keys()])).toEqual([['k']]);
    expect(tracker.size).toBe(0);
  });

  it('does not follow a batch being created, nor one left to a later run (noWait)', () => {
    const ctx = testContext();
    const followed: number[] = [];
    const tracker = new Tracker(ctx, { isCreating: (id) => id === 1, follow: async (id) => (followed.push(id), undefined), settled: () => {}, requeue: async () => {} });
    ctx.deferred.set(2, 'later');
    tracker.track(1);
    tracker.track(2);
    tracker.track(3);
    expect(followed).toEqual([3]);
  });

  it("a follow that fails fails the run, and is not settled", async () => {
    const ctx = testContext();
    const settled: number[] = [];
    const tracker = new Tracker(ctx, { isCreating: () => false, follow: async () => Promise.reject(new Error('boom')), settled: (id) => void settled.push(id), requeue: async () => {} });
    tracker.track(1);
    await Promise.all(tracker.tasks());
    expect(ctx.failures).toEqual([new Error('boom')]);
    expect(settled).toEqual([]);
    expect(tracker.size).toBe(0);
  });
});

describe('the deadline switch', () => {
  afterEach(() => void vi.useRealTimers());

  it('none without a deadline, nor in real-time mode', () => {
    const deps = { running: async () => ({ cancel: [], leftRunning: 0 }), cancel: async () => {}, flush: async () => {} };
    expect(startDeadline(testContext(), deps)).toBeUndefined();
    const ctx = testContext({ mode: 'realtime', deadline: 1 });
    expect(startDeadline(ctx, deps)).toBeUndefined();
  });

  it("at the deadline: real time from then on, this run's running batches canceled, the group being filled sent", async () => {
    vi.useFakeTimers();
    const ctx = testContext({ deadline: 1_000_000 + 60_000 });
    const steps: string[] = [];
    const timer = startDeadline(ctx, {
      running: async () => ({
        cancel: [
          [1, 'msgbatch_a'],
          [2, 'msgbatch_b'],
        ],
        leftRunning: 0,
      }),
      cancel: async (remote) => void steps.push(`cancel ${remote}`),
      flush: async () => void steps.push('flush'),
    });
    expect(timer).toBeDefined();
    await vi.advanceTimersByTimeAsync(59_999);
    expect(ctx.mode.current).toBe('batch');
    expect(steps).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(ctx.mode.current).toBe('realtime');
    expect(ctx.mode.deadlinePassed).toBe(true);
    expect(ctx.mode.deadlineSignal?.aborted).toBe(true);
    expect(steps).toEqual(['cancel msgbatch_a', 'cancel msgbatch_b', 'flush']);
    expect(ctx.events).toContainEqual({ type: 'deadline', canceling: 2 });
  });

  // helper-58: a followed batch of another live run is left running (fba171e), and the deadline said
  // "canceling 0 running batches … finished in real time" while its records waited for that batch.
  it("the job's followed batches of ended runs are canceled; a live run's are left running, and counted", async () => {
    const ctx = testContext({ job: 'test' });
    const ended = ctx.ledger.startRun('test', 0); // its heartbeat long stale
    const live = ctx.ledger.startRun('test', ctx.clock.t);
    const theirs = batchOf(ctx, [keyN(1)], { run: live, remote: 'msgbatch_live' });
    const earlier = batchOf(ctx, [keyN(2)], { run: ended, remote: 'msgbatch_earlier' });
    expect(await batchesToCancel(ctx, [[9, 'msgbatch_mine']], [theirs, earlier])).toEqual({ cancel: [[9, 'msgbatch_mine'], [earlier, 'msgbatch_earlier']], leftRunning: 1 });
  });

  it('a failure at the deadline fails the run', async () => {
    vi.useFakeTimers();
    const ctx = testContext({ deadline: 1_000_000 });
    startDeadline(ctx, { running: async () => Promise.reject(new Error('ledger gone')), cancel: async () => {}, flush: async () => {} });
    await vi.advanceTimersByTimeAsync(0);
    expect(ctx.failures).toEqual([new Error('ledger gone')]);
  });
});

describe('the real-time sender', () => {
  interface Call {
    params: { messages: unknown; max_tokens: number };
  }
  /** A client whose `messages.create` answers each call with the message the next of `answers` makes (an Error is thrown). */
  function realtimeClient(answers: (((call: Call) => unknown) | Error)[], headers: Record<string, string> = {}) {
    const calls: Call[] = [];
    let i = 0;
    const client = {
      baseURL: 'https://api.example',
      messages: {
        create: (params: Call['params']) => {
          const call = { params };
          calls.push(call);
          const next = answers[Math.min(i++, answers.length - 1)]!;
          return {
            withResponse: async () => {
              if (next instanceof Error) throw next;
              return { data: next(call), response: new Response(null, { headers }) };
            },
          };
        },
      },
    } as unknown as Partial<Anthropic>;
    return { client, calls };
  }

  async function sendAll(ctx: TestContext, keys: string[]) {
    ctx.ledger.ensureSpec('s', '{"model":"m","max_tokens":5,"messages":', '}');
    for (const key of keys) ctx.ledger.insertRequest(identity.scope, key, null, 's', `[{"role":"user","content":"${key}"}]`, 0);
    const tracked: Promise<Requeued | undefined>[] = [];
    const charged: number[] = [];
    const sender = new RealtimeSender(ctx, new ResultRecorder(ctx), { track: (_, work) => void tracked.push(work()), charge: (_, __, n) => void charged.push(n), lost: () => {} });
    await sender.send({ keys, bytes: 100, costBytes: 100 });
    const requeued = await Promise.all(tracked);
    return { sender, requeued, charged };
  }

  it('sends each request as its own messages.create, and stores each answer as a batch result would be', async () => {
    const { client, calls } = realtimeClient([(call) => reply(JSON.stringify({ asked: (call.params.messages as { content: string }[])[0]!.content }))]);
    const ctx = testContext({ mode: 'realtime' }, client);
    const keys = [keyN(1), keyN(2), keyN(3)];
    const { charged } = await sendAll(ctx, keys);
    expect(calls).toHaveLength(3);
    expect(calls.every((c) => c.params.max_tokens === 5)).toBe(true);
    expect(charged).toEqual([3]);
    for (const key of keys) {
      expect(stateOf(ctx, key)).toBe('done');
      expect(JSON.parse(answerOf(ctx.ledger.storedResult(identity.scope, key)))).toEqual({ asked: key });
    }
    const batch = ctx.ledger.batches().at(-1);
    expect(batch?.remote_id?.startsWith(REALTIME_PREFIX)).toBe(true);
    expect(batch?.state).toBe('downloaded');
  });

  it("a 429 halves the concurrency and waits what the API asks before the same request is sent again", async () => {
    const { client, calls } = realtimeClient([apiError(429, { 'retry-after-ms': '1500' }), () => reply()]);
    const ctx = testContext({ mode: 'realtime', concurrency: 8 }, client);
    const { sender } = await sendAll(ctx, [keyN(1)]);
    expect(calls).toHaveLength(2);
    expect(ctx.sleeps).toEqual([1500]);
    expect(ctx.events).toContainEqual({ type: 'concurrency', limit: 4, reason: 'rate limited (429)' });
    expect(sender.limiter.limit).toBe(4);
    expect(stateOf(ctx, keyN(1))).toBe('done');
  });

  it('rate-limit headers running low slow it down before a 429', async () => {
    const { client } = realtimeClient([() => reply()], { 'anthropic-ratelimit-requests-remaining': '2' });
    const ctx = testContext({ mode: 'realtime', concurrency: 8 }, client);
    const { sender } = await sendAll(ctx, [keyN(1)]);
    expect(sender.limiter.limit).toBeLessThan(8);
    expect(ctx.events.some((e) => e.type === 'concurrency')).toBe(true);
  });

  it('a request the API refuses (400) is answered with that error, final; an overloaded one (a 500) is tried again later', async () => {
    const { client } = realtimeClient([apiError(400, {}, 'invalid_request_error')]);
    const ctx = testContext({ mode: 'realtime' }, client);
    await sendAll(ctx, [keyN(1)]);
    expect(stateOf(ctx, keyN(1))).toBe('done');
    const stored = JSON.parse(ctx.ledger.storedResult(identity.scope, keyN(1))!) as { type: string; error: { error: { type: string } } };
    expect([stored.type, stored.error.error.type]).toEqual(['errored', 'invalid_request_error']);

    const second = realtimeClient([apiError(500, {}, 'api_error')]);
    const ctx2 = testContext({ mode: 'realtime' }, second.client);
    const { requeued } = await sendAll(ctx2, [keyN(2)]);
    expect(stateOf(ctx2, keyN(2))).toBe('pending');
    expect([...(requeued[0]?.keys() ?? [])]).toEqual([keyN(2)]);
  });

  it('a call that never connected (refused) is an errored answer (api_error), tried again; one sent and not answered is answer_lost, final in the run', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const { client } = realtimeClient([new APIConnectionError({ message: 'Connection error.', cause: refused })]);
    const ctx = testContext({ mode: 'realtime' }, client);
    const { requeued } = await sendAll(ctx, [keyN(1)]);
    expect([...(requeued[0]?.keys() ?? [])]).toEqual([keyN(1)]);

    // Reset with no answer: the API may have answered, and billed, it (helper-68: it was sent again).
    const lost = realtimeClient([new APIConnectionError({ message: 'Connection error.' })]);
    const ctx2 = testContext({ mode: 'realtime' }, lost.client);
    const second = await sendAll(ctx2, [keyN(2)]);
    expect([...(second.requeued[0]?.keys() ?? [])]).toEqual([]);
    expect(stateOf(ctx2, keyN(2))).toBe('done');
    const stored = JSON.parse(ctx2.ledger.storedResult(identity.scope, keyN(2))!) as { error: { error: { type: string; message: string } } };
    expect(stored.error.error.type).toBe('answer_lost');
    expect(stored.error.error.message).toMatch(/may have answered it, and billed it.*\(Connection error\.\)$/);
  });

  // helper-71 B1 (note 46): --max-cost counted a lost answer at its group's average estimate: a lost
  // 120,000-token prompt among short ones counted as a short one. The sender now says which request
  // was lost, with what it is priced by (its own cost bytes, and a raised max_tokens), for the budget.
  it('an answer lost on the way is reported with its own request’s cost bytes and raised max_tokens, not the group’s', async () => {
    const { client } = realtimeClient([() => reply(), new APIConnectionError({ message: 'Connection error.' }), () => reply()]);
    const ctx = testContext({ mode: 'realtime', concurrency: 1 }, client);
    const keys = [keyN(1), keyN(2), keyN(3)];
    ctx.ledger.ensureSpec('s', '{"model":"m","max_tokens":5,"messages":', '}');
    for (const key of keys) ctx.ledger.insertRequest(identity.scope, key, null, 's', `[{"role":"user","content":"${key}"}]`, 0);
    const tracked: Promise<Requeued | undefined>[] = [];
    const lost: [number, { bytes: number; answer?: number | undefined }][] = [];
    const sender = new RealtimeSender(ctx, new ResultRecorder(ctx), {
      track: (_, work) => void tracked.push(work()),
      charge: () => {},
      lost: (batchId, request) => void lost.push([batchId, request]),
    });
    await sender.send({ keys, bytes: 300, costBytes: 480_100, costs: [50, 480_000, 50], answerTokens: new Map([[keyN(2), 8192]]) });
    await Promise.all(tracked);
    const batchId = ctx.ledger.batches().at(-1)!.id;
    expect(lost).toEqual([[batchId, { bytes: 480_000, answer: 8192 }]]);
  });
});
