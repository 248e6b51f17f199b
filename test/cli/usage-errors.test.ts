/**
 * One usage error across the library, the CLI and the emulator: a `BatchEnrichError` that
 * `isUsageError` recognises, worded `WHAT: problem, got VALUE`, and exit code 2 with a hint naming
 * the command's help, whichever command or layer found it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { enrichAll } from '../../src/api.ts';
import { startEmulator } from '../../src/emulator/index.ts';
import { isUsageError } from '../../src/errors.ts';
import { runCli } from '../helpers/cli.ts';

async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('library and emulator options: the usage error, naming the option and the value', () => {
  const cases: { description: string; run: () => Promise<unknown>; message: RegExp }[] = [
    { description: 'enrichAll with a batch size of 0', run: () => enrichAll([{ a: 1 }], { prompt: 'x', batchSize: 0 }), message: /^`batchSize`: / },
    { description: 'enrichAll with the answer put into _meta (it would be replaced by the metadata)', run: () => enrichAll([{ a: 1 }], { prompt: 'x', into: '_meta' }), message: /^`into`: expected a field other than _error and _meta \(batch-enrich puts its own fields there\)/ },
    // helper-88 #8: the CLI refused --poll-min above --poll-max; the library ran on, its minimum ignored.
    { description: 'enrichAll with pollMinMs above pollMaxMs', run: () => enrichAll([{ a: 1 }], { prompt: 'x', pollMinMs: 20_000, pollMaxMs: 100 }), message: /^`pollMinMs` 20000 is above `pollMaxMs` 100: polls start at pollMinMs and grow up to pollMaxMs$/ },
    { description: 'startEmulator with a fault rate above 1', run: () => startEmulator({ faultRate429: 2 }), message: /^`faultRate429`: .*, got 2$/ },
    { description: 'startEmulator with fault rates adding up over 1', run: () => startEmulator({ faultRate429: 0.6, faultRate500: 0.6 }), message: /expected at most 1, got 1\.2$/ },
    { description: 'startEmulator beyond loopback without a key', run: () => startEmulator({ host: '0.0.0.0' }), message: /^`host`: .*beyond loopback/ },
  ];
  it.each(cases)('$description', async ({ run, message }) => {
    const error = await thrown(run);
    expect(isUsageError(error), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});

describe('every command: exit 2, one line `batch-enrich: WHAT: problem, got VALUE`, then the hint', () => {
  const cases: { description: string; argv: string[]; env?: Record<string, string>; line: string; hint: string }[] = [
    { description: 'enrich: a number out of range', argv: ['--batch-size', '0', '--prompt', 'x'], line: '--batch-size: expected a whole number from 1 to 100000, got "0"', hint: 'batch-enrich --help' },
    { description: 'enrich: a duration it cannot read', argv: ['--deadline', 'soon', '--prompt', 'x'], line: '--deadline: expected a duration such as 90s, 45m, 2h or 1h30m, got "soon"', hint: 'batch-enrich --help' },
    {
      description: 'enrich: --deadline with --no-wait (a deadline counts from the start of each try, and a try ends at once)',
      argv: ['--deadline', '2h', '--no-wait', '--prompt', 'x', '-'],
      line: '--deadline counts from the start of a run, and a --no-wait run ends once it has submitted: the deadline would never come. Leave one out (a scheduler can run the last try without --no-wait, with --deadline)',
      hint: 'batch-enrich --help',
    },
    { description: 'enrich: a choice not offered', argv: ['--upload', 'sometimes', '--prompt', 'x'], line: '--upload: expected one of files, inline, auto, got "sometimes"', hint: 'batch-enrich --help' },
    { description: 'a command guessed by another name (no file of that name either)', argv: ['jobs'], line: "unknown command 'jobs'; did you mean 'status'? (no file of that name either)", hint: 'batch-enrich --help' },
    {
      description: 'collecting a job, as a command (a job is collected by running its command again)',
      argv: ['collect', '--job', 'nightly'],
      line: "unknown command 'collect' (no file of that name either): a job is collected by running the command that submitted it again (see --no-wait); 'batch-enrich results BATCH_ID' prints one batch's results",
      hint: 'batch-enrich --help',
    },
    { description: 'enrich: a mistyped flag', argv: ['--promt', 'x'], line: 'unknown option --promt; did you mean --prompt?', hint: 'batch-enrich --help' },
    { description: 'enrich: --tsv with another --input-format', argv: ['--tsv', '--input-format', 'ndjson', '--prompt', 'x', '-'], line: '--tsv and --input-format ndjson say two formats: give one', hint: 'batch-enrich --help' },
    { description: 'enrich: --tsv with another delimiter', argv: ['--tsv', '-d', ';', '--prompt', 'x', '-'], line: '--tsv reads tab-separated input: --delimiter ";" says another; give one', hint: 'batch-enrich --help' },
    { description: 'enrich: polls that would start above their longest wait', argv: ['--poll-min', '10', '--poll-max', '2', '--prompt', 'x', '-'], line: '--poll-min 10 is above --poll-max 2: polls start at --poll-min and grow up to --poll-max', hint: 'batch-enrich --help' },
    { description: 'enrich: a --poll-max below the default --poll-min', argv: ['--poll-max', '0.5', '--prompt', 'x', '-'], line: '--poll-min 1 (the default) is above --poll-max 0.5: polls start at --poll-min and grow up to --poll-max', hint: 'batch-enrich --help' },
    { description: 'enrich: the answer into _error (successful records would look failed)', argv: ['--into', '_error', '--prompt', 'x'], line: '--into: expected a field other than _error and _meta (batch-enrich puts its own fields there), got "_error"', hint: 'batch-enrich --help' },
    // helper-80: a file named "-" was written, where -o - is stdout.
    { description: 'enrich: --errors -', argv: ['--errors', '-', '--prompt', '{{x}}', '-'], line: '--errors -: --errors is written to a file, never to stdout: give a file name', hint: 'batch-enrich --help' },
    { description: 'enrich: --summary - (with -o FILE too)', argv: ['--summary', '-', '-o', 'out.ndjson', '--prompt', '{{x}}', '-'], line: '--summary -: --summary is written to a file, never to stdout: give a file name', hint: 'batch-enrich --help' },
    { description: 'enrich: an empty job name', argv: ['--job', '', '--prompt', 'x', '-'], line: '--job: expected a job name, got ""', hint: 'batch-enrich --help' },
    { description: 'status: a job name of blanks', argv: ['status', '--job', ' '], line: '--job: expected a job name, got " "', hint: 'batch-enrich status --help' },
    { description: 'cancel: an empty job name', argv: ['cancel', '--job='], line: '--job: expected a job name, got ""', hint: 'batch-enrich cancel --help' },
    { description: 'status: a mistyped flag', argv: ['status', '--no-refrsh'], line: 'unknown option --no-refrsh; did you mean --no-refresh?', hint: 'batch-enrich status --help' },
    { description: 'gc: a negative age', argv: ['gc', '--older-than=-1'], line: '--older-than: expected a number of days, 0 or more, got "-1"', hint: 'batch-enrich gc --help' },
    { description: 'cancel: nothing to cancel', argv: ['cancel'], line: 'give the BATCH_IDs to cancel, or --job NAME', hint: 'batch-enrich cancel --help' },
    { description: 'results: an empty --output', argv: ['results', 'msgbatch_x', '--output='], line: '--output: expected a file name, got ""', hint: 'batch-enrich results --help' },
    { description: 'results: --output the ledger', argv: ['results', 'msgbatch_x', '--output', '/tmp/be-usage-ledger.db'], env: { BATCH_ENRICH_LEDGER: '/tmp/be-usage-ledger.db' }, line: '--output /tmp/be-usage-ledger.db is the ledger /tmp/be-usage-ledger.db: writing it would destroy the answers already paid for; write to another file', hint: 'batch-enrich results --help' },
    { description: 'recipes: an argument it does not take', argv: ['recipes', 'ticket-triage'], line: 'unexpected argument "ticket-triage"', hint: 'batch-enrich recipes --help' },
    { description: 'emulator: a port that is not a number', argv: ['emulator', '--port', 'abc'], line: '--port: expected a whole number from 0 to 65535, got "abc"', hint: 'batch-enrich emulator --help' },
    { description: 'emulator: fault rates adding up over 1', argv: ['emulator', '--fault-429', '0.6', '--fault-529', '0.6'], line: '--fault-429 + --fault-500 + --fault-529: expected at most 1 together, got 1.2', hint: 'batch-enrich emulator --help' },
  ];
  it.each(cases)('$description', async ({ argv, env, line, hint }) => {
    const r = await runCli(argv, { env: { ANTHROPIC_API_KEY: 'k', ...env } });
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe(`batch-enrich: ${line}\nTry '${hint}'.\n`);
  });
});

// helper-85 #2: an API key with a line break in it (read from a file with its newline, pasted) was
// printed whole by the HTTP layer's "invalid header value" error, on every command that calls the
// API, after the run had recorded a batch as being created. It is refused before any call, unshown.
describe('an API key that cannot be sent in a header', () => {
  const SECRET = 'sk-ant-api03-SECRETNL';
  it.each([
    ['enrich', ['--prompt', 'x {{a}}', '-'], 'a line break'],
    ['results', ['results', 'msgbatch_abc'], 'a line break'],
    ['cancel', ['cancel', 'msgbatch_abc'], 'a line break'],
  ])('%s: exit 2, the key unshown', async (_name, argv, what) => {
    const r = await runCli(argv, { env: { ANTHROPIC_API_KEY: `${SECRET}\nrest`, ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' }, stdin: 'a\n1\n' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`batch-enrich: The API key (ANTHROPIC_API_KEY or apiKey) holds ${what} (at character 22 of 26): an API key is one line of printable characters; set it again without it (read from a file, it kept the file's line end?)`);
    expect(r.stderr + r.stdout).not.toContain('SECRET');
    expect(r.stderr + r.stdout).not.toContain('rest');
  });

  it('a blank inside is refused too, and so is such a key given to the library', async () => {
    const r = await runCli(['--prompt', 'x {{a}}', '-'], { env: { ANTHROPIC_API_KEY: `${SECRET} x`, ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' }, stdin: 'a\n1\n' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('The API key (ANTHROPIC_API_KEY or apiKey) holds a blank (at character 22 of 23)');
    expect(r.stderr).not.toContain('SECRET');
    const error = await thrown(() => enrichAll([{ a: 1 }], { prompt: 'x {{a}}', apiKey: `${SECRET}\r\nx`, ledger: ':memory:', baseURL: 'http://127.0.0.1:9' }));
    expect(isUsageError(error), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/^The API key \(ANTHROPIC_API_KEY or apiKey\) holds a line break \(at character 22 of 24\)/);
    expect((error as Error).message).not.toContain('SECRET');
  });

  // helper-87 #1: fetch sends a header without the blanks around it, so a key read from a file with its
  // line end (a Kubernetes secret made --from-file, a CRLF .env) worked, and its jobs had to go on.
  it('blanks and line ends around the key are left out when it is sent: the run works, and a rerun finds what it paid for', async () => {
    const key = 'sk-ant-api03-trailing-newline-key';
    const emu = await startEmulator({ apiKeys: [key] });
    try {
      const ledger = join(mkdtempSync(join(tmpdir(), 'be-key-')), 'l.db');
      const options = { prompt: 'x {{a}}', apiKey: `${key}\r\n`, ledger, baseURL: emu.url };
      const first = await enrichAll([{ a: 1 }, { a: 2 }], options);
      expect(first.map((r) => r['_error'])).toEqual([undefined, undefined]);
      const creates = emu.stats.calls['batches.create'] ?? 0;
      expect(creates).toBeGreaterThan(0);
      expect((await enrichAll([{ a: 1 }, { a: 2 }], options)).map((r) => r['_error'])).toEqual([undefined, undefined]);
      expect(emu.stats.calls['batches.create']).toBe(creates);
    } finally {
      await emu.close();
    }
  });
});

// helper-85 #2, the second line of defence: whatever message a layer below builds, stderr never
// carries the key (nor a line of it) from the environment.
it('say leaves the API key out of any message', async () => {
  const { say } = await import('../../src/cli/command.ts');
  let written = '';
  const io = { stdin: process.stdin, stdout: process.stdout, stderr: { write: (text: string) => ((written += text), true) } as unknown as NodeJS.WritableStream, env: { ANTHROPIC_API_KEY: 'sk-ant-api03-abcdef123456\r\nsecondline-0123456789ab' } };
  say(io, 'Headers.append: "Bearer sk-ant-api03-abcdef123456\r\nsecondline-0123456789ab" is an invalid header value.');
  expect(written).toBe('batch-enrich: Headers.append: "Bearer [the API key]" is an invalid header value.\n');
  written = '';
  say(io, 'a line of it alone: secondline-0123456789ab');
  expect(written).toBe('batch-enrich: a line of it alone: [the API key]\n');
  written = '';
  say({ ...io, env: { ANTHROPIC_API_KEY: 'sk-ant-api03-abcdef123456' } }, 'failed with sk-ant-api03-abcdef123456 and k');
  expect(written).toBe('batch-enrich: failed with [the API key] and k\n');
  // helper-87 #3: a test key that is a word the messages use is no secret to hide.
  written = '';
  say({ ...io, env: { ANTHROPIC_API_KEY: 'emulator' } }, '--emulator: the answers are made up by the offline emulator');
  expect(written).toBe('batch-enrich: --emulator: the answers are made up by the offline emulator\n');
});

// helper-89 #8: `--transform ticket-trige` listed the recipes but did not say which one was meant.
it('a mistyped recipe name says which recipe was meant, exit 2', async () => {
  const result = await runCli(['--dry-run', '--transform', 'ticket-trige', 'fixtures/csv/tickets.csv']);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain("--transform ticket-trige: no such recipe or file: did you mean 'ticket-triage'? (bundled recipes:");
});

// helper-89 #8: invoice-extraction on a CSV whose paths are in `pdf_path` said only that {{text}} was
// missing, not that the recipe reads its documents from `file`, nor that --attach pdf_path would do.
it('a recipe that reads documents from a column the table lacks says so, and names a column that looks like paths', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'be-attach-hint-'));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'inv.csv'), 'invoice_id,pdf_path\nA-1,a.pdf\n');
  const result = await runCli(['--dry-run', '--transform', 'invoice-extraction', join(dir, 'inv.csv')]);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain("the recipe reads its documents from the column file, which this header lacks: give --attach pdf_path");
  // helper-93 #11: a name that only holds such a word (`profile` holds "file") is no such column.
  writeFileSync(join(dir, 'inv2.csv'), 'invoice_id,profile\nA-1,x\n');
  const other = await runCli(['--dry-run', '--transform', 'invoice-extraction', join(dir, 'inv2.csv')]);
  expect(other.stderr).toContain('name the column of paths so, or give --attach COLUMN');
});

// helper-89 #7: a wrong key said its requests "will be submitted again", then failed without a word
// about the key.
it('a key the API refuses: the run fails naming ANTHROPIC_API_KEY, and says the requests wait for the next run', async () => {
  const emu = await startEmulator({ apiKey: 'sk-right-key-000000000000000' });
  try {
    const dir = mkdtempSync(join(tmpdir(), 'be-bad-key-'));
    const result = await runCli(['--prompt', 'Summarise {{text}}', '--poll-min', '0.01', '-'], {
      stdin: 'id,text\n1,a\n2,b\n',
      env: { ANTHROPIC_BASE_URL: emu.url, ANTHROPIC_API_KEY: 'sk-wrong-key-00000000000000', BATCH_ENRICH_LEDGER: join(dir, 'l.db') },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('batch (never created): 2 requests wait in the ledger for the next run: 401');
    expect(result.stderr).toContain('the API refused the key (401 authentication_error): check ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL)');
    expect(result.stderr).not.toContain('sk-wrong-key');
  } finally {
    await emu.close();
  }
});

// helper-93 #14: an option the library refuses (a recipe's maxTokens: 0) with --emulator printed the
// usage error and never exited: the in-process emulator was left running (SIGTERM only said "stopping").
it('an option the library refuses, with --emulator: exit 2, the process ends', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'be-bad-recipe-'));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'r0.mjs'), "export default { name: 'r0', prompt: 'Summarise {{clause}}', maxTokens: 0 };\n");
  writeFileSync(join(dir, 'cc.csv'), 'clause\nabc\n');
  const result = await runCli(['--emulator', '--ledger', ':memory:', '--transform', join(dir, 'r0.mjs'), join(dir, 'cc.csv')], { timeoutMs: 20_000 });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('`maxTokens`: Too small');
});
