/**
 * Opens the ledger a spec names: a `postgres://` or `postgresql://` URL is a PostgreSQL ledger,
 * anything else a SQLite file (or `:memory:`).
 */
import { BatchEnrichError } from '../errors.ts';
import { Ledger } from './ledger.ts';
import type { LedgerStore } from './store.ts';

/** Whether a ledger spec names a PostgreSQL database. */
export function isPostgresUrl(spec: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(spec);
}

export async function openLedger(spec: string): Promise<LedgerStore> {
  if (isPostgresUrl(spec)) throw new BatchEnrichError('BE_USAGE', 'A PostgreSQL ledger is not in this build yet');
  return new Ledger(spec);
}

/** Whether a value is an open ledger (the library's `ledger` option takes one, or a spec). */
export function isLedgerStore(value: unknown): value is LedgerStore {
  return typeof value === 'object' && value !== null && typeof (value as LedgerStore).openBatch === 'function' && typeof (value as LedgerStore).records === 'function';
}
