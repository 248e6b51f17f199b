/**
 * `batch-enrich [options] [FILE]`: the default command. It only wires things together: flags → a
 * config and a plan → `pipeline(input, readRecords, enrichStage, format, output)`. Data goes to
 * stdout (or `--output`); events, warnings and errors go to stderr. Each concern has its module:
 * the flags (`flags.ts`), the config (`config.ts`), the input (`input.ts`), the estimates
 * (`estimate.ts`), the outputs (`output.ts`) and the signals (`signals.ts`).
 */
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type Anthropic from '@anthropic-ai/sdk';
import { BatchEnrichError, isBatchEnrichError, shown, usageError } from '../../errors.ts';
import { enrichStage, NO_API_KEY_LIBRARY, type EnrichOptions } from '../../enrich.ts';
import { findModel } from '../../core/models.ts';
import { POLL_MAX_MS, POLL_MIN_MS } from '../../core/backoff.ts';
import { cacheNotice, jobProblem } from '../../core/preflight.ts';
import { DEFAULT_PRICES } from '../../core/prices.ts';
import { loadPriceFile, newCostTotals, priceFor, type PriceTable } from '../../core/pricing.ts';
import { createClient, identityOf } from '../../client/client.ts';
import { apiFromEnv } from '../jobs/shared.ts';
import { newUploadCounts } from '../../client/uploads.ts';
import { defaultLedgerPath, type BatchRow } from '../../ledger/ledger.ts';
import { isPostgresUrl, ledgerMade, openLedger, openLedgerToRead, writtenNotesOf } from '../../ledger/open.ts';
import { isMetAtStart, ledgerBusy, ledgerUnavailable, ledgerWriteFailed, type LedgerStore } from '../../ledger/store.ts';
import { redactUrl } from '../../ledger/url.ts';
import { newCounts } from '../../stages/merge.ts';
import { coalesce } from '../../stages/write.ts';
import { REALTIME_PREFIX } from '../../sink/options.ts';
import { EXIT, type CliIo } from '../io.ts';
import { filesWritten, isMissingInput } from '../files.ts';
import { packageVersion } from '../package.ts';
import { guarded, say as sayLine } from '../command.ts';
import { isBrokenPipe, plural } from '../text.ts';
import { uploadLine } from '../documents.ts';
import { describe } from '../events.ts';
import { parseFlags } from '../flags.ts';
import { createProgress, type Progress } from '../progress.ts';
import { describeRecipe, loadRecipe } from '../recipes.ts';
import { summarize, summaryLines } from '../summary.ts';
import { answerFields, defaultJobName, resolveConfig, type Config, type EnrichValues } from './config.ts';
import { checkCost, dryRun, pickSample, sampleReport, type KnownOf } from './estimate.ts';
import { takeShard } from '../../core/shard.ts';
import { AUTO_REALTIME_MAX_ROWS, ENRICH_FLAGS, USAGE } from './flags.ts';
import { countRows, openRunInput, type Input } from './input.ts';
import { openOutputs, outputFiles, refuseBadOutputs, type Outputs } from './output.ts';
import { beforeTheRun, onInterrupt } from './signals.ts';

/** Runs the command; resolves with the exit code. Never calls `process.exit()`. */
export function enrichCommand(argv: string[], io: CliIo): Promise<number> {
  const body = async () => {
    try {
      return await run(argv, io);
    } catch (error) {
      if (!isBatchEnrichError(error) || error.code !== 'BE_PENDING') throw error;
      // --no-wait: how many records wait for answers and when the oldest batch expires; nothing written but --summary.
      sayLine(io, error.message);
      return EXIT.PENDING;
    }
  };
  return guarded('', io, body, {
    // Without a key the library names its own options; on the command line, the flags that need none.
    wording: (error) => (isBatchEnrichError(error) && error.code === 'BE_NO_API_KEY' ? error.message.replace(NO_API_KEY_LIBRARY, 'or use --dry-run to see the requests, or --emulator to run offline') : error.message),
    hint: (error) => !isBatchEnrichError(error) || (error.code !== 'BE_NO_API_KEY' && error.code !== 'BE_IDENTITY'),
  });
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseFlags(ENRICH_FLAGS, argv, { positionals: true });
  const { positionals } = parsed;
  // `-o -` is stdout, as for most tools (not a file named "-").
  const values: EnrichValues = parsed.values.output === '-' ? { ...parsed.values, output: undefined } : parsed.values;
  if (values.help) {
    io.stdout.write(values.transform ? describeRecipe(await loadRecipe(values.transform), values.transform) : USAGE);
    return EXIT.OK;
  }
  if (values.version) {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT.OK;
  }
  // helper-80: `--errors -` wrote a file named "-", where `-o -` is stdout.
  for (const flag of ['errors', 'summary'] as const) {
    if (values[flag] === '-') throw usageError(`--${flag} -: --${flag} is written to a file, never to stdout: give a file name`);
  }
  if (positionals.length > 1) throw usageError(`expected at most one input FILE, got ${positionals.length}: ${shown(positionals)}`);
  const file = positionals[0] ?? '-';
  // While the progress view is up, messages are printed above it (else they would be drawn over).
  const view: { progress?: Progress } = {};
  const say = (line: string) => (view.progress ? view.progress.say(line) : sayLine(io, line));
  // Until the run begins (its own handler takes over), a Ctrl-C says that nothing was sent.
  const early = beforeTheRun(say);
  try {
    return await checkAndRun(file, values, io, say, view, early);
  } finally {
    early();
  }
}

/** The checks before anything is sent, then the dry run or the run (`early` disposed as it begins). */
async function checkAndRun(file: string, values: EnrichValues, io: CliIo, say: (line: string) => void, view: { progress?: Progress }, early: () => void): Promise<number> {
  const plan = await planRun(file, values, io, say);
  if (values['dry-run']) {
    if (values.sample !== undefined) throw usageError('--sample runs a trial and --dry-run sends nothing: use one or the other');
    // What a run would leave out of a folder, from the ledger read as it is (a PostgreSQL one is read
    // too: the dry run sends nothing to the API; a server it cannot reach is said, and the listing given).
    if (plan.input.documents.files) {
      try {
        plan.input.leaveOut(await writtenNotesOf(ledgerPathOf(values, io.env)));
      } catch (error) {
        if (!isBatchEnrichError(error)) throw error;
        say(`${error.message}; so files that earlier runs wrote into the folder are listed too (a run leaves them out)`);
      }
    }
    // An e-mail's attachments left out are said as the run says them (helper-74: a dry run said nothing).
    const onNotSent = (where: string, attachments: string[]) => say(describe({ type: 'not-sent', where, attachments }));
    const held = await heldRequests(values, io.env, say);
    try {
      return await dryRun(io.stdout, say, plan.input.offline(ownShard(plan.input.read(plan.stream), values)), { ...plan.spec, documentPrompt: plan.config.documentPrompt, onNotSent }, plan.prices, plan.mode, plan.config.answer?.jsonSchema, values['max-cost'], held?.known);
    } finally {
      await held?.close();
    }
  }
  // One ledger for the pre-check and the run (on PostgreSQL: one pool, one clock measurement), opened
  // before anything that keeps the process alive (the in-process emulator): a ledger that cannot be
  // opened ends the run at once.
  const ledger = await ledgerOf(values, io.env);
  try {
    // A folder as the input leaves out what earlier runs wrote into it, whatever its name now.
    if (plan.input.documents.files) plan.input.leaveOut(await ledger.writtenFiles());
    // The batches of earlier --emulator runs are gone with their emulators: released first, so that the
    // check counts their requests as to pay, as the run sends them again (helper-73).
    if (values.emulator && values.ledger !== undefined) await releaseEarlierEmulators(ledger, EMULATOR_SCOPE, say);
    // Before paying: the cap against what is left to pay, and how many sampled rows the ledger answered before.
    const answeredBefore = values['max-cost'] !== undefined || plan.picked ? await precheckCost(plan, values, io.env, say, ledger) : 0;
    early();
    return await execute(plan, values, io, say, view, answeredBefore, ledger);
  } catch (error) {
    // An EPIPE is the output's (a closed reader: a quiet end), not the ledger's.
    throw (isBrokenPipe(error) ? undefined : (ledgerUnavailable(error, ledger.path) ?? ledgerWriteFailed(error, ledger.path))) ?? error;
  } finally {
    await ledger.close();
  }
}

/** What a run is about to do, decided before anything is sent. */
interface Plan {
  file: string;
  config: Config;
  input: Input;
  /** The input, opened once the flags are checked: a missing FILE is named before anything else happens. */
  stream: NodeJS.ReadableStream;
  spec: EnrichSpec;
  prices: PriceTable;
  mode: 'batch' | 'realtime';
  /** The system prompt is sent as a cached prefix. */
  cachedPrefix: boolean;
  /** `--sample`: the rows to run, and the input's row count. */
  picked: Set<number> | undefined;
  totalRows: number;
}

type JsonSchema = NonNullable<Config['answer']>['jsonSchema'];
type EnrichSpec = { model: string; maxTokens: number; documentMaxTokens: number | undefined; prompt: Config['prompt']; system: string | undefined; answerSchema: JsonSchema | undefined; documentAnswerSchema: JsonSchema | undefined; idField: string | undefined; file: string; attach: readonly string[] };

/** The records of this worker's `--shard` (all without it): what `--dry-run` shows and `--max-cost` checks, as the run takes them. */
function ownShard<T>(records: AsyncIterable<T>, values: EnrichValues): AsyncIterable<T> {
  return values.shard === undefined ? records : takeShard(records, values.shard);
}

/**
 * `--sample`'s rows (all without it), as the run takes them. They are picked among this worker's
 * `--shard` (`pickSample` over the shard's rows, as input positions), so the run does not shard them
 * again (`libraryOptions`).
 */
async function* sampledRows<T extends { seq: number }>(records: AsyncIterable<T>, picked: Set<number> | undefined): AsyncGenerator<T> {
  for await (const record of records) if (!picked || picked.has(record.seq)) yield record;
}

/** The rows the run sends: `--sample`'s (picked within the shard already), else this worker's `--shard`. */
function runRows<T extends { seq: number }>(records: AsyncIterable<T>, values: EnrichValues, picked: Set<number> | undefined): AsyncIterable<T> {
  return picked ? sampledRows(records, picked) : ownShard(records, values);
}

/** Flags → config, checks that need no network, the input, the mode and the sample. */
async function planRun(file: string, values: EnrichValues, io: CliIo, say: (line: string) => void): Promise<Plan> {
  const config = await resolveConfig(values);
  // Before paying: what the API would refuse for every row, from the model registry (core/preflight.ts);
  // online, a model the registry does not know is looked up by the library (GET /v1/models/{id}).
  const problem =
    jobProblem({ model: config.model, maxTokens: config.maxTokens, answerSchema: config.answer?.jsonSchema }) ??
    (config.documentMaxTokens === undefined ? undefined : jobProblem({ model: config.model, maxTokens: config.documentMaxTokens, maxTokensIs: "for records with documents (the recipe's documentMaxTokens)", answerSchema: config.documentAnswer?.jsonSchema }));
  if (problem && (findModel(config.model) || values['dry-run'] || values.emulator)) throw usageError(problem);
  const cacheNote = cacheNotice(config.system, config.model);
  const input = openRunInput(file, values, config, io, say, ledgerPathOf(values, io.env));
  if (values.deadline !== undefined && values.mode === 'realtime') throw usageError('--deadline is for batch mode: in real time every answer comes at once anyway');
  if (values.deadline !== undefined && values['no-wait']) {
    throw usageError('--deadline counts from the start of a run, and a --no-wait run ends once it has submitted: the deadline would never come. Leave one out (a scheduler can run the last try without --no-wait, with --deadline)');
  }
  if (values['poll-min'] > values['poll-max']) {
    const defaults = (value: number, ms: number) => (value * 1000 === ms ? ' (the default)' : '');
    throw usageError(
      `--poll-min ${values['poll-min']}${defaults(values['poll-min'], POLL_MIN_MS)} is above --poll-max ${values['poll-max']}${defaults(values['poll-max'], POLL_MAX_MS)}: polls start at --poll-min and grow up to --poll-max`,
    );
  }
  // `--dry-run` added to a real command must not replace that command's output (its paid answers) with requests.
  const written = outputFiles(values).find(([, path]) => path !== undefined);
  if (values['dry-run'] && written) throw usageError(`--dry-run prints the requests on stdout and writes no file: leave ${written[0]} ${written[1]} out (or redirect stdout)`);
  // Never destroy the input: an output that is the input (through links too) is refused before anything is read.
  refuseBadOutputs(file, values, io, ledgerPathOf(values, io.env));
  const stream = await input.open().catch((error: unknown) => inputGone(error, file, values, config, io.env));
  if (values.sample !== undefined && !input.rereadable) {
    throw usageError(`--sample needs a FILE it can read twice (rows are picked evenly across the whole input)${file === '-' ? '' : `: ${file} is not a regular file (a pipe?)`}; write the input to a file first`);
  }
  const prices = values.prices ? loadPriceFile(values.prices) : DEFAULT_PRICES;
  if (values['max-cost'] !== undefined && !priceFor(config.model, prices)) {
    throw usageError(`--max-cost: no price is known for the model ${config.model}, so its cost cannot be capped; give one with --prices FILE`);
  }
  // Said once every check of the flags has passed: a refused command says only why.
  if (cacheNote && !values.quiet) say(cacheNote);
  // One counting pass over a FILE serves both --mode auto and --sample (stdin cannot be read twice),
  // of this worker's --shard (the rows it runs); --mode auto alone needs to know only whether they are few.
  const counted = input.rereadable && (values.mode === 'auto' || values.sample !== undefined);
  const totalRows = counted ? await countRows(input, values.sample === undefined ? AUTO_REALTIME_MAX_ROWS : Number.POSITIVE_INFINITY, values.shard) : 0;
  // --mode auto: a small file goes through real time; anything else (and stdin) through batches.
  const mode = values.mode === 'realtime' || (values.mode === 'auto' && counted && totalRows <= AUTO_REALTIME_MAX_ROWS) ? 'realtime' : 'batch';
  const documentAnswerSchema = input.documents.attach.length ? config.documentAnswer?.jsonSchema : undefined;
  const documentMaxTokens = input.documents.attach.length ? config.documentMaxTokens : undefined;
  const spec = { model: config.model, maxTokens: config.maxTokens, documentMaxTokens, prompt: config.prompt, system: config.system, answerSchema: config.answer?.jsonSchema, documentAnswerSchema, idField: config.idField, file, attach: input.documents.attach };
  const picked = values.sample === undefined ? undefined : pickSample(values.sample, totalRows, values.shard);
  return { file, config, input, stream, spec, prices, mode, cachedPrefix: Boolean(config.system) && cacheNote === undefined, picked, totalRows };
}

/**
 * `--max-cost` on a FILE: refuse before any create when even the estimate of what is left to pay is
 * over (stdin: the cap applies as batches go). What the ledger already holds as sent or answered
 * under this API key is left out: a rerun pays only for the rest. Returns how many of the rows (the
 * sampled ones, with `--sample`) it left out so.
 */
async function precheckCost(plan: Plan, values: EnrichValues, env: NodeJS.ProcessEnv, say: (line: string) => void, ledger: LedgerStore): Promise<number> {
  const maxCost = values['max-cost'] ?? Number.POSITIVE_INFINITY;
  if (!plan.input.rereadable) {
    say(`--max-cost: ${plan.file === '-' ? 'stdin' : `${plan.file} (not a regular file)`} cannot be estimated before it is read; the cap applies as batches are submitted`);
    return 0;
  }
  const { input } = plan;
  // What the ledger holds is found under the run's identity: the key's, or the emulator's (helper-72:
  // with --emulator the check never looked, and refused the rerun of a finished job); none without a key.
  const scope = scopeOf(values, env);
  // Without a cap, the pass only counts sampled rows answered before: nothing to count without the ledger.
  if (values['max-cost'] === undefined && scope === undefined) return 0;
  const known = scope === undefined ? undefined : async (keys: string[]) => ledger.known(scope, keys);
  const { line, inLedger: answeredBefore } = await checkCost(input.offline(runRows(input.read(await input.open()), values, plan.picked)), {
    spec: { ...plan.spec, documentPrompt: plan.config.documentPrompt },
    prices: plan.prices,
    mode: plan.mode,
    cachedPrefix: plan.cachedPrefix,
    maxCost,
    picked: plan.picked,
    known,
  });
  if (!values.quiet && values['max-cost'] !== undefined) say(line);
  return answeredBefore;
}

/**
 * `--dry-run`: what the ledger holds of the run's requests, so that the dry run shows and prices only
 * what the run would send; nothing when there is no ledger yet (a dry run makes none) or no identity
 * to find its requests under (no API key). Read as `status` reads it. Under `--emulator` a request an
 * earlier emulator was sent counts as to send: its batch went with that emulator (see
 * `releaseEarlierEmulators`).
 */
async function heldRequests(values: EnrichValues, env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<{ known: KnownOf; close(): Promise<void> } | undefined> {
  const spec = ledgerPathOf(values, env);
  const scope = scopeOf(values, env);
  if (scope === undefined) return undefined;
  let opened: Awaited<ReturnType<typeof openLedgerToRead>>;
  try {
    // Not opened where no run made it, nor where an older version did: opening a ledger makes a
    // PostgreSQL one's tables (helper-97: a dry run made them in an empty database), and migrates an
    // older schema, which that version's scheduled runs could then no longer open.
    const made = await ledgerMade(spec);
    if (made === 'none') return undefined;
    if (made === 'older') {
      say(`the ledger ${isPostgresUrl(spec) ? redactUrl(spec) : spec} is of an older version of batch-enrich, which a dry run does not migrate (a run does); so the requests it holds are shown and counted too`);
      return undefined;
    }
    opened = await openLedgerToRead(spec);
  } catch (error) {
    if (!isBatchEnrichError(error)) throw error;
    say(`${error.message}; so the requests it holds are shown and counted too`);
    return undefined;
  }
  const { ledger } = opened;
  const known: KnownOf = async (keys) => {
    const found = await ledger.known(scope, keys);
    if (values.emulator) for (const [key, request] of found) if (request.state === 'submitted') found.delete(key);
    return found;
  };
  return { known, close: opened.close };
}

/**
 * Throws `error`, the input's that could not be opened; for an input that is not there (moved or
 * deleted after a `--no-wait` try submitted it) whose job has batches in the ledger, said so, and
 * what to do: the output is the input's records with their answers, each answer found by the request
 * made from its record, so writing the records out needs the input (helper-99: 'cannot open: ENOENT'
 * was all the try that collects said). The ledger is read as it is, never made or migrated; a ledger
 * that cannot be read leaves the error as it was.
 */
async function inputGone(error: unknown, file: string, values: EnrichValues, config: Config, env: NodeJS.ProcessEnv): Promise<never> {
  if (!isMissingInput(error)) throw error;
  const spec = ledgerPathOf(values, env);
  const job = values.job ?? defaultJobName(file, config);
  let batches: BatchRow[];
  try {
    if ((await ledgerMade(spec)) !== 'made') throw error;
    const { ledger, close } = await openLedgerToRead(spec);
    try {
      batches = (await ledger.batches(job)).filter((batch) => batch.remote_id !== null && batch.state !== 'failed');
    } finally {
      await close();
    }
  } catch {
    throw error;
  }
  if (batches.length === 0) throw error;
  const running = batches.filter((batch) => batch.state === 'creating' || batch.state === 'in_progress').length;
  const ids = batches.map((batch) => batch.remote_id as string);
  // The answers as the API gives them (not with --emulator: its batches ended with its run).
  const results = values.emulator
    ? ''
    : ids.length === 1
      ? `; if the input is lost, 'batch-enrich results ${ids[0]}' prints the answers as NDJSON (by custom_id) once the batch has ended`
      : ids.length <= 3
        ? `; if the input is lost, 'batch-enrich results BATCH_ID' prints a batch's answers as NDJSON (by custom_id) once it has ended: ${ids.join(', ')}`
        : `; if the input is lost, 'batch-enrich status --job ${job}' lists the batches, and 'batch-enrich results BATCH_ID' prints one's answers as NDJSON (by custom_id)`;
  error.message +=
    `; the ledger ${isPostgresUrl(spec) ? redactUrl(spec) : spec} holds ${plural(batches.length, 'batch', 'batches')} of this job (${job}), submitted by an earlier try` +
    `${running > 0 ? ` (${running} running when last polled)` : ''}: nothing paid for is lost, but writing the records out needs the input they came from (an answer is found by the request made from its record); ` +
    `put ${file} back (or give its new path), and run the command again: the same rows take the same answers, paid once${results}`;
  throw error;
}

/** The identity a run's requests are found under in the ledger: the key's, or the emulator's; none without a key. */
function scopeOf(values: EnrichValues, env: NodeJS.ProcessEnv): string | undefined {
  return values.emulator ? EMULATOR_SCOPE : apiFromEnv(env)?.scope;
}

/**
 * Opens the ledger a run keeps its work in: `--ledger`, else (`--emulator`: in memory, as the
 * in-process emulator dies with this process) `$BATCH_ENRICH_LEDGER` or the default path.
 */
async function ledgerOf(values: EnrichValues, env: NodeJS.ProcessEnv): Promise<LedgerStore> {
  try {
    return await openLedger(ledgerPathOf(values, env));
  } catch (error) {
    // A --no-wait try on a ledger server that does not answer now (restarting, a failover) is a "try
    // later", as a try it cuts off a moment later is (helper-75: exit 1 ended the scheduler's loop).
    const cause = isBatchEnrichError(error) ? error.cause : error;
    if (values['no-wait'] && isBatchEnrichError(error) && error.code === 'BE_LEDGER' && ledgerBusy(cause)) {
      const path = redactUrl(ledgerPathOf(values, env));
      throw new BatchEnrichError('BE_PENDING', `The ledger ${path} cannot be reached (${cause instanceof Error ? cause.message : String(cause)}); nothing was done: run the same command again later`, { cause });
    }
    throw error;
  }
}

function ledgerPathOf(values: EnrichValues, env: NodeJS.ProcessEnv): string {
  return values.ledger ?? (values.emulator ? ':memory:' : defaultLedgerPath(env));
}

/** How long a stopped run waits for a blocked output (nobody reading it) before it gives the output up: longer than the sink's own stop (`STOP_WAIT_MS`). */
const OUTPUT_STOP_WAIT_MS = 5_000;
/** The key `--emulator` runs under, and its identity: one whatever the port of its emulator (a server on loopback). */
const EMULATOR_KEY = 'emulator';
const EMULATOR_SCOPE = identityOf(createClient({ apiKey: EMULATOR_KEY, baseURL: 'http://127.0.0.1' }), EMULATOR_KEY).scope;

/** The API the run talks to: the in-process emulator, the key's API, or none (the library says what is missing). */
async function connect(values: EnrichValues, io: CliIo, say: (line: string) => void): Promise<{ client?: Anthropic; key?: string; close(): Promise<void> }> {
  if (values.emulator) {
    const { startEmulator } = await import('../../emulator/index.ts');
    // With a ledger file (it outlives this emulator), ids new at each run: see `EmulatorOptions.idSalt`.
    const emulator = await startEmulator(values.ledger === undefined ? {} : { idSalt: randomUUID() });
    if (!values.quiet) say('--emulator: the answers are made up by the offline emulator (deterministic filler text), not written by a model');
    const client = createClient({ apiKey: EMULATOR_KEY, baseURL: emulator.url });
    return { client, key: EMULATOR_KEY, close: () => emulator.close() };
  }
  // Without a key, what the ledger answered still comes out (the library stops at the first request
  // that needs the API, with exit 2).
  const key = io.env['ANTHROPIC_API_KEY'];
  if (key) return { client: createClient({ apiKey: key, baseURL: io.env['ANTHROPIC_BASE_URL'] || undefined }), key, close: async () => {} };
  return { close: async () => {} };
}

/**
 * The batches of an earlier `--emulator` run still to be answered: they lived in that run's emulator,
 * which ended with it (this one knows none of them), so their requests are sent again now, rather
 * than polled through minutes of 404s (`GONE_AFTER_MS`). It costs nothing: an emulator's batches are
 * not billed, and no remote batch is touched. A batch of a run still alive (another `--emulator` run
 * on this ledger, with its own emulator) is left to that run.
 */
async function releaseEarlierEmulators(ledger: LedgerStore, scope: string, say: (line: string) => void): Promise<void> {
  const reason = "it was made by an earlier run's --emulator, which ended with that run";
  for (const row of await ledger.batches()) {
    if (row.scope !== scope || !['creating', 'in_progress', 'ended'].includes(row.state) || row.remote_id?.startsWith(REALTIME_PREFIX)) continue;
    if (await ledger.runAlive(row.run, Date.now())) continue;
    const requests = await ledger.failBatch(row.id, Date.now(), reason, row.state);
    if (requests) say(describe({ type: 'released', batchId: row.remote_id, requests, reason }));
  }
}

/**
 * The run itself, in `ledger` (the caller closes it): outputs, API, signals, the pipeline, then the
 * summary (`answeredBefore`: the sampled rows the ledger had answered, for `--sample`'s price per row).
 */
async function execute(plan: Plan, values: EnrichValues, io: CliIo, say: (line: string) => void, view: { progress?: Progress }, answeredBefore: number, ledger: LedgerStore): Promise<number> {
  const { input, picked } = plan;
  const outputs = openOutputs(values, io, { inputColumns: input.columns, answerColumns: answerFields(plan.config), say });
  const api = await connect(values, io, say);
  const counts = newCounts();
  const costs = newCostTotals();
  const uploadCounts = newUploadCounts();
  const batchIds = new Set<string>();
  /** Creates sent (a batch recorded `creating` first): each may have made a batch, answered or not. */
  let creates = 0;
  let sentRealtime = false;
  /** Records that took an answer an earlier run left in the ledger. */
  let fromLedger = 0;
  const realtimeReleased = { groups: 0, requests: 0, reason: '' };
  /** With --meta: answers paid for that no record took (see the 'unclaimed' event). */
  let unclaimed: { answers: number; usd: number | null } | undefined;
  let endRun: ((kept: boolean) => Promise<void>) | undefined;
  const started = Date.now();
  // Leaving on a second interrupt skips 'exit': the outputs' temporary files are removed first.
  const interrupts = onInterrupt(say, ledger.path, values['cancel-on-exit'], () => ({ batches: batchIds.size, realtime: sentRealtime, creating: creates > 0, out: counts.ok + counts.failed, failed: counts.failed }), () => outputs.discard());
  // A stop while the output waits for a reader that never comes (`| less`, which ignores Ctrl-C; a
  // stalled consumer): once the run has had its time to stop, the output is given up, so its last
  // write ends, and the run with it (helper-91: SIGINT said "stopping" and the run never ended).
  interrupts.signal.addEventListener('abort', () => {
    const stream = outputs.stream as NodeJS.WritableStream & { writableNeedDrain?: boolean; destroy?: (error?: Error) => void };
    const giveUp = setTimeout(() => {
      if (stream.writableNeedDrain !== true) return;
      io.abandoned = true;
      stream.destroy?.(new Error('the output was given up: nothing read it while the run stopped'));
    }, OUTPUT_STOP_WAIT_MS);
    giveUp.unref();
  }, { once: true });
  // First the redirected streams: a run killed later has written them too.
  await noteWritten(ledger, values, io, false);
  const progress = createProgress({ stream: io.stderr, style: values.quiet ? 'off' : values.progress || (io.stderr as { isTTY?: boolean }).isTTY ? 'tty' : 'lines', counts, costs, describe, uploads: uploadCounts });
  view.progress = progress;
  const options = libraryOptions(plan, values, io, {
    ledger,
    api,
    counts,
    costs,
    uploadCounts,
    signal: interrupts.signal,
    started,
    // The run is complete once its output files are in place (`commit`), not once its records are out.
    onComplete: (end) => (endRun = end),
    onEvent: (event) => {
      // Real-time groups sent back to pending (a stop, a refused key): one line for them all, at the end.
      if (event.type === 'released' && event.batchId?.startsWith(REALTIME_PREFIX)) {
        realtimeReleased.groups++;
        realtimeReleased.requests += event.requests;
        realtimeReleased.reason ||= event.reason;
        return;
      }
      // A try of a part of the input (--limit, --sample) reads none of the requests of the rows it
      // leaves out: the batches that hold them are not unneeded (helper-97: a --limit 3 try named an
      // earlier try's other batches, which the whole job needs, with how to cancel them).
      if (event.type === 'unneeded' && (values.limit !== undefined || picked)) return;
      if (event.type === 'creating') creates++;
      // Each batch once, however often it is followed (helper-62: "18 batches" where 15 exist).
      if (event.type === 'submitted' || event.type === 'adopted' || event.type === 'following') batchIds.add(event.batchId);
      if (event.type === 'realtime') sentRealtime = true;
      if (event.type === 'reused') fromLedger += event.records;
      if (event.type === 'unclaimed') unclaimed = event;
      // Waiting for paid real-time calls, the run is stopping already: an interrupt now leaves at once, as the line says.
      if (event.type === 'finishing') {
        const calls = event.calls;
        interrupts.leaveOnNext((signal) => `${signal}: leaving now; the real-time calls still in flight (${calls} when the run began to stop) are asked, and paid, again by the next run`);
      }
      progress.event(event);
    },
  });
  const { documents } = input;
  // When the output fails (a closed pipe, a full disk), `pipeline` rejects before the sink's teardown
  // has ended, and that may be waiting for paid real-time calls to store their answers: the ledger
  // is closed (by the caller) only once it has.
  let stage: ReturnType<typeof enrichStage>;
  try {
    stage = enrichStage(options);
  } catch (error) {
    // An option the library refuses: what the run set up is let go (helper-93: with --emulator, the
    // in-process emulator kept the process alive after the usage error, for ever).
    progress.stop(0);
    delete view.progress;
    interrupts.dispose();
    await api.close();
    throw error;
  }
  let sinkDone: Promise<void> = Promise.resolve();
  const enrich = (source: Parameters<typeof stage>[0], opts?: Parameters<typeof stage>[1]) => {
    const records = stage(source, opts);
    let done = () => {};
    sinkDone = new Promise<void>((resolve) => (done = resolve));
    return (async function* () {
      try {
        yield* records;
      } finally {
        done();
      }
    })();
  };
  let completed = false;
  /** `--no-wait`: answers still wait (exit 75), said after what this try paid. */
  let pending: BatchEnrichError | undefined;
  /** A try that ended otherwise: the exit code of an interrupt, or the error to end with, once what it paid is said. */
  let failure: Unfinished | undefined;
  let read = 0;
  try {
    await pipeline(
      plan.stream,
      async function* countRead(chunks: AsyncIterable<Buffer | string>) {
        // `--shard` is the library's (`shard`), but for a sample, picked within the shard already.
        for await (const record of sampledRows(input.read(chunks), picked)) {
          read++;
          progress.read();
          yield record;
        }
      },
      enrich,
      (records: AsyncIterable<Record<string, unknown>>) => outputs.format(records),
      coalesce(),
      outputs.stream,
    );
    await outputs.commit();
    completed = true;
  } catch (thrown) {
    const closed = isBrokenPipe(thrown);
    const nothingOut = values.output !== undefined || counts.ok + counts.failed === 0;
    const error = (values['no-wait'] && nothingOut && !closed && tryLater(thrown, ledger.path, batchIds.size, read)) || thrown;
    // The output is not written; the summary is, when the try paid for anything (below): the answers
    // it downloaded or asked in real time are in no other try's summary (a rerun takes them from the
    // ledger, "not paid again"), and the tries' summaries add up to the job's bill.
    outputs.discard(true);
    if (!isBatchEnrichError(error) || error.code !== 'BE_PENDING') {
      const code = interrupts.exitCode();
      if (code !== undefined) {
        failure = { code };
        // Stopped with records still waiting in the output for a reader (a stalled one, or none): the
        // process would stay alive for them; the bin gives them a moment, then leaves (`CliIo.abandoned`).
        if (((outputs.stream as { writableLength?: number }).writableLength ?? 0) > 0) io.abandoned = true;
      }
      else {
        // `| head`: a quiet end (exit 0), but batches that run on, billed, and a file asked for that is
        // not there are said (with --quiet too).
        if (closed) for (const line of closedOutputLines(values, ledger.path, batchIds.size)) say(line);
        // A failure after batches went out (a bad row further on, an output that cannot be written:
        // helper-91, a full disk said nothing of them): they run on, and a rerun takes them up. Not with
        // --emulator: its batches end with this run, and cost nothing.
        const named = outputs.named(error);
        if (batchIds.size > 0 && ledger.path !== ':memory:' && !values.emulator && isBatchEnrichError(named)) {
          named.message += `; the ${plural(batchIds.size, 'batch', 'batches')} this run submitted or followed stay in the ledger ${ledger.path} (those still running run on, and are billed): run the same command again once this is fixed, and it takes them up (not paid twice)`;
        }
        failure = { error: named, closed };
      }
    } else pending = error;
  } finally {
    await sinkDone;
    // Not ended when the process dies first: gc then keeps the run's work for its rerun (see `tryMark`).
    // Nor when the ledger cannot record the end (its disk full too): the same, said, and not in place
    // of the run's own error.
    const unended = await endRun?.(completed).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (unended !== undefined) progress.event({ type: 'unended', message: unended instanceof Error ? unended.message : String(unended) });
    // A run that completed sent the released requests again itself (a dead run's group it took over).
    const { groups, requests, reason } = realtimeReleased;
    if (requests > 0 && !completed && !values.quiet) progress.say(`real time: ${plural(requests, 'request')} of ${plural(groups, 'group')} will be sent by the next run: ${reason}`);
    progress.stop(completed ? 0 : requests);
    delete view.progress;
    interrupts.dispose();
    await api.close();
  }

  const summary = {
    ...summarize(counts, costs, batchIds.size, Date.now() - started, sentRealtime ? (batchIds.size > 0 ? 'batch+realtime' : 'realtime') : 'batch', fromLedger),
    // Whether the try wrote its whole output (a --no-wait try whose answers wait, a stopped or failed one: false).
    complete: completed,
    // A try that did not write its whole output: the records it read and did not write wait for the
    // rerun (helper-89: 0 was said of a stopped try with every record waiting); not its unread input.
    records_pending: pending?.records ?? (completed ? 0 : Math.max(0, read - (values.output === undefined ? counts.ok + counts.failed : 0))),
    ...(documents.attach.length ? { files_uploaded: uploadCounts.uploaded, upload_bytes: uploadCounts.bytes, files_reused: uploadCounts.reused } : {}),
    // To the micro-dollar, as cost_usd.
    ...(unclaimed ? { unclaimed_answers: unclaimed.answers, unclaimed_cost_usd: unclaimed.usd === null ? null : Math.round(unclaimed.usd * 1e6) / 1e6 } : {}),
  };
  if (failure) return endUnfinished(failure, summary, { values, outputs, say, uploads: uploadLine(uploadCounts), noteSummary: () => noteWritten(ledger, values, io, true) });
  // A try whose answers wait wrote no record: its lines say what it paid, not "0 records".
  const lines = pending ? summaryLines(summary).slice(1) : summaryLines(summary);
  if (!values.quiet) for (const line of [...lines, uploadLine(uploadCounts) ?? []].flat()) say(line);
  else if (counts.failed > 0) say(summaryLines(summary)[0] ?? '');
  await outputs.writeSummary(`${JSON.stringify(summary, null, 2)}\n`);
  await noteWritten(ledger, values, io, true);
  if (pending) throw pending;
  if (picked) say(sampleReport(summary, plan.totalRows, answeredBefore, values.shard));
  return counts.failed > 0 ? EXIT.PARTIAL : EXIT.OK;
}

/**
 * A `--no-wait` try that wrote nothing (to stdout: a record out makes a retry of the try write it
 * twice; helper-67; `-o FILE` is written whole or not at all), ended by a ledger that stopped
 * answering: a "try later" (`BE_PENDING`), as an API that cannot be reached is, once `batches` are in
 * flight; or when the ledger was met so as the try began (a SQLite file another process holds locked:
 * it opens, and the run cannot register itself), as a ledger server that cannot be opened then is
 * (`ledgerOf`): the try has done nothing, and which batches are in flight is the ledger's to tell
 * (helper-99: exit 1 ended the scheduler's loop). Undefined otherwise.
 */
function tryLater(thrown: unknown, ledgerPath: string, batches: number, read: number): BatchEnrichError | undefined {
  return batches > 0 || isMetAtStart(thrown) ? ledgerUnavailable(thrown, ledgerPath, { records: read }) : undefined;
}

/**
 * What a run whose output was closed early (`| head`) leaves: the batches it submitted or followed
 * (`batches`), which run on, billed (not with --emulator: they end with it), and an --errors FILE not
 * written.
 */
function closedOutputLines(values: EnrichValues, ledgerPath: string, batches: number): string[] {
  const kept = ledgerPath !== ':memory:';
  const lines: string[] = [];
  if (batches > 0 && !values.emulator) {
    const where = kept ? `stay in the ledger ${ledgerPath}` : 'were submitted (the ledger was :memory:: no rerun can collect them)';
    lines.push(`the output was closed before the run ended; the ${plural(batches, 'batch', 'batches')} this run submitted or followed ${where} (those still running run on, and are billed)${kept ? ': run the same command again to collect them (not paid twice)' : ''}`);
  }
  if (values.errors !== undefined) {
    lines.push(`the output was closed before the run ended, so --errors ${values.errors} was not written (it is written whole, at the end); run the same command again to write it${kept ? ': what was answered is in the ledger' : ''}`);
  }
  return lines;
}

/** How a try ended before its output was written: an interrupt's exit code, or its error (`closed`: the output's reader went, `| head`). */
type Unfinished = { code: number } | { error: unknown; closed: boolean };

/**
 * The end of a try stopped or failed before its output was written: what it paid is said (its
 * records are not: none was written) and, when it paid for anything, submitted batches or its output
 * was closed (`| head`, an end like any other), written to `--summary` (else the file is left as it
 * was, as the outputs are); then the interrupt's exit code, or the error.
 */
async function endUnfinished(
  failure: Unfinished,
  summary: ReturnType<typeof summarize> & { complete: boolean },
  { values, outputs, say, uploads, noteSummary }: { values: EnrichValues; outputs: Outputs; say: (line: string) => void; uploads: string | undefined; noteSummary: () => Promise<void> },
): Promise<number> {
  // Answers received (downloaded, or asked in real time): said on stderr. Batches submitted that have
  // answered nothing yet cost this try nothing: the error says they run on, and the try that downloads
  // them says what they cost; the summary file says that the try submitted them.
  const received = summary.input_tokens + summary.output_tokens + summary.cache_creation_input_tokens + summary.cache_read_input_tokens > 0 || summary.unpriced_results > 0 || (summary.answers_lost ?? 0) > 0;
  if (!values.quiet && received) for (const line of [...summaryLines(summary).slice(1), uploads ?? []].flat()) say(line);
  if (received || summary.batches > 0 || ('closed' in failure && failure.closed)) {
    try {
      await outputs.writeSummary(`${JSON.stringify(summary, null, 2)}\n`);
      await noteSummary();
    } catch (error) {
      // Not in place of the try's own end.
      say(`--summary ${values.summary} could not be written: ${error instanceof Error ? error.message : String(error)}`);
    }
  } else outputs.discard();
  if ('code' in failure) return failure.code;
  throw failure.error;
}

/**
 * Notes in the ledger the files this run writes (`filesWritten`: its standard output and error when
 * redirected to files; with `outputs`, its output files too, once written), so that a later run given
 * the folder that holds them leaves them out (`Input.leaveOut`). A ledger that cannot take the note
 * costs the run nothing: such a file would be read as a document, and said so.
 */
async function noteWritten(ledger: LedgerStore, values: EnrichValues, io: CliIo, outputs: boolean): Promise<void> {
  const files = filesWritten(
    outputs ? [['its output', values.output], ['its --errors', values.errors], ['its --summary', values.summary]] : [],
    [['its standard output', io.stdout], ['its standard error', io.stderr]],
  );
  try {
    await ledger.noteWritten(files, Date.now());
  } catch {
    // See above: nothing the run relies on.
  }
}

/** What the run gives the library, beside the flags: its ledger, API, counters, signal and event sink. */
interface RunParts {
  ledger: LedgerStore;
  api: { client?: Anthropic; key?: string };
  counts: EnrichOptions['counts'];
  costs: EnrichOptions['costs'];
  uploadCounts: ReturnType<typeof newUploadCounts>;
  signal: AbortSignal;
  started: number;
  onEvent: NonNullable<EnrichOptions['onEvent']>;
  onComplete: NonNullable<EnrichOptions['onComplete']>;
}

/** Flags, config and the run's parts → the library's options (it applies its own defaults to what is absent). */
function libraryOptions(plan: Plan, values: EnrichValues, io: CliIo, run: RunParts): EnrichOptions {
  const { config, picked } = plan;
  const { documents } = plan.input;
  return {
    prompt: config.prompt.source,
    ...(config.system === undefined ? {} : { system: config.system }),
    ...(config.answer ? { schema: config.answer.jsonSchema } : {}),
    ...(config.documentAnswer && documents.attach.length ? { documentSchema: config.documentAnswer.jsonSchema } : {}),
    model: config.model,
    maxTokens: config.maxTokens,
    ...(plan.spec.documentMaxTokens === undefined ? {} : { documentMaxTokens: plan.spec.documentMaxTokens }),
    ...(config.into === undefined ? {} : { into: config.into }),
    // Checked here already (cli/checks.ts: --id-field on the first record, unless --allow-missing); a recipe's may be absent.
    ...(config.idField === undefined ? {} : { idField: config.idField, idFieldOptional: true }),
    ...(documents.attach.length ? { attach: documents.attach, baseDir: documents.baseDir, upload: documents.upload, uploadCounts: run.uploadCounts } : {}),
    ...(documents.oversizedImage === undefined ? {} : { oversizedImage: documents.oversizedImage }),
    ...(values['files-under'] === undefined ? {} : { filesUnder: values['files-under'] }),
    ...(config.documentPrompt === undefined ? {} : { documentPrompt: config.documentPrompt.source }),
    ...(run.api.client ? { client: run.api.client, apiKey: run.api.key } : { baseURL: io.env['ANTHROPIC_BASE_URL'] || undefined }),
    ledger: run.ledger,
    batchSize: picked ? Math.max(picked.size, 1) : values['batch-size'],
    maxInFlight: values['max-in-flight'],
    flushAfterMs: values['flush-after'] * 1000,
    pollMinMs: values['poll-min'] * 1000,
    pollMaxMs: values['poll-max'] * 1000,
    file: plan.file,
    counts: run.counts,
    job: values.job ?? defaultJobName(plan.file, config),
    maxAttempts: values['max-attempts'],
    ...(values['cancel-on-exit'] ? { cancelOnAbort: true } : {}),
    ...(values['no-wait'] ? { noWait: true } : {}),
    ...(values.shard === undefined || picked ? {} : { shard: values.shard }),
    ...(values['new-identity'] ? { allowOtherIdentity: true } : {}),
    signal: run.signal,
    prices: plan.prices,
    costs: run.costs,
    ...(values['max-cost'] === undefined ? {} : { maxCostUsd: values['max-cost'] }),
    ...(values.meta ? { meta: true } : {}),
    mode: plan.mode,
    concurrency: values.concurrency,
    ...(values.deadline === undefined ? {} : { deadline: run.started + values.deadline }),
    onEvent: run.onEvent,
    onComplete: run.onComplete,
  };
}
