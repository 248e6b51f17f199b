/** `batch-enrich cancel BATCH_ID... | --job NAME`: cancels through the API; the ledger is left alone. */
import { describeApiError } from '../../client/errors.ts';
import { shown, usageError } from '../../errors.ts';
import { EXIT, type CliIo } from '../io.ts';
import { guarded, help, say } from '../command.ts';
import { jobName, parseFlags, renderFlags } from '../flags.ts';
import { ENVIRONMENT, HELP_FLAG, identityMatches, LEDGER_FLAG, ledgerPath, shownLedger, otherIdentity, requireApi, withLedger, type Api } from './shared.ts';

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

Exit codes: 0 every cancel accepted, 1 some failed (or, with --job, some batches are another
identity's and keep running), 2 usage error (also: no ANTHROPIC_API_KEY).
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

/**
 * The remote ids of the job's batches in progress under this identity, and how many others it has
 * (named: they cannot be canceled from here); undefined when the ledger has no such job.
 */
async function jobBatches(io: CliIo, api: Api, job: string, path: string): Promise<{ ids: string[]; elsewhere: number } | undefined> {
  const found = await withLedger(path, async (ledger) => ({ rows: await ledger.batches(job), jobs: [...new Set((await ledger.batches()).map((row) => row.job))] }));
  if (!found || found.rows.length === 0) {
    const jobs = found?.jobs ?? [];
    say(io, `no job ${shown(job)} in the ledger ${shownLedger(path)}${jobs.length > 0 ? ` (jobs: ${jobs.join(', ')})` : ''}`);
    return undefined;
  }
  const running = found.rows.filter((row) => row.state === 'in_progress' && row.remote_id !== null);
  const elsewhere = running.filter((r) => !identityMatches(r, api));
  for (const row of elsewhere) say(io, `batch ${row.remote_id} not canceled: ${otherIdentity(row)}`);
  const ids = running.filter((r) => identityMatches(r, api)).map((row) => row.remote_id as string);
  if (ids.length === 0) say(io, `job ${shown(job)} has no batch in progress under this identity`);
  return { ids, elsewhere: elsewhere.length };
}
