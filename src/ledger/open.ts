/**
 * Opens the ledger a `--ledger` value (or `BATCH_ENRICH_LEDGER`) names: a `postgres://` or
 * `postgresql://` URL is a PostgreSQL database (`./postgres.ts`), anything else a SQLite file
 * (`./ledger.ts`, the default).
 */
import { Ledger, writtenNotes } from './ledger.ts';
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
