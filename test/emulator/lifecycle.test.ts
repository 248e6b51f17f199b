/** Clock-driven lifecycle: processing time, cancel, 24 h expiry, 29-day archiving, delete rules. */
import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.ts';
import { client, expectApiError, expectSpec, raw, req } from './helpers.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function fakeClock(start = Date.UTC(2026, 10, 1)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms), start };
}

describe('lifecycle by injected clock', () => {
  it('in_progress for processingMs, counts frozen, then ended with tallies; results 400 before ended', async () => {
    const clock = fakeClock();
    const emu = await startEmulator({ now: clock.now, processingMs: 10 * 60_000 });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: [req('a'), req('b')] });
      expect(b.created_at).toBe(new Date(clock.start).toISOString());
      expect(b.expires_at).toBe(new Date(clock.start + DAY).toISOString());
      clock.advance(5 * 60_000);
      const mid = await c.messages.batches.retrieve(b.id);
      expect(mid.processing_status).toBe('in_progress');
      expect(mid.request_counts.processing).toBe(2);
      expect(mid.results_url).toBeNull();
      expectApiError(await raw(emu.url, 'GET', `/v1/messages/batches/${b.id}/results`), 400, 'invalid_request_error', /not finished/);
      expectApiError(await raw(emu.url, 'DELETE', `/v1/messages/batches/${b.id}`), 400, 'invalid_request_error', /cannot be deleted/);
      await expect(c.messages.batches.results(b.id)).rejects.toThrow(/No batch `results_url`/);
      clock.advance(5 * 60_000);
      const done = await c.messages.batches.retrieve(b.id);
      expectSpec('MessageBatch', done);
      expect(done.processing_status).toBe('ended');
      expect(done.ended_at).toBe(new Date(clock.start + 10 * 60_000).toISOString());
      expect(done.request_counts).toEqual({ processing: 0, succeeded: 2, errored: 0, canceled: 0, expired: 0 });
    } finally {
      await emu.close();
    }
  });

  it('cancel → canceling with cancel_initiated_at → ended; unprocessed requests canceled', async () => {
    const clock = fakeClock();
    const emu = await startEmulator({ now: clock.now, processingMs: HOUR, cancelingMs: 60_000 });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: Array.from({ length: 10 }, (_, i) => req(`r${i}`)) });
      clock.advance(HOUR / 2);
      const canceling = await c.messages.batches.cancel(b.id);
      expectSpec('MessageBatch', canceling);
      expect(canceling.processing_status).toBe('canceling');
      expect(canceling.cancel_initiated_at).toBe(new Date(clock.start + HOUR / 2).toISOString());
      expect(canceling.request_counts.processing).toBe(10);
      expect((await c.messages.batches.retrieve(b.id)).processing_status).toBe('canceling');
      expectApiError(await raw(emu.url, 'DELETE', `/v1/messages/batches/${b.id}`), 400, 'invalid_request_error');
      clock.advance(60_000);
      const ended = await c.messages.batches.retrieve(b.id);
      expect(ended.processing_status).toBe('ended');
      expect(ended.request_counts).toEqual({ processing: 0, succeeded: 5, errored: 0, canceled: 5, expired: 0 });
      const types: string[] = [];
      for await (const line of await c.messages.batches.results(b.id)) {
        expectSpec('MessageBatchIndividualResponse', line);
        types.push(line.result.type);
      }
      expect(types.filter((t) => t === 'canceled')).toHaveLength(5);
      // Cancel after the end is a no-op returning the ended batch.
      expect((await c.messages.batches.cancel(b.id)).processing_status).toBe('ended');
      await c.messages.batches.delete(b.id);
      await expect(c.messages.batches.delete(b.id)).rejects.toMatchObject({ status: 404 });
      await expect(c.messages.batches.cancel(b.id)).rejects.toMatchObject({ status: 404 });
    } finally {
      await emu.close();
    }
  });

  it('24 h expiry: a batch still processing ends at expires_at, unprocessed requests expired', async () => {
    const clock = fakeClock();
    const emu = await startEmulator({ now: clock.now, processingMs: 2 * DAY });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: Array.from({ length: 8 }, (_, i) => req(`r${i}`)) });
      clock.advance(DAY - 1);
      expect((await c.messages.batches.retrieve(b.id)).processing_status).toBe('in_progress');
      clock.advance(2);
      const ended = await c.messages.batches.retrieve(b.id);
      expect(ended.processing_status).toBe('ended');
      expect(ended.ended_at).toBe(ended.expires_at);
      expect(ended.request_counts).toEqual({ processing: 0, succeeded: 4, errored: 0, canceled: 0, expired: 4 });
      let expired = 0;
      for await (const line of await c.messages.batches.results(b.id)) if (line.result.type === 'expired') expired++;
      expect(expired).toBe(4);
    } finally {
      await emu.close();
    }
  });

  it('29-day archiving: archived_at set, results 404, batch still retrievable', async () => {
    const clock = fakeClock();
    const emu = await startEmulator({ now: clock.now });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: [req('a')] });
      clock.advance(29 * DAY - 1);
      expect((await c.messages.batches.retrieve(b.id)).archived_at).toBeNull();
      expect((await raw(emu.url, 'GET', `/v1/messages/batches/${b.id}/results`)).status).toBe(200);
      clock.advance(1);
      const archived = await c.messages.batches.retrieve(b.id);
      expectSpec('MessageBatch', archived);
      expect(archived.archived_at).toBe(new Date(clock.start + 29 * DAY).toISOString());
      expectApiError(await raw(emu.url, 'GET', `/v1/messages/batches/${b.id}/results`), 404, 'not_found_error', /archived/);
    } finally {
      await emu.close();
    }
  });

  it('processingMs 0 with the real clock: first retrieve after create sees ended', async () => {
    const emu = await startEmulator();
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: [req('a')] });
      expect(b.processing_status).toBe('in_progress');
      expect((await c.messages.batches.retrieve(b.id)).processing_status).toBe('ended');
    } finally {
      await emu.close();
    }
  });
});

// helper-77: `startEmulator({ processingMS: 5000, fault429: 1 })` ran with no processing time and no
// fault, silently: a test of a pipeline's fault handling passed while injecting nothing.
describe('startEmulator options', () => {
  it('an unknown option is refused, naming it and the closest known one; a bad value names its option', async () => {
    await expect(startEmulator({ processingMS: 5000 } as never)).rejects.toMatchObject({ code: 'BE_INVALID_OPTION', message: 'unknown option `processingMS` (did you mean `processingMs`?)' });
    await expect(startEmulator({ fault429: 1 } as never)).rejects.toMatchObject({ code: 'BE_INVALID_OPTION', message: expect.stringMatching(/^unknown option `fault429`/) });
    await expect(startEmulator({ faultRate429: 2 })).rejects.toMatchObject({ code: 'BE_INVALID_OPTION', message: expect.stringMatching(/^`faultRate429`: /) });
  });

  it('erroredType is one of the nine error types of the spec (helper-79 #10: any string was taken)', async () => {
    // [SPEC ErrorResponse.error: oneOf InvalidRequestError … OverloadedError, by their `type`]
    for (const erroredType of ['oops_error', 'request_too_large', 'conflict_error', 'Overloaded_error'])
      await expect(startEmulator({ erroredType }), erroredType).rejects.toMatchObject({
        code: 'BE_INVALID_OPTION',
        message: '`erroredType`: expected one of invalid_request_error, authentication_error, billing_error, permission_error, not_found_error, rate_limit_error, timeout_error, api_error, overloaded_error, got ' + JSON.stringify(erroredType),
      });
    const emu = await startEmulator({ erroredType: 'timeout_error' });
    await emu.close();
  });
});
