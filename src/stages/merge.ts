/**
 * Joined results → enriched records: the answer validated and merged onto the record, or the record
 * with `_error`. Counts what it emits so the CLI can choose its exit code.
 */
import { costOf, type PriceTable } from '../core/pricing.ts';
import { ANSWER_COLUMNS, interpretResult, mergeAnswer, withError, withField, type AnswerValidator, type EnrichedRecord, type Interpreted, type RecordError } from '../core/result.ts';
import { sourceOf } from '../core/text.ts';
import type { JoinedRecord } from './batch.ts';

export interface MergeOptions {
  validator?: AnswerValidator | undefined;
  /** The answer's columns (`ANSWER_COLUMNS`), given to a CSV writer after the stage on the first records. */
  answerColumns?: readonly string[] | undefined;
  /** Named, with the record's line, in the error of an answer (`file:line: …`, as input errors are); absent: `<stdin>`. */
  file?: string | undefined;
  /**
   * Records that are files of a folder (`readFolder`: `file` names the folder): the field holding each
   * one's path, named after the folder and the record in an answer's error (`docs/:2: docs/b.pdf: …`),
   * as the folder's document errors are.
   */
  pathField?: string | undefined;
  /** Put the answer under this field instead of merging it at the top level. */
  into?: string | undefined;
  /**
   * Add `_meta` (custom_id, batch id, model, attempt, tokens, cost) to every record, priced with
   * `table`. With `paid` (what the run paid for each request key, null when unpriced), a request's
   * cost goes to the first record that carries it, and leaves the map: its duplicates (one request,
   * paid once) and answers paid by an earlier run say 0, so the records' costs add up to the run's.
   * Without it, each record says what its own answer cost.
   */
  meta?: { table: PriceTable; paid?: Map<string, number | null> | undefined } | undefined;
}

export interface MergeCounts {
  ok: number;
  failed: number;
  /** Failed records by error type. */
  byType: Record<string, number>;
}

/** The records `toEnriched` gave out with `_error` set by us (an input column named `_error` does not make a record failed). */
const failedRecords = new WeakSet<object>();

/** Whether `record` came out of `toEnriched` with an `_error` of ours (for routing to an errors file). */
export function isFailed(record: object): boolean {
  return failedRecords.has(record);
}

export function toEnriched(options: MergeOptions, counts: MergeCounts = newCounts()) {
  return async function* merge(source: AsyncIterable<JoinedRecord>): AsyncGenerator<EnrichedRecord> {
    // The first records carry the answer's columns: a CSV writer decides its header by them, at the
    // latest once it has held back its most error-only records (`MAX_WAITING`), so no later one needs them.
    let toMark = options.answerColumns ? MARKED_RECORDS : 0;
    const marked = (record: EnrichedRecord): EnrichedRecord => {
      if (toMark === 0) return record;
      toMark--;
      return Object.defineProperty(record, ANSWER_COLUMNS, { value: options.answerColumns });
    };
    // An input error names its file and line already (read, attach, prepare); an answer's, and one the
    // sink gave (the budget ran out), are named here. Only a failed record builds its place.
    const input = sourceOf(options.file, {});
    for await (const joined of source) {
      const outcome = joined.error
        ? ({ ok: false, error: placed(joined.error, placeOf(joined.data, input, joined.line, options.pathField)) } as const)
        : joined.result
          ? named(interpretResult(joined.result, { validator: options.validator }), joined, input, options.pathField)
          : ({ ok: false, error: { type: 'missing_result', message: `${input}:${joined.line}: no result was joined` } } as const);
      if (outcome.ok) {
        counts.ok++;
        const record = mergeAnswer(joined.data, outcome.answer, options.into);
        yield marked(options.meta ? withField(record, '_meta', metaOf(joined, options.meta)) : record);
      } else {
        counts.failed++;
        counts.byType[outcome.error.type] = (counts.byType[outcome.error.type] ?? 0) + 1;
        // The last attempt's error, and how many attempts there were when there was more than one.
        const error = joined.attempts > 1 ? { ...outcome.error, message: `${outcome.error.message} (after ${joined.attempts} attempts)`, attempts: joined.attempts } : outcome.error;
        const record = withError(joined.data, error);
        const out = options.meta ? withField(record, '_meta', metaOf(joined, options.meta)) : record;
        failedRecords.add(out);
        yield marked(out);
      }
    }
  };
}

/** How many of its first records the stage marks with the answer's columns (`ANSWER_COLUMNS`): more than a CSV writer holds back. */
const MARKED_RECORDS = 1024;

/** A message that starts with where its record is (`tickets.csv:7: `, `<stdin>:3: `). */
const PLACED = /^[^\n]*?:\d+: /;

/** An answer's outcome, its error (if any) named by its record's place (`file:line: `; only a failed record builds it). */
function named(outcome: Interpreted, record: { data: Record<string, unknown>; line: number }, input: string, pathField: string | undefined): Interpreted {
  return outcome.ok ? outcome : { ...outcome, error: { ...outcome.error, message: `${placeOf(record.data, input, record.line, pathField)}${outcome.error.message}` } };
}

/** Where a record is (`file:line: `), and its file when it is one of a folder's (`pathField`). */
function placeOf(data: Record<string, unknown>, input: string, line: number, pathField: string | undefined): string {
  const path = pathField === undefined ? undefined : data[pathField];
  return typeof path === 'string' && path !== input ? `${input}:${line}: ${path}: ` : `${input}:${line}: `;
}

/** A record's error, named by `place` unless it names a place already (an input error does). */
function placed(error: RecordError, place: string): RecordError {
  return error.message.startsWith(place) || PLACED.test(error.message) ? error : { ...error, message: `${place}${error.message}` };
}

export function newCounts(): MergeCounts {
  return { ok: 0, failed: 0, byType: {} };
}

/** Where an answer came from and what it cost, for auditing enriched data. */
function metaOf(joined: JoinedRecord, { table, paid }: NonNullable<MergeOptions['meta']>): Record<string, unknown> {
  const message = joined.result?.type === 'succeeded' ? joined.result.message : undefined;
  const usage = message?.usage;
  return {
    custom_id: joined.customId ?? null,
    batch_id: joined.batchId ?? null,
    model: message?.model ?? null,
    attempt: joined.attempts,
    input_tokens: usage?.input_tokens ?? 0,
    output_tokens: usage?.output_tokens ?? 0,
    cache_creation_input_tokens: usage?.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: usage?.cache_read_input_tokens ?? 0,
    cost_usd: paid ? chargeOnce(paid, joined.key) : usage && message ? roundUsd(costOf(usage, message.model, { mode: joined.mode ?? 'batch', table }).usd) : 0,
  };
}

/** What the run paid for `key`, given once: to the first record that asks (0 for the others). */
function chargeOnce(paid: Map<string, number | null>, key: string | undefined): number | null {
  if (key === undefined || !paid.has(key)) return 0;
  const usd = paid.get(key) ?? null;
  paid.delete(key);
  return usd === null ? null : roundUsd(usd);
}

/** To the nano-dollar: enough for a per-record cost, without float noise in the output. */
function roundUsd(usd: number | undefined): number | null {
  return usd === undefined ? null : Math.round(usd * 1e9) / 1e9;
}
