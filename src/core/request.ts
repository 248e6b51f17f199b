/**
 * Records → Message Batches requests, as plain functions. Every request of a job shares one
 * cacheable prefix: the system prompt is a single text block marked `cache_control` with a 1 h TTL
 * (batches often run longer than the 5 min default, per the batch guide). The answer schema is sent
 * as `output_config.format` after the SDK's own `transformJSONSchema` (it closes objects with
 * `additionalProperties: false` and moves constraints the API does not support, such as `minimum`,
 * into descriptions); answers are still validated client-side against the full schema.
 *
 * Requests are content-addressed: a request's key is a hash of the whole request, so the same record
 * under the same prompt, schema and model always gets the same key (a rerun recognises work already
 * paid for), and a changed prompt, schema or model makes a new one. Two identical records share one
 * request and both get its answer, so duplicate rows are paid once. The `custom_id` sent is the key
 * behind a short per-submission nonce (`<nonce>_<key>`), which lets a batch whose create outcome was
 * lost be recognised as ours.
 */
import { createHash, randomBytes } from 'node:crypto';
import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import { wellFormed, type Template } from './template.ts';

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
/** Length of the per-submission nonce in front of each `custom_id` (`<nonce>_<key>`). */
export const NONCE_CHARS = 6;
/** The longest request key: what a `custom_id` leaves after the nonce and its separator. */
export const MAX_KEY_CHARS = 64 - NONCE_CHARS - 1;
/** Length of a request key, a hash: 22 base64url characters = 132 bits. */
export const HASH_CHARS = 22;
/**
 * What a request's line in a batch body adds around its params, for a key with no `--id-field`
 * label: `{"custom_id":"<nonce>_<key>","params":` and `},`. Not input tokens: the estimates leave it out.
 */
export const LINE_WRAPPER_BYTES = Buffer.byteLength('{"custom_id":"_","params":},') + NONCE_CHARS + HASH_CHARS;
/** Room left for the `--id-field` label in front of the key (57 - 22 - 1 separator). */
const ID_PREFIX_CHARS = MAX_KEY_CHARS - HASH_CHARS - 1;

/** Pre-computes what is shared by all requests (the transformed schema, the system block). */
export function prepareSpec(spec: RequestSpec): (record: Record<string, unknown>) => RequestParams {
  const system = spec.system
    ? [{ type: 'text' as const, text: wellFormed(spec.system), cache_control: { type: 'ephemeral' as const, ttl: '1h' as const } }]
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
 * The serialized params of every request of a job share all but their `messages`: `head` is the
 * JSON before the messages array (model, max_tokens, system), `tail` the JSON after it
 * (output_config), so that `head + messages + tail` is the params JSON. The ledger keeps the shared
 * parts once per job and only the messages per request.
 */
export interface SpecParts {
  head: string;
  tail: string;
  /** Identifies these parts (a hash of both), for the ledger's `specs` table. */
  id: string;
  /** UTF-8 bytes of head and tail together. */
  bytes: number;
}

/** The shared parts of the serialized params, and a function that serializes one record's messages. */
export function compileSpec(spec: RequestSpec): { parts: SpecParts; messages: (record: Record<string, unknown>) => string } {
  const marker = '\u0000messages\u0000';
  const build = prepareSpec({ ...spec, prompt: { source: '', fields: [], required: [], render: () => marker } });
  const json = JSON.stringify(build({}));
  const at = json.indexOf(JSON.stringify([{ role: 'user', content: marker }]));
  const head = json.slice(0, at);
  const tail = json.slice(at + JSON.stringify([{ role: 'user', content: marker }]).length);
  const id = createHash('sha256').update(head).update('\u0000').update(tail).digest('base64url').slice(0, HASH_CHARS);
  return {
    parts: { head, tail, id, bytes: Buffer.byteLength(head) + Buffer.byteLength(tail) },
    messages: (record) => userMessages(spec.prompt.render(record)),
  };
}

/**
 * A request's `messages` for a rendered prompt, serialized: one user message. The same text as
 * `JSON.stringify([{ role: 'user', content: text }])`, without building the array and object per record.
 */
export function userMessages(text: string): string {
  return `[{"role":"user","content":${JSON.stringify(text)}}]`;
}

/**
 * The key of a request: a hash of the serialized params (`HASH_CHARS` characters). `params` is the
 * exact JSON that will be sent (given whole, or as the parts `head + messages + tail` it is made of),
 * so the key covers everything the API sees, and nothing else: the `--id-field` label shown in the
 * `custom_id` is not part of it, so changing that label never pays for a request again.
 */
export function requestKey(params: string | readonly string[]): string {
  const hasher = createHash('sha256');
  for (const part of typeof params === 'string' ? [params] : params) hasher.update(part);
  return hasher.digest('base64url').slice(0, HASH_CHARS);
}

/**
 * `requestKey([head, messages, tail])` for the requests of one job, which share `head` and `tail`:
 * the hash state after `head` is computed once and copied per request (the system prompt and model
 * are not hashed again for every record). The same keys as `requestKey`.
 */
export function requestKeyOf(head: string, tail: string): (messages: string) => string {
  const afterHead = createHash('sha256').update(head);
  return (messages) => afterHead.copy().update(messages).update(tail).digest('base64url').slice(0, HASH_CHARS);
}

/**
 * The readable label an `--id-field` value gives a request's `custom_id` (`<nonce>_<label>-<key>`):
 * runs of characters outside `[a-zA-Z0-9_-]` become `_`, cut to what a `custom_id` leaves.
 */
export function idLabel(idValue: unknown): string | undefined {
  if (idValue === undefined || idValue === null || idValue === '') return undefined;
  return String(idValue).replace(/[^a-zA-Z0-9_-]+/g, '_').slice(0, ID_PREFIX_CHARS) || undefined;
}

const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A fresh nonce for one submission (6 alphanumerics, about 36 bits). */
export function newNonce(): string {
  const bytes = randomBytes(NONCE_CHARS);
  let nonce = '';
  for (const byte of bytes) nonce += NONCE_ALPHABET[byte % NONCE_ALPHABET.length];
  return nonce;
}

/** One request of a batch body (and one line of `--dry-run`), from its already serialized params. */
export function requestLine(customId: string, params: string): string {
  return `${requestLineStart(customId)}${params}}`;
}

/** What comes before a request's params in its batch-body line (see `requestLine`); `}` follows them. */
export function requestLineStart(customId: string): string {
  return `{"custom_id":${JSON.stringify(customId)},"params":`;
}

/** A request key with its readable label in front, if it has one: `[<label>-]<key>`. */
export function labeledKey(key: string, label?: string | null): string {
  return label ? `${label}-${key}` : key;
}

/** The `custom_id` sent for a request key in a submission: `<nonce>_[<label>-]<key>`. */
export function customIdOf(nonce: string, key: string, label?: string | null): string {
  return `${nonce}_${labeledKey(key, label)}`;
}

/** The request key of a result's `custom_id`, if it carries this submission's nonce (its last `HASH_CHARS` characters). */
export function keyOf(nonce: string, customId: string): string | undefined {
  return customId.startsWith(`${nonce}_`) && customId.length >= nonce.length + 1 + HASH_CHARS ? customId.slice(-HASH_CHARS) : undefined;
}
