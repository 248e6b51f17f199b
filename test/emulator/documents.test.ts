/**
 * The emulator's Files API and its document/image validation, through the SDK as a client would use
 * them; bodies checked against the OpenAPI document.
 */
import Anthropic, { toFile } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { contractPdf, encryptedPdf, invoicePdf, jpeg, png, textPdf } from '../../fixtures/documents/make.mjs';
import { emulator } from '../helpers/pipeline.ts';
import { validateAgainstSpec } from '../helpers/spec.ts';
import { expectApiError, raw } from './helpers.ts';
import type { EmulatedDocument } from '../../src/emulator/index.ts';
import { documentTokens, inspectDocument } from '../../src/core/documents.ts';
import { findModel } from '../../src/core/models.ts';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const pdfBlock = (bytes: Uint8Array) => ({ type: 'document' as const, source: { type: 'base64' as const, media_type: 'application/pdf' as const, data: b64(bytes) } });
const ask = (content: unknown[], model = 'claude-haiku-4-5') => ({ model, max_tokens: 50, messages: [{ role: 'user' as const, content: [...content, { type: 'text', text: 'What is this?' }] as never }] });

describe('emulator Files API', () => {
  it('uploads, lists, retrieves and deletes files, in the spec shapes; files expire on its clock', async () => {
    let now = Date.parse('2026-05-01T00:00:00Z');
    const emu = await emulator({ now: () => now });
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const meta = await client.files.upload({ file: await toFile(await invoicePdf(1), 'a.pdf', { type: 'application/pdf' }), expires_in_seconds: 3600 });
    expect(validateAgainstSpec('FileMetadataSchema', meta)).toEqual([]);
    expect(meta).toMatchObject({ filename: 'a.pdf', mime_type: 'application/pdf', type: 'file', expires_at: '2026-05-01T01:00:00.000Z' });
    const forever = await client.files.upload({ file: await toFile(png(4, 4), 'b.png', { type: 'image/png' }) });
    expect(forever.expires_at).toBeNull();
    const listed = [];
    for await (const f of client.files.list({ limit: 1 })) listed.push(f.id);
    expect(listed).toEqual([forever.id, meta.id]);
    expect(await client.files.retrieveMetadata(meta.id)).toMatchObject({ id: meta.id, size_bytes: meta.size_bytes });
    now += 3600_000;
    await expect(client.files.retrieveMetadata(meta.id)).rejects.toMatchObject({ status: 404 });
    const deleted = await client.files.delete(forever.id);
    expect(validateAgainstSpec('FileDeleteResponse', deleted)).toEqual([]);
    await expect(client.files.retrieveMetadata(forever.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.files.upload({ file: await toFile(png(4, 4), 'c.png'), expires_in_seconds: 60 })).rejects.toMatchObject({ status: 400 });
    expect(emu.uploads()).toBe(2);
  });

  it('a storage quota refuses uploads past it (400)', async () => {
    const emu = await emulator({ filesQuotaBytes: 3000 });
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    await client.files.upload({ file: await toFile(await invoicePdf(1), 'a.pdf') });
    await expect(client.files.upload({ file: await toFile(await invoicePdf(2), 'b.pdf') })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/quota/i) });
  });
  // [SPEC GET /v1/files, query `page`: "Opaque page cursor returned in a prior list response's `next_page`. Prefixed
  // `page_`."] The emulator's next_page was the last file's id (`file_…`), and a cursor it did not know (a deleted
  // file's) listed from the first page again.
  it('pages with `page_` cursors, which outlive the file they follow; a cursor that is none is a 400', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await client.files.upload({ file: await toFile(png(4, 4), `f${i}.png`, { type: 'image/png' }) })).id);
    const newestFirst = [...ids].reverse();
    const first = await raw(emu.url, 'GET', '/v1/files?limit=1');
    expect(validateAgainstSpec('FileListResponse', first.json)).toEqual([]);
    expect(first.json.data.map((f: { id: string }) => f.id)).toEqual([newestFirst[0]]);
    expect(first.json.next_page).toMatch(/^page_/);
    await client.files.delete(newestFirst[0] as string);
    const second = await raw(emu.url, 'GET', `/v1/files?limit=1&page=${encodeURIComponent(first.json.next_page)}`);
    expect(second.json.data.map((f: { id: string }) => f.id)).toEqual([newestFirst[1]]);
    const all: string[] = [];
    for await (const f of client.files.list({ limit: 1 })) all.push(f.id);
    expect(all).toEqual(newestFirst.slice(1));
    for (const bad of [newestFirst[1] as string, 'page_nope', 'x'])
      expectApiError(await raw(emu.url, 'GET', `/v1/files?page=${bad}`), 400, 'invalid_request_error', /^page: /);
  });

  // [SPEC GET /v1/files, query `ids[]`: "Restrict the result set to Files whose `id` is in this list. At most 100
  // entries (after de-duplication). Mutually exclusive with `page` and `limit`. When supplied, the response is always
  // a single page (`next_page` is null). IDs that do not resolve to a visible File — including deleted Files — are
  // silently omitted."; SDK FileListParams.ids, sent as `ids[]=…`] The emulator ignored `ids[]` and listed every file.
  it('`ids[]` lists only those files, in one page; with `page` or `limit`, or over 100 ids, it is a 400', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await client.files.upload({ file: await toFile(png(4, 4), `f${i}.png`, { type: 'image/png' }) })).id);
    const [a, b, c, d] = ids as [string, string, string, string];
    await client.files.delete(d);
    const page = await client.files.list({ ids: [a, c, c, d, 'file_nope'] });
    expect(new Set(page.data.map((f) => f.id))).toEqual(new Set([a, c]));
    expect(page.data).toHaveLength(2);
    expect(page.next_page).toBeNull();
    const q = (list: string[]) => list.map((id) => `ids[]=${id}`).join('&');
    const one = await raw(emu.url, 'GET', `/v1/files?${q([b])}`);
    expect(validateAgainstSpec('FileListResponse', one.json)).toEqual([]);
    expect(one.json).toMatchObject({ data: [{ id: b }], next_page: null });
    // 101 entries, 100 after de-duplication: taken.
    expect((await raw(emu.url, 'GET', `/v1/files?${q([...Array.from({ length: 100 }, (_, i) => `file_x${i}`), 'file_x0'])}`)).json).toEqual({ data: [], next_page: null });
    expectApiError(await raw(emu.url, 'GET', `/v1/files?${q(Array.from({ length: 101 }, (_, i) => `file_x${i}`))}`), 400, 'invalid_request_error', /^ids: /);
    expectApiError(await raw(emu.url, 'GET', `/v1/files?${q([a])}&limit=5`), 400, 'invalid_request_error', /^ids: /);
    expectApiError(await raw(emu.url, 'GET', `/v1/files?${q([a])}&page=page_1`), 400, 'invalid_request_error', /^ids: /);
  });

  // [SDK FileUploadParams.file: "Only the final path component of the part's `filename` is kept; an absent or empty
  // `filename` is replaced with `unnamed` plus the extension for the file's stored `mime_type`, when known."] The
  // emulator kept the whole path, and refused a `file` part without a filename (what the SDK sends for
  // `toFile(bytes, '')`: undici writes no `filename` for an empty name) with `file: Field required`.
  it('keeps only the last path component of a filename; a part without one is stored as `unnamed` and its extension', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const pdf = await invoicePdf(1);
    const upload = async (disposition: string, type = 'application/pdf') => {
      const boundary = 'b0undary';
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"${disposition}\r\nContent-Type: ${type}\r\n\r\n`;
      const body = Buffer.concat([Buffer.from(head), pdf, Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="expires_in_seconds"\r\n\r\n3600\r\n--${boundary}--\r\n`)]);
      const res = await fetch(`${emu.url}/v1/files`, { method: 'POST', headers: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01', 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const cases: Array<[disposition: string, type: string, filename: string]> = [
      ['; filename="dir/sub/a.pdf"', 'application/pdf', 'a.pdf'],
      ['; filename="C:\\Users\\b.pdf"', 'application/pdf', 'b.pdf'],
      ['', 'application/pdf', 'unnamed.pdf'],
      ['; filename=""', 'image/png', 'unnamed.png'],
      ['', 'application/x-unknown', 'unnamed'],
    ];
    for (const [disposition, type, filename] of cases) {
      const r = await upload(disposition, type);
      expect(r.status, disposition).toBe(200);
      expect(validateAgainstSpec('FileMetadataSchema', r.json)).toEqual([]);
      expect(r.json, disposition).toMatchObject({ filename, mime_type: type, size_bytes: pdf.length });
      expect(r.json['expires_at']).not.toBeNull();
    }
    const viaSdk = await client.files.upload({ file: await toFile(pdf, '', { type: 'application/pdf' }) });
    expect(viaSdk).toMatchObject({ filename: 'unnamed.pdf', size_bytes: pdf.length });
  });

  // [SPEC POST /v1/files, multipart `expires_in_seconds`: an integer, 3600 to 7776000] The emulator read it with
  // Number(), which takes hex, binary, octal and exponents as integers (as the list `limit` did, helper-79 #11).
  it('`expires_in_seconds` not written as an integer is a 400', async () => {
    const emu = await emulator();
    const upload = async (expires: string) => {
      const form = new FormData();
      form.append('file', new File([png(4, 4)], 'a.png', { type: 'image/png' }));
      form.append('expires_in_seconds', expires);
      return fetch(`${emu.url}/v1/files`, { method: 'POST', headers: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' }, body: form });
    };
    for (const bad of ['0xE10', '0b111000010000', '0o7020', '3.6e3', '36e2', '3600.5', '', 'Infinity']) {
      const res = await upload(bad);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message, bad).toMatch(/^expires_in_seconds: /);
    }
    for (const good of ['3600', ' 7200 ', '3_600', '3600.0']) expect((await upload(good)).status, good).toBe(200);
  });

});

describe('emulator document and image blocks', () => {
  it('accepts every source type; input tokens grow with pages and pixels; a responder sees bytes and text', async () => {
    const seen: EmulatedDocument[][] = [];
    const emu = await emulator({ responder: ({ documents }) => (seen.push(documents ?? []), undefined) });
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const file = await client.files.upload({ file: await toFile(await contractPdf(), 'contract.pdf', { type: 'application/pdf' }) });
    const image = await client.files.upload({ file: await toFile(png(560, 280), 'scan.png', { type: 'image/png' }) });
    const one = await client.messages.create(ask([pdfBlock(await invoicePdf(7))]));
    const single = await client.messages.create(ask([pdfBlock(await textPdf([['a']]))]));
    const three = await client.messages.create(ask([pdfBlock(await textPdf([['a'], ['b'], ['c']]))]));
    // A page is its image (1,600 tokens) and its text: "a" is 1 token, "a\nb\nc" 2.
    expect(three.usage.input_tokens - single.usage.input_tokens).toBe(2 * 1600 + (2 - 1));
    expect(one.usage.input_tokens).toBeGreaterThan(single.usage.input_tokens);
    const small = await client.messages.create(ask([{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: b64(png(28, 28)) } }]));
    const big = await client.messages.create(ask([{ type: 'image', source: { type: 'file', file_id: image.id } }]));
    expect(big.usage.input_tokens - small.usage.input_tokens).toBe(200 - 1);
    await client.messages.create(
      ask([
        { type: 'document', source: { type: 'file', file_id: file.id }, title: 'contract.pdf' },
        { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain words' } },
        { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
      ]),
    );
    expect(seen[0]?.[0]?.text).toContain('Invoice INV-00007');
    const last = seen[seen.length - 1] as EmulatedDocument[];
    expect(last.map((d) => [d.type, d.source])).toEqual([['document', 'file'], ['document', 'text'], ['document', 'url'], ['image', 'url']]);
    expect(last[0]).toMatchObject({ pages: 2, title: 'contract.pdf', file_id: file.id });
    expect(last[0]?.text).toContain('Limitation of liability');
    expect(last[1]?.text).toBe('plain words');
  });

  it('reads a PDF saved with object streams (PDF 1.5+, most PDFs today): its pages and text; refuses it encrypted', async () => {
    const seen: EmulatedDocument[][] = [];
    const emu = await emulator({ responder: ({ documents }) => (seen.push(documents ?? []), undefined) });
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const modern = await textPdf([['first page'], ['second page'], ['third page']], { objectStreams: true });
    expect(Buffer.from(modern).toString('latin1')).toContain('/ObjStm');
    const classic = await client.messages.create(ask([pdfBlock(await textPdf([['first page'], ['second page'], ['third page']]))]));
    const read = await client.messages.create(ask([pdfBlock(modern)]));
    expect(read.usage.input_tokens).toBe(classic.usage.input_tokens);
    expect(seen[1]?.[0]).toMatchObject({ pages: 3 });
    expect(seen[1]?.[0]?.text).toContain('third page');
    const locked = await encryptedPdf({ objectStreams: true });
    expect(Buffer.from(locked).toString('latin1')).not.toContain('trailer');
    await expect(client.messages.create(ask([pdfBlock(locked)]))).rejects.toMatchObject({ status: 400, message: expect.stringContaining('password-protected') });
  });

  it('refuses what the API refuses: 400 invalid_request_error on /v1/messages', async () => {
    let now = Date.parse('2026-05-01T00:00:00Z');
    const emu = await emulator({ now: () => now });
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const expiring = await client.files.upload({ file: await toFile(await invoicePdf(1), 'a.pdf', { type: 'application/pdf' }), expires_in_seconds: 3600 });
    const bad: [string, unknown][] = [
      ['not base64', { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'not base64!' } }],
      ['wrong media type', { type: 'document', source: { type: 'base64', media_type: 'application/msword', data: b64(await invoicePdf(1)) } }],
      ['image bytes are not the media type', { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: b64(png(4, 4)) } }],
      ['encrypted', pdfBlock(await encryptedPdf())],
      ['unknown file', { type: 'document', source: { type: 'file', file_id: 'file_nope' } }],
      ['http url', { type: 'document', source: { type: 'url', url: 'http://example.com/a.pdf' } }],
      ['101 pages', pdfBlock(await textPdf(Array.from({ length: 101 }, () => ['p'])))],
      ['PNG cut in its IDAT data', { type: 'image', source: { type: 'base64', media_type: 'image/png', data: b64(png(400, 560).subarray(0, 828)) } }],
      ['JPEG without its end-of-image marker', { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: b64(jpeg(64, 48).subarray(0, -2)) } }],
      ['oversized, error chosen', { type: 'image', source: { type: 'base64', media_type: 'image/png', data: b64(png(8001, 1)) }, transformations: { oversized_image: 'error' } }],
    ];
    for (const [label, block] of bad) {
      await expect(client.messages.create(ask([block])), label).rejects.toMatchObject({ status: 400, type: 'invalid_request_error' });
    }
    await expect(client.messages.create(ask([bad[8]?.[1]]))).rejects.toMatchObject({ error: { error: { message: expect.stringMatching(/Could not process image/) } } });
    await client.messages.create(ask([{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: b64(jpeg(64, 48)) } }]));
    // The page limit is per request: two PDFs of 60 pages are over it together.
    const sixty = pdfBlock(await textPdf(Array.from({ length: 60 }, () => ['p'])));
    await expect(client.messages.create(ask([sixty, sixty]))).rejects.toMatchObject({ status: 400, type: 'invalid_request_error', error: { error: { message: expect.stringMatching(/A maximum of 100 PDF pages may be provided \(got 120\)/) } } });
    await client.messages.create(ask([sixty, sixty], 'claude-sonnet-4-6'));
    // helper-60: an image over 5 MB of base64 (a phone photo; bytes after a JPEG's end mark are no damage),
    // and images with PDF pages over the media limit of a request, in the API's words.
    const photo = Buffer.concat([jpeg(64, 48), Buffer.alloc(4_000_000)]);
    await expect(client.messages.create(ask([{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: b64(photo) } }]))).rejects.toMatchObject({
      status: 400,
      error: { error: { message: `messages.0.content.0.image.source.base64: image exceeds 5 MB maximum: ${b64(photo).length} bytes > 5242880 bytes` } },
    });
    const small = { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: b64(jpeg(8, 8)) } };
    const scans = Array.from({ length: 41 }, () => small);
    await expect(client.messages.create(ask([sixty, ...scans]))).rejects.toMatchObject({ status: 400, error: { error: { message: expect.stringMatching(/Too much media: 60 document pages \+ 41 images > 100$/) } } });
    await client.messages.create(ask([sixty, ...scans.slice(1)]));
    await client.messages.create(ask([sixty, ...scans], 'claude-sonnet-4-6'));
    // The same oversized image without `error` is scaled down, and 101 pages fit a 1M-context model.
    await client.messages.create(ask([{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: b64(png(8001, 1)) } }]));
    await client.messages.create(ask([pdfBlock(await textPdf(Array.from({ length: 101 }, () => ['p'])))], 'claude-sonnet-4-6'));
    await client.messages.create(ask([{ type: 'document', source: { type: 'file', file_id: expiring.id } }]));
    now += 3600_000;
    await expect(client.messages.create(ask([{ type: 'document', source: { type: 'file', file_id: expiring.id } }]))).rejects.toMatchObject({ status: 400 });
  });

  it('in a batch, an invalid block is an errored result (invalid_request_error); the others succeed', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const batch = await client.messages.batches.create({
      requests: [
        { custom_id: 'good', params: ask([pdfBlock(await invoicePdf(1))]) },
        { custom_id: 'bad', params: ask([{ type: 'document', source: { type: 'file', file_id: 'file_gone' } }]) },
      ],
    });
    const results: Record<string, { type: string; error?: { error?: { type?: string } } }> = {};
    for await (const line of await client.messages.batches.results(batch.id)) results[line.custom_id] = line.result as never;
    expect(results['good']?.type).toBe('succeeded');
    expect(results['bad']).toMatchObject({ type: 'errored', error: { error: { type: 'invalid_request_error' } } });
  });
});

describe('emulator context window with documents', () => {
  // A PDF page counts at least its image (1,600 tokens) and its text: 90 pages of 3,000 characters
  // are at least 90 × (1,600 + 750) = 211,500 tokens, over claude-haiku-4-5's 200,000-token window
  // though under its 100-page limit. The API refuses such a prompt as it refuses a long text ("prompt
  // is too long"); the emulator answered it, reporting more input tokens than the model takes. A
  // sparse 100-page PDF still fits (the test above).
  it('refuses documents whose tokens, with the prompt, exceed the model context window: 400, errored in a batch, 400 from count_tokens', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const page = Array.from({ length: 60 }, (_, i) => `Clause ${i}: the supplier shall deliver the goods.`.padEnd(50, ' '));
    const dense = pdfBlock(await textPdf(Array.from({ length: 90 }, () => page)));
    const tooLong = /^prompt is too long: \d+ tokens > 200000 maximum$/;
    await expect(client.messages.create(ask([dense]))).rejects.toMatchObject({ status: 400, type: 'invalid_request_error', error: { error: { message: expect.stringMatching(tooLong) } } });
    const { max_tokens: _, ...countParams } = ask([dense]);
    await expect(client.messages.countTokens(countParams)).rejects.toMatchObject({ status: 400 });
    const batch = await client.messages.batches.create({ requests: [{ custom_id: 'long', params: ask([dense]) }, { custom_id: 'short', params: ask([pdfBlock(await invoicePdf(1))]) }] });
    const results: Record<string, unknown> = {};
    for await (const line of await client.messages.batches.results(batch.id)) results[line.custom_id] = line.result;
    expect(results['long']).toMatchObject({ type: 'errored', error: { error: { type: 'invalid_request_error', message: expect.stringMatching(tooLong) } } });
    expect(results['short']).toMatchObject({ type: 'succeeded' });
    // The same pages fit a 1M-context model.
    await client.messages.create(ask([dense], 'claude-sonnet-4-6'));
  });
});

describe('one page rule: a PDF page is its image and its text, in usage, the window check and the estimate', () => {
  // Usage billed a page at 3,850 tokens while the window check took a page's image and its text: a
  // sparse 100-page PDF was accepted on a 200K model and then billed 385K input tokens, more than the
  // model takes, which the API never reports; the client's estimate counted 3,850 a page too.
  it('a sparse 100-page PDF is billed within the context window, and as the client estimates it', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const sparse = await textPdf(Array.from({ length: 100 }, (_, i) => [`page ${i + 1}`]));
    const plain = await client.messages.create(ask([]));
    const answer = await client.messages.create(ask([pdfBlock(sparse)]));
    expect(answer.usage.input_tokens).toBeLessThanOrEqual(findModel('claude-haiku-4-5')?.contextWindow ?? 0);
    expect(answer.usage.input_tokens - plain.usage.input_tokens).toBe(documentTokens(await inspectDocument(sparse, 'sparse.pdf')));
    for (const bytes of [await invoicePdf(3), await contractPdf()]) {
      const billed = await client.messages.create(ask([pdfBlock(bytes)]));
      expect(billed.usage.input_tokens - plain.usage.input_tokens).toBe(documentTokens(await inspectDocument(bytes, 'a.pdf')));
    }
  });
});

describe('emulator count_tokens with documents', () => {
  it('counts pages and pixels, and refuses what messages would refuse', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const count = ({ max_tokens: _, ...params }: ReturnType<typeof ask>) => client.messages.countTokens(params);
    const plain = await count(ask([]));
    const withPdf = await count(ask([pdfBlock(await contractPdf())]));
    // Two page images and the contract's 474 characters of text (119 tokens).
    expect(withPdf.input_tokens - plain.input_tokens).toBe(2 * 1600 + 119);
    await expect(count(ask([pdfBlock(await encryptedPdf())]))).rejects.toMatchObject({ status: 400 });
  });
});
