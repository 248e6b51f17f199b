/** Lines out of chunks: the same lines however the bytes are cut, long ones capped without being held. */
import { describe, expect, it } from 'vitest';
import { splitLinesCapped, type LineTooLong } from '../../src/core/lines.ts';
import { chunkings, source } from '../helpers/chunks.ts';

async function lines(chunks: Buffer[], cap: number): Promise<(string | LineTooLong)[]> {
  const out: (string | LineTooLong)[] = [];
  for await (const line of splitLinesCapped(source(chunks), cap)) out.push(line);
  return out;
}

describe('splitLinesCapped', () => {
  const cases: { description: string; input: string; cap: number; want: (string | LineTooLong)[] }[] = [
    { description: 'LF, CRLF, blank lines and a last line without a line break', input: 'a\r\n\nbé\r\n\r\n中😀', cap: 100, want: ['a', '', 'bé', '', '中😀'] },
    { description: 'a line at the cap, with its CRLF, is kept', input: 'abcde\r\nxy\r\n', cap: 5, want: ['abcde', 'xy'] },
    {
      description: 'a line over the cap comes as its length, without its CR, and the next line is read',
      input: 'abcdef\r\nxy\nabcdefgh\n',
      cap: 5,
      want: [{ tooLong: true, length: 6 }, 'xy', { tooLong: true, length: 8 }],
    },
    { description: 'a last line over the cap, ending in a CR', input: 'ok\nabcdefg\r', cap: 5, want: ['ok', { tooLong: true, length: 7 }] },
    // As the CSV reader (csv-parse's record_delimiter \r\n, \n, \r): classic Mac OS files end lines with a CR alone.
    { description: 'a lone CR ends a line (CR-only files), a CRLF cut between chunks is one line end', input: 'a\rb\nc\r\r\nd\re', cap: 100, want: ['a', 'b', 'c', '', 'd', 'e'] },
    { description: 'a CR-only last line over the cap, and a line at the cap after it', input: 'abcdefg\rabcde\r', cap: 5, want: [{ tooLong: true, length: 7 }, 'abcde'] },
  ];
  for (const t of cases) {
    it(t.description, async () => {
      for (const { label, chunks } of chunkings(t.input)) expect(await lines(chunks, t.cap), label).toEqual(t.want);
    });
  }
});
