/** Joined results → enriched records, with counts the CLI turns into an exit code. */
import { Readable } from 'node:stream';
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import type { Message } from '@anthropic-ai/sdk/resources/messages/messages';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JoinedRecord } from '../../src/stages/batch.ts';
import { succeeded as succeedWith, text } from '../helpers/messages.ts';
import { newCounts, toEnriched, type MergeCounts, type MergeOptions } from '../../src/stages/merge.ts';

function succeeded(answer: string, stopReason: Message['stop_reason'] = 'end_turn'): MessageBatchResult {
  return succeedWith([text(answer)], stopReason);
}

const joined = (seq: number, data: Record<string, unknown>, rest: Partial<JoinedRecord>): JoinedRecord => ({
  seq,
  line: seq + 2,
  data,
  key: `id${seq}`,
  mode: 'batch',
  attempts: 1,
  batchId: 'msgbatch_1',
  customId: `nonce1_id${seq}`,
  error: undefined,
  result: undefined,
  ...rest,
});

async function merge(records: JoinedRecord[], options: MergeOptions, counts?: MergeCounts) {
  const out: Record<string, unknown>[] = [];
  for await (const r of toEnriched(options, counts)(Readable.from(records))) out.push(r);
  return out;
}

const validator = z.object({ label: z.string() });

describe('toEnriched', () => {
  it('merges answers, turns failures into _error, keeps the order, and counts both', async () => {
    const counts = newCounts();
    const out = await merge(
      [
        joined(0, { id: '1' }, { result: succeeded('{"label":"bug"}') }),
        joined(1, { id: '2' }, { result: succeeded('{"label":"bug"}', 'max_tokens') }),
        joined(2, { id: '3' }, { error: { type: 'template', message: 'in.csv:4: Missing field' }, key: undefined }),
        joined(3, { id: '4' }, { result: { type: 'expired' } }),
        joined(4, { id: '5' }, { result: { type: 'expired' } }),
        joined(5, { id: '6' }, { result: succeeded('{"label":"question"}') }),
      ],
      { validator },
      counts,
    );
    expect(out).toEqual([
      { id: '1', label: 'bug' },
      { id: '2', _error: { type: 'truncated', message: expect.stringMatching(/max_tokens/) } },
      { id: '3', _error: { type: 'template', message: 'in.csv:4: Missing field' } },
      { id: '4', _error: { type: 'expired', message: expect.any(String) } },
      { id: '5', _error: { type: 'expired', message: expect.any(String) } },
      { id: '6', label: 'question' },
    ]);
    expect(counts).toEqual({ ok: 2, failed: 4, byType: { truncated: 1, template: 1, expired: 2 } });
  });

  // helper-80 #8: an answer's error (cut off, not the schema, refused by the API) named neither the
  // file nor the line, where every error of the input does: an errors file could not be traced back.
  it("an answer's error names the file and the record's line, as an input error does", async () => {
    const records = [
      joined(0, { id: '1' }, { result: succeeded('{"label":"bug"}', 'max_tokens') }),
      joined(1, { id: '2' }, { result: succeeded('{"label":7}') }),
      joined(2, { id: '3' }, { result: { type: 'errored', error: { type: 'error', request_id: 'r', error: { type: 'invalid_request_error', message: 'prompt is too long' } } } as MessageBatchResult, attempts: 2 }),
      joined(3, { id: '4' }, { error: { type: 'template', message: 'tickets.csv:5: Missing field' }, key: undefined }),
    ];
    const messages = (out: Record<string, unknown>[]) => out.map((r) => (r['_error'] as { message: string }).message);
    const named = messages(await merge(records, { validator, file: 'tickets.csv' }));
    expect(named[0]).toMatch(/^tickets\.csv:2: the answer was cut off/);
    expect(named[1]).toMatch(/^tickets\.csv:3: the answer does not match the schema/);
    expect(named[2]).toBe('tickets.csv:4: prompt is too long (after 2 attempts)');
    expect(named[3]).toBe('tickets.csv:5: Missing field');
    // helper-86 #7: an error the sink gives a record (the budget ran out) named no line either.
    const refused = messages(await merge([joined(4, { id: '5' }, { error: { type: 'budget_exceeded', message: 'not submitted: the budget of $1 would be crossed' }, key: undefined })], { validator, file: 'tickets.csv' }));
    expect(refused).toEqual(['tickets.csv:6: not submitted: the budget of $1 would be crossed']);
    // helper-87 #6: a file name with a line break in it had its errors named twice.
    const broken = messages(await merge([joined(0, { id: '1' }, { error: { type: 'document_unreadable', message: 'nl/bad\nname.pdf:2: nl/bad\nname.pdf: an empty document' }, key: undefined })], { validator, file: 'nl/bad\nname.pdf' }));
    expect(broken).toEqual(['nl/bad\nname.pdf:2: nl/bad\nname.pdf: an empty document']);
    expect(messages(await merge(records.slice(0, 1), { validator }))[0]).toMatch(/^<stdin>:2: the answer was cut off/);
  });

  it('`into` puts the answer under that field', async () => {
    const out = await merge([joined(0, { id: '1' }, { result: succeeded('{"label":"bug"}') })], { validator, into: 'ai' });
    expect(out).toEqual([{ id: '1', ai: { label: 'bug' } }]);
  });

  it('without a validator the answer is the text, under `answer`', async () => {
    const out = await merge([joined(0, { id: '1' }, { result: succeeded('A short summary.') })], {});
    expect(out).toEqual([{ id: '1', answer: 'A short summary.' }]);
  });

  it('a record with neither a result nor an error is a missing_result naming its line', async () => {
    const counts = newCounts();
    const out = await merge([joined(3, { id: '1' }, {})], { validator }, counts);
    expect(out).toEqual([{ id: '1', _error: { type: 'missing_result', message: '<stdin>:5: no result was joined' } }]);
    expect(counts.byType).toEqual({ missing_result: 1 });
  });

  it('a record error wins over a result', async () => {
    const out = await merge(
      [joined(0, { id: '1' }, { error: { type: 'invalid_input', message: 'in.csv:2: bad' }, result: succeeded('{"label":"bug"}') })],
      { validator },
    );
    expect(out).toEqual([{ id: '1', _error: { type: 'invalid_input', message: 'in.csv:2: bad' } }]);
  });

  it('does not mutate the joined records’ data', async () => {
    const data = Object.freeze({ id: '1' });
    const out = await merge([joined(0, data, { result: succeeded('{"label":"bug"}') })], { validator });
    expect(data).toEqual({ id: '1' });
    expect(out[0]).not.toBe(data);
  });

  it('counts accumulate over runs that share a counts object, and start at zero', async () => {
    const counts = newCounts();
    expect(counts).toEqual({ ok: 0, failed: 0, byType: {} });
    await merge([joined(0, {}, { result: succeeded('{"label":"a"}') })], { validator }, counts);
    await merge([joined(0, {}, { result: { type: 'canceled' } })], { validator }, counts);
    expect(counts).toEqual({ ok: 1, failed: 1, byType: { canceled: 1 } });
  });
});

describe('retried requests', () => {
  it('the final _error says what the last attempt got and how many attempts there were', async () => {
    const out = await merge([joined(0, { id: '1' }, { result: { type: 'expired' }, attempts: 3 }), joined(1, { id: '2' }, { result: { type: 'expired' } })], {});
    expect(out[0]?.['_error']).toEqual({ type: 'expired', message: expect.stringMatching(/expiry.*\(after 3 attempts\)$/), attempts: 3 });
    expect(out[1]?.['_error']).not.toHaveProperty('attempts');
  });
});
