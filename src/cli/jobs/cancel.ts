/** `batch-enrich cancel BATCH_ID... | --job NAME`: cancels through the API; the ledger is left alone. */
import { describeApiError } from '../../client/errors.ts';
import { shown, usageError } from '../../errors.ts';
import { EXIT, type CliIo } from '../io.ts';
import { guarded, help, say } from '../command.ts';
import { jobName, parseFlags, renderFlags } from '../flags.ts';
import { ENVIRONMENT, HELP_FLAG, identityMatches, LEDGER_FLAG, ledgerPath, shownLedger, otherIdentity, requireApi, withLedger, type Api } from './shared.ts';
import type { BatchRow } from '../../ledger/ledger.ts';
import type { LedgerStore } from '../../ledger/store.ts';
import { REALTIME_PREFIX } from '../../sink/options.ts';
import { plural } from '../text.ts';
import { sleep } from '../../core/backoff.ts';

/** The flags of `batch-enrich cancel`. */
export const CANCEL_FLAGS = {
  job: { value: 'NAME', parse: jobName, help: "cancel this job's batches in progress", defaultText: 'none; give BATCH_IDs' },
  ledger: LEDGER_FLAG,
  help: HELP_FLAG,
} as const;

/** `batch-enrich cancel --help`. */
export const CANCEL_HELP = `Usage: batch-enrich cancel BATCH_ID... | --job NAME [options]

Ask the API to cancel batches: the given ones (any batch of the current workspace, ours or not),
or the job's batches in progress under the current identity. A canceled batch moves to canceling,
then ended, with partial results. The ledger is left alone: rerun the job to keep what was done
and submit its unprocessed requests again (or leave it, and those records carry no answer).

${renderFlags(CANCEL_FLAGS, [])}
Prints one line per batch on stderr: "batch msgbatch_... canceling", or its error.

Examples:
  $ batch-enrich cancel msgbatch_013Zva2CMHLNnXjNJJKqJ2EF
  $ batch-enrich cancel --job tickets

${ENVIRONMENT}

With --job, a batch a live run of the job is creating is waited for (up to 5 minutes) until it
has its id, then canceled; one whose create was cut off (its run died) cannot be proven the job's
before it ends, and is not canceled.

Exit codes: 0 every cancel accepted, 1 some failed (or, with --job, some batches are another
identity's and keep running, or one whose create was cut off may be running), 2 usage error (also:
no ANTHROPIC_API_KEY).
`;

/**
 * `batch-enrich cancel BATCH_ID… | --job NAME`: cancels through the API (the ledger is left alone);
 * returns 0 when every cancel was accepted, 1 when one failed, 2 on a usage error.
 * @example
 * await cancelCommand(['--job', 'tickets'], io);
 */
export function cancelCommand(argv: string[], io: CliIo): Promise<number> {
  return guarded('cancel', io, async () => {
    const { values, positionals } = parseFlags(CANCEL_FLAGS, argv, { positionals: true });
    if (values.help) return help(io, CANCEL_HELP);
    if (values.job !== undefined && positionals.length > 0) throw usageError('give either BATCH_IDs or --job NAME, not both');
    if (values.job === undefined && positionals.length === 0) throw usageError('give the BATCH_IDs to cancel, or --job NAME');
    const api = requireApi(io, 'cancel batches');
    if (!api) return EXIT.USAGE;
    const found = values.job === undefined ? { ids: positionals, elsewhere: 0 } : await jobBatches(io, api, values.job, ledgerPath(values.ledger, io.env));
    if (found === undefined) return EXIT.FATAL;
    const { ids } = found;
    // A batch of the job under another identity keeps running: not a cancel accepted.
    let failed = found.elsewhere;
    for (const id of ids) {
      try {
        const batch = await api.client.messages.batches.cancel(id);
        say(io, `batch ${batch.id} ${batch.processing_status}`);
      } catch (error) {
        failed++;
        say(io, `batch ${id}: cannot cancel: ${describeApiError(error)}`);
      }
    }
    return failed > 0 ? EXIT.FATAL : EXIT.OK;
  });
}

/** How long `cancel --job` waits for a live run's create to give a batch its id (an upload of 256 MB takes minutes). */
export const CREATE_WAIT_MS = 5 * 60_000;
const CREATE_POLL_MS = 200;

/**
 * The remote ids of the job's batches in progress under this identity, and how many it cannot cancel
 * (named: another identity's, which keep running; one whose create was cut off); undefined when the
 * ledger has no such job. A batch a live run is creating is waited for until it has its id
 * (`CREATE_WAIT_MS`), and canceled then (helper-62: skipped, it was created a moment later, ran and
 * was billed, while cancel said there was nothing to cancel and exited 0).
 */
async function jobBatches(io: CliIo, api: Api, job: string, path: string): Promise<{ ids: string[]; elsewhere: number } | undefined> {
  const found = await withLedger(path, async (ledger) => {
    const rows = await ledger.batches(job);
    if (rows.length === 0) return { known: false, rows, jobs: [...new Set((await ledger.batches()).map((row) => row.job))], notMade: 0 };
    let notMade = 0;
    const created: BatchRow[] = [];
    for (const row of rows.filter((r) => r.state === 'creating')) {
      // Another identity's: it may be made and run, billed to that key, and cannot be canceled from here.
      if (!identityMatches(row, api)) {
        say(io, `a batch of ${plural(row.request_count, 'request')} being created not canceled: ${otherIdentity(row)}`);
        notMade++;
        continue;
      }
      const made = await createdBatch(io, ledger, row);
      if (made === 'unknown') notMade++;
      else if (made) created.push(made);
    }
    return { known: true, rows: [...rows.filter((r) => r.state !== 'creating'), ...created], jobs: [], notMade };
  });
  if (!found?.known) {
    const jobs = found?.jobs ?? [];
    say(io, `no job ${shown(job)} in the ledger ${shownLedger(path)}${jobs.length > 0 ? ` (jobs: ${jobs.join(', ')})` : ''}`);
    return undefined;
  }
  // Real-time groups have no batch on the API to cancel.
  const running = found.rows.filter((row) => row.state === 'in_progress' && row.remote_id !== null && !row.remote_id.startsWith(REALTIME_PREFIX));
  const elsewhere = running.filter((r) => !identityMatches(r, api));
  for (const row of elsewhere) say(io, `batch ${row.remote_id} not canceled: ${otherIdentity(row)}`);
  const ids = running.filter((r) => identityMatches(r, api)).map((row) => row.remote_id as string);
  if (ids.length === 0 && found.notMade === 0) say(io, `job ${shown(job)} has no batch in progress under this identity`);
  return { ids, elsewhere: elsewhere.length + found.notMade };
}

/**
 * A batch row still `creating`: its row once a live run's create gave it its id (undefined when the
 * create failed, and its requests went back); `'unknown'` when its run died before recording the
 * outcome, or is still creating it after `CREATE_WAIT_MS`: a batch the API may have, which cannot be
 * canceled as ours before it ends (its results carry our nonce only then; see `src/sink/adoption.ts`).
 */
async function createdBatch(io: CliIo, ledger: LedgerStore, row: BatchRow): Promise<BatchRow | undefined | 'unknown'> {
  const requests = plural(row.request_count, 'request');
  const cutOff = () => {
    say(io, `a batch of ${requests} whose create was cut off (its run ended before recording its id): not canceled: if the API has it, it cannot be proven this job's before it ends; the job's next run finds it and keeps its answers`);
    return 'unknown' as const;
  };
  const creator = await ledger.run(row.run);
  if (!creator || !(await ledger.runAlive(row.run, Date.now()))) return cutOff();
  say(io, `a batch of ${requests} is being created by run ${creator.id} (pid ${creator.pid} on ${creator.host?.split('/')[0] ?? 'an unknown host'}): waiting for its id, to cancel it`);
  for (const until = Date.now() + CREATE_WAIT_MS; Date.now() < until; ) {
    await sleep(CREATE_POLL_MS);
    const now = await ledger.batch(row.id);
    if (now?.state !== 'creating') return now?.remote_id ? now : undefined;
    // Its run died while creating it: the outcome is lost with it.
    if (!(await ledger.runAlive(row.run, Date.now()))) return cutOff();
  }
  say(io, `the batch of ${requests} run ${creator.id} is creating has no id after ${CREATE_WAIT_MS / 60_000} minutes: not canceled; run the same cancel again`);
  return 'unknown';
}
