/**
 * Joined results → enriched records: the answer validated and merged onto the record, or the record
 * with `_error`. Counts what it emits so the CLI can choose its exit code.
 */
import { interpretResult, mergeAnswer, withError, type AnswerValidator } from '../core/result.ts';
import type { JoinedRecord } from './batch.ts';

export interface MergeOptions {
  validator?: AnswerValidator | undefined;
  /** Put the answer under this field instead of merging it at the top level. */
  into?: string | undefined;
}

export interface MergeCounts {
  ok: number;
  failed: number;
  /** Failed records by error type. */
  byType: Record<string, number>;
}

export function toEnriched(options: MergeOptions, counts: MergeCounts = newCounts()) {
  return async function* merge(source: AsyncIterable<JoinedRecord>): AsyncGenerator<Record<string, unknown>> {
    for await (const joined of source) {
      const outcome = joined.error
        ? ({ ok: false, error: joined.error } as const)
        : joined.result
          ? interpretResult(joined.result, { validator: options.validator })
          : ({ ok: false, error: { type: 'missing_result', message: `line ${joined.line}: no result was joined` } } as const);
      if (outcome.ok) {
        counts.ok++;
        yield mergeAnswer(joined.data, outcome.answer, options.into);
      } else {
        counts.failed++;
        counts.byType[outcome.error.type] = (counts.byType[outcome.error.type] ?? 0) + 1;
        // The last attempt's error, and how many attempts there were when there was more than one.
        const error = joined.attempts > 1 ? { ...outcome.error, message: `${outcome.error.message} (after ${joined.attempts} attempts)`, attempts: joined.attempts } : outcome.error;
        yield withError(joined.data, error);
      }
    }
  };
}

export function newCounts(): MergeCounts {
  return { ok: 0, failed: 0, byType: {} };
}
