/**
 * Never pay twice under the faults production has: creates whose answer is lost or that never reached
 * the API while other batches of the same size exist (another run, another job on the same key),
 * runs that look alive but are not (a container's PID 1, a reused pid), and 404s that are the API's
 * propagation delay rather than a batch gone.
 *
 * "Paid twice" is counted on the emulator: every request it received was billed (the responder
 * always succeeds), and a request key that reached it twice was paid twice.
 */
import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import { createClient } from '../src/client/client.ts';
import { describe, expect, it } from 'vitest';
import type { EmulatorHandle } from '../src/emulator/index.ts';
import type { BatchEvent } from '../src/stages/batch.ts';
import { emulator, enrich, FORGET_ANSWERS, paidTwice, perRecord, tamper, tempLedger } from './helpers/pipeline.ts';
import { faultProxy, isCreate, isList, isResults, isRetrieve, type Call } from './helpers/proxy.ts';

const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ id: String(from + i), text: `text ${from + i}` }));
const ok = (out: Record<string, unknown>[]) => out.every((r) => r['_error'] === undefined && r['label'] === `label-${r['id']}`);
/** Every record answered, by one batch, and no request paid twice. */
function expectPaidOnce(emu: EmulatorHandle, out: Record<string, unknown>[]): void {
  expect(ok(out)).toBe(true);
  expect(paidTwice(emu)).toEqual([]);
  expect(emu.batches()).toHaveLength(1);
}


function remoteIds(ledger: string): string[] {
  const db = new Database(ledger, { readonly: true });
  const ids = db.prepare('SELECT remote_id FROM batches WHERE remote_id IS NOT NULL').all() as { remote_id: string }[];
  db.close();
  return ids.map((row) => row.remote_id);
}

/** Another job's batch of `n` requests on the same key (custom_ids that are not ours). */
async function foreignBatch(emu: EmulatorHandle, n: number) {
  const client = new Anthropic({ apiKey: 'test-key', baseURL: emu.url });
  return client.messages.batches.create({
    requests: Array.from({ length: n }, (_, i) => ({
      custom_id: `someone-else-${i}`,
      params: { model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: `item ${900 + i}: theirs` }] },
    })),
  });
}

/** Holds the first `count` creates until all of them arrived, then forwards them and loses their answers. */
function loseTogether(count: number) {
  let arrived = 0;
  let open = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  return async (call: Call) => {
    if (!isCreate(call) || call.n >= count) return 'pass' as const;
    if (++arrived === count) open();
    await gate;
    return 'lose' as const;
  };
}

describe('adoption by proof', () => {
  it("a create refused with a 500 (never made) does not adopt another job's batch of the same size", async () => {
    const emu = await emulator({ responder: perRecord });
    const theirs = await foreignBatch(emu, 4);
    const proxy = await faultProxy(emu.url, (call) => (isCreate(call) && call.n === 0 ? 'refuse' : 'pass'));
    const ledger = tempLedger();
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(4), { baseURL: proxy.url, ledger, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(events.filter((e) => e.type === 'adopted')).toEqual([]);
    expect(remoteIds(ledger)).not.toContain(theirs.id);
    expect(out.every((r) => (r['_meta'] as { batch_id?: string } | undefined)?.batch_id !== theirs.id)).toBe(true);
    // Their batch was neither canceled nor deleted, and ours was paid once.
    const seen = await new Anthropic({ apiKey: 'test-key', baseURL: emu.url }).messages.batches.retrieve(theirs.id);
    expect(seen.cancel_initiated_at).toBeNull();
    expect(paidTwice(emu)).toEqual([]);
  });

  it('two runs on one ledger whose creates are both lost never adopt the same batch', async () => {
    const emu = await emulator({ responder: perRecord });
    const proxy = await faultProxy(emu.url, loseTogether(2));
    const ledger = tempLedger();
    const [a, b] = await Promise.all([enrich(emu, rows(5), { baseURL: proxy.url, ledger }), enrich(emu, rows(5, 100), { baseURL: proxy.url, ledger })]);
    expect(ok(a) && ok(b)).toBe(true);
    expect(paidTwice(emu)).toEqual([]);
    const ids = remoteIds(ledger);
    expect(new Set(ids).size).toBe(ids.length);
    expect(emu.batches()).toHaveLength(2);
  });

  it('two jobs on one key, each with its own ledger, whose creates are lost adopt only their own batches', async () => {
    const emu = await emulator({ responder: perRecord });
    const proxy = await faultProxy(emu.url, loseTogether(2));
    const [la, lb] = [tempLedger(), tempLedger()];
    const [a, b] = await Promise.all([enrich(emu, rows(5), { baseURL: proxy.url, ledger: la }), enrich(emu, rows(5, 100), { baseURL: proxy.url, ledger: lb })]);
    expect(ok(a) && ok(b)).toBe(true);
    expect(paidTwice(emu)).toEqual([]);
    expect(emu.batches()).toHaveLength(2);
    expect(remoteIds(la)).toHaveLength(1);
    expect(remoteIds(lb)).toHaveLength(1);
    expect(remoteIds(la)[0]).not.toBe(remoteIds(lb)[0]);
  });
});

describe('adoption by proof, when the list is late or the clocks disagree', () => {
  // helper-66: three looks at the list, a second or two apart at the default poll interval, and the
  // create was taken for not made: a batch the list showed 8 s after it was made was paid twice.
  it('a lost create whose batch the list shows only 8 s later is adopted, not made again', async () => {
    const { emu, out, events } = await listedLate(8_000, { pollMinMs: undefined, pollMaxMs: undefined });
    expectPaidOnce(emu, out);
    expect(events.filter((e) => e.type === 'adopted')).toHaveLength(1);
  });

  // The minute was 60 poll intervals: at --poll-min 0.01 a search of 0.6 s took a batch the list showed
  // late for one never made, and each try paid again (18 batches for 12 records over three tries).
  it('a lost create is searched for a minute at least, however short the poll interval', async () => {
    const { emu, out } = await listedLate(30_000, { pollMinMs: 10, pollMaxMs: 100 });
    expectPaidOnce(emu, out);
  });

  /** A run (on a virtual clock) whose first create's answer is lost, and whose batch the list shows only `lagMs` after. */
  async function listedLate(lagMs: number, polls: { pollMinMs: number | undefined; pollMaxMs: number | undefined }) {
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now });
    let lostAt: number | undefined;
    const proxy = await faultProxy(emu.url, (call) => {
      if (isCreate(call) && call.n === 0) {
        lostAt = t;
        return 'lose';
      }
      return isList(call) && lostAt !== undefined && t - lostAt < lagMs ? 'empty-list' : 'pass';
    });
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(4), { baseURL: proxy.url, clock, ...polls, onEvent: (e) => events.push(e) });
    return { emu, out, events };
  }

  // helper-67: the minute was counted from the row, written before the first attempt: a lost create
  // after a refused one (or a long retry-after) was searched for with three quick looks, and paid twice.
  it.each([0, 90_000])('a lost create after a refused attempt (%i ms later) is searched for a full minute from its loss', async (wait) => {
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now });
    let lostAt: number | undefined;
    const proxy = await faultProxy(emu.url, (call) => {
      if (isCreate(call) && call.n === 0) {
        t += wait;
        return 'refuse';
      }
      if (isCreate(call) && call.n === 1) {
        lostAt = t;
        return 'lose';
      }
      return isList(call) && lostAt !== undefined && t - lostAt < 8_000 ? 'empty-list' : 'pass';
    });
    const out = await enrich(emu, rows(4), { baseURL: proxy.url, clock, pollMinMs: undefined, pollMaxMs: undefined });
    expectPaidOnce(emu, out);
  });

  // helper-67: the row's time is its writer's clock, the offset the searcher's: a try 15 minutes ahead
  // lost its create, a try on time then found nothing, and paid again.
  it('a lost create of a try whose clock was 15 minutes ahead, resolved by a try on time, is adopted', async () => {
    const HOUR = 3_600_000;
    let t = Date.now();
    const emu = await emulator({ responder: perRecord, now: () => t, processingMs: HOUR });
    const proxy = await faultProxy(emu.url, (call) => (isCreate(call) && call.n === 0 ? 'lose' : 'pass'));
    const ledger = tempLedger();
    const ahead = { now: () => t + 15 * 60_000, sleep: async (ms: number) => void (t += ms) };
    await expect(enrich(emu, rows(4), { baseURL: proxy.url, ledger, clock: ahead, noWait: true, pollMinMs: undefined, pollMaxMs: undefined })).rejects.toMatchObject({ code: 'BE_PENDING' });
    t += 2 * HOUR;
    const onTime = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const out = await enrich(emu, rows(4), { baseURL: proxy.url, ledger, clock: onTime, noWait: true, pollMinMs: undefined, pollMaxMs: undefined });
    expectPaidOnce(emu, out);
  });

  // helper-66: the window the list is searched in was our clock's; a machine 15 minutes off never
  // found the batch its lost create made, and paid again.
  it.each([15, -15])('a lost create on a machine whose clock is %i minutes off the API\'s is adopted, not made again', async (minutes) => {
    const emu = await emulator({ responder: perRecord });
    const proxy = await faultProxy(emu.url, (call) => (isCreate(call) && call.n === 0 ? 'lose' : 'pass'));
    const clock = { now: () => Date.now() + minutes * 60_000, sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)) };
    const out = await enrich(emu, rows(4), { baseURL: proxy.url, clock });
    expectPaidOnce(emu, out);
  });
});

describe('adoption by proof, in a run that waits', () => {
  // helper-66 (left undone in stop 45): the submitter followed a lost create's candidate to its end
  // inside the assembler's flush, so no other batch was created meanwhile (hours on the API).
  it("a lost create whose candidate runs for an hour does not hold back the run's other batches; nothing is paid twice", async () => {
    const HOUR = 3_600_000;
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now, processingMs: HOUR });
    const started = t;
    let secondCreateAt: number | undefined;
    const proxy = await faultProxy(emu.url, (call) => {
      if (isCreate(call) && call.n === 1) secondCreateAt = t;
      return isCreate(call) && call.n === 0 ? 'lose' : 'pass';
    });
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(8), { baseURL: proxy.url, clock, batchSize: 4, pollMinMs: undefined, pollMaxMs: undefined, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(out.map((r) => r['id'])).toEqual(rows(8).map((r) => r.id));
    expect(paidTwice(emu)).toEqual([]);
    expect(emu.batches()).toHaveLength(2);
    expect(events.filter((e) => e.type === 'adopted')).toHaveLength(1);
    // The second batch went out while the first (lost) one still ran, not an hour later.
    expect(secondCreateAt! - started).toBeLessThan(10 * 60_000);
  });

  // helper-70: the run's next batch, of the same size, showed in the list before its create had
  // answered (and its row claimed it): the search took it for a candidate and followed it to its end
  // (an hour here; up to 24 on the API) before it could find that the lost create made nothing.
  it("a lost create that made nothing is sent again after the search's minute, not once the run's own next batch has ended", async () => {
    let t = Date.now();
    // A thousand times faster than real time, not instant: the create answered 200 ms (real) after its
    // batch is made (the window in which the list shows it unclaimed) is 200 s on this clock.
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms, await new Promise((resolve) => setTimeout(resolve, ms / 1000))) };
    const emu = await emulator({ responder: perRecord, now: clock.now, processingMs: 20 * 60_000, createLatencyMs: 200 });
    const started = t;
    const creates: number[] = [];
    const proxy = await faultProxy(emu.url, (call) => {
      if (isCreate(call)) creates.push(t - started);
      return isCreate(call) && call.n === 0 ? 'refuse' : 'pass';
    });
    const out = await enrich(emu, rows(8), { baseURL: proxy.url, clock, batchSize: 4, pollMinMs: undefined, pollMaxMs: undefined });
    expect(ok(out)).toBe(true);
    expect(paidTwice(emu)).toEqual([]);
    expect(creates).toHaveLength(3);
    expect(creates[2]!).toBeLessThan(10 * 60_000);
  });
});

describe('adoption by proof, in a --no-wait try', () => {
  // helper-66: a try whose create answer was lost followed the batch it found until that batch ended
  // (up to 24 h on the API) before it made any other batch or said anything: a scheduler's --no-wait
  // try sat silent for the whole time instead of exiting 75.
  it('a lost create whose candidate still runs ends the try as pending at once; a later try adopts it, and nothing is paid twice', async () => {
    const HOUR = 3_600_000;
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now, processingMs: HOUR });
    const proxy = await faultProxy(emu.url, (call) => (isCreate(call) && call.n === 0 ? 'lose' : 'pass'));
    const ledger = tempLedger();
    const started = t;
    await expect(enrich(emu, rows(4), { baseURL: proxy.url, ledger, clock, noWait: true, pollMinMs: undefined, pollMaxMs: undefined })).rejects.toMatchObject({ code: 'BE_PENDING', records: 4 });
    expect(t - started).toBeLessThan(10 * 60_000);
    expect(emu.batches()).toHaveLength(1);
    t += 2 * HOUR; // the batch ends
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(4), { baseURL: proxy.url, ledger, clock, noWait: true, pollMinMs: undefined, pollMaxMs: undefined, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(events.filter((e) => e.type === 'adopted')).toHaveLength(1);
    expect(emu.batches()).toHaveLength(1);
    expect(paidTwice(emu)).toEqual([]);
  });
});

describe('adoption by proof, two lost creates of one dead run', () => {
  it('two of its batches of the same size, both still running, are each adopted by their own row: none is paid again', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 600 });
    const ledger = tempLedger();
    const controller = new AbortController();
    let submitted = 0;
    // Two batches of 5 are created; the run stops while both still run.
    const first = enrich(emu, rows(10), { ledger, batchSize: 5, signal: controller.signal, onEvent: (e) => e.type === 'submitted' && ++submitted === 2 && controller.abort() });
    await expect(first).rejects.toMatchObject({ code: 'BE_ABORTED' });
    expect(emu.batches()).toHaveLength(2);
    // As if that run had died before either create answered: both rows `creating`, no remote id, nothing claimed.
    tamper(ledger, "UPDATE batches SET state = 'creating', remote_id = NULL, run = 999999");
    tamper(ledger, 'DELETE FROM claims');
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(10), { ledger, batchSize: 5, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(emu.batches()).toHaveLength(2);
    expect(paidTwice(emu)).toEqual([]);
    expect(events.filter((e) => e.type === 'adopted')).toHaveLength(2);
  });
});

describe('runs that cannot be confused', () => {
  it('a run whose pid is alive but that keeps no heartbeat (a container PID 1, a reused pid) does not wedge the ledger', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    const first = await enrich(emu, rows(4), { ledger });
    // A run of a process that is alive on this machine (this very one), that never wrote a heartbeat:
    const run = Number(tamper(ledger, "INSERT INTO runs (job, pid, started_at) VALUES ('elsewhere', ?, 0)", process.pid).lastInsertRowid);
    tamper(ledger, "UPDATE batches SET state = 'creating', remote_id = NULL, run = ?", run);
    tamper(ledger, FORGET_ANSWERS);
    tamper(ledger, 'DELETE FROM results');
    const events: BatchEvent[] = [];
    const wedged = new Promise<'wedged'>((resolve) => setTimeout(() => resolve('wedged'), 10_000).unref());
    const second = await Promise.race([enrich(emu, rows(4), { ledger, onEvent: (e) => events.push(e) }), wedged]);
    expect(second).toEqual(first);
    expect(emu.stats.calls['batches.create']).toBe(1);
    expect(events).toContainEqual(expect.objectContaining({ type: 'adopted', requests: 4 }));
  });

  it('a run that waits on another live run says whose, and takes over once that run stops beating', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    await enrich(emu, rows(3), { ledger });
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const run = Number(tamper(ledger, "INSERT INTO runs (job, pid, started_at, host, heartbeat_at) VALUES ('j', 4242, ?, 'worker-7', ?)", t - 60_000, t).lastInsertRowid);
    tamper(ledger, "UPDATE batches SET state = 'creating', remote_id = NULL, run = ?", run);
    tamper(ledger, FORGET_ANSWERS);
    tamper(ledger, 'DELETE FROM results');
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(3), { ledger, clock, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'waiting', host: 'worker-7', pid: 4242, ageMs: expect.any(Number) }));
    expect(emu.stats.calls['batches.create']).toBe(1);
  });
});

describe('a 404 is a question, not an answer', () => {
  it('a batch created more than two minutes ago that answers 404 a few times is followed, not paid again', async () => {
    const emu = await emulator({ responder: perRecord });
    let notFound = 0;
    const proxy = await faultProxy(emu.url, (call) => (isRetrieve(call) && notFound-- > 0 ? 'not-found' : 'pass'));
    const ledger = tempLedger();
    await enrich(emu, rows(3), { ledger, baseURL: proxy.url });
    // As a run killed right after its create left it: in progress, created 125 s ago, no answer stored.
    tamper(ledger, "UPDATE batches SET state = 'in_progress', created_at = ?", Date.now() - 125_000);
    tamper(ledger, FORGET_ANSWERS);
    tamper(ledger, 'DELETE FROM results');
    notFound = 3;
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(3), { ledger, baseURL: proxy.url, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(events.filter((e) => e.type === 'released')).toEqual([]);
    expect(emu.stats.calls['batches.create']).toBe(1);
    expect(paidTwice(emu)).toEqual([]);
  });

  it('a batch gone for good (404 for minutes, and not in the list) has its requests submitted again', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    await enrich(emu, rows(3), { ledger });
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    tamper(ledger, "UPDATE batches SET state = 'in_progress', remote_id = 'msgbatch_gone', created_at = ?", t - 3_600_000);
    tamper(ledger, FORGET_ANSWERS);
    tamper(ledger, 'DELETE FROM results');
    const events: BatchEvent[] = [];
    const started = t;
    const out = await enrich(emu, rows(3), { ledger, clock, pollMinMs: undefined, pollMaxMs: undefined, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'released', batchId: 'msgbatch_gone', requests: 3 }));
    // Only after several minutes of 404s, from this run's first look.
    expect(t - started).toBeGreaterThanOrEqual(5 * 60_000);
  });
});

describe('a results file that ends early', () => {
  // helper-66: a results download that ended cleanly half way (a proxy, a load balancer) left half the
  // batch "unanswered": those requests were submitted and paid again, and came out as missing_result.
  it('is downloaded again, not taken for missing answers: nothing is paid twice and every record is answered', async () => {
    const emu = await emulator({ responder: perRecord });
    const proxy = await faultProxy(emu.url, (call) => (isResults(call) && call.n < 2 ? 'truncate' : 'pass'), { results: true });
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(20), { baseURL: proxy.url, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(paidTwice(emu)).toEqual([]);
    expect(emu.stats.calls['batches.create']).toBe(1);
    expect(proxy.calls.filter(isResults)).toHaveLength(3);
    const retries = events.filter((e): e is Extract<BatchEvent, { type: 'retry' }> => e.type === 'retry');
    expect(retries.map((e) => e.message)).toEqual([expect.stringMatching(/ended after 10 of the batch's 20 results/), expect.stringMatching(/ended after 10 of the batch's 20 results/)]);
  });

  it('that stays short fails the run, naming the batch, rather than paying again for what the file left out', async () => {
    const emu = await emulator({ responder: perRecord });
    const proxy = await faultProxy(emu.url, (call) => (isResults(call) ? 'truncate' : 'pass'), { results: true });
    await expect(enrich(emu, rows(20), { baseURL: proxy.url, pollMinMs: 1, pollMaxMs: 5 })).rejects.toThrow(/Downloading the results of batch msgbatch_\w+ failed: .*ended after 10 of the batch's 20 results/);
    expect(paidTwice(emu)).toEqual([]);
    expect(emu.stats.calls['batches.create']).toBe(1);
  });
});

describe('an answer broken off half way', () => {
  // helper-66: one poll (or list) answer cut mid-body ended an hours-long run with exit 1 ("Polling
  // batch … failed: terminated"), though a failing poll is tried again.
  it('a poll whose answer breaks off is tried again, not the end of the run', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 50 });
    const proxy = await faultProxy(emu.url, (call) => (isRetrieve(call) && call.n === 0 ? 'cut-body' : 'pass'));
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(3), { baseURL: proxy.url, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    expect(events.some((e) => e.type === 'retry' && e.what.startsWith('poll'))).toBe(true);
  });

  it('a list answer that breaks off while a lost create is searched for is looked at again', async () => {
    const emu = await emulator({ responder: perRecord });
    const proxy = await faultProxy(emu.url, (call) => (isCreate(call) && call.n === 0 ? 'lose' : isList(call) && call.n === 0 ? 'cut-body' : 'pass'));
    const out = await enrich(emu, rows(3), { baseURL: proxy.url });
    expectPaidOnce(emu, out);
  });
});

describe('waits between failed tries', () => {
  it('a failing poll is tried again within a minute, although the poll interval had grown past it', async () => {
    const HOUR = 3_600_000;
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now, processingMs: HOUR });
    // Polls 0-7 pass (the interval grows to minutes); then every try of poll 8 fails (with the SDK's own retries).
    const proxy = await faultProxy(emu.url, (call) => (isRetrieve(call) && call.n >= 8 && call.n < 11 ? 'refuse' : 'pass'));
    const events: BatchEvent[] = [];
    const out = await enrich(emu, rows(2), { baseURL: proxy.url, clock, pollMinMs: undefined, pollMaxMs: undefined, onEvent: (e) => events.push(e) });
    expect(ok(out)).toBe(true);
    const retries = events.filter((e): e is Extract<BatchEvent, { type: 'retry' }> => e.type === 'retry');
    expect(retries.length).toBeGreaterThan(0);
    expect(Math.max(...retries.map((e) => e.delayMs))).toBeLessThanOrEqual(60_000);
  });
});

describe('the request key', () => {
  it('--id-field changes only the readable prefix of the custom_id: a rerun without it pays nothing', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    const first = await enrich(emu, rows(3), { ledger, idField: 'id' });
    expect([...emu.submittedCustomIds().keys()].every((id) => /^[A-Za-z0-9]{6}_\d-/.test(id))).toBe(true);
    const second = await enrich(emu, rows(3), { ledger });
    expect(emu.stats.calls['batches.create']).toBe(1);
    expect(second.map((r) => r['label'])).toEqual(first.map((r) => r['label']));
  });
});

describe('an API that cannot be reached', () => {
  it('a run whose polls reach nothing for minutes stops, naming the host and the cause', async () => {
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now, processingMs: 3_600_000 });
    const proxy = await faultProxy(emu.url, (call) => (isRetrieve(call) ? 'drop' : 'pass'));
    const client = createClient({ apiKey: 'test-key', baseURL: proxy.url, maxRetries: 0 });
    const events: BatchEvent[] = [];
    const started = t;
    await expect(enrich(emu, rows(2), { client, clock, pollMinMs: undefined, pollMaxMs: undefined, onEvent: (e) => events.push(e) })).rejects.toMatchObject({
      code: 'BE_API',
      message: expect.stringMatching(new RegExp(`Cannot reach the API at ${new URL(proxy.url).host} .*: Connection error: other side closed`)),
    });
    expect(t - started).toBeGreaterThanOrEqual(3 * 60_000);
    expect(t - started).toBeLessThan(6 * 60_000);
    // Every failed try said which call, where, why, and the next wait.
    const retries = events.filter((e): e is Extract<BatchEvent, { type: 'retry' }> => e.type === 'retry');
    expect(retries.length).toBeGreaterThan(2);
    for (const retry of retries) expect(retry).toMatchObject({ what: expect.stringContaining(new URL(proxy.url).host), message: 'Connection error: other side closed' });
  });

  // helper-54: a scheduler's `--no-wait` try against an API it could not reach retried for 3
  // minutes, then exited 1 (a failure to alert on) instead of 75 (try again later).
  it('with noWait, polls that reach nothing end the try within a minute or two as pending (try again later), not as a failure', async () => {
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now, processingMs: 3_600_000 });
    const proxy = await faultProxy(emu.url, (call) => (isRetrieve(call) ? 'drop' : 'pass'));
    const client = createClient({ apiKey: 'test-key', baseURL: proxy.url, maxRetries: 0 });
    const started = t;
    await expect(enrich(emu, rows(2), { client, clock, noWait: true, pollMinMs: undefined, pollMaxMs: undefined })).rejects.toMatchObject({
      code: 'BE_PENDING',
      records: 2,
      message: expect.stringMatching(new RegExp(`^Cannot reach the API at ${new URL(proxy.url).host} .*; nothing was written: run the same command again later`)),
    });
    expect(t - started).toBeGreaterThanOrEqual(60_000);
    expect(t - started).toBeLessThan(3 * 60_000);
  });

  // helper-58: a wrong base URL (connection refused) still exited 75 at every try: the create's row,
  // never sent, stayed `creating` once the minute without an answer had passed, its requests counted
  // as in flight; the next try searched for it and failed the same way.
  it('with noWait, an API that refuses every connection from the first try fails the try, and the next, and leaves no batch being created', async () => {
    let t = Date.now();
    // Each try of the create takes 15 s too (a slow DNS): the minute without an answer passes before the tries run out.
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms + 15_000) };
    const emu = await emulator({ responder: perRecord, now: clock.now });
    const ledger = tempLedger();
    const client = createClient({ apiKey: 'test-key', baseURL: 'http://127.0.0.1:1', maxRetries: 0 });
    for (let attempt = 0; attempt < 2; attempt++) {
      await expect(enrich(emu, rows(2), { client, clock, ledger, noWait: true })).rejects.toMatchObject({ code: 'BE_API', message: expect.stringMatching(/^Cannot reach the API at 127\.0\.0\.1:1 \(no answer for 1 minute\)/) });
    }
    const db = new Database(ledger, { readonly: true });
    expect(db.prepare("SELECT state, COUNT(*) AS n FROM batches GROUP BY state").all()).toEqual([{ state: 'failed', n: 2 }]);
    db.close();
  });

  // helper-57: a try that could start nothing (a wrong ANTHROPIC_BASE_URL, say) is a failure to
  // alert on, not "try again later": the README's loop would retry it for ever.
  it('with noWait, a try with nothing in flight whose creates the API keeps refusing (500s) fails (exit 1), not pending', async () => {
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now });
    let refusing = true;
    const proxy = await faultProxy(emu.url, (call) => (isCreate(call) && refusing ? 'refuse' : 'pass'));
    const ledger = tempLedger();
    const client = createClient({ apiKey: 'test-key', baseURL: proxy.url, maxRetries: 0 });
    await expect(enrich(emu, rows(2), { client, clock, ledger, noWait: true })).rejects.toMatchObject({ code: 'BE_API', message: expect.stringMatching(/^Creating a batch of 2 requests failed: 500 /) });
    expect(emu.stats.calls['batches.create'] ?? 0).toBe(0);
    refusing = false;
    expect(ok(await enrich(emu, rows(2), { client, clock, ledger }))).toBe(true);
    expect(emu.stats.requestsSubmitted).toBe(2);
  });
});
