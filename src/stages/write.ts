/**
 * Output stage: enriched records → NDJSON (`JSON.stringify(record) + '\n'`, never `os.EOL`) or CSV
 * (csv-stringify). A CSV header must be known before the first row: it is the input's columns (the
 * CSV input's own header when given, else the first record's fields), then the answer's
 * (`answerColumns`: the schema's properties, or the `--into`/`answer` field), then `_error`, then
 * `_meta` when the records carry it (`metaColumn`).
 *
 * A record that is only an `_error` (an unreadable NDJSON line; its raw text is in `_error.input`)
 * cannot tell the columns, so such records wait, up to `MAX_WAITING`, for one that can. A field that
 * first shows up in a later record (heterogeneous NDJSON written as CSV) is past the header: with
 * `growColumns` (a file that can be rewritten at the end) it becomes a column added at the end of
 * the rows from there on, and `widened()` tells the header to rewrite the file under
 * (`widenedColumns`); without, it is reported through `onExtraField` (else as a process warning,
 * `BATCH_ENRICH_EXTRA_FIELD`) once per name and left out.
 * NDJSON output keeps every field. Objects and arrays are written as JSON.
 */
import { Transform } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { stringifyLossless, valueText } from '../core/rawjson.ts';
import { ANSWER_COLUMNS } from '../core/result.ts';
import { aBoolean, aFunction, anything, checkOptions, oneOf, type OptionRule } from './options.ts';

export type OutputFormat = 'ndjson' | 'csv';

export interface WriteOptions {
  format: OutputFormat;
  /** CSV: the input's columns, once known (e.g. the CSV input's header); else the first record's fields. */
  inputColumns?: (() => readonly string[] | undefined) | undefined;
  /** CSV: the answer's columns, placed after the input's; absent: those the enrich stage's records carry (`ANSWER_COLUMNS`), if any. */
  answerColumns?: readonly string[] | undefined;
  /** CSV: the records carry `_meta` (`meta` of the merge stage): a column of JSON after `_error`. */
  metaColumn?: boolean | undefined;
  /** CSV: called once per field name that is missing from the header and so cannot be written (without `growColumns`). */
  onExtraField?: ((name: string) => void) | undefined;
  /** CSV: a field missing from the header becomes a column added at the end of the rows (the file is rewritten under `widened()` at the end). */
  growColumns?: boolean | undefined;
  /** CSV: start with a UTF-8 byte-order mark, so that Excel reads the file as UTF-8 (it assumes the ANSI code page otherwise). */
  bom?: boolean | undefined;
  /**
   * CSV: neutralise cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
   * tab or CR, other than a plain number) by putting `'` in front (OWASP's advice on CSV injection). Input cells and model
   * answers alike: an answer is text the model was asked to write about untrusted input.
   */
  safe?: boolean | undefined;
}

/**
 * A stateful record → text function (the CSV header comes with the first row); `end()` gives what is
 * left; `widened()`, once done, the columns as written (the header's, then those added, in the order
 * they came) when `growColumns` added any, else undefined.
 */
export type Formatter = ((record: Record<string, unknown>) => string) & { end(): string; widened(): readonly string[] | undefined };

/** What `writeRecords` takes (see `checkOptions`). */
const WRITE_OPTIONS: Readonly<Record<keyof WriteOptions, OptionRule>> = {
  format: oneOf(['ndjson', 'csv']),
  inputColumns: aFunction,
  answerColumns: anything,
  metaColumn: aBoolean,
  onExtraField: aFunction,
  growColumns: aBoolean,
  bom: aBoolean,
  safe: aBoolean,
};

/** Error-only records held back while the CSV columns are still unknown, at most. */
const MAX_WAITING = 1000;

export function createFormatter(options: WriteOptions): Formatter {
  // Raw numbers (see core/rawjson.ts) are written back as the input had them.
  if (options.format === 'ndjson') return Object.assign(ndjsonLine(options.inputColumns), { end: () => '', widened: () => undefined });
  const cell = options.safe ? (value: unknown) => neutralised(valueText(value)) : valueText;
  let bom = options.bom ? '\ufeff' : '';
  const first = (text: string) => {
    const out = bom + text;
    bom = '';
    return out;
  };
  // Given, or as the enrich stage's records carry them (`ANSWER_COLUMNS`), once the header is decided.
  let answer: readonly string[] = options.answerColumns ?? [];
  let answerGiven = options.answerColumns !== undefined;
  const trailing = trailingColumns(options.metaColumn);
  let columns: string[] | undefined;
  /** `columns` as a set: a record's fields are looked up in it (in the array, 20,000 columns took 12 s for 50 rows). */
  let columnSet = new Set<string>();
  const waiting: Record<string, unknown>[] = [];
  const extra = new Set<string>();

  const header = (fields: readonly string[]) => {
    const input = fields.filter((key) => !trailing.includes(key) && !answer.includes(key));
    columns = [...new Set([...input, ...answer]), ...trailing];
    columnSet = new Set(columns);
    return first(stringify([columns.map((column) => (options.safe ? neutralised(column) : column))]));
  };
  const row = (record: Record<string, unknown>, cols: string[]) => {
    for (const key of Object.keys(record)) {
      if (!columnSet.has(key) && !extra.has(key)) {
        extra.add(key);
        if (options.growColumns) {
          cols.push(key);
          columnSet.add(key);
        } else if (options.onExtraField) options.onExtraField(key);
        // Not without a word (helper-95): the CLI warns, and a library caller would lose the column unseen.
        else process.emitWarning(`writeRecords: field \`${key}\` is not in the CSV header (the first record's fields): it is left out of every row; pass \`growColumns: true\` to add it as a column, or \`onExtraField\` to be told`, { code: 'BATCH_ENRICH_EXTRA_FIELD' });
      }
    }
    // Own fields only: `record['__proto__']` of a record without that column is Object.prototype.
    return stringify([cols.map((column) => cell(Object.hasOwn(record, column) ? record[column] : undefined))]);
  };
  const release = (fields: readonly string[]) => {
    let text = header(fields);
    for (const held of waiting.splice(0)) text += row(held, columns ?? []);
    return text;
  };

  const format = (record: Record<string, unknown>) => {
    if (columns) return row(record, columns);
    const carried = (record as { [ANSWER_COLUMNS]?: readonly string[] })[ANSWER_COLUMNS];
    if (!answerGiven && carried !== undefined) [answer, answerGiven] = [carried, true];
    const known = options.inputColumns?.();
    const errorOnly = Object.keys(record).every((key) => trailing.includes(key));
    if (!known && errorOnly && waiting.length < MAX_WAITING) {
      waiting.push(record);
      return '';
    }
    const text = release(known ?? Object.keys(record));
    return text + row(record, columns ?? []);
  };
  const end = () => {
    if (columns) return '';
    const known = options.inputColumns?.();
    return known || waiting.length > 0 ? release(known ?? []) : '';
  };
  const widened = () => (options.growColumns && extra.size > 0 ? columns : undefined);
  return Object.assign(format, { end, widened });
}

/**
 * A record → its NDJSON line, its input columns first in their order (`inputColumns`, once known)
 * when some are named like array indexes (`2024`, or `3` for a blank header cell): a JavaScript object
 * puts those keys before all others, whatever order they were set in. Else `JSON.stringify`'s order,
 * which is already the input's.
 */
function ndjsonLine(inputColumns: WriteOptions['inputColumns']): (record: Record<string, unknown>) => string {
  /** Undefined until the columns are known; then the order to write (and its set), or null when the object's own will do. */
  let order: { keys: readonly string[]; set: ReadonlySet<string> } | null | undefined;
  return (record) => {
    if (order === undefined) {
      const known = inputColumns?.();
      if (known !== undefined) order = ownOrderDiffers(known) ? { keys: known, set: new Set(known) } : null;
    }
    if (!order) return `${stringifyLossless(record)}\n`;
    const fields: string[] = [];
    const field = (key: string) => {
      const value = Object.hasOwn(record, key) ? record[key] : undefined;
      // What JSON.stringify leaves out: undefined, functions, symbols.
      if (value !== undefined && typeof value !== 'function' && typeof value !== 'symbol') fields.push(`${JSON.stringify(key)}:${stringifyLossless(value)}`);
    };
    for (const key of order.keys) field(key);
    for (const key of Object.keys(record)) if (!order.set.has(key)) field(key);
    return `{${fields.join(',')}}\n`;
  };
}

/**
 * Whether a JavaScript object built with `columns` in that order lists them otherwise: it puts the
 * array-index keys first, ascending. Not when they lead already, ascending (`--no-header`'s 1..n).
 */
function ownOrderDiffers(columns: readonly string[]): boolean {
  let leading = 0;
  while (leading < columns.length && INDEX_KEY.test(columns[leading] as string) && (leading === 0 || Number(columns[leading]) > Number(columns[leading - 1]))) leading++;
  return columns.slice(leading).some((column) => INDEX_KEY.test(column));
}
/** A key JavaScript orders first, as an array index: 0, or digits without a leading 0, below 2^32 - 1. */
const INDEX_KEY = /^(0|[1-9]\d{0,9})$/;

/** The columns every CSV row ends with: `_error`, then `_meta` when the records carry it. */
function trailingColumns(meta: boolean | undefined): readonly string[] {
  return meta ? ['_error', '_meta'] : ['_error'];
}

/**
 * The header a CSV written with columns added late (`Formatter.widened`: the header's columns, then
 * those added) is rewritten under: the input's columns, those added, the answer's, then `_error`
 * (and `_meta`, with `metaColumn`).
 * @example
 * widenedColumns(['id', 'label', '_error', 'note'], ['label']); // ['id', 'note', 'label', '_error']
 */
export function widenedColumns(written: readonly string[], answerColumns: readonly string[], metaColumn?: boolean): string[] {
  const trailing = trailingColumns(metaColumn);
  return [...written.filter((column) => !trailing.includes(column) && !answerColumns.includes(column)), ...answerColumns.filter((column) => written.includes(column)), ...trailing];
}

/** The output stage for `pipeline`: records → text. */
export function writeRecords(options: WriteOptions): (source: AsyncIterable<Record<string, unknown>>) => AsyncGenerator<string> {
  checkOptions('writeRecords', options, WRITE_OPTIONS);
  return async function* write(source) {
    const format = createFormatter(options);
    for await (const record of source) {
      const text = format(record);
      if (text) yield text;
    }
    const rest = format.end();
    if (rest) yield rest;
  };
}



/** A cell a spreadsheet would take for a formula, with `'` in front; any other cell (a plain number such as `-5` too) as it is. */
export function neutralised(text: string): string {
  return /^[=+\-@\t\r]/.test(text) && !/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(text) ? `'${text}` : text;
}

/** Text gathered for one write at most (a burst larger than this goes out in several). */
const COALESCE_BYTES = 64 * 1024;

/**
 * Joins the text chunks that arrive in one turn of the event loop (up to 64 KB) into one write.
 * Records come out of the sink in bursts, and stdout on a file or a pipe makes a system call per
 * write: one per burst instead of one per record. Nothing waits longer than that turn.
 */
export function coalesce(): Transform {
  let parts: string[] = [];
  let size = 0;
  let scheduled: NodeJS.Immediate | undefined;
  const release = () => {
    clearImmediate(scheduled);
    scheduled = undefined;
    if (parts.length === 0) return;
    const text = parts.join('');
    parts = [];
    size = 0;
    stream.push(text);
  };
  const stream = new Transform({
    decodeStrings: false,
    encoding: 'utf8',
    transform(chunk: string, _encoding, callback) {
      if (chunk.length > 0) {
        parts.push(chunk);
        size += chunk.length;
        // Pushed now when the reader is behind: Transform then holds this write's callback until
        // the reader catches up (a push made later, in `setImmediate`, would not hold anything back).
        if (size >= COALESCE_BYTES || stream.readableLength >= stream.readableHighWaterMark) release();
        else scheduled ??= setImmediate(release);
      }
      callback();
    },
    flush(callback) {
      release();
      callback();
    },
    destroy(error, callback) {
      clearImmediate(scheduled);
      callback(error);
    },
  });
  return stream;
}
