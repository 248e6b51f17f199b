/**
 * A loopback HTTP proxy in front of the emulator that fails chosen calls the way production does:
 * a call refused before it reached the API (the batch was never made), a call whose answer was lost
 * after the API acted on it (the batch exists, the client got a 500), or a call held back. Every
 * other call is passed through unchanged. Closed after each test.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

export interface Call {
  method: string;
  /** Path and query, e.g. `/v1/messages/batches`. */
  path: string;
  /** How many calls with this method and path (less the query) came before this one. */
  n: number;
}

export type Action =
  | 'pass'
  /** Answered 500 without forwarding: the API never saw it. */
  | 'refuse'
  /** Forwarded, and the API's answer replaced by a 500: the API acted, the client cannot know. */
  | 'lose'
  /** Answered 429 `rate_limit_error` with `retry-after: 600` (ten minutes) without forwarding. */
  | 'rate-limit'
  /** Answered 404 `not_found_error` without forwarding. */
  | 'not-found'
  /** The connection is dropped without an answer (the API cannot be reached). */
  | 'drop'
  /** Never answered (a hung API): the request stays open until the test ends. */
  | 'hang'
  /** Forwarded, and only the first half of the answer's lines passed on, then a clean end (no length to check it by). */
  | 'truncate'
  /** Answered, without forwarding, with a list of no batches (a list that does not show a new batch yet). */
  | 'empty-list'
  /** Forwarded, and the answer broken off half way through its body (the connection reset). */
  | 'cut-body';

export type Rule = (call: Call) => Action | Promise<Action>;

let servers: Server[] = [];
afterEach(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  servers = [];
});

function error(status: number, type: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_proxy' });
}

/** Calls `then` with an answer's whole body, once it has all come. */
function whole(answer: IncomingMessage, then: (body: Buffer) => void): void {
  const parts: Buffer[] = [];
  answer.on('data', (c: Buffer) => parts.push(c));
  answer.on('end', () => then(Buffer.concat(parts)));
}

/** Starts the proxy; its URL goes where the emulator's would (`ANTHROPIC_BASE_URL`, `baseURL`). */
export async function faultProxy(target: string, rule: Rule, options: { results?: boolean } = {}): Promise<{ url: string; calls: Call[] }> {
  const upstream = new URL(target);
  const counts = new Map<string, number>();
  const calls: Call[] = [];
  let self = '';
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const id = `${req.method} ${path.split('?')[0]}`;
      const call: Call = { method: req.method ?? 'GET', path, n: counts.get(id) ?? 0 };
      counts.set(id, call.n + 1);
      calls.push(call);
      void Promise.resolve(rule(call)).then((action) => {
        if (action === 'refuse') return void res.writeHead(500, { 'content-type': 'application/json' }).end(error(500, 'api_error', 'Internal server error'));
        if (action === 'rate-limit') return void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '600' }).end(error(429, 'rate_limit_error', 'Rate limited'));
        if (action === 'drop') return void req.socket.destroy();
        if (action === 'hang') return;
        if (action === 'not-found') return void res.writeHead(404, { 'content-type': 'application/json' }).end(error(404, 'not_found_error', 'Not found'));
        if (action === 'empty-list') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [], has_more: false, first_id: null, last_id: null }));
        const headers = { ...req.headers, host: upstream.host };
        const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path, headers }, (answer) => {
          if (action === 'lose') {
            answer.resume();
            answer.on('end', () => res.writeHead(500, { 'content-type': 'application/json' }).end(error(500, 'api_error', 'Internal server error')));
            return;
          }
          if (action === 'cut-body') {
            whole(answer, (body) => {
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
            });
            return;
          }
          if (action === 'truncate' || (options.results && String(answer.headers['content-type']).includes('json'))) {
            whole(answer, (bytes) => {
              let body = bytes.toString('utf8');
              // `results`: the results URLs the API gives point at the proxy, so that downloads go through it too.
              if (options.results) body = body.replaceAll(upstream.origin, self);
              if (action === 'truncate') {
                const lines = body.split('\n').filter((line) => line !== '');
                body = `${lines.slice(0, Math.floor(lines.length / 2)).join('\n')}\n`;
              }
              const { 'content-length': _length, ...headers } = answer.headers;
              res.writeHead(answer.statusCode ?? 502, headers).end(body);
            });
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        forward.on('error', () => res.destroy());
        forward.end(Buffer.concat(chunks));
      });
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: self, calls };
}

/** A create (`POST /v1/messages/batches`). */
export const isCreate = (call: Call) => call.method === 'POST' && call.path.split('?')[0] === '/v1/messages/batches';
/** A results download (`GET /v1/messages/batches/{id}/results`), seen with `results: true`. */
export const isResults = (call: Call) => call.method === 'GET' && /^\/v1\/messages\/batches\/[^/?]+\/results$/.test(call.path.split('?')[0] ?? '');
/** A cancel (`POST /v1/messages/batches/{id}/cancel`). */
export const isCancel = (call: Call) => call.method === 'POST' && /^\/v1\/messages\/batches\/[^/?]+\/cancel$/.test(call.path.split('?')[0] ?? '');
/** A list of batches (`GET /v1/messages/batches`). */
export const isList = (call: Call) => call.method === 'GET' && call.path.split('?')[0] === '/v1/messages/batches';
/** A retrieve (`GET /v1/messages/batches/{id}`). */
export const isRetrieve = (call: Call) => call.method === 'GET' && /^\/v1\/messages\/batches\/[^/?]+$/.test(call.path.split('?')[0] ?? '');
