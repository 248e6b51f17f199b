/**
 * Records → requests: renders each record's prompt, serializes its `params` once (that string is
 * what gets stored, hashed into the request key, and sent) and passes records that cannot be used
 * through with their `error`, so they still come out in their place.
 */
import { isBatchEnrichError } from '../errors.ts';
import { prepareSpec, requestKey, type RequestSpec } from '../core/request.ts';
import type { PreparedRecord } from './batch.ts';
import type { SourceRecord } from './read.ts';

export interface PrepareOptions extends RequestSpec {
  /** Shown in per-record error messages (`file:line: …`). */
  file?: string | undefined;
}

export function toRequests(options: PrepareOptions): (source: AsyncIterable<SourceRecord>) => AsyncGenerator<PreparedRecord> {
  const build = prepareSpec(options);
  const file = !options.file || options.file === '-' ? '<stdin>' : options.file;
  return async function* prepare(source) {
    for await (const record of source) {
      if (record.error) {
        yield record;
        continue;
      }
      try {
        const params = JSON.stringify(build(record.data));
        const key = requestKey(params, options.idField === undefined ? undefined : record.data[options.idField]);
        yield { ...record, key, params, maxTokens: options.maxTokens };
      } catch (error) {
        if (!isBatchEnrichError(error) || error.code !== 'BE_TEMPLATE') throw error;
        yield { ...record, error: { type: 'template', message: `${file}:${record.line}: ${error.message}` } };
      }
    }
  };
}
