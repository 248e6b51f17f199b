/**
 * The library's main stage: source records → enriched records, through the Message Batches API and
 * the ledger. It composes `toRequests` → `batchSink` → `toEnriched`; readers and writers stay outside
 * so that callers can bring their own (a CSV file, a database cursor, an array).
 *
 * @example
 * await pipeline(
 *   createReadStream('tickets.csv'),
 *   readRecords({ format: 'csv' }),
 *   enrichStage({ prompt: 'Triage: {{text}}', model: 'claude-haiku-4-5', schema }),
 *   writeRecords({ format: 'ndjson' }),
 *   process.stdout,
 * );
 */
import type Anthropic from '@anthropic-ai/sdk';
import { basename } from 'node:path';
import { z } from 'zod';
import { BatchEnrichError, shown } from './errors.ts';
import { closest } from './core/suggest.ts';
import { POLL_MAX_MS, POLL_MIN_MS } from './core/backoff.ts';
import { checkApiKey, checkBaseUrl, createClient, identityOf, publicBaseUrl, sameEndpoint } from './client/client.ts';
import { DEFAULT_MAX_ATTEMPTS, isTransientFailure, mayHaveFailedForFiles, modelOutputLimit } from './core/retry.ts';
import { lookupModel } from './client/models.ts';
import { findModel } from './core/models.ts';
import { cacheNotice, jobProblem } from './core/preflight.ts';
import { DEFAULT_PRICES } from './core/prices.ts';
import {
  addUsage,
  costOf,
  newCostTotals,
  priceFor,
  type CostTotals,
  type PriceTable,
} from './core/pricing.ts';
import type { JSONSchema } from './core/request.ts';
import { typicalEstimate } from './core/expected-cost.ts';
import { compileSpec } from './core/request.ts';
import { eitherAnswer, resolveAnswerSchema } from './core/schema.ts';
import { compileTemplate, noFieldProblem } from './core/template.ts';
import { PATH_FIELD } from './stages/paths.ts';
import { ROW_SOURCE, sourceOf } from './core/text.ts';
import { RESERVED_FIELDS, RESERVED_FIELDS_RULE, type EnrichedRecord, type RecordError } from './core/result.ts';
import { defaultLedgerPath, type Identity } from './ledger/ledger.ts';
import { isLedgerStore, openLedger } from './ledger/open.ts';
import type { LedgerStore } from './ledger/store.ts';
import { batchSink } from './stages/batch.ts';
import { budgetExceeded } from './sink/budget.ts';
import { sinkKnobs, sinkKnobsOf, type Budget } from './sink/options.ts';
import { newCounts, toEnriched, type MergeCounts } from './stages/merge.ts';
import { toRequests } from './stages/prepare.ts';
import { attachDocuments, resolveUploads } from './stages/attach.ts';
import { Uploader, type UploadCounts } from './client/uploads.ts';
import type { SourceRecord } from './stages/read.ts';
import type { BatchEvent } from './types.ts';
import { shardProblem, takeShard } from './core/shard.ts';
import { settingsJobName } from './core/job.ts';

export const DEFAULT_MODEL = 'claude-haiku-4-5';
export const DEFAULT_MAX_TOKENS = 1024;

const positiveInt = (max?: number) => (max ? z.number().int().min(1).max(max) : z.number().int().min(1));
/** The library's options: the sink's knobs (declared once, in `sink/options.ts`), and the stage's own. */
const optionsSchema = sinkKnobs
  .extend({
    prompt: z.string().min(1),
    system: z.string().optional(),
    model: z.string().min(1).default(DEFAULT_MODEL),
    maxTokens: positiveInt().default(DEFAULT_MAX_TOKENS),
    /** `max_tokens` for records that carry documents (`attach`), when it is not `maxTokens` (a recipe's `documentMaxTokens`). */
    documentMaxTokens: positiveInt().optional(),
    schema: z.custom<z.ZodType | JSONSchema>((v) => typeof v === 'object' && v !== null).optional(),
    /** The answer asked of records that carry documents (`attach`), when it is not `schema` (a recipe's `documentSchema`). */
    documentSchema: z.custom<z.ZodType | JSONSchema>((v) => typeof v === 'object' && v !== null).optional(),
    idField: z.string().min(1).optional(),
    /**
     * Let the first record lack `idField` (as the CLI's --allow-missing does --id-field): `recipeOptions`
     * sets it for a recipe's own id field, a label shown when a row has it, as the CLI treats it.
     */
    idFieldOptional: z.boolean().optional(),
    into: z.string().min(1).refine((field) => !RESERVED_FIELDS.includes(field), `expected ${RESERVED_FIELDS_RULE}`).optional(),
    client: z.custom<Anthropic>((v) => typeof v === 'object' && v !== null).optional(),
    apiKey: z.string().min(1).optional(),
    baseURL: z.string().url().optional(),
    /** A SQLite file, `:memory:`, a `postgres://` URL, or an open ledger (left open). */
    ledger: z.union([z.string().min(1), z.custom<LedgerStore>(isLedgerStore, 'an open ledger')]).optional(),
    maxAttempts: positiveInt(100).default(DEFAULT_MAX_ATTEMPTS),
    /** This worker's shard (`{ part: K, of: N }`): it takes every N-th record, from the K-th (see `src/core/shard.ts`). */
    shard: z
      .object({ part: z.number().int(), of: z.number().int() })
      .strict()
      .superRefine((shard, context) => {
        const problem = shardProblem(shard);
        if (problem) context.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    counts: z.custom<MergeCounts>((v) => typeof v === 'object' && v !== null).optional(),
    prices: z.custom<PriceTable>((v) => typeof v === 'object' && v !== null).optional(),
    costs: z.custom<CostTotals>((v) => typeof v === 'object' && v !== null).optional(),
    maxCostUsd: z.number().positive().optional(),
    meta: z.boolean().optional(),
    deadline: z.union([z.date(), z.number().positive()]).optional(),
    attach: z.array(z.string().min(1)).optional(),
    documentPrompt: z.string().min(1).optional(),
    upload: z.enum(['files', 'inline', 'auto']).optional(),
    baseDir: z.string().min(1).optional(),
    filesUnder: z.string().min(1).optional(),
    uploadConcurrency: positiveInt(64).optional(),
    oversizedImage: z.enum(['downsize', 'error']).optional(),
    uploadCounts: z.custom<UploadCounts>((v) => typeof v === 'object' && v !== null).optional(),
    clock: z
      .object({
        now: z.custom<() => number>((v) => typeof v === 'function'),
        sleep: z.custom<(ms: number, signal: AbortSignal) => Promise<void>>((v) => typeof v === 'function'),
      })
      .optional(),
  })
  .strict();

export type EnrichOptions = z.input<typeof optionsSchema>;

/** Validates options once, naming the option in the message (`maxTokens` must be …). */
export function resolveOptions(options: EnrichOptions) {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue?.path.join('.') || 'options';
    // A recipe spread into the options (helper-89: "Unrecognized keys: name, description, fields" said nothing of recipes).
    const recipe = issue?.code === 'unrecognized_keys' && issue.keys.some((key) => key === 'name' || key === 'fields' || key === 'description');
    const hint = recipe ? ": these are a recipe's settings: pass { ...recipeOptions(recipe), ...yours }, or use recipeStage(recipe) in a pipeline" : '';
    // A misspelt option is named, with the one meant, as readRecords' are (helper-95: "`options`: Unrecognized key: \"baseUrl\"").
    if (issue?.code === 'unrecognized_keys' && !recipe) {
      const near = issue.keys.length === 1 ? closest(issue.keys[0] as string, Object.keys(optionsSchema.shape)) : undefined;
      const names = issue.keys.map((key) => `\`${key}\``).join(', ');
      throw new BatchEnrichError('BE_INVALID_OPTION', `${names}: unknown option${issue.keys.length === 1 ? '' : 's'}${near ? ` (did you mean \`${near}\`?)` : ''}`);
    }
    throw new BatchEnrichError('BE_INVALID_OPTION', `\`${name}\`: ${issue?.message ?? 'invalid'}${hint}`);
  }
  // As the CLI refuses --poll-min above --poll-max (helper-88: the library ran on, its minimum ignored).
  const { pollMinMs = POLL_MIN_MS, pollMaxMs = POLL_MAX_MS } = parsed.data;
  if (pollMinMs > pollMaxMs) {
    const given = (name: string, value: number | undefined) => `\`${name}\` ${value === undefined ? '(the default) ' : ''}`;
    throw new BatchEnrichError(
      'BE_INVALID_OPTION',
      `${given('pollMinMs', parsed.data.pollMinMs)}${pollMinMs} is above ${given('pollMaxMs', parsed.data.pollMaxMs)}${pollMaxMs}: polls start at pollMinMs and grow up to pollMaxMs`,
    );
  }
  return parsed.data;
}

/**
 * Closes an input nothing has read yet: a stream is destroyed (its iterator's `return` before a first
 * `next` would not run the code that destroys it), any other iterable told to return.
 */
async function closeUnread(input: AsyncIterable<unknown>): Promise<unknown> {
  const stream = input as { destroy?: unknown };
  if (typeof stream.destroy === 'function') return (stream.destroy as () => unknown).call(input);
  return input[Symbol.asyncIterator]().return?.();
}

/**
 * The first item of `source` (undefined when it is empty), and all of `source` again, that item
 * first; `close` closes the source while `records` is not being read (a run stopped before it is).
 */
async function peekFirst<T>(source: AsyncIterable<T>): Promise<{ first: T | undefined; records: AsyncIterable<T>; close: () => Promise<unknown> }> {
  const iterator = source[Symbol.asyncIterator]();
  const close = async () => iterator.return?.();
  let head: IteratorResult<T>;
  try {
    head = await iterator.next();
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  const rest: AsyncIterable<T> = { [Symbol.asyncIterator]: () => iterator };
  async function* records(): AsyncGenerator<T> {
    if (head.done) return;
    try {
      yield head.value;
      yield* rest;
    } finally {
      // Stopped at the first item (before `yield*` took the source over): the source is closed too.
      await iterator.return?.();
    }
  }
  return { first: head.done ? undefined : head.value, records: records(), close };
}

/** The enrichment stage for `pipeline`: `SourceRecord`s in, enriched records (or records with `_error`) out. */
export function enrichStage(
  options: EnrichOptions,
): (source: AsyncIterable<SourceRecord>, stage?: { signal?: AbortSignal }) => AsyncGenerator<EnrichedRecord> {
  const o = resolveOptions(options);
  const rowAnswer = o.schema ? resolveAnswerSchema(o.schema) : undefined;
  const documentAnswer = o.documentSchema ? resolveAnswerSchema(o.documentSchema, 'documentSchema') : undefined;
  // Validates each answer (with a document schema, under the one its record was asked).
  const answer = rowAnswer && documentAnswer ? eitherAnswer(rowAnswer, documentAnswer) : (rowAnswer ?? documentAnswer);
  // Before anything is created: what the API would refuse for every row. The registry answers without a
  // network call; a model it does not know is asked about online (GET /v1/models/{id}) when the stage starts.
  const job = { model: o.model, maxTokens: o.maxTokens, answerSchema: rowAnswer?.jsonSchema };
  const documentJob =
    documentAnswer || o.documentMaxTokens !== undefined
      ? { ...job, answerSchema: documentAnswer?.jsonSchema ?? job.answerSchema, ...(o.documentMaxTokens === undefined ? {} : { maxTokens: o.documentMaxTokens, maxTokensIs: "for records with documents (the library's documentMaxTokens; a recipe's)" }) }
      : undefined;
  const offlineProblem = findModel(o.model) ? (jobProblem(job) ?? (documentJob && jobProblem(documentJob))) : undefined;
  if (offlineProblem) throw new BatchEnrichError('BE_INVALID_OPTION', offlineProblem);
  const prompt = compileTemplate(o.prompt);
  const table = o.prices ?? DEFAULT_PRICES;
  // A caller's totals object gets the fields it lacks (helper-77: `costs: {}` came back all NaN, and
  // under maxCostUsd every row was budget_exceeded).
  const costs = o.costs ? Object.assign(o.costs, { ...newCostTotals(), ...o.costs }) : newCostTotals();
  if (o.maxCostUsd !== undefined && !priceFor(o.model, table)) {
    throw new BatchEnrichError('BE_INVALID_OPTION', `\`maxCostUsd\`: no price is known for the model ${o.model}, so its cost cannot be capped; give a price table (\`prices\`, --prices FILE)`);
  }
  // A generator told to return before its first `next` never runs its body: the input is closed then.
  return (input, stage) => closingUnstarted(enrich(input, stage), () => closeUnread(input));
  async function* enrich(input: AsyncIterable<SourceRecord>, stage?: { signal?: AbortSignal }): AsyncGenerator<EnrichedRecord> {
    const source = o.shard ? takeShard(input, o.shard) : input;
    const own = !isLedgerStore(o.ledger);
    // Until the chain below reads it, the input is closed here if the run stops (a caller iterating
    // by hand, not through `pipeline`, would otherwise keep its file open).
    let closeInput: (() => Promise<unknown>) | undefined = async () => closeUnread(input);
    const ledger = isLedgerStore(o.ledger) ? o.ledger : await openLedger(o.ledger ?? defaultLedgerPath(process.env)).catch(async (error: unknown) => {
      await closeInput?.().catch(() => undefined);
      throw error;
    });
    // A ledger opened here, and a run whose end the consumer took (`onComplete`): closed once it has
    // ended it (once, however many times it is called).
    let closeLater = false;
    const onComplete =
      own && o.onComplete
        ? (end: (kept: boolean) => Promise<void>) => {
            closeLater = true;
            let ended: Promise<void> | undefined;
            o.onComplete!((kept) => (ended ??= end(kept).finally(() => ledger.close())));
          }
        : o.onComplete;
    try {
      const { client, identity, offline } = await apiOf(o, ledger);
      // Documents: attached fields become content blocks; uploads are registered in the ledger. Records
      // that name their own documents (a folder's, `SourceRecord.attach`) have them attached too, as the
      // CLI does: the first record says whether the input is such.
      closeInput = undefined; // peekFirst closes it if its first read fails
      const { first, records: read, close } = await peekFirst(source);
      closeInput = close;
      // Before the run starts in the ledger when the first record is usable (nearly always).
      const idProblem = first && !first.error ? missingIdField(o, first) : undefined;
      if (idProblem) throw idProblem;
      const records = first?.error ? checkedIdField(read, o) : read;
      const documents = Boolean(o.attach?.length || first?.attach?.length);
      const noField = first !== undefined && !documents ? noFieldProblem(prompt) : undefined;
      if (noField !== undefined) throw new BatchEnrichError('BE_TEMPLATE', noField);
      const registry = documents && o.upload !== 'inline' ? ledger.uploads : undefined;
      // A model the registry does not know: the API's GET /v1/models/{id} says whether it exists and
      // what it can do (not without a key: a cached rerun does not call the API).
      if (!findModel(o.model) && offline === undefined) {
        const entry = await lookupModel(client, o.model, o.signal);
        const problem = jobProblem(job, () => entry) ?? (documentJob && jobProblem(documentJob, () => entry));
        if (problem) throw new BatchEnrichError('BE_INVALID_OPTION', problem);
      }
      const withDocuments = documents
        ? attachDocuments({
            fields: o.attach ?? [],
            baseDir: o.baseDir ?? process.cwd(),
            model: o.model,
            upload: o.upload,
            canUpload: registry !== undefined,
            oversizedImage: o.oversizedImage,
            filesUnder: o.filesUnder,
            file: o.file,
          })(records)
        : records;
      const requestSpec = {
        model: o.model,
        maxTokens: o.maxTokens,
        documentMaxTokens: documents ? o.documentMaxTokens : undefined,
        prompt,
        system: o.system,
        answerSchema: rowAnswer?.jsonSchema,
        documentAnswerSchema: documents ? documentAnswer?.jsonSchema : undefined,
        idField: o.idField,
        file: o.file,
        documentPrompt: o.documentPrompt === undefined ? undefined : compileTemplate(o.documentPrompt),
        attach: o.attach,
      };
      const prepared = toRequests({ ...requestSpec, onNotSent: (where, attachments) => o.onEvent?.({ type: 'not-sent', where, attachments }) })(withDocuments);
      const { scope } = identity;
      // Once the budget ran out (the sink's `budget` event), nothing more is sent: no file is uploaded for it.
      let refused: RecordError | undefined;
      const onEvent = (event: BatchEvent) => {
        if (event.type === 'budget') refused ??= budgetExceeded(event.maxUsd);
        o.onEvent?.(event);
      };
      // The identities that sent work this run would stop on (the sink's intake: `BE_IDENTITY`).
      const others = registry && !o.allowOtherIdentity ? await ledger.otherScopes(scope) : [];
      const ready = registry
        ? resolveUploads({
            uploader: new Uploader({ client, registry, scope, now: o.clock?.now, sleep: o.clock?.sleep, concurrency: o.uploadConcurrency, counts: o.uploadCounts }),
            // A request the ledger has and that is not answered (pending, or submitted: should its
            // batch not answer it, a retry sends it again), or that this run tries again (a transient
            // failure), needs its files again: one uploaded on an earlier run may have expired, or been
            // deleted, since (the intake then refreshes the stored request). The Files API's list is
            // read once a run for that, not a file at a time.
            // One ledger read (`known` carries a stored failure's text), as the intake's.
            // A request sent under another identity is passed on as it is, budget or not: the sink
            // stops the run on it, and its files are not uploaded again for nothing.
            known: async (key) => {
              const request = (await ledger.known(scope, [key])).get(key);
              if (request === undefined) {
                for (const other of others) if (((await ledger.known(other, [key])).get(key)?.state ?? 'pending') !== 'pending') return true;
                return false;
              }
              if (request.state === 'submitted') return 'submitted';
              if (request.state !== 'done') return false;
              // A failure that a file gone since may have caused: its files are checked again (and
              // uploaded again if gone: the intake then sends it again, see `mayHaveFailedForFiles`).
              return !(request.failure && (isTransientFailure(request.failure) || mayHaveFailedForFiles(request.failure)));
            },
            refused: () => refused,
            file: o.file,
          })(prepared)
        : prepared;
      // `meta`: what this run paid for each request (its attempts), until the first record carrying it
      // takes it (`toEnriched`): its duplicates say 0, and the records' costs add up to the run's.
      const paid = o.meta ? new Map<string, number | null>() : undefined;
      const joined = batchSink({
        ...sinkKnobsOf(o),
        shard: o.shard !== undefined,
        // Not one 'default' job for every notebook cell on the per-user ledger: `status` and `cancel
        // --job` told them apart by nothing, and gc kept every cell's finished work while one ran.
        job: o.job ?? settingsJobName(basename(o.file ?? 'row'), [o.prompt, o.system, rowAnswer?.jsonSchema, documentAnswer?.jsonSchema, o.model, o.maxTokens, ...(o.documentMaxTokens === undefined ? [] : [o.documentMaxTokens])]),
        onEvent,
        onComplete,
        client,
        ledger,
        identity,
        offline,
        retry: { maxAttempts: o.maxAttempts, validator: answer?.validator, maxTokensCap: modelOutputLimit(o.model) },
        onResult: (result, mode, key) => {
          // An answer lost on the way may have been billed: counted (once a request), its cost unknown.
          if (result.lost) costs.lostAnswers = (costs.lostAnswers ?? 0) + 1;
          // Only answers are billed: errored, expired and canceled requests cost nothing.
          if (result.type !== 'succeeded' || !result.message) return;
          addUsage(costs, result.message.usage, result.message.model, mode, table);
          if (paid) {
            const usd = costOf(result.message.usage, result.message.model, { mode, table }).usd;
            const before = paid.get(key);
            paid.set(key, usd === undefined || before === null ? null : (before ?? 0) + usd);
          }
        },
        deadline: o.deadline instanceof Date ? o.deadline.getTime() : o.deadline,
        now: o.clock?.now,
        sleep: o.clock?.sleep,
        ...(o.maxCostUsd === undefined
          ? {}
          : {
              budget: {
                maxUsd: o.maxCostUsd,
                spentUsd: () => costs.usd,
                estimateUsd: groupEstimate(o, compileSpec(requestSpec).parts.bytes, answer?.jsonSchema, table),
              },
            }),
      })(ready, stage);
      closeInput = undefined; // the chain reads it now, and closes it
      const answerColumns = o.into ? [o.into] : answer?.fields.length ? answer.fields : ['answer'];
      // A folder's records (`readFolder`) say where they come from: an answer's error names the folder
      // (without `file`, not <stdin>) and the file.
      const folder = first?.source !== undefined && first.source !== ROW_SOURCE ? (first.attach?.[0] ?? PATH_FIELD) : undefined;
      const merged = { validator: answer?.validator, file: o.file ?? first?.source, pathField: folder, answerColumns, into: o.into, meta: paid ? { table, paid } : undefined };
      yield* toEnriched(merged, o.counts ?? newCounts())(joined);
      // What was paid and taken by no record (`toEnriched` takes each key's cost once, to its first record).
      if (paid && paid.size > 0) {
        const costs = [...paid.values()];
        o.onEvent?.({ type: 'unclaimed', answers: paid.size, usd: costs.includes(null) ? null : costs.reduce<number>((sum, usd) => sum + (usd ?? 0), 0) });
      }
    } catch (error) {
      await closeInput?.().catch(() => undefined);
      throw error;
    } finally {
      if (own && !closeLater) await ledger.close();
    }
  }
}

/**
 * The error for an `idField` the first usable record lacks, as the CLI's for --id-field (cli/checks.ts):
 * a name no record has is a typo far more often than data, and was silently no label (helper-98). A
 * later record without it is sent without the label, as the CLI sends it.
 */
function missingIdField(o: ReturnType<typeof resolveOptions>, record: SourceRecord): BatchEnrichError | undefined {
  const field = o.idField;
  if (field === undefined || o.idFieldOptional === true || Object.hasOwn(record.data, field)) return undefined;
  const fields = Object.keys(record.data);
  const near = fields.find((f) => f.toLowerCase() === field.toLowerCase());
  const where = sourceOf(o.file, record);
  return new BatchEnrichError(
    'BE_INVALID_OPTION',
    `${where}:${record.line}: \`idField\` ${shown(field)}: the first record has no such field (fields: ${fields.join(', ')})${near ? `; did you mean ${shown(near)}?` : ''}; fix the name, or give \`idFieldOptional: true\` if only some records have it`,
    { file: where, line: record.line },
  );
}

/** The records, with `idField` checked on the first usable one (when the first record is itself a failed one). */
async function* checkedIdField(records: AsyncIterable<SourceRecord>, o: ReturnType<typeof resolveOptions>): AsyncGenerator<SourceRecord> {
  let checked = false;
  for await (const record of records) {
    if (!checked && !record.error) {
      checked = true;
      const problem = missingIdField(o, record);
      if (problem) throw problem;
    }
    yield record;
  }
}

/**
 * `run`, except that ending it (`return` or `throw`) before its first `next` calls `close`: an async
 * generator ended before it started never runs its body, so its own `finally` cannot close what it
 * was handed (helper-77: a caller's file stayed open).
 */
function closingUnstarted<T>(run: AsyncGenerator<T>, close: () => Promise<unknown>): AsyncGenerator<T> {
  let started = false;
  const end = async () => {
    if (started) return;
    started = true;
    await close().catch(() => undefined);
  };
  const self: AsyncGenerator<T> = {
    next(...args) {
      started = true;
      return run.next(...args);
    },
    async return(value) {
      await end();
      return run.return(value);
    },
    async throw(error) {
      await end();
      return run.throw(error);
    },
    [Symbol.asyncIterator]: () => self,
  };
  return self;
}

/**
 * The budget guard's estimate of a group of requests about to be sent: what the check before the run
 * holds the cap to (`typicalEstimate`'s `capUsd`), so that the groups' estimates add up to it.
 */
function groupEstimate(o: ReturnType<typeof resolveOptions>, prefixBytes: number, answerSchema: JSONSchema | undefined, table: PriceTable) {
  const job = { model: o.model, maxTokens: o.maxTokens, documentMaxTokens: o.documentMaxTokens, table, cached: Boolean(o.system) && cacheNotice(o.system, o.model) === undefined, answerSchema };
  return ({ requests, bytes, each, answers, documents, mode }: Parameters<Budget['estimateUsd']>[0]): number =>
    typicalEstimate({ requests, bytes, prefixBytes, each, answers, documents }, { ...job, mode }).capUsd ?? Number.POSITIVE_INFINITY;
}

/** The words the CLI replaces with its own options (`--dry-run`, `--emulator`). */
export const NO_API_KEY_LIBRARY = 'or pass `apiKey` or `client`';
const NO_API_KEY = `no API key: set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for another endpoint), ${NO_API_KEY_LIBRARY}`;

/**
 * The client and the identity to work under. Without a key, what the ledger already answered can
 * still come out: the identity is the ledger's one identity for this endpoint (more than one cannot
 * be told apart without the key), and the run stops at the first request that needs the API.
 */
async function apiOf(o: ReturnType<typeof resolveOptions>, ledger: LedgerStore): Promise<{ client: Anthropic; identity: Identity; offline: string | undefined }> {
  const key = o.apiKey ?? (o.client ? undefined : process.env['ANTHROPIC_API_KEY']);
  if (o.client) {
    checkBaseUrl(o.client.baseURL); // the caller's own client: its URL becomes the identity the ledger keeps
    checkApiKey(o.client.apiKey);
    return { client: o.client, identity: identityOf(o.client, key ?? o.client.apiKey ?? ''), offline: undefined };
  }
  if (key) {
    const client = createClient({ apiKey: key, baseURL: o.baseURL });
    return { client, identity: identityOf(client, key), offline: undefined };
  }
  // A client that is never called: the sink stops before any call (`offline`).
  const client = createClient({ apiKey: 'none', baseURL: o.baseURL, maxRetries: 0 });
  const known = (await ledger.identities()).filter((identity) => sameEndpoint(identity.baseUrl, client.baseURL));
  const [identity] = known;
  if (!identity || known.length > 1) {
    throw new BatchEnrichError('BE_NO_API_KEY', known.length > 1 ? `${NO_API_KEY}; the ledger holds work of ${known.length} keys for ${publicBaseUrl(client.baseURL)}, so which one is yours cannot be told without it` : NO_API_KEY);
  }
  return { client, identity, offline: `${NO_API_KEY}: some records are not answered in the ledger yet` };
}
