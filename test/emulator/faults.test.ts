/** Every fault flag, with its effect. The SDK runs with maxRetries: 0 unless retries are the point. */
import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.ts';
import { client, expectApiError, raw, req } from './helpers.ts';

describe('faults on demand', () => {
  it('faultRate429: control calls answered 429 rate_limit_error with retry-after', async () => {
    const emu = await startEmulator({ faultRate429: 1, retryAfterSeconds: 7 });
    try {
      const r = await raw(emu.url, 'GET', '/v1/messages/batches');
      expectApiError(r, 429, 'rate_limit_error');
      expect(r.headers.get('retry-after')).toBe('7');
      await expect(client(emu.url).messages.batches.list()).rejects.toMatchObject({ status: 429 });
      // Not a control call: /v1/messages is unaffected.
      expect((await raw(emu.url, 'POST', '/v1/messages', { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
      expect(emu.stats.faults['429']).toBe(2);
    } finally {
      await emu.close();
    }
  });

  it('faultRate500 and faultRate529; the SDK retries them by itself (counted)', async () => {
    const e500 = await startEmulator({ faultRate500: 1 });
    const e529 = await startEmulator({ faultRate529: 1, retryAfterSeconds: 0.001 });
    try {
      expectApiError(await raw(e500.url, 'GET', '/v1/messages/batches'), 500, 'api_error');
      expectApiError(await raw(e529.url, 'POST', '/v1/messages/batches', { requests: [req('a')] }), 529, 'overloaded_error');
      await expect(client(e529.url, { maxRetries: 2 }).messages.batches.list()).rejects.toMatchObject({ status: 529 });
      expect(e529.stats.calls['batches.list']).toBe(3); // 1 + 2 SDK retries
    } finally {
      await e500.close();
      await e529.close();
    }
  });

  it('partial fault rate: deterministic from the seed, SDK with retries eventually succeeds', async () => {
    const run = async () => {
      const emu = await startEmulator({ faultRate429: 0.5, seed: 5 });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await raw(emu.url, 'GET', '/v1/messages/batches')).status);
      await emu.close();
      return statuses;
    };
    const a = await run();
    expect(a).toEqual(await run());
    expect(a.filter((s) => s === 429).length).toBeGreaterThan(3);
    expect(a.filter((s) => s === 200).length).toBeGreaterThan(3);
  });

  it('erroredRate / erroredType: share of results errored with that type', async () => {
    const emu = await startEmulator({ erroredRate: 0.5, erroredType: 'api_error' });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: Array.from({ length: 100 }, (_, i) => req(`r${i}`)) });
      const done = await c.messages.batches.retrieve(b.id);
      expect(done.request_counts.errored).toBeGreaterThan(30);
      expect(done.request_counts.errored).toBeLessThan(70);
      let errored = 0;
      for await (const line of await c.messages.batches.results(b.id))
        if (line.result.type === 'errored') {
          expect(line.result.error.error.type).toBe('api_error');
          errored++;
        }
      expect(errored).toBe(done.request_counts.errored);
    } finally {
      await emu.close();
    }
    const dflt = await startEmulator({ erroredRate: 1 });
    try {
      const b = await raw(dflt.url, 'POST', '/v1/messages/batches', { requests: [req('a')] });
      const line = JSON.parse((await raw(dflt.url, 'GET', `/v1/messages/batches/${b.json.id}/results`)).text);
      expect(line.result.error.error.type).toBe('overloaded_error');
    } finally {
      await dflt.close();
    }
  });

  it('expiredRate: share of results expired', async () => {
    const emu = await startEmulator({ expiredRate: 1 });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: [req('a'), req('b')] });
      expect((await c.messages.batches.retrieve(b.id)).request_counts).toMatchObject({ expired: 2, succeeded: 0 });
    } finally {
      await emu.close();
    }
  });

  it('lostMessageRate: a /v1/messages answer, made (and billed), broken off half way', async () => {
    const emu = await startEmulator({ lostMessageRate: 0.5, seed: 3 });
    try {
      const c = client(emu.url);
      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => c.messages.create({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })));
      const lost = outcomes.filter((o) => o.status === 'rejected');
      expect(lost.length).toBe(emu.stats.faults.lostMessage);
      expect(lost.length).toBeGreaterThan(0);
      expect(lost.length).toBeLessThan(20);
      // Not an answer the API gave: the connection broke (no status), as in production.
      for (const o of lost) expect((o as PromiseRejectedResult).reason).not.toHaveProperty('status', expect.any(Number));
      expect(emu.stats.calls['messages.create']).toBe(20);
    } finally {
      await emu.close();
    }
  });

  it('cutResultsRate: the download stops half way with a broken connection', async () => {
    const emu = await startEmulator({ cutResultsRate: 1 });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: Array.from({ length: 2000 }, (_, i) => req(`r${i}`)) });
      await c.messages.batches.retrieve(b.id);
      let seen = 0;
      await expect(
        (async () => {
          for await (const _line of await c.messages.batches.results(b.id)) seen++;
        })(),
      ).rejects.toThrow();
      expect(seen).toBeGreaterThan(0);
      expect(seen).toBeLessThanOrEqual(1000);
      expect(emu.stats.faults.cutResults).toBe(1);
    } finally {
      await emu.close();
    }
  });

  it('transient404: the first retrieve after create is a 404, and the first results download after the end; the next ones work', async () => {
    const emu = await startEmulator({ transient404: true });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: [req('a')] });
      await expect(c.messages.batches.retrieve(b.id)).rejects.toMatchObject({ status: 404 });
      expect((await c.messages.batches.retrieve(b.id)).processing_status).toBe('ended');
      // helper-61: and the first results download just after the end [DOC §2.2: "results can 404 just after `ended`"].
      await expect(c.messages.batches.results(b.id)).rejects.toMatchObject({ status: 404 });
      const lines = [];
      for await (const line of await c.messages.batches.results(b.id)) lines.push(line.custom_id);
      expect(lines).toEqual(['a']);
      expect(emu.stats.faults.transient404).toBe(2);
    } finally {
      await emu.close();
    }
  });

  it('processingMs per batch (real clock, milliseconds)', async () => {
    const emu = await startEmulator({ processingMs: 150 });
    try {
      const c = client(emu.url);
      const b = await c.messages.batches.create({ requests: [req('a')] });
      expect((await c.messages.batches.retrieve(b.id)).processing_status).toBe('in_progress');
      await new Promise((r) => setTimeout(r, 200));
      expect((await c.messages.batches.retrieve(b.id)).processing_status).toBe('ended');
    } finally {
      await emu.close();
    }
  });

  it('rejects bad options with the usage error naming the option', async () => {
    await expect(startEmulator({ faultRate429: 2 })).rejects.toThrow(/faultRate429/);
    await expect(startEmulator({ faultRate429: 0.6, faultRate500: 0.6 })).rejects.toThrow(/at most 1/);
  });
});
