/**
 * The input stage: CSV and NDJSON bytes → records with their 1-based starting line. Every parser case
 * runs its input whole, split in two at every byte offset, and byte by byte (style rule 13), and must
 * give the same records, line numbers and errors each time.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BatchEnrichError, isBatchEnrichError } from '../../src/errors.ts';
import { formatFromName, readCsv, readNdjson, readRecords, type ReadOptions, type SourceRecord } from '../../src/stages/read.ts';
import { writeRecords, type WriteOptions } from '../../src/stages/write.ts';
import { chunkings, source } from '../helpers/chunks.ts';
import { expectError } from '../helpers/expect-error.ts';

type Reader = (source: AsyncIterable<Buffer>) => AsyncGenerator<SourceRecord>;

const csv = (options: ReadOptions = {}): Reader => (s) => readCsv(s, { file: 'in.csv', ...options });
const ndjson = (options: ReadOptions = {}): Reader => (s) => readNdjson(s, { file: 'in.ndjson', ...options });
const sniffing = (options: ReadOptions = {}): Reader => readRecords(options);

interface Outcome {
  records: SourceRecord[];
  error?: { code: string; message: string; line: number | undefined; file: string | undefined };
}

async function run(read: Reader, chunks: Buffer[]): Promise<Outcome> {
  const records: SourceRecord[] = [];
  try {
    for await (const record of read(source(chunks))) records.push(record);
  } catch (error) {
    if (!isBatchEnrichError(error)) throw error;
    return { records, error: { code: error.code, message: error.message, line: error.line, file: error.file } };
  }
  return { records };
}

/** Reads `chunks` as CSV, with what it said (`onWarning`). */
async function warned(chunks: Buffer[]): Promise<Outcome & { warnings: string[] }> {
  const warnings: string[] = [];
  return { ...(await run(csv({ onWarning: (w) => warnings.push(w) }), chunks)), warnings };
}

/** Records as `[line, data]` pairs, the part of a record a user sees. */
const seen = (records: readonly SourceRecord[]) => records.map((r) => [r.line, r.data]);

/** Reads `input` under every chunking and checks each gives `expected` (records as `[line, data]`). */
async function expectRecords(input: string, read: Reader, expected: [number, Record<string, unknown>][]) {
  for (const { label, chunks } of chunkings(input)) {
    const outcome = await run(read, chunks);
    expect(outcome.error, label).toBeUndefined();
    expect(seen(outcome.records), label).toEqual(expected);
    expect(
      outcome.records.map((r) => r.seq),
      `${label}: seq is the 0-based position`,
    ).toEqual(expected.map((_, i) => i));
  }
}

/** Reads `input` as CSV under every chunking and checks each gives `expected` records and says `said`. */
async function expectSaid(input: string, expected: readonly (readonly [number, Record<string, unknown>])[], said: readonly string[]) {
  for (const { label, chunks } of chunkings(Buffer.from(input))) {
    const { warnings, ...outcome } = await warned(chunks);
    expect(outcome.error, label).toBeUndefined();
    expect(seen(outcome.records), label).toEqual(expected);
    expect(outcome.records.map((r) => r.seq), `${label}: seq is the 0-based position`).toEqual(expected.map((_, i) => i));
    expect(warnings, label).toEqual(said);
  }
}

/**
 * Reads `input` under every chunking and checks each fails the same way. Records already yielded
 * before the error may differ with the chunking, but must be a prefix of `before`.
 */
async function expectFailure(
  input: string,
  read: Reader,
  expected: { code: string; line: number; message: RegExp },
  before: [number, Record<string, unknown>][] = [],
) {
  for (const { label, chunks } of chunkings(input)) {
    const outcome = await run(read, chunks);
    expect(outcome.error, `${label}: should fail`).toBeDefined();
    expect(outcome.error?.code, label).toBe(expected.code);
    expect(outcome.error?.line, `${label}: ${outcome.error?.message}`).toBe(expected.line);
    expect(outcome.error?.message, label).toMatch(expected.message);
    expect(seen(outcome.records), label).toEqual(before.slice(0, outcome.records.length));
  }
}

// helper-77: `format: 'json'` read a JSON array as CSV (no record, or garbage ones), 'NDJSON' gave no
// record, and a misspelled `delimeter` was ignored, all without a word; enrichStage names a bad option.
describe('readRecords and writeRecords check their options, as enrichStage does', () => {
  it.each([
    [{ format: 'json' }, /^readRecords: `format`: expected csv, tsv or ndjson \(a JSON array is read as ndjson\), got "json"$/],
    [{ format: 'NDJSON' }, /^readRecords: `format`: expected csv, tsv or ndjson/],
    [{ delimeter: ';' }, /^readRecords: unknown option `delimeter` \(did you mean `delimiter`\?\)$/],
    [{ header: 'no' }, /^readRecords: `header`: expected true or false, got "no"$/],
  ])('readRecords(%o) is refused', (options, message) => {
    expect(() => readRecords(options as ReadOptions)).toThrow(expect.objectContaining({ code: 'BE_INVALID_OPTION', message: expect.stringMatching(message) }));
  });
  // helper-77: an object-mode stream threw Node's own ERR_INVALID_ARG_TYPE ("The "list[1]" argument must be …").
  it('readRecords fed objects, not bytes or text, says what it takes and what takes objects', async () => {
    await expectError(drain(readRecords()(Readable.from([{ id: 1 }, { id: 2 }]))), {
      code: 'BE_INVALID_OPTION',
      message: /^readRecords takes bytes or text \(a file or stdin stream\), got an object: {"id":1}; enrich\(\) takes objects, and fromObjects\(\) makes records of them in a pipeline$/,
    });
  });

  it.each([
    [{ format: 'parquet' }, /^writeRecords: `format`: expected ndjson or csv, got "parquet"$/],
    [{ format: 'csv', boom: true }, /^writeRecords: unknown option `boom` \(did you mean `bom`\?\)$/],
  ])('writeRecords(%o) is refused', (options, message) => {
    expect(() => writeRecords(options as WriteOptions)).toThrow(expect.objectContaining({ code: 'BE_INVALID_OPTION', message: expect.stringMatching(message) }));
  });
});

describe('readCsv: records and their lines', () => {
  const cases: { description: string; input: string; want: [number, Record<string, string>][] }[] = [
    {
      description: 'the header row gives the keys; a record line is its 1-based line in the file',
      input: 'id,name\n1,Ann\n2,Bob\n',
      want: [
        [2, { id: '1', name: 'Ann' }],
        [3, { id: '2', name: 'Bob' }],
      ],
    },
    {
      description: 'a UTF-8 BOM is not part of the first column name',
      input: '\ufeffid,name\n1,Ann\n',
      want: [[2, { id: '1', name: 'Ann' }]],
    },
    {
      description: 'CRLF line ends leave no \\r in the last column',
      input: 'id,name\r\n1,Ann\r\n2,Bob\r\n',
      want: [
        [2, { id: '1', name: 'Ann' }],
        [3, { id: '2', name: 'Bob' }],
      ],
    },
    {
      description: 'CRLF and LF mixed in one file (files stitched together) split records at both, keeping a quoted CRLF',
      input: 'id,name\r\n1,Ann\n2,"B\r\nob"\r\n3,Cy\n\r\n4,Di',
      want: [
        [2, { id: '1', name: 'Ann' }],
        [3, { id: '2', name: 'B\r\nob' }],
        [5, { id: '3', name: 'Cy' }],
        [7, { id: '4', name: 'Di' }],
      ],
    },
    {
      description: 'the last record needs no line end',
      input: 'id,name\n1,Ann\n2,Bob',
      want: [
        [2, { id: '1', name: 'Ann' }],
        [3, { id: '2', name: 'Bob' }],
      ],
    },
    {
      description: 'quoted fields keep their commas and doubled quotes',
      input: 'id,text\n1,"a, b"\n2,"say ""hi"""\n3,""\n',
      want: [
        [2, { id: '1', text: 'a, b' }],
        [3, { id: '2', text: 'say "hi"' }],
        [4, { id: '3', text: '' }],
      ],
    },
    {
      description: 'a quoted LF newline stays in the value, and the next record is numbered after it',
      input: 'id,text\n1,"line one\nline two"\n2,after\n',
      want: [
        [2, { id: '1', text: 'line one\nline two' }],
        [4, { id: '2', text: 'after' }],
      ],
    },
    {
      description: 'a quoted CRLF counts as one line, before and after it (csv-parse alone counts it twice)',
      input: 'id,text\r\n1,"one\r\ntwo\r\nthree"\r\n2,after\r\n3,"x\r\n\r\ny"\r\n4,end',
      want: [
        [2, { id: '1', text: 'one\r\ntwo\r\nthree' }],
        [5, { id: '2', text: 'after' }],
        [6, { id: '3', text: 'x\r\n\r\ny' }],
        [9, { id: '4', text: 'end' }],
      ],
    },
    {
      description: 'a quoted newline in the header moves every record down a line',
      input: '"first\r\nname",age\r\nAnn,30\r\n',
      want: [[3, { 'first\r\nname': 'Ann', age: '30' }]],
    },
    {
      description: 'multi-byte UTF-8 (é, 中文, emoji) survives any chunk boundary',
      input: 'id,text\n1,café\n2,中文\n3,"😀, ok"\n',
      want: [
        [2, { id: '1', text: 'café' }],
        [3, { id: '2', text: '中文' }],
        [4, { id: '3', text: '😀, ok' }],
      ],
    },
    {
      description: 'empty lines are skipped but still counted',
      input: '\n\nid,text\n\n1,a\n\n\n2,b\n\n',
      want: [
        [5, { id: '1', text: 'a' }],
        [8, { id: '2', text: 'b' }],
      ],
    },
    {
      description: 'empty CRLF lines are skipped but still counted',
      input: '\r\nid,text\r\n\r\n1,a\r\n\r\n2,b\r\n\r\n',
      want: [
        [4, { id: '1', text: 'a' }],
        [6, { id: '2', text: 'b' }],
      ],
    },
    {
      description: 'values are kept verbatim: no trimming, no number casting',
      input: 'id,text\n007, padded \n',
      want: [[2, { id: '007', text: ' padded ' }]],
    },
    {
      description: "Excel's sep= line gives the delimiter and is not the header; the records keep their lines",
      input: 'sep=;\r\nid;name;amount\r\n1;"Smith; John";1,50\r\n2;Müller;2,00\r\n',
      want: [
        [3, { id: '1', name: 'Smith; John', amount: '1,50' }],
        [4, { id: '2', name: 'Müller', amount: '2,00' }],
      ],
    },
    {
      description: 'a sep= line after a UTF-8 BOM',
      input: '\uFEFFsep=;\nid;name\n1;Ann\n',
      want: [[3, { id: '1', name: 'Ann' }]],
    },
    {
      description: 'a sep= line names any one character, a pipe too',
      input: 'sep=|\nid|text\n1|a,b\n',
      want: [[3, { id: '1', text: 'a,b' }]],
    },
    {
      // As Python's csv, pandas and Excel read them; csv-parse refused them (Invalid Opening Quote), and
      // the record-end scan took each for the start of a quoted field, pairing quotes across lines.
      description: 'a quote inside an unquoted field is text, and never opens a quoted field across lines',
      input: 'id,text,note\n1,The 27" monitor flickers,\n2,plain,\n3,5\'11" tall, "quoted ""too"""\n4,two "quotes" in a field,x\n',
      want: [
        [2, { id: '1', text: 'The 27" monitor flickers', note: '' }],
        [3, { id: '2', text: 'plain', note: '' }],
        [4, { id: '3', text: '5\'11" tall', note: ' "quoted ""too"""' }],
        [5, { id: '4', text: 'two "quotes" in a field', note: 'x' }],
      ],
    },
    {
      description: 'a quote inside an unquoted header name, and a quoted field after a stray quote on its line',
      input: 'id,size"in\n1,"a\nb"\n2,x"y\n3,"c, d"\n',
      want: [
        [2, { id: '1', 'size"in': 'a\nb' }],
        [4, { id: '2', 'size"in': 'x"y' }],
        [5, { id: '3', 'size"in': 'c, d' }],
      ],
    },
    {
      description: 'a doubled quote in a quoted field, before a line break and at a chunk end, stays in the field',
      input: 'id,text\r\n1,"a""\r\nb"""\r\n2,"""x"""\r\n',
      want: [
        [2, { id: '1', text: 'a"\r\nb"' }],
        [4, { id: '2', text: '"x"' }],
      ],
    },
  ];
  for (const t of cases) {
    it(t.description, async () => {
      await expectRecords(t.input, csv(), t.want);
    });
  }

  it("header columns without a name (a spreadsheet's trailing empty columns) are named by their position, said once", async () => {
    for (const { label, chunks } of chunkings('id,name,,\r\n1,Ann,,\r\n2,Bob,,x\r\n')) {
      const { warnings, ...outcome } = await warned(chunks);
      expect(outcome.error, label).toBeUndefined();
      expect(seen(outcome.records), label).toEqual([
        [2, { id: '1', name: 'Ann', '3': '', '4': '' }],
        [3, { id: '2', name: 'Bob', '3': '', '4': 'x' }],
      ]);
      expect(warnings, label).toEqual(['in.csv:1: columns 3 and 4 have no name in the header: they are named "3" and "4"']);
    }
    // A position another column has as its name is not taken: the unnamed column gets _ in front.
    const clashing: string[] = [];
    const { records } = await run(csv({ onWarning: (w) => clashing.push(w) }), [Buffer.from(',,2\na,b,c\n')]);
    expect(seen(records)).toEqual([[2, { '1': 'a', _2: 'b', '2': 'c' }]]);
    expect(clashing).toEqual(['in.csv:1: columns 1 and 2 have no name in the header: they are named "1" and "_2"']);
  });

  // helper-53: `cat a.csv b.csv` (each with a header, Excel's with a byte order mark) made the second
  // header a record, sent and paid for, with U+FEFF in its first field and so in its prompt.
  it('files joined with cat: a line that repeats the header is no record (said once a line), and a byte order mark starting a record is taken off', async () => {
    await expectSaid(
      '\ufeffid,name\r\n1,Ann\r\n\ufeffid,name\r\n2,Bob\r\nid,name\r\n\ufeff3,"Cy"\r\n',
      [
        [2, { id: '1', name: 'Ann' }],
        [4, { id: '2', name: 'Bob' }],
        [6, { id: '3', name: 'Cy' }],
      ],
      ['in.csv:3: this line repeats the header (files joined with cat?): it is not a record', 'in.csv:5: this line repeats the header (files joined with cat?): it is not a record'],
    );
    // helper-55: fully quoted files (R's write.csv, pandas' QUOTE_ALL): the mark stood before a quote,
    // which csv-parse then kept as text ("\"id\""), so the header again was a record.
    await expectSaid(
      '\ufeff"id","note"\n"1","a"\n\ufeff"id","note"\n"2","l1\nl2"\n\ufeff"1,5",b\n',
      [
        [2, { id: '1', note: 'a' }],
        [4, { id: '2', note: 'l1\nl2' }],
        [6, { id: '1,5', note: 'b' }],
      ],
      ['in.csv:3: this line repeats the header (files joined with cat?): it is not a record'],
    );
    // helper-55: a header with columns without a name (named "3" and "4") repeated was a record: it was
    // compared with the names given, not with the header as written.
    for (const { label, chunks } of chunkings(Buffer.from('id,name,,\r\n1,Ann,,\r\nid,name,,\r\n2,Bob,,x\r\n'))) {
      const { warnings, ...outcome } = await warned(chunks);
      expect(seen(outcome.records), label).toEqual([
        [2, { id: '1', name: 'Ann', '3': '', '4': '' }],
        [4, { id: '2', name: 'Bob', '3': '', '4': 'x' }],
      ]);
      expect(warnings, label).toContain('in.csv:3: this line repeats the header (files joined with cat?): it is not a record');
    }
  });

  // helper-55: Excel files each starting with `sep=;`, joined with cat: the second sep= line was a
  // record ({ id: 'sep=', name: '' }), or, with another number of columns, a parse error.
  it("files joined with cat, each with Excel's sep= line: a sep= line again is no record, said with its line", async () => {
    const cases = [
      { input: 'sep=;\r\nid;name\r\n1;Ann\r\nsep=;\r\nid;name\r\n2;Bob\r\n', want: [[3, { id: '1', name: 'Ann' }], [6, { id: '2', name: 'Bob' }]], lines: [4, 5] },
      { input: '\ufeffsep=;\nid;name;city\n1;Ann;Oslo\n\ufeffsep=;\n\ufeffid;name;city\n2;"Bob";Rome\n', want: [[3, { id: '1', name: 'Ann', city: 'Oslo' }], [6, { id: '2', name: 'Bob', city: 'Rome' }]], lines: [4, 5] },
    ] as const;
    for (const { input, want, lines } of cases) {
      await expectSaid(input, want, [
        `in.csv:${lines[0]}: this line repeats the sep= line (files joined with cat?): it is not a record`,
        `in.csv:${lines[1]}: this line repeats the header (files joined with cat?): it is not a record`,
      ]);
    }
    // Without a sep= line at the start, a row that reads "sep=;" is data.
    await expectRecords('id;name\nsep=;\n', csv(), [[2, { id: 'sep=', name: '' }]]);
    // helper-57: a line "sep=;" inside a quoted value is the value's.
    await expectRecords('sep=;\nid;note\n1;"a\nsep=;\nb"\n', csv(), [[3, { id: '1', note: 'a\nsep=;\nb' }]]);
  });

  // helper-56: `cat A.csv B.csv` whose headers differ in column order sent B's header as a record and
  // B's rows under A's columns (name and note swapped), silently; in letter case only, the header too.
  it('files joined with cat whose headers differ: in letter case only, the header again is skipped; in column order, the run stops at that line', async () => {
    await expectSaid('id,name,note\n1,a,x\nID,Name,Note\n2,b,y\n', [[2, { id: '1', name: 'a', note: 'x' }], [4, { id: '2', name: 'b', note: 'y' }]], ['in.csv:3: this line repeats the header (files joined with cat?): it is not a record']);
    await expectFailure(
      'id,name,note\n1,a,x\nid,note,name\n2,y,b\n',
      csv(),
      { code: 'BE_CSV_PARSE', line: 3, message: /^in\.csv:3: invalid CSV: this line is the header in another column order \(files joined with cat\?\): \["id","note","name"\] against \["id","name","note"\]; the rows after it would be read under the wrong columns: join files whose columns are in the same order$/ },
      [[2, { id: '1', name: 'a', note: 'x' }]],
    );
    // helper-57: data that holds the names is data: pandas' index column (no name) and numbers as
    // names, names of one letter; one or two columns in another case (a word list, "Home,Away").
    for (const [input, want] of [
      [',0,1\n0,5,7\n1,0,\n', [[2, { '': '0', '0': '5', '1': '7' }], [3, { '': '1', '0': '0', '1': '' }]]],
      ['0,1,2\n1,0,2\n', [[2, { '0': '1', '1': '0', '2': '2' }]]],
      ['a,b,c\nc,a,b\n', [[2, { a: 'c', b: 'a', c: 'b' }]]],
      ['word\napple\nWord\nWORD\npear\n', [[2, { word: 'apple' }], [3, { word: 'Word' }], [4, { word: 'WORD' }], [5, { word: 'pear' }]]],
      ['home,away\n1,2\nHome,Away\naway,home\n', [[2, { home: '1', away: '2' }], [3, { home: 'Home', away: 'Away' }], [4, { home: 'away', away: 'home' }]]],
    ] as const) {
      await expectRecords(input, csv(), want as unknown as [number, Record<string, unknown>][]);
    }
    // helper-58: names that data holds too (numbers, one letter, none): a line equal to the header is read
    // as a record, and said; the same names in another case are data.
    // Said once (a matrix repeats such lines).
    for (const [input, want, line] of [
      ['0,1,2\n5,6,7\n0,1,2\n3,4,5\n0,1,2\n', [[2, { '0': '5', '1': '6', '2': '7' }], [3, { '0': '0', '1': '1', '2': '2' }], [4, { '0': '3', '1': '4', '2': '5' }], [5, { '0': '0', '1': '1', '2': '2' }]], 3],
      ['a,b,c\nA,B,C\na,b,c\n', [[2, { a: 'A', b: 'B', c: 'C' }], [3, { a: 'a', b: 'b', c: 'c' }]], 3],
    ] as const) {
      const { warnings: said, ...outcome } = await warned([Buffer.from(input)]);
      expect(seen(outcome.records)).toEqual(want);
      expect(said).toEqual([`in.csv:${line}: this line is the same as the header (files joined with cat?), but names like these can be data: it is read as a record, as are any later ones`]);
    }
    // helper-59: one distinctive name is enough for the header again to be one (`id,x,y`, pandas' `,a,b`).
    for (const input of ['id,x,y\n1,2,3\nid,x,y\n4,5,6\n', ',a,b\n1,2,3\n,a,b\n4,5,6\n']) {
      const { warnings: said, ...outcome } = await warned([Buffer.from(input)]);
      expect(outcome.records.map((r) => r.line)).toEqual([2, 4]);
      expect(said).toEqual(['in.csv:3: this line repeats the header (files joined with cat?): it is not a record']);
    }
    // A file's header with one more column: the width error says it may be one (and stops the read).
    await expectFailure('id,note\n1,x\nid,note,extra\n2,y,z\n', csv(), { code: 'BE_CSV_PARSE', line: 3, message: /^in\.csv:3: invalid CSV: expected 2 fields, as in the header, got 3 \(this line looks like another header: files joined with cat\?\)$/ }, [[2, { id: '1', note: 'x' }]]);
  });

  // helper-56: a line of spaces or tabs, a line of only delimiters of another width, or a DOS
  // end-of-file mark (^Z) after the last row stopped the whole run ("expected 2 fields, got 1").
  it('a blank line of another width (spaces, tabs, only delimiters) or a trailing ^Z is no record, said with its line; data of another width is no blank line', async () => {
    await expectSaid(
      'id,note\r\n1,a\r\n   \r\n2,"x\r\n   \r\ny"\r\n\t\r\n,,,\r\n3,c\r\n\x1a',
      [
        [2, { id: '1', note: 'a' }],
        [4, { id: '2', note: 'x\r\n   \r\ny' }],
        [9, { id: '3', note: 'c' }],
      ],
      // The first three said one by one, the ^Z after them counted.
      [...[3, 7, 8].map((line) => `in.csv:${line}: a blank line (only spaces, tabs or delimiters): it is not a record`), 'in.csv: 1 more line was no record either (blank, ^Z or sep= lines; not said one by one)'],
    );
    const { warnings: eof } = await warned([Buffer.from('id,note\r\n1,a\r\n\x1a')]);
    expect(eof).toEqual(['in.csv:3: a DOS end-of-file mark (^Z): it is not a record']);
    // helper-57: 3,000 lines of spaces at the end said 3,000 lines; now a few, then how many more.
    const { warnings } = await warned([Buffer.from(`id,note\n1,a\n${' \n'.repeat(10)}`)]);
    expect(warnings).toEqual([
      'in.csv:3: a blank line (only spaces, tabs or delimiters): it is not a record',
      'in.csv:4: a blank line (only spaces, tabs or delimiters): it is not a record',
      'in.csv:5: a blank line (only spaces, tabs or delimiters): it is not a record',
      'in.csv: 7 more lines were no records either (blank, ^Z or sep= lines; not said one by one)',
    ]);
    // One column: a line of spaces is its value, as before.
    await expectRecords('text\n   \nb\n', csv(), [[2, { text: '   ' }], [3, { text: 'b' }]]);
  });

  // Note 43's leftover: Excel writes the empty rows of a formatted range as the header's width of
  // delimiters (`,,,`); they were records, sent and paid for with nothing in them.
  it("a blank line of the header's width (only delimiters, spaces or tabs) is no record either, said with its line, however the input is chunked", async () => {
    const input = 'id,note,tag\r\n1,a,x\r\n,,\r\n2,"",y\r\n , \t,\r\n3,c,z\r\n,,\r\n,,\r\n';
    for (const { label, chunks } of chunkings(input)) {
      const { warnings, ...outcome } = await warned(chunks);
      expect(outcome.error, label).toBeUndefined();
      expect(seen(outcome.records), label).toEqual([
        [2, { id: '1', note: 'a', tag: 'x' }],
        [4, { id: '2', note: '', tag: 'y' }],
        [6, { id: '3', note: 'c', tag: 'z' }],
      ]);
      expect(warnings, label).toEqual([
        ...[3, 5, 7].map((line) => `in.csv:${line}: a blank line (only spaces, tabs or delimiters): it is not a record`),
        'in.csv: 1 more line was no record either (blank, ^Z or sep= lines; not said one by one)',
      ]);
    }
    // Through csv-parse (a quoted field with a line break sends the block there), the same.
    await expectSaid('id,note\n1,"a\nb"\n,\n2,c\n', [[2, { id: '1', note: 'a\nb' }], [5, { id: '2', note: 'c' }]], ['in.csv:4: a blank line (only spaces, tabs or delimiters): it is not a record']);
    // One column: a line of spaces is still its value (as before), and a row with any value a record.
    await expectRecords('text\n   \nb\n', csv(), [[2, { text: '   ' }], [3, { text: 'b' }]]);
    await expectRecords('id,note\n,a\n0,\n', csv(), [[2, { id: '', note: 'a' }], [3, { id: '0', note: '' }]]);
  });

  it('one column without a name (pandas writes its index so: ,0,1,2) keeps its empty name, as before', async () => {
    for (const { label, chunks } of chunkings(',0,1,2\n0,a,b,c\n1,d,e,f\n')) {
      const { warnings, ...outcome } = await warned(chunks);
      expect(outcome.error, label).toBeUndefined();
      expect(seen(outcome.records), label).toEqual([
        [2, { '': '0', '0': 'a', '1': 'b', '2': 'c' }],
        [3, { '': '1', '0': 'd', '1': 'e', '2': 'f' }],
      ]);
      expect(warnings, label).toEqual([]);
    }
  });

  it('a quote after a | ; or tab in a header whose delimiter is another is text, however slowly the header arrives (no Invalid Closing Quote)', async () => {
    // Before the header line had ended (a slow stdin), the quote opened a quoted field, and the text after its close was an error.
    for (const other of ['|', ';', '\t']) {
      await expectRecords(`sku,Size${other}"in" wide,price\nA1,27,199\n`, csv(), [[2, { sku: 'A1', [`Size${other}"in" wide`]: '27', price: '199' }]]);
    }
    await expectRecords('sku;Size,"in" wide;price\nA1;27;199\n', csv(), [[2, { sku: 'A1', 'Size,"in" wide': '27', price: '199' }]]);
  });

  it('the delimiter is sniffed from the whole header record: a quoted header cell with a line break (Excel wraps them)', async () => {
    // Sniffed from "Customer alone, the delimiter was , and the file one column.
    await expectRecords('"Customer\nname";"Customer\ncity";Total\n1;Oslo;3\n', csv(), [[4, { 'Customer\nname': '1', 'Customer\ncity': 'Oslo', Total: '3' }]]);
    await expectRecords('Notes, remarks;Size 27";Price\nok, fine;big;3\n', csv(), [[2, { 'Notes, remarks': 'ok, fine', 'Size 27"': 'big', Price: '3' }]]);
  });

  it('blank lines before the header: the delimiter is sniffed from the header, and lines count the blank ones', async () => {
    // The empty first line was sniffed: , and a ; file read as one column.
    await expectRecords('\n\nid;name;note\n1;Ann;x\n', csv(), [[4, { id: '1', name: 'Ann', note: 'x' }]]);
    await expectRecords('\ufeff\r\n\r\nid;name\r\n1;Ann\r\n', csv(), [[4, { id: '1', name: 'Ann' }]]);
    // onColumns is told the header's line (the CLI names it when the header lacks a template field).
    for (const [input, line] of [['\r\rid;name\r1;Ann\r', 3], ['sep=;\r\r\rid;name\r1;Ann\r', 4]] as const) {
      for (const { label, chunks } of chunkings(input)) {
        const calls: [string[], number | undefined][] = [];
        const outcome = await run(csv({ onColumns: (columns, at) => calls.push([columns, at]) }), chunks);
        expect(seen(outcome.records), label).toEqual([[line + 1, { id: '1', name: 'Ann' }]]);
        expect(calls, label).toEqual([[['id', 'name'], line]]);
      }
    }
  });

  it('lines of only spaces or tabs before the header are blank lines too, not a header named "  "', async () => {
    await expectRecords(' \t\n  \r\n\nid;name\n1;Ann\n', csv(), [[5, { id: '1', name: 'Ann' }]]);
    await expectRecords('\ufeff  \rid,name\r1,Ann\r', csv(), [[3, { id: '1', name: 'Ann' }]]);
    await expectRecords('\t\t\nid\tname\n1\tAnn\n', (s) => readCsv(s, { file: 'in.tsv', format: 'tsv' }), [[3, { id: '1', name: 'Ann' }]]);
    // Spaces before the header's own text stay part of its first name, as before.
    await expectRecords('  \n id,name\n1,Ann\n', csv(), [[3, { ' id': '1', name: 'Ann' }]]);
    // Without a header, such a line is a row.
    await expectRecords('  \nAnn\n', csv({ header: false }), [[1, { 1: '  ' }], [2, { 1: 'Ann' }]]);
  });

  it('blank lines and lines of spaces after a sep= line are skipped too, the header found past them at its own line', async () => {
    // The line of spaces after the sep= line was the header ("  "), every row one column named so.
    await expectRecords('sep=;\r\n  \r\n\r\nid;name\r\n1;Ann\r\n', csv(), [[5, { id: '1', name: 'Ann' }]]);
    await expectRecords('\n\t\nsep=|\n \t \nid|name\n1|Ann\n', csv(), [[6, { id: '1', name: 'Ann' }]]);
    for (const { label, chunks } of chunkings('sep=;\n \n\nid;name\n1;Ann\n')) {
      const calls: [string[], number | undefined][] = [];
      const outcome = await run(csv({ onColumns: (columns, at) => calls.push([columns, at]) }), chunks);
      expect(seen(outcome.records), label).toEqual([[5, { id: '1', name: 'Ann' }]]);
      expect(calls, label).toEqual([[['id', 'name'], 4]]);
    }
    // Without a header, such a line is a row, after a sep= line too.
    await expectRecords('sep=;\n  \nAnn\n', csv({ header: false }), [[2, { 1: '  ' }], [3, { 1: 'Ann' }]]);
  });

  it('blank lines before the header: millions of them are read in passing, a last line of spaces is blank, a line of spaces over the cap is too long', async () => {
    // A regex over all of them overflowed V8's stack at about 8 MB.
    const many = Buffer.from(`${'\n'.repeat(4_000_000)}${'  \r\n'.repeat(1_000_000)}id,name\n1,Ann\n`);
    for (const size of [many.length, 65_536]) {
      const chunks = Array.from({ length: Math.ceil(many.length / size) }, (_, i) => many.subarray(i * size, (i + 1) * size));
      const outcome = await run(csv(), chunks);
      expect(outcome.error).toBeUndefined();
      expect(seen(outcome.records)).toEqual([[5_000_002, { id: '1', name: 'Ann' }]]);
    }
    await expectRecords('\n\n  ', csv(), []);
    for (const { label, chunks } of chunkings(`\n${' '.repeat(40)}`)) {
      const outcome = await run(csv({ maxRecordChars: 30 }), chunks);
      expect(outcome.error?.message, label).toMatch(/^in\.csv:2: /);
    }
  });

  it('TSV: a sep= line naming a tab is not the header either; one naming another character is data', async () => {
    await expectRecords('sep=\t\nid\tname\n1\tAnn\n', (s) => readCsv(s, { file: 'in.tsv', format: 'tsv' }), [[3, { id: '1', name: 'Ann' }]]);
    await expectRecords('sep=;\n1\n', (s) => readCsv(s, { file: 'in.tsv', format: 'tsv' }), [[2, { 'sep=;': '1' }]]);
  });

  it('a quote never closed in a large file stops the read at the size cap, naming the line it opened on (not hours later, out of memory)', async () => {
    const input = `id,text\n1,ok\n2,"never closed\n${'3,more text\n'.repeat(20)}`;
    await expectFailure(
      input,
      csv({ maxRecordChars: 100 }),
      { code: 'BE_CSV_PARSE', line: 3, message: /^in\.csv:3: invalid CSV: this record is longer than 100 characters: a quoted field that starts in it is still open there: probably never closed \(a missing "\), else longer than batch-enrich reads$/ },
      [[2, { id: '1', text: 'ok' }]],
    );
    await expectFailure(`id,text\n1,${'x'.repeat(120)}\n`, csv({ maxRecordChars: 100 }), { code: 'BE_CSV_PARSE', line: 2, message: /^in\.csv:2: invalid CSV: this record is longer than 100 characters, more than batch-enrich reads$/ });
  });

  it('a TSV file’s errors say TSV, not CSV, and never blame a quote (TSV has no quoting)', async () => {
    const tsv = (more: ReadOptions = {}): Reader => csv({ file: 'in.tsv', format: 'tsv', ...more });
    await expectFailure(`id\ttext\n1\t${'x'.repeat(120)}\n`, tsv({ maxRecordChars: 100 }), { code: 'BE_CSV_PARSE', line: 2, message: /^in\.tsv:2: invalid TSV: this record is longer than 100 characters, more than batch-enrich reads$/ });
    await expectFailure('id\tname\n1\tA\0nn\n', tsv(), { code: 'BE_CSV_PARSE', line: 2, message: /^in\.tsv:2: invalid TSV: a NUL byte/ });
  });

  it('a CRLF record exactly at the size cap is read, wherever a chunk ends (between its CR and LF too)', async () => {
    const row = `1,${'x'.repeat(18)}`; // 20 characters
    await expectRecords(`id,text\r\n${row}\r\n${row}\r\n`, csv({ maxRecordChars: 20 }), [
      [2, { id: '1', text: 'x'.repeat(18) }],
      [3, { id: '1', text: 'x'.repeat(18) }],
    ]);
    await expectFailure(`id,text\r\n${row}x\r\n`, csv({ maxRecordChars: 20 }), { code: 'BE_CSV_PARSE', line: 2, message: /longer than 20 characters, more than batch-enrich reads$/ });
  });

  it('a delimiter given (-d) wins over a sep= line, which is still not the header', async () => {
    await expectRecords('sep=;\nid,name\n1,Ann\n', csv({ delimiter: ',' }), [[3, { id: '1', name: 'Ann' }]]);
  });

  it('a first column named like a sep= line but longer is a header like any other', async () => {
    await expectRecords('sep=ab,c\n1,2\n', csv(), [[2, { 'sep=ab': '1', c: '2' }]]);
  });

  it('header-only input gives no records and reports the columns once', async () => {
    for (const { label, chunks } of chunkings('id,name\r\n')) {
      const calls: string[][] = [];
      const outcome = await run(csv({ onColumns: (c) => calls.push(c) }), chunks);
      expect(outcome, label).toEqual({ records: [] });
      expect(calls, label).toEqual([['id', 'name']]);
    }
  });

  it('onColumns is called before the first record', async () => {
    for (const { label, chunks } of chunkings('a,b\r\n1,2\r\n')) {
      const events: string[] = [];
      for await (const r of readCsv(source(chunks), { onColumns: (c) => events.push(`columns ${c.join('|')}`) })) {
        events.push(`record ${r.line}`);
      }
      expect(events, label).toEqual(['columns a|b', 'record 2']);
    }
  });

  it('empty input gives no records and reports an empty header', async () => {
    const calls: string[][] = [];
    expect(await run(csv({ onColumns: (c) => calls.push(c) }), [])).toEqual({ records: [] });
    expect(calls).toEqual([[]]);
  });

  it('an error thrown by onColumns (e.g. a template field the header lacks) ends the read with that error', async () => {
    const throwing = (error: Error) =>
      csv({
        onColumns: () => {
          throw error;
        },
      });
    for (const { label, chunks } of chunkings('a,b\n1,2\n')) {
      const outcome = await run(throwing(new BatchEnrichError('BE_TEMPLATE', 'the prompt uses {{missing}}')), chunks);
      expect(outcome, label).toEqual({
        records: [],
        error: { code: 'BE_TEMPLATE', message: 'the prompt uses {{missing}}', line: undefined, file: undefined },
      });
      // Any other error from the callback still ends the read, as an input error.
      await expectError(drain(throwing(new Error('callback bug'))(source(chunks))), { code: 'BE_INPUT', message: 'callback bug' });
    }
  });
});

/**
 * helper-72 (note 46): one row of another width than the header's (an unquoted comma in a name, a cell
 * lost) stopped the whole run at that row, where a bad NDJSON line is that record's `invalid_input`.
 * Now it is its record's error too, with its line and its text, and the rows around it are read.
 */
describe('readCsv: a row of another width is its own invalid_input record, and the read goes on', () => {
  /** What a user sees of a record: its line, and its data or its error. */
  const shownAll = (records: readonly SourceRecord[]) => records.map((r) => [r.line, r.error ?? r.data]);
  const wrong = (line: number, expected: number, got: number, input: string, file = 'in.csv', kind = 'CSV', as = 'as in the header') => ({
    type: 'invalid_input',
    message: `${file}:${line}: invalid ${kind}: expected ${expected} field${expected === 1 ? '' : 's'}, ${as}, got ${got}`,
    input,
  });
  const cases: { description: string; input: string; read?: Reader; want: [number, unknown][] }[] = [
    {
      description: 'a row with a field too many, between good rows',
      input: 'id,text\n1,a\n2,b,extra\n3,c\n',
      want: [
        [2, { id: '1', text: 'a' }],
        [3, wrong(3, 2, 3, '2,b,extra')],
        [4, { id: '3', text: 'c' }],
      ],
    },
    {
      description: 'a row with a field too few; under a header of one column, "1 field" (helper-51)',
      input: 'id,name,city\n1,Ann\n2,Bob,Oslo\n',
      want: [
        [2, wrong(2, 3, 2, '1,Ann')],
        [3, { id: '2', name: 'Bob', city: 'Oslo' }],
      ],
    },
    {
      description: 'one column: "expected 1 field"',
      input: 'id\n1\n2,extra\n',
      want: [
        [2, { id: '1' }],
        [3, wrong(3, 1, 2, '2,extra')],
      ],
    },
    {
      description: 'after a quoted CRLF the line is not off by one; the text keeps its quoting',
      input: 'id,text\r\n1,"a\r\nb"\r\n2,c\r\n3,"d, e",extra\r\n',
      want: [
        [2, { id: '1', text: 'a\r\nb' }],
        [4, { id: '2', text: 'c' }],
        [5, wrong(5, 2, 3, '3,"d, e",extra')],
      ],
    },
    {
      description: 'a multi-line row names the line where it starts',
      input: 'id,text\n1,a\n2,"x\r\ny",extra\n3,z\n',
      want: [
        [2, { id: '1', text: 'a' }],
        [3, wrong(3, 2, 3, '2,"x\r\ny",extra')],
        [5, { id: '3', text: 'z' }],
      ],
    },
    {
      description: 'after a sep= line, its line in the file',
      input: 'sep=;\nid;text\n1;a\n2;b;extra\n',
      want: [
        [3, { id: '1', text: 'a' }],
        [4, wrong(4, 2, 3, '2;b;extra')],
      ],
    },
    {
      description: 'a line of one value among two columns (a stray word) is data of another width, not blank',
      input: 'id,note\n1,a\n 2 \n',
      want: [
        [2, { id: '1', note: 'a' }],
        [3, wrong(3, 2, 1, ' 2 ')],
      ],
    },
    {
      description: 'TSV says TSV and has no quoting',
      input: 'id\tname\n1\tAnn\n2\t"Bob"\textra\n',
      read: csv({ file: 'in.tsv', format: 'tsv' }),
      want: [
        [2, { id: '1', name: 'Ann' }],
        [3, wrong(3, 2, 3, '2\t"Bob"\textra', 'in.tsv', 'TSV')],
      ],
    },
    {
      description: 'without a header, a row of another width than the first',
      input: 'a,b\nc\nd,e\n',
      read: csv({ header: false }),
      want: [
        [1, { 1: 'a', 2: 'b' }],
        // helper-76: "as in the header", where there is none.
        [2, wrong(2, 2, 1, 'c', 'in.csv', 'CSV', 'as in the first row')],
        [3, { 1: 'd', 2: 'e' }],
      ],
    },
  ];
  for (const t of cases) {
    it(t.description, async () => {
      for (const { label, chunks } of chunkings(t.input)) {
        const outcome = await run(t.read ?? csv(), chunks);
        expect(outcome.error, label).toBeUndefined();
        expect(shownAll(outcome.records), label).toEqual(t.want);
        expect(outcome.records.map((r) => r.seq), `${label}: seq is the 0-based position`).toEqual(t.want.map((_, i) => i));
        for (const r of outcome.records) if (r.error) expect(r.data, label).toEqual({});
      }
    });
  }

  it('a bad closing quote after a row of another width: the row is its record, then the read stops at the quote', async () => {
    await expectFailure('id,text\n1,a,extra\n2,"b"c\n', csv(), { code: 'BE_CSV_PARSE', line: 3, message: /^in\.csv:3: invalid CSV: Invalid Closing Quote/ }, [[2, {}]]);
    const outcome = await run(csv(), [Buffer.from('id,text\n1,a,extra\n2,"b"c\n')]);
    expect(shownAll(outcome.records)).toEqual([[2, wrong(2, 2, 3, '1,a,extra')]]);
  });

  it('another header of another width (files joined with cat) still stops the read: the rows after it would be misread', async () => {
    await expectFailure('id,note\n1,x\nid,note,extra\n2,y,z\n', csv(), { code: 'BE_CSV_PARSE', line: 3, message: /^in\.csv:3: invalid CSV: expected 2 fields, as in the header, got 3 \(this line looks like another header: files joined with cat\?\)$/ }, [[2, { id: '1', note: 'x' }]]);
  });
});

describe('readCsv: unusable CSV is fatal, with the file and the line', () => {
  const cases: {
    description: string;
    input: string;
    want: { code: string; line: number; message: RegExp };
    before?: [number, Record<string, string>][];
  }[] = [
    {
      description: 'a duplicate header name would silently drop a column',
      input: 'id,name,id\n1,Ann,2\n',
      want: { code: 'BE_CSV_PARSE', line: 1, message: /^in\.csv:1: duplicate column "id" in the CSV header$/ },
    },
    {
      description: 'a duplicate header after blank lines names the header line',
      input: '\n\nid,id\n1,2\n',
      want: { code: 'BE_CSV_PARSE', line: 3, message: /^in\.csv:3: duplicate column "id"/ },
    },
    {
      description: 'an unclosed quote names the line where its record starts, not the end of the file',
      input: 'id,text\n1,ok\n2,"never closed\n3,x\n4,y\n',
      want: { code: 'BE_CSV_PARSE', line: 3, message: /^in\.csv:3: invalid CSV: a quoted field that starts in this record is never closed/ },
      before: [[2, { id: '1', text: 'ok' }]],
    },
    {
      description: 'an unclosed quote after quoted CRLFs and blank lines still names its own line',
      input: 'id,text\r\n1,"a\r\nb"\r\n\r\n\r\n2,"open\r\nstill open\r\n',
      want: { code: 'BE_CSV_PARSE', line: 6, message: /^in\.csv:6: invalid CSV: a quoted field that starts in this record is never closed/ },
      before: [[2, { id: '1', text: 'a\r\nb' }]],
    },
    {
      description: 'an unclosed quote in the header is line 1',
      input: '"id,text\n1,a\n',
      want: { code: 'BE_CSV_PARSE', line: 1, message: /^in\.csv:1: invalid CSV: a quoted field that starts in this record is never closed/ },
    },
    {
      description: 'text after a closing quote is a CSV error on its line',
      input: 'id,text\n1,"quoted"tail\n',
      want: { code: 'BE_CSV_PARSE', line: 2, message: /^in\.csv:2: invalid CSV: Invalid Closing Quote: text after the quote that ends a quoted field \(a quote inside one is written twice: ""\)$/ },
    },
    {
      description: 'text after a closing quote, in a field of several lines, names the line of that quote, after the records before it',
      input: 'id,text\n1,a"b\n2,"The 27\r\nmonitor" flickers\n3,c\n',
      want: { code: 'BE_CSV_PARSE', line: 4, message: /^in\.csv:4: invalid CSV: Invalid Closing Quote/ },
      before: [[2, { id: '1', text: 'a"b' }]],
    },
  ];
  for (const t of cases) {
    it(t.description, async () => {
      await expectFailure(t.input, csv(), t.want, t.before);
    });
  }


  it('stdin is named <stdin>, and the error carries file and line fields', async () => {
    for (const { chunks } of chunkings('a,b\n"1\n')) {
      for (const file of ['-', undefined]) {
        await expectError(drain(readCsv(source(chunks), { file })), {
          code: 'BE_CSV_PARSE',
          message: /^<stdin>:2: invalid CSV: /,
          file: '<stdin>',
          line: 2,
        });
      }
    }
  });

  it('a failing source is an input error naming the file, with the cause kept', async () => {
    for (const { chunks } of chunkings('a,b\n1,2\n')) {
      async function* broken() {
        yield* chunks;
        throw new Error('EIO: disk gone');
      }
      const error = await expectError(drain(readCsv(broken(), { file: 'in.csv' })), {
        code: 'BE_INPUT',
        message: 'in.csv: cannot read input: EIO: disk gone',
        file: 'in.csv',
      });
      expect((error.cause as Error).message).toBe('EIO: disk gone');
    }
  });
});

describe('stopping early (a consumer that breaks out of the loop)', () => {
  const readers: { description: string; read: Reader; header: string; row: (i: number) => string; want: Record<string, unknown> }[] = [
    { description: 'readCsv', read: (s) => readCsv(s), header: 'id\n', row: (i) => `${i}\n`, want: { id: '0' } },
    { description: 'readNdjson', read: (s) => readNdjson(s), header: '', row: (i) => `{"id":${i}}\n`, want: { id: 0 } },
    { description: 'readRecords sniffing CSV', read: readRecords(), header: 'id\n', row: (i) => `${i}\n`, want: { id: '0' } },
    { description: 'readRecords sniffing NDJSON', read: readRecords(), header: '', row: (i) => `{"id":${i}}\n`, want: { id: 0 } },
  ];
  for (const t of readers) {
    it(`${t.description}: closes the source and leaves no unhandled rejection behind`, async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        let closed = false;
        async function* endless() {
          try {
            if (t.header) yield Buffer.from(t.header);
            for (let i = 0; ; i++) yield Buffer.from(t.row(i));
          } finally {
            closed = true;
          }
        }
        const first: SourceRecord[] = [];
        for await (const record of t.read(endless())) {
          first.push(record);
          break;
        }
        expect(first.map((r) => r.data)).toEqual([t.want]);
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(closed, 'the source was closed').toBe(true);
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  }
});

describe('readNdjson', () => {
  it('a CRLF line exactly at the size cap is read, wherever a chunk ends (between its CR and LF too)', async () => {
    const object = '{"a":"' + 'x'.repeat(20) + '"}'; // 28 characters
    await expectRecords(`${object}\r\n${object}\r\n`, (src) => readNdjson(src, { file: 'in.ndjson', maxRecordChars: 28 }), [
      [1, { a: 'x'.repeat(20) }],
      [2, { a: 'x'.repeat(20) }],
    ]);
    // One over: too large, and its length the same wherever the chunks end.
    for (const { label, chunks } of chunkings(`${object}x\r\n{"b":1}\r\n`)) {
      const { records } = await run((src) => readNdjson(src, { file: 'in.ndjson', maxRecordChars: 28 }), chunks);
      expect(records.map((r) => r.error?.message ?? 'ok'), label).toEqual(['in.ndjson:1: the record is 29 characters long, more than the 28 batch-enrich reads', 'ok']);
    }
  });

  it('a file whose lines end with a CR alone (classic Mac OS) is one record a line, numbered as the file is', async () => {
    // Before: the whole file was one line, one invalid_input record for all of them.
    await expectRecords('{"id":1}\r{"id":2}\r\r{"id":3}\r', ndjson(), [
      [1, { id: 1 }],
      [2, { id: 2 }],
      [4, { id: 3 }],
    ]);
  });

  const cases: { description: string; input: string; want: [number, Record<string, unknown>][] }[] = [
    {
      description: 'one JSON object a line, numbered from 1',
      input: '{"id":1,"tags":["a"]}\n{"id":2,"nested":{"x":null}}\n',
      want: [
        [1, { id: 1, tags: ['a'] }],
        [2, { id: 2, nested: { x: null } }],
      ],
    },
    {
      description: 'blank and whitespace-only lines are skipped but counted',
      input: '\n{"id":1}\n\n   \n\t\n{"id":2}\n\n',
      want: [
        [2, { id: 1 }],
        [6, { id: 2 }],
      ],
    },
    {
      description: 'CRLF line ends, including a CRLF blank line',
      input: '{"id":1}\r\n\r\n{"id":2}\r\n',
      want: [
        [1, { id: 1 }],
        [3, { id: 2 }],
      ],
    },
    {
      description: 'a UTF-8 BOM before the first line is dropped',
      input: '\ufeff{"id":1}\n{"id":2}\n',
      want: [
        [1, { id: 1 }],
        [2, { id: 2 }],
      ],
    },
    {
      description: 'the last line needs no newline, and a final lone \\r is a line end',
      input: '{"id":1}\n{"id":2}\r',
      want: [
        [1, { id: 1 }],
        [2, { id: 2 }],
      ],
    },
    {
      description: 'multi-byte UTF-8 (é, 中文, emoji) survives any chunk boundary',
      input: '{"t":"café"}\n{"t":"中文"}\n{"t":"😀"}\n',
      want: [
        [1, { t: 'café' }],
        [2, { t: '中文' }],
        [3, { t: '😀' }],
      ],
    },
    {
      description: 'escaped newlines inside strings do not split a line',
      input: '{"t":"a\\nb\\r\\nc"}\n{"t":"d"}\n',
      want: [
        [1, { t: 'a\nb\r\nc' }],
        [2, { t: 'd' }],
      ],
    },
  ];
  for (const t of cases) {
    it(t.description, async () => {
      await expectRecords(t.input, ndjson(), t.want);
    });
  }

  it('a bad line becomes a record with an invalid_input error naming file:line, and the rest go on', async () => {
    const input = '{"id":1}\n{oops\n\n[1,2]\n"text"\nnull\n{"id":2}';
    for (const { label, chunks } of chunkings(input)) {
      const { records, error } = await run(ndjson(), chunks);
      expect(error, label).toBeUndefined();
      expect(
        records.map((r) => [r.seq, r.line, r.error?.type ?? 'ok']),
        label,
      ).toEqual([
        [0, 1, 'ok'],
        [1, 2, 'invalid_input'],
        [2, 4, 'invalid_input'],
        [3, 5, 'invalid_input'],
        [4, 6, 'invalid_input'],
        [5, 7, 'ok'],
      ]);
      expect(records[1]?.error?.message, label).toMatch(/^in\.ndjson:2: not valid JSON \(.+\): "\{oops"$/);
      expect(records[1]?.data, `${label}: no fields`).toEqual({});
      expect(records[1]?.error?.input, `${label}: the bad text is kept`).toBe('{oops');
      expect(records[2]?.error?.message, label).toBe('in.ndjson:4: expected a JSON object, got [1,2]');
      expect(records[3]?.error?.message, label).toBe('in.ndjson:5: expected a JSON object, got "text"');
      expect(records[4]?.error?.message, label).toBe('in.ndjson:6: expected a JSON object, got null');
      expect(records[5]?.data, label).toEqual({ id: 2 });
    }
  });

  it('a bad line on stdin is named <stdin>:line', async () => {
    for (const { label, chunks } of chunkings('\n{"a":\n')) {
      const { records } = await run((s) => readNdjson(s), chunks);
      expect(records.map((r) => r.error?.message.replace(/ \(.*/, '')), label).toEqual(['<stdin>:2: not valid JSON']);
    }
  });

  it('a BOM at the start of any line is taken off (files each with one, joined by cat): no JSON text starts with one', async () => {
    // helper-40: `cat a.ndjson b.ndjson`, each from a Windows tool, made b's first record invalid_input.
    for (const { label, chunks } of chunkings('\ufeff{"a":1}\n\ufeff{"a":2}\n{"a":"\ufeff3"}\n')) {
      const { records } = await run(ndjson(), chunks);
      expect(records.map((r) => [r.line, r.error?.type ?? r.data]), label).toEqual([[1, { a: 1 }], [2, { a: 2 }], [3, { a: '\ufeff3' }]]);
    }
  });
});

describe('readRecords: choosing the format', () => {
  const cases: { description: string; input: string; want: [number, Record<string, unknown>][] }[] = [
    { description: '`{` first means NDJSON', input: '{"a":1}\n', want: [[1, { a: 1 }]] },
    {
      description: 'the BOM and leading blank lines are looked past, even when a chunk ends inside the BOM',
      input: '\ufeff \r\n\n\t{"a":1}\n',
      want: [[3, { a: 1 }]],
    },
    { description: 'anything else means CSV', input: 'a,b\n1,2\n', want: [[2, { a: '1', b: '2' }]] },
    { description: 'a BOM before a CSV header is not mistaken for data', input: '\ufeffa,b\n1,2\n', want: [[2, { a: '1', b: '2' }]] },
    { description: 'a CSV whose first field is quoted is CSV', input: '\n"a",b\n1,2\n', want: [[3, { a: '1', b: '2' }]] },
    { description: 'empty input gives no records', input: '', want: [] },
    { description: 'blank input gives no records', input: '\ufeff\n \r\n', want: [] },
  ];
  for (const t of cases) {
    it(t.description, async () => {
      await expectRecords(t.input, sniffing(), t.want);
    });
  }

  it('string chunks are sniffed too', async () => {
    async function* text() {
      yield '\ufeff';
      yield '{"a":1}\n';
    }
    const records: SourceRecord[] = [];
    for await (const r of readRecords()(text())) records.push(r);
    expect(seen(records)).toEqual([[1, { a: 1 }]]);
  });

  it('the file extension wins over the content', async () => {
    for (const { label, chunks } of chunkings('a,b\n')) {
      const { records } = await run(readRecords({ file: 'data.jsonl' }), chunks);
      expect(records.map((r) => r.error?.message.replace(/ \(.*/, '')), label).toEqual(['data.jsonl:1: not valid JSON']);
    }
    await expectFailure('{"a":1,"b":2}\n', readRecords({ file: 'data.CSV' }), {
      code: 'BE_CSV_PARSE',
      line: 1,
      message: /^data\.CSV:1: invalid CSV: Invalid Closing Quote/,
    });
  });

  it('an explicit format wins over the extension and the content', async () => {
    await expectRecords('a,b\n1,2\n', readRecords({ format: 'csv', file: 'data.ndjson' }), [[2, { a: '1', b: '2' }]]);
    await expectRecords('{"a":1}\n', readRecords({ format: 'ndjson', file: 'data.csv' }), [[1, { a: 1 }]]);
  });

  const names: { description: string; file: string | undefined; want: 'csv' | 'tsv' | 'ndjson' | undefined }[] = [
    { description: '.csv is CSV', file: 'in.csv', want: 'csv' },
    { description: 'extensions are case-insensitive', file: 'DATA/IN.CSV', want: 'csv' },
    { description: '.ndjson is NDJSON', file: 'in.ndjson', want: 'ndjson' },
    { description: '.jsonl is NDJSON', file: 'in.jsonl', want: 'ndjson' },
    { description: '.json is read as NDJSON', file: 'in.json', want: 'ndjson' },
    { description: 'an unknown extension is left to sniffing', file: 'in.txt', want: undefined },
    { description: 'a gzipped file is taken for its inner extension (it is decompressed as it is read)', file: 'in.csv.gz', want: 'csv' },
    { description: '.tsv is TSV', file: 'in.tsv', want: 'tsv' },
    { description: 'a name without a dot is not an extension', file: 'csv', want: undefined },
    { description: '`-` is stdin: sniff', file: '-', want: undefined },
    { description: 'no file is stdin: sniff', file: undefined, want: undefined },
  ];
  for (const t of names) {
    it(`formatFromName: ${t.description}`, () => {
      expect(formatFromName(t.file)).toBe(t.want);
    });
  }
});

async function drain(records: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of records) void _;
}

async function collect(records: AsyncIterable<SourceRecord>): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const record of records) out.push(record);
  return out;
}

// helper-74: `jq '.[]'` without -c, Python's json.dump(indent=2) of one object, PowerShell's
// ConvertTo-Json: pretty-printed objects one after the other were read a line at a time, eight bogus
// invalid_input records for two objects.
describe('readNdjson: pretty-printed JSON objects one after another (jq without -c) are read object by object', () => {
  const json = (options: ReadOptions = {}): Reader => (s) => readNdjson(s, { file: 'data.json', ...options });
  const jqOut = '{\n  "id": 1,\n  "t": "a {"\n}\n{\n  "id": 2,\n  "t": [\n    "}"\n  ]\n}\n';

  it('each object is a record at the line it starts on, however the input is chunked', async () => {
    await expectRecords(jqOut, json(), [
      [1, { id: 1, t: 'a {' }],
      [5, { id: 2, t: ['}'] }],
    ]);
    // On stdin, with no name to go by: read as JSON too (`jq '.[]' dump.json | batch-enrich …`).
    await expectRecords(jqOut, sniffing(), [
      [1, { id: 1, t: 'a {' }],
      [5, { id: 2, t: ['}'] }],
    ]);
    // One object (PowerShell, json.dump), CRLF, a BOM, blank lines before it.
    await expectRecords('\uFEFF\r\n{\r\n    "id":  7,\r\n    "name":  "Ann"\r\n}\r\n', json(), [[2, { id: 7, name: 'Ann' }]]);
    // Objects on one line after the first pretty-printed one: each its own record.
    await expectRecords('{\n"a": 1\n} {"a": 2}{"a": 3}\n', json(), [
      [1, { a: 1 }],
      [3, { a: 2 }],
      [3, { a: 3 }],
    ]);
  });

  it('a bad object, or a value that is not an object, is that record with its error; the rest are read', async () => {
    for (const { label, chunks } of chunkings('{\n  "a": 1,\n}\n42\n{\n  "a": 3\n}\n')) {
      const { records, error } = await run(json(), chunks);
      expect(error, label).toBeUndefined();
      expect(records.map((r) => [r.line, r.error?.type ?? r.data]), label).toEqual([
        [1, 'invalid_input'],
        [4, 'invalid_input'],
        [5, { a: 3 }],
      ]);
      expect(records[1]?.error?.message, label).toBe('data.json:4: expected a JSON object, got 42');
    }
  });

  it('brackets that do not match, or an object never closed, stop the read with its line (past them no object can be told)', async () => {
    await expectFailure('{\n"a": 1\n}\n{\n"a": [1}\n{"b": 2}\n', json(), { code: 'BE_INPUT', line: 4, message: /^data\.json:4: invalid JSON: the value that starts on line 4 has a \} where its \[ opened on line 5 is not closed$/ }, [[1, { a: 1 }]]);
    await expectFailure('{\n"a": 1\n}\n{\n"a": "open\n', json(), { code: 'BE_INPUT', line: 4, message: /^data\.json:4: invalid JSON: the value that starts on line 4 is never closed \(the input ends inside it\)$/ }, [[1, { a: 1 }]]);
  });

  it('NDJSON stays NDJSON: a broken first line is that record, not the start of a pretty-printed object', async () => {
    await expectRecords('{"a":1}\n{"a":2}\n', json(), [
      [1, { a: 1 }],
      [2, { a: 2 }],
    ]);
    const records = await collect(readNdjson(Readable.from(['{bad\n{"a":2}\n']), { file: 'x.ndjson' }));
    expect(records.map((r) => r.error?.type ?? 'ok')).toEqual(['invalid_input', 'ok']);
  });
});

describe('readNdjson: a JSON array (a .json dump) is read element by element', () => {
  const json = (options: ReadOptions = {}): Reader => (s) => readNdjson(s, { file: 'data.json', ...options });

  it('one line or pretty-printed, each object is a record at the line it starts on', async () => {
    await expectRecords('[{"a":1},{"a":"x, ]}"}]', json(), [
      [1, { a: 1 }],
      [1, { a: 'x, ]}' }],
    ]);
    await expectRecords('\uFEFF\n  [\n  {"a": 1,\n   "b": [1, {"c": "\\"]"}]},\n  {"a": 2}\n]\n', json(), [
      [3, { a: 1, b: [1, { c: '"]' }] }],
      [5, { a: 2 }],
    ]);
    await expectRecords('[]\n', json(), []);
    await expectRecords('[\r\n{"a":"é中😀"}\r\n]', json(), [[2, { a: 'é中😀' }]]);
  });

  it('an element that is not an object, or not JSON, is that record, with its error; the rest are read', async () => {
    for (const { label, chunks } of chunkings('[{"a":1},\n 5,\n {"a": tru},\n [1],\n {"a":3}]')) {
      const { records, error } = await run(json(), chunks);
      expect(error, label).toBeUndefined();
      expect(records.map((r) => [r.line, r.error?.type ?? 'ok']), label).toEqual([
        [1, 'ok'],
        [2, 'invalid_input'],
        [3, 'invalid_input'],
        [4, 'invalid_input'],
        [5, 'ok'],
      ]);
      expect(records[1]?.error?.message, label).toBe('data.json:2: expected a JSON object, got 5');
    }
  });

  it("a bad element's _error.input keeps a space where it had white space: a missing comma stays visible", async () => {
    // helper-39: `{"id":4 "text":"d"}` was shown as `{"id":4"text":"d"}`, the mistake hidden.
    for (const { label, chunks } of chunkings('[\n  {"id": 3},\n  {"id": 4\n   "text": "d  e"}\n]')) {
      const { records } = await run(json(), chunks);
      expect(records.map((r) => r.error?.input ?? r.data), label).toEqual([{ id: 3 }, '{"id": 4 "text": "d  e"}']);
    }
  });

  it('white space around an element is not counted against the size cap (an object that fits as an NDJSON line fits here)', async () => {
    const object = '{"a":"' + 'x'.repeat(20) + '"}'; // 28 characters
    await expectRecords(`[\r\n  ${object}  ,\r\n  ${object}\r\n]\r\n`, json({ maxRecordChars: 28 }), [
      [2, { a: 'x'.repeat(20) }],
      [3, { a: 'x'.repeat(20) }],
    ]);
    // Nor the space kept inside it where it had white space (helper-42: a pretty-printed element that fit before did not).
    await expectRecords(`[\r\n  {\r\n    "a": "${'x'.repeat(20)}"\r\n  }\r\n]\r\n`, json({ maxRecordChars: 28 }), [[2, { a: 'x'.repeat(20) }]]);
  });

  it('text that only looks like white space before a [ (a no-break space) is not taken for an array', async () => {
    const { records, error } = await run(json(), [Buffer.from('\u00a0[{"a":1}]\n')]);
    expect(error).toBeUndefined();
    expect(records.map((r) => r.error?.type)).toEqual(['invalid_input']);
  });

  it('an element over the size cap is that record, too large, and is not held', async () => {
    const { records } = await run(json({ maxRecordChars: 20 }), [Buffer.from(`[{"a":1},{"a":"${'x'.repeat(50)}"},{"a":3}]`)]);
    expect(records.map((r) => r.error?.type ?? 'ok')).toEqual(['ok', 'invalid_input', 'ok']);
    expect(records[1]?.error?.message).toMatch(/^data\.json:1: the record is 58 characters long, more than the 20/);
  });

  const broken: { description: string; input: string; line: number; message: RegExp }[] = [
    { description: 'never closed', input: '[\n{"a":1},\n{"a":2}\n', line: 1, message: /^data\.json:1: invalid JSON array: the JSON array that starts on line 1 ends before its closing \]$/ },
    { description: 'an element never closed', input: '[\n{"a":1},\n{"a":"open\n', line: 3, message: /^data\.json:3: invalid JSON array: the value that starts on line 3 is never closed \(the input ends inside it\)$/ },
    { description: 'a missing }', input: '[\n{"a":1},\n{"a":2,\n{"a":3}\n]\n', line: 3, message: /^data\.json:3: invalid JSON array: the value that starts on line 3 has a \] where its \{ opened on line 3 is not closed$/ },
    { description: 'a [ closed by }', input: '[\n{"a":1},\n{"a":[1},\n{"b":2}\n]', line: 3, message: /^data\.json:3: invalid JSON array: the value that starts on line 3 has a \} where its \[ opened on line 3 is not closed$/ },
    { description: 'a trailing comma', input: '[{"a":1},\n]', line: 1, message: /^data\.json:1: invalid JSON array: a comma with no value after it/ },
    { description: 'two commas', input: '[{"a":1},,{"a":2}]', line: 1, message: /two commas with no value between them$/ },
    { description: 'text after it', input: '[{"a":1}]\n{"a":2}\n', line: 2, message: /^data\.json:2: invalid JSON array: text after the end of the JSON array that starts on line 1$/ },
  ];
  for (const t of broken) {
    it(`a broken array stops with the line and the problem: ${t.description}`, async () => {
      await expectFailure(t.input, json(), { code: 'BE_INPUT', line: t.line, message: t.message }, [[t.input.startsWith('[\n') ? 2 : 1, { a: 1 }]]);
    });
  }

  it('NDJSON whose line is an array later in the file: that line is one bad record', async () => {
    const records = await collect(readNdjson(Readable.from(['{"a":1}\n[1,2]\n{"a":3}\n']), { file: 'x.ndjson' }));
    expect(records.map((r) => r.error?.type ?? 'ok')).toEqual(['ok', 'invalid_input', 'ok']);
  });
});
