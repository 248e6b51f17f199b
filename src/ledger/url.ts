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

/**
 * Why a ledger spec that is no PostgreSQL URL is no SQLite file path either, or undefined: a URL of
 * another scheme (`postgress://`, `mysql://`, `sqlite:///x.db`, `file:/x.db`), or `:memory` for
 * `:memory:`. Taken for a path, such a spec made a file tree in the working directory (helper-77: the
 * password of `postgress://app:s3cret@db/etl` in a folder's name), where the user thought the answers
 * were kept in a shared database.
 */
export function notALedger(spec: string): string | undefined {
  const trimmed = spec.trim();
  if (isPostgresUrl(trimmed)) return undefined;
  // A PostgreSQL scheme without its two slashes (helper-78: `postgres:/app:s3cret@db/etl` was a path);
  // shown without what may be a password (between the user's colon and an @).
  if (/^postgres(ql)?:/i.test(trimmed)) return `${trimmed.replace(/^([^:]+:[^:@]*:)[^@]*@/, '$1…@')} is not a PostgreSQL URL: it starts postgres:// or postgresql:// (two slashes)`;
  const scheme = /^([a-z][a-z0-9+.-]*):(\/\/)?/i.exec(trimmed);
  const sqliteUrl = scheme !== null && /^(sqlite3?|file)$/i.test(scheme[1] as string);
  // A scheme with `//`, or a sqlite/file one; a Windows drive (`C:\\ledger.db`, `C:/ledger.db`) has neither, and is a path.
  if (scheme && (scheme[2] !== undefined || sqliteUrl)) {
    const path = sqliteUrl ? trimmed.slice(scheme[0].length).replace(/^\/*(?=\/)/, '') : undefined;
    // A file or sqlite URL has no password: as written.
    return `${path === undefined ? redactUrl(trimmed) : trimmed} is a URL of a kind the ledger is not: a PostgreSQL URL starts postgres:// or postgresql://; a SQLite ledger is a file path${path ? `: ${path}` : ''}`;
  }
  // A folder named ~ in the working directory, where the user meant home (helper-88).
  if (/^~($|\/)/.test(trimmed)) return `${trimmed} starts with ~, which only a shell expands (not in --ledger=~/…, nor in the library): give the path from /, or $HOME${trimmed.slice(1)} in a shell`;
  if (/^:memory:?$/i.test(trimmed) && trimmed !== ':memory:') return `${JSON.stringify(spec)} is no file to keep: did you mean :memory: (a ledger in memory, kept nowhere)?`;
  return undefined;
}
