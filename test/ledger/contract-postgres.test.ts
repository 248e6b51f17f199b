/**
 * The ledger contract on PostgreSQL (the server the test setup started; a new database per test,
 * opened twice for two workers), and what only PostgreSQL has: URLs with passwords, a server that
 * refuses, the schema made once by workers starting together.
 */
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Ledger } from '../../src/ledger/ledger.ts';
import { isPostgresUrl, openLedger } from '../../src/ledger/open.ts';
import { PG_SCHEMA_VERSION, PgLedger } from '../../src/ledger/postgres.ts';
import { redactUrl } from '../../src/ledger/url.ts';
import type { LedgerStore, Settlement } from '../../src/ledger/store.ts';
import { expectError } from '../helpers/expect-error.ts';
import { freshDatabase, freshSchema, postgres } from '../helpers/postgres.ts';
import { ledgerContract } from './contract.ts';

if (!postgres.url) console.warn(`Skipping the PostgreSQL ledger tests: ${postgres.reason}`);

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
      queries.mockRestore();
      expect((await ledger.records('scope', run, 1_999, 1))[0]).toMatchObject({ key: 'key-1999', state: 'done', result: '{}' });
    } finally {
      vi.restoreAllMocks();
      await ledger.close();
    }
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
