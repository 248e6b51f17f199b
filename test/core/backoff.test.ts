/** Poll scheduling: capped exponential backoff with jitter, and an abortable sleep. */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { POLL_JITTER, POLL_MAX_MS, POLL_MIN_MS, pollDelayMs, sleep } from '../../src/core/backoff.ts';

describe('pollDelayMs', () => {
  const cases: { description: string; attempt: number; random: number; min?: number; max?: number; want: number }[] = [
    { description: 'the first poll waits the minimum when the jitter draws 0', attempt: 0, random: 0, want: POLL_MIN_MS },
    { description: 'each attempt doubles the wait', attempt: 1, random: 0, want: 2 * POLL_MIN_MS },
    { description: 'still doubling below the cap', attempt: 5, random: 0, want: 32 * POLL_MIN_MS },
    { description: 'still doubling at 2^9 s', attempt: 9, random: 0, want: 512 * POLL_MIN_MS },
    { description: '2^10 s would pass the 15-minute cap, so the cap is used', attempt: 10, random: 0, want: POLL_MAX_MS },
    { description: 'a huge attempt number is clamped to the cap, not Infinity or NaN', attempt: 1e9, random: 0, want: POLL_MAX_MS },
    { description: 'MAX_SAFE_INTEGER attempts still give the cap', attempt: Number.MAX_SAFE_INTEGER, random: 0, want: POLL_MAX_MS },
    { description: 'Infinity attempts still give the cap', attempt: Infinity, random: 0, want: POLL_MAX_MS },
    { description: 'a zero minimum stays 0 at huge attempts (0 × 2^1e9 must not become 0 × Infinity = NaN)', attempt: 1e9, random: 0, min: 0, want: 0 },
    { description: 'the jitter takes off at most 10% (random just below 1)', attempt: 0, random: 0.999999, want: 900 },
    { description: 'half the jitter at the cap', attempt: 40, random: 0.5, want: POLL_MAX_MS * (1 - POLL_JITTER / 2) },
    { description: 'a custom minimum doubles the same way', attempt: 3, random: 0, min: 250, max: 10_000, want: 2000 },
    { description: 'a custom cap applies', attempt: 10, random: 0, min: 250, max: 10_000, want: 10_000 },
    { description: 'the wait is a whole number of milliseconds', attempt: 0, random: 1 / 3, min: 1001, want: 968 },
  ];
  for (const t of cases) {
    it(t.description, () => {
      expect(pollDelayMs(t.attempt, t.min ?? POLL_MIN_MS, t.max ?? POLL_MAX_MS, t.random)).toBe(t.want);
    });
  }

  it('for any draw, the wait lies in (90%, 100%] of the capped exponential, and never shrinks with more attempts', () => {
    for (const random of [0, 0.1, 0.5, 0.9, 0.999999]) {
      let previous = 0;
      for (let attempt = 0; attempt <= 100; attempt++) {
        const full = Math.min(POLL_MAX_MS, POLL_MIN_MS * 2 ** attempt);
        const wait = pollDelayMs(attempt, POLL_MIN_MS, POLL_MAX_MS, random);
        expect(wait).toBeGreaterThan(full * (1 - POLL_JITTER) - 1);
        expect(wait).toBeLessThanOrEqual(full);
        expect(wait).toBeGreaterThanOrEqual(previous);
        previous = wait;
      }
    }
  });

  it('polls an hour-long batch about a dozen times with the defaults, whatever the jitter draws', () => {
    const HOUR = 3_600_000;
    for (const random of [0, 0.5, 0.999999]) {
      let elapsed = 0;
      let polls = 0;
      while (elapsed < HOUR) elapsed += pollDelayMs(polls++, POLL_MIN_MS, POLL_MAX_MS, random);
      // 13 with no jitter; the jitter only shortens waits, and at most by 10%: 14.
      expect(polls).toBeGreaterThanOrEqual(13);
      expect(polls).toBeLessThanOrEqual(14);
    }
  });

  it('by default draws its jitter from Math.random, within bounds', () => {
    const spy = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    try {
      expect(pollDelayMs(0)).toBe(950);
    } finally {
      spy.mockRestore();
    }
    for (let i = 0; i < 100; i++) {
      const wait = pollDelayMs(2);
      expect(wait).toBeGreaterThanOrEqual(3600);
      expect(wait).toBeLessThanOrEqual(4000);
    }
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves after the given time, not before', async () => {
    vi.useFakeTimers();
    let done = false;
    const waiting = sleep(1000).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await waiting;
    expect(done).toBe(true);
  });

  it('resolves early when the signal aborts, and clears its timer', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    let done = false;
    const waiting = sleep(3_600_000, controller.signal).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    controller.abort();
    await waiting;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('resolves at once, without a timer, for a signal already aborted', async () => {
    vi.useFakeTimers();
    await sleep(3_600_000, AbortSignal.abort());
    expect(vi.getTimerCount()).toBe(0);
  });

  it('removes its abort listener when it ends normally (one signal is reused for every poll)', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    for (let i = 0; i < 20; i++) {
      const waiting = sleep(10, controller.signal);
      await vi.advanceTimersByTimeAsync(10);
      await waiting;
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('really waits with real timers (a short sleep)', async () => {
    const started = performance.now();
    await sleep(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });
});
