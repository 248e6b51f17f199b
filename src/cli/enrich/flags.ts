/**
 * The flags of the default command, `batch-enrich [options] [FILE]`: one table that gives the parser
 * its options, the values their types and defaults, and `--help` its option list (see `../flags.ts`).
 */
import { statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_MAX_TOKENS, DEFAULT_MODEL } from '../../enrich.ts';
import { POLL_MAX_MS, POLL_MIN_MS } from '../../core/backoff.ts';
import { DEFAULT_MAX_ATTEMPTS } from '../../core/retry.ts';
import { encodingExists } from '../../core/encoding.ts';
import { RESERVED_FIELDS, RESERVED_FIELDS_RULE } from '../../core/result.ts';
import { parseDelimiter } from '../../core/sniff.ts';
import { parseShard, type Shard } from '../../core/shard.ts';
import { shown, usageError } from '../../errors.ts';
import { DEFAULT_CONCURRENCY, DEFAULT_FLUSH_AFTER_MS, DEFAULT_MAX_IN_FLIGHT, MAX_BATCH_REQUESTS } from '../../stages/batch.ts';
import { choice, dollars, duration, integer, jobName, positive, renderFlags, type Coerce, type HelpSection } from '../flags.ts';

/** `--mode auto` sends a FILE of at most this many rows in real time: a batch's wait is not worth the saving. */
export const AUTO_REALTIME_MAX_ROWS = 100;

const delimiter: Coerce<string> = (raw, flag) => {
  const char = parseDelimiter(raw);
  if (char === undefined) throw usageError(`${flag}: expected one character (or \\t, tab, comma, semicolon, pipe), got ${shown(raw)}`);
  return char;
};

/** `--into`: a field of its own (`_error` and `_meta` are ours: the answer would be lost, or read as a failure). */
const answerField: Coerce<string> = (raw, flag) => {
  if (RESERVED_FIELDS.includes(raw)) throw usageError(`${flag}: expected ${RESERVED_FIELDS_RULE}, got ${shown(raw)}`);
  return raw;
};

const encoding: Coerce<string> = (raw, flag) => {
  if (!encodingExists(raw)) throw usageError(`${flag}: expected an encoding such as utf-8, windows-1252, latin1 or utf-16le, got ${shown(raw)}`);
  return raw;
};

/** `--files-under`: a folder that exists, as its absolute path. */
const folder: Coerce<string> = (raw, flag) => {
  let info: Stats;
  try {
    info = statSync(raw);
  } catch (error) {
    throw usageError(`${flag}: ${shown(raw)}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`}`);
  }
  if (!info.isDirectory()) throw usageError(`${flag}: ${shown(raw)} is not a folder`);
  return resolve(raw);
};

const shard: Coerce<Shard> = (raw, flag) => {
  try {
    return parseShard(raw);
  } catch (error) {
    throw usageError(`${flag}: ${(error as Error).message}`);
  }
};

const REQUEST = 'Request';
const IO = 'Input and output';
const DOCUMENTS = 'Documents (PDF, JPEG/PNG/GIF/WebP, text, .eml; the type is sniffed from the bytes)';
const BATCHING = 'Batching';
const RESUME = 'Resume and retries';
const COST = 'Cost';
const REALTIME = 'Real time';
const MODES = 'Modes';

/** The flags of `batch-enrich [options] [FILE]`. */
export const ENRICH_FLAGS = {
  prompt: { value: 'TEMPLATE', group: REQUEST, help: 'prompt over record fields: {{field}}, {{a.b}} (nested), {{field?}} (optional), {{$record}} (all, as JSON)', defaultText: "the recipe's" },
  'prompt-file': { value: 'FILE', group: REQUEST, help: 'read the prompt template from FILE; UTF-8, or UTF-16 after its byte order mark (as PowerShell writes it); another encoding is refused' },
  system: { value: 'TEXT', group: REQUEST, help: 'shared system prompt, sent as a cached prefix (cache_control ttl 1h)', defaultText: "the recipe's" },
  'system-file': { value: 'FILE', group: REQUEST, help: 'read the system prompt from FILE; UTF-8, or UTF-16 after its byte order mark (as PowerShell writes it); another encoding is refused' },
  schema: { value: 'FILE', group: REQUEST, help: 'JSON Schema of the answer (sent as output_config.format, checked on return); UTF-8, or UTF-16 after its byte order mark (as PowerShell writes it); another encoding is refused', defaultText: "the recipe's" },
  transform: { value: 'NAME|FILE', group: REQUEST, help: 'a recipe: ticket-triage, invoice-extraction, contract-clauses, or a .js module (batch-enrich recipes lists them; --transform NAME --help shows one)' },
  model: { value: 'NAME', group: REQUEST, help: 'model', defaultText: `the recipe's, else ${DEFAULT_MODEL}` },
  'max-tokens': { value: 'N', parse: integer(1, 1_000_000), group: REQUEST, help: "answer token limit (for every record: also replaces a recipe's own limit for records with documents)", defaultText: `the recipe's, else ${DEFAULT_MAX_TOKENS}` },
  into: { value: 'FIELD', parse: answerField, group: REQUEST, help: 'put the answer under FIELD (not _error or _meta)', defaultText: "merge an object answer at the top level; a free-text answer goes to 'answer'" },
  'id-field': { value: 'NAME', group: REQUEST, help: "show this field's value in each custom_id (a label: never changes what is paid)", defaultText: "the recipe's" },
  'allow-missing': { group: REQUEST, help: 'let records lack template fields, --id-field or an --attach field', defaultText: 'a field missing from the CSV header or the first NDJSON record is a usage error; later ones _error' },

  'input-format': { value: 'csv|tsv|ndjson|paths', parse: choice(['csv', 'tsv', 'ndjson', 'paths']), group: IO, help: 'the input format (ndjson reads a JSON array of objects, and pretty-printed objects one after another, too); paths: one file path a line (or NUL-separated, as find -print0 writes), one record per file (path, name, bytes, sha256)', defaultText: "from FILE's extension (also under .gz), else sniffed from the first byte" },
  delimiter: { value: 'CHAR', short: 'd', parse: delimiter, group: IO, help: "CSV field delimiter (',' ';' '|' or \\t)", defaultText: "an Excel 'sep=X' first line, else sniffed from the header" },
  tsv: { group: IO, help: 'the input is TSV: tab-separated, no quoting (as --input-format tsv)' },
  'no-header': { group: IO, help: 'CSV/TSV without a header row: the columns are named 1, 2, ...' },
  encoding: { value: 'NAME', parse: encoding, group: IO, help: "the input's encoding, e.g. windows-1252, latin1, utf-16le", defaultText: 'a BOM, else UTF-8 when valid, else detected and said on stderr' },
  limit: { value: 'N', parse: integer(1, Number.MAX_SAFE_INTEGER), group: IO, help: 'read only the first N records (a cheap trial, with --sample or alone)' },
  'output-format': { value: 'ndjson|csv', parse: choice(['ndjson', 'csv']), group: IO, help: "the output format (without it, an --output or --errors named .xlsx, .tsv, .gz and the like is refused)", defaultText: "from --output's extension, else ndjson" },
  output: { value: 'FILE', short: 'o', group: IO, help: 'write records to FILE instead of stdout (written whole at the end: a killed run leaves the old FILE; FILE may not be the input or the ledger; - is stdout)', defaultText: 'stdout' },
  errors: { value: 'FILE', group: IO, help: 'write records that carry _error to FILE instead of the output' },
  excel: { group: IO, help: 'CSV output starts with a UTF-8 BOM, so Excel reads accents right' },
  'safe-csv': { group: IO, help: "CSV output: cells starting with = + - @ (not plain numbers) get a leading ' so a spreadsheet shows them instead of running them as formulas" },
  progress: { group: IO, help: 'a live status view on stderr even when it is not a terminal', defaultText: 'the view on a terminal, else one line per batch event' },
  quiet: { short: 'q', group: IO, help: 'no progress and no summary on stderr (errors, budget stops, failed-record counts, e-mail attachments not sent, batches a stop left running, batches of earlier tries this one does not need, creates whose batches are left to the next try, and an --errors FILE a closed output left unwritten are still printed)' },

  attach: { value: 'FIELD', multiple: true, group: DOCUMENTS, help: "a field holding a document path (relative to FILE's folder, or the working directory for stdin) or an https URL; repeatable", defaultText: "the recipe's, e.g. file" },
  upload: { value: 'files|inline|auto', parse: choice(['files', 'inline', 'auto']), default: 'auto', group: DOCUMENTS, help: 'how PDFs and images travel: inline base64, or uploaded once to the Files API and referred to by file_id (auto: files of 512 KB or more are uploaded)' },
  'files-under': { value: 'DIR', parse: folder, group: DOCUMENTS, help: "read documents only from DIR (links followed): a path outside it, in a field such as file, is that record's _error, never read; for input written by others, whose paths could name ../../etc/passwd or ~/.aws/credentials", defaultText: 'any path' },
  'oversized-image': { value: 'downsize|error', parse: choice(['downsize', 'error']), group: DOCUMENTS, help: 'an image over 8000 px a side (2000 px with more than 20 in a request): downsize: sent for the API to scale down; error: _error image_too_large', defaultText: 'error' },

  'batch-size': { value: 'N', parse: integer(1, MAX_BATCH_REQUESTS), default: MAX_BATCH_REQUESTS, group: BATCHING, help: `requests per batch, 1-${MAX_BATCH_REQUESTS}; 256 MB also caps a batch` },
  'flush-after': { value: 'SECONDS', parse: positive('seconds'), default: DEFAULT_FLUSH_AFTER_MS / 1000, group: BATCHING, help: 'submit a partial batch this long after its first request' },
  'max-in-flight': { value: 'N', parse: integer(1, 100), default: DEFAULT_MAX_IN_FLIGHT, group: BATCHING, help: 'batches running at once; reading waits for a free slot (--no-wait: a batch polled once and left running frees its slot, so every batch is submitted)' },
  'poll-min': { value: 'SECONDS', parse: positive('seconds'), default: POLL_MIN_MS / 1000, group: BATCHING, help: 'first poll interval; it doubles, with jitter, up to --poll-max' },
  'poll-max': { value: 'SECONDS', parse: positive('seconds'), default: POLL_MAX_MS / 1000, group: BATCHING, help: 'longest poll interval (at the default, an hour-long batch is polled 13 or 14 times)' },
  ledger: { value: 'PATH|URL', group: BATCHING, help: 'the ledger: a SQLite file, or a postgres:// URL (for jobs that move between machines, and workers sharing one job; the password is never stored or shown)', defaultText: '$BATCH_ENRICH_LEDGER, else ~/.cache/batch-enrich/ledger.db' },
  shard: { value: 'K/N', parse: shard, group: BATCHING, help: 'this worker takes every N-th record, from the K-th (N workers on one ledger, each writing its share in input order)', defaultText: 'every record' },

  job: { value: 'NAME', parse: jobName, group: RESUME, help: 'name the job in the ledger', defaultText: "the input's file name and a hash of the request settings and of its path" },
  'max-attempts': { value: 'N', parse: integer(1, 100), default: DEFAULT_MAX_ATTEMPTS, group: RESUME, help: 'tries per request for transient errors, expiry, truncation (doubled max_tokens) and, once, a schema-invalid answer' },
  'cancel-on-exit': { group: RESUME, help: "on Ctrl-C/SIGTERM/SIGHUP, cancel the job's running batches (this run's, and earlier runs' it follows) instead of leaving them to finish" },
  'no-wait': { group: RESUME, help: 'submit now, collect later: submit (or follow) everything, and if answers are still pending exit 75 writing nothing; rerun the same command until it exits 0 (schedulers)' },
  'new-identity': { group: RESUME, help: 'submit again what another API identity (base URL or key) already submitted, paying again' },

  'max-cost': { value: 'USD', parse: dollars, group: COST, help: 'refuse to start when the estimate (typical answers, no cache hit; see --dry-run) is over USD, and submit a batch only when it fits with the cost so far and the estimates of batches in flight (waiting for those to end, when they do in this run); records not submitted (or not retried) get _error budget_exceeded' },
  prices: { value: 'FILE', group: COST, help: 'a JSON price table over the built-in one (USD per million tokens): {"models": {"claude-x": {"input": 1, "output": 5, "cacheRead": 0.1}}}' },
  summary: { value: 'FILE', group: COST, help: "write the run's summary as JSON (records_ok, records_failed, batches, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, cost_usd, realtime_cost_usd, ...)" },
  meta: { group: COST, help: 'add _meta to every record: custom_id, batch id, model, attempt, tokens, cost' },
  sample: { value: 'N', parse: integer(1, MAX_BATCH_REQUESTS), group: COST, help: 'a trial before the full spend: run N rows picked evenly from FILE as one batch, print their answers, report the share of valid, truncated and failed answers, the cost per row and the projected cost of the whole input, and stop' },

  mode: { value: 'batch|realtime|auto', parse: choice(['batch', 'realtime', 'auto']), default: 'batch', group: REALTIME, help: `batch: Message Batches, half price, up to 24 h. realtime: each request through the Messages API, answers now, full price. auto: real time when FILE has at most ${AUTO_REALTIME_MAX_ROWS} rows, else batch (stdin: batch)` },
  concurrency: { value: 'N', parse: integer(1, 1000), default: DEFAULT_CONCURRENCY, group: REALTIME, help: 'real-time calls at once; halved on 429/529, grown back after successes' },
  deadline: { value: 'DURATION', parse: duration, group: REALTIME, help: 'batch mode: when batches are not done by then (e.g. 90m, 2h, 45s), cancel them, keep the answers they produced and finish the rest in real time' },

  'dry-run': { group: MODES, help: 'print the batch requests the run would send as JSONL on stdout (with the key set, those the ledger holds as sent or answered are left out), and the cost estimate on stderr; needs no key; nothing sent to the API (a PostgreSQL ledger is read for the notes of a folder), no output file' },
  emulator: { group: MODES, help: 'run against an in-process emulator of the API (offline demo, no key; its answers are made up; its ledger is in memory unless --ledger is given: BATCH_ENRICH_LEDGER is ignored)' },
  help: { short: 'h', group: MODES, help: 'this help' },
  version: { group: MODES, help: 'the version' },
} as const;

const SECTIONS: HelpSection[] = [
  { title: REQUEST },
  { title: IO, after: 'gzip input is decompressed; Parquet, XLSX and other binary files are refused.' },
  {
    title: DOCUMENTS,
    before: 'FILE may be a folder: one record per file in it (recursive), each file attached; or one document (a folder of one).',
    after: 'A file that cannot be sent (unsupported, encrypted, damaged, too many pages, image too large, more images and pages than a request takes, request over 32 MB) gets _error document_* / image_too_large / too_much_media / request_too_large, before anything is paid.',
  },
  { title: BATCHING },
  { title: RESUME, before: 'Re-running the same command resumes: answered requests come from the ledger, batches still running are followed, nothing already submitted is submitted again.' },
  { title: COST },
  { title: REALTIME },
  { title: MODES },
];

/** `batch-enrich --help`. */
export const USAGE = `Usage: batch-enrich [options] [FILE]
       batch-enrich status [--job NAME] [--json]   jobs and batches in the ledger, live from the API
       batch-enrich cancel BATCH_ID... | --job NAME
       batch-enrich results BATCH_ID               any batch's results as NDJSON
       batch-enrich gc [--older-than DAYS]         forget (and delete) old finished work
       batch-enrich emulator [options]             a local emulator of the API
       batch-enrich recipes                        the bundled recipes and the fields they read
       batch-enrich help [COMMAND]                 this help, or a command's
       (each command has its own --help; --transform NAME --help shows a recipe)

Enrich CSV, TSV, NDJSON or JSON-array records, or a folder of documents, with Claude through the
Message Batches API (half the price of real-time calls). Reads FILE, or stdin when FILE is absent or
'-'; writes NDJSON (or CSV) to stdout; progress and errors go to stderr. Work is kept in a ledger, so
re-running the same command after a crash resumes without paying twice.

${renderFlags(ENRICH_FLAGS, SECTIONS)}Environment:
  ANTHROPIC_API_KEY       the API key (required unless --dry-run or --emulator); never printed or stored
  ANTHROPIC_BASE_URL      the API base URL (e.g. a 'batch-enrich emulator' started elsewhere)
  BATCH_ENRICH_LEDGER     the ledger path
  NO_COLOR                honoured (no colour is used)

Output: each input record comes out exactly once, in input order: enriched with the answer's
fields, or with _error: {type, message} (types: the API's error type such as overloaded_error,
expired, canceled, truncated, refusal, invalid_json, schema_mismatch, template, invalid_input,
empty_prompt, prompt_too_long, document_unsupported, document_encrypted, document_unreadable,
document_missing, document_too_many_pages, image_too_large, too_much_media, request_too_large, upload_failed; empty_prompt,
prompt_too_long and the document ones are never sent).

Exit codes:
  0  every record enriched
  1  a fatal error (named, with file and line where there is one)
  2  a usage error (bad option, missing key, template field missing from the CSV header or the
     first NDJSON record, an output that is the input, an output that cannot be written, work
     already submitted under another API identity, or, before anything is sent: an unknown or
     retired model, --max-tokens over its limit, a schema structured outputs refuse)
  3  finished, but some records carry _error
  75  --no-wait: answers are still pending, or with batches in flight the API could not be
      reached or the ledger stopped answering, or the ledger could not be reached (or was busy,
      locked by another process) at the start (nothing written); run the same command again later
  130, 143, 129  interrupted by SIGINT, SIGTERM or SIGHUP (submitted batches stay in the ledger;
      rerun to resume)

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
