/**
 * One batch result → the answer to merge, or the `_error` a record carries. Plain functions.
 *
 * A result is a success only when the message ended normally (`end_turn`, `stop_sequence`, or
 * `tool_use` for a forced tool) and its answer parses and validates. An answer cut off at
 * `max_tokens` is `truncated`, never passed off as a success, even when the cut happens to be
 * valid JSON; a `refusal` is its own error; the API error type of an `errored` result is read at
 * `result.error.error.type` (the error envelope nests it).
 */
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';

/**
 * A record as the enrich stages give it out: its fields, the answer's merged in (or under `into`),
 * and `_error` when it failed (what `RecordError` says), so `row._error?.type` reads as it should.
 */
export type EnrichedRecord = Record<string, unknown> & { _error?: RecordError };

/**
 * The answer's columns, as the enrich stage gives them on its first records (a property of this
 * symbol, not enumerable: no record shows it, JSON leaves it out): a CSV writer after the stage takes
 * them for its header when it is not given them (`WriteOptions.answerColumns`), whatever the first
 * record holds (helper-88: a first record that failed made a header without them, and every answer
 * after it was left out).
 */
export const ANSWER_COLUMNS: unique symbol = Symbol.for('batch-enrich.answerColumns');

/** The error a record carries in its `_error` field. */
export interface RecordError {
  type: string;
  message: string;
  /** The raw input text, for a line that could not be read as a record (`invalid_input`). */
  input?: string;
  /** How many times the request was submitted, when more than once. */
  attempts?: number;
}

/** What validates an answer: a zod schema, or anything with the same `safeParse`. */
export interface AnswerValidator {
  safeParse(value: unknown): { success: true; data: unknown } | { success: false; error: { issues: readonly Issue[] } };
}
interface Issue {
  path: readonly PropertyKey[];
  message: string;
}

export type Interpreted = { ok: true; answer: unknown } | { ok: false; error: RecordError };

export interface InterpretOptions {
  /** Validates JSON answers; absent: the answer is free text. */
  validator?: AnswerValidator | undefined;
}

export function interpretResult(result: MessageBatchResult, options: InterpretOptions): Interpreted {
  switch (result.type) {
    case 'errored': {
      const inner = result.error?.error;
      return fail(inner?.type ?? 'api_error', inner?.message ?? 'the request errored without a message');
    }
    case 'expired':
      return fail('expired', 'the batch reached its 24-hour expiry before this request was processed');
    case 'canceled':
      return fail('canceled', 'the batch was canceled before this request was processed');
    case 'succeeded':
      break;
    default:
      return fail('api_error', `unknown result type ${JSON.stringify((result as { type: unknown }).type)}`);
  }
  const message = result.message;
  const stop = message.stop_reason;
  if (stop === 'max_tokens' || stop === 'model_context_window_exceeded') {
    return fail('truncated', `the answer was cut off (stop_reason ${stop}) after ${message.usage.output_tokens} output tokens; raise max_tokens (--max-tokens; the library's maxTokens)`);
  }
  if (stop === 'refusal') return fail('refusal', 'the model declined to answer (stop_reason refusal)');
  if (stop === 'pause_turn') return fail('incomplete', 'the model paused its turn (stop_reason pause_turn)');

  const tool = message.content.find((block) => block.type === 'tool_use');
  const text = message.content
    .filter((block) => block.type === 'text')
    .map((block) => block.text)
    .join('');
  if (!options.validator) {
    return tool ? { ok: true, answer: tool.input } : { ok: true, answer: text };
  }
  let value: unknown;
  if (tool) {
    value = tool.input;
  } else {
    try {
      value = JSON.parse(text);
    } catch (error) {
      return fail('invalid_json', `the answer is not JSON (${(error as Error).message}): ${preview(text)}`);
    }
  }
  const parsed = options.validator.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.length ? issue.path.map(String).join('.') : '(root)'}: ${issue.message}`)
      .join('; ');
    return fail('schema_mismatch', `the answer does not match the schema: ${issues}`);
  }
  return { ok: true, answer: parsed.data };
}

/**
 * The enriched record: answer fields merged at the top level (an object answer), or under `into`
 * (default `answer` for a free-text or non-object answer). Never mutates the input record.
 */
export function mergeAnswer(record: Record<string, unknown>, answer: unknown, into: string | undefined): Record<string, unknown> {
  if (into === undefined && typeof answer === 'object' && answer !== null && !Array.isArray(answer)) {
    return merged(record, answer as Record<string, unknown>);
  }
  return withField(record, into ?? 'answer', answer);
}

/** The fields batch-enrich adds to records itself: an answer put there (`into`) would be lost, or read as a failure. */
export const RESERVED_FIELDS: readonly string[] = ['_error', '_meta'];
/** What `into` may be, in a usage error's words (`expected …`). */
export const RESERVED_FIELDS_RULE = 'a field other than _error and _meta (batch-enrich puts its own fields there)';

export function withError(record: Record<string, unknown>, error: RecordError): Record<string, unknown> {
  return withField(record, '_error', error);
}

/**
 * `{ ...a, ...b }`, made with `Object.assign` onto a fresh object: V8 (Node 20) makes a spread of two
 * objects, or properties added to a spread copy, ten to twenty times slower than this (about 5 µs a
 * record against 0.3, measured). Assigning to a fresh object defines the same own fields in the same
 * order, but for a field named `__proto__`, which it would take for the prototype: then the spread.
 */
export function merged<A extends object, B extends object>(a: A, b: B): A & B {
  return Object.hasOwn(a, '__proto__') || Object.hasOwn(b, '__proto__') ? { ...a, ...b } : Object.assign({}, a, b);
}

/** `{ ...record, [key]: value }`, as fast as `merged` (see there). */
export function withField(record: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  if (key === '__proto__' || Object.hasOwn(record, '__proto__')) return { ...record, [key]: value };
  const out = Object.assign({}, record);
  out[key] = value;
  return out;
}

function fail(type: string, message: string): Interpreted {
  return { ok: false, error: { type, message } };
}

function preview(text: string): string {
  const json = JSON.stringify(text);
  return json.length > 80 ? `${json.slice(0, 79)}…` : json;
}
