/**
 * The emulator's checks of `document` and `image` blocks, and what they cost, as the API does them.
 * Shapes: SDK `DocumentBlockParam` (sources `base64` PDF, `text`, `url`, `file`, `content`) and
 * `ImageBlockParam` (sources `base64` jpeg/png/gif/webp, `url`, `file`; `transformations.
 * oversized_image: 'downsize' (default) | 'error'`), `resources/messages/messages.d.ts`.
 *
 * Refused, as an `invalid_request_error` (a per-request `errored` result in a batch, a 400 on
 * `/v1/messages`): an unknown source type or media type, base64 that does not decode, bytes that are
 * not what the media type says, a PNG or JPEG cut short or damaged ("Could not process image"), an
 * encrypted PDF, an unknown or expired `file_id`, PDFs over the model's page limit together (100
 * pages a request; 600 on 1M-context models), images and PDF pages together over that same number,
 * an image over 5 MB of base64, an image over 8000 px a side (2000 px with
 * more than 20 images) when `oversized_image` is `error` (else it is scaled down, as the SDK
 * documents), a request over 32 MB. Page counting and the encryption check read the PDF's own
 * structure (`/Type /Page` objects, also in compressed object streams; an `/Encrypt` in the trailer or
 * the cross-reference stream's dictionary), independently of the client's pdf-lib.
 *
 * Tokens: a PDF by the one page rule of `core/documents.ts` `pdfTokens` (a page is its image, 1,600
 * tokens, and the text read from it), in usage and in the context-window check alike, as the client
 * estimates it; an image by `imageTokens` (⌈w/28⌉·⌈h/28⌉ once scaled down for the
 * model, citing the vision guide); text chars/4.
 *
 * UNCONFIRMED: URL sources are not fetched (the emulator has no network): they are accepted when
 * https, and cost one page (PDF) or a 1,000×1,000 image.
 */
import { imageSize } from 'image-size';
import { imageDamage, imageTokens, ownBuffer, MANY_IMAGES, MAX_IMAGE_BASE64_BYTES, MAX_IMAGE_SIDE, MAX_IMAGE_SIDE_MANY, MAX_REQUEST_BYTES, pdfPageLimit, pdfStreams, pdfText, pdfTokens } from '../core/documents.ts';
import type { FileStore } from './files.ts';

/** A document or image of a request, as a responder sees it. */
export interface EmulatedDocument {
  /** Where it is in the request: `messages.0.content.1`. */
  path: string;
  type: 'document' | 'image';
  source: 'base64' | 'text' | 'url' | 'file' | 'content';
  media_type: string | undefined;
  /** The bytes (base64 and file sources). */
  bytes?: Buffer;
  /** Plain text: a text source's data, or the text drawn on a PDF's pages (best effort). */
  text?: string;
  url?: string;
  file_id?: string;
  title?: string;
  pages?: number;
  width?: number;
  height?: number;
}

export interface DocumentCheck {
  /** Why the request is refused, if it is. */
  problem?: string;
  documents: EmulatedDocument[];
  /**
   * Input tokens the documents add, in usage and against the context window (one rule: a PDF page
   * at its image's tokens and the text read from it, `pdfTokens`; usage can never be over the window).
   */
  tokens: number;
}

const IMAGE_MEDIA = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
const checked = new WeakMap<object, DocumentCheck>();

/** The check of a request's blocks, computed once per params object (results are rendered again later). */
export function checkDocuments(params: Record<string, unknown>, files: FileStore | undefined): DocumentCheck {
  let check = checked.get(params);
  if (!check) {
    check = inspect(params, files);
    checked.set(params, check);
  }
  return check;
}

/** Tokens the documents of `params` added when they were checked (0 when never checked, or none). */
export function documentTokensOf(params: Record<string, unknown>): number {
  return checked.get(params)?.tokens ?? 0;
}

function inspect(params: Record<string, unknown>, files: FileStore | undefined): DocumentCheck {
  const documents: EmulatedDocument[] = [];
  const out: DocumentCheck = { documents, tokens: 0 };
  const messages = params['messages'];
  if (!Array.isArray(messages)) return out;
  const model = String(params['model']);
  let images = 0;
  let pages = 0;
  const imageBlocks: { doc: EmulatedDocument; mode: unknown }[] = [];
  try {
    messages.forEach((message: unknown, i) => {
      const content = (message as { content?: unknown })?.content;
      if (!Array.isArray(content)) return;
      content.forEach((block: unknown, j) => {
        if (!block || typeof block !== 'object') return;
        const b = block as Record<string, unknown>;
        const path = `messages.${i}.content.${j}`;
        if (b['type'] === 'document') {
          const doc = documentOf(path, b, files);
          documents.push(doc);
          // The limit is per request: this document's pages with those of the documents before it.
          pages += doc.pages ?? 0;
          if (pages > pdfPageLimit(model)) {
            throw new Error(`${path}.source: A maximum of ${pdfPageLimit(model)} PDF pages may be provided (got ${pages}).`);
          }
          out.tokens += doc.pages !== undefined ? pdfTokens(doc.pages, doc.text ?? '') : Math.ceil((doc.text?.length ?? 0) / 4);
        } else if (b['type'] === 'image') {
          const doc = imageOf(path, b, files);
          documents.push(doc);
          images++;
          imageBlocks.push({ doc, mode: (b['transformations'] as Record<string, unknown> | undefined)?.['oversized_image'] });
        }
      });
    });
    // Images and PDF pages together [vision guide: 100 images a request on 200K-context models, 600 on
    // the others; the API's "Too much media: 0 document pages + 103 images > 100", anthropics/claude-code#3397].
    if (images + pages > pdfPageLimit(model)) throw new Error(`Too much media: ${pages} document pages + ${images} images > ${pdfPageLimit(model)}`);
    const limit = images > MANY_IMAGES ? MAX_IMAGE_SIDE_MANY : MAX_IMAGE_SIDE;
    for (const { doc, mode } of imageBlocks) {
      const width = doc.width ?? 1000;
      const height = doc.height ?? 1000;
      if (Math.max(width, height) > limit && mode === 'error') {
        throw new Error(`${doc.path}: image dimensions ${width}x${height} exceed the maximum allowed ${limit} pixels per side`);
      }
      out.tokens += imageTokens(Math.min(width, limit), Math.min(height, limit), model);
    }
    const bytes = Buffer.byteLength(JSON.stringify(params));
    if (bytes > MAX_REQUEST_BYTES) throw new Error(`request_too_large: the request is ${bytes} bytes, over the ${MAX_REQUEST_BYTES}-byte limit`);
  } catch (error) {
    out.problem = (error as Error).message;
  }
  return out;
}

function sourceOf(path: string, block: Record<string, unknown>): Record<string, unknown> {
  const source = block['source'];
  if (!source || typeof source !== 'object') throw new Error(`${path}.source: Field required`);
  return source as Record<string, unknown>;
}

function decode(path: string, data: unknown): Buffer {
  if (typeof data !== 'string' || data.length === 0 || data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) {
    throw new Error(`${path}.source.data: The base64 data is invalid`);
  }
  return Buffer.from(data, 'base64');
}

function fileOf(path: string, source: Record<string, unknown>, files: FileStore | undefined) {
  const id = source['file_id'];
  const file = typeof id === 'string' ? files?.get(id) : undefined;
  if (!file) throw new Error(`${path}.source.file_id: File not found: ${String(id)} (unknown, deleted or expired)`);
  return file;
}

function documentOf(path: string, block: Record<string, unknown>, files: FileStore | undefined): EmulatedDocument {
  const source = sourceOf(path, block);
  const title = typeof block['title'] === 'string' ? block['title'] : undefined;
  const base = { path, type: 'document' as const, ...(title ? { title } : {}) };
  switch (source['type']) {
    case 'base64': {
      if (source['media_type'] !== 'application/pdf') throw new Error(`${path}.source.media_type: Input should be 'application/pdf'`);
      const bytes = decode(path, source['data']);
      return { ...base, source: 'base64', media_type: 'application/pdf', bytes, ...pdfFacts(path, bytes) };
    }
    case 'text':
      if (source['media_type'] !== 'text/plain') throw new Error(`${path}.source.media_type: Input should be 'text/plain'`);
      if (typeof source['data'] !== 'string') throw new Error(`${path}.source.data: Input should be a valid string`);
      return { ...base, source: 'text', media_type: 'text/plain', text: source['data'] };
    case 'url':
      return { ...base, source: 'url', media_type: 'application/pdf', url: httpsUrl(path, source['url']), pages: 1 };
    case 'file': {
      const file = fileOf(path, source, files);
      if (file.mime_type === 'application/pdf') return { ...base, source: 'file', media_type: file.mime_type, file_id: file.id, bytes: file.bytes, ...pdfFacts(path, file.bytes) };
      if (file.mime_type.startsWith('text/')) return { ...base, source: 'file', media_type: 'text/plain', file_id: file.id, bytes: file.bytes, text: file.bytes.toString('utf8') };
      throw new Error(`${path}.source.file_id: File ${file.id} has type ${file.mime_type}, which a document block cannot take (PDF or plain text)`);
    }
    case 'content':
      if (!Array.isArray(source['content']) && typeof source['content'] !== 'string') throw new Error(`${path}.source.content: Field required`);
      return { ...base, source: 'content', media_type: undefined, text: JSON.stringify(source['content']) };
    default:
      throw new Error(`${path}.source.type: Input should be 'base64', 'text', 'url', 'file' or 'content'`);
  }
}

function imageOf(path: string, block: Record<string, unknown>, files: FileStore | undefined): EmulatedDocument {
  const source = sourceOf(path, block);
  switch (source['type']) {
    case 'base64': {
      const mediaType = source['media_type'];
      if (typeof mediaType !== 'string' || !IMAGE_MEDIA.has(mediaType)) {
        throw new Error(`${path}.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`);
      }
      // [the API's own error, quoted in anthropics/claude-code#2104, #11181; `MAX_IMAGE_BASE64_BYTES`]
      const data = source['data'];
      if (typeof data === 'string' && data.length > MAX_IMAGE_BASE64_BYTES) {
        throw new Error(`${path}.image.source.base64: image exceeds 5 MB maximum: ${data.length} bytes > ${MAX_IMAGE_BASE64_BYTES} bytes`);
      }
      const bytes = decode(path, data);
      return { path, type: 'image', source: 'base64', media_type: mediaType, bytes, ...imageFacts(path, bytes, mediaType) };
    }
    case 'url':
      return { path, type: 'image', source: 'url', media_type: undefined, url: httpsUrl(path, source['url']) };
    case 'file': {
      const file = fileOf(path, source, files);
      if (!IMAGE_MEDIA.has(file.mime_type)) throw new Error(`${path}.source.file_id: File ${file.id} has type ${file.mime_type}, which is not an image`);
      return { path, type: 'image', source: 'file', media_type: file.mime_type, file_id: file.id, bytes: file.bytes, ...imageFacts(path, file.bytes, file.mime_type) };
    }
    default:
      throw new Error(`${path}.source.type: Input should be 'base64', 'url' or 'file'`);
  }
}

/** A URL the API would fetch: https only (the API's message for another scheme), with its scheme in any letter case, as the URL standard parses it. */
function httpsUrl(path: string, url: unknown): string {
  if (typeof url !== 'string' || !URL.canParse(url) || new URL(url).protocol !== 'https:') throw new Error(`${path}.source.url: Only HTTPS URLs are supported`);
  return url;
}

function imageFacts(path: string, bytes: Buffer, mediaType: string): { width: number; height: number } {
  let size: { width?: number; height?: number; type?: string };
  try {
    size = imageSize(ownBuffer(bytes));
  } catch {
    throw new Error(`${path}.source: Could not process image`);
  }
  const actual = size.type === 'jpg' ? 'image/jpeg' : `image/${size.type ?? ''}`;
  if (actual !== mediaType) throw new Error(`${path}.source: Image does not match the provided media type ${mediaType}`);
  // A PNG or JPEG cut short or damaged past its header: the API's "Could not process image" (400
  // invalid_request_error, anthropics/claude-code#1747 and #8646), as core/documents.ts `imageDamage` says.
  if ((mediaType === 'image/png' || mediaType === 'image/jpeg') && imageDamage(bytes, mediaType)) throw new Error(`${path}.source: Could not process image`);
  return { width: size.width ?? 0, height: size.height ?? 0 };
}

/**
 * Pages and text of a PDF, read from its own objects; an encrypted or non-PDF one is refused. Since
 * PDF 1.5 (ISO 32000-1 §7.5.7, §7.5.8) the page objects may sit in compressed object streams and the
 * trailer may be a cross-reference stream's dictionary (never compressed): most PDFs saved today
 * are so (pdf-lib's default, office suites), and the API reads them.
 */
function pdfFacts(path: string, bytes: Buffer): { pages: number; text: string } {
  const raw = bytes.toString('latin1');
  if (!raw.startsWith('%PDF-')) throw new Error(`${path}.source: The PDF specified was not valid`);
  const trailer = raw.lastIndexOf('trailer');
  if (/\/Encrypt\s*(?:\d+\s+\d+\s+R|<<)/.test(trailer >= 0 ? raw.slice(trailer) : raw)) throw new Error(`${path}.source: The PDF specified is password-protected`);
  const streams = pdfStreams(raw);
  // In the file's own text, or in a compressed stream (an object stream): never both.
  const pages = [raw, ...streams.filter((stream) => stream.inflated).map((stream) => stream.content)].reduce((n, text) => n + (text.match(/\/Type\s*\/Page(?![s\w])/g)?.length ?? 0), 0);
  if (pages === 0) throw new Error(`${path}.source: The PDF specified was not valid (no pages)`);
  return { pages, text: pdfText(streams) };
}
