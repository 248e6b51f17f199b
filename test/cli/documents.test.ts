/**
 * The "done when", as a user runs it: a folder of 200 generated PDFs and images (mixed
 * sizes, one encrypted, one corrupt, one over the page limit, one duplicate) through
 * `batch-enrich --transform invoice-extraction FOLDER` against the emulator; batches cut by bytes
 * with inline base64 and one batch with uploads; a kill during uploads.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { PDFDocument } from 'pdf-lib';
import { afterEach, describe, expect, it } from 'vitest';
import { corruptPdf, encryptedPdf, invoicePdf, jpeg, png, textPdf } from '../../fixtures/documents/make.mjs';
import { startEmulator, type EmulatorHandle } from '../../src/emulator/index.ts';
import type { BatchEvent } from '../../src/stages/batch.ts';
import { BIN, ROOT, runCli } from '../helpers/cli.ts';
import { enrich, schema } from '../helpers/pipeline.ts';
import { freshSchema, postgres } from '../helpers/postgres.ts';

let emulators: EmulatorHandle[] = [];
afterEach(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
});
async function emulator(options: Parameters<typeof startEmulator>[0] = {}) {
  const emu = await startEmulator(options);
  emulators.push(emu);
  return emu;
}

/** A one-page invoice made `size` bytes big by an embedded attachment of random bytes (incompressible). */
async function bigInvoice(n: number, size: number): Promise<Uint8Array> {
  const doc = await PDFDocument.load(await invoicePdf(n));
  await doc.attach(randomBytes(size), 'scan-data.bin', { mimeType: 'application/octet-stream' });
  return doc.save({ useObjectStreams: false });
}

/** 200 files: PDFs of 1-3 pages, ten of them over 512 KB (so `--upload auto` uploads them), PNGs, and the bad ones. */
async function invoiceFolder(): Promise<{ dir: string; big: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'be-invoices-'));
  let big = 0;
  for (let i = 0; i < 195; i++) {
    const name = join(dir, `inv-${String(i).padStart(3, '0')}`);
    if (i % 20 === 0) {
      writeFileSync(`${name}.pdf`, await bigInvoice(i, 600_000 + i * 1000));
      big++;
    } else if (i % 3 === 0) writeFileSync(`${name}.png`, png(200 + i, 300 + i));
    else if (i % 7 === 0) writeFileSync(`${name}.pdf`, await textPdf([[`Invoice ${i}`], ['Terms'], ['Total EUR 10.00']]));
    else writeFileSync(`${name}.pdf`, await invoicePdf(i));
  }
  writeFileSync(join(dir, 'x-encrypted.pdf'), await encryptedPdf());
  writeFileSync(join(dir, 'x-corrupt.pdf'), corruptPdf());
  writeFileSync(join(dir, 'x-long.pdf'), await textPdf(Array.from({ length: 101 }, (_, p) => [`page ${p + 1}`])));
  copyFileSync(join(dir, 'inv-000.pdf'), join(dir, 'x-duplicate.pdf'));
  writeFileSync(join(dir, 'x-photo.png'), png(1200, 1600));
  return { dir, big };
}

/** Runs the command again while the emulator's minute passes every 100 ms (`advance`): its 4 invoices all answered. */
async function rerunAnswersAll(args: string[], e: Record<string, string>, advance: () => void): Promise<void> {
  const ticking = setInterval(advance, 100);
  const rerun = await runCli(args, { env: e }).finally(() => clearInterval(ticking));
  expect(rerun.code, rerun.stderr).toBe(0);
  const records = rerun.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(records).toHaveLength(4);
  expect(records.filter((r) => r['_error'])).toEqual([]);
}

function env(emu: EmulatorHandle, ledger: string) {
  return { ANTHROPIC_API_KEY: 'sk-docs', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: ledger };
}

describe('a folder of 200 invoices through the CLI', () => {
  it('every file out once, the bad ones with _error, the duplicate uploaded once; a rerun uploads and pays nothing', async () => {
    const { dir, big } = await invoiceFolder();
    const emu = await emulator();
    const work = mkdtempSync(join(tmpdir(), 'be-docs-run-'));
    const ledger = join(work, 'ledger.db');
    const args = ['--transform', 'invoice-extraction', '--poll-min', '0.01', '--summary', join(work, 'summary.json'), dir];
    const first = await runCli(args, { env: env(emu, ledger), timeoutMs: 60_000 });
    expect(first.code, first.stderr).toBe(3);
    const records = first.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toHaveLength(200);
    expect(new Set(records.map((r) => r['path'])).size).toBe(200);
    const errors = Object.fromEntries(records.filter((r) => r['_error']).map((r) => [r['name'], (r['_error'] as { type: string }).type]));
    expect(errors).toEqual({ 'x-encrypted.pdf': 'document_encrypted', 'x-corrupt.pdf': 'document_unreadable', 'x-long.pdf': 'document_too_many_pages' });
    expect(records.filter((r) => !r['_error']).every((r) => typeof r['vendor'] === 'string')).toBe(true);
    // --upload auto: the ten big PDFs went through the Files API, the duplicate of one of them once.
    expect(emu.uploads()).toBe(big);
    const summary = JSON.parse(readFileSync(join(work, 'summary.json'), 'utf8')) as Record<string, number>;
    expect(summary).toMatchObject({ records_ok: 197, records_failed: 3, files_uploaded: big, files_reused: 0 });
    expect(summary['cost_usd']).toBeGreaterThan(0);
    // Every good file is one request (the duplicate too: its title, the file name, differs), nothing for the bad ones.
    expect(emu.stats.requestsSubmitted).toBe(197);

    const submitted = emu.stats.requestsSubmitted;
    const again = await runCli(args, { env: env(emu, ledger), timeoutMs: 60_000 });
    expect(again.code).toBe(3);
    expect(again.stdout).toBe(first.stdout);
    expect(emu.uploads()).toBe(big);
    expect(emu.stats.requestsSubmitted).toBe(submitted);
    expect(JSON.parse(readFileSync(join(work, 'summary.json'), 'utf8'))).toMatchObject({ cost_usd: 0, batches: 0, files_uploaded: 0 });
  }, 120_000);

  it('killed during uploads, a rerun uploads each file at most once more', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-kill-uploads-'));
    for (let i = 0; i < 12; i++) writeFileSync(join(dir, `inv-${i}.pdf`), await bigInvoice(i, 1000 + i));
    const emu = await emulator({ uploadLatencyMs: 150 });
    const ledger = join(mkdtempSync(join(tmpdir(), 'be-kill-ledger-')), 'ledger.db');
    const args = ['--transform', 'invoice-extraction', '--upload', 'files', '--poll-min', '0.01', dir];
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir(), ...env(emu, ledger) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let killed = false;
    const timer = setInterval(() => {
      if (!killed && emu.uploads() >= 5) {
        killed = true;
        child.kill('SIGKILL');
      }
    }, 2);
    await new Promise((resolve) => child.on('close', resolve));
    clearInterval(timer);
    expect(killed).toBe(true);
    expect(emu.stats.requestsSubmitted).toBe(0);
    const rerun = await runCli(args, { env: env(emu, ledger), timeoutMs: 60_000 });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout.trim().split('\n')).toHaveLength(12);
    const perFile = new Map<string, number>();
    const client = new Anthropic({ apiKey: 'k', baseURL: emu.url });
    for await (const file of client.files.list({ limit: 1000 })) perFile.set(file.filename, (perFile.get(file.filename) ?? 0) + 1);
    expect(perFile.size).toBe(12);
    expect(Math.max(...perFile.values())).toBeLessThanOrEqual(2);
  }, 60_000);
});

describe('batches cut by bytes, base64 counted as sent', () => {
  it('inline bodies over the batch limit are cut into batches under it; with uploads the job fits one batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-bytes-'));
    mkdirSync(dir, { recursive: true });
    const rows: { id: number; file: string }[] = [];
    for (let i = 0; i < 12; i++) {
      writeFileSync(join(dir, `${i}.pdf`), await bigInvoice(i, 40_000));
      rows.push({ id: i, file: `${i}.pdf` });
    }
    const maxBatchBytes = 200_000; // stands in for 256 MB: twelve ~54 KB base64 bodies are ~650 KB
    const run = async (upload: 'inline' | 'files') => {
      const emu = await emulator();
      const events: BatchEvent[] = [];
      const out = await enrich(emu, rows.map((r) => ({ ...r })), { prompt: 'item {{id}}', schema, attach: ['file'], baseDir: dir, upload, maxBatchBytes, onEvent: (e) => events.push(e) });
      expect(out.every((r) => !r['_error'])).toBe(true);
      return events.filter((e): e is Extract<BatchEvent, { type: 'submitted' }> => e.type === 'submitted');
    };
    const inline = await run('inline');
    expect(inline.length).toBeGreaterThan(3);
    for (const batch of inline) expect(batch.bytes).toBeLessThanOrEqual(maxBatchBytes);
    expect(inline.reduce((n, b) => n + b.bytes, 0)).toBeGreaterThan(12 * 40_000 * (4 / 3));
    const files = await run('files');
    expect(files).toHaveLength(1);
    expect(files[0]?.bytes).toBeLessThan(maxBatchBytes / 10);
  });
});

describe('documents from the command line', () => {
  it('--input-format paths: one record per listed file; a missing one gets document_missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-paths-'));
    writeFileSync(join(dir, 'a.pdf'), await invoicePdf(1));
    writeFileSync(join(dir, 'b.png'), png(50, 60));
    const result = await runCli(['--emulator', '--transform', 'invoice-extraction', '--input-format', 'paths', '--poll-min', '0.01'], {
      cwd: dir,
      stdin: 'a.pdf\n\nb.png\nnope.pdf\n',
    });
    expect(result.code, result.stderr).toBe(3);
    const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((r) => [r['path'], r['name'], (r['_error'] as { type?: string } | undefined)?.type ?? 'ok'])).toEqual([
      ['a.pdf', 'a.pdf', 'ok'],
      ['b.png', 'b.png', 'ok'],
      ['nope.pdf', 'nope.pdf', 'document_missing'],
    ]);
    expect(records[0]?.['sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect((records[2]?.['_error'] as { message: string }).message).toMatch(/^<stdin>:4: nope\.pdf: no such file/);
  });

  it('a recipe attaches its field: paths are relative to the input file; rows with text only work as before', async () => {
    const result = await runCli(['--emulator', '--transform', 'invoice-extraction', '--poll-min', '0.01', 'fixtures/documents/invoices.ndjson']);
    expect(result.code, result.stderr).toBe(0);
    const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((r) => r['invoice_id'])).toEqual(['INV-00001', 'INV-00003', 'INV-00009']);
    expect(records.every((r) => typeof r['total'] === 'number')).toBe(true);
  });

  // helper-74: `invoice_id,file\n4,../../etc/passwd` sent /etc/passwd to the API as a text document.
  it('--files-under DIR: a path outside DIR is its record’s document_unreadable and never sent; --dry-run shows the same; a DIR that is no folder is a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-cli-under-'));
    const docs = join(dir, 'docs');
    mkdirSync(docs);
    writeFileSync(join(docs, 'a.txt'), 'Invoice INV-00001 total 10 EUR');
    writeFileSync(join(dir, 'secret.env'), 'API_TOKEN=never-send-me');
    const input = join(docs, 'in.csv');
    writeFileSync(input, 'invoice_id,file\n1,a.txt\n2,../secret.env\n3,/etc/passwd\n');
    const args = ['--transform', 'invoice-extraction', '--files-under', docs, '--ledger', join(dir, 'l.db'), '--poll-min', '0.01', input];
    const dry = await runCli(['--dry-run', ...args]);
    expect(dry.stdout).not.toContain('never-send-me');
    expect(dry.stdout).not.toContain('root:');
    const result = await runCli(['--emulator', ...args]);
    expect(result.code, result.stderr).toBe(3);
    const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { _error?: { type: string; message: string } });
    expect(records.map((r) => r._error?.type)).toEqual([undefined, 'document_unreadable', 'document_unreadable']);
    expect(records[1]?._error?.message).toContain(`${input}:3: ../secret.env: outside ${docs}`);
    const usage = await runCli(['--emulator', '--transform', 'invoice-extraction', '--files-under', join(dir, 'nope'), input]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain(`--files-under: "${join(dir, 'nope')}": no such folder`);
  });

  it("--attach with a recipe: a row with a document gets the recipe's document prompt and answer, a row with text only its own", async () => {
    // Every row was asked for the whole-document answer (a list of clauses with pages), text rows too.
    const dir = mkdtempSync(join(tmpdir(), 'be-attach-mixed-'));
    copyFileSync(join(ROOT, 'fixtures', 'documents', 'contract.pdf'), join(dir, 'contract.pdf'));
    const clause = 'The Supplier shall not be liable for indirect losses; its liability is capped at 12 months of fees.';
    writeFileSync(join(dir, 'review.csv'), `contract,clause,file\nMSA 2024,,contract.pdf\nMSA 2023,"${clause}",\n`);
    const dry = await runCli(['--dry-run', '--transform', 'contract-clauses', '--attach', 'file', join(dir, 'review.csv')]);
    expect(dry.code, dry.stderr).toBe(0);
    const [doc, text] = dry.stdout.trim().split('\n').map((line) => JSON.parse(line) as { params: { output_config: { format: { schema: { properties: object } } }; messages: { content: unknown }[] } });
    expect(Object.keys(doc?.params.output_config.format.schema.properties ?? {})).toEqual(['clauses']);
    expect(Object.keys(text?.params.output_config.format.schema.properties ?? {})).toContain('is_liability_clause');
    expect(JSON.stringify(text?.params.messages)).toContain('Clause:');
    // helper-89 #2: a whole contract was asked under a clause's 800 max_tokens, cut off, and paid for twice.
    const maxTokens = (line: string) => (JSON.parse(line) as { params: { max_tokens: number } }).params.max_tokens;
    expect(dry.stdout.trim().split('\n').map(maxTokens)).toEqual([8192, 800]);
    const folder = await runCli(['--dry-run', '--transform', 'contract-clauses', 'fixtures/documents/contract.pdf']);
    expect(folder.stdout.trim().split('\n').map(maxTokens), folder.stderr).toEqual([8192]);
    expect((await runCli(['--dry-run', '--transform', 'contract-clauses', '--max-tokens', '2000', 'fixtures/documents/contract.pdf'])).stdout.trim().split('\n').map(maxTokens)).toEqual([2000]);
    const run = await runCli(['--emulator', '--poll-min', '0.01', '--transform', 'contract-clauses', '--attach', 'file', join(dir, 'review.csv')]);
    expect(run.code, run.stderr).toBe(0);
    const [first, second] = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(Array.isArray(first?.['clauses'])).toBe(true);
    expect(typeof second?.['is_liability_clause']).toBe('boolean');
    expect(second?.['clauses']).toBeUndefined();
  });

  // helper-100 #1: a row with a document and the text its recipe's row prompt reads was sent the
  // document and the document prompt alone: its text (an accounts note, the clause to review) was
  // dropped without a word, and two rows of the same PDF with different notes were one request.
  it('a row with a document and the text of the row prompt sends both: the document, the document prompt, then the row prompt with its text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-doc-and-text-'));
    copyFileSync(join(ROOT, 'fixtures', 'documents', 'invoices', 'INV-00001.pdf'), join(dir, 'inv.pdf'));
    copyFileSync(join(ROOT, 'fixtures', 'documents', 'contract.pdf'), join(dir, 'contract.pdf'));
    writeFileSync(join(dir, 'rows.csv'), 'invoice_id,file,text\n1,inv.pdf,"Note from accounts: PO 4471, paid by card"\n2,inv.pdf,\n');
    type Line = { params: { messages: { content: { type: string; text?: string }[] }[]; output_config: { format: { schema: { properties: object } } } } };
    const contents = (stdout: string) => stdout.trim().split('\n').map((line) => (JSON.parse(line) as Line).params.messages[0]?.content.map((block) => (block.type === 'text' ? block.text : block.type)));
    const invoices = await runCli(['--dry-run', '--transform', 'invoice-extraction', join(dir, 'rows.csv')]);
    expect(invoices.code, invoices.stderr).toBe(0);
    expect(contents(invoices.stdout)).toEqual([
      ['document', 'Extract the invoice in the attached document.', 'Invoice text:\n<invoice>\nNote from accounts: PO 4471, paid by card\n</invoice>'],
      ['document', 'Extract the invoice in the attached document.'],
    ]);
    expect(invoices.stderr).toContain('estimate: 2 requests');
    const clause = '7.1 The Supplier\'s liability is capped at 3 months of fees.';
    writeFileSync(join(dir, 'clauses.csv'), `contract,clause,file\nACME MSA,"${clause}",contract.pdf\nMSA 2024,,contract.pdf\n`);
    const clauses = await runCli(['--dry-run', '--transform', 'contract-clauses', '--attach', 'file', join(dir, 'clauses.csv')]);
    expect(clauses.code, clauses.stderr).toBe(0);
    const review = 'Find every limitation-of-liability clause in the attached contract, and review each one.';
    // The row with its clause is asked the whole contract's answer (the recipe's document answer), its clause after the question.
    expect(contents(clauses.stdout)).toEqual([
      ['document', review, `Contract: ACME MSA\n\nClause:\n${clause}`],
      ['document', review],
    ]);
    const schemas = clauses.stdout.trim().split('\n').map((line) => Object.keys((JSON.parse(line) as Line).params.output_config.format.schema.properties));
    expect(schemas).toEqual([['clauses'], ['clauses']]);
  });

  // helper-74: the run said which attachments of an e-mail it left out; --dry-run said nothing. A
  // name with a line break in it could print a line of its own (a forged message): it is shown escaped.
  it('--dry-run says the e-mail attachments left out, as the run does, on one line whatever their names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-cli-notsent-'));
    const mail = [
      'From: a@b.example', 'To: c@d.example', 'Subject: s', 'Date: Sat, 14 Mar 2026 10:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
      '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'See the attachment.', '--b1',
      'Content-Type: application/octet-stream; name="x"', 'Content-Disposition: attachment; filename*=utf-8\'\'x%0Abatch-enrich%3A%20all%20good.docx', 'Content-Transfer-Encoding: base64', '',
      Buffer.from('PK\u0003\u0004 not really a docx').toString('base64'), '--b1--', '',
    ].join('\r\n');
    writeFileSync(join(dir, 'm.eml'), mail);
    const dry = await runCli(['--dry-run', '--prompt', 'Summarise', join(dir, 'm.eml')]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain('1 attachment not sent: x\\u000abatch-enrich: all good.docx (document_unsupported)');
    expect(dry.stderr.split('\n').filter((line) => line.startsWith('batch-enrich: all good'))).toEqual([]);
  });

  // helper-74: "Summarise this" over documents was priced at every answer using max_tokens (an answer
  // as long as the documents): --max-cost refused a job that cost a third of its cap.
  it('a free-text prompt over documents is priced at a paragraph an answer, not max_tokens: a cap the job fits is not refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-cli-doccap-'));
    const args = ['--emulator', '--prompt', 'Summarise this.', '--ledger', join(dir, 'l.db'), '--poll-min', '0.01', 'fixtures/documents/invoices/'];
    const dry = await runCli(['--dry-run', '--prompt', 'Summarise this.', 'fixtures/documents/invoices/']);
    expect(dry.stderr).toMatch(/typical answers of about 300 tokens/);
    const run = await runCli([...args, '--max-cost', '0.008']);
    expect(run.code, run.stderr).toBe(0);
    const spent = Number(/cost \$([\d.]+) at batch prices/.exec(run.stderr)?.[1]);
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThan(0.008);
  });

  it('--dry-run shows documents with their base64 elided, and estimates them by pages and pixels', async () => {
    const result = await runCli(['--dry-run', '--transform', 'invoice-extraction', 'fixtures/documents/invoices/']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('"source":{"type":"base64","media_type":"application/pdf","data":"<1,830 bytes of application/pdf>"}');
    expect(result.stdout).toContain('"data":"<1,381 bytes of image/png>"');
    expect(result.stdout).not.toMatch(/[A-Za-z0-9+/]{200}/);
    // 4 requests: 3 one-page PDFs at 1,600 tokens a page image plus their text, a 400x560 scan at ~286, plus the prompt and the e-mail's text.
    expect(result.stderr).toMatch(/estimate: 4 requests of about 1,\d{3} input tokens/);
  });

  it('a PDF over 32 MB, which the run uploads (--upload auto), is shown as an upload by --dry-run and counted by its pages in the estimate and by --max-cost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-bigpages-'));
    const doc = await PDFDocument.load(await textPdf(Array.from({ length: 90 }, (_, p) => [`page ${p + 1}`])));
    await doc.attach(randomBytes(33 * 1024 * 1024), 'scan-data.bin', { mimeType: 'application/octet-stream' });
    writeFileSync(join(dir, 'scan90.pdf'), await doc.save({ useObjectStreams: false }));
    const dry = await runCli(['--dry-run', '--prompt', 'Summarise', dir]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/"type":"document","source":\{"type":"file","file_id":"sha256:[0-9a-f]{64}"\}/);
    expect(dry.stderr).not.toContain('request_too_large');
    // 90 pages at 1,600 tokens a page image, and their few words of text.
    expect(dry.stderr).toMatch(/estimate: 1 request of about 14\d,\d{3} input tokens/);

    const emu = await emulator({ apiKey: 'sk-docs' });
    const capped = await runCli(['--prompt', 'Summarise', '--max-cost', '0.01', dir], { env: env(emu, join(dir, 'l.db')) });
    expect(capped.code, capped.stderr).toBe(2);
    expect(capped.stderr).toContain('over --max-cost $0.01');
    expect(emu.stats.calls['batches.create'] ?? 0).toBe(0);
  });

  it('the estimate of a PDF is what the emulator bills for it, within the prompt: a sparse 100-page PDF (a page is its image and its text)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-estimate-'));
    const work = mkdtempSync(join(tmpdir(), 'be-estimate-run-'));
    writeFileSync(join(dir, 'p100.pdf'), await textPdf(Array.from({ length: 100 }, (_, p) => [`page ${p + 1}`])));
    const dry = await runCli(['--dry-run', '--prompt', 'Summarise', dir]);
    expect(dry.code, dry.stderr).toBe(0);
    const estimated = Number(/estimate: 1 request of about ([\d,]+) input tokens/.exec(dry.stderr)?.[1]?.replaceAll(',', ''));
    const emu = await emulator({ apiKey: 'sk-docs' });
    const run = await runCli(['--prompt', 'Summarise', '--poll-min', '0.01', '--summary', join(work, 's.json'), dir], { env: env(emu, join(work, 'l.db')) });
    expect(run.code, run.stderr).toBe(0);
    const billed = (JSON.parse(readFileSync(join(work, 's.json'), 'utf8')) as { input_tokens: number }).input_tokens;
    expect(billed).toBeLessThanOrEqual(200_000);
    // The request's JSON (prompt, title, block shapes) is estimated by its characters; the PDF is the same on both sides.
    expect(Math.abs(estimated - billed)).toBeLessThan(100);
  });

  // helper-60: on the models with the newer tokenizer (Claude 4.7 and later) the page images were
  // counted 1.3 times too (a 150-page contract: 315,912 tokens estimated, 242,650 billed); the factor
  // is for text.
  it("the newer tokenizer's factor applies to a PDF's text, not to its page images", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-estimate-'));
    writeFileSync(join(dir, 'p100.pdf'), await textPdf(Array.from({ length: 100 }, (_, p) => [`page ${p + 1}`])));
    const tokens = async (model: string) => {
      const dry = await runCli(['--dry-run', '--prompt', 'Summarise', '--model', model, dir]);
      expect(dry.code, dry.stderr).toBe(0);
      return Number(/estimate: 1 request of about ([\d,]+) input tokens/.exec(dry.stderr)?.[1]?.replaceAll(',', ''));
    };
    const old = await tokens('claude-sonnet-4-6');
    const newer = await tokens('claude-opus-4-7');
    expect(old).toBeGreaterThan(160_000);
    expect(newer).toBeGreaterThanOrEqual(old);
    expect(newer).toBeLessThan(old * 1.05);
  });

  it('--max-cost during the run (stdin: no pass before it) prices a PDF by its pages, not by its bytes: a 100-page PDF of a few KB is not sent under a cap it would cross', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-pages-'));
    writeFileSync(join(dir, 'p100.pdf'), await textPdf(Array.from({ length: 100 }, (_, p) => [`page ${p + 1}`])));
    const emu = await emulator({ apiKey: 'sk-docs' });
    const result = await runCli(['--prompt', 'Summarise', '--input-format', 'paths', '--max-cost', '0.05', '--poll-min', '0.01'], { env: env(emu, join(dir, 'l.db')), stdin: `${join(dir, 'p100.pdf')}\n` });
    expect(emu.stats.calls['batches.create'] ?? 0).toBe(0);
    const [record] = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { _error?: { type: string } });
    expect(record?._error?.type).toBe('budget_exceeded');
    expect(result.code).toBe(3);
  });

  it('status --json expects a document batch to cost what its pages cost, not its body bytes: a 100-page PDF as a file_id, and one sent inline', async () => {
    let t = Date.now();
    const emu = await emulator({ apiKey: 'sk-docs', processingMs: 60_000, now: () => t });
    const dir = mkdtempSync(join(tmpdir(), 'be-status-pages-'));
    writeFileSync(join(dir, 'p100.pdf'), await textPdf(Array.from({ length: 100 }, (_, p) => [`page ${p + 1}`])));
    for (const upload of ['files', 'inline']) {
      // A ledger each: the request is the same either way (its key names the document, not how it travels).
      const e = env(emu, join(dir, `${upload}.db`));
      const args = ['--prompt', 'Summarise', '--upload', upload, '--job', upload, '--poll-min', '0.01', '--input-format', 'paths', '-'];
      const submitted = await runCli([...args, '--no-wait'], { env: e, stdin: `${join(dir, 'p100.pdf')}\n` });
      expect(submitted.code, submitted.stderr).toBe(75);
      const status = await runCli(['status', '--json', '--job', upload, '--no-refresh'], { env: e });
      expect(status.code, status.stderr).toBe(0);
      const expected = (JSON.parse(status.stdout) as { expected_cost_usd: number }).expected_cost_usd;
      t += 120_000; // the batch has ended
      const collected = await runCli(args, { env: e, stdin: `${join(dir, 'p100.pdf')}\n` });
      expect(collected.code, collected.stderr).toBe(0);
      const billed = Number(/cost \$([\d.]+) at batch prices/.exec(collected.stderr)?.[1]);
      expect(expected / billed, `${upload}: expected $${expected}, billed $${billed}`).toBeGreaterThan(1 / 3);
      expect(expected / billed, `${upload}: expected $${expected}, billed $${billed}`).toBeLessThan(3);
    }
  });

  it('gc keeps the uploaded files that requests still send: a job submitted with --no-wait, then gc --older-than 0, then collected, has every answer', async () => {
    let t = Date.now();
    const emu = await emulator({ apiKey: 'sk-docs', processingMs: 60_000, now: () => t });
    const dir = mkdtempSync(join(tmpdir(), 'be-gc-uploads-'));
    const e = env(emu, join(dir, 'l.db'));
    const args = ['--prompt', 'Summarise', '--upload', 'files', '--poll-min', '0.01', 'fixtures/documents/invoices/'];
    const submitted = await runCli([...args, '--no-wait'], { env: e });
    expect(submitted.code, submitted.stderr).toBe(75);
    const uploads = emu.uploads();
    expect(uploads).toBeGreaterThan(0);
    const gc = await runCli(['gc', '--older-than', '0'], { env: e });
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stderr).not.toMatch(/deleted [1-9]\d* uploaded file/);
    t += 120_000; // the batch has ended
    const collected = await runCli(args, { env: e });
    expect(collected.code, collected.stderr).toBe(0);
    const records = collected.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toHaveLength(4);
    expect(records.filter((r) => r['_error'])).toEqual([]);
    expect(emu.uploads()).toBe(uploads);
    // Once nothing sends them any more (answered, and gone from the ledger), gc deletes them.
    const later = await runCli(['gc', '--older-than', '0'], { env: e });
    expect(later.stderr).toMatch(new RegExp(`deleted ${uploads} uploaded files? on the API`));
  });

  it('a request sent again by a later run (its batch canceled) names its files as they are now: one deleted on the API since is uploaded again, not sent as a dead file_id', async () => {
    let t = Date.now();
    const emu = await emulator({ apiKey: 'sk-docs', processingMs: 60_000, cancelingMs: 1_000, now: () => t });
    const dir = mkdtempSync(join(tmpdir(), 'be-reupload-'));
    const e = env(emu, join(dir, 'l.db'));
    const args = ['--prompt', 'Describe', '--upload', 'files', '--job', 'j4', '--poll-min', '0.01', 'fixtures/documents/invoices/'];
    expect((await runCli([...args, '--no-wait'], { env: e })).code).toBe(75);
    const uploads = emu.uploads();
    expect((await runCli(['cancel', '--job', 'j4'], { env: e })).code).toBe(0);
    // The files go (deleted, or expired: the same to a batch that names them).
    const client = new Anthropic({ apiKey: 'sk-docs', baseURL: emu.url });
    for await (const file of client.files.list()) await client.files.delete(file.id);
    // From now on the emulator's minute passes every 100 ms: the batch of the requests sent again ends too.
    await rerunAnswersAll(args, e, () => (t += 60_000));
    expect(emu.uploads()).toBe(2 * uploads);
  });

  it('files deleted on the API while their batch ran: the requests come back invalid_request_error, and the next run uploads the files again and sends them again (not the stored failure for good)', async () => {
    let t = Date.now();
    const emu = await emulator({ apiKey: 'sk-docs', processingMs: 60_000, now: () => t });
    const dir = mkdtempSync(join(tmpdir(), 'be-deleted-files-'));
    const e = env(emu, join(dir, 'l.db'));
    const args = ['--prompt', 'Describe', '--upload', 'files', '--job', 'j5', '--poll-min', '0.01', 'fixtures/documents/invoices/'];
    expect((await runCli([...args, '--no-wait'], { env: e })).code).toBe(75);
    const uploads = emu.uploads();
    const client = new Anthropic({ apiKey: 'sk-docs', baseURL: emu.url });
    for await (const file of client.files.list()) await client.files.delete(file.id);
    t += 120_000; // the batch has ended, its requests validated against files now gone
    const collected = await runCli(args, { env: e });
    const failed = collected.stdout.trim().split('\n').map((line) => JSON.parse(line) as { _error?: { type: string; message: string } });
    expect(failed).toHaveLength(4);
    expect(failed.map((r) => r._error?.type)).toEqual(Array(4).fill('invalid_request_error'));
    expect(failed[0]?._error?.message).toMatch(/file_id/);
    const created = emu.stats.calls['batches.create'] ?? 0;
    await rerunAnswersAll(args, e, () => (t += 60_000));
    expect(emu.uploads()).toBe(2 * uploads);
    expect(emu.stats.calls['batches.create']).toBe(created + 1);
    // Answered now: a third run pays nothing and uploads nothing.
    const third = await runCli(args, { env: e });
    expect(third.code, third.stderr).toBe(0);
    expect(emu.stats.calls['batches.create']).toBe(created + 1);
    expect(emu.uploads()).toBe(2 * uploads);
  });

  it('a folder that holds the files its output and errors are redirected to (> out.ndjson 2> err.txt): they are left out of the input, not read as documents and paid for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-redirect-'));
    copyFileSync('fixtures/documents/invoices/INV-00001.pdf', join(dir, 'a.pdf'));
    writeFileSync(join(dir, 'err.txt'), 'an older run said this\n'); // appended to, as `2>>` does
    const home = mkdtempSync(join(tmpdir(), 'be-home-'));
    execFileSync('sh', ['-c', `"${process.execPath}" "${BIN}" --emulator --prompt Describe . > out.ndjson 2>> err.txt; echo $? > "${join(home, 'rc')}"`], { cwd: dir, env: { PATH: process.env['PATH'] ?? '', HOME: home } });
    expect(readFileSync(join(home, 'rc'), 'utf8').trim()).toBe('0');
    const records = readFileSync(join(dir, 'out.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { path: string; _error?: unknown });
    expect(records.map((r) => r.path)).toEqual(['a.pdf']);
    expect(records[0]?._error).toBeUndefined();
    const stderr = readFileSync(join(dir, 'err.txt'), 'utf8');
    expect(stderr).toContain('leaving out.ndjson out of the input: this run writes it (its standard output)');
    expect(stderr).toContain('leaving err.txt out of the input: this run writes it (its standard error)');
  });

  it('--attach naming a field the input does not have is a usage error (a typo would send every record without its document), unless --allow-missing', async () => {
    const folder = await runCli(['--dry-run', '--prompt', 'Summarise', '--attach', 'file', 'fixtures/documents/invoices/']);
    expect(folder.code).toBe(2);
    expect(folder.stdout).toBe('');
    expect(folder.stderr).toContain('batch-enrich: fixtures/documents/invoices/:1: --attach "file": the first record has no such field (fields: path, name, bytes, sha256)');
    const dir = mkdtempSync(join(tmpdir(), 'be-attach-'));
    writeFileSync(join(dir, 't.csv'), 'id,doc\n1,x.pdf\n');
    const csv = await runCli(['--dry-run', '--prompt', 'S {{id}}', '--attach', 'file', join(dir, 't.csv')]);
    expect(csv.code).toBe(2);
    expect(csv.stderr).toContain(`${join(dir, 't.csv')}:1: --attach "file": the header has no such column (columns: id, doc)`);
    const ndjson = await runCli(['--dry-run', '--prompt', 'S {{id}}', '--attach', 'file', '--input-format', 'ndjson'], { stdin: '{"id":1,"doc":"x.pdf"}\n' });
    expect(ndjson.code).toBe(2);
    expect(ndjson.stderr).toContain('<stdin>:1: --attach "file": the first record has no such field (fields: id, doc)');
    const allowed = await runCli(['--dry-run', '--prompt', 'S {{id}}', '--attach', 'file', '--allow-missing', join(dir, 't.csv')]);
    expect(allowed.code, allowed.stderr).toBe(0);
    // helper-60: with a recipe whose text prompt uses a column the file lacks, the typo was not what was said.
    writeFileSync(join(dir, 'scans.csv'), 'id,scan\n1,x.pdf\n');
    const typo = await runCli(['--dry-run', '--transform', 'invoice-extraction', '--attach', 'scann', join(dir, 'scans.csv')]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(`${join(dir, 'scans.csv')}:1: --attach "scann": the header has no such column (columns: id, scan)`);
    expect(typo.stderr).not.toContain('{{text}}');
  });

  it('a folder with a link to a device, a linked sub-folder, a link loop and empty text files: each file once, the bad ones named, never a hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-odd-folder-'));
    mkdirSync(join(dir, 'real'));
    copyFileSync('fixtures/documents/invoices/INV-00001.pdf', join(dir, 'a.pdf'));
    copyFileSync('fixtures/documents/invoices/INV-00002.pdf', join(dir, 'real', 'b.pdf'));
    writeFileSync(join(dir, 'empty.txt'), '');
    writeFileSync(join(dir, 'blank.txt'), '  \n\n');
    symlinkSync('/dev/zero', join(dir, 'zero'));
    symlinkSync('real', join(dir, 'sub-link')); // the same folder again: walked once
    symlinkSync('..', join(dir, 'real', 'loop')); // a loop: not followed
    const result = await runCli(['--dry-run', '--prompt', 'Summarise', dir], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(3); // some records failed
    const sent = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { custom_id: string });
    expect(sent).toHaveLength(2); // a.pdf and real/b.pdf
    expect(result.stderr).toContain(`${dir}:2: ${join(dir, 'blank.txt')}: an empty document (nothing in it but white space)`);
    expect(result.stderr).toContain(`${dir}:3: ${join(dir, 'empty.txt')}: an empty document (nothing in it but white space)`);
    expect(result.stderr).toContain(`${dir}:5: ${join(dir, 'zero')}: not a regular file (a device, a pipe or a socket)`);
  });

  it('a pipe in the folder itself gets its record (document_unreadable), not dropped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-fifo-folder-'));
    copyFileSync('fixtures/documents/invoices/INV-00001.pdf', join(dir, 'a.pdf'));
    execFileSync('mkfifo', [join(dir, 'b-pipe')]);
    const result = await runCli(['--dry-run', '--prompt', 'Summarise', dir], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`${dir}:2: ${join(dir, 'b-pipe')}: not a regular file (a device, a pipe or a socket)`);
  });

  it("the run's own output and ledger inside the input folder are not read as documents: a rerun reads the same files and pays nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-out-in-folder-'));
    copyFileSync('fixtures/documents/invoices/INV-00001.pdf', join(dir, 'a.pdf'));
    copyFileSync('fixtures/documents/invoices/INV-00002.pdf', join(dir, 'b.pdf'));
    // Named like the ledger, but the user's: read.
    copyFileSync('fixtures/documents/invoices/INV-00001.pdf', join(dir, 'ledger.db.pdf'));
    const args = ['--emulator', '--ledger', join(dir, 'ledger.db'), '--transform', 'invoice-extraction', '-o', join(dir, 'out.ndjson'), '--summary', join(dir, 'summary.json'), dir];
    for (const run of [1, 2]) {
      const result = await runCli(args, { timeoutMs: 30_000 });
      expect(result.code, result.stderr).toBe(0);
      const out = readFileSync(join(dir, 'out.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { name: string });
      expect(out.map((record) => record.name), `run ${run}`).toEqual(['a.pdf', 'b.pdf', 'ledger.db.pdf']);
      if (run === 2) {
        expect(result.stderr).toContain(`leaving ${join(dir, 'out.ndjson')} out of the input: this run writes it`);
        expect(result.stderr).toContain(`leaving the ledger ${join(dir, 'ledger.db')} and its files out of the input: this run writes them`);
        expect(result.stderr).not.toContain('submitted');
      }
    }
  });

  it("an earlier run's outputs in the input folder under other names (-o, --summary, > redirect) are left out too, by the ledger's notes; a file the user makes there later is read", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-earlier-out-'));
    copyFileSync('fixtures/documents/invoices/INV-00001.pdf', join(dir, 'a.pdf'));
    const ledger = join(mkdtempSync(join(tmpdir(), 'be-earlier-ledger-')), 'ledger.db');
    const base = ['--emulator', '--ledger', ledger, '--prompt', 'Describe'];
    const names = (text: string) => text.trim().split('\n').map((line) => (JSON.parse(line) as { name: string }).name);
    const first = await runCli([...base, '-o', join(dir, 'out.ndjson'), '--summary', join(dir, 's1.json'), dir], { timeoutMs: 30_000 });
    expect(first.code, first.stderr).toBe(0);
    expect(names(readFileSync(join(dir, 'out.ndjson'), 'utf8'))).toEqual(['a.pdf']);
    // --dry-run reads the notes too (it opens no ledger, but reads a SQLite one that is there): its estimate is the run's.
    const dry = await runCli([...base, '--dry-run', dir], { timeoutMs: 30_000 });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.trim().split('\n')).toHaveLength(1);
    expect(dry.stderr).toContain(`leaving ${join(dir, 'out.ndjson')} out of the input: an earlier run wrote it (its output)`);
    // The second run's standard output is redirected into the folder, under another name.
    const home = mkdtempSync(join(tmpdir(), 'be-home-'));
    execFileSync('sh', ['-c', `"${process.execPath}" "${BIN}" ${base.join(' ')} --summary s2.json . > second.ndjson 2> "${join(home, 'err')}"; echo $? > "${join(home, 'rc')}"`], { cwd: dir, env: { PATH: process.env['PATH'] ?? '', HOME: home } });
    expect(readFileSync(join(home, 'rc'), 'utf8').trim(), readFileSync(join(home, 'err'), 'utf8')).toBe('0');
    expect(names(readFileSync(join(dir, 'second.ndjson'), 'utf8'))).toEqual(['a.pdf']);
    const second = readFileSync(join(home, 'err'), 'utf8');
    expect(second).toContain('leaving out.ndjson out of the input: an earlier run wrote it (its output)');
    expect(second).toContain('leaving s1.json out of the input: an earlier run wrote it (its --summary)');
    // Replaced by the user: another file under the same name, read as the document it is.
    rmSync(join(dir, 'out.ndjson'));
    writeFileSync(join(dir, 'out.ndjson'), '{"note":"a record the user keeps here"}\n');
    const third = await runCli([...base, '-o', join(dir, 'third.ndjson'), dir], { timeoutMs: 30_000 });
    expect(third.code, third.stderr).toBe(0);
    expect(names(readFileSync(join(dir, 'third.ndjson'), 'utf8'))).toEqual(['a.pdf', 'out.ndjson']);
    expect(third.stderr).toContain(`leaving ${join(dir, 'second.ndjson')} out of the input: an earlier run wrote it (its standard output)`);
    expect(third.stderr).toContain(`leaving ${join(dir, 's2.json')} out of the input: an earlier run wrote it (its --summary)`);
    expect(third.stderr).toContain(`leaving ${join(dir, 's1.json')} out of the input: an earlier run wrote it (its --summary)`);
  });

  it.skipIf(!postgres.url)('--dry-run on a PostgreSQL ledger reads its notes too (its estimate is the run\'s); one it cannot reach is said, and the listing is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-earlier-out-pg-'));
    copyFileSync('fixtures/documents/invoices/INV-00001.pdf', join(dir, 'a.pdf'));
    const url = await freshSchema();
    const base = ['--emulator', '--prompt', 'Describe'];
    const first = await runCli([...base, '--ledger', url, '-o', join(dir, 'out.ndjson'), dir], { timeoutMs: 30_000 });
    expect(first.code, first.stderr).toBe(0);
    const dry = await runCli([...base, '--ledger', url, '--dry-run', dir], { timeoutMs: 30_000 });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.trim().split('\n')).toHaveLength(1);
    expect(dry.stderr).toContain(`leaving ${join(dir, 'out.ndjson')} out of the input: an earlier run wrote it (its output)`);
    // A server that refuses (nothing listens on port 1): the dry run still lists, and says what it could not leave out.
    const password = decodeURIComponent(new URL(url).password);
    const refused = await runCli([...base, '--ledger', `postgres://app:${password}@127.0.0.1:1/jobs`, '--dry-run', dir], { timeoutMs: 30_000 });
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.stdout.trim().split('\n')).toHaveLength(2);
    expect(refused.stderr).toContain('batch-enrich: Cannot read the ledger postgres://app@127.0.0.1:1/jobs: ECONNREFUSED: ');
    expect(refused.stderr).toContain('; so files that earlier runs wrote into the folder are listed too (a run leaves them out)\n');
    expect(refused.stderr).not.toContain(password);
  });

  // helper-51: a subfolder that cannot be listed ended the whole run with exit 1 (EACCES from scandir)
  // and no record at all. Root reads any folder: run as nobody through setpriv then (skipped without it).
  const asUser = process.getuid?.() !== 0 ? [] : spawnSync('setpriv', ['--version']).status === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : undefined;
  it.skipIf(asUser === undefined)('a subfolder that cannot be listed is a record with _error (document_unreadable), and the rest of the folder is enriched', () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-unlisted-'));
    // The tests' private temporary folder (0700) is crossed, not listed, by the other user.
    if (asUser!.length > 0) chmodSync(dirname(dir), 0o711);
    chmodSync(dir, 0o755);
    const docs = join(dir, 'docs');
    mkdirSync(join(docs, 'closed'), { recursive: true });
    copyFileSync('fixtures/documents/invoices/INV-00001.pdf', join(docs, 'a.pdf'));
    copyFileSync('fixtures/documents/invoices/INV-00002.pdf', join(docs, 'closed', 'b.pdf'));
    copyFileSync('fixtures/documents/invoices/INV-00003-scan.png', join(docs, 'z.png'));
    chmodSync(docs, 0o755);
    for (const file of ['a.pdf', 'z.png']) chmodSync(join(docs, file), 0o644);
    chmodSync(join(docs, 'closed'), 0o000);
    const home = join(dir, 'home');
    mkdirSync(home, { mode: 0o777 });
    chmodSync(home, 0o777);
    const [command, ...args] = [...(asUser ?? []), process.execPath, BIN, '--emulator', '--prompt', 'Describe', '--ledger', join(home, 'l.db'), docs];
    const result = spawnSync(command!, args, { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: home }, timeout: 30_000 });
    chmodSync(join(docs, 'closed'), 0o755);
    expect(result.status, result.stderr).toBe(3);
    const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { name: string; _error?: { type: string; message: string } });
    expect(records.map((r) => [r.name, r._error?.type ?? 'ok'])).toEqual([['a.pdf', 'ok'], ['closed', 'document_unreadable'], ['z.png', 'ok']]);
    expect(records[1]!._error!.message).toContain(`${join(docs, 'closed')}: a folder that cannot be listed (EACCES): its files are not in the input`);
  });

  it('the flags of a CSV input are a usage error on a folder (they would be ignored)', async () => {
    for (const [flags, named] of [[['--tsv'], '--tsv'], [['-d', ';'], '--delimiter'], [['--no-header'], '--no-header'], [['--encoding', 'latin1'], '--encoding']] as const) {
      const result = await runCli(['--dry-run', '--prompt', 'x', ...flags, 'fixtures/documents/invoices/']);
      expect(result.code, flags.join(' ')).toBe(2);
      expect(result.stderr).toContain(`fixtures/documents/invoices/ is a folder: its files are the input (one record each), so ${named} does not apply`);
    }
  });

  it('one document given as FILE (a PDF, an image, an e-mail) is the input: one record, the document attached, as for a folder of one', async () => {
    const emu = await emulator({ apiKey: 'sk-docs' });
    const dir = mkdtempSync(join(tmpdir(), 'be-one-doc-'));
    for (const [recipe, file] of [
      ['contract-clauses', 'fixtures/documents/contract.pdf'],
      ['invoice-extraction', 'fixtures/documents/invoices/INV-00003-scan.png'],
      ['invoice-extraction', 'fixtures/documents/invoices/INV-00042.eml'],
    ] as const) {
      const result = await runCli(['--transform', recipe, '--poll-min', '0.01', file], { env: env(emu, join(dir, 'l.db')) });
      expect(result.code, result.stderr).toBe(0);
      const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ path: file, name: file.split('/').at(-1), bytes: statSync(file).size });
      expect(records[0]?.['_error']).toBeUndefined();
    }
    // Its bytes on stdin cannot be attached (no file to name): said, with the way that works.
    const piped = await runCli(['--dry-run', '--prompt', 'x'], { stdin: readFileSync('fixtures/documents/contract.pdf') });
    expect(piped.code).toBe(1);
    expect(piped.stderr).toContain('<stdin>: this is a PDF file, not CSV, TSV or NDJSON text; to send it as a document, give it as FILE (or its folder), without --input-format');
  });

  it('an empty or cut-short PDF given as FILE is one record with its error (exit 3), not an empty table (no record, exit 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-empty-pdf-'));
    writeFileSync(join(dir, 'empty.pdf'), '');
    writeFileSync(join(dir, 'cut.pdf'), readFileSync('fixtures/documents/contract.pdf').subarray(0, 300));
    for (const name of ['empty.pdf', 'cut.pdf']) {
      const result = await runCli(['--emulator', '--transform', 'invoice-extraction', join(dir, name)]);
      expect(result.code, result.stderr).toBe(3);
      expect(result.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([
        expect.objectContaining({ name, _error: expect.objectContaining({ type: 'document_unreadable', message: expect.stringContaining(`${join(dir, name)}:1: `) }) }),
      ]);
    }
  });

  it('a PNG cut in its IDAT data, a PNG damaged past its signature and a JPEG cut short are document_unreadable naming the file, never sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-cut-images-'));
    const whole = png(400, 560);
    writeFileSync(join(dir, 'a-ok.png'), whole);
    writeFileSync(join(dir, 'b-cut.png'), whole.subarray(0, Math.floor(whole.length * 0.6)));
    writeFileSync(join(dir, 'c-damaged.png'), Buffer.concat([whole.subarray(0, 8), Buffer.alloc(200, 7)]));
    writeFileSync(join(dir, 'd-cut.jpg'), jpeg(64, 48).subarray(0, -2));
    const result = await runCli(['--emulator', '--prompt', 'Describe', dir]);
    expect(result.code, result.stderr).toBe(3);
    const out = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { name: string; _error?: { type: string; message: string } });
    expect(out.map((record) => [record.name, record._error?.type])).toEqual([
      ['a-ok.png', undefined],
      ['b-cut.png', 'document_unreadable'],
      ['c-damaged.png', 'document_unreadable'],
      ['d-cut.jpg', 'document_unreadable'],
    ]);
    expect(out[1]?._error?.message).toMatch(/b-cut\.png: a damaged PNG image \(cut short: its IDAT chunk/);
    expect(out[3]?._error?.message).toMatch(/d-cut\.jpg: a damaged JPEG image \(cut short: no end-of-image marker \(FFD9\)/);
    expect(result.stderr).toContain('submitted: 1 request');
  });

  it('a text document over the context window is prompt_too_long and never sent, as the same text in a field is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-long-text-'));
    copyFileSync('fixtures/documents/invoices/INV-00001.pdf', join(dir, 'a.pdf'));
    writeFileSync(join(dir, 'long.txt'), 'word '.repeat(170_000)); // 850,000 chars: about 212,500 tokens, over haiku's 200,000
    const result = await runCli(['--emulator', '--prompt', 'Summarise', '--model', 'claude-haiku-4-5', dir], { timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(3);
    const out = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { name: string; _error?: { type: string; message: string } });
    expect(out.map((record) => [record.name, record._error?.type])).toEqual([['a.pdf', undefined], ['long.txt', 'prompt_too_long']]);
    expect(out[1]?._error?.message).toMatch(/the prompt with its text documents is about 212,50\d tokens, over claude-haiku-4-5's context window of 200,000/);
    // Named by its file, as the other document errors are (helper-40: only `dir/:2:`).
    expect(out[1]?._error?.message).toMatch(new RegExp(`^${dir}:2: ${join(dir, 'long.txt')}: the prompt`));
    expect(result.stderr).toContain('submitted: 1 request');
  });

  // helper-100 #2: a PDF under the page limit but over the context window by our own estimate (90
  // pages of about 3,000 characters: 90 × (1,600 + 765) = 212,850 tokens, over claude-haiku-4-5's 200,000)
  // was sent, and came back errored from the batch; text over the window was refused before paying.
  it('a PDF over the context window by the estimate is prompt_too_long and never sent, named by its line and file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-long-pdf-'));
    const page = Array.from({ length: 60 }, (_, i) => `Clause ${i}: the supplier shall deliver the goods.`.padEnd(50, ' '));
    writeFileSync(join(dir, 'long.pdf'), await textPdf(Array.from({ length: 90 }, () => page)));
    copyFileSync('fixtures/documents/contract.pdf', join(dir, 'short.pdf'));
    writeFileSync(join(dir, 'contracts.csv'), 'contract,file\nshort,short.pdf\nlong,long.pdf\n');
    const emu = await emulator({ apiKey: 'sk-docs' });
    const args = ['--transform', 'contract-clauses', '--attach', 'file', '--model', 'claude-haiku-4-5', '--poll-min', '0.01', join(dir, 'contracts.csv')];
    const result = await runCli(args, { env: env(emu, join(dir, 'l.db')), timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(3);
    const out = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { contract: string; _error?: { type: string; message: string } });
    expect(out.map((record) => [record.contract, record._error?.type])).toEqual([['short', undefined], ['long', 'prompt_too_long']]);
    expect(out[1]?._error?.message).toMatch(new RegExp(`^${join(dir, 'contracts.csv')}:3: the prompt with its documents is about 21\\d,\\d{3} tokens, over claude-haiku-4-5's context window of 200,000 \\(long\\.pdf: 90 PDF pages, about 21\\d,\\d{3} tokens; by our estimate`));
    expect(result.stderr).toContain('submitted: 1 request');
    // The same refusal before paying in --dry-run, and the same PDF fits a 1M-context model.
    const dry = await runCli(['--dry-run', ...args]);
    expect(dry.stderr).toMatch(/contracts\.csv:3: the prompt with its documents is about 21\d,\d{3} tokens/);
    const wide = await runCli(['--dry-run', ...args.map((arg) => (arg === 'claude-haiku-4-5' ? 'claude-sonnet-4-6' : arg))]);
    expect(wide.code, wide.stderr).toBe(0);
  });

  it('--attach given twice sends each document once', async () => {
    const twice = await runCli(['--dry-run', '--prompt', 'x', '--attach', 'f', '--attach', 'f'], { stdin: '{"f":"fixtures/documents/invoices/INV-00001.pdf"}\n' });
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.stdout.match(/"type":"document"/g)).toHaveLength(1);
  });

  it('--oversized-image downsize sends images with transformations.oversized_image', async () => {
    const result = await runCli(['--dry-run', '--prompt', 'x', '--attach', 'f', '--oversized-image', 'downsize'], { stdin: '{"f":"fixtures/documents/invoices/INV-00003-scan.png"}\n' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('"type":"image","source":{"type":"base64","media_type":"image/png","data":"<1,381 bytes of image/png>"},"transformations":{"oversized_image":"downsize"}');
  });

  it('--upload takes files, inline or auto', async () => {
    const result = await runCli(['--dry-run', '--transform', 'invoice-extraction', '--upload', 'sometimes', 'fixtures/documents/invoices/']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`--upload: expected one of files, inline, auto, got "sometimes"`);
  });
});
