/** Request building and `custom_id`s: what is sent, and ids that are valid, stable and content-addressed. */
import { describe, expect, it } from 'vitest';
import { compileSpec, CUSTOM_ID_PATTERN, customIdOf, idLabel, keyOf, requestKey, prepareSpec, userMessages, type RequestSpec } from '../../src/core/request.ts';
import { compileTemplate } from '../../src/core/template.ts';
import { expectErrorSync } from '../helpers/expect-error.ts';

const base: RequestSpec = { model: 'claude-haiku-4-5', maxTokens: 256, prompt: compileTemplate('Classify: {{text}}') };
const answerSchema = {
  type: 'object',
  properties: { label: { type: 'string', enum: ['bug', 'question'] }, score: { type: 'integer', minimum: 1, maximum: 5 } },
  required: ['label', 'score'],
};

/** The request key a record gets under a spec, built the way the prepare stage builds it. */
const idOf = (spec: RequestSpec, record: Record<string, unknown>) => requestKey(JSON.stringify(prepareSpec(spec)(record)));

describe('prepareSpec', () => {
  it('a plain request is model, max_tokens and one user message, nothing else', () => {
    expect(prepareSpec(base)({ text: 'it crashes' })).toStrictEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 256,
      messages: [{ role: 'user', content: 'Classify: it crashes' }],
    });
  });

  it('a lone surrogate in the system prompt is U+FFFD: the API refuses the JSON escape of one (helper-95)', () => {
    const params = prepareSpec({ ...base, system: 'You triage \ud83d' })({ text: 'x' });
    expect(params.system?.[0]?.text).toBe('You triage \ufffd');
  });

  it('the system prompt is one text block cached for 1 h (batches outlive the 5 min default)', () => {
    const params = prepareSpec({ ...base, system: 'You triage tickets.' })({ text: 'x' });
    expect(params.system).toStrictEqual([
      { type: 'text', text: 'You triage tickets.', cache_control: { type: 'ephemeral', ttl: '1h' } },
    ]);
  });

  it('an empty system prompt sends no system block (the API rejects empty text blocks)', () => {
    expect(prepareSpec({ ...base, system: '' })({ text: 'x' })).not.toHaveProperty('system');
  });

  it('the answer schema is sent as output_config.format, closed and with unsupported constraints moved out', () => {
    const params = prepareSpec({ ...base, answerSchema })({ text: 'x' });
    const schema = params.output_config?.format.schema;
    expect(params.output_config?.format.type).toBe('json_schema');
    expect(schema?.['additionalProperties']).toBe(false);
    expect(schema?.['required']).toEqual(['label', 'score']);
    const score = (schema?.['properties'] as Record<string, Record<string, unknown>>)['score'];
    expect(score).not.toHaveProperty('minimum');
    expect(score?.['description']).toMatch(/minimum: 1/);
  });

  it('does not modify the caller’s answer schema', () => {
    const copy = structuredClone(answerSchema);
    prepareSpec({ ...base, answerSchema })({ text: 'x' });
    expect(answerSchema).toEqual(copy);
  });

  it('a record the template cannot fill throws the template error', () => {
    const build = prepareSpec(base);
    expectErrorSync(() => build({ other: 'x' }), { code: 'BE_TEMPLATE', message: '{{text}}' });
  });
});

describe('requestKey', () => {
  it('is a valid custom_id (^[a-zA-Z0-9_-]{1,64}$) made of a 22-character hash when there is no id field', () => {
    const id = idOf(base, { text: 'x' });
    expect(id).toMatch(CUSTOM_ID_PATTERN);
    expect(id).toHaveLength(22);
  });

  it('is the same key as every earlier release gave this request (a changed key would make every rerun pay again)', () => {
    const spec: RequestSpec = { ...base, system: 'You triage tickets.' };
    const text = 'café "crash" 中文\n\u2028 \ud83d\ude00';
    expect(idOf(spec, { text })).toBe('jnmZ9DxA58_i7f-gsvqIYc');
    const { parts } = compileSpec(spec);
    expect(requestKey([parts.head, userMessages(`Classify: ${text}`), parts.tail])).toBe('jnmZ9DxA58_i7f-gsvqIYc');
    expect(requestKey('{"body":1}')).toBe('WPEEd7_tFuTwk6eOHaH7S3');
  });

  it('userMessages is the JSON of one user message, escapes and all', () => {
    for (const text of ['', 'plain', 'q"b\\s\n\t\u0000\u001f\u2028\u2029', 'é中文😀', '\ud800 lone \udfff surrogates']) {
      expect(userMessages(text)).toBe(JSON.stringify([{ role: 'user', content: text }]));
    }
  });

  it('is stable: the same request gets the same id, across separately prepared specs', () => {
    expect(idOf(base, { text: 'same' })).toBe(idOf({ ...base, prompt: compileTemplate('Classify: {{text}}') }, { text: 'same' }));
  });

  it('fields the prompt does not use do not change it (duplicate requests are paid once)', () => {
    expect(idOf(base, { text: 'same', row: 1 })).toBe(idOf(base, { text: 'same', row: 2 }));
  });

  const withSchema: RequestSpec = { ...base, answerSchema };
  const x = { text: 'x' };
  const changes: { description: string; from: [RequestSpec, Record<string, unknown>]; to: [RequestSpec, Record<string, unknown>] }[] = [
    { description: 'the record’s prompt text changes', from: [base, x], to: [base, { text: 'other' }] },
    { description: 'the prompt template changes', from: [base, x], to: [{ ...base, prompt: compileTemplate('Label: {{text}}') }, x] },
    { description: 'a system prompt is added', from: [base, x], to: [{ ...base, system: 'Be brief.' }, x] },
    { description: 'the system prompt changes', from: [{ ...base, system: 'Be brief.' }, x], to: [{ ...base, system: 'Be kind.' }, x] },
    { description: 'a schema is added', from: [base, x], to: [withSchema, x] },
    {
      description: 'the schema changes',
      from: [withSchema, x],
      to: [{ ...base, answerSchema: { ...answerSchema, required: ['label'] } }, x],
    },
    { description: 'the model changes', from: [base, x], to: [{ ...base, model: 'claude-sonnet-4-5' }, x] },
    { description: 'max_tokens changes', from: [base, x], to: [{ ...base, maxTokens: 257 }, x] },
  ];
  for (const t of changes) {
    it(`changes when ${t.description}`, () => {
      const before = idOf(...t.from);
      const after = idOf(...t.to);
      expect(after).toMatch(CUSTOM_ID_PATTERN);
      expect(after).not.toBe(before);
    });
  }

  const prefixes: { description: string; idValue: unknown; prefix: string }[] = [
    { description: 'a plain id is kept', idValue: 'TICKET-42_a', prefix: 'TICKET-42_a' },
    { description: 'a number id is its text', idValue: 42, prefix: '42' },
    { description: 'each run of characters outside [a-zA-Z0-9_-] becomes one "_"', idValue: 'ACME Corp / #42', prefix: 'ACME_Corp_42' },
    { description: 'non-ASCII letters are replaced', idValue: 'café-中文', prefix: 'caf_-_' },
    { description: 'an id of only invalid characters still leaves a prefix', idValue: '###', prefix: '_' },
  ];
  for (const t of prefixes) {
    it(`--id-field label: ${t.description}, in front of the key in the custom_id`, () => {
      const key = requestKey('{"body":1}');
      const id = customIdOf('abcdef', key, idLabel(t.idValue));
      expect(id).toBe(`abcdef_${t.prefix}-${key}`);
      expect(id).toMatch(CUSTOM_ID_PATTERN);
      expect(keyOf('abcdef', id)).toBe(key);
    });
  }

  it('--id-field label: a long id is cut so the custom_id is 64 characters, key intact', () => {
    const key = requestKey('{"body":1}');
    const id = customIdOf('abcdef', key, idLabel('x'.repeat(500)));
    expect(id).toHaveLength(64);
    expect(id).toMatch(CUSTOM_ID_PATTERN);
    expect(keyOf('abcdef', id)).toBe(key);
  });

  it('--id-field label: absent, null and empty values give no label', () => {
    for (const value of [undefined, null, '']) expect(idLabel(value)).toBeUndefined();
    expect(customIdOf('abcdef', 'k'.repeat(22), idLabel(''))).toBe(`abcdef_${'k'.repeat(22)}`);
  });

  it('--id-field label: the key is the same whatever the label (changing --id-field never pays again)', () => {
    expect(requestKey('{"body":1}')).toBe(requestKey('{"body":1}'));
    expect(keyOf('abcdef', customIdOf('abcdef', requestKey('{"body":1}'), 'a'))).toBe(keyOf('abcdef', customIdOf('abcdef', requestKey('{"body":1}'), 'b')));
  });

  it("a custom_id with another submission's nonce is not ours", () => {
    expect(keyOf('abcdef', customIdOf('zzzzzz', requestKey('{"body":1}')))).toBeUndefined();
  });

  it('ids stay valid over many different bodies and id values', () => {
    for (let i = 0; i < 200; i++) {
      const body = JSON.stringify({ i, text: 'é'.repeat(i) });
      expect(customIdOf('abcdef', requestKey(body), idLabel(i % 3 === 0 ? undefined : `${'id '.repeat(i % 30)}${i}/é`))).toMatch(CUSTOM_ID_PATTERN);
    }
  });
});
