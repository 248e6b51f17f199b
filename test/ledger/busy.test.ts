/**
 * `ledgerBusy`: which ledger errors only mean "not now" (a heartbeat skips a beat) rather than a
 * failed run. A network blip between a worker and its PostgreSQL server must not kill the run.
 */
import { describe, expect, it } from 'vitest';
import { BatchEnrichError } from '../../src/errors.ts';
import { isMetAtStart, ledgerBusy, ledgerUnavailable, metAtStart } from '../../src/ledger/store.ts';

const coded = (code: string) => Object.assign(new Error(code), { code });

describe('ledgerBusy', () => {
  it.each([
    ['SQLite busy', coded('SQLITE_BUSY'), true],
    ['SQLite busy, extended code', coded('SQLITE_BUSY_SNAPSHOT'), true],
    ['SQLite locked, extended code', coded('SQLITE_LOCKED_SHAREDCACHE'), true],
    ['PostgreSQL serialization failure', coded('40001'), true],
    ['PostgreSQL deadlock', coded('40P01'), true],
    ['PostgreSQL lock not available', coded('55P03'), true],
    ['PostgreSQL admin shutdown', coded('57P01'), true],
    ['PostgreSQL crash shutdown', coded('57P02'), true],
    ['PostgreSQL cannot connect now', coded('57P03'), true],
    ['PostgreSQL connection failure (class 08)', coded('08006'), true],
    ['PostgreSQL connection does not exist (class 08)', coded('08003'), true],
    ['socket reset', coded('ECONNRESET'), true],
    ['connection refused', coded('ECONNREFUSED'), true],
    ['pg: connection terminated (no code)', new Error('Connection terminated unexpectedly'), true],
    ['pg-pool: connect timeout (no code)', new Error('timeout exceeded when trying to connect'), true],
    // helper-67: a held client's next query after its connection dropped.
    ['pg: a client whose connection dropped (no code)', new Error('Client has encountered a connection error and is not queryable'), true],
    ['SQLite constraint', coded('SQLITE_CONSTRAINT_UNIQUE'), false],
    ['SQLite corrupt', coded('SQLITE_CORRUPT'), false],
    ['PostgreSQL syntax error', coded('42601'), false],
    ['PostgreSQL undefined table', coded('42P01'), false],
    ['a plain error', new Error('boom'), false],
    ['not an error', undefined, false],
  ])('%s → %s', (_, error, busy) => {
    expect(ledgerBusy(error)).toBe(busy);
  });
});

describe('ledgerUnavailable: a run that ends on a ledger that stopped answering says so', () => {
  it('names the ledger and the error, and that a rerun resumes; any other error is left as it is', () => {
    const down = Object.assign(new Error('the database system is shutting down'), { code: '57P01' });
    const said = ledgerUnavailable(down, 'postgres://be@db.example/ledger');
    expect(said).toBeInstanceOf(BatchEnrichError);
    expect(said?.code).toBe('BE_LEDGER');
    expect(said?.message).toBe(
      'The ledger postgres://be@db.example/ledger stopped answering (the database system is shutting down); what was done is kept there: run the same command again once it answers, and it resumes',
    );
    expect(ledgerUnavailable(new Error('a bug'), 'l.db')).toBeUndefined();
    expect(ledgerUnavailable(new BatchEnrichError('BE_LEDGER', 'already said', { cause: down }), 'l.db')).toBeUndefined();
  });
});

// helper-99: a --no-wait try that found its SQLite ledger locked by another process as it began
// exited 1, and said the ledger had 'stopped answering'.
describe('ledgerUnavailable: a SQLite ledger another process holds locked', () => {
  const locked = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

  it('is said to be busy; met as the run registered itself (metAtStart), a --no-wait try is pending, nothing done', () => {
    const said = ledgerUnavailable(metAtStart(locked()), 'l.db', { records: 2 });
    expect(said?.code).toBe('BE_PENDING');
    expect(said?.records).toBe(2);
    expect(said?.message).toBe('The ledger l.db is busy (database is locked): another process has held it locked for longer than the 10 s a run waits; nothing was done: run the same command again later, and it goes on from what the ledger kept');
  });

  it('met later in a --no-wait try: nothing was written; without --no-wait: what was done is kept', () => {
    expect(ledgerUnavailable(locked(), 'l.db', { records: 2 })?.message).toMatch(/^The ledger l\.db is busy \(database is locked\): [^;]+; nothing was written: run the same command again later/);
    const failed = ledgerUnavailable(metAtStart(locked()), 'l.db');
    expect(failed?.code).toBe('BE_LEDGER');
    expect(failed?.message).toMatch(/^The ledger l\.db is busy \(database is locked\): [^;]+; what was done is kept there: run the same command again once it answers, and it resumes$/);
  });

  it('a ledger server met as the run registered itself cannot be reached, as when it cannot be opened', () => {
    const down = metAtStart(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    expect(isMetAtStart(down)).toBe(true);
    expect(ledgerUnavailable(down, 'postgres://be@db/l', { records: 0 })?.message).toBe('The ledger postgres://be@db/l cannot be reached (connect ECONNREFUSED 127.0.0.1:5432); nothing was done: run the same command again later, and it goes on from what the ledger kept');
  });
});

// helper-96: a deadlock between two workers (40P01) ended a try as "the ledger stopped answering",
// exit 1, where PostgreSQL asks the client to run the transaction again.
describe('PostgreSQL transactions that lost a deadlock or a serialization race', () => {
  /** A pool of one client whose transactions fail with `codes`, one after the other, at their first query. */
  function failingPool(codes: string[]) {
    const said: string[] = [];
    const client = {
      on: () => {},
      removeListener: () => {},
      release: () => {},
      query: async (sql: string) => {
        said.push(sql);
        if (sql === 'SELECT 1' && codes.length > 0) throw coded(codes.shift() as string);
        return { rows: [] };
      },
    };
    return { pool: { connect: async () => client } as never, said };
  }

  it('are run again, a few times; another failure is thrown as it came', async () => {
    const { transaction } = await import('../../src/ledger/postgres.ts');
    const { pool, said } = failingPool(['40P01', '40001']);
    let runs = 0;
    await expect(transaction(pool, async (client) => (runs++, await client.query('SELECT 1'), 'done'))).resolves.toBe('done');
    expect(runs).toBe(3);
    expect(said.filter((sql) => sql === 'ROLLBACK')).toHaveLength(2);
    const other = failingPool(['23505']);
    await expect(transaction(other.pool, async (client) => client.query('SELECT 1'))).rejects.toMatchObject({ code: '23505' });
    const always = failingPool(Array.from({ length: 20 }, () => '40P01'));
    await expect(transaction(always.pool, async (client) => client.query('SELECT 1'))).rejects.toMatchObject({ code: '40P01' });
  });
});
