/** `batch-enrich results BATCH_ID`: any ended batch's results, as the API returns them, as NDJSON. */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import type Anthropic from '@anthropic-ai/sdk';
import { describeApiError } from '../../client/errors.ts';
import { requestCount } from '../../client/client.ts';
import { usageError } from '../../errors.ts';
import { EXIT, type CliIo } from '../io.ts';
import { guarded, help, say } from '../command.ts';
import { nonEmpty, parseFlags, renderFlags } from '../flags.ts';
import { isBrokenPipe, plural } from '../text.ts';
import { AtomicOutput, refuseLedger } from '../files.ts';
import { API_ENVIRONMENT, HELP_FLAG, ledgerPath, requireApi } from './shared.ts';
import { countsText } from './status.ts';

/** The flags of `batch-enrich results`. */
export const RESULTS_FLAGS = {
  output: { value: 'FILE', short: 'o', parse: nonEmpty, help: 'write to FILE (replaced only once complete)', defaultText: 'stdout' },
  help: HELP_FLAG,
} as const;

/** `batch-enrich results --help`. */
export const RESULTS_HELP = `Usage: batch-enrich results BATCH_ID [options]

Download the results of any ended batch of the current workspace (ours or not) as NDJSON: one
{"custom_id", "result"} object per line, as the API returns them (not in request order).

${renderFlags(RESULTS_FLAGS, [])}
Examples:
  $ batch-enrich results msgbatch_013Zva2CMHLNnXjNJJKqJ2EF > results.ndjson
  $ batch-enrich results msgbatch_013Zva2CMHLNnXjNJJKqJ2EF | jq -c 'select(.result.type != "succeeded")'

${API_ENVIRONMENT}

Exit codes: 0 ok (also when stdout is closed early, as by | head), 1 the batch has not ended, is
not found or the download failed, 2 usage error (also: no ANTHROPIC_API_KEY).
`;

/**
 * `batch-enrich results BATCH_ID [-o, --output FILE]`: any ended batch's results, as NDJSON; returns the exit code.
 * @example
 * await resultsCommand(['msgbatch_013Zva2CMHLNnXjNJJKqJ2EF', '--output', 'results.ndjson'], io);
 */
export function resultsCommand(argv: string[], io: CliIo): Promise<number> {
  return guarded('results', io, async () => {
    const { values, positionals } = parseFlags(RESULTS_FLAGS, argv, { positionals: true });
    if (values.help) return help(io, RESULTS_HELP);
    const [id, ...extra] = positionals;
    if (id === undefined) throw usageError('give the BATCH_ID whose results to download');
    if (extra.length > 0) throw usageError(`give one BATCH_ID, got ${positionals.length}: ${positionals.join(' ')}`);
    // Never over the ledger (`$BATCH_ENRICH_LEDGER` or the default one): it holds every answer already paid for.
    refuseLedger(ledgerPath(undefined, io.env), '--output', values.output);
    const api = requireApi(io, 'download results');
    if (!api) return EXIT.USAGE;
    // Opened now, so a path that cannot be written is a usage error before any download; written
    // whole or not at all (through a symlink, a file keeps its mode), as the run's outputs are.
    // `--output -` is stdout, as for most tools.
    const output = values.output === undefined || values.output === '-' ? undefined : { file: new AtomicOutput('--output', values.output), given: values.output };
    try {
      return await download(id, api.client, output, io);
    } finally {
      output?.file.discard(); // after a commit: nothing left to remove
    }
  });
}

/** Writes the results of the batch `id` to `output` (`given`: its path as given), else to stdout; returns the exit code. */
async function download(id: string, client: Anthropic, output: { file: AtomicOutput; given: string } | undefined, io: CliIo): Promise<number> {
  let batch: MessageBatch;
  try {
    batch = await client.messages.batches.retrieve(id);
  } catch (error) {
    say(io, `batch ${id}: ${describeApiError(error)}`);
    return EXIT.FATAL;
  }
  if (batch.processing_status !== 'ended') {
    say(io, `batch ${id} has not ended: processing_status ${batch.processing_status} (${countsText(batch.request_counts)}); results come once it has ended`);
    return EXIT.FATAL;
  }

  let lines = 0;
  const sink: NodeJS.WritableStream = output?.file.stream ?? io.stdout;
  // Only the output's EPIPE means a reader that went away. The same code from the download's side
  // is a failed download, not a quiet end with part of the results.
  let downloadFailed = false;
  try {
    // The SDK retrieves the batch once more to find its `results_url`; the retrieve above is only
    // there to name the processing_status in the error (the SDK's own message is less clear).
    const decoder = await client.messages.batches.results(id).catch((error: unknown) => {
      downloadFailed = true;
      throw error;
    });
    const source = Readable.from(
      (async function* () {
        try {
          for await (const line of decoder) {
            lines++;
            yield `${JSON.stringify(line)}\n`;
          }
        } catch (error) {
          downloadFailed = true;
          throw error;
        }
      })(),
    );
    await pipeline(source, sink);
    // A file that ended cleanly before the batch's every result (the API gives one a request): cut
    // off on the way (a proxy, a load balancer); not a whole download.
    const total = requestCount(batch.request_counts);
    if (lines < total) {
      output?.file.discard();
      say(io, `batch ${id}: the results file ended after ${lines} of the batch's ${total} results (cut off on the way): run the same command again`);
      return EXIT.FATAL;
    }
    await output?.file.commit();
  } catch (error) {
    // A reader that went away (`| head`), on stdout or on a pipe named as the output (`--output /dev/stdout`).
    if (!downloadFailed && isBrokenPipe(error)) {
      sink.on('error', () => {}); // later writes would raise EPIPE again; the reader is gone
      return EXIT.OK;
    }
    say(io, `batch ${id}: results download failed after ${plural(lines, 'line')}: ${describeApiError(error)}`);
    return EXIT.FATAL;
  }
  if (output !== undefined) say(io, `wrote ${plural(lines, 'result')} of batch ${id} to ${output.given}`);
  return EXIT.OK;
}
