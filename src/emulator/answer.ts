/**
 * Answer generation: turns one request's params (and optionally a responder's result) into a full
 * `Message` object as the API returns it, with plausible `usage`. Pure and deterministic: the same
 * params, seed and key always give the same message, so re-downloading results is stable and the
 * default answers need not be stored (they are regenerated line by line while streaming).
 * Token estimate: ceil(chars / 4) of the prompt text (tools, system, messages) and of the answer.
 */
import { findModel } from '../core/models.ts';
import { ERROR_TYPES } from './api-error.ts';
import { generateFromSchema } from './schema-gen.ts';
import { forcedTool } from './validate.ts';
import { rngFor, pick, stableId, type Rng } from './random.ts';
import { documentTokensOf, type EmulatedDocument } from './documents.ts';

export type StopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

/** What a responder may return for one request (see `EmulatorOptions.responder`). */
export type ResponderResult =
  | string
  | { text: string; stop_reason?: StopReason }
  | { json: unknown; stop_reason?: StopReason }
  | { tool_input: unknown; stop_reason?: StopReason }
  | { refusal: true }
  | { error: { type: string; message: string } };

const STOP_REASONS: readonly string[] = ['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal', 'model_context_window_exceeded'] satisfies StopReason[];

/**
 * What a responder returned, as a `ResponderResult` the answer can be built from: one of another type (a bug in a
 * user's test, as a throw is) becomes an `api_error` that names it. Without this it went on the wire as given, in
 * shapes the API never answers: an error type not among [SPEC ErrorResponse.error]'s nine or without a message, a
 * `stop_reason` not among [SPEC Message.stop_reason]'s, a text block whose `text` is no string [SPEC
 * ResponseTextBlock]; and `42`, `{}` or `{ json: undefined }` threw while the results were streamed, which cut the
 * download half way (helper-101).
 */
export function checkedResponderResult(r: unknown): ResponderResult | undefined {
  const problem = responderProblem(r);
  if (problem === undefined) return r as ResponderResult | undefined;
  return { error: { type: 'api_error', message: `the emulator's responder returned ${problem}` } };
}

function responderProblem(r: unknown): string | undefined {
  if (r === undefined || typeof r === 'string') return undefined;
  if (!isObj(r)) return `${r === null ? 'null' : typeof r}, which is not a ResponderResult`;
  if ('error' in r) {
    const e = r['error'];
    if (!isObj(e) || typeof e['message'] !== 'string') return 'an error without a string message';
    if (!(ERROR_TYPES as readonly unknown[]).includes(e['type'])) return `an error of type ${JSON.stringify(e['type'])}, which is not one of the API's (${ERROR_TYPES.join(', ')})`;
    return undefined;
  }
  if ('refusal' in r) return r['refusal'] === true ? undefined : 'a refusal that is not `refusal: true`';
  const stop = r['stop_reason'];
  if (stop !== undefined && !STOP_REASONS.includes(stop as string)) return `stop_reason ${JSON.stringify(stop)}, which is not one of the API's (${STOP_REASONS.join(', ')})`;
  if ('tool_input' in r) return undefined;
  if ('json' in r) return typeof JSON.stringify(r['json']) === 'string' ? undefined : 'a json value that is not JSON (undefined, a function…)';
  if ('text' in r) return typeof r['text'] === 'string' ? undefined : `a text that is not a string (${typeof r['text']})`;
  return 'an object with none of text, json, tool_input, refusal or error';
}

/** The request a responder sees: `custom_id` is null on `POST /v1/messages`. */
export interface ResponderRequest {
  custom_id: string | null;
  params: Record<string, unknown>;
  /** The request's `document` and `image` blocks, with their bytes or text (file ids resolved). */
  documents?: EmulatedDocument[];
}

export type Responder = (
  request: ResponderRequest,
) => ResponderResult | undefined | Promise<ResponderResult | undefined>;

export interface ApiErrorBody {
  type: string;
  message: string;
}

export interface TextBlock {
  type: 'text';
  text: string;
  citations: null;
}
export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
  caller: { type: 'direct' };
}

/** A thinking block, first in the content when `thinking` is on [SPEC ResponseThinkingBlock]. */
export interface ThinkingBlock {
  type: 'thinking';
  thinking: string;
  signature: string;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number | null;
  cache_read_input_tokens: number | null;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number } | null;
  server_tool_use: { web_search_requests: number; web_fetch_requests: number } | null;
  service_tier: 'standard' | 'priority' | 'batch' | null;
  inference_geo: string | null;
  output_tokens_details: { thinking_tokens: number } | null;
  speed: 'standard' | 'fast' | null;
}

export interface Message {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: Array<ThinkingBlock | TextBlock | ToolUseBlock>;
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  stop_details: { type: 'refusal'; category: null; explanation: string | null } | null;
  container: null;
  diagnostics: null;
  usage: Usage;
}

/** Tokens for a text, by the emulator's estimator: ceil(chars / 4). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

type Ttl = '5m' | '1h';

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function ttlOf(cc: unknown): Ttl | undefined {
  if (!isObj(cc)) return undefined;
  return cc['ttl'] === '1h' ? '1h' : '5m';
}

function blockText(block: unknown): string {
  if (typeof block === 'string') return block;
  if (!isObj(block)) return '';
  // Documents and images are counted by pages and pixels (documents.ts), not by their base64.
  if (block['type'] === 'document' || block['type'] === 'image') return '';
  if (typeof block['text'] === 'string') return block['text'];
  const { cache_control: _cc, ...rest } = block;
  return JSON.stringify(rest);
}

interface Segment {
  chars: number;
  text: string;
  ttl: Ttl | undefined;
}

function segments(params: Record<string, unknown>): Segment[] {
  const out: Segment[] = [];
  const push = (text: string, cc: unknown) => out.push({ chars: text.length, text, ttl: ttlOf(cc) });
  const tools = params['tools'];
  if (Array.isArray(tools)) for (const t of tools) push(blockText(t), isObj(t) ? t['cache_control'] : undefined);
  const system = params['system'];
  if (typeof system === 'string') push(system, undefined);
  else if (Array.isArray(system)) for (const b of system) push(blockText(b), isObj(b) ? b['cache_control'] : undefined);
  const messages = params['messages'];
  if (Array.isArray(messages)) {
    for (const m of messages) {
      if (!isObj(m)) continue;
      const content = m['content'];
      if (typeof content === 'string') push(content, undefined);
      else if (Array.isArray(content)) for (const b of content) push(blockText(b), isObj(b) ? b['cache_control'] : undefined);
    }
  }
  return out;
}

/** The cache minimum of a model the registry does not know (the most common documented value). */
export const DEFAULT_MIN_CACHEABLE_TOKENS = 1024;

/** The prompt's token estimate and its cacheable prefix (up to the last `cache_control` marker). */
export interface PromptTokens {
  total: number;
  cachedPrefix: number;
  ttl: Ttl | undefined;
  /** A stable key for the cached prefix (for "first request with this prefix" bookkeeping). */
  prefixKey: string | undefined;
}

export function promptTokens(params: Record<string, unknown>): PromptTokens {
  const segs = segments(params);
  let totalChars = 0;
  for (const s of segs) totalChars += s.chars;
  let lastMarked = -1;
  for (let i = 0; i < segs.length; i++) if (segs[i]?.ttl !== undefined) lastMarked = i;
  let ttl: Ttl | undefined = lastMarked >= 0 ? segs[lastMarked]?.ttl : undefined;
  // Top-level `cache_control` applies to the last cacheable block: the whole prompt.
  const top = ttlOf(params['cache_control']);
  if (top !== undefined) {
    lastMarked = segs.length - 1;
    ttl = top;
  }
  const total = Math.max(1, Math.ceil(totalChars / 4));
  if (lastMarked < 0 || ttl === undefined) return { total, cachedPrefix: 0, ttl: undefined, prefixKey: undefined };
  let prefixChars = 0;
  const keyParts: string[] = [String(params['model'])];
  for (let i = 0; i <= lastMarked; i++) {
    const s = segs[i] as Segment;
    prefixChars += s.chars;
    keyParts.push(s.text);
  }
  const cachedPrefix = Math.min(total, Math.ceil(prefixChars / 4));
  // Below the model's minimum cacheable length the marker is silently ignored ("no error is
  // returned") [DOC §4.3; the minimums are in the model registry].
  const minimum = findModel(String(params['model']))?.minCacheableTokens ?? DEFAULT_MIN_CACHEABLE_TOKENS;
  if (cachedPrefix < minimum) return { total, cachedPrefix: 0, ttl: undefined, prefixKey: undefined };
  return { total, cachedPrefix, ttl, prefixKey: keyParts.join('\u0001') };
}

/** Input tokens as count_tokens reports them (the whole prompt, cache or not). */
export function countInputTokens(params: Record<string, unknown>): number {
  return promptTokens(params).total;
}

const VOCAB = [
  'the', 'record', 'shows', 'a', 'clear', 'pattern', 'of', 'steady', 'growth', 'and', 'the', 'main', 'point',
  'is', 'that', 'this', 'request', 'looks', 'routine', 'overall', 'with', 'no', 'urgent', 'issue', 'in', 'sight',
  'customer', 'reports', 'value', 'summary', 'suggests', 'likely', 'outcome', 'positive', 'neutral', 'detail',
];

function lastUserText(params: Record<string, unknown>): string {
  const messages = params['messages'];
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m: unknown = messages[i];
    if (!isObj(m)) continue;
    const c = m['content'];
    if (typeof c === 'string') return c;
    if (Array.isArray(c)) return c.map(blockText).join(' ');
  }
  return '';
}

/** A deterministic pseudo-sentence derived from the prompt. */
export function defaultText(params: Record<string, unknown>, seed: number): string {
  const prompt = lastUserText(params);
  const rng = rngFor(seed, 'text', prompt, String(params['model']));
  const echo = prompt.replace(/\s+/g, ' ').trim().split(' ').slice(0, 6).join(' ');
  const n = 12 + Math.floor(rng() * 16);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(pick(rng, VOCAB));
  const sentence = words.join(' ');
  const head = echo ? `Regarding "${echo}": ` : '';
  return `${head}${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}

function jsonSchemaFormat(params: Record<string, unknown>): unknown {
  const oc = params['output_config'];
  if (!isObj(oc)) return undefined;
  const fmt = oc['format'];
  if (!isObj(fmt) || fmt['type'] !== 'json_schema') return undefined;
  return fmt['schema'] ?? {};
}

/** How the cached prefix is billed for this request. */
export type CacheUse = 'creation' | 'read';

export interface BuildMessageInput {
  params: Record<string, unknown>;
  seed: number;
  /** Stable key parts for ids (e.g. batch id + custom_id); must differ per request. */
  key: string;
  /** An explicit message id (else derived from seed + key). */
  id?: string;
  serviceTier: 'standard' | 'batch';
  cacheUse: CacheUse;
  responderResult?: ResponderResult | undefined;
}

export type BuildResult = { ok: true; message: Message } | { ok: false; error: ApiErrorBody };

/** Builds the full `Message` for a request, or the error a responder asked for. */
export function buildMessage(input: BuildMessageInput): BuildResult {
  const { params, seed, key } = input;
  // The answer depends on the seed and the request's content only (not on ids the client chose, such
  // as a custom_id with a per-submission nonce): the same request gets the same answer in any batch
  // and on /v1/messages. Ids still come from `key`, which differs per request.
  const rng = rngFor(seed, 'answer', JSON.stringify(params));
  const tool = toolToCall(params, rng);
  const maxTokens = typeof params['max_tokens'] === 'number' ? params['max_tokens'] : Number.POSITIVE_INFINITY;
  const r = input.responderResult;
  const toolId = stableId('toolu', seed, key);

  let kind: 'text' | 'tool' = 'text';
  let text = '';
  let toolInput: unknown;
  let explicitStop: StopReason | undefined;
  let refusal = false;

  if (r !== undefined) {
    if (typeof r === 'string') text = r;
    else if ('error' in r) return { ok: false, error: { type: r.error.type, message: r.error.message } };
    else if ('refusal' in r) {
      refusal = true;
      text = "I'm not able to help with that request.";
      explicitStop = 'refusal';
    } else if ('tool_input' in r) {
      kind = 'tool';
      toolInput = r.tool_input;
      explicitStop = r.stop_reason;
    } else if ('json' in r) {
      text = JSON.stringify(r.json);
      explicitStop = r.stop_reason;
    } else {
      text = r.text;
      explicitStop = r.stop_reason;
    }
  } else if (tool) {
    kind = 'tool';
    toolInput = generateFromSchema(tool['input_schema'], rng);
  } else {
    const schema = jsonSchemaFormat(params);
    text = schema !== undefined ? JSON.stringify(generateFromSchema(schema, rng)) : defaultText(params, seed);
  }

  let content: Array<TextBlock | ToolUseBlock>;
  let stopReason: StopReason;
  let stopSequence: string | null = null;
  let outputTokens: number;
  if (kind === 'tool') {
    const name = tool ? String(tool['name']) : firstToolName(params);
    const inputObj = isObj(toolInput) ? toolInput : { value: toolInput };
    outputTokens = estimateTokens(JSON.stringify(inputObj)) + 8;
    if (explicitStop === undefined && outputTokens > maxTokens) {
      // Truncated mid tool input: the API reports max_tokens; the input is incomplete (here: empty).
      content = [{ type: 'tool_use', id: toolId, name, input: {}, caller: { type: 'direct' } }];
      stopReason = 'max_tokens';
      outputTokens = maxTokens;
    } else {
      content = [{ type: 'tool_use', id: toolId, name, input: inputObj, caller: { type: 'direct' } }];
      stopReason = explicitStop ?? 'tool_use';
    }
  } else {
    stopReason = explicitStop ?? 'end_turn';
    if (explicitStop === undefined) {
      const stops = params['stop_sequences'];
      if (Array.isArray(stops)) {
        let cut = -1;
        for (const s of stops) {
          if (typeof s !== 'string' || s === '') continue;
          const at = text.indexOf(s);
          if (at >= 0 && (cut < 0 || at < cut)) {
            cut = at;
            stopSequence = s;
          }
        }
        if (cut >= 0) {
          text = text.slice(0, cut);
          stopReason = 'stop_sequence';
        }
      }
      if (estimateTokens(text) > maxTokens) {
        text = text.slice(0, maxTokens * 4);
        stopReason = 'max_tokens';
        stopSequence = null;
      }
    }
    outputTokens = Math.max(1, estimateTokens(text));
    content = [{ type: 'text', text, citations: null }];
  }
  // `max_tokens: 0` (POST /v1/messages only) writes the prompt cache and generates nothing [SPEC
  // CreateMessageParams.max_tokens]: no block at all, text, tool use or thinking (our choice: an empty
  // text block is refused as input).
  const nothing = maxTokens === 0;
  if (nothing) {
    content = [];
    stopReason = 'max_tokens';
    outputTokens = 0;
  }

  // With thinking on, the answer starts with a thinking block; its tokens are output tokens too
  // ("output_tokens … includes thinking") [DOC §2.6; SPEC ResponseThinkingBlock, OutputTokensDetails].
  const thought = nothing ? undefined : thinkingBlock(params, seed, key);
  const thinkingTokens = thought ? Math.min(estimateTokens(thought.thinking), maxTokens) : 0;
  // `display: "omitted"`: "thinking content is redacted but a signature is returned for multi-turn continuity"
  // [SPEC ThinkingConfigEnabled.display, ThinkingConfigAdaptive.display] (helper-92 #5: the text was returned). The
  // thinking still happened, so its tokens are billed as above.
  const omitted = isObj(params['thinking']) && params['thinking']['display'] === 'omitted';
  const thinking = thought && omitted ? { ...thought, thinking: '' } : thought;
  outputTokens = Math.min(outputTokens + thinkingTokens, maxTokens);

  const prompt = promptTokens(params);
  const cached = prompt.cachedPrefix;
  const creation = cached > 0 && input.cacheUse === 'creation' ? cached : 0;
  const read = cached > 0 && input.cacheUse === 'read' ? cached : 0;
  const usage: Usage = {
    input_tokens: Math.max(0, prompt.total - cached) + documentTokensOf(params),
    output_tokens: outputTokens,
    cache_creation_input_tokens: creation,
    cache_read_input_tokens: read,
    cache_creation: {
      ephemeral_5m_input_tokens: prompt.ttl === '5m' ? creation : 0,
      ephemeral_1h_input_tokens: prompt.ttl === '1h' ? creation : 0,
    },
    server_tool_use: null,
    service_tier: input.serviceTier,
    inference_geo: typeof params['inference_geo'] === 'string' ? params['inference_geo'] : null,
    output_tokens_details: thinking ? { thinking_tokens: thinkingTokens } : null,
    speed: null,
  };
  return {
    ok: true,
    message: {
      id: input.id ?? stableId('msg', seed, key),
      type: 'message',
      role: 'assistant',
      model: String(params['model']),
      content: thinking ? [thinking, ...content] : content,
      stop_reason: stopReason,
      stop_sequence: stopSequence,
      stop_details: refusal ? { type: 'refusal', category: null, explanation: null } : null,
      container: null,
      diagnostics: null,
      usage,
    },
  };
}

/** The thinking block of a request with `thinking` enabled (or adaptive), deterministic like the rest. */
function thinkingBlock(params: Record<string, unknown>, seed: number, key: string): ThinkingBlock | undefined {
  const config = params['thinking'];
  if (!isObj(config) || (config['type'] !== 'enabled' && config['type'] !== 'adaptive')) return undefined;
  const echo = lastUserText(params).replace(/\s+/g, ' ').trim().split(' ').slice(0, 8).join(' ');
  return { type: 'thinking', thinking: `The request asks about "${echo}". I will answer briefly and directly.`, signature: stableId('sig', seed, key) };
}

/**
 * The tool an answer must call, if any: the one `tool_choice: {type: "tool", name}` forces, or with `tool_choice: {type:
 * "any"}` one of the custom tools, a seeded choice among them ("The model will use any available tools" [SPEC
 * ToolChoiceAny]; helper-92 #6: it was answered with text, `end_turn`). With only server tools, whose calls the emulator
 * does not make, the answer stays text (our choice).
 */
function toolToCall(params: Record<string, unknown>, rng: Rng): Record<string, unknown> | undefined {
  const forced = forcedTool(params);
  if (forced) return forced;
  const tc = params['tool_choice'];
  if (!isObj(tc) || tc['type'] !== 'any' || !Array.isArray(params['tools'])) return undefined;
  // [SPEC Tool: `type` 'custom', null or absent; `input_schema` required] The server tools have a dated `type`.
  const custom = params['tools'].filter(
    (t): t is Record<string, unknown> => isObj(t) && (t['type'] === undefined || t['type'] === null || t['type'] === 'custom') && isObj(t['input_schema']),
  );
  return custom.length > 0 ? pick(rng, custom) : undefined;
}

function firstToolName(params: Record<string, unknown>): string {
  const tools = params['tools'];
  if (Array.isArray(tools)) {
    const t: unknown = tools[0];
    if (isObj(t) && typeof t['name'] === 'string') return t['name'];
  }
  return 'tool';
}
