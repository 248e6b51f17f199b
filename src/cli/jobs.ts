/**
 * `batch-enrich status | cancel | results | gc`: the commands that look after batches once they are
 * submitted (issue #4). They read the ledger and talk to the API through the SDK; they never run a
 * job. Each returns its exit code (0 ok, 1 runtime failure, 2 usage error) and never throws.
 *
 * Identity. A batch can only be seen with the key (workspace) and base URL that created it, and the
 * ledger records both (the URL, and a fingerprint of the key, never the key). So these commands only
 * call the API for a ledger batch whose identity matches the current `ANTHROPIC_BASE_URL` and
 * `ANTHROPIC_API_KEY`; other batches are shown, with the identity they need, but never queried. A
 * rejected alternative was to query every batch and show the 404s: that spends calls, and it sends
 * a key to a base URL it was never meant for.
 *
 * Ledger states are owned by the run loop (`src/stages/batch.ts`). `status` and `cancel` only read
 * them: a rerun of the job sees a canceled batch end, downloads it like any other, and submits what
 * it did not answer again, so nothing is lost. Only `gc` writes, through `Ledger.gc`.
 */
import { createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { APIConnectionError, APIError } from '@anthropic-ai/sdk';
import type Anthropic from '@anthropic-ai/sdk';
import type { MessageBatch, MessageBatchRequestCounts } from '@anthropic-ai/sdk/resources/messages/batches';
import { createClient, DEFAULT_BASE_URL, identityOf, keyFingerprint, publicBaseUrl } from '../client/client.ts';
import { shown } from '../errors.ts';
import type { BatchRow, BatchState } from '../ledger/ledger.ts';
import { defaultLedgerPath, Ledger } from '../ledger/ledger.ts';
import type { CliIo } from './io.ts';
import { formatBytes, isBrokenPipe } from './format.ts';
import { EXIT } from './io.ts';
import { closest } from '../core/suggest.ts';
import { gcUploads } from '../client/uploads.ts';
import { UploadRegistry } from '../ledger/uploads.ts';

/** How long a batch may process before the API expires it (`expires_at` = `created_at` + 24 h). */
const EXPIRY_MS = 24 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Retrieves in flight at once while refreshing `status`. */
const REFRESH_CONCURRENCY = 8;
/** Per-call timeout of the status refresh (the SDK's default is 10 minutes, too long for a status). */
const REFRESH_TIMEOUT_MS = 30_000;
const DEFAULT_GC_DAYS = 30;
/** Ledger states after which nothing more happens to a batch: `status` does not refresh them. */
const FINAL_STATES: readonly BatchState[] = ['downloaded', 'failed'];

const LEDGER_OPTION = `  --ledger PATH       the ledger file                                (default: $BATCH_ENRICH_LEDGER,
                                                                      else ~/.cache/batch-enrich/ledger.db)`;
const API_ENVIRONMENT = `Environment:
  ANTHROPIC_API_KEY   the API key; never printed or stored (the ledger keeps an 8-hex fingerprint)
  ANTHROPIC_BASE_URL  the API base URL                               (default: https://api.anthropic.com)`;
const ENVIRONMENT = `${API_ENVIRONMENT}
  BATCH_ENRICH_LEDGER the ledger file, unless --ledger is given`;

/** `batch-enrich status --help`. */
export const STATUS_HELP = `Usage: batch-enrich status [--job NAME] [options]

List the jobs and batches in the ledger, grouped by job, one summary line per job. Batches not yet
downloaded, failed or canceled that belong to the current identity (ANTHROPIC_BASE_URL and
ANTHROPIC_API_KEY) are refreshed from the API: live processing status and request counts. Batches
of another identity are shown with that identity, and never queried.

Options:
  --job NAME          only this job's batches                        (default: every job)
${LEDGER_OPTION}
  --json              one JSON object per batch on stdout (NDJSON)   (default: a table)
  --no-refresh        show the ledger only, call no API              (default: refresh)
  --help              show this help

Table columns: remote batch id ("(not created)" while being created), ledger state, live status
and counts (or why there are none), requests, size, age, time until the 24 h processing expiry
(batches still in progress only), then the identity for batches of another one.
JSON keys: job, batch_id, remote_id, state, processing_status, request_counts, requests, bytes,
created_at, updated_at, expires_at, base_url, key_fingerprint, identity_matches, refresh_error,
error (null where unknown).

Examples:
  $ batch-enrich status
  $ batch-enrich status --job tickets --no-refresh
  $ batch-enrich status --json | jq -r 'select(.processing_status == "ended") | .remote_id'

${ENVIRONMENT}

Exit codes: 0 ok (a batch that cannot be refreshed says so on its line), 1 the ledger cannot be
read or --job names no job in it, 2 usage error.
`;

/** `batch-enrich cancel --help`. */
export const CANCEL_HELP = `Usage: batch-enrich cancel BATCH_ID... | --job NAME [options]

Ask the API to cancel batches: the given ones (any batch of the current workspace, ours or not),
or the job's batches in progress under the current identity. A canceled batch moves to canceling,
then ended, with partial results. The ledger is left alone: rerun the job to keep what was done
and submit its unprocessed requests again (or leave it, and those records carry no answer).

Options:
  --job NAME          cancel this job's batches in progress          (default: none; give BATCH_IDs)
${LEDGER_OPTION}
  --help              show this help

Prints one line per batch on stderr: "batch msgbatch_... canceling", or its error.

Examples:
  $ batch-enrich cancel msgbatch_013Zva2CMHLNnXjNJJKqJ2EF
  $ batch-enrich cancel --job tickets

${ENVIRONMENT}

Exit codes: 0 every cancel accepted, 1 some failed, 2 usage error (also: no ANTHROPIC_API_KEY).
`;

/** `batch-enrich results --help`. */
export const RESULTS_HELP = `Usage: batch-enrich results BATCH_ID [options]

Download the results of any ended batch of the current workspace (ours or not) as NDJSON: one
{"custom_id", "result"} object per line, as the API returns them (not in request order).

Options:
  --output FILE       write to FILE (replaced only once complete)    (default: stdout)
  --help              show this help

Examples:
  $ batch-enrich results msgbatch_013Zva2CMHLNnXjNJJKqJ2EF > results.ndjson
  $ batch-enrich results msgbatch_013Zva2CMHLNnXjNJJKqJ2EF | jq -c 'select(.result.type != "succeeded")'

${API_ENVIRONMENT}

Exit codes: 0 ok (also when stdout is closed early, as by | head), 1 the batch has not ended, is
not found or the download failed, 2 usage error (also: no ANTHROPIC_API_KEY).
`;

/** `batch-enrich gc --help`. */
export const GC_HELP = `Usage: batch-enrich gc [options]

Forget old work: delete from the ledger the finished batches (downloaded, failed) and the answered
requests not touched for DAYS days, and delete on the API the ledger's downloaded batches as old,
under the current identity (the API keeps results 29 days otherwise), and the documents it uploaded
to the Files API as long ago. Batches of another identity, or all of them without
ANTHROPIC_API_KEY, are left on the API and named on stderr. Then the ledger file is compacted.

Options:
  --older-than DAYS   what was last touched DAYS days ago or more    (default: ${DEFAULT_GC_DAYS}; 0 = all finished)
${LEDGER_OPTION}
  --dry-run           list what would be deleted, delete nothing     (default: off)
  --keep-remote       delete nothing on the API                      (default: off)
  --help              show this help

A remote delete that fails keeps its batch in the ledger, for the next gc.

Examples:
  $ batch-enrich gc --dry-run
  $ batch-enrich gc --older-than 7 --keep-remote

${ENVIRONMENT}

Exit codes: 0 ok, 1 the ledger cannot be opened or a remote delete failed, 2 usage error.
`;

class UsageError extends Error {}

/**
 * `batch-enrich status …`: the ledger's jobs and batches, refreshed from the API; returns the exit code.
 * @example
 * process.exitCode = await statusCommand(['--job', 'tickets', '--json'], { stdin, stdout, stderr, env: process.env });
 */
export function statusCommand(argv: string[], io: CliIo): Promise<number> {
  return guarded('status', STATUS_HELP, io, async () => {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { job: { type: 'string' }, ledger: { type: 'string' }, json: { type: 'boolean' }, 'no-refresh': { type: 'boolean' }, help: { type: 'boolean' } },
    });
    if (values.help) return help(io, STATUS_HELP);
    const path = values.ledger ?? defaultLedgerPath(io.env);
    const all = withLedger(path, (ledger) => ledger.batches()) ?? [];
    const rows = values.job === undefined ? all : all.filter((row) => row.job === values.job);
    if (all.length === 0) {
      say(io, `no batches in the ledger ${path}`);
      return EXIT.OK;
    }
    if (rows.length === 0) {
      // A job name that matches nothing is a mistake (as for `cancel --job`): say which jobs there are.
      const jobs = [...new Set(all.map((row) => row.job))].sort();
      say(io, `no batches of job ${shown(values.job ?? '')} in the ledger ${path}; its jobs: ${jobs.map((job) => shown(job)).join(', ')}`);
      return EXIT.FATAL;
    }
    const api = apiFromEnv(io.env);
    const views: BatchView[] = rows.map((row) => ({ row, matches: api ? identityMatches(row, api) : null }));
    const refreshable = views.filter((v) => v.row.remote_id !== null && !FINAL_STATES.includes(v.row.state));
    if (!values['no-refresh']) {
      if (!api) {
        if (refreshable.length > 0) say(io, 'not refreshed: no ANTHROPIC_API_KEY');
      } else {
        await eachLimit(
          refreshable.filter((v) => v.matches),
          REFRESH_CONCURRENCY,
          async (view) => {
            try {
              view.live = await api.client.messages.batches.retrieve(view.row.remote_id as string, null, { timeout: REFRESH_TIMEOUT_MS });
            } catch (error) {
              view.refreshError = apiErrorText(error);
            }
          },
        );
      }
    }
    const now = Date.now();
    if (values.json) {
      for (const view of views) io.stdout.write(`${JSON.stringify(statusJson(view))}\n`);
    } else {
      io.stdout.write(statusTable(views, now));
    }
    return EXIT.OK;
  });
}

/**
 * `batch-enrich cancel BATCH_ID… | --job NAME`: cancels through the API (the ledger is left alone);
 * returns 0 when every cancel was accepted, 1 when one failed, 2 on a usage error.
 * @example
 * await cancelCommand(['--job', 'tickets'], io);
 */
export function cancelCommand(argv: string[], io: CliIo): Promise<number> {
  return guarded('cancel', CANCEL_HELP, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { job: { type: 'string' }, ledger: { type: 'string' }, help: { type: 'boolean' } },
    });
    if (values.help) return help(io, CANCEL_HELP);
    if (values.job !== undefined && positionals.length > 0) throw new UsageError('give either BATCH_IDs or --job NAME, not both');
    if (values.job === undefined && positionals.length === 0) throw new UsageError('give the BATCH_IDs to cancel, or --job NAME');
    const api = requireApi(io, 'cancel batches');
    if (!api) return EXIT.USAGE;

    let ids = positionals;
    if (values.job !== undefined) {
      const job = values.job;
      const path = values.ledger ?? defaultLedgerPath(io.env);
      const found = withLedger(path, (ledger) => ({ rows: ledger.batches(job), jobs: jobNames(ledger.batches()) }));
      if (!found || found.rows.length === 0) {
        const jobs = found?.jobs ?? [];
        say(io, `no job ${shown(job)} in the ledger ${path}${jobs.length > 0 ? ` (jobs: ${jobs.join(', ')})` : ''}`);
        return EXIT.FATAL;
      }
      const running = found.rows.filter((row) => row.state === 'in_progress' && row.remote_id !== null);
      for (const row of running.filter((r) => !identityMatches(r, api))) {
        say(io, `batch ${row.remote_id} not canceled: ${otherIdentity(row)}`);
      }
      ids = running.filter((r) => identityMatches(r, api)).map((row) => row.remote_id as string);
      if (ids.length === 0) {
        say(io, `job ${shown(job)} has no batch in progress under this identity`);
        return EXIT.OK;
      }
    }

    let failed = 0;
    for (const id of ids) {
      try {
        const batch = await api.client.messages.batches.cancel(id);
        say(io, `batch ${batch.id} ${batch.processing_status}`);
      } catch (error) {
        failed++;
        say(io, `batch ${id}: cannot cancel: ${apiErrorText(error)}`);
      }
    }
    return failed > 0 ? EXIT.FATAL : EXIT.OK;
  });
}

/**
 * `batch-enrich results BATCH_ID [--output FILE]`: any ended batch's results, as NDJSON; returns the exit code.
 * @example
 * await resultsCommand(['msgbatch_013Zva2CMHLNnXjNJJKqJ2EF', '--output', 'results.ndjson'], io);
 */
export function resultsCommand(argv: string[], io: CliIo): Promise<number> {
  return guarded('results', RESULTS_HELP, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { output: { type: 'string' }, help: { type: 'boolean' } },
    });
    if (values.help) return help(io, RESULTS_HELP);
    const [id, ...extra] = positionals;
    if (id === undefined) throw new UsageError('give the BATCH_ID whose results to download');
    if (extra.length > 0) throw new UsageError(`give one BATCH_ID, got ${positionals.length}: ${positionals.join(' ')}`);
    if (values.output === '') throw new UsageError('--output: expected a file name, got ""');
    const api = requireApi(io, 'download results');
    if (!api) return EXIT.USAGE;

    let batch: MessageBatch;
    try {
      batch = await api.client.messages.batches.retrieve(id);
    } catch (error) {
      say(io, `batch ${id}: ${apiErrorText(error)}`);
      return EXIT.FATAL;
    }
    if (batch.processing_status !== 'ended') {
      say(io, `batch ${id} has not ended: processing_status ${batch.processing_status} (${countsText(batch.request_counts)}); results come once it has ended`);
      return EXIT.FATAL;
    }

    let lines = 0;
    const output = values.output;
    const temp = output === undefined ? undefined : `${output}.${process.pid}.partial`;
    try {
      // The SDK retrieves the batch once more to find its `results_url`; the retrieve above is only
      // there to name the processing_status in the error (the SDK's own message is less clear).
      const decoder = await api.client.messages.batches.results(id);
      const source = Readable.from(
        (async function* () {
          for await (const line of decoder) {
            lines++;
            yield `${JSON.stringify(line)}\n`;
          }
        })(),
      );
      await pipeline(source, temp === undefined ? io.stdout : createWriteStream(temp));
      if (temp !== undefined && output !== undefined) renameSync(temp, output);
    } catch (error) {
      if (temp !== undefined) rmSync(temp, { force: true });
      if (temp === undefined && isBrokenPipe(error)) {
        io.stdout.on('error', () => {}); // later writes by others would raise EPIPE again; the reader is gone
        return EXIT.OK;
      }
      say(io, `batch ${id}: results download failed after ${lines} line${lines === 1 ? '' : 's'}: ${apiErrorText(error)}`);
      return EXIT.FATAL;
    }
    if (output !== undefined) say(io, `wrote ${lines} result${lines === 1 ? '' : 's'} of batch ${id} to ${output}`);
    return EXIT.OK;
  });
}

/**
 * `batch-enrich gc [--older-than DAYS]` (default 30): forgets old finished work, in the ledger and on
 * the API; returns the exit code.
 * @example
 * await gcCommand(['--older-than', '7', '--dry-run'], io);
 */
export function gcCommand(argv: string[], io: CliIo): Promise<number> {
  return guarded('gc', GC_HELP, io, async () => {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'older-than': { type: 'string' },
        ledger: { type: 'string' },
        'dry-run': { type: 'boolean' },
        'keep-remote': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
    if (values.help) return help(io, GC_HELP);
    const days = olderThan(values['older-than']);
    const path = values.ledger ?? defaultLedgerPath(io.env);
    if (path !== ':memory:' && !existsSync(path)) {
      say(io, `no ledger at ${path}; nothing to delete`);
      return EXIT.OK;
    }
    const dryRun = values['dry-run'] === true;
    const now = Date.now();
    const before = now - days * DAY_MS;
    const ledger = new Ledger(path);
    try {
      // Collected before `ledger.gc`, which deletes these very rows.
      const remote = values['keep-remote']
        ? []
        : ledger.batches().filter((row) => row.state === 'downloaded' && row.remote_id !== null && row.updated_at < before);
      const api = apiFromEnv(io.env);
      const ours = api ? remote.filter((row) => identityMatches(row, api)) : [];
      const left = remote.filter((row) => !ours.includes(row));
      const age = days === 1 ? '1 day' : `${days} days`;

      if (!api && left.length > 0) {
        say(io, `not deleting on the API (no ANTHROPIC_API_KEY): ${left.map((row) => row.remote_id).join(', ')}`);
      } else {
        for (const [identity, rows] of groupBy(left, otherIdentity)) {
          say(io, `not deleting on the API (${identity}): ${rows.map((row) => row.remote_id).join(', ')}`);
        }
      }

      if (dryRun) {
        const preview = ledger.gcPreview(before);
        for (const row of ours) say(io, `would delete batch ${row.remote_id} on the API (job ${shown(row.job)}, downloaded ${formatDuration(now - row.updated_at)} ago)`);
        say(io, `would delete ${plural(preview.batches, 'batch', 'batches')} and ${plural(preview.requests, 'request')} not touched for ${age} from the ledger ${path}`);
        if (api) {
          const uploads = await collectUploads(api, path, before, { keepRemote: values['keep-remote'] === true, dryRun: true });
          if (uploads.files > 0) say(io, `would forget ${plural(uploads.files, 'uploaded file')} older than ${age}${values['keep-remote'] ? ' (kept on the API)' : ', and delete them on the API'}`);
        }
        return EXIT.OK;
      }

      let deleted = 0;
      let failed = 0;
      for (const row of ours) {
        const id = row.remote_id as string;
        try {
          await (api as Api).client.messages.batches.delete(id);
          deleted++;
          say(io, `deleted batch ${id} on the API`);
        } catch (error) {
          if (error instanceof APIError && error.status === 404) {
            say(io, `batch ${id} is already gone from the API`);
            continue;
          }
          failed++;
          const why = apiErrorText(error);
          say(io, `cannot delete batch ${id} on the API: ${why}; kept in the ledger for the next gc`);
          // Touched to exactly `before`: not older than the cut-off, so `ledger.gc` below keeps the row,
          // and the next gc (with a later cut-off) tries again.
          ledger.setBatchState(row.id, row.state, before, `remote delete failed: ${why}`);
        }
      }
      const counts = ledger.gc(before);
      say(
        io,
        `deleted ${plural(counts.batches, 'batch', 'batches')} and ${plural(counts.requests, 'request')} not touched for ${age} from the ledger ${path}` +
          (values['keep-remote'] ? '' : `; ${plural(deleted, 'batch', 'batches')} on the API`),
      );
      // Documents this identity uploaded (the Files API keeps them until they expire): deleted, and forgotten.
      if (api) {
        const uploads = await collectUploads(api, path, before, { keepRemote: values['keep-remote'] === true, dryRun: false });
        if (uploads.files > 0) say(io, `forgot ${plural(uploads.files, 'uploaded file')} older than ${age}; deleted ${plural(uploads.deleted, 'uploaded file')} on the API`);
      }
      if (counts.batches + counts.requests > 0) compact(io, ledger, path);
      return failed > 0 ? EXIT.FATAL : EXIT.OK;
    } finally {
      ledger.close();
    }
  });
}

/**
 * A duration for people: `45s`, `3m`, `2h5m`, `1d3h` (truncated, never negative). Exported for tests.
 * @example
 * formatDuration(2 * 3_600_000 + 5 * 60_000); // '2h5m'
 * @internal
 */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
}

// ---------------------------------------------------------------------------------------------
// status rendering

interface BatchView {
  row: BatchRow;
  /** Whether the batch belongs to the current identity; null without a key. */
  matches: boolean | null;
  live?: MessageBatch;
  refreshError?: string;
}

function statusJson(view: BatchView): Record<string, unknown> {
  const { row, live } = view;
  return {
    job: row.job,
    batch_id: row.id,
    remote_id: row.remote_id,
    state: row.state,
    processing_status: live?.processing_status ?? null,
    request_counts: live?.request_counts ?? null,
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
  };
}

function statusTable(views: BatchView[], now: number): string {
  const lines: { head?: string; cells?: string[]; note?: string }[] = [];
  for (const [job, group] of groupBy(views, (v) => v.row.job)) {
    lines.push({ head: jobSummary(job, group) });
    for (const view of group) {
      const { row, live } = view;
      const inProgress = (row.state === 'creating' || row.state === 'in_progress') && live?.processing_status !== 'ended';
      const expiresAt = live ? Date.parse(live.expires_at) : row.created_at + EXPIRY_MS;
      const notes = [
        view.matches === false ? otherIdentity(row) : '',
        row.error ? `error: ${row.error}` : '',
      ].filter(Boolean);
      lines.push({
        cells: [
          row.remote_id ?? '(not created)',
          row.state,
          live ? `${live.processing_status} (${countsText(live.request_counts)})` : (view.refreshError ?? '-'),
          plural(row.request_count, 'request'),
          formatBytes(row.bytes),
          `age ${formatDuration(now - row.created_at)}`,
          inProgress ? (expiresAt <= now ? 'expired' : `expires in ${formatDuration(expiresAt - now)}`) : '',
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
  const live: MessageBatchRequestCounts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  let refreshed = 0;
  for (const { row, live: batch } of views) {
    states.set(row.state, (states.get(row.state) ?? 0) + 1);
    requests += row.request_count;
    bytes += row.bytes;
    if (batch) {
      refreshed++;
      for (const key of Object.keys(live) as (keyof MessageBatchRequestCounts)[]) live[key] += batch.request_counts[key];
    }
  }
  const stateText = [...states].map(([state, n]) => `${n} ${state}`).join(', ');
  return (
    `job ${job}: ${plural(views.length, 'batch', 'batches')} (${stateText}), ${plural(requests, 'request')}, ${formatBytes(bytes)}` +
    (refreshed > 0 ? `; live: ${countsText(live)}` : '')
  );
}

/** The non-zero request counts (`processing 100` or `succeeded 98, errored 2`), or `empty`. */
function countsText(counts: MessageBatchRequestCounts): string {
  const order: (keyof MessageBatchRequestCounts)[] = ['processing', 'succeeded', 'errored', 'canceled', 'expired'];
  const parts = order.filter((key) => counts[key] > 0).map((key) => `${key} ${counts[key]}`);
  return parts.length > 0 ? parts.join(', ') : 'no requests';
}

// ---------------------------------------------------------------------------------------------
// shared helpers

interface Api {
  client: Anthropic;
  baseURL: string;
  fingerprint: string;
  /** The identity's scope (see `identityOf`): a batch row of the same scope was made under this identity. */
  scope: string;
}

/** The client for the current identity, or undefined without a key. The key itself is not kept. */
function apiFromEnv(env: NodeJS.ProcessEnv): Api | undefined {
  const key = env['ANTHROPIC_API_KEY'];
  if (!key) return undefined;
  // The base URL is passed explicitly (not left to the SDK's own read of process.env), so the
  // identity is decided by `io.env` alone.
  const client = createClient({ apiKey: key, baseURL: env['ANTHROPIC_BASE_URL'] || DEFAULT_BASE_URL });
  return { client, baseURL: publicBaseUrl(client.baseURL), fingerprint: keyFingerprint(key), scope: identityOf(client, key).scope };
}

function requireApi(io: CliIo, what: string): Api | undefined {
  const api = apiFromEnv(io.env);
  if (!api) say(io, `no API key: set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for another endpoint) to ${what}`);
  return api;
}

function identityMatches(row: BatchRow, api: Api): boolean {
  return row.scope === api.scope;
}

function otherIdentity(row: BatchRow): string {
  return `other identity: ${row.base_url}, key …${row.key_fingerprint}`;
}


/** The identity's uploads older than `before`: forgotten, and deleted on the API unless kept (see `gcUploads`). */
async function collectUploads(api: Api, path: string, before: number, options: { keepRemote: boolean; dryRun: boolean }): Promise<{ files: number; deleted: number }> {
  const registry = new UploadRegistry(path);
  try {
    return await gcUploads({ client: api.client, registry, scope: api.scope, before, ...options });
  } finally {
    registry.close();
  }
}

/** Shrinks the ledger file after a gc, and says by how much (or why not: another run is using it). */
function compact(io: CliIo, ledger: Ledger, path: string): void {
  const size = () => ['', '-wal'].reduce((sum, suffix) => sum + (existsSync(path + suffix) ? statSync(path + suffix).size : 0), 0);
  const before = size();
  try {
    ledger.compact();
    say(io, `compacted the ledger: ${formatBytes(before)} → ${formatBytes(size())}`);
  } catch (error) {
    say(io, `the ledger was not compacted (${(error as Error).message}); the space is reused by later runs`);
  }
}

/** Opens the ledger only if it exists (a status must not create one), runs `fn`, closes it. */
function withLedger<T>(path: string, fn: (ledger: Ledger) => T): T | undefined {
  if (path !== ':memory:' && !existsSync(path)) return undefined;
  const ledger = new Ledger(path);
  try {
    return fn(ledger);
  } finally {
    ledger.close();
  }
}

function jobNames(rows: BatchRow[]): string[] {
  return [...new Set(rows.map((row) => row.job))];
}

function olderThan(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_GC_DAYS;
  const days = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(days) || days < 0) {
    throw new UsageError(`--older-than: expected a number of days, 0 or more, got ${JSON.stringify(raw)}`);
  }
  return days;
}

/** One line for an API failure: `not found (404)`, `invalid x-api-key (401 authentication_error)`, … */
function apiErrorText(error: unknown): string {
  if (error instanceof APIConnectionError) {
    const cause = error.cause instanceof Error ? error.cause.message : undefined;
    return `cannot reach the API: ${cause ?? error.message}`;
  }
  if (error instanceof APIError && error.status !== undefined) {
    if (error.status === 404) return 'not found (404)';
    const body = error.error as { error?: { type?: unknown; message?: unknown } } | undefined;
    const message = typeof body?.error?.message === 'string' ? body.error.message : error.message;
    const type = typeof body?.error?.type === 'string' ? ` ${body.error.type}` : '';
    return `${truncate(message)} (${error.status}${type})`;
  }
  return truncate(error instanceof Error ? error.message : String(error));
}

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Runs `fn` over `items` with at most `limit` calls in flight (`fn` must not reject). */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function say(io: CliIo, message: string): void {
  io.stderr.write(`batch-enrich: ${message}\n`);
}

function help(io: CliIo, text: string): number {
  io.stdout.write(text);
  return EXIT.OK;
}

/**
 * Runs a command body: usage errors (ours and `parseArgs`') become exit 2 with a hint, anything
 * else exit 1 with its message; nothing escapes to the bin entry as a stack trace.
 */
async function guarded(command: string, helpText: string, io: CliIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    const usage = usageMessage(error, [...new Set(helpText.match(/--[a-z][a-z-]*/g) ?? [])]);
    if (usage !== undefined) {
      io.stderr.write(`batch-enrich: ${usage}\nTry 'batch-enrich ${command} --help'.\n`);
      return EXIT.USAGE;
    }
    say(io, error instanceof Error ? error.message : String(error));
    return EXIT.FATAL;
  }
}

/** The usage message for a `UsageError` or a `parseArgs` error, reworded (an unknown flag gets the closest of `flags`); undefined for other errors. */
function usageMessage(error: unknown, flags: readonly string[]): string | undefined {
  if (error instanceof UsageError) return error.message;
  const { code, message } = error as NodeJS.ErrnoException;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  const quoted = /'([^']*)'/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const near = quoted?.startsWith('--') ? closest(quoted.split('=')[0] ?? quoted, flags) : undefined;
      return `unknown option ${quoted ?? message}${near ? ` (did you mean ${near}?)` : ''}`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted ?? message)}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const option = quoted?.split(' ')[0];
      if (option === undefined) return message;
      if (/does not take an argument/.test(message)) return `option ${option} takes no value`;
      if (/ambiguous/.test(message)) return `option ${option} needs a value (for one that starts with a dash, write ${option}=-…)`;
      return `option ${option} needs a value`;
    }
    default:
      return message;
  }
}
