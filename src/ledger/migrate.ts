/**
 * Schema migrations of a SQLite file that other processes may be opening and migrating at the same
 * moment (workers started together on a new ledger).
 */
import type Database from 'better-sqlite3';

export interface Migration {
  /** The version the schema is brought to. */
  readonly target: number;
  /** Throws when the file cannot be migrated from `found` (a schema newer than `target`). */
  check(found: number): void;
  /** Makes the step from version `from` (below `target`) and returns the version it reached. */
  step(from: number): number;
}

/**
 * Brings the schema of `db` to `migration.target`, one step at a time, each in a transaction of its
 * own that holds the write lock from its start (`immediate`) and reads the version again under it:
 * a step another process has made meanwhile is not made twice.
 *
 * Under the lock, the connection's picture of the schema is brought up to date before a step is
 * compiled. SQLite checks that picture when a statement runs, not when it is compiled, and reading
 * `user_version` does not check it: a step whose first statement adds a column failed at compile time
 * with "duplicate column name" when this connection still saw that column from before another
 * process dropped it (one round of 1,050 in which 6 workers started together, before 2026-12-06).
 */
export function migrate(db: Database.Database, migration: Migration): void {
  const version = () => db.pragma('user_version', { simple: true }) as number;
  migration.check(version());
  while (version() < migration.target) {
    db.transaction(() => {
      // A statement that reads the schema table runs SQLite's check: a stale picture is read again.
      db.prepare('SELECT 1 FROM sqlite_schema LIMIT 1').get();
      const from = version();
      migration.check(from);
      if (from >= migration.target) return;
      db.pragma(`user_version = ${migration.step(from)}`);
    }).immediate();
  }
}
