/**
 * The intake: reads the source, writes every record (and each new request) to the ledger in
 * transactions, and places each request: nothing to do (answered), its batch followed, or a place in
 * the group being filled. Memory stays flat: records wait in the ledger, not here.
 */
import { failedForGoneFile, isTransientFailure } from '../core/retry.ts';
import { hasPendingUploads } from '../core/documents.ts';
import { bigIntAsRaw, MAX_DEPTH } from '../core/rawjson.ts';
import { sourceOf } from '../core/text.ts';
import { BatchEnrichError } from '../errors.ts';
import type { RecordError } from '../core/result.ts';
import type { PreparedRecord, Ready } from '../types.ts';
import type { BatchAssembler } from './assembler.ts';
import { ENVELOPE_BYTES, requestCostBytes } from './body.ts';
import type { KnownRequest, NewRecord, NewRequest, Spec } from '../ledger/store.ts';
import type { SinkContext } from './context.ts';
import { LOOKUP_PAGE, PAGE_CHARS, REALTIME_PREFIX, WRITE_CHUNK, WRITE_DELAY_MS } from './options.ts';
import { carriesDocuments } from '../stages/prepare.ts';

export interface IntakeDeps {
  assembler: BatchAssembler;
  track(batchId: number): void;
}

export class Intake {
  readonly #ctx: SinkContext;
  readonly #deps: IntakeDeps;
  /** Records read so far, and whether the source has ended. */
  recordsRead = 0;
  inputDone = false;
  /**
   * What the next ledger step writes, held as it will be written (JSON text), not as the prepared
   * records: a record's parsed fields and request die young then, instead of surviving each
   * collection of the young generation until the step (at 4,000 records, those copies were most of
   * the intake's garbage-collection time).
   */
  readonly #pendingRecords: NewRecord[] = [];
  /** The record text in `#pendingRecords` (written at `PAGE_CHARS`, or at `WRITE_CHUNK` records). */
  #pendingChars = 0;
  readonly #pendingRequests: NewRequest[] = [];
  /** The specs of the requests in `#pendingRequests` not yet in the ledger. */
  readonly #pendingSpecs: Spec[] = [];
  #writeTimer: NodeJS.Timeout | undefined;
  /** Specs already in the ledger. */
  readonly #specsWritten = new Set<string>();
  /** With a single identity in the ledger no request can be another's: the per-request check is skipped. */
  #otherScopes: string[] = [];
  /** Records of the page being read that took an answer an earlier run left in the ledger (the 'reused' event). */
  #reused = 0;
  /** The batches (ledger ids) holding requests of this run's records that earlier runs sent. */
  readonly needed = new Set<number>();
  /** A new request's place in the group being filled, taken once its record is buffered (see `fill`). */
  #joinAfterRecord: (() => Promise<void>) | undefined;
  /** The ledger write in progress (writes are serialized: a batch is opened only after its requests are written). */
  #writing: Promise<void> = Promise.resolve();

  constructor(ctx: SinkContext, deps: IntakeDeps) {
    this.#ctx = ctx;
    this.#deps = deps;
  }

  /** Reads the whole source, then submits what is left in the group being filled. */
  async fill(source: AsyncIterable<PreparedRecord>): Promise<void> {
    const ctx = this.#ctx;
    const { signal } = ctx;
    if (!ctx.opts.allowOtherIdentity) this.#otherScopes = await ctx.ledger.otherScopes(ctx.scope);
    let seq = 0;
    for await (const page of pages(source, LOOKUP_PAGE, recordChars, PAGE_CHARS)) {
      if (signal.aborted) break;
      // What the ledger knows of the page's requests, in one step (a round trip per record, on a
      // server, was most of a rerun's time).
      const keys = page.flatMap((record) => (isReady(record) && !this.#deps.assembler.has(record.key) ? [record.key] : []));
      const known = await ctx.ledger.known(ctx.scope, keys);
      const elsewhere = await this.#sentElsewhere(keys.filter((key) => !known.has(key)));
      for (const record of page) {
        if (signal.aborted) break;
        this.recordsRead++;
        const data = recordJson(record, ctx.opts.file);
        let placed = record;
        if (typeof data !== 'string') {
          placed = { ...record, data: {}, error: data }; // never sent: its record could not be kept
        } else if (isReady(record)) {
          const error = await this.#place(record, known.get(record.key), elsewhere);
          if (error) placed = { ...record, error }; // the caller's record is left as it is
        }
        // A record JSON cannot hold whole keeps the fields it can (helper-77: it came out as its _error
        // alone, without the id its caller keys on).
        const row = recordRow(seq++, placed, typeof data === 'string' ? data : keptFields(record.data));
        this.#pendingRecords.push(row);
        this.#pendingChars += row.data.length;
        // A new request joins its group only once its record is buffered: the flush a full group
        // starts writes what is buffered, the record with its request. Written in a later step, the
        // record found its request in the ledger, and noted it as another's (`GcRules.borrowedKept`):
        // a complete try of a job another try works on (a --shard worker) left those notes behind.
        const join = this.#joinAfterRecord;
        this.#joinAfterRecord = undefined;
        if (join) await join();
        if (this.#pendingRecords.length >= WRITE_CHUNK || this.#pendingChars >= PAGE_CHARS) await this.writeBuffered();
        else this.#writeTimer ??= setTimeout(() => void this.writeBuffered().catch((error: unknown) => ctx.fail(error)), WRITE_DELAY_MS);
      }
      if (this.#reused > 0) ctx.opts.emit({ type: 'reused', records: this.#reused });
      this.#reused = 0;
      if (signal.aborted) break; // before the next page is read
    }
    if (signal.aborted) return;
    await this.writeBuffered();
    await this.#deps.assembler.flush();
  }

  /**
   * Writes buffered records and new requests in one ledger step; resolves once everything buffered
   * before the call is written (writes are serialized).
   */
  writeBuffered(): Promise<void> {
    const ctx = this.#ctx;
    clearTimeout(this.#writeTimer);
    this.#writeTimer = undefined;
    if (this.#pendingRecords.length === 0 && this.#pendingRequests.length === 0) return this.#writing;
    const records = this.#pendingRecords.splice(0);
    this.#pendingChars = 0;
    const requests = this.#pendingRequests.splice(0);
    const specs = this.#pendingSpecs.splice(0);
    this.#writing = this.#writing.then(async () => {
      if (ctx.finished) return;
      await ctx.ledger.intake(ctx.scope, ctx.run, specs, requests, records, ctx.opts.now());
      ctx.pulse.notify();
    });
    return this.#writing;
  }

  /** The ledger writes in progress (a stop waits for them before the run ends). */
  get writes(): Promise<void> {
    return this.#writing;
  }

  dispose(): void {
    clearTimeout(this.#writeTimer);
  }

  /**
   * What a new record's request needs: nothing (answered), its batch followed, or a place in a batch,
   * given what the ledger knew of it (`known`: read for its page) and the page's requests submitted
   * under another identity (`elsewhere`). Returns the record's error, if any.
   */
  async #place(record: Ready, known: KnownRequest | undefined, elsewhere: ReadonlySet<string>): Promise<RecordError | undefined> {
    const ctx = this.#ctx;
    const { ledger, scope, opts } = ctx;
    const { assembler } = this.#deps;
    const { key } = record;
    if (assembler.has(key)) return undefined;
    const { size, costBytes } = requestCostBytes(key, record.label, record.spec.bytes, record.messages, record.estimateBytes);
    if (size + ENVELOPE_BYTES > opts.maxBatchBytes) {
      return { type: 'request_too_large', message: `${sourceOf(opts.file, record)}:${record.line}: the request is ${size} bytes, over the batch limit of ${opts.maxBatchBytes}` };
    }
    if (!known) {
      if (elsewhere.has(key)) {
        throw new BatchEnrichError(
          'BE_IDENTITY',
          `${sourceOf(opts.file, record)}:${record.line}: this request was already submitted under another API identity (another ANTHROPIC_BASE_URL or ANTHROPIC_API_KEY); its batches and answers can only be seen with that identity. Run again with it (see 'batch-enrich status'), or pass --new-identity (the library's allowOtherIdentity) to submit under this one and pay again`,
        );
      }
      const { spec } = record;
      if (!this.#specsWritten.has(spec.id)) {
        this.#specsWritten.add(spec.id);
        this.#pendingSpecs.push({ id: spec.id, head: spec.head, tail: spec.tail });
      }
      this.#pendingRequests.push({ key, label: record.label ?? null, spec: spec.id, messages: record.messages });
      assembler.reserve(key);
      const documents = carriesDocuments(record);
      this.#joinAfterRecord = () => assembler.add(key, size, costBytes, undefined, documents);
    } else if (known.state === 'pending') {
      // Sent as this run built it: the same request, with its documents' current file ids (a request
      // without uploaded documents is the same to the byte, and costs no write).
      if (record.messages.includes('"file_id"')) await ledger.refreshPayload(scope, key, record.messages);
      // With the max_tokens an earlier run gave it (a cut-off answer's, doubled), to be priced at.
      await assembler.add(key, size, costBytes, known.max_tokens ?? undefined, carriesDocuments(record));
    } else if (known.state === 'submitted' && known.batch_id !== null) {
      // Should its batch not answer it (canceled, expired), a retry sends it again: with its
      // documents' current file ids (one deleted or expired since was uploaded again), unless they
      // could not be checked (then what it was sent stays).
      if (record.messages.includes('"file_id"') && !hasPendingUploads(record.messages)) await ledger.refreshPayload(scope, key, record.messages);
      assembler.priceAs(key, size, costBytes, carriesDocuments(record));
      this.needed.add(known.batch_id);
      this.#deps.track(known.batch_id);
    } else if (known.state === 'done' && known.updated_at < ctx.runStartedAt) {
      // A transient failure that was final for an earlier run, or a failure that a file gone since
      // may have caused, now uploaded again: this run tries again, with a fresh budget.
      const again = known.failure !== null && (isTransientFailure(known.failure) || (!hasPendingUploads(record.messages) && failedForGoneFile(known.failure, record.messages)));
      if (again && (await ledger.reopenRequest(scope, key, opts.now(), known.updated_at))) {
        // With its documents' current file ids (an earlier upload may have expired since it was sent).
        if (record.messages.includes('"file_id"')) await ledger.refreshPayload(scope, key, record.messages);
        await assembler.add(key, size, costBytes, known.max_tokens ?? undefined, carriesDocuments(record));
      } else {
        // What an earlier run left (an answer, or a final failure) is the record's: not sent again.
        this.#reused++;
      }
    }
    return undefined;
  }

  /**
   * Once the input is read: says each batch an earlier try of the job left running that holds none of
   * this run's requests (helper-96: a try whose --max-tokens had changed sent every request again, and
   * the earlier batch ran on, billed, collected by nobody, without a word). Not another live run's (a
   * worker's), nor one of another identity, nor when this run reads a shard of the input (the batch
   * may be another shard's); one whose create is unresolved has no id to name yet.
   */
  async sayUnneeded(): Promise<void> {
    const ctx = this.#ctx;
    // A stop cut the reading short: the batches of the rows not read are not known to be unneeded
    // (helper-97: a Ctrl-C while a big input was read named the batches of its unread half).
    if (ctx.opts.shard || ctx.opts.offline !== undefined || ctx.stopping()) return;
    for (const row of await ctx.ledger.batches(ctx.opts.job)) {
      if (row.run === ctx.run || row.scope !== ctx.scope || row.remote_id === null || this.needed.has(row.id)) continue;
      if (row.state !== 'in_progress' && row.state !== 'ended') continue;
      if (row.remote_id.startsWith(REALTIME_PREFIX) || (await ctx.ledger.runAlive(row.run, ctx.opts.now()))) continue;
      ctx.opts.emit({ type: 'unneeded', batchId: row.remote_id, requests: row.request_count, job: ctx.opts.job, ...(row.state === 'ended' ? { ended: true as const } : {}) });
    }
  }

  /**
   * Those of `keys` submitted or answered under another identity of the ledger: one lookup a page for
   * each other identity (as `known`), not one a record.
   */
  async #sentElsewhere(keys: readonly string[]): Promise<Set<string>> {
    const sent = new Set<string>();
    if (keys.length === 0) return sent;
    for (const other of this.#otherScopes) {
      for (const [key, request] of await this.#ctx.ledger.known(other, keys)) if (request.state !== 'pending') sent.add(key);
    }
    return sent;
  }
}

/** A record as the ledger's intake writes it, with its fields as JSON (`recordJson`). */
function recordRow(seq: number, record: PreparedRecord, data: string): NewRecord {
  const error = record.error ? JSON.stringify(record.error) : null;
  return { seq, line: record.line, data, key: error ? null : (record.key ?? null), error };
}

/**
 * A record's fields as the ledger keeps them (JSON), or why they cannot be. A BigInt (DuckDB, mysql2
 * and better-sqlite3's safe integers give them) is kept as a raw number (`core/rawjson.ts`): its
 * digits, which prompts show and the writers put back as they were. What JSON cannot hold at all (a
 * circular object, a `toJSON` that throws) is the record's `invalid_input`, and it is not sent: else
 * the ledger write failed, and ended the run after the batches before it were paid. So is a field
 * JSON writes as `{}` though it holds something (a Map, a Set, a class instance whose state is
 * private: `emptiedByJson`): else its contents were silently in neither the prompt nor the output.
 */
function recordJson(record: PreparedRecord, file: string): string | RecordError {
  let json: string;
  try {
    json = holdsBytes(record.data) ? JSON.stringify(record.data, bytesSaid) : withBigInts(record.data);
  } catch (error) {
    const why = ((error as Error).message ?? String(error)).split('\n')[0];
    return { type: 'invalid_input', message: `${sourceOf(file, record)}:${record.line}: the record cannot be written as JSON: ${why}` };
  }
  // Only such a record's JSON has a `{}`, and nearly no other record's: the walk is for those.
  const lost = json.includes('{}') ? emptiedByJson(record.data, '') : undefined;
  if (lost === undefined) return json;
  return { type: 'invalid_input', message: `${sourceOf(file, record)}:${record.line}: field ${lost}, which JSON writes as {}: convert it first (a Set: [...set]; a Map: Object.fromEntries(map))` };
}

/**
 * The fields of a record JSON cannot hold whole that it can, as JSON: each top-level field that it
 * writes, and writes whole. Each is read inside the guard (a getter may throw); a record with a
 * `toJSON` of its own keeps none (helper-78: it may be there to hide some, a password).
 */
function keptFields(data: Record<string, unknown>): string {
  const kept: Record<string, unknown> = {};
  if (typeof (data as { toJSON?: unknown }).toJSON === 'function') return '{}';
  for (const name of Object.keys(data)) {
    try {
      const value = data[name];
      const json = holdsBytes({ [name]: value }) ? JSON.stringify(value, bytesSaid) : withBigInts(value);
      if (json !== undefined && !(json.includes('{}') && emptiedByJson(value, name) !== undefined)) kept[name] = JSON.parse(json) as unknown;
    } catch {
      // Left out: the record's error names what JSON cannot hold.
    }
  }
  return JSON.stringify(kept);
}

/** `JSON.stringify`, trying again with BigInts as raw numbers when it threw (nearly never: the common path is one call). */
function withBigInts(data: unknown): string {
  try {
    return JSON.stringify(data);
  } catch {
    return JSON.stringify(data, bigIntAsRaw);
  }
}

/**
 * The first value under `value` that JSON writes as `{}` though it may hold something: an object of a
 * class (not a plain object of any realm), without own enumerable properties, that JSON writes as `{}`
 * (a Map, a Set, a class instance with private fields), as `<path> is a <class>`; undefined when there
 * is none. Bytes and Blobs are documents (the attach stage's), not fields JSON keeps. `MAX_DEPTH` deep
 * at most (the record was written as JSON already: no cycle).
 */
function emptiedByJson(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return undefined;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function' || isBinary(value)) return undefined;
  const proto = Object.getPrototypeOf(value) as object | null;
  // Plain: no prototype, or Object.prototype of this realm or another (its own prototype is null).
  const plain = proto === null || Object.getPrototypeOf(proto) === null;
  if (!plain && !Array.isArray(value) && Object.keys(value).length === 0 && JSON.stringify(value) === '{}') {
    return `${path} is a ${(proto?.constructor as { name?: string } | undefined)?.name || 'object of a class'}`;
  }
  for (const [key, item] of Object.entries(value)) {
    const found = emptiedByJson(item, path === '' ? key : `${path}.${key}`, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Whether a field, or an item of a field's list, holds bytes (a Buffer, a typed array, an ArrayBuffer, a
 * Blob): a document given as its bytes, or a database's BLOB column.
 */
function holdsBytes(data: Record<string, unknown>): boolean {
  // For every record on the way to the ledger: no array made of its values.
  for (const key in data) {
    const value = data[key];
    if (typeof value !== 'object' || value === null) continue;
    if (isBinary(value)) return true;
    if (Array.isArray(value) && value.some((item) => typeof item === 'object' && item !== null && isBinary(item))) return true;
  }
  return false;
}

/**
 * A `JSON.stringify` replacer that writes bytes as their size (`<2,322 bytes>`), and a BigInt as a raw
 * number (as `withBigInts`). Bytes as JSON were the record's output: a Buffer as
 * `{"type":"Buffer","data":[37,80,…]}` (helper-95: 40 MB of PDFs, a 160 MB NDJSON file), a Uint8Array
 * as `{"0":37,…}`, a Blob as `{}`; the document was sent, and the output says what it was. The value
 * before its `toJSON` is the holder's (`this`), as JSON.stringify calls the replacer after it.
 */
function bytesSaid(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  if (typeof original === 'object' && original !== null && isBinary(original)) {
    const size = original instanceof ArrayBuffer || ArrayBuffer.isView(original) ? original.byteLength : (original as Blob).size;
    return `<${size.toLocaleString('en-US')} bytes>`;
  }
  return bigIntAsRaw(key, value);
}

/** Bytes, or a Blob (a File): a document, which the attach stage reads. */
function isBinary(value: object): boolean {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer || (typeof Blob !== 'undefined' && value instanceof Blob);
}

/** About what a record holds in memory: its request's messages (its fields are mostly in them too). */
const recordChars = (record: PreparedRecord): number => record.messages?.length ?? 0;

const isReady = (record: PreparedRecord): record is Ready => !record.error && record.key !== undefined && record.spec !== undefined && record.messages !== undefined;

/**
 * The source in pages of up to `size` records, and of up to about `maxWeight` as `weigh` weighs them
 * (a page is cut once it reaches it): a page holds what the source gives at once (a parsed chunk of
 * input), and is cut when the source has to wait, so a slow source (a pipe that trickles) is not
 * held back to fill a page.
 */
export async function* pages<T>(source: AsyncIterable<T>, size: number, weigh: (item: T) => number = () => 0, maxWeight = Infinity): AsyncGenerator<T[]> {
  const iterator = source[Symbol.asyncIterator]();
  // Each read is marked handled as it is made: a read made before a full page is handed on stays
  // pending while the consumer works on the page, and one that fails meanwhile (a CSV error) was an
  // unhandled rejection, which ends the process. Its failure still reaches the consumer: the next
  // page awaits it, and throws it.
  const read = () => {
    const pending = iterator.next();
    pending.catch(() => {});
    return pending;
  };
  let next = read();
  let ended = false;
  try {
    while (!ended) {
      const first = await next;
      if (first.done) return;
      const page = [first.value];
      let weight = weigh(first.value);
      next = read();
      // Whatever is ready before the event loop turns belongs to this page.
      const turned = new Promise<'turned'>((resolve) => setImmediate(resolve, 'turned'));
      while (page.length < size && weight < maxWeight) {
        const more = await Promise.race([next, turned]);
        if (more === 'turned') break;
        if (more.done) {
          ended = true;
          break;
        }
        page.push(more.value);
        weight += weigh(more.value);
        next = read();
      }
      yield page;
    }
  } finally {
    // Stopped early: the source is closed (the read still pending on it may fail, a destroyed stream
    // rejects it: handled, see `read`).
    if (!ended) void iterator.return?.()?.catch?.(() => {});
  }
}
