/**
 * The model, as the API describes it: `GET /v1/models/{id}` (the SDK's `models.retrieve`) is the
 * truth about a model, and the registry (`core/models.ts`) the fallback used offline and for the models
 * it knows. Asked only for a model the registry does not know, before anything is created.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { APIError } from '@anthropic-ai/sdk';
import type { ModelInfo } from '@anthropic-ai/sdk/resources/models';
import { findModel, HIGH_RES_IMAGES, type ModelEntry } from '../core/models.ts';

/** A registry-shaped entry from the API's `ModelInfo` (missing facts: the registry's cautious defaults). */
export function entryFromModelInfo(info: ModelInfo): ModelEntry {
  const c = info.capabilities;
  const has = (v: { supported: boolean } | undefined) => v?.supported ?? true;
  return {
    id: info.id,
    aliases: [],
    contextWindow: info.max_input_tokens ?? Number.POSITIVE_INFINITY,
    maxOutput: info.max_tokens ?? Number.POSITIVE_INFINITY,
    outputBetas: {},
    // Not in `ModelInfo`: 1,024, the most common documented minimum (it only decides a notice).
    minCacheableTokens: 1024,
    capabilities: {
      batch: has(c?.batch),
      structuredOutputs: has(c?.structured_outputs),
      pdfInput: has(c?.pdf_input),
      imageInput: has(c?.image_input),
      citations: has(c?.citations),
    },
    lifecycle: info.lifecycle ?? 'active',
    retiresAt: info.retires_at ? info.retires_at.slice(0, 10) : null,
    // Not in `ModelInfo`: the larger, so an image is never counted low against --max-cost.
    images: HIGH_RES_IMAGES,
  };
}

/**
 * The registry's entry for `id`, else the API's (`models.retrieve`), else undefined when the API
 * answers 404. Other errors are thrown (the run would fail on them anyway).
 */
export async function lookupModel(client: Anthropic, id: string, signal?: AbortSignal): Promise<ModelEntry | undefined> {
  const known = findModel(id);
  if (known) return known;
  try {
    return entryFromModelInfo(await client.models.retrieve(id, {}, { signal }));
  } catch (error) {
    if (error instanceof APIError && error.status === 404) return undefined;
    throw error;
  }
}
