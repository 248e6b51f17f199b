/**
 * The records of the runs one SQLite ledger connection started: a scratch database of its own, next
 * to the ledger file, attached to the connection as `scratch`.
 *
 * A run's records are the input waiting to be written out in order: nothing another process reads,
 * and nothing that outlives the run (a run that dies loses its records, and its rerun reads the input
 * again; what was paid for is in the ledger proper). So they need no durability: the scratch file
 * has no write-ahead log and is not synced (`journal_mode = MEMORY` keeps a transaction's rollback
 * working, `synchronous = OFF`), each record is written once instead of twice (WAL, then checkpoint),
 * and the end of the connection's last run deletes the file instead of its rows (at 200,000 rows that
 * delete was 1.4 s of the ledger's 12 s of CPU; see bench/ledger-floor.mjs).
 *
 * The file's name is kept on each run's row (`runs.scratch`), so a run started elsewhere can delete
 * the file of a run that died without ending.
 */
import { rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { RecordRow } from './ledger.ts';
import { stateName, type RequestStates } from './states.ts';
import type { NewRecord } from './store.ts';
import { BulkInsert } from './bulk.ts';

/** A record's row id: its run in the high 32 bits, its sequence number in the low ones (one B-tree, read in order). */
const SEQ_BITS = 2 ** 32;

export class RunRecords {
  readonly #db: Database.Database;
  /** The ledger's path (`:memory:`: the scratch is in memory too). */
  readonly #ledgerPath: string;
  /** The file's name (in the ledger's folder) while attached; null in memory. */
  #name: string | null = null;
  #attached = false;
  /** The runs whose records are here. */
  readonly #runs = new Set<number>();
  #stmt: Statements | undefined;
  /**
   * The remote id and nonce of batches whose remote id is known (neither changes once set): a
   * record's row gets them from here rather than from a join per row.
   */
  readonly #batches = new Map<number, { remote_id: string | null; nonce: string | null }>();
  /** Creates the file (readable by its owner only, as the ledger). */
  readonly #createFile: (path: string) => void;
  /** Where the ledger's requests stand (its connection's fold of the log, brought up to date by the caller). */
  readonly #states: RequestStates;

  constructor(db: Database.Database, ledgerPath: string, createFile: (path: string) => void, states: RequestStates) {
    this.#db = db;
    this.#ledgerPath = ledgerPath;
    this.#createFile = createFile;
    this.#states = states;
  }

  /** The scratch file's name, to store on the row of a run about to start here (attached now if need be; null in memory). */
  open(): string | null {
    this.#attach();
    return this.#name;
  }

  /** Takes a run started by this connection: its records are kept here. */
  adopt(run: number): void {
    this.#attach();
    this.#runs.add(run);
  }

  /** Whether this connection holds the run's records. */
  holds(run: number): boolean {
    return this.#runs.has(run);
  }

  /** Writes records of one of our runs (inside the caller's transaction). */
  insert(run: number, records: readonly NewRecord[], requestId: (key: string) => number | null): void {
    const rows = this.#statements(run).insert.writer();
    for (const { seq, line, data, key, error } of records) {
      if (!Number.isInteger(seq) || seq < 0 || seq >= SEQ_BITS) throw new RangeError(`record sequence number ${seq} is out of range`);
      rows.add(run, seq, seq, line, data, key, error, key === null ? null : requestId(key));
    }
    rows.end();
  }

  /** A page of a run's records from `fromSeq` (none when the run is not ours), joined with their requests' state and results under `scope`. */
  page(scope: string, run: number, fromSeq: number, limit: number): RecordRow[] {
    if (!this.#runs.has(run)) return [];
    const stmt = this.#statements(run);
    // As arrays (`raw`), made into objects here, as the ledger's batch pages are: better-sqlite3 makes
    // a row object by looking each column's name up, row after row.
    const rows: RecordRow[] = [];
    const states = this.#states;
    for (const [seq, line, data, key, label, error, result, request] of stmt.page.all(scope, run, Math.max(0, fromSeq), run, limit)) {
      // Its request's state from the ledger's fold (see `./states.ts`); none when its row is gone.
      const state = request === null ? null : stateName(states.state(request));
      const attempts = request === null || state === null ? null : states.attempts(request);
      const batch_id = request === null || state === null ? null : states.batch(request) || null;
      let batch: { remote_id: string | null; nonce: string | null } | undefined = NO_BATCH;
      if (batch_id !== null) {
        batch = this.#batches.get(batch_id);
        if (batch === undefined) {
          batch = stmt.batch.get(batch_id) ?? NO_BATCH;
          if (batch.remote_id !== null) this.#batches.set(batch_id, batch);
        }
      }
      rows.push({ seq, line, data, key, label, error, result, state, attempts, batch_id, remote_id: batch.remote_id, nonce: batch.nonce });
    }
    return rows;
  }

  /**
   * Notes for `job`, at `now`, every request a run's records point at (`GcRules.borrowedKept`); with
   * no time, clears those notes instead (the run wrote every record). In the caller's transaction.
   */
  note(run: number, job: string, now: number | undefined): void {
    if (!this.#runs.has(run)) return;
    if (now === undefined) this.#statements(run).unnote.run(job, run, run);
    else this.#statements(run).note.run(job, now, run, run);
  }

  /**
   * Deletes the marks of the job's tries that never ended and that this run, complete, covered (see
   * `uncover`). In the caller's transaction.
   */
  uncover(run: number, job: string, scope: string): void {
    if (!this.#runs.has(run)) return;
    this.#statements(run).uncover.run(job, run, scope, run, run);
  }

  /** Keys held by our runs' records (SQL for `NOT IN`), or null when there are none. */
  heldKeysSql(): string | null {
    return this.#attached ? 'SELECT key FROM scratch.records WHERE key IS NOT NULL' : null;
  }

  /** The scratch file's name, if it is a file. */
  get name(): string | null {
    return this.#name;
  }

  /**
   * Forgets one of our runs' records: the whole file when it was the last of them (a file deleted,
   * not rows), else its rows.
   */
  drop(run: number): void {
    if (!this.#runs.has(run)) return;
    if (this.#runs.size > 1) {
      this.#statements(run).drop.run(run, run);
      this.#runs.delete(run);
      return;
    }
    this.close();
  }

  /** Detaches and deletes the scratch file (every run of ours ends with the connection). */
  close(): void {
    this.#runs.clear();
    if (!this.#attached) return;
    this.#stmt = undefined;
    if (this.#db.open) this.#db.exec('DETACH DATABASE scratch');
    this.#attached = false;
    if (this.#name !== null) removeScratch(this.#ledgerPath, this.#name);
    this.#name = null;
  }

  #attach(): void {
    if (this.#attached) return;
    const memory = this.#ledgerPath === ':memory:';
    this.#name = memory ? null : `${basename(this.#ledgerPath)}.run-${randomBytes(6).toString('hex')}`;
    const file = this.#name === null ? ':memory:' : join(dirname(this.#ledgerPath), this.#name);
    if (!memory) this.#createFile(file);
    this.#db.prepare('ATTACH DATABASE ? AS scratch').run(file);
    this.#attached = true;
    this.#db.pragma('scratch.journal_mode = MEMORY');
    this.#db.pragma('scratch.synchronous = OFF');
    // Written and read in order: a small page cache does (each attached database has its own).
    this.#db.pragma('scratch.cache_size = -4096');
    this.#db.exec(
      `CREATE TABLE IF NOT EXISTS scratch.records (
         id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, line INTEGER NOT NULL, data TEXT NOT NULL, key TEXT, error TEXT, request_id INTEGER
       )`,
    );
  }

  #statements(run: number): Statements {
    if (!this.#runs.has(run)) throw new Error(`run ${run} does not keep its records in this ledger connection`);
    this.#stmt ??= prepare(this.#db);
    return this.#stmt;
  }
}

function prepare(db: Database.Database) {
  return {
    insert: new BulkInsert(db, 'INSERT INTO scratch.records (id, seq, line, data, key, error, request_id) VALUES', `(? * ${SEQ_BITS} + ?, ?, ?, ?, ?, ?, ?)`, 8),
    page: db
      .prepare<[string, number, number, number, number], RecordColumns>(
        `SELECT r.seq, r.line, r.data, r.key, q.label, r.error, a.result, q.id
           FROM scratch.records r LEFT JOIN request_rows q ON q.id = r.request_id AND q.scope = ?
                LEFT JOIN results a ON a.id = be_result(q.id)
          WHERE r.id >= ? * ${SEQ_BITS} + ? AND r.id < (? + 1) * ${SEQ_BITS} ORDER BY r.id LIMIT ?`,
      )
      .raw(),
    batch: db.prepare<[number], { remote_id: string | null; nonce: string | null }>('SELECT remote_id, nonce FROM batches WHERE id = ?'),
    drop: db.prepare(`DELETE FROM scratch.records WHERE id >= ? * ${SEQ_BITS} AND id < (? + 1) * ${SEQ_BITS}`),
    note: db.prepare(
      `INSERT INTO main.borrowed (job, request_id, noted_at)
       SELECT ?, request_id, ? FROM scratch.records WHERE id >= ? * ${SEQ_BITS} AND id < (? + 1) * ${SEQ_BITS} AND request_id IS NOT NULL
       ON CONFLICT (job, request_id) DO UPDATE SET noted_at = excluded.noted_at`,
    ),
    // The marks (`tryMark`) of the job's tries forgotten as dead whose batches' requests all are among
    // this run's records (under its scope): this run read again, and wrote out, all they paid for.
    uncover: db.prepare(
      `DELETE FROM main.borrowed WHERE job = ? AND request_id < 0 AND request_id <> -? AND -request_id NOT IN (SELECT id FROM main.runs)
         AND NOT EXISTS (SELECT 1 FROM main.batches b JOIN main.requests q ON q.batch_id = b.id
                          WHERE b.run = -borrowed.request_id
                            AND NOT (q.scope = ? AND q.key IN (SELECT key FROM scratch.records WHERE id >= ? * ${SEQ_BITS} AND id < (? + 1) * ${SEQ_BITS} AND key IS NOT NULL)))`,
    ),
    unnote: db.prepare(
      `DELETE FROM main.borrowed WHERE job = ? AND request_id IN
         (SELECT request_id FROM scratch.records WHERE id >= ? * ${SEQ_BITS} AND id < (? + 1) * ${SEQ_BITS} AND request_id IS NOT NULL)`,
    ),
  };
}
type Statements = ReturnType<typeof prepare>;
/** A record's row as `page` reads it. */
type RecordColumns = [
  seq: number,
  line: number,
  data: string,
  key: string | null,
  label: string | null,
  error: string | null,
  result: string | null,
  /** Its request's id, when the row is there (under the scope). */
  request: number | null,
];
const NO_BATCH = { remote_id: null, nonce: null };

/** Deletes a scratch file by the name a run's row holds (a run that died left it); a file already gone is fine. */
export function removeScratch(ledgerPath: string, name: string): void {
  // Only a name of ours, in the ledger's own folder: the row is data, not a path to trust.
  if (!/^[^/\\]+\.run-[0-9a-f]{12}$/.test(name)) return;
  for (const suffix of ['', '-journal']) rmSync(join(dirname(ledgerPath), name + suffix), { force: true });
}
