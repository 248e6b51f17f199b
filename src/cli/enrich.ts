/**
 * `batch-enrich [options] [FILE]`: the default command. It only wires things together: options →
 * a recipe-like config → `pipeline(input, readRecords, enrichStage, writeRecords, output)`. Data goes
 * to stdout (or `--output`); events, warnings and errors go to stderr.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import type Anthropic from '@anthropic-ai/sdk';
import { BatchEnrichError, isBatchEnrichError, shown } from '../errors.ts';
import { DEFAULT_MAX_TOKENS, DEFAULT_MODEL, enrichStage, NO_API_KEY_LIBRARY } from '../enrich.ts';
import { labeledKey, requestLine, type JSONSchema } from '../core/request.ts';
import { resolveAnswerSchema } from '../core/schema.ts';
import { compileTemplate, missingColumns } from '../core/template.ts';
import { encodingExists } from '../core/encoding.ts';
import { closest } from '../core/suggest.ts';
import { parseDelimiter } from '../core/sniff.ts';
import { findModel } from '../core/models.ts';
import { cacheNotice, jobProblem } from '../core/preflight.ts';
import { createClient } from '../client/client.ts';
import { POLL_MAX_MS, POLL_MIN_MS } from '../core/backoff.ts';
import { defaultLedgerPath, Ledger } from '../ledger/ledger.ts';
import { DEFAULT_FLUSH_AFTER_MS, DEFAULT_MAX_IN_FLIGHT, MAX_BATCH_REQUESTS, type BatchEvent } from '../stages/batch.ts';
import { isFailed, newCounts } from '../stages/merge.ts';
import { toRequests, type PrepareOptions } from '../stages/prepare.ts';
import { DEFAULT_PRICES } from '../core/prices.ts';
import { loadPriceFile, newCostTotals, priceFor, type PriceTable } from '../core/pricing.ts';
import { estimateLine, InputTally, summarize, summaryLines, usd } from './summary.ts';
import { createProgress, type Progress } from './progress.ts';
import { formatFromName, readRecords, type InputFormat, type ReadOptions, type SourceRecord } from '../stages/read.ts';
import { AtomicOutput, inputIdentity, openInput, refuseClobber, refuseSameOutputs } from './files.ts';
import { checkFirstRecord, firstRows } from './checks.ts';
import { describeRecipe, loadRecipe } from './recipes.ts';
import { coalesce, createFormatter, type OutputFormat } from '../stages/write.ts';
import { EXIT, type CliIo } from './io.ts';
import { formatBytes, isBrokenPipe } from './format.ts';
import { documentInput, uploadLine } from './documents.ts';
import { attachDocuments } from '../stages/attach.ts';
import { elideBase64 } from '../core/documents.ts';
import { newUploadCounts } from '../client/uploads.ts';

/** `--mode auto` sends a FILE of at most this many rows in real time: a batch's wait is not worth the saving. */
export const AUTO_REALTIME_MAX_ROWS = 100;

export const USAGE = `Usage: batch-enrich [options] [FILE]
       batch-enrich status [--job NAME]            jobs and batches in the ledger, live from the API
       batch-enrich cancel BATCH_ID... | --job NAME
       batch-enrich results BATCH_ID               any batch's results as NDJSON
       batch-enrich gc [--older-than DAYS]         forget (and delete) old finished work
       batch-enrich emulator [options]             a local emulator of the API
       batch-enrich recipes                        the bundled recipes and the fields they read
       batch-enrich help [COMMAND]                 this help, or a command's
       (each command has its own --help; --transform NAME --help shows a recipe)

Enrich CSV, TSV or NDJSON records, or a folder of documents, with Claude through the Message Batches
API (half the price of real-time calls). Reads FILE, or stdin when FILE is absent or '-'; writes NDJSON (or CSV) to
stdout; progress and errors go to stderr. Work is kept in a ledger, so re-running the same
command after a crash resumes without paying twice.

Request:
  --prompt TEMPLATE       prompt over record fields: {{field}}, {{a.b}} (nested), {{field?}} (optional),
                          {{$record}} (all, as JSON)
  --prompt-file FILE      read the prompt template from FILE
  --system TEXT           shared system prompt, sent as a cached prefix (cache_control ttl 1h)
  --system-file FILE      read the system prompt from FILE
  --schema FILE           JSON Schema of the answer (sent as output_config.format, checked on return)
  --transform NAME|FILE   a recipe: ticket-triage, invoice-extraction, contract-clauses, or a .js module
                          (batch-enrich recipes lists them; --transform NAME --help shows one)
  --model NAME            model (default: the recipe's, else ${DEFAULT_MODEL})
  --max-tokens N          answer token limit (default: the recipe's, else ${DEFAULT_MAX_TOKENS})
  --into FIELD            put the answer under FIELD (default: merge an object answer at the top
                          level; a free-text answer goes to 'answer')
  --id-field NAME         show this field's value in each custom_id (a label: never changes what is paid)
  --allow-missing         let records lack template fields or --id-field (default: a field missing from
                          the CSV header or the first NDJSON record is a usage error; later ones _error)

Input and output:
  --input-format csv|tsv|ndjson|paths  default: from FILE's extension (also under .gz), else sniffed from the
                               first byte; paths: one file path a line, one record per file (path, name, bytes, sha256)
  -d, --delimiter CHAR         CSV field delimiter (',' ';' '|' or \t; default: sniffed from the header line)
  --tsv                        the input is TSV: tab-separated, no quoting (as --input-format tsv)
  --no-header                  CSV/TSV without a header row: the columns are named 1, 2, ...
  --encoding NAME              the input's encoding, e.g. windows-1252, latin1, utf-16le (default: a BOM,
                               else UTF-8 when valid, else detected and said on stderr)
  --limit N                    read only the first N records (a cheap trial, with --sample or alone)
                               gzip input is decompressed; Parquet, XLSX and other binary files are refused
  --output-format ndjson|csv   default: from --output's extension, else ndjson
  -o, --output FILE            write records to FILE instead of stdout (written whole at the end: a
                               killed run leaves the old FILE; FILE may not be the input)
  --errors FILE                write records that carry _error to FILE instead of the output
  --excel                      CSV output starts with a UTF-8 BOM, so Excel reads accents right
  --safe-csv                   CSV output: cells starting with = + - @ (not plain numbers) get a leading '
                               so a spreadsheet shows them instead of running them as formulas
  --progress                   a live status view on stderr even when it is not a terminal
                               (default: the view on a terminal, else one line per batch event)
  -q, --quiet                  neither (errors, budget stops and failed-record counts are still printed)

Documents (PDF, JPEG/PNG/GIF/WebP, text, .eml; the type is sniffed from the bytes):
  FILE may be a folder: one record per file in it (recursive), each file attached
  --attach FIELD          a field holding a document path (relative to FILE's folder, or the working
                          directory for stdin) or an https URL; repeatable (default: the recipe's, e.g. file)
  --upload files|inline|auto  how PDFs and images travel: inline base64, or uploaded once to the Files API
                          and referred to by file_id (default auto: files of 512 KB or more are uploaded)
  --oversized-image downsize|error  an image over 8000 px a side (2000 px with more than 20 in a request):
                          downsize: sent for the API to scale down; error (default): _error image_too_large
  A file that cannot be sent (unsupported, encrypted, damaged, too many pages, image too large, request
  over 32 MB) gets _error document_* / image_too_large / request_too_large, before anything is paid.

Batching:
  --batch-size N          requests per batch, 1-${MAX_BATCH_REQUESTS} (default ${MAX_BATCH_REQUESTS}; 256 MB also caps a batch)
  --flush-after SECONDS   submit a partial batch this long after its first request (default ${DEFAULT_FLUSH_AFTER_MS / 1000})
  --max-in-flight N       batches running at once; reading waits for a free slot (default ${DEFAULT_MAX_IN_FLIGHT})
  --poll-min SECONDS      first poll interval; it doubles, with jitter, up to --poll-max (default ${POLL_MIN_MS / 1000})
  --poll-max SECONDS      longest poll interval (default ${POLL_MAX_MS / 1000}: an hour-long batch is polled 13 or 14 times)
  --ledger PATH           the SQLite ledger (default: $BATCH_ENRICH_LEDGER, else ~/.cache/batch-enrich/ledger.db)

Resume and retries:
  Re-running the same command resumes: answered requests come from the ledger, batches still running
  are followed, nothing already submitted is submitted again.
  --job NAME              name the job in the ledger (default: the input's file name and a hash of the request settings)
  --max-attempts N        tries per request for transient errors, expiry, truncation (doubled max_tokens)
                          and, once, a schema-invalid answer (default 3)
  --cancel-on-exit        on Ctrl-C/SIGTERM, cancel this run's running batches instead of leaving them to finish
  --no-wait               submit now, collect later: submit (or follow) everything, and if answers are still
                          pending exit 75 writing nothing; rerun the same command until it exits 0 (schedulers)
  --new-identity          submit again what another API identity (base URL or key) already submitted, paying again

Cost:
  --max-cost USD          refuse to start when the estimate (typical answers; see --dry-run) is over
                          USD, and stop submitting batches when the cost so far plus the estimate of
                          batches in flight would cross it; records never submitted get _error
                          budget_exceeded
  --prices FILE           a JSON price table over the built-in one (USD per million tokens):
                          {"models": {"claude-x": {"input": 1, "output": 5, "cacheRead": 0.1}}}
  --summary FILE          write the run's summary as JSON (records_ok, records_failed, batches,
                          input_tokens, output_tokens, cache_creation_input_tokens,
                          cache_read_input_tokens, cost_usd, realtime_cost_usd, ...)
  --meta                  add _meta to every record: custom_id, batch id, model, attempt, tokens, cost
  --sample N              a trial before the full spend: run N rows picked evenly from FILE as one
                          batch, print their answers, report the share of valid, truncated and failed
                          answers, the cost per row and the projected cost of the whole input, and stop

Real time:
  --mode batch|realtime|auto   batch (default): Message Batches, half price, up to 24 h.
                          realtime: each request through the Messages API, answers now, full price.
                          auto: real time when FILE has at most ${AUTO_REALTIME_MAX_ROWS} rows, else batch (stdin: batch)
  --concurrency N         real-time calls at once (default 8); halved on 429/529, grown back after successes
  --deadline DURATION     batch mode: when batches are not done by then (e.g. 90m, 2h, 45s), cancel them,
                          keep the answers they produced and finish the rest in real time

Modes:
  --dry-run               print the batch requests as JSONL on stdout, and the cost estimate on
                          stderr; no key, no network
  --emulator              run against an in-process emulator of the API (offline demo, no key; its
                          answers are made up; its ledger is in memory unless --ledger is given:
                          BATCH_ENRICH_LEDGER is ignored)
  -h, --help              this help
  --version               the version

Environment:
  ANTHROPIC_API_KEY       the API key (required unless --dry-run or --emulator); never printed or stored
  ANTHROPIC_BASE_URL      the API base URL (e.g. a 'batch-enrich emulator' started elsewhere)
  BATCH_ENRICH_LEDGER     the ledger path
  NO_COLOR                honoured (no colour is used)

Output: each input record comes out exactly once, in input order: enriched with the answer's
fields, or with _error: {type, message} (types: the API's error type such as overloaded_error,
expired, canceled, truncated, refusal, invalid_json, schema_mismatch, template, invalid_input,
empty_prompt, prompt_too_long, document_unsupported, document_encrypted, document_unreadable,
document_missing, document_too_many_pages, image_too_large, request_too_large, upload_failed; empty_prompt,
prompt_too_long and the document ones are never sent).

Exit codes:
  0  every record enriched
  1  a fatal error (named, with file and line where there is one)
  2  a usage error (bad option, missing key, template field missing from the CSV header or the
     first NDJSON record, an output that is the input, an output that cannot be written, work
     already submitted under another API identity, or, before anything is sent: an unknown or
     retired model, --max-tokens over its limit, a schema structured outputs refuse)
  3  finished, but some records carry _error
  75  --no-wait: answers are still pending (nothing written); run the same command again later
  130, 143  interrupted by SIGINT or SIGTERM (submitted batches stay in the ledger; rerun to resume)

Examples:
  # offline demo: ticket triage on the bundled sample, against the built-in emulator
  batch-enrich --emulator --transform ticket-triage fixtures/csv/tickets.csv

  # triage tickets from a CSV into NDJSON
  cat tickets.csv | batch-enrich --transform ticket-triage > triaged.ndjson

  # your own prompt and JSON Schema, CSV out, failed rows aside
  batch-enrich --prompt 'Extract the company from: {{bio}}' --schema company.schema.json \\
    --output-format csv --errors failed.ndjson people.csv > companies.csv

  # see exactly what would be sent, without a key
  batch-enrich --dry-run --transform invoice-extraction fixtures/ndjson/invoices.ndjson | head -1

  # a folder of invoices (PDFs, scans, e-mails), offline against the emulator
  batch-enrich --emulator --transform invoice-extraction fixtures/documents/invoices/
`;

const OPTIONS = {
  prompt: { type: 'string' },
  'prompt-file': { type: 'string' },
  system: { type: 'string' },
  'system-file': { type: 'string' },
  schema: { type: 'string' },
  transform: { type: 'string' },
  model: { type: 'string' },
  'max-tokens': { type: 'string' },
  into: { type: 'string' },
  'id-field': { type: 'string' },
  'allow-missing': { type: 'boolean' },
  attach: { type: 'string', multiple: true },
  upload: { type: 'string' },
  'oversized-image': { type: 'string' },
  'input-format': { type: 'string' },
  delimiter: { type: 'string', short: 'd' },
  tsv: { type: 'boolean' },
  'no-header': { type: 'boolean' },
  encoding: { type: 'string' },
  limit: { type: 'string' },
  excel: { type: 'boolean' },
  'safe-csv': { type: 'boolean' },
  'output-format': { type: 'string' },
  output: { type: 'string', short: 'o' },
  errors: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  progress: { type: 'boolean' },
  'batch-size': { type: 'string' },
  'flush-after': { type: 'string' },
  'max-in-flight': { type: 'string' },
  'poll-min': { type: 'string' },
  'poll-max': { type: 'string' },
  ledger: { type: 'string' },
  job: { type: 'string' },
  'max-attempts': { type: 'string' },
  'cancel-on-exit': { type: 'boolean' },
  'no-wait': { type: 'boolean' },
  'new-identity': { type: 'boolean' },
  prices: { type: 'string' },
  'max-cost': { type: 'string' },
  summary: { type: 'string' },
  meta: { type: 'boolean' },
  sample: { type: 'string' },
  mode: { type: 'string' },
  concurrency: { type: 'string' },
  deadline: { type: 'string' },
  'dry-run': { type: 'boolean' },
  emulator: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>['values'];

/** Runs the command; resolves with the exit code. Never calls `process.exit()`. */
export async function enrichCommand(argv: string[], io: CliIo): Promise<number> {
  const say = (line: string) => io.stderr.write(`batch-enrich: ${line}\n`);
  try {
    return await run(argv, io, say);
  } catch (error) {
    if (isBrokenPipe(error)) return EXIT.OK;
    if (isBatchEnrichError(error) && error.code === 'BE_PENDING') {
      say(error.message);
      return EXIT.PENDING;
    }
    if (isBatchEnrichError(error) && USAGE_CODES.has(error.code)) {
      say(error.code === 'BE_NO_API_KEY' ? error.message.replace(NO_API_KEY_LIBRARY, 'or use --dry-run to see the requests, or --emulator to run offline') : error.message);
      if (error.code !== 'BE_NO_API_KEY' && error.code !== 'BE_IDENTITY') io.stderr.write(`Try 'batch-enrich --help'.\n`);
      return EXIT.USAGE;
    }
    say(error instanceof Error ? error.message : String(error));
    return EXIT.FATAL;
  }
}

async function run(argv: string[], io: CliIo, sayPlain: (line: string) => void): Promise<number> {
  // While the progress view is up, messages are printed above it (else they would be drawn over).
  let progress: Progress | undefined;
  const say = (line: string) => (progress ? progress.say(line) : sayPlain(line));
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const option = /Unknown option '([^']+)'/.exec((error as Error).message)?.[1];
    const near = option?.startsWith('--') ? closest(option.slice(2).split('=')[0] ?? '', Object.keys(OPTIONS)) : undefined;
    throw usage(option ? `unknown option ${option}${near ? `; did you mean --${near}?` : ''}` : (error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(values.transform ? describeRecipe(await loadRecipe(values.transform)) : USAGE);
    return EXIT.OK;
  }
  if (values.version) {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT.OK;
  }
  if (positionals.length > 1) throw usage(`expected at most one input FILE, got ${positionals.length}: ${shown(positionals)}`);
  const file = positionals[0] ?? '-';

  const config = await resolveConfig(values);
  // Before paying: what the API would refuse for every row, from the model registry (core/preflight.ts);
  // online, a model the registry does not know is looked up by the library (GET /v1/models/{id}).
  const problem = jobProblem({ model: config.model, maxTokens: config.maxTokens, answerSchema: config.answer?.jsonSchema });
  if (problem && (findModel(config.model) || values['dry-run'] || values.emulator)) throw usage(problem);
  const cacheNote = cacheNotice(config.system, config.model);
  if (cacheNote && !values.quiet) say(cacheNote);
  const cachedPrefix = Boolean(config.system) && cacheNote === undefined;
  const documents = documentInput(file, { inputFormat: values['input-format'], attach: values.attach, upload: values.upload, oversizedImage: values['oversized-image'] }, config.attach);
  if (config.documentAnswer && (documents.files || values.attach)) config.answer = config.documentAnswer;
  const inputFormat = documents.files
    ? undefined
    : ((values.tsv ? 'tsv' : undefined) ?? choice<InputFormat>('--input-format', values['input-format'], ['csv', 'tsv', 'ndjson']) ?? formatFromName(file));
  const limit = integer('--limit', values.limit, 1, Number.MAX_SAFE_INTEGER);
  const delimiter = values.delimiter === undefined ? undefined : parseDelimiter(values.delimiter);
  if (values.delimiter !== undefined && delimiter === undefined) throw usage(`--delimiter must be one character (or \\t, tab, comma, semicolon, pipe), got ${shown(values.delimiter)}`);
  if (values.encoding !== undefined && !encodingExists(values.encoding)) throw usage(`--encoding: unknown encoding ${shown(values.encoding)} (e.g. utf-8, windows-1252, latin1, utf-16le)`);
  // Never destroy the input: an output that is the input (through links too) is refused before anything is read.
  const source = inputIdentity(file, io.stdin);
  refuseClobber(source, '--output', values.output, file);
  refuseClobber(source, '--errors', values.errors, file);
  refuseSameOutputs(values.output, values.errors);
  const outputFormat =
    choice<OutputFormat>('--output-format', values['output-format'], ['ndjson', 'csv']) ??
    (values.output?.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson');
  const batchSize = integer('--batch-size', values['batch-size'], 1, MAX_BATCH_REQUESTS);
  const maxAttempts = integer('--max-attempts', values['max-attempts'], 1, 100);
  const maxCost = dollars('--max-cost', values['max-cost']);
  const sampleSize = integer('--sample', values.sample, 1, MAX_BATCH_REQUESTS);
  const modeFlag = choice<'batch' | 'realtime' | 'auto'>('--mode', values.mode, ['batch', 'realtime', 'auto']) ?? 'batch';
  const concurrency = integer('--concurrency', values.concurrency, 1, 1000);
  const deadlineMs = duration('--deadline', values.deadline);
  if (deadlineMs !== undefined && modeFlag === 'realtime') throw usage('--deadline is for batch mode: in real time every answer comes at once anyway');
  if (sampleSize !== undefined && file === '-') throw usage('--sample needs a FILE: rows are picked evenly across the whole input, so it is read twice');
  const prices = values.prices ? loadPriceFile(values.prices) : DEFAULT_PRICES;
  if (maxCost !== undefined && !priceFor(config.model, prices)) {
    throw usage(`--max-cost: no price is known for the model ${config.model}, so its cost cannot be capped; give one with --prices FILE`);
  }
  const maxInFlight = integer('--max-in-flight', values['max-in-flight'], 1, 100);
  const flushAfter = seconds('--flush-after', values['flush-after']);
  const pollMin = seconds('--poll-min', values['poll-min']);
  const pollMax = seconds('--poll-max', values['poll-max']);

  // Without a key, what the ledger answered still comes out (the library stops at the first request
  // that needs the API, with exit 2).
  const apiKey = io.env['ANTHROPIC_API_KEY'];

  const openFile = async () => documents.input ?? (file === '-' ? io.stdin : await openInput(file));
  const input = await openFile();
  let inputColumns: string[] | undefined;
  const warned = new Set<string>();
  const warnOnce = (line: string) => {
    if (!warned.has(line)) say(line);
    warned.add(line);
  };
  const answerFields = config.into ? [config.into] : config.answer?.fields.length ? config.answer.fields : ['answer'];
  const checkColumns = (columns: string[]) => {
    inputColumns = columns;
    if (columns.length === 0) return; // empty input: nothing to check, nothing will be sent
    // A CSV of documents (an attached column) is checked against the document prompt.
    const withDocuments = config.documentPrompt !== undefined && documents.attach.some((field) => columns.includes(field));
    const missing = missingColumns(withDocuments ? (config.documentPrompt ?? config.prompt) : config.prompt, columns);
    if (missing.length > 0 && !values['allow-missing']) {
      throw usage(`${file === '-' ? '<stdin>' : file}:1: the prompt uses ${missing.map((m) => `{{${m}}}`).join(', ')}, but the header has no such column (columns: ${columns.join(', ')})`);
    }
  };
  const readOptions: ReadOptions = {
    format: inputFormat,
    file,
    onColumns: checkColumns,
    encoding: values.encoding,
    delimiter,
    header: !values['no-header'],
    onWarning: (line) => warnOnce(line),
  };
  // Records of documents are checked against the document prompt (a recipe's), when there is one.
  const firstChecks = { template: (documents.files || documents.attach.length > 0 ? config.documentPrompt : undefined) ?? config.prompt, answerFields, idField: values['id-field'], allowMissing: Boolean(values['allow-missing']), file, warn: warnOnce };
  const read = (chunks: AsyncIterable<Buffer | string>) => firstRows(checkFirstRecord(documents.read ? documents.read(chunks) : readRecords(readOptions)(chunks), firstChecks), limit);
  // Offline passes (--dry-run, the --max-cost estimate) see documents inline: nothing is uploaded.
  const offline = (records: AsyncIterable<SourceRecord>) =>
    documents.attach.length ? attachDocuments({ fields: documents.attach, baseDir: documents.baseDir, model: config.model, canUpload: false, oversizedImage: documents.oversizedImage, file })(records) : records;

  const spec = { model: config.model, maxTokens: config.maxTokens, prompt: config.prompt, system: config.system, answerSchema: config.answer?.jsonSchema, idField: config.idField, file };

  // One counting pass over a FILE serves both --mode auto and --sample (stdin cannot be read twice).
  let totalRows = 0;
  if (file !== '-' && (modeFlag === 'auto' || sampleSize !== undefined)) {
    for await (const _ of read(await openFile())) {
      // --mode auto alone needs to know only whether the file is small.
      if (++totalRows > AUTO_REALTIME_MAX_ROWS && sampleSize === undefined) break;
    }
  }
  // --mode auto: a small file goes through real time; anything else (and stdin) through batches.
  let mode: 'batch' | 'realtime' = modeFlag === 'realtime' ? 'realtime' : 'batch';
  if (modeFlag === 'auto' && file !== '-' && totalRows <= AUTO_REALTIME_MAX_ROWS) mode = 'realtime';
  if (values['dry-run']) {
    if (sampleSize !== undefined) throw usage('--sample runs a trial and --dry-run sends nothing: use one or the other');
    return dryRun(io, say, offline(read(input)), { ...spec, documentPrompt: config.documentPrompt }, prices, mode, config.answer?.jsonSchema);
  }

  // --sample: keep N of the rows, spread evenly over the input.
  let picked: Set<number> | undefined;
  if (sampleSize !== undefined) {
    picked = new Set(Array.from({ length: Math.min(sampleSize, totalRows) }, (_, i) => Math.floor((i * totalRows) / Math.min(sampleSize, totalRows))));
  }

  if (maxCost !== undefined) {
    if (file === '-') {
      say(`--max-cost: stdin cannot be estimated before it is read; the cap applies as batches are submitted`);
    } else {
      // A first, offline pass over the file (the sampled rows only, with --sample): refuse before any
      // create when even the estimate is over.
      const tally = new InputTally();
      for await (const record of toRequests({ ...spec, documentPrompt: config.documentPrompt })(offline(read(await openFile())))) {
        if (!picked || picked.has(record.seq)) tally.add(record);
      }
      const schema = config.answer?.jsonSchema;
      const line = estimateLine(tally, config.model, config.maxTokens, prices, cachedPrefix, mode, schema);
      // Against typical answers, not every answer using all of max_tokens (that refused jobs 10x under the cap).
      if ((tally.estimate(config.model, config.maxTokens, prices, cachedPrefix, mode, schema).lowUsd ?? 0) > maxCost) {
        throw usage(`${line}: over --max-cost ${usd(maxCost)}. Raise --max-cost, or try --sample N first to measure the real cost per row`);
      }
      if (!values.quiet) say(line);
    }
  }

  // Opened now, so a path that cannot be written is a named usage error before any batch (a run that
  // ends before committing them leaves no temporary file: see AtomicOutput).
  const outFile = values.output ? new AtomicOutput('--output', values.output) : undefined;
  const errorsFile = values.errors ? new AtomicOutput('--errors', values.errors) : undefined;
  const out = outFile?.stream ?? io.stdout;
  const errorsOut = errorsFile?.stream;
  const answerColumns = answerFields;
  const extraWarned = (name: string) => say(`warning: field ${shown(name)} is not in the CSV header and is left out of the CSV output`);
  const formatting = { format: outputFormat, inputColumns: () => inputColumns, answerColumns, onExtraField: extraWarned, bom: Boolean(values.excel), safe: Boolean(values['safe-csv']) };
  const formatOut = createFormatter(formatting);
  const errorsFormat = values.errors ? (formatFromName(values.errors) === 'csv' ? 'csv' : values.errors.toLowerCase().match(/\.(nd)?jsonl?$/) ? 'ndjson' : outputFormat) : outputFormat;
  const formatErrors = createFormatter({ ...formatting, format: errorsFormat });
  if ((values.excel || values['safe-csv']) && outputFormat !== 'csv' && errorsFormat !== 'csv') {
    throw usage(`${values.excel ? '--excel' : '--safe-csv'} is for CSV output: add --output-format csv (or -o FILE.csv)`);
  }

  // Opened before anything that keeps the process alive (the in-process emulator): a ledger that
  // cannot be opened ends the run at once. The in-process emulator dies with this process, so unless
  // --ledger is given its work is kept in memory only.
  const ledger = new Ledger(values.ledger ?? (values.emulator ? ':memory:' : defaultLedgerPath(io.env)));
  let emulator: { url: string; close(): Promise<void> } | undefined;
  let client: Anthropic | undefined;
  let key: string | undefined;
  if (values.emulator) {
    const { startEmulator } = await import('../emulator/index.ts');
    emulator = await startEmulator({});
    key = 'emulator';
    client = createClient({ apiKey: key, baseURL: emulator.url });
    if (!values.quiet) say('--emulator: the answers are made up by the offline emulator (deterministic filler text), not written by a model');
  } else if (apiKey) {
    key = apiKey;
    client = createClient({ apiKey: key, baseURL: io.env['ANTHROPIC_BASE_URL'] || undefined });
  }

  const counts = newCounts();
  const costs = newCostTotals();
  const uploadCounts = newUploadCounts();
  let batches = 0;
  let sentRealtime = false;
  const started = Date.now();
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    say(
      values['cancel-on-exit']
        ? `${signal}: stopping and canceling this run's batches; what was answered stays in the ledger ${ledger.path}; run the same command again to resume`
        : `${signal}: stopping; submitted batches keep running and stay in the ledger ${ledger.path}; run the same command again to resume`,
    );
    controller.abort(new BatchEnrichError('BE_ABORTED', `interrupted by ${signal}`));
  };
  let interrupted: NodeJS.Signals | undefined;
  const sigint = () => onSignal((interrupted = 'SIGINT'));
  const sigterm = () => onSignal((interrupted = 'SIGTERM'));
  process.once('SIGINT', sigint);
  process.once('SIGTERM', sigterm);
  const quiet = Boolean(values.quiet);
  const isTty = Boolean((io.stderr as { isTTY?: boolean }).isTTY);
  progress = createProgress({
    stream: io.stderr,
    style: quiet ? 'off' : values.progress || isTty ? 'tty' : 'lines',
    counts,
    costs,
    describe,
    uploads: uploadCounts,
  });
  const view = progress;

  try {
    await pipeline(
      input,
      async function* countRead(chunks: AsyncIterable<Buffer | string>) {
        for await (const record of read(chunks)) {
          if (picked && !picked.has(record.seq)) continue;
          view.read();
          yield record;
        }
      },
      enrichStage({
        prompt: config.prompt.source,
        ...(config.system === undefined ? {} : { system: config.system }),
        ...(config.answer ? { schema: config.answer.jsonSchema } : {}),
        model: config.model,
        maxTokens: config.maxTokens,
        ...(config.into === undefined ? {} : { into: config.into }),
        ...(config.idField === undefined ? {} : { idField: config.idField }),
        ...(documents.attach.length ? { attach: documents.attach, baseDir: documents.baseDir, upload: documents.upload, uploadCounts } : {}),
        ...(documents.oversizedImage === undefined ? {} : { oversizedImage: documents.oversizedImage }),
        ...(config.documentPrompt === undefined ? {} : { documentPrompt: config.documentPrompt.source }),
        ...(client ? { client, apiKey: key } : { baseURL: io.env['ANTHROPIC_BASE_URL'] || undefined }),
        ledger,
        ...(picked ? { batchSize: Math.max(picked.size, 1) } : batchSize === undefined ? {} : { batchSize }),
        ...(maxInFlight === undefined ? {} : { maxInFlight }),
        ...(flushAfter === undefined ? {} : { flushAfterMs: flushAfter * 1000 }),
        ...(pollMin === undefined ? {} : { pollMinMs: pollMin * 1000 }),
        ...(pollMax === undefined ? {} : { pollMaxMs: pollMax * 1000 }),
        file,
        counts,
        job: values.job ?? defaultJobName(file, config),
        ...(maxAttempts === undefined ? {} : { maxAttempts }),
        ...(values['cancel-on-exit'] ? { cancelOnAbort: true } : {}),
        ...(values['no-wait'] ? { noWait: true } : {}),
        ...(values['new-identity'] ? { allowOtherIdentity: true } : {}),
        signal: controller.signal,
        prices,
        costs,
        ...(maxCost === undefined ? {} : { maxCostUsd: maxCost }),
        ...(values.meta ? { meta: true } : {}),
        mode,
        ...(concurrency === undefined ? {} : { concurrency }),
        ...(deadlineMs === undefined ? {} : { deadline: started + deadlineMs }),
        onEvent: (event) => {
          if (event.type === 'submitted' || event.type === 'adopted' || event.type === 'following') batches++;
          if (event.type === 'realtime') sentRealtime = true;
          view.event(event);
        },
      }),
      async function* format(records: AsyncIterable<Record<string, unknown>>) {
        const toErrors = async (text: string) => {
          if (errorsOut && text && !errorsOut.write(text)) await once(errorsOut, 'drain');
        };
        for await (const record of records) {
          // By the error we set, not by the field: an input column named _error is data.
          if (errorsOut && isFailed(record)) await toErrors(formatErrors(record));
          else yield formatOut(record);
        }
        await toErrors(formatErrors.end());
        yield formatOut.end();
      },
      coalesce(),
      out,
    );
    // Complete: only now do the files replace what was there.
    await errorsFile?.commit();
    await outFile?.commit();
  } catch (error) {
    // Incomplete: -o and --errors are left as they were.
    errorsFile?.discard();
    outFile?.discard();
    if (interrupted) return interrupted === 'SIGINT' ? 130 : 143;
    throw error;
  } finally {
    progress.stop();
    progress = undefined;
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
    ledger.close();
    await emulator?.close();
  }

  const summary = {
    ...summarize(counts, costs, batches, Date.now() - started, sentRealtime ? (batches > 0 ? 'batch+realtime' : 'realtime') : 'batch'),
    ...(documents.attach.length ? { files_uploaded: uploadCounts.uploaded, upload_bytes: uploadCounts.bytes, files_reused: uploadCounts.reused } : {}),
  };
  if (!quiet) for (const line of [...summaryLines(summary), uploadLine(uploadCounts) ?? []].flat()) say(line);
  else if (counts.failed > 0) say(summaryLines(summary)[0] ?? '');
  if (values.summary) writeFileSync(values.summary, `${JSON.stringify(summary, null, 2)}\n`);
  if (picked) say(sampleReport(summary, totalRows));
  return counts.failed > 0 ? EXIT.PARTIAL : EXIT.OK;
}

interface Config {
  prompt: ReturnType<typeof compileTemplate>;
  system: string | undefined;
  answer: ReturnType<typeof resolveAnswerSchema> | undefined;
  model: string;
  maxTokens: number;
  into: string | undefined;
  idField: string | undefined;
  attach: readonly string[] | undefined;
  documentPrompt: ReturnType<typeof compileTemplate> | undefined;
  /** The recipe's answer for whole documents, used when the input is documents. */
  documentAnswer: ReturnType<typeof resolveAnswerSchema> | undefined;
}

/** Options and recipe → one config; flags win over the recipe. */
async function resolveConfig(values: Values): Promise<Config> {
  const recipe = values.transform ? await loadRecipe(values.transform) : undefined;
  if (values.prompt !== undefined && values['prompt-file'] !== undefined) throw usage('use either --prompt or --prompt-file, not both');
  if (values.system !== undefined && values['system-file'] !== undefined) throw usage('use either --system or --system-file, not both');
  const promptText = values.prompt ?? (values['prompt-file'] ? readText('--prompt-file', values['prompt-file']) : recipe?.prompt);
  if (!promptText) throw usage('no prompt: give --prompt TEMPLATE, --prompt-file FILE or --transform RECIPE');
  const system = values.system ?? (values['system-file'] ? readText('--system-file', values['system-file']) : recipe?.system);
  let answer: Config['answer'];
  if (values.schema) {
    let json: unknown;
    try {
      json = JSON.parse(readText('--schema', values.schema));
    } catch (error) {
      if (isBatchEnrichError(error)) throw error;
      throw usage(`--schema ${values.schema}: not valid JSON (${(error as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw usage(`--schema ${values.schema}: expected a JSON Schema object`);
    answer = resolveAnswerSchema(json as JSONSchema, values.schema);
  } else if (recipe?.schema) {
    answer = resolveAnswerSchema(recipe.schema, `recipe ${recipe.name}`);
  }
  let prompt;
  try {
    prompt = compileTemplate(promptText);
  } catch (error) {
    throw usage((error as Error).message);
  }
  return {
    prompt,
    system: system || undefined,
    answer,
    model: values.model ?? recipe?.model ?? DEFAULT_MODEL,
    maxTokens: integer('--max-tokens', values['max-tokens'], 1, 1_000_000) ?? recipe?.maxTokens ?? DEFAULT_MAX_TOKENS,
    into: values.into ?? recipe?.into,
    idField: values['id-field'] ?? recipe?.idField,
    attach: recipe?.attach,
    documentAnswer: recipe?.documentSchema && !values.schema ? resolveAnswerSchema(recipe.documentSchema, `recipe ${recipe.name}`) : undefined,
    // A --prompt of your own is used for every record; a recipe's document prompt only with its own prompt.
    documentPrompt: recipe?.documentPrompt && values.prompt === undefined && values['prompt-file'] === undefined ? compileTemplate(recipe.documentPrompt) : undefined,
  };
}

/** `--dry-run`: the requests, one JSON line each, then the cost estimate; records that cannot become requests go to stderr. */
async function dryRun(io: CliIo, say: (line: string) => void, records: AsyncIterable<SourceRecord>, spec: PrepareOptions, prices: PriceTable, mode: 'batch' | 'realtime', answerSchema: JSONSchema | undefined): Promise<number> {
  const tally = new InputTally();
  const estimate = () => estimateLine(tally, spec.model, spec.maxTokens, prices, Boolean(spec.system) && !cacheNotice(spec.system, spec.model), mode, answerSchema);
  try {
    await pipeline(
    toRequests(spec)(records),
    async function* lines(prepared) {
      for await (const record of prepared) {
        tally.add(record);
        if (record.error) {
          say(record.error.message);
        } else if (record.key !== undefined && record.spec !== undefined && record.messages !== undefined) {
          yield `${requestLine(labeledKey(record.key, record.label), `${record.spec.head}${elideBase64(record.messages)}${record.spec.tail}`)}\n`;
        }
      }
    },
    coalesce(),
    io.stdout,
    );
  } catch (error) {
    if (!isBrokenPipe(error)) throw error;
    // `| head`: the output was closed; the estimate covers what was read by then, and says so.
    say(`${estimate()} (only the first ${tally.requests} requests: the output was closed)`);
    return EXIT.OK;
  }
  say(estimate());
  return tally.failed > 0 ? EXIT.PARTIAL : EXIT.OK;
}

function readText(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw usage(`${flag} ${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function choice<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw usage(`${flag} must be one of ${allowed.join(', ')}, got ${shown(value)}`);
  return value as T;
}

function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw usage(`${flag} must be a whole number from ${min} to ${max}, got ${shown(value)}`);
  return n;
}

/** `90s`, `45m`, `2h`, `1h30m` → ms. */
function duration(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(value.trim());
  const ms = match ? (Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0)) * 1000 : Number.NaN;
  if (!match || value.trim() === '' || !(ms > 0)) throw usage(`${flag} must be a duration such as 90s, 45m, 2h or 1h30m, got ${shown(value)}`);
  return ms;
}

function dollars(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.replace(/^\$/, ''));
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw usage(`${flag} must be a positive amount of US dollars, got ${shown(value)}`);
  return n;
}

function seconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw usage(`${flag} must be a positive number of seconds, got ${shown(value)}`);
  return n;
}

/** What a `--sample` run says about the whole job. */
function sampleReport(s: ReturnType<typeof summarize>, totalRows: number): string {
  const rows = s.records_ok + s.records_failed;
  const share = (n: number) => `${rows === 0 ? 0 : Math.round((n / rows) * 100)}%`;
  const truncated = s.failed_by_type['truncated'] ?? 0;
  const invalid = (s.failed_by_type['schema_mismatch'] ?? 0) + (s.failed_by_type['invalid_json'] ?? 0);
  const perRow = rows === 0 ? 0 : s.cost_usd / rows;
  return (
    `sample of ${rows} of ${totalRows.toLocaleString('en')} rows: ${share(s.records_ok)} valid, ${share(truncated)} truncated, ` +
    `${share(invalid)} not matching the schema, ${share(s.records_failed - truncated - invalid)} failed otherwise; ` +
    `${usd(perRow)} per row, so about ${usd(perRow * totalRows)} for the whole input at ${s.mode === 'batch' ? 'batch' : 'real-time'} prices (before retries)`
  );
}

/** Errors the user fixes by changing the command or its environment: exit code 2. */
const USAGE_CODES: ReadonlySet<string> = new Set(['BE_USAGE', 'BE_NO_API_KEY', 'BE_INVALID_OPTION', 'BE_TEMPLATE', 'BE_IDENTITY']);

/** The job a run belongs to when `--job` is not given: the input's name and the request settings. */
function defaultJobName(file: string, config: Config): string {
  const settings = JSON.stringify([config.prompt.source, config.system, config.answer?.jsonSchema, config.model, config.maxTokens]);
  return `${file === '-' ? 'stdin' : basename(file)}-${createHash('sha256').update(settings).digest('hex').slice(0, 8)}`;
}

function usage(message: string): BatchEnrichError {
  return new BatchEnrichError('BE_USAGE', message);
}

function describe(event: BatchEvent): string {
  switch (event.type) {
    case 'submitted':
      return `batch ${event.batchId} submitted: ${event.requests} request${event.requests === 1 ? '' : 's'}, ${formatBytes(event.bytes)}`;
    case 'adopted':
      return `batch ${event.batchId}: found and adopted (its create had failed or was interrupted; its results carry our nonce): ${event.requests} requests, not submitted again`;
    case 'canceled':
      return event.error === undefined ? `batch ${event.batchId}: cancel accepted` : `batch ${event.batchId}: cannot cancel: ${event.error}`;
    case 'not-ours':
      return `batch ${event.batchId}: has our request count but not our requests (another job on this key); left untouched`;
    case 'waiting': {
      const seen = event.lastSeenMs === null ? '' : `, last seen ${Math.round(event.lastSeenMs / 1000)} s ago`;
      return `waiting for run ${event.run} (pid ${event.pid} on ${event.host ?? 'an unknown host'}, running for ${Math.round(event.ageMs / 1000)} s${seen}): it is creating a batch of ${event.requests} of these requests; it is taken for dead if its heartbeat stops`;
    }
    case 'following':
      return `batch ${event.batchId}: submitted by an earlier run, following it`;
    case 'requeued': {
      const reasons = Object.entries(event.reasons).map(([reason, n]) => `${reason}: ${n}`).join(', ');
      return `batch ${event.batchId}: ${event.requests} request${event.requests === 1 ? '' : 's'} will be tried again (${reasons})`;
    }
    case 'released':
      return event.requests > 0
        ? `batch ${event.batchId ?? '(never created)'}: ${event.requests} requests will be submitted again: ${event.reason}`
        : `batch ${event.batchId ?? '(never created)'}: ${event.reason}`;
    case 'ended': {
      const c = event.counts;
      return `batch ${event.batchId} ended: ${c.succeeded} succeeded, ${c.errored} errored, ${c.expired} expired, ${c.canceled} canceled`;
    }
    case 'retry':
      return `${event.what}: ${event.message}; trying again in ${(event.delayMs / 1000).toFixed(1)} s`;
    case 'realtime':
      return `real time: ${event.requests} request${event.requests === 1 ? '' : 's'} sent (at most ${event.concurrency} at once)`;
    case 'concurrency':
      return `real time: now at most ${event.limit} calls at once (${event.reason})`;
    case 'deadline':
      return `deadline: canceling ${event.canceling} running batch${event.canceling === 1 ? '' : 'es'}; their answers are kept and the rest is finished in real time`;
    case 'budget':
      return event.canceling !== undefined
        ? `budget: the costs so far project $${event.projectedUsd.toFixed(4)}, over --max-cost $${event.maxUsd}; canceling ${event.canceling} batch${event.canceling === 1 ? '' : 'es'} in flight, and nothing more is submitted`
        : `budget: submitting ${event.requests} more requests could bring the cost to $${event.projectedUsd.toFixed(4)}, over --max-cost $${event.maxUsd}; nothing more is submitted`;
  }
}

function packageVersion(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../..', '../..']) {
    const path = join(here, up, 'package.json');
    if (existsSync(path)) return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

