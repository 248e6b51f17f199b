/**
 * Bytes (or text) in chunks → their lines, with `\n` or `\r\n` taken off. UTF-8 is decoded across
 * chunk boundaries, and a last line without a newline is a line too. Blank lines are kept, so a
 * caller can number lines as the file does; what a line means is the caller's business (NDJSON
 * input records, results-file lines).
 */
import { StringDecoder } from 'node:string_decoder';

export async function* splitLines(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of chunks) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    for (let nl = pending.indexOf('\n', start); nl !== -1; nl = pending.indexOf('\n', start)) {
      yield withoutCr(pending.slice(start, nl));
      start = nl + 1;
    }
    pending = pending.slice(start);
  }
  pending += decoder.end();
  if (pending !== '') yield withoutCr(pending);
}

function withoutCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
