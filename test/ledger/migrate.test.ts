/**
 * Migrations of a SQLite file that another process migrates at the same moment (workers started
 * together on a new ledger): each step is made once, whatever the other connection did between them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, type Migration } from '../../src/ledger/migrate.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Two connections on one new WAL file, as two workers' ledgers. */
function twoConnections(): [Database.Database, Database.Database] {
  const dir = mkdtempSync(join(tmpdir(), 'be-migrate-'));
  dirs.push(dir);
  const open = () => {
    const db = new Database(join(dir, 'ledger.db'));
    db.pragma('journal_mode = WAL');
    return db;
  };
  return [open(), open()];
}

/** Steps as the ledger's 6 → 9 are: a table with a column `h`, `h` dropped, `h` added again. */
const STEPS: Record<number, string> = {
  0: 'CREATE TABLE requests (id INTEGER PRIMARY KEY, h INTEGER)',
  1: 'ALTER TABLE requests DROP COLUMN h',
  2: 'ALTER TABLE requests ADD COLUMN h INTEGER',
};
/** The steps of `STEPS` up to `target`, made on `db`; each step made is noted in `made`. */
function steps(db: Database.Database, target: number, made: number[]): Migration {
  return {
    target,
    check: (found) => {
      if (found > 3) throw new Error(`schema ${found} is newer`);
    },
    step: (from) => {
      made.push(from);
      db.exec(STEPS[from]!);
      return from + 1;
    },
  };
}

describe('migrations that another connection makes in between', () => {
  it("a step is compiled against the schema as it is, not as this connection last saw it (a column another one dropped can be added again)", () => {
    const [mine, other] = twoConnections();
    const run = (db: Database.Database, target: number, made: number[]) => migrate(db, steps(db, target, made));
    const mineMade: number[] = [];
    const otherMade: number[] = [];
    run(mine, 1, mineMade); // mine now knows `requests` with its `h`
    run(other, 2, otherMade); // the other drops `h`
    run(mine, 3, mineMade); // and mine adds it again: "duplicate column name: h" before 2026-12-06
    expect([mineMade, otherMade]).toEqual([[0, 2], [1]]);
    expect(mine.prepare("SELECT name FROM pragma_table_info('requests') ORDER BY cid").pluck().all()).toEqual(['id', 'h']);
    expect(mine.pragma('user_version', { simple: true })).toBe(3);
    mine.close();
    other.close();
  });

  it('a step the other connection made meanwhile is not made again, and a newer schema is refused', () => {
    const [mine, other] = twoConnections();
    const made: number[] = [];
    migrate(other, steps(other, 3, made));
    migrate(mine, steps(mine, 3, made));
    expect(made).toEqual([0, 1, 2]);
    other.pragma('user_version = 4');
    expect(() => migrate(mine, steps(mine, 3, made))).toThrow('schema 4 is newer');
    mine.close();
    other.close();
  });
});
