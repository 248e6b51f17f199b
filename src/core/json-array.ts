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
 * One top-level value being read: where it starts, its text so far (unless over the cap), the
 * brackets open in it (and the line each opened on), whether in a string and after a backslash. In
 * its text each run of white space outside its strings is one space (see `splitJsonArray`).
 */
class ValueText {
  line = 0;
  length = 0;
  inString = false;
  readonly #maxChars: number;
  #parts: string[] = [];
  readonly #open: number[] = [];
  readonly #openLines: number[] = [];
  #escaped = false;
  // White space outside strings was skipped since the last character kept: a space goes before the next.
  #spaced = false;

  constructor(maxChars: number) {
    this.#maxChars = maxChars;
  }

  /** Brackets open in the value. */
  get depth(): number {
    return this.#open.length;
  }

  /** Starts a value at its first character `c`, on `line`. */
  begin(c: number, line: number): void {
    this.line = line;
    this.#parts = [];
    this.length = 0;
    this.#open.length = 0;
    this.#openLines.length = 0;
    if (c in OPEN) {
      this.#open.push(c);
      this.#openLines.push(line);
    }
    this.inString = c === 0x22;
    this.#escaped = false;
    this.#spaced = false;
  }

  keep(piece: string): void {
    if (piece === '') return;
    this.length += piece.length;
    if (this.length > this.#maxChars) this.#parts = [];
    else this.#parts.push(piece);
  }

  /**
   * Follows the value's character `c` (after its first), on `line`: true when it is white space
   * outside strings, which is not kept (the caller keeps the text before it, and skips it). A
   * bracket closing one of another kind throws: past it, where a value ends cannot be told.
   */
  follow(c: number, line: number): boolean {
    // Not counted against the cap: a value's size is its content's. None before a top-level `,` or `]` (the array's).
    if (this.#spaced && !SPACE.has(c) && !(this.#open.length === 0 && (c === 0x2c || c === 0x5d))) {
      if (this.length <= this.#maxChars) this.#parts.push(' ');
      this.#spaced = false;
    }
    if (this.inString) {
      if (this.#escaped) this.#escaped = false;
      else if (c === 0x5c) this.#escaped = true;
      else if (c === 0x22) this.inString = false;
    } else if (c === 0x22) this.inString = true;
    else if (c in OPEN) {
      this.#open.push(c);
      this.#openLines.push(line);
    } else if (c in CLOSE && this.#open.length > 0) {
      const opened = this.#open.pop() as number;
      const openedOn = this.#openLines.pop() as number;
      if (opened !== CLOSE[c]) {
        const [closer, opener] = [String.fromCharCode(c), String.fromCharCode(opened)];
        throw new JsonArrayError(`the value that starts on line ${this.line} has a ${closer} where its ${opener} opened on line ${openedOn} is not closed`, this.line);
      }
    } else if (SPACE.has(c)) {
      this.#spaced = true;
      return true;
    }
    return false;
  }

  /** The value read, as an element; ready for the next. */
  take(): ArrayElement {
    const element = { line: this.line, text: this.length > this.#maxChars ? undefined : this.#parts.join(''), length: this.length };
    this.#parts = [];
    this.length = 0;
    this.#spaced = false;
    return element;
  }

  /** The error of a value the input ends inside, if it does. */
  unclosed(): JsonArrayError | undefined {
    return this.depth > 0 || this.inString ? new JsonArrayError(`the value that starts on line ${this.line} is never closed (the input ends inside it)`, this.line) : undefined;
  }
}

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
  const value = new ValueText(maxChars);
  let started = false;
  // Whether a comma waits for its element (`[a,` so far): the line it was on.
  let comma = 0;
  let elements = 0;

  for await (const chunk of chunks) {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === 0x0a) line++;
      if (started) {
        if (value.depth === 0 && !value.inString && (c === 0x2c || c === 0x5d)) {
          value.keep(chunk.slice(from, i));
          yield value.take();
          started = false;
          elements++;
          if (c === 0x2c) comma = line;
          else state = 'after';
        } else if (value.follow(c, line)) {
          value.keep(chunk.slice(from, i));
          from = i + 1;
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
        value.begin(c, line);
        from = i;
        comma = 0;
      }
    }
    if (started) value.keep(chunk.slice(from));
  }
  if (state !== 'open') return;
  const unclosed = started ? value.unclosed() : undefined;
  if (unclosed) throw unclosed;
  throw new JsonArrayError(`the JSON array that starts on line ${arrayLine} ends before its closing ]`, arrayLine);
}

/**
 * The JSON values `chunks` hold one after another, as `jq` writes them without `-c` (pretty-printed
 * objects), each as an element (see `splitJsonArray`). An object or array ends at its closing
 * bracket; any other value at the white space or bracket after it (it is the caller's to refuse).
 * @example
 * for await (const e of splitJsonValues(chunksOf('{\n "a": 1\n}\n{\n "a": 2\n}\n'), 1e6)) e; // { line: 1, text: '{ "a": 1 }' }, { line: 4, … }
 */
export async function* splitJsonValues(chunks: AsyncIterable<string>, maxChars: number): AsyncGenerator<ArrayElement> {
  let line = 1;
  const value = new ValueText(maxChars);
  let started = false;
  for await (const chunk of chunks) {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === 0x0a) line++;
      if (started) {
        if (value.depth === 0 && !value.inString && (SPACE.has(c) || c in OPEN)) {
          // A value that is no object or array ends at the white space or bracket after it.
          value.keep(chunk.slice(from, i));
          yield value.take();
          started = false;
        } else {
          const open = value.depth > 0;
          if (value.follow(c, line)) {
            value.keep(chunk.slice(from, i));
            from = i + 1;
          } else if (open && value.depth === 0 && !value.inString) {
            value.keep(chunk.slice(from, i + 1));
            yield value.take();
            started = false;
          }
          continue;
        }
      }
      if (SPACE.has(c)) continue;
      started = true;
      value.begin(c, line);
      from = i;
    }
    if (started) value.keep(chunk.slice(from));
  }
  if (!started) return;
  const unclosed = value.unclosed();
  if (unclosed) throw unclosed;
  yield value.take();
}
