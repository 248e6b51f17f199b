/**
 * What kind of file an input is, from its name and its first bytes: gzip (decompressed as a stream),
 * a binary format we cannot read (refused by name, so no binary garbage reaches an error message), the
 * text format (CSV, TSV or NDJSON), and a CSV's delimiter from its header line. Plain functions.
 */

export type InputFormat = 'csv' | 'tsv' | 'ndjson';

/** gzip's magic bytes (RFC 1952). */
export function isGzip(head: Uint8Array): boolean {
  return head[0] === 0x1f && head[1] === 0x8b;
}

/** Binary formats people try first, by their magic bytes, and what to do instead. */
const BINARY: readonly { magic: readonly number[]; name: string; hint: string }[] = [
  { magic: [0x50, 0x41, 0x52, 0x31], name: 'a Parquet file', hint: 'convert it to CSV or NDJSON first (e.g. duckdb -c "COPY (FROM \'FILE\') TO \'out.csv\'")' },
  { magic: [0x50, 0x4b, 0x03, 0x04], name: 'a ZIP archive (an XLSX workbook, or a zipped file)', hint: 'save the sheet as CSV (UTF-8), or unzip it first' },
  { magic: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], name: 'an old Excel (XLS) or other OLE2 file', hint: 'save the sheet as CSV (UTF-8)' },
  { magic: [0x25, 0x50, 0x44, 0x46, 0x2d], name: 'a PDF file', hint: 'to send it as a document, give it as FILE (or its folder), without --input-format' },
  { magic: [0x42, 0x5a, 0x68], name: 'a bzip2 file', hint: 'decompress it first (bzcat FILE | batch-enrich …)' },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], name: 'an xz file', hint: 'decompress it first (xzcat FILE | batch-enrich …)' },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], name: 'a zstd file', hint: 'decompress it first (zstdcat FILE | batch-enrich …)' },
  { magic: [0x53, 0x51, 0x4c, 0x69, 0x74, 0x65, 0x20], name: 'an SQLite database', hint: 'export a table as CSV first (sqlite3 -csv -header DB "select …")' },
];

/**
 * Whether a file is a document batch-enrich sends as such (see core/documents.ts): a PDF, a PNG,
 * JPEG, GIF or WebP image by its first bytes, or any of these and an e-mail (`.eml`, text) by its
 * name, or one the API does not read that a folder would refuse with how to convert it (`DOCUMENT_NAME`).
 * A file named as a document that is not one (empty, cut short, mislabelled) is still one record, and
 * the attach stage says what is wrong with it: read as a table, it was no record at all (exit 0).
 */
export function documentFile(head: Uint8Array, file: string): boolean {
  const starts = (...bytes: number[]) => bytes.every((byte, i) => head[i] === byte);
  const ascii = (at: number, text: string) => [...text].every((c, i) => head[at + i] === c.charCodeAt(0));
  // Whole signatures: a CSV whose header happens to start 'GIF8' or '%PDF' stays a CSV.
  return (
    ascii(0, '%PDF-') ||
    starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a) ||
    starts(0xff, 0xd8, 0xff) ||
    ascii(0, 'GIF87a') ||
    ascii(0, 'GIF89a') ||
    (ascii(0, 'RIFF') && ascii(8, 'WEBP')) ||
    // A TIFF (a scanner's, a fax's): not sent, but refused as a document is, with what to send instead.
    starts(0x49, 0x49, 0x2a, 0x00) ||
    starts(0x4d, 0x4d, 0x00, 0x2a) ||
    DOCUMENT_NAME.test(file)
  );
}

/**
 * Names of documents: the types sent (an e-mail as `.eml`, an mbox export of one message, an Apple
 * Mail `.emlx`), and those the attach stage refuses with how to convert them (Word and other office
 * documents but spreadsheets, which are refused as a table input is: save the sheet as CSV; HEIC
 * photos; TIFF and BMP scans; Outlook messages).
 */
const DOCUMENT_NAME = /\.(eml|emlx|mbox|pdf|png|jpe?g|gif|webp|docx?|odt|rtf|pptx?|odp|heic|heif|avif|tiff?|bmp|msg)$/i;

/** Extensions of binary formats, for an input too short to show its magic bytes. */
const BINARY_EXTENSIONS: Readonly<Record<string, string>> = { '.parquet': 'Parquet', '.xlsx': 'ZIP archive (an XLSX workbook, or a zipped file)', '.xls': 'old Excel (XLS) or other OLE2 file', '.zip': 'ZIP archive (an XLSX workbook, or a zipped file)' };

/** A NUL byte in this many first bytes says binary data; one further on is a damaged line of text. */
export const BINARY_SNIFF_BYTES = 4096;

/** Bytes needed to recognise every binary format above. */
export const MAGIC_BYTES = 8;

/**
 * Why `head` (the first bytes, at least `MAGIC_BYTES` of them unless the input is shorter) cannot be
 * read as text: `{ name, hint }` for a known binary format, `{ name: 'binary data' }` for NUL bytes
 * (UTF-16 is recognised before this is asked), else undefined.
 */
export function binaryFormat(head: Uint8Array, file?: string): { name: string; hint: string } | undefined {
  for (const format of BINARY) {
    if (format.magic.every((byte, i) => head[i] === byte)) return { name: format.name, hint: format.hint };
  }
  const lower = file?.toLowerCase() ?? '';
  for (const [ext, name] of Object.entries(BINARY_EXTENSIONS)) {
    if (lower.endsWith(ext)) return { name: `a ${name}`, hint: 'convert it to CSV or NDJSON first' };
  }
  if (head.subarray(0, BINARY_SNIFF_BYTES).includes(0)) return { name: 'binary data (it has NUL bytes)', hint: 'give a CSV, TSV or NDJSON text file' };
  return undefined;
}

/** The text format a file name says (`.csv`, `.tsv`/`.tab`, `.ndjson`/`.jsonl`/`.json`, each also with `.gz`); undefined when it says nothing. */
export function formatFromName(file: string | undefined): InputFormat | undefined {
  if (!file || file === '-') return undefined;
  const lower = file.toLowerCase().replace(/\.gz$/, '');
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.tsv') || lower.endsWith('.tab')) return 'tsv';
  if (lower.endsWith('.ndjson') || lower.endsWith('.jsonl') || lower.endsWith('.json')) return 'ndjson';
  return undefined;
}

/** The delimiters `sniffDelimiter` chooses from, in the order a tie is decided (`,` first). */
export const DELIMITER_CANDIDATES: readonly string[] = [',', ';', '\t', '|'];

/** The header record is sniffed in at most this many characters (a quote left open past them is not waited for). */
export const SNIFF_CHARS = 64 * 1024;

/**
 * The delimiter of a CSV, from its header record (`text` is the start of the file, a BOM and empty
 * lines allowed before the header):
 * the most frequent of `,`, `;`, tab and `|` outside quotes (`,` on a tie or when none appears).
 * Excel writes `;` where the decimal separator is a comma. Each is counted as the CSV reader would
 * read the header with it: a quote opens a quoted field only where a field starts (the line's start
 * or right after that delimiter; inside a field, `27"`, it is text), and a quoted field may hold line
 * breaks (Excel's wrapped header cells), so the record can span lines. A delimiter whose record is
 * still in quotes where the first line ends is a candidate only when it has at least as many there as
 * the best of those whose record ended with the line (a stray quote in a `,` header is not waited
 * for). Undefined when more text may change the answer (`ended` false and the record not complete).
 */
export function sniffDelimiter(text: string): string;
export function sniffDelimiter(text: string, ended: boolean): string | undefined;
export function sniffDelimiter(text: string, ended = true): string | undefined {
  // Past a BOM and the empty lines before the header (the CSV reader skips them).
  const from = /^\ufeff?[\r\n]*/.exec(text)?.[0].length ?? 0;
  const head = text.slice(from, from + SNIFF_CHARS);
  const final = ended || text.length - from > SNIFF_CHARS;
  const lineEnd = head.search(/[\r\n]/);
  if (lineEnd === -1 && !final) return undefined;
  const reads = DELIMITER_CANDIDATES.map((delimiter) => ({ delimiter, ...headerRecord(head, delimiter, lineEnd === -1 ? head.length : lineEnd, final) }));
  const bestOnOneLine = Math.max(0, ...reads.filter((read) => read.oneLine).map((read) => read.count));
  const candidates = reads.filter((read) => read.oneLine || read.firstLineCount >= bestOnOneLine);
  if (!final && candidates.some((read) => !read.complete)) return undefined;
  // The most delimiters; on a tie, the fewest quotes read as text (`id|"a, b"|x` is `|`); then the first.
  let best = candidates[0] as (typeof reads)[number];
  for (const read of candidates) if (read.count > best.count || (read.count === best.count && read.strays < best.strays)) best = read;
  return best.delimiter;
}

interface HeaderRead {
  /** Delimiters outside quotes in the record, and on its first line. */
  count: number;
  firstLineCount: number;
  /** Quotes read as text: inside an unquoted field, or a closing quote with text after it. */
  strays: number;
  /** Whether the record ended with its first line, and whether it ended in the text at all. */
  oneLine: boolean;
  complete: boolean;
}

/** How the header record at the start of `text` reads with `delimiter` (its first line ends at `lineEnd`; `final`: no text follows). */
function headerRecord(text: string, delimiter: string, lineEnd: number, final: boolean): HeaderRead {
  let count = 0;
  let firstLineCount = -1;
  let strays = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (i === lineEnd) firstLineCount = count;
    if (quoted) {
      if (char !== '"') continue;
      // A quote at the end of what has come: doubled, or the field's end? The next character says.
      if (i + 1 === text.length && !final) return { count, firstLineCount: firstLineCount === -1 ? count : firstLineCount, strays, oneLine: lineEnd >= text.length, complete: false };
      const next = text[i + 1] ?? '\n';
      if (next === '"') {
        i++;
        continue;
      }
      quoted = false;
      if (next !== delimiter && next !== '\n' && next !== '\r') strays++;
    } else if (char === '"') {
      quoted = i === 0 || text[i - 1] === '\n' || text[i - 1] === '\r' || text[i - 1] === delimiter;
      if (!quoted) strays++;
    } else if (char === delimiter) {
      count++;
    } else if (char === '\n' || char === '\r') {
      return { count, firstLineCount, strays, oneLine: i === lineEnd, complete: true };
    }
  }
  // The text ends inside the record (its first line, or a quoted field still open).
  return { count, firstLineCount: firstLineCount === -1 ? count : firstLineCount, strays, oneLine: lineEnd >= text.length, complete: false };
}

/** `--delimiter` values: one character, or the names `\t`, `tab`, `comma`, `semicolon`, `pipe`. */
export function parseDelimiter(value: string): string | undefined {
  const named: Record<string, string> = { '\\t': '\t', tab: '\t', comma: ',', semicolon: ';', pipe: '|' };
  const char = named[value.toLowerCase()] ?? value;
  return [...char].length === 1 && char !== '"' && char !== '\n' && char !== '\r' ? char : undefined;
}
