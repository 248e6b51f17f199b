/**
 * Input stage: bytes (a file or stdin) → `SourceRecord`s, each carrying its 1-based input line so
 * every later error can name it. CSV goes through csv-parse (header row, BOM, CRLF, quoted
 * newlines; UTF-8 split across chunks is decoded by csv-parse itself). NDJSON is split into lines
 * by `splitLines`, one JSON object a line; a bad line becomes a record with `error` (type
 * `invalid_input`) and the rest go on, while a CSV that cannot be parsed is fatal (an unclosed quote
 * or a wrong field count leaves no trustworthy record boundary to continue from).
 *
 * Generators, not `Transform`s: pull-based backpressure for free, and `throw` ends the pipeline.
 */
import { pipeline } from 'node:stream/promises';
import { CsvError, parse } from 'csv-parse';
import { BatchEnrichError, shown } from '../errors.ts';
import { splitLines } from '../core/lines.ts';
import type { RecordError } from '../core/result.ts';

export type InputFormat = 'csv' | 'ndjson';

export interface SourceRecord {
  /** 0-based position in the input: output order follows it. */
  seq: number;
  /** 1-based line of the input where the record starts. */
  line: number;
  data: Record<string, unknown>;
  /** Set when the record cannot be used (a bad NDJSON line: `data` is empty, the raw text is in `error.input`). */
  error?: RecordError;
}

export interface ReadOptions {
  /** csv or ndjson; absent: from `file`'s extension, else sniffed from the first non-blank byte. */
  format?: InputFormat | undefined;
  /** Shown in error messages; `-` or absent means stdin. */
  file?: string | undefined;
  /** Called once with the CSV header (before the first record), e.g. to check template fields. */
  onColumns?: ((columns: string[]) => void) | undefined;
}

type Chunks = AsyncIterable<Buffer | string>;

/** Reads records of the given or detected format. */
export function readRecords(options: ReadOptions = {}): (source: Chunks) => AsyncGenerator<SourceRecord> {
  return async function* read(source) {
    let format = options.format ?? formatFromName(options.file);
    let chunks: Chunks = source;
    if (!format) {
      const sniffed = await sniff(source);
      format = sniffed.format;
      chunks = sniffed.chunks;
    }
    yield* format === 'csv' ? readCsv(chunks, options) : readNdjson(chunks, options);
  };
}

export function formatFromName(file: string | undefined): InputFormat | undefined {
  if (!file || file === '-') return undefined;
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.ndjson') || lower.endsWith('.jsonl') || lower.endsWith('.json')) return 'ndjson';
  return undefined;
}

function where(file: string | undefined): string {
  return !file || file === '-' ? '<stdin>' : file;
}

/** Looks at the first non-blank byte (after a BOM): `{` (or `[`) is NDJSON, anything else CSV. */
async function sniff(source: Chunks): Promise<{ format: InputFormat; chunks: Chunks }> {
  const iterator = source[Symbol.asyncIterator]();
  const seen: (Buffer | string)[] = [];
  // Everything seen so far as latin1 (one char a byte): it is only whitespace or part of a BOM until
  // the format is known, and keeping it lets a BOM split across chunks be recognised.
  let head = '';
  let format: InputFormat | undefined;
  while (!format) {
    const next = await iterator.next();
    if (next.done) break;
    seen.push(next.value);
    head += (typeof next.value === 'string' ? Buffer.from(next.value) : next.value).toString('latin1');
    const rest = head.trimStart();
    if (rest.length < BOM_LATIN1.length && BOM_LATIN1.startsWith(rest)) continue;
    const first = (rest.startsWith(BOM_LATIN1) ? rest.slice(BOM_LATIN1.length).trimStart() : rest)[0];
    // `[` too: a JSON array is refused by the NDJSON reader with the command that converts it.
    if (first !== undefined) format = first === '{' || first === '[' ? 'ndjson' : 'csv';
  }
  async function* chunks() {
    try {
      yield* seen;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    } finally {
      await iterator.return?.(); // stopped early: close the source we took the iterator of
    }
  }
  return { format: format ?? 'ndjson', chunks: chunks() };
}
const BOM_LATIN1 = '\xef\xbb\xbf';

export async function* readNdjson(source: Chunks, options: ReadOptions = {}): AsyncGenerator<SourceRecord> {
  let line = 0;
  let seq = 0;
  const file = where(options.file);
  function toRecord(raw: string): SourceRecord | undefined {
    line += 1;
    const text = line === 1 && raw.startsWith('\ufeff') ? raw.slice(1) : raw;
    if (text.trim() === '') return undefined;
    if (seq === 0 && text.trimStart().startsWith('[')) {
      throw new BatchEnrichError(
        'BE_INPUT',
        `${file}:${line}: this is a JSON array, but the input must be NDJSON (one JSON object per line); convert it first, e.g. with: jq -c '.[]' ${file === '<stdin>' ? 'FILE' : file}`,
        { file, line },
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return bad(`${file}:${line}: not valid JSON (${(error as Error).message}): ${shown(text)}`, text);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return bad(`${file}:${line}: expected a JSON object, got ${shown(value)}`, text);
    }
    return { seq: seq++, line, data: value as Record<string, unknown> };
  }
  function bad(message: string, text: string): SourceRecord {
    return { seq: seq++, line, data: {}, error: { type: 'invalid_input', message, input: text } };
  }
  for await (const raw of splitLines(source)) {
    const record = toRecord(raw);
    if (record) yield record;
  }
}

export async function* readCsv(source: Chunks, options: ReadOptions = {}): AsyncGenerator<SourceRecord> {
  const file = where(options.file);
  let columns: string[] | undefined;
  // csv-parse reports the line where a record ends and counts a CRLF inside a quoted field as two
  // lines. Start lines are worked out in csv-parse's own callbacks, synchronously and in order, so they
  // also count records it has parsed but we have not consumed yet (an error raised later in the same
  // chunk drops those): `extraLines` is the CRLF overcount so far, `lastEnd`/`lastEmpty` the raw line
  // where the last record (or the header) ended and how many empty lines csv-parse had skipped by then.
  const at = { extraLines: 0, lastEnd: 0, lastEmpty: 0 };
  const startLine = (values: readonly unknown[], lines: number, emptyLines: number) => {
    const { breaks, crlf } = lineBreaks(values);
    at.extraLines += crlf;
    at.lastEnd = lines;
    at.lastEmpty = emptyLines;
    return lines - at.extraLines - breaks;
  };
  const parser = parse({
    bom: true,
    columns: (header: string[]) => {
      const line = startLine(header, parser.info.lines, parser.info.empty_lines);
      const duplicate = header.find((name, i) => header.indexOf(name) !== i);
      if (duplicate !== undefined) {
        throw new BatchEnrichError('BE_CSV_PARSE', `${file}:${line}: duplicate column ${shown(duplicate)} in the CSV header`, { file, line });
      }
      columns = header;
      options.onColumns?.(header);
      return header;
    },
    on_record: (record: Record<string, string>, info: { lines: number; empty_lines: number }) => ({
      data: record,
      line: startLine(Object.values(record), info.lines, info.empty_lines),
    }),
    skip_empty_lines: true,
    // Files stitched together from several sources mix CRLF and LF; csv-parse would otherwise take the first one it sees.
    record_delimiter: ['\r\n', '\n', '\r'],
  });
  const feeding = pipeline(source, parser);
  // Errors reach us through `parser`; without this, stopping early (a consumer that breaks out of the
  // loop) would leave pipeline's premature-close rejection unhandled.
  feeding.catch(() => {});
  let seq = 0;
  try {
    for await (const { data, line } of parser as AsyncIterable<{ data: Record<string, string>; line: number }>) {
      yield { seq: seq++, line, data };
    }
    await feeding;
  } catch (error) {
    throw csvError(error, file, at);
  }
  if (!columns) options.onColumns?.([]);
}

/** Line breaks inside field values, and how many of them are CRLFs (which csv-parse counts twice). */
function lineBreaks(values: readonly unknown[]): { breaks: number; crlf: number } {
  let breaks = 0;
  let crlf = 0;
  for (const value of values) {
    if (typeof value !== 'string' || !(value.includes('\n') || value.includes('\r'))) continue;
    breaks += (value.match(/\r\n|\r|\n/g) ?? []).length;
    crlf += (value.match(/\r\n/g) ?? []).length;
  }
  return { breaks, crlf };
}

function csvError(error: unknown, file: string, at: { extraLines: number; lastEnd: number; lastEmpty: number }): unknown {
  if (error instanceof BatchEnrichError) return error;
  if (!(error instanceof CsvError)) {
    return new BatchEnrichError('BE_INPUT', `${file}: cannot read input: ${(error as Error)?.message ?? String(error)}`, { file, cause: error });
  }
  // The line the user should look at: where the bad record starts (an unclosed quote or a wrong field
  // count), else where csv-parse stopped (a stray quote).
  const lines = error['lines'];
  const record = error['record'];
  const emptyLines = error['empty_lines'];
  let line: number | undefined;
  if (typeof lines === 'number') {
    if (error.code === 'CSV_QUOTE_NOT_CLOSED' && typeof emptyLines === 'number') {
      line = at.lastEnd + 1 + (emptyLines - at.lastEmpty) - at.extraLines;
    } else if (Array.isArray(record)) {
      const { breaks, crlf } = lineBreaks(record);
      line = lines - at.extraLines - crlf - breaks;
    } else {
      line = lines - at.extraLines;
    }
  }
  const detail = csvDetail(error, record);
  return new BatchEnrichError('BE_CSV_PARSE', `${file}${line === undefined ? '' : `:${line}`}: invalid CSV: ${detail}`, {
    file,
    ...(line === undefined ? {} : { line }),
    cause: error,
  });
}

/** What went wrong, in words a user can act on; csv-parse's own text for the rarer errors. */
function csvDetail(error: CsvError, record: unknown): string {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field that starts in this record is never closed (a missing closing ")';
    case 'CSV_RECORD_INCONSISTENT_COLUMNS':
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      const got = Array.isArray(record) ? record.length : undefined;
      const expected = /columns length is (\d+)/.exec(error.message)?.[1];
      if (got !== undefined && expected !== undefined) return `expected ${expected} fields, as in the header, got ${got}`;
      break;
    }
  }
  // csv-parse's own line number is left out: it is where the record ends, and counts quoted CRLFs twice.
  return error.message.replace(/ (?:on|at) line \d+/g, '').replace(/\.$/, '');
}
