/**
 * The ledger's contract: what every `LedgerStore` (SQLite, PostgreSQL) must do, step by step, and
 * what two workers sharing one store must never see (a request in two batches, one remote batch
 * claimed twice, a dead run revived, a batch failed after another worker moved it on). Registered
 * once per implementation by `contract-*.test.ts`.
 *
 * Every call is awaited: SQLite answers with plain values, PostgreSQL with promises.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HOST, RUN_RECORDS_STALE_MS, RUN_STALE_MS, type Identity, type Waiting } from '../../src/ledger/ledger.ts';
import type { LedgerStore, NewRecord, NewRequest, Settlement, Spec } from '../../src/ledger/store.ts';

/**
 * Makes a new, empty store and returns how to open a ledger on it; calling that twice gives two
 * ledgers on the same store, standing for two workers.
 */
export type StoreFactory = () => Promise<() => Promise<LedgerStore>>;

const SCOPE = 'scope-a';
const T = 1_000_000_000_000;
const identity: Identity = { scope: SCOPE, baseUrl: 'https://api.anthropic.com', apiVersion: '2026-10-21', keyFingerprint: 'abcd1234' };
const SPEC: Spec = { id: 'spec-1', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' };

function messagesOf(key: string): string {
  return JSON.stringify([{ role: 'user', content: `item ${key}` }]);
}
function newRequests(keys: readonly string[]): NewRequest[] {
  return keys.map((key) => ({ key, label: null, spec: SPEC.id, messages: messagesOf(key) }));
}
function newRecords(keys: readonly (string | null)[]): NewRecord[] {
  return keys.map((key, seq) => ({ seq, line: seq + 2, data: JSON.stringify({ n: seq }), key, error: key === null ? '{"code":"BE_INVALID_RECORD"}' : null }));
}
function keysFrom(n: number, prefix = 'k'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);
}
function done(waiting: Waiting, result: string): Settlement {
  return { waiting, result, retry: false };
}

export function ledgerContract(name: string, freshStore: StoreFactory): void {
  describe(`the ledger contract: ${name}`, () => {
    const opened: LedgerStore[] = [];
    afterEach(async () => {
      for (const ledger of opened.splice(0)) await ledger.close();
    });

    /** `n` ledgers on one new store (n workers). */
    async function workers(n: number): Promise<LedgerStore[]> {
      const open = await freshStore();
      const ledgers: LedgerStore[] = [];
      for (let i = 0; i < n; i++) ledgers.push(await open());
      opened.push(...ledgers);
      return ledgers;
    }

    /** One ledger with a run and pending requests for `keys` (with a record each). */
    async function seeded(keys: readonly string[]): Promise<{ ledger: LedgerStore; run: number }> {
      const [ledger] = await workers(1);
      const run = await ledger!.startRun('job', T);
      await ledger!.intake(SCOPE, run, [SPEC], newRequests(keys), newRecords(keys), T);
      return { ledger: ledger!, run };
    }

    describe('runs', () => {
      it('a heartbeat keeps a run alive; a late beat does not revive it; a run whose row was dropped learns it on its next beat', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const id = await ledger.startRun('j', T);
        expect(await ledger.run(id)).toMatchObject({ id, job: 'j', pid: process.pid, host: HOST, started_at: T, heartbeat_at: T });
        expect(await ledger.runAlive(id, T + RUN_STALE_MS - 1)).toBe(true);
        expect(await ledger.runAlive(id, T + RUN_STALE_MS)).toBe(false);
        expect(await ledger.heartbeat(id, T + RUN_STALE_MS - 1)).toBe(true);
        expect(await ledger.runAlive(id, T + RUN_STALE_MS + 1)).toBe(true);
        const late = await ledger.startRun('late', T);
        expect(await ledger.heartbeat(late, T + RUN_STALE_MS)).toBe(false);
        expect(await ledger.runAlive(late, T + RUN_STALE_MS + 1)).toBe(false);
        await ledger.endRun(id);
        expect(await ledger.run(id)).toBeUndefined();
        expect(await ledger.heartbeat(id, T + RUN_STALE_MS + 2)).toBe(false);
        expect(await ledger.runAlive(id, T + RUN_STALE_MS + 2)).toBe(false);
      });

      it('endRun forgets the run and its records; its requests stay', async () => {
        const { ledger, run } = await seeded(['a', 'b']);
        expect(await ledger.records(SCOPE, run, 0, 10)).toHaveLength(2);
        await ledger.endRun(run);
        expect(await ledger.records(SCOPE, run, 0, 10)).toEqual([]);
        expect(await ledger.request(SCOPE, 'a')).toMatchObject({ state: 'pending' });
      });

      it('startRun forgets the records of runs silent for long, and keeps those of runs still beating', async () => {
        const { ledger, run: old } = await seeded(['a']);
        const beating = await ledger.startRun('job', T);
        await ledger.intake(SCOPE, beating, [], [], newRecords(['a']), T);
        const now = T + RUN_RECORDS_STALE_MS;
        expect(await ledger.heartbeat(beating, T + RUN_STALE_MS - 1)).toBe(true);
        // `beating` is dead to the others at `now`, but not silent long enough to lose its records.
        const fresh = await ledger.startRun('job', now);
        expect(await ledger.run(old)).toBeUndefined();
        expect(await ledger.records(SCOPE, old, 0, 10)).toEqual([]);
        expect(await ledger.records(SCOPE, beating, 0, 10)).toHaveLength(1);
        expect(await ledger.run(fresh)).toMatchObject({ heartbeat_at: now });
      });
    });

    describe('requests and records', () => {
      it('intake stores specs, pending requests with what they send, and records joined with their requests, in order', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const run = await ledger.startRun('job', T);
        const labelled = { key: 'b', label: 'T-42', spec: SPEC.id, messages: messagesOf('b') };
        await ledger.intake(SCOPE, run, [SPEC], [...newRequests(['a']), labelled], newRecords(['a', null, 'b']), T);
        expect(await ledger.request(SCOPE, 'b')).toEqual({
          key: 'b', label: 'T-42', spec: SPEC.id, state: 'pending', batch_id: null, attempts: 0, max_tokens: null, updated_at: T,
        });
        const payload = await ledger.payload(SCOPE, 'a');
        expect(payload).toMatchObject({ key: 'a', label: null, max_tokens: null });
        expect(JSON.parse(`${payload!.head}${payload!.messages}${payload!.tail}`)).toEqual({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'item a' }] });
        // Many at once: those known, under this scope only.
        const many = await ledger.payloads(SCOPE, ['b', 'unknown', 'a']);
        expect([...many.keys()].sort()).toEqual(['a', 'b']);
        expect(many.get('a')).toEqual(payload);
        expect(many.get('b')).toMatchObject({ key: 'b', label: 'T-42', messages: messagesOf('b') });
        expect((await ledger.payloads('other-scope', ['a'])).size).toBe(0);
        expect((await ledger.payloads(SCOPE, [])).size).toBe(0);
        const rows = await ledger.records(SCOPE, run, 0, 10);
        expect(rows).toEqual([
          { seq: 0, line: 2, data: '{"n":0}', key: 'a', label: null, error: null, result: null, state: 'pending', attempts: 0, batch_id: null, remote_id: null, nonce: null },
          { seq: 1, line: 3, data: '{"n":1}', key: null, label: null, error: '{"code":"BE_INVALID_RECORD"}', result: null, state: null, attempts: null, batch_id: null, remote_id: null, nonce: null },
          { seq: 2, line: 4, data: '{"n":2}', key: 'b', label: 'T-42', error: null, result: null, state: 'pending', attempts: 0, batch_id: null, remote_id: null, nonce: null },
        ]);
        expect((await ledger.records(SCOPE, run, 1, 1)).map((r) => r.seq)).toEqual([1]);
        expect(await ledger.records('other-scope', run, 0, 1)).toMatchObject([{ key: 'a', state: null }]);
      });

      it("a record whose request is not in the ledger (deleted by a gc after the run's lookup) reads with no state, which the sink reports as request_lost", async () => {
        const { ledger } = await seeded(['a']);
        const run = await ledger.startRun('job', T);
        await ledger.intake(SCOPE, run, [], [], newRecords(['a', 'gone']), T);
        expect((await ledger.records(SCOPE, run, 0, 10)).map((r) => [r.key, r.state])).toEqual([
          ['a', 'pending'],
          ['gone', null],
        ]);
      });

      it('intake ignores a known request and spec (what it sends stays), and a key given twice keeps its first messages', async () => {
        const { ledger, run } = await seeded(['a']);
        await ledger.openBatch(identity, run, 'job', 'n1', ['a'], T);
        await ledger.intake(SCOPE, run, [{ ...SPEC, head: 'changed' }], [{ key: 'a', label: 'x', spec: SPEC.id, messages: '[]' }, { key: 'c', label: null, spec: SPEC.id, messages: '["first"]' }, { key: 'c', label: null, spec: SPEC.id, messages: '["second"]' }], [], T + 1);
        expect(await ledger.request(SCOPE, 'a')).toMatchObject({ state: 'submitted', label: null, updated_at: T });
        expect(await ledger.payload(SCOPE, 'a')).toMatchObject({ head: SPEC.head, messages: messagesOf('a') });
        expect(await ledger.payload(SCOPE, 'c')).toMatchObject({ messages: '["first"]' });
      });

      it('otherScopes lists the other identities that have requests', async () => {
        const { ledger, run } = await seeded(['a']);
        await ledger.intake('scope-c', run, [], newRequests(['a']), [], T);
        await ledger.intake('scope-b', run, [], newRequests(['x']), [], T);
        expect((await ledger.otherScopes(SCOPE)).sort()).toEqual(['scope-b', 'scope-c']);
        expect((await ledger.otherScopes('scope-b')).sort()).toEqual([SCOPE, 'scope-c']);
      });

      it('refreshPayload replaces what a pending or submitted request sends next, only when it differs, never once answered', async () => {
        const { ledger, run } = await seeded(['a', 'b', 'c']);
        expect(await ledger.refreshPayload(SCOPE, 'a', '["new"]')).toBe(true);
        expect(await ledger.refreshPayload(SCOPE, 'a', '["new"]')).toBe(false);
        expect((await ledger.payload(SCOPE, 'a'))?.messages).toBe('["new"]');
        const { id } = await ledger.openBatch(identity, run, 'job', 'n1', ['b', 'c'], T);
        // Submitted: what a retry would send (its batch keeps what it was sent).
        expect(await ledger.refreshPayload(SCOPE, 'b', '["new b"]')).toBe(true);
        expect((await ledger.payload(SCOPE, 'b'))?.messages).toBe('["new b"]');
        await ledger.settle(id, [done((await ledger.submittedOf(id)).get('c')!, '{"ok":1}')], T);
        expect(await ledger.refreshPayload(SCOPE, 'c', '["new c"]')).toBe(false);
        expect((await ledger.payload(SCOPE, 'c'))?.messages).toBe(messagesOf('c'));
        expect(await ledger.refreshPayload(SCOPE, 'missing', '["new"]')).toBe(false);
      });

      it('known gives a stored result as a possible failure only when it is not a success', async () => {
        const { ledger, run } = await seeded(['ok', 'err', 'exp', 'wait']);
        const { id } = await ledger.openBatch(identity, run, 'job', 'n1', ['ok', 'err', 'exp'], T);
        const waiting = await ledger.submittedOf(id);
        // A success whose answer holds the failure types as JSON values (a tool's input) is still a success.
        const success = '{"type":"succeeded","message":{"content":[{"type":"tool_use","name":"triage","input":{"status":"errored","next":"expired"}}]}}';
        const errored = '{"type":"errored","error":{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}}';
        await ledger.settle(id, [done(waiting.get('ok')!, success), done(waiting.get('err')!, errored), done(waiting.get('exp')!, '{"type":"expired"}')], T);
        const known = await ledger.known(SCOPE, ['ok', 'err', 'exp', 'wait']);
        expect(Object.fromEntries([...known].map(([key, row]) => [key, row.failure]))).toEqual({ ok: null, err: errored, exp: '{"type":"expired"}', wait: null });
      });

      it('reopenRequest makes an answered request pending again with a fresh attempt count, and nothing else', async () => {
        const { ledger, run } = await seeded(['a', 'b']);
        const { id } = await ledger.openBatch(identity, run, 'job', 'n1', ['a', 'b'], T);
        const waiting = await ledger.submittedOf(id);
        await ledger.settle(id, [done(waiting.get('a')!, '{"type":"expired"}')], T);
        expect(await ledger.reopenRequest(SCOPE, 'b', T + 5, T)).toBe(false); // still submitted
        // Answered again since the caller looked (its view is stale): left alone, or it is paid again.
        expect(await ledger.reopenRequest(SCOPE, 'a', T + 5, T - 1)).toBe(false);
        expect(await ledger.reopenRequest(SCOPE, 'a', T + 5, T)).toBe(true);
        expect(await ledger.request(SCOPE, 'a')).toMatchObject({ state: 'pending', batch_id: null, attempts: 0, updated_at: T + 5 });
        // Its last result is kept until a new one replaces it.
        expect(await ledger.storedResult(SCOPE, 'a')).toBe('{"type":"expired"}');
        expect(await ledger.reopenRequest(SCOPE, 'a', T + 6, T + 5)).toBe(false); // pending now
      });
    });

    describe('batches', () => {
      it('openBatch writes the batch row first (creating) and takes the pending keys among those given, in their order', async () => {
        const { ledger, run } = await seeded(['a', 'b', 'c', 'd']);
        const first = await ledger.openBatch(identity, run, 'job', 'n1', ['c', 'a'], T + 1);
        expect(first.keys).toEqual(['c', 'a']);
        expect(await ledger.batch(first.id)).toEqual({
          id: first.id, scope: SCOPE, run, job: 'job', nonce: 'n1', remote_id: null, state: 'creating', request_count: 0, bytes: 0, cost_bytes: null,
          created_at: T + 1, updated_at: T + 1, base_url: identity.baseUrl, api_version: identity.apiVersion, key_fingerprint: identity.keyFingerprint, error: null,
        });
        expect(await ledger.request(SCOPE, 'c')).toMatchObject({ state: 'submitted', batch_id: first.id, attempts: 1, updated_at: T + 1 });
        // Taken, unknown and repeated keys are skipped; the rest keep the caller's order.
        const second = await ledger.openBatch(identity, run, 'job', 'n2', ['d', 'a', 'zz', 'b', 'd'], T + 2);
        expect(second.id).toBeGreaterThan(first.id);
        expect(second.keys).toEqual(['d', 'b']);
        // Keys given and none of them taken (another run took them): no row is left behind (it would
        // show in status as a failed batch that never was).
        const empty = await ledger.openBatch(identity, run, 'job', 'n3', ['a'], T + 3);
        expect(empty.keys).toEqual([]);
        expect(await ledger.batch(empty.id)).toBeUndefined();
        expect((await ledger.batches('job')).map((b) => b.id)).toEqual([first.id, second.id]);
      });

      it('batchSpecs gives each batch the spec its requests were built from; none for a batch that holds none', async () => {
        const { ledger, run } = await seeded(['a', 'b']);
        const other: Spec = { id: 'spec-2', head: '{"model":"m2","messages":', tail: '}' };
        await ledger.intake(SCOPE, run, [other], [{ key: 'c', label: null, spec: other.id, messages: messagesOf('c') }], [], T);
        const { id } = await ledger.openBatch(identity, run, 'job', 'n1', ['a', 'b'], T);
        const second = await ledger.openBatch(identity, run, 'job', 'n2', ['c'], T);
        const empty = await ledger.openBatch(identity, run, 'job', 'n3', ['a'], T);
        const specs = await ledger.batchSpecs([id, empty.id, second.id]);
        expect([...specs].sort(([x], [y]) => x - y)).toEqual([
          [id, SPEC],
          [second.id, other],
        ]);
        expect(await ledger.batchSpecs([])).toEqual(new Map());
      });

      it("batchPage pages a batch's requests in submission order; sizeBatch records the body built", async () => {
        const keys = keysFrom(5);
        const { ledger, run } = await seeded(keys);
        const { id } = await ledger.openBatch(identity, run, 'job', 'n1', keys, T);
        const page1 = await ledger.batchPage(id, 0, 3);
        const page2 = await ledger.batchPage(id, page1.at(-1)!.id, 3);
        expect([...page1, ...page2].map((p) => p.key)).toEqual(keys);
        expect(page1[0]).toMatchObject({ key: keys[0], head: SPEC.head, tail: SPEC.tail, messages: messagesOf(keys[0]!), max_tokens: null });
        await ledger.sizeBatch(id, 5, 12_345, 400_000);
        expect(await ledger.batch(id)).toMatchObject({ request_count: 5, bytes: 12_345, cost_bytes: 400_000 });
      });

      it('batchPage gives each request the head and tail of its own spec, whichever spec a page read first', async () => {
        const { ledger, run } = await seeded(['a1', 'a2']);
        const other: Spec = { id: 'spec-2', head: '{"model":"m2","max_tokens":7,"system":"s","messages":', tail: ',"temperature":0}' };
        await ledger.intake(SCOPE, run, [other], ['b1', 'b2'].map((key) => ({ key, label: null, spec: other.id, messages: messagesOf(key) })), [], T);
        const { id } = await ledger.openBatch(identity, run, 'job', 'n1', ['b1', 'a1', 'b2', 'a2'], T);
        const page = await ledger.batchPage(id, 0, 10);
        expect(page.map((p) => [p.key, p.head, p.tail])).toEqual([
          ['a1', SPEC.head, SPEC.tail],
          ['a2', SPEC.head, SPEC.tail],
          ['b1', other.head, other.tail],
          ['b2', other.head, other.tail],
        ]);
      });

      it('one remote batch is claimed by one row only, and recorded as the remote batch of a creating row only', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const run = await ledger.startRun('j', T);
        const a = (await ledger.openBatch(identity, run, 'j', 'nonceA', [], T)).id;
        const b = (await ledger.openBatch(identity, run, 'j', 'nonceB', [], T)).id;
        expect(await ledger.claimant('msgbatch_1')).toBeUndefined();
        expect(await ledger.setRemote(a, 'msgbatch_1', T + 1)).toBe(true);
        expect(await ledger.batch(a)).toMatchObject({ state: 'in_progress', remote_id: 'msgbatch_1', updated_at: T + 1 });
        expect(await ledger.claimant('msgbatch_1')).toBe(a);
        expect(await ledger.setRemote(b, 'msgbatch_1', T + 1)).toBe(false);
        expect(await ledger.batch(b)).toMatchObject({ state: 'creating', remote_id: null });
        expect(await ledger.setRemote(b, 'msgbatch_2', T + 1)).toBe(true);
        // A row that is no longer creating takes no other remote batch.
        expect(await ledger.setRemote(a, 'msgbatch_3', T + 2)).toBe(false);
        expect(await ledger.batch(a)).toMatchObject({ remote_id: 'msgbatch_1' });
      });

      it('setBatchState moves a batch and keeps an earlier error when given none', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const { id } = await ledger.openBatch(identity, 1, 'j', 'n', [], T);
        await ledger.setBatchState(id, 'ended', T + 1, 'partly expired');
        await ledger.setBatchState(id, 'downloaded', T + 2);
        expect(await ledger.batch(id)).toMatchObject({ state: 'downloaded', updated_at: T + 2, error: 'partly expired' });
        expect(await ledger.batch(id + 1000)).toBeUndefined();
      });

      it("setBatchState never moves a batch back: another worker's late poll ('ended') leaves a downloaded batch downloaded, and a failed one failed", async () => {
        // Two workers followed one batch; the slower one's poll wrote 'ended' after the other had
        // downloaded it, and status counted its requests as pending, and gc never forgot the job.
        const [a, b] = (await workers(2)) as [LedgerStore, LedgerStore];
        const { id } = await a.openBatch(identity, 1, 'j', 'n', [], T);
        await a.setBatchState(id, 'ended', T + 1);
        await a.setBatchState(id, 'downloaded', T + 2);
        await b.setBatchState(id, 'ended', T + 3);
        expect(await a.batch(id)).toMatchObject({ state: 'downloaded', updated_at: T + 2 });
        // Touched in its own state (gc keeps a batch the API still holds): allowed.
        await b.setBatchState(id, 'downloaded', T + 4, 'the API still holds its results');
        expect(await a.batch(id)).toMatchObject({ state: 'downloaded', updated_at: T + 4, error: 'the API still holds its results' });
        const failed = (await a.openBatch(identity, 1, 'j', 'n2', [], T)).id;
        await a.setBatchState(failed, 'failed', T + 1, 'lost');
        await b.setBatchState(failed, 'downloaded', T + 2);
        await b.setBatchState(failed, 'ended', T + 2);
        expect(await a.batch(failed)).toMatchObject({ state: 'failed', error: 'lost' });
        // failBatch from 'downloaded' (results archived, the row read again after another worker finished it) leaves it downloaded.
        expect(await b.failBatch(id, T + 5, 'its results were archived by the API', 'downloaded')).toBeUndefined();
        expect(await a.batch(id)).toMatchObject({ state: 'downloaded', updated_at: T + 4 });
      });

      it('settle stores final results, retries with the last result kept in place, and ignores requests no longer waiting', async () => {
        const { ledger, run } = await seeded(['a', 'b', 'c']);
        const { id } = await ledger.openBatch(identity, run, 'job', 'n1', ['a', 'b', 'c'], T);
        const waiting = await ledger.submittedOf(id);
        expect([...waiting.keys()].sort()).toEqual(['a', 'b', 'c']);
        expect(waiting.get('a')).toMatchObject({ spec: SPEC.id, attempts: 1, max_tokens: null, result_id: null });
        expect(await ledger.unanswered(id)).toHaveLength(3);

        const took = await ledger.settle(
          id,
          [done(waiting.get('a')!, '{"type":"succeeded","n":1}'), { waiting: waiting.get('b')!, result: '{"type":"truncated"}', retry: true, maxTokens: 64 }],
          T + 1,
        );
        expect(took).toEqual([true, true]);
        expect(await ledger.request(SCOPE, 'a')).toMatchObject({ state: 'done', batch_id: id, updated_at: T + 1 });
        expect(await ledger.storedResult(SCOPE, 'a')).toBe('{"type":"succeeded","n":1}');
        expect(await ledger.request(SCOPE, 'b')).toMatchObject({ state: 'pending', batch_id: null, attempts: 1, max_tokens: 64 });
        expect(await ledger.storedResult(SCOPE, 'b')).toBe('{"type":"truncated"}');
        expect(await ledger.unanswered(id)).toEqual(['c']);
        // What status shows of a real-time group: its requests by result (the one sent back is in no count).
        expect((await ledger.resultCounts([id])).get(id)).toEqual({ processing: 1, succeeded: 1, errored: 0, canceled: 0, expired: 0 });

        // The retry's next attempt replaces its last result in place (the same result row).
        const again = await ledger.openBatch(identity, run, 'job', 'n2', ['b'], T + 2);
        const retried = (await ledger.submittedOf(again.id)).get('b')!;
        expect(retried).toMatchObject({ attempts: 2, max_tokens: 64 });
        expect(retried.result_id).not.toBeNull();
        expect((await ledger.batchPage(again.id, 0, 10))[0]?.max_tokens).toBe(64);
        expect(await ledger.settle(again.id, [done(retried, '{"type":"succeeded","n":2}')], T + 3)).toEqual([true]);
        expect(await ledger.storedResult(SCOPE, 'b')).toBe('{"type":"succeeded","n":2}');
        expect((await ledger.records(SCOPE, run, 1, 1))[0]).toMatchObject({ key: 'b', state: 'done', attempts: 2, result: '{"type":"succeeded","n":2}', nonce: 'n2' });

        // Settled again (a re-download), or by another batch: no effect, nothing overwritten.
        expect(await ledger.settle(id, [done(waiting.get('a')!, '{"type":"other"}'), done(waiting.get('c')!, '{"ok":"c"}'), done(waiting.get('c')!, '{"ok":"twice"}')], T + 4)).toEqual([
          false,
          true,
          false,
        ]);
        expect(await ledger.storedResult(SCOPE, 'a')).toBe('{"type":"succeeded","n":1}');
        expect(await ledger.storedResult(SCOPE, 'c')).toBe('{"ok":"c"}');
        expect(await ledger.settle(again.id, [done(waiting.get('c')!, '{"x":1}')], T + 5)).toEqual([false]);
        expect(await ledger.settle(id, [], T + 5)).toEqual([]);
      });

      it('many requests and results at once (more than one multi-row statement holds, and a rest): each written once, to its own row', async () => {
        const [ledger, other] = (await workers(2)) as [LedgerStore, LedgerStore];
        const run = await ledger.startRun('job', T);
        const keys = keysFrom(150);
        // Another worker wrote three of them after this one looked: theirs stay, once each.
        const theirs = [keys[3]!, keys[64]!, keys[149]!];
        await other.intake(SCOPE, await other.startRun('job', T), [SPEC], theirs.map((key) => ({ key, label: null, spec: SPEC.id, messages: '["theirs"]' })), [], T);
        const requests = newRequests(keys);
        requests.splice(70, 0, { key: keys[10]!, label: null, spec: SPEC.id, messages: '["twice"]' }); // a key given twice keeps its first
        await ledger.intake(SCOPE, run, [SPEC], requests, newRecords(keys), T);
        const sent = await ledger.payloads(SCOPE, keys);
        expect(sent.size).toBe(150);
        for (const key of keys) expect(sent.get(key)?.messages, key).toBe(theirs.includes(key) ? '["theirs"]' : messagesOf(key));
        expect(new Set([...sent.values()].map((p) => p.id)).size).toBe(150);
        const rows = await ledger.records(SCOPE, run, 0, 200);
        expect(rows.map((r) => [r.key, r.state])).toEqual(keys.map((key) => [key, 'pending']));

        const { id, keys: taken } = await ledger.openBatch(identity, run, 'job', 'n1', keys, T);
        expect(taken).toEqual(keys);
        const waiting = await ledger.submittedOf(id);
        // Two answered already (by another download), one result line given twice, one retry; in no order.
        expect(await ledger.settle(id, [done(waiting.get(keys[5]!)!, '{"early":5}'), done(waiting.get(keys[100]!)!, '{"early":100}')], T + 1)).toEqual([true, true]);
        const settlements: Settlement[] = keys.map((key, i) => (i === 7 ? { waiting: waiting.get(key)!, result: '{"retry":7}', retry: true } : done(waiting.get(key)!, `{"r":${i}}`)));
        settlements.push(done(waiting.get(keys[20]!)!, '{"r":"twice"}'));
        const order = settlements.map((_, i) => (i * 37) % settlements.length);
        const took = await ledger.settle(id, order.map((i) => settlements[i]!), T + 2);
        expect(took).toEqual(order.map((i) => i !== 5 && i !== 100 && i !== 150));
        for (const [i, key] of keys.entries()) {
          const expected = i === 5 || i === 100 ? `{"early":${i}}` : i === 7 ? '{"retry":7}' : `{"r":${i}}`;
          expect(await ledger.storedResult(SCOPE, key), key).toBe(expected);
        }
        expect((await ledger.request(SCOPE, keys[7]!))?.state).toBe('pending');
        expect(await ledger.unanswered(id)).toEqual([]);
        const read = await ledger.records(SCOPE, run, 0, 200);
        expect(read.map((r) => r.result)).toEqual(keys.map((_, i) => (i === 5 || i === 100 ? `{"early":${i}}` : i === 7 ? '{"retry":7}' : `{"r":${i}}`)));
      });

      it('failBatch releases the unanswered requests (one attempt given back) and marks the batch failed, only from the state the caller saw', async () => {
        const { ledger, run } = await seeded(['a', 'b']);
        const { id } = await ledger.openBatch(identity, run, 'job', 'n1', ['a', 'b'], T);
        await ledger.settle(id, [done((await ledger.submittedOf(id)).get('a')!, '{"ok":1}')], T);
        expect(await ledger.failBatch(id, T + 1, 'gone', 'in_progress')).toBeUndefined();
        expect(await ledger.batch(id)).toMatchObject({ state: 'creating', error: null });
        expect(await ledger.failBatch(id, T + 1, 'create failed', 'creating')).toBe(1);
        expect(await ledger.batch(id)).toMatchObject({ state: 'failed', error: 'create failed', updated_at: T + 1 });
        expect(await ledger.request(SCOPE, 'b')).toMatchObject({ state: 'pending', batch_id: null, attempts: 0 });
        expect(await ledger.request(SCOPE, 'a')).toMatchObject({ state: 'done' });
        expect(await ledger.failBatch(id, T + 2, 'again', 'creating')).toBeUndefined();
        expect(await ledger.failBatch(id + 1000, T + 2, 'none', 'creating')).toBeUndefined();
      });

      it("identities lists each scope as its newest batch recorded it, newest first; batches lists all or a job's, in creation order", async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const other: Identity = { scope: 'scope-b', baseUrl: 'http://gateway.local', apiVersion: 'v', keyFingerprint: 'ffff' };
        const b1 = await ledger.openBatch(identity, 1, 'j1', 'n1', [], T);
        const b2 = await ledger.openBatch(other, 1, 'j2', 'n2', [], T);
        const b3 = await ledger.openBatch({ ...identity, baseUrl: 'https://newer.example' }, 1, 'j1', 'n3', [], T);
        expect(await ledger.identities()).toEqual([{ ...identity, baseUrl: 'https://newer.example' }, other]);
        expect((await ledger.batches()).map((b) => b.id)).toEqual([b1.id, b2.id, b3.id]);
        expect((await ledger.batches('j1')).map((b) => b.nonce)).toEqual(['n1', 'n3']);
        expect(await ledger.batches('none')).toEqual([]);
      });
    });

    describe('upkeep', () => {
      it('gc deletes finished batches and requests no batch or record waits on, untouched since the cutoff; gcPreview counts the same', async () => {
        const { ledger, run } = await seeded(['a', 'b', 'c', 'd']);
        await ledger.endRun(run); // its records no longer hold its requests
        // A run of another job reads d (it is noted for that job, and held by the record).
        const holder = await ledger.startRun('reader', T);
        await ledger.intake(SCOPE, holder, [], [], newRecords(['d']), T);
        const finished = await ledger.openBatch(identity, run, 'job', 'n1', ['a'], T);
        await ledger.setRemote(finished.id, 'msgbatch_1', T);
        await ledger.settle(finished.id, [done((await ledger.submittedOf(finished.id)).get('a')!, '{"ok":1}')], T);
        await ledger.setBatchState(finished.id, 'downloaded', T);
        const open = await ledger.openBatch(identity, run, 'another-job', 'n2', ['b'], T);
        // a: done, in a downloaded batch; b: submitted (in another job's batch: see below for one of the same job); c: pending; d: pending, held by a record.
        const before = T + 1;
        expect(await ledger.gcPreview(T, T)).toEqual({ batches: 0, requests: 0 });
        expect(await ledger.gcPreview(before, before)).toEqual({ batches: 1, requests: 2 });
        expect(await ledger.gcBatchIds(before, before)).toEqual([finished.id]);
        expect(await ledger.gc(before, before)).toEqual({ batches: 1, requests: 2 });
        expect(await ledger.batch(finished.id)).toBeUndefined();
        expect(await ledger.claimant('msgbatch_1')).toBeUndefined();
        expect(await ledger.request(SCOPE, 'a')).toBeUndefined();
        expect(await ledger.storedResult(SCOPE, 'a')).toBeUndefined();
        expect(await ledger.request(SCOPE, 'c')).toBeUndefined();
        expect(await ledger.payload(SCOPE, 'c')).toBeUndefined();
        expect(await ledger.batch(open.id)).toMatchObject({ state: 'creating' });
        expect(await ledger.payload(SCOPE, 'b')).toMatchObject({ head: SPEC.head });
        expect(await ledger.request(SCOPE, 'd')).toMatchObject({ state: 'pending' });
        expect(await ledger.gcPreview(before, before)).toEqual({ batches: 0, requests: 0 });
        await ledger.compact();
        expect(await ledger.payload(SCOPE, 'd')).toMatchObject({ messages: messagesOf('d') });
      });
    });

    describe('upkeep of a job between its tries', () => {
      /** Job "other"'s batch `batchId` answers `key`, and other's run `run` ends complete. */
      async function answerAndFinish(ledger: LedgerStore, run: number, batchId: number, key: string, at: number) {
        await ledger.settle(batchId, [done((await ledger.submittedOf(batchId)).get(key)!, '{"type":"succeeded"}')], at);
        await ledger.setBatchState(batchId, 'downloaded', at);
        await ledger.endRun(run, { complete: true, now: at, scope: SCOPE });
      }
      /** Job "other" reads `key`, sends it, has it answered, and finishes. */
      async function otherSendsAndFinishes(ledger: LedgerStore, key: string, at: number) {
        const other = await ledger.startRun('other', at);
        await ledger.intake(SCOPE, other, [], [], newRecords([key]), at);
        const theirs = await ledger.openBatch(identity, other, 'other', 'o1', [key], at);
        await ledger.setRemote(theirs.id, 'msgbatch_o1', at);
        await answerAndFinish(ledger, other, theirs.id, key, at);
      }
      /** A gc at `at` deletes no request, and `key` is still there. */
      async function expectKeptByGc(ledger: LedgerStore, key: string, at: number) {
        expect(await ledger.gc(at, at)).toMatchObject({ requests: 0 });
        expect(await ledger.request(SCOPE, key)).toBeDefined();
      }

      /**
       * A `--no-wait` job's first try, exited (no run of the job is alive): its batch downloaded, `a`
       * answered, `b` expired and sent back for another attempt.
       */
      async function firstTry(keys: readonly string[]) {
        const { ledger, run } = await seeded(keys);
        await ledger.endRun(run);
        const first = await ledger.openBatch(identity, run, 'nightly', 'n1', ['a', 'b'], T);
        await ledger.setRemote(first.id, 'msgbatch_1', T);
        const waiting = await ledger.submittedOf(first.id);
        await ledger.settle(first.id, [done(waiting.get('a')!, '{"type":"succeeded"}'), { waiting: waiting.get('b')!, result: '{"type":"expired"}', retry: true }], T);
        await ledger.setBatchState(first.id, 'downloaded', T);
        return { ledger, run, first };
      }

      it('gc keeps the finished batches and answered requests of a job that has batches still to finish (its next try would pay for them again), and deletes them once it has none', async () => {
        const { ledger, run, first } = await firstTry(['a', 'b', 'c']);
        // b sent again in a second batch, still running.
        const second = await ledger.openBatch(identity, run, 'nightly', 'n2', ['b'], T);
        await ledger.setRemote(second.id, 'msgbatch_2', T);
        // Another job's finished work goes as before.
        const other = await ledger.openBatch(identity, run, 'other', 'n3', ['c'], T);
        await ledger.setRemote(other.id, 'msgbatch_3', T);
        await ledger.settle(other.id, [done((await ledger.submittedOf(other.id)).get('c')!, '{"type":"succeeded"}')], T);
        await ledger.setBatchState(other.id, 'downloaded', T);

        expect(await ledger.gcPreview(T + 1, T + 1)).toEqual({ batches: 1, requests: 1 });
        expect(await ledger.gc(T + 1, T + 1)).toEqual({ batches: 1, requests: 1 });
        expect(await ledger.request(SCOPE, 'a')).toMatchObject({ state: 'done' });
        expect(await ledger.storedResult(SCOPE, 'a')).toBe('{"type":"succeeded"}');
        expect(await ledger.batch(first.id)).toMatchObject({ state: 'downloaded' });
        expect(await ledger.request(SCOPE, 'c')).toBeUndefined();

        // The job's last batch is in: nothing of it is needed any more.
        await ledger.settle(second.id, [done((await ledger.submittedOf(second.id)).get('b')!, '{"type":"succeeded"}')], T + 2);
        await ledger.setBatchState(second.id, 'downloaded', T + 2);
        expect(await ledger.gc(T + 3, T + 3)).toEqual({ batches: 2, requests: 2 });
        expect(await ledger.request(SCOPE, 'a')).toBeUndefined();
      });

      it('gc keeps the finished work of a job whose newest batch failed (its requests wait for the next try), and deletes it once a later batch of the job is in', async () => {
        const { ledger, run } = await firstTry(['a', 'b']);
        // The try that sends b again fails to create its batch (released: b pending again).
        const failed = await ledger.openBatch(identity, run, 'nightly', 'n2', ['b'], T);
        expect(await ledger.failBatch(failed.id, T, 'create refused', 'creating')).toBe(1);
        expect(await ledger.gc(T + 1, T + 1)).toEqual({ batches: 0, requests: 0 });
        expect(await ledger.storedResult(SCOPE, 'a')).toBe('{"type":"succeeded"}');
        expect(await ledger.request(SCOPE, 'b')).toMatchObject({ state: 'pending', attempts: 1 });
        // b waits with its last result and attempt count: kept (see RETRY_WAITING).
        // The next try sends b, and it is answered: the job is finished.
        const again = await ledger.openBatch(identity, run, 'nightly', 'n3', ['b'], T + 2);
        await ledger.setRemote(again.id, 'msgbatch_3', T + 2);
        await ledger.settle(again.id, [done((await ledger.submittedOf(again.id)).get('b')!, '{"type":"succeeded"}')], T + 2);
        await ledger.setBatchState(again.id, 'downloaded', T + 2);
        expect(await ledger.gc(T + 3, T + 3)).toEqual({ batches: 3, requests: 2 });
      });

      it('gc keeps the requests another job sent that a job with batches still to finish read (its next try reads them again, and would pay for them), and deletes them once it has none', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        // Job "other" sends a and c; a is answered, c is still running when "nightly" reads it.
        const otherRun = await ledger.startRun('other', T);
        await ledger.intake(SCOPE, otherRun, [SPEC], newRequests(['a', 'c']), newRecords(['a', 'c']), T);
        const first = await ledger.openBatch(identity, otherRun, 'other', 'o1', ['a'], T);
        await ledger.setRemote(first.id, 'msgbatch_o1', T);
        await ledger.settle(first.id, [done((await ledger.submittedOf(first.id)).get('a')!, '{"type":"succeeded","a":1}')], T);
        await ledger.setBatchState(first.id, 'downloaded', T);
        const second = await ledger.openBatch(identity, otherRun, 'other', 'o2', ['c'], T);
        await ledger.setRemote(second.id, 'msgbatch_o2', T);
        // Job "nightly" reads a and c, and sends b; its try exits with b's batch running.
        const run = await ledger.startRun('nightly', T + 1);
        await ledger.intake(SCOPE, run, [], newRequests(['b']), newRecords(['a', 'b', 'c']), T + 1);
        const mine = await ledger.openBatch(identity, run, 'nightly', 'n1', ['b'], T + 1);
        await ledger.setRemote(mine.id, 'msgbatch_n1', T + 1);
        await ledger.endRun(run, { complete: false, now: T + 1, scope: SCOPE }); // --no-wait
        // "other" finishes: c is answered.
        await ledger.settle(second.id, [done((await ledger.submittedOf(second.id)).get('c')!, '{"type":"succeeded","c":1}')], T + 2);
        await ledger.setBatchState(second.id, 'downloaded', T + 2);
        await ledger.endRun(otherRun, { complete: true, now: T + 2, scope: SCOPE });

        // "other"'s batches go; what "nightly" read stays.
        expect(await ledger.gcPreview(T + 3, T + 3)).toEqual({ batches: 2, requests: 0 });
        expect(await ledger.gc(T + 3, T + 3)).toEqual({ batches: 2, requests: 0 });
        expect(await ledger.storedResult(SCOPE, 'a')).toBe('{"type":"succeeded","a":1}');
        expect(await ledger.storedResult(SCOPE, 'c')).toBe('{"type":"succeeded","c":1}');
        // nightly's next try collects b and writes every record: it is finished, and nothing is kept for it.
        const last = await ledger.startRun('nightly', T + 4);
        await ledger.intake(SCOPE, last, [], [], newRecords(['a', 'b', 'c']), T + 4);
        await ledger.settle(mine.id, [done((await ledger.submittedOf(mine.id)).get('b')!, '{"type":"succeeded"}')], T + 4);
        await ledger.setBatchState(mine.id, 'downloaded', T + 4);
        await ledger.endRun(last, { complete: true, now: T + 4, scope: SCOPE });
        expect(await ledger.gc(T + 5, T + 5)).toEqual({ batches: 1, requests: 3 });
        expect(await ledger.request(SCOPE, 'a')).toBeUndefined();
      });

      it('gc forgets a job left for good: a batch created over 29 days ago can answer nothing (the API has archived its results), so it goes with its requests, and the job keeps nothing more; not a day before', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const DAY = 24 * 60 * 60_000;
        // "other" answered c; "nightly" read it, had a answered, and was left with b's batch running
        // and d's create of unknown outcome (no remote id).
        const otherRun = await ledger.startRun('other', T);
        await ledger.intake(SCOPE, otherRun, [SPEC], newRequests(['c']), newRecords(['c']), T);
        const theirs = await ledger.openBatch(identity, otherRun, 'other', 'o1', ['c'], T);
        await ledger.setRemote(theirs.id, 'msgbatch_o1', T);
        await ledger.settle(theirs.id, [done((await ledger.submittedOf(theirs.id)).get('c')!, '{"type":"succeeded"}')], T);
        await ledger.setBatchState(theirs.id, 'downloaded', T);
        await ledger.endRun(otherRun);
        const run = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, run, [], newRequests(['a', 'b', 'd']), newRecords(['a', 'b', 'c', 'd']), T);
        const first = await ledger.openBatch(identity, run, 'nightly', 'n1', ['a'], T);
        await ledger.setRemote(first.id, 'msgbatch_n1', T);
        await ledger.settle(first.id, [done((await ledger.submittedOf(first.id)).get('a')!, '{"type":"succeeded"}')], T);
        await ledger.setBatchState(first.id, 'downloaded', T);
        const second = await ledger.openBatch(identity, run, 'nightly', 'n2', ['b'], T);
        await ledger.setRemote(second.id, 'msgbatch_n2', T);
        const third = await ledger.openBatch(identity, run, 'nightly', 'n3', ['d'], T);
        await ledger.endRun(run, { complete: false, now: T, scope: SCOPE });

        // 28 days on, b's batch may still be collected: only "other"'s batch goes.
        expect(await ledger.gcPreview(T + 1, T + 28 * DAY)).toEqual({ batches: 1, requests: 0 });
        expect(await ledger.gcBatchIds(T + 1, T + 28 * DAY)).toEqual([theirs.id]);
        expect(await ledger.gc(T + 1, T + 28 * DAY)).toEqual({ batches: 1, requests: 0 });
        // 31 days on (29, and a day's margin for clocks), nothing of the job can answer: its three
        // batches go, and a, b, c and d.
        // A dry run of a gc that keeps b's batch (the API still holds its results) counts it, and b, as kept.
        expect(await ledger.gcPreview(T + 1, T + 31 * DAY, [second.id])).toEqual({ batches: 2, requests: 3 });
        expect(await ledger.gcPreview(T + 1, T + 31 * DAY)).toEqual({ batches: 3, requests: 4 });
        expect((await ledger.gcBatchIds(T + 1, T + 31 * DAY)).sort((a, b) => a - b)).toEqual([first.id, second.id, third.id]);
        expect(await ledger.gc(T + 1, T + 31 * DAY)).toEqual({ batches: 3, requests: 4 });
        expect(await ledger.batches()).toEqual([]);
        expect(await ledger.request(SCOPE, 'b')).toBeUndefined();
      });

      it('a batch that can answer nothing more is not forgotten while its requests are kept (a run at work): a request waiting on a batch always has one', async () => {
        const [ledger, elsewhere] = (await workers(2)) as [LedgerStore, LedgerStore];
        const DAY = 24 * 60 * 60_000;
        const run = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, run, [SPEC], newRequests(['b']), newRecords(['b']), T);
        const { id } = await ledger.openBatch(identity, run, 'nightly', 'n1', ['b'], T);
        await ledger.setRemote(id, 'msgbatch_n1', T);
        await ledger.endRun(run);
        // A run of another job at work elsewhere (alive, its records out of reach): every request is
        // kept, and so is the batch they wait on.
        const other = await elsewhere.startRun('other', Date.now());
        expect(await ledger.gcBatchIds(T + 1, T + 31 * DAY)).toEqual([]);
        const counts = await ledger.gc(T + 1, T + 31 * DAY);
        expect(counts).toMatchObject({ batches: 0, requests: 0 });
        expect(await ledger.request(SCOPE, 'b')).toMatchObject({ state: 'submitted', batch_id: id });
        expect(await ledger.batch(id)).toMatchObject({ state: 'in_progress' });
        await elsewhere.endRun(other);
        expect(await ledger.gc(T + 1, T + 31 * DAY)).toEqual({ batches: 1, requests: 1 });
      });

      it('gc keeps what a try left waiting on a batch of another job (another run took the request first), once that job is finished', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const nightly = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, nightly, [SPEC], newRequests(['k', 'b']), newRecords(['k', 'b']), T);
        const other = await ledger.startRun('other', T);
        await ledger.intake(SCOPE, other, [], [], newRecords(['k']), T);
        const theirs = await ledger.openBatch(identity, other, 'other', 'o1', ['k'], T);
        await ledger.setRemote(theirs.id, 'msgbatch_o1', T);
        const mine = await ledger.openBatch(identity, nightly, 'nightly', 'n1', ['k', 'b'], T);
        expect(mine.keys).toEqual(['b']); // k's record waits on other's batch
        await ledger.setRemote(mine.id, 'msgbatch_n1', T);
        await ledger.endRun(nightly, { complete: false, now: T, scope: SCOPE }); // --no-wait
        await answerAndFinish(ledger, other, theirs.id, 'k', T + 1);
        await expectKeptByGc(ledger, 'k', T + 2); // nightly's next try would pay k again
      });

      it('gc keeps a request a job sent back for a retry that another job then sent and had answered', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const nightly = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, nightly, [SPEC], newRequests(['k', 'b']), newRecords(['k', 'b']), T);
        const n1 = await ledger.openBatch(identity, nightly, 'nightly', 'n1', ['k'], T);
        await ledger.setRemote(n1.id, 'msgbatch_n1', T);
        await ledger.settle(n1.id, [{ waiting: (await ledger.submittedOf(n1.id)).get('k')!, result: '{"type":"expired"}', retry: true }], T);
        await ledger.setBatchState(n1.id, 'downloaded', T);
        const n2 = await ledger.openBatch(identity, nightly, 'nightly', 'n2', ['b'], T);
        await ledger.setRemote(n2.id, 'msgbatch_n2', T);
        await ledger.endRun(nightly, { complete: false, now: T, scope: SCOPE }); // --no-wait
        await otherSendsAndFinishes(ledger, 'k', T + 1);
        await expectKeptByGc(ledger, 'k', T + 2);
      });

      it('gc keeps a request released by a failed create of a job that another job then sent and had answered', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const nightly = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, nightly, [SPEC], newRequests(['k']), newRecords(['k']), T);
        const n1 = await ledger.openBatch(identity, nightly, 'nightly', 'n1', ['k'], T);
        expect(await ledger.failBatch(n1.id, T, 'create refused', 'creating')).toBe(1);
        await ledger.endRun(nightly, { complete: false, now: T, scope: SCOPE }); // --no-wait
        await otherSendsAndFinishes(ledger, 'k', T + 1);
        await expectKeptByGc(ledger, 'k', T + 2);
      });

      it("gc keeps the requests of a job whose records all wait on another job's batch (it has no batch of its own)", async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const other = await ledger.startRun('other', T);
        await ledger.intake(SCOPE, other, [SPEC], newRequests(['k']), newRecords(['k']), T);
        const theirs = await ledger.openBatch(identity, other, 'other', 'o1', ['k'], T);
        await ledger.setRemote(theirs.id, 'msgbatch_o1', T);
        const nightly = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, nightly, [], [], newRecords(['k']), T); // k submitted in other's batch
        await ledger.endRun(nightly, { complete: false, now: T, scope: SCOPE }); // --no-wait: nothing of its own to send
        await answerAndFinish(ledger, other, theirs.id, 'k', T + 1);
        await expectKeptByGc(ledger, 'k', T + 2);
      });
      it('a try killed before its end (no endRun) still has its job keep what it read: noted as it was read', async () => {
        const [ledger, elsewhere] = (await workers(2)) as [LedgerStore, LedgerStore];
        const other = await elsewhere.startRun('other', T);
        await elsewhere.intake(SCOPE, other, [SPEC], newRequests(['k']), newRecords(['k']), T);
        const theirs = await elsewhere.openBatch(identity, other, 'other', 'o1', ['k'], T);
        await elsewhere.setRemote(theirs.id, 'msgbatch_o1', T);
        // nightly reads k, and is killed (SIGKILL, the OOM killer): no endRun.
        const nightly = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, nightly, [], [], newRecords(['k']), T);
        // A later run elsewhere forgets nightly's records (it has been silent too long).
        const later = T + RUN_RECORDS_STALE_MS + 1;
        await elsewhere.endRun(await elsewhere.startRun('x', later), { complete: true, now: later, scope: SCOPE });
        await answerAndFinish(elsewhere, other, theirs.id, 'k', later);
        expect(await elsewhere.gc(later + 1, later + 1)).toMatchObject({ requests: 0 });
        expect(await elsewhere.request(SCOPE, 'k')).toBeDefined();
      });

      /** A try of job "nightly" at T whose one batch answered `keys` (`{"type":"succeeded","<key>":1}`), and which is then killed (no endRun); its run. */
      async function answeredThenKilled(ledger: LedgerStore, keys: string[]): Promise<number> {
        const run = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, run, [SPEC], newRequests(keys), newRecords(keys), T);
        const batch = await ledger.openBatch(identity, run, 'nightly', 'n1', keys, T);
        await ledger.setRemote(batch.id, 'msgbatch_n1', T);
        const waiting = await ledger.submittedOf(batch.id);
        await ledger.settle(batch.id, keys.map((key) => done(waiting.get(key)!, `{"type":"succeeded","${key}":1}`)), T);
        await ledger.setBatchState(batch.id, 'downloaded', T);
        return run;
      }

      it("a try killed after its batch was answered, before its records were out (no endRun), keeps that batch and the requests it answered, until the job is left for good; not the job's earlier work", async () => {
        const [ledger, elsewhere] = (await workers(2)) as [LedgerStore, LedgerStore];
        const DAY = 24 * 60 * 60_000;
        // Last night's try of the job wrote every record: its work is not kept for tonight's.
        const last = await ledger.startRun('nightly', T - DAY);
        await ledger.intake(SCOPE, last, [SPEC], newRequests(['z']), newRecords(['z']), T - DAY);
        const before = await ledger.openBatch(identity, last, 'nightly', 'n0', ['z'], T - DAY);
        await ledger.setRemote(before.id, 'msgbatch_n0', T - DAY);
        await ledger.settle(before.id, [done((await ledger.submittedOf(before.id)).get('z')!, '{"type":"succeeded"}')], T - DAY);
        await ledger.setBatchState(before.id, 'downloaded', T - DAY);
        await ledger.endRun(last, { complete: true, now: T - DAY, scope: SCOPE });
        const nightly = await answeredThenKilled(ledger, ['a', 'b']);
        // Killed while writing its records (SIGKILL): no endRun. A later run elsewhere forgets its
        // records (it has been silent too long), and ends.
        const later = T + RUN_RECORDS_STALE_MS + 1;
        await elsewhere.endRun(await elsewhere.startRun('x', later), { complete: true, now: later, scope: SCOPE });
        expect(await elsewhere.run(nightly)).toBeUndefined();
        // gc --older-than 0: nightly's next try reads a and b again, and would pay for both; only
        // last night's batch and z go (the mark keeps what the killed try sent, not all of its job).
        expect(await elsewhere.gcPreview(later + 1, later + 1)).toEqual({ batches: 1, requests: 1 });
        expect(await elsewhere.gcBatchIds(later + 1, later + 1)).toEqual([before.id]);
        // What gc says it keeps, and for whom (the runs that ended have no mark).
        expect(await elsewhere.cutShort(later + 1, later + 1)).toEqual([{ job: 'nightly', run: nightly, startedAt: T, batches: 1 }]);
        expect(await elsewhere.gc(later + 1, later + 1)).toEqual({ batches: 1, requests: 1 });
        expect(await elsewhere.storedResult(SCOPE, 'b')).toBe('{"type":"succeeded","b":1}');
        expect(await elsewhere.request(SCOPE, 'z')).toBeUndefined();
        // 31 days on, the job was left: its batch can answer nothing more, and it goes with a and b.
        expect(await elsewhere.gc(later + 1, T + 31 * DAY)).toEqual({ batches: 1, requests: 2 });
      });

      it("a try killed after its batch was answered is covered by a later complete try of the job that read every request of that batch: its mark goes; not by one that read some (a shard)", async () => {
        const [ledger, elsewhere] = (await workers(2)) as [LedgerStore, LedgerStore];
        const killed = await answeredThenKilled(ledger, ['a', 'b']);
        // Killed (no endRun). Its rerun, elsewhere once it is taken for dead, reads only a (a shard) and writes every record.
        const later = T + RUN_RECORDS_STALE_MS + 1;
        const shard = await elsewhere.startRun('nightly', later);
        await elsewhere.intake(SCOPE, shard, [], [], newRecords(['a']), later);
        await elsewhere.endRun(shard, { complete: true, now: later, scope: SCOPE });
        expect(await elsewhere.cutShort(later + 1, later + 1)).toEqual([{ job: 'nightly', run: killed, startedAt: T, batches: 1 }]);
        expect(await elsewhere.gc(later + 1, later + 1)).toEqual({ batches: 0, requests: 0 });
        // The whole input again: every request of the killed try's batch read, and written out.
        const rerun = await elsewhere.startRun('nightly', later + 2);
        await elsewhere.intake(SCOPE, rerun, [], [], newRecords(['a', 'b']), later + 2);
        await elsewhere.endRun(rerun, { complete: true, now: later + 2, scope: SCOPE });
        expect(await elsewhere.cutShort(later + 3, later + 3)).toEqual([]);
        expect(await elsewhere.gc(later + 3, later + 3)).toEqual({ batches: 1, requests: 2 });
      });

      it('a try that ended before every record was out: stoppedEarly names its job, its notes and the batches gc keeps for them; a complete try clears the notes of what it read, not of what its input no longer has', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const run = await ledger.startRun('weekly', T);
        await ledger.intake(SCOPE, run, [SPEC], newRequests(['a', 'b']), newRecords(['a', 'b']), T);
        const batch = await ledger.openBatch(identity, run, 'weekly', 'w0', ['a', 'b'], T);
        await ledger.setRemote(batch.id, 'msgbatch_w0', T);
        const waiting = await ledger.submittedOf(batch.id);
        await ledger.settle(batch.id, [done(waiting.get('a')!, '{"type":"succeeded"}'), done(waiting.get('b')!, '{"type":"succeeded"}')], T);
        await ledger.setBatchState(batch.id, 'downloaded', T);
        await ledger.endRun(run, { complete: false, now: T, scope: SCOPE });
        expect(await ledger.stoppedEarly(T + 1, T + 1)).toEqual([{ job: 'weekly', notedAt: T, requests: 2, batches: 1 }]);
        // Its input changed: a complete try reads a only; b's note stays, and keeps the job.
        const rerun = await ledger.startRun('weekly', T + 2);
        await ledger.intake(SCOPE, rerun, [], [], newRecords(['a']), T + 2);
        await ledger.endRun(rerun, { complete: true, now: T + 2, scope: SCOPE });
        expect(await ledger.stoppedEarly(T + 3, T + 3)).toEqual([{ job: 'weekly', notedAt: T, requests: 1, batches: 1 }]);
        expect(await ledger.gc(T + 3, T + 3)).toEqual({ batches: 0, requests: 0 });
      });

      it('a try of a job that writes every record beside another try of the job keeps its notes: that try, killed, reads them again', async () => {
        const [ledger, elsewhere] = (await workers(2)) as [LedgerStore, LedgerStore];
        // D makes k; E, a try of the same job at the same time, reads k and sends it in its batch.
        const d = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, d, [SPEC], newRequests(['k']), newRecords(['k']), T);
        const e = await elsewhere.startRun('nightly', T);
        await elsewhere.intake(SCOPE, e, [], [], newRecords(['k']), T);
        const theirs = await elsewhere.openBatch(identity, e, 'nightly', 'e1', ['k'], T);
        await elsewhere.setRemote(theirs.id, 'msgbatch_e1', T);
        await elsewhere.settle(theirs.id, [done((await elsewhere.submittedOf(theirs.id)).get('k')!, '{"type":"succeeded"}')], T);
        await elsewhere.setBatchState(theirs.id, 'downloaded', T);
        await elsewhere.endRun(e, { complete: true, now: T, scope: SCOPE });
        // D is killed (no endRun), and forgotten by a later run; gc must keep k for D's rerun.
        const later = T + RUN_RECORDS_STALE_MS + 1;
        await elsewhere.endRun(await elsewhere.startRun('x', later), { complete: true, now: later, scope: SCOPE });
        await elsewhere.gc(later + 1, later + 1);
        expect(await elsewhere.storedResult(SCOPE, 'k')).toBe('{"type":"succeeded"}');
      });

      it('a try of a job that writes every record clears only its own notes: another try of the job (a shard) keeps what it read', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const other = await ledger.startRun('other', T);
        await ledger.intake(SCOPE, other, [SPEC], newRequests(['k']), newRecords(['k']), T);
        const theirs = await ledger.openBatch(identity, other, 'other', 'o1', ['k'], T);
        await ledger.setRemote(theirs.id, 'msgbatch_o1', T);
        const shard1 = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, shard1, [], [], newRecords(['k']), T);
        await ledger.endRun(shard1, { complete: false, now: T, scope: SCOPE }); // --no-wait: exit 75
        const shard2 = await ledger.startRun('nightly', T + 1);
        await ledger.intake(SCOPE, shard2, [], newRequests(['z']), newRecords(['z']), T + 1);
        await ledger.endRun(shard2, { complete: true, now: T + 1, scope: SCOPE });
        await answerAndFinish(ledger, other, theirs.id, 'k', T + 2);
        await ledger.gc(T + 3, T + 3); // z goes: pending, in no batch, and shard 2 is done with it
        expect(await ledger.request(SCOPE, 'k')).toBeDefined();
        expect(await ledger.request(SCOPE, 'z')).toBeUndefined();
      });

      it('a retry sent in a batch left past 29 days goes back to pending with its attempts, max_tokens and last result (as RETRY_WAITING keeps them), not deleted', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const DAY = 24 * 60 * 60_000;
        const run = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, run, [SPEC], newRequests(['b']), newRecords(['b']), T);
        const first = await ledger.openBatch(identity, run, 'nightly', 'n1', ['b'], T);
        await ledger.setRemote(first.id, 'msgbatch_1', T);
        await ledger.settle(first.id, [{ waiting: (await ledger.submittedOf(first.id)).get('b')!, result: '{"type":"truncated"}', retry: true, maxTokens: 64 }], T);
        await ledger.setBatchState(first.id, 'downloaded', T);
        const again = await ledger.openBatch(identity, run, 'nightly', 'n2', ['b'], T);
        await ledger.setRemote(again.id, 'msgbatch_2', T);
        await ledger.endRun(run);
        expect(await ledger.request(SCOPE, 'b')).toMatchObject({ state: 'submitted', attempts: 2, max_tokens: 64 });
        expect(await ledger.gcPreview(T + 1, T + 31 * DAY)).toEqual({ batches: 2, requests: 0 });
        expect(await ledger.gc(T + 1, T + 31 * DAY)).toEqual({ batches: 2, requests: 0 });
        // The next try sends b with max_tokens 64, not 5.
        expect(await ledger.request(SCOPE, 'b')).toMatchObject({ state: 'pending', batch_id: null, attempts: 2, max_tokens: 64 });
        expect(await ledger.storedResult(SCOPE, 'b')).toBe('{"type":"truncated"}');
      });

      it('a complete try clears the notes of its job, and an incomplete one of another job keeps only what its records point at', async () => {
        const [ledger] = (await workers(1)) as [LedgerStore];
        const run = await ledger.startRun('nightly', T);
        await ledger.intake(SCOPE, run, [SPEC], newRequests(['a', 'p', 'q']), newRecords(['a', 'p']), T);
        const mine = await ledger.openBatch(identity, run, 'nightly', 'n1', ['a'], T);
        await ledger.setRemote(mine.id, 'msgbatch_n1', T);
        await ledger.settle(mine.id, [done((await ledger.submittedOf(mine.id)).get('a')!, '{"type":"succeeded"}')], T);
        await ledger.setBatchState(mine.id, 'downloaded', T);
        await ledger.endRun(run, { complete: false, now: T, scope: SCOPE }); // stopped before p went out
        // "reader" points at q only, and stops too.
        const reader = await ledger.startRun('reader', T);
        await ledger.intake(SCOPE, reader, [], [], newRecords(['q']), T);
        await ledger.endRun(reader, { complete: false, now: T, scope: SCOPE });
        expect(await ledger.gc(T + 1, T + 1)).toEqual({ batches: 0, requests: 0 });
        // nightly's next try writes every record: its notes go, and its work with them; q stays for reader.
        const again = await ledger.startRun('nightly', T + 1);
        await ledger.intake(SCOPE, again, [], [], newRecords(['a', 'p']), T + 1);
        await ledger.endRun(again, { complete: true, now: T + 1, scope: SCOPE });
        expect(await ledger.gc(T + 2, T + 2)).toEqual({ batches: 1, requests: 2 });
        expect(await ledger.request(SCOPE, 'q')).toMatchObject({ state: 'pending' });
      });
    });

    describe('files written', () => {
      it('noteWritten: every worker reads the notes; a note made again is refreshed; gc forgets the ones older than its cut', async () => {
        const [a, b] = await workers(2);
        expect(await a!.writtenFiles()).toEqual([]);
        await a!.noteWritten([{ id: '1:10:100', path: '/d/out.ndjson', as: 'its output' }, { id: '1:11:100', path: '/d/s.json', as: 'its --summary' }], T);
        await b!.noteWritten([{ id: '1:10:100', path: '/d/out.ndjson', as: 'its standard output' }, { id: '1:10:100', path: '/d/out.ndjson', as: 'its standard output' }], T + 10);
        const byId = async (ledger: LedgerStore) => [...(await ledger.writtenFiles())].sort((x, y) => x.id.localeCompare(y.id));
        expect(await byId(a!)).toEqual([
          { id: '1:10:100', path: '/d/out.ndjson', as: 'its standard output' },
          { id: '1:11:100', path: '/d/s.json', as: 'its --summary' },
        ]);
        await b!.noteWritten([], T + 20);
        // The note of T goes, the one made again at T + 10 stays.
        await a!.gc(T + 5, T + 5);
        expect(await byId(b!)).toEqual([{ id: '1:10:100', path: '/d/out.ndjson', as: 'its standard output' }]);
      });
    });

    describe('uploads', () => {
      it('filesInUse: the file ids that the requests of a scope send, in any state (for gc to keep)', async () => {
        const [ledger] = await workers(1);
        const run = await ledger!.startRun('job', T);
        const doc = (id: string) => JSON.stringify([{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: id } }, { type: 'text', text: 'x' }] }]);
        await ledger!.intake(
          SCOPE,
          run,
          [SPEC],
          [
            { key: 'a', label: null, spec: SPEC.id, messages: doc('file_a') },
            { key: 'b', label: null, spec: SPEC.id, messages: JSON.stringify([{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: 'file_b' } }, { type: 'image', source: { type: 'file', file_id: 'file_c' } }] }]) },
            { key: 'plain', label: null, spec: SPEC.id, messages: '[{"role":"user","content":"file_id is only text here"}]' },
          ],
          [],
          T,
        );
        await ledger!.intake('another-scope', run, [], [{ key: 'o', label: null, spec: SPEC.id, messages: doc('file_other') }], [], T);
        const { id } = await ledger!.openBatch(identity, run, 'job', 'n1', ['a'], T);
        await ledger!.settle(id, [done((await ledger!.submittedOf(id)).get('a')!, '{"ok":1}')], T);
        expect([...(await ledger!.filesInUse(SCOPE))].sort()).toEqual(['file_a', 'file_b', 'file_c']);
        expect([...(await ledger!.filesInUse('another-scope'))]).toEqual(['file_other']);
        expect(await ledger!.filesInUse('nobody')).toEqual(new Set());
        // Past a gc (batch-enrich gc --dry-run): 'a', answered in a downloaded batch, and the pending
        // 'plain' go; 'b' waits on another job's batch, and keeps its files in use.
        await ledger!.openBatch(identity, run, 'job2', 'n2', ['b'], T);
        await ledger!.setBatchState(id, 'downloaded', T);
        await ledger!.endRun(run);
        expect([...(await ledger!.filesInUse(SCOPE, { before: T + 1, now: T + 1 }))].sort()).toEqual(['file_b', 'file_c']);
        expect([...(await ledger!.filesInUse(SCOPE))].sort()).toEqual(['file_a', 'file_b', 'file_c']);
      });

      it('records an upload before and after it, per identity, and forgets it', async () => {
        const [ledger, other] = (await workers(2)) as [LedgerStore, LedgerStore];
        await ledger.uploads.begin('scope-a', 'abc', 10, 1000);
        expect(await ledger.uploads.get('scope-a', 'abc')).toEqual({ sha256: 'abc', fileId: null, bytes: 10, expiresAt: null, startedAt: 1000 });
        await ledger.uploads.finish('scope-a', 'abc', 'file_1', 5000);
        await ledger.uploads.begin('scope-a', 'def', 20, 900);
        expect(await other.uploads.get('scope-a', 'abc')).toEqual({ sha256: 'abc', fileId: 'file_1', bytes: 10, expiresAt: 5000, startedAt: 1000 });
        expect(await other.uploads.get('scope-b', 'abc')).toBeUndefined();
        expect((await other.uploads.all('scope-a')).map((u) => u.sha256)).toEqual(['def', 'abc']);
        // Begun again (its file expired): the old file id is gone until the new upload ends.
        await other.uploads.begin('scope-a', 'abc', 11, 2000);
        expect(await ledger.uploads.get('scope-a', 'abc')).toEqual({ sha256: 'abc', fileId: null, bytes: 11, expiresAt: null, startedAt: 2000 });
        await ledger.uploads.forget('scope-a', 'abc');
        expect((await other.uploads.all('scope-a')).map((u) => u.sha256)).toEqual(['def']);
      });
    });

    describe('two workers on one store', () => {
      it('openBatch on the same keys at once: every key goes into exactly one batch', async () => {
        const [a, b] = (await workers(2)) as [LedgerStore, LedgerStore];
        const keys = keysFrom(2_000);
        const run = await a.startRun('job', T);
        await a.intake(SCOPE, run, [SPEC], newRequests(keys), [], T);
        const reversed = keys.toReversed();
        const opened = await Promise.all([
          ...[0, 1, 2].map((i) => a.openBatch(identity, run, 'job', `a${i}`, keys, T)),
          ...[0, 1, 2].map((i) => b.openBatch(identity, run, 'job', `b${i}`, reversed, T)),
        ]);
        const taken = opened.flatMap((batch) => batch.keys);
        expect(taken).toHaveLength(keys.length);
        expect(new Set(taken).size).toBe(keys.length);
        for (const batch of opened) {
          expect((await b.submittedOf(batch.id)).size).toBe(batch.keys.length);
          // Each batch's keys come back in the order it asked for them.
          const order = batch.keys.map((key) => keys.indexOf(key));
          const ascending = order.every((n, i) => i === 0 || n > order[i - 1]!);
          const descending = order.every((n, i) => i === 0 || n < order[i - 1]!);
          expect(ascending || descending).toBe(true);
        }
        for (const key of [keys[0]!, keys[999]!, keys[1999]!]) expect(await b.request(SCOPE, key)).toMatchObject({ state: 'submitted', attempts: 1 });
      });

      it('intake of the same new requests at once, in opposite orders (two jobs sharing work): each stored once, neither fails', async () => {
        const [a, b] = (await workers(2)) as [LedgerStore, LedgerStore];
        const keys = keysFrom(10_000);
        const [runA, runB] = [await a.startRun('job-a', T), await b.startRun('job-b', T)];
        const reversed = keys.toReversed();
        await a.intake(SCOPE, runA, [SPEC], [], [], T); // the spec is known: the two writes do not queue on it
        await Promise.all([
          a.intake(SCOPE, runA, [SPEC], newRequests(keys), newRecords(keys), T),
          b.intake(SCOPE, runB, [SPEC], newRequests(reversed), newRecords(reversed), T),
        ]);
        const { keys: taken } = await a.openBatch(identity, runA, 'job-a', 'n', keys, T);
        expect(taken).toEqual(keys);
        expect((await b.records(SCOPE, runB, 0, 1))[0]).toMatchObject({ key: keys.at(-1), state: 'submitted' });
        expect(await b.payload(SCOPE, keys[7]!)).toMatchObject({ messages: messagesOf(keys[7]!) });
      });

      it('one remote batch is claimed once across workers', async () => {
        const [a, b] = (await workers(2)) as [LedgerStore, LedgerStore];
        const rowA = (await a.openBatch(identity, 1, 'job', 'nA', [], T)).id;
        const rowB = (await b.openBatch(identity, 2, 'job', 'nB', [], T)).id;
        const [tookA, tookB] = await Promise.all([a.setRemote(rowA, 'msgbatch_x', T), b.setRemote(rowB, 'msgbatch_x', T)]);
        expect([tookA, tookB].filter(Boolean)).toHaveLength(1);
        const winner = tookA ? rowA : rowB;
        expect(await a.claimant('msgbatch_x')).toBe(winner);
        expect(await b.claimant('msgbatch_x')).toBe(winner);
        expect((await a.batches()).filter((row) => row.remote_id === 'msgbatch_x').map((row) => row.id)).toEqual([winner]);
      });

      it('a run the other worker saw dead cannot revive with a late beat', async () => {
        const [a, b] = (await workers(2)) as [LedgerStore, LedgerStore];
        const run = await a.startRun('job', T);
        const now = T + RUN_STALE_MS;
        expect(await b.runAlive(run, now)).toBe(false);
        expect(await a.heartbeat(run, now)).toBe(false);
        expect(await b.runAlive(run, now)).toBe(false);
        expect((await b.run(run))?.heartbeat_at).toBe(T);
      });

      it('failBatch from a state another worker moved on is a no-op', async () => {
        const [a, b] = (await workers(2)) as [LedgerStore, LedgerStore];
        const run = await a.startRun('job', T);
        await a.intake(SCOPE, run, [SPEC], newRequests(['x', 'y']), [], T);
        const { id } = await a.openBatch(identity, run, 'job', 'n', ['x', 'y'], T);
        // Worker b adopted the batch (proven by its nonce) while worker a decided it was never made.
        expect(await b.setRemote(id, 'msgbatch_adopted', T + 1)).toBe(true);
        expect(await a.failBatch(id, T + 2, 'not created', 'creating')).toBeUndefined();
        expect(await a.batch(id)).toMatchObject({ state: 'in_progress', remote_id: 'msgbatch_adopted', error: null });
        expect(await a.request(SCOPE, 'x')).toMatchObject({ state: 'submitted', batch_id: id, attempts: 1 });
        // And the other way round: once failed, it cannot be recorded as created.
        const second = await a.openBatch(identity, run, 'job', 'n2', [], T);
        const [failed, created] = await Promise.all([a.failBatch(second.id, T + 3, 'not created', 'creating'), b.setRemote(second.id, 'msgbatch_late', T + 3)]);
        expect(failed === undefined).toBe(created);
      });

      it('both workers settle the same results at once: each takes effect once, harmlessly', async () => {
        const [a, b] = (await workers(2)) as [LedgerStore, LedgerStore];
        const keys = keysFrom(200);
        const run = await a.startRun('job', T);
        await a.intake(SCOPE, run, [SPEC], newRequests(keys), [], T);
        const { id } = await a.openBatch(identity, run, 'job', 'n', keys, T);
        const waiting = await b.submittedOf(id);
        const settlements = keys.map((key, i) => (i % 2 === 0 ? done(waiting.get(key)!, `{"key":"${key}"}`) : { waiting: waiting.get(key)!, result: `{"retry":"${key}"}`, retry: true }));
        const [byA, byB] = await Promise.all([a.settle(id, settlements, T + 1), b.settle(id, settlements, T + 1)]);
        keys.forEach((_, i) => expect(Number(byA[i]) + Number(byB[i])).toBe(1));
        for (const key of [keys[0]!, keys[1]!, keys[198]!, keys[199]!]) {
          const retried = keys.indexOf(key) % 2 === 1;
          expect(await a.storedResult(SCOPE, key)).toBe(retried ? `{"retry":"${key}"}` : `{"key":"${key}"}`);
          expect(await b.request(SCOPE, key)).toMatchObject({ state: retried ? 'pending' : 'done' });
        }
        expect(await a.unanswered(id)).toEqual([]);
      });
    });
  });
}
