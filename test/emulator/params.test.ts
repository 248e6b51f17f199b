/**
 * Per-request conformance: each case is one bad request inside an otherwise good batch, driven by the
 * official SDK. The bad request's result is `errored` with the API's error type and a message naming
 * the path; the good requests succeed; every results line validates against the OpenAPI document.
 * The same params (minus `max_tokens` for count_tokens) are a 400 (404 for a model) on
 * `POST /v1/messages` and `/v1/messages/count_tokens`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT_300K_BETA } from '../../src/core/models.ts';
import type { EmulatorHandle } from '../../src/emulator/index.ts';
import { startEmulator } from '../../src/emulator/index.ts';
import { resolveAnswerSchema } from '../../src/core/schema.ts';
import { client, expectApiError, expectSpec, MODEL, raw, req } from './helpers.ts';
import { ROOT } from '../helpers/cli.ts';

const NOW = Date.parse('2026-12-02T12:00:00Z');
let emu: EmulatorHandle;
let c: Anthropic;

beforeAll(async () => {
  emu = await startEmulator({ now: () => NOW });
  c = client(emu.url);
});
afterAll(async () => {
  await emu.close();
});

type Line = { custom_id: string; result: any };

/** Creates a batch through the SDK, downloads its results, checks every line against the spec. */
async function runBatch(requests: unknown[], headers: Record<string, string> = {}): Promise<Map<string, Line['result']>> {
  const b = await c.messages.batches.create({ requests: requests as never }, { headers });
  await c.messages.batches.retrieve(b.id);
  const out = new Map<string, Line['result']>();
  for await (const line of await c.messages.batches.results(b.id)) {
    expectSpec('MessageBatchIndividualResponse', line);
    out.set(line.custom_id, line.result);
  }
  expect(out.size).toBe(requests.length);
  return out;
}

const user = (content: unknown) => ({ role: 'user', content });
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
/** A real one-page PDF (the emulator parses a document's pages, as the API does). */
const PDF = readFileSync(join(ROOT, 'fixtures', 'documents', 'contract.pdf')).toString('base64');
const obj = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});
const format = (schema: unknown) => ({ output_config: { format: { type: 'json_schema', schema } } });
const manyProps = (n: number, make: (i: number) => unknown) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, make(i)]));

interface Case {
  description: string;
  params: Record<string, unknown>;
  type?: 'invalid_request_error' | 'not_found_error';
  message: RegExp;
  /** A field count_tokens does not take at all (its own schema refuses it as an extra input). */
  notCounted?: true;
}

const CASES: Case[] = [
  // Content: what an empty or whitespace-only CSV cell becomes.
  { description: 'empty string content', params: { messages: [user('')] }, message: /^messages\.0: all messages must have non-empty content except for the optional final assistant message$/ },
  { description: 'whitespace-only content', params: { messages: [user('  \n\t ')] }, message: /^messages\.0: all messages must have non-empty content/ },
  { description: 'empty content list', params: { messages: [user([])] }, message: /^messages\.0: all messages must have non-empty content/ },
  { description: 'empty text block', params: { messages: [user([{ type: 'text', text: '' }])] }, message: /^messages\.0\.content\.0\.text: text content blocks must be non-empty$/ },
  { description: 'whitespace text block in system', params: { system: [{ type: 'text', text: ' ' }] }, message: /^system\.0\.text: text content blocks must contain non-whitespace text$/ },
  { description: 'no messages', params: { messages: [] }, message: /^messages: at least one message is required$/ },
  { description: 'unknown block type', params: { messages: [user([{ type: 'video', url: 'x' }])] }, message: /^messages\.0\.content\.0\.type: Input tag 'video' found using 'type'/ },
  { description: 'final assistant message ending in whitespace', params: { messages: [user('hi'), { role: 'assistant', content: 'Sure ' }] }, message: /final assistant content cannot end with trailing whitespace/ },
  // Models.
  { description: 'a typo in the model', params: { model: 'claude-haiku-45' }, type: 'not_found_error', message: /^model: claude-haiku-45$/ },
  { description: 'a model past its retirement date', params: { model: 'claude-sonnet-4-5' }, type: 'not_found_error', message: /^model: claude-sonnet-4-5$/ },
  { description: 'a retired model', params: { model: 'claude-opus-4-1' }, type: 'not_found_error', message: /^model: claude-opus-4-1$/ },
  // Roles and tool pairing.
  { description: 'role robot', params: { messages: [{ role: 'robot', content: 'hi' }] }, message: /^messages\.0\.role: Input should be 'user', 'assistant' or 'system'$/ },
  {
    description: 'tool_result without a tool_use before it',
    params: { messages: [user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'x' }])] },
    message: /^messages\.0\.content\.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1\./,
  },
  {
    description: 'tool_use without a tool_result after it',
    params: {
      tools: [{ name: 'f', input_schema: { type: 'object' } }],
      messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user('and?')],
    },
    message: /^messages\.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1\./,
  },
  { description: 'tool_use in a user message', params: { messages: [user([{ type: 'tool_use', id: 't1', name: 'f', input: {} }])] }, message: /^messages\.0\.content\.0: `tool_use` blocks can only be in `assistant` messages$/ },
  // Tools and tool_choice.
  { description: 'a tool name with a space', params: { tools: [{ name: 'bad name', input_schema: { type: 'object' } }] }, message: /^tools\.0\.custom\.name: String should match pattern/ },
  { description: 'a tool without input_schema', params: { tools: [{ name: 'f' }] }, message: /^tools\.0\.custom\.input_schema: Field required$/ },
  { description: 'a tool whose schema is not an object', params: { tools: [{ name: 'f', input_schema: { type: 'string' } }] }, message: /^tools\.0\.custom\.input_schema\.type: Input should be 'object'$/ },
  { description: 'duplicate tool names', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }, { name: 'f', input_schema: { type: 'object' } }] }, message: /^tools: Tool names must be unique/ },
  { description: 'an unknown tool_choice type', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'sometimes' } }, message: /^tool_choice\.type: Input tag 'sometimes'/ },
  { description: 'tool_choice naming a missing tool', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'tool', name: 'g' } }, message: /^tool_choice\.name: Tool 'g' not found in tools$/ },
  { description: 'tool_choice without tools', params: { tool_choice: { type: 'any' } }, message: /^tool_choice: tool_choice may only be specified while providing tools$/ },
  // cache_control.
  {
    description: 'five cache_control breakpoints',
    params: {
      system: [1, 2, 3].map((i) => ({ type: 'text', text: `s${i}`, cache_control: { type: 'ephemeral' } })),
      messages: [user([{ type: 'text', text: 'a', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'b', cache_control: { type: 'ephemeral' } }])],
    },
    message: /^A maximum of 4 blocks with cache_control may be provided\. Found 5\.$/,
  },
  { description: 'a bad TTL', params: { system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', ttl: '10m' } }] }, message: /^system\.0\.cache_control\.ephemeral\.ttl: Input should be '5m' or '1h'$/ },
  {
    description: 'a 1h breakpoint after a 5m one',
    params: { system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 't', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
    message: /^system\.1: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block$/,
  },
  // Thinking.
  { description: 'a thinking budget under 1024', params: { max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 500 } }, message: /^thinking\.enabled\.budget_tokens: Input should be greater than or equal to 1024$/ },
  { description: 'a thinking budget not under max_tokens', params: { max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 2000 } }, message: /^`max_tokens` must be greater than `thinking\.budget_tokens`$/ },
  {
    description: 'thinking with a forced tool',
    params: { max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 1024 }, tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'any' } },
    message: /^Thinking may not be enabled when tool_choice forces tool use\.$/,
  },
  // max_tokens per model.
  { description: 'Haiku 4.5 over 64K', params: { model: 'claude-haiku-4-5', max_tokens: 64_001 }, message: /^max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for claude-haiku-4-5$/ },
  { description: 'Opus 4.5 over 64K', params: { model: 'claude-opus-4-5', max_tokens: 100_000 }, message: /^max_tokens: 100000 > 64000/ },
  { description: 'Sonnet 4.6 over 128K without the beta', params: { max_tokens: 300_000 }, message: /^max_tokens: 300000 > 128000/ },
  // Context window: a ~300K-token prompt to a 200K-context model.
  { description: 'a prompt over the context window', params: { model: 'claude-haiku-4-5', messages: [user('x'.repeat(1_200_000))] }, message: /^prompt is too long: 300000 tokens > 200000 maximum$/ },
  // Structured outputs.
  {
    description: 'a recursive $ref',
    params: format({ ...obj({ node: { $ref: '#/$defs/node' } }), $defs: { node: obj({ child: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } }) } }),
    message: /^output_config\.format\.schema(\.[\w.$]+)?: Recursive schemas are not supported/,
  },
  { description: 'more than 24 optional properties', params: format(obj(manyProps(25, () => ({ type: 'string' })), [])), message: /^output_config\.format\.schema: Schemas contain too many optional parameters \(25; the limit is 24\)/ },
  { description: 'more than 16 union-typed properties', params: format(obj(manyProps(17, () => ({ type: ['string', 'null'] })))), message: /too many parameters with union types \(17; the limit is 16\)/ },
  {
    description: 'allOf with $ref',
    params: format({ ...obj({ a: { allOf: [{ $ref: '#/$defs/x' }] } }), $defs: { x: obj({ b: { type: 'string' } }) } }),
    message: /^output_config\.format\.schema\.properties\.a\.allOf: 'allOf' with '\$ref' is not supported/,
  },
  { description: 'an unsupported keyword', params: format(obj({ n: { type: 'integer', minimum: 1 } })), message: /^output_config\.format\.schema\.properties\.n\.minimum: 'minimum' is not supported by structured outputs$/ },
  { description: 'minItems 100,000,000', params: format(obj({ a: { type: 'array', items: { type: 'string' }, minItems: 100_000_000 } })), message: /minItems values other than 0 or 1 are not supported/ },
  { description: 'an external $ref', params: format(obj({ a: { $ref: 'https://example.com/schema.json' } })), message: /^output_config\.format\.schema\.properties\.a\.\$ref: External \$ref is not supported/ },
  { description: 'an object without additionalProperties: false', params: format({ type: 'object', properties: { a: { type: 'string' } } }), message: /additionalProperties' must be explicitly set to false/ },
  { description: 'a strict tool with a refused schema', params: { tools: [{ name: 'f', strict: true, input_schema: { type: 'object', properties: { a: { type: 'string', maxLength: 3 } }, additionalProperties: false } }] }, message: /^tools\.0\.custom\.input_schema\.properties\.a\.maxLength: / },
  // Images and documents.
  { description: 'an image with a bad media type', params: { messages: [user([{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: PNG } }, { type: 'text', text: 'what?' }])] }, message: /^messages\.0\.content\.0\.image\.source\.base64\.media_type: Input should be 'image\/jpeg', 'image\/png', 'image\/gif' or 'image\/webp'$/ },
  { description: 'a PNG labelled as JPEG', params: { messages: [user([{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: PNG } }])] }, message: /the image appears to be a image\/png image$/ },
  { description: 'an image without a source', params: { messages: [user([{ type: 'image' }])] }, message: /^messages\.0\.content\.0\.image\.source: Field required$/ },
  { description: 'image data that is not base64', params: { messages: [user([{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'not base64!' } }])] }, message: /base64\.data: Input should be valid base64 data$/ },
  { description: 'a PDF document with the wrong media type', params: { messages: [user([{ type: 'document', source: { type: 'base64', media_type: 'text/plain', data: PDF } }])] }, message: /^messages\.0\.content\.0\.document\.source\.base64\.media_type: Input should be 'application\/pdf'$/ },
  { description: 'a document whose data is not a PDF', params: { messages: [user([{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PNG } }])] }, message: /The PDF specified was not valid/ },
  // Shapes the OpenAPI document closes (additionalProperties: false, lengths, enums): helper-41 found each accepted.
  { description: 'a document title over 500 characters', params: { messages: [user([{ type: 'document', title: 't'.repeat(501), source: { type: 'text', media_type: 'text/plain', data: 'x' } }])] }, message: /^messages\.0\.content\.0\.document\.title: String should have at most 500 characters$/ },
  { description: 'an empty document title', params: { messages: [user([{ type: 'document', title: '', source: { type: 'text', media_type: 'text/plain', data: 'x' } }])] }, message: /^messages\.0\.content\.0\.document\.title: String should have at least 1 character$/ },
  { description: 'an empty document context', params: { messages: [user([{ type: 'document', context: '', source: { type: 'text', media_type: 'text/plain', data: 'x' } }])] }, message: /^messages\.0\.content\.0\.document\.context: String should have at least 1 character$/ },
  { description: 'a document citations flag that is not a boolean', params: { messages: [user([{ type: 'document', citations: { enabled: 'yes' }, source: { type: 'text', media_type: 'text/plain', data: 'x' } }])] }, message: /^messages\.0\.content\.0\.document\.citations\.enabled: Input should be a valid boolean$/ },
  { description: 'an extra key in a message', params: { messages: [{ role: 'user', content: 'hi', foo: 1 }] }, message: /^messages\.0\.foo: Extra inputs are not permitted$/ },
  { description: 'an extra key in a text block', params: { messages: [user([{ type: 'text', text: 'hi', foo: 1 }])] }, message: /^messages\.0\.content\.0\.text\.foo: Extra inputs are not permitted$/ },
  { description: 'citations on a user text block (2026-10-21)', params: { messages: [user([{ type: 'text', text: 'hi', citations: [{ type: 'char_location', cited_text: 'h', document_index: 0, document_title: null, start_char_index: 0, end_char_index: 1 }] }])] }, message: /^messages\.0\.content\.0\.text\.citations: citations are not allowed on text blocks in user messages$/ },
  { description: 'text block citations that are not a list', params: { messages: [user([{ type: 'text', text: 'hi', citations: { enabled: true } }])] }, message: /^messages\.0\.content\.0\.text\.citations: Input should be a valid list$/ },
  { description: 'an extra key in a system block', params: { system: [{ type: 'text', text: 's', foo: 1 }] }, message: /^system\.0\.foo: Extra inputs are not permitted$/ },
  { description: 'an extra key in a document block', params: { messages: [user([{ type: 'document', foo: 1, source: { type: 'text', media_type: 'text/plain', data: 'x' } }])] }, message: /^messages\.0\.content\.0\.document\.foo: Extra inputs are not permitted$/ },
  { description: 'an extra key in an image source', params: { messages: [user([{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG, foo: 1 } }])] }, message: /^messages\.0\.content\.0\.image\.source\.base64\.foo: Extra inputs are not permitted$/ },
  { description: 'a URL source that is no URL (a space in the host)', params: { messages: [user([{ type: 'document', source: { type: 'url', url: 'https://exa mple.com/x.pdf' } }])] }, message: /^messages\.0\.content\.0\.document\.source\.url\.url: Input should be a valid URL$/ },
  { description: 'a URL source that is not http(s)', params: { messages: [user([{ type: 'image', source: { type: 'url', url: 'ftp://example.com/a.png' } }])] }, message: /^messages\.0\.content\.0\.image\.source\.url\.url: Input should be a valid URL$/ },
  { description: 'a media_type on a URL source', params: { messages: [user([{ type: 'image', source: { type: 'url', url: 'https://example.com/a.png', media_type: 'image/png' } }])] }, message: /^messages\.0\.content\.0\.image\.source\.url\.media_type: Extra inputs are not permitted$/ },
  { description: 'an oversized_image that is not downsize or error', params: { messages: [user([{ type: 'image', transformations: { oversized_image: 'shrink' }, source: { type: 'base64', media_type: 'image/png', data: PNG } }])] }, message: /^messages\.0\.content\.0\.image\.transformations\.oversized_image: Input should be 'downsize' or 'error'$/ },
  { description: 'an extra key in a tool', params: { tools: [{ name: 'f', input_schema: { type: 'object' }, foo: 1 }] }, message: /^tools\.0\.custom\.foo: Extra inputs are not permitted$/ },
  { description: 'a tool strict flag that is not a boolean', params: { tools: [{ name: 'f', input_schema: { type: 'object' }, strict: 'yes' }] }, message: /^tools\.0\.custom\.strict: Input should be a valid boolean$/ },
  { description: 'an extra key in tool_choice', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'auto', foo: 1 } }, message: /^tool_choice\.auto\.foo: Extra inputs are not permitted$/ },
  { description: 'a budget on disabled thinking', params: { thinking: { type: 'disabled', budget_tokens: 2000 } }, message: /^thinking\.disabled\.budget_tokens: Extra inputs are not permitted$/ },
  { description: 'a thinking display that is not summarized or omitted', params: { thinking: { type: 'adaptive', display: 'full' } }, message: /^thinking\.adaptive\.display: Input should be 'summarized' or 'omitted'$/ },
  { description: 'an extra key in output_config', params: { output_config: { foo: 1 } }, message: /^output_config\.foo: Extra inputs are not permitted$/ },
  { description: 'an extra key in cache_control', params: { system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', foo: 1 } }] }, message: /^system\.0\.cache_control\.ephemeral\.foo: Extra inputs are not permitted$/ },
  { description: 'metadata that is not an object', notCounted: true, params: { metadata: 'abc' }, message: /^metadata: Input should be a valid dictionary$/ },
  { description: 'an extra key in metadata', notCounted: true, params: { metadata: { foo: 'bar' } }, message: /^metadata\.foo: Extra inputs are not permitted$/ },
  { description: 'a metadata user_id over 512 characters', notCounted: true, params: { metadata: { user_id: 'u'.repeat(513) } }, message: /^metadata\.user_id: String should have at most 512 characters$/ },
  { description: 'a service_tier that is not auto or standard_only', notCounted: true, params: { service_tier: 'priority' }, message: /^service_tier: Input should be 'auto' or 'standard_only'$/ },
  { description: 'an inference_geo that is not a string', notCounted: true, params: { inference_geo: 5 }, message: /^inference_geo: Input should be a valid string$/ },
  { description: 'a document in an assistant message (2026-10-21)', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }] }, user('ok')] }, message: /^messages\.1\.content\.0: document blocks are not allowed in assistant messages$/ },
  // helper-61: the closed unions and non-nullable fields of the OpenAPI document that the emulator took.
  // [SPEC CreateMessageParams.tools.items: a closed oneOf of Tool and the named server tools, each additionalProperties: false]
  { description: 'a server tool type the API does not have', params: { tools: [{ type: 'web_search_20990101', name: 'web_search' }] }, message: /^tools\.0\.type: Input tag 'web_search_20990101' found using 'type' does not match any of the expected tags: 'custom', 'bash_20250124', .*'web_search_20250305'/ },
  { description: 'a misspelt key in a server tool', params: { tools: [{ type: 'web_search_20250305', name: 'web_search', max_usess: 3 }] }, message: /^tools\.0\.web_search_20250305\.max_usess: Extra inputs are not permitted$/ },
  { description: 'a server tool under another name than its own', params: { tools: [{ type: 'web_search_20250305', name: 'search' }] }, message: /^tools\.0\.web_search_20250305\.name: Input should be 'web_search'$/ },
  { description: 'a server tool without its name', params: { tools: [{ type: 'bash_20250124' }] }, message: /^tools\.0\.bash_20250124\.name: Field required$/ },
  // [SPEC InputContentBlock: each member additionalProperties: false, with its required fields]
  { description: 'cache_control on a thinking block', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'thinking', thinking: 't', signature: 's', cache_control: { type: 'ephemeral' } }] }, user('ok')] }, message: /^messages\.1\.content\.0\.thinking\.cache_control: Extra inputs are not permitted$/ },
  { description: 'a thinking block without its signature', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'thinking', thinking: 't' }] }, user('ok')] }, message: /^messages\.1\.content\.0\.thinking\.signature: Field required$/ },
  { description: 'a redacted_thinking block without its data', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'redacted_thinking' }] }, user('ok')] }, message: /^messages\.1\.content\.0\.redacted_thinking\.data: Field required$/ },
  { description: 'an empty search_result block', params: { messages: [user([{ type: 'search_result' }])] }, message: /^messages\.0\.content\.0\.search_result\.content: Field required$/ },
  // [SPEC RequestToolResultBlock: is_error a boolean; content a string or a closed union of blocks]
  {
    description: 'a tool_result is_error that is not a boolean',
    params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', is_error: 'yes', content: 'x' }])] },
    message: /^messages\.2\.content\.0\.tool_result\.is_error: Input should be a valid boolean$/,
  },
  {
    description: 'a tool_result holding a block it cannot hold',
    params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'video' }] }])] },
    message: /^messages\.2\.content\.0\.tool_result\.content\.0\.type: Input tag 'video' found using 'type' does not match any of the expected tags: 'text', 'image', 'search_result', 'document', 'tool_reference', 'browser_state'$/,
  },
  {
    description: 'an extra key in a text block inside a tool_result',
    params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'x', foo: 1 }] }])] },
    message: /^messages\.2\.content\.0\.tool_result\.content\.0\.text\.foo: Extra inputs are not permitted$/,
  },
  // [SPEC CreateMessageParams: metadata, output_config, thinking, tool_choice, service_tier are not nullable (cache_control, container, inference_geo say so with a null branch)]
  { description: 'metadata: null', notCounted: true, params: { metadata: null }, message: /^metadata: Input should be a valid dictionary$/ },
  { description: 'output_config: null', params: { output_config: null }, message: /^output_config: Input should be a valid dictionary$/ },
  { description: 'thinking: null', params: { thinking: null }, message: /^thinking: Input should be a valid dictionary$/ },
  { description: 'tool_choice: null', params: { tool_choice: null }, message: /^tool_choice: Input should be a valid dictionary$/ },
  { description: 'service_tier: null', notCounted: true, params: { service_tier: null }, message: /^service_tier: Input should be 'auto' or 'standard_only'$/ },
  // helper-79: what the OpenAPI document types and the emulator took as any value.
  // #1 [SPEC InputSchema: properties an object or null; required a list of strings or null]
  { description: 'a tool input_schema whose properties are not an object', params: { tools: [{ name: 'f', input_schema: { type: 'object', properties: ['a'] } }] }, message: /^tools\.0\.custom\.input_schema\.properties: Input should be a valid dictionary$/ },
  { description: 'a tool input_schema whose required is not a list', params: { tools: [{ name: 'f', input_schema: { type: 'object', required: 'a' } }] }, message: /^tools\.0\.custom\.input_schema\.required: Input should be a valid list$/ },
  { description: 'a tool input_schema whose required names a number', params: { tools: [{ name: 'f', input_schema: { type: 'object', required: ['a', 5] } }] }, message: /^tools\.0\.custom\.input_schema\.required\.1: Input should be a valid string$/ },
  // #2 null where the schema has no null branch [SPEC CacheControlEphemeral.ttl, Tool.description, Tool.strict,
  // ToolChoiceAuto.disable_parallel_tool_use, RequestToolResultBlock.is_error, RequestCitationsConfig.enabled,
  // RequestImageTransformations.oversized_image: a plain type each] is no value of that type, not "absent".
  { description: 'a cache_control ttl: null', params: { system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', ttl: null } }] }, message: /^system\.0\.cache_control\.ephemeral\.ttl: Input should be '5m' or '1h'$/ },
  { description: 'a tool description: null', params: { tools: [{ name: 'f', description: null, input_schema: { type: 'object' } }] }, message: /^tools\.0\.custom\.description: Input should be a valid string$/ },
  { description: 'a tool strict: null', params: { tools: [{ name: 'f', strict: null, input_schema: { type: 'object' } }] }, message: /^tools\.0\.custom\.strict: Input should be a valid boolean$/ },
  { description: 'a tool_choice disable_parallel_tool_use: null', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'auto', disable_parallel_tool_use: null } }, message: /^tool_choice\.auto\.disable_parallel_tool_use: Input should be a valid boolean$/ },
  {
    description: 'a tool_result is_error: null',
    params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', is_error: null, content: 'x' }])] },
    message: /^messages\.2\.content\.0\.tool_result\.is_error: Input should be a valid boolean$/,
  },
  { description: 'a document citations enabled: null', params: { messages: [user([{ type: 'document', citations: { enabled: null }, source: { type: 'text', media_type: 'text/plain', data: 'x' } }])] }, message: /^messages\.0\.content\.0\.document\.citations\.enabled: Input should be a valid boolean$/ },
  { description: 'an image oversized_image: null', params: { messages: [user([{ type: 'image', transformations: { oversized_image: null }, source: { type: 'base64', media_type: 'image/png', data: PNG } }])] }, message: /^messages\.0\.content\.0\.image\.transformations\.oversized_image: Input should be 'downsize' or 'error'$/ },
  // #3 [SPEC OutputConfig: effort and format only, additionalProperties: false; task_budget is BetaOutputConfig's, of `?beta=true`]
  { description: 'an output_config task_budget off the beta surface', params: { output_config: { task_budget: { type: 'tokens', total: 2048 } } }, message: /^output_config\.task_budget: Extra inputs are not permitted$/ },
  // #5 [SPEC the server tools of CreateMessageParams.tools.items: each field other than type and name, the same schema in every tool that has it]
  { description: 'a web_search max_uses of 0', params: { tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 0 }] }, message: /^tools\.0\.web_search_20250305\.max_uses: Input should be greater than 0$/ },
  { description: 'a web_search max_uses that is not an integer', params: { tools: [{ type: 'web_search_20260318', name: 'web_search', max_uses: 1.5 }] }, message: /^tools\.0\.web_search_20260318\.max_uses: Input should be a valid integer$/ },
  { description: 'web_search allowed_domains that are not a list', params: { tools: [{ type: 'web_search_20250305', name: 'web_search', allowed_domains: 'example.com' }] }, message: /^tools\.0\.web_search_20250305\.allowed_domains: Input should be a valid list$/ },
  { description: 'web_fetch blocked_domains holding a number', params: { tools: [{ type: 'web_fetch_20250910', name: 'web_fetch', blocked_domains: ['example.com', 5] }] }, message: /^tools\.0\.web_fetch_20250910\.blocked_domains\.1: Input should be a valid string$/ },
  { description: 'a web_fetch max_content_tokens of 0', params: { tools: [{ type: 'web_fetch_20260209', name: 'web_fetch', max_content_tokens: 0 }] }, message: /^tools\.0\.web_fetch_20260209\.max_content_tokens: Input should be greater than 0$/ },
  { description: 'a web_fetch citations flag that is not a boolean', params: { tools: [{ type: 'web_fetch_20250910', name: 'web_fetch', citations: { enabled: 'yes' } }] }, message: /^tools\.0\.web_fetch_20250910\.citations\.enabled: Input should be a valid boolean$/ },
  { description: 'a web_fetch use_cache: null', params: { tools: [{ type: 'web_fetch_20260309', name: 'web_fetch', use_cache: null }] }, message: /^tools\.0\.web_fetch_20260309\.use_cache: Input should be a valid boolean$/ },
  { description: 'a web_search response_inclusion that is not full or excluded', params: { tools: [{ type: 'web_search_20260318', name: 'web_search', response_inclusion: 'some' }] }, message: /^tools\.0\.web_search_20260318\.response_inclusion: Input should be 'full' or 'excluded'$/ },
  { description: 'a web_search user_location country of three letters', params: { tools: [{ type: 'web_search_20250305', name: 'web_search', user_location: { type: 'approximate', country: 'USA' } }] }, message: /^tools\.0\.web_search_20250305\.user_location\.country: String should have at most 2 characters$/ },
  { description: 'a web_search user_location without its type', params: { tools: [{ type: 'web_search_20250305', name: 'web_search', user_location: { city: 'Paris' } }] }, message: /^tools\.0\.web_search_20250305\.user_location\.type: Field required$/ },
  { description: 'an extra key in a web_search user_location', params: { tools: [{ type: 'web_search_20250305', name: 'web_search', user_location: { type: 'approximate', zip: '75001' } }] }, message: /^tools\.0\.web_search_20250305\.user_location\.zip: Extra inputs are not permitted$/ },
  { description: 'a text_editor max_characters of 0', params: { tools: [{ type: 'text_editor_20250728', name: 'str_replace_based_edit_tool', max_characters: 0 }] }, message: /^tools\.0\.text_editor_20250728\.max_characters: Input should be greater than or equal to 1$/ },
  { description: 'a server tool allowed_callers naming an unknown caller', params: { tools: [{ type: 'bash_20250124', name: 'bash', allowed_callers: ['robot'] }] }, message: /^tools\.0\.bash_20250124\.allowed_callers\.0: Input should be 'direct', 'code_execution_20250825', 'code_execution_20260120' or 'code_execution_20260521'$/ },
  { description: 'a server tool defer_loading that is not a boolean', params: { tools: [{ type: 'memory_20250818', name: 'memory', defer_loading: 'yes' }] }, message: /^tools\.0\.memory_20250818\.defer_loading: Input should be a valid boolean$/ },
  { description: 'a server tool strict: null', params: { tools: [{ type: 'code_execution_20250825', name: 'code_execution', strict: null }] }, message: /^tools\.0\.code_execution_20250825\.strict: Input should be a valid boolean$/ },
  { description: 'server tool input_examples holding a number', params: { tools: [{ type: 'bash_20250124', name: 'bash', input_examples: [5] }] }, message: /^tools\.0\.bash_20250124\.input_examples\.0: Input should be a valid dictionary$/ },
  { description: 'a browser toolset config for a member it does not have', params: { tools: [{ type: 'browser_toolset_20260801', configs: { fly: { enabled: true } } }] }, message: /^tools\.0\.browser_toolset_20260801\.configs\.fly: Extra inputs are not permitted$/ },
  { description: 'a computer toolset member enabled flag that is not a boolean', params: { tools: [{ type: 'computer_toolset_20260801', configs: { screenshot: { enabled: 'yes' } } }] }, message: /^tools\.0\.computer_toolset_20260801\.configs\.screenshot\.enabled: Input should be a valid boolean$/ },
  // #4 [SPEC RequestTextBlock.cache_control, and every block a tool_result or a content source holds: CacheControlEphemeral or null]
  {
    description: 'a bad TTL on a text block inside a tool_result',
    params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral', ttl: '10m' } }] }])] },
    message: /^messages\.2\.content\.0\.tool_result\.content\.0\.text\.cache_control\.ephemeral\.ttl: Input should be '5m' or '1h'$/,
  },
  {
    description: 'a cache_control that is no object on a tool_reference inside a tool_result',
    params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'tool_reference', tool_name: 'f', cache_control: 'ephemeral' }] }])] },
    message: /^messages\.2\.content\.0\.tool_result\.content\.0\.tool_reference\.cache_control: Input should be a valid dictionary$/,
  },
  { description: 'a cache_control type other than ephemeral inside a content document source', params: { messages: [user([{ type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'x', cache_control: { type: 'persistent' } }] } }])] }, message: /^messages\.0\.content\.0\.document\.source\.content\.content\.0\.text\.cache_control\.type: Input tag 'persistent' found using 'type' does not match any of the expected tags: 'ephemeral'$/ },
  { description: 'an extra key in a cache_control inside a content document source', params: { messages: [user([{ type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral', foo: 1 } }] } }])] }, message: /^messages\.0\.content\.0\.document\.source\.content\.content\.0\.text\.cache_control\.ephemeral\.foo: Extra inputs are not permitted$/ },
  // #6 [SPEC CreateMessageParams.container: ContainerParams | string | null; ContainerParams: id a string or null, skills a list
  // of at most 20 SkillParams or null, additionalProperties false] (count_tokens takes no container)
  { description: 'a container that is a number', notCounted: true, params: { container: 5 }, message: /^container: Input should be a valid dictionary or string$/ },
  { description: 'an extra key in a container', notCounted: true, params: { container: { id: 'cntr_1', image: 'python' } }, message: /^container\.image: Extra inputs are not permitted$/ },
  { description: 'a container id that is not a string', notCounted: true, params: { container: { id: 5 } }, message: /^container\.id: Input should be a valid string$/ },
  { description: 'a container with 21 skills', notCounted: true, params: { container: { skills: Array.from({ length: 21 }, (_, i) => ({ type: 'custom', skill_id: `s${i}` })) } }, message: /^container\.skills: List should have at most 20 items after validation, not 21$/ },
  { description: 'a container skill without its skill_id', notCounted: true, params: { container: { skills: [{ type: 'anthropic' }] } }, message: /^container\.skills\.0\.skill_id: Field required$/ },
  { description: 'a container skill of an unknown type', notCounted: true, params: { container: { skills: [{ type: 'mine', skill_id: 'x' }] } }, message: /^container\.skills\.0\.type: Input should be 'anthropic' or 'custom'$/ },
  { description: 'a container skill version over 64 characters', notCounted: true, params: { container: { skills: [{ type: 'custom', skill_id: 'x', version: 'v'.repeat(65) }] } }, message: /^container\.skills\.0\.version: String should have at most 64 characters$/ },
  // [SDK MessageCreateParamsBase.diagnostics: DiagnosticsParam | null; SPEC BetaDiagnosticsParam (titled DiagnosticsParam):
  // previous_message_id a string of at most 256 characters or null, additionalProperties false] (count_tokens takes none)
  { description: 'diagnostics that are not an object', notCounted: true, params: { diagnostics: 'on' }, message: /^diagnostics: Input should be a valid dictionary$/ },
  { description: 'an extra key in diagnostics', notCounted: true, params: { diagnostics: { previous_message_id: null, verbose: true } }, message: /^diagnostics\.verbose: Extra inputs are not permitted$/ },
  { description: 'a diagnostics previous_message_id that is not a string', notCounted: true, params: { diagnostics: { previous_message_id: 5 } }, message: /^diagnostics\.previous_message_id: Input should be a valid string$/ },
  // #8 [SPEC RequestThinkingBlock: thinking, signature strings; RequestRedactedThinkingBlock: data a string; RequestToolUseBlock:
  // name 1 to 200 characters, caller DirectCaller | ServerToolCaller | ServerToolCaller_20260120 by type; RequestSearchResultBlock:
  // source, title strings, content a list of RequestTextBlock, citations RequestCitationsConfig (not nullable)]
  { description: 'a thinking block whose thinking is not a string', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'thinking', thinking: 5, signature: 's' }] }, user('ok')] }, message: /^messages\.1\.content\.0\.thinking\.thinking: Input should be a valid string$/ },
  { description: 'a thinking block whose signature is null', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'thinking', thinking: 't', signature: null }] }, user('ok')] }, message: /^messages\.1\.content\.0\.thinking\.signature: Input should be a valid string$/ },
  { description: 'a redacted_thinking block whose data is not a string', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'redacted_thinking', data: {} }] }, user('ok')] }, message: /^messages\.1\.content\.0\.redacted_thinking\.data: Input should be a valid string$/ },
  { description: 'a tool_use block with an empty name', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: '', input: {} }] }] }, message: /^messages\.1\.content\.0\.tool_use\.name: String should have at least 1 character$/ },
  { description: 'a tool_use block with a name over 200 characters', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'n'.repeat(201), input: {} }] }] }, message: /^messages\.1\.content\.0\.tool_use\.name: String should have at most 200 characters$/ },
  { description: 'a tool_use block whose name is a number', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 5, input: {} }] }] }, message: /^messages\.1\.content\.0\.tool_use\.name: Input should be a valid string$/ },
  { description: 'a tool_use caller of an unknown type', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {}, caller: { type: 'robot' } }] }] }, message: /^messages\.1\.content\.0\.tool_use\.caller\.type: Input tag 'robot' found using 'type' does not match any of the expected tags: 'direct', 'code_execution_20250825', 'code_execution_20260120'$/ },
  { description: 'a server tool_use caller without its tool_id', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {}, caller: { type: 'code_execution_20250825' } }] }] }, message: /^messages\.1\.content\.0\.tool_use\.caller\.code_execution_20250825\.tool_id: Field required$/ },
  { description: 'a server tool_use caller whose tool_id is not a srvtoolu_ id', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {}, caller: { type: 'code_execution_20260120', tool_id: 'toolu_1' } }] }] }, message: /^messages\.1\.content\.0\.tool_use\.caller\.code_execution_20260120\.tool_id: String should match pattern '\^srvtoolu_\[a-zA-Z0-9_\]\+\$'$/ },
  { description: 'an extra key in a direct tool_use caller', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {}, caller: { type: 'direct', tool_id: 'srvtoolu_1' } }] }] }, message: /^messages\.1\.content\.0\.tool_use\.caller\.direct\.tool_id: Extra inputs are not permitted$/ },
  { description: 'a search_result whose source is not a string', params: { messages: [user([{ type: 'search_result', source: 5, title: 't', content: [{ type: 'text', text: 'x' }] }])] }, message: /^messages\.0\.content\.0\.search_result\.source: Input should be a valid string$/ },
  { description: 'a search_result whose title is null', params: { messages: [user([{ type: 'search_result', source: 's', title: null, content: [{ type: 'text', text: 'x' }] }])] }, message: /^messages\.0\.content\.0\.search_result\.title: Input should be a valid string$/ },
  { description: 'a search_result whose content is a string', params: { messages: [user([{ type: 'search_result', source: 's', title: 't', content: 'x' }])] }, message: /^messages\.0\.content\.0\.search_result\.content: Input should be a valid list$/ },
  { description: 'a search_result holding an image', params: { messages: [user([{ type: 'search_result', source: 's', title: 't', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }] }])] }, message: /^messages\.0\.content\.0\.search_result\.content\.0\.type: Input should be 'text'$/ },
  { description: 'a search_result holding an empty text', params: { messages: [user([{ type: 'search_result', source: 's', title: 't', content: [{ type: 'text', text: '' }] }])] }, message: /^messages\.0\.content\.0\.search_result\.content\.0\.text: text content blocks must be non-empty$/ },
  { description: 'a search_result citations: null', params: { messages: [user([{ type: 'search_result', source: 's', title: 't', content: [{ type: 'text', text: 'x' }], citations: null }])] }, message: /^messages\.0\.content\.0\.search_result\.citations: Input should be a valid dictionary$/ },
  {
    description: 'a search_result inside a tool_result whose source is not a string',
    params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'search_result', source: [], title: 't', content: [{ type: 'text', text: 'x' }] }] }])] },
    message: /^messages\.2\.content\.0\.tool_result\.content\.0\.search_result\.source: Input should be a valid string$/,
  },
  // helper-92 #1 [SPEC RequestToolUseBlock.toolset_name, RequestToolResultBlock.toolset_name: a string of 1 to 64
  // characters matching ^[a-zA-Z0-9_-]+$, or null]
  { description: 'a tool_use toolset_name with a space', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {}, toolset_name: 'my set' }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'x' }])] }, message: /^messages\.1\.content\.0\.tool_use\.toolset_name: String should match pattern '\^\[a-zA-Z0-9_-\]\+\$'$/ },
  { description: 'a tool_use toolset_name over 64 characters', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {}, toolset_name: 'b'.repeat(65) }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'x' }])] }, message: /^messages\.1\.content\.0\.tool_use\.toolset_name: String should have at most 64 characters$/ },
  { description: 'a tool_result toolset_name that is empty', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'x', toolset_name: '' }])] }, message: /^messages\.2\.content\.0\.tool_result\.toolset_name: String should have at least 1 character$/ },
  { description: 'a tool_result toolset_name that is a number', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'x', toolset_name: 7 }])] }, message: /^messages\.2\.content\.0\.tool_result\.toolset_name: Input should be a valid string$/ },
  // helper-92 #2 [SPEC Tool: allowed_callers a list of AllowedCaller, defer_loading a boolean (no null branch),
  // input_examples a list of objects, eager_input_streaming a boolean or null]
  { description: 'a custom tool allowed_callers that is a string', params: { tools: [{ name: 'f', input_schema: { type: 'object' }, allowed_callers: 'direct' }] }, message: /^tools\.0\.custom\.allowed_callers: Input should be a valid list$/ },
  { description: 'a custom tool allowed_callers naming an unknown caller', params: { tools: [{ name: 'f', input_schema: { type: 'object' }, allowed_callers: ['direct', 'robot'] }] }, message: /^tools\.0\.custom\.allowed_callers\.1: Input should be 'direct', 'code_execution_20250825', 'code_execution_20260120' or 'code_execution_20260521'$/ },
  { description: 'a custom tool defer_loading that is a string', params: { tools: [{ name: 'f', input_schema: { type: 'object' }, defer_loading: 'yes' }] }, message: /^tools\.0\.custom\.defer_loading: Input should be a valid boolean$/ },
  { description: 'a custom tool defer_loading: null', params: { tools: [{ name: 'f', input_schema: { type: 'object' }, defer_loading: null }] }, message: /^tools\.0\.custom\.defer_loading: Input should be a valid boolean$/ },
  { description: 'a custom tool input_examples that is an object', params: { tools: [{ name: 'f', input_schema: { type: 'object' }, input_examples: { a: 1 } }] }, message: /^tools\.0\.custom\.input_examples: Input should be a valid list$/ },
  { description: 'a custom tool input_examples holding a string', params: { tools: [{ name: 'f', input_schema: { type: 'object' }, input_examples: [{ a: 1 }, 'b'] }] }, message: /^tools\.0\.custom\.input_examples\.1: Input should be a valid dictionary$/ },
  { description: 'a custom tool eager_input_streaming that is a string', params: { tools: [{ name: 'f', input_schema: { type: 'object' }, eager_input_streaming: 'on' }] }, message: /^tools\.0\.custom\.eager_input_streaming: Input should be a valid boolean$/ },
  // helper-92 #3 [SPEC RequestTextBlock.citations.items: a closed oneOf of the Request*Citation schemas by `type`, each
  // additionalProperties false with its fields required (document_title and title nullable)]; in an assistant turn,
  // since under 2026-10-21 a user's text takes no citations at all.
  { description: 'a text citation that is a string', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'text', text: 'h', citations: ['h'] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text\.citations\.0: Input should be a valid dictionary$/ },
  { description: 'a text citation of an unknown type', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'text', text: 'h', citations: [{ type: 'file_location', cited_text: 'h' }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text\.citations\.0\.type: Input tag 'file_location' found using 'type' does not match any of the expected tags: 'char_location', 'page_location', 'content_block_location', 'web_search_result_location', 'search_result_location'$/ },
  { description: "a text citation carrying a response citation's file_id", params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'text', text: 'h', citations: [{ type: 'char_location', cited_text: 'h', document_index: 0, document_title: null, start_char_index: 0, end_char_index: 1, file_id: null }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text\.citations\.0\.char_location\.file_id: Extra inputs are not permitted$/ },
  { description: 'a char_location citation without its document_title', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'text', text: 'h', citations: [{ type: 'char_location', cited_text: 'h', document_index: 0, start_char_index: 0, end_char_index: 1 }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text\.citations\.0\.char_location\.document_title: Field required$/ },
  { description: 'a char_location citation with a negative document_index', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'text', text: 'h', citations: [{ type: 'char_location', cited_text: 'h', document_index: -1, document_title: null, start_char_index: 0, end_char_index: 1 }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text\.citations\.0\.char_location\.document_index: Input should be greater than or equal to 0$/ },
  { description: 'a page_location citation starting at page 0', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'text', text: 'h', citations: [{ type: 'page_location', cited_text: 'h', document_index: 0, document_title: 'Doc', start_page_number: 0, end_page_number: 1 }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text\.citations\.0\.page_location\.start_page_number: Input should be greater than or equal to 1$/ },
  { description: 'a content_block_location citation whose end_block_index is a string', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'text', text: 'h', citations: [{ type: 'content_block_location', cited_text: 'h', document_index: 0, document_title: null, start_block_index: 0, end_block_index: '1' }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text\.citations\.0\.content_block_location\.end_block_index: Input should be a valid integer$/ },
  { description: 'a web_search_result_location citation with an empty url', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'text', text: 'h', citations: [{ type: 'web_search_result_location', cited_text: 'h', encrypted_index: 'e', title: null, url: '' }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text\.citations\.0\.web_search_result_location\.url: String should have at least 1 character$/ },
  { description: 'a search_result_location citation whose source is null', params: { messages: [user('hi'), { role: 'assistant', content: [{ type: 'text', text: 'h', citations: [{ type: 'search_result_location', cited_text: 'h', search_result_index: 0, source: null, title: null, start_block_index: 0, end_block_index: 1 }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text\.citations\.0\.search_result_location\.source: Input should be a valid string$/ },
  { description: 'a system text citation without its cited_text', params: { system: [{ type: 'text', text: 's', citations: [{ type: 'char_location', document_index: 0, document_title: null, start_char_index: 0, end_char_index: 1 }] }] }, message: /^system\.0\.citations\.0\.char_location\.cited_text: Field required$/ },
  {
    description: "a tool_result text's citation of an unknown type",
    params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'x', citations: [{ type: 'x' }] }] }])] },
    message: /^messages\.2\.content\.0\.tool_result\.content\.0\.text\.citations\.0\.type: Input tag 'x' found using 'type'/,
  },
  { description: "a search_result text's citation that is a number", params: { messages: [user([{ type: 'search_result', source: 's', title: 't', content: [{ type: 'text', text: 'x', citations: [1] }] }])] }, message: /^messages\.0\.content\.0\.search_result\.content\.0\.citations\.0: Input should be a valid dictionary$/ },
  { description: "a content source text's citation that is a number", params: { messages: [user([{ type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'x', citations: [1] }] } }])] }, message: /^messages\.0\.content\.0\.document\.source\.content\.content\.0\.text\.citations\.0: Input should be a valid dictionary$/ },
  // helper-92 #4 [SPEC RequestServerToolUseBlock: id ^srvtoolu_[a-zA-Z0-9_]+$, name an enum, input an object, caller by type;
  // Request…ToolResultBlock: tool_use_id ^srvtoolu_[a-zA-Z0-9_]+$, content an anyOf of tagged objects (web search: or a list),
  // web search/fetch ones a caller; RequestToolReferenceBlock.tool_name ^[a-zA-Z0-9_-]{1,256}$; RequestBrowserStateBlock.tabs a list
  // of at most 100 BrowserStateTabEntry]
  { description: 'a server_tool_use whose id is not a srvtoolu_ id', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'server_tool_use', id: 'toolu_1', name: 'web_search', input: {} }] }, user('ok')] }, message: /^messages\.1\.content\.0\.server_tool_use\.id: String should match pattern '\^srvtoolu_\[a-zA-Z0-9_\]\+\$'$/ },
  { description: 'a server_tool_use of a name no server tool has', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'server_tool_use', id: 'srvtoolu_1', name: 'my_tool', input: {} }] }, user('ok')] }, message: /^messages\.1\.content\.0\.server_tool_use\.name: Input should be 'web_search', 'web_fetch', 'code_execution', 'bash_code_execution', 'text_editor_code_execution', 'tool_search_tool_regex' or 'tool_search_tool_bm25'$/ },
  { description: 'a server_tool_use whose input is a string', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: 'q' }] }, user('ok')] }, message: /^messages\.1\.content\.0\.server_tool_use\.input: Input should be a valid dictionary$/ },
  { description: 'a server_tool_use caller of an unknown type', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {}, caller: { type: 'robot' } }] }, user('ok')] }, message: /^messages\.1\.content\.0\.server_tool_use\.caller\.type: Input tag 'robot' found using 'type'/ },
  { description: 'a web_search_tool_result whose tool_use_id is not a srvtoolu_ id', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'web_search_tool_result', tool_use_id: 'toolu_1', content: [] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.web_search_tool_result\.tool_use_id: String should match pattern '\^srvtoolu_\[a-zA-Z0-9_\]\+\$'$/ },
  { description: 'a web_search_tool_result whose content is a string', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: 'results' }] }, user('ok')] }, message: /^messages\.1\.content\.0\.web_search_tool_result\.content: Input should be a valid list or dictionary$/ },
  { description: 'a web_search_tool_result holding a web_fetch_result', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [{ type: 'web_fetch_result', url: 'u', content: {} }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.web_search_tool_result\.content\.0\.type: Input tag 'web_fetch_result' found using 'type' does not match any of the expected tags: 'web_search_result'$/ },
  { description: 'a web_search_result without its encrypted_content', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [{ type: 'web_search_result', title: 't', url: 'https://example.com' }] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.web_search_tool_result\.content\.0\.web_search_result\.encrypted_content: Field required$/ },
  { description: 'a web_fetch_tool_result caller without its tool_id', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'web_fetch_tool_result', tool_use_id: 'srvtoolu_1', content: { type: 'web_fetch_tool_result_error', error_code: 'url_not_accessible' }, caller: { type: 'code_execution_20250825' } }] }, user('ok')] }, message: /^messages\.1\.content\.0\.web_fetch_tool_result\.caller\.code_execution_20250825\.tool_id: Field required$/ },
  { description: 'a code_execution_tool_result whose content is a list', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'code_execution_tool_result', tool_use_id: 'srvtoolu_1', content: [] }] }, user('ok')] }, message: /^messages\.1\.content\.0\.code_execution_tool_result\.content: Input should be a valid dictionary$/ },
  { description: 'a code_execution_tool_result holding a bash result', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'code_execution_tool_result', tool_use_id: 'srvtoolu_1', content: { type: 'bash_code_execution_result', content: [], stdout: '', stderr: '', return_code: 0 } }] }, user('ok')] }, message: /^messages\.1\.content\.0\.code_execution_tool_result\.content\.type: Input tag 'bash_code_execution_result' found using 'type' does not match any of the expected tags: 'code_execution_tool_result_error', 'code_execution_result', 'encrypted_code_execution_result'$/ },
  { description: 'a bash_code_execution_result without its content', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'bash_code_execution_tool_result', tool_use_id: 'srvtoolu_1', content: { type: 'bash_code_execution_result', stdout: '', stderr: '', return_code: 0 } }] }, user('ok')] }, message: /^messages\.1\.content\.0\.bash_code_execution_tool_result\.content\.bash_code_execution_result\.content: Field required$/ },
  { description: 'a text_editor_code_execution_tool_result whose tool_use_id is a number', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'text_editor_code_execution_tool_result', tool_use_id: 5, content: { type: 'text_editor_code_execution_create_result', is_file_update: false } }] }, user('ok')] }, message: /^messages\.1\.content\.0\.text_editor_code_execution_tool_result\.tool_use_id: Input should be a valid string$/ },
  { description: 'a tool_search_tool_result with an extra key in its content', params: { messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_search_tool_result', tool_use_id: 'srvtoolu_1', content: { type: 'tool_search_tool_search_result', tool_references: [], more: true } }] }, user('ok')] }, message: /^messages\.1\.content\.0\.tool_search_tool_result\.content\.tool_search_tool_search_result\.more: Extra inputs are not permitted$/ },
  { description: 'a tool_reference whose tool_name has a space', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'tool_reference', tool_name: 'my tool' }] }])] }, message: /^messages\.2\.content\.0\.tool_result\.content\.0\.tool_reference\.tool_name: String should match pattern '\^\[a-zA-Z0-9_-\]\{1,256\}\$'$/ },
  { description: 'a tool_reference whose tool_name is over 256 characters', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'tool_reference', tool_name: 't'.repeat(257) }] }])] }, message: /^messages\.2\.content\.0\.tool_result\.content\.0\.tool_reference\.tool_name: String should have at most 256 characters$/ },
  { description: 'a browser_state whose tabs is an object', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'browser_state', tabs: { tab_id: '1', title: 't', url: 'u' } }] }])] }, message: /^messages\.2\.content\.0\.tool_result\.content\.0\.browser_state\.tabs: Input should be a valid list$/ },
  { description: 'a browser_state with 101 tabs', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'browser_state', tabs: Array.from({ length: 101 }, (_, i) => ({ tab_id: `t${i}`, title: 't', url: 'u' })) }] }])] }, message: /^messages\.2\.content\.0\.tool_result\.content\.0\.browser_state\.tabs: List should have at most 100 items after validation, not 101$/ },
  { description: 'a browser_state tab without its url', params: { tools: [{ name: 'f', input_schema: { type: 'object' } }], messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'browser_state', tabs: [{ tab_id: 't1', title: 't', active: true }] }] }])] }, message: /^messages\.2\.content\.0\.tool_result\.content\.0\.browser_state\.tabs\.0\.url: Field required$/ },
  // #9 [SPEC CreateMessageParams.messages, CountMessageTokensParams.messages: "There is a limit of 100,000 messages in a single request."]
  { description: 'more than 100,000 messages', params: { messages: Array.from({ length: 100_001 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'a' })) }, message: /^messages: List should have at most 100000 items after validation, not 100001$/ },
  // #7 [SPEC ContentBlockSource.content: a string, or a list of RequestTextBlock (text minLength 1) | RequestImageBlock, by `type`]
  { description: 'a content document source holding a number', params: { messages: [user([{ type: 'document', source: { type: 'content', content: [5] } }])] }, message: /^messages\.0\.content\.0\.document\.source\.content\.content\.0: Input should be a valid dictionary$/ },
  { description: 'a content document source holding a block it cannot hold', params: { messages: [user([{ type: 'document', source: { type: 'content', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }] } }])] }, message: /^messages\.0\.content\.0\.document\.source\.content\.content\.0\.type: Input tag 'document' found using 'type' does not match any of the expected tags: 'text', 'image'$/ },
  { description: 'a content document source with an empty text block', params: { messages: [user([{ type: 'document', source: { type: 'content', content: [{ type: 'text', text: '' }] } }])] }, message: /^messages\.0\.content\.0\.document\.source\.content\.content\.0\.text\.text: text content blocks must be non-empty$/ },
  { description: 'a content document source with an extra key in a text block', params: { messages: [user([{ type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'x', foo: 1 }] } }])] }, message: /^messages\.0\.content\.0\.document\.source\.content\.content\.0\.text\.foo: Extra inputs are not permitted$/ },
  { description: 'a content document source with an image of a bad media type', params: { messages: [user([{ type: 'document', source: { type: 'content', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: PNG } }] } }])] }, message: /^messages\.0\.content\.0\.document\.source\.content\.content\.0\.image\.source\.base64\.media_type: Input should be 'image\/jpeg', 'image\/png', 'image\/gif' or 'image\/webp'$/ },
];

describe('one bad request per case inside an otherwise good batch (SDK, every line against the spec)', () => {
  for (const t of CASES) {
    it(t.description, async () => {
      const type = t.type ?? 'invalid_request_error';
      const results = await runBatch([req('good-1'), req('bad', 'question', t.params), req('good-2')]);
      for (const id of ['good-1', 'good-2']) {
        expect(results.get(id)?.type, id).toBe('succeeded');
        expectSpec('Message', results.get(id).message);
      }
      const bad = results.get('bad');
      expect(bad?.type).toBe('errored');
      expect(bad.error.error.type).toBe(type);
      expect(bad.error.error.message).toMatch(t.message);
      expect(bad.error.request_id).toBeNull();

      // The same params on /v1/messages and count_tokens (which has no max_tokens): a 400, or 404 for a model.
      const status = type === 'not_found_error' ? 404 : 400;
      const params = req('x', 'question', t.params).params;
      expectApiError(await raw(emu.url, 'POST', '/v1/messages', params, { 'anthropic-version': '2026-10-21' }), status, type, t.message);
      if (t.params['max_tokens'] !== undefined || t.notCounted) return;
      const { max_tokens: _m, ...counted } = params;
      expectApiError(await raw(emu.url, 'POST', '/v1/messages/count_tokens', counted, { 'anthropic-version': '2026-10-21' }), status, type, t.message);
    });
  }
});

describe('valid requests the emulator used to refuse or mishandle', () => {
  it('accepts the SDK 1.14 param diagnostics; Haiku 5.5 takes 128K max_tokens; good blocks pass', async () => {
    const results = await runBatch([
      req('diag', 'q', { diagnostics: { previous_message_id: null } }),
      req('haiku55', 'q', { model: 'claude-haiku-5-5', max_tokens: 128_000 }),
      req('image', 'q', { messages: [user([{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }, { type: 'text', text: 'what is it?' }])] }),
      req('pdf', 'q', { messages: [user([{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF } }, { type: 'text', text: 'summarise' }])] }),
      req('tools', 'q', {
        // [SPEC Tool] its optional fields, eager_input_streaming null (helper-92 #2 checks them).
        tools: [{ name: 'f', input_schema: { type: 'object' }, allowed_callers: ['direct', 'code_execution_20260521'], defer_loading: false, input_examples: [{ a: 1 }], eager_input_streaming: null }],
        messages: [user('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] }, user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'done' }])],
      }),
      req('prefill', 'q', { messages: [user('hi'), { role: 'assistant', content: '' }] }),
      // [SPEC CreateMessageParams.messages] 100,000 messages, the most a request may have (helper-79 #9).
      req('100k-messages', 'q', { messages: Array.from({ length: 100_000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'a' })) }),
      // [SPEC RequestThinkingBlock, RequestToolUseBlock.caller, RequestSearchResultBlock] (helper-79 #8 checks their fields).
      req('blocks', 'q', {
        tools: [{ name: 'f', input_schema: { type: 'object' } }],
        messages: [
          user([{ type: 'search_result', source: 'https://example.com', title: 'Result', content: [{ type: 'text', text: 'found', cache_control: null }], citations: { enabled: true } }, { type: 'text', text: 'go' }]),
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hm', signature: 'sig' },
              { type: 'tool_use', id: 'toolu_1', name: 'f', input: {}, caller: { type: 'direct' } },
              { type: 'tool_use', id: 'toolu_2', name: 'f', input: {}, caller: { type: 'code_execution_20250825', tool_id: 'srvtoolu_01A' }, toolset_name: 'browser_toolset-1' },
            ],
          },
          user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'search_result', source: 's', title: 't', content: [{ type: 'text', text: 'x' }] }] }, { type: 'tool_result', tool_use_id: 'toolu_2', content: 'ok', toolset_name: null }]),
        ],
      }),
      // [SPEC RequestServerToolUseBlock, Request…ToolResultBlock, RequestToolReferenceBlock, RequestBrowserStateBlock] (helper-92 #4 checks their fields).
      req('server-blocks', 'q', {
        tools: [{ name: 'f', input_schema: { type: 'object' } }],
        messages: [
          user('go'),
          {
            role: 'assistant',
            content: [
              { type: 'server_tool_use', id: 'srvtoolu_01', name: 'web_search', input: { query: 'q' }, caller: { type: 'direct' } },
              { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_01', content: [{ type: 'web_search_result', encrypted_content: 'e', title: 't', url: 'https://example.com', page_age: null }] },
              { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_02', content: { type: 'web_search_tool_result_error', error_code: 'unavailable' } },
              { type: 'web_fetch_tool_result', tool_use_id: 'srvtoolu_03', content: { type: 'web_fetch_tool_result_error', error_code: 'url_not_accessible' }, caller: { type: 'code_execution_20260120', tool_id: 'srvtoolu_04' } },
              { type: 'code_execution_tool_result', tool_use_id: 'srvtoolu_05', content: { type: 'code_execution_result', content: [], stdout: 'hi', stderr: '', return_code: 0 } },
              { type: 'bash_code_execution_tool_result', tool_use_id: 'srvtoolu_06', content: { type: 'bash_code_execution_tool_result_error', error_code: 'unavailable' } },
              { type: 'text_editor_code_execution_tool_result', tool_use_id: 'srvtoolu_07', content: { type: 'text_editor_code_execution_str_replace_result' } },
              { type: 'tool_search_tool_result', tool_use_id: 'srvtoolu_08', content: { type: 'tool_search_tool_search_result', tool_references: [] } },
              { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} },
            ],
          },
          user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'tool_reference', tool_name: 'f' }, { type: 'browser_state', tabs: [{ tab_id: 't1', title: 'Home', url: 'https://example.com', active: true }] }] }]),
        ],
      }),
      // [SPEC CreateMessageParams.container: ContainerParams | string | null] (helper-79 #6 checks it).
      req('container-id', 'q', { container: 'cntr_011CN', diagnostics: null }),
      req('container-skills', 'q', { container: { id: null, skills: [{ type: 'anthropic', skill_id: 'pptx', version: 'latest' }] }, diagnostics: { previous_message_id: 'msg_01' } }),
      req('container-null', 'q', { container: null, diagnostics: {} }),
      // [SPEC the server tools] their fields, given and null where the schema allows it (helper-79 #5 checks them).
      req('server-tools', 'q', {
        tools: [
          { type: 'web_search_20250305', name: 'web_search', max_uses: 3, allowed_domains: ['example.com'], blocked_domains: null, user_location: { type: 'approximate', city: 'Paris', country: 'FR', region: null, timezone: 'Europe/Paris' } },
          { type: 'web_fetch_20260318', name: 'web_fetch', max_uses: null, max_content_tokens: 5000, citations: { enabled: true }, use_cache: false, response_inclusion: 'excluded', allowed_callers: ['direct', 'code_execution_20250825'], defer_loading: false, strict: true },
          { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool', max_characters: 1, input_examples: [{ command: 'view' }] },
          { type: 'browser_toolset_20260801', configs: { navigate: { enabled: true, defer_loading: null }, zoom: null } },
          { type: 'computer_toolset_20260801', configs: null },
        ],
      }),
      // [SPEC ContentBlockSource.content] a string, or text and image blocks (helper-79 #7 checks the blocks).
      req('content-source', 'q', {
        messages: [
          user([
            { type: 'document', source: { type: 'content', content: 'plain' } },
            { type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'page one' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }] } },
            { type: 'text', text: 'summarise' },
          ]),
        ],
      }),
      req('cache4', 'q', { system: [1, 2, 3, 4].map((i) => ({ type: 'text', text: `s${i}`, cache_control: { type: 'ephemeral', ttl: i === 1 ? '1h' : '5m' } })) }),
      req('thinking', 'q', { max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 1024 } }),
      // helper-74: a URL with its scheme and host in capitals, or a space in its path, is a URL (the URL standard's parser takes both).
      req('url-caps', 'q', { messages: [user([{ type: 'document', source: { type: 'url', url: 'HTTPS://EXAMPLE.COM/X.PDF' } }, { type: 'text', text: 'summarise' }])] }),
      req('url-space', 'q', { messages: [user([{ type: 'image', source: { type: 'url', url: 'https://example.com/My Scan.png' } }, { type: 'text', text: 'what is it?' }])] }),
      // [SPEC RequestTextBlock.citations: a list] an assistant turn's text with its citations, and an empty list on a user's.
      req('cited', 'q', {
        messages: [
          user('hi'),
          {
            role: 'assistant',
            content: [
              {
                type: 'text',
                text: 'h',
                // [SPEC RequestTextBlock.citations.items] one of each (helper-92 #3 checks them).
                citations: [
                  { type: 'char_location', cited_text: 'h', document_index: 0, document_title: null, start_char_index: 0, end_char_index: 1 },
                  { type: 'page_location', cited_text: 'h', document_index: 1, document_title: 'Doc', start_page_number: 1, end_page_number: 2 },
                  { type: 'content_block_location', cited_text: 'h', document_index: 0, document_title: null, start_block_index: 0, end_block_index: 1 },
                  { type: 'web_search_result_location', cited_text: 'h', encrypted_index: 'enc', title: null, url: 'https://example.com' },
                  { type: 'search_result_location', cited_text: 'h', search_result_index: 0, source: 's', title: null, start_block_index: 0, end_block_index: 1 },
                ],
              },
            ],
          },
          user([{ type: 'text', text: 'and?', citations: [] }]),
        ],
      }),
    ]);
    for (const [id, r] of results) expect(r.type, `${id}: ${JSON.stringify(r.error ?? '')}`).toBe('succeeded');
    // With thinking on, the answer starts with a thinking block, counted in output_tokens.
    const thought = results.get('thinking').message;
    expectSpec('Message', thought);
    expect(thought.content.map((b: { type: string }) => b.type)).toEqual(['thinking', 'text']);
    expect(thought.usage.output_tokens_details.thinking_tokens).toBeGreaterThan(0);
    expect(thought.usage.output_tokens_details.thinking_tokens).toBeLessThan(thought.usage.output_tokens);
    expect(results.get('diag').message.usage.output_tokens_details).toBeNull();
  });

  it('null is taken where the schema has a null branch (helper-79 #2 refuses it only where it has none)', async () => {
    // [SPEC Metadata.user_id, CreateMessageParams.inference_geo/cache_control, Tool.type/cache_control,
    // ThinkingConfigAdaptive.display, RequestDocumentBlock.title/context/citations, RequestImageBlock.transformations,
    // RequestTextBlock.cache_control/citations: each `anyOf [..., {type: null}]`]
    const results = await runBatch([
      req('nulls', 'q', {
        metadata: { user_id: null },
        inference_geo: null,
        cache_control: null,
        thinking: { type: 'adaptive', display: null },
        tools: [{ type: null, name: 'f', input_schema: { type: 'object', properties: null, required: null }, cache_control: null }],
        messages: [
          user([
            { type: 'document', title: null, context: null, citations: null, cache_control: null, source: { type: 'text', media_type: 'text/plain', data: 'x' } },
            { type: 'image', transformations: null, source: { type: 'base64', media_type: 'image/png', data: PNG } },
            { type: 'text', text: 'what?', citations: null, cache_control: null },
          ]),
        ],
      }),
    ]);
    expect(results.get('nulls')?.type, JSON.stringify(results.get('nulls')?.error ?? '')).toBe('succeeded');
  });

  it('output_config.task_budget is taken on the ?beta=true surface, and checked there as BetaTokenTaskBudget', async () => {
    const budget = (task_budget: unknown) => req('x', 'q', { output_config: { task_budget } }).params;
    // [SPEC paths /v1/messages?beta=true, /v1/messages/batches?beta=true: BetaCreateMessageParams, whose BetaOutputConfig has task_budget]
    expect((await raw(emu.url, 'POST', '/v1/messages?beta=true', budget({ type: 'tokens', total: 2048 }))).status).toBe(200);
    expect((await raw(emu.url, 'POST', '/v1/messages/count_tokens?beta=true', { ...budget({ type: 'tokens', total: 2048, remaining: null }), max_tokens: undefined })).status).toBe(200);
    const created = await raw(emu.url, 'POST', '/v1/messages/batches?beta=true', { requests: [{ custom_id: 'tb', params: budget({ type: 'tokens', total: 2048, remaining: 100 }) }] });
    expect(created.status).toBe(200);
    const results = await c.messages.batches.results(created.json.id);
    for await (const line of results) expect(line.result.type, JSON.stringify(line.result)).toBe('succeeded');
    // [SPEC BetaTokenTaskBudget: type 'tokens', total an integer >= 1024, remaining an integer >= 0 or null, no other key]
    expectApiError(await raw(emu.url, 'POST', '/v1/messages?beta=true', budget({ type: 'tokens', total: 1000 })), 400, 'invalid_request_error', /^output_config\.task_budget\.total: Input should be greater than or equal to 1024$/);
    expectApiError(await raw(emu.url, 'POST', '/v1/messages?beta=true', budget({ type: 'tokens', total: 2048, remaining: -1 })), 400, 'invalid_request_error', /^output_config\.task_budget\.remaining: Input should be greater than or equal to 0$/);
    expectApiError(await raw(emu.url, 'POST', '/v1/messages?beta=true', budget({ type: 'words', total: 2048 })), 400, 'invalid_request_error', /^output_config\.task_budget\.type: Input should be 'tokens'$/);
    expectApiError(await raw(emu.url, 'POST', '/v1/messages?beta=true', budget({ type: 'tokens' })), 400, 'invalid_request_error', /^output_config\.task_budget\.total: Field required$/);
    expectApiError(await raw(emu.url, 'POST', '/v1/messages?beta=true', budget({ type: 'tokens', total: 2048, spent: 1 })), 400, 'invalid_request_error', /^output_config\.task_budget\.spent: Extra inputs are not permitted$/);
  });

  it('the output-300k beta raises max_tokens to 300,000 for batch requests only, on the models it covers', async () => {
    const headers = { 'anthropic-beta': OUTPUT_300K_BETA };
    const results = await runBatch([req('sonnet46', 'q', { max_tokens: 300_000 }), req('haiku45', 'q', { model: 'claude-haiku-4-5', max_tokens: 300_000 })], headers);
    expect(results.get('sonnet46')?.type).toBe('succeeded');
    expect(results.get('haiku45')?.error.error.message).toMatch(/^max_tokens: 300000 > 64000/);
    const live = await raw(emu.url, 'POST', '/v1/messages', req('x', 'q', { max_tokens: 300_000 }).params, headers);
    expectApiError(live, 400, 'invalid_request_error', /^max_tokens: 300000 > 128000/);
  });

  it('a minItems: 100000000 tool schema (not strict) is answered quickly with a bounded array', async () => {
    const schema = obj({ a: { type: 'array', items: { type: 'string' }, minItems: 100_000_000 } });
    const started = Date.now();
    const m = await c.messages.create({
      model: MODEL,
      max_tokens: 4000,
      messages: [{ role: 'user', content: 'go' }],
      tools: [{ name: 'f', input_schema: schema as never }],
      tool_choice: { type: 'tool', name: 'f' },
    });
    expect(Date.now() - started).toBeLessThan(2000);
    const block = m.content[0];
    expect(block?.type).toBe('tool_use');
    expect(Array.isArray((block as { input: { a: unknown[] } }).input.a)).toBe(true);
  });

  it('a schema property named __proto__ is answered as an own property that validates', async () => {
    const schema = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"},"b":{"type":"integer"}},"required":["__proto__","b"],"additionalProperties":false}');
    const results = await runBatch([req('proto', 'q', format(schema))]);
    const text = results.get('proto').message.content[0].text as string;
    const answer = JSON.parse(text);
    expect(Object.hasOwn(answer, '__proto__'), text).toBe(true);
    // The validator the pipeline checks answers with (ajv itself mishandles a property named __proto__).
    expect(resolveAnswerSchema(schema).validator.safeParse(answer).success).toBe(true);
  });

  it('an external $ref in a (non-strict) forced tool schema does not cut the results download', async () => {
    const results = await runBatch([
      req('ext', 'q', { tools: [{ name: 'f', input_schema: obj({ a: { $ref: 'https://example.com/a.json' } }) }], tool_choice: { type: 'tool', name: 'f' } }),
      req('after', 'q'),
    ]);
    expect(results.get('ext')?.type).toBe('succeeded');
    expect(results.get('after')?.type).toBe('succeeded');
  });
});

// helper-92 #9 [extended-thinking docs, https://platform.claude.com/docs/en/build-with-claude/extended-thinking, "Feature
// compatibility": thinking "isn't compatible with temperature or top_k modifications"; top_p may be set between 1 and 0.95]
describe('with thinking on under 2023-06-01, only the default temperature, no top_k, top_p from 0.95 to 1', () => {
  it('refuses temperature ≠ 1, any top_k and top_p below 0.95 with thinking enabled or adaptive; takes them without thinking', async () => {
    const enabled = { max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 1024 } };
    const adaptive = { thinking: { type: 'adaptive' } };
    const refused: Array<[string, Record<string, unknown>, RegExp]> = [
      ['temp-enabled', { ...enabled, temperature: 0.5 }, /^temperature: /],
      ['temp-adaptive', { ...adaptive, temperature: 0 }, /^temperature: /],
      ['topk-adaptive', { ...adaptive, top_k: 5 }, /^top_k: /],
      ['topk0-enabled', { ...enabled, top_k: 0 }, /^top_k: /],
      ['topp-enabled', { ...enabled, top_p: 0.9 }, /^top_p: /],
    ];
    const taken: Array<[string, Record<string, unknown>]> = [
      ['temp1-enabled', { ...enabled, temperature: 1 }],
      ['topp095-enabled', { ...enabled, top_p: 0.95 }],
      ['topp1-adaptive', { ...adaptive, top_p: 1 }],
      ['no-thinking', { temperature: 0.5, top_k: 5, top_p: 0.5 }],
      ['thinking-disabled', { thinking: { type: 'disabled' }, temperature: 0.2, top_k: 3, top_p: 0.1 }],
    ];
    // The SDK sends 2026-10-21, under which the three are refused whatever the value.
    const results = await runBatch([...refused.map(([id, p]) => req(id, 'q', p)), ...taken.map(([id, p]) => req(id, 'q', p))], { 'anthropic-version': '2023-06-01' });
    for (const [id, params, message] of refused) {
      const r = results.get(id);
      expect(r?.type, `${id}: ${JSON.stringify(r)}`).toBe('errored');
      expect(r.error.error.type).toBe('invalid_request_error');
      expect(r.error.error.message, id).toMatch(message);
      expectApiError(await raw(emu.url, 'POST', '/v1/messages', req('x', 'q', params).params), 400, 'invalid_request_error', message);
    }
    for (const [id] of taken) expect(results.get(id)?.type, `${id}: ${JSON.stringify(results.get(id)?.error ?? '')}`).toBe('succeeded');
  });
});

describe('prompt caching applies only at or above the model minimum', () => {
  const cached = (model: string, tokens: number) =>
    req(`c${tokens}`, 'q', { model, system: [{ type: 'text', text: 'S'.repeat(tokens * 4), cache_control: { type: 'ephemeral', ttl: '1h' } }] });

  it('a 600-token system prompt on Haiku 4.5 (minimum 4,096) is neither written nor read', async () => {
    const results = await runBatch([{ ...cached('claude-haiku-4-5', 600), custom_id: 'a' }, { ...cached('claude-haiku-4-5', 600), custom_id: 'b' }]);
    for (const r of results.values()) {
      expect(r.message.usage.cache_creation_input_tokens).toBe(0);
      expect(r.message.usage.cache_read_input_tokens).toBe(0);
      expect(r.message.usage.input_tokens).toBeGreaterThan(600);
    }
  });

  it('a 4,096-token system prompt on Haiku 4.5 is written once, then read', async () => {
    const results = await runBatch([{ ...cached('claude-haiku-4-5', 4096), custom_id: 'a' }, { ...cached('claude-haiku-4-5', 4096), custom_id: 'b' }]);
    const usages = [...results.values()].map((r) => r.message.usage);
    expect(usages.map((u) => u.cache_creation_input_tokens).sort()).toEqual([0, 4096]);
    expect(usages.map((u) => u.cache_read_input_tokens).sort()).toEqual([0, 4096]);
  });
});

describe('rate-limit headers on /v1/messages', () => {
  it('sends anthropic-ratelimit-* by default, counting down', async () => {
    // On a clock that stands still: the windows are whole minutes of the clock, and two calls on the
    // wall clock could fall on both sides of one's end (the count starts again).
    const local = await startEmulator({ now: () => Date.parse('2026-12-03T12:00:30Z') });
    try {
      const body = req('x', 'hello').params;
      const first = await raw(local.url, 'POST', '/v1/messages', body);
      const second = await raw(local.url, 'POST', '/v1/messages', body);
      for (const name of ['requests', 'input-tokens', 'output-tokens', 'tokens']) {
        expect(first.headers.get(`anthropic-ratelimit-${name}-limit`), name).toMatch(/^\d+$/);
        expect(first.headers.get(`anthropic-ratelimit-${name}-remaining`), name).toMatch(/^\d+$/);
        expect(Date.parse(first.headers.get(`anthropic-ratelimit-${name}-reset`) ?? '')).not.toBeNaN();
      }
      expect(Number(second.headers.get('anthropic-ratelimit-requests-remaining'))).toBe(Number(first.headers.get('anthropic-ratelimit-requests-remaining')) - 1);
    } finally {
      await local.close();
    }
  });
});

describe('GET /v1/models from the registry', () => {
  it('retrieve and list validate against the spec; an unknown id is a 404; a retired model says so', async () => {
    const haiku = await c.models.retrieve('claude-haiku-4-5-20251001');
    expectSpec('ModelInfo', haiku);
    expect(haiku).toMatchObject({ id: 'claude-haiku-4-5-20251001', max_input_tokens: 200_000, max_tokens: 64_000 });
    expect(haiku.capabilities?.structured_outputs.supported).toBe(true);
    expect((await c.models.retrieve('claude-sonnet-4-5')).lifecycle).toBe('retired'); // the emulator's clock: 2026-12-02
    const page = await c.models.list();
    expectSpec('ListResponse_ModelInfo_', { data: page.data, has_more: page.has_more, first_id: page.first_id, last_id: page.last_id });
    expect(page.data.map((m) => m.id)).toContain('claude-opus-5');
    await expect(c.models.retrieve('claude-haiku-45')).rejects.toBeInstanceOf(Anthropic.NotFoundError);
  });

  // helper-92 #7 [SPEC GET /v1/models (models_list): query `limit` an integer, 1 to 1,000, default 20; `before_id`, `after_id`
  // cursors; ListResponse_ModelInfo_ has_more, first_id, last_id]
  it('list pages by limit (default 20), after_id and before_id; a limit outside 1..1000 is a 400 as on the batches list', async () => {
    const all = (await raw(emu.url, 'GET', '/v1/models?limit=1000')).json;
    expect(all.has_more).toBe(false);
    const ids: string[] = all.data.map((m: { id: string }) => m.id);
    expect(ids.length).toBeGreaterThan(4);
    const first = (await raw(emu.url, 'GET', '/v1/models?limit=2')).json;
    expectSpec('ListResponse_ModelInfo_', first);
    expect(first).toMatchObject({ has_more: true, first_id: ids[0], last_id: ids[1] });
    expect(first.data.map((m: { id: string }) => m.id)).toEqual(ids.slice(0, 2));
    const second = (await raw(emu.url, 'GET', `/v1/models?limit=2&after_id=${first.last_id}`)).json;
    expect(second.data.map((m: { id: string }) => m.id)).toEqual(ids.slice(2, 4));
    const back = (await raw(emu.url, 'GET', `/v1/models?limit=2&before_id=${second.first_id}`)).json;
    expect(back.data.map((m: { id: string }) => m.id)).toEqual(ids.slice(0, 2));
    expect(back.has_more).toBe(false);
    const byDefault = (await raw(emu.url, 'GET', '/v1/models')).json;
    expect(byDefault.data).toHaveLength(Math.min(20, ids.length));
    expect(byDefault.has_more).toBe(ids.length > 20);
    // The SDK's auto-pagination walks every page.
    const walked: string[] = [];
    for await (const m of c.models.list({ limit: 3 })) walked.push(m.id);
    expect(walked).toEqual(ids);
    for (const limit of ['0', '1001', 'ten']) expectApiError(await raw(emu.url, 'GET', `/v1/models?limit=${limit}`), 400, 'invalid_request_error', /^limit: /);
    expectApiError(await raw(emu.url, 'GET', '/v1/models?after_id=claude-nope'), 400, 'invalid_request_error', /^after_id: /);
  });
});
