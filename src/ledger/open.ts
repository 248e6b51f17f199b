/**
 * Opens the ledger a `--ledger` value (or `BATCH_ENRICH_LEDGER`) names: a `postgres://` or
 * `postgresql://` URL is a PostgreSQL database (`./postgres.ts`), anything else a SQLite file
 * (`./ledger.ts`, the default).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Ledger, olderSchema, writtenNotes } from './ledger.ts';
import type { LedgerStore, WrittenFile } from './store.ts';
import { BatchEnrichError } from '../errors.ts';
import { isPostgresUrl, notALedger } from './url.ts';

export { isPostgresUrl };

/**
 * The ledger at `spec`: PostgreSQL for a `postgres://` / `postgresql://` URL, else a SQLite file
 * (or `:memory:`). The PostgreSQL client is loaded only when one is asked for.
 */
export async function openLedger(spec: string): Promise<LedgerStore> {
  const problem = notALedger(spec);
  if (problem) throw new BatchEnrichError('BE_INVALID_OPTION', `--ledger (the library's ledger): ${problem}`);
  // ` :memory: ` (a value from a config, with its blanks) is the ledger in memory, not a file of that name.
  if (!isPostgresUrl(spec)) return new Ledger(spec.trim() === ':memory:' ? ':memory:' : spec);
  const { PgLedger } = await import('./postgres.ts');
  return PgLedger.open(spec.trim());
}

/**
 * The ledger at `spec` for reading only (`status`), and what closes it. A SQLite file of another user
 * (`owner`: its uid), or whose folder this user cannot write, is read from a copy made now in a private temporary folder (`copiedFrom`: the
 * ledger copied), deleted on close: in WAL mode SQLite writes its `-shm` file beside the ledger even to read
 * it (helper-75: a scheduler's ledger could not be shown to anyone else). The copy is the ledger as it
 * is on disk at that moment, its write-ahead log with it (a run writing meanwhile may be part in it).
 */
export async function openLedgerToRead(spec: string): Promise<{ ledger: LedgerStore; copiedFrom?: string; owner?: number; close: () => Promise<void> }> {
  // Another user's ledger (root's `sudo batch-enrich status`) is never opened in place: the -wal and
  // -shm files SQLite made beside it would be this user's, and its owner's next run could not write
  // them (SQLITE_READONLY); a migration would change its schema (note 48).
  const owner = !isPostgresUrl(spec) && spec.trim() !== ':memory:' && process.getuid !== undefined ? ownerOf(spec) : undefined;
  if (owner !== undefined && owner !== process.getuid?.()) return { ...copied(spec, undefined), owner };
  try {
    const ledger = await openLedger(spec);
    return { ledger, close: async () => ledger.close() };
  } catch (error) {
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    if (isPostgresUrl(spec) || typeof code !== 'string' || !/^(SQLITE_READONLY|SQLITE_CANTOPEN|EACCES|EPERM)/.test(code)) throw error;
    return copied(spec, error);
  }
}

/** The uid that owns a file, or undefined when it cannot be read. */
function ownerOf(path: string): number | undefined {
  try {
    return statSync(path).uid;
  } catch {
    return undefined;
  }
}

/** A SQLite ledger read from a copy in a private temporary folder, deleted on close; `failed` is thrown if the copy cannot be made. */
function copied(spec: string, failed: unknown): { ledger: LedgerStore; copiedFrom: string; close: () => Promise<void> } {
  const folder = mkdtempSync(join(tmpdir(), 'batch-enrich-ledger-'));
  try {
    const copy = join(folder, basename(spec));
    copyFileSync(spec, copy);
    if (existsSync(`${spec}-wal`)) copyFileSync(`${spec}-wal`, `${copy}-wal`);
    const ledger = new Ledger(copy);
    return { ledger, copiedFrom: spec, close: async () => (await ledger.close(), rmSync(folder, { recursive: true, force: true })) };
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw failed ?? error;
  }
}

/**
 * Whether the ledger at `spec` was made ('none': a SQLite file that is not there, a PostgreSQL database
 * no run made its tables in, `:memory:`), and whether in a schema older than this version's ('older':
 * opened, it would be migrated), asked without opening it as a ledger: for `--dry-run`, which leaves
 * the ledger as it is. A PostgreSQL server that cannot be reached is a `BE_LEDGER` error.
 */
export async function ledgerMade(spec: string): Promise<'none' | 'older' | 'made'> {
  if (spec.trim() === ':memory:') return 'none';
  if (!isPostgresUrl(spec)) return !existsSync(spec) ? 'none' : olderSchema(spec) ? 'older' : 'made';
  const { pgLedgerMade } = await import('./postgres.ts');
  return pgLedgerMade(spec.trim());
}

/**
 * The files runs noted as written in the ledger at `spec`, read as it is: nothing is migrated or
 * written (`--dry-run`). A SQLite file that cannot be read has none; a PostgreSQL server that cannot
 * be reached is a `BE_LEDGER` error.
 */
export async function writtenNotesOf(spec: string): Promise<WrittenFile[]> {
  if (!isPostgresUrl(spec)) return writtenNotes(spec);
  const { pgWrittenNotes } = await import('./postgres.ts');
  return pgWrittenNotes(spec.trim());
}

/** Whether a value is an open ledger (the library's `ledger` option takes one, or a spec). */
export function isLedgerStore(value: unknown): value is LedgerStore {
  return typeof value === 'object' && value !== null && typeof (value as LedgerStore).openBatch === 'function' && typeof (value as LedgerStore).records === 'function';
}
