/**
 * Progress on stderr as a user sees it: a view redrawn in place on a terminal (a real pseudo-terminal,
 * made by util-linux `script`), plain event lines when stderr is a file or a pipe, the view forced
 * with --progress, nothing but failures with --quiet.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli } from '../helpers/cli.ts';
import { createProgress } from '../../src/cli/progress.ts';
import { describe as describeEvent } from '../../src/cli/events.ts';
import { newCounts } from '../../src/stages/merge.ts';
import { newCostTotals } from '../../src/core/pricing.ts';
import { startEmulator } from '../../src/emulator/index.ts';

const TICKETS = join(ROOT, 'fixtures', 'csv', 'tickets.csv');
const ERASE_LINE = '\u001b[2K';
const args = ['--emulator', '--poll-min', '0.2', '--batch-size', '4', '--max-in-flight', '1', '--transform', 'ticket-triage', TICKETS];

describe('progress on stderr', () => {
  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal: a status view redrawn in place, its last frame kept above the summary', async () => {
    const command = `stty rows 40 cols 160; ${process.execPath} ${BIN} ${args.map((a) => `'${a}'`).join(' ')} > /dev/null`;
    const { stdout } = await promisify(execFile)('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env['PATH'] ?? '', HOME: '/tmp' }, timeout: 30_000 });
    const screen = stdout.replaceAll('\r', '');
    expect(screen).toContain(ERASE_LINE); // redrawn, not appended
    expect(screen).toMatch(/batch-enrich {2}\d+s {2}read \d+ · submitted \d+ in \d+ batch(es)? · done \d+ · cost \$[\d.]+/);
    expect(screen).toMatch(/msgbatch_\w+ {2}4 requests {2}running \d+s/);
    expect(screen).toMatch(/about \d+s left \(from the \d+ batch(es)? that ended\)/);
    // The final frame stays, then the summary.
    expect(screen).toMatch(/read 12 · submitted 12 in 3 batches · done 12 · cost \$[\d.]+\nbatch-enrich: 12 records: 12 enriched, 0 with _error\n/);
  });

  it('off a terminal: one plain line per batch event, no escape codes', async () => {
    const result = await runCli(args);
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('\u001b');
    expect(result.stderr.match(/^batch-enrich: batch msgbatch_\w+ submitted: 4 requests, [\d.]+ KiB$/gm)).toHaveLength(3);
    expect(result.stderr.match(/^batch-enrich: batch msgbatch_\w+ ended: 4 succeeded/gm)).toHaveLength(3);
  });

  it('off a terminal, real time says how many it sent in all every 10 s, not a line per group of 32', () => {
    // 10,000 rows in real time were 313 lines of "real time: 32 requests sent" (now "sending 32 requests").
    const lines: string[] = [];
    let clock = 0;
    const stream = { write: (text: string) => lines.push(...text.trimEnd().split('\n')) } as unknown as NodeJS.WritableStream;
    const progress = createProgress({ stream, style: 'lines', counts: newCounts(), costs: newCostTotals(), describe: describeEvent, now: () => clock });
    const sent = (requests: number, at: number) => {
      clock = at;
      progress.event({ type: 'realtime', requests, concurrency: 8 });
    };
    sent(32, 0);
    for (let at = 500; at < 10_000; at += 500) sent(32, at);
    sent(32, 10_000);
    sent(4, 12_000);
    // Other events are said as they come.
    progress.event({ type: 'concurrency', limit: 4, reason: '429 rate limited' });
    expect(lines).toEqual([
      'batch-enrich: real time: sending 32 requests (at most 8 at once)',
      'batch-enrich: real time: 672 requests sent so far (at most 8 at once)',
      'batch-enrich: real time: now at most 4 calls at once (429 rate limited)',
    ]);
  });

  it('off a terminal, real time says at the end how many it sent in all, not only the first group', () => {
    const lines: string[] = [];
    let clock = 0;
    const stream = { write: (text: string) => lines.push(...text.trimEnd().split('\n')) } as unknown as NodeJS.WritableStream;
    const progress = createProgress({ stream, style: 'lines', counts: newCounts(), costs: newCostTotals(), describe: describeEvent, now: () => clock });
    progress.event({ type: 'realtime', requests: 32, concurrency: 8 });
    clock = 500;
    progress.event({ type: 'realtime', requests: 8, concurrency: 8 });
    progress.stop();
    expect(lines).toEqual(['batch-enrich: real time: sending 32 requests (at most 8 at once)', 'batch-enrich: real time: 40 requests sent in all']);
    // Requests given back unsent (a stop: the next run sends them) are not counted as sent.
    const stopped: string[] = [];
    const other = createProgress({ stream: { write: (text: string) => stopped.push(text.trimEnd()) } as unknown as NodeJS.WritableStream, style: 'lines', counts: newCounts(), costs: newCostTotals(), describe: describeEvent, now: () => 0 });
    other.event({ type: 'realtime', requests: 32, concurrency: 4 });
    other.event({ type: 'realtime', requests: 8, concurrency: 4 });
    other.stop(36);
    expect(stopped).toEqual(['batch-enrich: real time: sending 32 requests (at most 4 at once)', 'batch-enrich: real time: 4 requests sent in all']);
  });

  it('off a terminal, a real-time run of 40 rows (two groups) says all 40 were sent', async () => {
    const rows = `text\n${Array.from({ length: 40 }, (_, i) => `row ${i}`).join('\n')}\n`;
    const result = await runCli(['--emulator', '--mode', 'realtime', '--prompt', 'x {{text}}', '--input-format', 'csv'], { stdin: rows });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('batch-enrich: real time: 40 requests sent in all');
  });

  it('--progress forces the view off a terminal; --quiet shows only what failed', async () => {
    const forced = await runCli(['--progress', ...args]);
    expect(forced.stderr).toContain(ERASE_LINE);
    const quiet = await runCli(['--quiet', ...args]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});

// An e-mail answered without its invoice, and a stop that leaves batches running and billed, are said
// whatever the style: on a terminal's view (which says only some events), and with --quiet.
describe('events said in every style', () => {
  const said = (style: 'tty' | 'lines' | 'off') => {
    const lines: string[] = [];
    const stream = { write: (text: string) => (lines.push(text), true), isTTY: style === 'tty' } as unknown as NodeJS.WritableStream;
    const progress = createProgress({ stream, style, counts: newCounts(), costs: newCostTotals(), describe: describeEvent, now: () => 0 });
    progress.event({ type: 'not-sent', where: 'in.csv:2: inv.eml', attachments: ['INV-7.pdf (document_encrypted)'] });
    progress.event({ type: 'kept-running', batches: 1 });
    progress.stop();
    return lines.join('');
  };
  for (const style of ['tty', 'lines', 'off'] as const) {
    it(`${style}: the attachments an e-mail was sent without, and the batches a stop left running`, () => {
      const text = said(style);
      expect(text).toContain('batch-enrich: in.csv:2: inv.eml: 1 attachment not sent: INV-7.pdf (document_encrypted); the answer comes from the rest of the e-mail\n');
      expect(text).toContain('batch-enrich: stop: 1 batch of another run of the job, still alive, is not canceled');
    });
  }
});

// helper-62: a batch followed twice in one run (its requests sent back, then followed again) was
// counted twice: "18 batches" where 15 exist.
describe('the batches counted', () => {
  it('are distinct batches, however often one is followed', () => {
    const lines: string[] = [];
    const stream = { write: (text: string) => (lines.push(text), true), isTTY: true, columns: 200 } as unknown as NodeJS.WritableStream;
    const progress = createProgress({ stream, style: 'tty', counts: newCounts(), costs: newCostTotals(), describe: describeEvent, now: () => 0 });
    progress.event({ type: 'following', batchId: 'msgbatch_a', requests: 2 });
    progress.event({ type: 'submitted', batchId: 'msgbatch_b', requests: 3, bytes: 10 });
    progress.event({ type: 'following', batchId: 'msgbatch_a', requests: 2 });
    progress.stop();
    const text = lines.join('');
    expect(text).toContain('submitted 3 in 2 batches');
    expect(text).not.toContain('in 3 batches');
  });
});

describe('progress with documents', () => {
  it('the view shows the files uploaded and reused; the summary counts them', async () => {
    const result = await runCli(['--progress', '--emulator', '--poll-min', '0.2', '--transform', 'invoice-extraction', '--upload', 'files', join(ROOT, 'fixtures', 'documents', 'invoices')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/ {2}files: 4 uploaded \([\d.]+ KiB\), 0 reused \(uploaded by an earlier run\)/);
    expect(result.stderr).toMatch(/^batch-enrich: files: 4 uploaded \([\d.]+ KiB\), 0 reused \(uploaded by an earlier run\)$/m);
  });

  it('a file in two rows of one run is uploaded once and counted once; reused counts only the files an earlier run uploaded', async () => {
    const work = mkdtempSync(join(tmpdir(), 'be-reused-'));
    const dir = join(work, 'docs');
    mkdirSync(dir);
    // The same bytes under two names: two requests (the title differs), one upload.
    copyFileSync(join(ROOT, 'fixtures', 'documents', 'invoices', 'INV-00001.pdf'), join(dir, 'a.pdf'));
    copyFileSync(join(ROOT, 'fixtures', 'documents', 'invoices', 'INV-00001.pdf'), join(dir, 'b.pdf'));
    // One emulator for both runs: the files the first uploaded are still there for the second.
    const emu = await startEmulator({});
    const env = { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(work, 'l.db') };
    const run = (prompt: string) => runCli(['--poll-min', '0.01', '--prompt', prompt, '--attach', 'path', '--upload', 'files', dir], { env });
    const first = await run('Summarise this document.');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/^batch-enrich: files: 1 uploaded \([\d.]+ KiB\), 0 reused \(uploaded by an earlier run\)$/m);
    // Another prompt: new requests, the file found uploaded by the first run.
    const second = await run('Name the vendor of this document.');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/^batch-enrich: files: 0 uploaded \(0 B\), 1 reused \(uploaded by an earlier run\)$/m);
    await emu.close();
  });
});
