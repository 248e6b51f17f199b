/** Upstream mode, with a second emulator as the upstream Messages endpoint. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.ts';
import { client, expectSpec, req } from './helpers.ts';
import { makeForwarder } from '../../src/emulator/upstream.ts';
import { isUsageError } from '../../src/errors.ts';

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out');
}

describe('upstream', () => {
  it('forwards each request to POST {upstream}/v1/messages, bounded concurrency, service_tier batch', async () => {
    let inFlight = 0;
    let peak = 0;
    const up = await startEmulator({
      apiKey: 'up-key',
      seed: 11,
      responder: async ({ params }) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        const content = (params['messages'] as Array<{ content: string }>)[0]?.content ?? '';
        if (content === 'fail') return { error: { type: 'overloaded_error', message: 'upstream busy' } };
        return `upstream says ${content}`;
      },
    });
    const front = await startEmulator({ upstream: up.url, upstreamKey: 'up-key', upstreamConcurrency: 3 });
    try {
      const c = client(front.url);
      const requests = Array.from({ length: 12 }, (_, i) => req(`r${i}`, i === 4 ? 'fail' : `q${i}`));
      requests.push(req('bad', 'x', { max_tokens: 0 }));
      const b = await c.messages.batches.create({ requests });
      const ended = await until(() => c.messages.batches.retrieve(b.id), (v) => v.processing_status === 'ended');
      expect(ended.request_counts).toEqual({ processing: 0, succeeded: 11, errored: 2, canceled: 0, expired: 0 });
      expect(peak).toBeLessThanOrEqual(3);
      expect(up.stats.calls['messages.create']).toBe(12); // the invalid one is not forwarded
      expect(front.stats.upstreamCalls).toBe(12);
      const byId = new Map<string, any>();
      for await (const line of await c.messages.batches.results(b.id)) {
        expectSpec('MessageBatchIndividualResponse', line);
        byId.set(line.custom_id, line.result);
      }
      expect(byId.get('r1').message.content[0].text).toBe('upstream says q1');
      expect(byId.get('r1').message.usage.service_tier).toBe('batch');
      expect(byId.get('r4').error.error).toEqual({ type: 'overloaded_error', message: 'upstream busy' });
      expect(byId.get('bad').error.error.type).toBe('invalid_request_error');
    } finally {
      await front.close();
      await up.close();
    }
  });

  it("forwards the caller's key when no upstream key is set (wrong key → errored authentication_error)", async () => {
    const up = await startEmulator({ apiKey: 'secret' });
    const front = await startEmulator({ upstream: up.url });
    try {
      const good = client(front.url, { apiKey: 'secret' });
      const b1 = await good.messages.batches.create({ requests: [req('a')] });
      const e1 = await until(() => good.messages.batches.retrieve(b1.id), (v) => v.processing_status === 'ended');
      expect(e1.request_counts.succeeded).toBe(1);
      const bad = client(front.url, { apiKey: 'other' });
      const b2 = await bad.messages.batches.create({ requests: [req('a')] });
      const e2 = await until(() => bad.messages.batches.retrieve(b2.id), (v) => v.processing_status === 'ended');
      expect(e2.request_counts.errored).toBe(1);
      for await (const line of await bad.messages.batches.results(b2.id))
        expect(line.result.type === 'errored' && line.result.error.error.type).toBe('authentication_error');
    } finally {
      await front.close();
      await up.close();
    }
  });

  it('cancel during upstream processing: unsent requests canceled once in-flight ones settle', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const up = await startEmulator({ responder: async () => (await gate, 'done') });
    const front = await startEmulator({ upstream: up.url, upstreamConcurrency: 2 });
    try {
      const c = client(front.url);
      const b = await c.messages.batches.create({ requests: Array.from({ length: 6 }, (_, i) => req(`r${i}`)) });
      await until(() => Promise.resolve(up.stats.calls['messages.create']), (n) => n === 2);
      expect((await c.messages.batches.retrieve(b.id)).processing_status).toBe('in_progress');
      expect((await c.messages.batches.cancel(b.id)).processing_status).toBe('canceling');
      release();
      const ended = await until(() => c.messages.batches.retrieve(b.id), (v) => v.processing_status === 'ended');
      expect(ended.request_counts).toEqual({ processing: 0, succeeded: 2, errored: 0, canceled: 4, expired: 0 });
    } finally {
      await front.close();
      await up.close();
    }
  });

  it('a model only the upstream knows (a local model server) is forwarded, not refused as unknown', async () => {
    // A minimal Anthropic-compatible Messages endpoint, as llama.cpp or Ollama serve one.
    const local = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const params = JSON.parse(body) as { model: string };
        const usage = { input_tokens: 3, output_tokens: 2, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation: null, server_tool_use: null, service_tier: 'standard', inference_geo: null, output_tokens_details: null };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'msg_local', type: 'message', role: 'assistant', model: params.model, content: [{ type: 'text', text: 'local says hi', citations: null }], stop_reason: 'end_turn', stop_sequence: null, stop_details: null, container: null, usage }));
      });
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    const front = await startEmulator({ upstream: `http://127.0.0.1:${(local.address() as AddressInfo).port}` });
    try {
      const c = client(front.url);
      expect((await c.models.retrieve('local-llama')).max_tokens).toBeNull();
      const b = await c.messages.batches.create({ requests: [req('a', 'hi', { model: 'local-llama', max_tokens: 500_000 })] });
      const ended = await until(() => c.messages.batches.retrieve(b.id), (v) => v.processing_status === 'ended');
      expect(ended.request_counts.succeeded).toBe(1);
      expect(front.stats.upstreamCalls).toBe(1);
    } finally {
      await front.close();
      await new Promise((r) => local.close(r));
    }
  });
});

// helper-87 #2: an upstream key with a line break in it failed every request, and the HTTP layer's
// error, which quotes the header whole, went into each errored result: into the callers' _error, their
// --errors files and their ledgers.
describe('an upstream key no header can carry', () => {
  const SECRET = 'sk-ant-UPSTREAMSECRET99';
  it('is refused when the emulator starts, saying where, not what', async () => {
    let error: unknown;
    try {
      await startEmulator({ upstream: 'http://127.0.0.1:9', upstreamKey: `${SECRET}\nsecondline` });
    } catch (thrown) {
      error = thrown;
    }
    expect(isUsageError(error), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/^`upstreamKey` \(BATCH_ENRICH_UPSTREAM_KEY\) holds a line break \(at character 24 of 34\)/);
    expect((error as Error).message).not.toContain('SECRET');
  });

  it('a failure of the call itself never carries the key into the result', async () => {
    const forward = makeForwarder({ url: 'http://upstream.example', key: `${SECRET}-and-the-rest`, fetch: () => Promise.reject(new TypeError(`Headers.append: "${SECRET}-and-the-rest" is an invalid header value.`)) });
    const failed = await forward({ model: 'm' }, { apiKey: undefined, version: '2026-10-21' }).then(
      () => '',
      (thrown: Error) => thrown.message,
    );
    expect(failed).toBe('Headers.append: "[the upstream key]" is an invalid header value.');
  });
});
