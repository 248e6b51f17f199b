/**
 * Adoption by proof: what to do when we cannot know whether a `create` made its batch.
 *
 * The API has no idempotency key. A create whose answer was lost (a 5xx, a timeout, a connection cut
 * after the body was sent), or that a run died in the middle of, may or may not have made a batch,
 * and we may not simply create it again: if it was made, both batches are billed. So the batch row is
 * written (`creating`, with a fresh nonce in front of every `custom_id`) before the create is sent,
 * and an unknown outcome is resolved by looking for the batch:
 *
 * 1. **Candidates** are the batches in the API's list (the workspace's, newest first) created in the
 *    window of our call (from the row's creation, less clock skew, to now plus clock skew, on the
 *    API's clock as its `Date` header tells it), with our
 *    request count, that no row of this ledger claims (a claim is taken, uniquely, when a row records
 *    its remote batch: `Ledger.setRemote`).
 * 2. **Follow, never trust.** A candidate is ours only when its results carry our nonce: once it has
 *    ended, the first line of its results file is read and its `custom_id` must start with
 *    `<nonce>_`. Nothing is canceled, deleted or counted meanwhile: checking only reads.
 * 3. A candidate that proves to be someone else's (another row of this ledger, another job or script
 *    on the same key) is **released untouched**: it is never looked at again, and the search goes on
 *    among the others.
 * 4. The proven batch is **claimed** for our row in the same transaction that records it as ours
 *    (`setRemote`): one claim per remote id, so two rows can never stand for one batch.
 * 5. The create is known **not** to have happened only when no candidate can be ours: no candidate is
 *    left to check, and `ORPHAN_LOOKS` looks at the list, spaced out over at least `minSearchMs` after
 *    the create (a new batch can take a moment to show), found no new one.
 *
 * Candidates are not claimed while they are checked. Two searches of one ledger (two lost creates of
 * the same size, or a dead run's rows resolved at once) see the same candidates, and each proves its
 * own by its nonce; a tentative claim would hide a row's own batch from its search, which would then
 * conclude "not made" and pay again. Checking is read-only, so sharing it costs a few retrieves.
 *
 * Why this cannot pay twice: a request is submitted again only after step 5, i.e. when every batch
 * that could hold it was proven to hold another nonce, and the nonce is unique to our row. A batch is
 * adopted only with proof, so the same remote batch can never stand for two rows (the nonce differs
 * per row, and the claim is unique), and no foreign batch ever enters the ledger, so
 * `--cancel-on-exit`, `cancel --job` and `gc` (which act only on ledger rows) never touch one. The one
 * case no client can rule out without an idempotency key: a create that made its batch but let it
 * show in the list only after our last look. The looks are spread out for that.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { APIError } from '@anthropic-ai/sdk';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { requestCount, resultLines } from '../client/client.ts';
import { apiFailure, isCutDownload, isTransient, withSignal } from '../client/errors.ts';
import type { BatchRow } from '../ledger/ledger.ts';
import { ledgerBusy, type LedgerStore } from '../ledger/store.ts';
import { EMULATOR_HEADER, LIST_IMMEDIATE } from '../core/emulator-header.ts';

/**
 * How far our clock may be from the API's: the window reaches this far on both sides of our call, on
 * the API's clock as its answers' `Date` header tells it (to the second), or on ours when it has none.
 */
export const ORPHAN_SKEW_MS = 10 * 60_000;
/**
 * How long after the create was sent, at least, the list must still show no new candidate before the
 * create counts as not made, in poll intervals (`--poll-min`: a minute at the default of 1 s). A new
 * batch can take a moment to show in the list; three looks a second or two apart took a batch the
 * list showed 8 s late for one never made, and paid for it again (helper-66).
 */
export const ORPHAN_SEARCH_POLLS = 60;
/**
 * …and never less than this, unless the list is our emulator's: a batch the API's list shows late
 * shows late in seconds, whatever our poll interval (at `--poll-min 0.01`, 60 intervals were 0.6 s,
 * and a lost create whose batch the list showed late was made again, try after try).
 */
export const LIST_LAG_MS = 60_000;
/** At most about this many looks in that time: looks at the run's retry interval (milliseconds apart in tests) listed thousands of times a minute. */
const LAG_LOOKS = 20;

/**
 * How far back the window reaches for a row another run wrote (a dead run's, maybe on another machine,
 * or before NTP set this one's clock right): its time is on a clock this run cannot measure.
 */
export const ORPHAN_OTHER_CLOCK_MS = 60 * 60_000;
/** …and at most this long (helper-67: `--poll-min 300` made it 5 hours). */
export const ORPHAN_SEARCH_MAX_MS = 5 * 60_000;
/** How many looks at the batch list must find no new candidate before a create counts as not made. */
export const ORPHAN_LOOKS = 3;
/** How many failed looks at the list (after the SDK's own retries) the search tolerates before it fails. */
const ORPHAN_LIST_FAILURES = 8;
/**
 * A candidate answering 404 is followed on (the API's propagation delay) until it has answered 404 for
 * this long and at least `GONE_404S` times; only then is it dropped as one that cannot be proven.
 */
const CANDIDATE_GONE_MS = 5 * 60_000;
const CANDIDATE_404S = 5;

export interface AdoptionContext {
  client: Anthropic;
  ledger: LedgerStore;
  signal: AbortSignal;
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** The wait before look or check number `attempt` (grows, capped). */
  delay(attempt: number): number;
  /** How long after the create, at least, the search looks before it counts the create as not made (see `ORPHAN_SEARCH_POLLS`). */
  minSearchMs: number;
  /** This run's id: a row it wrote is on its clock. */
  run: number;
  /** Said when a candidate proves to be someone else's. */
  rejected?(remoteId: string): void;
  /**
   * A `--no-wait` try: once the candidates left are all still running, the search ends with
   * `STILL_RUNNING` rather than follow them to their end (hours on the API): the row stays `creating`,
   * and a later try searches again.
   */
  noWait?: boolean;
}

/** What `findOurBatch` resolves with in a `noWait` search whose candidates all still run. */
export const STILL_RUNNING = Symbol('candidates still running');

/** A batch proven ours: ended, its results carry our nonce; `resultsUrl` is where they are. */
export interface Proven {
  batch: MessageBatch;
  resultsUrl: string;
}

interface Candidate {
  batch: MessageBatch;
  /** 404s in a row, and when the first of them came. */
  notFound: number;
  firstNotFound?: number;
  /** The nonce its results carry, once checked and found not this row's. */
  nonce?: string | undefined;
}

/** Whether a row of this ledger made the batch whose results carry `nonce` (rarely asked: a candidate rejected). */
async function madeByUs(ledger: LedgerStore, nonce: string | undefined): Promise<boolean> {
  return nonce !== undefined && (await ledger.batches()).some((row) => row.nonce === nonce);
}

/**
 * Resolves a create of unknown outcome for a `creating` row: the batch it made, proven ours, or
 * undefined when it made none. Undefined too when stopped by the signal (the row stays `creating`).
 * `lostAt`: when the attempt whose outcome is unknown ended (on our clock), at the latest.
 */
export async function findOurBatch(ctx: AdoptionContext, row: BatchRow, lostAt: number = row.created_at): Promise<Proven | undefined | typeof STILL_RUNNING> {
  const { ledger, signal } = ctx;
  if (row.request_count === 0) return undefined; // recorded, but the create was never sent
  const candidates = new Map<string, Candidate>();
  const rejected = new Set<string>();
  let emptyLooks = 0;
  let failedLooks = 0;
  // Whether the list may show a new batch late (any list but our emulator's): then it is looked at for `LIST_LAG_MS` at least.
  let lags = true;
  for (let attempt = 0; ; attempt++) {
    try {
      const { found, immediate } = await look(ctx, row, candidates, rejected);
      lags = !immediate;
      if (found === 0) emptyLooks++;
    } catch (error) {
      if (signal.aborted) return undefined;
      // A list answer broken off half way is looked at again, as a 5xx is (helper-66).
      if (!(isTransient(error) || (isCutDownload(error) && !ledgerBusy(error))) || ++failedLooks >= ORPHAN_LIST_FAILURES) {
        throw apiFailure(error, 'Listing batches (to find one whose create outcome was lost) failed', undefined);
      }
    }
    for (const [id, candidate] of candidates) {
      // Claimed by another row of this ledger since it was listed (this run's next batch, listed before
      // its create answered): made by that row's create, or proven by its nonce, so never ours.
      const owner = await ledger.claimant(id);
      if (owner !== undefined && owner !== row.id) {
        candidates.delete(id);
        rejected.add(id);
        continue;
      }
      const verdict = await check(ctx, row, candidate);
      if (signal.aborted) return undefined;
      if (verdict === 'pending') continue;
      candidates.delete(id);
      if (typeof verdict === 'object') return verdict;
      rejected.add(id);
      // Someone else's; if another row of this ledger took it meanwhile, or its results carry the nonce
      // of another row of this ledger (another lost create's, which its own search adopts), it is not
      // news (helper-96: "not taken for it", then "found and adopted", for one batch).
      if ((await ledger.claimant(id)) === undefined && !(await madeByUs(ledger, candidate.nonce))) ctx.rejected?.(id);
    }
    // From when the attempt whose answer was lost ended (helper-67: from the row, written before a
    // first attempt refused, or a long retry-after, the minute had passed before the search began).
    const searchMs = lags ? Math.max(ctx.minSearchMs, LIST_LAG_MS) : ctx.minSearchMs;
    if (candidates.size === 0 && emptyLooks >= ORPHAN_LOOKS && ctx.now() - Math.max(row.created_at, lostAt) >= searchMs) return undefined;
    // Each candidate left was checked this round and still runs (helper-66: a scheduler's try sat
    // silent until its batch ended).
    if (ctx.noWait && candidates.size > 0) return STILL_RUNNING;
    await ctx.sleep(lags ? Math.max(ctx.delay(attempt), LIST_LAG_MS / LAG_LOOKS) : ctx.delay(attempt), signal);
    if (signal.aborted) return undefined;
  }
}

/** One look at the list: adds the new candidates; returns how many it found, and whether the list is our emulator's (`EMULATOR_HEADER`). */
async function look(ctx: AdoptionContext, row: BatchRow, candidates: Map<string, Candidate>, rejected: Set<string>): Promise<{ found: number; immediate: boolean }> {
  return withSignal(ctx.signal, async (s) => {
    // The window widened by how far the API's clock (its `created_at`s are on it) is from ours (helper-66:
    // a machine 15 minutes off never found its batch, and paid again); widened, not moved: the row's time
    // is on the clock of the run that wrote it, which may not be this one's (helper-67). A wider window
    // costs a few more checks; a batch is still ours only by its nonce.
    const { batches, ahead, immediate } = await listBatches(ctx.client, ctx.now, s);
    // A row another run wrote is on that run's clock, whose offset this run cannot measure: an hour.
    const skew = row.run === ctx.run ? ORPHAN_SKEW_MS : ORPHAN_OTHER_CLOCK_MS;
    const from = row.created_at + Math.min(0, ahead) - skew;
    const to = ctx.now() + Math.max(0, ahead) + ORPHAN_SKEW_MS;
    let found = 0;
    for await (const batch of batches) {
      const created = Date.parse(batch.created_at);
      if (created < from) break; // newest first: nothing older can be ours
      if (created > to || candidates.has(batch.id) || rejected.has(batch.id)) continue;
      if (requestCount(batch.request_counts) !== row.request_count) continue;
      const owner = await ctx.ledger.claimant(batch.id);
      if (owner !== undefined && owner !== row.id) continue; // another row of this ledger has it (created or proven)
      candidates.set(batch.id, { batch, notFound: 0 });
      found++;
    }
    return { found, immediate };
  });
}

/**
 * The API's list of batches (newest first, every page), and how far the API's clock is ahead of
 * `now` (ms, negative when behind), as its answer's `Date` header says (to the second), 0 without one.
 * The `created_at` of a batch is on the API's clock.
 */
export async function listBatches(client: Anthropic, now: () => number, signal: AbortSignal): Promise<{ batches: AsyncIterable<MessageBatch>; ahead: number; immediate: boolean }> {
  const asked = now();
  const { data: batches, response } = await client.messages.batches.list({ limit: 100 }, { signal }).withResponse();
  const apiNow = Date.parse(response.headers.get('date') ?? '');
  return { batches, ahead: Number.isFinite(apiNow) ? apiNow - (asked + now()) / 2 : 0, immediate: response.headers.get(EMULATOR_HEADER) === LIST_IMMEDIATE };
}

/** Whether a candidate is ours (proven), someone else's, or not known yet (still running, or a transient failure). */
async function check(ctx: AdoptionContext, row: BatchRow, candidate: Candidate): Promise<Proven | 'theirs' | 'pending'> {
  const { client, signal } = ctx;
  const id = candidate.batch.id;
  try {
    const seen = await withSignal(signal, (s) => client.messages.batches.retrieve(id, {}, { signal: s }));
    candidate.notFound = 0;
    delete candidate.firstNotFound;
    if (seen.processing_status !== 'ended' || !seen.results_url) return 'pending';
    const url = seen.results_url;
    const first = await withSignal(signal, async (s) => {
      for await (const line of resultLines(client, url, s)) return line;
      return undefined;
    });
    if (first === undefined) return 'theirs'; // an ended batch of our size has a line per request: none is not ours
    const customId = (JSON.parse(first) as { custom_id?: unknown }).custom_id;
    if (typeof customId === 'string' && customId.startsWith(`${row.nonce}_`)) return { batch: seen, resultsUrl: url };
    candidate.nonce = typeof customId === 'string' ? customId.split('_')[0] : undefined;
    return 'theirs';
  } catch (error) {
    if (signal.aborted) return 'pending';
    if (error instanceof APIError && error.status === 404) {
      candidate.firstNotFound ??= ctx.now();
      return ++candidate.notFound >= CANDIDATE_404S && ctx.now() - candidate.firstNotFound >= CANDIDATE_GONE_MS ? 'theirs' : 'pending';
    }
    if (isTransient(error) || isCutDownload(error)) return 'pending';
    throw apiFailure(error, `Checking batch ${id} (is it the one whose create outcome was lost?) failed`, id);
  }
}

