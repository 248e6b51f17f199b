/**
 * The emulator's Files API: `POST /v1/files` (multipart: `file`, `expires_in_seconds` from 3600 to
 * 7776000), `GET /v1/files` (`limit` 1-1000, `page` cursor `page_…` → `{data, next_page}`, or `ids[]`), `GET
 * /v1/files/{id}`, `DELETE /v1/files/{id}` (`{id, type: "file_deleted"}`), `GET
 * /v1/files/{id}/content`. Shapes from the OpenAPI document (`FileMetadataSchema`,
 * `FileListResponse`, `FileDeleteResponse`) and the SDK (`resources/files.d.ts`).
 *
 * Expiry runs on the emulator's clock: a file past its `expires_at` is gone (404, absent from the
 * list, and an `invalid_request_error` for a request that refers to it). A storage quota
 * (`filesQuotaBytes`) is the fault: past it an upload is refused with 400 (the SDK's
 * `StorageQuotaExceededError` is a `BadRequestError`). Choices where the docs are silent: uploaded
 * files are not downloadable (the docs: only files the API made are), 400 `file_not_downloadable`.
 */
import { ApiError } from './api-error.ts';
import { parseInteger, parseLimit } from './query.ts';
import { IdGenerator, unitHash } from './random.ts';
import { MAX_FILE_BYTES } from '../core/documents.ts';

/** A stored file. */
export interface StoredFile {
  id: string;
  filename: string;
  mime_type: string;
  size_bytes: number;
  created_at: number;
  /** ms since the epoch; null: never expires. */
  expires_at: number | null;
  bytes: Buffer;
  /** Its place in upload order (1, 2, …): what a list's `page_` cursor names. */
  seq: number;
}

const MIN_EXPIRES_SECONDS = 3600;
const MAX_EXPIRES_SECONDS = 7_776_000;

export type FilesRoute = 'files.upload' | 'files.list' | 'files.retrieve' | 'files.delete' | 'files.content';

export class FileStore {
  readonly #files = new Map<string, StoredFile>();
  readonly #ids: IdGenerator;
  readonly #now: () => number;
  readonly #quotaBytes: number;
  readonly #latencyMs: number;
  readonly #faultRate: number;
  readonly #seed: number;
  #attempts = 0;
  #seq = 0;
  /** Uploads accepted, for tests. */
  uploads = 0;

  constructor(options: { seed: number; idSalt?: string | undefined; now: () => number; quotaBytes?: number | undefined; latencyMs?: number | undefined; faultRate?: number | undefined }) {
    this.#latencyMs = options.latencyMs ?? 0;
    this.#faultRate = options.faultRate ?? 0;
    this.#seed = options.seed;
    this.#ids = new IdGenerator(options.seed + 7, options.idSalt);
    this.#now = options.now;
    this.#quotaBytes = options.quotaBytes ?? Number.POSITIVE_INFINITY;
  }

  /** The route of a path under `/v1/files`, if it is one. */
  static match(method: string, path: string): { name: FilesRoute; fileId?: string } | undefined {
    if (path === '/v1/files') return method === 'POST' ? { name: 'files.upload' } : method === 'GET' ? { name: 'files.list' } : undefined;
    const m = /^\/v1\/files\/([^/]+)(\/content)?$/.exec(path);
    if (!m) return undefined;
    const fileId = decodeURIComponent(m[1] as string);
    if (m[2] && method === 'GET') return { name: 'files.content', fileId };
    if (!m[2] && method === 'GET') return { name: 'files.retrieve', fileId };
    if (!m[2] && method === 'DELETE') return { name: 'files.delete', fileId };
    return undefined;
  }

  /** A live (not expired, not deleted) file, or undefined. */
  get(fileId: string): StoredFile | undefined {
    const file = this.#files.get(fileId);
    if (file && file.expires_at !== null && file.expires_at <= this.#now()) {
      this.#files.delete(fileId);
      return undefined;
    }
    return file;
  }

  /** Handles one Files API call; `body` is the raw request body (uploads only). */
  async handle(route: { name: FilesRoute; fileId?: string }, url: URL, contentType: string | undefined, body: () => Promise<Buffer>): Promise<unknown> {
    switch (route.name) {
      case 'files.upload':
        return view(await this.#upload(contentType, await body()));
      case 'files.list':
        return this.#list(url.searchParams);
      case 'files.retrieve':
        return view(this.#live(route.fileId as string));
      case 'files.delete': {
        const file = this.#live(route.fileId as string);
        this.#files.delete(file.id);
        return { id: file.id, type: 'file_deleted' };
      }
      case 'files.content':
        this.#live(route.fileId as string);
        throw new ApiError(400, 'invalid_request_error', `File ${route.fileId as string} is not downloadable: only files created by the API can be downloaded`);
    }
  }

  #live(fileId: string): StoredFile {
    const file = this.get(fileId);
    if (!file) throw new ApiError(404, 'not_found_error', `File not found: ${fileId}`);
    return file;
  }

  async #upload(contentType: string | undefined, body: Buffer): Promise<StoredFile> {
    if (this.#faultRate > 0 && unitHash(this.#seed, 'upload-fault', this.#attempts++) < this.#faultRate) {
      throw new ApiError(529, 'overloaded_error', 'Overloaded (injected fault)');
    }
    if (!contentType?.startsWith('multipart/form-data')) throw new ApiError(400, 'invalid_request_error', 'Content-Type must be multipart/form-data');
    let form: FormData;
    try {
      form = await new Response(withFilePartNamed(body, contentType), { headers: { 'content-type': contentType } }).formData();
    } catch (error) {
      throw new ApiError(400, 'invalid_request_error', `The multipart body cannot be parsed: ${(error as Error).message}`);
    }
    const file = form.get('file');
    if (!file || typeof file === 'string') throw new ApiError(400, 'invalid_request_error', 'file: Field required');
    const rawExpiry = form.get('expires_in_seconds');
    let expiresAt: number | null = null;
    const now = this.#now();
    if (rawExpiry !== null) {
      // Read as the list's `limit` is (query.ts), not with Number(), which took `0xE10` or `3.6e3` (helper-101).
      const seconds = typeof rawExpiry === 'string' ? parseInteger(rawExpiry) : NaN;
      if (!Number.isInteger(seconds) || seconds < MIN_EXPIRES_SECONDS || seconds > MAX_EXPIRES_SECONDS) {
        throw new ApiError(400, 'invalid_request_error', `expires_in_seconds: Input should be an integer between ${MIN_EXPIRES_SECONDS} and ${MAX_EXPIRES_SECONDS}`);
      }
      expiresAt = now + seconds * 1000;
    }
    const bytes = Buffer.from(await file.arrayBuffer());
    if (bytes.length > MAX_FILE_BYTES) throw new ApiError(413, 'request_too_large', `File exceeds the maximum allowed size (${MAX_FILE_BYTES} bytes)`);
    let used = 0;
    for (const id of [...this.#files.keys()]) used += this.get(id)?.size_bytes ?? 0;
    if (used + bytes.length > this.#quotaBytes) {
      throw new ApiError(400, 'invalid_request_error', `Storage quota exceeded: ${used + bytes.length} bytes would be stored, over the organization's ${this.#quotaBytes}`);
    }
    const mimeType = file.type || 'application/octet-stream';
    const stored: StoredFile = {
      id: this.#ids.next('file'),
      filename: storedFilename(file.name, mimeType),
      mime_type: mimeType,
      size_bytes: bytes.length,
      created_at: now,
      expires_at: expiresAt,
      bytes,
      seq: ++this.#seq,
    };
    this.#files.set(stored.id, stored);
    this.uploads++;
    if (this.#latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#latencyMs));
    return stored;
  }

  /**
   * Newest first. `next_page` is a cursor [SPEC GET /v1/files, query `page`: "Opaque page cursor returned in a prior
   * list response's `next_page`. Prefixed `page_`."; FileListResponse.next_page: "null when there are no more
   * results"]: here `page_` and the upload order of the page's last file, so that it still places the next page
   * once that file is deleted or expired (helper-101: it was the file's id, and a cursor naming no file listed
   * from the first page again). A cursor that is not one the list gave is a 400 `invalid_request_error` (UNCONFIRMED:
   * the API's answer to it; the wording is ours; README, emulator section).
   */
  #list(q: URLSearchParams): { data: unknown[]; next_page: string | null } {
    const live = [...this.#files.keys()].map((id) => this.get(id)).filter((f): f is StoredFile => f !== undefined).reverse();
    // [SPEC GET /v1/files, query `ids[]`: "Restrict the result set to Files whose `id` is in this list. At most 100
    // entries (after de-duplication). Mutually exclusive with `page` and `limit`. When supplied, the response is
    // always a single page (`next_page` is null). IDs that do not resolve to a visible File — including deleted
    // Files — are silently omitted."; the SDK sends `ids: [...]` as `ids[]=…`] (helper-101: ignored, every file
    // listed). The status of a refusal is the document's 4XX, 400 as for any format problem [DOC §2.5]; the
    // wording is ours.
    if (q.has('ids[]')) {
      const ids = new Set(q.getAll('ids[]'));
      if (ids.size > 100) throw new ApiError(400, 'invalid_request_error', `ids: List should have at most 100 items after de-duplication, not ${ids.size}`);
      if (q.has('page') || q.has('limit')) throw new ApiError(400, 'invalid_request_error', 'ids: cannot be combined with page or limit');
      return { data: live.filter((f) => ids.has(f.id)).map(view), next_page: null };
    }
    const limit = parseLimit(q.get('limit'));
    const page = q.get('page');
    let after = Number.POSITIVE_INFINITY;
    if (page !== null) {
      const seq = /^page_([1-9]\d{0,15})$/.exec(page)?.[1];
      if (seq === undefined || Number(seq) > this.#seq) throw new ApiError(400, 'invalid_request_error', `page: '${page}' is not a page cursor of this list (use a response's next_page)`);
      after = Number(seq);
    }
    const rest = live.filter((f) => f.seq < after);
    const data = rest.slice(0, limit);
    const more = rest.length > limit;
    return { data: data.map(view), next_page: more ? `page_${(data[data.length - 1] as StoredFile).seq}` : null };
  }
}

/**
 * The name a file is stored under [SDK FileUploadParams.file: "Only the final path component of the part's `filename`
 * is kept; an absent or empty `filename` is replaced with `unnamed` plus the extension for the file's stored
 * `mime_type`, when known"]; a path component ends at `/` or `\\`, as the SDK's own `getName` splits one (helper-101:
 * the whole path was kept, and a nameless file was `file`). Which types' extensions the API knows is not
 * documented: these are the types a request's document and image blocks take (UNCONFIRMED: `.jpg` for JPEG).
 */
function storedFilename(partName: string, mimeType: string): string {
  const base = partName.split(/[\\/]/).pop() ?? '';
  return base !== '' ? base : `unnamed${EXTENSIONS[mimeType.toLowerCase()] ?? ''}`;
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'application/pdf': '.pdf',
  'text/plain': '.txt',
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'image/gif': '.gif',
  'image/webp': '.webp',
};

/**
 * The body with the `file` part's `Content-Disposition` given an empty `filename` when it has none. The API takes
 * such a part as the file [SDK FileUploadParams.file: "an absent … `filename` is replaced with `unnamed`…"], and the
 * SDK sends one for `toFile(bytes, '')` (undici writes no `filename` for an empty name); undici's `formData()`,
 * which reads the body here, would take it for a text field (its bytes decoded as UTF-8, its type lost) and the
 * upload be refused with `file: Field required` (helper-101). Only that part's header is touched.
 */
function withFilePartNamed(body: Buffer, contentType: string): Buffer {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (boundary === undefined) return body;
  const next = Buffer.from(`\r\n--${boundary}\r\n`);
  let at = body.indexOf(`--${boundary}\r\n`);
  if (at >= 0) at += boundary.length + 4;
  while (at >= 0) {
    const end = body.indexOf('\r\n\r\n', at);
    if (end < 0) return body;
    const head = body.subarray(at, end).toString('latin1');
    const disposition = /^content-disposition:[^\r\n]*$/im.exec(head);
    if (disposition && /;\s*name="?file"?\s*(?:;|$)/i.test(disposition[0])) {
      if (/;\s*filename\*?=/i.test(disposition[0])) return body;
      const insertAt = at + disposition.index + disposition[0].length;
      return Buffer.concat([body.subarray(0, insertAt), Buffer.from('; filename=""'), body.subarray(insertAt)]);
    }
    at = body.indexOf(next, end);
    if (at >= 0) at += next.length;
  }
  return body;
}

/** The wire shape (`FileMetadataSchema`). */
function view(file: StoredFile): unknown {
  return {
    id: file.id,
    type: 'file',
    filename: file.filename,
    mime_type: file.mime_type,
    size_bytes: file.size_bytes,
    created_at: new Date(file.created_at).toISOString(),
    expires_at: file.expires_at === null ? null : new Date(file.expires_at).toISOString(),
    downloadable: false,
  };
}
