/** `batch-enrich emulator`: flag parsing, in-process run, and the built bin spawned once. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { emulatorCommand, parseEmulatorArgs } from '../../src/cli/emulator.ts';
import { cliIo as io, raw } from './helpers.ts';

describe('emulator CLI', () => {
  it('parses every flag into options', () => {
    const { options, verbose } = parseEmulatorArgs([
      '--port', '0', '--host', '127.0.0.1', '--seed', '9', '--processing-ms', '500', '--upstream', 'http://127.0.0.1:9',
      '--api-key', 'a1', '--upstream-concurrency', '4', '--fault-429', '0.1', '--fault-500', '0.2', '--fault-529', '0.3',
      '--retry-after', '2', '--errored-rate', '0.05', '--errored-type', 'api_error', '--expired-rate', '0.01',
      '--cut-results-rate', '0.5', '--transient-404', '--verbose',
    ], { BATCH_ENRICH_UPSTREAM_KEY: 'k' });
    expect(verbose).toBe(true);
    expect(options).toEqual({
      port: 0, host: '127.0.0.1', seed: 9, processingMs: 500, upstream: 'http://127.0.0.1:9', upstreamKey: 'k', apiKeys: ['a1'],
      upstreamConcurrency: 4, faultRate429: 0.1, faultRate500: 0.2, faultRate529: 0.3, retryAfterSeconds: 2,
      erroredRate: 0.05, erroredType: 'api_error', expiredRate: 0.01, cutResultsRate: 0.5, transient404: true,
    });
  });

  const bad: Array<{ description: string; argv: string[]; message: RegExp }> = [
    { description: 'rate above 1', argv: ['--fault-429', '1.5'], message: /--fault-429: .*got "1\.5"/ },
    { description: 'non-numeric port', argv: ['--port', 'abc'], message: /--port: .*got "abc"/ },
    { description: 'unknown flag', argv: ['--nope'], message: /--nope/ },
    { description: 'bad upstream URL', argv: ['--upstream', 'ftp://x'], message: /--upstream: .*got "ftp:\/\/x"/ },
    { description: 'fault rates adding up over 1', argv: ['--fault-429', '0.6', '--fault-529', '0.6'], message: /at most 1/ },
    // helper-79 #10: [SPEC ErrorResponse.error: a oneOf over nine types] an errored result of another type is no API's.
    { description: 'an error type the API does not have', argv: ['--errored-type', 'oops_error'], message: /`erroredType`: expected one of invalid_request_error, .*overloaded_error, got "oops_error"/ },
  ];
  for (const t of bad) {
    it(`usage error (exit 2) for ${t.description}`, async () => {
      const h = io();
      expect(await emulatorCommand(t.argv, h.io, Promise.resolve())).toBe(2);
      expect(h.err()).toMatch(t.message);
      expect(h.out()).toBe('');
    });
  }

  it('without --seed, each start gives new ids (a ledger outlives the emulator); with --seed N, the same ids', async () => {
    const firstBatchId = async (argv: string[]) => {
      const h = io();
      let stop: () => void = () => undefined;
      const done = emulatorCommand(['--port', '0', ...argv], h.io, new Promise<void>((r) => (stop = r)));
      for (let i = 0; i < 100 && !h.out().includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
      const body = { requests: [{ custom_id: 'a', params: { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] } }] };
      const created = await raw(h.out().trim(), 'POST', '/v1/messages/batches', body, { 'x-api-key': 'k' });
      stop();
      await done;
      return (created.json as { id: string }).id;
    };
    const [a, b] = [await firstBatchId([]), await firstBatchId([])];
    expect(a).toMatch(/^msgbatch_01/);
    expect(a).not.toBe(b);
    expect(await firstBatchId(['--seed', '9'])).toBe(await firstBatchId(['--seed', '9']));
  });

  it('--help documents every flag with its default and an example', async () => {
    const h = io();
    expect(await emulatorCommand(['--help'], h.io, Promise.resolve())).toBe(0);
    for (const flag of ['--port', '--host', '--seed', '--processing-ms', '--upstream', 'BATCH_ENRICH_UPSTREAM_KEY', '--api-key', 'BATCH_ENRICH_EMULATOR_API_KEYS', '--upstream-concurrency', '--fault-429', '--fault-500', '--fault-529', '--retry-after', '--errored-rate', '--errored-type', '--expired-rate', '--cut-results-rate', '--transient-404', '--verbose'])
      expect(h.out()).toContain(flag);
    expect(h.out()).toContain('ANTHROPIC_BASE_URL=');
  });

  it('in process: prints the URL as the only stdout line, serves, stops when told', async () => {
    const h = io();
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((r) => {
      stop = r;
    });
    const done = emulatorCommand(['--port', '0', '--verbose'], h.io, stopped);
    for (let i = 0; i < 100 && !h.out().includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
    const url = h.out().trim();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await raw(url, 'GET', '/v1/messages/batches', undefined, { 'x-api-key': 'sk-secret-123' })).status).toBe(200);
    stop();
    expect(await done).toBe(0);
    expect(h.out()).toBe(`${url}\n`);
    expect(h.err()).toMatch(/GET \/v1\/messages\/batches 200/);
    expect(h.err()).not.toContain('sk-secret-123');
  });

  it.skipIf(!existsSync('dist/cli/main.js'))(
    'spawned bin: `node dist/cli/main.js emulator --port 0` prints a URL, answers, exits 0 on SIGTERM',
    async () => {
      const child = spawn(process.execPath, ['dist/cli/main.js', 'emulator', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const nl = out.indexOf('\n');
          if (nl >= 0) resolve(out.slice(0, nl));
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${err}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await raw(url, 'POST', '/v1/messages/count_tokens', { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'abcd' }] });
      expect(r.json).toEqual({ input_tokens: 1 });
      const code = await new Promise<number | null>((resolve) => {
        child.once('exit', (c) => resolve(c));
        child.kill('SIGTERM');
      });
      expect(code).toBe(0);
      expect(out).toBe(`${url}\n`);
    },
  );
});
