/**
 * Records → requests: renders each record's prompt and serializes its `messages` once; the rest of
 * the params is shared by every request of the job (`SpecParts`). `head + messages + tail` is what
 * gets hashed into the request key and sent. Records that cannot be used pass through with their
 * `error`, so they still come out in their place: among them, records whose rendered prompt the API
 * would refuse (empty, or over the model's context window: `recordProblem`), which are never sent.
 */
import { isBatchEnrichError } from '../errors.ts';
import { compileSpec, idLabel, requestKey, type RequestSpec } from '../core/request.ts';
import { rawNumberText } from '../core/rawjson.ts';
import type { PreparedRecord } from './batch.ts';
import type { SourceRecord } from './read.ts';
import { recordProblem } from '../core/preflight.ts';

export interface PrepareOptions extends RequestSpec {
  /** Shown in per-record error messages (`file:line: …`). */
  file?: string | undefined;
}

export function toRequests(options: PrepareOptions): (source: AsyncIterable<SourceRecord>) => AsyncGenerator<PreparedRecord> {
  const { parts, messages } = compileSpec(options);
  const file = !options.file || options.file === '-' ? '<stdin>' : options.file;
  return async function* prepare(source) {
    for await (const record of source) {
      if (record.error) {
        yield record;
        continue;
      }
      try {
        // What the API would refuse for this record alone (empty, too long) is never sent.
        const problem = recordProblem(options.prompt.render(record.data), options.system, options.model);
        if (problem) {
          yield { ...record, error: { type: problem.type, message: `${file}:${record.line}: ${problem.message}` } };
          continue;
        }
        const serialized = messages(record.data);
        const key = requestKey([parts.head, serialized, parts.tail]);
        const label = options.idField === undefined ? undefined : idLabel(labelValue(record.data[options.idField]));
        yield { ...record, key, label, spec: parts, messages: serialized };
      } catch (error) {
        if (!isBatchEnrichError(error) || error.code !== 'BE_TEMPLATE') throw error;
        yield { ...record, error: { type: 'template', message: `${file}:${record.line}: ${error.message}` } };
      }
    }
  };
}

/** An id value as the user wrote it: a number JSON cannot hold is kept as its text (not `_9007…`). */
function labelValue(value: unknown): unknown {
  return rawNumberText(value) ?? value;
}
