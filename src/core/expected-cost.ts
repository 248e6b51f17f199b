/**
 * What a batch in the ledger is expected to cost, from what the ledger keeps of it (its spec, its
 * request count and its body's size): the same typical-answer estimate the budget guard makes before
 * submitting (input counted in full, nothing cached, answers of a typical length for the schema).
 * For `batch-enrich status --json`, where a scheduler decides on a job it did not watch run.
 */
import { typicalAnswerTokens } from './answer-size.ts';
import { charsPerToken, estimateCost, type PriceTable } from './pricing.ts';
import type { JSONSchema } from './request.ts';

/** A spec as the ledger keeps it: `head + messages + tail` is a request's params JSON. */
export interface StoredSpec {
  head: string;
  tail: string;
}

/**
 * The expected cost of a batch in USD, or undefined when its spec cannot be read or its model has no
 * price in `table`. `bytes` is what its requests are priced by (`BatchRow.cost_bytes`: the body's size
 * with documents counted by pages and pixels), `mode` how it was sent (real time costs twice).
 */
export function expectedBatchUsd(spec: StoredSpec, requests: number, bytes: number, mode: 'batch' | 'realtime', table: PriceTable): number | undefined {
  if (requests <= 0) return 0;
  let params: { model?: unknown; max_tokens?: unknown; output_config?: unknown };
  try {
    params = JSON.parse(`${spec.head}[]${spec.tail}`) as typeof params;
  } catch {
    return undefined;
  }
  const { model, max_tokens: maxTokens } = params;
  if (typeof model !== 'string' || typeof maxTokens !== 'number') return undefined;
  const perChar = charsPerToken(model);
  const avgInputTokens = Math.ceil(bytes / requests / perChar);
  const expectedOutputTokens = typicalAnswerTokens({ schema: answerSchemaOf(params), messageTokens: avgInputTokens, maxTokens, charsPerToken: perChar });
  return estimateCost({ requests, avgInputTokens, avgCachedPrefixTokens: 0, maxTokens, expectedOutputTokens }, model, { mode, table }).lowUsd;
}

/** The JSON Schema a request's params ask the answer to follow (`output_config.format.schema`), if any. */
function answerSchemaOf(params: { output_config?: unknown }): JSONSchema | undefined {
  const format = (params.output_config as { format?: { type?: unknown; schema?: unknown } } | undefined)?.format;
  return format?.type === 'json_schema' && typeof format.schema === 'object' && format.schema !== null ? (format.schema as JSONSchema) : undefined;
}
