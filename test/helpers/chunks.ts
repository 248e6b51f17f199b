/**
 * Chunk-boundary helpers (style rule 13, after split2's "split utf8 chars 2by2" and the SDK's
 * `decodeChunks(['foo\r', '\n', 'bar'])`): a parser must give the same records however its input is
 * cut into chunks, including in the middle of a UTF-8 sequence, a BOM, or a `\r\n`.
 */
import { Readable } from 'node:stream';

function bytesOf(input: string | Buffer): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
}

/**
 * The input as bytes, cut in two at every offset from 0 to its length (so the first and the last cut
 * also feed an empty chunk). Each yielded array is a fresh pair of chunks.
 */
export function* everySplit(input: string | Buffer): Generator<Buffer[]> {
  const bytes = bytesOf(input);
  for (let at = 0; at <= bytes.length; at++) {
    yield [bytes.subarray(0, at), bytes.subarray(at)];
  }
}

/** The input as one-byte chunks. */
export function byteByByte(input: string | Buffer): Buffer[] {
  const bytes = bytesOf(input);
  return Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
}

/**
 * Every way of chunking the input these tests use, each with a label for failure messages: whole,
 * every two-way split, and byte by byte.
 */
export function* chunkings(input: string | Buffer): Generator<{ label: string; chunks: Buffer[] }> {
  yield { label: 'whole', chunks: [bytesOf(input)] };
  for (const chunks of everySplit(input)) {
    const first = chunks[0] ?? Buffer.alloc(0);
    yield { label: `split at byte ${first.length} after ${JSON.stringify(first.toString('latin1').slice(-6))}`, chunks };
  }
  yield { label: 'byte by byte', chunks: byteByByte(input) };
}

/** A byte stream of the given chunks, as a file or stdin would deliver them. */
export function source(chunks: readonly Buffer[]): Readable {
  return Readable.from(chunks);
}
