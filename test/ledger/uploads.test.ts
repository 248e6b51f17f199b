/** The upload registry (sha256 → file_id, expiry) and the uploader's kill-safety. */
import Anthropic, { toFile } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { gcUploads, Uploader, uploadName } from '../../src/client/uploads.ts';
import { sha256 } from '../../src/core/documents.ts';
import { UploadRegistry } from '../../src/ledger/uploads.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { invoicePdf } from '../../fixtures/documents/make.mjs';
import { PgLedger } from '../../src/ledger/postgres.ts';
import { emulator, tempLedger } from '../helpers/pipeline.ts';
import { freshSchema, postgres } from '../helpers/postgres.ts';

describe('UploadRegistry', () => {
  it('lives in the ledger file next to the ledger, per identity, and survives a reopen', () => {
    const path = tempLedger();
    const ledger = new Ledger(path);
    const registry = new UploadRegistry(path);
    registry.begin('scope-a', 'abc', 10, 1000);
    expect(registry.get('scope-a', 'abc')).toEqual({ sha256: 'abc', fileId: null, bytes: 10, expiresAt: null, startedAt: 1000 });
    registry.finish('scope-a', 'abc', 'file_1', 5000);
    expect(registry.get('scope-b', 'abc')).toBeUndefined();
    registry.close();
    ledger.close();
    const again = new UploadRegistry(path);
    expect(again.get('scope-a', 'abc')).toMatchObject({ fileId: 'file_1', expiresAt: 5000 });
    again.forget('scope-a', 'abc');
    expect(again.all('scope-a')).toEqual([]);
    again.close();
  });
});

describe('Uploader after a kill', () => {
  const part = async () => {
    const bytes = await invoicePdf(1);
    return { sha256: sha256(bytes), bytes, mediaType: 'application/pdf', name: 'dir/a.pdf' };
  };

  it('an upload begun but never recorded as done is adopted from the list when it happened: no upload again', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url });
    const registry = new UploadRegistry(':memory:');
    const p = await part();
    // The killed run: wrote `begin`, uploaded, died before `finish`.
    registry.begin('s', p.sha256, p.bytes.length, Date.now());
    await client.files.upload({ file: await toFile(p.bytes, uploadName(p), { type: p.mediaType }), expires_in_seconds: 7 * 24 * 3600 });
    const uploader = new Uploader({ client, registry, scope: 's' });
    const id = await uploader.fileIdFor(p);
    expect(emu.uploads()).toBe(1);
    expect(registry.get('s', p.sha256)?.fileId).toBe(id);
    expect(uploader.counts).toMatchObject({ uploaded: 0, reused: 1 });
  });

  it('an upload begun that never reached the API is made once', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url });
    const registry = new UploadRegistry(':memory:');
    const p = await part();
    registry.begin('s', p.sha256, p.bytes.length, Date.now());
    const uploader = new Uploader({ client, registry, scope: 's' });
    const [a, b] = await Promise.all([uploader.fileIdFor(p), uploader.fileIdFor(p)]);
    expect(a).toBe(b);
    expect(emu.uploads()).toBe(1);
    // One file, uploaded once by this run: not also counted as reused.
    expect(uploader.counts).toMatchObject({ uploaded: 1, bytes: p.bytes.length, reused: 0 });
  });
});

describe.skipIf(!postgres.url)('Uploader on the PostgreSQL ledger (its registry answers asynchronously)', () => {
  it('uploads once, reuses the file, and adopts an upload a killed worker began: no upload again', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url });
    const ledger = await PgLedger.open(await freshSchema());
    try {
      const bytes = await invoicePdf(1);
      const p = { sha256: sha256(bytes), bytes, mediaType: 'application/pdf', name: 'a.pdf' };
      const first = new Uploader({ client, registry: ledger.uploads, scope: 's' });
      const id = await first.fileIdFor(p);
      expect(await ledger.uploads.get('s', p.sha256)).toMatchObject({ fileId: id, bytes: bytes.length });
      expect(await new Uploader({ client, registry: ledger.uploads, scope: 's' }).fileIdFor(p)).toBe(id);
      expect(emu.uploads()).toBe(1);
      // Another worker's killed upload of a second file: begun in the ledger, made on the API, never finished.
      const other = await invoicePdf(2);
      const q = { sha256: sha256(other), bytes: other, mediaType: 'application/pdf', name: 'b.pdf' };
      await ledger.uploads.begin('s', q.sha256, other.length, Date.now());
      const made = await client.files.upload({ file: await toFile(other, uploadName(q), { type: q.mediaType }), expires_in_seconds: 7 * 24 * 3600 });
      const uploader = new Uploader({ client, registry: ledger.uploads, scope: 's' });
      expect(await uploader.fileIdFor(q)).toBe(made.id);
      expect(emu.uploads()).toBe(2);
      expect(uploader.counts).toMatchObject({ uploaded: 0, reused: 1 });
      expect(await gcUploads({ client, registry: ledger.uploads, scope: 's', before: Date.now() + 1 })).toEqual({ files: 2, deleted: 2 });
      expect(await ledger.uploads.all('s')).toEqual([]);
    } finally {
      await ledger.close();
    }
  });
});

describe('gcUploads', () => {
  it('forgets files uploaded before the cutoff and deletes them on the API, unless keepRemote', async () => {
    const emu = await emulator();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url });
    const registry = new UploadRegistry(':memory:');
    const old = await client.files.upload({ file: await toFile(Buffer.from('old'), 'old.txt') });
    const kept = await client.files.upload({ file: await toFile(Buffer.from('kept'), 'kept.txt') });
    registry.begin('s', 'old', 3, 1000);
    registry.finish('s', 'old', old.id, null);
    registry.begin('s', 'new', 4, 9000);
    registry.finish('s', 'new', kept.id, null);
    expect(await gcUploads({ client, registry, scope: 's', before: 5000, dryRun: true })).toEqual({ files: 1, deleted: 0 });
    expect(registry.all('s')).toHaveLength(2);
    expect(await gcUploads({ client, registry, scope: 's', before: 5000 })).toEqual({ files: 1, deleted: 1 });
    expect(registry.all('s').map((r) => r.sha256)).toEqual(['new']);
    await expect(client.files.retrieveMetadata(old.id)).rejects.toMatchObject({ status: 404 });
    expect(await gcUploads({ client, registry, scope: 's', before: 10_000, keepRemote: true })).toEqual({ files: 1, deleted: 0 });
    expect((await client.files.retrieveMetadata(kept.id)).id).toBe(kept.id);
  });
});
