/**
 * `batch-enrich emulator`: runs the local Message Batches API emulator until SIGINT/SIGTERM.
 * stdout carries exactly one line, the base URL (so `ANTHROPIC_BASE_URL=$(…)` style use works);
 * everything else (usage errors, the optional --verbose request log) goes to stderr.
 */
import { parseArgs } from 'node:util';
import type { EmulatorOptions } from '../emulator/index.ts';
import { startEmulator } from '../emulator/index.ts';
import { isLoopback } from '../emulator/options.ts';
import type { CliIo } from './io.ts';
import { EXIT } from './io.ts';

export const EMULATOR_HELP = `Usage: batch-enrich emulator [options]

Run a local emulator of the Anthropic Message Batches API (plus /v1/messages,
/v1/messages/count_tokens, /v1/models and the Files API). Each request of a batch is validated as
the API does it (model, limits, content, tools, caching, schemas, documents and images): a bad one
gets an errored result. Prints its base URL as the first line of stdout, then serves until SIGINT
or SIGTERM. Without --api-key any non-empty API key is accepted and it listens on loopback only;
with keys, only those keys are, and each sees only its own batches.

Options:
  --port N                  TCP port, 0 = a free one                      (default: 0)
  --host HOST               interface to listen on; beyond loopback needs
                            a key                                          (default: 127.0.0.1)
  --api-key KEY             accept only this key (repeatable); better in
                            BATCH_ENRICH_EMULATOR_API_KEYS (comma-separated),
                            which keeps keys out of ps                     (default: any key)
  --seed N                  seed for ids, answers, faults, result order    (default: 42)
  --processing-ms N         how long each batch stays in_progress, ms      (default: 0)
  --upstream URL            forward each request to URL/v1/messages        (default: none)
                            its API key comes from BATCH_ENRICH_UPSTREAM_KEY
                            (never a flag: argv shows in ps)               (default: the caller's key)
  --upstream-concurrency N  forwarded requests in flight at once           (default: 8)
  --fault-429 RATE          share 0..1 of control calls answered 429       (default: 0)
  --fault-500 RATE          share 0..1 of control calls answered 500       (default: 0)
  --fault-529 RATE          share 0..1 of control calls answered 529       (default: 0)
  --retry-after SECONDS     retry-after header on injected 429/500/529s    (default: 0)
  --errored-rate RATE       share 0..1 of requests whose result is errored (default: 0)
  --errored-type TYPE       error type of those results                    (default: overloaded_error)
  --expired-rate RATE       share 0..1 of requests whose result is expired (default: 0)
  --cut-results-rate RATE   share 0..1 of results downloads cut half way   (default: 0)
  --lost-create-rate RATE   share 0..1 of creates made but answered 500    (default: 0)
  --create-latency-ms N     answer a create N ms after making the batch    (default: 0)
  --results-pause-ms N      pause N ms half way through each download      (default: 0)
  --messages-concurrency N  /v1/messages calls at once; past it: 429       (default: 0, no limit)
  --messages-latency-ms N   how long each /v1/messages call takes          (default: 0)
  --files-quota-bytes N     Files API storage quota; past it uploads: 400 (default: no limit)
  --upload-latency-ms N     answer an upload N ms after storing the file   (default: 0)
  --upload-fault-rate RATE  share 0..1 of uploads answered 529             (default: 0)
  --transient-404           first retrieve of each batch answers 404       (default: off)
  --verbose                 log one line per request to stderr             (default: off)
  --help                    show this help

Control calls are create, retrieve, list, cancel, delete and results.

Examples:
  $ batch-enrich emulator --port 8787 &
  $ ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_API_KEY=test batch-enrich --prompt '…' < in.csv
  $ batch-enrich emulator --processing-ms 2000 --fault-429 0.1 --errored-rate 0.05 | head -1

Environment: BATCH_ENRICH_EMULATOR_API_KEYS (accepted keys, comma-separated),
BATCH_ENRICH_UPSTREAM_KEY (the upstream's API key; required with keys and --upstream).

Exit codes: 0 stopped by a signal, 1 could not start, 2 usage error.
`;

type Flag = { type: 'string' | 'boolean'; multiple?: boolean };

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'api-key': { type: 'string', multiple: true },
  seed: { type: 'string' },
  'processing-ms': { type: 'string' },
  upstream: { type: 'string' },
  'upstream-key': { type: 'string' },
  'upstream-concurrency': { type: 'string' },
  'fault-429': { type: 'string' },
  'fault-500': { type: 'string' },
  'fault-529': { type: 'string' },
  'retry-after': { type: 'string' },
  'errored-rate': { type: 'string' },
  'errored-type': { type: 'string' },
  'expired-rate': { type: 'string' },
  'cut-results-rate': { type: 'string' },
  'lost-create-rate': { type: 'string' },
  'create-latency-ms': { type: 'string' },
  'results-pause-ms': { type: 'string' },
  'messages-concurrency': { type: 'string' },
  'messages-latency-ms': { type: 'string' },
  'files-quota-bytes': { type: 'string' },
  'upload-latency-ms': { type: 'string' },
  'upload-fault-rate': { type: 'string' },
  'transient-404': { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean' },
} as const satisfies Record<string, Flag>;

class UsageError extends Error {}

function intFlag(name: string, raw: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function numFlag(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name}: expected a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/** The numeric fault and timing flags: option, flag, and the range a value must be in. */
const NUMBER_FLAGS = [
  ['faultRate429', 'fault-429', 0, 1],
  ['faultRate500', 'fault-500', 0, 1],
  ['faultRate529', 'fault-529', 0, 1],
  ['retryAfterSeconds', 'retry-after', 0, 86_400],
  ['erroredRate', 'errored-rate', 0, 1],
  ['expiredRate', 'expired-rate', 0, 1],
  ['cutResultsRate', 'cut-results-rate', 0, 1],
  ['lostCreateRate', 'lost-create-rate', 0, 1],
  ['createLatencyMs', 'create-latency-ms', 0, 3_600_000],
  ['resultsPauseMs', 'results-pause-ms', 0, 3_600_000],
  ['messagesConcurrency', 'messages-concurrency', 0, 10_000],
  ['messagesLatencyMs', 'messages-latency-ms', 0, 3_600_000],
  ['filesQuotaBytes', 'files-quota-bytes', 0, Number.MAX_SAFE_INTEGER],
  ['uploadLatencyMs', 'upload-latency-ms', 0, 3_600_000],
  ['uploadFaultRate', 'upload-fault-rate', 0, 1],
] as const satisfies readonly (readonly [keyof EmulatorOptions, keyof typeof FLAGS, number, number])[];

/** Keys from the environment: they stay out of `ps`, unlike flags. */
export const API_KEYS_ENV = 'BATCH_ENRICH_EMULATOR_API_KEYS';
export const UPSTREAM_KEY_ENV = 'BATCH_ENRICH_UPSTREAM_KEY';

/** Parses argv (and the key variables of `env`) into emulator options (throws UsageError naming the flag). */
export function parseEmulatorArgs(argv: string[], env: NodeJS.ProcessEnv = {}): { help: boolean; verbose: boolean; options: EmulatorOptions } {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof FLAGS; strict: true; allowPositionals: false }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const options: EmulatorOptions = {};
  const set = <K extends keyof EmulatorOptions>(key: K, value: EmulatorOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set('port', intFlag('port', values.port, 0, 65535));
  set('host', values.host);
  set('seed', intFlag('seed', values.seed, -(2 ** 31), 2 ** 31));
  set('processingMs', intFlag('processing-ms', values['processing-ms'], 0));
  if (values.upstream !== undefined) {
    try {
      const u = new URL(values.upstream);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw new UsageError(`--upstream: expected an http(s) URL, got ${JSON.stringify(values.upstream)}`);
    }
    options.upstream = values.upstream;
  }
  if (values['upstream-key'] !== undefined)
    throw new UsageError(`--upstream-key: pass the upstream's key in ${UPSTREAM_KEY_ENV} instead (a flag shows in ps to every user of the machine)`);
  const upstreamKey = env[UPSTREAM_KEY_ENV];
  if (upstreamKey !== undefined && upstreamKey !== '') options.upstreamKey = upstreamKey;
  const apiKeys = [...(values['api-key'] ?? []), ...(env[API_KEYS_ENV] ?? '').split(',').map((k) => k.trim())].filter((k) => k !== '');
  if (apiKeys.length > 0) options.apiKeys = apiKeys;
  if (options.host !== undefined && apiKeys.length === 0 && !isLoopback(options.host))
    throw new UsageError(`--host ${options.host}: listening beyond loopback needs --api-key KEY (or ${API_KEYS_ENV}), so that strangers cannot use the emulator${options.upstream ? ' or its upstream' : ''}`);
  if (apiKeys.length > 0 && options.upstream !== undefined && options.upstreamKey === undefined)
    throw new UsageError(`--upstream with --api-key: set ${UPSTREAM_KEY_ENV}, or callers' emulator keys would be sent upstream`);
  set('upstreamConcurrency', intFlag('upstream-concurrency', values['upstream-concurrency'], 1, 1000));
  for (const [key, flag, min, max] of NUMBER_FLAGS) set(key, numFlag(flag, values[flag], min, max));
  if (values['errored-type'] !== undefined) {
    if (!/^[a-z_]+$/.test(values['errored-type']))
      throw new UsageError(`--errored-type: expected an error type such as overloaded_error, got ${JSON.stringify(values['errored-type'])}`);
    options.erroredType = values['errored-type'];
  }
  if (values['transient-404'] === true) options.transient404 = true;
  const sum = (options.faultRate429 ?? 0) + (options.faultRate500 ?? 0) + (options.faultRate529 ?? 0);
  if (sum > 1) throw new UsageError(`--fault-429 + --fault-500 + --fault-529: must add up to at most 1, got ${sum}`);
  return { help: values.help === true, verbose: values.verbose === true, options };
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
  let parsed: ReturnType<typeof parseEmulatorArgs>;
  try {
    parsed = parseEmulatorArgs(argv, io.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`batch-enrich emulator: ${error.message}\nTry 'batch-enrich emulator --help'.\n`);
    return EXIT.USAGE;
  }
  if (parsed.help) {
    io.stdout.write(EMULATOR_HELP);
    return EXIT.OK;
  }
  const options: EmulatorOptions = { ...parsed.options };
  if (parsed.verbose) options.log = (line) => io.stderr.write(`${line}\n`);
  let emu: Awaited<ReturnType<typeof startEmulator>>;
  try {
    emu = await startEmulator(options);
  } catch (error) {
    io.stderr.write(`batch-enrich emulator: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.FATAL;
  }
  io.stdout.write(`${emu.url}\n`);
  await stop;
  await emu.close();
  return EXIT.OK;
}
