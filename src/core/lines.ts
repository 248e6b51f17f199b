/**
 * Bytes (or text) in chunks → their lines, with `\n`, `\r\n` or a lone `\r` taken off (a CR alone
 * ends a line, as in classic Mac OS files and as the CSV reader takes it). UTF-8 is decoded across
 * chunk boundaries, and a last line without a newline is a line too. Blank lines are kept, so a
 * caller can number lines as the file does; what a line means is the caller's business (NDJSON
 * input records, results-file lines).
 */
import { StringDecoder } from 'node:string_decoder';
import { indexOr } from './csv.ts';

/** A line longer than the cap given to `splitLinesCapped`: its text is dropped as it comes, never held whole. */
export interface LineTooLong {
  tooLong: true;
  /** Its length in characters (without the line break). */
  length: number;
}

export async function* splitLines(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  yield* splitLinesCapped(chunks, Number.POSITIVE_INFINITY) as AsyncGenerator<string>;
}

/**
 * `splitLines`, but a line longer than `maxLength` characters comes out as a `LineTooLong` (so one huge
 * line cannot exhaust memory). Line ends are looked for in each new chunk only: `pending` (the line so
 * far) grows by `+=`, a rope that an `indexOf` would flatten at every chunk (a 15 MB line: 7 s).
 */
export async function* splitLinesCapped(chunks: AsyncIterable<Uint8Array | string>, maxLength: number): AsyncGenerator<string | LineTooLong> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  // While skipping a line that is too long: how long it is so far (its text is not kept).
  let skipped: number | undefined;
  // Whether the last line ended with a CR at the end of a chunk: an LF first in the next is its CRLF's.
  let afterCr = false;
  const take = function* (text: string): Generator<string | LineTooLong> {
    if (text.length === 0) return;
    let start = afterCr && text.charCodeAt(0) === LF ? 1 : 0;
    afterCr = false;
    // Where the next LF and CR are, each looked for again only once passed (a chunk without a CR is scanned for one once).
    let lf = -1;
    let cr = -1;
    for (;;) {
      if (lf < start) lf = indexOr(text, '\n', start);
      if (cr < start) cr = indexOr(text, '\r', start);
      const end = Math.min(lf, cr);
      if (end === text.length) break;
      const length = (skipped ?? pending.length) + end - start;
      if (skipped !== undefined || length > maxLength) yield { tooLong: true, length };
      else yield pending + text.slice(start, end);
      skipped = undefined;
      pending = '';
      start = end + 1;
      if (end === cr) {
        if (start === text.length) afterCr = true;
        else if (text.charCodeAt(start) === LF) start++;
      }
    }
    if (start === text.length) return;
    const rest = start === 0 ? text : text.slice(start);
    if (skipped !== undefined) {
      skipped += rest.length;
      return;
    }
    pending += rest;
    if (pending.length > maxLength) {
      skipped = pending.length;
      pending = '';
    }
  };
  for await (const chunk of chunks) yield* take(typeof chunk === 'string' ? chunk : decoder.write(chunk));
  yield* take(decoder.end());
  if (skipped !== undefined) yield { tooLong: true, length: skipped };
  else if (pending !== '') yield pending;
}

const LF = 0x0a;

