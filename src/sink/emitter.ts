/**
 * The ordered emitter: records leave in input order as soon as their answer is final. It reads the
 * ledger by `seq`, a page at a time, and re-reads only when an answer can have come in (`Pulse`).
 * When the record at its head waits, it makes sure something will answer it (follows its batch, or
 * batches its request), so no record can wait forever.
 */
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { isTransient } from '../client/errors.ts';
import { customIdOf } from '../core/request.ts';
import type { RecordError } from '../core/result.ts';
import { plural } from '../core/text.ts';
import { BatchEnrichError } from '../errors.ts';
import type { RecordRow } from '../ledger/ledger.ts';
import type { JoinedRecord } from '../types.ts';
import type { BatchAssembler } from './assembler.ts';
import { payloadBytes } from './body.ts';
import { hasDocuments } from '../core/expected-cost.ts';
import type { BudgetGuard } from './budget.ts';
import type { SinkContext } from './context.ts';
import type { Intake } from './intake.ts';
import { PAGE_CHARS, REALTIME_PREFIX, WRITE_CHUNK } from './options.ts';

export interface EmitterDeps {
  intake: Intake;
  assembler: BatchAssembler;
  budget: BudgetGuard;
  track(batchId: number): void;
  /** The first failure, if any: thrown from the emitter. */
  failure(): unknown;
  /** Whether nothing is being read, filled, created or followed (with `noWait`: nothing more can come in). */
  idle(): boolean;
  /** Once the stores under way have counted their results (`ResultRecorder.counted`), or undefined when none is. */
  counted(): Promise<unknown> | undefined;
}

/**
 * A record whose request is no longer in the ledger: written, it pointed at one (the intake writes a
 * new request with its record, or found it there), so it was deleted since. What `batch-enrich gc`
 * on a shared PostgreSQL ledger can do between a run's lookup of an answered request and the write of
 * its record. Nothing would ever answer it: it comes out with `request_lost`.
 */
const requestLost = (row: RecordRow) => row.error === null && row.key !== null && row.state === null;

const REQUEST_LOST: RecordError = {
  type: 'request_lost',
  message: 'its request was deleted from the ledger while this run read the input (a batch-enrich gc at the same time?); run the same command again to send it again',
};

/** Whether a record can come out now: it has its final answer or its error. */
const answerable = (row: RecordRow | undefined) => row !== undefined && (row.error !== null || row.state === 'done' || requestLost(row));

/**
 * How long the emitter waits on this run's own news before it reads the ledger again. Other runs on
 * the ledger (other workers, other machines) answer, release and submit requests without telling
 * this process: a record this run waits for may be answered, or need batching, with nothing here
 * to wake it. So a wait is cut at this, and the waiting records are looked at again (one read).
 */
export const RECHECK_MS = 5_000;
const RECHECK = Symbol('recheck');

/**
 * The first page the emitter reads after its head waited, in records. The head's neighbours are
 * likely waiting too (a batch's results arrive in random order), and a page that stops at its first
 * record was read whole for nothing (a row carries the record and its answer: at 100,000 records a
 * quarter of the rows read were such): so the page starts small and doubles, up to `EMIT_PAGE`, with
 * each page that comes out whole.
 */
const FIRST_PAGE = 64;
/**
 * The largest page the emitter reads, in records. A page stays alive until its last record has gone
 * downstream, and everything downstream allocates meanwhile: rows of a 4,000-record page (each with
 * its record and answer) outlived two scavenges and were promoted, 280 MB of a 100,000-record run's
 * output phase; at 1,000, 105 MB. More pages cost one ledger call each.
 */
const EMIT_PAGE = 1_000;

/**
 * How many records like `rows` a page may hold: `PAGE_CHARS` of their text and answers (at least
 * one, at most `WRITE_CHUNK`). Ordinary records (a few hundred characters) are never cut by it.
 */
function recordsInPage(rows: readonly RecordRow[]): number {
  let chars = 0;
  for (const row of rows) chars += row.data.length + (row.result?.length ?? 0);
  return Math.max(1, Math.min(WRITE_CHUNK, Math.floor((PAGE_CHARS * rows.length) / Math.max(1, chars))));
}

/** `waiting`, or `RECHECK` after `RECHECK_MS` of the wall clock (cleared as soon as either comes). */
function orRecheck(waiting: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const recheck = new Promise<typeof RECHECK>((resolve) => {
    timer = setTimeout(resolve, RECHECK_MS, RECHECK);
  });
  return Promise.race([waiting, recheck]).finally(() => clearTimeout(timer));
}

/** Yields the run's records in input order, each once its answer (or error) is final. */
export async function* emitInOrder(ctx: SinkContext, deps: EmitterDeps): AsyncGenerator<JoinedRecord> {
  const { ledger, scope, run, signal, pulse } = ctx;
  const { intake, assembler, budget } = deps;
  let cursor = 0;
  let headWaits = false;
  let seenAnswered = -1;
  let seenMoved = -1;
  /** The record `unblock` last ran for, when it was at the head. */
  let unblockedAt = -1;
  /** The record after the last one `unblock` looked at (its window runs ahead of the head). */
  let unblockedTo = 0;
  /** Records read at once: `FIRST_PAGE` after the head waited, doubled with each page that came out whole. */
  let pageSize = FIRST_PAGE;
  /** The most records a page (or the window) may hold by their size (`PAGE_CHARS`), as the last page read measured them. */
  let sizeCap = WRITE_CHUNK;
  /**
   * With `noWait`, a first pass yields nothing: it only checks that every record is answerable (and
   * makes sure each will be, as the real pass does). If the sink goes idle with records still
   * waiting, the run stops with `BE_PENDING`; else the real pass starts over and yields them all.
   */
  let dry = ctx.opts.noWait;
  for (;;) {
    const failure = deps.failure();
    if (failure) throw (ctx.opts.noWait && (await tryLater(ctx, failure))) || failure;
    if (signal.aborted) throw new BatchEnrichError('BE_ABORTED', 'Stopped before every record was answered', { cause: signal.reason });
    const waiting = pulse.wait();
    // Results stored, but not the head's: nothing can come out yet (one row read, not a page).
    const headStill = headWaits && pulse.moved === seenMoved && (pulse.answered === seenAnswered || !answerable((await ledger.records(scope, run, cursor, 1))[0]));
    if (headStill) {
      seenAnswered = pulse.answered;
      if ((await orRecheck(waiting)) === RECHECK) seenMoved = -1;
      continue;
    }
    const requestsMoved = pulse.moved !== seenMoved;
    seenAnswered = pulse.answered;
    seenMoved = pulse.moved;
    const sendsEnded = assembler.sendsEnded;
    const rows = await ledger.records(scope, run, cursor, pageSize);
    if (rows.length > 0) sizeCap = recordsInPage(rows);
    // A store whose answers these rows show may not have counted them yet (its caller hears back
    // after the commit): none goes out before it has, so a record's cost is known when it does.
    const counting = deps.counted();
    if (counting) await counting;
    let blocked: number | undefined;
    let stale = false;
    for (const [index, row] of rows.entries()) {
      if (!answerable(row)) {
        // A request in the group being filled is refused by its flush once the input has ended; one in
        // the group being sent was admitted before the budget ran out, and goes out (paid for).
        const key = row.key ?? '';
        const refusal = budget.refusal;
        if (refusal && row.state === 'pending' && !assembler.sending(key) && (intake.inputDone || !assembler.has(key))) {
          // The row may be stale: its group may have gone out since it was read (while the page was
          // read, or while the consumer held an earlier record), submitted and no longer being sent.
          // Then it is read again before it is refused.
          if (assembler.sendsEnded !== sendsEnded) {
            stale = true;
            break;
          }
          // Not submitted (or not again, after an attempt sent it back): the budget ran out. It comes
          // out now, in its place, with that error; every copy of a request reads the same row, so
          // duplicates come out alike.
          cursor = row.seq + 1;
          if (!dry) yield joinedOf(row, row.result === null ? refusal : budget.refusalOf(row.result));
          continue;
        }
        blocked = index;
        break;
      }
      cursor = row.seq + 1;
      if (!dry) yield joinedOf(row, row.error ? (JSON.parse(row.error) as RecordError) : requestLost(row) ? REQUEST_LOST : undefined);
    }
    if (stale) {
      headWaits = false;
      continue;
    }
    headWaits = blocked !== undefined;
    if (headWaits) pageSize = Math.min(FIRST_PAGE, sizeCap);
    else if (rows.length === pageSize) {
      pageSize = Math.min(EMIT_PAGE, sizeCap, pageSize * 2);
      continue;
    }
    if (intake.inputDone && cursor >= intake.recordsRead) {
      if (!dry) return;
      // Every record is answerable: the real pass.
      dry = false;
      cursor = 0;
      headWaits = false;
      seenMoved = -1;
      unblockedAt = -1;
      unblockedTo = 0;
      pageSize = FIRST_PAGE;
      continue;
    }
    // Once for each record that comes to wait at the head, and again whenever requests moved.
    if (headWaits && (requestsMoved || cursor !== unblockedAt)) {
      unblockedAt = cursor;
      // Read again: the page may have been read before a wait on the consumer. The window after the
      // head was looked at up to `unblockedTo`; unless requests moved since, only the head (fresh)
      // and what lies beyond are read (a window read whole at each step of the head was a tenth of
      // the rows a 100,000-record run read).
      const whole = requestsMoved || unblockedTo <= cursor + 1;
      const window = await ledger.records(scope, run, cursor, whole ? sizeCap : 1);
      const end = cursor + sizeCap;
      if (!whole && unblockedTo < end) window.push(...(await ledger.records(scope, run, unblockedTo, end - unblockedTo)));
      unblockedTo = Math.max(unblockedTo, (window.at(-1)?.seq ?? cursor) + 1);
      await unblock(ctx, deps, window);
    }
    // Nothing more can come in: what still waits is pending on batches that run on. The rows were
    // read before `unblock`, and a follower may have stored their answers since and gone idle: they
    // are counted again, and when none waits any more they are read again instead.
    if (dry && headWaits && intake.inputDone && deps.idle()) {
      // Records the budget refused may lie before the head (the dry pass stepped over them): counted from the first.
      const refusal = budget.refusal;
      const pending = await pendingError(ctx, refusal ? 0 : cursor, refusal);
      if (pending) throw pending;
      seenMoved = -1;
      continue;
    }
    if ((await orRecheck(waiting)) === RECHECK) seenMoved = -1;
  }
}

/**
 * Makes sure the records the emitter waits on will be answered: their batches are followed, and
 * their requests that wait for a batch (sent back by a release) are batched, all at once.
 */
async function unblock(ctx: SinkContext, deps: EmitterDeps, rows: readonly RecordRow[]): Promise<void> {
  const { ledger, scope } = ctx;
  let pending = false;
  for (const row of rows) {
    if (row.error || row.state === 'done' || row.key === null) continue;
    if (deps.assembler.has(row.key)) {
      // In the group being filled (sent by the flush below once the input has ended), or in one being
      // sent: its sender tracks its batch (the ledger may show the batch `creating` before the sender
      // knows its id, and it must not be followed as a lost create).
      pending = true;
    } else if (row.state === 'submitted' && row.batch_id !== null) {
      deps.track(row.batch_id);
    } else if (row.state === 'pending' && !deps.budget.exhausted) {
      pending = true;
      const payload = await ledger.payload(scope, row.key);
      // Priced at the max_tokens it was sent back with (a cut-off answer's, doubled), as it will ask.
      await deps.assembler.add(row.key, payloadBytes(payload), undefined, payload?.max_tokens ?? undefined, payload ? hasDocuments(payload.messages) : undefined);
    }
  }
  if (pending && deps.intake.inputDone) await deps.assembler.flush();
}

/**
 * `noWait`: how many records wait, on how many batches, and when the first of those expires;
 * undefined when none waits. Given the budget's `refusal`, a record whose request is pending was not
 * submitted (the budget ran out): it waits on no batch, and is said apart.
 */
async function pendingError(ctx: SinkContext, from: number, refusal: RecordError | undefined): Promise<BatchEnrichError | undefined> {
  const { waiting, unsent } = await unanswered(ctx, from, refusal);
  if (waiting === 0) return undefined;
  const message = pendingMessage(waiting, ctx.deferred.size, [...ctx.deferred.values()].sort()[0]);
  const records = waiting + unsent;
  if (unsent === 0 || !refusal) return new BatchEnrichError('BE_PENDING', message, { records });
  return new BatchEnrichError('BE_PENDING', `${message}; ${plural(unsent, 'record')} ${unsent === 1 ? 'was' : 'were'} ${refusal.message} (the batches in flight count at their estimates: the try that finds them ended sends ${unsent === 1 ? 'it' : 'them'} if what they cost leaves room)`, { records });
}

/**
 * `noWait`: a try the API failed for a while (unreachable, or refusing with 429/5xx after every
 * retry) while batches are in flight stops as pending, not failed: nothing was written, what was
 * answered is in the ledger, and its scheduler's next try goes on from there. Undefined for any other
 * failure, and when no record waits on a batch: a try that could start nothing (a wrong base URL) is
 * a failure to alert on, not one to try again for ever (helper-57).
 */
async function tryLater(ctx: SinkContext, failure: unknown): Promise<BatchEnrichError | undefined> {
  if (!(failure instanceof BatchEnrichError) || failure.code !== 'BE_API' || !isTransient(failure.cause)) return undefined;
  const { waiting, inBatches } = await unanswered(ctx, 0, undefined).catch(() => ({ waiting: 0, inBatches: 0 }));
  if (inBatches === 0) return undefined;
  return new BatchEnrichError('BE_PENDING', `${failure.message}; nothing was written: run the same command again later`, { records: waiting, cause: failure });
}

/**
 * The records from `from` on still without an answer: waiting (`inBatches` of them on a batch), or
 * (given the budget's `refusal`) never sent.
 */
async function unanswered(ctx: SinkContext, from: number, refusal: RecordError | undefined): Promise<{ waiting: number; unsent: number; inBatches: number }> {
  let waiting = 0;
  let unsent = 0;
  let inBatches = 0;
  // Pages as large as the records allow (`recordsInPage`), from a first one of the emitter's size.
  for (let seq = from, size = FIRST_PAGE; ; ) {
    const rows = await ctx.ledger.records(ctx.scope, ctx.run, seq, size);
    for (const row of rows) {
      if (answerable(row)) continue;
      if (refusal && row.state === 'pending') unsent++;
      else waiting++;
      if (row.state === 'submitted') inBatches++;
    }
    if (rows.length < size) break;
    seq = (rows.at(-1)?.seq ?? seq) + 1;
    size = recordsInPage(rows);
  }
  return { waiting, unsent, inBatches };
}

/**
 * `--no-wait`'s line: how many records wait for their requests' answers (records, not requests:
 * duplicates share one), from how many batches, and when the first of those expires (an ISO time,
 * if known).
 * @example
 * pendingMessage(5000, 1, '2026-12-04T10:53:32.230Z'); // '5,000 records wait for their answers from 1 batch; the oldest expires at 2026-12-04T10:53:32.230Z; run the same command again …'
 */
function pendingMessage(waiting: number, batches: number, oldestExpiry: string | undefined): string {
  return (
    `${plural(waiting, 'record')} ${waiting === 1 ? 'waits for its answer' : 'wait for their answers'} from ${plural(batches, 'batch', 'batches')}` +
    (oldestExpiry ? `; the oldest expires at ${oldestExpiry}` : '') +
    '; run the same command again to collect them (what was submitted is not submitted again)'
  );
}

/** A ledger record row as the sink hands it on: the record, and its result or its error. */
export function joinedOf(row: RecordRow, error: RecordError | undefined): JoinedRecord {
  const result = row.result ? (JSON.parse(row.result) as MessageBatchResult) : undefined;
  return {
    seq: row.seq,
    line: row.line,
    data: JSON.parse(row.data) as Record<string, unknown>,
    key: row.key ?? undefined,
    error,
    result,
    attempts: row.attempts ?? 0,
    batchId: row.remote_id ?? undefined,
    customId: row.nonce && row.key ? customIdOf(row.nonce, row.key, row.label) : undefined,
    mode: result === undefined ? undefined : row.remote_id?.startsWith(REALTIME_PREFIX) ? 'realtime' : 'batch',
  };
}
