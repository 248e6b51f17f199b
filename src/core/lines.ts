/**
 * Bytes (or text) in chunks → their lines, with `\n` or `\r\n` taken off. UTF-8 is decoded across
 * chunk boundaries, and a last line without a newline is a line too. Blank lines are kept, so a
 * caller can number lines as the file does; what a line means is the caller's business (NDJSON
 * input records, results-file lines).
 */
import { StringDecoder } from 'node:string_decoder';

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
  // Whether the line so far (kept or skipped) ends in a CR, which may be the first half of its CRLF.
  let endsCr = false;
  const take = function* (text: string): Generator<string | LineTooLong> {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      const cr = piece.length > 0 ? piece.endsWith('\r') : endsCr;
      const length = (skipped ?? pending.length) + piece.length - (cr ? 1 : 0);
      if (skipped !== undefined || length > maxLength) yield { tooLong: true, length };
      else yield withoutCr(pending + piece);
      skipped = undefined;
      pending = '';
      endsCr = false;
      start = nl + 1;
    }
    const rest = start === 0 ? text : text.slice(start);
    if (rest.length === 0) return;
    endsCr = rest.endsWith('\r');
    if (skipped !== undefined) {
      skipped += rest.length;
      return;
    }
    pending += rest;
    // A CR at the end is not counted: the line may end with the LF to come.
    if (pending.length - (endsCr ? 1 : 0) > maxLength) {
      skipped = pending.length;
      pending = '';
    }
  };
  for await (const chunk of chunks) yield* take(typeof chunk === 'string' ? chunk : decoder.write(chunk));
  yield* take(decoder.end());
  if (skipped !== undefined) yield { tooLong: true, length: skipped - (endsCr ? 1 : 0) };
  else if (pending !== '') yield withoutCr(pending);
}

function withoutCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
