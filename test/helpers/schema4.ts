/** Ledgers of older batch-enrich releases, for the tests of migrations and of what reads a ledger without migrating it. */

/** The tables of a ledger written by batch-enrich 0.1.0 (schema 4), as that release created them. */
export const SCHEMA_4 = `
  CREATE TABLE specs (id TEXT PRIMARY KEY, head TEXT NOT NULL, tail TEXT NOT NULL);
  CREATE TABLE requests (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, key TEXT NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,
    batch_id INTEGER, attempts INTEGER NOT NULL DEFAULT 0, max_tokens INTEGER, result_id INTEGER, updated_at INTEGER NOT NULL, UNIQUE (scope, key));
  CREATE TABLE payloads (id INTEGER PRIMARY KEY, messages TEXT NOT NULL);
  CREATE TABLE results (id INTEGER PRIMARY KEY, result TEXT NOT NULL);
  CREATE INDEX requests_batch ON requests (batch_id);
  CREATE TABLE batches (id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, run INTEGER NOT NULL, job TEXT NOT NULL, nonce TEXT NOT NULL,
    remote_id TEXT, state TEXT NOT NULL, request_count INTEGER NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL, base_url TEXT NOT NULL, api_version TEXT NOT NULL, key_fingerprint TEXT NOT NULL, error TEXT);
  CREATE INDEX batches_remote ON batches (remote_id);
  CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, pid INTEGER NOT NULL, started_at INTEGER NOT NULL);
  CREATE TABLE records (run INTEGER NOT NULL, seq INTEGER NOT NULL, line INTEGER NOT NULL, data TEXT NOT NULL, key TEXT, error TEXT,
    PRIMARY KEY (run, seq)) WITHOUT ROWID;
  PRAGMA user_version = 4;
`;

/**
 * The tables of a ledger written by the release before schema 12 (schema 11), as it created them
 * (read back from `sqlite_master`): a request's state in its row, updated as it moved.
 */
export const SCHEMA_11 = `
  CREATE TABLE specs (id TEXT PRIMARY KEY, head TEXT NOT NULL, tail TEXT NOT NULL);
  CREATE TABLE payloads (id INTEGER PRIMARY KEY, messages TEXT NOT NULL);
  CREATE TABLE results (id INTEGER PRIMARY KEY, result TEXT NOT NULL);
  CREATE TABLE batches (id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, run INTEGER NOT NULL, job TEXT NOT NULL, nonce TEXT NOT NULL,
    remote_id TEXT, state TEXT NOT NULL, request_count INTEGER NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL, base_url TEXT NOT NULL, api_version TEXT NOT NULL, key_fingerprint TEXT NOT NULL, error TEXT, cost_bytes INTEGER);
  CREATE INDEX batches_remote ON batches (remote_id);
  CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, pid INTEGER NOT NULL, started_at INTEGER NOT NULL, host TEXT,
    heartbeat_at INTEGER, scratch TEXT);
  CREATE TABLE claims (remote_id TEXT PRIMARY KEY, batch_id INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE scopes (scope TEXT PRIMARY KEY) WITHOUT ROWID;
  CREATE TABLE "requests" (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, key TEXT NOT NULL, label TEXT, spec TEXT NOT NULL, state TEXT NOT NULL,
    batch_id INTEGER, attempts INTEGER NOT NULL DEFAULT 0, max_tokens INTEGER, result_id INTEGER, updated_at INTEGER NOT NULL, h INTEGER);
  CREATE INDEX requests_batch ON requests (batch_id) WHERE batch_id IS NOT NULL;
  CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE borrowed (job TEXT NOT NULL, request_id INTEGER NOT NULL, noted_at INTEGER NOT NULL, PRIMARY KEY (job, request_id)) WITHOUT ROWID;
  CREATE INDEX borrowed_request ON borrowed (request_id, noted_at);
  CREATE TABLE written (id TEXT PRIMARY KEY, path TEXT NOT NULL, as_what TEXT NOT NULL, noted_at INTEGER NOT NULL) WITHOUT ROWID;
  PRAGMA user_version = 11;
`;
