/**
 * Output stage: enriched records → NDJSON (`JSON.stringify(record) + '\n'`, never `os.EOL`) or CSV
 * (csv-stringify). A CSV header must be known before the first row: it is the input's columns, then
 * the answer's (`answerColumns`: the schema's properties, or the `--into`/`answer` field), then
 * `_error`. A CSV row cannot grow a column after the header, so a field that first shows up in a
 * later record (heterogeneous NDJSON written as CSV) is reported through `onExtraField` once per
 * name; NDJSON output keeps every field. Objects and arrays are written as JSON.
 */
import { stringify } from 'csv-stringify/sync';

export type OutputFormat = 'ndjson' | 'csv';

export interface WriteOptions {
  format: OutputFormat;
  /** CSV: the answer's columns, placed after the input's. */
  answerColumns?: readonly string[] | undefined;
  /** CSV: called once per field name that is missing from the header and so cannot be written. */
  onExtraField?: ((name: string) => void) | undefined;
}

/** A stateful record → text function (the CSV header comes with the first record). */
export type Formatter = (record: Record<string, unknown>) => string;

export function createFormatter(options: WriteOptions): Formatter {
  if (options.format === 'ndjson') return (record) => `${JSON.stringify(record)}\n`;
  const answer = options.answerColumns ?? [];
  let columns: string[] | undefined;
  const extra = new Set<string>();
  return (record) => {
    let header = '';
    if (!columns) {
      const input = Object.keys(record).filter((key) => key !== '_error' && !answer.includes(key));
      columns = [...input, ...answer, '_error'];
      header = stringify([columns]);
    }
    for (const key of Object.keys(record)) {
      if (!columns.includes(key) && !extra.has(key)) {
        extra.add(key);
        options.onExtraField?.(key);
      }
    }
    return header + stringify([columns.map((column) => cell(record[column]))]);
  };
}

/** The output stage for `pipeline`: records → text. */
export function writeRecords(options: WriteOptions): (source: AsyncIterable<Record<string, unknown>>) => AsyncGenerator<string> {
  return async function* write(source) {
    const format = createFormatter(options);
    for await (const record of source) yield format(record);
  };
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
