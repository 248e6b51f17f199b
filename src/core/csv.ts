/**
 * A fast path for the CSV records nearly every file is made of, as a plain function. csv-parse works
 * on bytes: each block of text is encoded to a Buffer, walked byte by byte through its general state
 * machine, and each field decoded back to a string; for a typical row that is most of what reading
 * costs. `parseSimpleCsv` reads the same text as csv-parse does under the options `readCsv` gives it
 * (one ASCII delimiter, `"` quotes doubled inside quoted fields, CRLF/LF/CR record ends, empty lines
 * skipped, no trimming, no casting) straight from the string, and gives up (`undefined`) on anything
 * else: a quote where csv-parse would refuse it, an unclosed quote, a wrong field count, a lone
 * surrogate (csv-parse's encoding turns it into U+FFFD). The caller then parses the block with
 * csv-parse, so every error, and every rare case, is csv-parse's as before.
 */

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

export interface SimpleCsvOptions {
  /** The field delimiter: one ASCII character other than `"`, CR and LF (else there is no fast path). */
  delimiter: string;
  /** Whether `"` quotes fields (CSV); TSV has no quoting. */
  quoting: boolean;
  /** The number of fields every record must have (the header's). */
  width: number;
}

export interface SimpleCsvRows {
  /** Each record's fields, in order. */
  rows: string[][];
  /** Each record's starting line, 0-based from the start of the text. */
  lines: number[];
  /** The line breaks in the text (CRLF counts once). */
  breaks: number;
  /**
   * The lines (0-based) of blank records (`isBlankRecord`), skipped: only spaces, tabs or delimiters
   * (`readCsv` says them; csv-parse's path skips them likewise).
   */
  blank: number[];
}

/** Whether `parseSimpleCsv` can read with this delimiter. */
function simpleDelimiter(delimiter: string | undefined): boolean {
  if (delimiter === undefined || delimiter.length !== 1) return false;
  const code = delimiter.charCodeAt(0);
  return code < 0x80 && code !== QUOTE && code !== CR && code !== LF;
}

/**
 * The records of `text` as csv-parse would read them, or `undefined` when the text holds anything
 * this fast path leaves to csv-parse (see the module comment). Pure: nothing is counted or kept.
 */
export function parseSimpleCsv(text: string, options: SimpleCsvOptions): SimpleCsvRows | undefined {
  if (!simpleDelimiter(options.delimiter) || !isWellFormed(text)) return undefined;
  const delimiter = options.delimiter.charCodeAt(0);
  const quoting = options.quoting;
  const n = text.length;
  const rows: string[][] = [];
  const lines: number[] = [];
  const blank: number[] = [];
  let line = 0;
  let i = 0;
  // The next LF and CR at or after where they were last looked for (`n` when there is none): the line
  // breaks inside quoted fields are counted from these, so that each is searched for once.
  let nextLf = -1;
  let nextCr = -1;
  while (i < n) {
    let c = text.charCodeAt(i);
    // An empty line: skipped, but counted.
    if (c === LF || c === CR) {
      line++;
      i += c === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      continue;
    }
    const start = line;
    const values: string[] = [];
    for (;;) {
      if (quoting && c === QUOTE) {
        // A quoted field: up to the quote that is not doubled, counting the line breaks inside.
        const from = i + 1;
        let j = text.indexOf('"', from);
        let doubled = false;
        while (j !== -1 && text.charCodeAt(j + 1) === QUOTE) {
          doubled = true;
          j = text.indexOf('"', j + 2);
        }
        if (j === -1) return undefined; // never closed
        if (nextLf < from) nextLf = indexOr(text, '\n', from);
        for (; nextLf < j; nextLf = indexOr(text, '\n', nextLf + 1)) line++;
        if (nextCr < from) nextCr = indexOr(text, '\r', from);
        for (; nextCr < j; nextCr = indexOr(text, '\r', nextCr + 1)) if (text.charCodeAt(nextCr + 1) !== LF) line++;
        const value = text.slice(from, j);
        values.push(doubled ? value.replaceAll('""', '"') : value);
        i = j + 1;
        c = i < n ? text.charCodeAt(i) : -1;
        // csv-parse refuses anything but a delimiter or a record end after a closing quote.
        if (c !== delimiter && c !== LF && c !== CR && c !== -1) return undefined;
      } else {
        let j = i;
        for (; j < n; j++) {
          const d = text.charCodeAt(j);
          if (d === delimiter || d === LF || d === CR) break;
          if (quoting && d === QUOTE) return undefined; // a quote inside an unquoted field
        }
        values.push(text.slice(i, j));
        i = j;
        c = j < n ? text.charCodeAt(j) : -1;
      }
      if (c !== delimiter) break;
      i++;
      c = i < n ? text.charCodeAt(i) : -1;
    }
    if (isBlankRecord(values, options.width)) {
      blank.push(start);
    } else if (values.length === options.width) {
      rows.push(values);
      lines.push(start);
    } else {
      return undefined;
    }
    // The record's end: CRLF, LF, CR, or the end of the text.
    if (c !== -1) {
      line++;
      i += c === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
    }
  }
  return { rows, lines, breaks: line, blank };
}

/**
 * Whether a record under a header of `width` columns holds nothing: all its fields only spaces and
 * tabs, of another width or of the header's (Excel writes a formatted range's empty rows as `,,,`).
 * Under one column, a field of spaces is that column's value (a record). The first field is looked at
 * first: nearly every record has something there.
 * @example
 * isBlankRecord(['', ' ', '\t'], 3); // true
 * isBlankRecord(['  '], 1); // false: the value of the only column
 * isBlankRecord(['', 'a'], 2); // false
 */
export function isBlankRecord(values: readonly string[], width: number): boolean {
  if (values.length === 0 || !isBlank(values[0] as string)) return false;
  return (values.length !== width || width > 1) && values.every(isBlank);
}

/** Whether a field holds only spaces and tabs (or nothing). */
function isBlank(value: string): boolean {
  return /^[ \t]*$/.test(value);
}

/** `String.prototype.isWellFormed` (Node 20; not in the ES2023 lib types): no lone surrogate. */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/** `text.indexOf(search, from)`, or `text.length` when it is not there. */
export function indexOr(text: string, search: string, from: number): number {
  const at = text.indexOf(search, from);
  return at === -1 ? text.length : at;
}
