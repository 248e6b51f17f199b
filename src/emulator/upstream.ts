/**
 * Upstream mode: each batch request is forwarded to an Anthropic-compatible `POST {url}/v1/messages`
 * (another emulator, the real API, or a local model server), so any Messages endpoint becomes a
 * Message Batches backend. The caller's API key and `anthropic-version` are forwarded unless an
 * explicit `upstreamKey` is configured. An upstream HTTP error becomes an `errored` result carrying
 * the upstream's error type and message. Concurrency is bounded by the store's pump.
 */
import type { Message } from './answer.ts';
import { withoutSecret } from '../core/api-key.ts';
import { typeForStatus } from './api-error.ts';
import type { ForwardAuth, Forwarder, ForwardOutcome } from './batch.ts';

export interface UpstreamConfig {
  url: string;
  key: string | undefined;
  fetch?: typeof fetch;
}

export function makeForwarder(cfg: UpstreamConfig): Forwarder {
  const base = cfg.url.replace(/\/+$/, '');
  const doFetch = cfg.fetch ?? fetch;
  return async (params: Record<string, unknown>, auth: ForwardAuth): Promise<ForwardOutcome> => {
    const key = cfg.key ?? auth.apiKey;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
      'anthropic-version': auth.version,
    };
    if (key !== undefined) headers['x-api-key'] = key.trim();
    let res: Response;
    try {
      res = await doFetch(`${base}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(params) });
    } catch (error) {
      // What fetch says may quote a header whole, the key in it (helper-87): never into a result.
      throw new Error(withoutSecret(error instanceof Error ? error.message : String(error), key, '[the upstream key]'));
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const err = (body as { error?: { type?: unknown; message?: unknown } } | undefined)?.error;
      return {
        ok: false,
        error: {
          type: typeof err?.type === 'string' ? err.type : typeForStatus(res.status),
          message: typeof err?.message === 'string' ? err.message : `upstream answered HTTP ${res.status}`,
        },
      };
    }
    if (!body || typeof body !== 'object' || (body as { type?: unknown }).type !== 'message')
      return { ok: false, error: { type: 'api_error', message: 'upstream answered something that is not a Message' } };
    return { ok: true, message: body as Message };
  };
}
