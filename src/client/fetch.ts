/**
 * `fetch` for the SDK, with one difference: a streamed request body (a `ReadableStream` or an async
 * iterable: a batch body read from the ledger) is sent with `node:http`/`node:https`.
 *
 * Why: Node's built-in fetch (undici 6) keeps every chunk of a streamed request body until the
 * response has ended. Measured here with a 155 MB body: `arrayBuffers` stayed at 155 MB after a
 * forced GC until the server answered, so a 256 MB batch would sit in memory whole however it was
 * streamed. `node:http` pulls the body only as fast as the socket drains (`pipeline`) and lets go
 * of each chunk once it is written. Every other call (no body, or a string body) goes to the
 * global `fetch`, so the SDK's behaviour is unchanged for them.
 *
 * Errors keep fetch's shape for the SDK: a failed connection rejects (the SDK turns that into
 * `APIConnectionError`, whose create outcome the sink treats as unknown), and the SDK's abort
 * signal (its timeout, or ours) aborts the request.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

type StreamedBody = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

function isStreamed(body: unknown): body is StreamedBody {
  return body instanceof ReadableStream || (typeof body === 'object' && body !== null && Symbol.asyncIterator in body);
}

export async function streamingFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const body: unknown = init.body;
  if (!isStreamed(body) || input instanceof Request) return fetch(input, init);
  const url = new URL(input);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => {
    headers[name] = value;
  });
  const source = body instanceof ReadableStream ? Readable.fromWeb(body as WebReadableStream<Uint8Array>) : Readable.from(body);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Response>((resolve, reject) => {
    const request = send(url, { method: init.method ?? 'POST', headers, ...(init.signal ? { signal: init.signal } : {}) }, (response) => {
      resolve(toResponse(response));
    });
    request.once('error', reject);
    // The body stops being pulled as soon as the request fails; the failure itself reaches `reject`.
    pipeline(source, request).catch(reject);
  });
}

function toResponse(response: IncomingMessage): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < response.rawHeaders.length; i += 2) headers.append(response.rawHeaders[i] as string, response.rawHeaders[i + 1] as string);
  const status = response.statusCode ?? 502;
  const empty = status === 204 || status === 304;
  if (empty) response.resume();
  return new Response(empty ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>), { status, statusText: response.statusMessage ?? '', headers });
}
