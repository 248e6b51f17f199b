/** Ledger specs: which store they name, and how they may be shown (no database client needed). */

/** Whether a ledger spec names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec.trim());
}

/**
 * The URL as it may be shown and stored: without its password (in the authority or as a query
 * parameter). A URL that cannot be parsed is not echoed at all: it may hold a password where we
 * cannot find it.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${url.slice(0, url.indexOf(':') + 1) || 'postgres:'}//(an unreadable URL)`;
  }
  if (parsed.password) parsed.password = '';
  for (const name of [...parsed.searchParams.keys()]) if (/password/i.test(name)) parsed.searchParams.delete(name);
  return parsed.toString();
}

/** A ledger spec as it may be shown: a PostgreSQL URL without its password, a file path as it is. */
export function shownLedger(spec: string): string {
  return isPostgresUrl(spec) ? redactUrl(spec) : spec;
}
