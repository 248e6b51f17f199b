/**
 * The ledger contract on PostgreSQL (the server the test setup started; a new database per test,
 * opened twice for two workers), and what only PostgreSQL has: URLs with passwords, the schema made
 * once by workers starting together.
 */
import { describe, expect, it } from 'vitest';
import { PgLedger } from '../../src/ledger/postgres.ts';
import { freshDatabase, postgres } from '../helpers/postgres.ts';
import { ledgerContract } from './contract.ts';

if (!postgres.url) console.warn(`Skipping the PostgreSQL ledger tests: ${postgres.reason}`);

describe.skipIf(!postgres.url)('PostgreSQL', () => {
  ledgerContract('PostgreSQL', async () => {
    const url = await freshDatabase();
    return () => PgLedger.open(url);
  });
});
