/**
 * What the job commands (`status`, `cancel`, `results`, `gc`) share: the current API identity, the
 * ledger they read, their common flags and help texts.
 *
 * Identity. A batch can only be seen with the key (workspace) and base URL that created it, and the
 * ledger records both (the URL, and a fingerprint of the key, never the key). So these commands only
 * call the API for a ledger batch whose identity matches the current `ANTHROPIC_BASE_URL` and
 * `ANTHROPIC_API_KEY`; other batches are shown, with the identity they need, but never queried. A
 * rejected alternative was to query every batch and show the 404s: that spends calls, and it sends
 * a key to a base URL it was never meant for.
 *
 * Ledger states are owned by the run loop (the sink). `status` and `cancel` only read them: a rerun
 * of the job sees a canceled batch end, downloads it like any other, and submits what it did not
 * answer again, so nothing is lost. Only `gc` writes.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { createClient, DEFAULT_BASE_URL, identityOf, keyFingerprint, publicBaseUrl } from '../../client/client.ts';
import { defaultLedgerPath, type BatchRow } from '../../ledger/ledger.ts';
import { isPostgresUrl, openLedger, openLedgerToRead } from '../../ledger/open.ts';
import type { LedgerStore } from '../../ledger/store.ts';
import { shownLedger } from '../../ledger/url.ts';
import { BATCH_EXPIRY_MS } from '../../sink/options.ts';
import type { CliIo } from '../io.ts';
import { say } from '../command.ts';
import type { Flag } from '../flags.ts';

export { shownLedger };

/** How long a batch may process before the API expires it (`expires_at` = `created_at` + 24 h). */
export const EXPIRY_MS = BATCH_EXPIRY_MS;

/** `--ledger PATH`, as the job commands read it. */
export const LEDGER_FLAG = {
  value: 'PATH',
  help: 'the ledger file',
  defaultText: '$BATCH_ENRICH_LEDGER, else ~/.cache/batch-enrich/ledger.db',
} as const satisfies Flag<string>;

/** `--help` of every command. */
export const HELP_FLAG = { help: 'show this help' } as const satisfies Flag;

export const API_ENVIRONMENT = `Environment:
  ANTHROPIC_API_KEY   the API key; never printed or stored (the ledger keeps an 8-hex fingerprint)
  ANTHROPIC_BASE_URL  the API base URL (default: https://api.anthropic.com)`;
export const ENVIRONMENT = `${API_ENVIRONMENT}
  BATCH_ENRICH_LEDGER the ledger file, unless --ledger is given`;

/** The current API identity: a client, and what a ledger row of the same identity carries. */
export interface Api {
  client: Anthropic;
  baseURL: string;
  fingerprint: string;
  /** The identity's scope (see `identityOf`): a batch row of the same scope was made under this identity. */
  scope: string;
}

/** The client for the current identity, or undefined without a key. The key itself is not kept. */
export function apiFromEnv(env: NodeJS.ProcessEnv): Api | undefined {
  const key = env['ANTHROPIC_API_KEY'];
  if (!key) return undefined;
  // The base URL is passed explicitly (not left to the SDK's own read of process.env), so the
  // identity is decided by `io.env` alone.
  const client = createClient({ apiKey: key, baseURL: env['ANTHROPIC_BASE_URL'] || DEFAULT_BASE_URL });
  return { client, baseURL: publicBaseUrl(client.baseURL), fingerprint: keyFingerprint(key), scope: identityOf(client, key).scope };
}

/** The current identity, or undefined after saying on stderr that a key is needed to do `what`. */
export function requireApi(io: CliIo, what: string): Api | undefined {
  const api = apiFromEnv(io.env);
  if (!api) say(io, `no API key: set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for another endpoint) to ${what}`);
  return api;
}

export function identityMatches(row: BatchRow, api: Api): boolean {
  return row.scope === api.scope;
}

export function otherIdentity(row: BatchRow): string {
  return `other identity: ${row.base_url}, key fingerprint ${row.key_fingerprint}`;
}

/** The ledger path the flags and environment name. */
export function ledgerPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? defaultLedgerPath(env);
}

/**
 * Opens the ledger at `path`, or undefined when there is none: a job command never creates one.
 * The one place the job commands open a ledger.
 */
export async function openExistingLedger(path: string): Promise<LedgerStore | undefined> {
  if (!isPostgresUrl(path) && path !== ':memory:' && !existsSync(path)) return undefined;
  return openLedger(path);
}

/** Opens the ledger only if it exists, runs `fn`, closes it; undefined when there is no ledger. */
export async function withLedger<T>(path: string, fn: (ledger: LedgerStore) => Promise<T>): Promise<T | undefined> {
  const ledger = await openExistingLedger(path);
  if (!ledger) return undefined;
  try {
    return await fn(ledger);
  } finally {
    await ledger.close();
  }
}

/**
 * `withLedger` for a command that only reads it (`status`): a SQLite ledger of another user, or whose
 * folder this user cannot write, is read from a copy made now, as `io`'s stderr says (`openLedgerToRead`).
 */
export async function readingLedger<T>(io: CliIo, path: string, fn: (ledger: LedgerStore) => Promise<T>): Promise<T | undefined> {
  if (!isPostgresUrl(path) && path !== ':memory:' && !existsSync(path)) return undefined;
  const { ledger, copiedFrom, owner, close } = await openLedgerToRead(path);
  if (copiedFrom !== undefined) {
    say(io, owner !== undefined ? `the ledger ${copiedFrom} belongs to another user (uid ${owner}): shown from a copy read now` : `the ledger's folder ${dirname(copiedFrom)} is read-only for this user: shown from a copy read now`);
  }
  try {
    return await fn(ledger);
  } finally {
    await close();
  }
}

export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
