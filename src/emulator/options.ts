/**
 * Emulator options: the one public options type, its defaults, and validation (zod, thrown from
 * `startEmulator` as the library's usage error, `BatchEnrichError` `BE_INVALID_OPTION`, naming the
 * option and the value, as `enrichStage` does).
 */
import { z } from 'zod';
import { BatchEnrichError, shown } from '../errors.ts';
import type { Responder } from './answer.ts';
import { ERROR_TYPES } from './api-error.ts';
import { MAX_BODY_BYTES, MAX_REQUESTS } from './validate.ts';
import { closest } from '../core/suggest.ts';
import { apiKeyProblem } from '../core/api-key.ts';

/** Options of `startEmulator` (all optional). */
export interface EmulatorOptions {
  /** TCP port; 0 picks a free one. _Default:_ 0. */
  port?: number;
  /** Interface to listen on. _Default:_ '127.0.0.1' (loopback only). */
  host?: string;
  /** Seed for every deterministic choice (ids, answers, faults, result order). _Default:_ 42. */
  seed?: number;
  /**
   * Mixed into every id it gives (batches, messages, files) and so into what is decided per batch:
   * an emulator started again in front of a ledger that outlived it must not give an id it gave
   * before (the real API never does; a ledger holds one row per remote batch). _Default:_ none: ids
   * follow from the seed alone.
   */
  idSalt?: string;
  /** The clock, in ms since the epoch; inject it to drive processing, expiry and archiving. _Default:_ Date.now. */
  now?: () => number;
  /** How long a batch stays `in_progress` (ms, by the clock). _Default:_ 0 (ended at the first look after create). */
  processingMs?: number;
  /** How long a canceled batch stays `canceling` (ms). _Default:_ 0. */
  cancelingMs?: number;
  /** Create body limit in bytes (413 `request_too_large` above it). _Default:_ 268435456 (256 MB). */
  maxBodyBytes?: number;
  /** Most requests per batch. _Default:_ 100000. */
  maxRequests?: number;
  /**
   * When given, only these API keys are accepted (401 otherwise); when none is given, any non-empty key
   * is, and the emulator listens on loopback only. Each key sees only the batches it created, as an
   * organisation does on the real API.
   */
  apiKeys?: string[];
  /** One accepted key (added to `apiKeys`). */
  apiKey?: string;
  /** A record-aware fake: answers a request, or `undefined` for the default generator. */
  responder?: Responder;
  /** Forward each batch request (and `/v1/messages`) to `POST {upstream}/v1/messages`. */
  upstream?: string;
  /** API key for the upstream; _Default:_ the caller's own key (required when `apiKeys` is set). */
  upstreamKey?: string;
  /** Most forwarded requests in flight at once. _Default:_ 8. */
  upstreamConcurrency?: number;
  /** Share (0..1) of control calls answered 429 `rate_limit_error` (with `retry-after`). _Default:_ 0. */
  faultRate429?: number;
  /** Share (0..1) of control calls answered 500 `api_error`. _Default:_ 0. */
  faultRate500?: number;
  /** Share (0..1) of control calls answered 529 `overloaded_error`. _Default:_ 0. */
  faultRate529?: number;
  /** The `retry-after` header (seconds) on injected 429s. _Default:_ 0. */
  retryAfterSeconds?: number;
  /** Share (0..1) of batch requests whose result is `errored`. _Default:_ 0. */
  erroredRate?: number;
  /**
   * The error type of those results: one of the API's nine (`invalid_request_error`, `authentication_error`,
   * `billing_error`, `permission_error`, `not_found_error`, `rate_limit_error`, `timeout_error`,
   * `api_error`, `overloaded_error`). _Default:_ 'overloaded_error'.
   */
  erroredType?: string;
  /** Share (0..1) of batch requests whose result is `expired`. _Default:_ 0. */
  expiredRate?: number;
  /** Share (0..1) of results downloads cut off half way (socket destroyed). _Default:_ 0. */
  cutResultsRate?: number;
  /** The first retrieve of each batch, and its first results download once ended, answer 404 `not_found_error`, as seen on the real API. _Default:_ false. */
  transient404?: boolean;
  /**
   * Share (0..1) of creates whose batch *is* created but whose answer is a 500, as when a gateway
   * times out or a connection drops after the API accepted the batch. _Default:_ 0.
   */
  lostCreateRate?: number;
  /**
   * Share (0..1) of `POST /v1/messages` calls whose answer is made (and, on the API, billed) and
   * broken off half way through its body (the connection reset): the case where sending it again
   * pays twice. _Default:_ 0.
   */
  lostMessageRate?: number;
  /** How long the answer to a create waits after the batch was made (a slow or stalled response). _Default:_ 0. */
  createLatencyMs?: number;
  /** A pause of this long half way through every results download (a slow download). _Default:_ 0. */
  resultsPauseMs?: number;
  /** Concurrent `POST /v1/messages` calls allowed; past it they get 429 (with `retry-after`). _Default:_ 0 (no limit). */
  messagesConcurrency?: number;
  /** How long each `POST /v1/messages` call takes. _Default:_ 0. */
  messagesLatencyMs?: number;
  /** Files API storage quota in bytes: an upload past it is refused (the quota fault). _Default:_ no limit. */
  filesQuotaBytes?: number;
  /** How long the answer to an upload waits after the file was stored (a slow upload; a kill then loses the answer). _Default:_ 0. */
  uploadLatencyMs?: number;
  /** Share (0..1) of uploads answered 529 `overloaded_error` before the file is stored. _Default:_ 0. */
  uploadFaultRate?: number;
  /** Called with one line per HTTP request (method, path, status, ms); never includes keys. */
  log?: (line: string) => void;
}

/** Options with defaults applied. */
export interface ResolvedOptions {
  port: number;
  host: string;
  seed: number;
  idSalt: string;
  now: () => number;
  processingMs: number;
  cancelingMs: number;
  maxBodyBytes: number;
  maxRequests: number;
  /** Accepted keys; empty: any non-empty key. */
  apiKeys: string[];
  responder: Responder | undefined;
  upstream: string | undefined;
  upstreamKey: string | undefined;
  upstreamConcurrency: number;
  faultRate429: number;
  faultRate500: number;
  faultRate529: number;
  retryAfterSeconds: number;
  erroredRate: number;
  erroredType: string;
  expiredRate: number;
  cutResultsRate: number;
  transient404: boolean;
  lostCreateRate: number;
  lostMessageRate: number;
  createLatencyMs: number;
  resultsPauseMs: number;
  messagesConcurrency: number;
  messagesLatencyMs: number;
  filesQuotaBytes: number | undefined;
  uploadLatencyMs: number;
  uploadFaultRate: number;
  log: ((line: string) => void) | undefined;
}

const rate = z.number().min(0).max(1).optional();
const nonNegInt = z.int().min(0).optional();

const optionsSchema = z.object({
  port: z.int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  seed: z.int().optional(),
  idSalt: z.string().optional(),
  processingMs: z.number().min(0).optional(),
  cancelingMs: z.number().min(0).optional(),
  maxBodyBytes: nonNegInt,
  maxRequests: z.int().min(1).optional(),
  apiKey: z.string().min(1).optional(),
  apiKeys: z.array(z.string().min(1)).optional(),
  upstream: z.url().optional(),
  upstreamKey: z.string().min(1).optional(),
  upstreamConcurrency: z.int().min(1).optional(),
  faultRate429: rate,
  faultRate500: rate,
  faultRate529: rate,
  retryAfterSeconds: z.number().min(0).optional(),
  erroredRate: rate,
  // One of the API's error types (helper-79 #10: any string was taken, and an errored result carried it).
  erroredType: z.enum(ERROR_TYPES, { error: `expected one of ${ERROR_TYPES.join(', ')}` }).optional(),
  expiredRate: rate,
  cutResultsRate: rate,
  transient404: z.boolean().optional(),
  lostCreateRate: rate,
  lostMessageRate: rate,
  createLatencyMs: z.number().min(0).optional(),
  resultsPauseMs: z.number().min(0).optional(),
  messagesConcurrency: z.int().min(0).optional(),
  messagesLatencyMs: z.number().min(0).optional(),
  filesQuotaBytes: nonNegInt,
  uploadLatencyMs: z.number().min(0).optional(),
  uploadFaultRate: rate,
}).strict();

/** A bad option: the library's usage error (the CLI exits 2 on it). */
function invalid(message: string): BatchEnrichError {
  return new BatchEnrichError('BE_INVALID_OPTION', message);
}

/** Applies defaults and validates; throws `BE_INVALID_OPTION` naming the bad option. */
export function resolveOptions(options: EmulatorOptions = {}): ResolvedOptions {
  const { now, responder, log, ...plain } = options;
  const parsed = optionsSchema.safeParse(plain);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // An option it does not know (helper-77: `fault429` injected nothing, silently), with the closest it does.
    if (issue?.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? '?';
      const near = closest(key, [...Object.keys(optionsSchema.shape), 'now', 'responder', 'log']);
      throw invalid(`unknown option \`${key}\`${near ? ` (did you mean \`${near}\`?)` : ''}`);
    }
    const key = issue?.path.join('.') ?? '?';
    throw invalid(`\`${key}\`: ${issue?.message ?? 'invalid'}, got ${shown((plain as Record<string, unknown>)[key])}`);
  }
  const o = parsed.data;
  const r429 = o.faultRate429 ?? 0;
  const r500 = o.faultRate500 ?? 0;
  const r529 = o.faultRate529 ?? 0;
  if (r429 + r500 + r529 > 1) throw invalid(`\`faultRate429\` + \`faultRate500\` + \`faultRate529\`: expected at most 1, got ${r429 + r500 + r529}`);
  if (now !== undefined && typeof now !== 'function') throw invalid(`\`now\`: expected a function returning ms, got ${shown(typeof now)}`);
  const apiKeys = [...(o.apiKeys ?? []), ...(o.apiKey === undefined ? [] : [o.apiKey])];
  const host = o.host ?? '127.0.0.1';
  // A server others can reach must not answer (or forward upstream) for anyone who sends any key.
  if (apiKeys.length === 0 && !isLoopback(host))
    throw invalid(`\`host\`: listening on ${host} (beyond loopback) needs \`apiKeys\`, so that only their holders can use it`);
  if (apiKeys.length > 0 && o.upstream !== undefined && o.upstreamKey === undefined)
    throw invalid("`upstreamKey`: required with `apiKeys` and `upstream`, or callers' emulator keys would be sent upstream");
  // A key no header can carry failed every request, the HTTP layer's error quoting it into each result (helper-87).
  const keyProblem = o.upstreamKey === undefined ? undefined : apiKeyProblem(o.upstreamKey);
  if (keyProblem) throw invalid(`\`upstreamKey\` (BATCH_ENRICH_UPSTREAM_KEY) ${keyProblem}`);
  return {
    port: o.port ?? 0,
    host,
    seed: o.seed ?? 42,
    idSalt: o.idSalt ?? '',
    now: now ?? Date.now,
    processingMs: o.processingMs ?? 0,
    cancelingMs: o.cancelingMs ?? 0,
    maxBodyBytes: o.maxBodyBytes ?? MAX_BODY_BYTES,
    maxRequests: o.maxRequests ?? MAX_REQUESTS,
    apiKeys,
    responder,
    upstream: o.upstream,
    upstreamKey: o.upstreamKey?.trim(),
    upstreamConcurrency: o.upstreamConcurrency ?? 8,
    faultRate429: r429,
    faultRate500: r500,
    faultRate529: r529,
    retryAfterSeconds: o.retryAfterSeconds ?? 0,
    erroredRate: o.erroredRate ?? 0,
    erroredType: o.erroredType ?? 'overloaded_error',
    expiredRate: o.expiredRate ?? 0,
    cutResultsRate: o.cutResultsRate ?? 0,
    transient404: o.transient404 ?? false,
    lostCreateRate: o.lostCreateRate ?? 0,
    lostMessageRate: o.lostMessageRate ?? 0,
    createLatencyMs: o.createLatencyMs ?? 0,
    resultsPauseMs: o.resultsPauseMs ?? 0,
    messagesConcurrency: o.messagesConcurrency ?? 0,
    messagesLatencyMs: o.messagesLatencyMs ?? 0,
    filesQuotaBytes: o.filesQuotaBytes,
    uploadLatencyMs: o.uploadLatencyMs ?? 0,
    uploadFaultRate: o.uploadFaultRate ?? 0,
    log,
  };
}

/** Whether `host` is a loopback interface (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(h);
}
