/**
 * Batch bodies and request sizes: what a request adds to a body, the body streamed from the ledger,
 * and a result line's `result` as the ledger stores it. Pure but for reading ledger pages.
 */
import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { customIdOf, HASH_CHARS, LINE_WRAPPER_BYTES, requestLineStart } from '../core/request.ts';
import type { PayloadRow } from '../ledger/ledger.ts';
import type { LedgerStore } from '../ledger/store.ts';
import { PAGE_CHARS } from './options.ts';

/** `{"custom_id":"","params":}` and the comma between requests, around the nonce, key and params. */
export const REQUEST_OVERHEAD_BYTES = LINE_WRAPPER_BYTES - HASH_CHARS;
/** `{"requests":[` + `]}`. */
export const ENVELOPE_BYTES = Buffer.byteLength('{"requests":[]}');
/** Requests read from the ledger at a time while a batch body is sent, at most. */
const BODY_PAGE = 500;
/**
 * …and the first page's, before their size is known: one request (a request with documents inline
 * may be 32 MB). The next pages hold about `PAGE_CHARS` of messages by the largest request of the page
 * before (`requestsInPage`). A page of 500 large requests (250 KB documents sent inline) was 125 MB
 * read at once, encoded into a buffer grown to three times its text, and copied: 1.7 GB of RSS for
 * 6,000 such records. Still not bounded: a page of requests much larger than those of the page before.
 */
const FIRST_BODY_PAGE = 1;

/** Bytes a request adds to a batch body (its `custom_id`, params, wrapper and comma). */
export function requestBytes(key: string, label: string | null | undefined, specBytes: number, messages: string): number {
  return REQUEST_OVERHEAD_BYTES + Buffer.byteLength(key) + (label ? label.length + 1 : 0) + specBytes + Buffer.byteLength(messages);
}

/**
 * A new request's bytes in the body (`size`), and what its input tokens are priced by (`costBytes`):
 * the same, with its documents counted by their pages and pixels (`estimateBytes`, the bytes of its
 * messages so counted) rather than by what is sent for them (a 100-page PDF of 40 KB, or a `file_id`
 * of a few bytes, is hundreds of thousands of tokens). The budget guard and the check before a run
 * both price by it.
 */
export function requestCostBytes(key: string, label: string | null | undefined, specBytes: number, messages: string, estimateBytes?: number): { size: number; costBytes: number } {
  const size = requestBytes(key, label, specBytes, messages);
  return { size, costBytes: estimateBytes === undefined ? size : size - Buffer.byteLength(messages) + estimateBytes };
}

/** Bytes a stored request adds to a batch body. */
export function payloadBytes(payload: PayloadRow | undefined): number {
  if (!payload) return REQUEST_OVERHEAD_BYTES;
  return requestBytes(payload.key, payload.label, Buffer.byteLength(payload.head) + Buffer.byteLength(payload.tail), payload.messages);
}

/** The `max_tokens` of serialized params (0 if absent). */
export function maxTokensOf(params: string): number {
  const match = /"max_tokens":(\d+)/.exec(params);
  return match ? Number(match[1]) : 0;
}

/** The shared params' head with another `max_tokens` (the head is `{"model":…,"max_tokens":N,…`). */
export function withMaxTokens(head: string, maxTokens: number): string {
  return head.replace(/"max_tokens":\d+/, `"max_tokens":${maxTokens}`);
}

/** A stored request's params, with its own `max_tokens` if it has one (a truncated answer retried with more). */
export function paramsOf(payload: PayloadRow): string {
  return `${headOf(payload)}${payload.messages}${payload.tail}`;
}

/** The head of a stored request's params: the job's, or with the request's own `max_tokens`. */
function headOf(payload: PayloadRow): string {
  return payload.max_tokens === null ? payload.head : withMaxTokens(payload.head, payload.max_tokens);
}

/**
 * The batch body as a stream, read from the ledger a page at a time while it is sent: a batch of
 * up to 256 MB is never held in memory, not even once. (A prebuilt buffer would also be copied by
 * fetch.) Each create attempt gets a fresh stream.
 *
 * Each request line is encoded part by part (`requestLine`'s start, the params' shared head, its
 * messages, the shared tail, `}`) into one buffer kept for the stream, and a page leaves as a copy
 * of what it filled. Why: a page joined into one string (500 requests, a megabyte of UTF-16 when a
 * prompt has a character outside Latin-1) had to be flattened and then encoded, and was garbage at
 * once; a line joined into one string was flattened too, the job's head and tail copied into it
 * for every request (in UTF-16 when its messages are): most of what a 100,000-request body
 * allocated (measured: 4.5 KB a request of the ticket-triage recipe).
 */
export function batchBody(ledger: LedgerStore, batchId: number, nonce: string): ReadableStream<Uint8Array> {
  let after = 0;
  let limit = FIRST_BODY_PAGE;
  let started = false;
  let scratch = Buffer.allocUnsafe(0);
  let filled = 0;
  /** Appends `text` as UTF-8 (at most 3 bytes a UTF-16 unit), growing the buffer when it might not fit. */
  const append = (text: string) => {
    const room = filled + text.length * 3;
    if (room > scratch.length) {
      const grown = Buffer.allocUnsafe(Math.max(room, scratch.length * 2));
      scratch.copy(grown, 0, 0, filled);
      scratch = grown;
    }
    filled += scratch.write(text, filled);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const page = await ledger.batchPage(batchId, after, limit);
        filled = 0;
        if (!started) append('{"requests":[');
        for (const request of page) {
          append(`${started ? ',' : ''}${requestLineStart(customIdOf(nonce, request.key, request.label))}`);
          append(headOf(request));
          append(request.messages);
          append(request.tail);
          append('}');
          started = true;
          after = request.id;
        }
        const ended = page.length < limit;
        if (page.length > 0) limit = requestsInPage(page);
        if (ended) append(']}');
        // A copy: the chunk may wait in the socket's queue while the buffer is filled again. Copied
        // with `copy`, not `Buffer.from(buffer)`, which on Node 20 copies a megabyte page about six
        // times slower (measured: 1.1 ms against 0.18).
        const chunk = Buffer.allocUnsafe(filled);
        scratch.copy(chunk, 0, 0, filled);
        controller.enqueue(chunk);
        if (ended) controller.close();
      },
    },
    { highWaterMark: 1 },
  );
}

/**
 * `body` as its reader takes it, with `whole` called before the reader is given its last chunk (from
 * then on the HTTP client may have sent all of it). Until then the API cannot have the whole request:
 * a create stopped before is known not to have made its batch (helper-89: a `| head` left such a row
 * `creating`, and the next run searched for it for a minute). Each chunk is handed over once the one
 * after it is known (so the last is known as last); the body's own read-ahead (a page) stays.
 */
export function watchedBody(body: ReadableStream<Uint8Array>, whole: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let held: Uint8Array | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (held === undefined) {
          const first = await reader.read();
          if (first.done) {
            whole();
            controller.close();
            return;
          }
          held = first.value;
        }
        const following = await reader.read();
        const chunk = held;
        held = following.done ? undefined : following.value;
        if (following.done) whole();
        controller.enqueue(chunk);
        if (following.done) controller.close();
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** How many requests like `page`'s largest a body page may hold: `PAGE_CHARS` of messages, at least one, at most `BODY_PAGE`. */
function requestsInPage(page: readonly PayloadRow[]): number {
  let largest = 0;
  for (const request of page) largest = Math.max(largest, request.messages.length);
  return Math.max(1, Math.min(BODY_PAGE, Math.floor(PAGE_CHARS / Math.max(1, largest))));
}

/**
 * The `result` of a results-file line as JSON text: sliced out of the line when the line is exactly
 * `{"custom_id":…,"result":…}` (as the API writes it), so it is not serialized again; else
 * serialized from the parsed line.
 */
export function resultText(line: string, parsed: MessageBatchIndividualResponse): string {
  const prefix = `{"custom_id":${JSON.stringify(parsed.custom_id)},"result":`;
  const end = line.trimEnd();
  if (end.startsWith(prefix) && end.endsWith('}') && Object.keys(parsed).length === 2) return end.slice(prefix.length, -1);
  return JSON.stringify(parsed.result);
}
