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
 * JPEG, GIF or WebP image by its first bytes, or any of these and an e-mail (`.eml`, text) by its name.
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
    /\.(eml|pdf|png|jpe?g|gif|webp)$/i.test(file)
  );
}

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

/**
 * The delimiter of a CSV, from its first line: the most frequent of `,`, `;`, tab and `|` outside
 * quotes (`,` on a tie or when none appears). Excel writes `;` where the decimal separator is a comma.
 */
export function sniffDelimiter(firstLine: string): string {
  const counts = new Map<string, number>([[',', 0], [';', 0], ['\t', 0], ['|', 0]]);
  let quoted = false;
  for (const char of firstLine) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && counts.has(char)) counts.set(char, (counts.get(char) ?? 0) + 1);
  }
  let best = ',';
  for (const [char, n] of counts) if (n > (counts.get(best) ?? 0)) best = char;
  return best;
}

/** `--delimiter` values: one character, or the names `\t`, `tab`, `comma`, `semicolon`, `pipe`. */
export function parseDelimiter(value: string): string | undefined {
  const named: Record<string, string> = { '\\t': '\t', tab: '\t', comma: ',', semicolon: ';', pipe: '|' };
  const char = named[value.toLowerCase()] ?? value;
  return [...char].length === 1 && char !== '"' && char !== '\n' && char !== '\r' ? char : undefined;
}
