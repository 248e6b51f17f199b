/** Reading a results file: JSONL lines out of a byte stream cut anywhere, and from `results_url`. */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, resultLines, textLines } from '../../src/client/client.ts';
import { isCutDownload } from '../../src/client/errors.ts';
import { chunkings } from '../helpers/chunks.ts';

async function all(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

describe('textLines', () => {
  const lines = ['{"custom_id":"a_1","result":{"type":"succeeded","text":"café 中文 😀"}}', '{"custom_id":"b_2","result":{"type":"errored"}}', '{"custom_id":"c_3","result":{"type":"expired"}}'];
  const inputs = [
    { label: 'LF with a final newline', text: `${lines.join('\n')}\n` },
    { label: 'CRLF, no final newline', text: lines.join('\r\n') },
    { label: 'blank lines between', text: `\n${lines[0]}\n\n${lines[1]}\r\n\r\n${lines[2]}\n\n` },
  ];
  for (const input of inputs) {
    it(`gives the same lines however the bytes are cut (${input.label})`, async () => {
      for (const { label, chunks } of chunkings(input.text)) {
        expect(await all(textLines(Readable.from(chunks))), label).toEqual(lines);
      }
    });
  }

  it('gives nothing for an empty file', async () => {
    expect(await all(textLines(Readable.from([])))).toEqual([]);
  });
});

describe('resultLines', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
  });

  it('reads the absolute results_url with the SDK (auth and version headers), and nothing else', async () => {
    const seen: { url: string | undefined; auth: string; version: string | undefined }[] = [];
    const server = createServer((req, res) => {
      seen.push({ url: req.url, auth: `${req.headers['x-api-key'] ?? ''} ${req.headers.authorization ?? ''}`, version: req.headers['anthropic-version'] as string | undefined });
      res.writeHead(200, { 'content-type': 'application/binary' });
      res.write('{"custom_id":"a","result":{"type":"succeeded"}}\n{"custom_id"');
      setTimeout(() => res.end(':"b","result":{"type":"expired"}}\n'), 10);
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createClient({ apiKey: 'test-key', baseURL: 'http://127.0.0.1:1' });
    const lines = await all(resultLines(client, `${url}/v1/messages/batches/msgbatch_1/results`, new AbortController().signal));
    expect(lines.map((line) => JSON.parse(line).custom_id)).toEqual(['a', 'b']);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ url: '/v1/messages/batches/msgbatch_1/results', auth: expect.stringContaining('test-key'), version: expect.any(String) });
  });

  it('stops a read that waits on the body when its signal aborts', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200);
      res.write('{"custom_id":"a","result":{"type":"succeeded"}}\n'); // and never ends
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/results`;
    const controller = new AbortController();
    const lines: string[] = [];
    const reading = (async () => {
      for await (const line of resultLines(createClient({ apiKey: 'k' }), url, controller.signal)) {
        lines.push(line);
        controller.abort(new Error('stopped'));
      }
    })();
    await expect(reading).rejects.toThrow(/stopped|aborted/);
    expect(lines).toHaveLength(1);
  });

  // Note 48: a download that stopped sending bytes (its connection alive) was noticed only after
  // undici's 5 minutes without a byte; it now breaks off after `idleMs`, as a cut download (tried again).
  it('a body that stops coming breaks off after idleMs without a byte, as a cut download', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200);
      res.write('{"custom_id":"a","result":{"type":"succeeded"}}\n'); // then nothing, the connection open
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/results`;
    const lines: string[] = [];
    let thrown: unknown;
    const started = Date.now();
    try {
      for await (const line of resultLines(createClient({ apiKey: 'k' }), url, new AbortController().signal, 200)) lines.push(line);
    } catch (error) {
      thrown = error;
    }
    expect(lines).toHaveLength(1);
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toMatch(/no byte of the results for 0\.2 s/);
    expect(isCutDownload(thrown)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
