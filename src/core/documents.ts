/**
 * Documents as content blocks, as plain functions: the type of a file sniffed from its bytes (never
 * its name), the preflight checks the API would otherwise fail a paid request on, and the `document`
 * and `image` blocks sent.
 *
 * Block shapes are the SDK's (`node_modules/@anthropic-ai/sdk/resources/messages/messages.d.ts`:
 * `DocumentBlockParam` with `Base64PDFSource`, `PlainTextSource`, `URLPDFSource`, `FileDocumentSource`;
 * `ImageBlockParam` with `Base64ImageSource` (jpeg, png, gif, webp), `URLImageSource`,
 * `FileImageSource`, and `transformations.oversized_image: 'downsize' | 'error'`), which match the
 * OpenAPI document's `RequestDocumentBlock` / `RequestImageBlock`.
 *
 * Limits (the issue's summary of the vision and PDF-support docs, docs/anthropic-batches-api.md §3.1):
 * 32 MB per request, 100 PDF pages (600 on 1M-context models), images at most 8000 px a side, or
 * 2000 px when a request carries more than 20 images.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { crc32, inflateSync } from 'node:zlib';
import { dirname } from 'node:path';
import type { PDFDocument } from 'pdf-lib';
import { findModel, imageLimitsOf, type ModelEntry } from './models.ts';
import { argPath, shellWord } from './text.ts';
import { detectEncoding, utf16WithoutBom } from './encoding.ts';

// The parsers load on first use: a run without documents (and the CLI's start) does not pay for them.
const parsers = () => (loaded ??= Promise.all([import('file-type'), import('image-size'), import('pdf-lib')]));
let loaded: Promise<[typeof import('file-type'), typeof import('image-size'), typeof import('pdf-lib')]> | undefined;

/** Per-record `_error` types of documents: each names what is wrong with the file. */
export type DocumentErrorType =
  | 'document_unsupported'
  | 'document_encrypted'
  | 'document_unreadable'
  | 'document_missing'
  | 'document_too_many_pages'
  | 'image_too_large'
  | 'too_much_media'
  | 'request_too_large'
  | 'model_no_documents';

/** A document that cannot be sent, and why; becomes the record's `_error`. */
export class DocumentProblem extends Error {
  readonly type: DocumentErrorType;
  constructor(type: DocumentErrorType, message: string) {
    super(message);
    this.name = 'DocumentProblem';
    this.type = type;
  }
}

export type ImageMediaType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';
const IMAGE_TYPES: ReadonlySet<string> = new Set<ImageMediaType>(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** What a file turned out to be (`attachment`: an e-mail attachment's file name, for messages). */
export type Inspected =
  | { kind: 'pdf'; mediaType: 'application/pdf'; bytes: Uint8Array; pages: number; tokens: number; attachment?: string }
  | { kind: 'image'; mediaType: ImageMediaType; bytes: Uint8Array; width: number; height: number; attachment?: string }
  | { kind: 'text'; mediaType: 'text/plain'; text: string }
  | { kind: 'email'; text: string; attachments: Inspected[]; notSent?: string[] };

/** Request limits from the API docs (see the header comment). */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
export const MAX_PDF_PAGES = 100;
export const MAX_PDF_PAGES_1M = 600;
export const MAX_IMAGE_SIDE = 8000;
export const MAX_IMAGE_SIDE_MANY = 2000;
/** More images than this in one request lowers the side limit to `MAX_IMAGE_SIDE_MANY`. */
export const MANY_IMAGES = 20;
/**
 * The most base64 an image sent inline may be: the API refuses more with "messages.N.content.M.image.
 * source.base64: image exceeds 5 MB maximum: N bytes > 5242880 bytes" (the API's own error, quoted in
 * anthropics/claude-code#2104, #2146, #11181; counted here on the base64 text, the larger measure).
 */
export const MAX_IMAGE_BASE64_BYTES = 5 * 1024 * 1024;

/** How long `bytes` bytes are as base64. */
export function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}
/** The Files API takes files up to 500 MB (request-size table, docs/anthropic-batches-api.md §3.1). */
export const MAX_FILE_BYTES = 500 * 1024 * 1024;

/**
 * Models with a 1M-token context window, which take 600 PDF pages instead of 100. UNCONFIRMED
 * list: the docs name the limit, not every model; we take the 2026 Opus/Sonnet generation.
 */
const MILLION_CONTEXT = /^claude-(opus-4-[6-9]|opus-5|sonnet-4-6|sonnet-5|fable-5|mythos-5)/;

/** The most PDF pages one request may carry on `model`. */
export function pdfPageLimit(model: string): number {
  return MILLION_CONTEXT.test(model) ? MAX_PDF_PAGES_1M : MAX_PDF_PAGES;
}

/** Hex sha256 of a file's bytes: its identity in request keys and the upload registry. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * What `bytes` are, from their content (file-type's magic numbers, then UTF-8 text and the RFC 5322
 * header block of an e-mail). `name` is only shown in messages. Throws a `DocumentProblem`: an
 * unsupported type (DOCX, XLSX, ZIP, …), an encrypted or corrupt PDF, an image whose size cannot be
 * read.
 */
export function inspectDocument(bytes: Uint8Array, name: string, options: InspectOptions = {}): Promise<Inspected> {
  return inspect(bytes, name, 0, options);
}

export interface InspectOptions {
  /**
   * How images over the size limit are sent (`transformations.oversized_image`): unless `downsize`,
   * an e-mail's image attachment over `MAX_IMAGE_SIDE` is left out of it, named, as any attachment
   * that cannot be sent is, instead of failing the whole e-mail (the request's own images are
   * `preflight`'s to refuse).
   */
  oversized?: 'downsize' | 'error' | undefined;
  /**
   * The PDF pages a request to the model may carry (`pdfPageLimit`): an e-mail's PDF attachment over
   * it is left out, named, as an image over the size limit is (helper-84: one 150-page catalogue failed
   * the whole e-mail, whose body held the answer). Absent: `preflight` refuses it with the request.
   */
  pageLimit?: number | undefined;
}

/** Messages forwarded inside messages are read this deep, no deeper. */
const MAX_EMAIL_DEPTH = 5;

/**
 * Office formats by extension (file-type's, else the file name's: it takes an OOXML file whose parts
 * lie past the bytes it reads for a plain ZIP, and old Office files for CFB containers). The API reads
 * none of them; a PDF made from one it reads.
 */
const OFFICE: Readonly<Record<string, string>> = {
  docx: 'a Word document',
  doc: 'a Word document',
  odt: 'an OpenDocument text',
  rtf: 'a rich-text document',
  xlsx: 'an Excel workbook',
  xls: 'an Excel workbook',
  ods: 'an OpenDocument spreadsheet',
  pptx: 'a PowerPoint presentation',
  ppt: 'a PowerPoint presentation',
  odp: 'an OpenDocument presentation',
};

/** The problem of a binary type the API does not read, with how to make an office document one it does. */
function unsupportedType(name: string, type: { mime: string; ext: string }): DocumentProblem {
  const named = /\.([a-z]+)$/i.exec(name)?.[1]?.toLowerCase();
  const ext = Object.hasOwn(OFFICE, type.ext) ? type.ext : (type.ext === 'zip' || type.ext === 'cfb') && named !== undefined && Object.hasOwn(OFFICE, named) ? named : undefined;
  const supported = 'is not supported: send PDF, JPEG, PNG, GIF, WebP, plain text or e-mail (.eml)';
  const file = shellWord(argPath(name));
  if (ext !== undefined) return new DocumentProblem('document_unsupported', `${name}: ${OFFICE[ext]} (.${ext}) ${supported}; convert it to PDF first, e.g. libreoffice --headless --convert-to pdf --outdir ${shellWord(dirname(argPath(name)))} ${file}`);
  // Outlook saves a message as a compound file (.msg); an iPhone takes photos as HEIC (helper-60: named by their MIME types only).
  if (type.ext === 'cfb' && named === 'msg') return new DocumentProblem('document_unsupported', `${name}: an Outlook message (.msg) ${supported}; convert it to .eml first, e.g. msgconvert ${file} (Debian: libemail-outlook-message-perl)`);
  if (type.ext === 'heic' || type.ext === 'heif' || type.ext === 'avif') {
    const jpeg = shellWord(argPath(name).replace(/(\.[^./]*)?$/, '.jpg'));
    return new DocumentProblem('document_unsupported', `${name}: a ${type.ext.toUpperCase()} photo (.${type.ext}) ${supported}; convert it to JPEG first, e.g. heif-convert ${file} ${jpeg} (Debian: libheif-examples)`);
  }
  // A scanner's or a fax's TIFF (often many pages): one PDF of its pages keeps them together.
  if (type.ext === 'tif') {
    const pdf = shellWord(argPath(name).replace(/(\.[^./]*)?$/, '.pdf'));
    return new DocumentProblem('document_unsupported', `${name}: a TIFF image (.tif) ${supported}; convert it to PDF first, e.g. tiff2pdf -o ${pdf} ${file} (Debian: libtiff-tools)`);
  }
  return new DocumentProblem('document_unsupported', `${name}: ${type.mime} (.${type.ext}) ${supported}`);
}

/**
 * The problem of text that is not UTF-8, with the `iconv` command that converts it: from the encoding
 * the CSV reader would detect (`core/encoding.ts`), this file, into a UTF-8 copy beside it.
 */
async function notUtf8(bytes: Uint8Array, name: string): Promise<DocumentProblem> {
  const { detectEncoding, DETECT_SAMPLE_BYTES } = await import('./encoding.ts');
  const encoding = detectEncoding(bytes.subarray(0, DETECT_SAMPLE_BYTES), bytes.length <= DETECT_SAMPLE_BYTES).encoding;
  const file = argPath(name);
  const copy = file.replace(/(\.[^./]*)?$/, (ext) => `.utf-8${ext}`);
  return new DocumentProblem('document_unsupported', `${name}: text that is not UTF-8 (${encoding}, as far as can be told): convert it to UTF-8 first, e.g. iconv -f ${encoding} -t utf-8 ${shellWord(file)} > ${shellWord(copy)}`);
}

/** The file name of an e-mail's attachment (a PDF or an image), when it had one. */
function attachmentName(part: Inspected): string | undefined {
  return part.kind === 'pdf' || part.kind === 'image' ? part.attachment : undefined;
}

/**
 * The types file-type names that are text, read as text when they are UTF-8: XML (and so SVG), and
 * `text/*` (a calendar, a contact card: helper-64 found every meeting invite refused as binary).
 */
function textType(mime: string): boolean {
  return mime === 'application/xml' || mime.startsWith('text/');
}

/** `inspectDocument`, within `depth` levels of forwarded messages. */
async function inspect(bytes: Uint8Array, name: string, depth: number, options: InspectOptions): Promise<Inspected> {
  // Before file-type, which takes a UTF-16 or UTF-32 byte order mark for the start of an MPEG audio frame.
  const wide = utf32(bytes) ?? utf16(bytes);
  if (wide !== undefined) return textDocument(wide, name);
  const [{ fileTypeFromBuffer }, { imageSize }] = await parsers();
  const type = await fileTypeFromBuffer(bytes);
  // A PNG or JPEG by its signature: file-type gives up on one damaged past it (it reads the chunks after).
  const signed = PNG_SIGNATURE.every((b, i) => bytes[i] === b) ? 'image/png' : bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff ? 'image/jpeg' : undefined;
  const damage = signed && (type === undefined || type.mime === signed) ? imageDamage(bytes, signed) : undefined;
  if (damage) throw new DocumentProblem('document_unreadable', `${name}: a damaged ${signed === 'image/png' ? 'PNG' : 'JPEG'} image (${damage})`);
  if (type?.mime === 'application/pdf') return inspectPdf(bytes, name);
  if (type && IMAGE_TYPES.has(type.mime)) {
    let size: { width?: number; height?: number };
    try {
      size = imageSize(ownBuffer(bytes));
    } catch (error) {
      throw new DocumentProblem('document_unreadable', `${name}: a ${type.mime} image whose size cannot be read (${(error as Error).message})`);
    }
    if (!size.width || !size.height) throw new DocumentProblem('document_unreadable', `${name}: a ${type.mime} image without dimensions`);
    return { kind: 'image', mediaType: type.mime as ImageMediaType, bytes, width: size.width, height: size.height };
  }
  // file-type knows binary formats, and a few text ones (`textType`), read as text.
  if (type && !textType(type.mime)) throw unsupportedType(name, type);
  const text = utf8(bytes);
  if (text === undefined) {
    if (bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) === '%PDF') {
      throw new DocumentProblem('document_unreadable', `${name}: a damaged PDF (its structure cannot be read)`);
    }
    // An e-mail's header block is ASCII; its body may be in any charset it declares (8-bit
    // ISO-8859-1 is common), which mailparser decodes.
    const latin1 = bytes.includes(0) ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
    // With NUL bytes, a message whose attachment is sent as binary (Content-Transfer-Encoding: binary),
    // told by its header block (helper-82: its PDF was sent alone, its headers taken for junk before it).
    const mail = latin1 !== undefined ? emailIn(bytes, latin1, name) : binaryEmail(bytes, name);
    if (mail) return inspectEmail(mail, name, depth, options);
    const unmarked = utf16Unmarked(bytes);
    if (unmarked !== undefined) return textDocument(unmarked, name);
    const pdf = await pdfAfterJunk(bytes, name);
    if (pdf) return pdf;
    if (latin1 !== undefined && looksLikeText(latin1)) throw heldText(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1'), name) ?? (await notUtf8(bytes, name));
    throw new DocumentProblem('document_unsupported', `${name}: not a PDF, an image or text (binary data of an unknown type)`);
  }
  if (text.startsWith('%PDF-')) throw new DocumentProblem('document_unreadable', `${name}: a damaged PDF (its structure cannot be read)`);
  const mail = emailIn(bytes, text, name);
  if (mail) return inspectEmail(mail, name, depth, options);
  return (await pdfAfterJunk(bytes, name)) ?? textDocument(text, name);
}

async function inspectPdf(bytes: Uint8Array, name: string): Promise<Inspected> {
  const pages = await pdfPages(bytes, name);
  return { kind: 'pdf', mediaType: 'application/pdf', bytes, pages, tokens: pdfTokens(pages, pdfText(pdfStreams(bytes))) };
}

/** Where viewers look for a PDF's header: anywhere in its first 1,024 bytes (PDF 1.7 reference, implementation note 13). */
const PDF_HEADER_WITHIN = 1024;

/**
 * A PDF behind bytes that are not its own (a gateway's banner, HTTP headers saved with a download, a
 * byte order mark): its `%PDF-n.n` header within the first 1,024 bytes, and a whole PDF from there,
 * which is what is sent (the API reads a PDF from its first byte; offsets in such a file count from
 * its header, written before the junk was put in front). Undefined when there is none, or what follows
 * does not load as one (text that only mentions the header stays text). helper-74.
 */
async function pdfAfterJunk(bytes: Uint8Array, name: string): Promise<Inspected | undefined> {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, PDF_HEADER_WITHIN + 8)).toString('latin1');
  const at = head.search(/%PDF-\d\.\d/);
  if (at <= 0 || at >= PDF_HEADER_WITHIN) return undefined;
  // A MIME part (an mbox's or .emlx's message with its PDF sent as binary) is no junk: its PDF is not
  // the whole of it (helper-83).
  if (/^(?:mime-version:|content-type:\s*multipart\/)/im.test(head.slice(0, at))) return undefined;
  // A PDF's shape before its parser is asked (helper-82: a 6 MB log that mentions the header took
  // pdf-lib 28 s to give up on): an object soon after the header, and in its last 64 KB (padding may
  // follow) the end every PDF has, `startxref`, the offset of its cross-reference, and `%%EOF`
  // (ISO 32000-1 §7.5.5; helper-83: a log that quotes `1 0 obj` and ends with `%%EOF` took it 7 s).
  const after = Buffer.from(bytes.buffer, bytes.byteOffset + at, Math.min(bytes.length - at, 4096)).toString('latin1');
  const tail = Math.min(bytes.length, 65_536);
  const end = Buffer.from(bytes.buffer, bytes.byteOffset + bytes.length - tail, tail).toString('latin1');
  if (!/\d+\s+\d+\s+obj\b/.test(after) || !/startxref\s+\d+\s+%%EOF/.test(end)) return undefined;
  try {
    return await inspectPdf(bytes.subarray(at), name);
  } catch (error) {
    if (error instanceof DocumentProblem && error.type === 'document_encrypted') throw error;
    return undefined;
  }
}

/**
 * A PDF's page count. Whatever pdf-lib throws, loading it or walking its page tree, is the file's
 * damage, named (helper-60: a download cut short, a catalog without pages or a page tree that loops
 * loaded, then threw a TypeError or a RangeError from `getPageCount` that ended the whole run).
 */
async function pdfPages(bytes: Uint8Array, name: string): Promise<number> {
  let pages: number;
  try {
    // pdf-lib refuses encrypted files with EncryptedPDFError unless told to ignore encryption.
    const { PDFDocument: Pdf } = (await parsers())[2];
    const doc: PDFDocument = await Pdf.load(bytes, { updateMetadata: false, throwOnInvalidObject: true });
    pages = doc.getPageCount();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof Error && (error.name === 'EncryptedPDFError' || /encrypted/i.test(message))) {
      throw new DocumentProblem('document_encrypted', `${name}: the PDF is encrypted (password-protected); the API cannot read it: decrypt it first`);
    }
    // In the file's terms: pdf-lib's messages and JavaScript's ("Cannot read properties of undefined")
    // say nothing a user can act on; a file cut short (no %%EOF near its end) is the common case.
    const tail = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).subarray(-1024).toString('latin1');
    const why = !tail.includes('%%EOF') ? 'cut short: it does not end with %%EOF, as a download that stopped' : error instanceof RangeError ? 'its page tree loops, or is nested too deep' : 'its structure cannot be read';
    throw new DocumentProblem('document_unreadable', `${name}: a damaged PDF (${why})`);
  }
  if (pages === 0) throw new DocumentProblem('document_unreadable', `${name}: a PDF without pages`);
  return pages;
}

/**
 * `bytes` in an ArrayBuffer of their own. image-size reads past the end of a view (measured: a PNG
 * cut to 16 bytes, in Node's shared pool after another PNG, gave that PNG's size), so a view into a
 * larger buffer (small Buffers share an 8 KB pool) is copied first.
 */
export function ownBuffer(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length ? bytes : new Uint8Array(bytes);
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Why a PNG or JPEG cannot be decoded whole, or undefined: the API answers such an image "Could not
 * process image" (400 invalid_request_error; anthropics/claude-code#1747), after the request is paid
 * for in a batch. image-size reads only the header (a PNG's IHDR, a JPEG's SOF), so a file cut short
 * passes it. A PNG (PNG spec §5.3, §11.2.5) is chunks whose lengths fit the file, each with its CRC
 * (checked for critical chunks, which decoders refuse on a mismatch; ancillary ones they skip), from
 * IHDR to IEND. A JPEG (ITU T.81 B.1) is segments whose lengths fit the file, to its end-of-image
 * marker FFD9; data after that marker (a camera's trailer, a motion photo's video) is not damage,
 * so the file need not end with FFD9.
 */
export function imageDamage(bytes: Uint8Array, mediaType: 'image/png' | 'image/jpeg'): string | undefined {
  return mediaType === 'image/png' ? pngDamage(bytes) : jpegDamage(bytes);
}

function pngDamage(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = PNG_SIGNATURE.length; ; ) {
    if (at + 8 > bytes.length) return `cut short: no IEND chunk (the file ends at byte ${bytes.length})`;
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) return `no valid chunk at byte ${at}`;
    if (at === PNG_SIGNATURE.length && type !== 'IHDR') return 'no IHDR chunk at its start';
    const end = at + 12 + length;
    if (end > bytes.length) return `cut short: its ${type} chunk at byte ${at} runs past the end of the file, at byte ${bytes.length}`;
    // Critical chunks are named with a capital first letter (PNG spec §5.4).
    if (type[0] === type[0]?.toUpperCase() && crc32(bytes.subarray(at + 4, end - 4)) !== view.getUint32(end - 4)) return `its ${type} chunk at byte ${at} fails its CRC`;
    if (type === 'IEND') return undefined;
    at = end;
  }
}

function jpegDamage(bytes: Uint8Array): string | undefined {
  const cut = `cut short: no end-of-image marker (FFD9) before the end of the file, at byte ${bytes.length}`;
  for (let at = 2; ; ) {
    if (at + 2 > bytes.length) return cut;
    if (bytes[at] !== 0xff) return `no marker at byte ${at}`;
    const marker = bytes[at + 1] as number;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd9) return undefined;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // no length
      continue;
    }
    if (at + 4 > bytes.length) return cut;
    const end = at + 2 + ((bytes[at + 2] as number) << 8) + (bytes[at + 3] as number);
    if (end > bytes.length) return `cut short: its segment FF${marker.toString(16).toUpperCase()} at byte ${at} runs past the end of the file, at byte ${bytes.length}`;
    at = end;
    if (marker !== 0xda) continue;
    // After a start of scan, entropy-coded data up to the next marker (FF00 is a data byte, FFD0-FFD7 restart markers).
    while (at + 1 < bytes.length && !(bytes[at] === 0xff && bytes[at + 1] !== 0 && bytes[at + 1] !== 0xff && ((bytes[at + 1] as number) < 0xd0 || (bytes[at + 1] as number) > 0xd7))) at++;
    if (at + 1 >= bytes.length) return cut;
  }
}

/** UTF-8 text without NUL bytes, else undefined (a BOM is dropped). */
function utf8(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * An e-mail whose header block has raw 8-bit bytes that are not UTF-8 (a subject in ISO-8859-1,
 * not encoded as RFC 2047 says; old clients send it) with that block in UTF-8 (RFC 6532), read in
 * the charset the message declares, else windows-1252; the body is left to mailparser, which
 * decodes it by its own Content-Type. Any other message as it is.
 */
async function utf8Headers(mail: Buffer): Promise<Buffer> {
  const blank = /\r?\n\r?\n/.exec(mail.toString('latin1'));
  if (!blank) return mail;
  const head = mail.subarray(0, blank.index);
  if (utf8(head) !== undefined) return mail;
  const iconv = (await import('iconv-lite')).default;
  const declared = /charset="?([\w.:-]+)/i.exec(head.toString('latin1'))?.[1];
  const charset = declared && iconv.encodingExists(declared) ? declared : 'windows-1252';
  return Buffer.concat([Buffer.from(iconv.decode(head, charset), 'utf8'), mail.subarray(blank.index)]);
}

/**
 * A message whose text parts each declare the charset their bytes are in. A text part that declares
 * none (or an empty one, or one `decodable` says no decoder takes) was read as UTF-8 by mailparser (helper-84: "Preis: 12 € für
 * März" in windows-1252 went out as "Preis: 12 � f�r M�rz", silently, while the raw 8-bit Subject of
 * the same message was read as windows-1252): when its bytes, once out of their transfer encoding, are
 * not UTF-8, it is given the charset they are read in as an input file's are (`detectEncoding`). Any
 * other part, and any other message, as it is, byte for byte (a request keeps its key).
 */
function declaredCharsets(mail: Buffer, decodable: (charset: string) => boolean): Buffer {
  const text = mail.toString('latin1');
  const edits: { at: number; end: number; insert: string }[] = [];
  mimeParts(text, 0, text.length, 0, (headerStart, headerEnd, bodyStart, bodyEnd) => {
    const header = text.slice(headerStart, headerEnd);
    const type = headerField(header, 'content-type');
    const value = type?.value ?? 'text/plain';
    if (!/^\s*text\//i.test(value)) return;
    // Only a part that names no charset, or one no decoder takes: one it names, mailparser decodes
    // (through libmime, which knows names iconv-lite does not: x-mac-roman, dos-874; relabelled, they
    // came out garbled: helper-86). A name libmime does not take (x-unknown, unknown-8bit, utf-7) it
    // reads as UTF-8: 8-bit text came out as U+FFFD, without a word (note 49).
    const charset = CHARSET_PARAM.exec(value);
    const named = charset ? charsetNamed(charset) : '';
    if (named !== '' && decodable(named)) return;
    const bytes = transferDecoded(text.slice(bodyStart, bodyEnd), headerField(header, 'content-transfer-encoding')?.value.trim().toLowerCase());
    if (isUtf8(bytes)) return;
    const guessed = `charset=${detectEncoding(bytes, true).encoding}`;
    if (type === undefined) edits.push({ at: headerStart, end: headerStart, insert: `Content-Type: text/plain; ${guessed}\r\n` });
    else if (charset) edits.push({ at: headerStart + type.at + (charset.index ?? 0), end: headerStart + type.at + (charset.index ?? 0) + charset[0].length, insert: `; ${guessed}` });
    else edits.push({ at: headerStart + type.at + type.value.length, end: headerStart + type.at + type.value.length, insert: `; ${guessed}` });
  });
  if (edits.length === 0) return mail;
  let out = '';
  let from = 0;
  for (const edit of edits.sort((a, b) => a.at - b.at)) {
    out += text.slice(from, edit.at) + edit.insert;
    from = edit.end;
  }
  return Buffer.from(out + text.slice(from), 'latin1');
}

/**
 * A Content-Type's charset parameter: `charset=x`, quoted or not, or as RFC 2231 names it (section 4:
 * `charset*=us-ascii'en'x`, its value percent-encoded; section 3: a first continuation `charset*0=x`),
 * which mailparser reads too, and before a plain one (helper-93 #15: a name no decoder takes, given so,
 * came out as U+FFFD). Groups: the `*` forms, the quoted value, the bare one.
 */
const CHARSET_PARAM = /;\s*charset(\*0\*|\*0|\*)?\s*=\s*(?:"([^"]*)"|([^;\s]*))/i;

/** The charset a `CHARSET_PARAM` match names. */
function charsetNamed(match: RegExpExecArray): string {
  const value = (match[2] ?? match[3] ?? '').trim();
  if (match[1] !== '*' && match[1] !== '*0*') return value;
  // charset'language'value: the parameter's own charset and language are the first two fields.
  const encoded = value.split("'").slice(2).join("'") || value;
  try {
    return decodeURIComponent(encoded).trim();
  } catch {
    return encoded;
  }
}

/** How deep `mimeParts` goes into multiparts within multiparts (mailparser's own limit is far above any real message). */
const MAX_MIME_DEPTH = 50;

/**
 * Calls `part` with the header block and the body of each leaf MIME part of the message in
 * `text[start, end)` (a latin1 string of its bytes), going into multiparts by their boundaries.
 */
function mimeParts(text: string, start: number, end: number, depth: number, part: (headerStart: number, headerEnd: number, bodyStart: number, bodyEnd: number) => void): void {
  // A part that starts with its blank line has no header block.
  const leading = /^\r?\n/.exec(text.slice(start, start + 2));
  let headerEnd = start;
  let bodyStart = start + (leading?.[0].length ?? 0);
  if (!leading) {
    const found = blankLine(text, start, end);
    if (found === undefined) return;
    [headerEnd, bodyStart] = found;
  }
  const type = headerField(text.slice(start, headerEnd), 'content-type')?.value ?? '';
  const boundary = /^\s*multipart\/[^;]*;(?:.*;)?\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/is.exec(type);
  if (!boundary) {
    part(start, headerEnd, bodyStart, end);
    return;
  }
  if (depth >= MAX_MIME_DEPTH) return;
  const delimiter = `--${boundary[1] ?? boundary[2]}`;
  const lines = new RegExp(`(?:^|\\r?\\n)${delimiter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(--)?[ \\t]*(?:\\r?\\n|$)`, 'g');
  lines.lastIndex = Math.max(0, bodyStart - 2);
  // Searched within the part (a cut of the text, made without copying it): an inner multipart whose
  // boundary never comes was searched to the end of the message, once each (helper-87: 5,000 such
  // parts before an 8 MB attachment took 30 s).
  const within = text.slice(0, end);
  let partStart: number | undefined;
  for (let m = lines.exec(within); m !== null; m = lines.exec(within)) {
    if (partStart !== undefined) mimeParts(text, partStart, m.index, depth + 1, part);
    if (m[1] === '--') return;
    partStart = m.index + m[0].length;
  }
  // No closing delimiter (a message cut short): its last part runs to the end, as mailparser reads it.
  if (partStart !== undefined && partStart < end) mimeParts(text, partStart, end, depth + 1, part);
}

/**
 * The first blank line in `text[start, end)`: where the header block before it ends and the body after
 * it starts; undefined when there is none. Line by line within the part: a regular expression searched
 * to the end of the message for each part, and one run on the part cut out of it copied the message
 * each time (helper-86: 900 header-only parts before a 12 MB one took 12 s, 60,000 of them 38 s).
 */
function blankLine(text: string, start: number, end: number): [headerEnd: number, bodyStart: number] | undefined {
  for (let nl = text.indexOf('\n', start); nl !== -1 && nl < end; nl = text.indexOf('\n', nl + 1)) {
    const next = text.charCodeAt(nl + 1) === 0x0d ? nl + 2 : nl + 1;
    if (next < end && text.charCodeAt(next) === 0x0a) return [nl > start && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl, next + 1];
  }
  return undefined;
}

/** A header's unfolded value in a header block, and where that value starts in the block. */
function headerField(header: string, name: string): { value: string; at: number } | undefined {
  const m = new RegExp(`(^|\\n)${name}[ \\t]*:[ \\t]*`, 'i').exec(header);
  if (!m) return undefined;
  const at = m.index + m[0].length;
  const folded = /^[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*/.exec(header.slice(at))?.[0] ?? '';
  return { value: folded, at };
}

/** A part's body bytes out of their transfer encoding (base64, quoted-printable; anything else as they are). */
function transferDecoded(body: string, encoding: string | undefined): Buffer {
  if (encoding === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (encoding === 'quoted-printable') {
    return Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
  }
  return Buffer.from(body, 'latin1');
}

/** ISO-8859-1 by its IANA names and aliases, lower case, without punctuation (`ISO_8859-1:1987` → `iso885911987`). */
const LATIN1_NAMES = new Set(['iso88591', 'iso885911987', 'latin1', 'l1', 'isoir100', 'cp819', 'ibm819', 'csisolatin1', 'iso88591windows31latin1']);

/**
 * A text attachment's bytes in UTF-8, decoded from the charset its MIME part declares (helper-60: a
 * `text/plain; charset=windows-1252` file was sniffed as bytes, found not UTF-8, and left out); any
 * other part, one in UTF-8 or ASCII, or in a charset iconv-lite does not know, as it is.
 */
async function inDeclaredCharset(part: { contentType: string; content: Buffer; headers: Map<string, unknown> }): Promise<Buffer> {
  if (!part.contentType.startsWith('text/')) return part.content;
  const header = part.headers.get('content-type') as { params?: Record<string, string> } | undefined;
  const charset = header?.params?.['charset']?.toLowerCase();
  if (!charset || /^(utf-?8|us-ascii|ascii)$/.test(charset)) return part.content;
  // Bytes that are UTF-8 already, or a type of their own (a PDF labelled text/plain), are as they are
  // (helper-63: decoded anyway, a PDF came out damaged and UTF-8 text as mojibake).
  if (utf8(part.content) !== undefined) return part.content;
  // XML is text to file-type as to `inspect` (helper-64: skipped, a windows-1252 .xml was left out).
  const type = await (await parsers())[0].fileTypeFromBuffer(part.content);
  if (type !== undefined && !textType(type.mime)) return part.content;
  const iconv = (await import('iconv-lite')).default;
  // ISO-8859-1 as windows-1252, as mailparser reads a body and `detectEncoding` a file (helper-84: a
  // euro sign, 0x80, went out as the control character U+0080).
  const read = LATIN1_NAMES.has(charset.replace(/[^a-z0-9]/g, '')) ? 'windows-1252' : charset;
  return iconv.encodingExists(read) ? Buffer.from(iconv.decode(part.content, read), 'utf8') : part.content;
}

/** What a file name's extension promises that text is not (a failed download saved under it). */
const BINARY_NAMES: Record<string, string> = {
  pdf: 'a PDF',
  ...Object.fromEntries(['jpg', 'jpeg', 'png', 'gif', 'webp', 'tif', 'tiff', 'bmp', 'heic', 'heif'].map((ext) => [ext, 'an image'])),
};

/**
 * A text document, unless there is nothing in it to read (sent, it would be paid for: the API takes
 * an empty text document), or its name says it is a PDF or an image: then it is what was saved in its
 * place, an HTTP error page or a storage service's error (helper-84: `403 Forbidden` as `invoice.pdf`
 * was sent, and came back "enriched" with made-up invoice fields).
 */
function textDocument(text: string, name: string): Inspected {
  if (text.trim() === '') throw new DocumentProblem('document_unreadable', `${name}: an empty document (nothing in it but white space)`);
  const held = heldText(text, name);
  if (held) throw held;
  return { kind: 'text', mediaType: 'text/plain', text };
}

/** The problem of text under a PDF's or an image's name, its first words quoted; undefined under another name. */
function heldText(text: string, name: string): DocumentProblem | undefined {
  const ext = /\.([a-z]+)$/i.exec(name)?.[1];
  const promised = ext === undefined ? undefined : BINARY_NAMES[ext.toLowerCase()];
  if (promised === undefined) return undefined;
  const words = text.trim().slice(0, 200).replace(/\s+/g, ' ');
  const shown = words.length > 60 ? `${words.slice(0, 60)}…` : words;
  return new DocumentProblem('document_unreadable', `${name}: named .${ext}, but it holds text, not ${promised} (it starts "${shown}"): a page or message saved in its place?`);
}

/**
 * Text with a UTF-16 byte order mark (LE or BE), else undefined (the mark is dropped). What decodes
 * must look like text: an MPEG audio frame may start with the same two bytes.
 */
function utf16(bytes: Uint8Array): string | undefined {
  const le = bytes[0] === 0xff && bytes[1] === 0xfe;
  if (!le && !(bytes[0] === 0xfe && bytes[1] === 0xff)) return undefined;
  try {
    const text = new TextDecoder(le ? 'utf-16le' : 'utf-16be', { fatal: true, ignoreBOM: false }).decode(bytes);
    return looksLikeText(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * UTF-16 text without a byte order mark (some exports, `iconv -t UTF-16LE`), or undefined: told as the
 * input reader tells it (`utf16WithoutBom`); what decodes must look like text.
 */
function utf16Unmarked(bytes: Uint8Array): string | undefined {
  const encoding = bytes.length % 2 === 0 ? utf16WithoutBom(bytes) : undefined;
  if (encoding === undefined) return undefined;
  try {
    const text = new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
    return looksLikeText(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Text after a UTF-32 byte order mark (LE `FF FE 00 00`, BE `00 00 FE FF`), or undefined: no mark, or not text. */
function utf32(bytes: Uint8Array): string | undefined {
  const le = bytes[0] === 0xff && bytes[1] === 0xfe && bytes[2] === 0 && bytes[3] === 0;
  if ((!le && !(bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0xfe && bytes[3] === 0xff)) || bytes.length % 4 !== 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let text = '';
  for (let at = 4; at < bytes.length; at += 4) {
    const point = view.getUint32(at, le);
    if (point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return undefined;
    text += String.fromCodePoint(point);
  }
  return looksLikeText(text) ? text : undefined;
}

/** Bytes read as Latin-1 that look like text: no control characters but tabs, line breaks and form feeds. */
function looksLikeText(text: string): boolean {
  return !/[\x00-\x08\x0b\x0e-\x1f\x7f]/.test(text);
}

/** An mbox's separator line (asctime after the sender, as mail programs write it: "From - Sat Mar 14 10:00:00 2026"). */
const MBOX_FROM = /^From \S+ +\w{3} \w{3} +\d{1,2} \d{1,2}:\d{2}/;
/** `MBOX_FROM` at the start of any line: the separators of the messages after the first. */
const MBOX_FROM_LINES = new RegExp(MBOX_FROM.source, 'gm');

/**
 * The e-mail in a file (`text`: its bytes as text), or undefined: the message itself, or one as mail
 * programs save it, whose first line is taken off: an mbox export's `From ` separator (its body's
 * `>From ` lines unquoted), or an Apple Mail .emlx's byte count (the message is that many bytes after
 * it; a property list follows). An mbox of several messages is refused with how to split it.
 * helper-60: an mbox export was sent as raw MIME text, base64 and all; helper-63: so were the
 * messages after the first of a folder export.
 */
function emailIn(bytes: Uint8Array, text: string, name: string): Uint8Array | undefined {
  if (looksLikeEmail(text)) return bytes;
  // By bytes (a BOM, or text before the line, would shift a character index).
  const from = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const firstEnd = bytes.indexOf(0x0a, from);
  if (firstEnd <= from || firstEnd - from > 200) return undefined;
  const first = Buffer.from(bytes.buffer, bytes.byteOffset + from, firstEnd - from).toString('latin1').replace(/\r$/, '');
  const rest = bytes.subarray(firstEnd + 1);
  const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
  let message: Uint8Array | undefined;
  if (MBOX_FROM.test(first)) {
    const body = latin1(rest);
    const others = body.match(MBOX_FROM_LINES)?.length ?? 0;
    if (others > 0 && looksLikeEmail(body)) {
      throw new DocumentProblem('document_unsupported', `${name}: an mbox of ${others + 1} messages: split it into one file a message first, e.g. mkdir mails && git mailsplit --mboxrd -omails ${shellWord(argPath(name))}`);
    }
    message = Buffer.from(body.replace(/^>(>*From )/gm, '$1'), 'latin1');
  } else {
    const count = /^(\d+)\s*$/.exec(first);
    if (count && Number(count[1]) <= rest.length) message = rest.subarray(0, Number(count[1]));
  }
  return message && looksLikeEmail(latin1(message)) ? message : undefined;
}

/**
 * The MIME message in bytes with NULs (an attachment sent as binary), or undefined: an e-mail's header
 * block that says its body is in parts, at the start or after an mbox's From line or an .emlx's byte
 * count. Header lines before a PDF that make no such message (a scanner's) are the PDF's junk
 * (helper-83).
 */
function binaryEmail(bytes: Uint8Array, name: string): Uint8Array | undefined {
  const headOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 65_536)).toString('latin1');
  const multipart = (head: string) => looksLikeEmail(head) && /^content-type:\s*multipart\//im.test(head.slice(0, head.search(/\r?\n\r?\n/)));
  const head = headOf(bytes);
  if (multipart(head)) return bytes;
  // Saved by a mail program, its From line or its byte count first (an mbox, an .emlx): helper-83.
  const message = MBOX_FROM.test(head.slice(0, head.indexOf('\n')).replace(/\r$/, '')) || /^\d+\r?\n/.test(head) ? emailIn(bytes, head, name) : undefined;
  return message !== undefined && multipart(headOf(message)) ? message : undefined;
}

/** An RFC 5322 message: a header block (with a From and one of Date/Subject/To) before the first blank line. */
function looksLikeEmail(text: string): boolean {
  const end = text.search(/\r?\n\r?\n/);
  if (end <= 0) return false;
  const head = text.slice(0, end);
  if (!/^[\x21-\x39\x3b-\x7e]+:/.test(head)) return false;
  return /^from:/im.test(head) && /^(date|subject|to|message-id):/im.test(head);
}

/**
 * An e-mail: its headers and body as text; its PDF and image attachments as documents; a text
 * attachment's text, and a forwarded message (message/rfc822: its text, and its own attachments),
 * in the text after the body. What cannot be sent is named in the text.
 */
async function inspectEmail(bytes: Uint8Array, name: string, depth: number, options: InspectOptions): Promise<Inspected> {
  const { simpleParser } = await import('mailparser');
  let mail: Awaited<ReturnType<typeof simpleParser>>;
  const libmime = (await import('libmime')).default;
  const message = declaredCharsets(await utf8Headers(Buffer.from(bytes)), (charset) => libmime.createDecodeStream(charset).supported);
  try {
    // Its own text parts only: whether its HTML is made text here (`emailBody`) is decided by them.
    // Its own parts' links left as `cid:` (not made `data:` URIs): the HTML is made text here, where
    // they are the parts sent beside it, and `data:` is an image written into the HTML (`htmlImages`).
    mail = await simpleParser(message, { skipHtmlToText: true, keepCidLinks: true });
  } catch (error) {
    // Its parser gives up (helper-60: "Max allowed child nodes exceeded" for 3,000 nested multiparts): this file's problem, not the run's.
    throw new DocumentProblem('document_unreadable', `${name}: an e-mail that cannot be read (${(error instanceof Error ? error.message : String(error)).split('\n')[0]})`);
  }
  const header = (label: string, value: unknown) => (value ? `${label}: ${String(value)}\n` : '');
  const addresses = (value: unknown) => {
    const list = Array.isArray(value) ? value : value ? [value] : [];
    return list.map((a: { text?: string }) => a.text ?? '').join(', ');
  };
  const files = new EmailFiles(options.pageLimit);
  const attachedText: string[] = [];
  for (const [i, part] of mail.attachments.entries()) {
    const label = part.filename ?? `#${i + 1}`;
    const forwarded = part.contentType === 'message/rfc822';
    if (forwarded && depth >= MAX_EMAIL_DEPTH) {
      files.notSent.push(`${label} (a message forwarded more than ${MAX_EMAIL_DEPTH} levels deep)`);
      continue;
    }
    try {
      const inspected = await inspect(await inDeclaredCharset(part), `${name} attachment ${part.filename ?? i + 1}`, forwarded ? depth + 1 : depth, options);
      if (inspected.kind === 'image' && options.oversized !== 'downsize' && Math.max(inspected.width, inspected.height) > MAX_IMAGE_SIDE) {
        files.notSent.push(`${label} (image_too_large: ${inspected.width}×${inspected.height} px, over ${MAX_IMAGE_SIDE} px a side; --oversized-image downsize sends it for the API to scale down)`);
      } else if (inspected.kind === 'pdf' || inspected.kind === 'image') files.add({ ...inspected, attachment: label });
      else if (inspected.kind === 'email') {
        attachedText.push(`--- Forwarded message (${label}) ---\n${inspected.text.trim()}\n`);
        // A forwarded message's attachments are named by the path to them: `original.eml › invoice.pdf`;
        // what it left out is named in its own text, and said as this e-mail's (helper-86: a forwarded
        // message's PDF over the page limit was left out without a word on stderr).
        for (const inner of inspected.attachments) if (inner.kind === 'pdf' || inner.kind === 'image') files.add({ ...inner, attachment: `${label} › ${inner.attachment ?? '?'}` });
        files.notSentInside.push(...(inspected.notSent ?? []).map((what) => `${label} › ${what}`));
      } else attachedText.push(`--- Attached text (${label}) ---\n${inspected.text.trim()}\n`);
    } catch (error) {
      if (!(error instanceof DocumentProblem)) throw error;
      files.notSent.push(`${label} (${error.type})`);
    }
  }
  const html = typeof mail.html === 'string' ? mail.html : undefined;
  const body = await emailBody(mail.text, html, async () => (await simpleParser(message)).text);
  // Made text from its HTML (no text part): the images written into that HTML are sent too.
  if (html !== undefined && (mail.text?.trim() ?? '') === '') await htmlImages(html, name, depth, options, files);
  files.fitImages(options.oversized);
  const text =
    header('From', addresses(mail.from?.value ? [mail.from] : [])) +
    header('To', addresses(mail.to)) +
    header('Cc', addresses(mail.cc)) +
    header('Date', rawHeader(mail.headerLines, 'date')) +
    header('Subject', mail.subject) +
    (files.sent.length ? `Attachments sent as documents: ${files.sent.length}${files.repeats()}\n` : '') +
    (files.notSent.length ? `Attachments not sent: ${files.notSent.join(', ')}\n` : '') +
    `\n${body.trim()}\n` +
    attachedText.map((part) => `\n${part}`).join('');
  const notSent = [...files.notSent, ...files.notSentInside];
  return { kind: 'email', text, attachments: files.sent, ...(notSent.length ? { notSent } : {}) };
}

/**
 * The PDFs and images an e-mail sends beside its text, and what it leaves out. The same bytes attached
 * again are sent once (helper-84: a PDF attached twice was paid for twice), named as the first one's
 * repeats. Past `pageLimit` (the model's, per request), a PDF is left out and named, alone over it or
 * with those before it (helper-84, helper-86: one 150-page catalogue, or two PDFs of 60 pages, failed
 * the whole e-mail, whose body held the answer).
 */
class EmailFiles {
  readonly sent: Extract<Inspected, { kind: 'pdf' | 'image' }>[] = [];
  /** What the e-mail leaves out, named in its text: `label (why)`. */
  readonly notSent: string[] = [];
  /** What a message it forwards leaves out: named in that message's text, said with the e-mail's. */
  readonly notSentInside: string[] = [];
  readonly #byHash = new Map<string, { first: string; again: string[] }>();
  /** The sha256 of each part sent (`fitImages` leaves some out again, by their hash). */
  readonly #hashes = new Map<Extract<Inspected, { kind: 'pdf' | 'image' }>, string>();
  /** What was left out, by its bytes: a copy of it is named as the same. */
  readonly #leftOut = new Map<string, string>();
  /** PDF pages and images sent: a request carries at most `pageLimit` of them together, as `preflight` counts. */
  #pages = 0;
  #images = 0;

  constructor(readonly pageLimit: number | undefined) {}

  add(part: Extract<Inspected, { kind: 'pdf' | 'image' }>): void {
    const label = part.attachment ?? '?';
    const hash = sha256(part.bytes);
    const seen = this.#byHash.get(hash);
    if (seen) return void seen.again.push(label);
    const leftOut = this.#leftOut.get(hash);
    if (leftOut !== undefined) return void this.notSent.push(`${label} (the same as ${leftOut})`);
    const over = this.#over(part);
    if (over) {
      this.#leftOut.set(hash, label);
      return void this.notSent.push(`${label} (${over})`);
    }
    this.#byHash.set(hash, { first: label, again: [] });
    this.#hashes.set(part, hash);
    if (part.kind === 'pdf') this.#pages += part.pages;
    else this.#images++;
    this.sent.push(part);
  }

  /**
   * Past `MANY_IMAGES` images, a request takes none over `MAX_IMAGE_SIDE_MANY` px a side (see
   * `preflight`): the largest such are left out and named until the rest fit, or none is left
   * (helper-84: one large photo among 21 small ones failed the whole e-mail). With `downsize`, the
   * API scales them: all are sent.
   */
  fitImages(oversized: InspectOptions['oversized']): void {
    if (oversized === 'downsize') return;
    const side = (part: Extract<Inspected, { kind: 'image' }>) => Math.max(part.width, part.height);
    const large = this.sent.filter((part): part is Extract<Inspected, { kind: 'image' }> => part.kind === 'image' && side(part) > MAX_IMAGE_SIDE_MANY).sort((a, b) => side(b) - side(a));
    for (const part of large) {
      if (this.#images <= MANY_IMAGES) return;
      this.sent.splice(this.sent.indexOf(part), 1);
      this.#images--;
      const label = part.attachment ?? '?';
      const hash = this.#hashes.get(part) ?? sha256(part.bytes);
      const why = `image_too_large: ${part.width}×${part.height} px, over ${MAX_IMAGE_SIDE_MANY} px a side, the limit when a request has more than ${MANY_IMAGES} images`;
      this.notSent.push(`${label} (${why})`, ...(this.#byHash.get(hash)?.again ?? []).map((again) => `${again} (the same as ${label})`));
      this.#byHash.delete(hash);
    }
  }

  /** Why `part` would take the e-mail over the limit of a request (`pageLimit`), or undefined (helper-87: 95 pages and 10 images failed it whole). */
  #over(part: Extract<Inspected, { kind: 'pdf' | 'image' }>): string | undefined {
    const limit = this.pageLimit;
    if (limit === undefined) return undefined;
    const media = this.#pages + this.#images;
    if (part.kind === 'pdf') {
      if (part.pages > limit) return `document_too_many_pages: ${part.pages} pages, over the ${limit}-page limit of a request to this model`;
      if (this.#pages + part.pages > limit) return `document_too_many_pages: ${part.pages} pages, with the e-mail's ${this.#pages} before it, over the ${limit}-page limit of a request to this model`;
      if (media + part.pages > limit) return `too_much_media: ${part.pages} pages, with the e-mail's ${this.#pages} pages and ${this.#images} images before it, over the ${limit} a request to this model carries`;
    } else if (media + 1 > limit) return `too_much_media: with the e-mail's ${this.#pages} pages and ${this.#images} images before it, over the ${limit} a request to this model carries`;
    return undefined;
  }

  /** The files attached more than once, as the text names them: ` (each sent once: a.pdf, attached again as copy.pdf)`. */
  repeats(): string {
    const named = [...this.#byHash.values()].filter((file) => file.again.length > 0).map((file) => `${file.first}, attached again as ${file.again.join(' and ')}`);
    return named.length ? ` (each sent once: ${named.join('; ')})` : '';
  }
}

/**
 * What an e-mail says, as text. Without a text part of its own (`text`), its HTML, with tables kept as
 * rows of cells and headings as written (helper-80: mailparser's text ran an invoice's cells together,
 * "Consulting hours12150.001800.00", and upper-cased its headings). Else as mailparser makes it
 * (`merged`): its text parts, and inline HTML parts beside them (a list's text footer after an HTML
 * post: helper-82), byte for byte as before, so its request keeps its key. A stub is followed by its
 * HTML's text: a short text part (under `STUB_CHARS`) whose HTML alternative is left out of that text,
 * that asks to view the HTML (`STUB_WORDS`), and whose words the HTML does not hold ("best viewed in
 * your browser" was sent alone, without the invoice the HTML held). A short reply whose HTML holds its
 * words and a signature or a quoted thread is not one (helper-93: sent twice, under new keys). Its own
 * words are kept: replacing a text part taken for a stub lost a short message's (helper-83).
 */
async function emailBody(text: string | undefined, html: string | undefined, merged: () => Promise<string | undefined>): Promise<string> {
  const plain = text?.trim() ?? '';
  if (html === undefined) return plain;
  if (plain === '') {
    const converted = await htmlText(html);
    if (converted !== '') return converted;
  }
  const body = (await merged())?.trim() ?? plain;
  // The HTML is in `body` already (an inline part of a multipart/mixed) unless it is only the text's alternative.
  if (body !== plain || plain.length >= STUB_CHARS) return body;
  if (!STUB_WORDS.test(plain)) return body;
  const converted = await htmlText(html);
  const words = (text: string) => text.replace(/\s+/g, ' ').trim().toLowerCase();
  if (converted === '' || words(converted).includes(words(plain))) return body;
  return `${body}\n\n--- The HTML part, as text ---\n${converted}`;
}

/** A text part this short may be a stub for its HTML alternative (`emailBody`). */
const STUB_CHARS = 300;
/** What a stub says of its HTML: view it, in a browser, online, as a web page (English, French, German, Spanish, Japanese, Chinese). */
const STUB_WORDS = /\b(view|browser|html|online|web ?(version|page)|display)|en ligne|navigateur|version web|webversion|versión web|navegador|en línea|ブラウザ|ウェブ|浏览器|网页|網頁/i;

/** An e-mail's HTML as text: tables as rows of cells, headings as written; '' when it cannot be read. */
async function htmlText(html: string): Promise<string> {
  const { htmlToText } = await import('html-to-text');
  const headings = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } }));
  try {
    return htmlToText(html, {
      wordwrap: false,
      // As mailparser limits it: htmlparser2 keeps its open elements on a stack.
      limits: { maxDepth: MAX_HTML_DEPTH },
      selectors: [
        ...headings,
        { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false, maxColumnWidth: 80 } },
        // Images and links by their text alone when they lead to an image sent beside it (`ownPart`).
        { selector: 'img', options: { pathRewrite: ownPart } },
        { selector: 'a', options: { pathRewrite: ownPart } },
      ],
    }).trim();
  } catch {
    return '';
  }
}

/**
 * An address in an e-mail's HTML as its text shows it: none for the message's own part (`cid:`) or
 * an image written into the HTML (`data:`), which are sent as images, not as text (helper-84: a 140 KB
 * logo went out a second time as 188,000 characters of base64; helper-86: a link to a scan did too);
 * a web address as written, as a link's.
 */
function ownPart(address: string): string {
  return /^\s*(data|cid):/i.test(address) ? '' : address;
}

/**
 * The images written into an e-mail's HTML (`<img src="data:image/png;base64,…">`, a pasted
 * screenshot), added to what it sends as `image N in its HTML (its alt text)`; one that is no image
 * it can send is named as not sent.
 */
async function htmlImages(html: string, name: string, depth: number, options: InspectOptions, files: EmailFiles): Promise<void> {
  let n = 0;
  // A tag to its end, past a `>` inside a quoted value (an SVG written as a data: URI).
  for (const [tag] of html.matchAll(/<img\b(?:[^>"']|"[^"]*"|'[^']*')*>/gi)) {
    const src = /\bsrc\s*=\s*(["'])\s*(data:[\s\S]*?)\1/i.exec(tag)?.[2];
    if (src === undefined) continue;
    const alt = /\balt\s*=\s*(["'])([^"']*)\1/i.exec(tag)?.[2]?.trim();
    const label = `image ${++n} in its HTML${alt ? ` (${alt})` : ''}`;
    // RFC 2397: data:[<mediatype>][;parameter=value]*[;base64],<data> (helper-87: `;name=receipt.png;base64`).
    const [, mediaType = '', parameters = '', data = ''] = /^data:([^;,]*)((?:;[^;,]*)*),([\s\S]*)$/i.exec(src) ?? [];
    if (!/;base64$/i.test(parameters) || !/^image\/(png|jpeg|gif|webp)$/i.test(mediaType.trim())) {
      files.notSent.push(`${label} (${mediaType.trim() || 'data'}, not an image the API reads)`);
      continue;
    }
    try {
      const inspected = await inspect(Buffer.from(data, 'base64'), `${name} ${label}`, depth, options);
      if (inspected.kind === 'image') files.add({ ...inspected, attachment: label });
      else files.notSent.push(`${label} (not an image)`);
    } catch (error) {
      if (!(error instanceof DocumentProblem)) throw error;
      files.notSent.push(`${label} (${error.type})`);
    }
  }
}

/** How deep the HTML of an e-mail is read (mailparser's own limit for the same conversion). */
const MAX_HTML_DEPTH = 1000;

/**
 * A header's value as the message writes it (unfolded), or undefined. mailparser's parsed `date` is the
 * time of reading for one it cannot parse (helper-80: "Tue, 5 Mar 2024 10:00:00 CET" made the text sent,
 * and so the request's key, change at every run, which paid again), and UTC for one it can (a day
 * earlier than the message says, for "Fri, 01 Mar 2024 00:30:00 +0100").
 */
function rawHeader(lines: readonly { key: string; line: string }[], key: string): string | undefined {
  const line = lines.find((header) => header.key === key)?.line;
  if (line === undefined) return undefined;
  // mailparser keeps a header line's bytes as a binary string: UTF-8 is read as such (utf8Headers
  // made an 8-bit header block UTF-8), as its parsed Subject is (helper-82: "Mär" came out "MÃ¤r").
  const raw = Buffer.from(line.slice(line.indexOf(':') + 1), 'latin1');
  const value = (isUtf8(raw) ? raw.toString('utf8') : raw.toString('latin1')).replace(/\r?\n[ \t]+/g, ' ').trim();
  return value === '' ? undefined : value;
}

/** The file id a part to upload has in a request until it is uploaded, and in its key always. */
export const PLACEHOLDER = 'sha256:';

/** Whether a request's messages still name a document by its placeholder (not uploaded yet): such messages are never stored. */
export function hasPendingUploads(messages: string): boolean {
  return messages.includes(`"file_id":"${PLACEHOLDER}`);
}

/** How a document travels: inline in the request, or as a Files API id. */
export type Transport = { type: 'inline' } | { type: 'file'; fileId: string };

export type DocumentSource =
  | { type: 'base64'; media_type: 'application/pdf' | ImageMediaType; data: string }
  | { type: 'text'; media_type: 'text/plain'; data: string }
  | { type: 'url'; url: string }
  | { type: 'file'; file_id: string };

export type ContentBlock =
  | { type: 'document'; source: DocumentSource; title?: string }
  | { type: 'image'; source: DocumentSource; transformations?: { oversized_image: 'downsize' | 'error' } }
  | { type: 'text'; text: string };

/**
 * One block per sendable part: a PDF or image (`inline` base64 or a `file` id), text as a text
 * document. `oversized` is sent as each image's `transformations.oversized_image` when given.
 */
export function blocksOf(
  doc: Inspected,
  fullTitle: string,
  transport: (part: Inspected & { kind: 'pdf' | 'image' }) => Transport,
  oversized?: 'downsize' | 'error',
): ContentBlock[] {
  const title = documentTitle(fullTitle);
  switch (doc.kind) {
    case 'text':
      return [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: doc.text }, title }];
    case 'email':
      return [
        { type: 'document', source: { type: 'text', media_type: 'text/plain', data: doc.text }, title },
        // Each attachment's title carries its own file name (`mail.eml › invoice.pdf`): the model, and a citation, can tell them apart.
        ...doc.attachments.flatMap((part, i) => blocksOf(part, `${fullTitle} › ${attachmentName(part) ?? `attachment ${i + 1}`}`, transport, oversized)),
      ];
    case 'pdf':
    case 'image': {
      const how = transport(doc);
      const source: DocumentSource =
        how.type === 'file'
          ? { type: 'file', file_id: how.fileId }
          : { type: 'base64', media_type: doc.mediaType, data: Buffer.from(doc.bytes).toString('base64') };
      if (doc.kind === 'pdf') return [{ type: 'document', source, title }];
      return [{ type: 'image', source, ...(oversized ? { transformations: { oversized_image: oversized } } : {}) }];
    }
  }
}

/** The most characters a document's `title` may have [SPEC RequestDocumentBlock.title: maxLength 500]. */
export const MAX_TITLE_CHARS = 500;

/**
 * A document title the API takes: at most `MAX_TITLE_CHARS` characters (code points, never a
 * surrogate pair split), cut in the middle with `…` so that its start (the file) and its end (an
 * e-mail attachment's own name) both stay. A title that fits is as it is (and so are request keys).
 */
export function documentTitle(title: string): string {
  const chars = [...title];
  if (chars.length <= MAX_TITLE_CHARS) return title;
  const head = Math.floor((MAX_TITLE_CHARS - 1) / 2);
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - (MAX_TITLE_CHARS - 1 - head)).join('')}`;
}

/**
 * What a URL's path names that the API does not fetch: it fetches a PDF document or a JPEG, PNG, GIF
 * or WebP image by URL ([SPEC URLPDFSource, URLImageSource]; the PDF support guide). A path without
 * one of these extensions (`/download?id=5`, `.php`) may serve a PDF: it is sent as one.
 */
const NOT_FETCHED: Readonly<Record<string, string>> = {
  ...OFFICE,
  heic: 'a HEIC photo',
  heif: 'a HEIF photo',
  avif: 'an AVIF image',
  tif: 'a TIFF image',
  tiff: 'a TIFF image',
  bmp: 'a BMP image',
  svg: 'an SVG image',
  txt: 'a text file',
  md: 'a text file',
  csv: 'a CSV file',
  tsv: 'a TSV file',
  json: 'a JSON file',
  xml: 'an XML file',
  html: 'a web page',
  htm: 'a web page',
  eml: 'an e-mail',
  msg: 'an Outlook message',
  zip: 'a ZIP archive',
};

/**
 * A block for an https URL: an image when the path ends in an image extension, else a PDF document.
 * The URL goes out as written. Throws a `DocumentProblem` for a text that is no URL (the URL
 * standard's parser refuses it), or one to a file the API does not fetch (`NOT_FETCHED`), before
 * anything is paid.
 */
export function urlBlock(url: string): ContentBlock {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DocumentProblem('document_unsupported', `${url}: not a valid URL`);
  }
  const ext = /\.([a-z0-9]+)$/.exec(parsed.pathname.toLowerCase())?.[1];
  if (ext !== undefined && Object.hasOwn(NOT_FETCHED, ext)) {
    const to = /^(heic|heif|avif|tiff?|bmp|svg)$/.test(ext) ? 'JPEG or PNG' : 'PDF';
    throw new DocumentProblem(
      'document_unsupported',
      `${url}: ${NOT_FETCHED[ext]} (.${ext}) is not supported: the API fetches only PDFs and JPEG, PNG, GIF or WebP images by URL; download it and convert it to ${to} first (or give the file: plain text and e-mails are read from files)`,
    );
  }
  // Sent as written: it is part of the request, so of its key (helper-76: rewritten, a rerun paid again
  // for what an earlier version's run had answered); the API parses it as the URL standard does.
  return ext !== undefined && /^(jpe?g|png|gif|webp)$/.test(ext) ? { type: 'image', source: { type: 'url', url } } : { type: 'document', source: { type: 'url', url } };
}

/** The parts of a document that are sent as files (PDFs and images, an e-mail's attachments). */
export function binaryParts(doc: Inspected): (Inspected & { kind: 'pdf' | 'image' })[] {
  if (doc.kind === 'pdf' || doc.kind === 'image') return [doc];
  if (doc.kind === 'email') return doc.attachments.flatMap(binaryParts);
  return [];
}

/**
 * The checks the API would fail a request on, made before anything is paid: PDF pages over the
 * model's limit, images over the side limit (8000 px, or 2000 px with more than 20 images in the
 * request; unless `oversized: 'downsize'`, which lets the API scale them), an image sent inline
 * (`inline`) over 5 MB of base64, images and PDF pages together over the per-request media limit
 * (the vision guide: 100 images a request on models with a 200K context window, 600 on the others,
 * as for PDF pages; counted together: the API's "Too much media: 0 document pages + 103 images >
 * 100", quoted in anthropics/claude-code#3397), and an inline request over 32 MB. Throws a
 * `DocumentProblem` naming the file.
 */
export function preflight(
  docs: readonly { name: string; doc: Inspected }[],
  options: {
    model: string;
    inlineBytes: number;
    textBytes?: number;
    oversized?: 'downsize' | 'error' | undefined;
    /** Whether a PDF or image goes inline as base64 (else by `file_id`). _Default:_ none is. */
    inline?: (part: Inspected) => boolean;
    /** The URL documents of the request (the API fetches each: a page or an image of the media limit). */
    urls?: readonly string[];
    lookup?: (id: string) => ModelEntry | undefined;
  },
): void {
  const pageLimit = pdfPageLimit(options.model);
  const parts = docs.flatMap(({ name, doc }) => binaryParts(doc).map((part) => ({ name, part })));
  // A model the registry knows to lack PDF or image input would refuse the request (an unknown one is the API's to judge).
  const capabilities = (options.lookup ?? findModel)(options.model)?.capabilities;
  for (const { name, part } of parts) {
    if (capabilities && !(part.kind === 'pdf' ? capabilities.pdfInput : capabilities.imageInput)) {
      throw new DocumentProblem('document_unsupported', `${part.attachment === undefined ? name : `${name}, attachment ${part.attachment}`}: ${options.model} does not take ${part.kind === 'pdf' ? 'PDF' : 'image'} input`);
    }
  }
  const images = parts.filter(({ part }) => part.kind === 'image').length;
  const sideLimit = images > MANY_IMAGES ? MAX_IMAGE_SIDE_MANY : MAX_IMAGE_SIDE;
  for (const { name, part } of parts) {
    // An e-mail's attachment is named: the e-mail alone does not say which of its files is at fault.
    const where = part.attachment === undefined ? name : `${name}, attachment ${part.attachment}`;
    if (part.kind === 'pdf' && part.pages > pageLimit) {
      throw new DocumentProblem('document_too_many_pages', `${where}: ${part.pages} pages, over the ${pageLimit}-page limit of ${options.model}; split the PDF`);
    }
    if (part.kind === 'image' && options.oversized !== 'downsize' && Math.max(part.width, part.height) > sideLimit) {
      const why = images > MANY_IMAGES ? ` (the limit when a request has more than ${MANY_IMAGES} images)` : '';
      throw new DocumentProblem('image_too_large', `${where}: ${part.width}×${part.height} px, over ${sideLimit} px a side${why}; scale it down`);
    }
    const base64 = base64Length(part.bytes.length);
    if (part.kind === 'image' && base64 > MAX_IMAGE_BASE64_BYTES && options.inline?.(part) === true) {
      throw new DocumentProblem('image_too_large', `${where}: ${base64.toLocaleString('en')} bytes as base64, over the API's 5 MB (${MAX_IMAGE_BASE64_BYTES.toLocaleString('en')} bytes) for an image sent inline; send it with --upload files, or make it smaller`);
    }
  }
  // The page limit is per request (the header comment's limits: "the most PDF pages one request may carry"),
  // so PDFs that each fit can be over it together (two attached, an e-mail with two).
  const pdfs = parts.filter((p): p is { name: string; part: Extract<Inspected, { kind: 'pdf' }> } => p.part.kind === 'pdf');
  const pages = pdfs.reduce((n, { part }) => n + part.pages, 0);
  if (pages > pageLimit) {
    const names = [...new Set(pdfs.map(({ name }) => name))].join(', ');
    throw new DocumentProblem('document_too_many_pages', `${names}: ${pages} PDF pages in one request (${pdfs.map(({ part }) => part.pages).join(' + ')}), over the ${pageLimit}-page limit of ${options.model}; attach fewer documents to a record, or split them`);
  }
  const urls = options.urls?.length ?? 0;
  if (images + pages + urls > pageLimit) {
    const all = [...new Set([...docs.map(({ name }) => name), ...(options.urls ?? [])])];
    const names = all.length > 4 ? `${all.slice(0, 3).join(', ')} and ${all.length - 3} more` : all.join(', ');
    const counted = urls > 0 ? `${images} images, ${pages} PDF pages and ${urls} URL document${urls === 1 ? '' : 's'}` : `${images} images and ${pages} PDF pages`;
    throw new DocumentProblem('too_much_media', `${names}: ${counted} in one request, over the ${pageLimit} a request of ${options.model}; attach fewer to a record`);
  }
  if (options.inlineBytes > MAX_REQUEST_BYTES) {
    // Uploading helps only when the PDFs and images inline are what crosses the limit: text is always inline.
    const advice = (options.textBytes ?? 0) > MAX_REQUEST_BYTES ? 'text is always sent inline (--upload takes PDFs and images): split it into smaller documents' : 'use --upload files';
    throw new DocumentProblem('request_too_large', `${docs.map((d) => d.name).join(', ')}: the request would be ${options.inlineBytes.toLocaleString('en')} bytes, over the API's 32 MB; ${advice}`);
  }
}

/**
 * Rough input tokens of a document, for cost estimates: a PDF by `pdfTokens`; an image by `imageTokens`; text at 4 characters a token.
 */
export function documentTokens(doc: Inspected, model?: string): number {
  switch (doc.kind) {
    case 'pdf':
      return doc.tokens;
    case 'image':
      return imageTokens(doc.width, doc.height, model);
    case 'text':
      return Math.ceil(doc.text.length / 4);
    case 'email':
      return Math.ceil(doc.text.length / 4) + doc.attachments.reduce((n, part) => n + documentTokens(part, model), 0);
  }
}

/**
 * The tokens of a document's images and PDF page images (`documentTokens` less its text): counted by
 * pixels, the same for every tokenizer, while its text is not (`NEW_TOKENIZER_FACTOR`, core/pricing.ts).
 */
export function mediaTokens(doc: Inspected, model?: string): number {
  switch (doc.kind) {
    case 'pdf':
      return doc.pages * PDF_PAGE_IMAGE_TOKENS;
    case 'image':
      return imageTokens(doc.width, doc.height, model);
    case 'text':
      return 0;
    case 'email':
      return doc.attachments.reduce((n, part) => n + mediaTokens(part, model), 0);
  }
}

/**
 * What a PDF page's image is counted at, on every model: the vision guide's ~1,600 tokens at which an
 * image is scaled down (models.ts `STANDARD_IMAGES`). An estimate: neither docs/anthropic-batches-api.md
 * nor the OpenAPI document gives a per-page figure, and none says at what size a page is rendered, so
 * whether a page costs more on the models that read images at up to 2,576 px (`HIGH_RES_IMAGES`) is
 * UNCONFIRMED; kept at 1,600 there too rather than guessed (README, Documents: Cost, says so).
 */
export const PDF_PAGE_IMAGE_TOKENS = 1600;

/**
 * Input tokens of a PDF of `pages` pages whose pages carry `text`: the one page rule, used by the
 * estimates here and by the emulator's usage and context-window check alike. The PDF-support docs
 * (as summarised in the header comment; docs/anthropic-batches-api.md gives no per-page figure) say each page is
 * sent as an image and as the text extracted from it, each costing what an image and text cost: so a
 * page is its image's tokens plus its own text's (characters/4), not a typical page's 1,500-3,000
 * text tokens, which put a sparse 100-page PDF over a 200K model's window.
 */
export function pdfTokens(pages: number, text: string): number {
  return pages * PDF_PAGE_IMAGE_TOKENS + Math.ceil(text.length / 4);
}

/**
 * A PDF's streams, each inflated when it is Flate-compressed (read from its bytes, not through
 * pdf-lib: the emulator counts pages in them too).
 */
export function pdfStreams(bytes: Uint8Array | string): PdfStream[] {
  const raw = typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  const streams: PdfStream[] = [];
  for (const m of raw.matchAll(/stream\r?\n([\s\S]*?)\r?\nendstream/g)) {
    // Its dictionary: what stands between its object's `obj` and `stream`.
    const before = raw.slice(Math.max(0, m.index - 2000), m.index);
    const dict = before.slice(before.lastIndexOf('obj') + 3);
    // Its data by its `/Length` when that is a number: data ending in a CR lost it to the line end
    // before `endstream` (helper-94: such a stream could not be inflated; its page's text went
    // uncounted, and an object stream's pages unfound). With an indirect length, the CR is tried back.
    const start = m.index + m[0].indexOf('\n') + 1;
    const length = Number(/\/Length\s+(\d+)(?!\s+\d+\s+R)/.exec(dict)?.[1] ?? Number.NaN);
    const captured = m[1] as string;
    const candidates = Number.isInteger(length) && start + length <= raw.length ? [raw.slice(start, start + length), captured] : [captured];
    if (raw.charCodeAt(start + captured.length) === 0x0d) candidates.push(`${captured}\r`);
    const inflated = firstInflated(candidates);
    streams.push(inflated === undefined ? { content: captured, inflated: false, dict } : { content: inflated, inflated: true, dict });
  }
  return streams;
}

/** The first of `candidates` (latin1 bytes) that inflates, inflated; undefined when none does. */
function firstInflated(candidates: readonly string[]): string | undefined {
  for (const candidate of candidates) {
    try {
      return inflateSync(Buffer.from(candidate, 'latin1')).toString('latin1');
    } catch {
      // the next one
    }
  }
  return undefined;
}

/** A stream of a PDF: its content (inflated when it is Flate-compressed) and its dictionary's text. */
export interface PdfStream {
  content: string;
  inflated: boolean;
  dict?: string;
}

/**
 * The streams that cannot be page content, by their dictionary: images, embedded files, fonts,
 * metadata, cross-reference and object streams. Their bytes are no text, and read as if they were
 * (an attached file of random bytes holds many `(…)'`), they counted as thousands of tokens.
 */
const NOT_CONTENT = /\/Subtype\s*\/(Image|Type1C|CIDFontType0C|OpenType|XML)\b|\/Type\s*\/(EmbeddedFile|Metadata|XRef|ObjStm)\b|\/Length[123]\b/;

/** A kerning adjustment this wide (thousandths of a unit of text space, negative moves right) between two strings of a `TJ` array is a word space. */
const TJ_SPACE = -200;

/** The strings a PDF's (Flate-compressed or plain) content streams show, a line each: the text `pdfTokens` counts. */
export function pdfText(streams: readonly PdfStream[]): string {
  const lines: string[] = [];
  for (const { content, dict } of streams) {
    if (dict !== undefined && NOT_CONTENT.test(dict)) continue;
    shownText(content, lines);
  }
  return lines.join('\n');
}

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0c || c === 0x00;
/** PDF 32000-1 §7.2.2: ( ) < > [ ] { } / % delimit tokens. */
const isDelimiter = (c: number) => c === 0x28 || c === 0x29 || c === 0x3c || c === 0x3e || c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d || c === 0x2f || c === 0x25;

/**
 * The strings `content` shows inside its text objects (`BT` … `ET`), pushed to `lines`: a string then
 * `Tj`, `'` or `"`; an array of strings and kerning numbers then `TJ` (PDF 32000-1 §9.4.3; Word, LaTeX
 * and browsers draw most text so). One pass, no backtracking: strings are read as PDF writes them
 * (§7.3.4: nested parentheses, escapes, hex), so a `]` or `(` inside one is text (helper-63: a
 * bracket dropped its array, and a stream of unclosed brackets took minutes to read with a regex).
 */
function shownText(content: string, lines: string[]): void {
  const n = content.length;
  let inText = false;
  let operand: string | undefined;
  let i = 0;
  while (i < n) {
    const c = content.charCodeAt(i);
    if (c === 0x28 /* ( */) {
      const [text, end] = literalString(content, i);
      if (inText) operand = text;
      i = end;
    } else if (c === 0x3c /* < */ && content.charCodeAt(i + 1) !== 0x3c) {
      const [text, end] = hexString(content, i);
      if (inText) operand = text;
      i = end;
    } else if (c === 0x5b /* [ */) {
      const [text, end] = shownArray(content, i);
      if (inText) operand = text;
      i = end;
    } else if (c === 0x25 /* % */) {
      while (i < n && content.charCodeAt(i) !== 0x0a && content.charCodeAt(i) !== 0x0d) i++;
    } else if (isSpace(c) || isDelimiter(c)) {
      // A name (/F1) is read as a token below, by what follows its slash.
      i++;
    } else {
      let end = i + 1;
      while (end < n && !isSpace(content.charCodeAt(end)) && !isDelimiter(content.charCodeAt(end))) end++;
      const token = content.slice(i, end);
      // An inline image's data (BI … ID data EI, §8.9.7) is bytes, not operands: skipped whole, as a
      // ( among them would swallow the text after (helper-64).
      if (token === 'ID') {
        end = inlineImageEnd(content, end);
        operand = undefined;
        i = end;
        continue;
      }
      if (token === 'BT') inText = true;
      else if (token === 'ET') inText = false;
      else if (inText && operand !== undefined && (token === 'Tj' || token === 'TJ' || token === "'" || token === '"')) lines.push(operand);
      // An operator takes its operands; a number is one.
      if (!/^[-+.\d]/.test(token)) operand = undefined;
      i = end;
    }
  }
}

/** Where an inline image's data that starts at `from` ends: past the `EI` that stands alone after it (or the end). */
function inlineImageEnd(content: string, from: number): number {
  for (let at = content.indexOf('EI', from + 1); at !== -1; at = content.indexOf('EI', at + 1)) {
    const after = content.charCodeAt(at + 2);
    if (isSpace(content.charCodeAt(at - 1)) && (Number.isNaN(after) || isSpace(after) || isDelimiter(after))) return at + 2;
  }
  return content.length;
}

/** A `(literal)` string at `start`: its text (escapes applied) and where it ends; an unclosed one ends with `content`. */
function literalString(content: string, start: number): [string, number] {
  const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };
  let text = '';
  let depth = 1;
  let i = start + 1;
  while (i < content.length) {
    const ch = content[i] as string;
    if (ch === '\\') {
      const next = content[i + 1] ?? '';
      if (/[0-7]/.test(next)) {
        const octal = /^[0-7]{1,3}/.exec(content.slice(i + 1, i + 4))?.[0] ?? next;
        text += String.fromCharCode(parseInt(octal, 8) & 0xff);
        i += 1 + octal.length;
      } else if (next === '\r' || next === '\n') {
        // A line continuation: the break is no text.
        i += next === '\r' && content[i + 2] === '\n' ? 3 : 2;
      } else {
        text += ESCAPES[next] ?? next;
        i += 2;
      }
      continue;
    }
    if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return [text, i + 1];
    text += ch;
    i++;
  }
  return [text, i];
}

/**
 * A `<hex>` string at `start`: its text and where it ends. Two bytes a character when every pair's
 * first byte is under 0x20 (a two-byte font's glyph ids up to 0x1fff, as Word and browsers write
 * them: counted once each, not twice; a one-byte font's text is printable), else one.
 */
function hexString(content: string, start: number): [string, number] {
  const close = content.indexOf('>', start + 1);
  const end = close === -1 ? content.length : close + 1;
  let digits = content.slice(start + 1, close === -1 ? content.length : close).replace(/[^0-9A-Fa-f]/g, '');
  if (digits.length % 2 === 1) digits += '0';
  const bytes = Buffer.from(digits, 'hex');
  let twoByte = bytes.length >= 2 && bytes.length % 2 === 0;
  for (let k = 0; twoByte && k < bytes.length; k += 2) if ((bytes[k] as number) >= 0x20) twoByte = false;
  if (!twoByte) return [bytes.toString('latin1'), end];
  let text = '';
  for (let k = 0; k < bytes.length; k += 2) text += String.fromCharCode(((bytes[k] as number) << 8) | (bytes[k + 1] as number));
  return [text, end];
}

/** A `[ … ]` array at `start`: its strings joined (a space where the kerning between two is a word's gap), and where it ends. */
function shownArray(content: string, start: number): [string, number] {
  let text = '';
  let gap = false;
  let i = start + 1;
  while (i < content.length) {
    const c = content.charCodeAt(i);
    if (c === 0x5d /* ] */) return [text, i + 1];
    if (c === 0x28 || (c === 0x3c && content.charCodeAt(i + 1) !== 0x3c)) {
      const [part, end] = c === 0x28 ? literalString(content, i) : hexString(content, i);
      text += (gap && text !== '' ? ' ' : '') + part;
      gap = false;
      i = end;
    } else if (isSpace(c)) {
      i++;
    } else {
      let end = i + 1;
      while (end < content.length && !isSpace(content.charCodeAt(end)) && !isDelimiter(content.charCodeAt(end))) end++;
      if (Number(content.slice(i, end)) <= TJ_SPACE) gap = true;
      i = Math.max(end, i + 1);
    }
  }
  return [text, i];
}

/**
 * The visual tokens of a `width`×`height` image sent to `model`: ⌈w/28⌉ × ⌈h/28⌉ (the vision guide:
 * "Claude views images in patches ... a 28×28 pixel block ... An image therefore costs ⌈width / 28⌉ ×
 * ⌈height / 28⌉ visual tokens") after the API has scaled it down to the model's long edge, and at most
 * the model's most (`ImageLimits`: 1,568 px and ~1,600 tokens before Opus 4.7, 2,576 px and 4,784 on
 * it and later). helper-84: only the long side was capped, so a 4000×3000 photo counted 2,352 on
 * Haiku 4.5; helper-86: on Opus 4.7 a 1,568-px cap counted it at a third of its cost.
 */
export function imageTokens(width: number, height: number, model?: string): number {
  const limits = imageLimitsOf(model);
  const scale = Math.min(1, limits.longEdge / Math.max(width, height));
  return Math.min(limits.maxTokens, Math.ceil((width * scale) / 28) * Math.ceil((height * scale) / 28));
}

/**
 * Serialized `messages` with every base64 `data` replaced by `"<412,118 bytes of application/pdf>"`,
 * for `--dry-run` output a person can read.
 */
export function elideBase64(messagesJson: string): string {
  if (!messagesJson.includes('"base64"')) return messagesJson;
  const messages = JSON.parse(messagesJson) as { content: unknown }[];
  for (const message of messages) {
    if (!Array.isArray(message.content)) continue;
    for (const block of message.content as { source?: { type?: string; data?: string; media_type?: string } }[]) {
      const source = block.source;
      if (source?.type === 'base64' && typeof source.data === 'string') {
        source.data = `<${Buffer.byteLength(source.data, 'base64').toLocaleString('en')} bytes of ${source.media_type ?? 'data'}>`;
      }
    }
  }
  return JSON.stringify(messages);
}

/**
 * The `messages` of a request with documents: the blocks first, then the prompt (the PDF guide puts
 * documents before the question), then the row's own prompt when it has one besides (a text block of
 * its own: the Messages API takes a user turn of document, image and text blocks).
 */
export function documentMessages(prompt: string, blocks: readonly ContentBlock[], rowPrompt?: string): string {
  const texts = rowPrompt === undefined ? [{ type: 'text', text: prompt }] : [{ type: 'text', text: prompt }, { type: 'text', text: rowPrompt }];
  return JSON.stringify([{ role: 'user', content: [...blocks, ...texts] }]);
}
