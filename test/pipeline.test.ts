/**
 * The library end to end against the emulator: records in, enriched records out, through real
 * batches (create, poll, results) and a real ledger.
 */
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import type { ResponderResult } from '../src/emulator/index.ts';
import { enrichStage, type EnrichOptions } from '../src/enrich.ts';
import { fromObjects } from '../src/api.ts';
import type { BatchEvent } from '../src/stages/batch.ts';
import { newCounts } from '../src/stages/merge.ts';
import { readRecords, type SourceRecord } from '../src/stages/read.ts';
import { emulator, enrich, idOf, perRecord, schema, sources, tempLedger } from './helpers/pipeline.ts';

describe('enrichStage against the emulator', () => {
  // helper-52: memory was bounded by a count of records, not by their size: pages of up to 1,000
  // records (the emitter) and 4,000 (the intake, and the window the emitter looks ahead in) held a
  // gigabyte of 250 KB records with a slow consumer. Each is cut at PAGE_CHARS of record text too.
  it('large records: no ledger write or read, and no intake lookup page, holds much more than PAGE_CHARS of them at once, and every record comes out', async () => {
    const { Ledger } = await import('../src/ledger/ledger.ts');
    const { PAGE_CHARS } = await import('../src/sink/options.ts');
    const emu = await emulator({ responder: perRecord });
    const text = 'x'.repeat(150_000);
    const rows = Array.from({ length: 250 }, (_, i) => ({ id: String(i), text }));
    const recordChars = JSON.stringify(rows[0]).length;
    const written: number[] = [];
    const read: number[] = [];
    /** Records in each page the intake looks up at once (and holds, with their requests). */
    const looked: number[] = [];
    const ledger = new Ledger(':memory:');
    const watched = new Proxy(ledger, {
      get(target, name) {
        const value = Reflect.get(target, name) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const out = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (name === 'intake') written.push((args[4] as { data: string }[]).reduce((sum, r) => sum + r.data.length, 0));
          if (name === 'records') read.push((out as { data: string }[]).reduce((sum, r) => sum + r.data.length, 0));
          if (name === 'known') looked.push((args[1] as string[]).length);
          return out;
        };
      },
    });
    const out = await enrich(emu, rows, { ledger: watched, batchSize: 100 });
    expect(out.map((record) => record['id'])).toEqual(rows.map((row) => row.id));
    expect(Math.max(...written)).toBeLessThanOrEqual(PAGE_CHARS + recordChars);
    expect(Math.max(...read)).toBeLessThanOrEqual(PAGE_CHARS + recordChars);
    // The intake's lookup pages too: each request carries the 150 KB text (it held 250 at once).
    expect(looked.reduce((sum, n) => sum + n, 0)).toBe(rows.length);
    expect(Math.max(...looked)).toBeLessThanOrEqual(Math.ceil(PAGE_CHARS / text.length) + 1);
    ledger.close();
  }, 60_000);

  // helper-52: Readable.from([{ id: 1, text: 'a' }]) into enrichStage (as the asTransform example
  // invites) failed with SQLITE_CONSTRAINT_NOTNULL: NOT NULL constraint failed: records.line.
  it('plain objects instead of records are a usage error that says what the stage takes, before anything is sent', async () => {
    const emu = await emulator({ responder: perRecord });
    const run = pipeline(
      Readable.from([{ id: '1', text: 'a' }]),
      enrichStage({ prompt: 'item {{id}}: {{text}}', schema, apiKey: 'test-key', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5 }),
      async (records: AsyncIterable<unknown>) => {
        for await (const _ of records);
      },
    );
    await expect(run).rejects.toMatchObject({
      code: 'BE_INVALID_OPTION',
      message: 'enrichStage takes records as readRecords gives them ({ seq, line, data }), not plain objects: got {"id":"1","text":"a"} (item 1 of the input); enrich() takes plain objects, and fromObjects() makes records of them in a pipeline (after another enrich stage)',
    });
    expect(emu.stats.requestsSubmitted).toBe(0);
  });

  // helper-77: two enrich stages in one pipeline: the second refused the first's output, and no
  // adapter was exported.
  it('two enrich stages chain through fromObjects(): the second gets the first’s enriched records, in order', async () => {
    const emu = await emulator({ responder: perRecord });
    const options = { apiKey: 'test-key', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5 };
    const out: Record<string, unknown>[] = [];
    await pipeline(
      Readable.from(sources([{ id: '1', text: 'a' }, { id: '2', text: 'b' }])),
      enrichStage({ ...options, prompt: 'item {{id}}: {{text}}', schema }),
      fromObjects(),
      enrichStage({ ...options, prompt: 'again {{id}}: {{label}}', into: 'second' }),
      async (records: AsyncIterable<Record<string, unknown>>) => {
        for await (const r of records) out.push(r);
      },
    );
    expect(out.map((r) => [r['id'], r['label'], typeof r['second']])).toEqual([['1', 'label-1', 'string'], ['2', 'label-2', 'string']]);
  });

  // helper-78: a row the first stage failed was sent by the second, paid for, and came out as if enriched.
  it('through fromObjects(), a row the first stage failed comes out of the second with its error, not sent again', async () => {
    const emu = await emulator({ responder: perRecord });
    const options = { apiKey: 'test-key', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5 };
    const out: Record<string, unknown>[] = [];
    await pipeline(
      Readable.from(sources([{ id: '1', text: 'a' }, { id: '2' }])),
      enrichStage({ ...options, prompt: 'item {{id}}: {{text}}', schema }),
      fromObjects(),
      enrichStage({ ...options, prompt: 'again {{id}}', into: 'second' }),
      async (records: AsyncIterable<Record<string, unknown>>) => {
        for await (const r of records) out.push(r);
      },
    );
    expect(out[0]?.['second']).toEqual(expect.any(String));
    expect(out[1]).toEqual({ id: '2', _error: { type: 'template', message: expect.stringMatching(/Missing field: .*\{\{text\}\}/) } });
    // Two requests of the first stage (one sent), one of the second.
    expect(emu.stats.requestsSubmitted).toBe(2);
  });

  // helper-88 #6: fromObjects() rows were named `<stdin>:N` in the second stage's messages.
  it('through fromObjects(), the second stage names a failed row `row:N`, not `<stdin>:N`', async () => {
    const emu = await emulator({ responder: perRecord });
    const options = { apiKey: 'test-key', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5 };
    const out: Record<string, unknown>[] = [];
    await pipeline(
      Readable.from([{ id: '1', text: 'a' }, { id: '2' }]),
      fromObjects(),
      enrichStage({ ...options, prompt: 'item {{id}}: {{text}}', schema }),
      async (records: AsyncIterable<Record<string, unknown>>) => {
        for await (const r of records) out.push(r);
      },
    );
    expect(out[1]?.['_error']).toEqual({ type: 'template', message: expect.stringMatching(/^row:2: /) });
  });

  // helper-93 #6: after fromObjects(), a row's own `path` column was printed as if it were a folder's file.
  it('through fromObjects(), a row with a path column is named row:N alone, not by that path', async () => {
    const emu = await emulator({ responder: () => ({ error: { type: 'invalid_request_error', message: 'refused' } }) });
    const out: Record<string, unknown>[] = [];
    await pipeline(
      Readable.from([{ id: '1', path: 'some/where.csv', text: 'a' }]),
      fromObjects(),
      enrichStage({ apiKey: 'test-key', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5, prompt: 'item {{text}}' }),
      async (records: AsyncIterable<Record<string, unknown>>) => {
        for await (const r of records) out.push(r);
      },
    );
    expect(out[0]?.['_error']).toEqual({ type: 'invalid_request_error', message: 'row:1: refused' });
  });

  it('joins each answer to its own record although results come back shuffled', async () => {
    const emu = await emulator({ responder: perRecord });
    const rows = Array.from({ length: 60 }, (_, i) => ({ id: String(i), text: `text ${i}` }));
    const out = await enrich(emu, rows);

    expect(out).toEqual(rows.map((r) => ({ ...r, label: `label-${r.id}`, n: Number(r.id) * 2 })));
    // The emulator really does answer out of order: download the batch's results directly.
    const client = new Anthropic({ apiKey: 'test-key', baseURL: emu.url });
    const order: string[] = [];
    for await (const line of await client.messages.batches.results(emu.batches()[0] ?? '')) order.push(line.custom_id);
    expect(order).toHaveLength(60);
    expect(order).not.toEqual([...order].sort());
  });

  it('keeps input order across many batches, loses no record and submits each request once', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 30 });
    const rows = Array.from({ length: 103 }, (_, i) => ({ id: String(i), text: `t${i}` }));
    const out = await enrich(emu, rows, { batchSize: 10, maxInFlight: 3 });

    expect(out.map((r) => r['id'])).toEqual(rows.map((r) => r.id));
    expect(out.every((r, i) => r['label'] === `label-${i}`)).toBe(true);
    expect(emu.batches()).toHaveLength(11);
    expect([...emu.submittedCustomIds().values()].every((n) => n === 1)).toBe(true);
    expect(emu.submittedCustomIds().size).toBe(103);
  });

  it("streams a batch's records out before the input ends (no waiting for later batches)", async () => {
    const emu = await emulator({ responder: perRecord });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slowSource(): AsyncGenerator<SourceRecord> {
      for (let i = 0; i < 5; i++) yield { seq: i, line: i + 1, data: { id: String(i), text: 'x' } };
      await gate; // the input stalls here until the first batch's records have come out
      for (let i = 5; i < 8; i++) yield { seq: i, line: i + 1, data: { id: String(i), text: 'x' } };
    }
    const seen: string[] = [];
    await pipeline(
      slowSource(),
      enrichStage({ prompt: 'item {{id}}: {{text}}', schema, apiKey: 'k', baseURL: emu.url, ledger: ':memory:', flushAfterMs: 30, pollMinMs: 5 }),
      async (records: AsyncIterable<Record<string, unknown>>) => {
        for await (const record of records) {
          seen.push(String(record['id']));
          if (seen.length === 5) release();
        }
      },
    );
    expect(seen).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(emu.batches()).toHaveLength(2);
  });

  it('puts every kind of failure on its own record as _error, in place, and counts them', async () => {
    const answers: Record<string, ResponderResult> = {
      trunc: { json: { label: 'cut', n: 1 }, stop_reason: 'max_tokens' },
      refuse: { refusal: true },
      notjson: { text: 'Sure! The label is x.' },
      wrong: { json: { label: 5 } },
      err: { error: { type: 'invalid_request_error', message: 'max_tokens: too large' } },
    };
    const emu = await emulator({ responder: ({ params }) => answers[idOf(params)] ?? perRecord({ params }) });
    const ndjson = [
      '{"id":"1","text":"fine"}',
      '{"id":"trunc","text":"a"}',
      '{"id":"refuse","text":"b"}',
      'this is not json',
      '{"id":"notjson","text":"c"}',
      '{"id":"wrong","text":"d"}',
      '{"id":"nofield"}',
      '{"id":"err","text":"e"}',
      '[1,2]',
      '{"id":"2","text":"fine too"}',
    ].join('\n');
    const counts = newCounts();
    const out = await enrich(emu, readRecords({ format: 'ndjson', file: 'in.ndjson' })(Readable.from([ndjson])), { counts, file: 'in.ndjson' });

    const errorOf = (i: number) => (out[i]?.['_error'] as { type: string; message: string } | undefined);
    expect(out).toHaveLength(10);
    expect(out[0]).toEqual({ id: '1', text: 'fine', label: 'label-1', n: 2 });
    expect(errorOf(1)?.type).toBe('truncated');
    expect(out[1]?.['label']).toBeUndefined();
    expect(errorOf(2)?.type).toBe('refusal');
    expect(errorOf(3)).toMatchObject({ type: 'invalid_input', message: expect.stringContaining('in.ndjson:4') });
    expect(out[3]).toEqual({ _error: expect.objectContaining({ input: 'this is not json' }) });
    expect(errorOf(4)?.type).toBe('invalid_json');
    expect(errorOf(5)).toMatchObject({ type: 'schema_mismatch', message: expect.stringContaining('label') });
    expect(errorOf(6)).toMatchObject({ type: 'template', message: expect.stringMatching(/in\.ndjson:7: .*\{\{text\}\}/) });
    expect(errorOf(7)).toEqual({ type: 'invalid_request_error', message: 'in.ndjson:8: max_tokens: too large' });
    expect(errorOf(8)?.type).toBe('invalid_input');
    expect(out[9]).toMatchObject({ id: '2', label: 'label-2' });
    expect(counts).toEqual({
      ok: 2,
      failed: 8,
      byType: { truncated: 1, refusal: 1, invalid_input: 2, invalid_json: 1, schema_mismatch: 1, template: 1, invalid_request_error: 1 },
    });
  });

  it('marks results the batch reports as expired', async () => {
    const emu = await emulator({ expiredRate: 1 });
    const out = await enrich(emu, [{ id: '1', text: 'a' }, { id: '2', text: 'b' }]);
    expect(out.map((r) => (r['_error'] as { type: string }).type)).toEqual(['expired', 'expired']);
  });

  it('serves a rerun from the ledger without submitting anything again', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    const rows = Array.from({ length: 12 }, (_, i) => ({ id: String(i), text: `t${i}` }));
    const first = await enrich(emu, rows, { ledger, batchSize: 5 });
    const creates = emu.stats.calls['batches.create'];
    expect(creates).toBe(3);

    const second = await enrich(emu, rows, { ledger, batchSize: 5 });
    expect(second).toEqual(first);
    expect(emu.stats.calls['batches.create']).toBe(creates);

    // A changed prompt is a different request: it is submitted.
    const changed = await enrich(emu, rows.slice(0, 2), { ledger, prompt: 'item {{id}}: {{text}} (again)' });
    expect(changed).toHaveLength(2);
    expect(emu.stats.calls['batches.create']).toBe(creates + 1);
  });

  it('sends identical records once and gives every copy the answer', async () => {
    const emu = await emulator({ responder: perRecord });
    const rows = [{ id: '7', text: 'same' }, { id: '8', text: 'other' }, { id: '7', text: 'same' }, { id: '7', text: 'same' }];
    const out = await enrich(emu, rows);
    expect(out.map((r) => r['label'])).toEqual(['label-7', 'label-8', 'label-7', 'label-7']);
    expect(emu.stats.requestsSubmitted).toBe(2);
  });

  it('cuts batches at the byte limit, and a request alone over it fails only its record', async () => {
    const limit = 2_000;
    const emu = await emulator({ responder: perRecord, maxBodyBytes: limit });
    const rows = Array.from({ length: 9 }, (_, i) => ({ id: String(i), text: 'x'.repeat(300) }));
    rows.push({ id: 'huge', text: 'y'.repeat(5_000) });
    const out = await enrich(emu, rows, { maxBatchBytes: limit, file: 'in.ndjson' });
    expect(out.slice(0, 9).every((r) => r['label'] !== undefined)).toBe(true);
    // Named as every per-record message names its record (`file:line:`; the helper's rows start at line 2), not `line 11:`.
    expect(out[9]?.['_error']).toMatchObject({ type: 'request_too_large', message: expect.stringMatching(/^in\.ndjson:11: the request is \d+ bytes, over the batch limit of 2000$/) });
    expect(emu.batches().length).toBeGreaterThan(1);
  });

  it('never has more than maxInFlight batches running', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 60 });
    let running = 0;
    let peak = 0;
    const onEvent = (event: BatchEvent) => {
      if (event.type === 'submitted') peak = Math.max(peak, ++running);
      if (event.type === 'ended') running--;
    };
    const rows = Array.from({ length: 20 }, (_, i) => ({ id: String(i), text: 't' }));
    const out = await enrich(emu, rows, { batchSize: 4, maxInFlight: 2, onEvent });
    expect(out).toHaveLength(20);
    expect(peak).toBe(2);
  });

  it('polls an hour-long batch about a dozen times with the default backoff (virtual clock)', async () => {
    const HOUR = 3_600_000;
    const start = Date.UTC(2026, 10, 1);
    let t = start;
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now, processingMs: HOUR });
    const rows = Array.from({ length: 5 }, (_, i) => ({ id: String(i), text: `t${i}` }));
    const out = await enrich(emu, rows, { clock, pollMinMs: undefined, pollMaxMs: undefined });

    expect(out.every((r, i) => r['label'] === `label-${i}`)).toBe(true);
    const retrieves = emu.stats.calls['batches.retrieve'] ?? 0;
    expect(retrieves).toBeGreaterThanOrEqual(13);
    expect(retrieves).toBeLessThanOrEqual(14);
    // The end was noticed within the 15-minute cap of the interval.
    expect(t - start).toBeGreaterThanOrEqual(HOUR);
    expect(t - start).toBeLessThanOrEqual(HOUR + 15 * 60_000);
  });

  it('fails the run with the API status when the key is refused, and names it', async () => {
    const emu = await emulator({ apiKey: 'the-right-key' });
    await expect(enrich(emu, [{ id: '1', text: 'a' }], { apiKey: 'wrong-key' })).rejects.toMatchObject({
      code: 'BE_API',
      status: 401,
      message: expect.stringMatching(/Creating a batch of 1 request.*401/),
    });
  });

  it('a run that stops before it reads the input (no key; a model the API does not know) closes its input, iterated by hand too', async () => {
    const emu = await emulator();
    const stopped = async (options: Partial<EnrichOptions>, code: string) => {
      // A file's stream as a caller would hand it over: still open until something reads it to the end or destroys it.
      const input = Readable.from(sources([{ id: '1', text: 'a' }, { id: '2', text: 'b' }]));
      const out: unknown[] = [];
      await expect(
        (async () => {
          for await (const record of enrichStage({ ledger: ':memory:', ...options, prompt: 'item {{id}}: {{text}}' })(input)) out.push(record);
        })(),
      ).rejects.toMatchObject({ code });
      expect(out).toEqual([]);
      expect(input.destroyed, code).toBe(true);
    };
    const key = process.env['ANTHROPIC_API_KEY'];
    delete process.env['ANTHROPIC_API_KEY'];
    try {
      await stopped({ baseURL: emu.url }, 'BE_NO_API_KEY');
    } finally {
      if (key !== undefined) process.env['ANTHROPIC_API_KEY'] = key;
    }
    await stopped({ apiKey: 'k', baseURL: emu.url, ledger: tmpdir() }, 'BE_LEDGER'); // a folder
    // Asked about once the first record is read (GET /v1/models/{id}: 404).
    await stopped({ apiKey: 'k', baseURL: emu.url, model: 'claude-nonesuch-9' }, 'BE_INVALID_OPTION');
  });

  it('a stage told to return before its first read closes its input (helper-77 #9)', async () => {
    const input = Readable.from(sources([{ id: '1', text: 'a' }]));
    const run = enrichStage({ ledger: ':memory:', apiKey: 'k', baseURL: 'http://127.0.0.1:9', prompt: 'item {{id}}: {{text}}' })(input);
    await expect(run.return(undefined)).resolves.toEqual({ done: true, value: undefined });
    expect(input.destroyed).toBe(true);
    // Returned: nothing more comes, and nothing was opened or sent.
    await expect(run.next()).resolves.toEqual({ done: true, value: undefined });
  });

  // helper-80 (the CLI's #3, for the library too): rows that a prompt names no field of were one
  // request, its answer copied to every row.
  it('a prompt that names no field of the rows is refused at the first row, before anything is sent', async () => {
    const emu = await emulator();
    await expect(enrich(emu, [{ id: '1', text: 'a' }, { id: '2', text: 'b' }], { prompt: 'Classify: {text}', schema: undefined })).rejects.toMatchObject({
      code: 'BE_TEMPLATE',
      message: expect.stringContaining('the prompt names no field of the records, so every record would be sent the same request and get the same answer; fields are written {{name}} (did you mean {{text}}?)'),
    });
    expect(emu.stats.requestsSubmitted).toBe(0);
    // No rows: nothing to refuse.
    expect(await enrich(emu, [], { prompt: 'Say hello' })).toEqual([]);
  });

  it('rejects bad options by name before doing anything', () => {
    expect(() => enrichStage({ prompt: 'x', batchSize: 0 })).toThrow(/`batchSize`/);
    expect(() => enrichStage({ prompt: 'x', batchSize: 100_001 })).toThrow(/`batchSize`/);
    expect(() => enrichStage({ prompt: 'x', bogus: 1 } as unknown as EnrichOptions)).toThrow(/bogus|Unrecognized/);
  });

  it('works from the public entry point: a recipe as a stage, wrapped for .pipe()', async () => {
    const emu = await emulator();
    const { asTransform, recipeStage } = await import('../src/index.ts');
    const triage = await import('../transforms/ticket-triage.ts');
    const stage = recipeStage(triage.default, { apiKey: 'k', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5 });
    const duplex = asTransform(stage);
    const out: Record<string, unknown>[] = [];
    duplex.on('data', (record: Record<string, unknown>) => out.push(record));
    Readable.from(sources([{ ticket_id: 'T-1', subject: 'Refund', body: 'Charged twice' }, { ticket_id: 'T-2', subject: 'Hi', body: 'Thanks' }])).pipe(duplex);
    await once(duplex, 'end');
    expect(out.map((r) => r['ticket_id'])).toEqual(['T-1', 'T-2']);
    for (const record of out) {
      const { ticket_id, subject, body, ...answer } = record;
      expect(triage.schema.parse(answer)).toEqual(answer);
    }
    // custom_id = <6-character submission nonce>_<key>, the key showing the recipe's id field
    expect([...emu.submittedCustomIds().keys()].every((id) => /^[A-Za-z0-9]{6}_T-[12]-[A-Za-z0-9_-]{22}$/.test(id))).toBe(true);
  });

  it('reads ANTHROPIC_BASE_URL as the SDK does when no baseURL is given', async () => {
    const emu = await emulator({ responder: perRecord });
    const saved = process.env['ANTHROPIC_BASE_URL'];
    process.env['ANTHROPIC_BASE_URL'] = emu.url;
    try {
      const out: Record<string, unknown>[] = [];
      await pipeline(
        Readable.from(sources([{ id: '3', text: 'x' }])),
        enrichStage({ prompt: 'item {{id}}: {{text}}', schema, apiKey: 'k', ledger: ':memory:', pollMinMs: 5 }),
        async (records: AsyncIterable<Record<string, unknown>>) => {
          for await (const record of records) out.push(record);
        },
      );
      expect(out).toEqual([{ id: '3', text: 'x', label: 'label-3', n: 6 }]);
    } finally {
      if (saved === undefined) delete process.env['ANTHROPIC_BASE_URL'];
      else process.env['ANTHROPIC_BASE_URL'] = saved;
    }
  });
});
