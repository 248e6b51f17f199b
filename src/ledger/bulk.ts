/**
 * Many rows into one table with a statement per `BULK_ROWS` of them (`INSERT … VALUES (…), (…), …`)
 * instead of one per row: each statement run through better-sqlite3 costs a call into the addon, a
 * result object and a VDBE start, whatever it writes. ledger-floor at 200,000 rows: the intake's
 * writes 1.9 → 1.5 s.
 *
 * Only inserts gain: an `UPDATE … FROM (VALUES …)` that marked 64 requests done at a time was slower
 * than 64 single-row updates (settle, 100,000 results: about 350 → 385 ms).
 */
import type Database from 'better-sqlite3';

/** Rows per statement: past 64 the gain is gone, and a statement must stay under SQLite's 32,766 parameters. */
export const BULK_ROWS = 64;

export class BulkInsert {
  readonly #columns: number;
  /** The statement for `BULK_ROWS` rows, and the one for a single row (the rest of a write). */
  readonly #full: Database.Statement;
  readonly #one: Database.Statement;

  /** `head` is the statement up to its rows (`INSERT INTO t (a, b) VALUES`), `row` one row's tuple with a `?` per column (`(?, ?)`). */
  constructor(db: Database.Database, head: string, row: string, columns: number) {
    this.#columns = columns;
    this.#full = db.prepare(`${head} ${Array.from({ length: BULK_ROWS }, () => row).join(', ')}`);
    this.#one = db.prepare(`${head} ${row}`);
  }

  /** A writer for one write, inside the caller's transaction: `end` it before the transaction ends. */
  writer(): BulkWriter {
    return new BulkWriter(this.#full, this.#one, this.#columns);
  }
}

export class BulkWriter {
  readonly #full: Database.Statement;
  readonly #one: Database.Statement;
  readonly #columns: number;
  /** The values of the rows not yet written, one row's after the other's. */
  readonly #values: unknown[];
  #length = 0;

  constructor(full: Database.Statement, one: Database.Statement, columns: number) {
    this.#full = full;
    this.#one = one;
    this.#columns = columns;
    this.#values = new Array<unknown>(BULK_ROWS * columns);
  }

  /** Adds a row (its values in the order of the row's `?`s), written with the next full statement or by `end`. */
  add(...values: unknown[]): void {
    if (values.length !== this.#columns) throw new RangeError(`a row of ${values.length} values where the statement takes ${this.#columns}`);
    for (let i = 0; i < values.length; i++) this.#values[this.#length++] = values[i];
    if (this.#length === this.#values.length) {
      this.#full.run(this.#values);
      this.#length = 0;
    }
  }

  /** Writes the rows still held, a statement each. */
  end(): void {
    for (let from = 0; from < this.#length; from += this.#columns) this.#one.run(this.#values.slice(from, from + this.#columns));
    this.#length = 0;
  }
}
