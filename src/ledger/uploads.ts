/**
 * The upload registry: which file (by sha256) was uploaded to the Files API under which API identity,
 * as which `file_id`, until when. Content-addressed, so a file is uploaded once across rows, reruns
 * and jobs of the same identity.
 *
 * It lives in the ledger's SQLite file, in its own table, through its own connection (WAL, so it
 * never blocks the ledger's). A `:memory:` ledger gets an in-memory registry. Each upload is written
 * before it starts (`begin`: the sha256 and the time) and after it ends (`finish`: the file_id), as
 * batches are: a run killed between the two leaves a row with no file_id, and the next run looks for
 * that upload in the Files API list (by its content-addressed file name, made after the start) before
 * uploading again, so a kill costs at most one more upload of that file.
 *
 * Kept separate from `Ledger` for now (a separate engineer owns it); it can be folded in as one more
 * table and a schema version.
 */
import Database from 'better-sqlite3';
import { SQLITE_BUSY_TIMEOUT_MS } from './store.ts';

/** One registry row. `fileId` is null while an upload is (or was, when its run died) under way. */
export interface UploadRow {
  sha256: string;
  fileId: string | null;
  bytes: number;
  /** ms since the epoch; null when the file never expires. */
  expiresAt: number | null;
  /** When the upload started (ms since the epoch). */
  startedAt: number;
}

interface Row {
  sha256: string;
  file_id: string | null;
  bytes: number;
  expires_at: number | null;
  started_at: number;
}

export class UploadRegistry {
  readonly #db: Database.Database;
  /** Whether the connection is this registry's own (closed with it). */
  readonly #own: boolean;
  readonly #get: Database.Statement<[string, string], Row>;
  readonly #begin: Database.Statement<[string, string, number, number]>;
  readonly #finish: Database.Statement<[string, number | null, string, string]>;
  readonly #forget: Database.Statement<[string, string]>;
  readonly #all: Database.Statement<[string], Row>;

  /**
   * Opens (creating the table if missing) the registry in the ledger file at `path`, or in memory for
   * `:memory:`; on `db`, the ledger's own connection, when given (a `:memory:` ledger is one connection).
   */
  constructor(path: string, db?: Database.Database) {
    this.#own = db === undefined;
    this.#db = db ?? new Database(path);
    if (this.#own && path !== ':memory:') {
      // The busy timeout first, as the ledger's (see `Ledger`): the switch below may meet another process.
      this.#db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      this.#db.pragma('journal_mode = WAL');
    }
    this.#db.exec(`CREATE TABLE IF NOT EXISTS uploads (
      scope TEXT NOT NULL,
      sha256 TEXT NOT NULL,
      file_id TEXT,
      bytes INTEGER NOT NULL,
      expires_at INTEGER,
      started_at INTEGER NOT NULL,
      PRIMARY KEY (scope, sha256)
    ) WITHOUT ROWID`);
    this.#get = this.#db.prepare('SELECT sha256, file_id, bytes, expires_at, started_at FROM uploads WHERE scope = ? AND sha256 = ?');
    this.#begin = this.#db.prepare(
      `INSERT INTO uploads (scope, sha256, file_id, bytes, expires_at, started_at) VALUES (?, ?, NULL, ?, NULL, ?)
       ON CONFLICT (scope, sha256) DO UPDATE SET file_id = NULL, bytes = excluded.bytes, expires_at = NULL, started_at = excluded.started_at`,
    );
    this.#finish = this.#db.prepare('UPDATE uploads SET file_id = ?, expires_at = ? WHERE scope = ? AND sha256 = ?');
    this.#forget = this.#db.prepare('DELETE FROM uploads WHERE scope = ? AND sha256 = ?');
    this.#all = this.#db.prepare('SELECT sha256, file_id, bytes, expires_at, started_at FROM uploads WHERE scope = ? ORDER BY started_at');
  }

  /** The row of `sha256` under the API identity `scope`, if any. */
  get(scope: string, sha256: string): UploadRow | undefined {
    const row = this.#get.get(scope, sha256);
    return row && toRow(row);
  }

  /** Records that an upload of `sha256` starts now (before the call). */
  begin(scope: string, sha256: string, bytes: number, now: number): void {
    this.#begin.run(scope, sha256, bytes, now);
  }

  /** Records the uploaded file (after the call). */
  finish(scope: string, sha256: string, fileId: string, expiresAt: number | null): void {
    this.#finish.run(fileId, expiresAt, scope, sha256);
  }

  /** Forgets a file (expired, deleted, or deleted by `gc`). */
  forget(scope: string, sha256: string): void {
    this.#forget.run(scope, sha256);
  }

  /** Every row of `scope`, oldest upload first. */
  all(scope: string): UploadRow[] {
    return this.#all.all(scope).map(toRow);
  }

  close(): void {
    if (this.#own && this.#db.open) this.#db.close();
  }
}

function toRow(row: Row): UploadRow {
  return { sha256: row.sha256, fileId: row.file_id, bytes: row.bytes, expiresAt: row.expires_at, startedAt: row.started_at };
}
