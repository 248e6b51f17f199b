/**
 * Text encodings of input files: which one a file is in, and a streaming decoder that says where it
 * had to put a U+FFFD the file did not contain. Plain functions over bytes; the stream adapter is in
 * `stages/read.ts`.
 *
 * Detection, in order: a byte-order mark (UTF-8, UTF-16 LE/BE); UTF-16 without a BOM (every other
 * byte NUL); then, at the first non-ASCII byte, valid UTF-8 or else what chardet (a port of ICU's
 * detector) makes of the bytes seen so far. ISO-8859-1 is read as windows-1252, its superset (the
 * WHATWG encoding standard does the same: Excel's "latin1" exports are cp1252, with € and curly quotes
 * in 0x80–0x9F). A Latin guess is weighed against the other Latin encodings, and the reading whose
 * words are words wins (`likeliestLatin`): chardet takes short Danish or Icelandic text for
 * windows-1257, short Polish for windows-1252 or windows-1257. Pure ASCII needs no decision, so
 * nothing waits for more input than it has: a live stdin is decoded as it comes.
 *
 * Rejected alternative: detecting on a fixed 64 KB prefix. A file whose first accent is past it would
 * be decided on ASCII alone, and a live stdin would wait for 64 KB before its first record.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import chardet from 'chardet';
import iconv from 'iconv-lite';

/** How much of the input is kept for chardet while it is still ASCII (the decision comes at the first non-ASCII byte). */
export const DETECT_SAMPLE_BYTES = 64 * 1024;

/** The encoding chosen for an input, and why. */
export interface EncodingChoice {
  /** An iconv-lite name (`utf-8`, `utf-16le`, `windows-1252`, …). */
  encoding: string;
  /** `bom`, `utf-8` (valid UTF-8), `detected` (chardet's guess), or `given` (`--encoding`). */
  how: 'bom' | 'utf-8' | 'utf-16' | 'detected' | 'given';
  /** chardet's own name for its guess, when it differs from `encoding` (ISO-8859-1 → windows-1252). */
  detected?: string;
  /** UTF-8 with some bytes that are not (more valid UTF-8 sequences than stray bytes): the lines that are not UTF-8 are read as windows-1252, each reported with its line. */
  mixed?: boolean;
}

/** True when iconv-lite can decode `name` (`--encoding` is checked with this). */
export function encodingExists(name: string): boolean {
  return iconv.encodingExists(name);
}

/** The encoding a byte-order mark at the start of `head` names, and the mark's length; undefined when there is none (or not enough bytes yet). */
export function bomOf(head: Uint8Array): { encoding: string; length: number } | undefined {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { encoding: 'utf-8', length: 3 };
  if (head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf-16be', length: 2 };
  return undefined;
}

/** UTF-16 without a BOM: ASCII text with a NUL in every other byte (checked on up to 512 bytes). */
export function utf16WithoutBom(head: Uint8Array): 'utf-16le' | 'utf-16be' | undefined {
  const n = Math.min(head.length, 512) & ~1;
  if (n < 4) return undefined;
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < n; i += 2) {
    if (head[i] === 0) evenNul++;
    if (head[i + 1] === 0) oddNul++;
  }
  const pairs = n / 2;
  if (oddNul >= pairs * 0.9 && evenNul === 0) return 'utf-16le';
  if (evenNul >= pairs * 0.9 && oddNul === 0) return 'utf-16be';
  return undefined;
}

/** Index of the first byte ≥ 0x80, or -1. */
export function firstNonAscii(bytes: Uint8Array, from = 0): number {
  for (let i = from; i < bytes.length; i++) if ((bytes[i] as number) >= 0x80) return i;
  return -1;
}

/** How many bytes at the end of `bytes` are the start of a UTF-8 sequence that is not complete yet (0–3). */
export function incompleteUtf8Tail(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back] as number;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * The encoding of a text whose first non-ASCII bytes are in `sample` (the input so far, or its first
 * `DETECT_SAMPLE_BYTES`): UTF-8 when they are valid UTF-8, else chardet's guess (ISO-8859-1 read as
 * windows-1252; a guess iconv-lite cannot decode, or none, is windows-1252 too).
 */
export function detectEncoding(sample: Uint8Array, final: boolean): EncodingChoice {
  const body = final ? sample : sample.subarray(0, sample.length - incompleteUtf8Tail(sample));
  if (isUtf8(body)) return { encoding: 'utf-8', how: 'utf-8' };
  // Mostly UTF-8 (a line from another file pasted in): read line by line (`lineByLineDecoding`), the
  // lines that are not UTF-8 as windows-1252, each named.
  const { valid, invalid } = utf8Census(body);
  if (valid > invalid) return { encoding: 'utf-8', how: 'utf-8', mixed: true };
  const guess = chardet.detect(sample);
  if (!guess || /^(utf-8|ascii)$/i.test(guess) || !iconv.encodingExists(guess)) {
    return { encoding: 'windows-1252', how: 'detected', ...(guess ? { detected: guess } : {}) };
  }
  // On a short sample chardet often names a lookalike of windows-1252 (Ærø read as windows-1257 is
  // Ęrų), or the wrong one of the Latin encodings (Zażółć in windows-1250 named windows-1257, Łódź
  // named windows-1252): the reading whose words are words (`likeliestLatin`).
  const western = /^(iso-8859-1|windows-1252)$/i.test(guess);
  if (western || WINDOWS_1252_LOOKALIKES.test(guess)) {
    const best = likeliestLatin(sample, guess, western);
    if (best !== undefined && best !== guess.toLowerCase()) return { encoding: best, how: 'detected', detected: guess };
  }
  // ISO-8859-1 is read as windows-1252 (the same but for 80-9F, which it leaves to control characters).
  if (western) return { encoding: 'windows-1252', how: 'detected', ...(/^iso/i.test(guess) ? { detected: guess } : {}) };
  return { encoding: guess.toLowerCase(), how: 'detected' };
}

/**
 * chardet's guesses that Western text in windows-1252 is taken for on a short sample: the other
 * single-byte Latin encodings (Central European, Turkish, Baltic, Vietnamese) and, on a few bytes, a
 * CJK one (Guðrún as Shift_JIS).
 */
const WINDOWS_1252_LOOKALIKES = /^(windows-125[0478]|iso-8859-(2|3|4|9|10|13|14|15|16)|shift_jis|big5|gb18030|euc-jp|euc-kr)$/i;

/** Lower-case non-ASCII letters of languages, each a set (a word's accented letters must all be in one). */
const alphabets = (...letters: string[]) => letters.map((l) => new Set(l));
/**
 * The languages written in each single-byte Latin encoding, by their non-ASCII letters: windows-1252's
 * (French, German, Spanish, Portuguese, Italian, Catalan, Dutch, Danish and Norwegian, Swedish,
 * Finnish, Icelandic), windows-1250's (Polish, Czech, Slovak, Hungarian, Slovene, Croatian, Romanian,
 * German), windows-1257's (Lithuanian, Latvian, Estonian, with the Nordic letters it has) and
 * windows-1254's (Turkish).
 */
const LATIN = {
  'windows-1252': alphabets('àâæçéèêëîïôœùûüÿ', 'äöüß', 'áéíñóúü', 'áâãàçéêíóôõú', 'àèéìíîòóù', 'àçéèíïòóúü', 'áéèëïóöüú', 'æøåéèêóòô', 'åäöé', 'åäöšž', 'áðéíóúýþæö'),
  'windows-1250': alphabets('ąćęłńóśźż', 'áčďéěíňóřšťúůýž', 'áäčďéíĺľňóôŕšťúýž', 'áéíóöőúüű', 'čšž', 'čćđšž', 'ăâîşţ', 'äöüß'),
  'windows-1257': alphabets('ąčęėįšųūž', 'āčēģīķļņšūž', 'äõöüšž', 'åäöüæø'),
  'windows-1254': alphabets('çğıöşüâîû'),
} as const;
type Latin = keyof typeof LATIN;

/** The Latin encoding a guess stands for (ISO-8859-2 for windows-1250, …), whose letters `LATIN` knows; undefined for any other. */
function latinOf(guess: string): Latin | undefined {
  const name = guess.toLowerCase();
  if (/^(windows-1250|iso-8859-(2|16))$/.test(name)) return 'windows-1250';
  if (/^(windows-1257|iso-8859-(4|10|13))$/.test(name)) return 'windows-1257';
  if (/^(windows-1254|iso-8859-9)$/.test(name)) return 'windows-1254';
  if (/^(windows-1252|iso-8859-(1|15))$/.test(name)) return 'windows-1252';
  return undefined;
}

/**
 * The Latin encoding to read `sample` in, weighing chardet's `guess` (undefined: the guess stands):
 * - chardet's own Hungarian or Turkish guess when its reading is plausible and nearly all Hungarian or
 *   Turkish, more so than windows-1252's reading is of one language (`ONE_LANGUAGE`, `OVERRIDING`);
 * - else windows-1252 when its reading is plausible Western text (no byte it leaves undefined, at most one
 *   odd word in 50: `oddWords`);
 * - chardet's own windows-1252 (or ISO-8859-1) `western` guess stands unless its reading has a symbol
 *   between letters (Polish as windows-1252: `zosta³o`, `ŸdŸb³o`): accents alone do not overturn it, for
 *   French read as windows-1250 is as plausible word by word (très → trčs, à → ŕ: Czech and Slovak letters);
 * - else the plausible reading among chardet's guess and windows-1250, -1257 and -1254 with the
 *   fewest odd words (the guess on a tie), and none that leaves a byte undefined; when the guess was
 *   western, only one with fewer odd words than windows-1252's.
 * A CJK guess is weighed against windows-1252 alone (the Latin readings of CJK bytes are no language).
 */
function likeliestLatin(sample: Uint8Array, guess: string, western: boolean): string | undefined {
  const plausible = (r: Reading) => r.undefinedBytes === 0 && r.odd * 50 <= r.words;
  const share = (r: Reading) => (r.words === 0 ? 0 : r.odd / r.words);
  // Each reading once: the guess's is weighed twice (as Hungarian or Turkish, then among the others).
  const readings = new Map<Latin, Reading>();
  const readingIn = (encoding: Latin): Reading => {
    let reading = readings.get(encoding);
    if (reading === undefined) readings.set(encoding, (reading = oddWords(sample, encoding)));
    return reading;
  };
  const w1252 = readingIn('windows-1252');
  const own = latinOf(guess);
  if (!western && own !== undefined && OVERRIDING[own] !== undefined) {
    const mine = readingIn(own);
    const guessed = oneLanguage(mine, OVERRIDING[own]);
    if (plausible(mine) && guessed >= ONE_LANGUAGE && guessed > oneLanguage(w1252)) return guess.toLowerCase();
  }
  if (plausible(w1252)) return 'windows-1252';
  if (western && w1252.symbols === 0) return undefined;
  if (own === undefined) return undefined;
  let best: { encoding: string; share: number } | undefined;
  for (const encoding of new Set<Latin>([own, 'windows-1250', 'windows-1257', 'windows-1254'])) {
    if (encoding === 'windows-1252') continue;
    const reading = readingIn(encoding);
    if (!plausible(reading) || (western && share(reading) >= share(w1252))) continue;
    if (best === undefined || share(reading) < best.share) best = { encoding: encoding === own ? guess.toLowerCase() : encoding, share: share(reading) };
  }
  return best?.encoding;
}

/**
 * The share of a reading's words that one language writes (`oneLanguage`) at which chardet's
 * Hungarian or Turkish guess wins over a plausible windows-1252 reading whose words are fewer of one
 * language: names and places (Erdős Pál, Szőlő utca; Muğla, Diyarbakır) read as windows-1252 are
 * Western words one by one (Erdõs, Szõlõ: Portuguese õ; Muðla, Diyarbakýr: Icelandic ð and ý), but
 * not of one language (Gyöngyvér, Mûegyetem are not Portuguese; Çanakkale, Düzce are not Icelandic).
 * Danish Ærø, named windows-1257 (Ęrų, as Lithuanian as Ærø is Danish), stays windows-1252: one
 * language either way.
 */
const ONE_LANGUAGE = 0.9;

/**
 * The languages of an encoding whose reading may so win (indexes into `LATIN`): Hungarian alone of
 * windows-1250's, whose own letters (ő, ű) are the only ones Western text never reads as. Czech,
 * Slovak and Polish letters are what Western letters read as in windows-1250 (è → č, ø → ř, å → ĺ,
 * ñ → ń): names of two Western languages (Rodríguez, Ålborg) are no one language in windows-1252 and
 * Slovak in windows-1250. Those languages are read as before (`likeliestLatin`'s other rules).
 */
const OVERRIDING: Partial<Record<Latin, readonly number[]>> = { 'windows-1250': [3], 'windows-1254': [0] };

/** The largest share of a reading's words that one language writes (of `languages`, indexes into `LATIN`; all when absent); 0 without words. */
function oneLanguage(reading: Reading, languages?: readonly number[]): number {
  if (reading.words === 0) return 0;
  const counts = languages === undefined ? reading.byLanguage : languages.map((i) => reading.byLanguage[i] ?? 0);
  return counts.length === 0 ? 0 : Math.max(...counts) / reading.words;
}

interface Reading {
  /** Words with a non-ASCII letter. */
  words: number;
  /** Of them, how many each language of the encoding writes (its alphabet has all their accented letters), in `LATIN`'s order. */
  byLanguage: number[];
  /** Of them, odd ones (`symbols`, and each undefined byte, counted too). */
  odd: number;
  /** Symbols between letters. */
  symbols: number;
  /** Bytes the encoding leaves undefined (read as U+FFFD). */
  undefinedBytes: number;
}

/**
 * The words of the lines of `sample` that are not UTF-8, read in `encoding`, and how many of them are
 * odd: with a symbol between their letters (Polish read as windows-1252: `zosta³o`, `Za¿ó³æ`), with
 * accented letters that no one language of the encoding has together (Czech as windows-1252:
 * `špatnì`; Turkish: `açýklama`; Lithuanian: `iðsiøstas`; Hungarian: `mûködik`), or with an `œ` that
 * no French word has (Polish ś as windows-1252: `Œwiêtego`, `œmiech`; French has it before u, i, e and,
 * in learned words and names, d, n, s, t, c, l, h, b, r: cœur, œil, cœliaque, fœhn, Œrsted).
 */
function oddWords(sample: Uint8Array, encoding: Latin): Reading {
  const reading = { words: 0, byLanguage: LATIN[encoding].map(() => 0), odd: 0, symbols: 0, undefinedBytes: 0 };
  for (const line of Buffer.from(sample.buffer, sample.byteOffset, sample.byteLength).toString('latin1').split(/[\r\n]+/)) {
    const bytes = Buffer.from(line, 'latin1');
    if (isAscii(bytes) || isUtf8(bytes)) continue;
    const text = iconv.decode(bytes, encoding);
    const undefinedBytes = text.match(/\ufffd/g)?.length ?? 0;
    const symbols = text.match(/\p{L}[^\p{L}\s\x00-\x7f’‘–—·\ufffd]+(?=\p{L})/gu)?.length ?? 0;
    reading.undefinedBytes += undefinedBytes;
    reading.symbols += symbols;
    reading.odd += undefinedBytes + symbols;
    for (const word of text.toLowerCase().match(/\p{L}+/gu) ?? []) {
      const accented = [...word].filter((c) => c > '\x7f' && !'ªºµ'.includes(c));
      if (accented.length === 0) continue;
      reading.words++;
      let anyLanguage = false;
      LATIN[encoding].forEach((alphabet, i) => {
        if (!accented.every((c) => alphabet.has(c))) return;
        anyLanguage = true;
        reading.byLanguage[i]!++;
      });
      if (!anyLanguage || /œ(?![uiednstclhbr])/.test(word)) reading.odd++;
    }
  }
  return reading;
}

/** A stateful decoder: bytes in any chunking → text, reporting each place it had to write U+FFFD. */
export interface TextDecoding {
  /** The text of `bytes` (a sequence split across chunks is kept for the next call). */
  write(bytes: Uint8Array): string;
  /** What is left at the end of the input. */
  end(): string;
}

/**
 * A decoder for `encoding` (taking a BOM off when it reads `fromStart`) that calls
 * `onReplacement(linesBefore)` each time it had to write U+FFFD for bytes that are not valid in that
 * encoding (`linesBefore`: the line ends in this call's text before the replacement, counted as
 * `countLineEnds` counts them, so the caller can name its line). For UTF-8, a U+FFFD the file itself contains (EF BF BD) is not reported.
 */
export function createDecoding(encoding: string, fromStart: boolean, onReplacement: (linesBefore: number) => void): TextDecoding {
  if (/^utf-?8$/i.test(encoding)) return utf8Decoding(fromStart, onReplacement);
  const decoder = /^(utf-?16(le|be)?|ucs-?2)$/i.test(encoding) ? utf16Checked(iconv.getDecoder(encoding, { stripBOM: fromStart })) : iconv.getDecoder(encoding, { stripBOM: fromStart });
  let last = -1; // the last character of the text given before (a CR there makes an LF at the start no line end)
  const check = (text: string) => {
    // A single- or double-byte encoding writes U+FFFD only for bytes it cannot map (iconv-lite's default character).
    let lines = 0;
    let counted = 0;
    for (let at = text.indexOf('\ufffd'); at !== -1; at = text.indexOf('\ufffd', at + 1)) {
      lines += countLineEnds(text, counted, at, last);
      counted = at;
      onReplacement(lines);
    }
    if (text.length > 0) last = text.charCodeAt(text.length - 1);
    return text;
  };
  return {
    write: (bytes) => check(decoder.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))),
    end: () => check(decoder.end() ?? ''),
  };
}

/**
 * A UTF-16 decoder whose bytes that are not valid UTF-16 come out as U+FFFD, as other decoders write
 * them: a lone surrogate (iconv-lite gives it on as it is) and an odd byte at the end (a file cut
 * short; dropped without a word). An odd last byte that is a line break, a space or a NUL is dropped
 * as before: `echo >> file.csv` on a UTF-16 file appends one LF, and a last line of U+FFFD would be a
 * row. A high surrogate at the end of a chunk waits for the next.
 */
function utf16Checked(decoder: { write(bytes: Buffer): string; end(): string | undefined }): { write(bytes: Buffer): string; end(): string } {
  let held = '';
  let bytes = 0;
  let lastByte = -1;
  const fix = (decoded: string, final: boolean): string => {
    let text = held + decoded;
    held = '';
    const last = text.charCodeAt(text.length - 1);
    if (!final && last >= 0xd800 && last <= 0xdbff) {
      held = text.slice(-1);
      text = text.slice(0, -1);
    }
    return text.replace(LONE_SURROGATE, '\ufffd');
  };
  return {
    write(chunk) {
      bytes += chunk.length;
      if (chunk.length > 0) lastByte = chunk[chunk.length - 1] as number;
      return fix(decoder.write(chunk), false);
    },
    end: () => fix(decoder.end() ?? '', true) + (bytes % 2 === 1 && ![0x0a, 0x0d, 0x20, 0x00].includes(lastByte) ? '\ufffd' : ''),
  };
}
/** A high surrogate with no low one after it, or a low one with no high one before it (UTF-16 code units, no `u` flag). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Bytes of a line held back by `lineByLineDecoding` before it is decoded without its end (a runaway line without CR or LF). */
const MAX_HELD_LINE_BYTES = 1024 * 1024;

/**
 * A decoder for a file of two encodings, pasted together (a UTF-8 export appended to a windows-1252
 * one): each line (ended by CR, LF or CRLF) is read as UTF-8 when it is valid UTF-8, else as `other`
 * (a single-byte encoding, where every byte is some character). `onLine(linesBefore, utf8)` is called
 * for each line with non-ASCII bytes, saying which it was read as (`linesBefore` as for
 * `createDecoding`'s replacements); with `reportUtf8Lines` false, only for the lines read as `other`
 * (a block of valid UTF-8 is read at once). `replaced`: a line read as `other` had bytes it leaves
 * undefined (windows-1252's 81 8D 8F 90 9D), read as U+FFFD (no single-byte encoding has U+FFFD).
 * Read whole as one of them, the lines of the other were mojibake (`cafÃ©`) or U+FFFD.
 */
export function lineByLineDecoding(other: string, onLine: (linesBefore: number, utf8: boolean, replaced: boolean) => void, reportUtf8Lines = true): TextDecoding {
  let held: Buffer[] = [];
  let heldBytes = 0;
  let last = -1; // the last byte decoded before (a CR there makes an LF at the start no line end)
  const decodeLine = (line: Buffer, linesBefore: number): string => {
    if (isAscii(line)) return line.toString('latin1');
    if (isUtf8(line)) {
      onLine(linesBefore, true, false);
      return line.toString('utf8');
    }
    const text = iconv.decode(line, other);
    onLine(linesBefore, false, text.includes('\ufffd'));
    return text;
  };
  const lastLineEnd = (bytes: Buffer) => Math.max(bytes.lastIndexOf(LF), bytes.lastIndexOf(CR));
  const decode = (bytes: Buffer, final: boolean): string => {
    if (!final && lastLineEnd(bytes) === -1 && heldBytes + bytes.length <= MAX_HELD_LINE_BYTES) {
      held.push(bytes);
      heldBytes += bytes.length;
      return '';
    }
    const all = held.length > 0 ? Buffer.concat([...held, bytes]) : bytes;
    // Up to the last line end (or, for a line held too long, up to a whole UTF-8 sequence): the rest
    // waits for its end. A CR at the end is a line end whether or not an LF follows.
    let end = final ? all.length : lastLineEnd(all) + 1;
    if (end === 0) end = all.length - incompleteUtf8Tail(all);
    held = end < all.length ? [Buffer.from(all.subarray(end))] : [];
    heldBytes = all.length - end;
    const before = last;
    if (end > 0) last = all[end - 1] as number;
    // Mostly the whole block is UTF-8 (a UTF-8 file with a line from elsewhere now and then): at once.
    if (!reportUtf8Lines && isUtf8(all.subarray(0, end))) return all.toString('utf8', 0, end);
    let text = '';
    let lines = 0;
    // The next LF and CR, each looked for again only once passed (a file of one kind has none of the other).
    let nextLf = -1;
    let nextCr = -1;
    for (let at = 0; at < end; ) {
      if (nextLf < at) nextLf = indexOrEnd(all, LF, at, end);
      if (nextCr < at) nextCr = indexOrEnd(all, CR, at, end);
      const stop = Math.min(nextLf, nextCr, end - 1) + 1;
      text += decodeLine(all.subarray(at, stop), lines);
      const ending = all[stop - 1];
      if (ending === CR || (ending === LF && (stop >= 2 ? all[stop - 2] : before) !== CR)) lines++;
      at = stop;
    }
    return text;
  };
  return {
    write: (bytes) => decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), false),
    end: () => decode(Buffer.alloc(0), true),
  };
}

const LF = 0x0a;
const CR = 0x0d;

/** The first `byte` in `bytes` from `from`, or `end` when there is none before it. */
function indexOrEnd(bytes: Buffer, byte: number, from: number, end: number): number {
  const at = bytes.indexOf(byte, from);
  return at === -1 || at >= end ? end : at;
}

/** Whether `encoding` maps each byte to one character, ASCII as ASCII (what `lineByLineDecoding` can read a line in). */
export function isSingleByte(encoding: string): boolean {
  return /^(windows-125\d|iso-8859-\d+|koi8-[ru])$/i.test(encoding);
}

/** UTF-8 (a BOM at the start taken off); invalid bytes become U+FFFD and are reported. Fast path: `isUtf8` on each chunk. */
function utf8Decoding(fromStart: boolean, onReplacement: (linesBefore: number) => void): TextDecoding {
  let pending: Buffer = Buffer.alloc(0);
  let started = !fromStart;
  let last = -1; // the last byte decoded before (a CR there makes an LF at the start no line end)
  const decode = (bytes: Buffer, final: boolean): string => {
    let all = pending.length > 0 ? Buffer.concat([pending, bytes]) : bytes;
    if (!started && (all.length >= 3 || final)) {
      started = true;
      if (all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf) all = all.subarray(3);
    } else if (!started) {
      pending = Buffer.from(all);
      return '';
    }
    const keep = final ? 0 : incompleteUtf8Tail(all);
    const body = all.subarray(0, all.length - keep);
    pending = Buffer.from(all.subarray(all.length - keep));
    const text = body.toString('utf8');
    if (!isUtf8(body)) {
      // A line end is one byte in UTF-8, whatever surrounds it: counted in the bytes.
      let lines = 0;
      let counted = 0;
      for (let at = firstInvalidUtf8(body); at < body.length; at = firstInvalidUtf8(body, at + 1)) {
        lines += countLineEnds(body, counted, at, last);
        counted = at;
        onReplacement(lines);
      }
    }
    if (body.length > 0) last = body[body.length - 1] as number;
    return text;
  };
  return {
    write: (bytes) => decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), false),
    end: () => decode(Buffer.alloc(0), true),
  };
}

/**
 * Line ends in `text` (a string, or bytes in UTF-8 or any ASCII-compatible encoding) from `from` to
 * `to`: each CR, and each LF not right after a CR (a CRLF is one line end, counted at its CR, so one
 * split between two texts is counted once). `before` is the character (or byte) before `text`.
 */
export function countLineEnds(text: string | Uint8Array, from: number, to: number, before = -1): number {
  const at = (i: number) => (i < 0 ? before : typeof text === 'string' ? text.charCodeAt(i) : (text[i] as number));
  const find = (code: number, i: number) => (typeof text === 'string' ? text.indexOf(code === LF ? '\n' : '\r', i) : text.indexOf(code, i));
  let n = 0;
  for (let cr = find(CR, from); cr !== -1 && cr < to; cr = find(CR, cr + 1)) n++;
  for (let lf = find(LF, from); lf !== -1 && lf < to; lf = find(LF, lf + 1)) if (at(lf - 1) !== CR) n++;
  return n;
}

/**
 * Offset of the first byte from `from` that does not start or continue a valid UTF-8 sequence
 * (`bytes.length` if none). `from` must be where a sequence starts, or a byte just after an invalid one.
 */
export function firstInvalidUtf8(bytes: Uint8Array, from = 0): number {
  let i = from;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    // Overlong forms, surrogates and code points past U+10FFFF are invalid too (what isUtf8 rejects).
    const c1 = bytes[i + 1] ?? 0;
    if ((b === 0xe0 && c1 < 0xa0) || (b === 0xed && c1 >= 0xa0) || (b === 0xf0 && c1 < 0x90) || (b === 0xf4 && c1 >= 0x90)) return i;
    i += need + 1;
  }
  return bytes.length;
}

/** How many multi-byte UTF-8 sequences `bytes` holds, and how many bytes ≥ 0x80 that start none. */
export function utf8Census(bytes: Uint8Array): { valid: number; invalid: number } {
  let valid = 0;
  let invalid = 0;
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    const need = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : 0;
    let ok = need > 0 && i + need < bytes.length;
    for (let k = 1; ok && k <= need; k++) ok = ((bytes[i + k] as number) & 0xc0) === 0x80;
    if (ok) {
      valid++;
      i += need + 1;
    } else {
      invalid++;
      i++;
    }
  }
  return { valid, invalid };
}
