/**
 * Where each request of the SQLite ledger stands (schema 12), held in memory and folded from what is
 * on disk: a request's row as it was written (its base state: `pending` for every request written
 * since schema 12; what it was when the ledger was migrated, for one written before), then the
 * ledger's `log` of state changes in order. A request's row is never updated: marking it batched and
 * answered were two updates of a row for every request, and at 200,000 rows those updates (and the
 * WAL pages they dirtied) were a third of the ledger's cost (README, "Why the ledger is not at 15
 * µs"). A batch's requests are one log entry (their ids as a blob), a chunk of answers one entry.
 *
 * Each connection folds the entries it has not seen (`Ledger.#sync`, under the lock of the
 * transaction that reads or writes), so two workers on one ledger decide on the same picture.
 *
 * Held by pages of 65,536 ids, each made when a request in its range is first seen: ids only grow,
 * and gc frees old ranges, so a long-lived ledger whose ids reached tens of millions holds only the
 * pages of the requests it still has. 19 bytes a request (`Page`).
 */

/** `requests.state` as the fold holds it: 0 for an id it holds no request for. */
export const PENDING = 1;
export const SUBMITTED = 2;
export const DONE = 3;
export type StateCode = 0 | typeof PENDING | typeof SUBMITTED | typeof DONE;

const NAMES = [null, 'pending', 'submitted', 'done'] as const;
export function stateName(code: number): 'pending' | 'submitted' | 'done' | null {
  return NAMES[code] ?? null;
}
export function stateCode(name: string): StateCode {
  return name === 'pending' ? PENDING : name === 'submitted' ? SUBMITTED : name === 'done' ? DONE : 0;
}

/** The kinds of the log's entries (`log.kind`). */
export const LOG = {
  /** A batch took requests (`members`: their ids), each one attempt more: `openBatch`. */
  assign: 1,
  /**
   * Answers from a batch (`members`: `answersBlob`), stored together (`settle`): each request's result
   * final (done), or the request back to pending for another attempt, with a new `max_tokens` if any.
   */
  answers: 2,
  /** A batch that will never answer: its requests still waiting on it (`members`) go back to pending, one attempt less: `failBatch`, `releaseLost`. */
  release: 3,
  /** An answered request pending again, with no attempt yet: `reopenRequest`. */
  reopen: 4,
  /** gc forgets a batch: its requests sent again after a first answer, still waiting on it (`members`), go back to pending (no attempt less). */
  unretry: 5,
} as const;

const PAGE = 1 << 16;
/** The first word of a snapshot's part (`snapshot`): a page, or the `max_tokens` held. */
const PAGE_PART = 1;
const TOKENS_PART = 2;

/**
 * One page's states, column by column: 19 bytes a request. `updated` to the millisecond, as the rows
 * keep it (`reopenRequest` goes on only from the time it was seen at); `result` and `batch` are row ids.
 */
class Page {
  readonly state = new Uint8Array(PAGE);
  readonly attempts = new Uint16Array(PAGE);
  readonly batch = new Int32Array(PAGE);
  readonly result = new Uint32Array(PAGE);
  readonly updated = new Float64Array(PAGE);
  held = 0;
}

/** A request's state as the fold holds it. */
export interface HeldState {
  state: StateCode;
  batch: number;
  attempts: number;
  maxTokens: number | null;
  result: number;
  updated: number;
}

/** A result's row id as a page holds it (32 bits): one past them would be another result's, so it throws. */
function rowId(id: number): number {
  if (!(id >= 0 && id <= 0xffffffff)) throw new RangeError(`result id ${id} is out of the range the ledger's states hold`);
  return id;
}

export class RequestStates {
  readonly #pages = new Map<number, Page>();
  /** `max_tokens` of the requests that have one (few: a cut-off answer retried with a larger one). */
  readonly #maxTokens = new Map<number, number>();

  /** How many requests it holds. */
  get size(): number {
    let n = 0;
    for (const page of this.#pages.values()) n += page.held;
    return n;
  }

  /** The bytes its pages take. */
  get bytes(): number {
    return this.#pages.size * PAGE * 19;
  }

  clear(): void {
    this.#pages.clear();
    this.#maxTokens.clear();
  }

  #page(id: number): Page | undefined {
    return this.#pages.get(Math.floor(id / PAGE));
  }

  /** A request as its row has it (new, or read from the ledger). */
  add(id: number, state: StateCode, batch: number | null, attempts: number, maxTokens: number | null, result: number | null, updated: number): void {
    const at = Math.floor(id / PAGE);
    let page = this.#pages.get(at);
    if (page === undefined) {
      page = new Page();
      this.#pages.set(at, page);
    }
    const i = id % PAGE;
    if (page.state[i] === 0) page.held++;
    page.state[i] = state;
    page.batch[i] = batch ?? 0;
    page.attempts[i] = Math.min(attempts, 0xffff);
    page.result[i] = rowId(result ?? 0);
    page.updated[i] = updated;
    if (maxTokens === null) this.#maxTokens.delete(id);
    else this.#maxTokens.set(id, maxTokens);
  }

  /** Forgets a request (its row deleted). */
  delete(id: number): void {
    const at = Math.floor(id / PAGE);
    const page = this.#pages.get(at);
    const i = id % PAGE;
    if (page === undefined || page.state[i] === 0) return;
    page.state[i] = 0;
    this.#maxTokens.delete(id);
    if (--page.held === 0) this.#pages.delete(at);
  }

  state(id: number): StateCode {
    return (this.#page(id)?.state[id % PAGE] ?? 0) as StateCode;
  }
  /** The batch it waits on (submitted) or was answered by (done); 0 for none. */
  batch(id: number): number {
    return this.#page(id)?.batch[id % PAGE] ?? 0;
  }
  attempts(id: number): number {
    return this.#page(id)?.attempts[id % PAGE] ?? 0;
  }
  /** Its last result's id; 0 for none. */
  result(id: number): number {
    return this.#page(id)?.result[id % PAGE] ?? 0;
  }
  /** When it last moved (ms). */
  updated(id: number): number {
    return this.#page(id)?.updated[id % PAGE] ?? 0;
  }
  maxTokens(id: number): number | null {
    return this.#maxTokens.get(id) ?? null;
  }

  /** All of a request's state, or undefined when it holds none. */
  get(id: number): HeldState | undefined {
    const page = this.#page(id);
    const i = id % PAGE;
    if (page === undefined || page.state[i] === 0) return undefined;
    return {
      state: page.state[i] as StateCode,
      batch: page.batch[i] as number,
      attempts: page.attempts[i] as number,
      maxTokens: this.#maxTokens.get(id) ?? null,
      result: page.result[i] as number,
      updated: page.updated[i] as number,
    };
  }

  /** Whether the request waits on this batch. */
  waitsOn(id: number, batch: number): boolean {
    const page = this.#page(id);
    const i = id % PAGE;
    return page !== undefined && page.state[i] === SUBMITTED && page.batch[i] === batch;
  }

  /** A batch took the request (`LOG.assign`). */
  assign(id: number, batch: number, at: number): void {
    const page = this.#page(id);
    const i = id % PAGE;
    if (page === undefined || page.state[i] === 0) return;
    page.state[i] = SUBMITTED;
    page.batch[i] = batch;
    page.attempts[i] = Math.min((page.attempts[i] as number) + 1, 0xffff);
    page.updated[i] = at;
  }

  /** The request's final result (a `LOG.answers` entry). */
  done(id: number, batch: number, result: number, at: number): void {
    const page = this.#page(id);
    const i = id % PAGE;
    if (page === undefined || page.state[i] === 0) return;
    page.state[i] = DONE;
    page.batch[i] = batch;
    page.result[i] = rowId(result);
    page.updated[i] = at;
  }

  /** Back to pending after an answer, for another attempt (a `LOG.answers` entry). */
  retry(id: number, result: number, maxTokens: number | null, at: number): void {
    const page = this.#page(id);
    const i = id % PAGE;
    if (page === undefined || page.state[i] === 0) return;
    page.state[i] = PENDING;
    page.batch[i] = 0;
    page.result[i] = rowId(result);
    page.updated[i] = at;
    if (maxTokens !== null) this.#maxTokens.set(id, maxTokens);
  }

  /** Pending again, with no attempt yet (`LOG.reopen`). */
  reopen(id: number, at: number): void {
    const page = this.#page(id);
    const i = id % PAGE;
    if (page === undefined || page.state[i] === 0) return;
    page.state[i] = PENDING;
    page.batch[i] = 0;
    page.attempts[i] = 0;
    page.updated[i] = at;
  }

  /**
   * A request waiting on a batch that will never answer goes back to pending: one attempt less
   * (`LOG.release`), or, for gc (`kept`), with its attempts kept (`LOG.unretry`).
   */
  release(id: number, kept = false): void {
    const page = this.#page(id);
    const i = id % PAGE;
    if (page === undefined || page.state[i] !== SUBMITTED) return;
    page.state[i] = PENDING;
    page.batch[i] = 0;
    if (!kept) page.attempts[i] = Math.max((page.attempts[i] as number) - 1, 0);
  }

  /**
   * All it holds, as parts of bytes (`restore` reads them back): a part for each page, its columns as
   * they are in memory (about 1.2 MB), then one for the `max_tokens` held. The ledger keeps them (its
   * snapshot), so that a connection opening a large ledger reads its states at once instead of folding
   * every log entry since the ledger began (a million answered requests: 2.5-3.5 s of CPU at each
   * open). In parts, so that writing or reading them holds one page's bytes at a time, not all.
   */
  *snapshot(): Generator<Buffer> {
    for (const [at, page] of this.#pages) {
      const columns = [page.state, page.attempts, page.batch, page.result, page.updated];
      yield Buffer.concat([u32s(PAGE_PART, at, page.held), ...columns.map((column) => Buffer.from(column.buffer, column.byteOffset, column.byteLength))]);
    }
    const tokens = Buffer.allocUnsafe(4 + this.#maxTokens.size * 16);
    tokens.writeUInt32LE(TOKENS_PART, 0);
    let offset = 4;
    for (const [id, value] of this.#maxTokens) {
      tokens.writeDoubleLE(id, offset);
      tokens.writeDoubleLE(value, offset + 8);
      offset += 16;
    }
    yield tokens;
  }

  /** Replaces what it holds with a `snapshot`'s parts. */
  restore(parts: Iterable<Uint8Array>): void {
    this.clear();
    for (const bytes of parts) {
      const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (view.readUInt32LE(0) === TOKENS_PART) {
        for (let offset = 4; offset + 16 <= view.length; offset += 16) this.#maxTokens.set(view.readDoubleLE(offset), view.readDoubleLE(offset + 8));
        continue;
      }
      const page = new Page();
      page.held = view.readUInt32LE(8);
      let offset = 12;
      for (const column of [page.state, page.attempts, page.batch, page.result, page.updated]) {
        new Uint8Array(column.buffer, column.byteOffset, column.byteLength).set(view.subarray(offset, offset + column.byteLength));
        offset += column.byteLength;
      }
      this.#pages.set(view.readUInt32LE(4), page);
    }
  }

  /** The ids of the requests that wait on or were answered by a batch, ascending (a batch of an older schema, whose members are not listed). */
  ofBatch(batch: number): number[] {
    const ids: number[] = [];
    for (const [at, page] of [...this.#pages].sort((a, b) => a[0] - b[0])) {
      for (let i = 0; i < PAGE; i++) if (page.state[i] !== 0 && page.state[i] !== PENDING && page.batch[i] === batch) ids.push(at * PAGE + i);
    }
    return ids;
  }
}

/** Unsigned 32-bit integers as bytes (little-endian). */
function u32s(...values: number[]): Buffer {
  const bytes = Buffer.allocUnsafe(values.length * 4);
  values.forEach((value, i) => bytes.writeUInt32LE(value, i * 4));
  return bytes;
}

/** An answer as a `LOG.answers` entry lists it. */
export interface Answered {
  id: number;
  result: number;
  /** Pending again for another attempt (with `maxTokens`, when not null), or final. */
  retry: boolean;
  maxTokens: number | null;
}

/**
 * Answers as one log entry's bytes: three doubles each, the request's id, its result's id, and -1 for
 * a final answer, else the `max_tokens` of its next attempt (0: the spec's). One entry for a chunk of
 * results instead of a row each: fewer rows for a connection to fold when it opens the ledger.
 */
export function answersBlob(answers: readonly Answered[]): Buffer {
  const blob = Buffer.allocUnsafe(answers.length * 24);
  answers.forEach(({ id, result, retry, maxTokens }, i) => {
    blob.writeDoubleLE(id, i * 24);
    blob.writeDoubleLE(result, i * 24 + 8);
    blob.writeDoubleLE(retry ? (maxTokens ?? 0) : -1, i * 24 + 16);
  });
  return blob;
}

/** The answers a `LOG.answers` entry lists, folded into `states` (their batch `batch`, at `at`). */
export function foldAnswers(states: RequestStates, blob: Uint8Array, batch: number, at: number): void {
  const values = membersOf(blob);
  for (let i = 0; i + 2 < values.length; i += 3) {
    const id = values[i] as number;
    const result = values[i + 1] as number;
    const next = values[i + 2] as number;
    if (next < 0) states.done(id, batch, result, at);
    else states.retry(id, result, next === 0 ? null : next, at);
  }
}

/** A batch's request ids, ascending, as the log and the batch's row keep them (8 bytes each). */
export function membersBlob(ids: readonly number[]): Buffer {
  const blob = Buffer.allocUnsafe(ids.length * 8);
  for (let i = 0; i < ids.length; i++) blob.writeDoubleLE(ids[i] as number, i * 8);
  return blob;
}

/** The ids a members blob holds. */
export function membersOf(blob: Uint8Array): Float64Array {
  // Copied: a blob's bytes need not be 8-aligned.
  const copy = new Uint8Array(blob.length - (blob.length % 8));
  copy.set(blob.subarray(0, copy.length));
  return new Float64Array(copy.buffer);
}
