/**
 * Which failed results are worth another attempt, as a pure function. Transient API errors and
 * expired requests are resubmitted in a later batch, up to `maxAttempts`; an answer cut off at
 * `max_tokens` is resubmitted with the limit doubled (up to the model's output limit), only for that
 * row; an answer that is not JSON or does not match the schema is tried once more (sampling may do
 * better). Everything else (`invalid_request_error`, a refusal, a cancel) is final.
 */
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { findModel, outputLimit } from './models.ts';
import { interpretResult, type AnswerValidator } from './result.ts';

/** API error types that say "try again later", plus our own for a result the results file left out. */
export const TRANSIENT_ERROR_TYPES: ReadonlySet<string> = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error', 'missing_result']);
/**
 * A real-time call sent and not answered (its answer broken off, its connection reset, a timeout): the
 * API may have answered it, and billed it. Final in its run, which does not pay for it twice; a new
 * run sends it again (`isTransientFailure`), as rerunning means finishing.
 */
export const ANSWER_LOST: string = 'answer_lost';
export const DEFAULT_MAX_ATTEMPTS = 3;
/** A schema-invalid or unparsable answer is tried this many times at most. */
const MAX_INVALID_ATTEMPTS = 2;

export interface RetryPolicy {
  maxAttempts: number;
  validator?: AnswerValidator | undefined;
  /** The model's output limit: a truncated answer is retried with at most this `max_tokens`. */
  maxTokensCap: number;
}

export type Verdict = { retry: false } | { retry: true; reason: string; maxTokens?: number };

/** Whether a request whose `attempts`-th result is `result` should be tried again, and how. */
export function retryVerdict(result: MessageBatchResult, attempts: number, maxTokens: number, policy: RetryPolicy): Verdict {
  if (attempts >= policy.maxAttempts) return { retry: false };
  if (result.type === 'expired') return { retry: true, reason: 'expired' };
  if (result.type === 'errored') {
    const type = result.error?.error?.type ?? 'api_error';
    return TRANSIENT_ERROR_TYPES.has(type) ? { retry: true, reason: type } : { retry: false };
  }
  if (result.type !== 'succeeded') return { retry: false };
  const outcome = interpretResult(result, { validator: policy.validator });
  if (outcome.ok) return { retry: false };
  if (outcome.error.type === 'truncated' && result.message.stop_reason === 'max_tokens' && maxTokens < policy.maxTokensCap) {
    return { retry: true, reason: 'truncated', maxTokens: Math.min(policy.maxTokensCap, maxTokens * 2) };
  }
  if ((outcome.error.type === 'invalid_json' || outcome.error.type === 'schema_mismatch') && attempts < MAX_INVALID_ATTEMPTS) {
    return { retry: true, reason: outcome.error.type };
  }
  return { retry: false };
}

/**
 * Whether a stored final result is one a new run should try again: a transient failure, an expiry,
 * or a cancel (a stopped run, `--cancel-on-exit`, `batch-enrich cancel`): rerunning the command means
 * finishing the job.
 */
export function isTransientFailure(result: string): boolean {
  // A cheap look before parsing: most stored results are successes.
  if (!result.includes('"expired"') && !result.includes('"errored"') && !result.includes('"canceled"')) return false;
  const parsed = JSON.parse(result) as MessageBatchResult;
  if (parsed.type === 'expired' || parsed.type === 'canceled') return true;
  const type = parsed.type === 'errored' ? (parsed.error?.error?.type ?? '') : '';
  return TRANSIENT_ERROR_TYPES.has(type) || type === ANSWER_LOST;
}

/**
 * Whether a stored final result may have failed for a file the request named rather than for the
 * request itself: an `invalid_request_error` (or `not_found_error`) that names a file id. The API
 * checks a `file_id` when it processes the request, so a file deleted or expired while the batch
 * waited fails it so. A new run checks such a request's files again (and uploads those gone again):
 * see `failedForGoneFile`. A failure that names no file is the request's own (a contract over the
 * context window, a PDF over 100 pages): sent again it would fail again, so it is not, and its files
 * are not checked or uploaded again for nothing (helper-94 #3).
 */
export function mayHaveFailedForFiles(result: string): boolean {
  return namedFileIds(result) !== undefined;
}

/** The file ids a stored `invalid_request_error` or `not_found_error` names (`file_011CN…`, not the field's name `file_id`); undefined for any other result, or one naming none. */
function namedFileIds(result: string): string[] | undefined {
  if (!result.includes('"errored"')) return undefined;
  const error = (JSON.parse(result) as MessageBatchResult & { error?: { error?: { type?: string; message?: string } } }).error?.error;
  if (error?.type !== 'invalid_request_error' && error?.type !== 'not_found_error') return undefined;
  const ids = [...(error.message ?? '').matchAll(/\bfile_(?!id\b)[A-Za-z0-9]+/g)].map(([id]) => id);
  return ids.length > 0 ? ids : undefined;
}

/**
 * Whether a stored failure (`mayHaveFailedForFiles`) names a file that the request, as built now
 * (`messages`, with its files checked and uploaded again where gone), no longer sends: sent again,
 * it sends something else than what failed. Its same files would fail it the same way, and a
 * failure that names no file is the request's own: neither is sent again.
 * @example
 * failedForGoneFile('{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"File not found: file_old"}}}', '[{"file_id":"file_new"}]'); // true
 */
export function failedForGoneFile(result: string, messages: string): boolean {
  if (!messages.includes('"file_id"')) return false;
  return namedFileIds(result)?.some((id) => !messages.includes(`"file_id":${JSON.stringify(id)}`)) ?? false;
}

/**
 * The most output tokens a model accepts in a batch (the API answers `max_tokens: N > LIMIT` past it),
 * from the model registry, with the `anthropic-beta` values the requests are sent with.
 * Unknown models get the common 128K limit; the API remains the judge.
 */
export function modelOutputLimit(model: string, betas: readonly string[] = []): number {
  const entry = findModel(model);
  return entry ? outputLimit(entry, betas) : 128_000;
}
