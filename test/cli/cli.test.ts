/**
 * The built CLI as a user runs it, for what golden files cannot express: pipes closed early,
 * files written, an emulator started elsewhere, signals, and the help text.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../src/emulator/index.ts';
import { validateAgainstSpec } from '../helpers/spec.ts';
import { BIN, headOne, ROOT, runCli } from '../helpers/cli.ts';

const TICKETS = join(ROOT, 'fixtures', 'csv', 'tickets.csv');
const fast = ['--poll-min', '0.01'];
let emulators: EmulatorHandle[] = [];
afterEach(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
});

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'be-cli-'));
}

/** util-linux `script`: runs a command on a terminal of its own (stdin a TTY), whose input it takes from ours. */
const hasScript = (() => {
  try {
    return spawnSync('script', ['--version']).status === 0;
  } catch {
    return false;
  }
})();

describe('batch-enrich CLI', () => {
  it.skipIf(!hasScript)('no FILE and stdin a terminal: says it reads the terminal, and how to end (Ctrl-D), rather than wait in silence', async () => {
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} --emulator --dry-run --prompt 'x {{a}}'`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env['PATH'] ?? '', HOME: tempDir() }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // Once it has said so (or 5 s have passed), a record and Ctrl-D (end of input on a terminal).
    const since = Date.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (out.includes('Ctrl-D') || Date.now() - since > 5_000) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    child.stdin.write('{"a":1}\n\u0004');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(out).toContain('batch-enrich: reading records from this terminal (no FILE given): type them, then Ctrl-D to end; or give a FILE, or pipe the input in');
    expect(out).toMatch(/"content":"x 1"/);
  });

  it('ends quietly with exit 0 when stdout is closed early (| head -1)', async () => {
    const rows = ['id,text', ...Array.from({ length: 3000 }, (_, i) => `${i},"text number ${i}, with a comma"`)].join('\n');
    const { firstLine, code, stderr } = await headOne(['--emulator', ...fast, '--prompt', 'Summarise {{text}}', '--input-format', 'csv', '--quiet'], {}, rows);
    expect(JSON.parse(firstLine)).toMatchObject({ id: '0' });
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });

  it('stdout closed early (| head -1) with --errors and --summary: says once that --errors was not written, writes --summary (complete: false), exit 0', async () => {
    // helper-40: 300 records with empty_prompt, and no err.ndjson, without a word.
    const dir = tempDir();
    const rows = ['id,text', ...Array.from({ length: 3000 }, (_, i) => `${i},${i % 10 === 5 ? '' : `text ${i}`}`)].join('\n');
    const errors = join(dir, 'err.ndjson');
    const summary = join(dir, 'summary.json');
    const { code, stderr } = await headOne(['--emulator', ...fast, '--prompt', 'Summarise {{text}}', '--input-format', 'csv', '--errors', errors, '--summary', summary, '--ledger', join(dir, 'l.db')], {}, rows);
    expect(code).toBe(0);
    expect(existsSync(errors)).toBe(false);
    expect(stderr).toContain(`batch-enrich: the output was closed before the run ended, so --errors ${errors} was not written (it is written whole, at the end); run the same command again to write it: what was answered is in the ledger`);
    expect(stderr).not.toMatch(/EPIPE|at .*\.js/);
    // helper-65: what the try paid is in its summary (a rerun takes those answers from the ledger, unpaid).
    expect(JSON.parse(readFileSync(summary, 'utf8'))).toMatchObject({ complete: false });
    // helper-65: with --quiet too, the missing file is said (a scheduler's -q run exited 0 without it, in silence).
    const quiet = await headOne(['--emulator', ...fast, '--prompt', 'Summarise {{text}}', '--input-format', 'csv', '--errors', errors, '--ledger', join(dir, 'l.db'), '--quiet'], {}, rows);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe(`batch-enrich: the output was closed before the run ended, so --errors ${errors} was not written (it is written whole, at the end); run the same command again to write it: what was answered is in the ledger\n`);
    // Without --errors, --quiet and | head stay silent.
    const silent = await headOne(['--emulator', ...fast, '--prompt', 'Summarise {{text}}', '--input-format', 'csv', '--ledger', join(dir, 'l.db'), '--quiet'], {}, rows);
    expect(silent.code).toBe(0);
    expect(silent.stderr).toBe('');
  });

  // helper-66: `| head -1` ended with exit 0 and no word that the batches the run had submitted run on, billed.
  it('stdout closed early (| head -1) against the API: says that the batches it submitted run on and stay in the ledger, also with --quiet; exit 0', async () => {
    const emu = await startEmulator({ processingMs: 300 });
    emulators.push(emu);
    const dir = tempDir();
    const rows = ['id,text', ...Array.from({ length: 60 }, (_, i) => `${i},text ${i}`)].join('\n');
    const env = { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const { code, stderr } = await headOne(['--prompt', 'Summarise {{text}}', '--input-format', 'csv', ...fast, '--batch-size', '10', '--quiet'], env, rows);
    expect(code).toBe(0);
    expect(stderr).toMatch(/^batch-enrich: the output was closed before the run ended; the \d+ batch(es)? this run submitted or followed stay in the ledger .*l\.db \(those still running run on, and are billed\): run the same command again to collect them \(not paid twice\)$/m);
  });

  // Found in stop 42's final check: a rerun after a run killed (or cut short by `| head -1`) waited
  // six minutes of 404s, or failed with "Downloading the results … failed: 404", because the batches
  // in the ledger were made by the earlier run's emulator, which died with it.
  it('--emulator --ledger FILE: a rerun after a killed run sends again, at once, what the earlier run\'s emulator (gone with it) held', async () => {
    const dir = tempDir();
    const input = join(dir, 'in.csv');
    writeFileSync(input, ['id,text', ...Array.from({ length: 300 }, (_, i) => `${i},text ${i}`)].join('\n'));
    const args = (pollMin: string) => ['--emulator', '--poll-min', pollMin, '--prompt', 'Say {{text}}', '--ledger', join(dir, 'l.db'), input];
    const child = spawn(process.execPath, [BIN, ...args('60')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let said = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      said += chunk;
      if (said.includes(' submitted: ')) child.kill('SIGKILL'); // before its first poll
    });
    await new Promise((resolve) => child.on('close', resolve));
    expect(said).toContain(' submitted: 300 requests');
    const rerun = await runCli(args('0.01'), { timeoutMs: 30_000 });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout.trim().split('\n')).toHaveLength(300);
    expect(rerun.stderr).toMatch(/300 requests will be submitted again: it was made by an earlier run's --emulator, which ended with that run/);
    expect(rerun.stderr).not.toContain('404');
  }, 40_000);

  // helper-56: a bad row after batches went out stopped the run with the row's error alone: nothing said
  // that those batches run on (and are paid), nor that a rerun takes them up.
  it('a fatal error after batches were submitted says they run on in the ledger, and that a rerun takes them up', async () => {
    const emu = await startEmulator({ processingMs: 60_000 });
    emulators.push(emu);
    const dir = tempDir();
    const ledger = join(dir, 'l.db');
    const child = spawn(process.execPath, [BIN, '--prompt', 'Say {{text}}', '--batch-size', '10', '--flush-after', '0.05', '--ledger', ledger, '-'], {
      env: { PATH: process.env['PATH'] ?? '', HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.write(['id,text', ...Array.from({ length: 20 }, (_, i) => `${i},text ${i}`)].join('\n') + '\n');
    await vi.waitFor(() => expect(stderr.match(/ submitted: /g)).toHaveLength(2), { timeout: 10_000 });
    child.stdin.end('20,"a quote never closed\n');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain(`<stdin>:22: invalid CSV: a quoted field that starts in this record is never closed (a missing closing "); the 2 batches this run submitted or followed stay in the ledger ${ledger} (those still running run on, and are billed): run the same command again once this is fixed, and it takes them up (not paid twice)`);
  });

  // helper-51: `… 2>&1 >/dev/null | head -1` ended the run with exit 1 (an uncaught EPIPE from the
  // progress lines) and no -o file; a run left against a real API kept its batches running.
  it('goes on to the end when stderr is closed early (progress piped to head -1): the output is written whole, exit 0', async () => {
    const dir = tempDir();
    const input = join(dir, 'in.csv');
    writeFileSync(input, ['id,text', ...Array.from({ length: 3000 }, (_, i) => `${i},text ${i}`)].join('\n'));
    const output = join(dir, 'out.ndjson');
    const child = spawn(process.execPath, [BIN, '--emulator', '--poll-min', '0.3', '--prompt', 'Say {{text}}', '--ledger', join(dir, 'l.db'), '-o', output, input], { stdio: ['ignore', 'ignore', 'pipe'] });
    let first = '';
    // The first line read, the reader goes away (as `head -1` does): every later progress line meets a closed pipe.
    child.stderr.setEncoding('utf8').once('data', (chunk: string) => {
      first = chunk;
      child.stderr.destroy();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(first).toMatch(/^batch-enrich: /);
    expect(code).toBe(0);
    expect(readFileSync(output, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(Array.from({ length: 3000 }, (_, i) => String(i)));
  });

  it('writes records to --output and failed ones to --errors, each in the output format', async () => {
    const dir = tempDir();
    const input = join(dir, 'in.ndjson');
    writeFileSync(input, '{"id":1,"text":"ok"}\n{"id":2}\n{"id":3,"text":"ok too"}\nnot json\n');
    const result = await runCli(['--emulator', ...fast, '--prompt', 'Say {{text}}', '--output', join(dir, 'out.csv'), '--errors', join(dir, 'failed.csv'), input]);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    const out = readFileSync(join(dir, 'out.csv'), 'utf8').trim().split('\n');
    expect(out[0]).toBe('id,text,answer,_error');
    expect(out.slice(1).map((line) => line.split(',')[0])).toEqual(['1', '3']);
    const failed = readFileSync(join(dir, 'failed.csv'), 'utf8');
    expect(failed.split('\n')[0]).toBe('id,answer,_error');
    expect(failed).toContain(`${input}:2: Missing field`);
    expect(failed).toContain(`${input}:4: not valid JSON`);
    expect(result.stderr).toMatch(/4 records: 2 enriched, 2 with _error \(template: 1, invalid_input: 1\)/);
  });

  // helper-72 (note 46): one row of another width stopped a CSV run at that row (exit 1, nothing written
  // after it), where a bad NDJSON line is its record's error and the run goes on.
  it('a CSV row of another width than the header comes out in its place with its invalid_input error; the rows around it are enriched (exit 3)', async () => {
    const dir = tempDir();
    const input = join(dir, 'people.csv');
    writeFileSync(input, 'id,name\n1,Ann\n2,Smith, John\n3,Bob\n');
    const result = await runCli(['--emulator', ...fast, '--prompt', 'Say {{name}}', '--ledger', join(dir, 'l.db'), input]);
    expect(result.code).toBe(3);
    const out = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(out.map((r) => r['id'] ?? null)).toEqual(['1', null, '3']);
    expect(out[1]).toEqual({ _error: { type: 'invalid_input', message: `${input}:3: invalid CSV: expected 2 fields, as in the header, got 3`, input: '2,Smith, John' } });
    expect(typeof out[0]?.['answer']).toBe('string');
    expect(typeof out[2]?.['answer']).toBe('string');
    expect(result.stderr).toMatch(/3 records: 2 enriched, 1 with _error \(invalid_input: 1\)/);
  });

  it('CSV files keep the fields that first show up in later records (NDJSON of varying fields): a column each, empty where a record lacks it', async () => {
    const dir = tempDir();
    const input = join(dir, 'in.ndjson');
    writeFileSync(
      input,
      [
        '{"id":1,"text":"hello"}',
        '{"id":2}',
        '{"id":3,"text":"x","extra":"keep, me\\nplease"}',
        '{"id":4,"other":"me too","text2":"="}',
        '{"id":5,"text":"y","late":7}',
        '',
      ].join('\n'),
    );
    const result = await runCli(['--emulator', ...fast, '--prompt', 'Say {{text}}', '--allow-missing', '--safe-csv', '--excel', '--output', join(dir, 'out.csv'), '--errors', join(dir, 'failed.csv'), input]);
    expect(result.code).toBe(3);
    expect(result.stderr).not.toContain('left out');
    const { parse } = await import('csv-parse/sync');
    // The byte order mark of --excel once, at the start.
    const text = readFileSync(join(dir, 'out.csv'), 'utf8');
    expect(text.startsWith('\ufeffid,text,extra,late,answer,_error\n')).toBe(true);
    const out = parse(text, { columns: true, bom: true }) as Record<string, string>[];
    expect(Object.keys(out[0] ?? {})).toEqual(['id', 'text', 'extra', 'late', 'answer', '_error']);
    expect(out.map(({ id, text, extra, late, _error }) => ({ id, text, extra, late, _error }))).toEqual([
      { id: '1', text: 'hello', extra: '', late: '', _error: '' },
      { id: '3', text: 'x', extra: 'keep, me\nplease', late: '', _error: '' },
      { id: '5', text: 'y', extra: '', late: '7', _error: '' },
    ]);
    const failed = parse(readFileSync(join(dir, 'failed.csv'), 'utf8'), { columns: true, bom: true }) as Record<string, string>[];
    expect(Object.keys(failed[0] ?? {})).toEqual(['id', 'other', 'text2', 'answer', '_error']);
    expect(failed.map(({ id, other, text2 }) => ({ id, other, text2 }))).toEqual([
      { id: '2', other: '', text2: '' },
      // --safe-csv holds for the columns added late too.
      { id: '4', other: 'me too', text2: "'=" },
    ]);
    // On stdout the header cannot be written again: the field is named as left out, with the way to keep it.
    const piped = await runCli(['--emulator', ...fast, '--prompt', 'Say {{text}}', '--allow-missing', '--output-format', 'csv', input]);
    expect(piped.stderr).toContain('warning: field "extra" is not in the CSV header and is left out of the CSV output on stdout (-o FILE.csv keeps it, as NDJSON does)');
  });

  it('--meta in CSV: _meta is a JSON cell after the answer columns and _error, the same on stdout as with -o FILE.csv', async () => {
    const dir = tempDir();
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'id,text\n1,hello\n2,world\n');
    const args = ['--emulator', ...fast, '--prompt', 'Say {{text}}', '--meta', '--ledger', join(dir, 'l.db'), input];
    const piped = await runCli([...args, '--output-format', 'csv']);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).not.toContain('left out');
    const written = await runCli([...args, '-o', join(dir, 'out.csv')]);
    expect(written.code, written.stderr).toBe(0);
    const { parse } = await import('csv-parse/sync');
    for (const text of [piped.stdout, readFileSync(join(dir, 'out.csv'), 'utf8')]) {
      expect(text.split('\n')[0]).toBe('id,text,answer,_error,_meta');
      const rows = parse(text, { columns: true }) as Record<string, string>[];
      expect(rows.map((row) => JSON.parse(row['_meta'] ?? 'null') as { custom_id: string; attempt: number })).toEqual([
        expect.objectContaining({ custom_id: expect.stringMatching(/^[A-Za-z0-9]{6}_/), attempt: 1 }),
        expect.objectContaining({ custom_id: expect.stringMatching(/^[A-Za-z0-9]{6}_/), attempt: 1 }),
      ]);
    }
  });

  it('--dry-run prints one request per record that validates against the API spec, for every recipe', async () => {
    const cases: [string, string][] = [
      ['ticket-triage', TICKETS],
      ['invoice-extraction', join(ROOT, 'fixtures', 'ndjson', 'invoices.ndjson')],
      ['contract-clauses', join(ROOT, 'fixtures', 'csv', 'contract-clauses.csv')],
    ];
    for (const [recipe, input] of cases) {
      const result = await runCli(['--dry-run', '--transform', recipe, input]);
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { custom_id: string; params: Record<string, unknown> });
      expect(lines.length).toBeGreaterThan(4);
      for (const line of lines) {
        expect(validateAgainstSpec('MessageBatchIndividualRequestParams', line)).toEqual([]);
        expect(line.custom_id).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
        expect(line.params['system']).toEqual([expect.objectContaining({ cache_control: { type: 'ephemeral', ttl: '1h' } })]);
        expect(line.params['output_config']).toMatchObject({ format: { type: 'json_schema' } });
      }
      expect(new Set(lines.map((l) => l.custom_id)).size).toBe(lines.length);
      // The shared prefix is byte-identical in every request, so it can be cached.
      expect(new Set(lines.map((l) => JSON.stringify(l.params['system']))).size).toBe(1);
    }
  });

  it('--transform takes a recipe module of your own, which imports zod and batch-enrich (the bin is a bundle: the schema is still a zod schema to it)', async () => {
    // Under the package, as an installed user's module would be under theirs: it resolves 'zod' and,
    // by the package's own name, 'batch-enrich' (the library, dist/src) from node_modules and package.json.
    const dir = join(ROOT, 'dist', 'test-recipes');
    mkdirSync(dir, { recursive: true });
    const recipe = join(dir, `mood-${process.pid}.mjs`);
    writeFileSync(
      recipe,
      [
        "import { z } from 'zod';",
        "import { defineRecipe } from 'batch-enrich';",
        "export default defineRecipe({ prompt: 'Mood of: {{text}}', schema: z.object({ mood: z.enum(['calm', 'upset']) }), maxTokens: 64 });",
        '',
      ].join('\n'),
    );
    const result = await runCli(['--dry-run', '--transform', recipe, '-'], { stdin: 'text\nI am fine\n' }).finally(() => rmSync(recipe, { force: true }));
    expect(result.code, result.stderr).toBe(0);
    const [line] = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { params: { max_tokens: number; output_config?: { format?: { schema?: { properties?: Record<string, unknown> } } } } });
    expect(line?.params.max_tokens).toBe(64);
    expect(Object.keys(line?.params.output_config?.format?.schema?.properties ?? {})).toEqual(['mood']);
  });

  it('runs against an emulator given by ANTHROPIC_BASE_URL, and a rerun is served from the ledger', async () => {
    const emu = await startEmulator({ apiKey: 'sk-test-secret' });
    emulators.push(emu);
    const dir = tempDir();
    const env = { ANTHROPIC_API_KEY: 'sk-test-secret', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'ledger.db') };
    const first = await runCli(['--transform', 'ticket-triage', ...fast, '--batch-size', '5', TICKETS], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim().split('\n')).toHaveLength(12);
    expect(emu.stats.calls['batches.create']).toBe(3);
    expect(first.stderr + first.stdout).not.toContain('sk-test-secret');
    expect(readFileSync(join(dir, 'ledger.db')).includes('sk-test-secret')).toBe(false);

    const again = await runCli(['--transform', 'ticket-triage', ...fast, '--batch-size', '5', TICKETS], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(emu.stats.calls['batches.create']).toBe(3);
    // helper-53: the rerun's summary said "12 records: 12 enriched" and nothing of where the answers came
    // from, so a user could not tell the resume had worked. The first run's said nothing of the ledger.
    expect(first.stderr).not.toMatch(/from the ledger/);
    expect(again.stderr).toContain('12 records: 12 enriched, 0 with _error; 12 taken from the ledger (answered by earlier runs: not sent, not paid again)');
    // One row more: only it is sent; the summary, on stderr and in --summary, counts the 12 others.
    const more = join(dir, 'more.csv');
    writeFileSync(more, `${readFileSync(TICKETS, 'utf8').trimEnd()}\nT-NEW,Ann,Refund,Charged twice\n`);
    const summary = join(dir, 'summary.json');
    const grown = await runCli(['--transform', 'ticket-triage', ...fast, '--batch-size', '5', '--summary', summary, more], { env });
    expect(grown.code, grown.stderr).toBe(0);
    expect(grown.stderr).toContain('13 records: 13 enriched, 0 with _error; 12 taken from the ledger (answered by earlier runs: not sent, not paid again)');
    expect(JSON.parse(readFileSync(summary, 'utf8'))).toMatchObject({ records_ok: 13, records_from_ledger: 12, batches: 1 });
    expect(emu.stats.calls['batches.create']).toBe(4);
  });

  it('--emulator --ledger FILE runs job after job on one ledger: the emulator of each run gives ids the ledger has not seen', async () => {
    const dir = tempDir();
    const ledger = join(dir, 'l.db');
    const first = await runCli(['--emulator', '--transform', 'ticket-triage', ...fast, '--ledger', ledger, TICKETS]);
    expect(first.code, first.stderr).toBe(0);
    const other = join(dir, 'other.csv');
    writeFileSync(other, 'ticket_id,customer,subject,body\nT-1,Ann,Refund,Charged twice\n');
    const second = await runCli(['--emulator', '--transform', 'ticket-triage', ...fast, '--ledger', ledger, other]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('stops on SIGINT within seconds, says how to resume, and exits 130', async () => {
    const emu = await startEmulator({ processingMs: 600_000 });
    emulators.push(emu);
    const dir = tempDir();
    const run = await interruptible([BIN, '--prompt', 'x {{text}}', ...fast, '--input-format', 'csv'], { HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') }, 'submitted', { endInput: true });
    const started = Date.now();
    const code = await run.interrupt();
    expect(code).toBe(130);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.stderr()).toMatch(/SIGINT: stopping; submitted batches keep running .* run the same command again to resume/);
  });

  it('a run stopped after it paid for answers says what it paid and writes --summary (complete: false); the tries\' summaries add up to the job\'s bill', async () => {
    // helper-65: the stopped run printed no cost and wrote no summary, and its rerun took those answers
    // "from the ledger (not paid again)": answers billed were in no summary at all.
    const emu = await startEmulator({ processingMs: 1_500 });
    emulators.push(emu);
    const dir = tempDir();
    const summary = join(dir, 'summary.json');
    const rows = `text\n${Array.from({ length: 15 }, (_, i) => `row ${i}`).join('\n')}\n`;
    const env = { HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const args = ['--prompt', 'x {{text}}', ...fast, '--input-format', 'csv', '--batch-size', '5', '--max-in-flight', '1', '--summary', summary];
    // Stopped once the first batch's answers are downloaded: its records are on stdout.
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end(rows);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.once('data', () => child.kill('SIGINT'));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(130);
    const stopped = JSON.parse(readFileSync(summary, 'utf8')) as { cost_usd: number; complete: boolean; output_tokens: number };
    expect(stopped.complete).toBe(false);
    expect(stopped.cost_usd).toBeGreaterThan(0);
    expect(stderr).toMatch(/cost \$[\d.]+ at batch prices/);

    const rerun = await runCli(['--prompt', 'x {{text}}', ...fast, '--input-format', 'csv', '--batch-size', '5', '--meta', '--summary', summary], { env, stdin: rows });
    expect(rerun.code, rerun.stderr).toBe(0);
    const last = JSON.parse(readFileSync(summary, 'utf8')) as { cost_usd: number; complete: boolean; output_tokens: number; records_from_ledger: number };
    expect(last.complete).toBe(true);
    expect(last.records_from_ledger).toBeGreaterThanOrEqual(5);
    // Each answer's tokens (the 15 rows' answers, read from the output) in exactly one try's summary.
    const answered = rerun.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { _meta: { output_tokens: number } })._meta.output_tokens);
    expect(answered).toHaveLength(15);
    expect(stopped.output_tokens + last.output_tokens).toBe(answered.reduce((a, b) => a + b, 0));
  });

  // helper-66: the stop said it was canceling the job's running batches, and the batch whose create
  // was on its way ran on, billed, named nowhere.
  it('--cancel-on-exit, stopped while a create is on its way: says that batch may have been made and cannot be canceled, and that the next run adopts it', async () => {
    const emu = await startEmulator({ processingMs: 600_000, createLatencyMs: 3_000 });
    emulators.push(emu);
    const dir = tempDir();
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    // Two batches of 2: the first is made (3 s), then the second's create is on its way when the stop comes.
    const child = spawn(process.execPath, [BIN, '--prompt', 'x {{text}}', ...fast, '--input-format', 'csv', '--batch-size', '2', '--cancel-on-exit'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end('text\na\nb\nc\nd\n');
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setInterval(() => {
      if (emu.stats.calls['batches.create'] > 1) {
        clearInterval(timer);
        setTimeout(() => child.kill('SIGINT'), 300);
      }
    }, 10);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(timer);
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping and canceling the job's running batches/);
    expect(stderr).toContain('batch-enrich: stop: a batch whose create was sent and not answered may have been made: it cannot be canceled before it is found; the next run finds it and adopts it (not paid twice), and it runs on, billed, meanwhile');
    // It was made: the first batch canceled, the second running.
    expect(emu.batches()).toHaveLength(2);
  });

  // helper-91 #1: with stdout blocked (`| less`, which ignores Ctrl-C; a stalled consumer), SIGINT said
  // "stopping" and the run never ended: its last write waited for a reader that never came.
  it('SIGINT while stdout is blocked (nobody reads it) still ends the run, exit 130', async () => {
    const emu = await startEmulator();
    emulators.push(emu);
    const dir = tempDir();
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const rows = Array.from({ length: 3000 }, (_, i) => `${i},${'a long enough line of text '.repeat(4)}${i}`).join('\n');
    const child = spawn(process.execPath, [BIN, '--prompt', 'x {{text}}', ...fast, '--input-format', 'csv', '--batch-size', '500'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end(`id,text\n${rows}\n`);
    child.stdout.pause(); // never read: once the pipe is full, every write waits
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (/ended: 500 succeeded/.test(stderr)) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    await new Promise((resolve) => setTimeout(resolve, 500)); // its records fill the pipe
    const stoppedAt = Date.now();
    child.kill('SIGINT');
    const code = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 20_000))]);
    if (code === 'still running') child.kill('SIGKILL');
    expect(code, stderr).toBe(130);
    expect(Date.now() - stoppedAt).toBeLessThan(15_000);
    expect(stderr).toContain('SIGINT: stopping');
  }, 60_000);

  // helper-89 #5: a try stopped with every record still waiting wrote `records_pending: 0`.
  it('--summary of a try stopped by SIGINT counts the records it read and did not write as pending', async () => {
    const emu = await startEmulator({ processingMs: 600_000 });
    emulators.push(emu);
    const dir = tempDir();
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const child = spawn(process.execPath, [BIN, '--prompt', 'x {{text}}', ...fast, '--input-format', 'csv', '--batch-size', '2', '--summary', join(dir, 's.json')], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end('text\na\nb\nc\nd\n');
    const timer = setInterval(() => {
      if (emu.stats.calls['batches.create'] >= 2) {
        clearInterval(timer);
        setTimeout(() => child.kill('SIGINT'), 300);
      }
    }, 10);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(timer);
    expect(code).toBe(130);
    expect(JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'))).toMatchObject({ complete: false, records_ok: 0, records_pending: 4 });
  });

  it('on SIGINT before any batch was submitted, says so instead of "submitted batches keep running"', async () => {
    const dir = tempDir();
    // stdin kept open: the run reads, and has submitted nothing yet (its group waits for more rows).
    const run = await interruptible([BIN, '--emulator', '--prompt', 'x {{text}}', ...fast, '--input-format', 'csv', '--ledger', join(dir, 'l.db')], { HOME: dir }, '--emulator:', { endInput: false });
    await new Promise((resolve) => setTimeout(resolve, 500)); // the run's signal handlers are set just after that line
    expect(await run.interrupt()).toBe(130);
    expect(run.stderr()).toMatch(/SIGINT: stopping; nothing was submitted yet; what was read stays in the ledger .*l\.db; run the same command again to resume/);
    expect(run.stderr()).not.toMatch(/submitted batches keep running/);
  });

  it('on SIGINT in a rerun whose records all took answers the ledger had, says so instead of "nothing was submitted yet"', async () => {
    const dir = tempDir();
    const args = [BIN, '--emulator', '--prompt', 'x {{text}}', ...fast, '--input-format', 'csv', '--ledger', join(dir, 'l.db')];
    const first = await runCli(args.slice(1), { env: { HOME: dir }, stdin: 'text\na\nb\n' });
    expect(first.code, first.stderr).toBe(0);
    // The same rows again, stdin kept open: both come out with the ledger's answers, and nothing is sent.
    const run = await interruptible(args, { HOME: dir }, '--emulator:', { endInput: false });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await run.interrupt()).toBe(130);
    expect(run.stderr()).toMatch(/SIGINT: stopping; this run submitted nothing: the 2 records out so far took answers the ledger had; what was read stays in the ledger .*l\.db; run the same command again to resume/);
    expect(run.stderr()).not.toMatch(/nothing was submitted yet/);
  });

  it('on SIGINT while a create is in flight, says the batch may have been made and the rerun adopts it, not "nothing was submitted"; the rerun pays nothing again', async () => {
    // The batch is made at once, its create's answer comes 10 s later.
    const emu = await startEmulator({ createLatencyMs: 10_000 });
    emulators.push(emu);
    const dir = tempDir();
    const env = { HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const args = ['--prompt', 'x {{text}}', ...fast, '--input-format', 'csv'];
    const run = await interruptible([BIN, ...args], env, '', { endInput: true });
    await vi.waitFor(() => expect(emu.stats.calls['batches.create']).toBe(1), { timeout: 10_000, interval: 20 });
    expect(await run.interrupt()).toBe(130);
    expect(run.stderr()).not.toMatch(/nothing was submitted/);
    expect(run.stderr()).toMatch(/SIGINT: stopping; a batch was being created \(its create sent, not answered\): it may have been made; the next run finds it and adopts it rather than pay again; what was read stays in the ledger .*l\.db; run the same command again to resume/);
    const again = await runCli(args, { env, stdin: 'text\na\nb\n' });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n')).toHaveLength(2);
    expect(emu.stats.calls['batches.create']).toBe(1);
  });

  // A terminal or ssh session that closes sends SIGHUP: the run died on the default action, without
  // the clean stop (no line, no --summary, temporary files left) that SIGINT and SIGTERM get.
  it('stops on SIGHUP as on SIGTERM: says how to resume, ends by the signal (a shell sees 129); the rerun pays nothing again', async () => {
    const emu = await startEmulator({ processingMs: 3_000 });
    emulators.push(emu);
    const dir = tempDir();
    const env = { HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const args = ['--prompt', 'x {{text}}', ...fast, '--input-format', 'csv', '--summary', join(dir, 's.json')];
    const run = await interruptible([BIN, ...args], env, 'submitted', { endInput: true });
    run.signal('SIGHUP');
    expect(await run.closed).toEqual({ code: null, signal: 'SIGHUP' });
    expect(run.stderr()).toMatch(/SIGHUP: stopping; submitted batches keep running and stay in the ledger .*l\.db; run the same command again to resume/);
    expect(JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'))).toMatchObject({ complete: false, records_pending: 2 });
    const again = await runCli(args, { env, stdin: 'text\na\nb\n' });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n')).toHaveLength(2);
    expect(emu.stats.calls['batches.create']).toBe(1);
  });

  // The real thing: the terminal goes away (its `script` killed), and the shell on it passes SIGHUP
  // on to its job, as bash does. What the stop then says meets a terminal that answers EIO, and Node
  // 20 aborts (SIGABRT, 134) a process that exits normally once its terminal is gone (it restores
  // the terminal's settings, nodejs/node#51519).
  it.skipIf(!hasScript)('SIGHUP from a terminal that closed (stderr a dead terminal): the clean stop still ends by SIGHUP, --summary written; the rerun pays nothing again', async () => {
    const emu = await startEmulator({ processingMs: 3_000 });
    emulators.push(emu);
    const dir = tempDir();
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'text\na\nb\n');
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const args = ['--prompt', 'x {{text}}', ...fast, '--summary', join(dir, 's.json'), '-o', join(dir, 'out.ndjson'), input];
    const status = join(dir, 'status.json');
    // The "shell": runs the CLI on the terminal, passes SIGHUP on, and notes how the CLI ended.
    const shell = join(dir, 'shell.cjs');
    writeFileSync(
      shell,
      `const child = require('node:child_process').spawn(process.execPath, ${JSON.stringify([BIN, ...args])}, { stdio: 'inherit' });
process.on('SIGHUP', () => child.kill('SIGHUP'));
child.on('exit', (code, signal) => require('node:fs').writeFileSync(${JSON.stringify(status)}, JSON.stringify({ code, signal })));
`,
    );
    const terminal = spawn('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(shell)}`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let seen = '';
    terminal.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    await vi.waitFor(() => expect(emu.stats.calls['batches.create'], seen).toBe(1), { timeout: 10_000, interval: 20 });
    await new Promise((resolve) => setTimeout(resolve, 300)); // its answer in the ledger
    terminal.kill('SIGKILL');
    await vi.waitFor(() => expect(existsSync(status)).toBe(true), { timeout: 10_000, interval: 50 });
    expect(JSON.parse(readFileSync(status, 'utf8')), seen).toEqual({ code: null, signal: 'SIGHUP' });
    expect(existsSync(join(dir, 's.json')), seen).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'))).toMatchObject({ complete: false, records_pending: 2 });
    const again = await runCli(args, { env });
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(dir, 'out.ndjson'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(emu.stats.calls['batches.create']).toBe(1);
  });

  it('in real time, a stop says at once that it waits for the calls in flight (paid once sent); a second interrupt leaves at once, and says what the next run pays again', async () => {
    const emu = await startEmulator({ messagesLatencyMs: 10_000 });
    emulators.push(emu);
    const dir = tempDir();
    const run = await interruptible([BIN, '--mode', 'realtime', '--prompt', 'x {{text}}', '--input-format', 'csv'], { HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') }, 'real time: sending 2 requests', { endInput: true });
    const started = Date.now();
    run.signal('SIGINT');
    await run.waitFor('real time: waiting for the 2 calls in flight to answer (each is paid once sent); an interrupt leaves now');
    // Said at once, not after the 3 s the stop gives the rest of the run.
    expect(Date.now() - started).toBeLessThan(2_000);
    run.signal('SIGINT');
    expect(await run.closed).toEqual({ code: null, signal: 'SIGINT' }); // a shell sees 130
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.stderr()).toContain('SIGINT: leaving now; the real-time calls still in flight (2 when the run began to stop) are asked, and paid, again by the next run');
  });

  it('in real time, a stop says in one line how many requests the next run sends, not one line a group', async () => {
    const emu = await startEmulator({ messagesLatencyMs: 1_500 });
    emulators.push(emu);
    const dir = tempDir();
    // 40 rows: two groups (32 and 8); 4 calls at once, the rest of both groups never sent.
    const input = `text\n${Array.from({ length: 40 }, (_, i) => `row ${i}`).join('\n')}\n`;
    const env = { HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const run = await interruptible([BIN, '--mode', 'realtime', '--concurrency', '4', '--prompt', 'x {{text}}', '--input-format', 'csv'], env, 'real time: sending 32 requests', { endInput: true, input });
    // Both groups on their way (said once on stderr: real time says what it sent every 10 s, not each group).
    await vi.waitFor(
      () => {
        const ledger = new Database(join(dir, 'l.db'), { readonly: true, fileMustExist: true });
        try {
          expect(ledger.prepare("SELECT COUNT(*) AS n FROM batches WHERE remote_id LIKE 'realtime_%'").get()).toEqual({ n: 2 });
        } finally {
          ledger.close();
        }
      },
      { timeout: 5_000, interval: 20 },
    );
    expect(await run.interrupt()).toBe(130);
    expect(run.stderr()).not.toContain('batch realtime_');
    expect(run.stderr()).toContain('real time: 36 requests of 2 groups will be sent by the next run: the run stopped');
    expect(emu.stats.calls['messages.create']).toBe(4);
  });

  it('in real time, an output closed early (| head -1) still keeps the answers of the calls in flight: the rerun asks none of them again', async () => {
    const emu = await startEmulator({ messagesLatencyMs: 300 });
    emulators.push(emu);
    const dir = tempDir();
    const input = join(dir, 'in.csv');
    writeFileSync(input, `text\n${Array.from({ length: 12 }, (_, i) => `row ${i}`).join('\n')}\n`);
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const args = `"${process.execPath}" "${BIN}" --mode realtime --concurrency 2 --quiet --prompt 'x {{text}}' "${input}"`;
    // Not execFileSync: the emulator answers from this process.
    const shell = spawn('sh', ['-c', `${args} | head -1`], { env, stdio: 'ignore' });
    await new Promise((resolve) => shell.on('close', resolve));
    const asked = emu.stats.calls['messages.create'] ?? 0;
    expect(asked).toBeGreaterThan(0);
    const again = await runCli(['--mode', 'realtime', '--concurrency', '2', '--quiet', '--prompt', 'x {{text}}', input], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n')).toHaveLength(12);
    expect(emu.stats.calls['messages.create']).toBe(12);
  });

  it('--help lists every option, the exit codes and examples; the emulator has its own help', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--prompt', '--prompt-file', '--system', '--system-file', '--schema', '--transform', '--model', '--max-tokens', '--into', '--id-field', '--input-format', '--output-format', '--output', '--errors', '--batch-size', '--flush-after', '--ledger', '--dry-run', '--emulator', '--job', '--max-attempts', '--cancel-on-exit', '--new-identity', '--max-in-flight', '--poll-min', '--poll-max', '--quiet', '--delimiter', '--tsv', '--no-header', '--encoding', '--limit', '--excel', '--safe-csv', '--allow-missing', '--attach', '--upload', '--oversized-image']) {
      expect(help.stdout).toContain(flag);
    }
    expect(help.stdout).toMatch(/Exit codes:[\s\S]*0 {2}every record enriched[\s\S]*3 {2}finished, but some records carry _error/);
    expect(help.stdout).toContain('batch-enrich --emulator --transform ticket-triage fixtures/csv/tickets.csv');
    // The settings files' encodings, as the README gives them: a UTF-16 file from PowerShell is read,
    // any other non-UTF-8 one refused (note 48).
    const flat = help.stdout.replace(/\n {2,}/g, ' ');
    for (const flag of ['--prompt-file', '--system-file', '--schema']) {
      expect(flat).toMatch(new RegExp(`${flag} FILE [^\\n]*UTF-8, or UTF-16 after its byte order mark`));
    }
    const emulatorHelp = await runCli(['emulator', '--help']);
    expect(emulatorHelp.code).toBe(0);
    expect(emulatorHelp.stdout).toContain('--port');
    // helper-72: `help --help` was a usage error ("no command '--help'").
    expect(await runCli(['help', '--help'])).toMatchObject({ code: 0, stdout: help.stdout });
  });
});

/**
 * The built CLI on a CSV on stdin (`text`, `a`, `b`; stdin ended, or left open to keep the run
 * reading), once its stderr holds `until`; `interrupt()` sends SIGINT and resolves with the exit code.
 */
async function interruptible(args: string[], env: Record<string, string>, until: string, { endInput, input = 'text\na\nb\n' }: { endInput: boolean; input?: string }) {
  const child = spawn(process.execPath, args, { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  if (endInput) child.stdin.end(input);
  else child.stdin.write(input);
  let stderr = '';
  const waiting = new Set<() => void>();
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const check of waiting) check();
  });
  const waitFor = (text: string) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!stderr.includes(text)) return;
        waiting.delete(check);
        resolve();
      };
      waiting.add(check);
      check();
    });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  await waitFor(until);
  return {
    stderr: () => stderr,
    waitFor,
    closed,
    signal: (signal: NodeJS.Signals) => child.kill(signal),
    interrupt() {
      child.kill('SIGINT');
      return new Promise<number | null>((resolve) => child.on('close', resolve));
    },
  };
}
