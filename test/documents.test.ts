/**
 * Documents end to end through the library against the emulator: attached fields (paths, Buffers,
 * Blobs, https URLs) become document and image blocks; bad files get their `_error` before anything
 * is paid; uploads are content-addressed through the registry (once across rows and reruns, again
 * after expiry or deletion); the request key follows the file's bytes.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { corruptPdf, email, encryptedPdf, invoicePdf, png, zipFile } from '../fixtures/documents/make.mjs';
import type { EmulatedDocument, ResponderRequest } from '../src/emulator/index.ts';
import { newUploadCounts, type Uploader } from '../src/client/uploads.ts';
import { hasPendingUploads } from '../src/core/documents.ts';
import { attachDocuments, resolveUploads } from '../src/stages/attach.ts';
import { enrich, emulator, FORGET_SENDING, schema, tamper, tempLedger } from './helpers/pipeline.ts';

async function folder(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'be-docs-'));
  writeFileSync(join(dir, 'a.pdf'), await invoicePdf(1));
  writeFileSync(join(dir, 'b.pdf'), await invoicePdf(2));
  copyFileSync(join(dir, 'a.pdf'), join(dir, 'a-copy.pdf'));
  writeFileSync(join(dir, 'scan.png'), png(300, 400));
  writeFileSync(join(dir, 'notes.md'), '# Notes\n\nInvoice 77 total EUR 5.00');
  writeFileSync(join(dir, 'mail.eml'), email(await invoicePdf(42)));
  writeFileSync(join(dir, 'locked.pdf'), await encryptedPdf());
  writeFileSync(join(dir, 'broken.pdf'), corruptPdf());
  writeFileSync(join(dir, 'report.docx'), zipFile());
  return dir;
}

/** Answers from what the emulator saw: the first document's text (or the image size). */
const byDocument = ({ documents }: ResponderRequest) => {
  const doc = documents?.[0] as EmulatedDocument | undefined;
  const label = doc?.text ? (/INV-\d+|Invoice \d+/.exec(doc.text)?.[0] ?? doc.text.slice(0, 20)) : `${doc?.width}x${doc?.height}`;
  return { json: { label, n: documents?.length ?? 0 } };
};

const rows = [
  { id: 1, file: 'a.pdf' },
  { id: 2, file: 'b.pdf' },
  { id: 3, file: 'a-copy.pdf' },
  { id: 4, file: 'scan.png' },
  { id: 5, file: 'notes.md' },
  { id: 6, file: 'mail.eml' },
  { id: 7, file: 'locked.pdf' },
  { id: 8, file: 'broken.pdf' },
  { id: 9, file: 'report.docx' },
  { id: 10, file: 'missing.pdf' },
  { id: 11, text: 'no file: the prompt alone' },
];

// helper-60: an e-mail whose invoice attachment could not be sent (encrypted, damaged) was answered
// from its body alone and came out enriched, exit 0, with nothing on stderr: the invoice fields made up.
describe('an e-mail attachment that cannot be sent', () => {
  it('is said as an event naming the record, the e-mail and each attachment left out (the e-mail is still answered)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-docs-'));
    writeFileSync(join(dir, 'locked.eml'), email(await encryptedPdf()));
    writeFileSync(join(dir, 'fine.eml'), email(await invoicePdf(3)));
    const emu = await emulator({ responder: byDocument });
    const events: unknown[] = [];
    const out = await enrich(emu, [{ id: 1, file: 'locked.eml' }, { id: 2, file: 'fine.eml' }], { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'inline', onEvent: (e: { type: string }) => e.type === 'not-sent' && events.push(e) });
    expect(out.map((r) => r['_error'])).toEqual([undefined, undefined]);
    expect(events).toEqual([{ type: 'not-sent', where: '<stdin>:2: locked.eml', attachments: ['INV-00042.pdf (document_encrypted)'] }]);
  });

  // helper-64: a record the prepare stage refuses (over the context window) had its warning said already.
  it('is not said for an e-mail whose prompt is over the context window (refused before sending)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-docs-'));
    const big = email(await encryptedPdf()).toString('latin1').replace('Hello, please find', `${'word '.repeat(250_000)}Hello, please find`);
    writeFileSync(join(dir, 'big.eml'), Buffer.from(big, 'latin1'));
    const emu = await emulator({ responder: byDocument });
    const events: unknown[] = [];
    const out = await enrich(emu, [{ id: 1, file: 'big.eml' }], { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'inline', onEvent: (e: { type: string }) => e.type === 'not-sent' && events.push(e) });
    expect((out[0]?.['_error'] as { type: string }).type).toBe('prompt_too_long');
    expect(events).toEqual([]);
  });

  it('is not said for an e-mail whose record fails for another reason (it is not sent at all)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-docs-'));
    writeFileSync(join(dir, 'locked.eml'), email(await encryptedPdf()));
    const emu = await emulator({ responder: byDocument });
    const events: unknown[] = [];
    const out = await enrich(emu, [{ id: 1, file: ['locked.eml', 'missing.pdf'] }], { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'inline', onEvent: (e: { type: string }) => e.type === 'not-sent' && events.push(e) });
    expect((out[0]?.['_error'] as { type: string }).type).toBe('document_missing');
    expect(events).toEqual([]);
  });
});

// helper-60's nits: a file:// URL was refused, a cell with a trailing space said "no such file" with
// the space invisible, and a dangling link said "no such file" though the link is there.
describe('a document value that names a file in another way', () => {
  it('a file:// URL is read as its path; a name with blanks around it and a dangling link say so', async () => {
    const dir = await folder();
    symlinkSync(join(dir, 'gone.pdf'), join(dir, 'dangling.pdf'));
    const emu = await emulator({ responder: byDocument });
    const out = await enrich(emu, [{ id: 1, file: pathToFileURL(join(dir, 'a.pdf')).href }, { id: 2, file: 'a.pdf ' }, { id: 3, file: 'dangling.pdf' }], { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'inline' });
    expect(out[0]?.['label']).toBe('INV-00001');
    expect(out[1]?.['_error']).toEqual({ type: 'document_missing', message: `<stdin>:3: "a.pdf ": no such file (field file, looked in ${dir}; note the blank at its end)` });
    expect(out[2]?.['_error']).toEqual({ type: 'document_missing', message: `<stdin>:4: dangling.pdf: a link to ${join(dir, 'gone.pdf')}, which is not there (field file)` });
    // helper-64: an absolute path is not looked for in the base folder, and is not said to be.
    const absolute = await enrich(emu, [{ id: 4, file: '/nonexistent/a.pdf' }, { id: 5, file: 'file:///nonexistent/b.pdf' }], { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'inline' });
    expect(absolute.map((r) => (r['_error'] as { message: string }).message)).toEqual(['<stdin>:2: /nonexistent/a.pdf: no such file (field file)', '<stdin>:3: file:///nonexistent/b.pdf: no such file (field file)']);
  });

  // helper-84 #10: a CSV written on Windows names `inv\\scan.png`; said "no such file" with no hint.
  it('a path written with backslashes says the file its slashes name is there', async () => {
    const dir = await folder();
    mkdirSync(join(dir, 'inv'));
    copyFileSync(join(dir, 'scan.png'), join(dir, 'inv', 'scan.png'));
    const emu = await emulator({ responder: byDocument });
    const out = await enrich(emu, [{ id: 1, file: 'inv\\scan.png' }, { id: 2, file: 'inv\\gone.png' }], { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'inline' });
    expect(out.map((r) => (r['_error'] as { message: string }).message)).toEqual([
      `<stdin>:2: inv\\scan.png: no such file (field file, looked in ${dir}; written with backslashes, as on Windows: inv/scan.png is there)`,
      `<stdin>:3: inv\\gone.png: no such file (field file, looked in ${dir})`,
    ]);
  });
});

// helper-84 #6: a file:// URL keeps its percent-encoding out of the path but kept it in the title
// ("INV%20001%20(copy).pdf"), so the same file named by its path and by its URL made two requests.
it('a percent-encoded file:// URL is titled by its file name, and shares its request with the same file named by path', async () => {
  const dir = await folder();
  copyFileSync(join(dir, 'a.pdf'), join(dir, 'INV 001 (copy).pdf'));
  const seen: EmulatedDocument[][] = [];
  const emu = await emulator({ responder: (r) => (seen.push(r.documents ?? []), byDocument(r)) });
  const url = pathToFileURL(join(dir, 'INV 001 (copy).pdf')).href;
  expect(url).toContain('INV%20001%20(copy).pdf');
  const out = await enrich(emu, [{ id: 1, file: 'INV 001 (copy).pdf' }, { id: 2, file: url }], { prompt: 'invoice', attach: ['file'], baseDir: dir, upload: 'inline' });
  expect(out.map((r) => r['label'])).toEqual(['INV-00001', 'INV-00001']);
  expect(seen.map((docs) => docs.map((d) => d.title))).toEqual([['INV 001 (copy).pdf']]);
});

describe('documents through enrichStage', () => {
  it('each file is sniffed, sent as its block, and answered; bad ones carry a named _error', async () => {
    const dir = await folder();
    const seen: EmulatedDocument[][] = [];
    const emu = await emulator({ responder: (r) => (seen.push(r.documents ?? []), byDocument(r)) });
    const out = await enrich(emu, rows, { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'inline' });
    expect(out.map((r) => r['label'] ?? (r['_error'] as { type: string }).type)).toEqual([
      'INV-00001',
      'INV-00002',
      'INV-00001',
      '300x400',
      'Invoice 77',
      'INV-00042',
      'document_encrypted',
      'document_unreadable',
      'document_unsupported',
      'document_missing',
      'undefinedxundefined', // no document: the prompt alone
    ]);
    expect((out[6]?.['_error'] as { message: string }).message).toMatch(/^<stdin>:8: locked\.pdf: the PDF is encrypted/);
    expect((out[9]?.['_error'] as { message: string }).message).toMatch(/^<stdin>:11: missing\.pdf: no such file/);
    // The e-mail: its text, then its PDF attachment.
    expect(out[5]?.['n']).toBe(2);
    // No bad file reached the API: 7 requests for 11 rows.
    expect(seen.flat().every((d) => d.source === 'base64' || d.source === 'text')).toBe(true);
    expect(emu.stats.requestsSubmitted).toBe(7);
  });

  it('Buffers, Blobs and https URLs are documents too', async () => {
    const seen: EmulatedDocument[][] = [];
    const emu = await emulator({ responder: (r) => (seen.push(r.documents ?? []), byDocument(r)) });
    const out = await enrich(
      emu,
      [
        { id: 1, file: Buffer.from(await invoicePdf(5)) },
        { id: 2, file: new Blob([png(20, 10)]) },
        { id: 3, file: 'https://example.com/invoices/9.pdf' },
        { id: 4, file: ['https://example.com/photo.jpg', Buffer.from('plain text')] },
      ],
      { prompt: 'item {{id}}', attach: ['file'], upload: 'inline' },
    );
    expect(out.map((r) => r['_error'])).toEqual([undefined, undefined, undefined, undefined]);
    expect(out.map((r) => r['label'])).toEqual(['INV-00005', '20x10', 'undefinedxundefined', 'undefinedxundefined']);
    expect(seen.map((docs) => docs.map((d) => `${d.type}:${d.source}`)).sort()).toEqual(
      [['document:base64'], ['image:base64'], ['document:url'], ['image:url', 'document:text']].sort(),
    );
    // helper-95 #12: the bytes came out as JSON, a Buffer as {"type":"Buffer","data":[37,80,…]} (40 MB
    // of PDFs made a 160 MB NDJSON file) and a Blob as {}: each is said by its size instead.
    expect(out.map((r) => r['file'])).toEqual([
      `<${(await invoicePdf(5)).byteLength.toLocaleString('en-US')} bytes>`,
      `<${png(20, 10).byteLength.toLocaleString('en-US')} bytes>`,
      'https://example.com/invoices/9.pdf',
      ['https://example.com/photo.jpg', '<10 bytes>'],
    ]);
  });

  it('a field of bytes that is not attached comes out said by its size, not as JSON of its bytes', async () => {
    const emu = await emulator({ responder: byDocument });
    const out = await enrich(emu, [{ id: 1, text: 'a', blob: new Uint8Array([1, 2, 3]), raw: new ArrayBuffer(4), big: 10n }], { prompt: 'item {{id}} {{text}}' });
    // A BigInt beside them stays a raw number, as the stage gives it (enrich() makes it a BigInt again).
    expect(out[0]).toMatchObject({ blob: '<3 bytes>', raw: '<4 bytes>', big: '\ue00010' });
  });

  // helper-74: one https URL that is not a URL ended the whole run with "Invalid URL" (no file, line or
  // field); a URL with a space, or in capitals, was refused by the emulator (which the API takes); a
  // .docx or .heic URL was sent as a PDF document, to be paid for and fail.
  it('a URL that is not one, or to a file the API does not fetch, is its record’s error before anything is paid; a URL goes out as written', async () => {
    const seen: EmulatedDocument[][] = [];
    const emu = await emulator({ responder: (r) => (seen.push(r.documents ?? []), byDocument(r)) });
    const out = await enrich(
      emu,
      [
        { id: 1, file: 'https://exa mple.com/x.pdf' },
        { id: 2, file: 'https://example.com/My Invoice.pdf' },
        { id: 3, file: 'HTTPS://EXAMPLE.COM/X.PDF' },
        { id: 4, file: 'https://example.com/report.docx' },
        { id: 5, file: 'https://example.com/IMG_0001.HEIC?size=large' },
        { id: 6, file: 'https://cdn.example.com/image?id=5&format=jpg' },
        { id: 7, file: 'https://example.com/scan.JPG' },
      ],
      { prompt: 'item {{id}}', attach: ['file'], upload: 'inline' },
    );
    const errors = out.map((r) => r['_error'] as { type: string; message: string } | undefined);
    expect(errors.map((e) => e?.type)).toEqual(['document_unsupported', undefined, undefined, 'document_unsupported', 'document_unsupported', undefined, undefined]);
    expect(errors[0]?.message).toBe('<stdin>:2: field file: https://exa mple.com/x.pdf: not a valid URL');
    expect(errors[3]?.message).toMatch(/^<stdin>:5: field file: https:\/\/example\.com\/report\.docx: a Word document \(\.docx\) is not supported: .*convert it to PDF/);
    expect(errors[4]?.message).toMatch(/^<stdin>:6: field file: https:\/\/example\.com\/IMG_0001\.HEIC\?size=large: a HEIC photo \(\.heic\) is not supported: .*convert it to JPEG/);
    // Sent as written (helper-76: rewritten as the URL standard writes it, a request's key changed, and
    // a rerun over an earlier version's ledger paid again for what was answered); the API parses them so.
    expect(seen.flat().map((d) => `${d.type}:${d.url}`).sort()).toEqual(
      ['document:https://example.com/My Invoice.pdf', 'document:HTTPS://EXAMPLE.COM/X.PDF', 'document:https://cdn.example.com/image?id=5&format=jpg', 'image:https://example.com/scan.JPG'].sort(),
    );
    expect(emu.stats.requestsSubmitted).toBe(4);
  });

  // helper-74: a CSV from someone else could name ../../etc/passwd or ~/.aws/credentials in its file
  // column, and the file went to the API as a document. filesUnder (--files-under) keeps every path
  // inside one folder, links followed.
  it('filesUnder: a path outside that folder (.., absolute, file://, or a link inside it to a file outside) is its record’s error, and is never read', async () => {
    const root = mkdtempSync(join(tmpdir(), 'be-docs-under-'));
    const inside = join(root, 'in');
    mkdirSync(inside);
    writeFileSync(join(inside, 'ok.txt'), 'an invoice inside');
    const secret = join(root, 'secret.txt');
    writeFileSync(secret, 'AWS_SECRET=do-not-send');
    symlinkSync(secret, join(inside, 'link.txt'));
    const seen: EmulatedDocument[][] = [];
    const emu = await emulator({ responder: (r) => (seen.push(r.documents ?? []), byDocument(r)) });
    const rows = [
      { id: 1, file: 'ok.txt' },
      { id: 2, file: '../secret.txt' },
      { id: 3, file: secret },
      { id: 4, file: pathToFileURL(secret).href },
      { id: 5, file: 'link.txt' },
    ];
    symlinkSync(join(root, 'gone.txt'), join(inside, 'dangling.txt'));
    symlinkSync('/nonexistent/x', join(inside, 'nowhere.txt'));
    symlinkSync(join(inside, 'none-here.txt'), join(inside, 'dangling-in.txt'));
    // helper-76: whether a file outside exists was told ("no such file" or "outside"), and a dangling link's target named;
    // helper-78: a link inside to a missing file outside still said "no such file" (the open followed it).
    const more = [{ id: 6, file: '../nope.txt' }, { id: 7, file: 'dangling.txt' }, { id: 8, file: 'nowhere.txt' }, { id: 9, file: 'dangling-in.txt' }];
    const out = await enrich(emu, [...rows, ...more], { prompt: 'item {{id}}', attach: ['file'], baseDir: inside, filesUnder: inside, upload: 'inline' });
    const errors = out.map((r) => r['_error'] as { type: string; message: string } | undefined);
    expect(errors.map((e) => e?.type)).toEqual([undefined, 'document_unreadable', 'document_unreadable', 'document_unreadable', 'document_unreadable', 'document_unreadable', 'document_unreadable', 'document_unreadable', 'document_missing']);
    expect(errors[5]?.message).toMatch(/^<stdin>:7: \.\.\/nope\.txt: outside /);
    expect(errors[6]?.message).toMatch(/^<stdin>:8: dangling\.txt: outside /);
    expect(errors[7]?.message).toMatch(/^<stdin>:9: nowhere\.txt: outside /);
    expect(errors[8]?.message).toBe(`<stdin>:10: dangling-in.txt: no such file (field file, looked in ${inside})`);
    expect(errors[1]?.message).toBe(`<stdin>:3: ../secret.txt: outside ${inside}, the folder documents are read from (--files-under, the library's filesUnder): not read (field file)`);
    expect(seen.flat().map((d) => d.text)).toEqual(['an invoice inside']);
    // Without it, paths are read wherever they lead (the default: a CSV of one's own, with absolute paths).
    const open = await enrich(emu, rows.slice(1, 2), { prompt: 'item {{id}}', attach: ['file'], baseDir: inside, upload: 'inline' });
    expect(open[0]?.['_error']).toBeUndefined();
  });

  // helper-74: one image over 8000 px among an e-mail's attachments failed the whole e-mail
  // (image_too_large), where a .docx or a broken PDF attachment is left out, named, and the rest sent.
  it('an e-mail attachment over the image size limit is left out and named (how to send it said); the body and other attachments go; with oversizedImage downsize it goes too', async () => {
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/.{76}/g, '$&\r\n');
    const part = (type: string, name: string, bytes: Uint8Array) => [`Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', b64(bytes)];
    const mail = Buffer.from(
      [
        'From: a@b.example', 'To: c@d.example', 'Subject: scans', 'Date: Sat, 14 Mar 2026 10:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
        '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'Two attachments.', '--b1',
        ...part('image/png', 'panorama.png', png(9000, 10)), '--b1',
        ...part('application/pdf', 'INV-5.pdf', await invoicePdf(5)), '--b1--', '',
      ].join('\r\n'),
    );
    const seen: EmulatedDocument[][] = [];
    const notSent: string[][] = [];
    const emu = await emulator({ responder: (r) => (seen.push(r.documents ?? []), byDocument(r)) });
    const out = await enrich(emu, [{ id: 1, file: mail }], { prompt: 'item {{id}}', attach: ['file'], upload: 'inline', onEvent: (e) => void (e.type === 'not-sent' && notSent.push(e.attachments)) });
    expect(out[0]?.['_error']).toBeUndefined();
    expect(seen[0]?.map((d) => d.type)).toEqual(['document', 'document']);
    expect(seen[0]?.[0]?.text).toContain('Attachments not sent: panorama.png (image_too_large: 9000×10 px, over 8000 px a side; --oversized-image downsize sends it for the API to scale down)');
    expect(notSent).toEqual([['panorama.png (image_too_large: 9000×10 px, over 8000 px a side; --oversized-image downsize sends it for the API to scale down)']]);
    const downsized: EmulatedDocument[][] = [];
    const emu2 = await emulator({ responder: (r) => (downsized.push(r.documents ?? []), byDocument(r)) });
    const sent = await enrich(emu2, [{ id: 1, file: mail }], { prompt: 'item {{id}}', attach: ['file'], upload: 'inline', oversizedImage: 'downsize' });
    expect(sent[0]?.['_error']).toBeUndefined();
    expect(downsized[0]?.map((d) => d.type)).toEqual(['document', 'image', 'document']);
  });

  // helper-74: a 2.5 GB file was hashed for 15 s, then failed as document_unreadable ERR_FS_FILE_TOO_LARGE.
  it('a file over the Files API’s 500 MB is request_too_large at once, from its size, never read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-docs-huge-'));
    const huge = join(dir, 'scan.pdf');
    writeFileSync(huge, '%PDF-1.7\n');
    truncateSync(huge, 3 * 1024 * 1024 * 1024); // sparse: no disk used
    const emu = await emulator({ responder: byDocument });
    const started = performance.now();
    const out = await enrich(emu, [{ id: 1, file: 'scan.pdf' }], { prompt: 'item {{id}}', attach: ['file'], baseDir: dir });
    expect(out[0]?.['_error']).toEqual({ type: 'request_too_large', message: "<stdin>:2: scan.pdf: 3,221,225,472 bytes, over the Files API's 500 MB (524,288,000 bytes): not read (field file)" });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(emu.stats.requestsSubmitted).toBe(0);
  });

  // helper-76: the path was checked (realpath), then opened again by name: a link inside the folder
  // swapped back and forth between a file inside and one outside leaked the outside one into 149 of
  // 2,000 reads. Now the file is opened first, then checked where it is.
  it('filesUnder: a link swapped between a file inside and one outside while the records are read never lets the outside one through', async () => {
    const root = mkdtempSync(join(tmpdir(), 'be-docs-race-'));
    const dir = join(root, 'docs');
    mkdirSync(dir);
    writeFileSync(join(root, 'secret.txt'), 'SECRET outside\n');
    writeFileSync(join(dir, 'inside.txt'), 'harmless inside\n');
    symlinkSync('inside.txt', join(dir, 'x.txt'));
    const swapper = spawn('bash', ['-c', 'while true; do ln -sfn ../secret.txt x.tmp && mv -T x.tmp x.txt; ln -sfn inside.txt y.tmp && mv -T y.tmp x.txt; done'], { cwd: dir, stdio: 'ignore' });
    const seen = { leaked: 0, refused: 0, read: 0 };
    try {
      for (let round = 0; round < 10; round++) {
        const records = (async function* () {
          for (let i = 0; i < 50; i++) yield { seq: i, line: i + 2, data: { file: 'x.txt' } };
        })();
        for await (const r of attachDocuments({ fields: ['file'], baseDir: dir, model: 'claude-haiku-4-5', canUpload: false, filesUnder: dir })(records)) {
          const text = JSON.stringify(r);
          if (text.includes('SECRET')) seen.leaked++;
          else if (text.includes('outside')) seen.refused++;
          else if (text.includes('harmless')) seen.read++;
        }
      }
    } finally {
      swapper.kill();
    }
    expect(seen.leaked).toBe(0);
    expect(seen.read + seen.refused).toBeGreaterThan(0);
  }, 60_000);

  // note 49: an https image URL counted as a 1,600-token page on every model, a third of what an image
  // can cost on Opus 4.7 and later: --max-cost let a job of them cross the cap.
  it('an https image URL counts as the most an image costs on its model; a PDF URL as one page', async () => {
    const counted = async (model: string, url: string) => {
      const records = (async function* () {
        yield { seq: 0, line: 2, data: { file: url } };
      })();
      for await (const r of attachDocuments({ fields: ['file'], baseDir: tmpdir(), model, canUpload: false })(records)) return r.documents;
      return undefined;
    };
    expect(await counted('claude-opus-4-7', 'https://example.com/scan.jpg')).toMatchObject({ tokens: 4784, mediaTokens: 4784 });
    expect(await counted('claude-haiku-4-5', 'https://example.com/scan.png')).toMatchObject({ tokens: 1600, mediaTokens: 1600 });
    expect(await counted('claude-opus-4-7', 'https://example.com/contract.pdf')).toMatchObject({ tokens: 1600, mediaTokens: 1600 });
  });

  it('--upload files: each file uploaded once across rows and reruns; a rerun uploads and pays nothing', async () => {
    const dir = await folder();
    const emu = await emulator({ responder: byDocument });
    const ledger = tempLedger();
    const counts = newUploadCounts();
    const options = { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'files' as const, ledger, uploadCounts: counts };
    const first = await enrich(emu, rows, options);
    expect(first.filter((r) => r['_error']).length).toBe(4);
    // a.pdf and its copy, b.pdf, scan.png, the e-mail's attachment: four files (text goes inline).
    expect(emu.uploads()).toBe(4);
    // The copy is the same file: uploaded once, and not counted again (reused means an earlier run's upload).
    expect(counts).toMatchObject({ uploaded: 4, reused: 0 });
    const batches = emu.batches().length;
    const again = newUploadCounts();
    const second = await enrich(emu, rows, { ...options, uploadCounts: again });
    expect(second).toEqual(first);
    expect(emu.uploads()).toBe(4);
    expect(again).toMatchObject({ uploaded: 0 });
    expect(emu.batches().length).toBe(batches);
  });

  it('once the budget has run out, no file is uploaded for a record that will not be sent: it comes out budget_exceeded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-docs-budget-'));
    const n = 60;
    for (let i = 0; i < n; i++) writeFileSync(join(dir, `inv-${i}.pdf`), await invoicePdf(i));
    const emu = await emulator({ responder: byDocument });
    const events: string[] = [];
    const out = await enrich(
      emu,
      Array.from({ length: n }, (_, i) => ({ id: i, file: `inv-${i}.pdf` })),
      // A cap below one request's estimate: the first group is refused.
      { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'files', ledger: tempLedger(), batchSize: 1, maxCostUsd: 1e-9, onEvent: (e) => events.push(e.type) },
    );
    expect(events).toContain('budget');
    expect(out.map((r) => (r['_error'] as { type?: string } | undefined)?.type)).toEqual(Array(n).fill('budget_exceeded'));
    expect(emu.batches()).toEqual([]);
    // Those read ahead before the refusal, at most (the stages' buffers), not every file.
    expect(emu.uploads()).toBeLessThan(n / 2);
  });

  it('a record already submitted under another API key stops the run (BE_IDENTITY), its files not uploaded again, even once the budget has run out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-docs-identity-'));
    const n = 60;
    const a = 50;
    for (let i = 0; i < n; i++) writeFileSync(join(dir, `inv-${i}.pdf`), await invoicePdf(i));
    const emu = await emulator({ responder: byDocument });
    const ledger = tempLedger();
    const records = Array.from({ length: n }, (_, i) => ({ id: i, file: `inv-${i}.pdf` }));
    const base = { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'files' as const, ledger };
    // The last ten, sent with key A.
    await enrich(emu, records.slice(a), { ...base, apiKey: 'key-a' });
    expect(emu.uploads()).toBe(n - a);
    // Key B, with a cap below one request: the first records are refused, and the last ten were A's.
    const events: string[] = [];
    const run = enrich(emu, records, { ...base, apiKey: 'key-b', batchSize: 1, maxCostUsd: 1e-9, onEvent: (e) => events.push(e.type) });
    await expect(run).rejects.toMatchObject({ code: 'BE_IDENTITY', message: expect.stringMatching(/another API identity/) });
    expect(events).toContain('budget');
    // Without a cap, A's records are not uploaded again for a run that stops on them.
    const before = emu.uploads();
    await expect(enrich(emu, records.slice(a), { ...base, apiKey: 'key-b' })).rejects.toMatchObject({ code: 'BE_IDENTITY' });
    expect(emu.uploads()).toBe(before);
    expect(emu.batches()).toHaveLength(1);
  });

  it('a changed file is a new request; the same file sent inline or uploaded is the same request', async () => {
    const dir = await folder();
    const emu = await emulator({ responder: byDocument });
    const ledger = tempLedger();
    const base = { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, ledger };
    await enrich(emu, [{ id: 1, file: 'a.pdf' }], { ...base, upload: 'inline' });
    expect(emu.stats.requestsSubmitted).toBe(1);
    await enrich(emu, [{ id: 1, file: 'a.pdf' }], { ...base, upload: 'files' });
    expect(emu.stats.requestsSubmitted).toBe(1);
    expect(emu.uploads()).toBe(0);
    writeFileSync(join(dir, 'a.pdf'), await invoicePdf(3));
    const out = await enrich(emu, [{ id: 1, file: 'a.pdf' }], { ...base, upload: 'files' });
    expect(emu.stats.requestsSubmitted).toBe(2);
    expect(out[0]?.['label']).toBe('INV-00003');
  });

  /** An emulator and a ledger on a clock the test moves, after one run that uploaded `a.pdf`. */
  async function uploadedOnce() {
    const dir = await folder();
    const clock = { t: Date.parse('2026-05-01T00:00:00Z'), now: () => clock.t, sleep: async (ms: number) => void (clock.t += ms) };
    const emu = await emulator({ now: clock.now, responder: byDocument });
    const ledger = tempLedger();
    const base = { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, ledger, upload: 'files' as const, clock: { now: clock.now, sleep: clock.sleep } };
    await enrich(emu, [{ id: 1, file: 'a.pdf' }], base);
    expect(emu.uploads()).toBe(1);
    return { clock, emu, ledger, base };
  }

  it('an expired or deleted file is uploaded again on the next run', async () => {
    const { clock, emu, base } = await uploadedOnce();
    // Six days on, the 7-day file has less than the 48 h a batch and its resume need: uploaded again.
    clock.t += 6 * 24 * 3600_000;
    await enrich(emu, [{ id: 2, file: 'a.pdf' }], base);
    expect(emu.uploads()).toBe(2);
    // Deleted on the API side: uploaded again.
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url });
    for await (const file of client.files.list()) await client.files.delete(file.id);
    const out = await enrich(emu, [{ id: 3, file: 'a.pdf' }], base);
    expect(emu.uploads()).toBe(3);
    expect(out[0]?.['label']).toBe('INV-00001');
  });

  it('a request still waiting in the ledger (never sent) whose file expired meanwhile is uploaded again, and sent with the new file', async () => {
    const { clock, emu, ledger, base } = await uploadedOnce();
    // As a release leaves it (its batch was never made): pending, with the file id of that upload.
    tamper(ledger, FORGET_SENDING);
    tamper(ledger, 'DELETE FROM results');
    clock.t += 8 * 24 * 3600_000; // the 7-day file has expired
    const out = await enrich(emu, [{ id: 1, file: 'a.pdf' }], base);
    expect(emu.uploads()).toBe(2);
    expect(out[0]?.['_error']).toBeUndefined();
    expect(out[0]?.['label']).toBe('INV-00001');
  });

  it('a request that failed transiently, tried again by a run after its file expired, is sent with the file uploaded again', async () => {
    const { clock, emu, ledger, base } = await uploadedOnce();
    // Its last attempt was expired by the API: final for that run, tried again by the next one.
    tamper(ledger, `UPDATE results SET result = '{"type":"expired"}'`);
    clock.t += 8 * 24 * 3600_000; // the 7-day file has expired
    const out = await enrich(emu, [{ id: 1, file: 'a.pdf' }], base);
    expect(emu.uploads()).toBe(2);
    expect(out[0]?.['_error']).toBeUndefined();
    expect(out[0]?.['label']).toBe('INV-00001');
  });

  // helper-94 #3: a rerun uploaded the files of requests whose final failure was their own (a contract
  // over the context window), only for the intake to find that nothing else would be sent.
  it('a request whose final failure names no file is not sent again, and its files are not uploaded again', async () => {
    const { clock, emu, ledger, base } = await uploadedOnce();
    const ownFailure = JSON.stringify({ type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 212000 tokens > 200000 maximum' } } });
    tamper(ledger, `UPDATE results SET result = '${ownFailure}'`);
    clock.t += 8 * 24 * 3600_000; // the 7-day file has expired: checking it would upload it again
    const out = await enrich(emu, [{ id: 1, file: 'a.pdf' }], base);
    expect(emu.uploads()).toBe(1);
    expect(emu.stats.requestsSubmitted).toBe(1);
    expect(out[0]?.['_error']).toMatchObject({ type: 'invalid_request_error', message: expect.stringContaining('prompt is too long') });
  });

  it('a storage quota refusal is that record upload_failed; the rest goes on', async () => {
    const dir = await folder();
    const emu = await emulator({ responder: byDocument, filesQuotaBytes: 2500 });
    const out = await enrich(emu, [{ id: 1, file: 'a.pdf' }, { id: 2, file: 'b.pdf' }, { id: 3, file: 'notes.md' }], { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'files', uploadConcurrency: 1 });
    expect(out.map((r) => (r['_error'] as { type?: string } | undefined)?.type)).toEqual([undefined, 'upload_failed', undefined]);
    // The file named, and the API's own words (not its JSON body).
    expect((out[1]?.['_error'] as { message: string }).message).toMatch(/^<stdin>:3: b\.pdf: uploading to the Files API failed: [^{]*quota[^{]* \(400 invalid_request_error\)$/i);
  });
});

describe('recipes over documents in the library', () => {
  it('recipeStage(contractClauses, …, { documents: true }) returns each liability clause with its page', async () => {
    const { default: contractClauses } = await import('../transforms/contract-clauses.ts');
    const { recipeStage } = await import('../src/recipe.ts');
    const { Readable } = await import('node:stream');
    const emu = await emulator({
      responder: ({ documents }) => {
        const text = documents?.[0]?.text ?? '';
        const page = text.split('\n').findIndex((line) => line.includes('Limitation of liability')) >= 0 ? 2 : 1;
        return { json: { clauses: [{ page, number: '7.1', text: 'capped', liability_capped: true, cap: '12 months', carve_outs: [], mutual: false, excludes_consequential_damages: true, risk: 'medium', rationale: 'r' }] } };
      },
    });
    const { contractPdf } = await import('../fixtures/documents/make.mjs');
    const out: Record<string, unknown>[] = [];
    for await (const record of recipeStage(contractClauses, { apiKey: 'k', baseURL: emu.url, ledger: ':memory:', attach: ['file'], pollMinMs: 5 }, { documents: true })(
      Readable.from([{ seq: 0, line: 1, data: { file: Buffer.from(await contractPdf()) } }]),
    )) {
      out.push(record);
    }
    expect(out[0]?.['_error']).toBeUndefined();
    expect(out[0]?.['clauses']).toEqual([expect.objectContaining({ page: 2, number: '7.1' })]);
  });
});

describe('oversized images', () => {
  it('are refused before paying by default, and sent for the API to scale down with oversizedImage: downsize', async () => {
    const emu = await emulator({ responder: byDocument });
    const rows = [{ id: 1, file: png(8001, 10) }];
    const refused = await enrich(emu, rows, { prompt: 'item {{id}}', attach: ['file'], upload: 'inline' });
    expect(refused[0]?.['_error']).toMatchObject({ type: 'image_too_large', message: expect.stringMatching(/8001×10 px, over 8000 px a side/) });
    expect(emu.stats.requestsSubmitted).toBe(0);
    const sent = await enrich(emu, rows, { prompt: 'item {{id}}', attach: ['file'], upload: 'inline', oversizedImage: 'downsize' });
    expect(sent[0]?.['label']).toBe('8001x10');
  });
});

describe('upload retries', () => {
  it('an upload refused with a transient status (529) is tried again after a wait; every file ends up uploaded once', async () => {
    const dir = await folder();
    const emu = await emulator({ responder: byDocument, uploadFaultRate: 0.3 });
    const waits: number[] = [];
    const clock = { now: Date.now, sleep: async (ms: number) => void waits.push(ms) };
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url, maxRetries: 0 });
    const out = await enrich(emu, rows.slice(0, 4), { prompt: 'item {{id}}', attach: ['file'], baseDir: dir, upload: 'files', client, clock, uploadConcurrency: 1 });
    expect(out.map((r) => r['_error'])).toEqual([undefined, undefined, undefined, undefined]);
    expect(emu.uploads()).toBe(3);
    expect(waits.filter((ms) => ms >= 900 && ms <= 60_000).length).toBeGreaterThan(0);
  });
});

describe('resolveUploads and a request already submitted', () => {
  const part = { sha256: 'ab'.repeat(32), bytes: new Uint8Array([1]), mediaType: 'application/pdf', name: 'a.pdf' };
  const record = () => ({
    seq: 0,
    line: 2,
    data: {},
    key: 'k',
    messages: `[{"role":"user","content":[{"type":"document","source":{"type":"file","file_id":"sha256:${part.sha256}"}}]}]`,
    uploads: [part],
  });
  const refusing = { fileIdFor: () => Promise.reject(Object.assign(new Error('Overloaded'), { status: 529 })) } as unknown as Uploader;
  const run = async (known: boolean | 'submitted') => {
    const out = [];
    for await (const r of resolveUploads({ uploader: refusing, known: () => known })((async function* () { yield record(); })())) out.push(r);
    return out[0]!;
  };

  it('a file that cannot be checked again leaves a submitted request as it was sent (its answer comes from its batch), not upload_failed', async () => {
    const kept = await run('submitted');
    expect(kept.error).toBeUndefined();
    expect(hasPendingUploads(kept.messages!)).toBe(true); // the intake then keeps the stored body
  });

  it('a request not yet sent whose upload fails is the record\'s upload_failed', async () => {
    expect((await run(false)).error).toMatchObject({ type: 'upload_failed' });
  });
});

// helper-89 #2: contract-clauses asked a whole 30-page contract for its clauses under the 800
// max_tokens of a one-clause answer: cut off, asked again, and the whole PDF paid for twice.
describe('documentMaxTokens: records with documents get their own max_tokens', () => {
  it('with attach, a row with a document is sent documentMaxTokens and a row without one maxTokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-doc-max-'));
    writeFileSync(join(dir, 'a.pdf'), await invoicePdf(1));
    const seen = new Map<string, unknown>();
    const emu = await emulator({ responder: ({ params, documents }) => (seen.set(documents?.length ? 'document' : 'text', params['max_tokens']), undefined) });
    const { enrichAll } = await import('../src/index.ts');
    const out = await enrichAll([{ id: '1', file: 'a.pdf', text: '' }, { id: '2', text: 'a clause' }], {
      prompt: 'Review {{text}}', documentPrompt: 'Review the attached contract', attach: ['file'], baseDir: dir, maxTokens: 800, documentMaxTokens: 8192,
      apiKey: 'k', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5,
    });
    expect(out.map((r) => r._error)).toEqual([undefined, undefined]);
    expect(Object.fromEntries(seen)).toEqual({ document: 8192, text: 800 });
  });

  it('recipeOptions for whole documents takes the recipe’s documentMaxTokens; for rows, its maxTokens and documentMaxTokens both', async () => {
    const { recipeOptions } = await import('../src/index.ts');
    const { default: contractClauses } = await import('../transforms/contract-clauses.ts');
    expect(recipeOptions(contractClauses, { documents: true }).maxTokens).toBe(contractClauses.documentMaxTokens);
    expect(contractClauses.documentMaxTokens).toBeGreaterThanOrEqual(8192);
    expect(recipeOptions(contractClauses)).toMatchObject({ maxTokens: 800, documentMaxTokens: contractClauses.documentMaxTokens });
    // helper-93 #9: `maxTokens` given over a recipe is its limit for every record, as --max-tokens is.
    const { recipeStageOptions } = await import('../src/recipe.ts');
    expect(recipeStageOptions(contractClauses, { maxTokens: 2000 })).toMatchObject({ maxTokens: 2000, documentMaxTokens: 2000 });
    expect(recipeStageOptions(contractClauses, { maxTokens: 2000, documentMaxTokens: 9000 })).toMatchObject({ maxTokens: 2000, documentMaxTokens: 9000 });
  });
});

describe('a folder through the library, as the CLI runs one', () => {
  // readFolder(dir) piped into recipeStage(invoiceExtraction) gave every record a template error
  // (`<stdin>:1: … {{text}}`): the folder's records were not attached by their `path` as the CLI
  // attaches them, and the error named <stdin>, not the folder.
  it('readFolder(dir) into recipeStage(invoiceExtraction): each file attached by its path and answered; a bad file named by the folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-lib-folder-'));
    writeFileSync(join(dir, 'a.pdf'), await invoicePdf(1));
    writeFileSync(join(dir, 'b.pdf'), await invoicePdf(2));
    writeFileSync(join(dir, 'c-broken.pdf'), corruptPdf());
    const seen: EmulatedDocument[][] = [];
    const emu = await emulator({ responder: ({ documents }) => (seen.push(documents ?? []), undefined) });
    const { readFolder, recipeStage } = await import('../src/index.ts');
    const { default: invoiceExtraction } = await import('../transforms/invoice-extraction.ts');
    const out: Record<string, unknown>[] = [];
    for await (const record of recipeStage(invoiceExtraction, { apiKey: 'k', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5 })(readFolder(dir))) out.push(record);
    expect(out.map((r) => [r['name'], (r['_error'] as { type: string } | undefined)?.type])).toEqual([
      ['a.pdf', undefined],
      ['b.pdf', undefined],
      ['c-broken.pdf', 'document_unreadable'],
    ]);
    expect(typeof out[0]?.['vendor']).toBe('string');
    expect(seen.map((documents) => documents.map((d) => d.text?.match(/INV-\d+/)?.[0]))).toEqual([['INV-00001'], ['INV-00002']]);
    const broken = `${dir}:3: ${join(dir, 'c-broken.pdf')}: a damaged PDF`;
    expect((out[2]?.['_error'] as { message: string }).message.slice(0, broken.length)).toBe(broken);
    // A prompt whose field a file record lacks: the error names the folder and the record, not <stdin>.
    const { enrichStage } = await import('../src/index.ts');
    const missing: Record<string, unknown>[] = [];
    for await (const record of enrichStage({ prompt: 'Summarise {{subject}}', apiKey: 'k', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5 })(readFolder(dir))) missing.push(record);
    expect((missing[0]?.['_error'] as { type: string; message: string })).toMatchObject({ type: 'template', message: expect.stringContaining(`${dir}:1: `) });
  });

  // helper-86 #7: an answer's error named the folder and the record's index (`docs/:2: …`), or
  // `<stdin>:2:` through the library, not the file, as the folder's document errors do.
  it('an answer that fails names the folder, the record and its file, through the library and as the CLI runs it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-lib-folder-'));
    writeFileSync(join(dir, 'a.txt'), 'invoice one');
    writeFileSync(join(dir, 'b.txt'), 'invoice two');
    const emu = await emulator({ responder: () => ({ error: { type: 'invalid_request_error', message: 'refused' } }) });
    const { readFolder, enrichStage } = await import('../src/index.ts');
    for (const file of [undefined, dir]) {
      const out: Record<string, unknown>[] = [];
      for await (const record of enrichStage({ prompt: 'Summarise', apiKey: 'k', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5, file })(readFolder(dir))) out.push(record);
      expect(out.map((r) => (r['_error'] as { message: string }).message)).toEqual([`${dir}:1: ${join(dir, 'a.txt')}: refused`, `${dir}:2: ${join(dir, 'b.txt')}: refused`]);
    }
  });
});
