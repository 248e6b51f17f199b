/** The emulator as a server someone else can reach: keys, loopback, per-key batches, the upstream key. */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { emulatorCommand, parseEmulatorArgs } from '../../src/cli/emulator.ts';
import { startEmulator } from '../../src/emulator/index.ts';
import { client, expectApiError, cliIo as io, raw, req } from './helpers.ts';

describe('API keys', () => {
  it('apiKeys accepts only those keys (x-api-key or Bearer)', async () => {
    const emu = await startEmulator({ apiKeys: ['key-a', 'key-b'] });
    try {
      expectApiError(await raw(emu.url, 'GET', '/v1/messages/batches', undefined, { 'x-api-key': 'key-c' }), 401, 'authentication_error');
      expect((await raw(emu.url, 'GET', '/v1/messages/batches', undefined, { 'x-api-key': 'key-a' })).status).toBe(200);
      expect((await raw(emu.url, 'GET', '/v1/messages/batches', undefined, { 'x-api-key': undefined, authorization: 'Bearer key-b' })).status).toBe(200);
    } finally {
      await emu.close();
    }
  });

  it('refuses to listen beyond loopback without a key', async () => {
    await expect(startEmulator({ host: '0.0.0.0' })).rejects.toThrow(/beyond loopback.*apiKeys/);
    await expect(startEmulator({ host: '::' })).rejects.toThrow(/beyond loopback/);
    const emu = await startEmulator({ host: '0.0.0.0', apiKeys: ['k'] });
    await emu.close();
    const local = await startEmulator({ host: 'localhost' });
    await local.close();
  });

  it('refuses to forward callers\' own (emulator) keys upstream: a served emulator needs an upstream key', async () => {
    await expect(startEmulator({ apiKeys: ['k'], upstream: 'http://127.0.0.1:9' })).rejects.toThrow(/upstreamKey/);
  });
});

/** A GET with the Host header given (fetch() does not let one set it), the body as JSON. */
function getWithHost(url: string, path: string, host: string | undefined, key: string): Promise<any> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'x-api-key': key, 'anthropic-version': '2023-06-01' };
    if (host !== undefined) headers['host'] = host;
    const r = request({ hostname, port, path, method: 'GET', headers, setHost: host === undefined }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    r.on('error', reject);
    r.end();
  });
}

// helper-92 #8 [DOC §1.3: "results_url must be an absolute URL that points back at the emulator itself"; the SDK GETs it
// as an absolute URL]: bound to a wildcard address, the emulator's own address (0.0.0.0) is not one a client can reach.
describe('results_url points back at the emulator as the client reached it', () => {
  it('bound to 0.0.0.0, results_url is built from the Host header (an unusable one falls back); on loopback, from the bound address', async () => {
    const emu = await startEmulator({ host: '0.0.0.0', apiKeys: ['k'], processingMs: 0 });
    try {
      const reach = `http://127.0.0.1:${emu.port}`;
      const b = await client(reach, { apiKey: 'k' }).messages.batches.create({ requests: [req('a')] as never });
      const path = `/v1/messages/batches/${b.id}`;
      const viaName = await getWithHost(reach, path, `emu.example.test:${emu.port}`, 'k');
      expect(viaName.results_url).toBe(`http://emu.example.test:${emu.port}${path}/results`);
      const viaIp = await getWithHost(reach, path, `[::1]:${emu.port}`, 'k');
      expect(viaIp.results_url).toBe(`http://[::1]:${emu.port}${path}/results`);
      // The list and what the SDK fetches: results reached at the address the client used.
      const listed = await getWithHost(reach, '/v1/messages/batches', `10.1.2.3:${emu.port}`, 'k');
      expect(listed.data[0].results_url).toBe(`http://10.1.2.3:${emu.port}${path}/results`);
      const lines = [];
      for await (const line of await client(reach, { apiKey: 'k' }).messages.batches.results(b.id)) lines.push(line);
      expect(lines).toHaveLength(1);
      // A Host that is no host[:port] is not echoed into a URL: the bound address, as before.
      const odd = await getWithHost(reach, path, 'evil.test/path?x=', 'k');
      expect(odd.results_url).toBe(`http://0.0.0.0:${emu.port}${path}/results`);
    } finally {
      await emu.close();
    }
    const local = await startEmulator({ processingMs: 0 });
    try {
      const b = await client(local.url).messages.batches.create({ requests: [req('a')] as never });
      const viaName = await getWithHost(local.url, `/v1/messages/batches/${b.id}`, 'elsewhere.test', 'test-key');
      expect(viaName.results_url).toBe(`${local.url}/v1/messages/batches/${b.id}/results`);
    } finally {
      await local.close();
    }
  });
});

describe('each key sees only its own batches', () => {
  it('another key can neither list, read, cancel, download nor delete them', async () => {
    const emu = await startEmulator({ apiKeys: ['owner', 'stranger'], processingMs: 1_000_000 });
    try {
      const mine = client(emu.url, { apiKey: 'owner' });
      const theirs = client(emu.url, { apiKey: 'stranger' });
      const b = await mine.messages.batches.create({ requests: [req('a')] });
      expect((await mine.messages.batches.list()).data.map((x) => x.id)).toEqual([b.id]);
      expect((await theirs.messages.batches.list()).data).toEqual([]);
      await expect(theirs.messages.batches.retrieve(b.id)).rejects.toMatchObject({ status: 404 });
      await expect(theirs.messages.batches.cancel(b.id)).rejects.toMatchObject({ status: 404 });
      await expect(theirs.messages.batches.delete(b.id)).rejects.toMatchObject({ status: 404 });
      expectApiError(await raw(emu.url, 'GET', `/v1/messages/batches/${b.id}/results`, undefined, { 'x-api-key': 'stranger' }), 404, 'not_found_error');
      expectApiError(await raw(emu.url, 'GET', `/v1/messages/batches?after_id=${b.id}`, undefined, { 'x-api-key': 'stranger' }), 400, 'invalid_request_error');
      expect((await mine.messages.batches.retrieve(b.id)).processing_status).toBe('in_progress');
    } finally {
      await emu.close();
    }
  });
});

describe('emulator CLI flags', () => {
  it('--api-key is repeatable, and the environment adds keys without showing them in ps', () => {
    expect(parseEmulatorArgs(['--api-key', 'a', '--api-key', 'b']).options.apiKeys).toEqual(['a', 'b']);
    expect(parseEmulatorArgs([], { BATCH_ENRICH_EMULATOR_API_KEYS: 'x, y' }).options.apiKeys).toEqual(['x', 'y']);
    expect(parseEmulatorArgs(['--api-key', 'a'], { BATCH_ENRICH_EMULATOR_API_KEYS: 'x' }).options.apiKeys).toEqual(['a', 'x']);
  });

  it('the upstream key comes from BATCH_ENRICH_UPSTREAM_KEY; --upstream-key is refused (it would show in ps)', async () => {
    expect(parseEmulatorArgs(['--upstream', 'http://127.0.0.1:9'], { BATCH_ENRICH_UPSTREAM_KEY: 'up' }).options.upstreamKey).toBe('up');
    const h = io();
    expect(await emulatorCommand(['--upstream', 'http://127.0.0.1:9', '--upstream-key', 'sk-live-1'], h.io, Promise.resolve())).toBe(2);
    expect(h.err()).toMatch(/BATCH_ENRICH_UPSTREAM_KEY/);
    expect(h.err()).not.toContain('sk-live-1');
  });

  it('--host 0.0.0.0 without a key is a usage error', async () => {
    const h = io();
    expect(await emulatorCommand(['--host', '0.0.0.0'], h.io, Promise.resolve())).toBe(2);
    expect(h.err()).toMatch(/--api-key|BATCH_ENRICH_EMULATOR_API_KEYS/);
  });

  it.skipIf(!existsSync('dist/cli/main.js'))('spawned with keys from the environment: only those keys get in', async () => {
    const child = spawn(process.execPath, ['dist/cli/main.js', 'emulator', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BATCH_ENRICH_EMULATOR_API_KEYS: 'env-key' },
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
      });
      expect((await raw(url, 'GET', '/v1/messages/batches', undefined, { 'x-api-key': 'env-key' })).status).toBe(200);
      expect((await raw(url, 'GET', '/v1/messages/batches', undefined, { 'x-api-key': 'other' })).status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
