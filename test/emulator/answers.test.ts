/** Answer generation: schema-driven JSON, forced tools, truncation, caching usage, responder. */
import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import { describe, expect, it } from 'vitest';
import { buildMessage, promptTokens } from '../../src/emulator/answer.ts';
import { startEmulator } from '../../src/emulator/index.ts';
import type { ResponderResult } from '../../src/emulator/index.ts';
import { makeRng } from '../../src/emulator/random.ts';
import { generateFromSchema } from '../../src/emulator/schema-gen.ts';
import { newAjv } from '../helpers/spec.ts';
import { client, expectSpec, MODEL, raw, req } from './helpers.ts';

const SCHEMAS: Array<{ description: string; schema: Record<string, unknown> }> = [
  {
    description: 'enums, nested objects, arrays, nullable via type array',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['category', 'priority', 'customer', 'tags', 'note'],
      properties: {
        category: { type: 'string', enum: ['billing', 'bug', 'feature'] },
        priority: { type: 'integer', minimum: 1, maximum: 5 },
        score: { type: 'number', minimum: 0, maximum: 1 },
        customer: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'since'],
          properties: { email: { type: 'string', format: 'email' }, since: { type: 'string', format: 'date' } },
        },
        tags: { type: 'array', items: { type: 'string', enum: ['a', 'b', 'c'] }, minItems: 1 },
        note: { type: ['string', 'null'] },
        urgent: { type: 'boolean' },
        kind: { const: 'ticket' },
      },
    },
  },
  {
    description: '$defs refs, anyOf, OpenAPI nullable, arrays of objects',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['items', 'total'],
      properties: {
        items: { type: 'array', minItems: 2, items: { $ref: '#/$defs/line' } },
        total: { anyOf: [{ type: 'number', minimum: 0 }, { type: 'null' }] },
        currency: { type: 'string', nullable: true, enum: ['EUR', 'USD', null] },
        id: { type: 'string', format: 'uuid' },
        at: { type: 'string', format: 'date-time' },
      },
      $defs: {
        line: {
          type: 'object',
          additionalProperties: false,
          required: ['sku', 'qty'],
          properties: { sku: { type: 'string', minLength: 3, maxLength: 20 }, qty: { type: 'integer', exclusiveMinimum: 0, maximum: 99 } },
        },
      },
    },
  },
  {
    // `$defs`, not `definitions`: the SDK's transform keeps only `$defs` (it moves `definitions` into the description).
    description: '$defs + oneOf + top-level array',
    schema: {
      type: 'array',
      minItems: 1,
      maxItems: 3,
      items: { oneOf: [{ $ref: '#/$defs/clause' }, { type: 'string', const: 'none' }] },
      $defs: {
        clause: {
          type: 'object',
          additionalProperties: false,
          required: ['title', 'risk'],
          properties: { title: { type: 'string' }, risk: { type: 'string', enum: ['low', 'high'] }, url: { type: 'string', format: 'uri' } },
        },
      },
    },
  },
];

describe('schema-driven generator', () => {
  for (const { description, schema } of SCHEMAS) {
    it(`generates values valid against: ${description}`, () => {
      const validate = newAjv().compile(schema);
      for (let seed = 0; seed < 50; seed++) {
        const v = generateFromSchema(schema, makeRng(seed));
        expect(validate(v), `${JSON.stringify(v)} ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    });
  }
});

/** What a client sends: the SDK's transform moves the constraints structured outputs refuse into descriptions. */
const sent = (i: number) => transformJSONSchema((SCHEMAS[i] as { schema: Record<string, unknown> }).schema) as never;

describe('answers through the HTTP API', () => {
  it('output_config.format json_schema → text that parses and validates (batch and /v1/messages)', async () => {
    const emu = await startEmulator({ seed: 3 });
    try {
      const c = client(emu.url);
      const requests = SCHEMAS.map((_, i) =>
        req(`s${i}`, 'classify this', { max_tokens: 4000, output_config: { format: { type: 'json_schema', schema: sent(i) } } }),
      );
      const b = await c.messages.batches.create({ requests: requests as never });
      await c.messages.batches.retrieve(b.id);
      let n = 0;
      for await (const line of await c.messages.batches.results(b.id)) {
        expectSpec('MessageBatchIndividualResponse', line);
        if (line.result.type !== 'succeeded') throw new Error('expected succeeded');
        const i = Number(line.custom_id.slice(1));
        const block = line.result.message.content[0];
        if (block?.type !== 'text') throw new Error('expected text');
        const validate = newAjv().compile((SCHEMAS[i] as { schema: object }).schema);
        expect(validate(JSON.parse(block.text)), block.text).toBe(true);
        n++;
      }
      expect(n).toBe(3);
      const m = await c.messages.create({ model: MODEL, max_tokens: 4000, messages: [{ role: 'user', content: 'x' }], output_config: { format: { type: 'json_schema', schema: sent(0) } } });
      expectSpec('Message', m);
      const block = m.content[0];
      expect(block?.type === 'text' && newAjv().compile(SCHEMAS[0]?.schema as object)(JSON.parse(block.text))).toBe(true);
    } finally {
      await emu.close();
    }
  });

  it('forced tool → tool_use block valid against input_schema, stop_reason tool_use, caller direct', async () => {
    const emu = await startEmulator();
    try {
      const c = client(emu.url);
      const tool = { name: 'record_invoice', description: 'x', input_schema: sent(1), strict: true };
      const m = await c.messages.create({
        model: MODEL,
        max_tokens: 4000,
        messages: [{ role: 'user', content: 'extract' }],
        tools: [{ name: 'other', input_schema: { type: 'object' } }, tool],
        tool_choice: { type: 'tool', name: 'record_invoice' },
      });
      expectSpec('Message', m);
      expect(m.stop_reason).toBe('tool_use');
      const block = m.content[0];
      if (block?.type !== 'tool_use') throw new Error('expected tool_use');
      expect(block.name).toBe('record_invoice');
      expect(block.id).toMatch(/^toolu_/);
      expect(block.caller).toEqual({ type: 'direct' });
      expect(newAjv().compile(SCHEMAS[1]?.schema as object)(block.input)).toBe(true);
      // A forced tool that does not exist is a per-request error.
      const bad = await raw(emu.url, 'POST', '/v1/messages', { model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tools: [], tool_choice: { type: 'tool', name: 'nope' } });
      expect(bad.status).toBe(400);
    } finally {
      await emu.close();
    }
  });

  // helper-92 #5 [SPEC ThinkingConfigEnabled.display, ThinkingConfigAdaptive.display: "When set to `omitted`, thinking
  // content is redacted but a signature is returned for multi-turn continuity. Defaults to `summarized`."]
  it('thinking.display omitted → a thinking block with empty text and a signature; summarized (the default) keeps the text', async () => {
    const emu = await startEmulator();
    try {
      const c = client(emu.url);
      for (const thinking of [{ type: 'enabled', budget_tokens: 1024, display: 'omitted' }, { type: 'adaptive', display: 'omitted' }] as const) {
        const m = await c.messages.create({ model: MODEL, max_tokens: 4000, messages: [{ role: 'user', content: 'why is the sky blue?' }], thinking });
        expectSpec('Message', m);
        const block = m.content[0];
        if (block?.type !== 'thinking') throw new Error(`expected thinking, got ${block?.type}`);
        expect(block.thinking, thinking.type).toBe('');
        expect(block.signature).toMatch(/^sig_/);
        // Thinking still happened, and is billed: its tokens count in output_tokens.
        expect(m.usage.output_tokens_details?.thinking_tokens).toBeGreaterThan(0);
        expect(m.content[1]?.type).toBe('text');
      }
      for (const display of ['summarized', undefined] as const) {
        const m = await c.messages.create({ model: MODEL, max_tokens: 4000, messages: [{ role: 'user', content: 'why is the sky blue?' }], thinking: { type: 'enabled', budget_tokens: 1024, ...(display ? { display } : {}) } });
        const block = m.content[0];
        expect(block?.type === 'thinking' && block.thinking.length, String(display)).toBeGreaterThan(0);
      }
    } finally {
      await emu.close();
    }
  });

  // helper-92 #6 [SPEC ToolChoiceAny: "The model will use any available tools."; ToolChoice: "The model can use a specific
  // tool, any available tool, decide by itself, or not use tools at all."]
  it('tool_choice any → a tool_use of one of the tools, its input valid against that tool\'s input_schema, stop_reason tool_use', async () => {
    const emu = await startEmulator();
    try {
      const c = client(emu.url);
      const tools = [
        { name: 'record_invoice', input_schema: sent(1) },
        { name: 'record_ticket', input_schema: sent(0) },
      ];
      const names = new Set<string>();
      for (const question of ['extract', 'extract this', 'please extract', 'extract it now', 'what is it?', 'go']) {
        const m = await c.messages.create({ model: MODEL, max_tokens: 4000, messages: [{ role: 'user', content: question }], tools, tool_choice: { type: 'any' } });
        expectSpec('Message', m);
        expect(m.stop_reason, question).toBe('tool_use');
        expect(m.content).toHaveLength(1);
        const block = m.content[0];
        if (block?.type !== 'tool_use') throw new Error(`expected tool_use, got ${block?.type}`);
        const index = tools.findIndex((t) => t.name === block.name);
        expect(index, block.name).toBeGreaterThanOrEqual(0);
        // record_invoice is SCHEMAS[1]'s, record_ticket SCHEMAS[0]'s.
        expect(newAjv().compile(SCHEMAS[1 - index]?.schema as object)(block.input)).toBe(true);
        names.add(block.name);
      }
      // The tool is a seeded choice among them, not always the first.
      expect(names.size).toBe(2);
    } finally {
      await emu.close();
    }
  });

  it('max_tokens truncation → stop_reason max_tokens, output_tokens = max_tokens', async () => {
    const emu = await startEmulator();
    try {
      const c = client(emu.url);
      const m = await c.messages.create({ model: MODEL, max_tokens: 3, messages: [{ role: 'user', content: 'tell me a long story' }] });
      expectSpec('Message', m);
      expect(m.stop_reason).toBe('max_tokens');
      expect(m.usage.output_tokens).toBe(3);
      const block = m.content[0];
      expect(block?.type === 'text' && block.text.length).toBe(12);
      const json = await c.messages.create({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: 'x' }], output_config: { format: { type: 'json_schema', schema: sent(0) } } });
      expect(json.stop_reason).toBe('max_tokens');
    } finally {
      await emu.close();
    }
  });

  it('stop_sequences cut the text with stop_reason stop_sequence', () => {
    const built = buildMessage({ params: { model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'abc' }], stop_sequences: ['"abc"'] }, seed: 1, key: 'k', serviceTier: 'standard', cacheUse: 'read' });
    if (!built.ok) throw new Error('unexpected');
    expect(built.message.stop_reason).toBe('stop_sequence');
    expect(built.message.stop_sequence).toBe('"abc"');
  });

  it('usage: input ≈ chars/4; cached system prefix → creation on the first request, reads after; ttl split', async () => {
    const emu = await startEmulator();
    try {
      const system = [{ type: 'text', text: 'S'.repeat(4000), cache_control: { type: 'ephemeral', ttl: '1h' } }];
      // Opus 5: its minimum cacheable prompt (512 tokens) is below these prefixes.
      const requests = [0, 1, 2].map((i) => req(`c${i}`, 'q'.repeat(40), { system, model: 'claude-opus-5' }));
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: requests as never });
      await c.messages.batches.retrieve(b.id);
      const usages = new Map<string, Record<string, unknown>>();
      for await (const line of await c.messages.batches.results(b.id)) {
        if (line.result.type === 'succeeded') usages.set(line.custom_id, line.result.message.usage as never);
      }
      expect(usages.get('c0')).toMatchObject({ input_tokens: 10, cache_creation_input_tokens: 1000, cache_read_input_tokens: 0, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 1000 } });
      expect(usages.get('c1')).toMatchObject({ input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 1000 });
      expect(usages.get('c2')).toMatchObject({ cache_read_input_tokens: 1000 });
      // /v1/messages: first call with a prefix creates (5m default ttl), the second reads.
      const params = { model: 'claude-opus-5', max_tokens: 50, system: [{ type: 'text' as const, text: 'T'.repeat(2400), cache_control: { type: 'ephemeral' as const } }], messages: [{ role: 'user' as const, content: 'hi' }] };
      const m1 = await c.messages.create(params);
      const m2 = await c.messages.create(params);
      expect(m1.usage.cache_creation).toEqual({ ephemeral_5m_input_tokens: 600, ephemeral_1h_input_tokens: 0 });
      expect(m2.usage.cache_read_input_tokens).toBe(600);
      expect(promptTokens({ model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(10) }] }).total).toBe(3);
    } finally {
      await emu.close();
    }
  });

  it('answers are deterministic for a seed', async () => {
    const texts: string[] = [];
    for (let k = 0; k < 2; k++) {
      const emu = await startEmulator({ seed: 99 });
      const c = client(emu.url);
      texts.push(JSON.stringify(await c.messages.create({ model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'same' }] })));
      await emu.close();
    }
    expect(texts[0]).toBe(texts[1]);
  });
});

describe('responder hook', () => {
  it('every ResponderResult shape, called once per request, usage filled around it', async () => {
    const calls = new Map<string, number>();
    const responder = async ({ custom_id, params }: { custom_id: string | null; params: Record<string, unknown> }): Promise<ResponderResult | undefined> => {
      const id = custom_id ?? 'live';
      calls.set(id, (calls.get(id) ?? 0) + 1);
      switch (id) {
        case 'str': return 'plain answer';
        case 'text': return { text: 'a very long text that will not be cut', stop_reason: 'end_turn' };
        case 'cut': return { text: 'this text is longer than two tokens' };
        case 'json': return { json: { label: 'x', n: 1 } };
        case 'tool': return { tool_input: { value: 42 } };
        case 'refuse': return { refusal: true };
        case 'err': return { error: { type: 'overloaded_error', message: 'busy' } };
        case 'live': return { error: { type: 'rate_limit_error', message: 'slow down' } };
        default: return String(params['model']) === 'fallback' ? undefined : undefined;
      }
    };
    const emu = await startEmulator({ responder });
    try {
      const c = client(emu.url);
      const ids = ['str', 'text', 'cut', 'json', 'tool', 'refuse', 'err', 'default'];
      const requests = ids.map((id) =>
        id === 'tool'
          ? req(id, 'q', { tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'tool', name: 'f' } })
          : req(id, 'q', { max_tokens: id === 'cut' || id === 'text' ? 2 : 500 }),
      );
      const b = await c.messages.batches.create({ requests: requests as never });
      const got = await c.messages.batches.retrieve(b.id);
      expect(got.request_counts).toMatchObject({ succeeded: 7, errored: 1 });
      const out = new Map<string, any>();
      for (let pass = 0; pass < 2; pass++)
        for await (const line of await c.messages.batches.results(b.id)) {
          expectSpec('MessageBatchIndividualResponse', line);
          out.set(line.custom_id, line.result);
        }
      for (const id of ids) expect(calls.get(id), id).toBe(1);
      expect(out.get('str').message.content[0].text).toBe('plain answer');
      expect(out.get('text').message.stop_reason).toBe('end_turn');
      expect(out.get('cut').message.stop_reason).toBe('max_tokens');
      expect(JSON.parse(out.get('json').message.content[0].text)).toEqual({ label: 'x', n: 1 });
      expect(out.get('tool').message.content[0]).toMatchObject({ type: 'tool_use', name: 'f', input: { value: 42 } });
      expect(out.get('tool').message.stop_reason).toBe('tool_use');
      expect(out.get('refuse').message.stop_reason).toBe('refusal');
      expect(out.get('err').error.error).toEqual({ type: 'overloaded_error', message: 'busy' });
      expect(out.get('default').message.content[0].text).toMatch(/^Regarding/);
      expect(out.get('str').message.usage.input_tokens).toBeGreaterThan(0);
      // On /v1/messages an error becomes the matching HTTP status.
      const live = await raw(emu.url, 'POST', '/v1/messages', { model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
      expect(live.status).toBe(429);
      expect(live.json.error).toEqual({ type: 'rate_limit_error', message: 'slow down' });
    } finally {
      await emu.close();
    }
  });

  // helper-88 #5: a responder that throws (a bug in a user's test) made every retrieve a 500, and the
  // run waited forever without a word: its request is errored, carrying what it threw.
  it('a responder that throws answers that request with an errored result, not with 500s forever', async () => {
    const emu = await startEmulator({ responder: ({ custom_id }) => (custom_id === 'bad' ? (() => { throw new Error('bug in my test responder'); })() : undefined) });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: [req('bad', 'q'), req('good', 'q')] as never });
      expect((await c.messages.batches.retrieve(b.id)).request_counts).toMatchObject({ succeeded: 1, errored: 1 });
      const out = new Map<string, any>();
      for await (const line of await c.messages.batches.results(b.id)) out.set(line.custom_id, line.result);
      expect(out.get('bad').error.error).toEqual({ type: 'api_error', message: "the emulator's responder threw: bug in my test responder" });
      expect(out.get('good').type).toBe('succeeded');
    } finally {
      await emu.close();
    }
  });

  // A responder's result not of the ResponderResult type (a bug in a user's test, as a throw is) was put on the wire:
  // an error type the API does not have [SPEC ErrorResponse.error: nine types] or no message, a stop_reason none
  // [SPEC Message.stop_reason], a text that is not a string; and `42`, `{}` or `{ json: undefined }` threw while the
  // results were streamed, so the download was cut half way (a 200, then a reset connection).
  it('a responder result that is not a ResponderResult answers that request errored (api_error), every line as the spec says', async () => {
    const bad: Record<string, unknown> = {
      type: { error: { type: 'bogus_error', message: 'x' } },
      nomsg: { error: { type: 'api_error' } },
      stop: { text: 'x', stop_reason: 'nope' },
      textnum: { text: 5 },
      jsonundef: { json: undefined },
      num: 42,
      empty: {},
    };
    const emu = await startEmulator({ responder: ({ custom_id }) => (custom_id === null ? bad['num'] : bad[custom_id]) as ResponderResult | undefined });
    try {
      const created = await raw(emu.url, 'POST', '/v1/messages/batches', { requests: [...Object.keys(bad), 'good'].map((id) => req(id, 'q')) });
      await raw(emu.url, 'GET', `/v1/messages/batches/${created.json.id}`);
      const res = await raw(emu.url, 'GET', `/v1/messages/batches/${created.json.id}/results`);
      const lines = res.text.trim().split('\n').map((l) => JSON.parse(l));
      expect(lines).toHaveLength(Object.keys(bad).length + 1);
      for (const line of lines) {
        expectSpec('MessageBatchIndividualResponse', line);
        if (line.custom_id === 'good') expect(line.result.type).toBe('succeeded');
        else expect(line.result.error.error, line.custom_id).toEqual({ type: 'api_error', message: expect.stringMatching(/^the emulator's responder returned /) });
      }
      const live = await raw(emu.url, 'POST', '/v1/messages', { model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
      expect([live.status, live.json.error.type]).toEqual([500, 'api_error']);
      expect(live.json.error.message).toMatch(/^the emulator's responder returned /);
    } finally {
      await emu.close();
    }
  });
});
