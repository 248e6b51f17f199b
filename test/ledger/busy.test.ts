/**
 * `ledgerBusy`: which ledger errors only mean "not now" (a heartbeat skips a beat) rather than a
 * failed run. A network blip between a worker and its PostgreSQL server must not kill the run.
 */
import { describe, expect, it } from 'vitest';
import { ledgerBusy } from '../../src/ledger/store.ts';

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
