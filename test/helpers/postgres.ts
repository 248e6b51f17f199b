/**
 * PostgreSQL for tests: the server the global setup started (`./postgres-server.ts`), and a fresh
 * database on it for each test file or case, so tests never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { PostgresServer } from './postgres-server.ts';

/** The test run's server: `url` of its admin database, or null and the `reason` it is missing. */
export const postgres: PostgresServer = inject('postgres');

/** Creates an empty database on the test server and returns its URL (with the password). */
export async function freshDatabase(): Promise<string> {
  if (!postgres.url) throw new Error(postgres.reason ?? 'No PostgreSQL server for the tests');
  const name = `be_${randomBytes(8).toString('hex')}`;
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(postgres.url);
  url.pathname = `/${name}`;
  return url.toString();
}
