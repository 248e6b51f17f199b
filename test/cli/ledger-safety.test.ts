/**
 * The ledger and the API identity as a user meets them from the shell: credentials in the base URL,
 * ledger paths that cannot work, who can read the ledger, and resuming work done on the emulator.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../src/emulator/index.ts';
import { BIN, runCli } from '../helpers/cli.ts';

let emulators: EmulatorHandle[] = [];
afterEach(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
});

function input() {
  const dir = mkdtempSync(join(tmpdir(), 'be-safety-'));
  const file = join(dir, 'in.csv');
  writeFileSync(file, 'id,text\n1,hello\n2,world\n');
  return { dir, file };
}

describe('credentials', () => {
  it('a base URL with a user name and password is refused before any create, and the password is never printed', async () => {
    const emu = await startEmulator({});
    emulators.push(emu);
    const { dir, file } = input();
    const url = new URL(emu.url);
    const withCredentials = `http://alice:s3cr3t-pw@${url.host}`;
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: withCredentials, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const run = await runCli(['--prompt', 'T: {{text}}', file], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/user name or password/);
    expect(run.stderr).toContain(`http://${url.host}`);
    expect(run.stderr + run.stdout).not.toContain('s3cr3t-pw');
    expect(emu.stats.calls['batches.create']).toBe(0);
    const status = await runCli(['status', '--json'], { env });
    expect(status.stderr + status.stdout).not.toContain('s3cr3t-pw');
  });

  it('a base URL without http:// (user:password@host read as a scheme) is refused at once, in every mode, and the fixed URL then runs', async () => {
    const emu = await startEmulator({});
    emulators.push(emu);
    const { dir, file } = input();
    const url = new URL(emu.url);
    const env = { ANTHROPIC_API_KEY: 'sk-test', BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    for (const mode of ['batch', 'realtime']) {
      const run = await runCli(['--prompt', 'T: {{text}}', '--mode', mode, file], { env: { ...env, ANTHROPIC_BASE_URL: `user:s3cretpw@${url.host}` }, timeoutMs: 15_000 });
      expect(run.signal).toBeNull();
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/must start with http:\/\/ or https:\/\//);
      expect(run.stderr + run.stdout).not.toContain('s3cretpw');
    }
    const status = await runCli(['status', '--json'], { env: { ...env, ANTHROPIC_BASE_URL: `user:s3cretpw@${url.host}` } });
    expect(status.stderr + status.stdout).not.toContain('s3cretpw');
    const right = await runCli(['--prompt', 'T: {{text}}', file], { env: { ...env, ANTHROPIC_BASE_URL: emu.url } });
    expect(right.code, right.stderr).toBe(0);
    expect(right.stdout.trim().split('\n')).toHaveLength(2);
  });
});

describe('the ledger path', () => {
  it('--ledger "" is a usage error (it would be a throw-away ledger: every rerun would pay again)', async () => {
    const { file } = input();
    const run = await runCli(['--emulator', '--prompt', 'T: {{text}}', '--ledger', '', file], { timeoutMs: 15_000 });
    expect(run.signal).toBeNull();
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ledger path is empty/);
    expect(run.stdout).toBe('');
  });

  it('a ledger path that cannot be made fails at once, naming the path and the OS error', async () => {
    const { file } = input();
    const started = Date.now();
    const run = await runCli(['--emulator', '--prompt', 'T: {{text}}', '--ledger', '/proc/nope/l.db', file], { timeoutMs: 15_000 });
    expect(run.signal).toBeNull();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('/proc/nope/l.db');
    expect(run.stderr).toMatch(/ENOENT|EACCES|EPERM/);
  });

  it('a new ledger is readable by its owner only (0600), in a folder only the owner can enter (0700)', async () => {
    const { dir, file } = input();
    const ledger = join(dir, 'private', 'jobs', 'ledger.db');
    const run = await runCli(['--emulator', '--prompt', 'T: {{text}}', '--ledger', ledger, file]);
    expect(run.code).toBe(0);
    expect(statSync(ledger).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'private', 'jobs')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'private')).mode & 0o777).toBe(0o700);
  });
});

describe('a ledger that cannot be written mid-run', () => {
  // helper-66: a full disk, or a file size limit, ended the run with SQLite's bare words ("disk I/O
  // error", "database or disk is full"), naming neither the ledger nor what to do.
  it('names the ledger, the cause and what to do (exit 1)', async () => {
    const { dir } = input();
    const file = join(dir, 'big.csv');
    writeFileSync(file, `id,text\n${Array.from({ length: 3000 }, (_, i) => `${i},${'some text that is long enough to fill the ledger '.repeat(3)}${i}`).join('\n')}\n`);
    const ledger = join(dir, 'l.db');
    // 1 MB at most per file written (sh counts 512-byte blocks): the input is read, the ledger outgrows it.
    const run = spawnSync('sh', ['-c', `ulimit -f 2000; exec "${process.execPath}" "${BIN}" --emulator --ledger "${ledger}" --prompt 'T: {{text}}' --poll-min 0.01 "${file}"`], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: dir } });
    expect(run.status).toBe(1);
    const last = run.stderr.trim().split('\n').at(-1);
    expect(last).toMatch(new RegExp(`^batch-enrich: The ledger ${ledger} could not be written \\(SQLITE_IOERR\\w*: disk I/O error\\): what was done before is kept there; free some space \\(or lift a file size limit: ulimit -f\\), then run the same command again, and it resumes$`));
  });
});

describe('the emulator as an identity', () => {
  it('--emulator --ledger FILE run twice resumes: the second run pays nothing', async () => {
    const { dir, file } = input();
    const ledger = join(dir, 'ledger.db');
    const first = await runCli(['--emulator', '--prompt', 'T: {{text}}', '--ledger', ledger, file]);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/submitted: 2 requests/);
    const second = await runCli(['--emulator', '--prompt', 'T: {{text}}', '--ledger', ledger, file]);
    expect(second.code).toBe(0);
    expect(second.stderr).not.toMatch(/submitted/);
    expect(second.stdout).toBe(first.stdout);
  });
});

describe('an API that cannot be reached', () => {
  it('a create that never connected says where and why on every try, stops, and pins nothing: the rerun with the right URL runs', async () => {
    const emu = await startEmulator({});
    emulators.push(emu);
    const { dir, file } = input();
    const args = ['--prompt', 'T: {{text}}', '--poll-min', '0.05', file];
    const env = { ANTHROPIC_API_KEY: 'sk-test', BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const wrong = await runCli(args, { env: { ...env, ANTHROPIC_BASE_URL: 'http://api.nonexistent.invalid' }, timeoutMs: 30_000 });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/create \(api\.nonexistent\.invalid\): Connection error: getaddrinfo (ENOTFOUND|EAI_AGAIN) api\.nonexistent\.invalid; trying again in \d/);
    expect(wrong.stderr).toMatch(/Creating a batch of 2 requests failed: Connection error: getaddrinfo \w+ api\.nonexistent\.invalid/);
    const right = await runCli(args, { env: { ...env, ANTHROPIC_BASE_URL: emu.url } });
    expect(right.code, right.stderr).toBe(0);
    expect(right.stdout.trim().split('\n')).toHaveLength(2);
    expect(emu.stats.calls['batches.create']).toBe(1);
  });
});

describe('a rerun without the API key', () => {
  it('writes what the ledger already answered without asking for the key; a record not in it needs the key (exit 2)', async () => {
    const emu = await startEmulator({});
    emulators.push(emu);
    const { dir, file } = input();
    const ledger = join(dir, 'l.db');
    const args = ['--prompt', 'T: {{text}}', '--poll-min', '0.05', file];
    const first = await runCli(args, { env: { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: ledger } });
    expect(first.code, first.stderr).toBe(0);
    const cached = await runCli(args, { env: { ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: ledger } });
    expect(cached.code, cached.stderr).toBe(0);
    expect(cached.stdout).toBe(first.stdout);
    expect(emu.stats.calls['batches.create']).toBe(1);
    writeFileSync(file, 'id,text\n1,hello\n2,world\n3,new row\n');
    const more = await runCli(args, { env: { ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: ledger } });
    expect(more.code).toBe(2);
    expect(more.stderr).toMatch(/no API key/i);
    expect(emu.stats.calls['batches.create']).toBe(1);
  });
});
