/**
 * The SDK wrapper: one place that builds the `Anthropic` client and the few calls we make that the
 * SDK does not make for us in the shape we need. Everything goes through the official SDK (auth
 * headers, `anthropic-version`, its retries and error classes).
 */
import { createHash } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { BatchEnrichError } from '../errors.ts';
import { apiKeyProblem } from '../core/api-key.ts';
import type { Identity } from '../ledger/ledger.ts';
import { streamingFetch } from './fetch.ts';

export const DEFAULT_BASE_URL = 'https://api.anthropic.com';

export interface ClientOptions {
  apiKey: string;
  /** Default: `ANTHROPIC_BASE_URL`, as the SDK reads it, else the public API. */
  baseURL?: string | undefined;
  /** The SDK's per-call retries of 408/409/429/5xx and connection errors (default 2). */
  maxRetries?: number | undefined;
}

export function createClient(options: ClientOptions): Anthropic {
  checkApiKey(options.apiKey);
  // Leave `baseURL` out when not given: the SDK then reads ANTHROPIC_BASE_URL (an explicit null would not).
  const client = new Anthropic({
    // Sent without the blanks and line ends around it, as fetch sent it before: a key read from a file
    // with its line end works (helper-87), and keeps its identity (`identityOf` hashes it as given).
    apiKey: options.apiKey?.trim(),
    ...(options.baseURL ? { baseURL: options.baseURL } : {}),
    maxRetries: options.maxRetries ?? 2,
    // A batch body streamed from the ledger is sent without being held in memory (see `streamingFetch`).
    fetch: streamingFetch,
  });
  checkBaseUrl(client.baseURL);
  return client;
}

/** Refuses, before any call, an API key that no HTTP header can carry (`apiKeyProblem`): says where, never what. */
export function checkApiKey(key: string | null | undefined): void {
  const problem = key ? apiKeyProblem(key) : undefined;
  if (problem) throw new BatchEnrichError('BE_USAGE', `The API key (ANTHROPIC_API_KEY or apiKey) ${problem}`);
}

/**
 * Refuses, before any call, a base URL that is not http(s), or that carries a user name or password
 * (`http://user:pass@host`) or a query string: fetch refuses URLs with credentials (so every poll
 * would fail after the create was paid), and the ledger and `status` would keep and show what it
 * carries. The message shows the URL without it.
 */
export function checkBaseUrl(baseURL: string): void {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    throw new BatchEnrichError('BE_USAGE', `The API base URL is not a URL: ${JSON.stringify(publicBaseUrl(baseURL))} (ANTHROPIC_BASE_URL or baseURL)`);
  }
  // Anything but http(s) (`localhost:8080`, or `user:pw@host` read as the scheme `user:`) left batch
  // runs waiting forever on the SDK, and the ledger storing, and `status` printing, what was typed.
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    const shown = withoutCredentials(baseURL);
    const hint = baseURL.includes('://') || baseURL.includes('@') ? '' : `; did you mean http://${shown}?`;
    throw new BatchEnrichError('BE_USAGE', `The API base URL must start with http:// or https:// (ANTHROPIC_BASE_URL or baseURL): ${shown}${hint}`);
  }
  if (url.username || url.password) {
    throw new BatchEnrichError(
      'BE_USAGE',
      `The API base URL ${publicBaseUrl(baseURL)} carries a user name or password (ANTHROPIC_BASE_URL or baseURL): remove it; the API key goes in ANTHROPIC_API_KEY (apiKey)`,
    );
  }
  // A token in a query string would be stored with the identity and shown by `status`; the SDK
  // would also append each path after it.
  if (url.search || url.hash) {
    throw new BatchEnrichError(
      'BE_USAGE',
      `The API base URL ${url.origin}${url.pathname.replace(/\/+$/, '')} carries a query string or fragment (ANTHROPIC_BASE_URL or baseURL): remove it; the API key goes in ANTHROPIC_API_KEY (apiKey)`,
    );
  }
}

/**
 * What was typed as a base URL, less anything before its last `@` (a user name and password, whatever
 * the scheme; a password may hold a `/` or an `@`).
 */
function withoutCredentials(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/i, '$1').replace(/\/+$/, '');
}

/** A base URL as it may be stored and shown: without user name or password, without a trailing slash. */
export function publicBaseUrl(baseURL: string): string {
  try {
    const url = new URL(baseURL);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/+$/, '');
  } catch {
    return withoutCredentials(baseURL);
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether two base URLs are one endpoint as identities see it (a server on loopback whatever its port). */
export function sameEndpoint(a: string, b: string): boolean {
  try {
    return identityUrl(a) === identityUrl(b);
  } catch {
    return false;
  }
}

/**
 * The base URL as the identity sees it: public, and for a server on this machine (an emulator, a
 * local gateway) without its port, which changes from run to run (an emulator on a free port).
 */
function identityUrl(baseURL: string): string {
  const url = new URL(publicBaseUrl(baseURL));
  if (!LOOPBACK.has(url.hostname)) return publicBaseUrl(baseURL);
  url.port = '';
  return url.toString().replace(/\/+$/, '');
}

/** The API version the installed SDK sends (`anthropic-version`); recorded with each batch. */
export const API_VERSION = '2026-10-21';

/**
 * The identity the ledger files work under: a hash of the base URL and of the key. Batches are
 * visible only to the workspace that made them, so answers are reused only under the same identity.
 * Only this hash is stored; the key itself never is. A server on loopback is one identity whatever
 * its port (see `identityUrl`), so work done against the emulator resumes across runs.
 */
export function apiScope(baseURL: string, apiKey: string): string {
  const keyHash = createHash('sha256').update(apiKey).digest('hex');
  return createHash('sha256').update(`${baseURL.replace(/\/+$/, '')}\n${keyHash}`).digest('base64url').slice(0, 22);
}

/** How many requests a batch holds, by the API's counts (every request is in exactly one of them). */
export function requestCount(counts: MessageBatch['request_counts']): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** A short, non-reversible fingerprint of the key, to tell identities apart in messages (`key fingerprint a1b2c3d4`). */
export function keyFingerprint(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex').slice(0, 8);
}

/** The identity a client works under, as the ledger records it. */
export function identityOf(client: Anthropic, apiKey: string): Identity {
  return { scope: apiScope(identityUrl(client.baseURL), apiKey), baseUrl: publicBaseUrl(client.baseURL), apiVersion: API_VERSION, keyFingerprint: keyFingerprint(apiKey) };
}

/**
 * Creates a batch from an already-serialized body (`{"requests":[…]}`).
 *
 * Rejected alternative: `client.messages.batches.create({ requests })`. It takes the requests as
 * objects and serializes them again, so a 100,000-request batch would sit in memory twice (as objects
 * and as a string). Here the body is streamed straight from the ledger (the SDK sends a
 * `ReadableStream` body as is; a client made by `createClient` sends it through `streamingFetch`, which
 * holds no more of it than the socket's buffer). It is sent with
 * `maxRetries: 0`: the API has no idempotency key, so an automatic retry after a timeout or a 5xx
 * could create the batch twice; the caller decides what is safe to retry.
 */
export function createBatch(client: Anthropic, body: Uint8Array | ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<MessageBatch> {
  return client.post<MessageBatch>('/v1/messages/batches', {
    body,
    headers: { 'content-type': 'application/json' },
    maxRetries: 0,
    ...(signal ? { signal } : {}),
  });
}

/**
 * The lines of a batch's results file (JSONL, one result per line), as text, read from the batch's
 * absolute `results_url` as `client.messages.batches.results()` reads it. That call first retrieves
 * the batch to learn the URL; the poll that saw the batch end already has it, so this saves one
 * call per batch. The read stops when `signal` aborts, also while it waits on the body (once a
 * response has started, the signal no longer reaches the fetch).
 */
export async function* resultLines(client: Anthropic, resultsUrl: string, signal: AbortSignal, idleMs = DOWNLOAD_IDLE_MS): AsyncGenerator<string> {
  const response = await client.get(resultsUrl, { headers: { Accept: 'application/binary' }, __binaryResponse: true, signal }).asResponse();
  if (!response.body) return;
  const reader = response.body.getReader();
  const cancel = () => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener('abort', cancel, { once: true });
  let ended = false;
  // One timer for the download, pushed back at each chunk: a body that stops coming is cancelled, and
  // the read it leaves waiting ends (`done`) as a stall.
  let stalled = false;
  const idle = setTimeout(() => {
    stalled = true;
    void reader.cancel().catch(() => {});
  }, idleMs);
  idle.unref();
  try {
    yield* textLines(
      (async function* () {
        for (;;) {
          const { done, value } = await reader.read();
          if (signal.aborted) throw signal.reason;
          if (stalled) throw Object.assign(new Error(`the download stalled: no byte of the results for ${idleMs / 1000} s`), { code: 'UND_ERR_BODY_TIMEOUT' });
          if (done) return void (ended = true);
          idle.refresh();
          yield value;
        }
      })(),
    );
  } finally {
    clearTimeout(idle);
    signal.removeEventListener('abort', cancel);
    // Left before the end (the consumer stopped, or a failure): let go of the connection.
    if (!ended) void reader.cancel().catch(() => {});
  }
}

/**
 * How long a results download may go without a byte before it is broken off (and tried again, as a
 * cut download): a stalled connection was noticed only after undici's 5 minutes (note 48).
 */
export const DOWNLOAD_IDLE_MS = 60_000;

/**
 * The non-blank lines of a byte stream (`\n` or `\r\n`), each decoded as UTF-8 whole (a `\n` byte is
 * never part of a multi-byte character, so a line's bytes are cut at their own newline).
 *
 * Why bytes, not `splitLines` (text): a results file has a line per request, and each line passed
 * through three async generators there (decode, split, filter); found in the chunk's
 * bytes and decoded on its own, about half the time (100,000 result lines: 210-280 ms, now 90-120 ms).
 */
export async function* textLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  /** The start of a line that has not ended yet, a chunk at a time (a long line is copied once, when it ends). */
  let held: Buffer[] = [];
  const lineOf = (bytes: Buffer, start: number, end: number): string => {
    let whole = bytes;
    if (held.length > 0) {
      held.push(bytes.subarray(start, end));
      whole = Buffer.concat(held);
      held = [];
      start = 0;
      end = whole.length;
    }
    return whole.toString('utf8', start, end > start && whole[end - 1] === CR ? end - 1 : end);
  };
  for await (const chunk of chunks) {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let nl = bytes.indexOf(LF); nl !== -1; nl = bytes.indexOf(LF, start)) {
      const line = lineOf(bytes, start, nl);
      start = nl + 1;
      if (line.trim() !== '') yield line;
    }
    if (start < bytes.length) held.push(bytes.subarray(start));
  }
  if (held.length > 0) {
    const line = lineOf(Buffer.alloc(0), 0, 0);
    if (line.trim() !== '') yield line;
  }
}

const LF = 0x0a;
const CR = 0x0d;
