import { PassThrough } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import { expect } from 'vitest';
import type { CliIo } from '../../src/cli/io.ts';
import { validateAgainstSpec } from '../helpers/spec.ts';

export const MODEL = 'claude-sonnet-4-6';

export function client(url: string, extra: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}): Anthropic {
  return new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0, ...extra });
}

export function req(customId: string, content = `question ${customId}`, params: Record<string, unknown> = {}) {
  return { custom_id: customId, params: { model: MODEL, max_tokens: 1024, messages: [{ role: 'user' as const, content }], ...params } };
}

export function expectSpec(name: string, value: unknown): void {
  expect(validateAgainstSpec(name, value), `${name}: ${JSON.stringify(value).slice(0, 300)}`).toEqual([]);
}

/** Raw HTTP call with the headers the SDK would send (overridable). */
export async function raw(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string | undefined> = {},
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const h: Record<string, string> = {};
  const merged: Record<string, string | undefined> = {
    'x-api-key': 'test-key',
    'anthropic-version': '2023-06-01',
    'content-type': 'application/json',
    ...headers,
  };
  for (const [k, v] of Object.entries(merged)) if (v !== undefined) h[k] = v;
  const res = await fetch(`${url}${path}`, {
    method,
    headers: h,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Checks an error response: status, envelope shape (spec), type, and request-id header == body. */
export function expectApiError(r: { status: number; headers: Headers; json: any }, status: number, type: string, message?: RegExp) {
  expect(r.status).toBe(status);
  expect(r.json.type).toBe('error');
  expect(r.json.error.type).toBe(type);
  if (message) expect(r.json.error.message).toMatch(message);
  expect(r.json.request_id).toMatch(/^req_/);
  expect(r.headers.get('request-id')).toBe(r.json.request_id);
  if (type !== 'request_too_large') expectSpec('ErrorResponse', r.json);
}

/** Streams and an environment for running a command in process, with what it wrote. */
export function cliIo(env: Record<string, string> = {}): { io: CliIo; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d: Buffer) => (o += d.toString()));
  stderr.on('data', (d: Buffer) => (e += d.toString()));
  return { io: { stdin: new PassThrough(), stdout, stderr, env }, out: () => o, err: () => e };
}
