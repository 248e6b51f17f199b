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

/** `splitLines`, but a line longer than `maxLength` characters comes out as a `LineTooLong` (so one huge line cannot exhaust memory). */
export async function* splitLinesCapped(chunks: AsyncIterable<Uint8Array | string>, maxLength: number): AsyncGenerator<string | LineTooLong> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  // While skipping a line that is too long: how long it is so far (its text is not kept).
  let skipped: number | undefined;
  const take = function* (text: string): Generator<string | LineTooLong> {
    pending += text;
    let start = 0;
    for (let nl = pending.indexOf('\n', start); nl !== -1; nl = pending.indexOf('\n', start)) {
      if (skipped !== undefined) {
        yield { tooLong: true, length: skipped + nl - start - (pending[nl - 1] === '\r' ? 1 : 0) };
        skipped = undefined;
      } else {
        yield withoutCr(pending.slice(start, nl));
      }
      start = nl + 1;
    }
    pending = pending.slice(start);
    // A CR at the end may be the first half of the line's CRLF: it is not counted, and stays.
    const cr = pending.endsWith('\r') ? 1 : 0;
    if (pending.length - cr > maxLength) {
      skipped = (skipped ?? 0) + pending.length - cr;
      pending = pending.slice(pending.length - cr);
    }
  };
  for await (const chunk of chunks) yield* take(typeof chunk === 'string' ? chunk : decoder.write(chunk));
  yield* take(decoder.end());
  if (skipped !== undefined) yield { tooLong: true, length: skipped + withoutCr(pending).length };
  else if (pending !== '') yield withoutCr(pending);
}

function withoutCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
