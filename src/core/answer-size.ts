/**
 * How long an answer typically is, for cost estimates before anything is sent (`--dry-run`,
 * `--max-cost`). Assuming every answer uses all of `max_tokens` overstates a job's cost by 10× or
 * more: a triage answer is a few dozen tokens under a `max_tokens` of 1,024. So:
 *
 * - a schema answer is sized by a skeleton of it: every property present, strings of
 *   `TYPICAL_STRING_CHARS`, arrays of two items, enums at their longest value;
 * - a free-text answer is taken to be about as long as the record's own text (a translation, a
 *   rewrite), and at least `MIN_FREE_TEXT_TOKENS` (a summary of a headline); about documents, a
 *   paragraph (`DOCUMENT_ANSWER_TOKENS`);
 *
 * both capped at `max_tokens`. A `--sample` run measures the real figure.
 */
import type { JSONSchema } from './request.ts';

/** A string field's typical length in an answer (a short phrase or a sentence). */
export const TYPICAL_STRING_CHARS = 60;
/** The shortest typical free-text answer. */
export const MIN_FREE_TEXT_TOKENS = 50;

/**
 * A typical free-text answer about documents (a summary, an extraction in prose): a paragraph or two,
 * whatever the documents weigh; a 10-page PDF is some 15,000 tokens, and an answer as long would be
 * every answer at max_tokens (helper-74: a cap the job fit three times over was refused).
 */
export const DOCUMENT_ANSWER_TOKENS = 300;

/**
 * Typical answer tokens, given the answer's JSON Schema (absent: free text), the record's own tokens,
 * and whether the job's requests carry documents (`documents`: a free-text answer is then sized as
 * one about them, `DOCUMENT_ANSWER_TOKENS`, not as long as they are).
 */
export function typicalAnswerTokens(options: { schema?: JSONSchema | undefined; messageTokens: number; maxTokens: number; charsPerToken: number; documents?: boolean | undefined }): number {
  const tokens = options.schema
    ? Math.ceil(JSON.stringify(skeleton(options.schema, options.schema, 0)).length / options.charsPerToken)
    : options.documents
      ? DOCUMENT_ANSWER_TOKENS
      : Math.max(MIN_FREE_TEXT_TOKENS, options.messageTokens); // not rounded: the estimates of a job's parts add up (core/expected-cost.ts)
  return Math.max(1, Math.min(tokens, options.maxTokens));
}

/** A value of the schema's shape with typical sizes (see the module comment). */
function skeleton(schema: unknown, root: JSONSchema, depth: number): unknown {
  if (typeof schema !== 'object' || schema === null || depth > 8) return null;
  const s = schema as Record<string, unknown>;
  if (typeof s['$ref'] === 'string') {
    const path = (s['$ref'] as string).replace(/^#\//, '').split('/');
    let target: unknown = root;
    for (const key of path) target = (target as Record<string, unknown> | undefined)?.[key];
    return skeleton(target, root, depth + 1);
  }
  if (Array.isArray(s['enum'])) return (s['enum'] as unknown[]).reduce<unknown>((a, b) => (JSON.stringify(b).length > JSON.stringify(a).length ? b : a), null);
  if ('const' in s) return s['const'];
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const options = s[key];
    if (Array.isArray(options)) {
      const shapes = options.map((o) => skeleton(o, root, depth + 1)).filter((v) => v !== null);
      return shapes[0] ?? null;
    }
  }
  const type = Array.isArray(s['type']) ? (s['type'] as unknown[]).find((t) => t !== 'null') : s['type'];
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries((s['properties'] as Record<string, unknown> | undefined) ?? {})) out[key] = skeleton(value, root, depth + 1);
      return out;
    }
    case 'array': {
      const item = skeleton(s['items'], root, depth + 1);
      return [item, item];
    }
    case 'string':
      return 'x'.repeat(TYPICAL_STRING_CHARS);
    case 'integer':
    case 'number':
      return 1234;
    case 'boolean':
      return false;
    default:
      return null;
  }
}
