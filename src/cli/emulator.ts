/**
 * `batch-enrich emulator`: runs the local Message Batches API emulator until SIGINT/SIGTERM.
 * stdout carries exactly one line, the base URL (so `ANTHROPIC_BASE_URL=$(…)` style use works);
 * everything else (usage errors, the optional --verbose request log) goes to stderr.
 */
import { randomUUID } from 'node:crypto';
import type { EmulatorOptions } from '../emulator/index.ts';
import { isUsageError, shown, usageError } from '../errors.ts';
import { startEmulator } from '../emulator/index.ts';
import { isLoopback } from '../emulator/options.ts';
import type { CliIo } from './io.ts';
import { EXIT } from './io.ts';
import { guarded } from './command.ts';
import { integer, number, parseFlags, renderFlags } from './flags.ts';

/** Keys from the environment: they stay out of `ps`, unlike flags. */
export const API_KEYS_ENV = 'BATCH_ENRICH_EMULATOR_API_KEYS';
export const UPSTREAM_KEY_ENV = 'BATCH_ENRICH_UPSTREAM_KEY';

const ms = number(0, 3_600_000);
const rate = number(0, 1);

/**
 * The flags of `batch-enrich emulator`. The defaults are the emulator's own (`resolveOptions`), so
 * they are shown here (`defaultText`) and applied there; a test holds the two together.
 */
export const EMULATOR_FLAGS = {
  port: { value: 'N', parse: integer(0, 65535), defaultText: '0', help: 'TCP port, 0 = a free one' },
  host: { value: 'HOST', defaultText: '127.0.0.1', help: 'interface to listen on; beyond loopback needs a key' },
  'api-key': { value: 'KEY', multiple: true, defaultText: 'any key', help: `accept only this key (repeatable); better in ${API_KEYS_ENV} (comma-separated), which keeps keys out of ps` },
  seed: { value: 'N', parse: integer(-(2 ** 31), 2 ** 31 - 1), defaultText: '42, with ids new at each start', help: 'seed for ids, answers, faults, result order; the same seed gives the same ids: an emulator started again in front of a ledger that outlived it needs another seed, or none' },
  'processing-ms': { value: 'N', parse: integer(0, Number.MAX_SAFE_INTEGER), defaultText: '0', help: 'how long each batch stays in_progress, ms' },
  upstream: { value: 'URL', parse: httpUrl, defaultText: 'none', help: `forward each request to URL/v1/messages; its API key comes from ${UPSTREAM_KEY_ENV} (never a flag: argv shows in ps), else the caller's key` },
  'upstream-key': { value: 'KEY', help: `refused: pass the upstream's key in ${UPSTREAM_KEY_ENV}` },
  'upstream-concurrency': { value: 'N', parse: integer(1, 1000), defaultText: '8', help: 'forwarded requests in flight at once' },
  'fault-429': { value: 'RATE', parse: rate, defaultText: '0', help: 'share 0..1 of control calls answered 429' },
  'fault-500': { value: 'RATE', parse: rate, defaultText: '0', help: 'share 0..1 of control calls answered 500' },
  'fault-529': { value: 'RATE', parse: rate, defaultText: '0', help: 'share 0..1 of control calls answered 529' },
  'retry-after': { value: 'SECONDS', parse: number(0, 86_400), defaultText: '0', help: 'retry-after header on injected 429/500/529s' },
  'errored-rate': { value: 'RATE', parse: rate, defaultText: '0', help: 'share 0..1 of requests whose result is errored' },
  'errored-type': { value: 'TYPE', parse: errorType, defaultText: 'overloaded_error', help: 'error type of those results' },
  'expired-rate': { value: 'RATE', parse: rate, defaultText: '0', help: 'share 0..1 of requests whose result is expired' },
  'cut-results-rate': { value: 'RATE', parse: rate, defaultText: '0', help: 'share 0..1 of results downloads cut half way' },
  'lost-create-rate': { value: 'RATE', parse: rate, defaultText: '0', help: 'share 0..1 of creates made but answered 500' },
  'lost-message-rate': { value: 'RATE', parse: rate, defaultText: '0', help: 'share 0..1 of /v1/messages answers made, then broken off half way' },
  'create-latency-ms': { value: 'N', parse: ms, defaultText: '0', help: 'answer a create N ms after making the batch' },
  'results-pause-ms': { value: 'N', parse: ms, defaultText: '0', help: 'pause N ms half way through each download' },
  'messages-concurrency': { value: 'N', parse: integer(0, 10_000), defaultText: '0, no limit', help: '/v1/messages calls at once; past it: 429' },
  'messages-latency-ms': { value: 'N', parse: ms, defaultText: '0', help: 'how long each /v1/messages call takes' },
  'files-quota-bytes': { value: 'N', parse: integer(0, Number.MAX_SAFE_INTEGER), defaultText: 'no limit', help: 'Files API storage quota; past it uploads: 400' },
  'upload-latency-ms': { value: 'N', parse: ms, defaultText: '0', help: 'answer an upload N ms after storing the file' },
  'upload-fault-rate': { value: 'RATE', parse: rate, defaultText: '0', help: 'share 0..1 of uploads answered 529' },
  'transient-404': { defaultText: 'off', help: 'first retrieve of each batch answers 404' },
  verbose: { defaultText: 'off', help: 'log one line per request to stderr' },
  help: { help: 'show this help' },
} as const;

/** Which emulator option each flag sets (the rest are handled by hand: keys, --verbose, --help). */
export const EMULATOR_OPTION_OF = {
  port: 'port',
  host: 'host',
  seed: 'seed',
  'processing-ms': 'processingMs',
  upstream: 'upstream',
  'upstream-concurrency': 'upstreamConcurrency',
  'fault-429': 'faultRate429',
  'fault-500': 'faultRate500',
  'fault-529': 'faultRate529',
  'retry-after': 'retryAfterSeconds',
  'errored-rate': 'erroredRate',
  'errored-type': 'erroredType',
  'expired-rate': 'expiredRate',
  'cut-results-rate': 'cutResultsRate',
  'lost-create-rate': 'lostCreateRate',
  'lost-message-rate': 'lostMessageRate',
  'create-latency-ms': 'createLatencyMs',
  'results-pause-ms': 'resultsPauseMs',
  'messages-concurrency': 'messagesConcurrency',
  'messages-latency-ms': 'messagesLatencyMs',
  'files-quota-bytes': 'filesQuotaBytes',
  'upload-latency-ms': 'uploadLatencyMs',
  'upload-fault-rate': 'uploadFaultRate',
  'transient-404': 'transient404',
} as const satisfies Partial<Record<keyof typeof EMULATOR_FLAGS, keyof EmulatorOptions>>;

function httpUrl(raw: string, flag: string): string {
  let protocol = '';
  try {
    protocol = new URL(raw).protocol;
  } catch {
    // reported below
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw usageError(`${flag}: expected an http(s) URL, got ${shown(raw)}`);
  return raw;
}

function errorType(raw: string, flag: string): string {
  if (!/^[a-z_]+$/.test(raw)) throw usageError(`${flag}: expected an error type such as overloaded_error, got ${shown(raw)}`);
  return raw;
}

export const EMULATOR_HELP = `Usage: batch-enrich emulator [options]

Run a local emulator of the Anthropic Message Batches API (plus /v1/messages,
/v1/messages/count_tokens, /v1/models and the Files API). Each request of a batch is validated as
the API does it (model, limits, content, tools, caching, schemas, documents and images): a bad one
gets an errored result. Prints its base URL as the first line of stdout, then serves until SIGINT
or SIGTERM. Without --api-key any non-empty API key is accepted and it listens on loopback only;
with keys, only those keys are, and each sees only its own batches.

${renderFlags(EMULATOR_FLAGS, [])}
Control calls are create, retrieve, list, cancel, delete and results.

Examples:
  $ batch-enrich emulator --port 8787 &
  $ ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_API_KEY=test batch-enrich --prompt '…' < in.csv
  $ batch-enrich emulator --processing-ms 2000 --fault-429 0.1 --errored-rate 0.05 > url.txt &   # the URL on its first line

Environment: ${API_KEYS_ENV} (accepted keys, comma-separated),
${UPSTREAM_KEY_ENV} (the upstream's API key; required with keys and --upstream).

Exit codes: 0 stopped by a signal, 1 could not start, 2 usage error.
`;

/** Parses argv (and the key variables of `env`) into emulator options; a bad flag is a usage error naming it. */
export function parseEmulatorArgs(argv: string[], env: NodeJS.ProcessEnv = {}): { help: boolean; verbose: boolean; options: EmulatorOptions } {
  const { values } = parseFlags(EMULATOR_FLAGS, argv);
  const options: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(EMULATOR_OPTION_OF)) {
    const value = values[flag as keyof typeof EMULATOR_OPTION_OF];
    if (value !== undefined && value !== false) options[key] = value;
  }
  if (values['upstream-key'] !== undefined)
    throw usageError(`--upstream-key: pass the upstream's key in ${UPSTREAM_KEY_ENV} instead (a flag shows in ps to every user of the machine)`);
  const upstreamKey = env[UPSTREAM_KEY_ENV];
  if (upstreamKey !== undefined && upstreamKey !== '') options['upstreamKey'] = upstreamKey;
  const apiKeys = [...(values['api-key'] ?? []), ...(env[API_KEYS_ENV] ?? '').split(',').map((k) => k.trim())].filter((k) => k !== '');
  if (apiKeys.length > 0) options['apiKeys'] = apiKeys;
  if (values.host !== undefined && apiKeys.length === 0 && !isLoopback(values.host))
    throw usageError(`--host ${values.host}: listening beyond loopback needs --api-key KEY (or ${API_KEYS_ENV}), so that strangers cannot use the emulator${values.upstream ? ' or its upstream' : ''}`);
  if (apiKeys.length > 0 && values.upstream !== undefined && options['upstreamKey'] === undefined)
    throw usageError(`--upstream with --api-key: set ${UPSTREAM_KEY_ENV}, or callers' emulator keys would be sent upstream`);
  const sum = (values['fault-429'] ?? 0) + (values['fault-500'] ?? 0) + (values['fault-529'] ?? 0);
  if (sum > 1) throw usageError(`--fault-429 + --fault-500 + --fault-529: expected at most 1 together, got ${sum}`);
  return { help: values.help, verbose: values.verbose, options: options as EmulatorOptions };
}

/** Resolves on the first SIGINT or SIGTERM (listeners removed afterwards). */
function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** `batch-enrich emulator …`: returns the exit code (never calls process.exit). */
export async function emulatorCommand(argv: string[], io: CliIo, stop: Promise<unknown> = waitForSignal()): Promise<number> {
  return guarded('emulator', io, async () => {
    const parsed = parseEmulatorArgs(argv, io.env);
    if (parsed.help) {
      io.stdout.write(EMULATOR_HELP);
      return EXIT.OK;
    }
    const options: EmulatorOptions = { ...parsed.options };
    // Without --seed, ids new at each start: a ledger (of the user's pipeline tests, say) outlives an
    // emulator, and would take an id given again for a batch it already holds.
    if (options.seed === undefined) options.idSalt = randomUUID();
    if (parsed.verbose) options.log = (line) => io.stderr.write(`${line}\n`);
    let emu: Awaited<ReturnType<typeof startEmulator>>;
    try {
      emu = await startEmulator(options);
    } catch (error) {
      if (isUsageError(error)) throw error;
      io.stderr.write(`batch-enrich: cannot start the emulator: ${error instanceof Error ? error.message : String(error)}\n`);
      return EXIT.FATAL;
    }
    io.stdout.write(`${emu.url}\n`);
    await stop;
    await emu.close();
    return EXIT.OK;
  });
}
