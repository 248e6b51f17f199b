/** Counts in words people read, for every message the library and the CLI print. */

/** A whole number with thousands separators: `1,000,000`. */
export function count(value: number): string {
  return Math.round(value).toLocaleString('en');
}

/**
 * `1 request`, `2 requests`, `1 batch`, `3 batches` (the number with thousands separators).
 * @example
 * plural(3, 'batch', 'batches'); // '3 batches'
 */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

/**
 * Text from outside (a file name, a job name made from one) as it may be printed on a terminal: its
 * control characters but tabs escaped (`\u001b`, `\u000a`), so none of them moves the cursor, clears
 * the screen, retitles the window or starts a line that looks like another message.
 * @example
 * printable('a\u001b[2Jb'); // 'a\\u001b[2Jb'
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `printable` line by line: a message of several lines stays several lines. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/**
 * A word as a POSIX shell reads it back (for a command a message suggests): as it is when it holds
 * nothing the shell treats specially, else in single quotes.
 * @example
 * shellWord('contracts/My MSA.docx'); // "'contracts/My MSA.docx'"
 */
export function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * A file name as a command's argument: `./` before one that starts with `-`, which a command would
 * take for an option (quote it with `shellWord` to print it).
 * @example
 * argPath('-draft.docx'); // './-draft.docx'
 */
export function argPath(name: string): string {
  return name.startsWith('-') ? `./${name}` : name;
}

/** The `source` of the records `fromObjects()` makes: named `row:N`, and no folder's (a `path` column is theirs). */
export const ROW_SOURCE = 'row';

/** How messages name an input: its file, or `<stdin>` for none or `-`. */
export function inputName(file: string | undefined): string {
  return !file || file === '-' ? '<stdin>' : file;
}

/**
 * Where a record comes from, for its messages (`source:line: …`): the input's name (`file`), else
 * the record's own file (`source`: a folder's, a path list's), else `<stdin>`. The sink's `file`
 * is already an input name, `<stdin>` for none.
 */
export function sourceOf(file: string | undefined, record: { source?: string | undefined }): string {
  return file && file !== '-' && file !== '<stdin>' ? file : (record.source ?? inputName(file));
}
