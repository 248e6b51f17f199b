/** streamingFetch: streamed request bodies through node:http, pulled only as fast as the server reads. */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { APIConnectionError } from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBatch, createClient } from '../../src/client/client.ts';
import { streamingFetch } from '../../src/client/fetch.ts';

const servers: Server[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function serve(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A body of `chunks` chunks of 1 MB, counting how many were pulled. */
function countedBody(chunks: number) {
  const state = { pulled: 0 };
  const chunk = new Uint8Array(1024 * 1024).fill(120);
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (state.pulled === chunks) return controller.close();
        state.pulled++;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 1 },
  );
  return { body, state };
}

describe('streamingFetch', () => {
  it('sends a streamed body and answers like fetch: status, headers and body', async () => {
    const url = await serve((req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json', 'x-seen': req.headers['x-test'] as string });
        res.end(JSON.stringify({ method: req.method, bytes }));
      });
    });
    const { body } = countedBody(3);
    const response = await streamingFetch(`${url}/v1/x`, { method: 'POST', body, headers: { 'x-test': 'yes' }, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(201);
    expect(response.headers.get('x-seen')).toBe('yes');
    expect(await response.json()).toEqual({ method: 'POST', bytes: 3 * 1024 * 1024 });
  });

  it('pulls the body only as fast as the server reads it', async () => {
    let request: IncomingMessage | undefined;
    const url = await serve((req, res) => {
      request = req;
      req.pause();
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => res.end(String(bytes)));
    });
    const { body, state } = countedBody(200);
    const answer = streamingFetch(url, { method: 'POST', body } as RequestInit);
    // Wait until the pulls stop: the socket's buffers are full and nothing reads them.
    let last = -1;
    while (state.pulled !== last || request === undefined) {
      last = state.pulled;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // A few MB sit in socket buffers; the other ~190 MB have not been read from the source at all.
    expect(state.pulled).toBeLessThan(20);
    request.resume();
    expect(await (await answer).text()).toBe(String(200 * 1024 * 1024));
    expect(state.pulled).toBe(200);
  });

  it('lets go of each chunk once it is sent, before the response comes (fetch keeps them all)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let answer: (() => void) | undefined;
    let received = 0;
    const url = await serve((req, res) => {
      req.on('data', (chunk: Buffer) => (received += chunk.length));
      req.on('end', () => (answer = () => res.end('done')));
    });
    const sent: WeakRef<Uint8Array>[] = [];
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (pulls++ === 50) return controller.close();
          const chunk = new Uint8Array(1024 * 1024).fill(pulls);
          sent.push(new WeakRef(chunk));
          controller.enqueue(chunk);
        },
      },
      { highWaterMark: 1 },
    );
    const response = streamingFetch(url, { method: 'POST', body } as RequestInit);
    while (answer === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(received).toBe(50 * 1024 * 1024);
    // Every byte is at the server, which has not answered yet: the request is still open.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const held = sent.filter((ref) => ref.deref() !== undefined).length;
    expect(held).toBeLessThanOrEqual(2);
    answer();
    expect(await (await response).text()).toBe('done');
  });

  it('leaves calls without a streamed body to the global fetch', async () => {
    const url = await serve((_req, res) => res.end('ok'));
    const spy = vi.spyOn(globalThis, 'fetch');
    expect(await (await streamingFetch(url, { method: 'POST', body: '{}' })).text()).toBe('ok');
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('is aborted by its signal', async () => {
    const url = await serve(() => {}); // never answers
    const controller = new AbortController();
    const answer = streamingFetch(url, { method: 'POST', body: countedBody(1).body, signal: controller.signal } as RequestInit);
    controller.abort();
    await expect(answer).rejects.toThrow(/abort/i);
  });

  it("is the SDK client's fetch: a create whose connection fails is an APIConnectionError (outcome unknown)", async () => {
    const url = await serve((req) => req.socket.destroy());
    const client = createClient({ apiKey: 'test-key', baseURL: url });
    await expect(createBatch(client, countedBody(2).body)).rejects.toBeInstanceOf(APIConnectionError);
  });
});
