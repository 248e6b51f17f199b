/**
 * `batch-enrich status`: the ledger's jobs and batches, refreshed from the API for the current
 * identity. A table for people; `--json`, one object per job, for a scheduler's script.
 */
import type { MessageBatch, MessageBatchRequestCounts } from '@anthropic-ai/sdk/resources/messages/batches';
import { describeApiError } from '../../client/errors.ts';
import { expectedBatchUsd } from '../../core/expected-cost.ts';
import { DEFAULT_PRICES } from '../../core/prices.ts';
import { ARCHIVED, notFoundNote, REALTIME_PREFIX } from '../../sink/options.ts';
import { shown } from '../../errors.ts';
import type { BatchRow, BatchState } from '../../ledger/ledger.ts';
import type { ResultCounts } from '../../ledger/store.ts';
import { EXIT, type CliIo } from '../io.ts';
import { guarded, help, say } from '../command.ts';
import { jobName, parseFlags, renderFlags } from '../flags.ts';
import { count, formatBytes, formatDuration, plural, printable } from '../text.ts';
import { apiFromEnv, ENVIRONMENT, EXPIRY_MS, groupBy, HELP_FLAG, identityMatches, LEDGER_FLAG, ledgerPath, shownLedger, otherIdentity, readingLedger, type Api } from './shared.ts';

/** Retrieves in flight at once while refreshing. */
const REFRESH_CONCURRENCY = 8;
/** Per-call timeout of the refresh (the SDK's default is 10 minutes, too long for a status). */
const REFRESH_TIMEOUT_MS = 30_000;
/** Ledger states after which nothing more happens to a batch: not refreshed. */
const FINAL_STATES: readonly BatchState[] = ['downloaded', 'failed'];
/** Ledger states whose requests are still to come back: counted as pending. */
const PENDING_STATES: readonly BatchState[] = ['creating', 'in_progress', 'ended'];
const STATES: readonly BatchState[] = ['creating', 'in_progress', 'ended', 'downloaded', 'failed'];

/** The flags of `batch-enrich status`. */
export const STATUS_FLAGS = {
  job: { value: 'NAME', parse: jobName, help: "only this job's batches", defaultText: 'every job' },
  ledger: LEDGER_FLAG,
  json: { help: 'one JSON object per job on stdout (NDJSON), for scripts', defaultText: 'a table' },
  'no-refresh': { help: 'show the ledger only, call no API', defaultText: 'refresh' },
  help: HELP_FLAG,
} as const;

/** `batch-enrich status --help`. */
export const STATUS_HELP = `Usage: batch-enrich status [--job NAME] [options]

List the jobs and batches in the ledger, grouped by job, one summary line per job. Batches not yet
downloaded or failed that belong to the current identity (ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY)
are refreshed from the API: live processing status and request counts. Batches of another identity
are shown with that identity, and never queried.

${renderFlags(STATUS_FLAGS, [])}
Table columns: remote batch id ("(no id yet)" while its create has not answered), ledger state, live status
and counts (or why there are none), requests, size, age, time until the 24 h processing expiry
(batches still in progress only), then the identity for batches of another one.

JSON (one line per job; see the README, "status --json"): job, requests_pending (requests in
batches not yet downloaded), requests_done (in downloaded batches, or stored by a failed real-time
group: their results are in the ledger), requests_failed (in failed batches, without a result,
that the job has not sent again since: a rerun submits them), ready (every answer is in: the
same command run now writes the output without waiting, unless it sends failures again),
batches_by_state,
oldest_expires_at (the oldest batch still processing: created + 24 h; null when none),
live_request_counts (summed over the refreshed batches and the real-time groups, whose counts
come from the ledger; null when there is none), expected_cost_usd
(what --max-cost counts for the job's batches: typical answers, no cache hit, at the built-in
prices; null when a model has no price), and batches: one object per batch with job, batch_id, remote_id, state,
processing_status, request_counts, requests, bytes, created_at, updated_at, expires_at, base_url,
key_fingerprint, identity_matches, refresh_error, error, expected_cost_usd (null where unknown).

Examples:
  $ batch-enrich status
  $ batch-enrich status --job tickets --no-refresh
  $ batch-enrich status --json | jq -r '.batches[] | select(.processing_status == "ended") | .remote_id'
  $ batch-enrich status --job tickets --json | jq -e .ready   # a sensor: every answer in? (then collect)

${ENVIRONMENT}

Exit codes: 0 ok (a batch that cannot be refreshed says so on its line), 1 the ledger cannot be
read or --job names no job in it, 2 usage error.
`;

interface BatchView {
  row: BatchRow;
  /** Whether the batch belongs to the current identity; null without a key. */
  matches: boolean | null;
  live?: MessageBatch;
  refreshError?: string;
  /** What it is expected to cost (USD, at the built-in prices); undefined when that cannot be told. */
  expectedUsd?: number | undefined;
  /** A real-time group's requests by result, from the ledger (the API has no such batch to refresh). */
  counts?: ResultCounts | undefined;
}

/**
 * `batch-enrich status …`: the ledger's jobs and batches, refreshed from the API; returns the exit code.
 * @example
 * process.exitCode = await statusCommand(['--job', 'tickets', '--json'], { stdin, stdout, stderr, env: process.env });
 */
export function statusCommand(argv: string[], io: CliIo): Promise<number> {
  return guarded('status', io, async () => {
    const { values } = parseFlags(STATUS_FLAGS, argv);
    if (values.help) return help(io, STATUS_HELP);
    const path = ledgerPath(values.ledger, io.env);
    const expected = new Map<number, number | undefined>();
    let realtimeCounts = new Map<number, ResultCounts>();
    const read = await readingLedger(io, path, async (ledger) => {
      const batches = await ledger.batches();
      // The expected cost of each batch a job still has or had (for --json): from its spec and what its
      // requests are priced by (documents by pages and pixels; the body's bytes in an older ledger's rows).
      if (values.json) {
        // A failed real-time group too: the answers it stored were paid for (helper-85: a Ctrl-C after 8 said $0).
        // And a batch whose results were archived: it ran, billed (helper-96), priced by its job's spec
        // (its requests, released, point at the batch that sends them again).
        const priced = batches.filter((row) => (values.job === undefined || row.job === values.job) && (row.state !== 'failed' || row.remote_id?.startsWith(REALTIME_PREFIX) || row.error === ARCHIVED));
        const specs = await ledger.batchSpecs(priced.map((row) => row.id));
        const jobSpecs = new Map([...specs].map(([id, spec]) => [priced.find((row) => row.id === id)?.job, spec]));
        for (const row of priced) {
          const spec = specs.get(row.id) ?? (row.error === ARCHIVED ? jobSpecs.get(row.job) : undefined);
          expected.set(row.id, spec && expectedBatchUsd(spec, row.request_count, row.cost_bytes ?? row.bytes, row.remote_id?.startsWith(REALTIME_PREFIX) ? 'realtime' : 'batch', DEFAULT_PRICES));
        }
      }
      // A real-time group's counts, which no API call can give (helper-71: a group with an answer lost
      // on the way showed nothing a rerun would send again).
      const realtime = batches.filter((row) => (values.job === undefined || row.job === values.job) && row.remote_id?.startsWith(REALTIME_PREFIX));
      realtimeCounts = await ledger.resultCounts(realtime.map((row) => row.id));
      return batches;
    });
    const all = read ?? [];
    const rows = values.job === undefined ? all : all.filter((row) => row.job === values.job);
    if (values.job !== undefined && rows.length === 0) {
      // A job name that matches nothing is a mistake (as for `cancel --job`), in an empty or missing
      // ledger too (a scheduler asking after a job that was never submitted): say which jobs there are.
      const jobs = [...new Set(all.map((row) => row.job))].sort();
      if (read === undefined) say(io, `no batches of job ${shown(values.job)}: there is no ledger at ${shownLedger(path)}`);
      else say(io, `no batches of job ${shown(values.job)} in the ledger ${shownLedger(path)}; ${jobs.length > 0 ? `its jobs: ${jobs.map((job) => shown(job)).join(', ')}` : 'it has none'}`);
      return EXIT.FATAL;
    }
    if (all.length === 0) {
      // No ledger at all (a path mistyped, or nothing has run with it yet) is said as such.
      say(io, read === undefined ? `no ledger at ${shownLedger(path)}: nothing has run with it` : `no batches in the ledger ${shownLedger(path)}`);
      return EXIT.OK;
    }
    const api = apiFromEnv(io.env);
    const views: BatchView[] = rows.map((row) => ({ row, matches: api ? identityMatches(row, api) : null, expectedUsd: expected.get(row.id), counts: realtimeCounts.get(row.id) }));
    if (!values['no-refresh']) await refresh(io, api, views);
    const now = Date.now();
    if (values.json) {
      for (const [job, group] of groupBy(views, (v) => v.row.job)) io.stdout.write(`${JSON.stringify(jobJson(job, group))}\n`);
    } else {
      io.stdout.write(statusTable(views, now));
    }
    return EXIT.OK;
  });
}

/** Fetches the live state of the batches still moving, under the current identity only. */
async function refresh(io: CliIo, api: Api | undefined, views: BatchView[]): Promise<void> {
  // A real-time group's remote id is the ledger's stand-in (`realtime_…`): the API has no such batch.
  const refreshable = views.filter((v) => v.row.remote_id !== null && !v.row.remote_id.startsWith(REALTIME_PREFIX) && !FINAL_STATES.includes(v.row.state));
  if (!api) {
    if (refreshable.length > 0) say(io, 'not refreshed: no ANTHROPIC_API_KEY');
    return;
  }
  await eachLimit(
    refreshable.filter((v) => v.matches),
    REFRESH_CONCURRENCY,
    async (view) => {
      try {
        view.live = await api.client.messages.batches.retrieve(view.row.remote_id as string, null, { timeout: REFRESH_TIMEOUT_MS });
      } catch (error) {
        view.refreshError = describeApiError(error);
      }
    },
  );
}

/** Runs `fn` over `items` with at most `limit` calls in flight (`fn` must not reject). */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------
// JSON

/** Whether a batch is still processing on the API (its 24 h expiry still matters); a real-time group never expires. */
function processing(view: BatchView): boolean {
  if (view.row.remote_id?.startsWith(REALTIME_PREFIX)) return false;
  return (view.row.state === 'creating' || view.row.state === 'in_progress') && view.live?.processing_status !== 'ended';
}

/**
 * Whether a batch's answers are all in, in the ledger or on the API: downloaded, ended, or in progress
 * in the ledger while the API says it has ended (no run has looked since); a failed one counts in
 * `requests_failed`. A batch being created, or a real-time group being sent, is not.
 */
function answered(view: BatchView): boolean {
  const { state, remote_id } = view.row;
  if (state === 'in_progress') return !remote_id?.startsWith(REALTIME_PREFIX) && view.live?.processing_status === 'ended';
  return state !== 'creating';
}

function expiresAt(view: BatchView): number {
  return view.live ? Date.parse(view.live.expires_at) : view.row.created_at + EXPIRY_MS;
}

/** One job, for `--json`: what a scheduler decides on, then its batches. The keys are documented in `--help` and the README. */
function jobJson(job: string, views: BatchView[]): Record<string, unknown> {
  const sum = (states: readonly BatchState[]) => views.reduce((n, v) => n + (states.includes(v.row.state) ? v.row.request_count : 0), 0);
  const byState = Object.fromEntries(STATES.map((state) => [state, views.filter((v) => v.row.state === state).length]));
  const expiries = views.filter(processing).map(expiresAt);
  // What a failed real-time group stored (a run stopped by Ctrl-C after some answers) is done; the rest
  // failed, unless the job has sent it again since (`behind`).
  const isBehind = behind(views);
  const failed = views.reduce((n, v) => n + (v.row.state === 'failed' && !isBehind(v) ? v.row.request_count - stored(v) : 0), 0);
  const storedOfFailed = views.reduce((n, v) => n + (v.row.state === 'failed' ? stored(v) : 0), 0);
  return {
    job,
    requests_pending: sum(PENDING_STATES),
    requests_done: sum(['downloaded']) + storedOfFailed,
    requests_failed: failed,
    // A scheduler's sensor: the same command run now finds every answer in (no download has to wait).
    ready: failed === 0 && views.every(answered),
    batches_by_state: byState,
    oldest_expires_at: expiries.length > 0 ? new Date(Math.min(...expiries)).toISOString() : null,
    live_request_counts: liveCounts(views),
    expected_cost_usd: expectedCost(views),
    batches: views.map(batchJson),
  };
}

function batchJson(view: BatchView): Record<string, unknown> {
  const { row, live } = view;
  return {
    job: row.job,
    batch_id: row.id,
    remote_id: row.remote_id,
    state: row.state,
    processing_status: live?.processing_status ?? null,
    request_counts: live?.request_counts ?? view.counts ?? null,
    requests: row.request_count,
    bytes: row.bytes,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
    expires_at: live?.expires_at ?? new Date(row.created_at + EXPIRY_MS).toISOString(),
    base_url: row.base_url,
    key_fingerprint: row.key_fingerprint,
    identity_matches: view.matches,
    refresh_error: view.refreshError ?? null,
    error: row.error,
    expected_cost_usd: row.state === 'failed' && row.error !== ARCHIVED ? 0 : view.expectedUsd === undefined ? null : Number(view.expectedUsd.toFixed(6)),
  };
}

/**
 * What the job's batches are expected to cost, summed (a failed batch costs nothing: its requests are
 * counted in the batch that sends them again; but one whose results were archived was billed); null
 * when one of them cannot be told (no price for its model, or its requests were moved on).
 */
function expectedCost(views: readonly BatchView[]): number | null {
  let usd = 0;
  for (const view of views) {
    // A failed batch costs nothing, but for the answers a real-time group stored before it stopped, and
    // one whose results were archived: it ran, billed, and its answers are gone (helper-96).
    const share = view.row.state !== 'failed' || view.row.error === ARCHIVED ? 1 : view.row.request_count > 0 ? (view.counts?.succeeded ?? 0) / view.row.request_count : 0;
    if (share === 0) continue;
    if (view.expectedUsd === undefined) return null;
    usd += view.expectedUsd * share;
  }
  return Number(usd.toFixed(6));
}

/**
 * Whether a failed batch's requests were sent again since: a failed batch's requests go back to
 * pending, and the next batch that takes them is made after it failed, by its own run or by a run that
 * began after it failed (a rerun). Not by another worker at work beside it (`--shard`: its own rows;
 * helper-87: a stopped worker's 16 unanswered rows were taken for sent again by the other's batches,
 * and the job said ready). Before, three tries of 40 rows that each failed said 120 (helper-85).
 */
function behind(views: readonly BatchView[]): (view: BatchView) => boolean {
  // When each run made its first batch: a run that made one before a batch failed was at work beside it.
  const firstOf = new Map<number, number>();
  for (const { row } of views) firstOf.set(row.run, Math.min(firstOf.get(row.run) ?? Infinity, row.created_at));
  return ({ row: failed }) =>
    views.some(({ row }) => row.id !== failed.id && row.created_at > failed.updated_at && (row.run === failed.run || (firstOf.get(row.run) ?? -Infinity) > failed.updated_at));
}

/** The requests of a batch whose results are in the ledger, as far as `status` knows (a real-time group's counts). */
function stored(view: BatchView): number {
  const counts = view.counts;
  return counts ? counts.succeeded + counts.errored + counts.canceled + counts.expired : 0;
}

/** The request counts summed over the batches refreshed (the API's) and the real-time groups (the ledger's); null when there is none. */
function liveCounts(views: readonly BatchView[]): MessageBatchRequestCounts | null {
  const counted = views.flatMap((v) => v.live?.request_counts ?? v.counts ?? []);
  if (counted.length === 0) return null;
  const live: MessageBatchRequestCounts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  for (const counts of counted) for (const key of Object.keys(live) as (keyof MessageBatchRequestCounts)[]) live[key] += counts[key];
  return live;
}

// ---------------------------------------------------------------------------------------------
// table

function statusTable(views: BatchView[], now: number): string {
  const lines: { head?: string; cells?: string[]; note?: string }[] = [];
  for (const [job, group] of groupBy(views, (v) => v.row.job)) {
    lines.push({ head: jobSummary(job, group) });
    for (const view of group) {
      const { row, live } = view;
      const expires = expiresAt(view);
      const notes = [
        view.matches === false ? otherIdentity(row) : '',
        row.state === 'creating' && row.remote_id === null ? 'create sent, no id known yet: made or not, a run finds out (adopted only when proven ours, else sent again)' : '',
        row.error ? (notFoundNote(row.error) ? row.error : `error: ${row.error}`) : '',
      ].filter(Boolean);
      lines.push({
        cells: [
          row.remote_id ?? '(no id yet)',
          row.state,
          live ? `${live.processing_status} (${countsText(live.request_counts)})` : (view.refreshError ?? (view.counts ? `real time (${countsText(view.counts)})` : '-')),
          plural(row.request_count, 'request'),
          formatBytes(row.bytes),
          `age ${formatDuration(now - row.created_at)}`,
          processing(view) ? (expires <= now ? 'expired' : `expires in ${formatDuration(expires - now)}`) : '',
        ],
        note: notes.join('; '),
      });
    }
  }
  const widths: number[] = [];
  for (const line of lines) line.cells?.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return lines
    .map((line) => {
      if (line.head !== undefined) return `${line.head}\n`;
      const cells = (line.cells ?? []).map((cell, i) => cell.padEnd(widths[i] ?? 0));
      return `  ${[...cells, line.note ?? ''].join('  ').trimEnd()}\n`;
    })
    .join('');
}

function jobSummary(job: string, views: BatchView[]): string {
  const states = new Map<string, number>();
  let requests = 0;
  let bytes = 0;
  for (const { row } of views) {
    states.set(row.state, (states.get(row.state) ?? 0) + 1);
    requests += row.request_count;
    bytes += row.bytes;
  }
  const stateText = [...states].map(([state, n]) => `${n} ${state}`).join(', ');
  const live = liveCounts(views);
  return `job ${printable(job)}: ${plural(views.length, 'batch', 'batches')} (${stateText}), ${plural(requests, 'request')}, ${formatBytes(bytes)}` + (live ? `; live: ${countsText(live)}` : '');
}

/** The non-zero request counts (`processing 100` or `succeeded 98, errored 2`), or `no requests`. */
export function countsText(counts: MessageBatchRequestCounts): string {
  const order: (keyof MessageBatchRequestCounts)[] = ['processing', 'succeeded', 'errored', 'canceled', 'expired'];
  const parts = order.filter((key) => counts[key] > 0).map((key) => `${key} ${count(counts[key])}`);
  return parts.length > 0 ? parts.join(', ') : 'no requests';
}
