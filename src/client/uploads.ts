/**
 * Uploads to the Files API (`client.files.upload/list`, `POST /v1/files` multipart with
 * `expires_in_seconds` from 3600 to 7776000: SDK `resources/files.d.ts`, OpenAPI `/v1/files`),
 * content-addressed through the upload registry (`UploadStore`): a file (by sha256) is uploaded once per API
 * identity, and its `file_id` is reused across rows, reruns and jobs while it outlives the batches
 * that will read it.
 *
 * - Files are uploaded with `expires_in_seconds` of 7 days: a batch can run 24 h and a resume may
 *   come a day or more later; a file with less than `MIN_REMAINING_MS` (48 h) left is uploaded again.
 * - Once per run, the Files API list is read, so a file deleted on the API side (or past its expiry
 *   on the API's clock) is uploaded again rather than referred to.
 * - Uploads run at most `concurrency` at once; the SDK's own retries (2, with backoff, on 408/409/
 *   429/5xx and connection errors, honouring `retry-after`) apply, as for every call but create.
 * - Each upload is written to the registry before the call and after it; a run killed in between
 *   leaves a row without a file_id, and the next run adopts the upload from the list (its file name
 *   carries the sha256) when it happened, or uploads again: at most once more.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { toFile } from '@anthropic-ai/sdk';
import type { FileMetadata } from '@anthropic-ai/sdk/resources/files';
import type { UploadStore } from '../ledger/store.ts';
import { pollDelayMs, sleep } from '../core/backoff.ts';

/** How long uploads are kept on the API: 7 days. */
export const UPLOAD_EXPIRES_SECONDS = 7 * 24 * 3600;
/** A registered file with less time than this left is uploaded again (a batch lives up to 24 h, plus a resume). */
export const MIN_REMAINING_MS = 48 * 3600 * 1000;
/** Uploads in flight at once. */
export const DEFAULT_UPLOAD_CONCURRENCY = 4;
/** Tries of an upload refused with a transient status (after the SDK's own retries), waits doubling from 1 s to a minute as for polls. */
export const UPLOAD_ATTEMPTS = 5;
/** Clock skew allowed when adopting an upload whose answer a killed run never saw. */
const ADOPT_SKEW_MS = 5 * 60 * 1000;

/** Counts for progress and the summary: each file (by sha256) once, however many records of the run attach it. */
export interface UploadCounts {
  /** Files uploaded in this run. */
  uploaded: number;
  /** Their bytes. */
  bytes: number;
  /** Files an earlier run had uploaded, used again (no upload). */
  reused: number;
}

export function newUploadCounts(): UploadCounts {
  return { uploaded: 0, bytes: 0, reused: 0 };
}

/** One file to upload. */
export interface UploadPart {
  sha256: string;
  bytes: Uint8Array;
  mediaType: string;
  /** The file's own name (shown in the Files API console after the sha256). */
  name: string;
}

export interface UploaderOptions {
  client: Anthropic;
  registry: UploadStore;
  /** The API identity's scope (`identityOf(client, key).scope`): uploads are per identity. */
  scope: string;
  now?: (() => number) | undefined;
  /** Waits between tries (a virtual clock's in tests). */
  sleep?: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
  concurrency?: number | undefined;
  counts?: UploadCounts | undefined;
  onUpload?: ((part: UploadPart, fileId: string) => void) | undefined;
}

export class Uploader {
  readonly counts: UploadCounts;
  readonly #o: UploaderOptions;
  readonly #now: () => number;
  readonly #inFlight = new Map<string, Promise<string>>();
  #remote: Promise<Map<string, FileMetadata>> | undefined;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: UploaderOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.counts = options.counts ?? newUploadCounts();
  }

  /** The `file_id` of `part`: a registered one still good, one adopted from a killed run, or a fresh upload. */
  fileIdFor(part: UploadPart): Promise<string> {
    let pending = this.#inFlight.get(part.sha256);
    if (!pending) {
      pending = this.#resolve(part);
      this.#inFlight.set(part.sha256, pending);
      // A failure is not remembered: the next record with this file tries again.
      pending.catch(() => this.#inFlight.delete(part.sha256));
    }
    // Another record of this run with the same file: counted once, as uploaded or reused by its first.
    return pending;
  }

  async #resolve(part: UploadPart): Promise<string> {
    const { registry, scope } = this.#o;
    const row = await registry.get(scope, part.sha256);
    if (row?.fileId) {
      const remote = (await this.#remoteFiles()).get(row.fileId);
      const expiresAt = remote?.expires_at ? Date.parse(remote.expires_at) : row.expiresAt;
      if (remote && (expiresAt === null || expiresAt - this.#now() >= MIN_REMAINING_MS)) {
        this.counts.reused++;
        return row.fileId;
      }
      await registry.forget(scope, part.sha256);
    } else if (row) {
      // Begun by a run that died before it saw the answer: the upload may have happened.
      const name = uploadName(part);
      const adopted = [...(await this.#remoteFiles()).values()].find(
        (file) => file.filename === name && file.size_bytes === part.bytes.length && Date.parse(file.created_at) >= row.startedAt - ADOPT_SKEW_MS,
      );
      if (adopted && (!adopted.expires_at || Date.parse(adopted.expires_at) - this.#now() >= MIN_REMAINING_MS)) {
        await registry.finish(scope, part.sha256, adopted.id, adopted.expires_at ? Date.parse(adopted.expires_at) : null);
        this.counts.reused++;
        return adopted.id;
      }
    }
    return this.#limited(() => this.#upload(part));
  }

  async #upload(part: UploadPart): Promise<string> {
    const { client, registry, scope } = this.#o;
    await registry.begin(scope, part.sha256, part.bytes.length, this.#now());
    const file = await toFile(part.bytes, uploadName(part), { type: part.mediaType });
    let meta: FileMetadata | undefined;
    for (let attempt = 1; !meta; attempt++) {
      try {
        meta = await client.files.upload({ file, expires_in_seconds: UPLOAD_EXPIRES_SECONDS });
      } catch (error) {
        // Transient refusals (429, 5xx, 529) are tried again later; a refused file (4xx) is the record's error.
        const status = (error as { status?: number }).status;
        if (attempt >= UPLOAD_ATTEMPTS || status === undefined || (status !== 429 && status < 500)) throw error;
        const retryAfter = Number((error as { headers?: Headers }).headers?.get?.('retry-after'));
        await (this.#o.sleep ?? sleep)(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : pollDelayMs(attempt - 1, 1000, 60_000), new AbortController().signal);
      }
    }
    await registry.finish(scope, part.sha256, meta.id, meta.expires_at ? Date.parse(meta.expires_at) : null);
    this.counts.uploaded++;
    this.counts.bytes += part.bytes.length;
    this.#o.onUpload?.(part, meta.id);
    return meta.id;
  }

  /** The API's files, read once per run (all pages). */
  #remoteFiles(): Promise<Map<string, FileMetadata>> {
    this.#remote ??= (async () => {
      const files = new Map<string, FileMetadata>();
      for await (const file of this.#o.client.files.list({ limit: 1000 })) files.set(file.id, file);
      return files;
    })().catch((error: unknown) => {
      // Not kept: the next file asks again (one failed list must not fail every record of the run).
      this.#remote = undefined;
      throw error;
    });
    return this.#remote;
  }

  async #limited<T>(task: () => Promise<T>): Promise<T> {
    const limit = this.#o.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
    while (this.#active >= limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    try {
      return await task();
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
  }
}

/** The name a file is uploaded under: its sha256 (so an interrupted upload can be found again) and its own name. */
export function uploadName(part: Pick<UploadPart, 'sha256' | 'name'>): string {
  const base = part.name.split(/[\\/]/).pop() || 'document';
  return `${part.sha256.slice(0, 16)}-${base}`.slice(0, 255);
}

/**
 * `gc` for uploads: forgets the registry's files of `scope` uploaded before `before` (ms since the
 * epoch) and, unless `keepRemote`, deletes them on the API (a file already gone counts as deleted),
 * except the files in `keep`: those the ledger's requests still send (`LedgerStore.filesInUse`). A
 * file uploaded long ago may be named by a request made yesterday (uploads are reused by sha256),
 * and a request submitted with `--no-wait` is read by its batch, or sent again by a retry, whatever
 * the age of its file.
 */
export async function gcUploads(options: {
  client: Anthropic;
  registry: UploadStore;
  scope: string;
  before: number;
  keep?: ReadonlySet<string>;
  keepRemote?: boolean;
  dryRun?: boolean;
}): Promise<{ files: number; deleted: number }> {
  let files = 0;
  let deleted = 0;
  for (const row of await options.registry.all(options.scope)) {
    if (row.startedAt >= options.before || (row.fileId !== null && options.keep?.has(row.fileId))) continue;
    files++;
    if (options.dryRun) continue;
    if (row.fileId && !options.keepRemote) {
      try {
        await options.client.files.delete(row.fileId);
        deleted++;
      } catch (error) {
        if ((error as { status?: number }).status !== 404) throw error;
      }
    }
    await options.registry.forget(options.scope, row.sha256);
  }
  return { files, deleted };
}
