/**
 * batch-enrich: the public API. Every stage is an async generator function for
 * `pipeline()` from `node:stream/promises`; `asTransform` wraps one for `.pipe()` users.
 */
import { Duplex } from 'node:stream';

export { BatchEnrichError, isBatchEnrichError, isUsageError, type BatchEnrichErrorCode } from './errors.ts';
export { enrichStage, resolveOptions, DEFAULT_MODEL, DEFAULT_MAX_TOKENS, type EnrichOptions } from './enrich.ts';
export { defineRecipe, recipeStage, recipeOptions, type Recipe, type RecipeOptions } from './recipe.ts';
export { readRecords, readCsv, readNdjson, formatFromName, type InputFormat, type ReadOptions, type SourceRecord } from './stages/read.ts';
export { toRequests, type PrepareOptions } from './stages/prepare.ts';
export { attachDocuments, resolveUploads, AUTO_UPLOAD_BYTES, type AttachOptions, type AttachedRecord, type UploadMode } from './stages/attach.ts';
export { readFolder, readPaths } from './stages/paths.ts';
export {
  inspectDocument,
  preflight,
  blocksOf,
  elideBase64,
  pdfPageLimit,
  DocumentProblem,
  type ContentBlock,
  type DocumentErrorType,
  type Inspected,
} from './core/documents.ts';
export { Uploader, gcUploads, newUploadCounts, type UploadCounts } from './client/uploads.ts';
export { UploadRegistry } from './ledger/uploads.ts';
export { openLedger, isPostgresUrl } from './ledger/open.ts';
export type { LedgerStore, UploadStore } from './ledger/store.ts';
export {
  batchSink,
  MAX_BATCH_BYTES,
  MAX_BATCH_REQUESTS,
  type BatchEvent,
  type BatchSinkOptions,
  type JoinedRecord,
  type PreparedRecord,
} from './stages/batch.ts';
export { toEnriched, newCounts, type MergeCounts, type MergeOptions } from './stages/merge.ts';
export { newCostTotals, type CostTotals } from './core/pricing.ts';
export { writeRecords, createFormatter, type Formatter, type OutputFormat, type WriteOptions } from './stages/write.ts';
export { compileTemplate, WHOLE_RECORD, type Template } from './core/template.ts';
export { prepareSpec, requestKey, customIdOf, keyOf, CUSTOM_ID_PATTERN, type RequestParams, type RequestSpec, type JSONSchema } from './core/request.ts';
export { interpretResult, mergeAnswer, type AnswerValidator, type EnrichedRecord, type Interpreted, type RecordError } from './core/result.ts';
export { resolveAnswerSchema, type AnswerSchema } from './core/schema.ts';
export { pollDelayMs, POLL_MIN_MS, POLL_MAX_MS } from './core/backoff.ts';
export { Ledger, defaultLedgerPath, type Identity } from './ledger/ledger.ts';
export { createClient, apiScope, identityOf, keyFingerprint, API_VERSION, type ClientOptions } from './client/client.ts';
export { streamingFetch } from './client/fetch.ts';
export { retryVerdict, modelOutputLimit, TRANSIENT_ERROR_TYPES, DEFAULT_MAX_ATTEMPTS, type RetryPolicy, type Verdict } from './core/retry.ts';
export { MODEL_REGISTRY, findModel, isRetired, outputLimit, OUTPUT_300K_BETA, type ModelEntry, type ModelCapabilities, type ModelCapability } from './core/models.ts';
export { jobProblem, recordProblem, cacheNotice, type JobShape } from './core/preflight.ts';
export { structuredOutputProblem, type SchemaLimitProblem } from './core/schema-limits.ts';
export { lookupModel } from './client/models.ts';

/**
 * A generator stage as an object-mode `Duplex`, for code that uses `.pipe()`. Prefer `pipeline()`:
 * it propagates errors and cleans up every stage.
 *
 * @example
 * readable.pipe(asTransform(enrichStage({ prompt: '…' }))).on('data', console.log);
 */
export function asTransform<I, O>(stage: (source: AsyncIterable<I>) => AsyncIterable<O>): Duplex {
  return Duplex.from(stage as (source: AsyncIterable<unknown>) => AsyncIterable<unknown>);
}
export { enrich, enrichAll, fromObjects, type AnswerFields, type Enriched, type Rows } from './api.ts';
