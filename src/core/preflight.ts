/**
 * Checks before paying: what the API would refuse for every row of a job, found before any batch is
 * created and without a network call, from the model registry (`models.ts`) and the structured-outputs
 * limits (`schema-limits.ts`), which are the same rules the emulator enforces. Pure functions.
 *
 *  - `jobProblem`: the job cannot run at all (unknown or retired model, a capability the job needs and
 *    the model lacks, `max_tokens` over the model's limit, an answer schema structured outputs refuse):
 *    a usage error naming the problem;
 *  - `recordProblem`: one record cannot be sent (its rendered prompt is empty, or over the context
 *    window with its documents): that record comes out with `_error` and is never sent;
 *  - `cacheNotice`: the system prompt is below the model's minimum cacheable length, so `cache_control`
 *    will silently not apply: one line to say so (and the estimate does not count on caching).
 * Tokens are estimated by script (`promptTokenEstimate`): never fewer than the emulator's count_tokens
 * counts (ceil(characters / 4)), so what passes here passes the emulator's own check.
 */
import { closest } from './suggest.ts';
import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import { CAPABILITY_NAMES, findModel, isRetired, MODEL_REGISTRY, outputLimit, type ModelCapability, type ModelEntry } from './models.ts';
import { PDF_PAGE_IMAGE_TOKENS } from './documents.ts';
import type { JSONSchema } from './request.ts';
import { structuredOutputProblem } from './schema-limits.ts';

/** What a job is made of, as far as the checks go. */
export interface JobShape {
  model: string;
  maxTokens: number;
  /** The answer schema as the user gave it (it is sent after the SDK's transform, as `request.ts` does). */
  answerSchema?: JSONSchema | undefined;
  /** `anthropic-beta` values the requests go with. */
  betas?: readonly string[];
  /** The clock (ms), for retirement dates. */
  now?: number;
  /** What `maxTokens` is, as the user gave it (helper-93 #8: a recipe's limit for documents was named --max-tokens); the rows' limit by default. */
  maxTokensIs?: string;
}

const n = (value: number) => value.toLocaleString('en-US');

/**
 * Prompt tokens, estimated by script in one pass over the UTF-16 code units (no regex, no copy: it
 * runs for every record), for the context-window check. An estimate, not a count: Anthropic's
 * glossary says a token is about 3.5 English characters, "though the exact number can vary depending
 * on the language used" [DOC Anthropic glossary, "Tokens", as quoted by 3P; it gives no figure by script], and only
 * count_tokens counts. The weights, in quarter tokens a code unit:
 *  - ASCII: 1 (4 characters a token, `CHARS_PER_TOKEN`: the rule the cost estimate and the emulator use);
 *  - U+0080–U+07FF (accented Latin, Greek, Cyrillic, Hebrew, Arabic…: 2 bytes in UTF-8): 2, half a token;
 *  - the rest of the BMP (CJK ideographs, Kana, Hangul, Thai, Indic scripts…: 3 bytes): 4, a token;
 *  - each half of a surrogate pair (emoji, rare ideographs): 4, so two tokens a character.
 * A token a CJK character is what measured tokenizers give (a multilingual one over Wikipedia: zh 1.1,
 * ja 1.3, ko 2.0 characters a token, against en 4.8 [3P: Cohere multilingual-22-12 README]; guides to
 * Claude say 1 to 2 tokens a Chinese character [3P]): it leans high for Korean and Japanese, and may be
 * low for some Chinese, where it was a quarter of the truth at 4 characters a token (helper-98: a row
 * of 300,000 Chinese characters passed as 75,000 tokens, and the API refused it after a batch's wait).
 * English text is counted as before, so the estimates shown for it do not move.
 *
 * @example promptTokenEstimate('a'.repeat(400)) // 100; promptTokenEstimate('中'.repeat(400)) // 400
 */
export function promptTokenEstimate(text: string): number {
  let quarters = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    quarters += unit < 0x80 ? 1 : unit < 0x800 ? 2 : 4;
  }
  return Math.ceil(quarters / 4);
}

/** The system prompt's estimate, kept: it is the same string for every record of a job (a long one was scanned a record). */
let systemSeen: { text: string; tokens: number } | undefined;
function systemTokens(system: string): number {
  if (systemSeen?.text !== system) systemSeen = { text: system, tokens: promptTokenEstimate(system) };
  return systemSeen.tokens;
}

/** What a job needs of its model. */
export function neededCapabilities(job: JobShape): ModelCapability[] {
  return job.answerSchema ? ['batch', 'structuredOutputs'] : ['batch'];
}

/**
 * Why the job cannot run, in one sentence naming the problem, or undefined.
 *
 * @param lookup the registry lookup (a test can give its own)
 * @example jobProblem({ model: 'claude-haiku-45', maxTokens: 1024 }) // "unknown model claude-haiku-45 (…)"
 */
export function jobProblem(job: JobShape, lookup: (id: string) => ModelEntry | undefined = findModel): string | undefined {
  const model = lookup(job.model);
  const now = job.now ?? Date.now();
  // The models a job can pick now: not retired, by the registry or by date (helper-72: one retired
  // since its date was offered as known, and the retired model's error named none).
  const current = MODEL_REGISTRY.models.filter((m) => m.lifecycle !== 'retired' && !isRetired(m, now)).map((m) => m.id);
  if (!model) {
    // A name with a blank around it (read from a file or a form) is quoted, and the blank said: else
    // the suggestion looked the same as the name (helper-95).
    const blank = job.model.trim() !== job.model;
    // Nearest among every model the registry has: a retired one is named as such (helper-95 #15: for
    // claude-sonnet-4.5 a current model further off was offered, as if meant).
    const nearest = closest(job.model.trim(), MODEL_REGISTRY.models.map((m) => m.id));
    const gone = nearest === undefined || current.includes(nearest) ? undefined : MODEL_REGISTRY.models.find((m) => m.id === nearest);
    const typo = gone ? undefined : closest(job.model.trim(), current);
    const name = blank ? JSON.stringify(job.model) : job.model;
    const hint = gone
      ? ` (${gone.id}, which it is near, is retired${gone.retiresAt ? ` since ${gone.retiresAt}` : ''})`
      : typo
        ? ` (did you mean ${typo}?${blank ? ' it has a blank around it' : ''})`
        : blank
          ? ' (it has a blank around it)'
          : '';
    return `unknown model ${name}${hint}: the API would answer not_found_error for every row (known models: ${current.join(', ')})`;
  }
  if (isRetired(model, now))
    return `model ${job.model} is retired${model.retiresAt ? ` since ${model.retiresAt}` : ''}: the API would answer not_found_error for every row; pick a current model (${current.join(', ')})`;
  for (const capability of neededCapabilities(job)) {
    if (!model.capabilities[capability]) return `model ${job.model} does not support ${CAPABILITY_NAMES[capability]}, which this job needs`;
  }
  const limit = outputLimit(model, job.betas);
  if (job.maxTokens > limit) return `max_tokens ${job.maxTokens} ${job.maxTokensIs ?? "(--max-tokens; the library's maxTokens)"} is over ${job.model}'s output limit of ${n(limit)}`;
  if (job.answerSchema) {
    let sent: unknown;
    try {
      sent = transformJSONSchema(job.answerSchema);
    } catch (error) {
      return `the answer schema cannot be sent: ${(error as Error).message}`;
    }
    const problem = structuredOutputProblem(sent);
    if (problem) return `structured outputs refuse the answer schema${problem.path ? ` at ${problem.path}` : ''}: ${problem.message}`;
  }
  return undefined;
}

/**
 * A PDF or an image of a record as it counts against the context window: `name` (the file, and the
 * e-mail attachment), `what` ("90 PDF pages", "a 1200×1600-px image") and its estimated `tokens`
 * (core/documents.ts `documentTokens`).
 */
export interface WindowPart {
  name: string;
  what: string;
  tokens: number;
}

/** How many PDFs and images a too-long message names, the largest first. */
const NAMED_PARTS = 3;

/** Why one record cannot be sent: its `_error` type and message, or undefined. */
export function recordProblem(
  prompt: string,
  system: string | undefined,
  model: string,
  documents?: { textTokens: number; parts?: readonly WindowPart[] | undefined },
): { type: 'empty_prompt' | 'prompt_too_long'; message: string } | undefined {
  // Not `prompt.trim() === ''`: that copies nearly every prompt (a rendered template ends with a
  // newline), 1 KB a record. `\s` is the set `trim` strips. With documents, they are the content.
  if (!documents && !/\S/.test(prompt)) return { type: 'empty_prompt', message: 'the rendered prompt is empty (the API refuses messages with empty content)' };
  const entry = findModel(model);
  if (!entry) return undefined;
  // Text documents (and e-mails' text) count as the prompt does; PDFs and images by our own estimate
  // (a PDF page at its image's 1,600 tokens and its text's, an image by its pixels: core/documents.ts),
  // the rule the emulator refuses by; an estimate (`PDF_PAGE_IMAGE_TOKENS` says why 1,600 on every
  // model), the one the cost and --max-cost take (helper-100: 90 dense pages were sent to a 200K model,
  // paid for in the batch's place, and came back errored, where text over the window was refused before paying).
  const textTokens = documents?.textTokens ?? 0;
  const parts = documents?.parts ?? [];
  const partTokens = parts.reduce((sum, part) => sum + part.tokens, 0);
  // A code unit is at most a token: a record that fits at that is not scanned (nearly every one).
  if (prompt.length + (system?.length ?? 0) + textTokens + partTokens <= entry.contextWindow) return undefined;
  const tokens = promptTokenEstimate(prompt) + (system ? systemTokens(system) : 0) + textTokens + partTokens;
  if (tokens <= entry.contextWindow) return undefined;
  const over = `over ${model}'s context window of ${n(entry.contextWindow)}`;
  if (partTokens === 0) {
    const what = textTokens > 0 ? 'the prompt with its text documents' : 'the prompt';
    return { type: 'prompt_too_long', message: `${what} is about ${n(tokens)} tokens, ${over}` };
  }
  const largest = [...parts].sort((a, b) => b.tokens - a.tokens);
  const named = largest.slice(0, NAMED_PARTS).map((part) => `${part.name}: ${part.what}, about ${n(part.tokens)} tokens`);
  if (largest.length > NAMED_PARTS) named.push(`and ${largest.length - NAMED_PARTS} more`);
  const rule = `by our estimate: a PDF page at ${n(PDF_PAGE_IMAGE_TOKENS)} tokens for its image and its text at 4 characters a token, an image by its pixels`;
  return { type: 'prompt_too_long', message: `the prompt with its documents is about ${n(tokens)} tokens, ${over} (${named.join('; ')}; ${rule}); split the documents, or send them to a model with a larger window` };
}

/** The model's minimum cacheable prompt, or undefined for a model the registry does not know. */
export function minCacheableTokens(model: string): number | undefined {
  return findModel(model)?.minCacheableTokens;
}

/** Whether a cached prefix of `tokens` tokens is long enough for `model` to cache (unknown models: yes). */
export function cacheable(tokens: number, model: string): boolean {
  return tokens >= (minCacheableTokens(model) ?? 0);
}

/** A one-line notice when the system prompt is too short to be cached, else undefined. */
export function cacheNotice(system: string | undefined, model: string): string | undefined {
  if (!system) return undefined;
  const entry: ModelEntry | undefined = findModel(model);
  const tokens = promptTokenEstimate(system);
  if (!entry || tokens >= entry.minCacheableTokens) return undefined;
  return `note: the system prompt is about ${n(tokens)} tokens, below ${model}'s minimum cacheable prompt of ${n(entry.minCacheableTokens)}: caching will not apply, and the estimate does not count on it`;
}
