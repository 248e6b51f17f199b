/**
 * What a failed API call means for us: try again later, give up, or (for a create) whether the API
 * can have acted on it. One classification for every call the sink makes.
 */
import { APIConnectionError, APIError } from '@anthropic-ai/sdk';
import { BatchEnrichError } from '../errors.ts';

/**
 * Errors worth another try later: connection problems and timeouts, and the statuses the SDK itself
 * retries (408, 409, 429, 5xx; `x-should-retry` aside). A 4xx other than those will fail the same way.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof APIConnectionError) return true;
  // The API's own word wins, as in the SDK's `shouldRetry`.
  const should = error instanceof APIError ? error.headers?.get('x-should-retry') : undefined;
  if (should === 'true') return true;
  if (should === 'false') return false;
  if (error instanceof APIError) return error.status === undefined || [408, 409, 429].includes(error.status) || error.status >= 500;
  return false;
}

/** OS errors that happen before a connection exists, so before any byte of a request was sent. */
const BEFORE_CONNECT = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** The OS error code behind an error (the SDK and fetch wrap it in one or two `cause`s). */
export function osErrorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
  }
  return undefined;
}

/**
 * Whether a call failed before it could reach the API: the name did not resolve, or nothing
 * accepted the connection. Such a create made no batch, for certain: it needs no search.
 */
export function neverSent(error: unknown): boolean {
  const code = osErrorCode(error);
  return error instanceof APIConnectionError && code !== undefined && BEFORE_CONNECT.has(code);
}

/** A results stream that broke off (socket closed, truncated JSON line). */
export function isCutDownload(error: unknown): boolean {
  if (error instanceof SyntaxError) return true;
  const code = osErrorCode(error) ?? (error as { code?: unknown })?.code;
  return (typeof code === 'string' && /ECONNRESET|UND_ERR|ERR_STREAM_PREMATURE_CLOSE|EPIPE/.test(code)) || /terminated|aborted|socket/i.test(errorText(error));
}

/**
 * The longest wait an answer may ask for: what the poll interval grows to at most by default. A
 * header of 4,000,000 s overflowed Node's timer (a warning, then no wait at all; helper-66).
 */
export const RETRY_AFTER_MAX_MS = 15 * 60_000;

/** The wait the API asked for, as the SDK reads it: `retry-after-ms`, then `retry-after` (seconds or an HTTP date); at most `RETRY_AFTER_MAX_MS`. */
export function retryAfterMs(error: APIError, now = Date.now()): number | undefined {
  const asked = askedWait(error, now);
  return asked === undefined ? undefined : Math.min(asked, RETRY_AFTER_MAX_MS);
}

function askedWait(error: APIError, now: number): number | undefined {
  const ms = Number(error.headers?.get('retry-after-ms') ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = error.headers?.get('retry-after');
  if (value === null || value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/**
 * The error's message, with the OS cause a connection error hides ("Connection error." alone says
 * nothing): `Connection error: getaddrinfo ENOTFOUND api.example.com`.
 */
export function errorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (!(error instanceof APIConnectionError)) return message;
  // The innermost cause is the OS's own words (they name the host, or the address and port).
  let cause: unknown = error.cause;
  for (let depth = 0; (cause as { cause?: unknown } | undefined)?.cause instanceof Error && depth < 3; depth++) cause = (cause as { cause: unknown }).cause;
  const os = cause instanceof Error ? cause.message : undefined;
  const code = osErrorCode(error);
  if (os && os !== message && os !== 'fetch failed') return `${message.replace(/\.$/, '')}: ${os}${code && !os.includes(code) ? ` (${code})` : ''}`;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/**
 * One line for a failed call, for a person reading a command's output: the API's own message with
 * its status and error type (`invalid x-api-key (401 authentication_error)`), `not found (404)`, or
 * what `errorText` says of a connection; at most 200 characters.
 * @example
 * say(`batch ${id}: cannot cancel: ${describeApiError(error)}`);
 */
export function describeApiError(error: unknown): string {
  let text = errorText(error);
  if (error instanceof APIError && !(error instanceof APIConnectionError) && error.status !== undefined) {
    if (error.status === 404) return 'not found (404)';
    const body = error.error as { error?: { type?: unknown; message?: unknown } } | undefined;
    const message = typeof body?.error?.message === 'string' ? body.error.message : error.message;
    const type = typeof body?.error?.type === 'string' ? ` ${body.error.type}` : '';
    text = `${message} (${error.status}${type})`;
  }
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/** A failed call as the error the run stops with: what was being done, the API's words, its request id. */
export function apiFailure(error: unknown, what: string, batchId: string | undefined): BatchEnrichError {
  if (error instanceof BatchEnrichError) return error;
  const status = error instanceof APIError ? error.status : undefined;
  const requestID = error instanceof APIError ? error.requestID : undefined;
  return new BatchEnrichError('BE_API', `${what}: ${errorText(error)}${requestID ? ` (request-id ${requestID})` : ''}${refusedKey(status)}`, {
    cause: error,
    ...(batchId ? { batchId } : {}),
    ...(status ? { status } : {}),
    ...(requestID ? { requestID } : {}),
  });
}

/** What a refused key means for the one running the job (helper-89: a 401 said nothing of the key). */
function refusedKey(status: number | undefined): string {
  if (status === 401) return '; the API refused the key (401 authentication_error): check ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL), or the library\'s apiKey';
  if (status === 403) return '; the key may not do this (403 permission_error): check that ANTHROPIC_API_KEY is one of the workspace the job runs in';
  return '';
}

/** The calls in flight under each shared signal, aborted together by its one listener (see `withSignal`). */
const childrenOf = new WeakMap<AbortSignal, Set<AbortController>>();

/**
 * Runs an SDK call with a child signal that is dropped afterwards: the SDK leaves its abort listener
 * on the signal it is given, and one signal shared by hundreds of calls would collect them. The shared
 * signal gets one listener for all its calls, not one each: Node warns past 10 (real time with
 * `--concurrency 16` has 16 calls in flight).
 */
export async function withSignal<T>(parent: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const child = new AbortController();
  if (parent.aborted) child.abort(parent.reason);
  let children = childrenOf.get(parent);
  if (!children) {
    const calls = new Set<AbortController>();
    parent.addEventListener('abort', () => {
      for (const call of calls) call.abort(parent.reason);
    }, { once: true });
    childrenOf.set(parent, calls);
    children = calls;
  }
  children.add(child);
  try {
    return await fn(child.signal);
  } finally {
    children.delete(child);
  }
}
