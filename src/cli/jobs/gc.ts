/** `batch-enrich gc`: forgets old finished work, in the ledger and on the API. The one job command that writes the ledger. */
import { existsSync, statSync } from 'node:fs';
import { APIError } from '@anthropic-ai/sdk';
import { describeApiError } from '../../client/errors.ts';
import { gcUploads } from '../../client/uploads.ts';
import { shown } from '../../errors.ts';
import { runMayBeWorking, type BatchRow } from '../../ledger/ledger.ts';
import { ARCHIVE_MARGIN_MS, RESULTS_KEPT_MS, type LedgerStore } from '../../ledger/store.ts';
import { EXIT, type CliIo } from '../io.ts';
import { guarded, help, say } from '../command.ts';
import { number, parseFlags, renderFlags } from '../flags.ts';
import { formatBytes, formatDuration, plural } from '../text.ts';
import { apiFromEnv, ENVIRONMENT, groupBy, HELP_FLAG, identityMatches, LEDGER_FLAG, ledgerPath, shownLedger, openExistingLedger, otherIdentity, type Api } from './shared.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The flags of `batch-enrich gc`. */
export const GC_FLAGS = {
  'older-than': { value: 'DAYS', parse: number(0, undefined, 'days'), default: 30, help: 'what was last touched DAYS days ago or more; 0 = all finished' },
  ledger: LEDGER_FLAG,
  'dry-run': { help: 'list what would be deleted, delete nothing', defaultText: 'off' },
  'keep-remote': { help: 'delete nothing on the API', defaultText: 'off' },
  help: HELP_FLAG,
} as const;

/** `batch-enrich gc --help`. */
export const GC_HELP = `Usage: batch-enrich gc [options]

Forget old work: delete from the ledger the finished batches (downloaded, failed) and the answered
requests not touched for DAYS days, and delete on the API the ledger's downloaded batches as old,
under the current identity (the API keeps results 29 days otherwise), and the documents it uploaded
to the Files API as long ago. Batches of another identity, or all of them without ANTHROPIC_API_KEY,
are left on the API and named on stderr. Then the ledger is compacted (a SQLite file only while no
job uses it). Beside a running job, gc keeps every request (the job may be about to read it); on
SQLite it deletes in short steps, so the job never waits on it for long. A job with batches still to
finish (a --no-wait job between its tries), or whose last try stopped before every record was out,
keeps its finished batches and answers, every request its records point at (those another job sent
too), and the uploaded documents its requests send. Of a try killed before its end, the batches it
opened and their answers are kept 29 days, or until a complete rerun has read them again (gc names
such tries). A job left longer than the API keeps results (29 days after a batch's creation) is
over: its batches that can answer nothing more go with their requests, once the API says their
results are archived.

${renderFlags(GC_FLAGS, [])}
A remote delete that fails keeps its batch in the ledger, for the next gc.

Examples:
  $ batch-enrich gc --dry-run
  $ batch-enrich gc --older-than 7 --keep-remote

${ENVIRONMENT}

Exit codes: 0 ok, 1 the ledger cannot be opened or a remote delete failed, 2 usage error.
`;

interface Gc {
  io: CliIo;
  ledger: LedgerStore;
  /** Where the ledger is: a file, or a PostgreSQL URL with its password (never printed: see `shown`). */
  path: string;
  /** The ledger as messages name it (a URL without its password). */
  shown: string;
  api: Api | undefined;
  /** The gc's time (a job left longer than the API keeps results, as of it, is finished: `gcRules`). */
  now: number;
  /** The cut-off: what was last touched before it goes. */
  before: number;
  /** `7 days`, for messages. */
  age: string;
  keepRemote: boolean;
}

/**
 * `batch-enrich gc [--older-than DAYS]` (default 30): forgets old finished work, in the ledger and on
 * the API; returns the exit code.
 * @example
 * await gcCommand(['--older-than', '7', '--dry-run'], io);
 */
export function gcCommand(argv: string[], io: CliIo): Promise<number> {
  return guarded('gc', io, async () => {
    const { values } = parseFlags(GC_FLAGS, argv);
    if (values.help) return help(io, GC_HELP);
    const days = values['older-than'];
    const path = ledgerPath(values.ledger, io.env);
    const ledger = await openExistingLedger(path);
    if (!ledger) {
      say(io, `no ledger at ${shownLedger(path)}; nothing to delete`);
      return EXIT.OK;
    }
    try {
      const now = Date.now();
      const gc: Gc = { io, ledger, path, shown: shownLedger(path), api: apiFromEnv(io.env), now, before: now - days * DAY_MS, age: `${days} ${days === 1 ? 'day' : 'days'}`, keepRemote: values['keep-remote'] };
      // Collected before `ledger.gc`, which deletes these very rows: on the API, gc deletes what the
      // ledger lets go, by the ledger's own rules (`gcBatchIds`; it keeps the work of a job with
      // batches still to finish, or whose last try stopped before every record was out, and while
      // a run may be working, the batches it would take for archived). A downloaded batch goes; so
      // does one whose results the API has archived (it keeps the batch, empty, in the list otherwise).
      const goes = new Set(await ledger.gcBatchIds(gc.before, now));
      const candidates = (await ledger.batches()).filter((row) => goes.has(row.id) && row.remote_id !== null && row.state !== 'failed');
      // Asked of the API even with --keep-remote (a read): a batch whose results it still holds is kept.
      const asked = gc.api ? candidates.filter((row) => identityMatches(row, gc.api as Api)) : [];
      const checked = await withoutLiveResults(gc, asked, values['dry-run']);
      const remote = gc.keepRemote ? [] : candidates.filter((row) => !(gc.api && identityMatches(row, gc.api)) || checked.includes(row));
      const ours = gc.api ? remote.filter((row) => identityMatches(row, gc.api as Api)) : [];
      nameLeftOnApi(gc, remote.filter((row) => !ours.includes(row)));
      // A dry run touches nothing: what the gc would keep is counted as kept.
      const kept = asked.filter((row) => !checked.includes(row)).map((row) => row.id);
      return values['dry-run'] ? await preview(gc, ours, kept) : await collect(gc, ours);
    } finally {
      await ledger.close();
    }
  });
}

/**
 * The batches of `rows` gc may delete, less those it takes for archived (by the ledger's clock) whose
 * results the API still holds (`archived_at` not set: a slow create, a worker's clock behind): each
 * is said, and (unless a dry run) touched to the cut-off, so that the ledger keeps it and its requests.
 */
async function withoutLiveResults(gc: Gc, rows: BatchRow[], dryRun: boolean): Promise<BatchRow[]> {
  const kept: BatchRow[] = [];
  for (const row of rows) {
    if (row.state === 'downloaded') continue;
    let live: string | undefined;
    try {
      const batch = await (gc.api as Api).client.messages.batches.retrieve(row.remote_id as string);
      if (batch.archived_at === null) live = `the API still holds its results (until ${new Date(Date.parse(batch.created_at) + RESULTS_KEPT_MS).toISOString()})`;
    } catch (error) {
      if (!(error instanceof APIError && error.status === 404)) live = `the API could not say whether it still holds its results (${describeApiError(error)})`;
    }
    if (live === undefined) continue;
    kept.push(row);
    say(gc.io, `${dryRun ? 'would keep' : 'keeping'} batch ${row.remote_id} (job ${shown(row.job)}): ${live}`);
    if (!dryRun) await gc.ledger.setBatchState(row.id, row.state, gc.before, live);
  }
  return rows.filter((row) => !kept.includes(row));
}

/** Says, for each try that never ended whose batches gc keeps (`tryMark`), why and until when. */
async function sayCutShort(gc: Gc, dryRun: boolean): Promise<void> {
  for (const { job, run, startedAt, batches } of await gc.ledger.cutShort(gc.before, gc.now)) {
    const row = await gc.ledger.run(run);
    if (row && runMayBeWorking(row, gc.now)) continue; // at work: gc keeps every request, and names it
    const until = new Date(startedAt + RESULTS_KEPT_MS + ARCHIVE_MARGIN_MS).toISOString().slice(0, 10);
    say(
      gc.io,
      `${dryRun ? 'would keep' : 'keeping'} ${plural(batches, 'batch', 'batches')} of job ${shown(job)} for its next try: its try started ${formatDuration(gc.now - startedAt)} ago (run ${run}) ` +
        `never ended (killed, or its machine lost), and the next reads their answers (kept until ${until} at most)`,
    );
  }
}

/**
 * Says, for each job kept whole because a try of it ended before every record was out (its notes:
 * `GcRules.borrowedKept`), why and until when. Only a complete run that reads a noted request clears
 * its note: one the input no longer has (it changed since) keeps the job until the note lapses.
 */
async function sayStoppedEarly(gc: Gc, dryRun: boolean): Promise<void> {
  for (const { job, notedAt, requests, batches } of await gc.ledger.stoppedEarly(gc.before, gc.now)) {
    if (batches === 0) continue;
    const until = new Date(notedAt + RESULTS_KEPT_MS + ARCHIVE_MARGIN_MS).toISOString().slice(0, 10);
    const them = requests === 1 ? 'it' : 'them';
    say(
      gc.io,
      `${dryRun ? 'would keep' : 'keeping'} ${plural(batches, 'batch', 'batches')} of job ${shown(job)}: a try of it ended ${formatDuration(gc.now - notedAt)} ago before every record was out, ` +
        `and noted ${plural(requests, 'request')} its next try would read again (kept until ${until} at most; a complete run of the job that reads ${them} clears the note${requests === 1 ? '' : 's'}, ` +
        `and one whose input no longer has ${them} never will)`,
    );
  }
}

/** Names the batches that stay on the API: another identity's, or all without a key. */
function nameLeftOnApi(gc: Gc, left: BatchRow[]): void {
  if (!gc.api && left.length > 0) {
    say(gc.io, `not deleting on the API (no ANTHROPIC_API_KEY): ${left.map((row) => row.remote_id).join(', ')}`);
    return;
  }
  for (const [identity, rows] of groupBy(left, otherIdentity)) say(gc.io, `not deleting on the API (${identity}): ${rows.map((row) => row.remote_id).join(', ')}`);
}

/** `--dry-run`: what would go, nothing deleted. */
async function preview(gc: Gc, ours: BatchRow[], kept: readonly number[]): Promise<number> {
  const { io, ledger, api, before, age } = gc;
  const counts = await ledger.gcPreview(before, gc.now, kept);
  const now = Date.now();
  for (const row of ours) {
    const when = row.state === 'downloaded' ? `downloaded ${formatDuration(now - row.updated_at)} ago` : `made ${formatDuration(now - row.created_at)} ago: its results are archived`;
    say(io, `would delete batch ${row.remote_id} on the API (job ${shown(row.job)}, ${when})`);
  }
  await sayCutShort(gc, true);
  await sayStoppedEarly(gc, true);
  say(io, `would delete ${plural(counts.batches, 'batch', 'batches')} and ${plural(counts.requests, 'request')} not touched for ${age} from the ledger ${gc.shown}`);
  if (counts.kept) say(io, `would keep every request: ${counts.kept}`);
  // In use: the files the requests the gc keeps name (those it deletes free theirs, as the gc below finds).
  if (api && !counts.kept) {
    const keep = await ledger.filesInUse(api.scope, { before, now: gc.now, keep: kept });
    const uploads = await gcUploads({ client: api.client, registry: ledger.uploads, scope: api.scope, before, keep, keepRemote: gc.keepRemote, dryRun: true });
    if (uploads.files > 0) say(io, `would forget ${plural(uploads.files, 'uploaded file')} older than ${age}${gc.keepRemote ? ' (kept on the API)' : `, and delete ${uploads.files === 1 ? 'it' : 'them'} on the API`}`);
  }
  return EXIT.OK;
}

/** Deletes on the API, then in the ledger, then compacts it. */
async function collect(gc: Gc, ours: BatchRow[]): Promise<number> {
  const { io, ledger, api, before, age } = gc;
  let deleted = 0;
  let failed = 0;
  /** Deletes a batch on the API; why it could not, if it could not (a 404 is a batch already gone). */
  const deleteOnApi = async (row: BatchRow): Promise<string | undefined> => {
    const id = row.remote_id as string;
    try {
      await (api as Api).client.messages.batches.delete(id);
      deleted++;
      say(io, `deleted batch ${id} on the API`);
    } catch (error) {
      if (error instanceof APIError && error.status === 404) {
        say(io, `batch ${id} is already gone from the API`);
        return undefined;
      }
      failed++;
      return describeApiError(error);
    }
    return undefined;
  };
  // Downloaded batches first: one the API refuses to delete is kept in the ledger for the next gc.
  for (const row of ours.filter((row) => row.state === 'downloaded')) {
    const why = await deleteOnApi(row);
    if (why === undefined) continue;
    say(io, `cannot delete batch ${row.remote_id} on the API: ${why}; kept in the ledger for the next gc`);
    // Touched to exactly `before`: not older than the cut-off, so `ledger.gc` below keeps the row,
    // and the next gc (with a later cut-off) tries again.
    await ledger.setBatchState(row.id, row.state, before, `remote delete failed: ${why}`);
  }
  await sayCutShort(gc, false);
  await sayStoppedEarly(gc, false);
  const counts = await ledger.gc(before, gc.now);
  // Batches whose results the API archived: deleted there once the ledger let them go (it keeps those
  // a job, or a run at work, may still follow, and a batch followed must still be on the API).
  for (const row of ours.filter((row) => row.state !== 'downloaded')) {
    if ((await ledger.batch(row.id)) !== undefined) continue;
    const why = await deleteOnApi(row);
    if (why !== undefined) say(io, `cannot delete batch ${row.remote_id} on the API: ${why}; it holds no results any more (archived)`);
  }
  say(
    io,
    `deleted ${plural(counts.batches, 'batch', 'batches')} and ${plural(counts.requests, 'request')} not touched for ${age} from the ledger ${gc.shown}` +
      (gc.keepRemote ? '' : `; ${plural(deleted, 'batch', 'batches')} on the API`),
  );
  if (counts.kept) say(io, `kept every request: ${counts.kept}`);
  // Documents this identity uploaded (the Files API keeps them until they expire): deleted, and
  // forgotten, unless a request left in the ledger sends them. None while a job may be running: it may
  // be about to send a file that no request names yet.
  if (api && !counts.kept) {
    const keep = await ledger.filesInUse(api.scope);
    const uploads = await gcUploads({ client: api.client, registry: ledger.uploads, scope: api.scope, before, keep, keepRemote: gc.keepRemote, dryRun: false });
    if (uploads.files > 0) say(io, `forgot ${plural(uploads.files, 'uploaded file')} older than ${age}; deleted ${plural(uploads.deleted, 'uploaded file')} on the API`);
  }
  if (counts.batches + counts.requests > 0) await compact(io, ledger, gc.path);
  return failed > 0 ? EXIT.FATAL : EXIT.OK;
}

/** Shrinks the ledger after a gc, and says by how much (or why not: another run is using it). */
async function compact(io: CliIo, ledger: LedgerStore, path: string): Promise<void> {
  // The file's size says what was won, for a SQLite file; a server's ledger has no file here.
  const size = () => ['', '-wal'].reduce((sum, suffix) => sum + (existsSync(path + suffix) ? statSync(path + suffix).size : 0), 0);
  const before = size();
  try {
    await ledger.compact();
    say(io, before > 0 ? `compacted the ledger: ${formatBytes(before)} → ${formatBytes(size())}` : 'compacted the ledger');
  } catch (error) {
    say(io, `the ledger was not compacted (${(error as Error).message}); the space is reused by later runs`);
  }
}
