/**
 * Request validation, split the way the real API splits it.
 *
 * CREATE-TIME checks (the whole create fails with HTTP 400 `invalid_request_error`, or 413):
 *  - body size at most `maxBodyBytes` (256 MB; 413 `request_too_large`, checked in server.ts while reading);
 *  - body is JSON, envelope is exactly `{requests: [...]}` (unknown keys rejected, path named);
 *  - 1 to 100,000 requests;
 *  - each request is exactly `{custom_id, params}`; `custom_id` matches `^[a-zA-Z0-9_-]{1,64}$`;
 *    `custom_id`s are unique;
 *  - `params` is an object.
 *
 * PER-REQUEST checks (the create succeeds; that request's result is `errored` with
 * `invalid_request_error`, or `not_found_error` for an unknown model; on `POST /v1/messages` and
 * count_tokens they are a 400/404): everything inside `params`: first its structural shape here
 * (`model` string, `messages` array of `{role, content}`, `max_tokens` integer, only the known top-level
 * keys of the spec's `CreateMessageParams` plus the SDK's newer `diagnostics` and `speed`), then the
 * rules of params.ts. The docs: model-level validation "or bad params" happens per request (§3.2).
 *
 * Messages imitate the API's Pydantic style: `requests.3.custom_id: String should have at most 64 characters`.
 * Rejected alternative: validating params against the full OpenAPI schema (needs ajv at runtime and
 * would turn per-request problems into create-time failures, unlike the real API).
 */
import { z } from 'zod';

export const CUSTOM_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
export const MAX_REQUESTS = 100_000;
export const MAX_BODY_BYTES = 256 * 1024 * 1024;
export const VERSION_2023 = '2023-06-01';
export const VERSION_2026 = '2026-10-21';
export const SUPPORTED_VERSIONS: readonly string[] = [VERSION_2023, VERSION_2026];

const messageParam = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(z.unknown())]),
});

const opt = z.unknown().optional();

/** The structural shape of one request's `params` (known keys of `CreateMessageParams`). */
export const paramsSchema = z.strictObject({
  model: z.string().min(1),
  messages: z.array(messageParam),
  max_tokens: z.int(),
  cache_control: opt,
  container: opt,
  // SDK 1.14 `MessageCreateParamsBase.diagnostics` (DiagnosticsParam | null): newer than the OpenAPI doc,
  // which has it on BetaCreateMessageParams only; the SDK's plain surface sends it, so it is taken here.
  // Its value, and `container`'s, are checked in params.ts (`checkTopLevel`).
  diagnostics: opt,
  inference_geo: opt,
  metadata: opt,
  output_config: opt,
  service_tier: opt,
  stop_sequences: z.array(z.string()).optional(),
  stream: z.boolean().optional(),
  system: z.union([z.string(), z.array(z.unknown())]).optional(),
  temperature: opt,
  thinking: opt,
  tool_choice: opt,
  tools: z.array(z.unknown()).optional(),
  top_k: opt,
  top_p: opt,
  speed: opt,
});

export const countTokensSchema = z.strictObject({
  model: z.string().min(1),
  messages: z.array(messageParam),
  cache_control: opt,
  output_config: opt,
  system: z.union([z.string(), z.array(z.unknown())]).optional(),
  thinking: opt,
  tool_choice: opt,
  tools: z.array(z.unknown()).optional(),
  speed: opt,
});

const requestSchema = z.strictObject({
  custom_id: z
    .string()
    .min(1)
    .max(64)
    .regex(CUSTOM_ID_PATTERN),
  // Only "an object" at create time: what is inside is checked per request (validateMessageParams and
  // params.ts), so that one bad request errors alone, as the batch guide says.
  // (A plain check, not z.record: that would copy every params object of a 100,000-request body.)
  params: z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
    error: (issue) => (issue.input === undefined ? 'Field required' : 'Input should be a valid dictionary'),
  }),
});

const envelopeSchema = z.strictObject({
  requests: z.array(requestSchema),
});

/** One validated batch request. */
export interface BatchRequest {
  custom_id: string;
  params: Record<string, unknown>;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; message: string };

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Formats the first zod issue Pydantic-style, with the path joined by '.'. */
export function formatIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = issue.path.map(String);
  const where = (p: string[]) => (p.length > 0 ? `${p.join('.')}: ` : '');
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0] ?? '';
      return `${where([...path, key])}Extra inputs are not permitted`;
    }
    case 'invalid_type': {
      const got = valueAt(input, issue.path);
      if (got === undefined) return `${where(path)}Field required`;
      const expected = issue.expected === 'int' ? 'integer' : issue.expected;
      return `${where(path)}Input should be a valid ${expected === 'array' ? 'list' : expected}, got ${typeName(got)}`;
    }
    case 'too_big':
      if (issue.origin === 'string') return `${where(path)}String should have at most ${String(issue.maximum)} characters`;
      if (issue.origin === 'array') return `${where(path)}List should have at most ${String(issue.maximum)} items after validation`;
      return `${where(path)}Input should be less than or equal to ${String(issue.maximum)}`;
    case 'too_small':
      if (issue.origin === 'string') return `${where(path)}String should have at least ${String(issue.minimum)} character${issue.minimum === 1 ? '' : 's'}`;
      if (issue.origin === 'array') return `${where(path)}List should have at least ${String(issue.minimum)} item after validation`;
      return `${where(path)}Input should be greater than or equal to ${String(issue.minimum)}`;
    case 'invalid_format':
      // Pydantic writes the pattern bare: '^[a-zA-Z0-9_-]{1,64}$', not '/^…$/'.
      if (issue.format === 'regex' && 'pattern' in issue) return `${where(path)}String should match pattern '${String(issue.pattern).replace(/^\/(.*)\/[a-z]*$/, '$1')}'`;
      return `${where(path)}${issue.message}`;
    case 'invalid_union':
      return `${where(path)}Input does not match any allowed shape`;
    default:
      return `${where(path)}${issue.message}`;
  }
}

/** Create-time validation of a parsed `POST /v1/messages/batches` body. */
export function validateCreateBody(body: unknown, maxRequests = MAX_REQUESTS): Validated<BatchRequest[]> {
  // Count first, before validating every item: a 100,001-item body fails fast and names the count.
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const reqs = (body as Record<string, unknown>)['requests'];
    if (Array.isArray(reqs)) {
      if (reqs.length < 1) return { ok: false, message: 'requests: List should have at least 1 item after validation, not 0' };
      if (reqs.length > maxRequests)
        return { ok: false, message: `requests: List should have at most ${maxRequests} items after validation, not ${reqs.length}` };
    }
  } else {
    return { ok: false, message: `Input should be a valid dictionary, got ${typeName(body)}` };
  }
  const parsed = envelopeSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, message: issue ? formatIssue(issue, body) : 'Invalid request' };
  }
  const seen = new Map<string, number>();
  const requests = parsed.data.requests;
  for (let i = 0; i < requests.length; i++) {
    const id = (requests[i] as BatchRequest).custom_id;
    const first = seen.get(id);
    if (first !== undefined)
      return { ok: false, message: `requests.${i}.custom_id: Duplicate custom_id '${id}' (also used by requests.${first}); custom_id must be unique within a Message Batch` };
    seen.set(id, i);
  }
  // Hand back the caller's own objects (zod strips nothing here: strict schemas + unknown values).
  return { ok: true, value: (body as { requests: BatchRequest[] }).requests };
}

/** Structural validation of a `POST /v1/messages` body (same rules as one batch request's params). */
export function validateMessageParams(body: unknown): Validated<Record<string, unknown>> {
  const parsed = paramsSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, message: issue ? formatIssue(issue, body) : 'Invalid request' };
  }
  return { ok: true, value: body as Record<string, unknown> };
}

/** Structural validation of a `POST /v1/messages/count_tokens` body. */
export function validateCountTokensParams(body: unknown): Validated<Record<string, unknown>> {
  const parsed = countTokensSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, message: issue ? formatIssue(issue, body) : 'Invalid request' };
  }
  return { ok: true, value: body as Record<string, unknown> };
}

/** The tool forced by `tool_choice: {type:"tool", name}`, if any and if present in `tools`. */
export function forcedTool(params: Record<string, unknown>): Record<string, unknown> | undefined {
  const toolChoice = params['tool_choice'];
  if (!toolChoice || typeof toolChoice !== 'object') return undefined;
  const tc = toolChoice as Record<string, unknown>;
  if (tc['type'] !== 'tool') return undefined;
  const tools = params['tools'];
  if (!Array.isArray(tools)) return undefined;
  return tools.find(
    (t): t is Record<string, unknown> => t !== null && typeof t === 'object' && (t as Record<string, unknown>)['name'] === tc['name'],
  );
}
