/**
 * The ledger: an embedded SQLite database (better-sqlite3, WAL) that holds every request we built,
 * every batch we submitted and every answer we got; the records of the runs in progress wait beside
 * it, in a scratch file per connection (`./scratch.ts`). It is what keeps memory flat (pending
 * records wait on disk, not in a Map) and what makes work survive a crash or Ctrl-C without paying
 * twice:
 *
 * - requests (`request_rows`) are found by `(scope, key)`, through a hash of both (`keyHash`) kept
 *   on each row and held in memory by id (`./key-index.ts`), not in an index on disk. The key hashes
 *   the whole request (see `requestKey`) and the scope hashes the API identity (base URL and a hash
 *   of the key, never the key), so a rerun finds what was already submitted or answered.
 *   A request is `pending` (to submit), `submitted` (in a batch) or `done` (its result stored). Its
 *   row is written once and never updated (schema 12): what becomes of it is appended to the `log`,
 *   one entry for a batch that takes requests (their ids in it, and on the batch's row), one for a
 *   chunk of answers, one for a release; each connection folds the log into where each request
 *   stands, in memory (`./states.ts`), from the ledger's last `snapshots` row of those states and
 *   the key index. The rarer steps (gc, status) read the view `requests`: the rows with the columns
 *   they had before schema 12 (state, batch, attempts, result), as the fold has them. What a request
 *   sends lives apart: the params shared by a job once in `specs`, each request's messages in
 *   `payloads` (under the request's id), and its answer in `results`.
 *   Rows are appended in id order, never inserted by a hash key: a random-key B-tree insert dirties
 *   a page per row, and at a million rows that write volume was most of the ledger's cost; and an
 *   update of a row for each request batched and answered was, after that, most of what was left.
 * - `batches` record each submission *before* `create` is called (state `creating`, with the nonce
 *   that prefixes its `custom_id`s) and again after (`in_progress` with the remote id), so a crash
 *   between the two leaves a row from which the batch can be found again (orphan discovery) instead
 *   of being paid for twice. Each batch belongs to the run that made it.
 * - `runs` are processes working on a job. A run is alive only while it keeps a heartbeat (a timestamp
 *   it refreshes every `HEARTBEAT_MS`) and, when it shares this host and pid namespace, its pid is
 *   alive: a pid alone lies in containers (every run is PID 1) and after pid reuse. A dead run no
 *   longer owns anything, and a beat that comes too late does not revive it (the run stops).
 * - `claims` hold every remote batch id a row of this ledger owns (unique): a row claims its remote
 *   batch when it records it (`setRemote`), so two rows never stand for one batch (see
 *   `src/sink/adoption.ts`, where candidates are checked without a claim).
 * - the records of a run, the input waiting to be written out in order, are not kept here but in a
 *   scratch file of the connection that runs it (`./scratch.ts`): nobody else reads them and they do
 *   not outlive the run, so they need none of the ledger's durability.
 *
 * better-sqlite3 is synchronous; writes are grouped into transactions by the caller (`transaction()`).
 * Several processes may share one ledger (WAL, busy timeout): ownership is by run, and a request is
 * assigned to a batch only while it is `pending`, as the log says under the write lock (each step
 * folds what others appended first), so two runs never submit the same request.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { BatchEnrichError } from '../errors.ts';
import { plural } from '../core/text.ts';
import { cutShortSql, fileIdsIn, SELECT_WRITTEN, forwardState, gcRules, ledgerBusy, SQLITE_BUSY_TIMEOUT_MS, stoppedEarlySql, type StoppedEarly, NAMES_A_FILE, RETRY_WAITING, tryMark, type CutShort, type GcRules, type RunOutcome, type GcAt, type WrittenFile, type GcCounts, type KnownRequest, type LedgerStore, type NewRecord, type NewRequest, type Settlement, type Spec, countsByBatch, type ResultCounts } from './store.ts';
import { RunRecords, removeScratch } from './scratch.ts';
import { UploadRegistry } from './uploads.ts';
import { BulkInsert } from './bulk.ts';
import { migrate } from './migrate.ts';
import { KeyIndex, PairBuffer } from './key-index.ts';
import { answersBlob, DONE, foldAnswers, LOG, membersBlob, membersOf, PENDING, RequestStates, stateCode, stateName, type Answered } from './states.ts';

const SCHEMA_VERSION = 12;

/**
 * How many log entries a run's end lets pile up after the ledger's last snapshot of the states
 * before it writes a new one (`#snapshot`): a connection that opens the ledger folds at most about
 * as many (200,000 entries: about 0.5 s).
 */
export const SNAPSHOT_AFTER = 50_000;

/**
 * Requests are found by `(scope, key)` through their key hash, in memory (`./key-index.ts`, schema
 * 9): how many new ones it takes before they are merged into its sorted arrays.
 */
export const KEYS_MERGE_AT = 65_536;

/**
 * How many requests one step of `gc` deletes at most. Each step is a transaction of its own, so a
 * run beside a gc waits for one step (about 0.1 s), not for the whole gc: in one transaction, a gc of
 * 1,000,000 requests held the write lock 5.6 s, and past about 1,700,000 it outlasted the 10 s busy
 * timeout, failing the runs' writes.
 */
export const GC_STEP = 20_000;
/**
 * How long `gc` pauses between its steps: the longest SQLite's busy handler sleeps between two tries
 * at the lock, so a run waiting on it gets the lock at the next pause. Without a pause the waiting
 * run kept missing the instant between one step's commit and the next one's start (measured: a write
 * beside a gc of 1,000,000 requests waited 1.8-2.4 s through 15 steps).
 */
export const GC_PAUSE_MS = 100;

/** How often a run refreshes its heartbeat. */
export const HEARTBEAT_MS = 5_000;
/**
 * A run whose heartbeat is older than this is dead, whatever its pid says. Six beats: a run's event
 * loop can be busy for seconds (a large transaction), never for half a minute.
 */
export const RUN_STALE_MS = 6 * HEARTBEAT_MS;
/** The records a dead run left are dropped only once it has been silent this long (a run taken for dead too soon loses nothing). */
export const RUN_RECORDS_STALE_MS = 10 * 60_000;
/**
 * Where this process's pids mean something: the machine's name, its pid namespace (two containers
 * that share a host name, with `--network host`, have different pid namespaces) and its boot (the
 * root pid namespace has the same inode on every Linux, so two machines of one name, cloned VMs,
 * differ only there; and pids start again at each boot). A pid is looked at only for a run recorded
 * with the same value; a run recorded by a batch-enrich before the boot id was part of it is judged
 * by its heartbeat alone.
 */
export const HOST = hostPidSpace();

function hostPidSpace(): string {
  // Each part on its own: a sandbox that hides the boot id must not lose the pid namespace.
  const read = (what: () => string) => {
    try {
      return what();
    } catch {
      return '-';
    }
  };
  const space = read(() => readlinkSync('/proc/self/ns/pid'));
  const boot = read(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  return space === '-' && boot === '-' ? hostname() : `${hostname()}/${space}/${boot}`;
}
/** The request key's hash part (see `requestKey`): a key stored before schema 5 is `<label>-<hash>`. */
const KEY_HASH_CHARS = 22;

/**
 * What `gc` deletes (and `gcPreview` counts), as of a time (`gcRules`): finished batches, and
 * requests not waiting on a batch that may answer, untouched since `?`; none of a job that still has
 * batches to finish. A scheduler's job comes back (`--no-wait`) with no run alive in between, and its
 * next try reads the whole input again: an answered request deleted meanwhile would be paid for
 * again (its expired requests, sent again a day later, keep a job unfinished for days).
 */
function gcBatchesWhere(rules: GcRules): string {
  return `updated_at < ? AND state IN ('downloaded', 'failed') AND job NOT IN (${rules.unfinishedJobs}) AND run NOT IN (${rules.markedRuns})`;
}
function gcRequestsWhere(rules: GcRules): string {
  return `updated_at < ? AND (state != 'submitted' OR (result_id IS NULL AND batch_id NOT IN (SELECT id FROM batches WHERE NOT ${rules.archived}))) AND NOT (${RETRY_WAITING})
  AND (batch_id IS NULL OR batch_id NOT IN (SELECT id FROM batches WHERE job IN (${rules.unfinishedJobs}) OR run IN (${rules.markedRuns}))) AND NOT ${rules.borrowedKept}`;
}
/**
 * The batches that can answer nothing more (`GcRules.archived`) that `gc` forgets once the requests
 * it deletes are gone: of a finished job, untouched since `?`, and with no request still waiting on
 * them (a request that waits on a batch always has its row). `requestGone` is the requests' own
 * condition, with its one `?` (`before`) bound second.
 */
function gcArchivedWhere(rules: GcRules, requestGone: string): string {
  return `updated_at < ? AND ${rules.archived} AND job NOT IN (${rules.unfinishedJobs})
  AND id NOT IN (SELECT batch_id FROM requests WHERE state = 'submitted' AND batch_id IS NOT NULL AND result_id IS NULL AND NOT (${requestGone}))`;
}
/**
 * The requests sent again after a first answer (a retry: they keep their attempts, raised
 * `max_tokens` and last result) that wait on a batch `gc` forgets: sent back to pending, kept as
 * `RETRY_WAITING` keeps them, rather than deleted (the next try would ask with the first `max_tokens`).
 */
function gcReleaseRetries(rules: GcRules): string {
  return `SELECT id FROM batches WHERE ${rules.archived} AND job NOT IN (${rules.unfinishedJobs})`;
}

/** A batch's row as `BatchRow` (its `members`, a blob of ids, stay in the ledger). */
const BATCH_COLUMNS = 'id, scope, run, job, nonce, remote_id, state, request_count, bytes, cost_bytes, created_at, updated_at, base_url, api_version, key_fingerprint, error';

/**
 * A request found by `(scope, key)`, given an id the key index holds for its hash (bound as `id, scope,
 * key`): the row proves the id, which may be another key's (see `./key-index.ts`); the request is `q`.
 */
const BY_KEY = 'FROM requests q WHERE q.id = ? AND q.scope = ? AND q.key = ?';

/**
 * `known`'s `failure` column (SQL that SQLite and PostgreSQL both take): a stored result that
 * mentions a failure type, unless it is a success. A success is told by its first bytes, as results
 * are stored (`{"type":"succeeded"…`), before any scan of the whole text: on a rerun nearly every
 * request has one, and the three scans of its 700 characters cost about 2 µs a request (a rerun of
 * 200,000 rows: `known` 6.4 → 4.1 µs a key).
 */
export const KNOWN_FAILURE = `CASE WHEN a.result LIKE '{"type":"succeeded"%' THEN NULL WHEN a.result LIKE '%"errored"%' OR a.result LIKE '%"expired"%' OR a.result LIKE '%"canceled"%' THEN a.result END`;

export type RequestState = 'pending' | 'submitted' | 'done';
export type BatchState = 'creating' | 'in_progress' | 'ended' | 'downloaded' | 'failed';

/** What deciding a request's next step needs once its result is in (see `Ledger.submittedOf`). */
export interface Waiting {
  /** The request's id (its row). */
  id: number;
  spec: string;
  attempts: number;
  max_tokens: number | null;
  /** The result stored for an earlier attempt, replaced in place by the next one. */
  result_id: number | null;
}

/** Who a batch was submitted as: it can only be seen again under the same identity. */
export interface Identity {
  scope: string;
  baseUrl: string;
  apiVersion: string;
  /** A short hash of the API key (never the key). */
  keyFingerprint: string;
}

export interface BatchRow {
  id: number;
  scope: string;
  run: number;
  job: string;
  nonce: string;
  remote_id: string | null;
  state: BatchState;
  request_count: number;
  bytes: number;
  /** What its requests are priced by (`Group.costBytes`); null in batches of an older batch-enrich (then `bytes`). */
  cost_bytes: number | null;
  created_at: number;
  updated_at: number;
  base_url: string;
  api_version: string;
  key_fingerprint: string;
  error: string | null;
}

export interface RequestRow {
  key: string;
  /** The readable prefix shown in the `custom_id` (`--id-field`), not part of the key. */
  label: string | null;
  spec: string;
  state: RequestState;
  batch_id: number | null;
  attempts: number;
  /** A `max_tokens` that replaces the spec's (a truncated answer is retried with a larger one). */
  max_tokens: number | null;
  updated_at: number;
}

/** What one request sends: `head + messages + tail` is its params JSON. */
export interface PayloadRow {
  id: number;
  key: string;
  label: string | null;
  head: string;
  messages: string;
  tail: string;
  max_tokens: number | null;
}

/** A batch page's row as both stores read it: the request, with its spec's id in place of its head and tail. */
export type BatchPageRow = Omit<PayloadRow, 'head' | 'tail'> & { spec: string };

/**
 * A batch page's row with its spec's head and tail. The spec is never missing (gc deletes a spec
 * only when no request has it), and must not be skipped: a page short of a row would end the body
 * early, with fewer requests than the batch row was sized for.
 */
export function withSpec(row: BatchPageRow, spec: Spec | undefined, batchId: number, where: string): PayloadRow {
  const { id, key, label, messages, max_tokens } = row;
  if (!spec) throw new BatchEnrichError('BE_LEDGER', `The ledger${where} lacks the spec ${row.spec} of request ${key} (batch ${batchId})`);
  return { id, key, label, head: spec.head, messages, tail: spec.tail, max_tokens };
}

export interface RecordRow {
  seq: number;
  line: number;
  data: string;
  key: string | null;
  label: string | null;
  error: string | null;
  /** The stored result (the result line's `result` object, JSON), once the request is done. */
  result: string | null;
  state: RequestState | null;
  attempts: number | null;
  /** The ledger batch the request is in (submitted) or was answered by. */
  batch_id: number | null;
  /** The batch that answered the request, and its nonce (for provenance: `custom_id` = nonce_key). */
  remote_id: string | null;
  nonce: string | null;
}

export interface RunRow {
  id: number;
  job: string;
  pid: number;
  started_at: number;
  /** The machine it runs on (null for runs recorded before schema 5). */
  host: string | null;
  /** When it last showed it is alive (null: never, so it is not). */
  heartbeat_at: number | null;
  /** The scratch file that holds its records, in the ledger's folder (null: none, or in memory; SQLite only). */
  scratch?: string | null;
}

/**
 * The runs that keep gc from deleting requests, in words (`GcCounts.kept`): each with its pid, host
 * and when it was last heard from.
 */
export function workingRunsText(runs: readonly RunRow[], now: number): string {
  const one = (run: RunRow) => `run ${run.id} (pid ${run.pid} on ${run.host?.split('/')[0] ?? 'an unknown host'}, last heard from ${Math.max(0, Math.round((now - (run.heartbeat_at ?? now)) / 1000))} s ago)`;
  return `${runs.map(one).join(', ')} may still be working, and ${runs.length === 1 ? 'its' : 'their'} records point at requests; they go once ${runs.length === 1 ? 'it has' : 'those have'} ended, or been silent for ${RUN_RECORDS_STALE_MS / 60_000} minutes`;
}

/**
 * Whether a run may still read its records (gc keeps every request while one may): heard from within
 * `RUN_RECORDS_STALE_MS`, and not gone from this host (a run killed here is known dead at once).
 */
export function runMayBeWorking(run: RunRow, now: number): boolean {
  if (run.heartbeat_at === null || now - run.heartbeat_at >= RUN_RECORDS_STALE_MS) return false;
  return run.host !== HOST || processAlive(run.pid);
}

/** Whether a run is alive at `now`: its heartbeat is fresh and, on this host, its pid is alive. */
export function runIsAlive(run: RunRow, now: number): boolean {
  if (run.heartbeat_at === null || now - run.heartbeat_at >= RUN_STALE_MS) return false;
  return run.host !== HOST || processAlive(run.pid);
}

/** Where the ledger lives unless `--ledger` or `BATCH_ENRICH_LEDGER` says otherwise. */
export function defaultLedgerPath(env: NodeJS.ProcessEnv): string {
  if (env['BATCH_ENRICH_LEDGER']) return env['BATCH_ENRICH_LEDGER'];
  const base = env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'batch-enrich', 'ledger.db');
}

/**
 * Creates the ledger file readable by its owner only (0600), in a folder only the owner can enter
 * (0700) when the folder is new: it holds every prompt and answer. An existing file is left as it is.
 */
/**
 * Makes the missing folders above `path`, private. Folder by folder rather than `recursive: true`,
 * which spins forever where mkdir answers ENOENT for a parent that exists (under /proc, say): each
 * missing folder is made, or its error thrown.
 */
function privateFolders(path: string): void {
  const missing: string[] = [];
  for (let dir = dirname(path); !existsSync(dir) && dirname(dir) !== dir; dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) mkdirSync(dir, { mode: 0o700 });
}

/** The device and inode `path` names now. */
function fileOf(path: string): { dev: number; ino: number } {
  const { dev, ino } = statSync(path);
  return { dev, ino };
}

function createPrivate(path: string): void {
  privateFolders(path);
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * A 53-bit hash of a request's scope and key: what the ledger finds requests by (`requests.h`, schema 9).
 * Two requests may share one (each lookup compares scope and key too). cyrb53, by bryc (public domain).
 */
export function keyHash(scope: string, key: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const text = `${scope}\u0000${key}`;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Puts the ledger in WAL mode (a no-op once it is). On a new file, another process may be switching
 * it at the same moment (workers started together): SQLite then answers SQLITE_BUSY at once, without
 * the busy timeout (a connection that holds a shared lock does not wait for an exclusive one), so the
 * switch is tried again, for as long as the busy timeout would have waited.
 */
function walMode(db: Database.Database): void {
  const until = Date.now() + SQLITE_BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if (!ledgerBusy(error) || Date.now() > until) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/** Whether a process with this pid is alive on this machine. */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LedgerOptions {
  /** How many new keys the key index takes before it merges them (see `KEYS_MERGE_AT`; tests set it low). */
  keysMergeAt?: number;
  /** How many requests a step of `gc` deletes at most (see `GC_STEP`; tests set it low). */
  gcStep?: number;
  /** How long `gc` pauses between steps (see `GC_PAUSE_MS`). */
  gcPauseMs?: number;
  /** How many log entries pile up before a run's end writes a snapshot of the states (see `SNAPSHOT_AFTER`; tests set it low). */
  snapshotAfter?: number;
}

/**
 * Whether the SQLite ledger at `path` is older than this version's schema (a run would migrate it),
 * read without opening it as a ledger; false when it is not, or cannot be read so (opening it says why).
 */
export function olderSchema(path: string): boolean {
  return readOnly(path, (db) => (db.pragma('user_version', { simple: true }) as number) < SCHEMA_VERSION, false);
}

/** What `read` finds in the SQLite file at `path`, opened read-only (never as a ledger: nothing migrated or written); `otherwise` when it cannot be read. */
function readOnly<T>(path: string, read: (db: Database.Database) => T, otherwise: T): T {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  } catch {
    return otherwise;
  }
}

/**
 * The files runs noted as written (`LedgerStore.noteWritten`) in the SQLite ledger at `path`, read
 * without opening it as a ledger (no migration, no run, nothing written): for `--dry-run`, which
 * sends nothing and leaves the ledger as it is. None when there is no such file, or it is too old
 * to hold notes, or it cannot be read.
 */
export function writtenNotes(path: string): WrittenFile[] {
  if (path === ':memory:' || !existsSync(path)) return [];
  return readOnly(path, (db) => db.prepare<[], WrittenFile>(SELECT_WRITTEN).all(), []);
}

/**
 * Why a SQLite ledger cannot be opened, as its error: the system's words (once), and for a folder that
 * is read-only what to do (helper-75: "SQLITE_READONLY_DIRECTORY: attempt to write a readonly database"
 * named neither the folder nor the files SQLite writes there).
 */
export function cannotOpen(path: string, error: unknown): BatchEnrichError {
  const { code, message } = error as NodeJS.ErrnoException;
  // Node's own errors start with their code already ("ENOENT: no such file…"); SQLite's do not.
  const reason = code && !message.startsWith(`${code}:`) ? `${code}: ${message}` : message;
  const todo = code === 'SQLITE_READONLY_DIRECTORY' ? `; its folder ${dirname(path)} is read-only, and SQLite writes its journal files (${basename(path)}-wal, ${basename(path)}-shm) beside it: make the folder writable, or give a ledger in a writable one (--ledger)` : '';
  return new BatchEnrichError('BE_LEDGER', `Cannot open the ledger ${path}: ${reason}${todo}`, { cause: error });
}

export class Ledger implements LedgerStore {
  readonly path: string;
  readonly #gcStep: number;
  readonly #gcPauseMs: number;
  readonly #snapshotAfter: number;
  /** The file the ledger opened (device and inode), to notice it deleted or replaced under the run (`#stillThere`). */
  #file: { dev: number; ino: number } | undefined;
  readonly #db: Database.Database;
  readonly #stmt;
  #uploads: UploadRegistry | undefined;
  /** The records of the runs this connection started. */
  readonly #records: RunRecords;
  /** The specs read so far (see `#spec`). */
  readonly #specs = new Map<string, Spec>();
  /** What `intake` writes for its new requests, many rows to a statement. */
  readonly #bulk;
  /** Request ids by key hash (`./key-index.ts`): every request up to the id `#keysSeen`, and ours since. */
  readonly #keys: KeyIndex;
  #keysSeen = 0;
  /** The pairs a catch-up reads, before they go into the key index. */
  readonly #taken = new PairBuffer();
  /**
   * Where each request stands (`./states.ts`): every request up to the id `#rowsSeen` (its row as
   * written, or as the ledger's snapshot had it), then the log up to the entry `#logSeen`.
   */
  readonly #states = new RequestStates();
  #rowsSeen = 0;
  #logSeen = 0;
  /** The members of the batches last read (their ids, ascending), by batch id: a batch's body is read a page at a time. */
  readonly #members = new Map<number, Float64Array>();

  constructor(path: string, options: LedgerOptions = {}) {
    this.path = path;
    this.#keys = new KeyIndex(options.keysMergeAt ?? KEYS_MERGE_AT);
    this.#gcStep = options.gcStep ?? GC_STEP;
    this.#gcPauseMs = options.gcPauseMs ?? GC_PAUSE_MS;
    this.#snapshotAfter = options.snapshotAfter ?? SNAPSHOT_AFTER;
    // better-sqlite3 takes '' for a throw-away database: every rerun would pay again.
    if (path.trim() === '') throw new BatchEnrichError('BE_USAGE', 'The ledger path is empty: give a file (or :memory: for a throw-away ledger)');
    if (path !== ':memory:' && existsSync(path) && statSync(path).isDirectory()) {
      throw new BatchEnrichError('BE_LEDGER', `The ledger ${path} is a folder: give a file in it, such as ${join(path, 'ledger.db')}`);
    }
    try {
      if (path !== ':memory:') createPrivate(path);
      this.#db = new Database(path, { fileMustExist: path !== ':memory:' });
      // First: every step below may meet another process that opens or migrates the same new file
      // at the same moment (workers started together), and must wait for it, not fail with SQLITE_BUSY.
      this.#db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      // 8 KB pages for a new ledger (an existing one keeps its own): most of what a run writes is
      // appended (what requests send, their results), and a page is written whole at each commit
      // that touches it (ledger-floor at 200,000 rows: about 10% less CPU than 4 KB pages; 16 KB
      // gave the same, with more written per page of the request index).
      if (path === ':memory:' || this.#db.pragma('page_count', { simple: true }) === 0) this.#db.pragma('page_size = 8192');
      walMode(this.#db);
      this.#db.pragma('synchronous = NORMAL');
      // A 16 MB page cache (32 and 64 MB gave no gain at a million rows). Checkpoints every 65,536
      // pages (256 MB of WAL) rather than 4,096: a page rewritten by many transactions (a request
      // row updated when it is batched and when it is answered) is copied to the database once per
      // checkpoint, not once per transaction (ledger-floor at 1,000,000 rows, with the key index on
      // disk then: 74 → 68 µs per record). The WAL file is cut back to 64 MB after a checkpoint.
      this.#db.pragma('cache_size = -16384');
      this.#db.pragma('temp_store = MEMORY');
      // A request's `h`, for the migrations that compute it (6, 8).
      this.#db.function('be_key_hash', { deterministic: true }, (scope, key) => keyHash(String(scope), String(key)));
      // Takes a request's (id, h) for the key index (see `#sync`); returns the id.
      this.#db.function('be_take_key', { deterministic: false }, (id, h) => {
        this.#taken.push(Number(h), Number(id));
        return id;
      });
      // The same, and its row's state.
      this.#db.function('be_take_row', { deterministic: false }, (id, h, state, batch, attempts, maxTokens, result, updated) => {
        this.#taken.push(Number(h), Number(id));
        this.#states.add(Number(id), stateCode(String(state)), batch === null ? null : Number(batch), Number(attempts), maxTokens === null ? null : Number(maxTokens), result === null ? null : Number(result), Number(updated));
        return id;
      });
      // A request's state as the log has it (`./states.ts`), for the view `requests` that the rarer
      // steps (gc, status) read through, as they read the columns the rows kept before schema 12.
      const states = this.#states;
      const held = (read: (id: number) => unknown) => (id: unknown) => (states.state(Number(id)) === 0 ? null : read(Number(id)));
      this.#db.function('be_state', { deterministic: false }, held((id) => stateName(states.state(id))));
      this.#db.function('be_batch', { deterministic: false }, held((id) => states.batch(id) || null));
      this.#db.function('be_attempts', { deterministic: false }, held((id) => states.attempts(id)));
      this.#db.function('be_max_tokens', { deterministic: false }, held((id) => states.maxTokens(id)));
      this.#db.function('be_result', { deterministic: false }, held((id) => states.result(id) || null));
      this.#db.function('be_updated', { deterministic: false }, held((id) => states.updated(id)));
      this.#db.pragma('wal_autocheckpoint = 65536');
      this.#db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
      this.#migrate();
      if (path !== ':memory:') this.#file = fileOf(path);
    } catch (error) {
      if (error instanceof BatchEnrichError) throw error;
      throw cannotOpen(path, error);
    }
    const db = this.#db;
    this.#stmt = {
      request: db.prepare<[number, string, string], RequestRow>(`SELECT q.key, q.label, q.spec, q.state, q.batch_id, q.attempts, q.max_tokens, q.updated_at ${BY_KEY}`),
      known: db.prepare<[number, string, string], KnownRequest>(
        `SELECT q.key, q.label, q.spec, q.state, q.batch_id, q.attempts, q.max_tokens, q.updated_at, ${KNOWN_FAILURE} AS failure
           FROM requests q LEFT JOIN results a ON a.id = q.result_id WHERE q.id = ? AND q.scope = ? AND q.key = ?`,
      ),
      payload: db.prepare<[number, string, string], PayloadRow>(
        `SELECT q.id, q.key, q.label, s.head, p.messages, s.tail, q.max_tokens
           FROM requests q JOIN payloads p ON p.id = q.id JOIN specs s ON s.id = q.spec WHERE q.id = ? AND q.scope = ? AND q.key = ?`,
      ),
      insertSpec: db.prepare('INSERT OR IGNORE INTO specs (id, head, tail) VALUES (?, ?, ?)'),
      refreshPayload: db.prepare(
        `UPDATE payloads SET messages = ? WHERE id = (SELECT q.id ${BY_KEY} AND q.state IN ('pending', 'submitted')) AND messages != ?`,
      ),
      scopes: db.prepare<[], string>('SELECT scope FROM scopes ORDER BY scope').pluck(),
      namedFiles: db.prepare<[string], string>(`SELECT p.messages FROM requests q JOIN payloads p ON p.id = q.id WHERE q.scope = ? AND ${NAMES_A_FILE}`).pluck(),
      insertScope: db.prepare('INSERT OR IGNORE INTO scopes (scope) VALUES (?)'),
      // A batch's requests by id, read in ranges when its ids are close together (a run's new
      // requests are), else one by one (`#rowsOf`).
      rowsInRange: db.prepare<[number, number], [id: number, key: string, spec: string]>('SELECT id, key, spec FROM request_rows WHERE id >= ? AND id <= ? ORDER BY id').raw(),
      rowById: db.prepare<[number], [id: number, key: string, spec: string]>('SELECT id, key, spec FROM request_rows WHERE id = ?').raw(),
      bodiesInRange: db
        .prepare<[number, number], [id: number, key: string, label: string | null, spec: string, messages: string]>(
          'SELECT q.id, q.key, q.label, q.spec, p.messages FROM request_rows q JOIN payloads p ON p.id = q.id WHERE q.id >= ? AND q.id <= ? ORDER BY q.id',
        )
        .raw(),
      bodyById: db
        .prepare<[number], [id: number, key: string, label: string | null, spec: string, messages: string]>(
          'SELECT q.id, q.key, q.label, q.spec, p.messages FROM request_rows q JOIN payloads p ON p.id = q.id WHERE q.id = ?',
        )
        .raw(),
      specOf: db.prepare<[number], Spec>('SELECT s.id, s.head, s.tail FROM request_rows q JOIN specs s ON s.id = q.spec WHERE q.id = ?'),
      resultType: db.prepare<[number], string | null>("SELECT json_extract(result, '$.type') FROM results WHERE id = ?").pluck(),
      // The log (`./states.ts`): what this connection has not folded yet, and one entry.
      logAfter: db
        .prepare<[number], [seq: number, kind: number, batch_id: number | null, request_id: number | null, result_id: number | null, max_tokens: number | null, at: number, members: Buffer | null]>(
          'SELECT seq, kind, batch_id, request_id, result_id, max_tokens, at, members FROM log WHERE seq > ? ORDER BY seq',
        )
        .raw(),
      logEntry: db.prepare<[number, number | null, number | null, number | null, number | null, number, Buffer | null]>(
        'INSERT INTO log (kind, batch_id, request_id, result_id, max_tokens, at, members) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      setMembers: db.prepare<[Buffer, number]>('UPDATE batches SET members = ? WHERE id = ?'),
      batchMembers: db.prepare<[number], Buffer | null>('SELECT members FROM batches WHERE id = ?').pluck(),
      batchExists: db.prepare<[number], number>('SELECT 1 FROM batches WHERE id = ?').pluck(),
      // The largest id a request has had, whatever deleted its row since (see `#insertRequests`).
      lastRequestId: db.prepare<[], number>("SELECT MAX(COALESCE((SELECT MAX(id) FROM request_rows), 0), (SELECT v FROM meta WHERE k = 'last_request_id'))").pluck(),
      // Through a function called per row rather than rows returned: no array made per row (a million
      // requests read in about 0.16 s, against 0.6 s as rows). `h` is never null as written; a row
      // that lacked it would be missed by every lookup, and written again. The row's own state is what
      // it was written with (see `./states.ts`): the log, folded after, says what became of it.
      takeKeys: db
        .prepare<[number, number], number | null>('SELECT MAX(be_take_key(id, COALESCE(h, be_key_hash(scope, key)))) FROM request_rows WHERE id > ? AND id <= ?')
        .pluck(),
      snapshot: db.prepare<[], { seq: number; request_id: number }>('SELECT seq, request_id FROM snapshots WHERE id = 1'),
      snapshotParts: db.prepare<[number], Buffer>('SELECT data FROM snapshot_parts WHERE keys = ? ORDER BY part').pluck(),
      snapshotSeq: db.prepare<[], number>('SELECT seq FROM snapshots WHERE id = 1').pluck(),
      writeSnapshot: db.prepare<[number, number]>('INSERT OR REPLACE INTO snapshots (id, seq, request_id) VALUES (1, ?, ?)'),
      clearSnapshot: db.prepare('DELETE FROM snapshot_parts'),
      snapshotPart: db.prepare<[number, number, Buffer]>('INSERT INTO snapshot_parts (part, keys, data) VALUES (?, ?, ?)'),
      takeRows: db
        .prepare<[number], number | null>(
          'SELECT MAX(be_take_row(id, COALESCE(h, be_key_hash(scope, key)), state, batch_id, attempts, max_tokens, result_id, updated_at)) FROM request_rows WHERE id > ?',
        )
        .pluck(),
      keepLastRequestId: db.prepare("UPDATE meta SET v = MAX(v, ?) WHERE k = 'last_request_id'"),
      requestId: db.prepare<[number, string, string], number>('SELECT q.id FROM request_rows q WHERE q.id = ? AND q.scope = ? AND q.key = ?').pluck(),
      insertBatch: db.prepare(
        `INSERT INTO batches (scope, run, job, nonce, state, request_count, bytes, created_at, updated_at, base_url, api_version, key_fingerprint)
         VALUES (?, ?, ?, ?, 'creating', 0, 0, ?, ?, ?, ?, ?)`,
      ),
      sizeBatch: db.prepare('UPDATE batches SET request_count = ?, bytes = ?, cost_bytes = ? WHERE id = ?'),
      dropBatch: db.prepare('DELETE FROM batches WHERE id = ?'),
      spec: db.prepare<[string], Spec>('SELECT id, head, tail FROM specs WHERE id = ?'),
      setRemote: db.prepare("UPDATE batches SET remote_id = ?, state = 'in_progress', updated_at = ? WHERE id = ? AND state = 'creating'"),
      claim: db.prepare('INSERT OR IGNORE INTO claims (remote_id, batch_id) VALUES (?, ?)'),
      claimant: db.prepare<[string], { batch_id: number }>('SELECT batch_id FROM claims WHERE remote_id = ?'),
      setState: db.prepare(`UPDATE batches SET state = @state, updated_at = @now, error = COALESCE(@error, error) WHERE id = @id AND ${forwardState('@state')}`),
      batch: db.prepare<[number], BatchRow>(`SELECT ${BATCH_COLUMNS} FROM batches WHERE id = ?`),
      lastResultId: db.prepare<[], number>('SELECT COALESCE(MAX(id), 0) FROM results').pluck(),
      replaceResult: db.prepare('UPDATE results SET result = ? WHERE id = ?'),
      storedResult: db.prepare<[number, string, string], { result: string }>(
        'SELECT a.result FROM requests q JOIN results a ON a.id = q.result_id WHERE q.id = ? AND q.scope = ? AND q.key = ?',
      ),
      newRun: db.prepare('INSERT INTO runs (job, pid, started_at, host, heartbeat_at, scratch) VALUES (?, ?, ?, ?, ?, ?)'),
      // Only while the run is not yet dead to the others: a beat that comes too late does not revive it.
      heartbeat: db.prepare('UPDATE runs SET heartbeat_at = ? WHERE id = ? AND heartbeat_at > ?'),
      runs: db.prepare<[], RunRow>('SELECT * FROM runs'),
      run: db.prepare<[number], RunRow>('SELECT * FROM runs WHERE id = ?'),
      othersScratch: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM runs WHERE scratch = ?'),
      dropRun: db.prepare('DELETE FROM runs WHERE id = ?'),
      batches: db.prepare<[], BatchRow>(`SELECT ${BATCH_COLUMNS} FROM batches ORDER BY id`),
      jobBatches: db.prepare<[string], BatchRow>(`SELECT ${BATCH_COLUMNS} FROM batches WHERE job = ? ORDER BY id`),
      anyNote: db.prepare<[string], number>('SELECT 1 FROM borrowed WHERE job = ? LIMIT 1').pluck(),
      markTry: db.prepare<[string, number, number]>('INSERT OR REPLACE INTO borrowed (job, request_id, noted_at) VALUES (?, ?, ?)'),
      unmarkTry: db.prepare<[string, number]>('DELETE FROM borrowed WHERE job = ? AND request_id = ?'),
      otherMark: db.prepare<[string, number], number>('SELECT 1 FROM borrowed WHERE job = ? AND request_id < 0 AND request_id <> ? LIMIT 1').pluck(),
      deadMark: db.prepare<[string, number], number>('SELECT 1 FROM borrowed WHERE job = ? AND request_id < 0 AND request_id <> ? AND -request_id NOT IN (SELECT id FROM runs) LIMIT 1').pluck(),
      gcSpecs: db.prepare('DELETE FROM specs WHERE NOT EXISTS (SELECT 1 FROM requests q WHERE q.spec = specs.id)'),
      gcClaims: db.prepare('DELETE FROM claims WHERE batch_id NOT IN (SELECT id FROM batches)'),
      gcScopes: db.prepare('DELETE FROM scopes WHERE NOT EXISTS (SELECT 1 FROM requests q WHERE q.scope = scopes.scope)'),
      identities: db.prepare<[], { scope: string; base_url: string; api_version: string; key_fingerprint: string }>(
        'SELECT scope, base_url, api_version, key_fingerprint FROM batches GROUP BY scope ORDER BY MAX(id) DESC',
      ),
    };
    this.#bulk = {
      requests: new BulkInsert(db, 'INSERT INTO request_rows (id, scope, key, h, label, spec, state, updated_at) VALUES', "(?, ?, ?, ?, ?, ?, 'pending', ?)", 7),
      payloads: new BulkInsert(db, 'INSERT INTO payloads (id, messages) VALUES', '(?, ?)', 2),
      results: new BulkInsert(db, 'INSERT INTO results (id, result) VALUES', '(?, ?)', 2),
      notes: new BulkInsert(db, 'INSERT OR REPLACE INTO borrowed (job, request_id, noted_at) VALUES', '(?, ?, ?)', 3),
    };
    this.#records = new RunRecords(db, path, createPrivate, this.#states);
  }

  /** Brings the schema to `SCHEMA_VERSION` (`./migrate.ts`: other processes may be migrating the same file). */
  #migrate(): void {
    migrate(this.#db, {
      target: SCHEMA_VERSION,
      check: (found) => {
        if (found > SCHEMA_VERSION) throw new BatchEnrichError('BE_LEDGER', `The ledger ${this.path} was written by a newer batch-enrich (schema ${found} > ${SCHEMA_VERSION})`);
      },
      step: (from) => {
        if (from < 4) {
          this.#schema4();
          return 4;
        }
        this.#migrations[from]?.();
        return from + 1;
      },
    });
  }

  /** Steps from schema N (the index) to N + 1. */
  readonly #migrations: Record<number, () => void> = {
    // 11 → 12: a request's row is no longer updated (`./states.ts`): what becomes of it is appended to
    // the log, and a batch lists its requests (`members`). The rows keep the state they had, which the
    // log then goes on from; the rarer steps (gc, status) read them through the view `requests`, with
    // the columns the rows had, as the log has them.
    11: () => {
      this.#db.exec(`
        ALTER TABLE requests RENAME TO request_rows;
        CREATE TABLE log (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          kind INTEGER NOT NULL,
          batch_id INTEGER,
          request_id INTEGER,
          result_id INTEGER,
          max_tokens INTEGER,
          at INTEGER NOT NULL,
          members BLOB
        );
        ALTER TABLE batches ADD COLUMN members BLOB;
        CREATE TABLE snapshots (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, request_id INTEGER NOT NULL);
        CREATE TABLE snapshot_parts (part INTEGER PRIMARY KEY, keys INTEGER NOT NULL, data BLOB NOT NULL);
        CREATE VIEW requests AS
          SELECT id, scope, key, h, label, spec, be_state(id) AS state, be_batch(id) AS batch_id, be_attempts(id) AS attempts,
                 be_max_tokens(id) AS max_tokens, be_result(id) AS result_id, be_updated(id) AS updated_at
            FROM request_rows;
      `);
    },
    // 10 → 11: the files runs wrote (`LedgerStore.noteWritten`), which a folder as the input leaves out.
    10: () => {
      this.#db.exec('CREATE TABLE written (id TEXT PRIMARY KEY, path TEXT NOT NULL, as_what TEXT NOT NULL, noted_at INTEGER NOT NULL) WITHOUT ROWID');
    },
    // 9 → 10: gc's notes of the requests a job's next try reads (`GcRules.borrowedKept`); what a
    // batch's requests are priced by (`BatchRow.cost_bytes`).
    9: () => {
      this.#db.exec(`
        CREATE TABLE borrowed (job TEXT NOT NULL, request_id INTEGER NOT NULL, noted_at INTEGER NOT NULL, PRIMARY KEY (job, request_id)) WITHOUT ROWID;
        CREATE INDEX borrowed_request ON borrowed (request_id, noted_at);
        ALTER TABLE batches ADD COLUMN cost_bytes INTEGER;
      `);
    },
    // 8 → 9: the key tables go; a request's row keeps the hash of its scope and key, under no index,
    // and each connection holds the ids by hash in memory (`./key-index.ts`). `meta` keeps the
    // largest request id ever given, so that an id freed by gc is never given again: a connection
    // catches up on the requests written by others by reading the ids above the last it saw.
    8: () => {
      this.#db.exec(`
        ALTER TABLE requests ADD COLUMN h INTEGER;
        UPDATE requests SET h = be_key_hash(scope, key);
        CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO meta (k, v) SELECT 'last_request_id', COALESCE(MAX(id), 0) FROM requests;
        DROP VIEW request_keys;
        DROP TABLE keys;
        DROP TABLE keys_new;
      `);
    },
    // 7 → 8: the index on request key hashes becomes two tables, `keys` and the small `keys_new`
    // merged into it now and then (see `KEYS_MERGE_AT`), read together through a view.
    7: () => {
      this.#db.exec(`
        CREATE TABLE keys (h INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (h, id)) WITHOUT ROWID;
        CREATE TABLE keys_new (h INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (h, id)) WITHOUT ROWID;
        CREATE VIEW request_keys AS SELECT h, id FROM keys UNION ALL SELECT h, id FROM keys_new;
        INSERT INTO keys (h, id) SELECT h, id FROM requests ORDER BY h, id;
        DROP INDEX requests_h;
        ALTER TABLE requests DROP COLUMN h;
      `);
    },
    // 6 → 7: the records of runs move to scratch files (see `./scratch.ts`); a run's row names its file.
    // Records written before belonged to runs of an older batch-enrich, which cannot read them back now.
    // Requests are found by a 53-bit hash of scope and key (`keyHash`, in a plain index) instead of a
    // unique index on both texts: an entry a third the size, so each intake dirties fewer index pages
    // (the keys are hashes: every insert lands at random). The identities with requests get a table.
    // The index by batch leaves out requests in none (pending, most of an intake's): each was an
    // entry written at intake and moved when the request was batched (assign: 17.7 → 12.5 µs a key in
    // a 200,000-row test); every lookup by batch names one, so the partial index serves it.
    6: () => {
      this.#db.exec(`
        DROP TABLE records;
        ALTER TABLE runs ADD COLUMN scratch TEXT;
        CREATE TABLE scopes (scope TEXT PRIMARY KEY) WITHOUT ROWID;
        INSERT INTO scopes SELECT DISTINCT scope FROM requests;
        CREATE TABLE requests7 (
          id INTEGER PRIMARY KEY,
          scope TEXT NOT NULL,
          key TEXT NOT NULL,
          h INTEGER NOT NULL,
          label TEXT,
          spec TEXT NOT NULL,
          state TEXT NOT NULL,
          batch_id INTEGER,
          attempts INTEGER NOT NULL DEFAULT 0,
          max_tokens INTEGER,
          result_id INTEGER,
          updated_at INTEGER NOT NULL
        );
        INSERT INTO requests7 (id, scope, key, h, label, spec, state, batch_id, attempts, max_tokens, result_id, updated_at)
          SELECT id, scope, key, be_key_hash(scope, key), label, spec, state, batch_id, attempts, max_tokens, result_id, updated_at FROM requests;
        DROP TABLE requests;
        ALTER TABLE requests7 RENAME TO requests;
        CREATE INDEX requests_h ON requests (h);
        CREATE INDEX requests_batch ON requests (batch_id) WHERE batch_id IS NOT NULL;
      `);
    },
    // 5 → 6: a record points at its request's row (read back by id, not looked up by key); records
    // written before keep a null one and are joined by key.
    5: () => {
      this.#db.exec('ALTER TABLE records ADD COLUMN request_id INTEGER');
    },
    // 4 → 5: runs keep a heartbeat and their host; remote batch ids are claimed uniquely; the
    // request key no longer carries the `--id-field` label (kept apart, for the custom_id); a base
    // URL stored with a user name or password loses them.
    4: () => {
      this.#db.exec(`
        ALTER TABLE runs ADD COLUMN host TEXT;
        ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;
        ALTER TABLE requests ADD COLUMN label TEXT;
        CREATE TABLE claims (remote_id TEXT PRIMARY KEY, batch_id INTEGER NOT NULL) WITHOUT ROWID;
        INSERT OR IGNORE INTO claims (remote_id, batch_id) SELECT remote_id, MIN(id) FROM batches WHERE remote_id IS NOT NULL GROUP BY remote_id;
        UPDATE OR IGNORE requests SET label = substr(key, 1, length(key) - ${KEY_HASH_CHARS + 1}), key = substr(key, -${KEY_HASH_CHARS})
         WHERE length(key) > ${KEY_HASH_CHARS + 1} AND substr(key, -${KEY_HASH_CHARS + 1}, 1) = '-';
        DELETE FROM requests WHERE length(key) > ${KEY_HASH_CHARS + 1} AND substr(key, -${KEY_HASH_CHARS + 1}, 1) = '-'
          AND EXISTS (SELECT 1 FROM requests twin WHERE twin.scope = requests.scope AND twin.key = substr(requests.key, -${KEY_HASH_CHARS}));
        UPDATE batches SET base_url = substr(base_url, 1, instr(base_url, '//') + 1) || substr(base_url, instr(base_url, '@') + 1)
         WHERE instr(base_url, '@') > instr(base_url, '//') AND instr(base_url, '//') > 0;
        UPDATE records SET key = substr(key, -${KEY_HASH_CHARS}) WHERE length(key) > ${KEY_HASH_CHARS + 1} AND substr(key, -${KEY_HASH_CHARS + 1}, 1) = '-';
      `);
    },
  };

  /** Schema 4, from nothing. Schemas 1 to 3 were never released: their tables are replaced, not migrated. */
  readonly #schema4 = (): void => {
    this.#db.exec(`
      DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS batches; DROP TABLE IF EXISTS requests;
      DROP TABLE IF EXISTS payloads; DROP TABLE IF EXISTS results; DROP TABLE IF EXISTS specs;
      CREATE TABLE specs (id TEXT PRIMARY KEY, head TEXT NOT NULL, tail TEXT NOT NULL);
      CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        batch_id INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_tokens INTEGER,
        result_id INTEGER,
        updated_at INTEGER NOT NULL,
        UNIQUE (scope, key)
      );
      CREATE TABLE payloads (id INTEGER PRIMARY KEY, messages TEXT NOT NULL);
      CREATE TABLE results (id INTEGER PRIMARY KEY, result TEXT NOT NULL);
      CREATE INDEX requests_batch ON requests (batch_id);
      CREATE TABLE batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope TEXT NOT NULL,
        run INTEGER NOT NULL,
        job TEXT NOT NULL,
        nonce TEXT NOT NULL,
        remote_id TEXT,
        state TEXT NOT NULL,
        request_count INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        base_url TEXT NOT NULL,
        api_version TEXT NOT NULL,
        key_fingerprint TEXT NOT NULL,
        error TEXT
      );
      CREATE INDEX batches_remote ON batches (remote_id);
      CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, pid INTEGER NOT NULL, started_at INTEGER NOT NULL);
      CREATE TABLE records (
        run INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        line INTEGER NOT NULL,
        data TEXT NOT NULL,
        key TEXT,
        error TEXT,
        PRIMARY KEY (run, seq)
      ) WITHOUT ROWID;
    `);
  };

  transaction<T>(fn: () => T): T {
    try {
      return this.#db.transaction(fn)();
    } catch (error) {
      this.#forgetAll();
      throw error;
    }
  }

  /**
   * A read of the requests' states: in one read transaction, after the fold is brought up to what the
   * ledger holds (`#sync`).
   */
  #read<T>(fn: () => T): T {
    return this.transaction(() => {
      this.#sync();
      return fn();
    });
  }

  /**
   * A transaction that reads before it writes, holding the write lock from its start (`BEGIN
   * IMMEDIATE`). In a deferred one, the first write after a read fails at once, without the busy
   * timeout, when another connection writes meanwhile (SQLITE_BUSY, or SQLITE_BUSY_SNAPSHOT once it
   * has committed): with another worker on the ledger, about one `failBatch` in 10,000 failed so.
   */
  #readThenWrite<T>(fn: () => T): T {
    try {
      return this.#db.transaction(fn).immediate();
    } catch (error) {
      this.#forgetAll();
      throw error;
    }
  }

  /**
   * Brings the key index and the requests' states (`./states.ts`) up to what was written since this
   * connection last looked (by other connections: ours are added as they are written): the requests
   * written since, then the log entries. Ids and log entries only grow (see `lastRequestId`; the
   * log's `AUTOINCREMENT`), and are given under the write lock, so those above the last ones seen are
   * exactly the ones not yet folded. Called in the transaction of every step that reads or writes a
   * request's state, so what it decides on is what the ledger holds. The first call starts from the
   * ledger's snapshot (`#restoreSnapshot`); without one it reads every request's (id, hash, row
   * state), through a SQL function called per row (no array made per row), and the whole log.
   */
  #sync(): void {
    if (this.#rowsSeen === 0 && this.#logSeen === 0) this.#restoreSnapshot();
    try {
      // The key index read again (after gc) up to the requests whose states are held.
      if (this.#keysSeen < this.#rowsSeen) this.#takeKeys(this.#stmt.takeKeys.get(this.#keysSeen, this.#rowsSeen), this.#rowsSeen);
      const last = this.#takeKeys(this.#stmt.takeRows.get(this.#rowsSeen), this.#rowsSeen);
      this.#rowsSeen = Math.max(this.#rowsSeen, last);
    } finally {
      this.#taken.clear();
    }
    for (const [seq, kind, batch, request, result, maxTokens, at, members] of this.#stmt.logAfter.iterate(this.#logSeen)) {
      this.#fold(kind, batch ?? 0, request ?? 0, result ?? 0, maxTokens, at, members);
      this.#logSeen = seq;
    }
  }

  /** The pairs a statement took (`be_take_key`, `be_take_row`) into the key index; returns the last id it saw (`last`, or `otherwise`). */
  #takeKeys(last: number | null | undefined, otherwise: number): number {
    const { hashes, ids } = this.#taken.view();
    this.#keys.addAll(hashes, ids);
    this.#taken.clear();
    this.#keysSeen = Math.max(this.#keysSeen, last ?? otherwise);
    return last ?? otherwise;
  }

  /**
   * A connection's first look: the states and the key index as the ledger's snapshot has them
   * (`#snapshot`), the rows and the log then read from there on. None in a ledger that has none yet:
   * every row, then the whole log.
   */
  #restoreSnapshot(): void {
    const snapshot = this.#stmt.snapshot.get();
    if (snapshot === undefined) return;
    this.#states.restore(this.#stmt.snapshotParts.iterate(0));
    this.#keys.restore(this.#stmt.snapshotParts.all(1));
    this.#rowsSeen = snapshot.request_id;
    this.#keysSeen = snapshot.request_id;
    this.#logSeen = snapshot.seq;
  }

  /**
   * Writes the states as this connection holds them now, with how far they go (the last request and
   * log entry folded), when `force`d or when due: the log has grown by `SNAPSHOT_AFTER` entries since
   * the last one, or there is none and as many requests (a ledger migrated from schema 11). About 27
   * bytes a request with the key index (a million: 27 MB, written in about 0.1 s), in parts of about
   * 1 MB, so that it is never all in memory at once. Whether it is due is read first, without the
   * write lock (a run's end beside a busy worker need not wait).
   */
  #snapshot(force = false): void {
    const due = this.#read(() => {
      const last = this.#stmt.snapshotSeq.get();
      return force || this.#logSeen - (last ?? 0) >= this.#snapshotAfter || (last === undefined && this.#rowsSeen >= this.#snapshotAfter);
    });
    if (!due) return;
    this.#readThenWrite(() => {
      this.#sync();
      this.#stmt.clearSnapshot.run();
      let part = 0;
      for (const bytes of this.#states.snapshot()) this.#stmt.snapshotPart.run(part++, 0, bytes);
      for (const bytes of this.#keys.snapshot()) this.#stmt.snapshotPart.run(part++, 1, bytes);
      this.#stmt.writeSnapshot.run(this.#logSeen, this.#rowsSeen);
    });
  }

  /** One log entry, folded into the requests' states (see `LOG`). */
  #fold(kind: number, batch: number, request: number, result: number, maxTokens: number | null, at: number, members: Buffer | null): void {
    const states = this.#states;
    if (kind === LOG.assign) {
      if (members !== null) for (const id of membersOf(members)) states.assign(id, batch, at);
    } else if (kind === LOG.answers) {
      if (members !== null) foldAnswers(states, members, batch, at);
    } else if (kind === LOG.release || kind === LOG.unretry) {
      if (members !== null) for (const id of membersOf(members)) states.release(id, kind === LOG.unretry);
    } else if (kind === LOG.reopen) states.reopen(request, at);
  }

  /** Appends one log entry of this connection and folds it (in the caller's transaction, after `#sync`). */
  #append(kind: number, batch: number | null, request: number | null, result: number | null, maxTokens: number | null, at: number, members: Buffer | null = null): void {
    this.#logSeen = Number(this.#stmt.logEntry.run(kind, batch, request, result, maxTokens, at, members).lastInsertRowid);
    this.#fold(kind, batch ?? 0, request ?? 0, result ?? 0, maxTokens, at, members);
  }

  /**
   * Forgets the key index and the states, read again whole at the next look: after a transaction that
   * rolled back (the requests and log entries it wrote, folded in, are not in the ledger, and their
   * ids will be given again), and after gc (whose deleted requests they would keep).
   */
  #forgetAll(): void {
    this.#forgetKeys();
    this.#states.clear();
    this.#rowsSeen = 0;
    this.#logSeen = 0;
    this.#members.clear();
  }

  /** Forgets the key index only (after gc, whose deleted requests it would keep; the states forgot them as they went). */
  #forgetKeys(): void {
    this.#keys.clear();
    this.#keysSeen = 0;
  }

  /**
   * The ids of a batch's requests, ascending: as its row lists them, or, for a batch of a ledger
   * older than schema 12 (no list), the requests that wait on or were answered by it.
   */
  #membersOf(batchId: number): Float64Array {
    let members = this.#members.get(batchId);
    if (members === undefined) {
      const blob = this.#stmt.batchMembers.get(batchId);
      members = blob ? membersOf(blob) : Float64Array.from(this.#states.ofBatch(batchId));
      // Only the last few: a batch's body and results are read a page at a time, one batch after another.
      if (this.#members.size >= 4) this.#members.delete(this.#members.keys().next().value as number);
      this.#members.set(batchId, members);
    }
    return members;
  }

  /** The requests of a batch that still wait on it, ascending. */
  #waitingOn(batchId: number, afterId = 0, limit = Infinity): number[] {
    const members = this.#membersOf(batchId);
    let from = 0;
    for (let to = members.length; from < to; ) {
      const mid = (from + to) >>> 1;
      if ((members[mid] as number) <= afterId) from = mid + 1;
      else to = mid;
    }
    const ids: number[] = [];
    for (let i = from; i < members.length && ids.length < limit; i++) {
      const id = members[i] as number;
      if (this.#states.waitsOn(id, batchId)) ids.push(id);
    }
    return ids;
  }

  /**
   * Rows of requests by id (ascending ids): read as one range when the ids are close together (a
   * run's new requests, a batch of them, are), else one by one.
   */
  #rowsOf<R extends [number, ...unknown[]]>(ids: readonly number[], range: Database.Statement<[number, number], R>, one: Database.Statement<[number], R>): R[] {
    if (ids.length === 0) return [];
    const first = ids[0] as number;
    const last = ids[ids.length - 1] as number;
    if (last - first + 1 <= ids.length * 2) {
      const wanted = new Set(ids);
      return range.all(first, last).filter((row) => wanted.has(row[0]));
    }
    const rows: R[] = [];
    for (const id of ids) {
      const row = one.get(id);
      if (row !== undefined) rows.push(row);
    }
    return rows;
  }

  /** What `get` finds for the request `(scope, key)`, given each id its hash has in the key index; undefined if none is that request. */
  #byKey<T>(scope: string, key: string, get: (id: number) => T | undefined): T | undefined {
    return this.#keys.find(keyHash(scope, key), get);
  }

  /**
   * Registers a run of this process (its first heartbeat at `now`) and its mark (`tryMark`), after
   * forgetting the records of runs long dead (gone from this host, or silent for
   * `RUN_RECORDS_STALE_MS`); their marks stay.
   */
  startRun(job: string, now: number): number {
    for (const run of this.#stmt.runs.all()) {
      if (!runMayBeWorking(run, now)) this.#forgetRun(run.id, { ended: false });
    }
    const scratch = this.#records.open();
    const id = this.transaction(() => {
      const id = Number(this.#stmt.newRun.run(job, process.pid, now, HOST, now, scratch).lastInsertRowid);
      this.#stmt.markTry.run(job, tryMark(id), now);
      return id;
    });
    this.#records.adopt(id);
    return id;
  }

  /**
   * Refreshes a run's heartbeat; false when the run is dead to the others: its row is gone, or its last
   * beat is older than `RUN_STALE_MS` (another run may be resolving its batches now).
   */
  heartbeat(run: number, now: number): boolean {
    this.#stillThere();
    return this.#stmt.heartbeat.run(now, run, now - RUN_STALE_MS).changes > 0;
  }

  /**
   * Throws when the ledger's path no longer names the file it opened (deleted: a cache clean-up, `rm
   * -rf ~/.cache`; or replaced), after writing what the ledger holds, from its open connection, back
   * to the path (or beside another file there): the run wrote on into a deleted file, and its rerun,
   * on a new ledger, paid everything again (helper-91). Checked at each heartbeat.
   */
  #stillThere(): void {
    const file = this.#file;
    if (file === undefined) return;
    let now: { dev: number; ino: number } | undefined;
    try {
      now = fileOf(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return; // unreadable for now: looked at again next beat
    }
    if (now !== undefined && now.dev === file.dev && now.ino === file.ino) return;
    this.#file = undefined;
    const target = now === undefined ? this.path : `${this.path}.recovered-${Date.now()}`;
    const what = now === undefined ? 'was deleted' : 'was replaced by another file';
    let written = `what it held is written back to ${target}`;
    try {
      privateFolders(target);
      this.#db.prepare('VACUUM INTO ?').run(target);
      chmodSync(target, 0o600);
    } catch (error) {
      written = `what it held could not be written back to ${target} (${(error as Error).message}): its batches run on, billed, and only the API's list of batches still names them`;
    }
    const resume = target === this.path ? 'run the same command again' : `give it back its name (mv ${target} ${this.path}) and run the same command again`;
    throw new BatchEnrichError('BE_LEDGER', `The ledger ${this.path} ${what} while this run used it: ${written}, as it was now; this run stops (its batches run on): ${resume}, and it takes them up (not paid twice)`);
  }

  /** A run's row (who, where, since when, last seen). */
  run(run: number): RunRow | undefined {
    return this.#stmt.run.get(run);
  }

  /**
   * Ends a run: forgets it and its records (its requests, batches and answers stay, for reruns), and
   * its job's mark (`tryMark`); with an outcome, notes or clears what its records point at first.
   * Ours are dropped from our scratch file (the file deleted with the last of them); another
   * connection's run loses its scratch file once no other run's row names it.
   */
  endRun(run: number, outcome?: RunOutcome): void {
    this.#forgetRun(run, { ended: true, outcome });
    this.#snapshotSoon();
  }

  /** `#snapshot` when due, unless the ledger is busy with another process's write (the next run's end writes it). */
  #snapshotSoon(force = false): void {
    try {
      this.#snapshot(force);
    } catch (error) {
      if (!ledgerBusy(error)) throw error;
    }
  }

  /**
   * `endRun`, or (not `ended`) the forgetting of a run taken for dead (`startRun`): its job keeps the
   * mark of a try that never ended.
   */
  #forgetRun(run: number, { ended, outcome }: { ended: boolean; outcome?: RunOutcome | undefined }): void {
    const job = this.#stmt.run.get(run)?.job;
    if (this.#records.holds(run)) {
      // Under the write lock from its start: it folds the log (a read) before it writes, and a write
      // after a read in a deferred transaction fails at once beside another writer (SQLITE_BUSY).
      this.#readThenWrite(() => {
        this.#sync();
        if (job !== undefined && ended) this.#stmt.unmarkTry.run(job, tryMark(run));
        // Complete: the marks of the job's dead tries it covered go (none for most jobs: looked for first).
        if (job !== undefined && outcome?.complete === true && this.#stmt.deadMark.get(job, tryMark(run)) !== undefined) this.#records.uncover(run, job, outcome.scope);
        // Complete: its notes go (none to clear for most jobs: not looked for then), unless another try of
        // the job has not ended (at work, or killed): that one reads them again.
        const others = outcome?.complete === true && job !== undefined && this.#stmt.otherMark.get(job, tryMark(run)) !== undefined;
        if (job !== undefined && outcome !== undefined && !others && !(outcome.complete && this.#stmt.anyNote.get(job) === undefined)) {
          this.#records.note(run, job, outcome.complete ? undefined : outcome.now);
        }
        this.#stmt.dropRun.run(run);
      });
      this.#records.drop(run);
      return;
    }
    const scratch = this.#stmt.run.get(run)?.scratch ?? null;
    this.transaction(() => {
      if (job !== undefined && ended) this.#stmt.unmarkTry.run(job, tryMark(run));
      this.#stmt.dropRun.run(run);
    });
    if (scratch !== null && scratch !== this.#records.name && (this.#stmt.othersScratch.get(scratch)?.n ?? 0) === 0) removeScratch(this.path, scratch);
  }

  /** Whether the run that owns something is still working at `now` (see `runIsAlive`). */
  runAlive(run: number, now: number): boolean {
    const row = this.#stmt.run.get(run);
    return row !== undefined && runIsAlive(row, now);
  }

  request(scope: string, key: string): RequestRow | undefined {
    return this.#lookUpOne(scope, key, this.#stmt.request);
  }

  known(scope: string, keys: readonly string[]): Map<string, KnownRequest> {
    return this.#lookUp(scope, keys, this.#stmt.known);
  }

  /**
   * The rows a statement finds by `(id, scope, key)` for each of `keys` (see `BY_KEY`), those it
   * finds, in one read transaction: a statement run outside one takes and drops the WAL read lock
   * itself (system calls every time), about 4 µs a key against under 1 µs inside one.
   */
  #lookUp<T>(scope: string, keys: readonly string[], statement: Database.Statement<[number, string, string], T>): Map<string, T> {
    return this.#read(() => {
      const found = new Map<string, T>();
      for (const key of keys) {
        const row = this.#byKey(scope, key, (id) => statement.get(id, scope, key));
        if (row !== undefined) found.set(key, row);
      }
      return found;
    });
  }

  /** The row a statement finds by `(id, scope, key)` for one key. */
  #lookUpOne<T>(scope: string, key: string, statement: Database.Statement<[number, string, string], T>): T | undefined {
    return this.#lookUp(scope, [key], statement).get(key);
  }

  /** The requests a batch still waits on, with what deciding a retry needs. */
  submittedOf(batchId: number): Map<string, Waiting> {
    // As arrays (`raw`), made into objects here: better-sqlite3 makes a row object by looking each
    // column's name up in V8's string table, row after row (100,000 requests: about 190 → 135 ms).
    return this.#read(() => {
      const states = this.#states;
      const waiting = new Map<string, Waiting>();
      for (const [id, key, spec] of this.#rowsOf(this.#waitingOn(batchId), this.#stmt.rowsInRange, this.#stmt.rowById)) {
        waiting.set(key, { id, spec, attempts: states.attempts(id), max_tokens: states.maxTokens(id), result_id: states.result(id) || null });
      }
      return waiting;
    });
  }

  /** The identities (scopes) other than `scope` that have requests in the ledger. */
  otherScopes(scope: string): string[] {
    const scopes: string[] = [];
    for (const other of this.#stmt.scopes.all()) if (other !== scope) scopes.push(other);
    return scopes;
  }

  /** Records the params a job's requests share (once per job; `id` hashes them). */
  ensureSpec(id: string, head: string, tail: string): void {
    this.#stmt.insertSpec.run(id, head, tail);
  }

  /** Records a new request (pending) and the messages it sends; ignored if the request is known. */
  insertRequest(scope: string, key: string, label: string | null, spec: string, messages: string, now: number): void {
    this.transaction(() => this.#insertRequests(scope, [{ key, label, spec, messages }], now));
  }

  /**
   * Replaces what a request not yet answered (pending, or submitted: a retry sends it again) will
   * send, when it differs: the same request (same key) with other transport details, such as the
   * `file_id` of a document uploaded again because the earlier upload expired or was deleted. A batch
   * already created keeps what it was sent. True when it changed.
   */
  refreshPayload(scope: string, key: string, messages: string): boolean {
    // Read first, without the write lock: a run reading its records again (a collect run of
    // documents) calls this once a record, and nearly always finds the same messages.
    if (this.payload(scope, key)?.messages === messages) return false;
    return this.#readThenWrite(() => {
      this.#sync();
      return this.#byKey(scope, key, (id) => (this.#stmt.refreshPayload.run(messages, id, scope, key, messages).changes > 0 ? true : undefined)) ?? false;
    });
  }

  /** What a request sends. */
  payload(scope: string, key: string): PayloadRow | undefined {
    return this.#lookUpOne(scope, key, this.#stmt.payload);
  }

  /** What each of these requests sends, those the ledger knows. */
  payloads(scope: string, keys: readonly string[]): Map<string, PayloadRow> {
    return this.#lookUp(scope, keys, this.#stmt.payload);
  }

  intake(scope: string, run: number, specs: readonly Spec[], requests: readonly NewRequest[], records: readonly NewRecord[], now: number): void {
    // Under the write lock from the start: records whose requests another run wrote are looked up (a
    // read), then noted for the run's job (a write), which in a deferred transaction failed at once
    // when another run had written meanwhile (helper-54: one of two runs of a job started together
    // died with "database is locked").
    this.#readThenWrite(() => {
      for (const spec of specs) this.ensureSpec(spec.id, spec.head, spec.tail);
      // The rows of the requests written now; a record whose request was written before looks it up.
      const ids = this.#insertRequests(scope, requests, now);
      if (ids.size === 0) this.#sync();
      // A request the ledger had before this intake is noted for the run's job as it is read (see
      // `GcRules.borrowedKept`), so that a try killed before its end (no `endRun`) leaves its notes
      // too; its own new requests are noted at its end. A fresh run finds none: nothing to write.
      const found: number[] = [];
      this.#records.insert(run, records, (key) => {
        const written = ids.get(key);
        if (written !== undefined) return written;
        const id = this.#byKey(scope, key, (candidate) => this.#stmt.requestId.get(candidate, scope, key)) ?? null;
        if (id !== null) found.push(id);
        return id;
      });
      const job = found.length > 0 ? this.#stmt.run.get(run)?.job : undefined;
      if (job !== undefined) {
        const notes = this.#bulk.notes.writer();
        for (const id of found) notes.add(job, id, now);
        notes.end();
      }
    });
  }

  /**
   * Writes those of `requests` the ledger does not know (another run may have written some since the
   * caller looked), many rows to a statement (`./bulk.ts`), in the caller's transaction; returns the
   * row id of each request written. Ids are given here (one past the largest ever given), so that a
   * request's payload row can be written with it; each goes into the key index as it is written (a
   * rollback forgets the index, see `transaction`).
   */
  #insertRequests(scope: string, requests: readonly NewRequest[], now: number): Map<string, number> {
    const ids = new Map<string, number>();
    if (requests.length === 0) return ids;
    // A write first: the write lock is then held, and nobody else adds a request until the commit;
    // the key index, brought up to date under it, then knows every request there is.
    this.#stmt.insertScope.run(scope);
    this.#sync();
    const rows = this.#bulk.requests.writer();
    const payloads = this.#bulk.payloads.writer();
    let next = this.#stmt.lastRequestId.get()! + 1;
    for (const { key, label, spec, messages } of requests) {
      if (ids.has(key)) continue; // twice in one write
      const h = keyHash(scope, key);
      if (this.#keys.find(h, (id) => this.#stmt.requestId.get(id, scope, key)) !== undefined) continue;
      const id = next++;
      rows.add(id, scope, key, h, label, spec, now);
      payloads.add(id, messages);
      this.#keys.add(h, id);
      this.#states.add(id, PENDING, null, 0, null, null, now);
      this.#keysSeen = id;
      this.#rowsSeen = id;
      ids.set(key, id);
    }
    rows.end();
    payloads.end();
    // The largest id given, kept whatever deletes its row later (gc, or a gc of an older batch-enrich
    // still running when this schema came): were it given again, a connection whose key index had
    // seen it would never read the new request (see `#syncKeys`), and would write it a second time.
    if (ids.size > 0) this.#stmt.keepLastRequestId.run(next - 1);
    return ids;
  }

  /**
   * Records a batch about to be created and assigns it those of `keys` still pending, in one
   * transaction. Returns the batch id and the keys it got (another run may have taken some); when it
   * got none of the keys given, the row is not kept.
   */
  openBatch(identity: Identity, run: number, job: string, nonce: string, keys: readonly string[], now: number): { id: number; keys: string[] } {
    return this.transaction(() => {
      const { scope } = identity;
      const id = Number(
        this.#stmt.insertBatch.run(scope, run, job, nonce, now, now, identity.baseUrl, identity.apiVersion, identity.keyFingerprint).lastInsertRowid,
      );
      // The insert took the write lock: the key index and the states, brought up to date under it,
      // know every request and where it stands.
      this.#sync();
      const states = this.#states;
      const taken: string[] = [];
      const ids: number[] = [];
      for (const key of keys) {
        const request = this.#byKey(scope, key, (candidate) => (this.#stmt.requestId.get(candidate, scope, key) !== undefined ? candidate : undefined));
        // Only a pending one (another run may have taken it), and once (a key given twice).
        if (request === undefined || states.state(request) !== PENDING) continue;
        states.assign(request, id, now);
        taken.push(key);
        ids.push(request);
      }
      // Keys given, none taken (another run took them): no batch, and no row left to say otherwise.
      if (keys.length > 0 && taken.length === 0) {
        this.#stmt.dropBatch.run(id);
        return { id, keys: taken };
      }
      // One log entry for the batch, its requests' ids in it (and on its row, read as its body is).
      const members = membersBlob(ids.sort((a, b) => a - b));
      this.#stmt.setMembers.run(members, id);
      this.#logSeen = Number(this.#stmt.logEntry.run(LOG.assign, id, null, null, null, now, members).lastInsertRowid);
      return { id, keys: taken };
    });
  }

  /** Stores the size of the body actually built for a batch. */
  sizeBatch(batchId: number, requests: number, bytes: number, costBytes: number): void {
    this.#stmt.sizeBatch.run(requests, bytes, costBytes, batchId);
  }

  /**
   * A page of a batch's requests, in submission order, after the request id `afterId`. Read whole:
   * an open iterator would keep the connection busy while the body is being sent.
   */
  batchPage(batchId: number, afterId: number, limit: number): PayloadRow[] {
    // As arrays (`raw`), as `submittedOf` (ledger-floor at 200,000 rows: opening batches and reading
    // their bodies, 856 → 784 ms).
    return this.#read(() => {
      const page: PayloadRow[] = [];
      for (const [id, key, label, spec, messages] of this.#rowsOf(this.#waitingOn(batchId, afterId, limit), this.#stmt.bodiesInRange, this.#stmt.bodyById)) {
        page.push(withSpec({ id, key, label, spec, messages, max_tokens: this.#states.maxTokens(id) }, this.#spec(spec), batchId, ` ${this.path}`));
      }
      return page;
    });
  }

  /**
   * A spec, read once per connection: a batch page shares its head and tail strings instead of
   * reading them again for every request (1.6 KB a request for the ticket-triage recipe). A spec
   * never changes (its id hashes it), and one still in use is never deleted.
   */
  #spec(id: string): Spec | undefined {
    let spec = this.#specs.get(id);
    if (spec === undefined) {
      spec = this.#stmt.spec.get(id);
      if (spec !== undefined) this.#specs.set(id, spec);
    }
    return spec;
  }

  /**
   * Records the remote id of a batch that was being created, and claims it for that row (no-op if
   * the row is no longer `creating`, or another row claims that remote id).
   */
  setRemote(batchId: number, remoteId: string, now: number): boolean {
    return this.transaction(() => this.claim(remoteId, batchId) && this.#stmt.setRemote.run(remoteId, now, batchId).changes > 0);
  }

  /**
   * Claims a remote batch for a batch row: true when the row holds the claim (taken now, or before),
   * false when another row holds it. One claim per remote id, so two rows never share one.
   */
  claim(remoteId: string, batchId: number): boolean {
    this.#stmt.claim.run(remoteId, batchId);
    return this.#stmt.claimant.get(remoteId)?.batch_id === batchId;
  }

  /** The batch row that claims the remote batch, if any. */
  claimant(remoteId: string): number | undefined {
    return this.#stmt.claimant.get(remoteId)?.batch_id;
  }

  setBatchState(batchId: number, state: BatchState, now: number, error: string | null = null): void {
    this.#stmt.setState.run({ state, now, error, id: batchId });
  }

  batch(batchId: number): BatchRow | undefined {
    return this.#stmt.batch.get(batchId);
  }

  batchSpecs(batchIds: readonly number[]): Map<number, Spec> {
    return this.#read(() => {
      // From a request the batch still holds (waiting on it, or answered by it), whose row is there (the
      // fold keeps the state of one another process's gc deleted; helper-102): one of a batch whose
      // requests all moved on (released, sent again) may be priced otherwise now.
      const specs = new Map<number, Spec>();
      for (const id of batchIds) {
        for (const member of this.#membersOf(id)) {
          if (this.#states.batch(member) !== id || this.#states.state(member) === PENDING) continue;
          const spec = this.#stmt.specOf.get(member);
          if (spec === undefined) continue;
          specs.set(id, spec);
          break;
        }
      }
      return specs;
    });
  }

  /**
   * Stores one result as final; ignored unless the request is still waiting on this batch (a
   * re-download is harmless). `waiting` is what `submittedOf` said of the request.
   */
  saveResult(batchId: number, waiting: Waiting, result: string, now: number): boolean {
    return this.settle(batchId, [{ waiting, result, retry: false }], now)[0] === true;
  }

  /** Puts a request back to pending for another attempt, remembering the last result (and a new `max_tokens`). */
  retryRequest(batchId: number, waiting: Waiting, lastResult: string, maxTokens: number | null, now: number): boolean {
    return this.settle(batchId, [{ waiting, result: lastResult, retry: true, maxTokens }], now)[0] === true;
  }

  settle(batchId: number, settlements: readonly Settlement[], now: number): boolean[] {
    // In request order, not in the order results came (the API's is arbitrary): the results are
    // appended in the order the records will be read back in (`records`), instead of at random.
    const order = settlements.map((_, i) => i).sort((a, b) => (settlements[a] as Settlement).waiting.id - (settlements[b] as Settlement).waiting.id);
    const taken = new Array<boolean>(settlements.length).fill(false);
    if (settlements.length === 0) return taken;
    // Under the write lock from the start: the ids of the results appended here are given here, one
    // past the largest, and no other connection may append one meanwhile. Each result is a row of
    // `results`, and the chunk one log entry (`./states.ts`); no request's row is updated.
    this.#readThenWrite(() => {
      this.#sync();
      const states = this.#states;
      let next = this.#stmt.lastResultId.get()! + 1;
      const appended = this.#bulk.results.writer();
      const answers: Answered[] = [];
      for (const i of order) {
        const { waiting, result, retry, maxTokens } = settlements[i] as Settlement;
        const id = waiting.id;
        // Only while it still waits on this batch: another worker may have stored it, or the batch been released.
        if (!states.waitsOn(id, batchId)) continue;
        // An earlier attempt's result is replaced in place.
        let resultId = states.result(id);
        if (resultId !== 0) this.#stmt.replaceResult.run(result, resultId);
        else appended.add((resultId = next++), result);
        if (retry) states.retry(id, resultId, maxTokens ?? null, now);
        else states.done(id, batchId, resultId, now);
        answers.push({ id, result: resultId, retry, maxTokens: maxTokens ?? null });
        taken[i] = true;
      }
      appended.end();
      if (answers.length > 0) this.#logSeen = Number(this.#stmt.logEntry.run(LOG.answers, batchId, null, null, null, now, answersBlob(answers)).lastInsertRowid);
    });
    return taken;
  }

  /** The stored result of a request (JSON), if any. */
  storedResult(scope: string, key: string): string | undefined {
    return this.#lookUpOne(scope, key, this.#stmt.storedResult)?.result ?? undefined;
  }

  /**
   * Makes an answered request pending again, with a fresh attempt count (a new run retrying a transient
   * failure), only when it is still as the caller saw it (`seenAt`: its `updated_at` then).
   */
  reopenRequest(scope: string, key: string, now: number, seenAt: number): boolean {
    return this.#readThenWrite(() => {
      this.#sync();
      const id = this.#byKey(scope, key, (candidate) => (this.#stmt.requestId.get(candidate, scope, key) !== undefined ? candidate : undefined));
      if (id === undefined || this.#states.state(id) !== DONE || this.#states.updated(id) !== seenAt) return false;
      this.#append(LOG.reopen, null, id, null, null, now);
      return true;
    });
  }

  /** Requests of a batch that got no result line. */
  unanswered(batchId: number): string[] {
    return this.#read(() => {
      return this.#rowsOf(this.#waitingOn(batchId), this.#stmt.rowsInRange, this.#stmt.rowById).map(([, key]) => key);
    });
  }

  /** By the type of each result stored (its JSON's `type`), or `processing` for a request still waiting. */
  resultCounts(batchIds: readonly number[]): Map<number, ResultCounts> {
    return this.#read(() => {
      const states = this.#states;
      const rows: { b: number; t: string | null; n: number }[] = [];
      for (const batchId of batchIds) {
        for (const id of this.#membersOf(batchId)) {
          if (states.batch(id) !== batchId) continue;
          const state = states.state(id);
          if (state === PENDING || state === 0) continue;
          rows.push({ b: batchId, t: state === DONE ? (this.#stmt.resultType.get(states.result(id)) ?? null) : 'processing', n: 1 });
        }
      }
      return countsByBatch(batchIds, rows);
    });
  }

  /**
   * A batch that will never answer (its create never reached the API, it is gone, it failed): its
   * unanswered requests go back to pending, and it is marked failed with the reason. Returns how
   * many requests were released, or undefined when the batch is no longer in state `from`.
   */
  failBatch(batchId: number, now: number, reason: string, from: BatchState): number | undefined {
    return this.#readThenWrite(() => {
      // Only from the state the caller saw: another run may have moved the batch on meanwhile (adopted it).
      // A downloaded batch stays so (`forwardState`): another worker finished it meanwhile.
      if (this.#stmt.batch.get(batchId)?.state !== from || from === 'downloaded') return undefined;
      this.#sync();
      const released = this.#release(batchId, now);
      this.#stmt.setState.run({ state: 'failed', now, error: reason, id: batchId });
      return released;
    });
  }

  releaseLost(batchId: number): number {
    return this.#readThenWrite(() => {
      if (this.#stmt.batchExists.get(batchId) !== undefined) return 0;
      this.#sync();
      return this.#release(batchId, Date.now());
    });
  }

  /**
   * Sends the requests waiting on a batch back to pending, one attempt less; or, for gc (`kept`), those
   * sent again after a first answer, attempts kept. One log entry, which lists them, when there are
   * any; returns how many.
   */
  #release(batchId: number, now: number, kept = false): number {
    const ids = this.#waitingOn(batchId).filter((id) => !kept || this.#states.result(id) !== 0);
    if (ids.length > 0) this.#append(kept ? LOG.unretry : LOG.release, batchId, null, null, null, now, membersBlob(ids));
    return ids.length;
  }

  records(scope: string, run: number, fromSeq: number, limit: number): RecordRow[] {
    return this.#read(() => {
      return this.#records.page(scope, run, fromSeq, limit);
    });
  }

  /** The identities the ledger's batches were made under (newest work first). */
  identities(): Identity[] {
    return this.#stmt.identities.all().map((row) => ({ scope: row.scope, baseUrl: row.base_url, apiVersion: row.api_version, keyFingerprint: row.key_fingerprint }));
  }

  /** Every batch (for `status`), or a job's. */
  batches(job?: string): BatchRow[] {
    return job === undefined ? this.#stmt.batches.all() : this.#stmt.jobBatches.all(job);
  }

  /**
   * Deletes finished batches, and requests not waiting on a batch (answered, or abandoned), not
   * touched since `before` (ms). The requests go in steps of `GC_STEP`, each a transaction that holds
   * the write lock from its start, with a pause between two (`GC_PAUSE_MS`), so that the runs beside
   * it wait for a step, not for the whole gc (in one transaction, a gc of 1,000,000 requests held the
   * lock 5.6 s; past about 1,700,000 it outlasted the 10 s busy timeout and failed the runs' writes).
   * Each step looks again at who else works on the ledger: once a run of another connection is
   * alive (one that started during a pause), no more requests are deleted.
   */
  async gc(before: number, now: number): Promise<GcCounts> {
    const rules = gcRules(now, before);
    let batches = this.#readThenWrite(() => {
      // Retries waiting on a batch it forgets go back to pending first (none while a run may be working elsewhere).
      this.#sync();
      if (typeof this.#gcRequestsWhere(rules) === 'string') {
        for (const batchId of this.#db.prepare<[], number>(gcReleaseRetries(rules)).pluck().all()) this.#release(batchId, now, true);
      }
      return this.#db.prepare(`DELETE FROM batches WHERE ${gcBatchesWhere(rules)}`).run(before).changes;
    });
    let requests = 0;
    let kept: string | undefined;
    for (let after = 0; ; ) {
      const step = this.#readThenWrite(() => this.#gcRequestStep(rules, before, after));
      if (typeof step === 'string') kept = step;
      else requests += step.deleted;
      if (typeof step === 'string' || step.last === undefined) break;
      after = step.last;
      await this.#gcPause();
    }
    // The requests deleted would stay in the key index (harmless: each id is checked against its
    // row), taking its memory; it is read again at the next lookup.
    if (requests > 0) this.#forgetKeys();
    this.#readThenWrite(() => {
      this.#sync();
      const gone = this.#gcRequestsWhere(rules);
      if (kept === undefined && typeof gone === 'string') {
        // With every request it may delete gone (none while a run may be working elsewhere).
        batches += this.#db.prepare(`DELETE FROM batches WHERE ${gcArchivedWhere(rules, gone)}`).run(before, before).changes;
        this.#db.prepare(`DELETE FROM borrowed WHERE ${rules.borrowedDone}`).run();
      }
      this.#stmt.gcClaims.run();
      this.#db.prepare('DELETE FROM written WHERE noted_at < ?').run(before);
      this.#stmt.gcSpecs.run();
      this.#stmt.gcScopes.run();
    });
    // Without the requests it deleted (the next connection to open the ledger would hold their states).
    this.#snapshotSoon(requests > 0);
    return kept === undefined ? { batches, requests } : { batches, requests, kept };
  }

  #gcPause(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.#gcPauseMs));
  }

  /**
   * One step of `gc`: deletes up to `GC_STEP` of the requests it may delete after the id `after`,
   * with their payloads and results. Returns how many it deleted and the last id it deleted when
   * there may be more; why, when it must keep every request (see `#gcRequests`). The largest
   * id ever given stays in `meta` (see `#insertRequests`), so no id freed here is given again.
   */
  #gcRequestStep(rules: GcRules, before: number, after: number): { deleted: number; last?: number } | string {
    this.#db.exec('CREATE TEMP TABLE IF NOT EXISTS gc_requests (id INTEGER PRIMARY KEY, result_id INTEGER); DELETE FROM temp.gc_requests');
    const where = this.#gcRequestsWhere(rules);
    if (typeof where !== 'string') return where.kept;
    this.#sync();
    const chosen = this.#db.prepare(`INSERT INTO temp.gc_requests (id, result_id) SELECT id, result_id FROM requests WHERE ${where} AND id > ? ORDER BY id LIMIT ${this.#gcStep}`);
    const deleted = chosen.run(before, after).changes;
    if (deleted === 0) return { deleted };
    for (const id of this.#db.prepare<[], number>('SELECT id FROM temp.gc_requests').pluck().iterate()) this.#states.delete(id);
    // Each by its id: a lookup per request, not a scan of the table (a scan a step would make gc quadratic).
    this.#db.exec(`
      DELETE FROM request_rows WHERE id IN (SELECT id FROM temp.gc_requests);
      DELETE FROM payloads WHERE id IN (SELECT id FROM temp.gc_requests);
      DELETE FROM results WHERE id IN (SELECT result_id FROM temp.gc_requests WHERE result_id IS NOT NULL);
    `);
    return deleted < this.#gcStep ? { deleted } : { deleted, last: this.#db.prepare<[], number>('SELECT MAX(id) FROM temp.gc_requests').pluck().get()! };
  }

  /**
   * Gives the space of deleted rows back to the file system (after `gc`): checkpoints the WAL, then
   * rewrites the file (`VACUUM`). Refuses while a run is alive in the ledger, this connection's
   * included, and throws `SQLITE_BUSY` when another connection holds it (a run that just started).
   */
  compact(): void {
    // A VACUUM holds the write lock while it copies the whole file (a 1.3 GB ledger: 6.5 s, a run's
    // write waiting 7.7 s): beside a run, past the busy timeout, it would fail the run's writes.
    const now = Date.now();
    const alive = this.#stmt.runs.all().filter((run) => runIsAlive(run, now)).length;
    if (alive > 0) throw new BatchEnrichError('BE_LEDGER', `${plural(alive, 'run')} ${alive === 1 ? 'is' : 'are'} using it`);
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    this.#db.exec('VACUUM');
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** The upload registry, in the same file (opened on first use: most jobs upload nothing). */
  get uploads(): UploadRegistry {
    this.#uploads ??= new UploadRegistry(this.path, this.path === ':memory:' ? this.#db : undefined);
    return this.#uploads;
  }

  close(): void {
    this.#uploads?.close();
    // Runs not ended are over with the connection: nobody else can read their records.
    if (this.#db.open) this.#records.close();
    if (this.#db.open) this.#db.close();
  }

  filesInUse(scope: string, afterGc?: GcAt): Set<string> {
    return this.#read(() => this.#filesInUse(scope, afterGc));
  }

  #filesInUse(scope: string, afterGc?: GcAt): Set<string> {
    const files = new Set<string>();
    const where = afterGc && this.#gcRequestsWhere(gcRules(afterGc.now, afterGc.before, afterGc.keep));
    // Every request stays when a run may be working (`kept`).
    const named =
      typeof where === 'string'
        ? this.#db.prepare<[string, number], string>(`SELECT p.messages FROM requests q JOIN payloads p ON p.id = q.id WHERE q.scope = ? AND ${NAMES_A_FILE} AND q.id NOT IN (SELECT id FROM requests WHERE ${where})`).pluck().iterate(scope, (afterGc as GcAt).before)
        : this.#stmt.namedFiles.iterate(scope);
    for (const messages of named) fileIdsIn(messages, files);
    return files;
  }

  noteWritten(files: readonly WrittenFile[], now: number): void {
    const note = this.#db.prepare('INSERT OR REPLACE INTO written (id, path, as_what, noted_at) VALUES (?, ?, ?, ?)');
    this.transaction(() => {
      for (const file of files) note.run(file.id, file.path, file.as, now);
    });
  }

  writtenFiles(): WrittenFile[] {
    return this.#db.prepare<[], WrittenFile>(SELECT_WRITTEN).all();
  }

  cutShort(before: number, now: number): CutShort[] {
    return this.#db.prepare<[number], CutShort>(cutShortSql(gcRules(now, before), '?')).all(before);
  }

  stoppedEarly(before: number, now: number): StoppedEarly[] {
    return this.#db.prepare<[number], StoppedEarly>(stoppedEarlySql(gcRules(now, before), '?')).all(before);
  }

  gcBatchIds(before: number, now: number): number[] {
    return this.#read(() => this.#gcBatchIds(before, now));
  }

  #gcBatchIds(before: number, now: number): number[] {
    const rules = gcRules(now, before);
    const ids = this.#db.prepare<[number], number>(`SELECT id FROM batches WHERE ${gcBatchesWhere(rules)}`).pluck().all(before);
    const where = this.#gcRequestsWhere(rules);
    if (typeof where === 'string') ids.push(...this.#db.prepare<[number, number], number>(`SELECT id FROM batches WHERE ${gcArchivedWhere(rules, where)}`).pluck().all(before, before));
    return ids;
  }

  /**
   * What `gc(before, now)` would delete, counted without deleting (for `batch-enrich gc --dry-run`). A
   * plain read, so a dry run never waits on a running job's write lock.
   */
  gcPreview(before: number, now: number, keep: readonly number[] = []): GcCounts {
    return this.#read(() => this.#gcPreview(before, now, keep));
  }

  #gcPreview(before: number, now: number, keep: readonly number[]): GcCounts {
    const rules = gcRules(now, before, keep);
    const count = (sql: string, ...params: number[]) => (this.#db.prepare<number[], { n: number }>(`SELECT COUNT(*) AS n FROM ${sql}`).get(...params)?.n ?? 0);
    const finished = count(`batches WHERE ${gcBatchesWhere(rules)}`, before);
    const where = this.#gcRequestsWhere(rules);
    if (typeof where !== 'string') return { batches: finished, requests: 0, kept: where.kept };
    return { batches: finished + count(`batches WHERE ${gcArchivedWhere(rules, where)}`, before, before), requests: count(`requests WHERE ${where}`, before) };
  }

  /**
   * The condition on the requests `gc` deletes (its one `?` is `before`), or why it must keep them
   * all: a run of another connection that may still be working (`runMayBeWorking`) holds records in
   * a scratch file this connection cannot read, and deleting a request one of them points at would
   * lose its answer. This connection's own runs' records keep theirs.
   */
  #gcRequestsWhere(rules: GcRules): string | { kept: string } {
    const now = Date.now();
    const elsewhere = this.#stmt.runs.all().filter((run) => !this.#records.holds(run.id) && runMayBeWorking(run, now));
    if (elsewhere.length > 0) return { kept: workingRunsText(elsewhere, now) };
    const held = this.#records.heldKeysSql();
    return `${gcRequestsWhere(rules)}${held === null ? '' : ` AND key NOT IN (${held})`}`;
  }
}
