/**
 * Records → records with documents: the values of the attached fields (`--attach FIELD`, a recipe's
 * `attach`) become content blocks sent before the prompt. A value is a path (relative to `baseDir`:
 * the input file's folder, or the working directory for stdin), an `https` URL (sent as a `url`
 * source, for the API to fetch), a `Buffer`/`Uint8Array` or a `Blob` (the library), or an array of
 * those. Each file is sniffed and preflighted (`core/documents.ts`); PDFs and images go inline as
 * base64 or as a Files API `file_id` (`--upload`), text as a text document.
 *
 * The request key covers each document by its sha256, not by how it travels: the key is computed
 * with every binary source written as `{type: "file", file_id: "sha256:<hex>"}`. So a changed file is
 * a new request, an unchanged one is never paid twice, and switching `--upload` (or a file uploaded
 * again after it expired) does not make a new request.
 *
 * Records are resolved up to `concurrency` at once (reads and uploads overlap) and leave in order.
 * A record whose document cannot be sent gets `error` (`document_*`, `image_too_large`,
 * `request_too_large`, `upload_failed`) naming the file, and the rest of the job goes on.
 */
import { constants } from 'node:fs';
import { open, readFile, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  base64Length,
  binaryParts,
  blocksOf,
  DocumentProblem,
  documentTokens,
  inspectDocument,
  MAX_FILE_BYTES,
  mediaTokens,
  pdfPageLimit,
  pdfTokens,
  PLACEHOLDER,
  preflight,
  sha256,
  urlBlock,
  type ContentBlock,
  type Inspected,
  type Transport,
} from '../core/documents.ts';
import { describeApiError } from '../client/errors.ts';
import type { RecordError } from '../core/result.ts';
import { promptTokenEstimate, type WindowPart } from '../core/preflight.ts';
import { imageLimitsOf } from '../core/models.ts';
import type { Uploader, UploadPart } from '../client/uploads.ts';
import type { PreparedRecord } from './batch.ts';
import { sourceOf } from '../core/text.ts';
import type { SourceRecord } from './read.ts';


export type UploadMode = 'files' | 'inline' | 'auto';

/** `--upload auto` sends a PDF or image of at least this many bytes through the Files API (base64 would make it a third bigger, and batches small). */
export const AUTO_UPLOAD_BYTES = 512 * 1024;
/** `--upload auto` also uploads every part of a request whose inline body would pass this share of the 32 MB limit. */
const AUTO_INLINE_MAX_BYTES = 24 * 1024 * 1024;

/**
 * A record with its documents resolved: `blocks` are sent, `keyBlocks` are hashed into the request
 * key. A part to upload is written in `blocks` as the placeholder file id `sha256:<hex>` (as in
 * `keyBlocks`), and listed in `uploads`: `resolveUploads` uploads it and puts the real id in, after
 * the key is known, so a request already in the ledger uploads nothing.
 */
export interface AttachedRecord extends SourceRecord {
  /** `tokens`: its PDFs' and images' (`mediaTokens` of them: their page images and images, by pixels). */
  documents?:
    | {
        blocks: ContentBlock[];
        keyBlocks: ContentBlock[];
        uploads: UploadPart[];
        tokens: number;
        mediaTokens: number;
        textTokens: number;
        /** Its PDFs and images as they count against the context window (`recordProblem`); a URL image, unseen, is not among them. */
        parts: WindowPart[];
        /** E-mails sent without some of their attachments (`where`: `file:line: name`; each attachment with why): said once the request is made (`PrepareOptions.onNotSent`). */
        notSent?: [where: string, attachments: string[]][];
      }
    | undefined;
}

export interface AttachOptions {
  /** The record fields that hold documents. */
  fields: readonly string[];
  /** Where relative paths start: the input file's folder, or the working directory. */
  baseDir: string;
  model: string;
  upload?: UploadMode | undefined;
  /** Whether the Files API can be used (an uploader follows); without it, `auto` sends everything inline. */
  canUpload: boolean;
  /** Shown in per-record messages (`file:line: …`). */
  file?: string | undefined;
  /**
   * What the API does with an image over the size limit (`transformations.oversized_image`):
   * `downsize` sends it to be scaled down; `error`, or absent, refuses it here, before paying.
   */
  oversizedImage?: 'downsize' | 'error' | undefined;
  /** Records resolved at once. _Default:_ 8. */
  concurrency?: number | undefined;
  /**
   * The folder every path must lie in, links followed (`--files-under`): one outside it is its
   * record's `document_unreadable`, never read. For input written by others (a CSV a customer sent),
   * whose file column could name `../../etc/passwd` or `~/.aws/credentials`. _Default:_ any path.
   */
  filesUnder?: string | undefined;
}

type Part = Inspected & { kind: 'pdf' | 'image' };

/** The stage: records → records with their documents as blocks (see the module comment), in order. */
export function attachDocuments(options: AttachOptions): (source: AsyncIterable<SourceRecord>) => AsyncGenerator<AttachedRecord> {
  const mode = options.upload ?? 'auto';
  if (mode === 'files' && !options.canUpload) throw new Error('attachDocuments: `upload: "files"` needs the Files API');
  // The folder paths must lie in, as given and links followed (once a run).
  let under: Promise<Under> | undefined;
  const one = async (record: SourceRecord): Promise<AttachedRecord> => {
    if (record.error) return record;
    try {
      return await attachOne(record);
    } catch (error) {
      const at = `${sourceOf(options.file, record)}:${record.line}`;
      if (error instanceof DocumentProblem) return { ...record, error: { type: error.type, message: `${at}: ${error.message}` } };
      throw error;
    }
  };

  async function attachOne(record: SourceRecord): Promise<AttachedRecord> {
    const docs: { name: string; doc: Inspected }[] = [];
    const urls: ContentBlock[] = [];
    const urlNames: string[] = [];
    // E-mails sent without some attachments: carried to the prepare stage, which says them once the request is made.
    const notSent: [where: string, attachments: string[]][] = [];
    // A field given twice (`--attach f --attach f`, or by the record too: a folder's `path`) is one field: its documents are sent once.
    for (const field of new Set([...options.fields, ...(record.attach ?? [])])) {
      const value = record.data[field];
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item === undefined || item === null || item === '') continue;
        if (typeof item === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(item) && !/^file:\/\//i.test(item)) {
          if (!item.toLowerCase().startsWith('https://')) throw new DocumentProblem('document_unsupported', `field ${field}: ${item}: only https URLs can be sent (the API fetches them)`);
          try {
            urls.push(urlBlock(item));
          } catch (error) {
            if (error instanceof DocumentProblem) throw new DocumentProblem(error.type, `field ${field}: ${error.message}`);
            throw error;
          }
          urlNames.push(item);
          continue;
        }
        const { bytes, name } = await load(field, item, options.baseDir, options.filesUnder === undefined ? undefined : (under ??= underOf(options.filesUnder)));
        const doc = await inspectDocument(bytes, name, { oversized: options.oversizedImage, pageLimit: pdfPageLimit(options.model) });
        if (doc.kind === 'email' && doc.notSent) notSent.push([`${sourceOf(options.file, record)}:${record.line}: ${name}`, doc.notSent]);
        docs.push({ name, doc });
      }
    }
    if (docs.length === 0 && urls.length === 0) return record;

    const parts = docs.flatMap(({ doc }) => binaryParts(doc));
    const digests = new Map<Part, string>(parts.map((part) => [part, sha256(part.bytes)]));
    const inlineTotal = parts.reduce((n, part) => n + base64Length(part.bytes.length), 0);
    const uploads = (part: Part) =>
      options.canUpload &&
      (mode === 'files' || (mode === 'auto' && (part.bytes.length >= AUTO_UPLOAD_BYTES || inlineTotal > AUTO_INLINE_MAX_BYTES)));
    // Text (a text document, an e-mail's body) is always sent inline: only PDFs and images can be uploaded.
    let textBytes = 0;
    let textTokens = 0;
    for (const { doc } of docs) {
      if (doc.kind !== 'text' && doc.kind !== 'email') continue;
      textBytes += Buffer.byteLength(doc.text);
      textTokens += promptTokenEstimate(doc.text);
    }
    let inlineBytes = textBytes;
    for (const part of parts) if (!uploads(part)) inlineBytes += base64Length(part.bytes.length);
    preflight(docs, { model: options.model, inlineBytes, textBytes, oversized: options.oversizedImage, inline: (part) => (part.kind === 'pdf' || part.kind === 'image') && !uploads(part), urls: urlNames });
    const tooBig = parts.find((part) => uploads(part) && part.bytes.length > MAX_FILE_BYTES);
    if (tooBig) throw new DocumentProblem('request_too_large', `${docs.find(({ doc }) => binaryParts(doc).includes(tooBig))?.name ?? 'a file'}: ${tooBig.bytes.length.toLocaleString('en')} bytes, over the Files API's 500 MB`);

    const keyed = (part: Part): Transport => ({ type: 'file', fileId: `${PLACEHOLDER}${digests.get(part) as string}` });
    const sent = (part: Part): Transport => (uploads(part) ? keyed(part) : { type: 'inline' });
    const toUpload = new Map<string, UploadPart>();
    for (const { name, doc } of docs) {
      for (const part of binaryParts(doc)) {
        const digest = digests.get(part) as string;
        if (uploads(part)) toUpload.set(digest, { sha256: digest, bytes: part.bytes, mediaType: part.mediaType, name });
      }
    }
    const titled = docs.map(({ name, doc }) => ({ doc, title: titleOf(name) }));
    const blocks = [...urls, ...titled.flatMap(({ doc, title }) => blocksOf(doc, title, sent, options.oversizedImage))];
    const keyBlocks = [...urls, ...titled.flatMap(({ doc, title }) => blocksOf(doc, title, keyed, options.oversizedImage))];
    // A URL's document is fetched by the API, unseen here: a PDF counted as one page without text, as
    // the emulator counts it; an image as the most one costs on the model (never low against
    // --max-cost: 1,600 undercounted a photo on Opus 4.7 by two thirds).
    const urlTokens = urls.reduce((n, block) => n + (block.type === 'image' ? imageLimitsOf(options.model).maxTokens : pdfTokens(1, '')), 0);
    const tokens = parts.reduce((n, part) => n + documentTokens(part, options.model), 0) + urlTokens;
    const media = parts.reduce((n, part) => n + mediaTokens(part, options.model), 0) + urlTokens;
    const window = windowParts(docs, urls, urlNames, options.model);
    return { ...record, documents: { blocks, keyBlocks, uploads: [...toUpload.values()], tokens, mediaTokens: media, textTokens, parts: window, ...(notSent.length ? { notSent } : {}) } };
  }

  return async function* attach(source) {
    yield* orderedMap(source, options.concurrency ?? 8, one);
  };
}

/**
 * A record's PDFs and images as they count against the context window, each named (an e-mail's
 * attachment by the e-mail and its name): by `documentTokens`, the estimate the cost and the emulator
 * take. A URL PDF counts one page without text, the least it can; a URL image is left out (unseen, its
 * pixels are unknown: the most it could cost would refuse what may fit).
 */
function windowParts(docs: readonly { name: string; doc: Inspected }[], urls: readonly ContentBlock[], urlNames: readonly string[], model: string): WindowPart[] {
  const window: WindowPart[] = [];
  for (const { name, doc } of docs) {
    for (const part of binaryParts(doc)) {
      const named = part.attachment === undefined ? name : `${name}, attachment ${part.attachment}`;
      const what = part.kind === 'pdf' ? `${part.pages} PDF page${part.pages === 1 ? '' : 's'}` : `a ${part.width}×${part.height}-px image`;
      window.push({ name: named, what, tokens: documentTokens(part, model) });
    }
  }
  urls.forEach((block, i) => {
    if (block.type !== 'image') window.push({ name: urlNames[i] ?? 'a URL', what: 'a PDF by URL, counted as one page', tokens: pdfTokens(1, '') });
  });
  return window;
}

/** `filesUnder` as `Under`: absolute, and its real path. */
async function underOf(dir: string): Promise<Under> {
  const given = resolve(dir);
  return { given, real: await realpath(given) };
}

/** The bytes and a display name of one attached value. */
async function load(field: string, value: unknown, baseDir: string, under: Promise<Under> | undefined): Promise<{ bytes: Uint8Array; name: string }> {
  if (typeof value === 'string') {
    // A file:// URL (a file manager's copied link, a notebook's Path.as_uri()) is its path.
    const path = /^file:\/\//i.test(value) ? fileUrlPath(value, field) : resolve(baseDir, value);
    if (under !== undefined) return loadUnder(await under, path, value, field, baseDir);
    try {
      // Read only if it is a file of a size that can be sent.
      readableFile(await stat(path), value, field);
      return { bytes: await readFile(path), name: value };
    } catch (error) {
      if (error instanceof DocumentProblem) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw await missing(value, path, field, baseDir);
      throw new DocumentProblem('document_unreadable', `${value}: cannot read: ${code ?? (error as Error).message} (field ${field})`);
    }
  }
  if (value instanceof Uint8Array) return { bytes: value, name: field };
  if (typeof Blob !== 'undefined' && value instanceof Blob) {
    const name = (value as Blob & { name?: unknown }).name;
    return { bytes: new Uint8Array(await value.arrayBuffer()), name: typeof name === 'string' && name ? name : field };
  }
  throw new DocumentProblem('document_unsupported', `field ${field}: expected a path, an https URL, a Buffer or a Blob, got ${typeof value}`);
}

/**
 * Throws the problem of a path that is no file to read: a folder; a device, a pipe or a socket (a link
 * to /dev/zero could never end); a file over the Files API's limit, which no request can carry, inline
 * or uploaded: said from its size, not read (a 2.5 GB scan took 15 s to fail).
 */
function readableFile(info: { isDirectory(): boolean; isFile(): boolean; size: number }, value: string, field: string): void {
  if (info.isDirectory()) throw new DocumentProblem('document_unreadable', `${value}: a folder, not a file (field ${field})`);
  if (!info.isFile()) throw new DocumentProblem('document_unreadable', `${value}: not a regular file (a device, a pipe or a socket) (field ${field})`);
  if (info.size > MAX_FILE_BYTES) {
    throw new DocumentProblem('request_too_large', `${value}: ${info.size.toLocaleString('en')} bytes, over the Files API's 500 MB (${MAX_FILE_BYTES.toLocaleString('en')} bytes): not read (field ${field})`);
  }
}

/** The folder documents must lie in (`filesUnder`): as given (absolute), and its real path. */
interface Under {
  given: string;
  real: string;
}

/** Whether `path` is the folder `dir` or lies in it (as strings: both absolute and normalized). */
function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);
}

/**
 * `load` under `filesUnder`: a path outside the folder (as written, or where its links lead) is never
 * read. The file is opened first and then checked where it is (Linux: `/proc/self/fd`; else its
 * device and inode against the real path's), so a link swapped between a check and the read cannot
 * lead out (helper-76: 149 of 2,000 reads of a link swapped back and forth read the file outside).
 * Whether a file outside exists is not said: a path that is not there outside is "outside" too, and
 * a link's target is not named.
 */
async function loadUnder(under: Under, path: string, value: string, field: string, baseDir: string): Promise<{ bytes: Uint8Array; name: string }> {
  const outside = () => new DocumentProblem('document_unreadable', `${value}: outside ${under.given}, the folder documents are read from (--files-under, the library's filesUnder): not read (field ${field})`);
  if (!inside(path, under.given) && !inside(path, under.real)) throw outside();
  // Where its links lead, as far as they can be followed, before anything is opened (helper-78: the
  // open followed a link to a missing or unreadable file outside, and its error told what was there).
  if (!inside(await whereLeads(path), under.real)) throw outside();
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a pipe is opened without waiting for a writer (and refused below: not a regular file);
    // O_NOCTTY: a terminal device never becomes the process's.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DocumentProblem('document_missing', `${value}: no such file (field ${field}${isAbsolute(value) || /^file:\/\//i.test(value) ? '' : `, looked in ${baseDir}`})`);
    throw new DocumentProblem('document_unreadable', `${value}: cannot read: ${code ?? (error as Error).message} (field ${field})`);
  }
  try {
    const at = await openedAt(handle, path);
    if (at === undefined || !inside(at, under.real)) throw outside();
    readableFile(await handle.stat(), value, field);
    return { bytes: await handle.readFile(), name: value };
  } catch (error) {
    if (error instanceof DocumentProblem) throw error;
    throw new DocumentProblem('document_unreadable', `${value}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (field ${field})`);
  } finally {
    await handle.close();
  }
}

/**
 * Where `path` leads, its links followed as far as they go: its real path when it exists, else the
 * real path of its longest part that does, with the rest (a dangling link followed to its target, a
 * folder that cannot be searched left as it is). At most 40 links deep, as the system follows them.
 */
async function whereLeads(path: string, links = 0): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    if (parent === path || links > 40) return path;
    const at = join(await whereLeads(parent, links + 1), basename(path));
    const target = await readlink(at).catch(() => undefined);
    return target === undefined ? at : whereLeads(resolve(dirname(at), target), links + 1);
  }
}

/** Where an open file is: its path by `/proc/self/fd` (Linux); else the real path of `path` if that is the file opened (same device and inode), else undefined. */
async function openedAt(handle: FileHandle, path: string): Promise<string | undefined> {
  try {
    return await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    const real = await realpath(path).catch(() => undefined);
    if (real === undefined) return undefined;
    const [opened, there] = await Promise.all([handle.stat(), stat(real)]);
    return opened.dev === there.dev && opened.ino === there.ino ? real : undefined;
  }
}

/**
 * A document's title: its file name, that of a file:// URL's path (helper-84: `INV%20001%20(copy).pdf`
 * was sent as written, and made a request apart from the same file named by its path).
 */
function titleOf(name: string): string {
  if (/^file:\/\//i.test(name)) {
    try {
      return basename(fileURLToPath(name));
    } catch {
      // Not a file path: titled as written.
    }
  }
  return basename(name);
}

/** The path of a file:// URL, or the problem with it. */
function fileUrlPath(url: string, field: string): string {
  try {
    return fileURLToPath(url);
  } catch (error) {
    throw new DocumentProblem('document_unsupported', `field ${field}: ${url}: not a file URL this machine can read (${(error as Error).message})`);
  }
}

/**
 * The problem of a value naming no file (helper-60): a link whose target is not there is named as a
 * link; a name with blanks around it is shown quoted, the blanks said (a spreadsheet cell keeps them).
 */
async function missing(value: string, path: string, field: string, baseDir: string): Promise<DocumentProblem> {
  const target = await readlink(path).catch(() => undefined);
  if (target !== undefined) return new DocumentProblem('document_missing', `${value}: a link to ${resolve(dirname(path), target)}, which is not there (field ${field})`);
  const [atStart, atEnd] = [value.trimStart() !== value, value.trimEnd() !== value];
  const blanks = atStart && atEnd ? '; note the blanks around it' : atEnd ? '; note the blank at its end' : atStart ? '; note the blank at its start' : '';
  // A relative name is looked for in the base folder (said); an absolute one or a file URL is where it says.
  const where = isAbsolute(value) || /^file:\/\//i.test(value) ? '' : `, looked in ${baseDir}`;
  // A CSV written on Windows (helper-84: `inv\\scan.png`): said, not read as the other path.
  const slashed = sep === '/' && value.includes('\\') ? value.trim().replaceAll('\\', '/') : undefined;
  const windows = slashed !== undefined && (await stat(resolve(baseDir, slashed)).then((info) => info.isFile(), () => false)) ? `; written with backslashes, as on Windows: ${slashed} is there` : '';
  return new DocumentProblem('document_missing', `${blanks ? JSON.stringify(value) : value}: no such file (field ${field}${where}${blanks}${windows})`);
}

/** `fn` over `source` with up to `concurrency` calls at once; results in source order. */
export async function* orderedMap<T, U>(source: AsyncIterable<T>, concurrency: number, fn: (item: T) => Promise<U>): AsyncGenerator<U> {
  const window: Promise<U>[] = [];
  try {
    for await (const item of source) {
      const pending = fn(item);
      pending.catch(() => undefined); // awaited in order below; not an unhandled rejection meanwhile
      window.push(pending);
      if (window.length >= concurrency) yield await (window.shift() as Promise<U>);
    }
    while (window.length > 0) yield await (window.shift() as Promise<U>);
  } finally {
    // Stopped early: let the calls started settle quietly.
    await Promise.allSettled(window);
  }
}

/** A prepared request whose messages still name parts to upload by their placeholder ids. */
export interface PendingUploads extends PreparedRecord {
  uploads?: UploadPart[] | undefined;
}

export interface ResolveUploadsOptions {
  uploader: Uploader;
  /**
   * Whether the ledger already has the request answered (true: its stored answer is used and nothing
   * is uploaded; true too for one sent under another API identity, on which the sink stops), or
   * submitted ('submitted': its files are checked again, for a retry to send them, but if that fails
   * the request stays as it was sent, its answer to come from its batch).
   */
  known: (key: string) => boolean | 'submitted' | Promise<boolean | 'submitted'>;
  /**
   * Why nothing more will be sent (the budget ran out), once it is so: a record still to send then
   * comes out with that error, its files not uploaded for nothing.
   */
  refused?: (() => RecordError | undefined) | undefined;
  file?: string | undefined;
  concurrency?: number | undefined;
}

/**
 * Prepared requests → requests ready to send: each part still to upload is uploaded (once per file,
 * through the registry) and its placeholder id replaced by the real `file_id`. A request the ledger
 * already knows is passed on as it is: a rerun uploads nothing for it. A failed upload becomes the
 * record's `error` (`upload_failed`).
 */
export function resolveUploads(options: ResolveUploadsOptions): (source: AsyncIterable<PendingUploads>) => AsyncGenerator<PreparedRecord> {
  const one = async (record: PendingUploads): Promise<PreparedRecord> => {
    const { uploads, ...prepared } = record;
    if (!uploads?.length || prepared.error || prepared.key === undefined || prepared.messages === undefined) return prepared;
    const known = await options.known(prepared.key);
    if (known === true) return prepared;
    // Submitted already, its answer comes from its batch; no retry is sent past the budget.
    const refused = options.refused?.();
    if (refused) return known === 'submitted' ? prepared : { ...prepared, error: refused };
    let messages = prepared.messages;
    for (const part of uploads) {
      try {
        const fileId = await options.uploader.fileIdFor(part);
        messages = messages.replaceAll(JSON.stringify(`${PLACEHOLDER}${part.sha256}`), JSON.stringify(fileId));
      } catch (error) {
        if (!(error instanceof Error && 'status' in error)) throw error;
        // Submitted already: paid for, and answered by its batch; only a retry would need the file.
        if (known === 'submitted') return prepared;
        return { ...prepared, error: { type: 'upload_failed', message: `${sourceOf(options.file, prepared)}:${prepared.line}: ${part.name}: uploading to the Files API failed: ${describeApiError(error)}` } };
      }
    }
    return { ...prepared, messages };
  };
  return async function* upload(source) {
    yield* orderedMap(source, options.concurrency ?? 8, one);
  };
}
