/**
 * What every ledger implements: the SQLite file (`./ledger.ts`, the default) and PostgreSQL
 * (`./postgres.ts`, for jobs whose machine may not be the one that finishes them). The sink, the
 * CLI's job commands and the library see only this interface.
 *
 * Each method is one named step with the same guarantees in both: an operation that must be atomic
 * (`openBatch`, `setRemote`, `failBatch`, `intake`, `settle`, `endRun`) is one transaction
 * inside the implementation, never a transaction opened by a caller, so a ledger across a network
 * costs one round trip per step, not one per row.
 *
 * Returns are `Awaitable`: SQLite answers synchronously (its calls cost microseconds, and a promise
 * per row would double the ledger's CPU), PostgreSQL asynchronously; callers always `await`.
 */
import { BatchEnrichError } from '../errors.ts';
import type { BatchRow, BatchState, Identity, PayloadRow, RecordRow, RequestRow, RunRow, Waiting } from './ledger.ts';
import type { UploadRow } from './uploads.ts';

export type Awaitable<T> = T | Promise<T>;

/**
 * Whether a ledger error only means "not now": SQLite busy with another process's write, or a
 * PostgreSQL connection that broke or a lock that could not be had. A heartbeat that meets one skips
 * a beat; a run whose beats keep failing is taken for dead by the others and stops at its next beat.
 */
export function ledgerBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return BUSY_CODES.has(code) || BUSY_CODE.test(code);
  // pg and pg-pool report a dropped or unreachable connection without a code.
  return error instanceof Error && BUSY_MESSAGE.test(error.message);
}

/** How long a SQLite ledger waits for another process's lock before an operation fails with SQLITE_BUSY. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** Ledger errors a run met as it registered itself (`startRun`): before it had done anything. */
const AT_START = new WeakSet<object>();

/** Marks `error` as met by a run registering itself, before it had done anything (see `ledgerUnavailable`); returns it. */
export function metAtStart<E>(error: E): E {
  if (typeof error === 'object' && error !== null) AT_START.add(error);
  return error;
}

/** Whether `error` was met by a run registering itself (`metAtStart`). */
export function isMetAtStart(error: unknown): boolean {
  return typeof error === 'object' && error !== null && AT_START.has(error);
}

/**
 * A run's end on a ledger that stopped answering (`ledgerBusy`: a PostgreSQL server shutting down, a
 * SQLite file locked past the busy timeout), as the error to say: where, what, and that nothing is
 * lost. Undefined for any other error (and one already said as a `BatchEnrichError`). A SQLite file
 * is said to be busy (another process holds its lock); one met as the run registered itself
 * (`metAtStart`), that nothing was done.
 *
 * `later`: a `--no-wait` try with batches in flight, or one that met the ledger so as it began (as
 * one that cannot open a ledger server then: `ledgerOf` in the CLI), which stops as pending
 * (`BE_PENDING`, exit 75) as it does when the API cannot be reached: its scheduler tries again, and
 * the next try goes on from the ledger. `records`: how many wait.
 */
export function ledgerUnavailable(error: unknown, path: string, later?: { records: number }): BatchEnrichError | undefined {
  if (error instanceof BatchEnrichError || !ledgerBusy(error)) return undefined;
  const detail = error instanceof Error ? error.message : String(error);
  const atStart = isMetAtStart(error);
  const code = (error as { code?: unknown }).code;
  const what =
    typeof code === 'string' && code.startsWith('SQLITE_')
      ? `The ledger ${path} is busy (${detail}): another process has held it locked for longer than the ${SQLITE_BUSY_TIMEOUT_MS / 1000} s a run waits`
      : `The ledger ${path} ${atStart ? 'cannot be reached' : 'stopped answering'} (${detail})`;
  if (later) {
    const done = atStart ? 'nothing was done' : 'nothing was written';
    return new BatchEnrichError('BE_PENDING', `${what}; ${done}: run the same command again later, and it goes on from what the ledger kept`, { records: later.records, cause: error });
  }
  return new BatchEnrichError('BE_LEDGER', `${what}; what was done is kept there: run the same command again once it answers, and it resumes`, { cause: error });
}

/**
 * A run's end on a ledger that could not be written (a full disk, a file size limit, a file or
 * folder made read-only, a PostgreSQL server out of disk), as the error to say: where, what, and what
 * to do; SQLite's own words ("disk I/O error") named neither (helper-66). Undefined for any other
 * error (and one already said as a `BatchEnrichError`).
 */
export function ledgerWriteFailed(error: unknown, path: string): BatchEnrichError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof BatchEnrichError || typeof code !== 'string' || !WRITE_FAILED.test(code)) return undefined;
  const what = error instanceof Error ? error.message : String(error);
  const todo = /READONLY|PERM/.test(code) ? 'make the file and its folder writable' : 'free some space (or lift a file size limit: ulimit -f)';
  return new BatchEnrichError('BE_LEDGER', `The ledger ${path} could not be written (${code}: ${what}): what was done before is kept there; ${todo}, then run the same command again, and it resumes`, { cause: error });
}

/** SQLite: the disk full, an I/O error (EFBIG, EIO), read-only; PostgreSQL: disk full (53100), I/O error (58030). */
const WRITE_FAILED = /^(SQLITE_(FULL|IOERR|READONLY|PERM)(_[A-Z_]+)?|53100|58030)$/;

const BUSY_CODES = new Set([
  // PostgreSQL: serialization failure, deadlock, lock not available, the server shutting down,
  // crashing or starting.
  '40001',
  '40P01',
  '55P03',
  '57P01',
  '57P02',
  '57P03',
  // The connection to it.
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
]);
/** SQLite busy or locked, extended codes included (`SQLITE_BUSY_SNAPSHOT`); PostgreSQL class 08, connection exceptions. */
const BUSY_CODE = /^(SQLITE_(BUSY|LOCKED)(_[A-Z]+)?|08[0-9A-Z]{3})$/;
/**
 * pg's `Connection terminated unexpectedly`, and `Client has encountered a connection error and is not
 * queryable` (a held client's next query after its connection dropped; helper-67), and pg-pool's
 * `timeout exceeded when trying to connect`.
 */
const BUSY_MESSAGE = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect)/;

/**
 * How a run of ours ended (`endRun`): with every record out, and kept by its consumer (`complete`:
 * see the sink's `onComplete`; the notes of its job on the requests its records point at are
 * cleared; another try of the job, a shard, keeps its own), or before (its records' requests are
 * noted for its job, see `GcRules.borrowedKept`). `scope`: the identity its records' requests are
 * under.
 */
export interface RunOutcome {
  complete: boolean;
  now: number;
  scope: string;
}

/** A request the ledger knows (`known`). */
export interface KnownRequest extends RequestRow {
  /**
   * Its stored result when that is not a success and its text mentions `errored`, `expired` or
   * `canceled` (a cheap look: the caller parses it to tell a transient failure), else null.
   */
  failure: string | null;
}

/** A request new to the ledger (`intake`): pending, with what it sends. */
export interface NewRequest {
  key: string;
  label: string | null;
  /** The id of its spec (the params shared by a job's requests). */
  spec: string;
  /** The request's `messages` JSON. */
  messages: string;
}

/** An input record of a run, waiting to be written out in order (`intake`). */
export interface NewRecord {
  seq: number;
  line: number;
  /** The record as JSON. */
  data: string;
  /** Its request's key (null when the record carries an error instead). */
  key: string | null;
  /** The record's error as JSON, if any. */
  error: string | null;
}

/** A spec: `head + messages + tail` is a request's params JSON. */
export interface Spec {
  id: string;
  head: string;
  tail: string;
}

/** A batch's requests by result, as the API's `request_counts`. */
export interface ResultCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}

/**
 * The counts of batches' requests by what they wait on (`processing`) or their stored result's type,
 * one query for both stores (`resultCounts`), for the batches `batchFilter` picks: the type is read in
 * SQL (`typeOf`: SQLite's `json_extract`, PostgreSQL's `->>`), not by parsing every result here.
 */
export function resultCountsSql(typeOf: (column: string) => string, batchFilter: string): string {
  return `SELECT q.batch_id AS b, CASE WHEN q.state = 'submitted' THEN 'processing' ELSE ${typeOf('a.result')} END AS t, COUNT(*) AS n
    FROM requests q LEFT JOIN results a ON a.id = q.result_id WHERE ${batchFilter} AND q.state IN ('submitted', 'done') GROUP BY q.batch_id, t`;
}

/**
 * `resultCountsSql`'s rows as counts, one for each of `batchIds` (a result of another type, which the
 * API does not give, is left out).
 */
export function countsByBatch(batchIds: readonly number[], rows: Iterable<{ b: number | string; t: string | null; n: number | string }>): Map<number, ResultCounts> {
  const counts = new Map(batchIds.map((id) => [id, { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 } as ResultCounts]));
  for (const { b, t, n } of rows) {
    const batch = counts.get(Number(b));
    if (batch && t !== null && Object.hasOwn(batch, t)) batch[t as keyof ResultCounts] += Number(n);
  }
  return counts;
}

/** A decided result to store (`settle`): final, or the request goes back to pending for another attempt. */
export interface Settlement {
  /** What `submittedOf` said of the request. */
  waiting: Waiting;
  /** The result as JSON. */
  result: string;
  /** True: pending again (the result is kept as its last); false: final. */
  retry: boolean;
  /** A `max_tokens` replacing the spec's for the next attempt (a truncated answer). */
  maxTokens?: number | null;
}

/**
 * How long the API keeps a batch's results: "Batch results are available for 29 days after
 * creation" (the docs' guide, Troubleshooting; see shared/docs/anthropic-batches-api.md, Retention).
 * A batch older than that can answer nothing, whatever the ledger last saw of it.
 */
export const RESULTS_KEPT_MS = 29 * 24 * 60 * 60_000;
/**
 * What `gc` adds to `RESULTS_KEPT_MS` before it takes a batch for archived: a row's `created_at` is
 * the ledger's (taken before the upload and the create's tries, on a worker's clock), minutes or
 * more before the API's own.
 */
export const ARCHIVE_MARGIN_MS = 24 * 60 * 60_000;

/** What `gc` keeps and forgets, in SQL for both stores, as of `now` (ms; written into the SQL as a number). */
export interface GcRules {
  /**
   * The jobs with work to finish: a batch not yet downloaded that may still answer (created within
   * `RESULTS_KEPT_MS`), a newest batch that failed (its requests were released, to be sent by the
   * job's next try) within as long, or a try that ended before every record was out (`borrowed`
   * notes) within as long. `gc` keeps their finished work; a job left longer is over.
   */
  unfinishedJobs: string;
  /**
   * The runs whose try never ended (`tryMark`), within `RESULTS_KEPT_MS`: `gc` keeps the batches
   * each opened, and the requests they answered.
   */
  markedRuns: string;
  /**
   * A batch that can answer nothing more (over `batches`): not downloaded nor failed, created longer
   * than `RESULTS_KEPT_MS` (and `ARCHIVE_MARGIN_MS`) ago, and untouched since `before` (a batch
   * `gc` found still holding results on the API is touched to `before`, and kept with its requests).
   */
  archived: string;
  /**
   * Whether a request (the table `requests`, unaliased) is one a job's next try reads (a condition).
   * A run notes for its job (`borrowed`: job, request id, when) each request the ledger already had
   * as its intake reads it, and, when it ends before every record is out, every request its records
   * point at (`LedgerStore.endRun`), whoever sent or sends it (another job, another worker, this
   * job's own retry): the next try reads them again, and would pay for each one gc had deleted. A
   * complete run clears the notes on its own records' requests.
   */
  borrowedKept: string;
  /** The notes of `borrowedKept` no job will read: older than `RESULTS_KEPT_MS` (the job was left). */
  borrowedDone: string;
  /** The notes (over `borrowed`) that keep their job unfinished: of requests (not a try's mark), within `RESULTS_KEPT_MS`. */
  notesKept: string;
}

/** `keep`: batches to take as touched since `before` (a dry run's count of what the gc would keep: see `LedgerStore.gcPreview`). */
export function gcRules(now: number, before: number, keep: readonly number[] = []): GcRules {
  if (!Number.isFinite(now) || !Number.isFinite(before)) throw new RangeError(`gc's clock is not a time: ${now}, ${before}`);
  if (!keep.every(Number.isSafeInteger)) throw new RangeError(`gc's batches to keep are not row ids: ${keep.join(', ')}`);
  const since = Math.floor(now - RESULTS_KEPT_MS - ARCHIVE_MARGIN_MS);
  const notesKept = `request_id >= 0 AND noted_at >= ${since}`;
  const unfinishedJobs = `SELECT job FROM batches WHERE state IN ('creating', 'in_progress', 'ended') AND created_at >= ${since}
  UNION SELECT f.job FROM batches f WHERE f.state = 'failed' AND f.created_at >= ${since} AND f.id = (SELECT MAX(n.id) FROM batches n WHERE n.job = f.job)
  UNION SELECT job FROM borrowed WHERE ${notesKept}`;
  return {
    unfinishedJobs,
    markedRuns: `SELECT -request_id FROM borrowed WHERE request_id < 0 AND noted_at >= ${since}`,
    archived: `(state IN ('creating', 'in_progress', 'ended') AND created_at < ${since} AND updated_at < ${Math.floor(before)}${keep.length > 0 ? ` AND id NOT IN (${keep.join(', ')})` : ''})`,
    // Correlated, by the index on request ids: PostgreSQL plans \`id NOT IN (a large subquery)\` as a
    // plain subplan, quadratic (a helper measured hours at a million notes, gc's lock held all along).
    borrowedKept: `EXISTS (SELECT 1 FROM borrowed o WHERE o.request_id = requests.id AND o.noted_at >= ${since})`,
    borrowedDone: `noted_at < ${since}`,
    notesKept,
  };
}

/**
 * The note a run's start writes for its job (`borrowed`, under this id in place of a request's: no
 * request has it), and only its end (`LedgerStore.endRun`) deletes: of a try that never ends
 * (SIGKILL, the OOM killer, a lost machine, a caller that never confirmed its output), gc keeps the
 * batches it opened and the requests they answered (`GcRules.markedRuns`), as long as other notes
 * (`RESULTS_KEPT_MS`), for the job's next try, or until a complete try of the job reads every
 * request of those batches again (the rerun: it clears the mark). What the try read that the ledger
 * had before is noted as it reads it; its own new requests are not noted one by one (a write a
 * record, on every job): they were sent, if at all, in its own batches. The mark keeps nothing else
 * of the job (those notes, if any, keep the job unfinished, as for any try cut short). While a try of
 * the job has a mark, a complete one leaves the job's notes in place: the other reads them again.
 */
export function tryMark(run: number): number {
  return -run;
}

/**
 * A request sent back for another attempt, not sent yet (SQL for both stores): `gc` keeps it, with
 * its attempts, its raised `max_tokens` and its last result. Deleted, the job's next try would build
 * it anew: a truncated answer would be asked again with the first `max_tokens`, truncated, and paid
 * for again.
 */
export const RETRY_WAITING = "state = 'pending' AND result_id IS NOT NULL";

/**
 * The condition (SQL for both stores, over `batches`; `param` writes the placeholder of the new
 * state) under which `setBatchState` moves a batch: a state only moves forward (creating →
 * in_progress → ended → downloaded; failed ends it too), or stays (touched: gc keeps a batch the API
 * still holds). Two workers follow one batch: the slower one's poll wrote `ended` after the other had
 * downloaded it, and status counted its requests pending for good, and gc never forgot its job.
 */
export function forwardState(param: string): string {
  return `(state = ${param} OR (state NOT IN ('downloaded', 'failed') AND NOT (state = 'ended' AND ${param} IN ('creating', 'in_progress')) AND NOT (state = 'in_progress' AND ${param} = 'creating')))`;
}

/** The `file_id`s a request's messages name (`{"type":"file","file_id":"file_…"}` sources). */
export function fileIdsIn(messages: string, into: Set<string>): void {
  for (const match of messages.matchAll(/"file_id":"([^"\\]+)"/g)) into.add(match[1] as string);
}

/** Which payloads may name an uploaded file (SQL for both stores): those without `"file_id"` cannot. */
export const NAMES_A_FILE = `p.messages LIKE '%"file_id"%'`;

/** A try that never ended whose batches gc keeps (`tryMark`), for `batch-enrich gc` to say why. */
export interface CutShort {
  job: string;
  run: number;
  /** When it started (ms since the epoch): gc keeps its batches until `RESULTS_KEPT_MS` after. */
  startedAt: number;
  /** Its batches untouched since the cut-off, which gc would have deleted. */
  batches: number;
}

/**
 * `LedgerStore.cutShort` (SQL for both stores; `param` writes the placeholder of `before`). A run
 * whose row is still there may be working: the caller tells (`runMayBeWorking`).
 */
export function cutShortSql(rules: GcRules, param: string): string {
  return `SELECT m.job AS job, -m.request_id AS run, m.noted_at AS "startedAt", COUNT(b.id) AS batches
    FROM borrowed m JOIN batches b ON b.run = -m.request_id
   WHERE m.request_id < 0 AND -m.request_id IN (${rules.markedRuns})
     AND b.updated_at < ${param} AND b.state IN ('downloaded', 'failed')
   GROUP BY m.job, m.request_id, m.noted_at ORDER BY m.noted_at`;
}

/**
 * A job whose tries ended before every record was out, and noted requests its next try reads
 * (`GcRules.borrowedKept`): `gc` keeps its finished work as long as the notes (`LedgerStore.stoppedEarly`).
 */
export interface StoppedEarly {
  job: string;
  /** When the last of its notes was written (ms since the epoch): kept until `RESULTS_KEPT_MS` (and `ARCHIVE_MARGIN_MS`) after. */
  notedAt: number;
  /** The requests noted. */
  requests: number;
  /** Its finished batches untouched since the cut-off, which gc would have deleted. */
  batches: number;
}

/** `LedgerStore.stoppedEarly` (SQL for both stores; `param` writes the placeholder of `before`). */
export function stoppedEarlySql(rules: GcRules, param: string): string {
  return `SELECT n.job AS job, MAX(n.noted_at) AS "notedAt", COUNT(*) AS requests,
         (SELECT COUNT(*) FROM batches b WHERE b.job = n.job AND b.state IN ('downloaded', 'failed') AND b.updated_at < ${param}) AS batches
    FROM borrowed n WHERE ${rules.notesKept}
   GROUP BY n.job ORDER BY MAX(n.noted_at)`;
}

/**
 * A gc to look past (`LedgerStore.filesInUse`): the files named only by the requests `gc(before,
 * now)` would delete are not counted in use (`batch-enrich gc --dry-run` says what the gc would then
 * forget). `keep`: as `gcPreview`'s.
 */
export interface GcAt {
  before: number;
  now: number;
  keep?: readonly number[];
}

/** What `writtenFiles` reads, on SQLite and PostgreSQL (and `--dry-run`'s read of a ledger as it is). */
export const SELECT_WRITTEN = 'SELECT id, path, as_what AS "as" FROM written';

/**
 * A file a run wrote. `id` is what it is on its file system: its device, inode and birth time
 * (`fileIdentity` in cli/files.ts), so that the same name made again later (another inode, or the
 * same inode born again) is another file; `path` and `as` ("its output") are for the message that
 * leaves it out.
 */
export interface WrittenFile {
  id: string;
  path: string;
  as: string;
}

/** What `gc` deleted (or `gcPreview` would), and why it kept every request, if it did. */
export interface GcCounts {
  batches: number;
  requests: number;
  /** The runs that may still be working, whose records point at requests (see `workingRunsText`): no request was deleted. */
  kept?: string;
}

export interface LedgerStore {
  /** Where the ledger lives, for messages: a file path, or a PostgreSQL URL without its password. */
  readonly path: string;

  // Runs
  /**
   * Registers a run of this process, its first heartbeat at `now`, and its job's mark (`tryMark`),
   * after forgetting the records of runs long dead (their marks stay).
   */
  startRun(job: string, now: number): Awaitable<number>;
  /** Refreshes a run's heartbeat; false when the run is dead to the others (its row gone, or its last beat stale). */
  heartbeat(run: number, now: number): Awaitable<boolean>;
  run(run: number): Awaitable<RunRow | undefined>;
  /** Forgets a run, its records (its requests, batches and answers stay) and its job's mark (`tryMark`); see `RunOutcome`. */
  endRun(run: number, outcome?: RunOutcome): Awaitable<void>;
  /** Whether the run is still working at `now`. */
  runAlive(run: number, now: number): Awaitable<boolean>;

  // Requests and records
  request(scope: string, key: string): Awaitable<RequestRow | undefined>;
  /**
   * The requests among `keys` the ledger knows (one step for a page of input, not one per record),
   * each with its stored result when that may be a failure (`KnownRequest.failure`).
   */
  known(scope: string, keys: readonly string[]): Awaitable<Map<string, KnownRequest>>;
  /** The identities (scopes) other than `scope` that have requests in the ledger. */
  otherScopes(scope: string): Awaitable<string[]>;
  /** Writes, in one transaction: specs (ignored if known), new requests (pending; ignored if known) and a run's records. */
  intake(scope: string, run: number, specs: readonly Spec[], requests: readonly NewRequest[], records: readonly NewRecord[], now: number): Awaitable<void>;
  /**
   * Replaces what a request not yet answered (pending or submitted) will send next, when it differs (a
   * document uploaded again: its new `file_id`); true when it changed. An answered one keeps its own.
   */
  refreshPayload(scope: string, key: string, messages: string): Awaitable<boolean>;
  /** What a request sends. */
  payload(scope: string, key: string): Awaitable<PayloadRow | undefined>;
  /** What each of these requests sends, those the ledger knows (one step for many: a result chunk's retries). */
  payloads(scope: string, keys: readonly string[]): Awaitable<Map<string, PayloadRow>>;
  /** The stored result of a request (JSON), if any. */
  storedResult(scope: string, key: string): Awaitable<string | undefined>;
  /**
   * Makes an answered request pending again with a fresh attempt count; true when it was answered and
   * is as the caller saw it (`seenAt`: its `updated_at` then). A request answered or reopened since
   * (this run, reading a page of input at once, or another worker) is left alone: it would be paid again.
   */
  reopenRequest(scope: string, key: string, now: number, seenAt: number): Awaitable<boolean>;
  /** A page of a run's records from `fromSeq`, joined with their requests' state and results. */
  records(scope: string, run: number, fromSeq: number, limit: number): Awaitable<RecordRow[]>;

  // Batches
  /**
   * Records a batch about to be created (`creating`) and assigns it those of `keys` still pending, in
   * one transaction; a key another run holds is skipped, never waited for. Returns the batch id and the keys it got;
   * when it got none of the keys given, the row is not kept.
   */
  openBatch(identity: Identity, run: number, job: string, nonce: string, keys: readonly string[], now: number): Awaitable<{ id: number; keys: string[] }>;
  /** Stores the size of the body actually built for a batch. */
  /** Stores the size of the body built for a batch, and what its requests are priced by (`BatchRow.cost_bytes`). */
  sizeBatch(batchId: number, requests: number, bytes: number, costBytes: number): Awaitable<void>;
  /** A page of a batch's requests in submission order, after the request id `afterId`. */
  batchPage(batchId: number, afterId: number, limit: number): Awaitable<PayloadRow[]>;
  /** Records the remote id of a `creating` batch and claims it for that row; false when the row moved on or another row claims it. */
  setRemote(batchId: number, remoteId: string, now: number): Awaitable<boolean>;
  /** The batch row that claims the remote batch, if any. */
  claimant(remoteId: string): Awaitable<number | undefined>;
  setBatchState(batchId: number, state: BatchState, now: number, error?: string | null): Awaitable<void>;
  batch(batchId: number): Awaitable<BatchRow | undefined>;
  /** The requests a batch still waits on, with what deciding a retry needs. */
  submittedOf(batchId: number): Awaitable<Map<string, Waiting>>;
  /** Requests of a batch that got no result line. */
  unanswered(batchId: number): Awaitable<string[]>;
  /**
   * The results of each batch's requests by type, as the API counts them (`request_counts`): those
   * it still waits on as `processing`, those answered by their stored result's type. For what the API
   * cannot say: real-time groups' (`status`, for all of a job's at once).
   */
  resultCounts(batchIds: readonly number[]): Awaitable<Map<number, ResultCounts>>;
  /**
   * Stores decided results of a batch in one transaction; each is ignored unless its request still
   * waits on this batch (a re-download is harmless). Returns, in order, whether each took effect.
   */
  settle(batchId: number, settlements: readonly Settlement[], now: number): Awaitable<boolean[]>;
  /** A batch that will never answer: its unanswered requests go back to pending and it is marked failed; undefined when it is no longer in state `from`. */
  failBatch(batchId: number, now: number, reason: string, from: BatchState): Awaitable<number | undefined>;
  /**
   * Requests waiting on a batch the ledger no longer has (a gc of an older release, a hand): that
   * batch can answer nothing for them, so they go back to pending. Returns how many did (none while
   * the row is there).
   */
  releaseLost(batchId: number): Awaitable<number>;
  /**
   * The spec each batch's requests were built from (its first request's), by batch id; a batch that
   * holds no request has none. One step for all (on a server, one round trip, not one per batch).
   */
  batchSpecs(batchIds: readonly number[]): Awaitable<Map<number, Spec>>;
  /** The identities the ledger's batches were made under (newest work first). */
  identities(): Awaitable<Identity[]>;
  /** Every batch, or a job's, in creation order. */
  batches(job?: string): Awaitable<BatchRow[]>;

  // Upkeep
  /**
   * Deletes finished batches, and requests no batch or record waits on, untouched since `before`,
   * none while a run of another connection may be working; as of `now`, a job left longer than the
   * API keeps results is finished, and its batches that can answer nothing more are forgotten with
   * their requests (`gcRules`). SQLite deletes them in short steps (the
   * runs beside it wait for one, not for the whole gc), each request with its payload and result,
   * and their keys after (a gc stopped before that leaves key rows no lookup matches); PostgreSQL in
   * one transaction.
   */
  gc(before: number, now: number): Awaitable<GcCounts>;
  /**
   * What `gc(before, now)` would delete, counted. `keep`: batches the gc would first touch to `before`
   * (`batch-enrich gc` keeps an archived batch whose results the API still holds), counted as kept.
   */
  gcPreview(before: number, now: number, keep?: readonly number[]): Awaitable<GcCounts>;
  /**
   * The batches `gc(before, now)` would delete, as things are now (the ids of those `gcPreview`
   * counts): what `batch-enrich gc` may delete on the API, for it keeps there what the ledger keeps.
   */
  gcBatchIds(before: number, now: number): Awaitable<number[]>;
  /** The tries not ended whose batches `gc(before, now)` keeps for their job's next try (some may be working still: see `run`). */
  cutShort(before: number, now: number): Awaitable<CutShort[]>;
  /** The jobs whose finished work `gc(before, now)` keeps for their notes (`StoppedEarly`). */
  stoppedEarly(before: number, now: number): Awaitable<StoppedEarly[]>;
  /**
   * The Files API ids that the requests of `scope` in the ledger send, whatever their state: an
   * uploaded file one of them names must not be deleted (a batch may still read it, or a retry send
   * it again). Read whole, for `gc`.
   */
  filesInUse(scope: string, afterGc?: GcAt): Awaitable<Set<string>>;
  /**
   * Notes files a run wrote (its outputs), by what they are on their file system (`WrittenFile.id`),
   * so that a folder given as a later run's input leaves them out whatever they are named; a note
   * already there is refreshed. `gc(before)` forgets the notes older than `before`.
   */
  noteWritten(files: readonly WrittenFile[], now: number): Awaitable<void>;
  /** The files runs noted as written (`noteWritten`), not yet forgotten. */
  writtenFiles(): Awaitable<WrittenFile[]>;
  /** Gives the space of deleted rows back (SQLite `VACUUM`, refused while a run is alive: it would hold the write lock throughout; PostgreSQL `VACUUM`). */
  compact(): Awaitable<void>;
  close(): Awaitable<void>;

  /** The uploaded documents (sha256 → file id) of this ledger. */
  readonly uploads: UploadStore;
}

/** The upload registry: which document (by sha256) was uploaded as which file, written before and after each upload. */
export interface UploadStore {
  get(scope: string, sha256: string): Awaitable<UploadRow | undefined>;
  begin(scope: string, sha256: string, bytes: number, now: number): Awaitable<void>;
  finish(scope: string, sha256: string, fileId: string, expiresAt: number | null): Awaitable<void>;
  forget(scope: string, sha256: string): Awaitable<void>;
  all(scope: string): Awaitable<UploadRow[]>;
}
