/**
 * The ledger contract on PostgreSQL (the server the test setup started; a new database per test,
 * opened twice for two workers), and what only PostgreSQL has: URLs with passwords, a server that
 * refuses, the schema made once by workers starting together.
 */
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Ledger, RUN_RECORDS_STALE_MS, RUN_STALE_MS } from '../../src/ledger/ledger.ts';
import { isPostgresUrl, openLedger } from '../../src/ledger/open.ts';
import { GC_LOCK, PG_SCHEMA_VERSION, PgLedger } from '../../src/ledger/postgres.ts';
import { redactUrl } from '../../src/ledger/url.ts';
import { ledgerBusy, type LedgerStore, type Settlement } from '../../src/ledger/store.ts';
import { expectError } from '../helpers/expect-error.ts';
import { freshDatabase, freshSchema, postgres } from '../helpers/postgres.ts';
import { ledgerContract } from './contract.ts';

if (!postgres.url) console.warn(`Skipping the PostgreSQL ledger tests: ${postgres.reason}`);

/**
 * Runs `step` as on a machine whose clock is `skew` ms off (positive: ahead): `Date.now`, the clock a
 * worker's steps and its ledger read, reads that clock meanwhile.
 */
async function onClock<T>(skew: number, step: () => Promise<T>): Promise<T> {
  const real = Date.now;
  const clock = vi.spyOn(Date, 'now').mockImplementation(() => real() + skew);
  try {
    return await step();
  } finally {
    clock.mockRestore();
  }
}

describe('PostgreSQL URLs', () => {
  it.each([
    ['postgres://app:s3cret@db.internal:5432/jobs', 'postgres://app@db.internal:5432/jobs'],
    ['postgresql://app:s3cret@db.internal/jobs?sslmode=require&password=s3cret', 'postgresql://app@db.internal/jobs?sslmode=require'],
    ['postgres://db.internal/jobs', 'postgres://db.internal/jobs'],
    ['postgres://app:s3cret@[bad/jobs', 'postgres://(an unreadable URL)'],
  ])('%s is shown as %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it('postgres:// and postgresql:// name PostgreSQL; file paths and :memory: name SQLite', () => {
    expect(['postgres://h/db', 'postgresql://h/db', ' POSTGRES://h/db'].map(isPostgresUrl)).toEqual([true, true, true]);
    expect(['ledger.db', '/tmp/postgres/ledger.db', ':memory:', 'postgres.db'].map(isPostgresUrl)).toEqual([false, false, false, false]);
  });
});

describe.skipIf(!postgres.url)('PostgreSQL', () => {
  ledgerContract('PostgreSQL', async () => {
    const url = await freshSchema();
    return () => PgLedger.open(url);
  });

  it('a gc holds up no heartbeat (a run held up 30 s is taken for dead), only the start of a run', async () => {
    const url = await freshSchema();
    const ledger = await PgLedger.open(url);
    const gcSide = new pg.Client({ connectionString: url });
    await gcSide.connect();
    try {
      const run = await ledger.startRun('job', Date.now());
      // What a gc holds while it decides what to delete.
      await gcSide.query('BEGIN');
      await gcSide.query('SELECT pg_advisory_xact_lock($1, $2)', [...GC_LOCK]);
      expect(await ledger.heartbeat(run, Date.now())).toBe(true);
      let started = false;
      const starting = ledger.startRun('another job', Date.now()).then(() => (started = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(started).toBe(false);
      await gcSide.query('COMMIT');
      await starting;
      expect(started).toBe(true);
    } finally {
      await gcSide.end();
      await ledger.close();
    }
  });

  it('a connection that drops in the middle of a step fails that step with an error that says so, and the ledger goes on on a new connection', async () => {
    // A server restarted, a failover, a proxy that cut the line: a client held for a transaction had
    // no 'error' listener, and pg's 'error' event ended the whole process with a stack trace.
    const url = await freshSchema();
    const ledger = await PgLedger.open(url);
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1, $2)', [...GC_LOCK]);
      // startRun waits for the lock, in a transaction of its own: its connection is then cut.
      const starting = Promise.resolve(ledger.startRun('job', Date.now())).then(
        () => undefined,
        (error: unknown) => error,
      );
      let waiting: number[] = [];
      for (let tries = 0; waiting.length === 0 && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        waiting = (await other.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).rows.map((row) => row.pid);
      }
      expect(waiting).toHaveLength(1);
      await other.query('SELECT pg_terminate_backend($1)', [waiting[0]]);
      await other.query('COMMIT');
      const failure = await starting;
      expect(failure).toBeInstanceOf(Error);
      expect(ledgerBusy(failure)).toBe(true);
      // The next step gets a new connection.
      expect(await ledger.startRun('job', Date.now())).toBeGreaterThan(0);
    } finally {
      await other.end();
      await ledger.close();
    }
  });

  it('releaseLost: the requests waiting on a batch row that is gone go back to pending; none while the row is there', async () => {
    const url = await freshSchema();
    const ledger = await PgLedger.open(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const run = await ledger.startRun('job', 1);
      await ledger.intake('scope', run, [{ id: 's', head: '{"messages":', tail: '}' }], ['a', 'b'].map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 1);
      const identity = { scope: 'scope', baseUrl: 'http://x', apiVersion: 'v', keyFingerprint: 'f' };
      const { id } = await ledger.openBatch(identity, run, 'job', 'n', ['a', 'b'], 2);
      expect(await ledger.releaseLost(id)).toBe(0);
      await client.query('DELETE FROM batches WHERE id = $1', [id]);
      expect(await ledger.releaseLost(id)).toBe(2);
      expect(await ledger.request('scope', 'a')).toMatchObject({ state: 'pending', batch_id: null, attempts: 0 });
    } finally {
      await client.end();
      await ledger.close();
    }
  });

  it("gc keeps every request while a run is alive: one it has looked up and not yet written a record for would come out as request_lost", async () => {
    const url = await freshSchema();
    const [worker, collector] = [await PgLedger.open(url), await PgLedger.open(url)];
    try {
      const spec = { id: 's', head: '{"messages":', tail: '}' };
      const run = await worker.startRun('job', Date.now());
      await worker.intake('scope', run, [spec], [{ key: 'a', label: null, spec: 's', messages: '[]' }], [], 1);
      // The run has looked `a` up (its page's `known`), and writes the record a moment later.
      expect((await worker.known('scope', ['a'])).has('a')).toBe(true);
      const kept = expect.stringMatching(new RegExp(`^run ${run} \\(pid ${process.pid} on .*\\) may still be working`));
      expect(await collector.gcPreview(Date.now(), Date.now())).toEqual({ batches: 0, requests: 0, kept });
      expect(await collector.gc(Date.now(), Date.now())).toEqual({ batches: 0, requests: 0, kept });
      await worker.intake('scope', run, [], [], [{ seq: 0, line: 2, data: '{}', key: 'a', error: null }], 2);
      expect((await worker.records('scope', run, 0, 10)).map((row) => row.state)).toEqual(['pending']);
      // Once no run is alive, what no record holds goes.
      await worker.endRun(run);
      expect(await collector.gc(Date.now(), Date.now())).toEqual({ batches: 0, requests: 1 });
    } finally {
      await Promise.all([worker.close(), collector.close()]);
    }
  });

  it('a step costs a few round trips whatever its size: intake, openBatch and settle of 2,000 requests', async () => {
    const ledger = await PgLedger.open(await freshSchema());
    try {
      const keys = Array.from({ length: 2_000 }, (_, i) => `key-${i}`);
      const run = await ledger.startRun('job', 1);
      const queries = vi.spyOn(pg.Client.prototype, 'query');
      const count = async (step: () => Promise<unknown>): Promise<number> => {
        queries.mockClear();
        await step();
        return queries.mock.calls.length;
      };
      const spec = { id: 's', head: '{"messages":', tail: '}' };
      const requests = keys.map((key) => ({ key, label: null, spec: 's', messages: '[]' }));
      const records = keys.map((key, seq) => ({ seq, line: seq + 2, data: '{}', key, error: null }));
      // BEGIN, specs, requests with their payloads, records, COMMIT.
      expect(await count(() => ledger.intake('scope', run, [spec], requests, records, 1))).toBe(5);
      const identity = { scope: 'scope', baseUrl: 'http://x', apiVersion: 'v', keyFingerprint: 'f' };
      let batch = 0;
      // BEGIN, the batch row, the requests taken, COMMIT.
      expect(await count(async () => void (batch = (await ledger.openBatch(identity, run, 'job', 'n', keys, 2)).id))).toBe(4);
      const waiting = await ledger.submittedOf(batch);
      const settlements: Settlement[] = keys.map((key) => ({ waiting: waiting.get(key)!, result: '{}', retry: false }));
      // BEGIN, the locks, the requests, the results, COMMIT.
      expect(await count(() => ledger.settle(batch, settlements, 3))).toBe(5);
      // `status --json` prices every batch from its spec: one query for them all.
      const other = (await ledger.openBatch(identity, run, 'job', 'n2', [], 4)).id;
      expect(await count(async () => expect((await ledger.batchSpecs([batch, other])).get(batch)).toEqual(spec))).toBe(1);
      queries.mockRestore();
      expect((await ledger.records('scope', run, 1_999, 1))[0]).toMatchObject({ key: 'key-1999', state: 'done', result: '{}' });
    } finally {
      vi.restoreAllMocks();
      await ledger.close();
    }
  });

  it("two workers of one job reading the same answered requests at once never deadlock on the job's notes (borrowed)", async () => {
    // helper-96: two machines collecting one --no-wait job at once: 1 try in 40 failed with "deadlock
    // detected" (exit 1), the notes upserted in hash order, which differs between two sets of keys.
    const url = await freshSchema();
    const [a, b] = [await PgLedger.open(url), await PgLedger.open(url)];
    try {
      const keys = Array.from({ length: 3_000 }, (_, i) => `key-${i}`);
      const setup = await a.startRun('setup', 1);
      await a.intake('scope', setup, [{ id: 's', head: '{"messages":', tail: '}' }], keys.map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 1);
      await a.endRun(setup);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('ANALYZE');
      await client.end();
      const runs = [await a.startRun('job', Date.now()), await b.startRun('job', Date.now())];
      const seqs = [0, 0];
      let seed = 7;
      const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
      // Pages of other sizes (the two workers' reads are cut at other places): a hash aggregate of
      // another size gives the keys both read in another order.
      const page = (worker: number, share: number) =>
        keys.filter(() => random() < share).map((key) => ({ seq: seqs[worker]!++, line: 2, data: '{}', key, error: null }));
      for (let round = 0; round < 30; round++) {
        await Promise.all([a.intake('scope', runs[0]!, [], [], page(0, 0.3), round), b.intake('scope', runs[1]!, [], [], page(1, 0.8), round)]);
      }
      await Promise.all([a.endRun(runs[0]!, { complete: true, now: 99, scope: 'scope' }), b.endRun(runs[1]!, { complete: false, now: 99, scope: 'scope' })]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  describe('workers whose clocks disagree', () => {
    const SKEW = 10 * 60_000;
    const RECORD = { seq: 0, line: 2, data: '{}', key: null, error: '{"code":"BE_INVALID_RECORD"}' };
    const opened: LedgerStore[] = [];
    afterEach(async () => {
      for (const ledger of opened.splice(0)) await ledger.close();
    });

    /** Two workers on one new store: one whose clock is `skew` ms off, and one whose clock is right. */
    async function skewedAndRight(skew: number): Promise<[PgLedger, PgLedger]> {
      const url = await freshSchema();
      const skewed = await onClock(skew, () => PgLedger.open(url));
      const right = await PgLedger.open(url);
      opened.push(skewed, right);
      return [skewed, right];
    }

    it('a run beating on a machine 10 minutes behind is alive to the others, and its records outlive their startRun', async () => {
      const [behind, right] = await skewedAndRight(-SKEW);
      const run = await onClock(-SKEW, async () => {
        const id = await behind.startRun('job', Date.now());
        await behind.intake('scope', id, [], [], [RECORD], Date.now());
        expect(await behind.heartbeat(id, Date.now())).toBe(true);
        return id;
      });
      await right.startRun('job', Date.now());
      expect(await right.records('scope', run, 0, 10)).toHaveLength(1);
      expect(await right.runAlive(run, Date.now())).toBe(true);
      expect(await onClock(-SKEW, () => behind.heartbeat(run, Date.now()))).toBe(true);
      // Each worker reads the run's times on its own clock: "last seen 0 s ago" on both.
      const seen = (await right.run(run))!;
      expect(Math.abs(Date.now() - seen.heartbeat_at!)).toBeLessThan(5_000);
      expect(Math.abs(Date.now() - seen.started_at)).toBeLessThan(5_000);
      const ownSeen = (await behind.run(run))!;
      expect(Math.abs(Date.now() - SKEW - ownSeen.heartbeat_at!)).toBeLessThan(5_000);
    });

    it('a run that stopped beating on a machine 10 minutes ahead is dead to the others after RUN_STALE_MS, and its records go after RUN_RECORDS_STALE_MS', async () => {
      const [ahead, right] = await skewedAndRight(SKEW);
      // Its start is its last beat: it stops beating at `stopped` on the right clock.
      const stopped = Date.now();
      const run = await onClock(SKEW, async () => {
        const id = await ahead.startRun('job', Date.now());
        await ahead.intake('scope', id, [], [], [RECORD], Date.now());
        return id;
      });
      expect(await right.runAlive(run, stopped + RUN_STALE_MS - 1_000)).toBe(true);
      expect(await right.runAlive(run, stopped + RUN_STALE_MS + 1_000)).toBe(false);
      expect(await onClock(SKEW, () => ahead.heartbeat(run, Date.now() + RUN_STALE_MS + 1_000))).toBe(false);
      await right.startRun('job', stopped + RUN_RECORDS_STALE_MS + 1_000);
      expect(await right.run(run)).toBeUndefined();
      expect(await right.records('scope', run, 0, 10)).toEqual([]);
    });

    it('a clock less than a second off counts as right: times are stored as the worker gave them', async () => {
      const [close] = await skewedAndRight(500);
      const T = 1_000_000_000_000;
      const run = await onClock(500, async () => {
        const id = await close.startRun('job', T);
        expect(await close.heartbeat(id, T + 1)).toBe(true);
        return id;
      });
      expect(await close.run(run)).toMatchObject({ started_at: T, heartbeat_at: T + 1 });
    });
  });

  describe('opening', () => {
    const opened: LedgerStore[] = [];
    afterEach(async () => {
      for (const ledger of opened.splice(0)) await ledger.close();
    });

    it('openLedger opens a postgres:// URL in PostgreSQL, named without its password, and anything else in SQLite', async () => {
      const url = await freshDatabase();
      const password = new URL(url).password;
      const ledger = await openLedger(url);
      opened.push(ledger, await openLedger(':memory:'));
      expect(ledger).toBeInstanceOf(PgLedger);
      expect(ledger.path).toBe(redactUrl(url));
      expect(ledger.path).not.toContain(password);
      expect(opened[1]).toBeInstanceOf(Ledger);
    });

    it('a wrong password or a server that is not there is a BE_LEDGER error naming the URL without the password', async () => {
      const url = new URL(postgres.url!);
      url.password = 'not-the-password';
      const wrong = await expectError(PgLedger.open(url.toString()), { code: 'BE_LEDGER', message: `Cannot open the ledger ${redactUrl(url.toString())}:` });
      expect(wrong.message).toMatch(/password authentication failed/);
      expect(wrong.message).not.toContain('not-the-password');
      url.port = '1'; // nothing listens there
      const refused = await expectError(PgLedger.open(url.toString()), { code: 'BE_LEDGER', message: 'ECONNREFUSED' });
      expect(refused.message).not.toContain('not-the-password');
    });

    it('a server that asks for a password when none was given says so, and where to give one (not the driver\'s SASL message)', async () => {
      const url = new URL(postgres.url!);
      url.password = '';
      const saved = process.env['PGPASSWORD'];
      delete process.env['PGPASSWORD'];
      try {
        const none = await expectError(PgLedger.open(url.toString()), { code: 'BE_LEDGER', message: `Cannot open the ledger ${redactUrl(url.toString())}:` });
        expect(none.message).toContain('the server asks for a password, and none was given: put it in the URL (postgres://USER:PASSWORD@HOST/DB), or in PGPASSWORD or ~/.pgpass');
        expect(none.message).not.toContain('SASL');
      } finally {
        if (saved !== undefined) process.env['PGPASSWORD'] = saved;
      }
    });

    it('workers starting together on an empty database make the schema once', async () => {
      const url = await freshSchema();
      const ledgers = await Promise.all(Array.from({ length: 4 }, () => PgLedger.open(url)));
      opened.push(...ledgers);
      const run = await ledgers[3]!.startRun('job', 1);
      expect(await ledgers[0]!.run(run)).toMatchObject({ job: 'job' });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const versions = await client.query('SELECT version FROM batch_enrich_schema');
      await client.end();
      expect(versions.rows.map((row) => row.version)).toEqual(Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1));
    });

    it('a batch page whose request lacks its spec fails with the reason, instead of coming back short (which would end the body early)', async () => {
      const url = await freshSchema();
      const ledger = await PgLedger.open(url);
      opened.push(ledger);
      const run = await ledger.startRun('job', 1);
      const spec = { id: 's', head: '{"messages":', tail: '}' };
      await ledger.intake('scope', run, [spec], ['a', 'b'].map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 1);
      const identity = { scope: 'scope', baseUrl: 'http://x', apiVersion: 'v', keyFingerprint: 'f' };
      const { id } = await ledger.openBatch(identity, run, 'job', 'n', ['a', 'b'], 2);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('DELETE FROM specs');
      await client.end();
      // A fresh connection: its spec cache is empty.
      const again = await PgLedger.open(url);
      opened.push(again);
      await expectError(again.batchPage(id, 0, 10), { code: 'BE_LEDGER', message: 'lacks the spec s of request a' });
    });

    it('a database written by a newer batch-enrich is refused', async () => {
      const url = await freshSchema();
      opened.push(await PgLedger.open(url));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query('INSERT INTO batch_enrich_schema (version) VALUES ($1)', [PG_SCHEMA_VERSION + 1]);
      await client.end();
      await expectError(PgLedger.open(url), { code: 'BE_LEDGER', message: `written by a newer batch-enrich (schema ${PG_SCHEMA_VERSION + 1} > ${PG_SCHEMA_VERSION})` });
    });
  });
});
