/**
 * One error class for everything batch-enrich throws, with a stable `code` and context as fields
 * (the csv-parse `CsvError` / undici `UND_ERR_*` pattern). Messages follow "What: detail, got X at line N"
 * so that a line read alone on stderr still says what went wrong and where.
 */

export type BatchEnrichErrorCode =
  | 'BE_USAGE' // the usage error: a bad flag, argument or option (CLI, emulator); exit code 2
  | 'BE_NO_API_KEY' // no key and neither --dry-run nor --emulator: exit code 2
  | 'BE_INVALID_OPTION' // a library option of `enrichStage`/`enrich` failed validation: a usage error (exit code 2)
  | 'BE_TEMPLATE' // a prompt template names a field the input lacks
  | 'BE_CSV_PARSE' // the CSV cannot be parsed: fatal
  | 'BE_INPUT' // the input cannot be read
  | 'BE_OUTPUT' // an output file cannot be written whole (a full disk)
  | 'BE_INVALID_RECORD' // one record is unusable (per-record, becomes `_error`)
  | 'BE_API' // the API failed after the SDK's own retries
  | 'BE_BATCH_FAILED' // a batch could not be completed
  | 'BE_LEDGER' // the ledger cannot be opened or is inconsistent
  | 'BE_IDENTITY' // the work was submitted under another API identity
  | 'BE_ABORTED' // stopped by a signal
  | 'BE_PENDING'; // noWait: answers are still pending (exit code 75)

export interface BatchEnrichErrorContext {
  file?: string;
  line?: number;
  customId?: string;
  batchId?: string;
  status?: number;
  requestID?: string;
  /** `BE_PENDING`: how many records wait for their answers. */
  records?: number;
  cause?: unknown;
}

export class BatchEnrichError extends Error {
  readonly code: BatchEnrichErrorCode;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly customId: string | undefined;
  readonly batchId: string | undefined;
  readonly status: number | undefined;
  readonly requestID: string | undefined;
  /** `BE_PENDING`: how many records wait for their answers (none was written). */
  readonly records: number | undefined;

  constructor(code: BatchEnrichErrorCode, message: string, context: BatchEnrichErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.file = context.file;
    this.line = context.line;
    this.customId = context.customId;
    this.batchId = context.batchId;
    this.status = context.status;
    this.requestID = context.requestID;
    this.records = context.records;
  }
}
Object.defineProperty(BatchEnrichError.prototype, 'name', { value: 'BatchEnrichError' });

/** True for errors thrown by batch-enrich (works across duplicate installs by checking the shape). */
export function isBatchEnrichError(error: unknown): error is BatchEnrichError {
  return (
    error instanceof Error &&
    error.name === 'BatchEnrichError' &&
    typeof (error as { code?: unknown }).code === 'string'
  );
}

/**
 * The codes of usage errors: what the user fixes by changing the command, its options or its
 * environment. The CLI exits 2 on each (`isUsageError`). `BE_USAGE` is the one usage error of the CLI
 * and the emulator; the others name a usage error precisely enough for a program to act on it.
 */
export const USAGE_CODES: ReadonlySet<BatchEnrichErrorCode> = new Set<BatchEnrichErrorCode>(['BE_USAGE', 'BE_INVALID_OPTION', 'BE_NO_API_KEY', 'BE_TEMPLATE', 'BE_IDENTITY']);

/**
 * The usage error: a bad flag, argument or option, worded `WHAT: problem, got VALUE` (the CLI exits 2).
 * @example
 * throw usageError(`--batch-size: expected a whole number from 1 to 100000, got ${shown(raw)}`);
 */
export function usageError(message: string, context: BatchEnrichErrorContext = {}): BatchEnrichError {
  return new BatchEnrichError('BE_USAGE', message, context);
}

/** True for an error the user fixes by changing the command (see `USAGE_CODES`): exit code 2. */
export function isUsageError(error: unknown): error is BatchEnrichError {
  return isBatchEnrichError(error) && USAGE_CODES.has(error.code);
}

/** A value shown inside an error message: JSON, truncated so one bad record cannot flood stderr. */
export function shown(value: unknown, max = 60): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
