/** One batch result → an answer to merge or a record error; and merging answers onto records. */
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { interpretResult, mergeAnswer, withError, type Interpreted } from '../../src/core/result.ts';
import { succeeded, text, tool } from '../helpers/messages.ts';


const validator = z.object({
  label: z.enum(['bug', 'question']),
  items: z.array(z.object({ price: z.number() })).default([]),
});
const ok = (answer: unknown): Interpreted => ({ ok: true, answer });

describe('interpretResult: successes', () => {
  const cases: { description: string; result: MessageBatchResult; schema: boolean; want: Interpreted }[] = [
    {
      description: 'valid JSON text is parsed and validated (and gets the schema’s defaults)',
      result: succeeded([text('{"label":"bug"}')]),
      schema: true,
      want: ok({ label: 'bug', items: [] }),
    },
    {
      description: 'a stop sequence is a normal end',
      result: succeeded([text('{"label":"question","items":[{"price":2}]}')], 'stop_sequence'),
      schema: true,
      want: ok({ label: 'question', items: [{ price: 2 }] }),
    },
    {
      description: 'text split over several blocks is joined before parsing',
      result: succeeded([text('{"label":'), text('"bug"}')]),
      schema: true,
      want: ok({ label: 'bug', items: [] }),
    },
    {
      description: 'a forced tool’s input is the answer, validated',
      result: succeeded([text('ignored'), tool({ label: 'bug' })], 'tool_use'),
      schema: true,
      want: ok({ label: 'bug', items: [] }),
    },
    {
      description: 'without a schema the answer is the text',
      result: succeeded([text('Just '), text('words.')]),
      schema: false,
      want: ok('Just words.'),
    },
    {
      description: 'without a schema JSON-looking text stays text',
      result: succeeded([text('{"a":1}')]),
      schema: false,
      want: ok('{"a":1}'),
    },
    {
      description: 'without a schema a tool’s input is the answer',
      result: succeeded([tool({ any: ['thing'] })], 'tool_use'),
      schema: false,
      want: ok({ any: ['thing'] }),
    },
  ];
  for (const t of cases) {
    it(t.description, () => {
      expect(interpretResult(t.result, t.schema ? { validator } : {})).toEqual(t.want);
    });
  }
});

describe('interpretResult: failures', () => {
  const cases: { description: string; result: MessageBatchResult; schema: boolean; type: string; message: RegExp }[] = [
    {
      description: 'errored: the API error type is read from result.error.error.type',
      result: {
        type: 'errored',
        error: { type: 'error', request_id: 'req_1', error: { type: 'invalid_request_error', message: 'max_tokens: too large' } },
      },
      schema: true,
      type: 'invalid_request_error',
      message: /^max_tokens: too large$/,
    },
    {
      description: 'errored without the nested error is still an api_error with a message',
      result: { type: 'errored', error: undefined } as unknown as MessageBatchResult,
      schema: true,
      type: 'api_error',
      message: /without a message/,
    },
    { description: 'expired', result: { type: 'expired' }, schema: true, type: 'expired', message: /24-hour expiry/ },
    { description: 'canceled', result: { type: 'canceled' }, schema: true, type: 'canceled', message: /canceled/ },
    {
      description: 'an unknown result type is an api_error naming it',
      result: { type: 'mystery' } as unknown as MessageBatchResult,
      schema: true,
      type: 'api_error',
      message: /unknown result type "mystery"/,
    },
    {
      description: 'cut off at max_tokens is truncated even when the text is valid JSON that matches the schema',
      result: succeeded([text('{"label":"bug"}')], 'max_tokens', 256),
      schema: true,
      type: 'truncated',
      message: /stop_reason max_tokens\) after 256 output tokens; raise max_tokens \(--max-tokens; the library's maxTokens\)/,
    },
    {
      description: 'cut off at max_tokens is truncated for free text too',
      result: succeeded([text('A complete-looking sentence.')], 'max_tokens'),
      schema: false,
      type: 'truncated',
      message: /max_tokens/,
    },
    {
      description: 'the context window running out is truncated',
      result: succeeded([text('{"label":"bug"}')], 'model_context_window_exceeded'),
      schema: true,
      type: 'truncated',
      message: /model_context_window_exceeded/,
    },
    {
      description: 'a refusal is its own error, even with parseable text',
      result: succeeded([text('{"label":"bug"}')], 'refusal'),
      schema: true,
      type: 'refusal',
      message: /declined/,
    },
    {
      description: 'a paused turn is incomplete',
      result: succeeded([text('{"label":"bug"}')], 'pause_turn'),
      schema: false,
      type: 'incomplete',
      message: /pause_turn/,
    },
    {
      description: 'text that is not JSON is invalid_json, with a preview of the text',
      result: succeeded([text('Sure! Here is the JSON: {"label":"bug"}')]),
      schema: true,
      type: 'invalid_json',
      message: /^the answer is not JSON \(.+\): "Sure! Here is the JSON/,
    },
    {
      description: 'an empty answer is invalid_json',
      result: succeeded([]),
      schema: true,
      type: 'invalid_json',
      message: /: ""$/,
    },
    {
      description: 'a long invalid answer is previewed in at most 80 characters',
      result: succeeded([text(`not json ${'x'.repeat(500)}`)]),
      schema: true,
      type: 'invalid_json',
      message: /: "not json x{69}…$/,
    },
    {
      description: 'a schema mismatch names the path of the issue',
      result: succeeded([text('{"label":"bug","items":[{"price":1},{"price":"two"}]}')]),
      schema: true,
      type: 'schema_mismatch',
      message: /^the answer does not match the schema: items\.1\.price: /,
    },
    {
      description: 'a mismatch at the top is shown as (root)',
      result: succeeded([text('[1,2]')]),
      schema: true,
      type: 'schema_mismatch',
      message: /: \(root\): /,
    },
    {
      description: 'a forced tool’s input is validated too',
      result: succeeded([tool({ label: 'feature' })], 'tool_use'),
      schema: true,
      type: 'schema_mismatch',
      message: /label: /,
    },
  ];
  for (const t of cases) {
    it(t.description, () => {
      const got = interpretResult(t.result, t.schema ? { validator } : {});
      expect(got.ok).toBe(false);
      if (got.ok) return;
      expect(got.error.type).toBe(t.type);
      expect(got.error.message).toMatch(t.message);
    });
  }

  it('at most three schema issues are listed', () => {
    const strict = z.object({ a: z.string(), b: z.string(), c: z.string(), d: z.string() });
    const got = interpretResult(succeeded([text('{}')]), { validator: strict });
    const message = got.ok ? '' : got.error.message;
    expect(message).toMatch(/schema: a: [^;]+; b: [^;]+; c: [^;]+$/);
  });
});

describe('mergeAnswer', () => {
  const record = Object.freeze({ id: '1', text: 'hi' });
  const cases: { description: string; answer: unknown; into: string | undefined; want: Record<string, unknown> }[] = [
    { description: 'an object answer is merged at the top level', answer: { label: 'bug' }, into: undefined, want: { id: '1', text: 'hi', label: 'bug' } },
    { description: 'with `into` an object answer goes under that field', answer: { label: 'bug' }, into: 'ai', want: { id: '1', text: 'hi', ai: { label: 'bug' } } },
    { description: 'free text goes under `answer`', answer: 'Some words', into: undefined, want: { id: '1', text: 'hi', answer: 'Some words' } },
    { description: 'free text goes under `into` when given', answer: 'Some words', into: 'summary', want: { id: '1', text: 'hi', summary: 'Some words' } },
    { description: 'an array answer is not spread: it goes under `answer`', answer: ['a', 'b'], into: undefined, want: { id: '1', text: 'hi', answer: ['a', 'b'] } },
    { description: 'a null answer goes under `answer`', answer: null, into: undefined, want: { id: '1', text: 'hi', answer: null } },
    { description: 'an answer field with an input column’s name replaces it', answer: { text: 'HI' }, into: undefined, want: { id: '1', text: 'HI' } },
  ];
  for (const t of cases) {
    it(t.description, () => {
      const merged = mergeAnswer(record, t.answer, t.into);
      expect(merged).toEqual(t.want);
      expect(merged).not.toBe(record);
    });
  }

  it('never mutates the record or the answer', () => {
    const answer = Object.freeze({ label: 'bug' });
    const merged = mergeAnswer(record, answer, undefined);
    merged['extra'] = 1;
    expect(record).toEqual({ id: '1', text: 'hi' });
    expect(answer).toEqual({ label: 'bug' });
  });

  it('a "__proto__" key in a JSON answer is a plain field, not a prototype change', () => {
    const merged = mergeAnswer({ id: '1' }, JSON.parse('{"__proto__":{"polluted":true}}'), undefined);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect((merged as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('a "__proto__" field of the record or the answer, and `into: "__proto__"`, are own fields, in their place', () => {
    const record = JSON.parse('{"id":"1","__proto__":"col"}') as Record<string, unknown>;
    const cases = [
      { merged: mergeAnswer(record, { label: 'bug' }, undefined), keys: ['id', '__proto__', 'label'] },
      { merged: mergeAnswer(record, JSON.parse('{"__proto__":"answer","label":"bug"}'), undefined), keys: ['id', '__proto__', 'label'] },
      { merged: mergeAnswer({ id: '1' }, 'text', '__proto__'), keys: ['id', '__proto__'] },
      { merged: withError(record, { type: 'refusal', message: 'no' }), keys: ['id', '__proto__', '_error'] },
    ];
    for (const { merged, keys } of cases) {
      expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
      expect(Object.keys(merged)).toEqual(keys);
    }
    expect(cases[1]?.merged['__proto__']).toBe('answer');
  });

  it('fields keep their order: the record’s, then the answer’s new ones; a replaced column stays in its place', () => {
    expect(Object.keys(mergeAnswer({ id: '1', text: 'hi', n: 2 }, { label: 'bug', text: 'HI' }, undefined))).toEqual(['id', 'text', 'n', 'label']);
    expect(Object.keys(mergeAnswer({ id: '1', answer: 'old', n: 2 }, 'new', undefined))).toEqual(['id', 'answer', 'n']);
  });

  it('withError adds `_error` without mutating the record', () => {
    const error = { type: 'refusal', message: 'no' };
    expect(withError(record, error)).toEqual({ id: '1', text: 'hi', _error: error });
    expect(record).not.toHaveProperty('_error');
  });
});
