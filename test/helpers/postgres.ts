/**
 * PostgreSQL for tests: the server the global setup started (`./postgres-server.ts`), and a fresh
 * database (`freshDatabase`) or a fresh schema in this test file's database (`freshSchema`, about
 * a hundred times faster: a CREATE DATABASE copies its template, 300 ms here) for each test file or
 * case, so tests never see each other's rows.
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

let fileDatabase: Promise<string> | undefined;

/**
 * A URL whose tables live in a new, empty schema of this test file's database (created on first
 * use): the schema is the connection's `search_path`, set by the URL's `options` parameter.
 */
export async function freshSchema(): Promise<string> {
  fileDatabase ??= freshDatabase();
  const url = new URL(await fileDatabase);
  const schema = `s_${randomBytes(8).toString('hex')}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}
