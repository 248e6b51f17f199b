/**
 * Files as the input itself: a folder (`batch-enrich … invoices/`) or a list of paths, one a line
 * (`find . -name '*.pdf' | batch-enrich --input-format paths …`), give one record per file:
 * `{ path, name, bytes, sha256 }`, with `path` as the document to attach (the record says so,
 * `SourceRecord.attach`: `enrichStage` and `recipeStage` attach it as the CLI does, whatever their
 * `attach`). So no CSV has to be written by hand to run a recipe over a folder of documents.
 *
 * A folder is walked recursively in sorted order (the output order is stable across runs); hidden
 * entries (`.name`) are skipped. A listed path that cannot be read still gives its record (`bytes`
 * and `sha256` null): the attach stage then gives it `_error` `document_missing` or
 * `document_unreadable`, so every line of the list comes out once.
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { bomOf, createDecoding, type TextDecoding } from '../core/encoding.ts';
import { MAX_FILE_BYTES } from '../core/documents.ts';
import { splitLines } from '../core/lines.ts';
import { argPath, inputName, shellWord } from '../core/text.ts';
import type { SourceRecord } from './read.ts';

/** The field of a file record that holds its path (the attached field). */
export const PATH_FIELD = 'path';

export interface FolderOptions {
  /**
   * Whether a file found is one the run itself writes (its output, the ledger beside it): left out,
   * else each rerun would read the last one's output as a new document and pay for it.
   */
  skip?: ((path: string) => boolean) | undefined;
}

/**
 * One record per file under `dir` (recursive, sorted, hidden entries and `skip`'s skipped). A
 * subfolder that cannot be listed (no permission) is a record of its own, with `document_unreadable`:
 * the rest of the folder goes on, and the output says what was not read.
 */
export async function* readFolder(dir: string, options: FolderOptions = {}): AsyncGenerator<SourceRecord> {
  let seq = 0;
  // Names that are not UTF-8: renamed, each is read (convmv renames the whole tree).
  const rename = `rename it in UTF-8 (convmv -r -f cp1252 -t utf8 --notest ${shellWord(argPath(dir))} renames every name under the folder)`;
  for await (const { path, unlisted, notUtf8, folder } of walk(dir)) {
    if (options.skip?.(path)) continue;
    const problem =
      unlisted !== undefined
        ? `${path}: a folder that cannot be listed (${unlisted}): its files are not in the input`
        : notUtf8 !== undefined
          ? folder
            ? `${path}: a folder whose name is not UTF-8 (${notUtf8}): its files are not in the input: ${rename}`
            : `${path}: its name is not UTF-8 (${notUtf8}), so it cannot be named to read it: ${rename}`
          : undefined;
    // Where, as every other document error says it (`docs/:7: docs/empty.txt: …`; helper-65).
    yield problem === undefined
      ? { seq, line: seq + 1, data: await fileRecord(path), attach: [PATH_FIELD], source: dir }
      : { seq, line: seq + 1, data: unreadFile(path), error: { type: 'document_unreadable', message: `${dir}:${seq + 1}: ${problem}` }, source: dir };
    seq++;
  }
}

/** One record for one file (a document given as FILE). */
export async function* readOne(path: string): AsyncGenerator<SourceRecord> {
  yield { seq: 0, line: 1, data: await fileRecord(path), attach: [PATH_FIELD], source: path };
}

/**
 * One record per non-blank line of a path list (`--input-format paths`), or per entry of a
 * NUL-separated one (`find -print0`): UTF-8, or UTF-16 after its byte order mark (what Windows
 * PowerShell 5.1 writes with `>`); a mark is never part of a path.
 */
export function readPaths(file?: string): (source: AsyncIterable<Buffer | string>) => AsyncGenerator<SourceRecord> {
  return async function* paths(source) {
    let seq = 0;
    let line = 0;
    for await (const { text, nul } of entries(byBom(source))) {
      line++;
      if (nul ? text === '' : text.trim() === '') continue;
      // Bytes that are not UTF-8 (a Latin-1 name from a Windows ZIP, as `find` lists it) were decoded
      // as U+FFFD: the name as read names no file, and the one meant cannot be named in this list.
      if (text.includes('\ufffd') && !(await exists(text))) {
        const message = `${inputName(file)}:${line}: ${text}: the listed name is not UTF-8 (its bytes are not), so it cannot be named to read it: rename it in UTF-8 (convmv -f cp1252 -t utf8 --notest FILE), or give its folder as the input (batch-enrich FOLDER names each such file)`;
        yield { seq: seq++, line, data: unreadFile(text), error: { type: 'document_unreadable', message } };
        continue;
      }
      // A NUL-separated name is exact (`find -print0`): blanks around it are its own.
      yield { seq: seq++, line, data: await fileRecord(nul ? text : await listedPath(text)), attach: [PATH_FIELD] };
    }
  };
}

/** A path list with no NUL in this many first characters is one of lines. */
const NUL_LOOK_CHARS = 65_536;

/**
 * The entries of a path list: its lines, or, when it holds a NUL (`find -print0`, read as `xargs -0`
 * reads it: the one list that can hold a name with a line break; no path holds a NUL), what lies
 * between NULs. Looked for in its first `NUL_LOOK_CHARS` characters.
 */
async function* entries(text: AsyncIterable<string>): AsyncGenerator<{ text: string; nul: boolean }> {
  const it = text[Symbol.asyncIterator]();
  const held: string[] = [];
  let nul = false;
  for (let seen = 0; !nul && seen < NUL_LOOK_CHARS; ) {
    const next = await it.next();
    if (next.done) break;
    held.push(next.value);
    seen += next.value.length;
    nul = next.value.includes('\0');
  }
  const all = (async function* () {
    yield* held;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  })();
  if (!nul) {
    for await (const line of splitLines(all)) yield { text: line, nul: false };
    return;
  }
  let pending = '';
  for await (const chunk of all) {
    const parts = (pending + chunk).split('\0');
    pending = parts.pop() ?? '';
    for (const part of parts) yield { text: part, nul: true };
  }
  if (pending !== '') yield { text: pending, nul: true };
}

/**
 * The path a list's line names: the line as written when that exists, else without the blanks
 * around it when that exists (a hand-edited list, a spreadsheet column pasted: `  a.pdf `), else as
 * written, which its record's error then names.
 */
async function listedPath(text: string): Promise<string> {
  const trimmed = text.trim();
  if (trimmed === text || (await exists(text)) || !(await exists(trimmed))) return text;
  return trimmed;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Text as its byte order mark says (`bomOf`: UTF-8, UTF-16 LE or BE; UTF-8 without one), the mark
 * taken off (`createDecoding`). Nothing to report of bad bytes here: a path that does not exist is
 * its record's `document_missing`.
 */
async function* byBom(source: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let head: Buffer | undefined = Buffer.alloc(0);
  let decoder: TextDecoding | undefined;
  /** Decodes what was held to tell the mark, by it, and everything after. */
  const start = (held: Buffer): string => {
    decoder = createDecoding(bomOf(held)?.encoding ?? 'utf-8', true, () => {});
    head = undefined;
    return decoder.write(held);
  };
  for await (const chunk of source) {
    if (typeof chunk === 'string') {
      yield head === undefined ? chunk : chunk.replace(/^\ufeff/, '');
      head = undefined;
    } else if (decoder !== undefined) {
      yield decoder.write(chunk);
    } else {
      head = Buffer.concat([head ?? Buffer.alloc(0), chunk]);
      // Three bytes tell every mark (fewer: the input ends first, below).
      if (head.length >= 3) yield start(head);
    }
  }
  if (head !== undefined && head.length > 0) yield start(head);
  const rest = (decoder as TextDecoding | undefined)?.end();
  if (rest) yield rest;
}

/**
 * The files under `dir`, in sorted order. A link to a folder is walked like a folder, once: a folder
 * already walked (by its real path: the same folder through another link, or a link back up, a loop)
 * is not walked again. Anything else is a file of the folder: a device, a pipe or a socket (or a link
 * to one) gets its record, and the attach stage names it (reading it could never end: /dev/zero).
 * A subfolder that cannot be listed is given with the reason (`unlisted`); `dir` itself (`top`) throws.
 */
async function* walk(dir: string, seen = new Set<string>(), top = true): AsyncGenerator<{ path: string; unlisted?: string; notUtf8?: string; folder?: boolean }> {
  let entries: { entry: Dirent<Buffer>; name: string }[];
  try {
    const real = await realpath(dir);
    if (seen.has(real)) return;
    seen.add(real);
    // Names as bytes: one that is not UTF-8 read as a string would name another file (its bytes replaced by U+FFFD).
    entries = (await readdir(dir, { withFileTypes: true, encoding: 'buffer' }))
      .map((entry) => ({ entry, name: entry.name.toString('utf8') }))
      .filter(({ name }) => !name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (error) {
    // The input itself fails the run (named by the caller); a subfolder is a record that says why.
    if (top) throw error;
    yield { path: dir, unlisted: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
    return;
  }
  for (const { entry, name } of entries) {
    const path = join(dir, name);
    if (!Buffer.from(name, 'utf8').equals(entry.name)) yield { path, notUtf8: notUtf8Bytes(entry.name), folder: entry.isDirectory() };
    else if (entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path).then((info) => info.isDirectory(), () => false)))) yield* walk(path, seen, false);
    else yield { path }; // a file, a link, or a device, pipe or socket (its record says it cannot be read)
  }
}

/**
 * The bytes of a name that are not UTF-8 (those no valid sequence takes), as people can look them up.
 * @example notUtf8Bytes(Buffer.from([0x43, 0xc3, 0xa9, 0xfc])); // 'the byte 0xfc' (é is UTF-8)
 */
function notUtf8Bytes(name: Buffer): string {
  const bad = new Set<number>();
  for (let i = 0; i < name.length; ) {
    const lead = name[i] as number;
    // How many continuation bytes its lead byte announces (-1: no lead byte of UTF-8).
    const more = lead < 0x80 ? 0 : lead >= 0xc2 && lead < 0xe0 ? 1 : lead >= 0xe0 && lead < 0xf0 ? 2 : lead >= 0xf0 && lead < 0xf5 ? 3 : -1;
    if (more >= 0 && i + more < name.length && !name.subarray(i, i + more + 1).toString('utf8').includes('\ufffd')) {
      i += more + 1;
    } else {
      bad.add(lead);
      i++;
    }
  }
  const shown = [...bad].slice(0, 4).map((byte) => `0x${byte.toString(16)}`);
  return shown.length === 1 ? `the byte ${shown[0]}` : `the bytes ${shown.join(', ')}`;
}

/**
 * `{ path, name, bytes, sha256 }` of a file, hashed as a stream; null figures when it cannot be read
 * (or is no regular file). One over the Files API's 500 MB, which the attach stage refuses by its
 * size, is not read to hash it (helper-74: a 4 GB video in the folder was read whole first).
 */
async function fileRecord(path: string): Promise<Record<string, unknown>> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_FILE_BYTES) return { [PATH_FIELD]: path, name: basename(path), bytes: info.size, sha256: null };
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    return { [PATH_FIELD]: path, name: basename(path), bytes: info.size, sha256: hash.digest('hex') };
  } catch {
    return unreadFile(path);
  }
}

/** The record of a file (or folder) that could not be read: its figures null. */
function unreadFile(path: string): Record<string, unknown> {
  return { [PATH_FIELD]: path, name: basename(path), bytes: null, sha256: null };
}
