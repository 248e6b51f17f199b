/**
 * Records → Message Batches requests, as plain functions. Every request of a job shares one
 * cacheable prefix: the system prompt is a single text block marked `cache_control` with a 1 h TTL
 * (batches often run longer than the 5 min default, per the batch guide). The answer schema is sent
 * as `output_config.format` after the SDK's own `transformJSONSchema` (it closes objects with
 * `additionalProperties: false` and moves constraints the API does not support, such as `minimum`,
 * into descriptions); answers are still validated client-side against the full schema.
 *
 * `custom_id`s are content addresses: a hash of the whole request, so the same record under the same
 * prompt, schema and model always gets the same id (a rerun recognises work already paid for), and a
 * changed prompt, schema or model makes a new one. Two identical records share one request and both
 * get its answer, so duplicate rows are paid once.
 */
import { createHash } from 'node:crypto';
import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import type { Template } from './template.ts';

export type JSONSchema = Record<string, unknown>;

/** What every request of a job is built from. */
export interface RequestSpec {
  model: string;
  maxTokens: number;
  prompt: Template;
  system?: string | undefined;
  /** JSON Schema of the answer, sent as `output_config.format`. Absent: a free-text answer. */
  answerSchema?: JSONSchema | undefined;
  /** A record field whose value is shown at the front of each `custom_id` (readable ids in the console). */
  idField?: string | undefined;
}

/** The `params` of one batch request (the Messages API body). */
export interface RequestParams {
  model: string;
  max_tokens: number;
  system?: { type: 'text'; text: string; cache_control: { type: 'ephemeral'; ttl: '1h' } }[];
  messages: { role: 'user'; content: string }[];
  output_config?: { format: { type: 'json_schema'; schema: JSONSchema } };
}

export const CUSTOM_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
/** Length of the request hash in a `custom_id`: 24 base64url characters = 144 bits. */
const HASH_CHARS = 24;
/** Room left for the `--id-field` value in front of the hash (64 - 24 - 1 separator). */
const ID_PREFIX_CHARS = 64 - HASH_CHARS - 1;

/** Pre-computes what is shared by all requests (the transformed schema, the system block). */
export function prepareSpec(spec: RequestSpec): (record: Record<string, unknown>) => RequestParams {
  const system = spec.system
    ? [{ type: 'text' as const, text: spec.system, cache_control: { type: 'ephemeral' as const, ttl: '1h' as const } }]
    : undefined;
  const format = spec.answerSchema
    ? { format: { type: 'json_schema' as const, schema: transformJSONSchema(spec.answerSchema) } }
    : undefined;
  return (record) => {
    return {
      model: spec.model,
      max_tokens: spec.maxTokens,
      ...(system ? { system } : {}),
      messages: [{ role: 'user', content: spec.prompt.render(record) }],
      ...(format ? { output_config: format } : {}),
    };
  };
}

/**
 * The `custom_id` of a request: `[<id field>-]<hash of the serialized params>`. `body` is the exact
 * JSON that will be sent, so the id covers everything the API sees.
 */
export function customIdFor(body: string, idValue?: unknown): string {
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, HASH_CHARS);
  if (idValue === undefined || idValue === null || idValue === '') return hash;
  const prefix = String(idValue).replace(/[^a-zA-Z0-9_-]+/g, '_').slice(0, ID_PREFIX_CHARS);
  return prefix ? `${prefix}-${hash}` : hash;
}
