/**
 * The HTTP adapter: routing, auth/version checks, body reading with a byte limit, fault injection,
 * the error envelope, and results streaming with backpressure. All decisions about batches live in
 * batch.ts / answer.ts / validate.ts; this file only translates HTTP to calls and back.
 * Rejected alternative: a framework (express/fastify): one more dependency for seven routes, and it
 * would hide exactly the wire details (headers, streaming, early 413) the emulator exists to show.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, errorEnvelope, statusForType } from './api-error.ts';
import { buildMessage, checkedResponderResult, countInputTokens, promptTokens } from './answer.ts';
import type { ForwardAuth, Forwarder } from './batch.ts';
import { BatchStore } from './batch.ts';
import type { ResolvedOptions } from './options.ts';
import { hash53, IdGenerator, unitHash } from './random.ts';
import { listModels, retrieveModel } from './models.ts';
import { parseLimit } from './query.ts';
import { RateWindow } from './ratelimit.ts';
import { makeForwarder } from './upstream.ts';
import { checkParams } from './params.ts';
import { EMULATOR_HEADER, LIST_IMMEDIATE } from '../core/emulator-header.ts';
import { FileStore, type FilesRoute } from './files.ts';
import { checkDocuments } from './documents.ts';
import {
  SUPPORTED_VERSIONS,
  validateCountTokensParams,
  validateCreateBody,
  validateMessageParams,
} from './validate.ts';

export type RouteName =
  | 'batches.create'
  | 'batches.list'
  | 'batches.retrieve'
  | 'batches.cancel'
  | 'batches.delete'
  | 'batches.results'
  | 'messages.create'
  | 'messages.count_tokens'
  | 'models.list'
  | 'models.retrieve'
  | FilesRoute
  | 'not_found';

const CONTROL_ROUTES: ReadonlySet<RouteName> = new Set([
  'batches.create',
  'batches.list',
  'batches.retrieve',
  'batches.cancel',
  'batches.delete',
  'batches.results',
]);

/** Counters for tests. */
export interface EmulatorStats {
  /** HTTP calls per route (including those answered with an error or an injected fault). */
  calls: Record<RouteName, number>;
  /** Injected faults by kind. */
  faults: { '429': number; '500': number; '529': number; transient404: number; cutResults: number; lostCreate: number; lostMessage: number };
  /** Requests in successfully created batches (sum over batches). */
  requestsSubmitted: number;
  /** Requests forwarded to the upstream. */
  upstreamCalls: number;
}

export interface RunningServer {
  server: Server;
  url: string;
  port: number;
  host: string;
  stats: EmulatorStats;
  submitted: Map<string, number>;
  store: BatchStore;
  files: FileStore;
  close(): Promise<void>;
}

/** A `Host` header that is a host name, IPv4 or bracketed IPv6 address, with an optional port: nothing else is put in a URL. */
const HOST_HEADER = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

interface Route {
  name: RouteName;
  batchId?: string;
  modelId?: string;
}

function matchRoute(method: string, path: string): Route {
  if (path === '/v1/messages/batches') {
    if (method === 'POST') return { name: 'batches.create' };
    if (method === 'GET') return { name: 'batches.list' };
  } else if (path === '/v1/messages' && method === 'POST') return { name: 'messages.create' };
  else if (path === '/v1/messages/count_tokens' && method === 'POST') return { name: 'messages.count_tokens' };
  else if (path === '/v1/models' && method === 'GET') return { name: 'models.list' };
  else if (path.startsWith('/v1/models/') && method === 'GET') return { name: 'models.retrieve', modelId: decodeURIComponent(path.slice('/v1/models/'.length)) };
  else {
    const m = /^\/v1\/messages\/batches\/([^/]+)(\/cancel|\/results)?$/.exec(path);
    if (m) {
      const batchId = decodeURIComponent(m[1] as string);
      if (m[2] === '/cancel' && method === 'POST') return { name: 'batches.cancel', batchId };
      if (m[2] === '/results' && method === 'GET') return { name: 'batches.results', batchId };
      if (m[2] === undefined && method === 'GET') return { name: 'batches.retrieve', batchId };
      if (m[2] === undefined && method === 'DELETE') return { name: 'batches.delete', batchId };
    }
  }
  return { name: 'not_found' };
}

/** Reads the body, counting bytes as they arrive; over `max` it stops buffering and throws 413. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const tooLarge = () => new ApiError(413, 'request_too_large', `Request exceeds the maximum allowed number of bytes (${max})`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        req.off('end', onEnd);
        chunks.length = 0;
        req.resume(); // discard the rest; the 413 is answered right away with `connection: close`
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(Buffer.concat(chunks, size));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const buf = await readBody(req, max);
  const text = buf.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ApiError(400, 'invalid_request_error', `The request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const lone = loneSurrogateEscape(text);
  if (lone) throw new ApiError(400, 'invalid_request_error', `The request body is not valid JSON: ${lone.problem}: line 1 column ${lone.at + 1} (char ${lone.at})`);
  return body;
}

/**
 * The first `\uXXXX` escape of half a surrogate pair without its other half, in JSON that parsed: the
 * API's parser (orjson, yyjson's wording) refuses one, where JSON.parse takes it. JSON.stringify writes
 * half an emoji so (`'😀'.slice(0, 1)`), and in a batch the 400 refuses every request of it (helper-95).
 * Escapes are read in order, so an escaped backslash before `u` (`\\ud83d`) is text.
 */
function loneSurrogateEscape(text: string): { problem: string; at: number } | undefined {
  if (!text.includes('\\ud') && !text.includes('\\uD')) return undefined;
  const escapes = /\\(?:u([0-9a-fA-F]{4})|[^u])/g;
  let high: number | undefined; // where a high half's escape starts, while its low half is due next
  for (let m = escapes.exec(text); m; m = escapes.exec(text)) {
    const unit = m[1] === undefined ? undefined : Number.parseInt(m[1], 16);
    const isLow = unit !== undefined && unit >= 0xdc00 && unit <= 0xdfff;
    if (high !== undefined) {
      if (m.index !== high + 6) return { problem: 'no low surrogate in string', at: high + 6 };
      if (!isLow) return { problem: 'invalid low surrogate in string', at: m.index };
      high = undefined;
      continue;
    }
    if (isLow) return { problem: 'invalid high surrogate in string', at: m.index };
    if (unit !== undefined && unit >= 0xd800 && unit <= 0xdbff) high = m.index;
  }
  return high === undefined ? undefined : { problem: 'no low surrogate in string', at: high + 6 };
}

/**
 * The key a call is made with: `x-api-key` (SDK 0.x) or `Authorization: Bearer` (SDK 1.x) [DOC §1.1].
 * Both at once is a 401: "sending both an API key and an auth token gets a 401" [DOC §1.1, from
 * anthropics/skills error-codes.md; wording ours] (helper-61: the x-api-key one was taken).
 */
function apiKeyOf(req: IncomingMessage): string | undefined {
  const x = req.headers['x-api-key'];
  const key = typeof x === 'string' && x.trim() !== '' ? x.trim() : undefined;
  const auth = req.headers.authorization;
  const bearer = typeof auth === 'string' ? /^Bearer\s+(.+)$/i.exec(auth.trim())?.[1]?.trim() || undefined : undefined;
  if (key !== undefined && typeof auth === 'string' && auth.trim() !== '') {
    throw new ApiError(401, 'authentication_error', 'both x-api-key and Authorization were sent: send the API key in one of them');
  }
  return key ?? bearer;
}

/** The owner of a key's batches: a digest, so that no key is kept in memory longer than a request. */
function ownerOf(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

/** The `anthropic-beta` header as a list (comma-separated, possibly repeated). */
function betasOf(req: IncomingMessage): string[] {
  const raw = req.headers['anthropic-beta'];
  const joined = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return joined
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

function emptyCalls(): Record<RouteName, number> {
  return {
    'batches.create': 0,
    'batches.list': 0,
    'batches.retrieve': 0,
    'batches.cancel': 0,
    'batches.delete': 0,
    'batches.results': 0,
    'messages.create': 0,
    'messages.count_tokens': 0,
    'models.list': 0,
    'models.retrieve': 0,
    'files.upload': 0,
    'files.list': 0,
    'files.retrieve': 0,
    'files.delete': 0,
    'files.content': 0,
    not_found: 0,
  };
}

/**
 * The emulator's state and its HTTP handling: one instance per server. Each route's work is a method
 * of its own, so that `handle` reads as the checks every call goes through, then the route.
 */
class Emulator {
  readonly opts: ResolvedOptions;
  readonly ids: IdGenerator;
  readonly reqIds: IdGenerator;
  readonly forwarder: Forwarder | undefined;
  readonly stats: EmulatorStats = {
    calls: emptyCalls(),
    faults: { '429': 0, '500': 0, '529': 0, transient404: 0, cutResults: 0, lostCreate: 0, lostMessage: 0 },
    requestsSubmitted: 0,
    upstreamCalls: 0,
  };
  /** The forwarder, counting what it forwards. */
  readonly countingForwarder: Forwarder | undefined;
  readonly files: FileStore;
  readonly store: BatchStore;
  readonly submitted = new Map<string, number>();
  readonly seenPrefixes = new Set<number>();
  controlCalls = 0;
  downloads = 0;
  lostCreates = 0;
  lostMessages = 0;
  messagesActive = 0;
  readonly rateWindow = new RateWindow();
  baseUrl = '';
  /** Whether the server is bound to a wildcard address (0.0.0.0, ::), which no client can reach by that name. */
  wildcard = false;

  /**
   * The base of the `results_url`s a call is answered with: it "must be an absolute URL that points back at the
   * emulator itself" [DOC §1.3], which the SDK GETs as given. Bound to a wildcard address, the bound address
   * (http://0.0.0.0:PORT) reaches nothing from another machine or a container, so it is the call's `Host` (the
   * name and port the client reached the emulator by), when that is a plain host[:port]; otherwise, and on
   * loopback or a named interface, the bound address (helper-92 #8). A caller's Host shapes only its own answer.
   */
  publicBase(req: IncomingMessage): string {
    const host = req.headers.host;
    if (this.wildcard && typeof host === 'string' && HOST_HEADER.test(host)) return `http://${host}`;
    return this.baseUrl;
  }

  constructor(opts: ResolvedOptions) {
    this.opts = opts;
    this.ids = new IdGenerator(opts.seed, opts.idSalt);
    this.reqIds = new IdGenerator(opts.seed + 1, opts.idSalt);
    const forwarder = opts.upstream ? makeForwarder({ url: opts.upstream, key: opts.upstreamKey }) : undefined;
    this.forwarder = forwarder;
    this.countingForwarder = forwarder
      ? (params, auth) => {
          this.stats.upstreamCalls++;
          return forwarder(params, auth);
        }
      : undefined;
    this.files = new FileStore({ seed: opts.seed, idSalt: opts.idSalt, now: opts.now, quotaBytes: opts.filesQuotaBytes, latencyMs: opts.uploadLatencyMs, faultRate: opts.uploadFaultRate });
    this.store = new BatchStore({
      files: this.files,
      seed: opts.seed,
      idSalt: opts.idSalt,
      now: opts.now,
      processingMs: opts.processingMs,
      cancelingMs: opts.cancelingMs,
      erroredRate: opts.erroredRate,
      erroredType: opts.erroredType,
      expiredRate: opts.expiredRate,
      responder: opts.responder,
      forward: this.countingForwarder,
      upstreamConcurrency: opts.upstreamConcurrency,
    });
  }

  sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  sendError(res: ServerResponse, requestId: string, error: ApiError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { ...error.headers };
    if (error.status === 413) headers['connection'] = 'close';
    this.sendJson(res, error.status, errorEnvelope(error.type, error.message, requestId), headers);
  }

  injectFault(): ApiError | undefined {
    const { opts, stats } = this;
    const total = opts.faultRate429 + opts.faultRate500 + opts.faultRate529;
    if (total <= 0) return undefined;
    const u = unitHash(opts.seed, 'fault', this.controlCalls++);
    if (u < opts.faultRate429) {
      stats.faults['429']++;
      return new ApiError(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit (injected fault)', {
        'retry-after': String(opts.retryAfterSeconds),
      });
    }
    if (u < opts.faultRate429 + opts.faultRate500) {
      stats.faults['500']++;
      return new ApiError(500, 'api_error', 'Internal server error (injected fault)', { 'retry-after': String(opts.retryAfterSeconds) });
    }
    if (u < total) {
      stats.faults['529']++;
      return new ApiError(529, 'overloaded_error', 'Overloaded (injected fault)', { 'retry-after': String(opts.retryAfterSeconds) });
    }
    return undefined;
  }

  async streamResults(res: ServerResponse, rec: ReturnType<BatchStore['get']>): Promise<void> {
    const { opts, stats, store } = this;
    const cut = opts.cutResultsRate > 0 && unitHash(opts.seed, 'cut', this.downloads++) < opts.cutResultsRate;
    const order = store.resultOrder(rec);
    const cutAt = cut ? Math.floor(order.length / 2) : -1;
    if (cut) stats.faults.cutResults++;
    res.writeHead(200, { 'content-type': 'application/x-jsonl' });
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    const waitDrain = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    const CORK_LINES = 256;
    res.cork();
    const pauseAt = opts.resultsPauseMs > 0 ? Math.floor(order.length / 2) : -1;
    for (let k = 0; k < order.length; k++) {
      if (closed) return;
      if (k === pauseAt) {
        // A slow download: the first half is out, the rest comes after a pause.
        res.uncork();
        await new Promise((resolve) => setTimeout(resolve, opts.resultsPauseMs));
        if (closed) return;
        res.cork();
      }
      if (k === cutAt) {
        res.uncork();
        // Let the first half reach the client, then kill the connection mid-body.
        setImmediate(() => res.socket?.destroy());
        return;
      }
      const ok = res.write(`${store.resultLine(rec, order[k] as number)}\n`);
      if (!ok) {
        res.uncork();
        await waitDrain();
        res.cork();
      } else if ((k + 1) % CORK_LINES === 0) {
        res.uncork();
        res.cork();
      }
    }
    res.uncork();
    res.end();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { opts, stats, store, files } = this;
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const filesRoute = FileStore.match(req.method ?? 'GET', path);
    const route: Route = filesRoute ?? matchRoute(req.method ?? 'GET', path);
    stats.calls[route.name]++;

    const apiKey = apiKeyOf(req);
    if (apiKey === undefined)
      throw new ApiError(401, 'authentication_error', 'x-api-key header is required (or Authorization: Bearer <key>)');
    if (opts.apiKeys.length > 0 && !opts.apiKeys.includes(apiKey)) throw new ApiError(401, 'authentication_error', 'invalid x-api-key');
    // With keys configured (a served emulator), batches belong to the key that created them, as to an
    // organisation on the real API; only a digest is kept. Without keys (loopback, tests), all are shared.
    const owner = opts.apiKeys.length > 0 ? ownerOf(apiKey) : undefined;
    const versionHeader = req.headers['anthropic-version'];
    const version = typeof versionHeader === 'string' ? versionHeader.trim() : '';
    if (version === '') throw new ApiError(400, 'invalid_request_error', 'anthropic-version: header is required');
    if (!SUPPORTED_VERSIONS.includes(version))
      throw new ApiError(400, 'invalid_request_error', `anthropic-version: '${version}' is not a valid version (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
    if (route.name === 'not_found') throw new ApiError(404, 'not_found_error', `Not found: ${req.method ?? ''} ${path}`);

    if (CONTROL_ROUTES.has(route.name)) {
      const fault = this.injectFault();
      if (fault) throw fault;
    }
    // [SPEC paths `…?beta=true`: the SDK's `client.beta` surface, whose bodies are the Beta* schemas]
    const auth: ForwardAuth = { apiKey, version, betas: betasOf(req), beta: url.searchParams.get('beta') === 'true' };

    if (filesRoute) {
      this.sendJson(res, 200, await files.handle(filesRoute, url, req.headers['content-type'], () => readBody(req, opts.maxBodyBytes)));
      return;
    }
    switch (route.name) {
      case 'batches.create': {
        const body = await readJson(req, opts.maxBodyBytes);
        const v = validateCreateBody(body, opts.maxRequests);
        if (!v.ok) throw new ApiError(400, 'invalid_request_error', v.message);
        const rec = store.create(v.value, version, auth, owner);
        stats.requestsSubmitted += v.value.length;
        for (const r of v.value) this.submitted.set(r.custom_id, (this.submitted.get(r.custom_id) ?? 0) + 1);
        if (opts.lostCreateRate > 0 && unitHash(opts.seed, 'lost-create', this.lostCreates++) < opts.lostCreateRate) {
          stats.faults.lostCreate++;
          throw new ApiError(500, 'api_error', 'Internal server error (injected fault: the batch was created, the answer lost)');
        }
        if (opts.createLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, opts.createLatencyMs));
        this.sendJson(res, 200, store.view(rec, this.publicBase(req), 'in_progress'));
        return;
      }
      case 'batches.list': {
        const q = url.searchParams;
        const page = store.list(owner, {
          limit: parseLimit(q.get('limit')),
          before_id: q.get('before_id') ?? undefined,
          after_id: q.get('after_id') ?? undefined,
        });
        const data = [];
        for (const rec of page.data) {
          await store.settle(rec);
          data.push(store.view(rec, this.publicBase(req)));
        }
        this.sendJson(res, 200, { data, has_more: page.has_more, first_id: page.first_id, last_id: page.last_id });
        return;
      }
      case 'batches.retrieve': {
        const rec = store.get(route.batchId as string, owner);
        if (opts.transient404 && rec.retrieves++ === 0) {
          stats.faults.transient404++;
          throw new ApiError(404, 'not_found_error', `Message Batch ${rec.id} not found (transient, injected)`);
        }
        await store.settle(rec);
        this.sendJson(res, 200, store.view(rec, this.publicBase(req)));
        return;
      }
      case 'batches.cancel': {
        const rec = store.get(route.batchId as string, owner);
        const status = store.cancel(rec);
        await store.settle(rec);
        this.sendJson(res, 200, store.view(rec, this.publicBase(req), status));
        return;
      }
      case 'batches.delete': {
        const rec = store.get(route.batchId as string, owner);
        store.delete(rec);
        this.sendJson(res, 200, { id: rec.id, type: 'message_batch_deleted' });
        return;
      }
      case 'batches.results': {
        const rec = store.get(route.batchId as string, owner);
        store.assertResultsAvailable(rec);
        // Results can 404 just after `ended`; retrying fixes it [DOC §2.2, §7.2] (helper-61: only the retrieve's was injected).
        if (opts.transient404 && rec.resultsFetches++ === 0) {
          stats.faults.transient404++;
          throw new ApiError(404, 'not_found_error', `Message Batch ${rec.id} results not found (transient, injected)`);
        }
        await store.settle(rec);
        await this.streamResults(res, rec);
        return;
      }
      case 'messages.create':
        await this.createMessage(req, res, version, auth);
        return;
      case 'models.list':
        this.sendJson(
          res,
          200,
          listModels(opts.now(), { limit: parseLimit(url.searchParams.get('limit')), before_id: url.searchParams.get('before_id') ?? undefined, after_id: url.searchParams.get('after_id') ?? undefined }),
        );
        return;
      case 'models.retrieve':
        this.sendJson(res, 200, retrieveModel(route.modelId as string, opts.now(), this.forwarder !== undefined));
        return;
      case 'messages.count_tokens':
        await this.countTokens(req, res, version, auth);
        return;
    }
  }

  /** `POST /v1/messages`: one message, answered now (rate-limited by concurrency when asked). */
  async createMessage(req: IncomingMessage, res: ServerResponse, version: string, auth: ForwardAuth): Promise<void> {
    const { opts, stats, files } = this;
    // A rate limit by concurrency, as a tier's limits feel to a client: past it, 429 with retry-after.
    if (opts.messagesConcurrency > 0 && this.messagesActive >= opts.messagesConcurrency) {
      stats.faults['429']++;
      throw new ApiError(429, 'rate_limit_error', `Too many concurrent requests (limit ${opts.messagesConcurrency})`, { 'retry-after': String(opts.retryAfterSeconds) });
    }
    this.messagesActive++;
    res.once('close', () => this.messagesActive--);
    if (opts.messagesLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, opts.messagesLatencyMs));
    const body = await readJson(req, opts.maxBodyBytes);
    const v = validateMessageParams(body);
    if (!v.ok) throw new ApiError(400, 'invalid_request_error', v.message);
    const params = v.value;
    const problem = checkParams(params, { context: 'messages', version, betas: auth.betas ?? [], beta: auth.beta ?? false, now: opts.now(), upstreamModels: this.forwarder !== undefined, files });
    if (problem !== undefined) throw new ApiError(statusForType(problem.type), problem.type, problem.message);
    const documents = checkDocuments(params, files);
    if (documents.problem !== undefined) throw new ApiError(400, 'invalid_request_error', documents.problem);
    if (this.countingForwarder) {
      const out = await this.countingForwarder(params, auth);
      if (!out.ok) throw new ApiError(statusForType(out.error.type), out.error.type, out.error.message);
      this.sendJson(res, 200, out.message);
      return;
    }
    const r = opts.responder ? checkedResponderResult(await opts.responder({ custom_id: null, params, documents: documents.documents })) : undefined;
    const { prefixKey } = promptTokens(params);
    let cacheUse: 'creation' | 'read' = 'read';
    if (prefixKey !== undefined) {
      const h = hash53(prefixKey);
      if (!this.seenPrefixes.has(h)) {
        this.seenPrefixes.add(h);
        cacheUse = 'creation';
      }
    }
    const id = this.ids.next('msg');
    const built = buildMessage({ params, seed: opts.seed, key: id, id, serviceTier: 'standard', cacheUse, responderResult: r });
    if (!built.ok) throw new ApiError(statusForType(built.error.type), built.error.type, built.error.message);
    // The rate-limit headers the API sends; with a concurrency limit, the requests ones describe it.
    const limits = this.rateWindow.record(opts.now(), built.message.usage.input_tokens, built.message.usage.output_tokens);
    if (opts.messagesConcurrency > 0) {
      limits['anthropic-ratelimit-requests-limit'] = String(opts.messagesConcurrency);
      limits['anthropic-ratelimit-requests-remaining'] = String(Math.max(0, opts.messagesConcurrency - this.messagesActive));
      limits['anthropic-ratelimit-requests-reset'] = new Date(opts.now() + 1000).toISOString();
    }
    if (opts.lostMessageRate > 0 && unitHash(opts.seed, 'lost-message', this.lostMessages++) < opts.lostMessageRate) {
      // Answered (billed, on the API), and the answer broken off half way: the connection reset.
      stats.faults.lostMessage++;
      const text = JSON.stringify(built.message);
      res.writeHead(200, { ...limits, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
      res.write(text.slice(0, Math.floor(text.length / 2)), () => res.destroy());
      return;
    }
    this.sendJson(res, 200, built.message, limits);
  }

  /** `POST /v1/messages/count_tokens`. */
  async countTokens(req: IncomingMessage, res: ServerResponse, version: string, auth: ForwardAuth): Promise<void> {
    const { opts, files } = this;
    const body = await readJson(req, opts.maxBodyBytes);
    const v = validateCountTokensParams(body);
    if (!v.ok) throw new ApiError(400, 'invalid_request_error', v.message);
    const problem = checkParams(v.value, { context: 'count_tokens', version, betas: auth.betas ?? [], beta: auth.beta ?? false, now: opts.now(), upstreamModels: this.forwarder !== undefined, files });
    if (problem !== undefined) throw new ApiError(statusForType(problem.type), problem.type, problem.message);
    const documents = checkDocuments(v.value, files);
    if (documents.problem !== undefined) throw new ApiError(400, 'invalid_request_error', documents.problem);
    this.sendJson(res, 200, { input_tokens: countInputTokens(v.value) + documents.tokens });
  }
}

export async function startServer(opts: ResolvedOptions): Promise<RunningServer> {
  const emulator = new Emulator(opts);
  const server = createServer((req, res) => {
    const requestId = emulator.reqIds.next('req');
    const started = Date.now();
    res.setHeader('request-id', requestId);
    // The API's clock, as every HTTP server gives it (RFC 9110 §6.6.1): the emulator's, which tests move.
    res.setHeader('date', new Date(opts.now()).toUTCString());
    // Not the API's: this is the emulator, whose list shows a batch as soon as it is made (see the header's module).
    res.setHeader(EMULATOR_HEADER, LIST_IMMEDIATE);
    if (opts.log) {
      const log = opts.log;
      res.on('close', () => {
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        log(`${req.method ?? '?'} ${path} ${res.statusCode}${res.writableFinished ? '' : ' (cut)'} ${Date.now() - started}ms ${requestId}`);
      });
    }
    emulator.handle(req, res).then(
      () => undefined,
      (error: unknown) => {
        const apiError =
          error instanceof ApiError
            ? error
            : new ApiError(500, 'api_error', `Internal emulator error: ${error instanceof Error ? error.message : String(error)}`);
        emulator.sendError(res, requestId, apiError);
      },
    );
  });
  // Keep-alive sockets must not hold close() up.
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostPart = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const url = `http://${hostPart}:${addr.port}`;
  emulator.baseUrl = url;
  emulator.wildcard = addr.address === '0.0.0.0' || addr.address === '::';

  return {
    server,
    url,
    port: addr.port,
    host: addr.address,
    stats: emulator.stats,
    submitted: emulator.submitted,
    store: emulator.store,
    files: emulator.files,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
