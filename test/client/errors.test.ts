/** The one classification of failed calls: table tests, each case with why. */
import { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { describeApiError, errorText, isCutDownload, isTransient, neverSent, osErrorCode, retryAfterMs, withSignal } from '../../src/client/errors.ts';

const apiError = (status: number, headers: Record<string, string> = {}) =>
  APIError.generate(status, { type: 'error', error: { type: 'x', message: 'm' } }, 'm', new Headers(headers));
const osError = (code: string, message: string) => Object.assign(new Error(message), { code });
/** As the SDK wraps a failed fetch: APIConnectionError ← TypeError('fetch failed') ← the OS error. */
const connection = (code: string, message: string) => new APIConnectionError({ cause: Object.assign(new TypeError('fetch failed'), { cause: osError(code, message) }) });

describe('isTransient', () => {
  const cases: { description: string; error: unknown; want: boolean }[] = [
    { description: 'a connection error may work later', error: new APIConnectionError({}), want: true },
    { description: 'a timeout may work later', error: new APIConnectionTimeoutError(), want: true },
    { description: '408, 409 and 429 are what the SDK itself retries', error: apiError(429), want: true },
    { description: '409 (a conflict) is retried like the SDK does', error: apiError(409), want: true },
    { description: 'any 5xx, 529 included', error: apiError(529), want: true },
    { description: 'a 400 will fail the same way again', error: apiError(400), want: false },
    { description: 'a 404 is not retried as a failure (the follower asks the list)', error: apiError(404), want: false },
    { description: 'x-should-retry: false wins over a 503', error: apiError(503, { 'x-should-retry': 'false' }), want: false },
    { description: 'x-should-retry: true wins over a 400', error: apiError(400, { 'x-should-retry': 'true' }), want: true },
    { description: 'a programming error is not an API failure', error: new TypeError('x is undefined'), want: false },
  ];
  for (const c of cases) it(`${c.want ? 'transient' : 'final'}: ${c.description}`, () => expect(isTransient(c.error)).toBe(c.want));
});

describe('neverSent: a create that cannot have made a batch', () => {
  const cases: { description: string; error: unknown; want: boolean }[] = [
    { description: 'the host does not resolve', error: connection('ENOTFOUND', 'getaddrinfo ENOTFOUND api.x'), want: true },
    { description: 'DNS failed for now', error: connection('EAI_AGAIN', 'getaddrinfo EAI_AGAIN api.x'), want: true },
    { description: 'nothing listens', error: connection('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'), want: true },
    { description: 'the connection reset mid-body: the API may have it all', error: connection('ECONNRESET', 'read ECONNRESET'), want: false },
    { description: 'a timeout: the API may have made it', error: new APIConnectionTimeoutError(), want: false },
    { description: 'a 500: the API may have made it', error: apiError(500), want: false },
  ];
  for (const c of cases) it(`${c.want ? 'never sent' : 'unknown'}: ${c.description}`, () => expect(neverSent(c.error)).toBe(c.want));

  it('finds the OS code however deep the SDK and fetch wrapped it', () => {
    expect(osErrorCode(connection('ENOTFOUND', 'x'))).toBe('ENOTFOUND');
    expect(osErrorCode(new Error('plain'))).toBeUndefined();
  });
});

describe('retryAfterMs: the wait the API asks for, read as the SDK reads it', () => {
  const now = Date.parse('2026-12-02T10:00:00Z');
  const cases: { description: string; headers: Record<string, string>; want: number | undefined }[] = [
    { description: 'retry-after-ms comes first', headers: { 'retry-after-ms': '1500', 'retry-after': '9' }, want: 1500 },
    { description: 'retry-after in seconds', headers: { 'retry-after': '2.5' }, want: 2500 },
    { description: 'retry-after as an HTTP date', headers: { 'retry-after': 'Wed, 02 Dec 2026 10:00:30 GMT' }, want: 30_000 },
    { description: 'a date in the past is no wait', headers: { 'retry-after': 'Wed, 02 Dec 2026 09:00:00 GMT' }, want: 0 },
    { description: 'nothing usable: the caller backs off', headers: { 'retry-after': 'soon' }, want: undefined },
    { description: 'no header', headers: {}, want: undefined },
    // helper-66: 4,000,000 s overflowed the timer (TimeoutOverflowWarning, then a wait of 1 ms).
    { description: 'a wait past 15 minutes is 15 minutes (retry-after)', headers: { 'retry-after': '4000000' }, want: 15 * 60_000 },
    { description: 'a wait past 15 minutes is 15 minutes (retry-after-ms)', headers: { 'retry-after-ms': '9999999999999' }, want: 15 * 60_000 },
  ];
  for (const c of cases) it(c.description, () => expect(retryAfterMs(apiError(429, c.headers), now)).toBe(c.want));
});

describe('errorText: the OS words a connection error hides', () => {
  it('names the host the name lookup failed for', () => {
    expect(errorText(connection('ENOTFOUND', 'getaddrinfo ENOTFOUND api.example.invalid'))).toBe('Connection error: getaddrinfo ENOTFOUND api.example.invalid');
  });
  it('adds the code when the OS words lack it', () => {
    expect(errorText(connection('ECONNRESET', 'socket hang up'))).toBe('Connection error: socket hang up (ECONNRESET)');
  });
  it('leaves other errors as they are', () => {
    expect(errorText(new Error('boom'))).toBe('boom');
  });
});

describe('isCutDownload', () => {
  it('a truncated line or a reset socket is a download to fetch again; a 400 is not', () => {
    expect(isCutDownload(new SyntaxError('Unexpected end of JSON input'))).toBe(true);
    expect(isCutDownload(osError('ECONNRESET', 'read ECONNRESET'))).toBe(true);
    expect(isCutDownload(apiError(400))).toBe(false);
  });
});

describe('describeApiError: one line for a failed call, as the job commands print it', () => {
  const body = (type: string, message: string) => ({ type: 'error', error: { type, message } });
  const cases: { description: string; error: unknown; want: string }[] = [
    { description: 'a 404 says so, without the body', error: APIError.generate(404, body('not_found_error', 'Batch not found'), 'x', new Headers()), want: 'not found (404)' },
    { description: "the API's message, its status and error type", error: APIError.generate(401, body('authentication_error', 'invalid x-api-key'), 'x', new Headers()), want: 'invalid x-api-key (401 authentication_error)' },
    { description: 'no JSON body: the SDK message with the status', error: APIError.generate(502, undefined, 'Bad Gateway', new Headers()), want: '502 Bad Gateway (502)' },
    { description: 'a connection error names the OS cause (as errorText does)', error: connection('ENOTFOUND', 'getaddrinfo ENOTFOUND api.x'), want: 'Connection error: getaddrinfo ENOTFOUND api.x' },
    { description: 'anything else: its message', error: new Error('boom'), want: 'boom' },
    { description: 'a long message is cut at 200 characters', error: new Error('x'.repeat(500)), want: `${'x'.repeat(199)}…` },
  ];
  for (const c of cases) it(c.description, () => expect(describeApiError(c.error)).toBe(c.want));
});

describe('withSignal: one SDK call under a child of a shared signal', () => {
  it('many calls at once (real time, --concurrency 16) add one listener to the shared signal, not one each (Node warns past 10), and its abort reaches every call', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const parent = new AbortController();
      const seen: AbortSignal[] = [];
      const calls = Array.from({ length: 16 }, () =>
        withSignal(parent.signal, (signal) => {
          seen.push(signal);
          return new Promise<string>((resolve) => signal.addEventListener('abort', () => resolve(String(signal.reason))));
        }),
      );
      parent.abort('stop');
      expect(await Promise.all(calls)).toEqual(Array.from({ length: 16 }, () => 'stop'));
      expect(seen.every((signal) => signal.aborted)).toBe(true);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
      // A call made once it was aborted starts aborted.
      expect(await withSignal(parent.signal, async (signal) => signal.aborted)).toBe(true);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
