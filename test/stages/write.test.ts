/** The output stage: enriched records → NDJSON lines or CSV rows under a fixed header. */
import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { describe, expect, it, vi } from 'vitest';
import { coalesce, createFormatter, widenedColumns, writeRecords, type WriteOptions } from '../../src/stages/write.ts';

async function writeAll(options: WriteOptions, records: Record<string, unknown>[]): Promise<string> {
  let out = '';
  for await (const text of writeRecords(options)(Readable.from(records))) out += text;
  return out;
}

describe('NDJSON output', () => {
  it('is JSON.stringify of each record plus "\\n" (never CRLF), unicode written as is', async () => {
    const records = [
      { id: '1', text: 'café 中文 😀', score: 0.5, tags: ['a', 'b'], nested: { ok: true }, none: null },
      { id: '2', _error: { type: 'refusal', message: 'declined' } },
    ];
    const out = await writeAll({ format: 'ndjson' }, records);
    expect(out).toBe(`${JSON.stringify(records[0])}\n${JSON.stringify(records[1])}\n`);
    expect(out).not.toContain('\r');
    expect(out.split('\n').slice(0, -1).map((line) => JSON.parse(line))).toEqual(records);
  });

  it('keeps fields that only later records have', async () => {
    const out = await writeAll({ format: 'ndjson', answerColumns: ['x'] }, [{ a: 1 }, { a: 2, b: 3 }]);
    expect(out).toBe('{"a":1}\n{"a":2,"b":3}\n');
  });

  it('writes nothing for no records', async () => {
    expect(await writeAll({ format: 'ndjson' }, [])).toBe('');
  });

  it('keeps the input columns in their order when some are named like numbers (years, positions), as CSV output does', async () => {
    // helper-40: a JavaScript object puts integer-like keys first, so `id,name,2024,2025` came out as
    // {"2024":…,"2025":…,"id":…}; so did the positions that name a header's blank cells.
    const columns = ['id', 'name', '2024', '2025', '5'];
    const record = { id: '1', name: 'a', 2024: '10', 2025: '20', 5: '', summary: 'ok', _error: undefined, _meta: { cost_usd: 0 } };
    const out = await writeAll({ format: 'ndjson', inputColumns: () => columns }, [record, { id: '2', 2025: 'x', extra: 1 }]);
    expect(out).toBe('{"id":"1","name":"a","2024":"10","2025":"20","5":"","summary":"ok","_meta":{"cost_usd":0}}\n{"id":"2","2025":"x","extra":1}\n');
    expect(out.split('\n').slice(0, -1).map((line) => JSON.parse(line))).toEqual([JSON.parse(JSON.stringify(record)), { id: '2', 2025: 'x', extra: 1 }]);
    // Without such a column, JSON.stringify as it is (the order is already the input's); so with
    // --no-header's columns 1..n, which lead in ascending order anyway.
    expect(await writeAll({ format: 'ndjson', inputColumns: () => ['b', 'a'] }, [{ b: 1, a: 2 }])).toBe('{"b":1,"a":2}\n');
    expect(await writeAll({ format: 'ndjson', inputColumns: () => ['1', '2', '10'] }, [{ 1: 'a', 2: 'b', 10: 'c', answer: 'x' }])).toBe('{"1":"a","2":"b","10":"c","answer":"x"}\n');
    expect(await writeAll({ format: 'ndjson', inputColumns: () => ['2', '1'] }, [{ 2: 'b', 1: 'a' }])).toBe('{"2":"b","1":"a"}\n');
  });
});

// helper-63: a Date went into the prompt as its ISO text, but into a CSV cell as a JSON string in
// quotes: the output read back made another prompt, another key, paid again.
describe('a value with a text form of its own (a Date)', () => {
  it('is that text in a CSV cell, as in the prompt (and in NDJSON, as JSON writes it)', async () => {
    const out = await writeAll({ format: 'csv' }, [{ id: 1, when: new Date('2024-01-02T00:00:00Z'), price: { toJSON: () => '12.50' }, nested: { a: 1 } }]);
    expect(parse(out, { columns: true })).toEqual([{ id: '1', when: '2024-01-02T00:00:00.000Z', price: '12.50', nested: '{"a":1}', _error: '' }]);
  });
});

describe('CSV output', () => {
  it('header: the input columns, then the answer columns, then _error, whatever the key order', () => {
    const format = createFormatter({ format: 'csv', answerColumns: ['sentiment', 'score'] });
    const text = format({ score: 2, id: '1', sentiment: 'positive', text: 'hi' });
    expect(text).toBe('id,text,sentiment,score,_error\n1,hi,positive,2,\n');
  });

  it('with metaColumn, _meta is a column of JSON after _error, whatever the key order (and a file widened late keeps it there)', () => {
    const format = createFormatter({ format: 'csv', answerColumns: ['label'], metaColumn: true });
    expect(format({ _meta: { attempt: 1 }, id: '1', label: 'a' })).toBe('id,label,_error,_meta\n1,a,,"{""attempt"":1}"\n');
    expect(widenedColumns(['id', 'label', '_error', '_meta', 'note'], ['label'], true)).toEqual(['id', 'note', 'label', '_error', '_meta']);
  });

  it('the header is written once, with the first record', () => {
    const format = createFormatter({ format: 'csv', answerColumns: ['label'] });
    expect(format({ id: '1', label: 'a' })).toBe('id,label,_error\n1,a,\n');
    expect(format({ id: '2', label: 'b' })).toBe('2,b,\n');
  });

  it('a column named __proto__ (an NDJSON key) is a field like any other: a record without it gets an empty cell, not {}', () => {
    const format = createFormatter({ format: 'csv', answerColumns: ['label'] });
    const first = JSON.parse('{"id":"1","__proto__":"x","label":"a"}') as Record<string, unknown>;
    expect(format(first)).toBe('id,__proto__,label,_error\n1,x,a,\n');
    expect(format({ id: '2', label: 'b' })).toBe('2,,b,\n');
  });

  it('a failed record leaves its answer cells empty and puts its error, as JSON, under _error', () => {
    const format = createFormatter({ format: 'csv', answerColumns: ['label'] });
    format({ id: '1', label: 'a' });
    expect(format({ id: '2', _error: { type: 'truncated', message: 'cut off' } })).toBe(
      '2,,"{""type"":""truncated"",""message"":""cut off""}"\n',
    );
  });

  it('a first record that failed still gets the full header', () => {
    const format = createFormatter({ format: 'csv', answerColumns: ['label'] });
    expect(format({ id: '1', _error: { type: 'refusal', message: 'no' } })).toBe(
      'id,label,_error\n1,,"{""type"":""refusal"",""message"":""no""}"\n',
    );
  });

  const cells: { description: string; value: unknown; want: string }[] = [
    { description: 'a comma is quoted', value: 'a, b', want: '"a, b"' },
    { description: 'a quote is doubled and quoted', value: 'say "hi"', want: '"say ""hi"""' },
    { description: 'a LF is quoted', value: 'one\ntwo', want: '"one\ntwo"' },
    { description: 'a CRLF is quoted', value: 'one\r\ntwo', want: '"one\r\ntwo"' },
    { description: 'a lone CR is quoted', value: 'one\rtwo', want: '"one\rtwo"' },
    { description: 'spaces are kept', value: ' padded ', want: ' padded ' },
    { description: 'a number is its text', value: 0.25, want: '0.25' },
    { description: 'a boolean is its text', value: false, want: 'false' },
    { description: 'null is an empty cell', value: null, want: '' },
    { description: 'undefined is an empty cell', value: undefined, want: '' },
    { description: 'an array is JSON', value: ['a', 'b'], want: '"[""a"",""b""]"' },
    { description: 'an object is JSON', value: { k: 1 }, want: '"{""k"":1}"' },
    { description: 'unicode is written as is', value: 'café 中文 😀', want: 'café 中文 😀' },
  ];
  for (const t of cells) {
    it(`cell: ${t.description}`, () => {
      const format = createFormatter({ format: 'csv' });
      expect(format({ id: 'x', v: t.value })).toBe(`id,v,_error\nx,${t.want},\n`);
    });
  }

  it('round trip: the CSV written parses back (csv-parse) to the same values', async () => {
    const records = [
      { id: '1', text: 'a, b', quote: 'say "hi"', lines: 'one\r\ntwo\nthree', label: 'ok', tags: ['x', 'y'] },
      { id: '2', text: ' padded ', quote: '"', lines: '', label: 'é中😀', tags: [] },
      { id: '3', text: '', quote: '', lines: '\n', _error: { type: 'refusal', message: 'a "quoted", message' } },
    ];
    const out = await writeAll({ format: 'csv', answerColumns: ['label', 'tags'] }, records);
    const back = parse(out, { columns: true }) as Record<string, string>[];
    expect(Object.keys(back[0] ?? {})).toEqual(['id', 'text', 'quote', 'lines', 'label', 'tags', '_error']);
    expect(back).toEqual(
      records.map((r) => ({
        id: r.id,
        text: r.text,
        quote: r.quote,
        lines: r.lines,
        label: r.label ?? '',
        tags: r.tags ? JSON.stringify(r.tags) : '',
        _error: r._error ? JSON.stringify(r._error) : '',
      })),
    );
    expect(JSON.parse(back[2]?.['_error'] ?? '')).toEqual(records[2]?._error);
  });

  /** Records whose fields vary: `note` and `other` first show up in the second. */
  const VARYING = [{ id: '1', label: 'a' }, { id: '2', label: 'b', note: 'x', other: 1 }, { id: '3', note: 'y' }, { id: '4', label: 'c', other: 2 }];

  it('a field missing from the header is reported once per name, and every row keeps the header width', () => {
    const extra: string[] = [];
    const format = createFormatter({ format: 'csv', answerColumns: ['label'], onExtraField: (name) => extra.push(name) });
    const out = VARYING.map((record) => format(record)).join('');
    expect(extra).toEqual(['note', 'other']);
    expect(out).toBe('id,label,_error\n1,a,\n2,b,\n3,,\n4,c,\n');
  });

  // helper-95: without onExtraField, a field the first record lacked (sparse rows from enrich(), a
  // first row that failed) was left out of every row of the CSV without a word; the CLI warns.
  it('without onExtraField, a field left out is a process warning, once per name', () => {
    const warnings: { message: string; code: string | undefined }[] = [];
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(((message: string, options?: { code?: string }) => {
      warnings.push({ message, code: options?.code });
    }) as typeof process.emitWarning);
    try {
      const format = createFormatter({ format: 'csv', answerColumns: ['label'] });
      expect(VARYING.map((record) => format(record)).join('')).toBe('id,label,_error\n1,a,\n2,b,\n3,,\n4,c,\n');
    } finally {
      spy.mockRestore();
    }
    expect(warnings).toEqual([
      { code: 'BATCH_ENRICH_EXTRA_FIELD', message: 'writeRecords: field `note` is not in the CSV header (the first record\'s fields): it is left out of every row; pass `growColumns: true` to add it as a column, or `onExtraField` to be told' },
      { code: 'BATCH_ENRICH_EXTRA_FIELD', message: 'writeRecords: field `other` is not in the CSV header (the first record\'s fields): it is left out of every row; pass `growColumns: true` to add it as a column, or `onExtraField` to be told' },
    ]);
  });

  it('growColumns: a field missing from the header is a column added at the end of the rows from there on, and widened() gives the columns as written', () => {
    const extra: string[] = [];
    const format = createFormatter({ format: 'csv', answerColumns: ['label'], onExtraField: (name) => extra.push(name), growColumns: true });
    const out = VARYING.map((record) => format(record)).join('');
    expect(extra).toEqual([]);
    expect(out).toBe('id,label,_error\n1,a,\n2,b,,x,1\n3,,,y,\n4,c,,,2\n');
    expect(format.widened()).toEqual(['id', 'label', '_error', 'note', 'other']);
    expect(widenedColumns(format.widened() ?? [], ['label'])).toEqual(['id', 'note', 'other', 'label', '_error']);
    // None added: nothing to rewrite.
    const plain = createFormatter({ format: 'csv', growColumns: true });
    plain({ a: 1 });
    plain({ a: 2 });
    expect(plain.widened()).toBeUndefined();
  });

  it('no extra-field report for fields the header has, even when a row lacks them', () => {
    const extra: string[] = [];
    const format = createFormatter({ format: 'csv', answerColumns: ['label'], onExtraField: (name) => extra.push(name) });
    format({ id: '1', text: 't' });
    format({ id: '2', text: 't', label: 'x', _error: { type: 't', message: 'm' } });
    expect(extra).toEqual([]);
  });

  it('each formatter has its own header state', () => {
    const options: WriteOptions = { format: 'csv' };
    expect(createFormatter(options)({ a: 1 })).toBe('a,_error\n1,\n');
    expect(createFormatter(options)({ b: 2 })).toBe('b,_error\n2,\n');
  });

  it('writeRecords is the formatter over a stream: the header once, then one row a record', async () => {
    const out = await writeAll({ format: 'csv', answerColumns: ['y'] }, [
      { x: 1, y: 2 },
      { x: 3, y: 4 },
    ]);
    expect(out).toBe('x,y,_error\n1,2,\n3,4,\n');
  });
});

describe('coalesce: one write per burst', () => {
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('joins the chunks written in one turn into one, in order, and loses nothing', async () => {
    const stream = coalesce();
    const out: string[] = [];
    stream.on('data', (chunk: string) => out.push(chunk));
    const lines = Array.from({ length: 1000 }, (_, i) => `{"n":${i},"text":"café ${i}"}\n`);
    for (const line of lines) stream.write(line);
    await turn();
    expect(out.join('')).toBe(lines.join(''));
    // 1000 short lines (about 25 KB) in one turn: a single write.
    expect(out).toHaveLength(1);
  });

  it('lets a burst out at the end of its turn, before the next one is written', async () => {
    const stream = coalesce();
    const out: string[] = [];
    stream.on('data', (chunk: string) => out.push(chunk));
    stream.write('a\n');
    stream.write('b\n');
    await turn();
    expect(out).toEqual(['a\nb\n']);
    stream.write('c\n');
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    expect(out).toEqual(['a\nb\n', 'c\n']);
  });

  it('holds its writer back when nobody reads, also when each turn brings little', async () => {
    const stream = coalesce();
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      if (!stream.write(`${'x'.repeat(1023)}\n`)) break;
      accepted++;
      await turn();
    }
    // About one high-water mark of text waits to be read, then writes are refused until it is.
    expect(accepted).toBeLessThan(100);
    expect(stream.readableLength).toBeLessThan(100 * 1024);
    const out: string[] = [];
    stream.on('data', (chunk: string) => out.push(chunk));
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    expect(out.join('')).toBe(`${'x'.repeat(1023)}\n`.repeat(accepted + 1));
  });

  it('caps a write at about 64 KB, whatever the burst', async () => {
    const stream = coalesce();
    const out: string[] = [];
    stream.on('data', (chunk: string) => out.push(chunk));
    const line = `${'x'.repeat(999)}\n`;
    for (let i = 0; i < 300; i++) stream.write(line);
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    expect(out.join('')).toBe(line.repeat(300));
    expect(out.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...out.map((chunk) => chunk.length))).toBeLessThan(64 * 1024 + line.length);
  });
});

describe('CSV for spreadsheets (--excel, --safe-csv)', () => {
  it('bom: the file starts with a UTF-8 BOM, once', async () => {
    const out = await writeAll({ format: 'csv', bom: true, answerColumns: ['answer'] }, [{ name: 'Zoë' }, { name: 'Jürgen' }]);
    expect(out).toBe('\ufeffname,answer,_error\nZoë,,\nJürgen,,\n');
  });

  it('safe: cells (input and answer alike) starting with = + - @ get a leading quote; plain numbers do not', async () => {
    const out = await writeAll({ format: 'csv', safe: true, answerColumns: ['answer'] }, [
      { a: '=HYPERLINK("http://evil","x")', b: '@SUM(A1)', c: '-5', d: '+1-2', answer: '=cmd|\' /C calc\'!A0' },
      { a: 'plain', b: '-1.5e3', c: '\tTAB', d: 'ok=fine', answer: 'fine' },
    ]);
    const rows = parse(out) as string[][];
    expect(rows[1]).toEqual(['\'=HYPERLINK("http://evil","x")', "'@SUM(A1)", '-5', "'+1-2", "'=cmd|' /C calc'!A0", '']);
    expect(rows[2]).toEqual(['plain', '-1.5e3', "'\tTAB", 'ok=fine', 'fine', '']);
    // Numbers a spreadsheet reads as numbers, written without a leading or a trailing digit, are plain too; a lone sign is not.
    const forms = await writeAll({ format: 'csv', safe: true, answerColumns: [] }, [{ a: '-.5', b: '-1.', c: '+.5e2', d: '-', e: '-.', f: '-e5' }]);
    expect((parse(forms) as string[][])[1]).toEqual(['-.5', '-1.', '+.5e2', "'-", "'-.", "'-e5", '']);
  });

  it('without safe, cells are written as they are', async () => {
    const out = await writeAll({ format: 'csv', answerColumns: [] }, [{ a: '=1+1' }]);
    expect(out).toBe('a,_error\n=1+1,\n');
  });
});

describe('numbers JavaScript cannot hold (raw numbers from NDJSON input)', () => {
  it('are written back as the input had them, in NDJSON and in CSV', async () => {
    const record = { id: '\ue0009007199254740993', huge: '\ue0001e400', nested: { n: '\ue000123456789012345678901234567890' }, text: '\ue000 not a number' };
    expect(await writeAll({ format: 'ndjson' }, [record])).toBe('{"id":9007199254740993,"huge":1e400,"nested":{"n":123456789012345678901234567890},"text":"\ue000 not a number"}\n');
    expect(await writeAll({ format: 'csv', answerColumns: [] }, [record])).toBe('id,huge,nested,text,_error\n9007199254740993,1e400,"{""n"":123456789012345678901234567890}",\ue000 not a number,\n');
  });
});

// helper-88 #1: the README's pipeline (enrichStage, then writeRecords({ format: 'csv' })) wrote no
// answer columns when its first record failed: the header came from that record, and every answer
// after it was left out, paid for and never written, without a word.
describe('CSV after the enrich stage: the answer columns come from the stage', () => {
  it('a first record that failed still gives the header its answer columns', async () => {
    const { toEnriched } = await import('../../src/stages/merge.ts');
    const { succeeded, text } = await import('../helpers/messages.ts');
    const { z } = await import('zod');
    const joined = (seq: number, data: Record<string, unknown>, result: unknown) => ({ seq, line: seq + 2, data, key: `k${seq}`, error: undefined, result, attempts: 1, batchId: 'b', customId: `c${seq}`, mode: 'batch' as const });
    const enriched = toEnriched({ validator: z.object({ category: z.string(), urgency: z.string() }), answerColumns: ['category', 'urgency'], file: 'tickets.csv' })(
      Readable.from([
        joined(0, { id: 'T-1', subject: 'Charged twice' }, { type: 'expired' }),
        joined(1, { id: 'T-2', subject: 'Dark mode?' }, succeeded([text('{"category":"feature","urgency":"low"}')])),
      ]),
    );
    let out = '';
    for await (const chunk of writeRecords({ format: 'csv' })(enriched)) out += chunk;
    const [head, , second] = out.trimEnd().split('\n');
    expect(head).toBe('id,subject,category,urgency,_error');
    expect(second).toBe('T-2,Dark mode?,feature,low,');
  });
});
