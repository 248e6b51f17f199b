/**
 * Input stage: bytes (a file or stdin) → `SourceRecord`s, each carrying its 1-based input line so
 * every later error can name it. On the way, in this order and each on a stream:
 *
 * 1. gzip (by magic bytes) is decompressed; a binary format we cannot read (Parquet, XLSX/ZIP, XLS,
 *    NUL bytes) is refused by name before anything is parsed (`core/sniff.ts`).
 * 2. The bytes are decoded: `encoding`, else a BOM, else UTF-8 when valid, else chardet's guess, said
 *    once through `onWarning` (`core/encoding.ts`). A byte that is not valid in the encoding read is
 *    named (file and line) through `onWarning`, never silently turned into U+FFFD.
 * 3. The format: `format`, else `file`'s extension, else the first non-blank character (`{` or `[` is
 *    NDJSON, anything else CSV, whose delimiter is then sniffed from its header line).
 *
 * CSV and TSV go through csv-parse (header row or `header: false`, CRLF, quoted newlines for CSV; TSV
 * has no quoting). Complete records are cut out of the text as it comes and parsed at once, so a row
 * from a live stdin comes out as soon as its line ends (csv-parse alone holds the last row back until
 * more input or the end). Once the header is read, blocks go through a fast path that reads the same
 * records straight from the string (`core/csv.ts`), and csv-parse gets whatever that leaves, errors
 * included. NDJSON is split into lines by `splitLines`, one JSON object a line; a bad,
 * too deep or too large line becomes a record with `error` (type `invalid_input`) and the rest go on,
 * while a CSV that cannot be parsed is fatal (an unclosed quote or a wrong field count leaves no
 * trustworthy record boundary to continue from).
 *
 * Generators, not `Transform`s: pull-based backpressure for free, and `throw` ends the pipeline.
 */
import { isAscii } from 'node:buffer';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { CsvError, type Options as CsvParseOptions } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { BatchEnrichError, isBatchEnrichError, shown } from '../errors.ts';
import { indexOr, isBlankRecord, parseSimpleCsv } from '../core/csv.ts';
import { JsonArrayError, splitJsonArray, splitJsonValues } from '../core/json-array.ts';
import { aBoolean, aFunction, aPositiveInteger, aString, checkOptions, oneOf, type OptionRule } from './options.ts';
import { splitLinesCapped } from '../core/lines.ts';
import { bomOf, countLineEnds, createDecoding, detectEncoding, DETECT_SAMPLE_BYTES, firstNonAscii, incompleteUtf8Tail, isSingleByte, lineByLineDecoding, utf16WithoutBom, type EncodingChoice } from '../core/encoding.ts';
import { MAX_DEPTH, mayNeedScan, parseLossless, scanJson } from '../core/rawjson.ts';
import { binaryFormat, BINARY_SNIFF_BYTES, formatFromName, isGzip, MAGIC_BYTES, sniffDelimiter, type InputFormat } from '../core/sniff.ts';
import type { RecordError } from '../core/result.ts';
import { inputName, plural } from '../core/text.ts';

export { formatFromName, type InputFormat };

export interface SourceRecord {
  /** 0-based position in the input: output order follows it. */
  seq: number;
  /** 1-based line of the input where the record starts. */
  line: number;
  /**
   * The record's fields. From NDJSON, a number that a JavaScript number would not write back as it
   * came (9007199254740993, 1e400) is a raw number (see `core/rawjson.ts`): the writers put it back
   * unchanged.
   */
  data: Record<string, unknown>;
  /** Set when the record cannot be used (a bad NDJSON line: `data` is empty, the raw text is in `error.input`). */
  error?: RecordError;
  /**
   * Fields of this record that hold documents, attached whatever the stage's `attach` says: a file
   * record of `readFolder`, `readPaths` (`path`), so that the library attaches it as the CLI does.
   */
  attach?: readonly string[] | undefined;
  /** Where the record comes from, named in its messages when the stage is not told (`file`): a folder record's folder. */
  source?: string | undefined;
}

/** The scan of a line that cannot hold a lossy number or deep nesting. */
const NOTHING_TO_KEEP = { depth: 0, lossy: [] };

/** NDJSON lines longer than this (in characters) are that record's `invalid_input`, not read whole. */
export const MAX_RECORD_CHARS = 16 * 1024 * 1024;

export interface ReadOptions {
  /** csv, tsv or ndjson; absent: from `file`'s extension, else sniffed from the first non-blank character. */
  format?: InputFormat | undefined;
  /** Shown in error messages; `-` or absent means stdin. */
  file?: string | undefined;
  /** Called once with the CSV header (before the first record), e.g. to check template fields, and the header's 1-based line (past a sep= line and blank lines). */
  onColumns?: ((columns: string[], line?: number) => void) | undefined;
  /** The input's text encoding (an iconv-lite name such as `windows-1252`); absent: detected. */
  encoding?: string | undefined;
  /** CSV: the field delimiter; absent: `\t` for TSV, else an Excel `sep=X` first line's, else sniffed from the header (`,` `;` tab `|`). */
  delimiter?: string | undefined;
  /** CSV/TSV: false when the first row is data; the columns are then named `1`, `2`, … */
  header?: boolean | undefined;
  /** Said once each: the encoding assumed for input that is not UTF-8, bytes not valid in it. */
  onWarning?: ((message: string) => void) | undefined;
  /** NDJSON: longer lines are `invalid_input`; CSV: a longer record stops the read (default `MAX_RECORD_CHARS`). */
  maxRecordChars?: number | undefined;
}

type Chunks = AsyncIterable<Buffer | string>;

/** What `readRecords` takes (see `checkOptions`). */
const READ_OPTIONS: Readonly<Record<keyof ReadOptions, OptionRule>> = {
  format: oneOf(['csv', 'tsv', 'ndjson'], '(a JSON array is read as ndjson)'),
  file: aString,
  onColumns: aFunction,
  encoding: aString,
  delimiter: aString,
  header: aBoolean,
  onWarning: aFunction,
  maxRecordChars: aPositiveInteger,
};

/** Reads records of the given or detected format, from bytes in any encoding (or gzip), or from text. */
export function readRecords(options: ReadOptions = {}): (source: Chunks) => AsyncGenerator<SourceRecord> {
  checkOptions('readRecords', options, READ_OPTIONS);
  return async function* read(source) {
    const badLines = new BadLines(inputName(options.file), options.onWarning ?? (() => {}));
    const text = decodeText(await unpack(failingAsInput(source, inputName(options.file)), options.file), options, badLines);
    let format = options.format ?? formatFromName(options.file);
    let chunks: AsyncIterable<string> = text;
    if (!format) {
      const sniffed = await sniff(text);
      format = sniffed.format;
      chunks = sniffed.chunks;
    }
    try {
      for await (const record of format === 'ndjson' ? readNdjson(chunks, options) : readCsv(chunks, { ...options, format })) {
        badLines.sayUpTo(record.line);
        yield record;
      }
    } catch (error) {
      // The input is refused (a CSV it cannot parse, a header without the prompt's columns): the bytes
      // read as U+FFFD may be why, and are said first.
      badLines.end();
      throw error;
    }
    badLines.end();
  };
}

/**
 * The lines with bytes not valid in the input's encoding, each named once the reader has come to it
 * (the decoder reads ahead: a reader stopped early, as by `--limit`, names no line it did not read),
 * the first `BAD_LINES_NAMED` of them; the rest are counted at the end.
 */
class BadLines {
  readonly #file: string;
  readonly #warn: (message: string) => void;
  /** Found by the decoder, not yet said: line, what to say of it, of the lines past the named ones, and the hint the first one gets. */
  readonly #found: { line: number; what: string; more: string; hint: string }[] = [];
  #said = 0;
  #more = 0;
  #moreWhat = '';

  constructor(file: string, warn: (message: string) => void) {
    this.#file = file;
    this.#warn = warn;
  }

  add(line: number, what: string, more: string, hint: string): void {
    this.#found.push({ line, what, more, hint });
  }

  /** Says the lines found up to `line`. */
  sayUpTo(line: number): void {
    while (this.#found.length > 0 && (this.#found[0] as { line: number }).line <= line) {
      const { line: at, what, more, hint } = this.#found.shift() as { line: number; what: string; more: string; hint: string };
      this.#moreWhat = more;
      if (++this.#said > BAD_LINES_NAMED) this.#more++;
      else this.#warn(`${this.#file}:${at}: ${what}${this.#said === 1 ? hint : ''}`);
    }
  }

  /** The whole input was read: says the rest, and how many were not named. */
  end(): void {
    this.sayUpTo(Number.POSITIVE_INFINITY);
    if (this.#more > 0) this.#warn(`${this.#file}: ${plural(this.#more, 'more line')} ${this.#moreWhat}`);
  }
}

/** An async iterator whose first chunks can be looked at and put back. */
class Lookahead<T> {
  readonly #iterator: AsyncIterator<T>;
  readonly #back: T[] = [];
  constructor(source: AsyncIterable<T>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }
  async next(): Promise<T | undefined> {
    if (this.#back.length > 0) return this.#back.shift();
    const next = await this.#iterator.next();
    return next.done ? undefined : next.value;
  }
  unshift(...chunks: T[]): void {
    this.#back.unshift(...chunks);
  }
  /** Closes the source (a consumer stopped early). */
  async close(): Promise<void> {
    await this.#iterator.return?.();
  }
  async *rest(): AsyncGenerator<T> {
    try {
      for (let chunk = await this.next(); chunk !== undefined; chunk = await this.next()) yield chunk;
    } finally {
      await this.#iterator.return?.(); // stopped early: close the source we took the iterator of
    }
  }
}

const asBytes = (chunk: Buffer | string): Buffer => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk);

/**
 * The input's bytes, gunzipped when they are gzip; refuses a binary format by name. Looks at no more
 * than it needs: the first `MAGIC_BYTES`, or fewer when they already cannot start any magic number (a
 * live stdin with a short first row is not kept waiting).
 */
async function unpack(source: Chunks, file: string | undefined): Promise<AsyncIterable<Buffer>> {
  const input = new Lookahead(source);
  const seen: Buffer[] = [];
  let head = Buffer.alloc(0);
  for (let chunk = await input.next(); chunk !== undefined; chunk = head.length >= MAGIC_BYTES || !mayBeMagic(head) ? undefined : await input.next()) {
    seen.push(asBytes(chunk));
    head = Buffer.concat([head, asBytes(chunk)]);
  }
  input.unshift(...seen);
  const bytes = (async function* () {
    for await (const chunk of input.rest()) yield asBytes(chunk);
  })();
  if (isGzip(head)) {
    const gunzip = createGunzip();
    const feeding = pipeline(Readable.from(bytes), gunzip);
    feeding.catch(() => {}); // errors reach us through `gunzip`
    return unpack(
      (async function* () {
        try {
          for await (const chunk of gunzip) yield chunk as Buffer;
        } catch (error) {
          throw new BatchEnrichError('BE_INPUT', `${inputName(file)}: not a valid gzip file: ${(error as Error).message}`, { file: inputName(file), cause: error });
        }
      })(),
      file?.replace(/\.gz$/i, ''),
    );
  }
  const binary = bomOf(head) || utf16WithoutBom(head) ? undefined : binaryFormat(head, file);
  if (binary) {
    await input.close();
    throw binaryInput(file, binary);
  }
  return bytes;
}

function binaryInput(file: string | undefined, binary: { name: string; hint: string }): BatchEnrichError {
  return new BatchEnrichError('BE_INPUT', `${inputName(file)}: this is ${binary.name}, not CSV, TSV or NDJSON text; ${binary.hint}`, { file: inputName(file) });
}

/** Whether `head` is a prefix of a magic number we look for (gzip's, a binary format's, a BOM). */
function mayBeMagic(head: Buffer): boolean {
  return head.length < 2 || [[0x1f, 0x8b], [0x50, 0x41, 0x52, 0x31], [0x50, 0x4b, 0x03, 0x04], [0xd0, 0xcf, 0x11, 0xe0], [0x25, 0x50, 0x44, 0x46], [0x42, 0x5a, 0x68], [0xfd, 0x37, 0x7a, 0x58], [0x28, 0xb5, 0x2f, 0xfd], [0x53, 0x51, 0x4c, 0x69], [0xef, 0xbb, 0xbf]].some((magic) => magic.every((byte, i) => i >= head.length || head[i] === byte));
}

/**
 * Bytes → text (see `core/encoding.ts`). ASCII is the same in every encoding we detect, so it passes
 * at once; the decision is made at the first non-ASCII byte, on the bytes seen so far.
 */
async function* decodeText(source: AsyncIterable<Buffer>, options: ReadOptions, badLines: BadLines): AsyncGenerator<string> {
  const file = inputName(options.file);
  const warn = options.onWarning ?? (() => {});
  let lines = 0; // line ends (CR, LF, CRLF) in the text given out so far, to name the line of a bad byte
  let last = -1; // the last character given out
  const out = (text: string) => {
    lines += countLineEnds(text, 0, text.length, last);
    if (text.length > 0) last = text.charCodeAt(text.length - 1);
    return text;
  };
  // Each line with bytes not valid in the encoding, once (see `BadLines`).
  let lastBadLine = 0;
  const decoderFor = (choice: EncodingChoice, fromStart: boolean) => {
    // Detected, not given: a file of two encodings is read line by line, each line in its own (see
    // `lineByLineDecoding`): UTF-8 lines in a windows-1252 file, windows-1252 lines in a UTF-8 one
    // (also one decided as UTF-8 on its first accents, whose stray bytes came later).
    // A UTF-8 BOM says UTF-8, as valid UTF-8 does: an export with windows-1252 lines appended is read so too.
    const utf8 = choice.how === 'utf-8' || (choice.how === 'bom' && choice.encoding === 'utf-8');
    if (utf8 || (choice.how === 'detected' && isSingleByte(choice.encoding))) {
      const other = utf8 ? 'windows-1252' : choice.encoding;
      const hint = choice.mixed ? '' : '; if the file is in another encoding, give it with --encoding NAME';
      return lineByLineDecoding(
        other,
        (linesBefore, lineIsUtf8, replaced) => {
          const line = lines + 1 + linesBefore;
          const fffd = `bytes that are not valid ${other}`;
          if (utf8 && !lineIsUtf8) badLines.add(line, `this line is not valid UTF-8: read as ${other}${replaced ? `, and ${fffd} as U+FFFD (\ufffd)` : ''}`, `were not valid UTF-8, read as ${other}`, hint);
          else if (replaced) badLines.add(line, `${fffd} were read as U+FFFD (\ufffd)`, `had ${fffd}, read as U+FFFD (\ufffd)`, '; if the file is in another encoding, give it with --encoding NAME');
          if (!utf8 && lineIsUtf8) badLines.add(line, `this line is valid UTF-8 in a file read as ${other}`, `were valid UTF-8 in a file read as ${other}, read as UTF-8`, ' (pasted together from two files?): each line that is valid UTF-8 is read as UTF-8');
        },
        !utf8,
      );
    }
    return createDecoding(choice.encoding, fromStart, (linesBefore) => {
      const line = lines + 1 + linesBefore;
      if (line === lastBadLine) return;
      lastBadLine = line;
      badLines.add(line, `bytes that are not valid ${choice.encoding} were read as U+FFFD (\ufffd)`, `had bytes that are not valid ${choice.encoding}, read as U+FFFD (\ufffd)`, choice.how === 'given' || choice.how === 'bom' ? '' : '; if the file is in another encoding, give it with --encoding NAME (e.g. --encoding windows-1252)');
    });
  };
  const input = new Lookahead(source);
  try {
    let choice: EncodingChoice | undefined = options.encoding ? { encoding: options.encoding, how: 'given' } : undefined;
    let fromStart = true;
    let sample: Buffer[] = [];
    let sampleBytes = 0; // bytes in `sample`
    let sampled = 0; // of them, given out already (ASCII)
    /** Bytes taken from the input so far (the current chunk's included). */
    let received = 0;
    while (!choice) {
      const chunk = await input.next();
      const final = chunk === undefined;
      received += chunk?.length ?? 0;
      if (chunk && !fromStart && sampled === sampleBytes && isAscii(chunk) && !chunk.includes(0)) {
        // The common case, an ASCII chunk after ASCII: out as it is; the sample keeps the last 64 KB (no copy).
        yield out(chunk.toString('latin1'));
        sample.push(chunk);
        sampleBytes += chunk.length;
        while (sample.length > 1 && sampleBytes - (sample[0]?.length ?? 0) >= DETECT_SAMPLE_BYTES) sampleBytes -= sample.shift()?.length ?? 0;
        sampled = sampleBytes;
        continue;
      }
      const head = Buffer.concat(chunk === undefined ? sample : [...sample, chunk]);
      if (fromStart) {
        if (head.length < 3 && !final && (head.length === 0 || [0xef, 0xfe, 0xff].includes(head[0] as number))) {
          sample = [head];
          sampleBytes = head.length;
          continue; // may be a BOM
        }
        const bom = bomOf(head);
        const utf16 = bom ? undefined : utf16WithoutBom(head);
        if (bom) choice = { encoding: bom.encoding, how: 'bom' };
        else if (utf16) choice = { encoding: utf16, how: 'utf-16' };
        if (choice) {
          // A UTF-8 BOM is taken off here: the file is read line by line as one without (below).
          input.unshift(bom?.encoding === 'utf-8' ? head.subarray(bom.length) : head);
          break;
        }
      }
      // A NUL byte in the first 4 KB says binary data (as `binaryFormat` sniffs), refused before
      // anything is read. One further on is text's (a damaged row): the CSV reader names its line, and
      // an NDJSON line holding one is that record's `invalid_input`; refused here, it ended a run that
      // had paid for batches, naming no line.
      const nul = head.indexOf(0, fromStart ? 0 : sampled);
      if (nul !== -1 && received - head.length + nul < BINARY_SNIFF_BYTES) throw binaryInput(options.file, { name: 'binary data (it has NUL bytes)', hint: 'give a CSV, TSV or NDJSON text file' });
      const nonAscii = firstNonAscii(head, fromStart ? 0 : sampled);
      if (nonAscii === -1 || (!final && nonAscii >= head.length - incompleteUtf8Tail(head))) {
        if (final) {
          if (head.length > sampled) yield out(head.subarray(sampled).toString('latin1'));
          return;
        }
        // All ASCII so far (or a first non-ASCII byte that may be a split UTF-8 sequence): give the
        // ASCII out now, keep a sample for the detector.
        const ascii = nonAscii === -1 ? head.length : nonAscii;
        if (ascii > sampled) yield out(head.subarray(sampled, ascii).toString('latin1'));
        fromStart = false;
        const kept = head.length > DETECT_SAMPLE_BYTES ? head.subarray(head.length - DETECT_SAMPLE_BYTES) : head;
        sampled = ascii - (head.length - kept.length);
        sample = [kept];
        sampleBytes = kept.length;
        continue;
      }
      choice = detectEncoding(head, final);
      if (choice.how === 'detected') {
        warn(`${file}: not valid UTF-8; reading it as ${choice.encoding}${choice.detected ? ` (detected as ${choice.detected})` : ''}; if that is wrong, give --encoding NAME`);
      } else if (choice.mixed) {
        warn(`${file}: mostly UTF-8, with some lines that are not: those are read as windows-1252, each named; if that is wrong, give --encoding NAME`);
      }
      input.unshift(head.subarray(sampled));
    }
    const decoder = decoderFor(choice, fromStart);
    for await (const chunk of input.rest()) {
      const text = decoder.write(chunk);
      if (text) yield out(text);
    }
    const rest = decoder.end();
    if (rest) yield out(rest);
  } finally {
    await input.close();
  }
}

/** How many lines with bytes not valid in the input's encoding are named one by one (the rest are counted). */
const BAD_LINES_NAMED = 10;

/** Looks at the first non-blank character: `{` (or `[`) is NDJSON, anything else CSV. */
async function sniff(source: AsyncIterable<string>): Promise<{ format: InputFormat; chunks: AsyncIterable<string> }> {
  const input = new Lookahead(source);
  const seen: string[] = [];
  let format: InputFormat | undefined;
  while (!format) {
    const chunk = await input.next();
    if (chunk === undefined) break;
    seen.push(chunk);
    // `[` too: the NDJSON reader reads a JSON array's elements as its records.
    const first = seen.join('').replace(/^\ufeff/, '').trimStart()[0];
    if (first !== undefined) format = first === '{' || first === '[' ? 'ndjson' : 'csv';
  }
  input.unshift(...seen);
  return { format: format ?? 'ndjson', chunks: input.rest() };
}

export async function* readNdjson(source: Chunks, options: ReadOptions = {}): AsyncGenerator<SourceRecord> {
  let line = 0;
  let seq = 0;
  const file = inputName(options.file);
  const maxChars = options.maxRecordChars ?? MAX_RECORD_CHARS;
  /** `contentLength`: the record's size against the cap, when not its text's (a JSON array's element: its content's, without the spaces its text keeps). */
  function toRecord(raw: string, contentLength?: number): SourceRecord | undefined {
    // A BOM starts no JSON text: on any line it is a file's, joined on (`cat a.ndjson b.ndjson`).
    const text = raw.startsWith('\ufeff') ? raw.slice(1) : raw;
    if (text.trim() === '') return undefined;
    const length = contentLength ?? text.length;
    if (length > maxChars) return tooLarge(length);
    const scan = mayNeedScan(text) ? scanJson(text) : NOTHING_TO_KEEP;
    if (scan.depth > MAX_DEPTH) {
      return bad(`${file}:${line}: the record is nested ${scan.depth} levels deep, more than the ${MAX_DEPTH} batch-enrich reads`, text.slice(0, 200));
    }
    let value: unknown;
    try {
      value = parseLossless(text, scan);
    } catch (error) {
      return bad(`${file}:${line}: not valid JSON (${(error as Error).message}): ${shown(text)}`, text);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return bad(`${file}:${line}: expected a JSON object, got ${shown(value)}`, text);
    }
    return { seq: seq++, line, data: value as Record<string, unknown> };
  }
  function tooLarge(length: number): SourceRecord {
    return bad(`${file}:${line}: the record is ${length.toLocaleString('en')} characters long, more than the ${maxChars.toLocaleString('en')} batch-enrich reads`, '');
  }
  function bad(message: string, text: string): SourceRecord {
    return { seq: seq++, line, data: {}, error: { type: 'invalid_input', message, input: text } };
  }
  const { shape, chunks } = await jsonShape(source);
  if (shape !== 'lines') {
    // A JSON array (`[{…}, {…}]`, a `.json` dump), or pretty-printed objects one after another (`jq`
    // without `-c`): its values are the records, each at the line it starts on.
    try {
      for await (const element of shape === 'array' ? splitJsonArray(chunks, maxChars) : splitJsonValues(chunks, maxChars)) {
        line = element.line;
        const record = element.text === undefined ? tooLarge(element.length) : toRecord(element.text, element.length);
        if (record) yield record;
      }
    } catch (error) {
      if (!(error instanceof JsonArrayError)) throw error;
      throw new BatchEnrichError('BE_INPUT', `${file}:${error.line}: invalid JSON${shape === 'array' ? ' array' : ''}: ${error.message}`, { file, line: error.line });
    }
    return;
  }
  for await (const raw of splitLinesCapped(chunks, maxChars)) {
    line += 1;
    const record = typeof raw === 'string' ? toRecord(raw) : tooLarge(raw.length);
    if (record) yield record;
  }
}

/**
 * What the JSON text is, by how it starts: a JSON array (its first character that is not JSON white
 * space, nor a BOM, is `[`), pretty-printed values one after another (`values`: its first line that is
 * not blank is a lone `{`, which no NDJSON line is: `jq` without `-c`, PowerShell's ConvertTo-Json),
 * else NDJSON lines; and the text, whole, as strings.
 */
async function jsonShape(source: Chunks): Promise<{ shape: 'array' | 'values' | 'lines'; chunks: AsyncIterable<string> }> {
  const decoder = new StringDecoder('utf8');
  const input = new Lookahead(
    (async function* () {
      for await (const chunk of source) yield typeof chunk === 'string' ? chunk : decoder.write(chunk);
      const rest = decoder.end();
      if (rest) yield rest;
    })(),
  );
  const seen: string[] = [];
  // From the first character that is not white space to the end of its line (or of the input).
  let start: string | undefined;
  for (;;) {
    const chunk = await input.next();
    if (chunk === undefined) break;
    seen.push(chunk);
    if (start === undefined) {
      const at = /[^ \t\r\n\ufeff]/.exec(chunk)?.index;
      if (at !== undefined) start = chunk.slice(at);
    } else {
      start += chunk;
    }
    if (start !== undefined && (start[0] !== '{' || /[\r\n]/.test(start) || start.length > 4096)) break;
  }
  input.unshift(...seen);
  const shape = start?.[0] === '[' ? 'array' : start !== undefined && /^\{[ \t]*(?:[\r\n]|$)/.test(start) ? 'values' : 'lines';
  return { shape, chunks: input.rest() };
}

/**
 * CSV or TSV text → records. Complete records are cut out of the text as it arrives (a line break
 * outside quotes ends one) and parsed at once with csv-parse's sync API, so no row waits for input
 * after it; only a record still open at the end of what has arrived waits.
 */
export async function* readCsv(source: Chunks, options: ReadOptions = {}): AsyncGenerator<SourceRecord> {
  const file = inputName(options.file);
  const tsv = options.format === 'tsv';
  const kind = tsv ? 'TSV' : 'CSV';
  // TSV (IANA text/tab-separated-values) has no quoting: a `"` is text.
  const quoting = !tsv;
  let delimiter = options.delimiter ?? (tsv ? '\t' : undefined);
  let columns: string[] | undefined;
  /** The header as written (`columns` names its columns without a name by their position). */
  let header: readonly string[] | undefined;
  /** Excel's `sep=X` line, in lower case, when the input started with one: the same line again is no record. */
  let sepLine: string | undefined;
  let base = 0; // line breaks before the text being parsed
  let seq = 0;
  let pending = '';
  // The end of `pending` the boundary scan has yet to see (a chunk, and a CR kept from the one before):
  // scanned on its own, as a flat string. `pending` grows by `+=` (a rope): an `indexOf` on it would
  // flatten it at every chunk, quadratic in a long record (16 MB of an unclosed quote: 8 s).
  let fresh = '';
  let quoted = false; // inside quotes at the start of `fresh`
  let before = LF; // the character before `fresh`: a quote right after a line break opens a quoted field
  let badClose = -1; // in `pending`, a quoted field's closing quote with text after it (`"a"b`): the read stops there
  let boundary = 0; // end of the last complete record in `pending`
  let recordStart = 0; // where the record after `boundary` starts in `pending` (the scan's last record end)
  const maxChars = options.maxRecordChars ?? MAX_RECORD_CHARS;
  const decoder = new StringDecoder('utf8');
  /** The record at `start` in `pending` is over the cap (`recordTooLong`), at its own line. */
  const tooLong = (start: number, open: boolean) => recordTooLong(file, base + (pending.slice(0, start).match(/\r\n|\r|\n/g)?.length ?? 0) + 1, maxChars, open, kind);
  /** The record still open at the end of `pending` (its CR, which may be the start of a CRLF, not counted) is not over the cap. */
  const checkOpen = () => {
    if (pending.length - recordStart - (fresh.endsWith('\r') ? 1 : 0) > maxChars) throw tooLong(recordStart, quoted);
  };

  /**
   * Moves `boundary` past every record that has ended in `pending`. By `indexOf` (which V8 runs far
   * faster than a regex match per quote and line break), each of `"`, LF and CR looked for once per
   * stretch of text: the next of each is kept until the scan passes it.
   */
  const scan = () => {
    const text = fresh;
    const n = text.length;
    const offset = pending.length - n;
    let nextQuote = -1;
    let nextLf = -1;
    let nextCr = -1;
    let i = 0;
    while (i < n) {
      if (quoted) {
        const close = text.indexOf('"', i);
        if (close === -1) break;
        if (close + 1 === n) {
          fresh = '"'; // a quote at the end: whether it is doubled (text) or ends the field, the next character says
          return;
        }
        const after = text.charCodeAt(close + 1);
        i = close + (after === QUOTE ? 2 : 1);
        quoted = after === QUOTE; // a doubled quote is text in the field
        if (quoted || endsField(after, delimiter)) continue;
        badClose = offset + close;
        return;
      }
      if (nextQuote < i) nextQuote = quoting ? indexOr(text, '"', i) : n;
      if (nextLf < i) nextLf = indexOr(text, '\n', i);
      if (nextCr < i) nextCr = indexOr(text, '\r', i);
      const at = Math.min(nextQuote, nextLf, nextCr);
      if (at === n) break;
      i = at + 1;
      // A quote opens a quoted field only where a field starts; inside a field it is text (`27" screen`).
      if (at === nextQuote) quoted ||= startsField(at === 0 ? before : text.charCodeAt(at - 1), delimiter);
      else if (at === nextCr && at + 1 === n) {
        fresh = '\r'; // a CR at the end: wait to see whether an LF follows
        if (n > 1) before = text.charCodeAt(n - 2);
        return;
      } else if (!(at === nextCr && nextLf === at + 1)) {
        // A CRLF ends at its LF (a CR kept from the chunk before is in `text` with it). The record's
        // length leaves its line break out.
        boundary = offset + at + 1;
        if (offset + at - recordStart - (at === nextLf && at > 0 && text.charCodeAt(at - 1) === 0x0d ? 1 : 0) > maxChars) throw tooLong(recordStart, false);
        recordStart = boundary;
      }
    }
    if (n > 0) before = text.charCodeAt(n - 1);
    fresh = '';
  };

  const parseBlock = (text: string): SourceRecord[] => checkedForNul(text, base, file, kind, parseRecords);

  /** Blank lines of another width, ^Z, a sep= line again: a few said, the rest counted (Excel leaves thousands of blank rows). */
  const skips = aFewSaid(file, options.onWarning);
  const headerAgain = headerCheck(file, options, () => (sepLine === undefined ? undefined : { sepLine, delimiter: delimiter ?? ',' }), skips.say);
  const parseRecords = (block: string): SourceRecord[] => {
    // A byte order mark starting a record (Excel's, at the start of each file joined with `cat`) is
    // taken off, before a quote after it is read: else csv-parse keeps that quote as text.
    const text = block.includes('\ufeff') ? block.replace(RECORD_BOM, '$1') : block;
    // Once the columns are known, most blocks take the fast path (core/csv.ts); anything it leaves,
    // errors included, is csv-parse's below.
    const simple = columns && delimiter !== undefined ? parseSimpleCsv(text, { delimiter, quoting, width: columns.length }) : undefined;
    if (simple) {
      const records = simpleRecords(simple, { base, seq, file, header, columns: columns ?? [], headerAgain, say: skips.say });
      seq += records.length;
      base += simple.breaks;
      return records;
    }
    const records: SourceRecord[] = [];
    // csv-parse reports the line where a record ends and counts a CRLF inside a quoted field as two
    // lines: `extraLines` is the CRLF overcount so far in this block, `lastEnd`/`lastEmpty` the raw
    // line where the last record (or the header) ended and how many empty lines were skipped by then.
    const at = { base, extraLines: 0, lastEnd: 0, lastEmpty: 0 };
    const startLine = (values: readonly unknown[], lines: number, emptyLines: number) => {
      const { breaks, crlf } = lineBreaks(values);
      at.extraLines += crlf;
      at.lastEnd = lines;
      at.lastEmpty = emptyLines;
      return base + lines - at.extraLines - breaks;
    };
    try {
      parseSync(text, {
        ...parseSettings(base === 0, delimiter, quoting, sepLine, {
          skipped: (blank, lines) => skips.say(`${file}:${base + lines - at.extraLines}: ${blank}: it is not a record`),
          // Another header (files joined with cat) stops the read: the rows after it would be read under the wrong columns.
          otherWidth: (error, values) =>
            !mayBeHeader(values, header) &&
            records.push(otherWidth(error, values, header, { seq: seq++, line: startLine(values, Number(error['lines']), Number(error['empty_lines'])), file, kind, delimiter: delimiter ?? ',', quoting })) > 0,
        }),
        columns:
          columns ??
          (options.header === false
            ? false
            : (names: string[]) => {
                const leading = /^\ufeff?[\r\n]*/.exec(text)?.[0].match(/\r\n|\r|\n/g)?.length ?? 0;
                const { breaks, crlf } = lineBreaks(names);
                at.extraLines += crlf;
                at.lastEnd = leading + 1 + breaks + crlf;
                at.lastEmpty = leading;
                columns = headerNames(names, file, base + leading + 1, kind, options.onWarning);
                header = names;
                options.onColumns?.(columns, base + leading + 1);
                return columns;
              }),
        on_record: (record: Record<string, string> | string[], info: { lines: number; empty_lines: number }) => {
          if (Array.isArray(record) && !columns) {
            // No header: the columns are named 1..n after the first row.
            columns = record.map((_, i) => String(i + 1));
            options.onColumns?.(columns);
          }
          const values = Array.isArray(record) ? record : Object.values(record);
          const line = startLine(values, info.lines, info.empty_lines);
          // Of the header's width (another width is `on_skip`'s): blank all the same.
          if (columns && isBlankRecord(values, columns.length)) return saidBlank(skips.say, file, line);
          if (!headerAgain.maybe(header, Array.isArray(record) ? record[0] : record[columns?.[0] ?? '']) || !headerAgain.again(header, (at) => (Array.isArray(record) ? record[at] : record[columns?.[at] ?? '']), values.length, line)) records.push({ seq: seq++, line, data: Array.isArray(record) ? named(columns ?? [], record) : record });
          return null;
        },
      });
    } catch (error) {
      throw csvError(error, file, kind, at, header);
    }
    base += text.match(/\r\n|\r|\n/g)?.length ?? 0;
    return records;
  };

  /** Takes in decoded text, past its leading blank lines and sep= line: the scan for record ends. */
  const add = (text: string, ended: boolean) => {
    pending += text;
    fresh += text;
    // The header record gives the delimiter (asked again at each line end while it is open). Nothing is
    // scanned before: where a quote opens a quoted field depends on the delimiter (`,Size;"in" wide,`).
    if (delimiter === undefined && (ended || /[\r\n]/.test(text))) delimiter = sniffDelimiter(pending, ended);
    if (delimiter !== undefined) scan();
    checkOpen();
  };

  const lead = leadSteps(options.header !== false, tsv, maxChars, {
    skipped: (lines) => (base += lines),
    sepLine: (found) => {
      delimiter ??= found; // a given delimiter wins over the sep= line's
      sepLine = `sep=${found}`.toLowerCase();
    },
  });
  for await (const chunk of failingAsInput(source, file)) {
    add(lead(typeof chunk === 'string' ? chunk : decoder.write(chunk), false), false);
    if (badClose >= 0) break;
    if (delimiter === undefined) continue;
    if (boundary > 0) {
      const block = pending.slice(0, boundary);
      pending = pending.slice(boundary);
      recordStart -= boundary;
      boundary = 0;
      yield* parseBlock(block);
    }
  }
  if (badClose < 0) add(lead(decoder.end(), true), true);
  if (badClose >= 0) {
    // The records before the bad one first: an error in them comes first in the file.
    yield* parseBlock(pending.slice(0, boundary));
    throw badClosingQuote(file, base + (pending.slice(boundary, badClose).match(/\r\n|\r|\n/g)?.length ?? 0) + 1);
  }
  if (pending !== '') yield* parseBlock(pending);
  if (!columns) options.onColumns?.([]);
  skips.end();
}

/** Warnings said one by one for the first few (`FEW_SAID`), then counted: one line at the end says how many more. */
function aFewSaid(file: string, onWarning: ReadOptions['onWarning']) {
  let count = 0;
  return {
    say: (message: string) => void (++count <= FEW_SAID && onWarning?.(message)),
    end: () => void (count > FEW_SAID && onWarning?.(`${file}: ${count - FEW_SAID} more ${count - FEW_SAID === 1 ? 'line was no record' : 'lines were no records'} either (blank, ^Z or sep= lines; not said one by one)`)),
  };
}
const FEW_SAID = 3;

const QUOTE = 0x22;
/** A byte order mark at the start of a line. */
const RECORD_BOM = /(^|\r\n|\n|\r)\ufeff/g;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

/**
 * csv-parse's settings but for the columns and the records: a byte order mark taken off the `first`
 * block only; the `delimiter` when known; `skipped` told of each blank record skipped (`blankRecord`)
 * and the line csv-parse counted for it.
 */
function parseSettings(
  first: boolean,
  delimiter: string | undefined,
  quoting: boolean,
  sepLine: string | undefined,
  on: { skipped: (blank: string, lines: number) => void; otherWidth: (error: CsvError, values: string[]) => boolean },
): CsvParseOptions {
  return {
    bom: first,
    ...(delimiter === undefined ? {} : { delimiter }),
    // A quote inside an unquoted field is text (the scan refuses text after a closing quote, which
    // csv-parse would take in with a quote dropped).
    ...(quoting ? { relax_quotes: true } : { quote: false }),
    skip_empty_lines: true,
    // A record of another width than the header's is skipped when blank (said), else its record's
    // `invalid_input` (`otherWidth`); any other error fails the input.
    skip_records_with_error: true,
    on_skip: (error) => {
      if (!error) throw new Error('csv-parse skipped a record without saying why');
      const record: unknown = error['record'];
      const blank = Array.isArray(record) && sepLine !== undefined && isSepLine(record, sepLine, delimiter ?? ',') ? SEP_AGAIN : blankRecord(record);
      if (blank) {
        on.skipped(blank, Number(error['lines']));
        return undefined;
      }
      const width = error.code === 'CSV_RECORD_INCONSISTENT_COLUMNS' || error.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH';
      if (!width || !Array.isArray(record) || !on.otherWidth(error, record.map(String))) throw error;
      return undefined;
    },
    // Files stitched together from several sources mix CRLF and LF; csv-parse would otherwise take the first one it sees.
    record_delimiter: ['\r\n', '\n', '\r'],
  };
}

/**
 * What a record of another width than the header's is when it holds nothing (it is skipped, said):
 * a line of spaces or tabs (csv-parse's `skip_empty_lines` takes only empty ones), or of only
 * delimiters; or a DOS end-of-file mark (^Z) after the last line. Undefined for any other.
 */
function blankRecord(record: unknown): string | undefined {
  if (!Array.isArray(record)) return undefined;
  if (record.length === 1 && record[0] === '\x1a') return 'a DOS end-of-file mark (^Z)';
  return record.every((field) => typeof field === 'string' && /^[ \t]*$/.test(field)) ? BLANK_LINE : undefined;
}
const BLANK_LINE = 'a blank line (only spaces, tabs or delimiters)';

/** Says that the blank line at `line` is no record (csv-parse's `on_record` skips a record it returns null for). */
function saidBlank(say: (message: string) => void, file: string, line: number): null {
  say(`${file}:${line}: ${BLANK_LINE}: it is not a record`);
  return null;
}

const SEP_START = /^sep=/i;

/** What a record that is Excel's `sep=X` line again is (files joined with `cat`, each with one). */
const SEP_AGAIN = 'this line repeats the sep= line (files joined with cat?)';

/** Whether a record's values, joined by the delimiter, are the `sep=X` line the input started with (`sepLine`, in lower case). */
function isSepLine(values: readonly unknown[], sepLine: string, delimiter: string): boolean {
  return mayBeSepLine(values[0]) && values.join(delimiter).toLowerCase() === sepLine;
}

/** A cheap look (every record gets one): whether a record's first value starts as a `sep=` line does. */
function mayBeSepLine(first: unknown): boolean {
  return typeof first === 'string' && SEP_START.test(first);
}

/**
 * A check of records against the header: whether one is the header again (files joined with `cat`,
 * each with its header), or the input's `sep=` line again (`sep`), said with its line: it is no
 * record. With three columns or more, all `distinctName`s, the header again may differ in letter case; in
 * another column order, the run stops there (see `otherOrder`). With one or two, only the header as
 * written is one: a word list holds "Word", a row "Home,Away". Names data holds too (numbers) make the
 * same line a record, said. A byte order mark starting a record (Excel's, at the start of each file
 * joined) is taken off before (`RECORD_BOM`).
 */
function headerCheck(file: string, options: ReadOptions, sep: () => { sepLine: string; delimiter: string } | undefined, skipped: (message: string) => void) {
  /** The header's names (in lower case, with three columns or more, all `distinctName`s), and their lengths. */
  let names: Set<string> | undefined;
  /** Whether all the header's names, or some, are ones data hardly holds (`distinctName`). */
  let distinct: { all: boolean; some: boolean } | undefined;
  /** A line equal to a header of names data holds too was said (once: a matrix repeats such lines). */
  let saidDataLike = false;
  let lengths: Set<number> | undefined;
  /** A cheap look (every record gets one, before `again`): whether a record starting with `first` may be either. */
  const maybe = (header: readonly string[] | undefined, first: string | undefined): boolean => {
    if (first === undefined) return false;
    lengths ??= header && new Set(header.map((name) => name.length));
    return lengths?.has(first.length) === true || (mayBeSepLine(first) && sep() !== undefined);
  };
  const again = (header: readonly string[] | undefined, value: (at: number) => string | undefined, width: number, line: number): boolean => {
    const excel = mayBeSepLine(value(0)) ? sep() : undefined;
    if (excel && isSepLine(Array.from({ length: width }, (_, at) => value(at) ?? ''), excel.sepLine, excel.delimiter)) {
      skipped(`${file}:${line}: ${SEP_AGAIN}: it is not a record`);
      return true;
    }
    if (options.header === false || !header || width !== header.length) return false;
    distinct ??= { all: header.every(distinctName), some: header.some(distinctName) };
    const fold = distinct.all && width >= 3;
    const key = (v: string) => (fold ? v.toLowerCase() : v);
    // A cheap look first (every record is looked at): its first value is one of the header's names.
    names ??= new Set(header.map(key));
    if (!names.has(key(value(0) ?? ''))) return false;
    const row = Array.from({ length: width }, (_, at) => value(at) ?? '');
    if (!header.every((name, at) => key(row[at] ?? '') === key(name))) {
      if (fold) otherOrder(file, header, row, names, line);
      return false;
    }
    if (!distinct.some) {
      if (!saidDataLike) options.onWarning?.(`${file}:${line}: this line is the same as the header (files joined with cat?), but names like these can be data: it is read as a record, as are any later ones`);
      saidDataLike = true;
      return false;
    }
    options.onWarning?.(`${file}:${line}: this line repeats the header (files joined with cat?): it is not a record`);
    return true;
  };
  return { maybe, again };
}

/**
 * Whether a header name is one data hardly holds: not a number, not of one character (pandas names
 * columns 0, 1, 2; a matrix's rows hold such values). A line equal to the header is the header again
 * when some name is (`id,x,y`); folding case and the order check ask all of them to be. A name left
 * empty (a spreadsheet's trailing columns, pandas' index) counts as one.
 */
function distinctName(name: string): boolean {
  return name === '' || (name.length >= 2 && !/^[\d.,+-]+$/.test(name));
}

/**
 * A record holding the header's names (`names`, in lower case) in another order: the header of
 * another file joined with `cat`, whose rows would be read under the wrong columns. The run stops
 * there (asked only for three names or more, all `distinctName`s).
 */
function otherOrder(file: string, header: readonly string[], row: readonly string[], names: ReadonlySet<string>, line: number): void {
  if (names.size !== header.length) return;
  const lower = row.map((v) => v.toLowerCase());
  if (new Set(lower).size !== row.length || !lower.every((v) => names.has(v))) return;
  throw new BatchEnrichError(
    'BE_CSV_PARSE',
    `${file}:${line}: invalid CSV: this line is the header in another column order (files joined with cat?): ${shown(row, 200)} against ${shown(header, 200)}; the rows after it would be read under the wrong columns: join files whose columns are in the same order`,
    { file, line },
  );
}

/** Whether a field starts after the character `code` (a quote there opens a quoted field): a line start, the delimiter, a BOM. */
function startsField(code: number, delimiter: string | undefined): boolean {
  return code === LF || code === CR || code === 0xfeff || (delimiter === undefined ? DELIMITERS.has(code) : code === delimiter.charCodeAt(delimiter.length - 1));
}

/** Whether the character `code` after a closing quote ends the field: the delimiter, a line break, a NUL (left to the NUL check). */
function endsField(code: number, delimiter: string | undefined): boolean {
  return code === LF || code === CR || code === 0 || (delimiter === undefined ? DELIMITERS.has(code) : code === delimiter.charCodeAt(0));
}

/** The delimiters `sniffDelimiter` chooses from (the scan waits for the delimiter: this is for a caller that has none). */
const DELIMITERS = new Set([',', ';', '\t', '|'].map((c) => c.charCodeAt(0)));

function badClosingQuote(file: string, line: number): BatchEnrichError {
  return new BatchEnrichError('BE_CSV_PARSE', `${file}:${line}: invalid CSV: Invalid Closing Quote: text after the quote that ends a quoted field (a quote inside one is written twice: "")`, { file, line });
}

/** The header's names as the columns (a name left empty is named by its position, said once); two alike are an error at its line. */
function headerNames(header: string[], file: string, line: number, kind: 'CSV' | 'TSV', onWarning: ((message: string) => void) | undefined): string[] {
  const names = namedByPosition(header, (message) => onWarning?.(`${file}:${line}: ${message}`));
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new BatchEnrichError('BE_CSV_PARSE', `${file}:${line}: duplicate column ${shown(duplicate)} in the ${kind} header`, { file, line });
  return names;
}

/** A row's values under the column names, as csv-parse makes them (a column `__proto__` is an own field). */
function named(names: readonly string[], values: readonly string[]): Record<string, string> {
  const data: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (name === '__proto__') Object.defineProperty(data, name, { value: values[i] ?? '', enumerable: true, writable: true, configurable: true });
    else data[name] = values[i] ?? '';
  }
  return data;
}

/**
 * A CSV record longer than `maxChars` (its line break left out): it stops the read, at its own line.
 * Mostly a quote never closed (`open`), which would otherwise hold the rest of the file for one field.
 */
function recordTooLong(file: string, line: number, maxChars: number, open: boolean, kind: 'CSV' | 'TSV'): BatchEnrichError {
  const why = open ? ': a quoted field that starts in it is still open there: probably never closed (a missing "), else longer than batch-enrich reads' : ', more than batch-enrich reads';
  return new BatchEnrichError('BE_CSV_PARSE', `${file}:${line}: invalid ${kind}: this record is longer than ${maxChars.toLocaleString('en')} characters${why}`, { file, line });
}

/**
 * A header with several columns without a name (a spreadsheet's trailing empty columns, `id,name,,`),
 * which would be one duplicate name: each is named by its 1-based position, as `header: false` names
 * every column (with `_` in front while another column has that name); `say` is told which. One
 * column without a name (pandas writes its index so: `,0,1,2`) keeps its empty name, as it always did.
 */
function namedByPosition(header: string[], say: (message: string) => void): string[] {
  const positions = header.flatMap((name, i) => (name === '' ? [i] : []));
  if (positions.length < 2) return header;
  const taken = new Set(header);
  const named = [...header];
  for (const i of positions) {
    let name = String(i + 1);
    while (taken.has(name)) name = `_${name}`;
    taken.add(name);
    named[i] = name;
  }
  const list = (items: readonly string[]) => `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
  say(`columns ${list(positions.map((i) => String(i + 1)))} have no name in the header: they are named ${list(positions.map((i) => `"${named[i]}"`))}`);
  return named;
}

/**
 * Excel's delimiter line at the start of `text` (`sep=;` and its line break, after a BOM if any):
 * its length and the delimiter; null when the text does not start with one; undefined while it
 * cannot tell yet (more text may come, unless `ended`).
 * @example
 * excelSepLine('sep=;\r\nid;name\r\n', false); // { length: 7, delimiter: ';' }
 */
export function excelSepLine(text: string, ended: boolean): { length: number; delimiter: string } | null | undefined {
  const match = /^\uFEFF?sep=([^"\r\n])(\r\n|\n|\r|$)/i.exec(text);
  if (!match) return !ended && /^\uFEFF?(s(e(p(=)?)?)?)?$/i.test(text) ? undefined : null;
  // A line break still to come, or a CR whose LF may be in the next chunk.
  if (!ended && (match[2] === '' || (match[2] === '\r' && text.length === match[0].length))) return undefined;
  return { length: match[0].length, delimiter: match[1] as string };
}

/**
 * What comes before a CSV's header, taken off the text as it arrives, in order: blank lines (empty,
 * or only spaces and tabs: csv-parse took "  " for the header), Excel's `sep=;` line (it writes one,
 * and reads one, to know the delimiter; it is not the header), and blank lines after it. `skipped`
 * is told each line taken off, `sepLine` the delimiter a sep= line names. Without a header, only the
 * sep= line is looked for: a line of spaces is a row.
 */
function leadSteps(header: boolean, tsv: boolean, maxChars: number, on: { skipped: (lines: number) => void; sepLine: (delimiter: string) => void }): (text: string, ended: boolean) => string {
  const blank = () => (header ? skippingBlankLead(on.skipped, maxChars) : (text: string) => text);
  const first = blank();
  const sep = takingSepLine((delimiter) => {
    // TSV has its delimiter: a line naming another is data.
    if (tsv && delimiter !== '\t') return false;
    on.skipped(1);
    on.sepLine(delimiter);
    return true;
  });
  const after = blank();
  return (text, ended) => after(sep(first(text, ended), ended), ended);
}

/**
 * Text as it arrives → the same text without an Excel sep= line at its start (`excelSepLine`), when
 * `take` (told its delimiter) says so: '' while it cannot tell yet, then the rest.
 */
function takingSepLine(take: (delimiter: string) => boolean): (text: string, ended: boolean) => string {
  let held: string | undefined = '';
  return (text, ended) => {
    if (held === undefined) return text;
    held += text;
    const found = excelSepLine(held, ended);
    if (found === undefined) return '';
    const rest = found !== null && take(found.delimiter) ? held.slice(found.length) : held;
    held = undefined;
    return rest;
  };
}

/**
 * Text as it arrives → the same text without its leading blank lines (`blankLead`), dropped as they
 * come: '' while all of it is blank so far, then what follows them; `onSkipped` is told how many
 * lines it dropped. Only an unfinished line of spaces is held, up to `maxChars` (then it is given on,
 * for the reader to refuse as too long).
 */
function skippingBlankLead(onSkipped: (lines: number) => void, maxChars: number): (text: string, ended: boolean) => string {
  let held: string | undefined = '';
  return (text, ended) => {
    if (held === undefined) return text;
    held += text;
    const blank = blankLead(held, ended);
    if (blank.lines > 0) onSkipped(blank.lines);
    held = held.slice(blank.length);
    if (!blank.done && held.length <= maxChars) return '';
    const rest = held;
    held = undefined;
    return rest;
  };
}

/**
 * The blank lines (empty, or only spaces and tabs) at the start of `text`, after a BOM: how many, and
 * their length with the BOM; `done` once a line with other text starts, or the text has `ended` (a
 * last line of only spaces is blank too). Not done, an unfinished line of spaces, or a CR whose LF
 * may come next, is left out of `length`.
 * @example
 * blankLead('\ufeff  \r\n\nid,name\n', false); // { lines: 2, length: 6, done: true }
 */
export function blankLead(text: string, ended: boolean): { lines: number; length: number; done: boolean } {
  let lines = 0;
  let length = 0;
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === SPACE || c === TAB) continue;
    if (c !== LF && c !== CR) return { lines, length, done: true };
    if (c === CR && i + 1 === text.length && !ended) break;
    if (c === CR && text.charCodeAt(i + 1) === LF) i++;
    lines++;
    length = i + 1;
  }
  return ended ? { lines, length: text.length, done: true } : { lines, length, done: false };
}

/** The chunks of `source`; an error of the source itself (a disk, a pipe) becomes an input error naming the file. */
async function* failingAsInput<T>(source: AsyncIterable<T>, file: string): AsyncGenerator<T> {
  try {
    for await (const chunk of source) {
      // Objects (an object-mode stream) are no input text: said as such, not as Node's
      // ERR_INVALID_ARG_TYPE from deep inside the decoder (helper-77).
      if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
        throw new BatchEnrichError('BE_INVALID_OPTION', `readRecords takes bytes or text (a file or stdin stream), got ${typeof chunk === 'object' && chunk !== null ? 'an object' : typeof chunk}: ${shown(chunk)}; enrich() takes objects, and fromObjects() makes records of them in a pipeline`);
      }
      yield chunk;
    }
  } catch (error) {
    if (error instanceof BatchEnrichError) throw error;
    throw new BatchEnrichError('BE_INPUT', `${file}: cannot read input: ${(error as Error)?.message ?? String(error)}`, { file, cause: error });
  }
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

/**
 * The records of a block of CSV (`parse`d) that starts after `base` lines. A NUL byte in it (binary
 * data in the text: a damaged file) stops the read at its line, unless the block has a CSV error
 * before it: the first error in the file is the one said, wherever the blocks were cut.
 */
function checkedForNul(text: string, base: number, file: string, kind: 'CSV' | 'TSV', parse: (text: string) => SourceRecord[]): SourceRecord[] {
  const nul = text.indexOf('\0');
  if (nul === -1) return parse(text);
  const line = base + (text.slice(0, nul).match(/\r\n|\r|\n/g)?.length ?? 0) + 1;
  try {
    parse(text);
  } catch (error) {
    if (isBatchEnrichError(error) && error.line !== undefined && error.line < line) throw error;
  }
  throw new BatchEnrichError('BE_CSV_PARSE', `${file}:${line}: invalid ${kind}: a NUL byte (binary data) on this line; the file is damaged here`, { file, line });
}

function csvError(error: unknown, file: string, kind: 'CSV' | 'TSV', at: { base: number; extraLines: number; lastEnd: number; lastEmpty: number }, header?: readonly string[]): unknown {
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
    line += at.base;
  }
  const detail = csvDetail(error, record, header);
  return new BatchEnrichError('BE_CSV_PARSE', `${file}${line === undefined ? '' : `:${line}`}: invalid ${kind}: ${detail}`, {
    file,
    ...(line === undefined ? {} : { line }),
    cause: error,
  });
}

/** The records of a block the fast path read (`parseSimpleCsv`), numbered from `at.seq`; its blank lines said, the header again skipped. */
function simpleRecords(
  simple: NonNullable<ReturnType<typeof parseSimpleCsv>>,
  at: { base: number; seq: number; file: string; header: readonly string[] | undefined; columns: readonly string[]; headerAgain: ReturnType<typeof headerCheck>; say: (message: string) => void },
): SourceRecord[] {
  const records: SourceRecord[] = [];
  for (const blank of simple.blank) saidBlank(at.say, at.file, at.base + blank + 1);
  simple.rows.forEach((values, i) => {
    const line = at.base + (simple.lines[i] ?? 0) + 1;
    if (!at.headerAgain.maybe(at.header, values[0]) || !at.headerAgain.again(at.header, (k) => values[k], values.length, line)) records.push({ seq: at.seq + records.length, line, data: named(at.columns, values) });
  });
  return records;
}

/** A row of another width than the header's: its record's `invalid_input`, with its fields as a CSV row. */
function otherWidth(error: CsvError, values: readonly string[], header: readonly string[] | undefined, at: { seq: number; line: number; file: string; kind: 'CSV' | 'TSV'; delimiter: string; quoting: boolean }): SourceRecord {
  const message = `${at.file}:${at.line}: invalid ${at.kind}: ${csvDetail(error, values, header)}`;
  return { seq: at.seq, line: at.line, data: {}, error: { type: 'invalid_input', message, input: asCsvRow(values, at.delimiter, at.quoting) } };
}

/** Every name of the header among a row's values, or every value a name: another file's header, with a column more or less. */
function mayBeHeader(row: readonly string[], header: readonly string[] | undefined): boolean {
  const values = new Set(row.map((v) => v.toLowerCase()));
  const names = new Set(header?.map((name) => name.toLowerCase()));
  return names.size > 1 && values.size > 1 && ([...names].every((name) => values.has(name)) || [...values].every((v) => names.has(v)));
}

/**
 * A row's fields written back as one CSV (or TSV) row, the `input` of its record's error: quoted where
 * a field needs it (a delimiter, a quote or a line break in it), so its fields can be told apart.
 */
function asCsvRow(values: readonly string[], delimiter: string, quoting: boolean): string {
  if (!quoting) return values.join(delimiter);
  return values.map((v) => (v.includes(delimiter) || /["\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v)).join(delimiter);
}

/** What went wrong, in words a user can act on; csv-parse's own text for the rarer errors. */
function csvDetail(error: CsvError, record: unknown, header: readonly string[] | undefined): string {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field that starts in this record is never closed (a missing closing ")';
    case 'CSV_RECORD_INCONSISTENT_COLUMNS':
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      const got = Array.isArray(record) ? record.length : undefined;
      // Under a header, csv-parse says "columns length is N"; without one, "expect N" (the first row's width).
      const expected = /(?:columns length is|expect) (\d+)/.exec(error.message)?.[1];
      if (got === undefined || expected === undefined) break;
      const another = mayBeHeader((record as unknown[]).map(String), header);
      // Without a header (--no-header), the first row gives the width.
      const as = header === undefined ? 'as in the first row' : 'as in the header';
      return `expected ${plural(Number(expected), 'field')}, ${as}, got ${got}${another ? ' (this line looks like another header: files joined with cat?)' : ''}`;
    }
  }
  // csv-parse's own line number is left out: it is where the record ends, and counts quoted CRLFs twice.
  return error.message.replace(/ (?:on|at) line \d+/g, '').replace(/\.$/, '');
}
