/**
 * Notebooks and scripts: `enrich()` (an async iterable, for `for await`) and `enrichAll()` (a promise,
 * for small arrays) over plain objects, with no streams to wire up. Both run `enrichStage`, so they
 * take the same options and give the same records: the row with the answer merged in, or the row
 * with `_error`, one out for every row in, in input order.
 */
import { BatchEnrichError, shown } from './errors.ts';
import { enrichStage, type EnrichOptions } from './enrich.ts';
import { rawNumberText } from './core/rawjson.ts';
import { ROW_SOURCE } from './core/text.ts';
import { merged } from './core/result.ts';
import type { SourceRecord } from './stages/read.ts';
import type { z } from 'zod';
import type { EnrichedRecord, RecordError } from './core/result.ts';

/**
 * Rows for `enrich()` / `enrichAll()`: an array (or any iterable) of objects, or an async iterable
 * of them (an async generator, a database cursor, a readable stream in object mode).
 *
 * @example
 * const rows: Rows = [{ id: 1, subject: 'Refund please' }, { id: 2, subject: 'Login broken' }];
 */
export type Rows = Iterable<object> | AsyncIterable<object>;

/**
 * The answer as `options` ask for it: a zod `schema`'s output, any fields for a JSON Schema (or with a
 * `documentSchema` too), free text (a string) without a schema.
 */
export type AnswerOf<O> = 'schema' extends keyof O
  ? O extends { documentSchema: object }
    ? Record<string, unknown>
    : O extends { schema?: infer S }
      ? [S] extends [undefined]
        ? string
        : Exclude<S, undefined> extends z.ZodType<infer Out>
          ? Out
          : Record<string, unknown>
      : Record<string, unknown>
  : string;

/**
 * The fields an answer adds to its row: the answer as one field under `into: 'name' as const`; else
 * its fields (an object's), or `answer` for any other answer (free text, a list, a number, an enum's
 * value), as `mergeAnswer` puts it (helper-95: a list or a number made every field `unknown`).
 */
export type AnswerFields<O> = O extends { into: infer K extends string }
  ? string extends K
    ? Record<string, unknown>
    : { [P in K]: AnswerOf<O> }
  : unknown extends AnswerOf<O>
    ? Record<string, unknown>
    : AnswerOf<O> extends Record<string, unknown>
      ? AnswerOf<O>
      : [Extract<AnswerOf<O>, Record<string, unknown>>] extends [never]
        ? { answer: AnswerOf<O> }
        : Record<string, unknown>; // an object or something else (`.nullable()`): either may come

/**
 * A row as `enrich()` and `enrichAll()` give it: the row's own fields and the answer's
 * (`AnswerFields`), or, when `_error` is set, the row's fields alone; any other field is `unknown`. An
 * answer of any fields (a JSON Schema) may replace any of the row's: they are `unknown` then.
 * Narrow on `_error` to read the answer:
 * @example
 * for await (const row of enrich(tickets, { prompt: 'Triage: {{subject}}', schema })) {
 *   if (row._error) console.warn(row.id, row._error.type);
 *   else console.log(row.id, row.category); // typed by the schema
 * }
 */
export type Enriched<Row extends object = Record<string, unknown>, O = EnrichOptions> =
  | (string extends keyof AnswerFields<O>
      ? Record<string, unknown> & { _error?: undefined }
      : Omit<Row, keyof AnswerFields<O> | '_error'> & AnswerFields<O> & { _error?: undefined } & Record<string, unknown>)
  | (Omit<Row, '_error'> & { _error: RecordError } & Record<string, unknown>);

/** Options with no key `EnrichOptions` lacks: a misspelt option does not compile (a generic parameter gets no excess-property check). */
type Only<O> = O & { [K in Exclude<keyof O, keyof EnrichOptions>]: never };

/**
 * Enriches rows one by one as an async iterable: `for await (const row of enrich(rows, options))`.
 *
 * Every row comes out exactly once, in input order: the row with the answer's fields merged in (or
 * under `options.into`), or the row with `_error` (`{ type, message }`) when it could not be
 * enriched. A row that is not a plain object (a number, a string, an array, a `Map`, a `Promise`, …)
 * comes out in its place as `{ _error: { type: 'invalid_input', message: 'row:N: expected an object, got …' } }`.
 * Rows are numbered from 1: that number is the record's `line`, and per-record messages name it
 * (`row:3: Missing field: …` when the prompt uses a field the row lacks; `options.file` renames `row`).
 * Records come out as their batch's results arrive, so the first ones can show up long before the
 * last batch ends (batches take minutes to hours on the real API).
 *
 * Options are `enrichStage`'s (`EnrichOptions`): `prompt`, `schema` (zod or JSON Schema), `model`,
 * `apiKey`/`baseURL`/`client`, `ledger`, `signal`, …; they are checked when `enrich()` is called,
 * which throws a `BatchEnrichError` (`BE_INVALID_OPTION`) naming the bad option. The API key
 * defaults to `ANTHROPIC_API_KEY`. The ledger defaults to the per-user one (`BATCH_ENRICH_LEDGER`,
 * else `$XDG_CACHE_HOME/batch-enrich/ledger.db`, else `~/.cache/batch-enrich/ledger.db`), as for the
 * stage and the CLI: running the same rows and prompt again (re-running a notebook cell, or resuming
 * after a crash) is answered from the ledger without submitting or paying again. Pass
 * `ledger: ':memory:'` to keep nothing.
 *
 * Stopping early (`break`, `return`, a `throw` in the loop body) stops the run: no further batches
 * are created, polling stops, and the rows are no longer read. Batches already submitted keep
 * running on the API (their answers are kept in a file ledger for the next run) unless
 * `cancelOnAbort` is set and the stop comes from `signal`. A failure of the run as a whole (a
 * refused key, `signal` aborted) is thrown from the loop.
 *
 * @example
 * import { enrich } from 'batch-enrich';
 * import { z } from 'zod';
 *
 * const schema = z.object({ category: z.enum(['billing', 'bug', 'other']), urgent: z.boolean() });
 * for await (const row of enrich(tickets, { prompt: 'Triage this ticket: {{subject}}\n\n{{body}}', schema })) {
 *   if (row['_error']) console.warn(row['id'], row['_error']);
 *   else console.log(row['id'], row['category'], row['urgent']);
 * }
 */
export function enrich<Row extends object, O extends EnrichOptions>(rows: Iterable<Row> | AsyncIterable<Row>, options: Only<O>): AsyncGenerator<Enriched<Row, O>> {
  const file = options.file ?? 'row';
  const stage = enrichStage({ ...options, file });
  const checked = checkRows(rows);
  // The stage closes an input it has not read (a run stopped before: a ledger it cannot open, no key,
  // `return()` first) by its `destroy`: the caller's rows, not the generator over them, which an early
  // return does not run (helper-95: a database cursor kept its connection).
  const records = Object.assign(toSourceRecords(checked, file), { destroy: () => closeRows(checked) });
  return withBigInts(stage(records)) as AsyncGenerator<EnrichedRecord> as AsyncGenerator<Enriched<Row, O>>;
}

/**
 * The records with each BigInt the rows held given back as one: the ledger keeps a BigInt as a raw
 * number (`'\uE000' + digits`, see core/rawjson.ts), which the writers put back as the bare number, but
 * a caller of `enrich()` reads the objects (helper-88: a row no longer matched its source row by a BigInt
 * id). The records are changed in place (the stage's marks on them stay).
 */
function withBigInts(records: AsyncGenerator<EnrichedRecord>): AsyncGenerator<EnrichedRecord> {
  // Not an async generator: one returned before its first `next` never runs its body, and the stage
  // under it would not be told to stop (and close the caller's rows, helper-95). `break` in the
  // caller's loop, `return` and `throw` go to the stage as they would without this wrapper.
  const self: AsyncGenerator<EnrichedRecord> = {
    async next() {
      const step = await records.next();
      return step.done ? step : { done: false, value: bigIntsIn(step.value) as EnrichedRecord };
    },
    return: (value) => records.return(value),
    throw: (error) => records.throw(error),
    [Symbol.asyncIterator]: () => self,
  };
  return self;
}

function bigIntsIn(value: unknown): unknown {
  if (typeof value === 'string') {
    const token = rawNumberText(value);
    return token !== undefined && /^-?\d+$/.test(token) ? BigInt(token) : value;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = bigIntsIn(value[i]);
  } else if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const fields = value as Record<string, unknown>;
    for (const key of Object.keys(fields)) fields[key] = bigIntsIn(fields[key]);
  }
  return value;
}

/**
 * Enriches a small array (or any rows `enrich()` takes) and resolves with every record, in input
 * order, once the last one is answered. Same options, defaults and per-record `_error`s as
 * `enrich()`; it rejects with a `BatchEnrichError` for a bad option (naming it) or a failed run.
 * Everything is held in memory: for large inputs iterate `enrich()` instead, or use the stream
 * stages.
 *
 * @example
 * import { enrichAll } from 'batch-enrich';
 * import { z } from 'zod';
 *
 * const triaged = await enrichAll(tickets, {
 *   prompt: 'Triage: {{subject}}',
 *   schema: z.object({ category: z.enum(['billing', 'bug', 'other']), urgent: z.boolean() }),
 * });
 * // Sent again without their `_error` (an input row keeps one as data when it is answered):
 * const failed = triaged.filter((row) => row['_error']).map(({ _error, ...row }) => row);
 * const retried = await enrichAll(failed, options);
 */
export async function enrichAll<Row extends object, O extends EnrichOptions>(rows: Iterable<Row> | AsyncIterable<Row>, options: Only<O>): Promise<Enriched<Row, O>[]> {
  const out: Enriched<Row, O>[] = [];
  for await (const record of enrich(rows, options)) out.push(record);
  return out;
}

function checkRows(rows: unknown): Rows {
  const iterable =
    typeof rows === 'object' &&
    rows !== null &&
    (typeof (rows as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function' ||
      typeof (rows as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function');
  if (!iterable) {
    throw new BatchEnrichError('BE_INVALID_OPTION', `\`rows\`: expected an array, an iterable or an async iterable of objects, got ${describe(rows)}`);
  }
  return rows as Rows;
}

/**
 * A stage: plain objects (a stage's enriched records, a database's rows) → the records `enrichStage`
 * takes, numbered in order (`row:N` in their messages); a row that carries an `_error` of ours (an
 * earlier stage failed it) passes through failed. Between two enrich stages in one pipeline
 * (helper-77: the second refused the first's output, and no adapter was exported):
 * @example
 * await pipeline(process.stdin, readRecords(), enrichStage(triage), fromObjects(), enrichStage(summary), writeRecords({ format: 'ndjson' }), process.stdout);
 */
export function fromObjects(): (rows: AsyncIterable<object>) => AsyncGenerator<SourceRecord> {
  return async function* records(rows) {
    for await (const row of toSourceRecords(rows, 'row')) {
      // Named `row:N` in the next stage's messages (its `file` names no input: helper-88 #6).
      const record: SourceRecord = { ...row, source: ROW_SOURCE };
      // A row an earlier stage failed (its `_error`, ours) stays failed: not sent again, nor taken for
      // enriched once a later stage answers it (helper-78).
      const error = record.data['_error'] as Partial<RecordError> | undefined;
      if (record.error || typeof error?.type !== 'string' || typeof error.message !== 'string') {
        yield record;
        continue;
      }
      const { _error: _failed, ...data } = record.data;
      yield { ...record, data, error: error as RecordError };
    }
  };
}

/** Closes rows nothing has read: a stream is destroyed, an iterator told to return (an array's has nothing to close). */
function closeRows(rows: Rows): unknown {
  const stream = rows as { destroy?: unknown };
  if (typeof stream.destroy === 'function') return (stream.destroy as () => unknown).call(rows);
  const iterator = Symbol.asyncIterator in rows ? rows[Symbol.asyncIterator]() : rows[Symbol.iterator]();
  return iterator.return?.();
}

/**
 * Rows → `SourceRecord`s: `seq` is the 0-based index, `line` the 1-based row number. A sync iterable
 * is read with `for…of`, so a `Promise` among the rows is reported, not silently awaited.
 */
async function* toSourceRecords(rows: Rows, file: string): AsyncGenerator<SourceRecord> {
  let seq = 0;
  const next = (row: unknown): SourceRecord => {
    const at = { seq, line: seq + 1 };
    seq++;
    return isRecord(row)
      ? { ...at, data: snapshot(ownJson(row)) }
      : { ...at, data: {}, error: { type: 'invalid_input', message: `${file}:${at.line}: expected an object, got ${describe(row)}` } };
  };
  if (Symbol.asyncIterator in rows) {
    for await (const row of rows) yield next(row);
  } else {
    for (const row of rows) yield next(row);
  }
}

/**
 * A row with a `toJSON()` that gives a plain object (an ORM's model instance: Sequelize, Mongoose, whose
 * fields are getters on the class's prototype over `dataValues`): those fields, which are what the row
 * comes out with (it is kept as its JSON). Else the prompt saw only its own properties, and every row
 * was a `template` error naming a field its output showed (helper-95). Any other row is itself; one
 * whose `toJSON` throws too (the intake makes that its `invalid_input`).
 */
function ownJson(row: Record<string, unknown>): Record<string, unknown> {
  const toJSON = (row as { toJSON?: unknown }).toJSON;
  if (typeof toJSON !== 'function') return row;
  let json: unknown;
  try {
    json = (toJSON as (key: string) => unknown).call(row, '');
  } catch {
    return row;
  }
  const proto = typeof json === 'object' && json !== null && !Array.isArray(json) ? (Object.getPrototypeOf(json) as object | null) : undefined;
  return proto === null || (proto !== undefined && Object.getPrototypeOf(proto) === null) ? (json as Record<string, unknown>) : row;
}

/**
 * A plain row's fields as they are when it is read: a copy. The record is kept (as JSON) a moment
 * later, with others, while the prompt is made at once: a source that yields one object again and
 * again, changed for each row, gave every row the last row's fields, each with its own answer
 * (helper-95). Nested objects are not copied. A class instance stays itself, for the intake to see
 * what JSON would lose of it.
 */
function snapshot(row: Record<string, unknown>): Record<string, unknown> {
  const proto = Object.getPrototypeOf(row) as object | null;
  if (proto !== null && Object.getPrototypeOf(proto) !== null) return row;
  try {
    return merged({}, row);
  } catch {
    return row; // a getter that throws: the intake makes that the row's invalid_input (helper-78)
  }
}

/** Objects whose fields are the record: not arrays, and not the built-ins whose JSON loses their content. */
function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  return !NOT_RECORDS.some((type) => value instanceof type);
}
const NOT_RECORDS: readonly (abstract new (...args: never[]) => unknown)[] = [Map, Set, WeakMap, WeakSet, Date, RegExp, Promise, Error, ArrayBuffer];

/** A short description of a value that is not a record, for error messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint' || typeof value === 'symbol') return String(value);
  if (Array.isArray(value)) return `an array ${shown(value)}`;
  if (typeof value === 'object' && value !== null) {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    const hint = value instanceof Promise ? ' (await the rows before passing them)' : '';
    if (typeof name === 'string' && name !== 'Object') return `a ${name}${hint}`;
  }
  return shown(value);
}
