/**
 * What every part of the sink shares: the read-mostly dependencies (ledger, client, identity, run,
 * options, clock), the sink's own signal, and the few pieces of shared state with one owner each:
 * the pulse (what the emitter waits on), the mode (batch, or real time after a deadline), the first
 * failure, and whether the API can be reached.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { APIConnectionError } from '@anthropic-ai/sdk';
import { apiFailure } from '../client/errors.ts';
import { plural } from '../core/text.ts';
import type { Identity } from '../ledger/ledger.ts';
import type { LedgerStore } from '../ledger/store.ts';
import type { SendMode } from '../types.ts';
import type { Pulse } from './async.ts';
import { UNREACHABLE_MS, type ResolvedSinkOptions } from './options.ts';

/** The mode requests are sent in now: batch, until the deadline (if any) switches it to real time. */
export class ModeSwitch {
  #current: SendMode;
  #deadlinePassed = false;
  readonly #deadline: AbortController | undefined;

  constructor(mode: SendMode, hasDeadline: boolean) {
    this.#current = mode;
    this.#deadline = hasDeadline && mode === 'batch' ? new AbortController() : undefined;
  }
  get current(): SendMode {
    return this.#current;
  }
  get deadlinePassed(): boolean {
    return this.#deadlinePassed;
  }
  /** Aborted when the deadline passes (undefined without a deadline): cuts a long poll wait short. */
  get deadlineSignal(): AbortSignal | undefined {
    return this.#deadline?.signal;
  }
  /** The deadline passed: from now on requests go out in real time. */
  passDeadline(): void {
    this.#deadlinePassed = true;
    this.#current = 'realtime';
    this.#deadline?.abort();
  }
}

/**
 * Whether the API answers at all. Every call notes its outcome; when nothing has been reached (only
 * connection errors and timeouts) for `limitMs` (`UNREACHABLE_MS`), the call that notes it throws.
 */
export class Reachability {
  #since: number | undefined;
  constructor(
    readonly host: string,
    readonly now: () => number,
    readonly limitMs = UNREACHABLE_MS,
  ) {}
  /** Notes a call's outcome: no error (or an answer from the API, even an error status) resets the count. */
  reached(error?: unknown): void {
    if (!(error instanceof APIConnectionError)) {
      this.#since = undefined;
      return;
    }
    this.#since ??= this.now();
    const ms = this.now() - this.#since;
    if (ms >= this.limitMs) throw apiFailure(error, `Cannot reach the API at ${this.host} (no answer for ${plural(Math.round(ms / 60_000), 'minute')})`, undefined);
  }
}

export interface SinkContext {
  readonly client: Anthropic;
  readonly ledger: LedgerStore;
  readonly identity: Identity;
  readonly scope: string;
  /** This run's id in the ledger, and when it started. */
  readonly run: number;
  readonly runStartedAt: number;
  readonly opts: ResolvedSinkOptions;
  /** The sink's own signal: aborted by the caller's signal, by a failure, and when the consumer stops. */
  readonly signal: AbortSignal;
  /**
   * The signal of calls paid for once sent (real-time `messages.create`): aborted only once the stop
   * has waited for every one of them to end (`RealtimeSender.finishing`), so each answer is kept
   * instead of being paid again by the next run (the API bills a call whose caller hung up).
   */
  readonly callSignal: AbortSignal;
  readonly pulse: Pulse;
  readonly mode: ModeSwitch;
  readonly reach: Reachability;
  /** Records the first failure, stops everything, and wakes the emitter to throw it. */
  fail(error: unknown): void;
  /** Called before anything that needs the API: without a key (`offline`) it stops the run; false then. */
  needApi(): boolean;
  /** Whether the sink is failing or stopped: nothing new should start. */
  stopping(): boolean;
  /** Set once teardown is done: nothing may be written to the ledger any more. */
  readonly finished: boolean;
  /** With `noWait`: the batches still running when polled once (ledger id → the API's `expires_at`). */
  readonly deferred: Map<number, string>;
}
