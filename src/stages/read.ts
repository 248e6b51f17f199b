/**
 * Input stage: bytes (a file or stdin) → `SourceRecord`s, each carrying its 1-based input line so
 * every later error can name it. CSV goes through csv-parse (header row, BOM, CRLF, quoted
 * newlines; UTF-8 split across chunks is decoded by csv-parse itself). NDJSON is split here with a
 * `StringDecoder`, one JSON object a line; a bad line becomes a record with `error` (type
 * `invalid_input`) and the rest go on, while a CSV that cannot be parsed is fatal (an unclosed quote
 * or a wrong field count leaves no trustworthy record boundary to continue from).
 *
 * Generators, not `Transform`s: pull-based backpressure for free, and `throw` ends the pipeline.
 */
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import { parse, type CsvError } from 'csv-parse';
import { BatchEnrichError, shown } from '../errors.ts';
import type { RecordError } from '../core/result.ts';

export type InputFormat = 'csv' | 'ndjson';

export interface SourceRecord {
  /** 0-based position in the input: output order follows it. */
  seq: number;
  /** 1-based line of the input where the record starts. */
  line: number;
  data: Record<string, unknown>;
  /** Set when the record cannot be used (bad NDJSON line); `data` then holds what could be kept. */
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

/** Looks at the first non-blank byte (after a BOM): `{` is NDJSON, anything else CSV. */
async function sniff(source: Chunks): Promise<{ format: InputFormat; chunks: Chunks }> {
  const iterator = source[Symbol.asyncIterator]();
  const seen: (Buffer | string)[] = [];
  let format: InputFormat | undefined;
  while (!format) {
    const next = await iterator.next();
    if (next.done) break;
    seen.push(next.value);
    const text = typeof next.value === 'string' ? next.value : next.value.toString('latin1');
    const first = text.replace(/^[\s\ufeff]+/, '').replace(/^\xef\xbb\xbf/, '').trimStart()[0];
    if (first !== undefined) format = first === '{' ? 'ndjson' : 'csv';
  }
  async function* chunks() {
    yield* seen;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  }
  return { format: format ?? 'ndjson', chunks: chunks() };
}

export async function* readNdjson(source: Chunks, options: ReadOptions = {}): AsyncGenerator<SourceRecord> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let line = 0;
  let seq = 0;
  const file = where(options.file);
  function* lines(text: string, final: boolean): Generator<SourceRecord> {
    pending += text;
    let start = 0;
    for (let nl = pending.indexOf('\n', start); nl !== -1; nl = pending.indexOf('\n', start)) {
      const record = toRecord(pending.slice(start, nl));
      start = nl + 1;
      if (record) yield record;
    }
    pending = pending.slice(start);
    if (final && pending !== '') {
      const record = toRecord(pending);
      pending = '';
      if (record) yield record;
    }
  }
  function toRecord(raw: string): SourceRecord | undefined {
    line += 1;
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === 1 && text.startsWith('\ufeff')) text = text.slice(1);
    if (text.trim() === '') return undefined;
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
    return { seq: seq++, line, data: { _input: text }, error: { type: 'invalid_input', message } };
  }
  for await (const chunk of source) {
    yield* lines(typeof chunk === 'string' ? chunk : decoder.write(chunk), false);
  }
  yield* lines(decoder.end(), true);
}

export async function* readCsv(source: Chunks, options: ReadOptions = {}): AsyncGenerator<SourceRecord> {
  const file = where(options.file);
  let columns: string[] | undefined;
  const parser = parse({
    bom: true,
    columns: (header: string[]) => {
      const duplicate = header.find((name, i) => header.indexOf(name) !== i);
      if (duplicate !== undefined) {
        throw new BatchEnrichError('BE_CSV_PARSE', `${file}:1: duplicate column ${shown(duplicate)} in the CSV header`, { file, line: 1 });
      }
      columns = header;
      options.onColumns?.(header);
      return header;
    },
    info: true,
    skip_empty_lines: true,
  });
  const feeding = pipeline(source, parser);
  // csv-parse counts a CRLF inside a quoted field as two lines; `extraLines` corrects for it.
  let extraLines = 0;
  let seq = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      let breaks = 0;
      for (const value of Object.values(record)) {
        if (value.includes('\n') || value.includes('\r')) {
          breaks += (value.match(/\r\n|\r|\n/g) ?? []).length;
          extraLines += (value.match(/\r\n/g) ?? []).length;
        }
      }
      yield { seq: seq++, line: info.lines - extraLines - breaks, data: record };
    }
    await feeding;
  } catch (error) {
    feeding.catch(() => {});
    throw csvError(error, file, extraLines);
  }
  if (!columns) options.onColumns?.([]);
}

function csvError(error: unknown, file: string, extraLines: number): unknown {
  if (error instanceof BatchEnrichError) return error;
  const csv = error as CsvError & { lines?: number };
  if (typeof csv?.code !== 'string' || !csv.code.startsWith('CSV_')) {
    return new BatchEnrichError('BE_INPUT', `${file}: cannot read input: ${(error as Error)?.message ?? String(error)}`, { file, cause: error });
  }
  const line = typeof csv.lines === 'number' ? csv.lines - extraLines : undefined;
  const detail = csv.message.replace(/ (?:on|at) line \d+\.?$/, '');
  return new BatchEnrichError('BE_CSV_PARSE', `${file}${line === undefined ? '' : `:${line}`}: invalid CSV: ${detail}`, {
    file,
    ...(line === undefined ? {} : { line }),
    cause: error,
  });
}
