/**
 * NDJSON records that come out as they came in. `JSON.parse` turns 9007199254740993 into
 * 9007199254740992 and `1e400` into Infinity (written back as null), and a record nested thousands
 * deep parses but overflows the stack when written again. So each line is scanned once before
 * parsing: its nesting depth, and the number tokens that a JavaScript number would not write back as
 * they were. Such a number is parsed as a *raw number*: a string of the token's text behind the
 * marker U+E000 (a private-use character), which the ledger stores like any string, a prompt shows as
 * the token's text, and the writers put back as the bare token. Lines without such numbers (nearly
 * all) are parsed as before.
 *
 * Rejected alternatives: keeping every record's raw text (twice the ledger space for every row, for
 * the rare lossy one), and `JSON.parse` with source access (Node 21+; we support Node 20).
 */

/** Marks a raw number (a string `RAW_NUMBER + token`). */
export const RAW_NUMBER = '\ue000';

/** Nesting deeper than this is refused: `JSON.stringify` overflows the stack a little above 5,000 levels. */
export const MAX_DEPTH = 1000;

export interface Scan {
  /** Deepest nesting of objects and arrays. */
  depth: number;
  /** `[start, end)` of each number token a JavaScript number would not write back unchanged. */
  lossy: [number, number][];
}

/** One pass over a JSON text: its depth and its lossy numbers (the text need not be valid JSON). */
export function scanJson(text: string): Scan {
  let depth = 0;
  let max = 0;
  const lossy: [number, number][] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: skip to its closing quote
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < text.length && /[0-9.eE+-]/.test(text[end] as string)) end++;
      const token = text.slice(i, end);
      if (!roundTrips(token)) lossy.push([i, end]);
      i = end - 1;
    }
  }
  return { depth: max, lossy };
}

/**
 * Whether `text` may hold a lossy number or nesting deeper than `MAX_DEPTH`, by a cheap test that may
 * say yes wrongly (then `scanJson` decides) but never says no wrongly: a lossy number has 16 or more
 * digits (with its point), an exponent, a fraction ending in 0, or is -0; nesting deeper than
 * `MAX_DEPTH` takes more than twice as many characters.
 */
export function mayNeedScan(text: string): boolean {
  return text.length > 2 * MAX_DEPTH || MAYBE_LOSSY.test(text);
}
const MAYBE_LOSSY = /[\d.]{16}|\d[eE][+-]?\d|\.\d*0(?!\d)|-0(?![.\d])/;

/** Whether `JSON.stringify(JSON.parse(token)) === token`, without parsing in the common short-integer case. */
function roundTrips(token: string): boolean {
  if (/^(-?[1-9]\d{0,14}|0)$/.test(token)) return true; // below 2^53 (-0 is written back as 0)
  const n = Number(token);
  return Number.isFinite(n) && JSON.stringify(n) === token;
}

/**
 * Parses one JSON text; the numbers `scan.lossy` names come out as raw numbers. Throws what
 * `JSON.parse` throws.
 */
export function parseLossless(text: string, scan: Scan): unknown {
  if (scan.lossy.length === 0) return JSON.parse(text);
  let marked = '';
  let last = 0;
  for (const [start, end] of scan.lossy) {
    marked += `${text.slice(last, start)}"${RAW_NUMBER}${text.slice(start, end)}"`;
    last = end;
  }
  return JSON.parse(marked + text.slice(last));
}

/** A raw number's token (`9007199254740993`), or undefined for any other value. */
export function rawNumberText(value: unknown): string | undefined {
  return typeof value === 'string' && value.charCodeAt(0) === 0xe000 && RAW_TOKEN.test(value.slice(1)) ? value.slice(1) : undefined;
}
const RAW_TOKEN = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** JSON text with each raw number written back as its bare token (`"\ue0009007199254740993"` → `9007199254740993`). */
export function unmarkJson(json: string): string {
  return json.includes(RAW_NUMBER) ? json.replace(RAW_IN_JSON, '$1') : json;
}
const RAW_IN_JSON = /"\ue000(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"/g;

/** `JSON.stringify` that writes raw numbers back as numbers, and a BigInt as its digits (helper-93: it threw, and failed the run). */
export function stringifyLossless(value: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    // Nearly never: the common path is one call without a replacer (the writers' hot path).
    if (!(error instanceof TypeError) || !/BigInt/.test(error.message)) throw error;
    json = JSON.stringify(value, bigIntAsRaw);
  }
  return unmarkJson(json);
}

/** A `JSON.stringify` replacer: a BigInt as a raw number (`unmarkJson` writes it back bare). */
export function bigIntAsRaw(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${RAW_NUMBER}${value}` : value;
}

/**
 * A field's value as text, in a prompt and in a CSV cell alike: nothing for null (and undefined), a
 * string as it is (a raw number its digits), a value with a text form of its own (a Date, a decimal
 * type: its `toJSON` gives a string) that text, any other object its JSON. One rule for both, so
 * that an output read back makes the same prompt (helper-62, helper-63).
 * @example
 * valueText(new Date('2024-01-02T00:00:00Z')); // '2024-01-02T00:00:00.000Z'
 * valueText({ a: 1 }); // '{"a":1}'
 */
export function valueText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return rawNumberText(value) ?? value;
  if (typeof value === 'object') {
    const own = typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : value;
    if (typeof own === 'string') return own;
    if (own === null) return '';
    return stringifyLossless(value);
  }
  return String(value);
}
