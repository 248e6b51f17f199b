/** Records → batch requests: the exact params sent, content-addressed keys, and per-record template failures. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CUSTOM_ID_PATTERN, MAX_KEY_CHARS, prepareSpec, requestKey } from '../../src/core/request.ts';
import { compileTemplate } from '../../src/core/template.ts';
import type { PreparedRecord } from '../../src/stages/batch.ts';
import { toRequests, type PrepareOptions } from '../../src/stages/prepare.ts';
import type { SourceRecord } from '../../src/stages/read.ts';

const options: PrepareOptions = {
  model: 'claude-haiku-4-5',
  maxTokens: 200,
  prompt: compileTemplate('Classify: {{text}}'),
  system: 'You triage support tickets.',
  answerSchema: { type: 'object', properties: { label: { type: 'string' } }, required: ['label'] },
  file: 'tickets.csv',
};

const record = (seq: number, data: Record<string, unknown>, line = seq + 2): SourceRecord => ({ seq, line, data });

async function prepare(records: SourceRecord[], opts: PrepareOptions = options): Promise<PreparedRecord[]> {
  const out: PreparedRecord[] = [];
  for await (const r of toRequests(opts)(Readable.from(records))) out.push(r);
  return out;
}

// helper-93 #12: a Template built by hand (source, fields, required, render), as the exported
// interface allowed, failed with "template.blank is not a function".
it('a hand-built template without blank() is used as before', async () => {
  const { toRequests } = await import('../../src/stages/prepare.ts');
  const prompt = { source: 'x {{text}}', fields: ['text'], required: ['text'], render: (r: Record<string, unknown>) => `x ${String(r['text'])}` };
  const out = [];
  for await (const r of toRequests({ model: 'claude-haiku-4-5', maxTokens: 10, prompt, system: undefined, answerSchema: undefined, idField: undefined })((async function* () {
    yield { seq: 0, line: 2, data: { text: 'a' } };
  })())) out.push(r);
  expect(out[0]?.error).toBeUndefined();
});

describe('toRequests', () => {
  it('head + messages + tail is exactly the params prepareSpec builds; the key hashes it and leaves room for the nonce', async () => {
    const [prepared] = await prepare([record(0, { id: '7', text: 'app crashes' })]);
    const params = prepareSpec(options)({ text: 'app crashes' });
    expect(prepared?.key).toMatch(CUSTOM_ID_PATTERN);
    expect(prepared?.key?.length).toBeLessThanOrEqual(MAX_KEY_CHARS);
    const whole = `${prepared?.spec?.head}${prepared?.messages}${prepared?.spec?.tail}`;
    expect(whole).toBe(JSON.stringify(params));
    expect(prepared?.key).toBe(requestKey(whole));
    expect(prepared?.messages).toBe(JSON.stringify(params.messages));
    expect(params.messages).toEqual([{ role: 'user', content: 'Classify: app crashes' }]);
  });

  it('keeps seq, line and data, and adds no error', async () => {
    const [prepared] = await prepare([record(4, { text: 'x' }, 9)]);
    expect(prepared).toMatchObject({ seq: 4, line: 9, data: { text: 'x' } });
    expect(prepared).not.toHaveProperty('error');
  });

  it('identical records get identical keys and params; a different prompt text gets another', async () => {
    const [a, b, c] = await prepare([record(0, { text: 'same' }), record(1, { text: 'same' }), record(2, { text: 'other' })]);
    expect(a?.key).toBe(b?.key);
    expect(a?.messages).toBe(b?.messages);
    expect(a?.spec).toBe(b?.spec); // one shared object for the whole job
    expect(c?.key).not.toBe(a?.key);
  });

  it('the same record gets the same custom_id on another run (a rerun finds work already done)', async () => {
    const [first] = await prepare([record(0, { text: 'same' })]);
    const [again] = await prepare([record(5, { text: 'same' }, 40)], { ...options, prompt: compileTemplate('Classify: {{text}}') });
    expect(again?.key).toBe(first?.key);
  });

  it('--id-field gives the sanitised field value as the label, and leaves the key alone', async () => {
    const [plain] = await prepare([record(0, { ticket: 'T 42/a', text: 'x' })]);
    const [prepared] = await prepare([record(0, { ticket: 'T 42/a', text: 'x' })], { ...options, idField: 'ticket' });
    expect(prepared?.label).toBe('T_42_a');
    expect(prepared?.key).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(prepared?.key).toBe(plain?.key);
  });

  it('--id-field: a number JSON cannot hold (kept as its raw text) labels as the user wrote it', async () => {
    const [prepared] = await prepare([record(0, { ticket: '\ue0009007199254740993', text: 'x' })], { ...options, idField: 'ticket' });
    expect(prepared?.label).toBe('9007199254740993');
  });

  it('--id-field naming a field a record lacks gives no label', async () => {
    const [prepared] = await prepare([record(0, { text: 'x' })], { ...options, idField: 'ticket' });
    expect(prepared?.label).toBeUndefined();
    expect(prepared?.key).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('a record the template cannot fill becomes a `template` error naming file:line; the others go on, in order', async () => {
    const out = await prepare([record(0, { text: 'a' }), record(1, { body: 'no text' }, 7), record(2, { text: 'c' })]);
    expect(out.map((r) => [r.seq, r.error?.type ?? 'ok'])).toEqual([
      [0, 'ok'],
      [1, 'template'],
      [2, 'ok'],
    ]);
    expect(out[1]?.error?.message).toBe('tickets.csv:7: Missing field: the prompt template uses {{text}}, got a record without it');
    expect(out[1]).not.toHaveProperty('messages');
    expect(out[1]?.key).toBeUndefined();
    expect(out[1]?.data).toEqual({ body: 'no text' });
  });

  // helper-84 #7: a row whose document cell is blank (a recipe with a prompt for records without
  // documents, over {{text}}) said only that {{text}} was missing, in a CSV that has no text column.
  it('a record whose document field is empty says so before the prompt it fell back to', async () => {
    const withDocuments = { ...options, attach: ['file'], documentPrompt: compileTemplate('Extract the invoice.') };
    const out = await prepare([record(0, { invoice_id: 'A9', file: '' }, 10), record(1, { invoice_id: 'A10', file: null }, 11), record(2, { invoice_id: 'A11' }, 12)], withDocuments);
    expect(out.map((r) => r.error?.message)).toEqual([
      'tickets.csv:10: field file is empty: no document to read, so the prompt for records without documents was used. Missing field: the prompt template uses {{text}}, got a record without it',
      'tickets.csv:11: field file is empty: no document to read, so the prompt for records without documents was used. Missing field: the prompt template uses {{text}}, got a record without it',
      'tickets.csv:12: field file is missing: no document to read, so the prompt for records without documents was used. Missing field: the prompt template uses {{text}}, got a record without it',
    ]);
  });

  it('on stdin the error names <stdin>:line', async () => {
    for (const file of [undefined, '-']) {
      const [prepared] = await prepare([record(0, {}, 3)], { ...options, file });
      expect(prepared?.error?.message).toMatch(/^<stdin>:3: Missing field/);
    }
  });

  it('a record that already failed (bad input line) passes through untouched', async () => {
    const bad: SourceRecord = { seq: 0, line: 1, data: {}, error: { type: 'invalid_input', message: 'in:1: not JSON', input: '{oops' } };
    const [prepared] = await prepare([bad]);
    expect(prepared).toEqual(bad);
    expect(prepared).not.toHaveProperty('messages');
  });

  it('an unexpected error is not disguised as a per-record error', async () => {
    const opts = { ...options, prompt: compileTemplate('{{$record}}') };
    // (A BigInt was the example: it is written as its digits now, helper-93 #5.)
    await expect(prepare([record(0, { n: { toJSON: () => { throw new TypeError('boom'); } } })], opts)).rejects.toThrow(TypeError);
  });
});
