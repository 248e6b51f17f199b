/**
 * The CLI never destroys input and never leaves half an output (issue 14, problem 1), and reads a live
 * stdin row by row (problem 9): what golden files cannot express, with the built binary.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, linkSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heldDescriptor } from '../../src/cli/files.ts';
import { BIN, ROOT, runCli } from '../helpers/cli.ts';

const fast = ['--poll-min', '0.01'];

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'be-files-'));
  const input = join(dir, 'news.ndjson');
  const text = Array.from({ length: 50 }, (_, i) => JSON.stringify({ headline: `Headline ${i}` })).join('\n') + '\n';
  writeFileSync(input, text);
  return { dir, input, text };
}

describe('never destroy input', () => {
  it('refuses -o or --errors that is the input (same path, a symlink, a hard link, the file stdin is redirected from), before reading', async () => {
    const { dir, input, text } = setup();
    symlinkSync(input, join(dir, 'link.ndjson'));
    linkSync(input, join(dir, 'hard.ndjson'));
    const cases: [string[], RegExp][] = [
      [['-o', input, input], /--output .*news\.ndjson is the input .*news\.ndjson: writing it would destroy the input/],
      [['--errors', join(dir, 'link.ndjson'), input], /--errors .*link\.ndjson is the input/],
      [['--output', join(dir, 'hard.ndjson'), input], /--output .*hard\.ndjson is the input/],
      [['-o', `${dir}/./news.ndjson`, input], /--output .* is the input/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['--emulator', ...fast, '--prompt', 'T: {{headline}}', ...args]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(readFileSync(input, 'utf8')).toBe(text);
    }
    // `batch-enrich … -o news.ndjson < news.ndjson`
    const child = spawn(process.execPath, [BIN, '--emulator', '--prompt', 'T: {{headline}}', '-o', input], {
      stdio: [openSync(input, 'r'), 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '', HOME: dir },
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(/--output .* is the input \(stdin\)/);
    expect(readFileSync(input, 'utf8')).toBe(text);
  });

  // helper-53: `batch-enrich app.csv >> app.csv` read its own NDJSON output back as CSV rows (19,000
  // lines appended to a 20,000-row input, then an error); with `>` the shell had emptied the input, and
  // the run said "0 records" and exited 0.
  it('refuses a standard output or error that is the input file (`>> in.csv`, `2> in.csv`, `< f > f`), before reading: the run would read its own output', async () => {
    const { dir, input, text } = setup();
    const spawned = async (args: string[], stdio: [unknown, unknown, unknown]) => {
      const child = spawn(process.execPath, [BIN, '--emulator', ...fast, '--ledger', join(dir, 'l.db'), '--prompt', 'T: {{headline}}', ...args], {
        stdio: stdio as never,
        env: { PATH: process.env['PATH'] ?? '', HOME: dir },
      });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const code = await new Promise((resolve) => child.on('close', resolve));
      return { code, stderr: stderr || readFileSync(input, 'utf8').slice(text.length) };
    };
    const appended = await spawned([input], ['ignore', openSync(input, 'a'), 'pipe']);
    expect(appended.code, appended.stderr).toBe(2);
    expect(appended.stderr).toMatch(/its standard output is the input .*news\.ndjson: the run would read what it writes \(and `>` empties the input before the run starts\); write to another file/);
    expect(readFileSync(input, 'utf8')).toBe(text);
    const fromStdin = await spawned([], [openSync(input, 'r'), openSync(input, 'a'), 'pipe']);
    expect(fromStdin.code, fromStdin.stderr).toBe(2);
    expect(fromStdin.stderr).toMatch(/its standard output is the input \(stdin\)/);
    // Standard error onto the input (`2>> in.csv`): the message would be appended to the input, a
    // bad row for the next run (helper-55). Nothing is written there; it goes to the terminal, if any.
    const onStderr = await spawned([input], ['ignore', 'ignore', openSync(input, 'a')]);
    expect(onStderr.code).toBe(2);
    expect(readFileSync(input, 'utf8')).toBe(text);
    // `> news.ndjson`: the shell has emptied it already; the run says so instead of "0 records", exit 0.
    const emptied = await spawned([input], ['ignore', openSync(input, 'w'), 'pipe']);
    expect(emptied.code, emptied.stderr).toBe(2);
    expect(emptied.stderr).toMatch(/its standard output is the input .*news\.ndjson.*: it is empty now/);
  });

  it('refuses --summary that is the input, and any output that is the ledger (or its WAL): every paid answer is in it', async () => {
    const { dir, input, text } = setup();
    const ledger = join(dir, 'work.db');
    const first = await runCli(['--emulator', ...fast, '--quiet', '--ledger', ledger, '--prompt', 'T: {{headline}}', input]);
    expect(first.code, first.stderr).toBe(0);
    const ledgerBytes = readFileSync(ledger);
    writeFileSync(`${ledger}-wal`, '');
    symlinkSync(`${ledger}-wal`, join(dir, 'wal-link'));
    const cases: [string[], RegExp][] = [
      [['--summary', input], /--summary .*news\.ndjson is the input .*news\.ndjson: writing it would destroy the input/],
      [['-o', ledger], /--output .*work\.db is the ledger .*work\.db: writing it would destroy the answers already paid for; write to another file/],
      [['--errors', `${dir}/./work.db`], /--errors .*work\.db is the ledger/],
      [['--summary', ledger], /--summary .*work\.db is the ledger/],
      [['-o', `${ledger}-wal`], /--output .*work\.db-wal is the ledger's own file/],
      [['-o', join(dir, 'wal-link')], /--output .*wal-link is the ledger's own file/],
      [['-o', join(dir, 'out.ndjson'), '--summary', join(dir, 'out.ndjson')], /--output .*out\.ndjson and --summary .*out\.ndjson are the same file/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['--emulator', ...fast, '--ledger', ledger, '--prompt', 'T: {{headline}}', ...args, input]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(readFileSync(input, 'utf8')).toBe(text);
      expect(readFileSync(ledger).equals(ledgerBytes)).toBe(true);
    }
    // A name that only starts like the ledger's is another file.
    const beside = await runCli(['--emulator', ...fast, '--quiet', '--ledger', ledger, '--prompt', 'T: {{headline}}', '-o', `${ledger}-export.ndjson`, input]);
    expect(beside.code, beside.stderr).toBe(0);
  });

  it('--summary into a folder that does not exist is a usage error before any batch, naming the flag', async () => {
    const { dir, input } = setup();
    const result = await runCli(['--emulator', ...fast, '--ledger', join(dir, 'l.db'), '--prompt', 'T: {{headline}}', '--summary', join(dir, 'none', 's.json'), input]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--summary .*none\/s\.json: cannot write there: ENOENT \(no such folder\)/);
    expect(result.stdout).toBe('');
  });

  it('-o over a symlink writes the file it points at, and an existing file keeps its mode', async () => {
    const { dir, input } = setup();
    const target = join(dir, 'target.ndjson');
    writeFileSync(target, 'OLD\n');
    chmodSync(target, 0o600);
    symlinkSync(target, join(dir, 'link.ndjson'));
    const result = await runCli(['--emulator', ...fast, '--quiet', '--prompt', 'T: {{headline}}', '-o', join(dir, 'link.ndjson'), '--summary', join(dir, 'link.ndjson.json'), input]);
    expect(result.code, result.stderr).toBe(0);
    expect(lstatSync(join(dir, 'link.ndjson')).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8').trim().split('\n')).toHaveLength(50);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(dir, 'link.ndjson.json'), 'utf8'))).toMatchObject({ records_ok: 50 });
    // A special file is written as it is: `-o /dev/stdout` into a shell pipe.
    const piped = execFileSync('sh', ['-c', `"${process.execPath}" "${BIN}" --emulator --quiet --prompt 'T: {{headline}}' -o /dev/stdout "${input}" | wc -l`], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: dir } });
    expect(piped.trim()).toBe('50');
  });

  it('-o over a symlink whose file does not exist yet writes that file, and keeps the link (as a shell > would); -o - is stdout', async () => {
    const { dir, input } = setup();
    symlinkSync(join('sub', 'x.ndjson'), join(dir, 'dangling.ndjson'));
    execFileSync('mkdir', [join(dir, 'sub')]);
    const result = await runCli(['--emulator', ...fast, '--quiet', '--prompt', 'T: {{headline}}', '-o', join(dir, 'dangling.ndjson'), input]);
    expect(result.code, result.stderr).toBe(0);
    expect(lstatSync(join(dir, 'dangling.ndjson')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'sub', 'x.ndjson'), 'utf8').trim().split('\n')).toHaveLength(50);
    // A link in a folder reached through a link, to a link: each resolved where it really lies.
    execFileSync('mkdir', ['-p', join(dir, 'a', 'b')]);
    symlinkSync(join('a', 'b'), join(dir, 'dl'));
    symlinkSync(join('..', 'chain.ndjson'), join(dir, 'a', 'b', 'out.ndjson'));
    symlinkSync('final.ndjson', join(dir, 'a', 'chain.ndjson'));
    const through = await runCli(['--emulator', ...fast, '--quiet', '--prompt', 'T: {{headline}}', '-o', join(dir, 'dl', 'out.ndjson'), input]);
    expect(through.code, through.stderr).toBe(0);
    expect(readFileSync(join(dir, 'a', 'final.ndjson'), 'utf8').trim().split('\n')).toHaveLength(50);
    expect(existsSync(join(dir, 'chain.ndjson')) || existsSync(join(dir, 'final.ndjson'))).toBe(false);
    expect(lstatSync(join(dir, 'a', 'chain.ndjson')).isSymbolicLink()).toBe(true);
    // Two outputs that are one file through a dangling link are refused.
    symlinkSync('both.ndjson', join(dir, 'same.ndjson'));
    const same = await runCli(['--emulator', ...fast, '--prompt', 'T: {{headline}}', '-o', join(dir, 'same.ndjson'), '--errors', join(dir, 'both.ndjson'), input]);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('are the same file');
    const dash = await runCli(['--emulator', ...fast, '--quiet', '--prompt', 'T: {{headline}}', '-o', '-', input], { cwd: dir });
    expect(dash.code, dash.stderr).toBe(0);
    expect(dash.stdout.trim().split('\n')).toHaveLength(50);
    expect(existsSync(join(dir, '-'))).toBe(false);
  });

  it('--dry-run with -o, --errors or --summary is refused, and the file is left as it was (the output of the real run, its paid answers)', async () => {
    const { dir, input } = setup();
    const output = join(dir, 'out.ndjson');
    writeFileSync(output, 'ANSWERS PAID FOR\n');
    for (const flag of ['-o', '--errors', '--summary']) {
      const result = await runCli(['--dry-run', '--prompt', 'T: {{headline}}', flag, output, input]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--dry-run prints the requests on stdout and writes no file: leave --(output|errors|summary) .*out\.ndjson out/);
      expect(result.stdout).toBe('');
      expect(readFileSync(output, 'utf8')).toBe('ANSWERS PAID FOR\n');
    }
  });

  it('a file name with terminal codes is named with them escaped, on stderr as in status', async () => {
    const { dir } = setup();
    const result = await runCli(['--emulator', '--prompt', 'T: {{headline}}', join(dir, 'gone\u001b[2J\u001b]0;x\u0007.ndjson')]);
    expect(result.code).toBe(1);
    expect(result.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(result.stderr).toContain('gone\\u001b[2J\\u001b]0;x\\u0007.ndjson: cannot open: no such file (ENOENT)');
  });

  it('refuses -o or --errors named for a format it does not write (a spreadsheet, TSV, a compressed file) rather than fill it with NDJSON; --output-format overrides the name', async () => {
    const { dir, input } = setup();
    for (const [flag, name, format] of [['-o', 'out.xlsx', 'xlsx'], ['-o', 'out.tsv', 'tsv'], ['-o', 'out.csv.gz', 'gz'], ['--errors', 'failed.parquet', 'parquet']] as const) {
      const result = await runCli(['--emulator', ...fast, '--ledger', join(dir, 'l.db'), '--prompt', 'T: {{headline}}', flag, join(dir, name), input]);
      expect(result.code, `${flag} ${name}`).toBe(2);
      expect(result.stderr).toContain(`${flag === '-o' ? '--output' : flag} "${dir}`);
      expect(result.stderr).toContain(`: batch-enrich writes NDJSON or CSV, not ${format}: name the file .ndjson, .jsonl or .csv, or give --output-format`);
      expect(result.stdout).toBe('');
      expect(existsSync(join(dir, name))).toBe(false);
    }
    const chosen = await runCli(['--emulator', ...fast, '--quiet', '--ledger', join(dir, 'l.db'), '--prompt', 'T: {{headline}}', '--output-format', 'ndjson', '-o', join(dir, 'out.txt.gz'), input]);
    expect(chosen.code, chosen.stderr).toBe(0);
    expect(readFileSync(join(dir, 'out.txt.gz'), 'utf8').trim().split('\n')).toHaveLength(50);
  });

  it('a refused output is the only thing said: no note about the prompt cache before the usage error', async () => {
    const { dir } = setup();
    const result = await runCli(['--emulator', '--ledger', join(dir, 'l.db'), '--transform', 'ticket-triage', '-o', join(dir, 'out.xlsx'), join(ROOT, 'fixtures', 'csv', 'tickets.csv')]);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(/^batch-enrich: --output ".*out\.xlsx": batch-enrich writes NDJSON or CSV, not xlsx/);
    expect(result.stderr).not.toContain('cach');
    // The note itself still comes on a run that goes ahead.
    const ok = await runCli(['--emulator', ...fast, '--ledger', join(dir, 'l.db'), '--transform', 'ticket-triage', '-o', join(dir, 'out.ndjson'), join(ROOT, 'fixtures', 'csv', 'tickets.csv')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('caching will not apply');
  });

  it('refuses -o and --errors naming the same file (one would silently replace the other)', async () => {
    const { dir, input } = setup();
    const result = await runCli(['--emulator', ...fast, '--prompt', 'T: {{headline}}', '-o', join(dir, 'out.ndjson'), '--errors', `${dir}/./out.ndjson`, input]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--output .*out\.ndjson and --errors .*out\.ndjson are the same file/);
  });

  it.skipIf(!existsSync('/dev/full'))('a device that refuses the bytes (a full disk) is named: the flag, the path and why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-full-'));
    const input = join(dir, 'in.ndjson');
    // The second record has no headline: it comes out with _error, to --errors.
    writeFileSync(input, '{"headline":"a"}\n{"other":1}\n{"headline":"b"}\n');
    for (const [flag, name] of [['-o', '--output'], ['--errors', '--errors']] as const) {
      const result = await runCli(['--emulator', ...fast, '--prompt', 'T: {{headline}}', flag, '/dev/full', input]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain(`batch-enrich: ${name} /dev/full: cannot write: ENOSPC\n`);
    }
  });

  // helper-91 #5d: a full disk failed the run saying only `--output …: cannot write: ENOSPC`, not that the
  // batches it had submitted run on, billed, and that a rerun takes them up.
  it.skipIf(!existsSync('/dev/full'))('an output that cannot be written, after batches went out: the failure says they stay in the ledger for the rerun', async () => {
    const { startEmulator } = await import('../../src/emulator/index.ts');
    const emu = await startEmulator();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'be-full-batches-'));
      const input = join(dir, 'in.ndjson');
      writeFileSync(input, '{"headline":"a"}\n{"headline":"b"}\n');
      const result = await runCli([...fast, '--prompt', 'T: {{headline}}', '-o', '/dev/full', '--ledger', join(dir, 'l.db'), input], { env: { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url } });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/--output \/dev\/full: cannot write: ENOSPC.*; the 1 batch this run submitted or followed stays? in the ledger/);
    } finally {
      await emu.close();
    }
  });

  it('-o FILE is written whole at the end: a run killed while writing leaves the old FILE, or none', async () => {
    for (const old of ['OLD GOOD OUTPUT\n', undefined]) {
      const dir = mkdtempSync(join(tmpdir(), 'be-atomic-'));
      const input = join(dir, 'in.csv');
      writeFileSync(input, `id,text\n${Array.from({ length: 3000 }, (_, i) => `${i},"ticket ${i}: ${'lorem ipsum '.repeat(8)}"`).join('\n')}\n`);
      const output = join(dir, 'out.ndjson');
      if (old !== undefined) writeFileSync(output, old);
      const child = spawn(process.execPath, [BIN, '--emulator', ...fast, '--batch-size', '100', '--max-in-flight', '1', '--quiet', '--prompt', 'Summarise {{text}}', '-o', output, input], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env['PATH'] ?? '', HOME: dir },
      });
      const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
      // Kill as soon as the temporary file holds some records.
      let killed = false;
      const started = Date.now();
      while (!killed && Date.now() - started < 20_000) {
        const temp = readdirSync(dir).find((name) => name.startsWith('.out.ndjson.') && name.endsWith('.tmp'));
        if (temp && statSync(join(dir, temp)).size > 10_000) {
          child.kill('SIGKILL');
          killed = true;
        } else {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      expect(killed, 'the run was killed while writing').toBe(true);
      expect(await closed).toBe('SIGKILL');
      if (old === undefined) expect(existsSync(output)).toBe(false);
      else expect(readFileSync(output, 'utf8')).toBe(old);
      // The next run removes the hidden file the killed one left (before: it stayed, as large as the output so far).
      const left = readdirSync(dir).filter((name) => name.endsWith('.tmp'));
      expect(left).toHaveLength(1);
      const rerun = await runCli(['--emulator', ...fast, '--batch-size', '100', '--prompt', 'Summarise {{text}}', '-o', output, input], { env: { PATH: process.env['PATH'] ?? '', HOME: dir } });
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(rerun.stderr).toMatch(new RegExp(`removed ${left[0]?.replace(/\./g, '\\.')} \\([\\d.]+ (?:B|KiB|MiB)\\): the unfinished --output of a run that was killed`));
      expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
      expect(readFileSync(output, 'utf8').trim().split('\n')).toHaveLength(3000);
    }
  }, 90_000);

  it("a temporary output file of a live process, or of another machine's (a shared folder), is left alone", async () => {
    const { dir, input } = setup();
    const output = join(dir, 'out.ndjson');
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_');
    const namespace = /\d+/.exec(readlinkSync('/proc/self/ns/pid'))?.[0] ?? '';
    const mine = `.out.ndjson.${host}-${namespace}.${process.pid}-abcdef.tmp`;
    // Another machine's, and a container's on this one (the host's name, pids of its own): no process
    // 999999 runs here, but that says nothing of theirs.
    const elsewhere = '.out.ndjson.other-machine.999999-abcdef.tmp';
    const container = `.out.ndjson.${host}-1.999999-abcdef.tmp`;
    for (const name of [mine, elsewhere, container]) writeFileSync(join(dir, name), 'partial\n');
    const result = await runCli(['--emulator', ...fast, '--prompt', 'T: {{headline}}', '-o', output, input]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/removed/);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp')).sort()).toEqual([mine, elsewhere, container].sort());
  });

  it('a complete run replaces -o FILE and leaves no temporary file behind', async () => {
    const { dir, input } = setup();
    const output = join(dir, 'out.ndjson');
    writeFileSync(output, 'OLD\n');
    const result = await runCli(['--emulator', ...fast, '--quiet', '--prompt', 'T: {{headline}}', '-o', output, input]);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(output, 'utf8').trim().split('\n')).toHaveLength(50);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});

describe('outputs named by a descriptor this process holds (/dev/stdout, /dev/stderr, /dev/fd/N)', () => {
  it.each([
    ['/dev/stdout', 1],
    ['/dev//stdout', 1],
    ['/dev/stderr', 2],
    ['/dev/fd/1', 1],
    ['/proc/self/fd/2', 2],
    ['/dev/fd/987', undefined], // not open here
    ['/dev/stdin', undefined], // not an output
    ['stdout', undefined],
    ['/tmp/dev/stdout', undefined],
  ])('%s stands for descriptor %s', (name, fd) => {
    expect(heldDescriptor(name)).toBe(fd);
  });

  /** Runs the bin under sh with `redirect` (such as `>> log`), in `dir`; resolves with its exit code and stderr. */
  function underShell(dir: string, args: string[], redirect: string): { code: string; stderr: string } {
    const quoted = [process.execPath, BIN, ...args].map((arg) => `'${arg}'`).join(' ');
    execFileSync('sh', ['-c', `${quoted} ${redirect} 2> err; echo $? > rc`], { cwd: dir, env: { PATH: process.env['PATH'] ?? '', HOME: dir } });
    return { code: readFileSync(join(dir, 'rc'), 'utf8').trim(), stderr: readFileSync(join(dir, 'err'), 'utf8') };
  }

  // Before 2026-12-06 such a name was resolved to the file behind it, written under a temporary name and
  // renamed over it: a log appended to (>>) lost what it held, and the shell's file was another inode.
  it('--summary /dev/stdout appended to a log (>>) adds to it, in the same file, as the tries of a scheduler do', async () => {
    const { dir, input } = setup();
    const log = join(dir, 'runs.log');
    writeFileSync(log, 'EARLIER LINE\n');
    const inode = statSync(log).ino;
    for (const round of [1, 2]) {
      const result = underShell(dir, ['--emulator', ...fast, '--quiet', '--prompt', 'T: {{headline}}', '-o', '/dev/null', '--summary', '/dev/stdout', input], '>> runs.log');
      expect(result.code, `round ${round}: ${result.stderr}`).toBe('0');
    }
    expect(statSync(log).ino).toBe(inode);
    const text = readFileSync(log, 'utf8');
    expect(text.startsWith('EARLIER LINE\n{')).toBe(true);
    // Two summaries (JSON objects, each over lines of its own), one after the other.
    const summaries = text.slice('EARLIER LINE\n'.length).split(/\n(?=\{)/).map((part) => JSON.parse(part) as { records_ok: number });
    expect(summaries.map((summary) => summary.records_ok)).toEqual([50, 50]);
  });

  it('-o /dev/stdout and -o /dev/fd/1 write to the standard output as it was given (appended to, with >>); the records are all there', async () => {
    const { dir, input } = setup();
    for (const name of ['/dev/stdout', '/dev/fd/1']) {
      const log = join(dir, 'app.txt');
      writeFileSync(log, 'KEPT\n');
      const result = underShell(dir, ['--emulator', ...fast, '--quiet', '--prompt', 'T: {{headline}}', '-o', name, input], '>> app.txt');
      expect(result.code, `${name}: ${result.stderr}`).toBe('0');
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      expect(lines[0], name).toBe('KEPT');
      expect(lines.slice(1).map((line) => (JSON.parse(line) as { headline: string }).headline)).toEqual(Array.from({ length: 50 }, (_, i) => `Headline ${i}`));
    }
  });
});

describe('a live stdin', () => {
  it('emits each complete CSV row at once, without waiting for more input', async () => {
    const child = spawn(process.execPath, [BIN, '--dry-run', '--prompt', 'Say {{text}}', '--input-format', 'csv'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir() },
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stdin.write('text\nfirst row\n');
    const started = Date.now();
    while (!stdout.includes('\n') && Date.now() - started < 5_000) await new Promise((resolve) => setTimeout(resolve, 10));
    // stdin is still open: the row came out on its own.
    expect(stdout).toContain('Say first row');
    child.stdin.end('second row\n');
    await new Promise((resolve) => child.on('close', resolve));
    expect(stdout.trim().split('\n')).toHaveLength(2);
  });
});

describe('an output file written whole', () => {
  it('a rewrite that fails (a full disk) names the file and leaves it as it was, with no temporary file left', async () => {
    const { AtomicOutput } = await import('../../src/cli/files.ts');
    const dir = mkdtempSync(join(tmpdir(), 'be-atomic-'));
    const path = join(dir, 'out.csv');
    writeFileSync(path, 'old\n');
    const out = new AtomicOutput('--output', path);
    out.stream.write('new\n');
    const full = Object.assign(new Error('no space left on device, write'), { code: 'ENOSPC' });
    await expect(out.finish(() => Promise.reject(full))).rejects.toMatchObject({ code: 'BE_OUTPUT', message: `--output ${path}: cannot write it whole: ENOSPC; the file is left as it was` });
    out.discard();
    expect(readFileSync(path, 'utf8')).toBe('old\n');
    expect(readdirSync(dir)).toEqual(['out.csv']);
  });
});
