/**
 * A JSON array read element by element as its text arrives (`[{…}, {…}]`, pretty-printed over many
 * lines or all on one): each top-level element's text and the line it starts on, without holding the
 * whole array (a dump of an API is often one line of hundreds of megabytes). Only strings and
 * brackets are followed here; each element is parsed by the caller, so a bad one is that record's
 * error and the rest are read. Brackets that do not match stop the reading: past them, where an
 * element ends cannot be told.
 */

/** A top-level element: its text, or none when it is longer than the cap (`length` says how long). */
export interface ArrayElement {
  line: number;
  text: string | undefined;
  length: number;
}

/** The array's own shape is broken (never closed, brackets that do not match, a stray comma, text after it): where, and what. */
export class JsonArrayError extends Error {
  readonly line: number;
  constructor(message: string, line: number) {
    super(message);
    this.line = line;
  }
}

/** JSON's white space (RFC 8259 §2), and a BOM at the start. */
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d, 0xfeff]);
const OPEN = { 0x7b: '{', 0x5b: '[' } as const;
const CLOSE: Record<number, 0x7b | 0x5b> = { 0x7d: 0x7b, 0x5d: 0x5b };

/**
 * The elements of the JSON array `chunks` hold (its first character that is not white space must be
 * `[`). In an element's text, each run of white space outside its strings is one space (JSON ignores
 * it, and the indentation of a pretty-printed dump is most of its size; a space is kept so that a bad
 * element, shown to the user, shows its mistake: `{"a": 1 "b": 2}`); its length is that of its
 * content, spaces left out; one longer than `maxChars` comes without its text.
 * @example
 * for await (const e of splitJsonArray(chunksOf('[{"a":  1},\n {"a":2}]'), 1e6)) e; // { line: 1, text: '{"a": 1}' }, { line: 2, text: '{"a":2}' }
 */
export async function* splitJsonArray(chunks: AsyncIterable<string>, maxChars: number): AsyncGenerator<ArrayElement> {
  let line = 1;
  let state: 'before' | 'open' | 'after' = 'before';
  let arrayLine = 1;
  // The element being read: whether one is, where it started, its text so far (unless over the cap),
  // the brackets open in it (and the line each opened on), whether in a string and after a backslash.
  let started = false;
  let startLine = 0;
  let parts: string[] = [];
  let length = 0;
  const open: number[] = [];
  const openLines: number[] = [];
  let inString = false;
  let escaped = false;
  // White space outside strings was skipped since the last character kept: a space goes before the next.
  let spaced = false;
  // Whether a comma waits for its element (`[a,` so far): the line it was on.
  let comma = 0;
  let elements = 0;

  const keep = (piece: string) => {
    if (piece === '') return;
    length += piece.length;
    if (length > maxChars) parts = [];
    else parts.push(piece);
  };
  const take = (): ArrayElement => {
    const element = { line: startLine, text: length > maxChars ? undefined : parts.join(''), length };
    started = false;
    parts = [];
    length = 0;
    spaced = false;
    elements++;
    return element;
  };

  for await (const chunk of chunks) {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === 0x0a) line++;
      if (started) {
        if (spaced && !SPACE.has(c) && !(open.length === 0 && (c === 0x2c || c === 0x5d))) {
          // Not counted against the cap: an element's size is its content's, as before.
          if (length <= maxChars) parts.push(' ');
          spaced = false;
        }
        if (inString) {
          if (escaped) escaped = false;
          else if (c === 0x5c) escaped = true;
          else if (c === 0x22) inString = false;
        } else if (c === 0x22) inString = true;
        else if (c in OPEN) {
          open.push(c);
          openLines.push(line);
        } else if (c in CLOSE && open.length > 0) {
          const opened = open.pop() as number;
          const openedOn = openLines.pop() as number;
          if (opened !== CLOSE[c]) {
            const [closer, opener] = [String.fromCharCode(c), String.fromCharCode(opened)];
            throw new JsonArrayError(`the value that starts on line ${startLine} has a ${closer} where its ${opener} opened on line ${openedOn} is not closed`, startLine);
          }
        } else if (open.length === 0 && (c === 0x2c || c === 0x5d)) {
          keep(chunk.slice(from, i));
          yield take();
          if (c === 0x2c) comma = line;
          else state = 'after';
        } else if (SPACE.has(c)) {
          // Outside strings white space is not part of the value: one space in its text (see above).
          keep(chunk.slice(from, i));
          from = i + 1;
          spaced = true;
        }
        continue;
      }
      if (SPACE.has(c)) continue;
      if (state === 'before') {
        if (c !== 0x5b) throw new JsonArrayError('not a JSON array', line);
        state = 'open';
        arrayLine = line;
      } else if (state === 'after') {
        throw new JsonArrayError(`text after the end of the JSON array that starts on line ${arrayLine}`, line);
      } else if (c === 0x5d) {
        if (comma > 0) throw new JsonArrayError('a comma with no value after it, before the end of the array', comma);
        state = 'after';
      } else if (c === 0x2c) {
        throw new JsonArrayError(elements === 0 && comma === 0 ? 'a comma before the first value of the array' : 'two commas with no value between them', line);
      } else {
        started = true;
        startLine = line;
        from = i;
        open.length = 0;
        openLines.length = 0;
        if (c in OPEN) {
          open.push(c);
          openLines.push(line);
        }
        inString = c === 0x22;
        escaped = false;
        comma = 0;
      }
    }
    if (started) keep(chunk.slice(from));
  }
  if (state !== 'open') return;
  if (started && (open.length > 0 || inString)) throw new JsonArrayError(`the value that starts on line ${startLine} is never closed (the input ends inside it)`, startLine);
  throw new JsonArrayError(`the JSON array that starts on line ${arrayLine} ends before its closing ]`, arrayLine);
}
