/**
 * The CSV fast path (core/csv.ts) must read exactly what csv-parse reads, and leave to csv-parse
 * everything else. Checked directly on the cases it must give up on, and against csv-parse through
 * `readCsv` on random CSV: read whole (its first block, all but the tail, is csv-parse's) and cut
 * into small chunks (blocks after the header take the fast path), the records, their lines and any
 * error must be the same.
 */
import { parse as parseSync } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { parseSimpleCsv } from '../../src/core/csv.ts';
import { isBatchEnrichError } from '../../src/errors.ts';
import { readCsv, type ReadOptions, type SourceRecord } from '../../src/stages/read.ts';
import { source } from '../helpers/chunks.ts';

const csv = { delimiter: ',', quoting: true, width: 2 };

describe('parseSimpleCsv', () => {
  it('reads quoted fields, doubled quotes, quoted line breaks, CRLF/LF/CR ends and empty lines, with each record’s line', () => {
    expect(parseSimpleCsv('a,"b ""c"", d"\r\n\n"x\r\ny",\r"",z', csv)).toEqual({
      rows: [
        ['a', 'b "c", d'],
        ['x\r\ny', ''],
        ['', 'z'],
      ],
      lines: [0, 2, 4],
      breaks: 4,
      blank: [],
    });
  });

  // helper-57: a blank line of another width sent its whole block to csv-parse: a million rows with one
  // every 100 rows read in 7.5 s of CPU, against 1.05 s without them.
  it('skips a blank line of another width (spaces, tabs, only delimiters), and gives its line', () => {
    expect(parseSimpleCsv('a,b\n   \n\t,\t,\nc,d\n', csv)).toEqual({ rows: [['a', 'b'], ['c', 'd']], lines: [0, 3], breaks: 4, blank: [1, 2] });
    // Of the header's width too (Excel's empty rows); but under one column, spaces are its value.
    expect(parseSimpleCsv(' , \n,\n', csv)).toEqual({ rows: [], lines: [], breaks: 2, blank: [0, 1] });
    expect(parseSimpleCsv('  \n', { ...csv, width: 1 })?.rows).toEqual([['  ']]);
  });

  const givesUp: { description: string; text: string; options?: Partial<typeof csv> }[] = [
    { description: 'a quote inside an unquoted field (csv-parse: Invalid Opening Quote)', text: 'a,b"c\n' },
    { description: 'text after a closing quote (csv-parse: Invalid Closing Quote)', text: '"a"b,c\n' },
    { description: 'a NUL after a closing quote (csv-parse takes it for the end of its buffer)', text: '"a"\u0000,c\n' },
    { description: 'an unclosed quote', text: 'a,"b\nc,d\n' },
    { description: 'a wrong field count', text: 'a,b\nc\n' },
    { description: 'a lone surrogate (csv-parse reads it as U+FFFD)', text: 'a,\ud800\n' },
    { description: 'a delimiter of more than one character', text: 'a::b\n', options: { delimiter: '::' } },
    { description: 'a non-ASCII delimiter', text: 'a§b\n', options: { delimiter: '§' } },
    { description: 'the quote as delimiter', text: 'a"b\n', options: { delimiter: '"' } },
  ];
  for (const t of givesUp) {
    it(`leaves to csv-parse: ${t.description}`, () => {
      expect(parseSimpleCsv(t.text, { ...csv, ...t.options })).toBeUndefined();
    });
  }

  it('TSV has no quoting: a quote is text', () => {
    expect(parseSimpleCsv('a"\t"b""\n', { delimiter: '\t', quoting: false, width: 2 })?.rows).toEqual([['a"', '"b""']]);
  });
});

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed by its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pieces = ['a', 'b', 'é', '中', '😀', ' ', ',', ';', '\t', '"', '""', '\n', '\r\n', '\r', '__proto__'];

/** Random CSV: mostly well-formed rows of `width` fields, some quoted, with now and then a flaw. */
function randomCsv(next: () => number, delimiter: string, width: number): string {
  const pick = <T,>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const field = () => {
    let text = '';
    for (let k = Math.floor(next() * 4); k > 0; k--) text += pick(pieces);
    // A rare flaw: a NUL byte (a damaged file) stops the read at its line, whole or in chunks alike.
    if (next() < 0.01) text += '\u0000';
    if (next() < 0.5) return `"${text.replaceAll('"', '""')}"`;
    return next() < 0.9 ? text.replace(/[",;\t\r\n]/g, '') : text; // sometimes raw: a stray quote, delimiter or break
  };
  const end = () => pick(['\n', '\r\n', '\r', '\n\n', '\r\n\r\n']);
  let text = next() < 0.2 ? end() : '';
  const header = Array.from({ length: width }, (_, i) => (next() < 0.1 ? '__proto__' : `c${i}`));
  if (new Set(header).size === width) text += header.join(delimiter) + end();
  else text += header.map((_, i) => `c${i}`).join(delimiter) + end();
  for (let r = Math.floor(next() * 12); r > 0; r--) {
    const fields = Array.from({ length: next() < 0.05 ? width + 1 : width }, field);
    text += fields.join(delimiter) + (r > 1 || next() < 0.7 ? end() : '');
  }
  return text;
}

/** The records (seq, line, data, and the error of a row of another width) and the error of reading `chunks`. */
async function read(chunks: Buffer[], options: ReadOptions) {
  const records: Pick<SourceRecord, 'seq' | 'line' | 'data' | 'error'>[] = [];
  try {
    for await (const r of readCsv(source(chunks), { file: 'in.csv', ...options })) records.push({ seq: r.seq, line: r.line, data: r.data, ...(r.error ? { error: r.error } : {}) });
  } catch (error) {
    if (!isBatchEnrichError(error)) throw error;
    return { records, error: { code: error.code, message: error.message, line: error.line } };
  }
  return { records, error: undefined };
}

describe('readCsv with the fast path reads what csv-parse reads', () => {
  const variants: { name: string; delimiter: string; options: ReadOptions }[] = [
    { name: 'CSV', delimiter: ',', options: {} },
    { name: 'CSV with ;', delimiter: ';', options: { delimiter: ';' } },
    { name: 'TSV', delimiter: '\t', options: { format: 'tsv' } },
    { name: 'CSV without header', delimiter: ',', options: { header: false } },
  ];
  for (const variant of variants) {
    it(`${variant.name}: 400 random inputs, whole and in small chunks, give the same records, lines and errors`, async () => {
      let compared = 0;
      let strictlyRead = 0;
      for (let seed = 1; seed <= 400; seed++) {
        const next = random(seed);
        const text = randomCsv(next, variant.delimiter, 1 + Math.floor(next() * 3));
        // Cut as bytes, as a file comes: in the middle of a UTF-8 sequence or a CRLF too.
        const bytes = Buffer.from(text);
        const chunks: Buffer[] = [];
        for (let at = 0; at < bytes.length; ) {
          const size = 1 + Math.floor(next() * 12);
          chunks.push(bytes.subarray(at, at + size));
          at += size;
        }
        const whole = await read([bytes], variant.options);
        const parts = await read(chunks, variant.options);
        const label = `seed ${seed}: ${JSON.stringify(text)}`;
        if (variant.options.header === false && parts.error && whole.error) {
          // Without a header, csv-parse words a wrong field count differently in the first block
          // (before the columns are named) than after it: the same error, on the same line.
          expect({ ...parts.error, message: '' }, label).toEqual({ ...whole.error, message: '' });
        } else {
          expect(parts.error, label).toEqual(whole.error);
        }
        if (whole.error) {
          // Records before the error depend on where the blocks were cut: one list is a prefix of the other.
          const n = Math.min(whole.records.length, parts.records.length);
          expect(parts.records.slice(0, n), label).toEqual(whole.records.slice(0, n));
        } else {
          expect(parts.records, label).toEqual(whole.records);
          compared += parts.records.length;
        }
        for (const r of parts.records) expect(Object.getPrototypeOf(r.data), label).toBe(Object.prototype);
        // Where strict csv-parse reads the whole text (no stray quote, no text after a closing quote,
        // no NUL), the rows are its rows: the quote rules of the record-end scan change nothing there.
        if (variant.options.format !== 'tsv' && !text.includes('\u0000')) {
          let strict: string[][] | undefined;
          try {
            strict = parseSync(text, { bom: true, delimiter: variant.delimiter, skip_empty_lines: true, record_delimiter: ['\r\n', '\n', '\r'], relax_column_count: true }) as string[][];
          } catch {
            strict = undefined;
          }
          // …less the blank rows (only spaces, tabs or empty fields), which are no records: of another
          // width, or of the header's when it has two columns or more.
          const width = strict?.[0]?.length ?? 0;
          const blank = (row: string[]) => row.every((field) => /^[ \t]*$/.test(field)) && (row.length !== width || width > 1);
          strict = strict?.filter((row, i) => (i === 0 && variant.options.header !== false) || !blank(row));
          // A row of another width than the header's (or the first row's) is its record's error.
          const shown = (row: string[]) => (row.length === width ? row : 'another width');
          if (strict && !whole.error) {
            expect(parts.records.map((r) => (r.error ? 'another width' : Object.values(r.data))), label).toEqual((variant.options.header === false ? strict : strict.slice(1)).map(shown));
          }
          if (strict) strictlyRead++;
        }
      }
      expect(compared).toBeGreaterThan(300);
      if (variant.options.format !== 'tsv') expect(strictlyRead).toBeGreaterThan(100);
    });
  }
});
