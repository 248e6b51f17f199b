/**
 * Per-request validation of `params`, as the real API does it after the create has been accepted:
 * inside a batch, a problem here makes that request's result `errored` (the rest of the batch is
 * unaffected: "the failure of one request in a batch does not affect the processing of other
 * requests" [DOC batch guide]); on `POST /v1/messages` and `/v1/messages/count_tokens` the same
 * problem is an HTTP 400. Pure: params and context in, the first problem (or undefined) out.
 *
 * Each rule cites its source: [SPEC] the OpenAPI document (fixtures/spec/anthropic-openapi.json,
 * schema named), [SDK] @anthropic-ai/sdk 1.14 types, [DOC] docs/anthropic-batches-api.md (section),
 * [REG] the model registry (src/core/models.ts, which cites its own sources). Messages follow the
 * API's Pydantic style, `messages.0.content: …`, with the discriminator tag in the path for tagged
 * unions (`messages.0.content.1.image.source.base64.media_type`), as the API's validation errors do.
 * Where the API's exact wording is not documented, the wording here is our choice (README, emulator
 * section).
 */
import { findModel, HIGH_RES_IMAGES, isRetired, outputLimit, type ModelCapability, type ModelEntry, CAPABILITY_NAMES } from '../core/models.ts';
import { MAX_STRICT_TOOLS, newSchemaTally, structuredOutputProblem } from '../core/schema-limits.ts';
import { promptTokens } from './answer.ts';
import { checkDocuments } from './documents.ts';
import type { FileStore } from './files.ts';
import { BLOCKS, CITATION_FIELDS, SERVER_RESULT_CONTENT, SERVER_TOOLS, TEXT_CITATIONS, TOOL_RESULT_BLOCKS, TOOLSET_CONFIGS, type FieldType, type Shape } from './shapes.ts';
import { forcedTool, validateMessageParams, VERSION_2026 } from './validate.ts';

/** Where the params came from: a batch request, `POST /v1/messages`, or count_tokens (no max_tokens). */
export type ParamsContext = 'batch' | 'messages' | 'count_tokens';

export interface CheckContext {
  context: ParamsContext;
  /** The `anthropic-version` header of the call that carried the params. */
  version: string;
  /** The `anthropic-beta` values of that call. */
  betas: readonly string[];
  /** The emulator's clock (ms), for retirement dates. */
  now: number;
  /**
   * With an upstream (a local model server, say), a model the registry does not know is the upstream's
   * to judge: its limits are not checked here. _Default:_ false (unknown models are `not_found_error`).
   */
  upstreamModels?: boolean;
  /** The files `file` sources name (their pages count against the context window). */
  files?: FileStore | undefined;
  /**
   * Whether the call was made on the beta surface (`?beta=true`, as the SDK's `client.beta` sends it),
   * whose params are [SPEC BetaCreateMessageParams] rather than [SPEC CreateMessageParams]. Only
   * `output_config.task_budget` depends on it here. _Default:_ false.
   */
  beta?: boolean;
}

/** The error a request gets: its type and message. */
export interface ParamsProblem {
  type: 'invalid_request_error' | 'not_found_error';
  message: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Invalid extends Error {
  readonly type: ParamsProblem['type'];
  constructor(message: string, type: ParamsProblem['type'] = 'invalid_request_error') {
    super(message);
    this.type = type;
  }
}

function fail(path: string, message: string): never {
  throw new Invalid(path === '' ? message : `${path}: ${message}`);
}

/** Pydantic's wording for a value outside a literal set: `Input should be 'a', 'b' or 'c'`. */
function oneOfWords(values: readonly string[]): string {
  const quoted = values.map((v) => `'${v}'`);
  return quoted.length === 1 ? (quoted[0] as string) : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

function tagError(path: string, tag: unknown, tags: readonly string[]): never {
  if (tag === undefined) fail(path, `Unable to extract tag using discriminator 'type'`);
  fail(`${path}.type`, `Input tag '${String(tag)}' found using 'type' does not match any of the expected tags: ${tags.map((t) => `'${t}'`).join(', ')}`);
}

/**
 * The keys each object of a request may have [SPEC: every request schema is `additionalProperties:
 * false`; the lists are those schemas' `properties`, named after each]; any other is refused as the
 * API's validation refuses it: `path.key: Extra inputs are not permitted`.
 */
const KEYS = {
  InputMessage: ['content', 'role'],
  RequestTextBlock: ['cache_control', 'citations', 'text', 'type'],
  RequestImageBlock: ['cache_control', 'source', 'transformations', 'type'],
  RequestDocumentBlock: ['cache_control', 'citations', 'context', 'source', 'title', 'type'],
  RequestToolUseBlock: ['cache_control', 'caller', 'id', 'input', 'name', 'toolset_name', 'type'],
  RequestToolResultBlock: ['cache_control', 'content', 'is_error', 'tool_use_id', 'toolset_name', 'type'],
  // Base64ImageSource, Base64PDFSource, PlainTextSource; URLImageSource, URLPDFSource; FileImageSource, FileDocumentSource; ContentBlockSource.
  base64: ['data', 'media_type', 'type'],
  text: ['data', 'media_type', 'type'],
  url: ['type', 'url'],
  file: ['file_id', 'type'],
  content: ['content', 'type'],
  Tool: ['type', 'description', 'name', 'input_schema', 'cache_control', 'strict', 'eager_input_streaming', 'allowed_callers', 'defer_loading', 'input_examples'],
  // ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool, ToolChoiceNone.
  auto: ['disable_parallel_tool_use', 'type'],
  any: ['disable_parallel_tool_use', 'type'],
  tool: ['disable_parallel_tool_use', 'name', 'type'],
  none: ['type'],
  // ThinkingConfigEnabled, ThinkingConfigDisabled, ThinkingConfigAdaptive.
  enabled: ['budget_tokens', 'display', 'type'],
  disabled: ['type'],
  adaptive: ['display', 'type'],
  OutputConfig: ['effort', 'format'],
  // On the `?beta=true` surface (helper-79 #3: `task_budget` was taken on both).
  BetaOutputConfig: ['effort', 'format', 'task_budget'],
  BetaTokenTaskBudget: ['remaining', 'total', 'type'],
  JsonOutputFormat: ['schema', 'type'],
  CacheControlEphemeral: ['ttl', 'type'],
  Metadata: ['user_id'],
  RequestCitationsConfig: ['enabled'],
  RequestImageTransformations: ['oversized_image'],
  UserLocation: ['city', 'country', 'region', 'timezone', 'type'],
  ContainerParams: ['id', 'skills'],
  SkillParams: ['skill_id', 'type', 'version'],
  DiagnosticsParam: ['previous_message_id'],
} as const satisfies Record<string, readonly string[]>;

function onlyKeys(obj: Obj, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) fail(`${path}.${key}`, 'Extra inputs are not permitted');
}

/** An object of a shape the emulator checks by its keys (`./shapes.ts`): no other key, and its required ones there. */
function checkShape(obj: Obj, path: string, shape: Shape): void {
  onlyKeys(obj, path, shape.keys);
  for (const key of shape.required) if (obj[key] === undefined) fail(`${path}.${key}`, 'Field required');
}

/** An optional field of `obj` that must be an object (or null) with only `allowed` keys; the object, if any. */
function optionalObject(obj: Obj, key: string, path: string, allowed: readonly string[]): Obj | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!isObj(value)) fail(path, 'Input should be a valid dictionary');
  onlyKeys(value, path, allowed);
  return value;
}

/**
 * Whether a field's schema has a null branch (`anyOf [..., {type: "null"}]`): only then is `null` taken as
 * absent. Without one (a plain `type: "string"`, say), `null` is a value of the wrong type and refused
 * as such (helper-79 #2: `null` was taken as absent everywhere). The default is "not nullable".
 */
interface Nullable {
  nullable?: boolean;
}

/**
 * An optional string field of at least `min` and at most `max` characters (code points, as Pydantic counts them),
 * matching `pattern` if given (checked after the length, as Pydantic does).
 */
function optionalString(
  obj: Obj,
  key: string,
  path: string,
  { min = 0, max = Infinity, pattern, nullable = false }: { min?: number; max?: number; pattern?: RegExp } & Nullable = {},
): void {
  const value = obj[key];
  if (value === undefined || (value === null && nullable)) return;
  if (typeof value !== 'string') fail(path, 'Input should be a valid string');
  const length = value.length > max || value.length < min ? [...value].length : value.length;
  if (length < min) fail(path, `String should have at least ${min} character${min === 1 ? '' : 's'}`);
  if (length > max) fail(path, `String should have at most ${max} characters`);
  if (pattern && !pattern.test(value)) fail(path, `String should match pattern '${pattern.source}'`);
}

/** An optional field that must be one of `values`. */
function optionalEnum(obj: Obj, key: string, path: string, values: readonly string[], { nullable = false }: Nullable = {}): void {
  const value = obj[key];
  if (value === undefined || (value === null && nullable)) return;
  if (!values.includes(value as string)) fail(path, `Input should be ${oneOfWords(values)}`);
}

/** An optional integer field of at least `min` (or, with `above`, more than it). */
function optionalInteger(obj: Obj, key: string, path: string, { min, above = false, nullable = false }: { min: number; above?: boolean } & Nullable): void {
  const value = obj[key];
  if (value === undefined || (value === null && nullable)) return;
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(path, 'Input should be a valid integer');
  if (above && value <= min) fail(path, `Input should be greater than ${min}`);
  if (!above && value < min) fail(path, `Input should be greater than or equal to ${min}`);
}

/** An optional list of strings (or, with `nullable`, null). */
function optionalStringList(obj: Obj, key: string, path: string, { nullable = false }: Nullable = {}): void {
  const value = obj[key];
  if (value === undefined || (value === null && nullable)) return;
  if (!Array.isArray(value)) fail(path, 'Input should be a valid list');
  value.forEach((item, k) => {
    if (typeof item !== 'string') fail(`${path}.${k}`, 'Input should be a valid string');
  });
}

/** An optional boolean field. */
function optionalBoolean(obj: Obj, key: string, path: string, { nullable = false }: Nullable = {}): void {
  const value = obj[key];
  if (value === undefined || (value === null && nullable)) return;
  if (typeof value !== 'boolean') fail(path, 'Input should be a valid boolean');
}

/** A required field of the type `field` says (shapes.ts `FieldType`): `Field required` if absent. */
function requiredField(obj: Obj, key: string, path: string, field: FieldType): void {
  if (obj[key] === undefined) fail(path, 'Field required');
  const nullable = field.nullable === true;
  if (field.type === 'string') optionalString(obj, key, path, { min: field.minLength ?? 0, max: field.maxLength ?? Infinity, nullable });
  else optionalInteger(obj, key, path, { min: field.minimum ?? -Infinity, nullable });
}

/**
 * The first problem of a request's params, or undefined when the real API would accept them.
 * In a batch it runs the structural check of validate.ts first; `/v1/messages` and count_tokens run
 * theirs (with their own key sets) before calling this.
 */
export function checkParams(params: Obj, ctx: CheckContext): ParamsProblem | undefined {
  // In a batch, the structural shape is checked here, per request (the create only checked "an object").
  if (ctx.context === 'batch') {
    const shape = validateMessageParams(params);
    if (!shape.ok) return { type: 'invalid_request_error', message: shape.message };
  }
  try {
    check(params, ctx);
    return undefined;
  } catch (error) {
    if (error instanceof Invalid) return { type: error.type, message: error.message };
    throw error;
  }
}

function check(params: Obj, ctx: CheckContext): void {
  const model = resolveModel(params['model'], ctx);
  if (ctx.context !== 'count_tokens') checkMaxTokens(params, model, ctx);
  checkBatchOnly(params, ctx);
  checkNotNull(params, ctx);
  checkSampling(params, model, ctx);
  checkTopLevel(params);
  const thinking = checkThinking(params, ctx);
  const tools = checkTools(params);
  checkToolChoice(params, tools, thinking);
  checkSystem(params['system']);
  checkMessages(params['messages'], ctx, model);
  checkCacheControl(params);
  checkOutputConfig(params, model, ctx);
  checkContextWindow(params, model, ctx);
}

/**
 * Top-level fields that are not nullable [SPEC CreateMessageParams: `metadata`, `output_config`,
 * `thinking`, `tool_choice` are objects, `service_tier` an enum, `temperature`/`top_p` numbers and
 * `top_k` an integer, none with a null branch; the nullable ones (`cache_control`, `container`,
 * `inference_geo`) have one]: `null` is refused as a value of the wrong type (helper-61: taken for
 * absent, so `x ?? null` passed here). Under 2026-10-21 the sampling fields are refused whatever their
 * value (`checkSampling`).
 */
function checkNotNull(params: Obj, ctx: CheckContext): void {
  for (const key of ['metadata', 'output_config', 'thinking', 'tool_choice']) if (params[key] === null) fail(key, 'Input should be a valid dictionary');
  if (params['service_tier'] === null) fail('service_tier', `Input should be ${oneOfWords(['auto', 'standard_only'])}`);
  if (ctx.version === VERSION_2026) return;
  for (const key of ['temperature', 'top_p', 'top_k']) if (params[key] === null) fail(key, `Input should be a valid ${key === 'top_k' ? 'integer' : 'number'}`);
}

// --- model ------------------------------------------------------------------------------------------

/**
 * Unknown and retired models: 404 `not_found_error` [DOC §2.5: 404 `not_found_error` for a "bad path or resource id";
 * REG]. The message `model: ID` is ours, in the API's Pydantic path style (DOC §2.5 quotes no message for it).
 */
function resolveModel(id: unknown, ctx: CheckContext): ModelEntry {
  const entry = typeof id === 'string' ? findModel(id) : undefined;
  if (!entry && ctx.upstreamModels && typeof id === 'string') return upstreamModel(id);
  if (!entry || isRetired(entry, ctx.now)) throw new Invalid(`model: ${String(id)}`, 'not_found_error');
  return entry;
}

/** A model only the upstream knows: no limit of ours applies. */
export function upstreamModel(id: string): ModelEntry {
  const all = { batch: true, structuredOutputs: true, pdfInput: true, imageInput: true, citations: true };
  return { id, aliases: [], contextWindow: Infinity, maxOutput: Infinity, outputBetas: {}, minCacheableTokens: 0, capabilities: all, lifecycle: 'active', retiresAt: null, images: HIGH_RES_IMAGES };
}

function requireCapability(model: ModelEntry, capability: ModelCapability, path: string): void {
  if (!model.capabilities[capability]) fail(path, `${model.id} does not support ${CAPABILITY_NAMES[capability]}`);
}

// --- max_tokens, batch-only rules, sampling --------------------------------------------------------------

/**
 * `max_tokens` ≥ 0 on `POST /v1/messages` [SPEC CreateMessageParams.max_tokens minimum 0: "Set to `0`
 * to populate the prompt cache without generating a response"], ≥ 1 in batches [DOC §3.1 "max_tokens:
 * 0" is a validation error in batches]; at most the model's limit, raised by `output-300k-2026-03-24` for batch
 * requests only [DOC §3.4 "Extended output is available on the Message Batches API only"; REG]. The
 * message is the one observed on a real errored result [DOC §2.4].
 */
function checkMaxTokens(params: Obj, model: ModelEntry, ctx: CheckContext): void {
  const maxTokens = params['max_tokens'];
  if (typeof maxTokens !== 'number') return;
  const least = ctx.context === 'batch' ? 1 : 0;
  if (maxTokens < least) fail('max_tokens', `Input should be greater than or equal to ${least}`);
  const limit = outputLimit(model, ctx.context === 'batch' ? ctx.betas : []);
  if (maxTokens > limit) fail('max_tokens', `${maxTokens} > ${limit}, which is the maximum allowed number of output tokens for ${String(params['model'])}`);
}

/** `stream` and `speed` are refused in batches [DOC §3.1]; the emulator does not stream at all. */
function checkBatchOnly(params: Obj, ctx: CheckContext): void {
  if (params['stream'] === true)
    fail(
      'stream',
      ctx.context === 'batch'
        ? 'Streaming is not supported in Message Batches; batch results come back as a single file'
        : 'streaming (SSE) is not supported by the batch-enrich emulator',
    );
  if (ctx.context === 'batch' && params['speed'] !== undefined && params['speed'] !== null) fail('speed', 'Fast mode is not supported in Message Batches');
}

/**
 * `temperature`/`top_p`/`top_k` are removed under 2026-10-21 "even at their default values" [DOC §3.5].
 * Under 2023-06-01: [SPEC CreateMessageParams.temperature: number 0..1; top_p: number 0..1; top_k:
 * integer ≥ 0], and on the models released after Claude Opus 4.6 (`FIXED_SAMPLING`) [SPEC their
 * x-stainless-deprecation-message: temperature "A value of 1.0 … will be accepted …, all other values
 * will be rejected with a 400 error"; top_p "A value >= 0.99 will be accepted"; top_k "any value will
 * be rejected"; DOC §3.5 "With 2023-06-01, newer models (Opus 4.7+, Opus 5/5.5, Sonnet 5, Fable)
 * already reject non-default sampling params"]; with thinking on, on every model, only the default temperature,
 * no top_k and top_p from 0.95 to 1 (below). The wording is ours.
 */
function checkSampling(params: Obj, model: ModelEntry, ctx: CheckContext): void {
  if (ctx.version === VERSION_2026) {
    for (const key of ['temperature', 'top_p', 'top_k'])
      if (params[key] !== undefined) fail(key, `Extra inputs are not permitted (removed in anthropic-version ${VERSION_2026})`);
    return;
  }
  // With thinking on (enabled or adaptive), any model: "Thinking isn't compatible with temperature or top_k
  // modifications", and top_p may be set "between 1 and 0.95" [extended-thinking docs,
  // https://platform.claude.com/docs/en/build-with-claude/extended-thinking, "Feature compatibility"] (helper-92 #9:
  // taken). The wording is ours (UNCONFIRMED).
  const thinking = params['thinking'];
  const thinkingOn = isObj(thinking) && (thinking['type'] === 'enabled' || thinking['type'] === 'adaptive');
  for (const key of ['temperature', 'top_p', 'top_k'] as const) {
    const value = params[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || (key === 'top_k' && !Number.isInteger(value))) fail(key, `Input should be a valid ${key === 'top_k' ? 'integer' : 'number'}`);
    if (value < 0) fail(key, 'Input should be greater than or equal to 0');
    if (key !== 'top_k' && value > 1) fail(key, 'Input should be less than or equal to 1');
    if (thinkingOn) {
      if (key === 'temperature' && value !== 1) fail(key, 'temperature may only be set to 1 when thinking is enabled');
      if (key === 'top_p' && value < 0.95) fail(key, 'top_p must be between 0.95 and 1 when thinking is enabled');
      if (key === 'top_k') fail(key, 'top_k is not supported when thinking is enabled');
    }
    if (!FIXED_SAMPLING.test(model.id)) continue;
    if (key === 'temperature' && value !== 1) fail(key, `${model.id} does not support setting temperature (only 1.0 is accepted)`);
    if (key === 'top_p' && value < 0.99) fail(key, `${model.id} does not support setting top_p (only values of 0.99 or more are accepted)`);
    if (key === 'top_k') fail(key, `${model.id} does not accept top_k`);
  }
}
/**
 * The models DOC §3.5 names as taking only the default sampling under 2023-06-01: Opus 4.7 and later
 * (4.8, 5, 5.5), Sonnet 5, Fable. Whether Sonnet 5.5, Haiku 5.5 and Mythos do too ("released after
 * Claude Opus 4.6", the spec says, naming none) is UNCONFIRMED: they are left out, so the emulator
 * does not refuse what the API may take.
 */
const FIXED_SAMPLING = /^claude-(opus-4-[78]|opus-5(-5)?|sonnet-5|fable-5(-\d+)?)$/;

/**
 * Top-level fields the structural check takes as any value [SPEC CreateMessageParams]: `metadata`
 * (Metadata: `user_id` a string of at most 512 characters, or null), `service_tier` ('auto' |
 * 'standard_only'), `inference_geo` (a string, or null), `container` and `diagnostics` (below).
 */
function checkTopLevel(params: Obj): void {
  const metadata = optionalObject(params, 'metadata', 'metadata', KEYS.Metadata);
  if (metadata) optionalString(metadata, 'user_id', 'metadata.user_id', { max: 512, nullable: true });
  optionalEnum(params, 'service_tier', 'service_tier', ['auto', 'standard_only']);
  optionalString(params, 'inference_geo', 'inference_geo', { nullable: true });
  checkContainer(params['container']);
  // [SDK 1.14 MessageCreateParamsBase.diagnostics: DiagnosticsParam | null, on the plain surface too (the
  // OpenAPI document has it on BetaCreateMessageParams only, and the SDK is newer); SPEC BetaDiagnosticsParam,
  // titled DiagnosticsParam: previous_message_id a string of at most 256 characters or null,
  // additionalProperties false] (helper-79 #6: any value passed).
  const diagnostics = optionalObject(params, 'diagnostics', 'diagnostics', KEYS.DiagnosticsParam);
  if (diagnostics) optionalString(diagnostics, 'previous_message_id', 'diagnostics.previous_message_id', { max: 256, nullable: true });
}

/**
 * [SPEC CreateMessageParams.container: ContainerParams | string | null; ContainerParams: `id` a string or
 * null, `skills` a list of at most 20 SkillParams or null; SkillParams: `type` 'anthropic' | 'custom' and
 * `skill_id` (1 to 64 characters) required, `version` 1 to 64 characters; both additionalProperties
 * false] (helper-79 #6: any value passed). The wording for a value of neither type is ours.
 */
function checkContainer(container: unknown): void {
  if (container === undefined || container === null || typeof container === 'string') return;
  if (!isObj(container)) fail('container', 'Input should be a valid dictionary or string');
  onlyKeys(container, 'container', KEYS.ContainerParams);
  optionalString(container, 'id', 'container.id', { nullable: true });
  const skills = container['skills'];
  if (skills === undefined || skills === null) return;
  if (!Array.isArray(skills)) fail('container.skills', 'Input should be a valid list');
  if (skills.length > 20) fail('container.skills', `List should have at most 20 items after validation, not ${skills.length}`);
  skills.forEach((skill, k) => {
    const path = `container.skills.${k}`;
    if (!isObj(skill)) fail(path, 'Input should be a valid dictionary');
    onlyKeys(skill, path, KEYS.SkillParams);
    if (skill['type'] === undefined) fail(`${path}.type`, 'Field required');
    optionalEnum(skill, 'type', `${path}.type`, ['anthropic', 'custom']);
    if (skill['skill_id'] === undefined) fail(`${path}.skill_id`, 'Field required');
    optionalString(skill, 'skill_id', `${path}.skill_id`, { min: 1, max: 64 });
    optionalString(skill, 'version', `${path}.version`, { min: 1, max: 64 });
  });
}

// --- thinking -------------------------------------------------------------------------------------------

/**
 * [SPEC ThinkingConfigEnabled: budget_tokens integer, minimum 1024, "Must be ≥1024 and less than
 * `max_tokens`"; ThinkingConfigParam: enabled | disabled | adaptive]. Returns whether thinking is on.
 */
function checkThinking(params: Obj, ctx: CheckContext): boolean {
  const thinking = params['thinking'];
  if (thinking === undefined || thinking === null) return false;
  if (!isObj(thinking)) fail('thinking', 'Input should be a valid dictionary');
  const type = thinking['type'];
  if (type !== 'enabled' && type !== 'disabled' && type !== 'adaptive') tagError('thinking', type, ['enabled', 'disabled', 'adaptive']);
  onlyKeys(thinking, `thinking.${type}`, KEYS[type]);
  // [SPEC ThinkingConfigEnabled.display, ThinkingConfigAdaptive.display: ThinkingDisplayMode or null]
  optionalEnum(thinking, 'display', `thinking.${type}.display`, ['summarized', 'omitted'], { nullable: true });
  if (type === 'disabled') return false;
  if (type === 'adaptive') return true;
  const budget = thinking['budget_tokens'];
  if (budget === undefined) fail('thinking.enabled.budget_tokens', 'Field required');
  if (typeof budget !== 'number' || !Number.isInteger(budget)) fail('thinking.enabled.budget_tokens', 'Input should be a valid integer');
  if (budget < 1024) fail('thinking.enabled.budget_tokens', 'Input should be greater than or equal to 1024');
  const maxTokens = params['max_tokens'];
  if (ctx.context !== 'count_tokens' && typeof maxTokens === 'number' && maxTokens <= budget)
    fail('', '`max_tokens` must be greater than `thinking.budget_tokens`');
  return true;
}

// --- tools and tool_choice ---------------------------------------------------------------------------------

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;
/** The `type` tags a tool may have: `custom` (or none) and the server tools' [SPEC CreateMessageParams.tools.items]. */
const TOOL_TAGS = ['custom', ...Object.keys(SERVER_TOOLS)];
/** The `type` tags of the blocks a `tool_result` may hold [SPEC RequestToolResultBlock.content]. */
const TOOL_RESULT_TAGS = Object.keys(TOOL_RESULT_BLOCKS);

/**
 * Custom tools [SPEC Tool: name 1..128 of `^[a-zA-Z0-9_-]{1,128}$`, `input_schema` required with
 * `type: "object"`, `properties` an object and `required` a list of strings (InputSchema); `allowed_callers`,
 * `defer_loading`, `input_examples`, `eager_input_streaming` (below)]; names unique (UNCONFIRMED wording); strict tools' schemas meet the
 * structured-outputs limits, at most 20 strict tools [DOC §3.4]. Returns the custom tool names.
 */
function checkTools(params: Obj): Set<string> {
  const names = new Set<string>();
  const tools = params['tools'];
  if (!Array.isArray(tools)) return names;
  let strict = 0;
  const tally = newSchemaTally();
  tools.forEach((tool, i) => {
    const base = `tools.${i}`;
    if (!isObj(tool)) fail(base, 'Input should be a valid dictionary');
    const type = tool['type'];
    const server = typeof type === 'string' && Object.hasOwn(SERVER_TOOLS, type) ? SERVER_TOOLS[type] : undefined;
    if (server) {
      // Its keys, its required fields, its fixed name, then the values of its other fields.
      checkShape(tool, `${base}.${String(type)}`, server);
      if (server.name !== undefined && tool['name'] !== server.name) fail(`${base}.${String(type)}.name`, `Input should be '${server.name}'`);
      checkServerToolFields(tool, `${base}.${String(type)}`, type as string);
      return;
    }
    if (type !== undefined && type !== null && type !== 'custom') tagError(base, type, TOOL_TAGS);
    const path = `${base}.custom`;
    onlyKeys(tool, path, KEYS.Tool);
    // [SPEC Tool.strict: a boolean; Tool.description: a string; neither has a null branch]
    optionalBoolean(tool, 'strict', `${path}.strict`);
    optionalString(tool, 'description', `${path}.description`);
    // [SPEC Tool.allowed_callers: a list of AllowedCaller; Tool.defer_loading: a boolean, no null branch;
    // Tool.input_examples: a list of objects; Tool.eager_input_streaming: a boolean or null] (helper-92 #2: any value passed).
    checkAllowedCallers(tool, `${path}.allowed_callers`);
    optionalBoolean(tool, 'defer_loading', `${path}.defer_loading`);
    checkInputExamples(tool, `${path}.input_examples`);
    optionalBoolean(tool, 'eager_input_streaming', `${path}.eager_input_streaming`, { nullable: true });
    const name = tool['name'];
    if (name === undefined) fail(`${path}.name`, 'Field required');
    if (typeof name !== 'string') fail(`${path}.name`, 'Input should be a valid string');
    if (!TOOL_NAME.test(name)) fail(`${path}.name`, `String should match pattern '${TOOL_NAME.source}'`);
    if (names.has(name)) fail('tools', `Tool names must be unique (duplicate: '${name}')`);
    names.add(name);
    const schema = tool['input_schema'];
    if (schema === undefined) fail(`${path}.input_schema`, 'Field required');
    if (!isObj(schema)) fail(`${path}.input_schema`, 'Input should be a valid dictionary');
    if (schema['type'] !== 'object') fail(`${path}.input_schema.type`, "Input should be 'object'");
    // [SPEC InputSchema: `properties` an object or null (`anyOf [{type: object}, {type: null}]`); `required`
    // a list of strings or null] (helper-79 #1: only `type` was checked). Its other keywords are open.
    const properties = schema['properties'];
    if (properties !== undefined && properties !== null && !isObj(properties)) fail(`${path}.input_schema.properties`, 'Input should be a valid dictionary');
    const required = schema['required'];
    if (required !== undefined && required !== null) {
      if (!Array.isArray(required)) fail(`${path}.input_schema.required`, 'Input should be a valid list');
      required.forEach((item, k) => {
        if (typeof item !== 'string') fail(`${path}.input_schema.required.${k}`, 'Input should be a valid string');
      });
    }
    if (tool['strict'] === true) {
      if (++strict > MAX_STRICT_TOOLS) fail('tools', `Too many strict tools (${strict}); the limit is ${MAX_STRICT_TOOLS}`);
      const problem = structuredOutputProblem(schema, tally);
      if (problem) fail([`${path}.input_schema`, problem.path].filter(Boolean).join('.'), problem.message);
    }
  });
  return names;
}

/** [SPEC AllowedCaller] */
const ALLOWED_CALLERS = ['direct', 'code_execution_20250825', 'code_execution_20260120', 'code_execution_20260521'] as const;

/** A tool's `allowed_callers`, if given: a list of AllowedCaller, no null branch [SPEC Tool and the server tools' `allowed_callers`]. */
function checkAllowedCallers(tool: Obj, path: string): void {
  const callers = tool['allowed_callers'];
  if (callers === undefined) return;
  if (!Array.isArray(callers)) fail(path, 'Input should be a valid list');
  callers.forEach((caller, k) => {
    if (!(ALLOWED_CALLERS as readonly unknown[]).includes(caller)) fail(`${path}.${k}`, `Input should be ${oneOfWords(ALLOWED_CALLERS)}`);
  });
}

/** A tool's `input_examples`, if given: a list of objects, no null branch [SPEC Tool and the server tools' `input_examples`]. */
function checkInputExamples(tool: Obj, path: string): void {
  const examples = tool['input_examples'];
  if (examples === undefined) return;
  if (!Array.isArray(examples)) fail(path, 'Input should be a valid list');
  examples.forEach((example, k) => {
    if (!isObj(example)) fail(`${path}.${k}`, 'Input should be a valid dictionary');
  });
}

/**
 * The fields of a server tool besides `type` and `name` (its keys are checked before), by their name:
 * each has one schema in every server tool that has it (shapes.ts `SERVER_TOOL_FIELDS`; helper-79 #5:
 * their values were not checked). [SPEC WebSearchTool_20250305 … WebFetchTool_20260318, BashTool_20250124,
 * TextEditor_20250728, BrowserToolset_20260801, ComputerToolset_20260801 …]:
 * - `allowed_callers`: a list of AllowedCaller;
 * - `allowed_domains`, `blocked_domains`: a list of strings, or null;
 * - `citations`: RequestCitationsConfig (`enabled` a boolean), or null;
 * - `configs`: the toolset's BrowserToolsetConfigs / ComputerToolsetConfigs, or null;
 * - `defer_loading`, `strict`, `use_cache`: a boolean;
 * - `input_examples`: a list of objects;
 * - `max_characters`: an integer, minimum 1, or null; `max_content_tokens`, `max_uses`: an integer,
 *   exclusiveMinimum 0, or null;
 * - `response_inclusion`: 'full' | 'excluded';
 * - `user_location`: UserLocation (type 'approximate'; city, region, timezone 1 to 255 characters, country
 *   exactly 2, each or null), or null.
 * `cache_control` is checked with the others' (`checkCacheControl`).
 */
function checkServerToolFields(tool: Obj, path: string, type: string): void {
  checkAllowedCallers(tool, `${path}.allowed_callers`);
  optionalStringList(tool, 'allowed_domains', `${path}.allowed_domains`, { nullable: true });
  optionalStringList(tool, 'blocked_domains', `${path}.blocked_domains`, { nullable: true });
  const citations = optionalObject(tool, 'citations', `${path}.citations`, KEYS.RequestCitationsConfig);
  if (citations) optionalBoolean(citations, 'enabled', `${path}.citations.enabled`);
  const toolset = TOOLSET_CONFIGS[type];
  const configs = toolset ? optionalObject(tool, 'configs', `${path}.configs`, toolset.members) : undefined;
  if (configs)
    for (const member of Object.keys(configs)) {
      const config = optionalObject(configs, member, `${path}.configs.${member}`, ['defer_loading', 'enabled']);
      if (!config) continue;
      optionalBoolean(config, 'defer_loading', `${path}.configs.${member}.defer_loading`, { nullable: true });
      optionalBoolean(config, 'enabled', `${path}.configs.${member}.enabled`, { nullable: true });
    }
  for (const key of ['defer_loading', 'strict', 'use_cache']) optionalBoolean(tool, key, `${path}.${key}`);
  checkInputExamples(tool, `${path}.input_examples`);
  optionalInteger(tool, 'max_characters', `${path}.max_characters`, { min: 1, nullable: true });
  optionalInteger(tool, 'max_content_tokens', `${path}.max_content_tokens`, { min: 0, above: true, nullable: true });
  optionalInteger(tool, 'max_uses', `${path}.max_uses`, { min: 0, above: true, nullable: true });
  optionalEnum(tool, 'response_inclusion', `${path}.response_inclusion`, ['full', 'excluded']);
  const location = optionalObject(tool, 'user_location', `${path}.user_location`, KEYS.UserLocation);
  if (location) {
    if (location['type'] === undefined) fail(`${path}.user_location.type`, 'Field required');
    if (location['type'] !== 'approximate') fail(`${path}.user_location.type`, "Input should be 'approximate'");
    for (const key of ['city', 'region', 'timezone']) optionalString(location, key, `${path}.user_location.${key}`, { min: 1, max: 255, nullable: true });
    optionalString(location, 'country', `${path}.user_location.country`, { min: 2, max: 2, nullable: true });
  }
}

/**
 * [SPEC ToolChoice: auto | any | tool (name required) | none]; a forced tool must exist; forcing a
 * tool with thinking on is refused ("Thinking may not be enabled when tool_choice forces tool use",
 * extended-thinking docs).
 */
function checkToolChoice(params: Obj, names: Set<string>, thinking: boolean): void {
  const tc = params['tool_choice'];
  if (tc === undefined || tc === null) return;
  if (!isObj(tc)) fail('tool_choice', 'Input should be a valid dictionary');
  const type = tc['type'];
  if (type !== 'auto' && type !== 'any' && type !== 'tool' && type !== 'none') tagError('tool_choice', type, ['auto', 'any', 'tool', 'none']);
  onlyKeys(tc, `tool_choice.${type}`, KEYS[type]);
  // [SPEC ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool: disable_parallel_tool_use a boolean, not nullable]
  optionalBoolean(tc, 'disable_parallel_tool_use', `tool_choice.${type}.disable_parallel_tool_use`);
  if (type === 'tool') {
    if (typeof tc['name'] !== 'string') fail('tool_choice.tool.name', 'Field required');
    if (!forcedTool(params)) fail('tool_choice.name', `Tool '${tc['name']}' not found in tools`);
  }
  if ((type === 'any' || type === 'tool') && names.size === 0 && !Array.isArray(params['tools']))
    fail('tool_choice', 'tool_choice may only be specified while providing tools');
  if (thinking && (type === 'any' || type === 'tool')) fail('', 'Thinking may not be enabled when tool_choice forces tool use.');
}

// --- system and messages -------------------------------------------------------------------------------------

/** [SPEC CreateMessageParams.system: string | TextBlockParam[]]; text blocks must be non-empty. */
function checkSystem(system: unknown): void {
  if (!Array.isArray(system)) return;
  system.forEach((block, i) => {
    if (!isObj(block)) fail(`system.${i}`, 'Input should be a valid dictionary');
    if (block['type'] !== 'text') tagError(`system.${i}`, block['type'], ['text']);
    onlyKeys(block, `system.${i}`, KEYS.RequestTextBlock);
    checkCitations(block, `system.${i}`);
    checkText(block, `system.${i}`);
  });
}

/**
 * A text block's `citations` [SPEC RequestTextBlock.citations: a list or null; its items a closed `oneOf` of
 * RequestCharLocationCitation, RequestPageLocationCitation, RequestContentBlockLocationCitation,
 * RequestWebSearchResultLocationCitation, RequestSearchResultLocationCitation by `type`, each additionalProperties
 * false, its fields required and typed as shapes.ts `CITATION_FIELDS` copies them] (helper-92 #3: only "a list" was
 * checked, so a response citation sent back with its `file_id`, or a made-up one, passed). `path` is the block's,
 * with its tag where the block is a member of a union. Every request text block is a RequestTextBlock: in messages,
 * `system`, a `tool_result`'s content, a `search_result`'s and a `content` document source's.
 */
function checkCitations(block: Obj, path: string): void {
  const citations = block['citations'];
  if (citations === undefined || citations === null) return;
  if (!Array.isArray(citations)) fail(`${path}.citations`, 'Input should be a valid list');
  const tags = Object.keys(TEXT_CITATIONS);
  citations.forEach((citation, k) => {
    const at = `${path}.citations.${k}`;
    if (!isObj(citation)) fail(at, 'Input should be a valid dictionary');
    const type = citation['type'];
    if (typeof type !== 'string' || !Object.hasOwn(TEXT_CITATIONS, type)) tagError(at, type, tags);
    onlyKeys(citation, `${at}.${type}`, (TEXT_CITATIONS[type] as Shape).keys);
    for (const [key, field] of Object.entries(CITATION_FIELDS[type] ?? {})) requiredField(citation, key, `${at}.${type}.${key}`, field);
  });
}

/** Text blocks: `text` required and non-empty, with some non-whitespace [SPEC RequestTextBlock; API wording]. */
function checkText(block: Obj, path: string): void {
  const text = block['text'];
  if (typeof text !== 'string') fail(`${path}.text`, text === undefined ? 'Field required' : 'Input should be a valid string');
  if (text === '') fail(`${path}.text`, 'text content blocks must be non-empty');
  if (text.trim() === '') fail(`${path}.text`, 'text content blocks must contain non-whitespace text');
}

const BLOCK_TYPES = [
  'text', 'image', 'document', 'search_result', 'thinking', 'redacted_thinking', 'tool_use', 'tool_result', 'server_tool_use',
  'web_search_tool_result', 'web_fetch_tool_result', 'code_execution_tool_result', 'bash_code_execution_tool_result',
  'text_editor_code_execution_tool_result', 'tool_search_tool_result', 'container_upload',
] as const;
/** [SPEC RequestToolUseBlock.toolset_name, RequestToolResultBlock.toolset_name: `anyOf [{type: string, minLength 1, maxLength 64, pattern}, {type: null}]`] */
const TOOLSET_NAME = { min: 1, max: 64, pattern: /^[a-zA-Z0-9_-]+$/, nullable: true } as const;
/** The most messages a request may have (`checkMessages`). */
const MAX_MESSAGES = 100_000;
const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;
/** The first bytes of each image type, base64-encoded: how the API notices a mislabelled image. */
const IMAGE_MAGIC: ReadonlyArray<[string, string]> = [
  ['image/png', 'iVBORw0KGgo'],
  ['image/jpeg', '/9j/'],
  ['image/gif', 'R0lGOD'],
  ['image/webp', 'UklGR'],
];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * [SPEC InputMessage: role 'user' | 'assistant' | 'system' (the SDK 1.x `MessageParam` union has the
 * `system` role too [DOC §3.5]; the OpenAPI document allows it whatever the version, and wins); content
 * string or blocks]. Content must be non-empty except for a final assistant
 * message, which must not end in whitespace (API wording). `tool_use` ids of an assistant turn need
 * `tool_result`s in the next message, and every `tool_result` answers a `tool_use` of the previous
 * message (tool-use docs; wording as the API's). Block shapes per [SPEC RequestImageBlock,
 * RequestDocumentBlock, Base64ImageSource, Base64PDFSource, PlainTextSource, URLImageSource].
 */
function checkMessages(messages: unknown, ctx: CheckContext, model: ModelEntry): void {
  if (!Array.isArray(messages)) return;
  if (messages.length === 0) fail('messages', 'at least one message is required');
  // [SPEC CreateMessageParams.messages, CountMessageTokensParams.messages: "There is a limit of 100,000
  // messages in a single request."] (helper-79 #9). A limit in words, not a maxItems: the wording is
  // Pydantic's for one (UNCONFIRMED).
  if (messages.length > MAX_MESSAGES) fail('messages', `List should have at most ${MAX_MESSAGES} items after validation, not ${messages.length}`);
  const roles = ['user', 'assistant', 'system'] as const;
  let pendingToolUses: string[] = [];
  let pendingFrom = -1;
  messages.forEach((message, i) => {
    const path = `messages.${i}`;
    if (!isObj(message)) fail(path, 'Input should be a valid dictionary');
    onlyKeys(message, path, KEYS.InputMessage);
    const role = message['role'];
    if (!(roles as readonly unknown[]).includes(role)) fail(`${path}.role`, `Input should be ${oneOfWords(roles)}`);
    const content = message['content'];
    const last = i === messages.length - 1;
    const blocks: unknown[] = typeof content === 'string' ? [] : Array.isArray(content) ? content : [];
    const empty = typeof content === 'string' ? content.trim() === '' : blocks.length === 0;
    if (empty && !(last && role === 'assistant'))
      fail(path, 'all messages must have non-empty content except for the optional final assistant message');
    if (last && role === 'assistant' && typeof content === 'string' && content !== '' && /\s$/.test(content))
      fail('', 'final assistant content cannot end with trailing whitespace');

    const toolUses: string[] = [];
    const toolResults: string[] = [];
    blocks.forEach((block, j) => {
      const bpath = `${path}.content.${j}`;
      if (!isObj(block)) fail(bpath, 'Input should be a valid dictionary');
      const type = block['type'];
      if (!(BLOCK_TYPES as readonly unknown[]).includes(type)) tagError(bpath, type, BLOCK_TYPES);
      switch (type) {
        case 'text': {
          onlyKeys(block, `${bpath}.text`, KEYS.RequestTextBlock);
          // [SPEC RequestTextBlock.citations: a list of citation locations, or null] Under 2026-10-21,
          // non-empty citations on a user message's text block are refused [DOC §3.5] (wording ours).
          checkCitations(block, `${bpath}.text`);
          const citations = block['citations'];
          if (Array.isArray(citations) && citations.length > 0 && role === 'user' && ctx.version === VERSION_2026)
            fail(`${bpath}.text.citations`, 'citations are not allowed on text blocks in user messages');
          checkText(block, bpath);
          break;
        }
        case 'image':
          requireCapability(model, 'imageInput', bpath);
          checkImage(block, `${bpath}.image`);
          break;
        case 'document':
          if (role === 'assistant' && ctx.version === VERSION_2026) fail(bpath, 'document blocks are not allowed in assistant messages');
          checkDocument(block, `${bpath}.document`, model);
          break;
        case 'tool_use': {
          if (role !== 'assistant') fail(bpath, '`tool_use` blocks can only be in `assistant` messages');
          onlyKeys(block, `${bpath}.tool_use`, KEYS.RequestToolUseBlock);
          const id = block['id'];
          if (typeof id !== 'string' || !/^[a-zA-Z0-9_-]+$/.test(id)) fail(`${bpath}.tool_use.id`, "String should match pattern '^[a-zA-Z0-9_-]+$'");
          // [SPEC RequestToolUseBlock.name: a string of 1 to 200 characters] (helper-79 #8: any string passed).
          if (block['name'] === undefined) fail(`${bpath}.tool_use.name`, 'Field required');
          optionalString(block, 'name', `${bpath}.tool_use.name`, { min: 1, max: 200 });
          if (!isObj(block['input'])) fail(`${bpath}.tool_use.input`, 'Input should be a valid dictionary');
          checkCaller(block, `${bpath}.tool_use`);
          // [SPEC RequestToolUseBlock.toolset_name: a string of 1 to 64 characters matching ^[a-zA-Z0-9_-]+$, or null] (helper-92 #1).
          optionalString(block, 'toolset_name', `${bpath}.tool_use.toolset_name`, TOOLSET_NAME);
          toolUses.push(id);
          break;
        }
        case 'tool_result': {
          if (role !== 'user') fail(bpath, '`tool_result` blocks can only be in `user` messages');
          onlyKeys(block, `${bpath}.tool_result`, KEYS.RequestToolResultBlock);
          const id = block['tool_use_id'];
          if (typeof id !== 'string') fail(`${bpath}.tool_result.tool_use_id`, 'Field required');
          // [SPEC RequestToolResultBlock.is_error: a boolean, not nullable]
          optionalBoolean(block, 'is_error', `${bpath}.tool_result.is_error`);
          // [SPEC RequestToolResultBlock.toolset_name: as RequestToolUseBlock's] (helper-92 #1).
          optionalString(block, 'toolset_name', `${bpath}.tool_result.toolset_name`, TOOLSET_NAME);
          checkToolResultContent(block['content'], `${bpath}.tool_result.content`, model);
          toolResults.push(id);
          if (!pendingToolUses.includes(id))
            fail(
              bpath,
              `unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
            );
          break;
        }
        default:
          // The other blocks (thinking, search results, server tool blocks…): by their keys [SPEC InputContentBlock],
          // and the fields of some.
          checkShape(block, `${bpath}.${String(type)}`, BLOCKS[type as string] as Shape);
          checkBlockFields(block, `${bpath}.${String(type)}`, type as string);
          break;
      }
    });
    if (pendingToolUses.length > 0) {
      const missing = pendingToolUses.filter((id) => !toolResults.includes(id));
      if (missing.length > 0)
        fail(
          `messages.${pendingFrom}`,
          `\`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
        );
    }
    pendingToolUses = toolUses;
    pendingFrom = i;
  });
}

/**
 * A `tool_result`'s content: a string, or a list of the blocks it may hold [SPEC
 * RequestToolResultBlock.content: text, image, search_result, document, tool_reference, browser_state],
 * text, images and documents checked as in a message, the others by their keys; the `cache_control` of
 * each [SPEC: each of those blocks' `cache_control` is CacheControlEphemeral or null].
 */
function checkToolResultContent(content: unknown, path: string, model: ModelEntry): void {
  if (content === undefined || typeof content === 'string') return;
  if (!Array.isArray(content)) fail(path, 'Input should be a valid list');
  content.forEach((block, k) => {
    const at = `${path}.${k}`;
    if (!isObj(block)) fail(at, 'Input should be a valid dictionary');
    const type = block['type'];
    if (typeof type !== 'string' || !TOOL_RESULT_TAGS.includes(type)) tagError(at, type, TOOL_RESULT_TAGS);
    // Checked, not counted among the breakpoints (helper-79 #4: not checked at all; whether they count, the spec does not say).
    cacheControlTtl(block, `${at}.${type}`);
    if (type === 'text') {
      onlyKeys(block, `${at}.text`, KEYS.RequestTextBlock);
      checkCitations(block, `${at}.text`);
      checkText(block, `${at}.text`);
    } else if (type === 'image') {
      requireCapability(model, 'imageInput', at);
      checkImage(block, `${at}.image`);
    } else if (type === 'document') {
      checkDocument(block, `${at}.document`, model);
    } else {
      checkShape(block, `${at}.${type}`, TOOL_RESULT_BLOCKS[type] as Shape);
      checkBlockFields(block, `${at}.${type}`, type);
    }
  });
}

/**
 * The fields of blocks the emulator otherwise checks by their keys (helper-79 #8: any value passed):
 * [SPEC RequestThinkingBlock: `thinking` and `signature` strings; RequestRedactedThinkingBlock: `data` a
 * string; RequestSearchResultBlock: `source` and `title` strings, `content` a list of RequestTextBlock,
 * `citations` a RequestCitationsConfig (no null branch)]; the server tool blocks (`checkServerToolUse`,
 * `checkServerToolResult`), a `tool_reference`'s `tool_name` and a `browser_state`'s `tabs` (helper-92 #4). The blocks'
 * keys and required fields are checked before.
 */
function checkBlockFields(block: Obj, path: string, type: string): void {
  const strings = type === 'thinking' ? ['thinking', 'signature'] : type === 'redacted_thinking' ? ['data'] : type === 'search_result' ? ['source', 'title'] : [];
  for (const key of strings) optionalString(block, key, `${path}.${key}`);
  if (type === 'server_tool_use') return checkServerToolUse(block, path);
  if (Object.hasOwn(SERVER_RESULT_CONTENT, type)) return checkServerToolResult(block, path, type);
  // [SPEC RequestToolReferenceBlock.tool_name: a string of 1 to 256 characters matching ^[a-zA-Z0-9_-]{1,256}$] (helper-92 #4).
  if (type === 'tool_reference') return optionalString(block, 'tool_name', `${path}.tool_name`, { min: 1, max: 256, pattern: /^[a-zA-Z0-9_-]{1,256}$/ });
  if (type === 'browser_state') return checkBrowserState(block, path);
  if (type !== 'search_result') return;
  const citations = block['citations'];
  if (citations !== undefined) {
    if (!isObj(citations)) fail(`${path}.citations`, 'Input should be a valid dictionary');
    onlyKeys(citations, `${path}.citations`, KEYS.RequestCitationsConfig);
    optionalBoolean(citations, 'enabled', `${path}.citations.enabled`);
  }
  const content = block['content'];
  if (!Array.isArray(content)) fail(`${path}.content`, 'Input should be a valid list');
  content.forEach((text, k) => {
    const at = `${path}.content.${k}`;
    if (!isObj(text)) fail(at, 'Input should be a valid dictionary');
    if (text['type'] !== 'text') fail(`${at}.type`, text['type'] === undefined ? 'Field required' : "Input should be 'text'");
    onlyKeys(text, at, KEYS.RequestTextBlock);
    // Checked, not counted among the breakpoints, as in a tool_result (helper-79 #4).
    cacheControlTtl(text, at);
    checkCitations(text, at);
    checkText(text, at);
  });
}

/** A server tool's id, and the `tool_use_id` of its result [SPEC RequestServerToolUseBlock.id, Request…ToolResultBlock.tool_use_id]. */
const SERVER_TOOL_ID = /^srvtoolu_[a-zA-Z0-9_]+$/;
/** [SPEC RequestServerToolUseBlock.name] */
const SERVER_TOOL_NAMES = ['web_search', 'web_fetch', 'code_execution', 'bash_code_execution', 'text_editor_code_execution', 'tool_search_tool_regex', 'tool_search_tool_bm25'] as const;

/**
 * [SPEC RequestServerToolUseBlock: `id` matching ^srvtoolu_[a-zA-Z0-9_]+$, `name` one of SERVER_TOOL_NAMES, `input` an
 * object, `caller` DirectCaller | ServerToolCaller | ServerToolCaller_20260120 by `type`] (helper-92 #4: checked by its
 * keys only). Its keys and required fields are checked before.
 */
function checkServerToolUse(block: Obj, path: string): void {
  optionalString(block, 'id', `${path}.id`, { pattern: SERVER_TOOL_ID });
  optionalEnum(block, 'name', `${path}.name`, SERVER_TOOL_NAMES);
  if (!isObj(block['input'])) fail(`${path}.input`, 'Input should be a valid dictionary');
  checkCaller(block, path);
}

/**
 * A server tool's result block [SPEC RequestWebSearchToolResultBlock, RequestWebFetchToolResultBlock,
 * RequestCodeExecutionToolResultBlock, RequestBashCodeExecutionToolResultBlock,
 * RequestTextEditorCodeExecutionToolResultBlock, RequestToolSearchToolResultBlock: `tool_use_id` matching
 * ^srvtoolu_[a-zA-Z0-9_]+$; the web search and fetch ones' `caller` as a tool_use's; `content` an `anyOf` of the
 * objects shapes.ts `SERVER_RESULT_CONTENT` copies, each tagged by its `type` const, or for web search a list of
 * RequestWebSearchResultBlock] (helper-92 #4: checked by its keys only). The content is checked by its tag, its keys and
 * its required fields; the union is not discriminated in the document, so the messages for a wrong value (the tag in the
 * path, "a valid list or dictionary") are ours.
 */
function checkServerToolResult(block: Obj, path: string, type: string): void {
  optionalString(block, 'tool_use_id', `${path}.tool_use_id`, { pattern: SERVER_TOOL_ID });
  checkCaller(block, path);
  const { items, members } = SERVER_RESULT_CONTENT[type] as { items?: Readonly<Record<string, Shape>>; members: Readonly<Record<string, Shape>> };
  const content = block['content'];
  const at = `${path}.content`;
  const tagged = (value: unknown, where: string, shapes: Readonly<Record<string, Shape>>) => {
    if (!isObj(value)) fail(where, 'Input should be a valid dictionary');
    const tag = value['type'];
    if (typeof tag !== 'string' || !Object.hasOwn(shapes, tag)) tagError(where, tag, Object.keys(shapes));
    checkShape(value, `${where}.${tag}`, shapes[tag] as Shape);
  };
  if (items && Array.isArray(content)) return content.forEach((item, k) => tagged(item, `${at}.${k}`, items));
  if (items && !isObj(content)) fail(at, 'Input should be a valid list or dictionary');
  tagged(content, at, members);
}

/**
 * [SPEC RequestBrowserStateBlock.tabs: a list of at most 100 BrowserStateTabEntry (additionalProperties false; `tab_id`
 * 1 to 4,096 characters, `title` and `url` at most 4,096, each without control characters, required; `active` a
 * boolean)] (helper-92 #4: checked by its keys only). `state_changes` is not checked further.
 */
function checkBrowserState(block: Obj, path: string): void {
  const tabs = block['tabs'];
  if (!Array.isArray(tabs)) fail(`${path}.tabs`, 'Input should be a valid list');
  if (tabs.length > 100) fail(`${path}.tabs`, `List should have at most 100 items after validation, not ${tabs.length}`);
  const printable = /^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$/;
  tabs.forEach((tab, k) => {
    const at = `${path}.tabs.${k}`;
    if (!isObj(tab)) fail(at, 'Input should be a valid dictionary');
    onlyKeys(tab, at, ['active', 'tab_id', 'title', 'url']);
    for (const key of ['tab_id', 'title', 'url']) {
      if (tab[key] === undefined) fail(`${at}.${key}`, 'Field required');
      optionalString(tab, key, `${at}.${key}`, { min: key === 'tab_id' ? 1 : 0, max: 4096, pattern: printable });
    }
    optionalBoolean(tab, 'active', `${at}.active`);
  });
}

/** [SPEC RequestToolUseBlock.caller: DirectCaller | ServerToolCaller | ServerToolCaller_20260120 by `type`; the server ones' `tool_id` required, `^srvtoolu_[a-zA-Z0-9_]+$`] */
function checkCaller(block: Obj, path: string): void {
  const caller = block['caller'];
  if (caller === undefined) return;
  const at = `${path}.caller`;
  if (!isObj(caller)) fail(at, 'Input should be a valid dictionary');
  const type = caller['type'];
  const tags = ['direct', 'code_execution_20250825', 'code_execution_20260120'] as const;
  if (!(tags as readonly unknown[]).includes(type)) tagError(at, type, tags);
  if (type === 'direct') return onlyKeys(caller, `${at}.direct`, ['type']);
  onlyKeys(caller, `${at}.${String(type)}`, ['tool_id', 'type']);
  const toolId = caller['tool_id'];
  if (toolId === undefined) fail(`${at}.${String(type)}.tool_id`, 'Field required');
  if (typeof toolId !== 'string') fail(`${at}.${String(type)}.tool_id`, 'Input should be a valid string');
  if (!/^srvtoolu_[a-zA-Z0-9_]+$/.test(toolId)) fail(`${at}.${String(type)}.tool_id`, "String should match pattern '^srvtoolu_[a-zA-Z0-9_]+$'");
}

function checkSource<T extends string>(block: Obj, path: string, tags: readonly T[]): { source: Obj; type: T } {
  const source = block['source'];
  if (source === undefined) fail(`${path}.source`, 'Field required');
  if (!isObj(source)) fail(`${path}.source`, 'Input should be a valid dictionary');
  const type = source['type'];
  if (!(tags as readonly unknown[]).includes(type)) tagError(`${path}.source`, type, tags);
  onlyKeys(source, `${path}.source.${type as T}`, KEYS[type as 'base64' | 'text' | 'url' | 'file' | 'content']);
  return { source, type: type as T };
}

function checkBase64(source: Obj, path: string): string {
  const data = source['data'];
  if (typeof data !== 'string') fail(`${path}.data`, data === undefined ? 'Field required' : 'Input should be a valid string');
  if (data === '' || data.length % 4 !== 0 || !BASE64.test(data)) fail(`${path}.data`, 'Input should be valid base64 data');
  return data;
}

function checkUrl(source: Obj, path: string): void {
  const url = source['url'];
  if (typeof url !== 'string') fail(`${path}.url`, url === undefined ? 'Field required' : 'Input should be a valid string');
  // [SPEC URLPDFSource.url, URLImageSource.url: a string] that the API fetches: an http(s) URL as the
  // URL standard parses it (the scheme and host in any letter case, a space in the path encoded; a space
  // in the host is no URL). The message is pydantic's for a URL field.
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) fail(`${path}.url`, 'Input should be a valid URL');
}

function checkImage(block: Obj, path: string): void {
  onlyKeys(block, path, KEYS.RequestImageBlock);
  const transformations = optionalObject(block, 'transformations', `${path}.transformations`, KEYS.RequestImageTransformations);
  // [SPEC RequestImageBlock.transformations: RequestImageTransformations or null; its oversized_image an enum, not nullable]
  if (transformations) optionalEnum(transformations, 'oversized_image', `${path}.transformations.oversized_image`, ['downsize', 'error']);
  const { source, type } = checkSource(block, path, ['base64', 'url', 'file'] as const);
  const spath = `${path}.source.${type}`;
  if (type === 'url') return checkUrl(source, spath);
  if (type === 'file') {
    if (typeof source['file_id'] !== 'string') fail(`${spath}.file_id`, 'Field required');
    return;
  }
  const mediaType = source['media_type'];
  if (!(IMAGE_MEDIA_TYPES as readonly unknown[]).includes(mediaType)) fail(`${spath}.media_type`, `Input should be ${oneOfWords(IMAGE_MEDIA_TYPES)}`);
  const data = checkBase64(source, spath);
  const actual = IMAGE_MAGIC.find(([, magic]) => data.startsWith(magic))?.[0];
  if (actual === undefined) fail(spath, 'Could not process image');
  if (actual !== mediaType)
    fail(spath, `The image was specified using the ${String(mediaType)} media type, but the image appears to be a ${actual} image`);
}

function checkDocument(block: Obj, path: string, model: ModelEntry): void {
  onlyKeys(block, path, KEYS.RequestDocumentBlock);
  // [SPEC RequestDocumentBlock: title a string of 1 to 500 characters or null; context at least 1 character or null]
  optionalString(block, 'title', `${path}.title`, { min: 1, max: 500, nullable: true });
  optionalString(block, 'context', `${path}.context`, { min: 1, nullable: true });
  const citationsConfig = optionalObject(block, 'citations', `${path}.citations`, KEYS.RequestCitationsConfig);
  // [SPEC RequestDocumentBlock.citations: RequestCitationsConfig or null; its `enabled` a boolean, not nullable]
  if (citationsConfig) optionalBoolean(citationsConfig, 'enabled', `${path}.citations.enabled`);
  const { source, type } = checkSource(block, path, ['base64', 'text', 'content', 'url', 'file'] as const);
  const spath = `${path}.source.${type}`;
  switch (type) {
    case 'base64': {
      requireCapability(model, 'pdfInput', path);
      if (source['media_type'] !== 'application/pdf') fail(`${spath}.media_type`, "Input should be 'application/pdf'");
      // "%PDF" base64-encoded starts with "JVBER".
      if (!checkBase64(source, spath).startsWith('JVBER')) fail(spath, 'The PDF specified was not valid.');
      break;
    }
    case 'text':
      if (source['media_type'] !== 'text/plain') fail(`${spath}.media_type`, "Input should be 'text/plain'");
      if (typeof source['data'] !== 'string') fail(`${spath}.data`, 'Field required');
      break;
    case 'content':
      checkContentSource(source['content'], `${spath}.content`, model);
      break;
    case 'url':
      requireCapability(model, 'pdfInput', path);
      checkUrl(source, spath);
      break;
    case 'file':
      if (typeof source['file_id'] !== 'string') fail(`${spath}.file_id`, 'Field required');
      break;
  }
  const citations = block['citations'];
  if (isObj(citations) && citations['enabled'] === true) requireCapability(model, 'citations', `${path}.citations`);
}

/**
 * A `content` document source's content: a string, or a list of text and image blocks [SPEC
 * ContentBlockSource.content: a string or a list of RequestTextBlock | RequestImageBlock, discriminated by
 * `type`], each checked as in a message (helper-79 #7: the items were not checked at all).
 */
function checkContentSource(content: unknown, path: string, model: ModelEntry): void {
  if (typeof content === 'string') return;
  if (content === undefined) fail(path, 'Field required');
  if (!Array.isArray(content)) fail(path, 'Input should be a valid list');
  const tags = ['text', 'image'] as const;
  content.forEach((block, k) => {
    const at = `${path}.${k}`;
    if (!isObj(block)) fail(at, 'Input should be a valid dictionary');
    const type = block['type'];
    if (type !== 'text' && type !== 'image') tagError(at, type, tags);
    // Checked, not counted among the breakpoints (helper-79 #4), as in a tool_result.
    cacheControlTtl(block, `${at}.${type}`);
    if (type === 'text') {
      onlyKeys(block, `${at}.text`, KEYS.RequestTextBlock);
      checkCitations(block, `${at}.text`);
      checkText(block, `${at}.text`);
    } else {
      requireCapability(model, 'imageInput', at);
      checkImage(block, `${at}.image`);
    }
  });
}

// --- cache_control -----------------------------------------------------------------------------------------------

/**
 * A block's `cache_control`, if any: its TTL, once checked [SPEC CacheControlEphemeral: type 'ephemeral',
 * ttl '5m' | '1h', additionalProperties: false; the `cache_control` of every request block is that or null].
 */
function cacheControlTtl(holder: Obj, path: string): '5m' | '1h' | undefined {
  const cc = holder['cache_control'];
  if (cc === undefined || cc === null) return undefined;
  const ccPath = `${path}.cache_control`;
  if (!isObj(cc)) fail(ccPath, 'Input should be a valid dictionary');
  if (cc['type'] !== 'ephemeral') tagError(ccPath, cc['type'], ['ephemeral']);
  onlyKeys(cc, `${ccPath}.ephemeral`, KEYS.CacheControlEphemeral);
  // [SPEC CacheControlEphemeral.ttl: "Defaults to `5m`"; no null branch, so null is refused, not the default]
  const ttl = cc['ttl'] === undefined ? '5m' : cc['ttl'];
  if (ttl !== '5m' && ttl !== '1h') fail(`${ccPath}.ephemeral.ttl`, "Input should be '5m' or '1h'");
  return ttl;
}

/**
 * [SPEC CacheControlEphemeral: type 'ephemeral', ttl '5m' | '1h']; at most 4 breakpoints [DOC §4.3],
 * the top-level (automatic) one counted among them (UNCONFIRMED: the docs do not say; README,
 * emulator section); a 1h entry may not follow a 5m one (prompt-caching
 * docs, "mixing TTLs": longer TTLs must come first). Order: tools, system, messages [DOC §4.3].
 */
function checkCacheControl(params: Obj): void {
  const marks: Array<{ path: string; ttl: string }> = [];
  const look = (holder: unknown, path: string) => {
    if (!isObj(holder)) return;
    const ttl = cacheControlTtl(holder, path);
    if (ttl !== undefined) marks.push({ path, ttl });
  };
  const tools = params['tools'];
  if (Array.isArray(tools)) tools.forEach((t, i) => look(t, `tools.${i}`));
  const system = params['system'];
  if (Array.isArray(system)) system.forEach((b, i) => look(b, `system.${i}`));
  const messages = params['messages'];
  if (Array.isArray(messages))
    messages.forEach((m, i) => {
      const content = isObj(m) ? m['content'] : undefined;
      if (Array.isArray(content)) content.forEach((b, j) => look(b, `messages.${i}.content.${j}`));
    });
  const top = params['cache_control'];
  if (top !== undefined && top !== null) look(params, '');
  if (marks.length > 4) fail('', `A maximum of 4 blocks with cache_control may be provided. Found ${marks.length}.`);
  let seen5m = false;
  for (const mark of marks) {
    if (mark.ttl === '5m') seen5m = true;
    else if (seen5m) fail(`${mark.path || 'cache_control'}`, "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block");
  }
}

// --- output_config ---------------------------------------------------------------------------------------------------

/**
 * [SPEC OutputConfig: effort, format (JsonOutputFormat: type 'json_schema', schema object); on the beta
 * surface BetaOutputConfig, with task_budget too]; the model must support structured outputs [REG]; the
 * schema must meet the limits (core/schema-limits.ts); structured outputs are incompatible with citations [DOC §5].
 */
function checkOutputConfig(params: Obj, model: ModelEntry, ctx: CheckContext): void {
  const oc = params['output_config'];
  if (oc === undefined || oc === null) return;
  if (!isObj(oc)) fail('output_config', 'Input should be a valid dictionary');
  onlyKeys(oc, 'output_config', ctx.beta ? KEYS.BetaOutputConfig : KEYS.OutputConfig);
  if (ctx.beta) checkTaskBudget(oc);
  const effort = oc['effort'];
  const efforts = ['low', 'medium', 'high', 'xhigh', 'max'] as const;
  if (effort !== undefined && effort !== null && !(efforts as readonly unknown[]).includes(effort)) fail('output_config.effort', `Input should be ${oneOfWords(efforts)}`);
  const format = oc['format'];
  if (format === undefined || format === null) return;
  if (!isObj(format)) fail('output_config.format', 'Input should be a valid dictionary');
  if (format['type'] !== 'json_schema') fail('output_config.format.type', "Input should be 'json_schema'");
  onlyKeys(format, 'output_config.format', KEYS.JsonOutputFormat);
  const schema = format['schema'];
  if (!isObj(schema)) fail('output_config.format.schema', schema === undefined ? 'Field required' : 'Input should be a valid dictionary');
  requireCapability(model, 'structuredOutputs', 'output_config.format');
  const tally = newSchemaTally();
  // Strict tools and the format share the request's limits.
  const tools = params['tools'];
  if (Array.isArray(tools))
    for (const t of tools) if (isObj(t) && t['strict'] === true && isObj(t['input_schema'])) structuredOutputProblem(t['input_schema'], tally);
  const problem = structuredOutputProblem(schema, tally);
  if (problem) fail(['output_config.format.schema', problem.path].filter(Boolean).join('.'), problem.message);
  if (citationsEnabled(params['messages'])) fail('', 'Citations are not supported together with structured outputs (output_config.format)');
}

/**
 * [SPEC BetaOutputConfig.task_budget: BetaTokenTaskBudget or null; BetaTokenTaskBudget: type 'tokens',
 * total an integer, minimum 1024, remaining an integer, minimum 0, or null; additionalProperties: false].
 */
function checkTaskBudget(oc: Obj): void {
  const budget = optionalObject(oc, 'task_budget', 'output_config.task_budget', KEYS.BetaTokenTaskBudget);
  if (!budget) return;
  const path = 'output_config.task_budget';
  if (budget['type'] !== 'tokens') fail(`${path}.type`, budget['type'] === undefined ? 'Field required' : "Input should be 'tokens'");
  const total = budget['total'];
  if (total === undefined) fail(`${path}.total`, 'Field required');
  if (typeof total !== 'number' || !Number.isInteger(total)) fail(`${path}.total`, 'Input should be a valid integer');
  if (total < 1024) fail(`${path}.total`, 'Input should be greater than or equal to 1024');
  const remaining = budget['remaining'];
  if (remaining === undefined || remaining === null) return;
  if (typeof remaining !== 'number' || !Number.isInteger(remaining)) fail(`${path}.remaining`, 'Input should be a valid integer');
  if (remaining < 0) fail(`${path}.remaining`, 'Input should be greater than or equal to 0');
}

function citationsEnabled(messages: unknown): boolean {
  if (!Array.isArray(messages)) return false;
  return messages.some(
    (m) =>
      isObj(m) &&
      Array.isArray(m['content']) &&
      m['content'].some((b) => isObj(b) && isObj(b['citations']) && b['citations']['enabled'] === true),
  );
}

// --- context window -----------------------------------------------------------------------------------------------------

/**
 * The prompt, estimated as count_tokens estimates it (answer.ts `promptTokens`, with its documents
 * and images as usage counts them: documents.ts `tokens`, core/documents.ts `pdfTokens`), must fit
 * the model's context window [REG; wording as the API's "prompt is too long: N tokens > M maximum"]. A PDF under the page
 * limit can still be over it: 90 pages of 3,000 characters each, on a 200,000-token model (the page
 * limit and what a page counts, with their sources: core/documents.ts).
 */
function checkContextWindow(params: Obj, model: ModelEntry, ctx: CheckContext): void {
  const tokens = promptTokens(params).total + checkDocuments(params, ctx.files).tokens;
  if (tokens > model.contextWindow) fail('', `prompt is too long: ${tokens} tokens > ${model.contextWindow} maximum`);
}
