/**
 * `GET /v1/models` and `GET /v1/models/{model_id}`, answered from the model registry
 * (src/core/models.ts) in the shape of the OpenAPI document's `ModelInfo` and
 * `ListResponse_ModelInfo_` [SPEC]. Retired models stay listed with `lifecycle: "retired"`, as the SDK's
 * `ModelInfo.lifecycle` describes ("It remains in the catalogue as the historical record of its
 * retirement") [SDK resources/models.ts]; an id the registry does not know is a 404 `not_found_error`.
 * Capabilities the registry does not track (code execution, context management, effort, thinking
 * types) are reported as not supported: a choice, listed in the README.
 */
import { findModel, isRetired, MODEL_REGISTRY, type ModelEntry } from '../core/models.ts';
import { ApiError } from './api-error.ts';
import { paginate, type ListQuery } from './batch.ts';
import { upstreamModel } from './params.ts';

const support = (supported: boolean) => ({ supported });

/** The API's `ModelInfo` for a registry entry, at `now` (ms). */
export function modelInfo(entry: ModelEntry, now: number): Record<string, unknown> {
  const c = entry.capabilities;
  const lifecycle = isRetired(entry, now) ? 'retired' : entry.lifecycle;
  return {
    type: 'model',
    id: entry.id,
    // `claude-haiku-4-5` → "Claude Haiku 4.5".
    display_name: entry.id
      .replace(/-(\d+)-(\d+)$/, ' $1.$2')
      .replace(/-(\d+)$/, ' $1')
      .split(/[-\s]/)
      .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
      .join(' '),
    created_at: '1970-01-01T00:00:00Z', // "May be set to an epoch value if the release date is unknown" [SPEC]
    max_input_tokens: entry.contextWindow,
    max_tokens: entry.maxOutput,
    lifecycle,
    deprecated_at: null,
    retires_at: entry.retiresAt === null ? null : `${entry.retiresAt}T00:00:00Z`,
    capabilities: {
      batch: support(c.batch),
      citations: support(c.citations),
      code_execution: support(false),
      context_management: { supported: false, clear_thinking_20251015: null, clear_tool_uses_20250919: null, compact_20260112: null },
      effort: { supported: false, low: support(false), medium: support(false), high: support(false), max: support(false), xhigh: null },
      image_input: support(c.imageInput),
      pdf_input: support(c.pdfInput),
      structured_outputs: support(c.structuredOutputs),
      thinking: { supported: true, types: { enabled: support(true), adaptive: support(true) } },
    },
  };
}

/**
 * `GET /v1/models/{id}`: the model, or 404; with an upstream, a model the registry does not know is
 * the upstream's, described with no limits of ours (`max_input_tokens`/`max_tokens` null).
 */
export function retrieveModel(id: string, now: number, upstream = false): Record<string, unknown> {
  const entry = findModel(id);
  if (!entry && upstream) return { ...modelInfo(upstreamModel(id), now), max_input_tokens: null, max_tokens: null };
  if (!entry) throw new ApiError(404, 'not_found_error', `model: ${id}`);
  return { ...modelInfo(entry, now), id };
}

/**
 * `GET /v1/models`: the registry's models in its order (newest first), a page of them [SPEC models_list: query `limit`
 * 1 to 1,000, default 20 (`parseLimit`), `before_id`/`after_id` cursors; ListResponse_ModelInfo_: data, has_more,
 * first_id, last_id], paged as the batches list is (`paginate`: a cursor naming no model is a 400, our choice)
 * (helper-92 #7: every model came in one page whatever the query).
 */
export function listModels(now: number, query: ListQuery): Record<string, unknown> {
  const models = MODEL_REGISTRY.models;
  // Newest first: the first has the highest `seq`.
  const items = models.map((m, i) => ({ id: m.id, seq: models.length - i, entry: m }));
  const seqs = new Map(items.map((item) => [item.id, item.seq]));
  const page = paginate(items, query, (id) => seqs.get(id), 'model');
  return { data: page.data.map((item) => modelInfo(item.entry, now)), has_more: page.has_more, first_id: page.first_id, last_id: page.last_id };
}
