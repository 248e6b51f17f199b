/**
 * The input stage on the files people actually have (issue 14): other encodings, gzip, binary files,
 * `;` and tab delimiters, header-less files, a live stdin, and hostile NDJSON. Every case that
 * parses runs under every chunking (whole, split at every byte, byte by byte).
 */
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isBatchEnrichError } from '../../src/errors.ts';
import { readRecords, type ReadOptions, type SourceRecord } from '../../src/stages/read.ts';
import { RAW_NUMBER, stringifyLossless } from '../../src/core/rawjson.ts';
import { chunkings, source } from '../helpers/chunks.ts';

interface Outcome {
  records: [number, Record<string, unknown>][];
  warnings: string[];
  error?: string;
}

async function read(chunks: Buffer[], options: ReadOptions): Promise<Outcome> {
  const warnings: string[] = [];
  const records: [number, Record<string, unknown>][] = [];
  try {
    for await (const r of readRecords({ ...options, onWarning: (w) => warnings.push(w) })(source(chunks))) {
      records.push([r.line, r.error ? { _error: r.error.message } : r.data]);
    }
  } catch (error) {
    if (!isBatchEnrichError(error)) throw error;
    return { records, warnings, error: error.message };
  }
  return { records, warnings };
}

/** Reads `input` under every chunking; each must give `expected`. */
async function expectEvery(input: Buffer, options: ReadOptions, expected: Outcome) {
  for (const { label, chunks } of chunkings(input)) {
    expect(await read(chunks, options), label).toEqual(expected);
  }
}

const latin1 = (text: string) => Buffer.from(text, 'latin1');

describe('a NUL byte past the first 4 KB (a damaged row, not a binary file)', () => {
  // Refused as binary data wherever it was, it ended a run that had paid for batches, naming no line.
  const rows = Array.from({ length: 40 }, (_, i) => `${i + 1},row ${i + 1} ${'x'.repeat(200)}`);
  const damaged = (text: string, at: string) => {
    const bytes = Buffer.from(text);
    bytes[text.indexOf(at) + at.length] = 0;
    return bytes;
  };
  it('CSV: the read stops at the record that holds it, naming its line', async () => {
    const input = damaged(`id,text\n${rows.join('\n')}\n`, '30,row 30 ');
    for (const { label, chunks } of chunkings(input)) {
      const out = await read(chunks, { file: 'in.csv' });
      expect(out.error, label).toBe('in.csv:31: invalid CSV: a NUL byte (binary data) on this line; the file is damaged here');
      expect(out.records.length, label).toBeLessThan(30);
    }
  });
  it("NDJSON: that line is its record's invalid_input; the others are read", async () => {
    const lines = rows.map((row, i) => JSON.stringify({ id: i + 1, text: row }));
    const input = damaged(`${lines.join('\n')}\n`, '"id":30,"text":"30,row');
    for (const { label, chunks } of chunkings(input)) {
      const out = await read(chunks, { file: 'in.ndjson' });
      expect(out.error, label).toBeUndefined();
      expect(out.records, label).toHaveLength(40);
      expect(out.records[29]?.[0], label).toBe(30);
      expect(String(out.records[29]?.[1]['_error']), label).toMatch(/^in\.ndjson:30: not valid JSON/);
    }
  });
});

describe('encodings', () => {
  it('cp1252/latin1 input is detected, decoded, and said once on stderr', async () => {
    await expectEvery(latin1('name,note\nJ\xfcrgen,caf\xe9\n'), { file: 'in.csv' }, {
      records: [[2, { name: 'Jürgen', note: 'café' }]],
      warnings: ['in.csv: not valid UTF-8; reading it as windows-1252 (detected as ISO-8859-1); if that is wrong, give --encoding NAME'],
    });
  });

  it('cp1252 bytes in 0x80-0x9F (euro sign, curly quotes) are read as windows-1252, not latin1 control characters', async () => {
    const out = await read([Buffer.from([...latin1('item,price\nsoup,5 '), 0x80, 0x0a, ...latin1('quote,'), 0x93, ...latin1('hi'), 0x94, 0x0a])], { file: 'in.csv' });
    expect(out.records).toEqual([[2, { item: 'soup', price: '5 €' }], [3, { item: 'quote', price: '“hi”' }]]);
  });

  it('UTF-8 stays UTF-8 with no warning, also when the first accent is far into the file', async () => {
    const text = `a,b\n${'x,y\n'.repeat(20_000)}J\u00fcrgen,caf\u00e9\n`;
    const out = await read([Buffer.from(text)], { file: 'in.csv' });
    expect(out.warnings).toEqual([]);
    expect(out.records.at(-1)).toEqual([20_002, { a: 'Jürgen', b: 'café' }]);
  });

  it('cp1252 whose first accent comes after many ASCII chunks is still detected, with the line of the accent right', async () => {
    const bytes = Buffer.concat([Buffer.from(`a,b\n${'x,y\n'.repeat(20_000)}`), latin1('J\xfcrgen,caf\xe9 cr\xe8me br\xfbl\xe9e\n')]);
    const chunks = Array.from({ length: Math.ceil(bytes.length / 1000) }, (_, i) => bytes.subarray(i * 1000, (i + 1) * 1000));
    const out = await read(chunks, { file: 'in.csv' });
    expect(out.warnings).toEqual([expect.stringMatching(/^in\.csv: not valid UTF-8; reading it as windows-1252/)]);
    expect(out.records.at(-1)).toEqual([20_002, { a: 'Jürgen', b: 'café crème brûlée' }]);
  });

  // CR-only too (an old Mac export): split at LF only, such a file was one line, read in one encoding.
  it.each([
    ['LF', '\n'],
    ['CR-only', '\r'],
  ])('a file read as windows-1252 whose later lines are UTF-8 (pasted together) reads those lines as UTF-8, and names them (%s line ends)', async (_, eol) => {
    // Read whole as windows-1252, the UTF-8 lines were mojibake ("cafÃ©"), silently.
    const bytes = Buffer.concat([latin1(`name,note${eol}J\xfcrgen,caf\xe9${eol}`), Buffer.from(`Zoë,crème brûlée ☕${eol}"multi${eol}liné",ok${eol}`), latin1(`Andr\xe9,\x93hi\x94${eol}`)]);
    const records = [
      [2, { name: 'Jürgen', note: 'café' }],
      [3, { name: 'Zoë', note: 'crème brûlée ☕' }],
      [4, { name: `multi${eol}liné`, note: 'ok' }],
      [6, { name: 'André', note: '“hi”' }],
    ];
    for (const { label, chunks } of chunkings(bytes)) expect((await read(chunks, { file: 'in.csv' })).records, label).toEqual(records);
    // Decided at the first accent, on what has come: windows-1252 (a pipe gives the lines as they come)…
    const split = await read([bytes.subarray(0, 30), bytes.subarray(30)], { file: 'in.csv' });
    expect(split.warnings).toEqual([
      'in.csv: not valid UTF-8; reading it as windows-1252 (detected as ISO-8859-1); if that is wrong, give --encoding NAME',
      'in.csv:3: this line is valid UTF-8 in a file read as windows-1252 (pasted together from two files?): each line that is valid UTF-8 is read as UTF-8',
      'in.csv:5: this line is valid UTF-8 in a file read as windows-1252',
    ]);
    // …or, seen whole, mostly UTF-8: the lines that are not are named.
    expect((await read([bytes], { file: 'in.csv' })).warnings).toEqual([
      'in.csv: mostly UTF-8, with some lines that are not: those are read as windows-1252, each named; if that is wrong, give --encoding NAME',
      'in.csv:2: this line is not valid UTF-8: read as windows-1252',
      'in.csv:6: this line is not valid UTF-8: read as windows-1252',
    ]);
    // Given with --encoding, the encoding is what the user said: every line.
    const forced = await read([bytes], { file: 'in.csv', encoding: 'windows-1252' });
    expect(forced.records[1]).toEqual([3, { name: 'ZoÃ«', note: 'crÃ¨me brÃ»lÃ©e â˜•' }]);
  });

  it('given as UTF-8, a bad byte in a CR-only file is named at its own line (it was line 1)', async () => {
    await expectEvery(latin1('name\rok\rcaf\xe9\rok\r\nd\xe9j\xe0\r'), { file: 'in.csv', encoding: 'utf-8' }, {
      records: [[2, { name: 'ok' }], [3, { name: 'caf\ufffd' }], [4, { name: 'ok' }], [5, { name: 'd\ufffdj\ufffd' }]],
      warnings: ['in.csv:3: bytes that are not valid utf-8 were read as U+FFFD (\ufffd)', 'in.csv:5: bytes that are not valid utf-8 were read as U+FFFD (\ufffd)'],
    });
  });

  it('short Western text that chardet takes for windows-1257 or the like is read as windows-1252 (Ærø, not Ęrų)', async () => {
    await expectEvery(latin1('id,city\n1,\xc6r\xf8\n'), { file: 'in.csv' }, {
      records: [[2, { id: '1', city: 'Ærø' }]],
      warnings: ['in.csv: not valid UTF-8; reading it as windows-1252 (detected as windows-1257); if that is wrong, give --encoding NAME'],
    });
    // The old Mac export of the CR-only repro: UTF-8 and windows-1252 lines, both read right under every chunking.
    const mixed = Buffer.concat([Buffer.from('id,text\r1,naïve\r'), latin1('2,cr\xe8me\r')]);
    for (const { label, chunks } of chunkings(mixed)) expect((await read(chunks, { file: 'in.csv' })).records, label).toEqual([[2, { id: '1', text: 'naïve' }], [3, { id: '2', text: 'crème' }]]);
  });

  it('in a file read as windows-1252, every line read as UTF-8 is named (the first ten; the rest are counted), not only the first', async () => {
    const bytes = Buffer.concat([latin1('name,note\nJ\xfcrgen,caf\xe9\n'), Buffer.from('Zoë,1\n'.repeat(12)), latin1('Andr\xe9,x\n'), Buffer.from('Zoë,2\n')]);
    const out = await read([bytes.subarray(0, 24), bytes.subarray(24)], { file: 'in.csv' });
    expect(out.records).toHaveLength(15);
    const line = (n: number) => `in.csv:${n}: this line is valid UTF-8 in a file read as windows-1252`;
    expect(out.warnings).toEqual([
      'in.csv: not valid UTF-8; reading it as windows-1252 (detected as ISO-8859-1); if that is wrong, give --encoding NAME',
      `${line(3)} (pasted together from two files?): each line that is valid UTF-8 is read as UTF-8`,
      ...[4, 5, 6, 7, 8, 9, 10, 11, 12].map(line),
      'in.csv: 3 more lines were valid UTF-8 in a file read as windows-1252, read as UTF-8',
    ]);
  });

  it('UTF-8 and UTF-16 (LE and BE) with a BOM', async () => {
    const expected = { records: [[2, { name: 'Jürgen', note: 'café ☕' }]] as [number, Record<string, unknown>][], warnings: [] };
    const text = '\ufeffname,note\nJürgen,café ☕\n';
    await expectEvery(Buffer.from(text, 'utf8'), { file: 'in.csv' }, expected);
    await expectEvery(Buffer.from(text, 'utf16le'), { file: 'in.csv' }, expected);
    const be = Buffer.from(text, 'utf16le');
    be.swap16();
    await expectEvery(be, { file: 'in.csv' }, expected);
  });

  it('a UTF-8 file with a BOM and windows-1252 lines appended is still read line by line, the other lines named', async () => {
    // The BOM turned line-by-line reading off: the windows-1252 lines were U+FFFD.
    const bytes = Buffer.concat([Buffer.from('\ufeffname,note\nJürgen,café ☕\n'), latin1('Andr\xe9,\x93hi\x94\n'), Buffer.from('Zoë,ok\n')]);
    await expectEvery(bytes, { file: 'in.csv' }, {
      records: [
        [2, { name: 'Jürgen', note: 'café ☕' }],
        [3, { name: 'André', note: '“hi”' }],
        [4, { name: 'Zoë', note: 'ok' }],
      ],
      warnings: ['in.csv:3: this line is not valid UTF-8: read as windows-1252; if the file is in another encoding, give it with --encoding NAME'],
    });
    // NDJSON too (the BOM is not part of the first record).
    await expectEvery(Buffer.concat([Buffer.from('\ufeff{"a":"é"}\n'), latin1('{"a":"\xe8"}\n')]), { file: 'in.ndjson' }, {
      records: [[1, { a: 'é' }], [2, { a: 'è' }]],
      warnings: ['in.ndjson:2: this line is not valid UTF-8: read as windows-1252; if the file is in another encoding, give it with --encoding NAME'],
    });
  });

  it('--encoding forces one', async () => {
    await expectEvery(latin1('name\nJ\xfcrgen\n'), { file: 'in.csv', encoding: 'latin1' }, { records: [[2, { name: 'Jürgen' }]], warnings: [] });
  });

  it('a byte not valid in the encoding read is named with its line, never silently U+FFFD', async () => {
    // UTF-8 decided from the first chunk (a pipe gives the input as it comes), then a cp1252 line: read
    // as windows-1252 (it was U+FFFD), and named. Seen whole, the file leans windows-1252 (one accent
    // each way): the records are the same.
    const text = Buffer.concat([Buffer.from('name\nJürgen\nok\n'), latin1('caf\xe9\n')]);
    const split = await read([text.subarray(0, 15), text.subarray(15)], { file: 'in.csv' });
    expect(split.warnings).toEqual(['in.csv:4: this line is not valid UTF-8: read as windows-1252; if the file is in another encoding, give it with --encoding NAME']);
    for (const { label, chunks } of chunkings(text)) expect((await read(chunks, { file: 'in.csv' })).records, label).toEqual([[2, { name: 'Jürgen' }], [3, { name: 'ok' }], [4, { name: 'café' }]]);
    // Forced to UTF-8, a cp1252 file is named at its first bad byte, under every chunking.
    await expectEvery(latin1('name\nok\ncaf\xe9\n'), { file: 'in.csv', encoding: 'utf-8' }, {
      records: [[2, { name: 'ok' }], [3, { name: 'caf\ufffd' }]],
      warnings: ['in.csv:3: bytes that are not valid utf-8 were read as U+FFFD (\ufffd)'],
    });
    // A U+FFFD the file itself contains is not reported.
    expect((await read([Buffer.from('name\nx\ufffdy\n')], { file: 'in.csv' })).warnings).toEqual([]);
  });

  it('every line with such bytes is named (once, however many it has), up to ten; the rest are counted at the end', async () => {
    const warning = (line: number) => `in.csv:${line}: bytes that are not valid utf-8 were read as U+FFFD (\ufffd)`;
    // Forced to UTF-8: stray cp1252 bytes on lines 3 and 5 (two on line 5), under every chunking.
    await expectEvery(latin1('name\nok\ncaf\xe9\nok\nd\xe9j\xe0 vu\n'), { file: 'in.csv', encoding: 'utf-8' }, {
      records: [[2, { name: 'ok' }], [3, { name: 'caf\ufffd' }], [4, { name: 'ok' }], [5, { name: 'd\ufffdj\ufffd vu' }]],
      warnings: [warning(3), warning(5)],
    });
    // Thirteen such lines: ten named, three counted.
    const out = await read([Buffer.concat([Buffer.from('name\n'), ...Array.from({ length: 13 }, () => latin1('caf\xe9\n'))])], { file: 'in.csv', encoding: 'utf-8' });
    expect(out.warnings).toEqual([...Array.from({ length: 10 }, (_, i) => warning(i + 2)), 'in.csv: 3 more lines had bytes that are not valid utf-8, read as U+FFFD (\ufffd)']);
    expect(out.records).toHaveLength(13);
  });

  it('an encoding detected, not given: a byte it leaves undefined is named too (windows-1252 has five: 81 8D 8F 90 9D)', async () => {
    // helper-40: the file was detected as windows-1252, and 0x81 became U+FFFD with no word. (A BOM
    // says the encoding: no hint to give another then.)
    const file = Buffer.concat([Buffer.from('id,name\n'), Buffer.from('1,Café Müller\n', 'latin1'), latin1('2,x\x81y\n'), Buffer.from('3,z\n')]);
    for (const { label, chunks } of chunkings(file)) {
      const out = await read(chunks, { file: 'in.csv' });
      expect(out.records, label).toEqual([[2, { id: '1', name: 'Café Müller' }], [3, { id: '2', name: 'x\ufffdy' }], [4, { id: '3', name: 'z' }]]);
      expect(out.warnings.filter((w) => w.includes('U+FFFD')), label).toEqual(['in.csv:3: bytes that are not valid windows-1252 were read as U+FFFD (\ufffd); if the file is in another encoding, give it with --encoding NAME']);
    }
    // Such a line in a file read as UTF-8, decided from its first chunk (each line not valid UTF-8 is
    // read as windows-1252): one warning says both.
    const head = Buffer.from('id,name\n1,Jürgen\n');
    const out = await read([head, latin1('2,caf\xe9 x\x81y\n')], { file: 'in.csv' });
    expect(out.records).toEqual([[2, { id: '1', name: 'Jürgen' }], [3, { id: '2', name: 'café x\ufffdy' }]]);
    expect(out.warnings).toEqual(['in.csv:3: this line is not valid UTF-8: read as windows-1252, and bytes that are not valid windows-1252 as U+FFFD (\ufffd); if the file is in another encoding, give it with --encoding NAME']);
  });

  it('UTF-16: a lone surrogate, and an odd byte at the end (a file cut short), are U+FFFD, named with their line', async () => {
    const utf16 = (text: string) => Buffer.from(text, 'utf16le');
    const bom = Buffer.from([0xff, 0xfe]);
    const lone = Buffer.concat([bom, utf16('id,name\r\n1,a'), Buffer.from([0x00, 0xd8]), utf16('\r\n2,b \ud83d\ude00\r\n')]);
    for (const { label, chunks } of chunkings(lone)) {
      const out = await read(chunks, { file: 'in.csv' });
      expect(out.records, label).toEqual([[2, { id: '1', name: 'a\ufffd' }], [3, { id: '2', name: 'b \ud83d\ude00' }]]);
      expect(out.warnings, label).toEqual(['in.csv:2: bytes that are not valid utf-16le were read as U+FFFD (\ufffd)']);
    }
    const cut = Buffer.concat([bom, utf16('id,name\r\n1,a\r\n2,b'), Buffer.from([0x63])]);
    for (const { label, chunks } of chunkings(cut)) {
      const out = await read(chunks, { file: 'in.csv', encoding: 'utf-16le' });
      expect(out.records, label).toEqual([[2, { id: '1', name: 'a' }], [3, { id: '2', name: 'b\ufffd' }]]);
      expect(out.warnings, label).toEqual(['in.csv:3: bytes that are not valid utf-16le were read as U+FFFD (\ufffd)']);
    }
    // An odd last byte that is a line break (`echo >> file.csv` on a UTF-16 file) is dropped, as it was
    // (helper-42: a last line of U+FFFD made the CSV fail, 'expected 2 fields').
    const echoed = Buffer.concat([bom, utf16('id,name\r\n1,a\r\n2,b\r\n'), Buffer.from([0x0a])]);
    for (const { label, chunks } of chunkings(echoed)) {
      const out = await read(chunks, { file: 'in.csv' });
      expect(out, label).toEqual({ records: [[2, { id: '1', name: 'a' }], [3, { id: '2', name: 'b' }]], warnings: [] });
    }
    // Big-endian, a high surrogate last.
    const be = Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(utf16('id\n1\n').swap16()), Buffer.from([0xd8, 0x3d])]);
    const out = await read([be], { file: 'in.csv' });
    expect(out.records).toEqual([[2, { id: '1' }], [3, { id: '\ufffd' }]]);
    expect(out.warnings).toEqual(['in.csv:3: bytes that are not valid utf-16be were read as U+FFFD (\ufffd)']);
  });

  it('a reader stopped early (--limit) names no line it did not read, though the decoder read ahead', async () => {
    const bytes = Buffer.concat([Buffer.from('name\n'), latin1('caf\xe9\n'), Buffer.from('ok\nok\n'), latin1('d\xe9j\xe0\n')]);
    const warnings: string[] = [];
    const lines: number[] = [];
    for await (const record of readRecords({ file: 'in.csv', encoding: 'utf-8', onWarning: (w) => warnings.push(w) })(source([bytes]))) {
      lines.push(record.line);
      if (lines.length === 2) break;
    }
    expect(lines).toEqual([2, 3]);
    expect(warnings).toEqual(['in.csv:2: bytes that are not valid utf-8 were read as U+FFFD (\ufffd)']);
  });

  it('an input refused while bad bytes wait to be named names them first (a header that does not parse, or lacks a column)', async () => {
    const out = await read([Buffer.concat([latin1('na\xefve,"x\n'), Buffer.from('a,b\n')])], { file: 'in.csv', encoding: 'utf-8' });
    expect(out.error).toBeDefined();
    expect(out.warnings).toEqual(['in.csv:1: bytes that are not valid utf-8 were read as U+FFFD (\ufffd)']);
  });
});

describe('containers and binary files', () => {
  it('gzip input is decompressed as a stream, by magic bytes or by .gz', async () => {
    const gz = gzipSync(Buffer.from('{"a":1}\n{"a":2}\n'));
    for (const file of ['in.ndjson.gz', '-', 'data']) {
      const out = await read([gz.subarray(0, 5), gz.subarray(5)], { file });
      expect(out, file).toEqual({ records: [[1, { a: 1 }], [2, { a: 2 }]], warnings: [] });
    }
  });

  it('Parquet, XLSX/zip and other binary files are refused by name, with no binary garbage in the message', async () => {
    const cases: [Buffer, string, RegExp][] = [
      [Buffer.concat([Buffer.from('PAR1'), Buffer.from([0, 1, 2, 0xff, 0x15])]), 'x.parquet', /^x\.parquet: this is a Parquet file, not CSV, TSV or NDJSON text; convert it/],
      [Buffer.concat([Buffer.from([0x50, 0x4b, 3, 4]), Buffer.from([0x14, 0, 6, 0, 0xff])]), 'book.xlsx', /^book\.xlsx: this is a ZIP archive \(an XLSX workbook, or a zipped file\)/],
      [Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]), 'a.out', /^a\.out: this is binary data \(it has NUL bytes\)/],
    ];
    for (const [bytes, file, message] of cases) {
      for (const { label, chunks } of chunkings(bytes)) {
        const out = await read(chunks, { file });
        expect(out.error, `${file} ${label}`).toMatch(message);
        expect(out.error, `${file} ${label}`).toMatch(/^[\x20-\x7e]+$/);
      }
    }
  });
});

describe('delimiters and headers', () => {
  it('sniffs ; and tab from the header line', async () => {
    await expectEvery(Buffer.from('name;note\n"a;b";2,5\n'), { file: '-' }, { records: [[2, { name: 'a;b', note: '2,5' }]], warnings: [] });
    await expectEvery(Buffer.from('name\tnote\na,b\t2\n'), { file: '-' }, { records: [[2, { name: 'a,b', note: '2' }]], warnings: [] });
  });

  it('--delimiter wins over the sniff', async () => {
    await expectEvery(Buffer.from('a|b;c\n1|2;3\n'), { file: 'in.csv', delimiter: '|' }, { records: [[2, { a: '1', 'b;c': '2;3' }]], warnings: [] });
  });

  it('TSV (.tsv or format tsv) has no quoting: a quote is text', async () => {
    const input = Buffer.from('label\ttext\nham\tHe said "hi\nspam\tWIN "big"\n');
    const expected = { records: [[2, { label: 'ham', text: 'He said "hi' }], [3, { label: 'spam', text: 'WIN "big"' }]] as [number, Record<string, unknown>][], warnings: [] };
    await expectEvery(input, { file: 'sms.tsv' }, expected);
    await expectEvery(input, { file: '-', format: 'tsv' }, expected);
  });

  it('header: false names the columns 1..n and reads the first row as data', async () => {
    await expectEvery(Buffer.from('ham\tOk lar\nspam\tFree entry\n'), { file: 'sms.tsv', header: false }, {
      records: [[1, { 1: 'ham', 2: 'Ok lar' }], [2, { 1: 'spam', 2: 'Free entry' }]],
      warnings: [],
    });
  });

  it('a row with the wrong field count is its record’s error, named with its line, also past the first chunk', async () => {
    const input = Buffer.from(`a,b\n${'1,2\n'.repeat(3)}1,2,3\n4,5\n`);
    for (const { label, chunks } of chunkings(input)) {
      const outcome = await read(chunks, { file: 'in.csv' });
      expect(outcome.error, label).toBeUndefined();
      expect(outcome.records.slice(3), label).toEqual([
        [5, { _error: 'in.csv:5: invalid CSV: expected 2 fields, as in the header, got 3' }],
        [6, { a: '4', b: '5' }],
      ]);
    }
  });
});

describe('a live stdin', () => {
  it('a CSV row comes out as soon as its line ends, with no more input', async () => {
    const stdin = new PassThrough();
    const records = readRecords({ file: '-' })(stdin);
    stdin.write('id,text\n1,first\n');
    const first = await Promise.race([records.next(), new Promise((resolve) => setTimeout(() => resolve('waited'), 500))]);
    expect(first).toMatchObject({ value: { line: 2, data: { id: '1', text: 'first' } } });
    stdin.write('2,"second,\nrow"\n');
    const second = await Promise.race([records.next(), new Promise((resolve) => setTimeout(() => resolve('waited'), 500))]);
    expect(second).toMatchObject({ value: { line: 3, data: { id: '2', text: 'second,\nrow' } } });
    stdin.end();
    expect((await records.next()).done).toBe(true);
  });
});

describe('hostile NDJSON', () => {
  it('a record nested 6,000 deep is that record\'s invalid_input, and the others go on', async () => {
    const deep = `${'{"a":'.repeat(6000)}1${'}'.repeat(6000)}`;
    const out = await read([Buffer.from(`{"x":1}\n{"deep":${deep}}\n{"x":3}\n`)], { file: 'in.ndjson' });
    expect(out.records).toEqual([
      [1, { x: 1 }],
      [2, { _error: 'in.ndjson:2: the record is nested 6001 levels deep, more than the 1000 batch-enrich reads' }],
      [3, { x: 3 }],
    ]);
  });

  it('a line longer than the cap is that record\'s invalid_input and is never held whole', async () => {
    const out = await read([Buffer.from(`{"x":1}\n{"big":"${'y'.repeat(500)}"}\n{"x":3}\n`)], { file: 'in.ndjson', maxRecordChars: 100 });
    expect(out.records).toEqual([[1, { x: 1 }], [2, { _error: 'in.ndjson:2: the record is 510 characters long, more than the 100 batch-enrich reads' }], [3, { x: 3 }]]);
  });

  it('numbers a JavaScript number cannot hold are kept as they came', async () => {
    const line = '{"id":9007199254740993,"big":1e400,"ok":12,"price":1.10,"tiny":-1e-400,"nested":[123456789012345678901234567890]}';
    let records: SourceRecord[] = [];
    for (const { label, chunks } of chunkings(`${line}\n`)) {
      records = [];
      for await (const r of readRecords({ file: 'in.ndjson' })(source(chunks))) records.push(r);
      expect(stringifyLossless(records[0]?.data), label).toBe(line);
    }
    expect(records[0]?.data['id']).toBe(`${RAW_NUMBER}9007199254740993`);
    expect(records[0]?.data['ok']).toBe(12);
  });
});
