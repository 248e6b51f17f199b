/**
 * Poll scheduling, as pure functions (the SDK's `backoff.ts` pattern): capped exponential backoff
 * with jitter. The SDK already retries each HTTP call (408/409/429/5xx, `maxRetries`); this only
 * decides how long to wait before asking again whether a batch has ended.
 */

/** First wait before polling a new batch. */
export const POLL_MIN_MS = 1_000;
/**
 * The interval stops growing here. Doubling from 1 s to a 15-minute cap makes 13 or 14 retrieves
 * over an hour-long batch, and notices the end of a batch that runs for hours within 15 minutes.
 * (A one-minute cap would make about 60 retrieves an hour for each batch.)
 */
export const POLL_MAX_MS = 15 * 60_000;
/**
 * Up to this share of each interval is taken off at random, so many batches do not poll in step
 * (at the cap, a spread of 90 s). More would add polls: jitter only shortens waits.
 */
export const POLL_JITTER = 0.1;

/** The wait before poll number `attempt` (0-based): `min(max, min·2^attempt)`, minus up to 10% jitter. */
export function pollDelayMs(attempt: number, minMs = POLL_MIN_MS, maxMs = POLL_MAX_MS, random = Math.random()): number {
  const exponential = minMs * 2 ** Math.min(attempt, 30);
  return Math.round(Math.min(maxMs, exponential) * (1 - POLL_JITTER * random));
}

/**
 * Waits `ms`, or less if `signal` aborts. Resolves either way (like the SDK's `sleep`), so callers
 * must check `signal.aborted` afterwards before making another call.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
