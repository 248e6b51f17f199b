/**
 * The ledger: an embedded SQLite database (better-sqlite3, WAL) that holds every request we built,
 * every batch we submitted and every answer we got, plus the records of the run in progress. It is
 * what keeps memory flat (pending records wait here, not in a Map) and what makes work survive a
 * crash: requests are keyed by `(scope, custom_id)`, where the `custom_id` hashes the whole request
 * and the scope hashes the API identity (base URL and a hash of the key, never the key), so a rerun
 * finds what was already submitted or answered instead of paying again.
 *
 * Writes are grouped into transactions by the caller (`transaction()`); better-sqlite3 is
 * synchronous, which is fine for a single writer per process and avoids interleaving surprises.
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { BatchEnrichError } from '../errors.ts';

const SCHEMA_VERSION = 1;

export type RequestState = 'pending' | 'submitted' | 'done';
export type BatchState = 'creating' | 'in_progress' | 'ended' | 'downloaded' | 'failed';

export interface BatchRow {
  id: number;
  scope: string;
  remote_id: string | null;
  state: BatchState;
  request_count: number;
  bytes: number;
  created_at: number;
  updated_at: number;
  base_url: string;
  error: string | null;
}

export interface RecordRow {
  seq: number;
  line: number;
  data: string;
  custom_id: string | null;
  error: string | null;
  /** The stored result line's `result` object (JSON), once the request is done. */
  result: string | null;
  state: RequestState | null;
}

/** Where the ledger lives unless `--ledger` or `BATCH_ENRICH_LEDGER` says otherwise. */
export function defaultLedgerPath(env: NodeJS.ProcessEnv): string {
  if (env['BATCH_ENRICH_LEDGER']) return env['BATCH_ENRICH_LEDGER'];
  const base = env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'batch-enrich', 'ledger.db');
}

export class Ledger {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #stmt;

  constructor(path: string) {
    this.path = path;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.#db = new Database(path);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma('busy_timeout = 10000');
      this.#migrate();
    } catch (error) {
      if (error instanceof BatchEnrichError) throw error;
      throw new BatchEnrichError('BE_LEDGER', `Cannot open the ledger ${path}: ${(error as Error).message}`, { cause: error });
    }
    const db = this.#db;
    this.#stmt = {
      requestState: db.prepare<[string, string], { state: RequestState; batch_id: number | null }>(
        'SELECT state, batch_id FROM requests WHERE scope = ? AND custom_id = ?',
      ),
      insertRequest: db.prepare(
        "INSERT INTO requests (scope, custom_id, body, state, updated_at) VALUES (?, ?, ?, 'pending', ?)",
      ),
      insertRecord: db.prepare('INSERT INTO records (run, seq, line, data, custom_id, error) VALUES (?, ?, ?, ?, ?, ?)'),
      insertBatch: db.prepare(
        "INSERT INTO batches (scope, state, request_count, bytes, created_at, updated_at, base_url) VALUES (?, 'creating', ?, ?, ?, ?, ?)",
      ),
      assign: db.prepare("UPDATE requests SET state = 'submitted', batch_id = ?, attempts = attempts + 1, updated_at = ? WHERE scope = ? AND custom_id = ?"),
      batchBodies: db.prepare<[number], { body: string }>("SELECT body FROM requests WHERE batch_id = ? AND state = 'submitted' ORDER BY rowid"),
      setBatch: db.prepare('UPDATE batches SET remote_id = ?, state = ?, updated_at = ?, error = ? WHERE id = ?'),
      batch: db.prepare<[number], BatchRow>('SELECT * FROM batches WHERE id = ?'),
      saveResult: db.prepare(
        "UPDATE requests SET state = 'done', result = ?, body = NULL, updated_at = ? WHERE scope = ? AND custom_id = ? AND batch_id = ? AND state = 'submitted'",
      ),
      unanswered: db.prepare<[number], { custom_id: string }>("SELECT custom_id FROM requests WHERE batch_id = ? AND state = 'submitted'"),
      releaseBatch: db.prepare("UPDATE requests SET state = 'pending', batch_id = NULL WHERE batch_id = ? AND state = 'submitted'"),
      records: db.prepare<[string, number, number, number], RecordRow>(
        `SELECT r.seq, r.line, r.data, r.custom_id, r.error, q.result, q.state
           FROM records r LEFT JOIN requests q ON q.scope = ? AND q.custom_id = r.custom_id
          WHERE r.run = ? AND r.seq >= ? ORDER BY r.seq LIMIT ?`,
      ),
      newRun: db.prepare('INSERT INTO runs (started_at) VALUES (?)'),
      dropRun: db.prepare('DELETE FROM records WHERE run = ?'),
      dropRunRow: db.prepare('DELETE FROM runs WHERE id = ?'),
      openBatches: db.prepare<[string], BatchRow>("SELECT * FROM batches WHERE scope = ? AND state IN ('creating', 'in_progress', 'ended') ORDER BY id"),
    };
  }

  #migrate(): void {
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new BatchEnrichError('BE_LEDGER', `The ledger ${this.path} was written by a newer batch-enrich (schema ${version} > ${SCHEMA_VERSION})`);
    }
    if (version === SCHEMA_VERSION) return;
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS requests (
        scope TEXT NOT NULL,
        custom_id TEXT NOT NULL,
        body TEXT,
        state TEXT NOT NULL,
        batch_id INTEGER,
        result TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (scope, custom_id)
      );
      CREATE INDEX IF NOT EXISTS requests_batch ON requests (batch_id);
      CREATE TABLE IF NOT EXISTS batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope TEXT NOT NULL,
        remote_id TEXT,
        state TEXT NOT NULL,
        request_count INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        base_url TEXT NOT NULL,
        error TEXT
      );
      CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS records (
        run INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        line INTEGER NOT NULL,
        data TEXT NOT NULL,
        custom_id TEXT,
        error TEXT,
        PRIMARY KEY (run, seq)
      ) WITHOUT ROWID;
      PRAGMA user_version = ${SCHEMA_VERSION};
    `);
  }

  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  startRun(now: number): number {
    return Number(this.#stmt.newRun.run(now).lastInsertRowid);
  }

  /** Forgets a run's records (its requests and answers stay, for reruns). */
  endRun(run: number): void {
    this.transaction(() => {
      this.#stmt.dropRun.run(run);
      this.#stmt.dropRunRow.run(run);
    });
  }

  requestState(scope: string, customId: string): { state: RequestState; batch_id: number | null } | undefined {
    return this.#stmt.requestState.get(scope, customId);
  }

  insertRequest(scope: string, customId: string, body: string, now: number): void {
    this.#stmt.insertRequest.run(scope, customId, body, now);
  }

  insertRecord(run: number, seq: number, line: number, data: string, customId: string | null, error: string | null): void {
    this.#stmt.insertRecord.run(run, seq, line, data, customId, error);
  }

  /** Records a batch about to be created and assigns its requests to it, in one transaction. */
  openBatch(scope: string, baseUrl: string, customIds: readonly string[], bytes: number, now: number): number {
    return this.transaction(() => {
      const id = Number(this.#stmt.insertBatch.run(scope, customIds.length, bytes, now, now, baseUrl).lastInsertRowid);
      for (const customId of customIds) this.#stmt.assign.run(id, now, scope, customId);
      return id;
    });
  }

  /** The request bodies of a batch, in submission order, one at a time. */
  batchBodies(batchId: number): IterableIterator<{ body: string }> {
    return this.#stmt.batchBodies.iterate(batchId);
  }

  setBatch(batchId: number, remoteId: string | null, state: BatchState, now: number, error: string | null = null): void {
    this.#stmt.setBatch.run(remoteId, state, now, error, batchId);
  }

  batch(batchId: number): BatchRow | undefined {
    return this.#stmt.batch.get(batchId);
  }

  /** Batches of this scope that were created (or were being created) and not yet downloaded. */
  openBatches(scope: string): BatchRow[] {
    return this.#stmt.openBatches.all(scope);
  }

  /** Stores one result; ignored unless the request is still waiting on this batch (a re-download is harmless). */
  saveResult(scope: string, batchId: number, customId: string, result: string, now: number): boolean {
    return this.#stmt.saveResult.run(result, now, scope, customId, batchId).changes > 0;
  }

  /** Requests of a batch that got no result line. */
  unanswered(batchId: number): string[] {
    return this.#stmt.unanswered.all(batchId).map((row) => row.custom_id);
  }

  /** Puts a failed batch's requests back to pending, so they can be submitted again. */
  releaseBatch(batchId: number): void {
    this.#stmt.releaseBatch.run(batchId);
  }

  records(scope: string, run: number, fromSeq: number, limit: number): RecordRow[] {
    return this.#stmt.records.all(scope, run, fromSeq, limit);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
