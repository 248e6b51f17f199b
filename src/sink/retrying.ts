/**
 * One retry loop for every call the sink tries again (create, download, real-time calls): the call,
 * what a failure means (try again, give up, or an answer that ends the loop), the wait (the API's
 * `retry-after-ms` or `retry-after` when it gives one, else the capped backoff), one `retry` event a
 * try, and the stop signal checked after every wait. Polls are not retries: they live in the follower,
 * and share the classification and the wait (`retryWait`).
 */
import { APIError } from '@anthropic-ai/sdk';
import { errorText, retryAfterMs } from '../client/errors.ts';
import type { SinkContext } from './context.ts';

/**
 * What to do after a failed try: try again after the wait (`retry`: a failure, counted against
 * `attempts`; `wait`: the API asked to wait, counted against `waits`), give up, or end the loop with a value.
 */
export type Outcome<T> = 'retry' | 'wait' | 'fail' | { value: T };

export interface RetryLoop<T> {
  /** Named in the `retry` event: which call, and where (`create (api.anthropic.com)`). */
  what: string;
  /** Tries at most (the first included), of those that failed other than by the API asking to wait. */
  attempts: number;
  /** Tries the API refused asking to wait (`wait`), at most (default: `attempts`). */
  waits?: number | undefined;
  call(attempt: number): Promise<T>;
  /** What a failure means; may do work first (a create of unknown outcome looks for its batch). */
  classify(error: unknown, attempt: number): Outcome<T> | Promise<Outcome<T>>;
  /** The error the loop ends with when it gives up. */
  failure(error: unknown): unknown;
  /** The wait before try `attempt + 1`, when the API names none (default: the sink's retry backoff). */
  backoff?(attempt: number): number;
  /**
   * Ends a wait between tries early (the deadline: a create waiting out a 15-minute `retry-after`
   * slept past it); the loop then ends with what `cut` makes of the last failure. So does a loop out
   * of tries once it has passed.
   */
  until?: AbortSignal | undefined;
  cut?(error: unknown): Promise<{ value: T }>;
}

/** The wait before another try: what the API asked for, else `fallback`. */
export function retryWait(ctx: SinkContext, error: unknown, fallback: number): number {
  return (error instanceof APIError ? retryAfterMs(error, ctx.opts.now()) : undefined) ?? fallback;
}

/** Runs the loop; resolves with the call's value (or a classified value), or undefined when stopped. */
export async function retrying<T>(ctx: SinkContext, loop: RetryLoop<T>): Promise<T | undefined> {
  let failures = 0;
  let waits = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await loop.call(attempt);
    } catch (error) {
      if (ctx.signal.aborted) return undefined;
      const outcome = await loop.classify(error, attempt);
      if (ctx.signal.aborted) return undefined;
      if (typeof outcome === 'object') return outcome.value;
      const spent = outcome === 'wait' ? ++waits >= (loop.waits ?? loop.attempts) : ++failures >= loop.attempts;
      // Out of tries after the deadline (`until`): what `cut` makes of it (a create not made goes to real
      // time), not the failure. A final failure is one whatever the time.
      if (spent && outcome !== 'fail' && loop.until?.aborted && loop.cut) return (await loop.cut(error)).value;
      if (outcome === 'fail' || spent) throw await loop.failure(error);
      const wait = retryWait(ctx, error, (loop.backoff ?? ctx.opts.retryDelay)(attempt));
      ctx.opts.emit({ type: 'retry', what: loop.what, message: errorText(error), delayMs: wait });
      const { until, cut } = loop;
      await ctx.opts.sleep(wait, until && cut ? AbortSignal.any([ctx.signal, until]) : ctx.signal);
      if (ctx.signal.aborted) return undefined;
      if (until?.aborted && cut) return (await cut(error)).value;
    }
  }
}
