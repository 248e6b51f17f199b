/**
 * Submit now, collect later (`--no-wait`): a scheduler's sensor reruns the same command until it
 * succeeds. While answers are pending it exits 75 (EX_TEMPFAIL) and writes nothing to stdout; no
 * batch is created again for work already submitted; once every answer is in, it writes the output.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../src/emulator/index.ts';
import { runCli } from '../helpers/cli.ts';
import { FORGET_ANSWERS } from '../helpers/pipeline.ts';
import { freshSchema, postgres } from '../helpers/postgres.ts';
import { faultProxy, isRetrieve } from '../helpers/proxy.ts';
import { relay } from '../helpers/relay.ts';

let emulators: EmulatorHandle[] = [];
afterEach(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
});

/** The ledger between the tries: a file on a persistent volume, or PostgreSQL (tries on other machines). */
const stores = [
  { store: 'SQLite', ledger: async (dir: string) => join(dir, 'l.db'), skip: false },
  { store: 'PostgreSQL', ledger: (_dir: string) => freshSchema(), skip: !postgres.url },
];

describe.each(stores)('--no-wait (ledger in $store)', ({ ledger, skip }) => {
  it.skipIf(skip)('exits 75 with nothing on stdout while batches run, creates nothing on a rerun, then writes the whole output in order', async () => {
    let t = Date.now();
    const emu = await startEmulator({ processingMs: 60_000, now: () => t });
    emulators.push(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-nowait-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, `id,text\n${Array.from({ length: 30 }, (_, i) => `${i},row ${i}`).join('\n')}\n`);
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: await ledger(dir) };
    const args = ['--prompt', 'T: {{text}}', '--no-wait', '--batch-size', '10', '--poll-min', '0.05', input];

    const first = await runCli(args, { env });
    expect(first.code, first.stderr).toBe(75);
    expect(first.stdout).toBe('');
    // Records (rows) are counted, not answers: the requests are in batches, each row waits for its request's answer.
    expect(first.stderr).toMatch(/30 records wait for their answers from 3 batches; the oldest expires at \d{4}-\d\d-\d\dT/);
    expect(emu.stats.calls['batches.create']).toBe(3);

    const again = await runCli(args, { env });
    expect(again.code, again.stderr).toBe(75);
    expect(again.stdout).toBe('');
    expect(emu.stats.calls['batches.create']).toBe(3);

    t += 61_000; // the batches end
    const done = await runCli(args, { env });
    expect(done.code, done.stderr).toBe(0);
    const ids = done.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id);
    expect(ids).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    expect(emu.stats.calls['batches.create']).toBe(3);
  });

  it.skipIf(skip)('a try that downloads answers and still waits (it sent some again) writes --summary with what it paid and how many records wait; the tries add up', async () => {
    // A job's bill was only in the summary of the try that wrote the output: the answers an earlier
    // try downloaded, paid for, were in no summary and no _meta (a try that exits 75 wrote none).
    let t = Date.now();
    const emu = await startEmulator({ processingMs: 60_000, expiredRate: 0.3, now: () => t });
    emulators.push(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-nowait-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, `id,text\n${Array.from({ length: 30 }, (_, i) => `${i},row ${i}`).join('\n')}\n`);
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: await ledger(dir) };
    const summary = join(dir, 'summary.json');
    const args = ['--prompt', 'T: {{text}}', '--no-wait', '--batch-size', '10', '--poll-min', '0.05', '--summary', summary, '--meta', '-o', join(dir, 'out.ndjson'), input];
    const read = () => JSON.parse(readFileSync(summary, 'utf8')) as { cost_usd: number; records_ok: number; records_pending?: number };

    const first = await runCli(args, { env });
    expect(first.code, first.stderr).toBe(75);
    // Nothing downloaded, nothing paid: a summary that says so.
    expect(read()).toMatchObject({ cost_usd: 0, records_ok: 0, records_pending: 30 });

    t += 61_000;
    const second = await runCli(args, { env });
    expect(second.code, second.stderr).toBe(75);
    expect(existsSync(join(dir, 'out.ndjson'))).toBe(false);
    const waiting = Number(/(\d+) records? waits? for (?:their|its) answers?/.exec(second.stderr)?.[1]);
    expect(waiting).toBeGreaterThan(0);
    const paid = read();
    expect(paid.cost_usd).toBeGreaterThan(0);
    expect(paid).toMatchObject({ records_ok: 0, records_pending: waiting });
    expect(second.stderr).toMatch(/cost \$[\d.]+ at batch prices/);

    // Each retry may expire again (30% a time): the tries go on until one writes the output.
    let last = second;
    for (let tries = 0; last.code === 75 && tries < 10; tries++) {
      t += 61_000;
      last = await runCli(args, { env });
    }
    // Written whole: every record enriched, or (expired at its every attempt) carrying its error.
    expect([0, 3], last.stderr).toContain(last.code);
    const final = read();
    expect(final.records_pending).toBe(0);
    // The output's _meta costs are what the try that wrote it paid (its summary's, to the micro-dollar).
    const out = readFileSync(join(dir, 'out.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { _meta: { cost_usd: number } });
    expect(out).toHaveLength(30);
    const metaUsd = out.reduce((sum, r) => sum + r._meta.cost_usd, 0);
    expect(metaUsd).toBeCloseTo(final.cost_usd, 5);
  });

  it.skipIf(skip)('a gc between the tries keeps the answers of another job the job read: its next try pays for nothing more', async () => {
    let t = Date.now();
    const emu = await startEmulator({ processingMs: 60_000, now: () => t });
    emulators.push(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-nowait-gc-'));
    const rows = (from: number, to: number) => `id,text\n${Array.from({ length: to - from }, (_, i) => `${from + i},row ${from + i}`).join('\n')}\n`;
    writeFileSync(join(dir, 'a.csv'), rows(0, 10));
    writeFileSync(join(dir, 'b.csv'), rows(0, 15));
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: await ledger(dir) };
    const common = ['--prompt', 'T: {{text}}', '--poll-min', '0.05'];
    const a = await runCli([...common, '--job', 'a', '--no-wait', join(dir, 'a.csv')], { env });
    t += 61_000;
    const collected = await runCli([...common, '--job', 'a', join(dir, 'a.csv')], { env });
    expect(collected.code, `${a.stderr}${collected.stderr}`).toBe(0);
    const sent = () => emu.stats.requestsSubmitted;
    expect(sent()).toBe(10);
    // Job b reads a's 10 answers and sends 5; its try exits with that batch running.
    const b = ['--job', 'b', '--no-wait', join(dir, 'b.csv')];
    expect((await runCli([...common, ...b], { env })).code).toBe(75);
    expect(sent()).toBe(15);
    const gc = await runCli(['gc', '--older-than', '0'], { env });
    expect(gc.code, gc.stderr).toBe(0);
    t += 61_000;
    const done = await runCli([...common, ...b], { env });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout.trim().split('\n')).toHaveLength(15);
    expect(sent()).toBe(15);
  });
});

describe('a request waiting on a batch the ledger no longer has', () => {
  it('is sent again (that batch can answer nothing for it), not waited on for ever', async () => {
    const emu = await startEmulator({ processingMs: 0 });
    emulators.push(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-orphan-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'id,text\n1,one\n2,two\n');
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const args = ['--prompt', 'T: {{text}}', '--poll-min', '0.05', input];
    expect((await runCli(args, { env })).code).toBe(0);
    // As a gc of an older release (or a hand) could leave it: the requests submitted, their batch row gone.
    const db = new Database(join(dir, 'l.db'));
    db.exec(`${FORGET_ANSWERS}; DELETE FROM batches; DELETE FROM results`);
    db.close();
    const again = await runCli(args, { env, timeoutMs: 20_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n')).toHaveLength(2);
    expect(emu.stats.requestsSubmitted).toBe(4);
  });
});

// helper-99: the try that collects a --no-wait job whose input was moved or deleted after the submit
// said only 't.csv: cannot open: ENOENT', as if nothing had been paid for.
describe('a --no-wait job whose input is gone when the next try collects it', () => {
  it('says the ledger holds the job\'s batches, that writing the records out needs the input, and what to do (exit 1); put back, the input is collected, nothing paid again', async () => {
    let t = Date.now();
    const emu = await startEmulator({ processingMs: 60_000, now: () => t });
    emulators.push(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-nowait-gone-'));
    const input = join(dir, 'in.csv');
    const rows = 'id,text\n1,a\n2,b\n';
    writeFileSync(input, rows);
    const ledger = join(dir, 'l.db');
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: ledger };
    const args = ['--no-wait', '--prompt', 'T: {{text}}', '--poll-min', '0.05', input];
    expect((await runCli(args, { env })).code).toBe(75);
    const [batch] = emu.batches();
    rmSync(input);
    t += 61_000; // the batch ends
    const gone = await runCli(args, { env });
    expect(gone.code, gone.stderr).toBe(1);
    expect(gone.stdout).toBe('');
    const said = gone.stderr.trim();
    expect(said).toMatch(new RegExp(`^batch-enrich: ${input}: cannot open: no such file \\(ENOENT\\); the ledger ${ledger} holds 1 batch of this job \\(in\\.csv-[0-9a-f]+\\), submitted by an earlier try`));
    expect(said).toContain('writing the records out needs the input they came from');
    expect(said).toContain(`put ${input} back (or give its new path), and run the command again`);
    expect(said).toContain(`batch-enrich results ${batch}`);
    expect(said.split('\n')).toHaveLength(1);
    writeFileSync(input, rows);
    const back = await runCli(args, { env });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout.trim().split('\n')).toHaveLength(2);
    expect(emu.stats.calls['batches.create']).toBe(1);
  });

  it('a missing input of a job the ledger has no batch of is said as missing, with nothing of the ledger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-nowait-gone-'));
    const gone = await runCli(['--no-wait', '--emulator', '--ledger', join(dir, 'l.db'), '--prompt', 'T: {{text}}', join(dir, 'nope.csv')]);
    expect(gone.code).toBe(1);
    expect(gone.stderr.trim()).toBe(`batch-enrich: ${join(dir, 'nope.csv')}: cannot open: no such file (ENOENT)`);
  });
});

describe('a job come back after 29 days', () => {
  it('its batch\'s results archived by the API: its requests are sent again and the job ends, not fails at every try', async () => {
    let t = Date.now();
    const emu = await startEmulator({ processingMs: 60_000, now: () => t });
    emulators.push(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-archived-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'id,text\n1,one\n2,two\n');
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const args = ['--prompt', 'T: {{text}}', '--poll-min', '0.05', '--no-wait', input];
    expect((await runCli(args, { env })).code).toBe(75);
    t += 30 * 24 * 60 * 60_000;
    const late = await runCli(args, { env });
    expect(late.code, late.stderr).toBe(75); // sent again: a new batch
    expect(late.stderr).toContain('its results were archived by the API (29 days after its creation)');
    expect(emu.stats.requestsSubmitted).toBe(4);
    // helper-96 #4: the archived batch was billed and its answers lost, and the try said "cost $0.0000".
    expect(late.stderr).toMatch(/cost \$0\.0000 at batch prices .*, plus what 2 answers lost on the way may have cost/);
    const status = JSON.parse((await runCli(['status', '--json'], { env })).stdout) as { batches: { error: string | null; expected_cost_usd: number }[] };
    const archived = status.batches.find((batch) => batch.error?.includes('archived'));
    expect(archived?.expected_cost_usd).toBeGreaterThan(0);
    t += 61_000;
    const done = await runCli(args, { env });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout.trim().split('\n')).toHaveLength(2);
  });
});

describe.skipIf(!postgres.url)('a PostgreSQL ledger that does not answer when a --no-wait try starts', () => {
  // helper-75: the try failed (exit 1), which the README's loop takes for the end of the job, while a
  // try cut off by the same restart a moment later exits 75 and the loop goes on.
  it('exits 75 (try later), saying the ledger cannot be reached; without --no-wait it fails (1); once it answers, the job goes on', async () => {
    const emu = await startEmulator({ processingMs: 0 });
    emulators.push(emu);
    const ledger = await relay(await freshSchema());
    const dir = mkdtempSync(join(tmpdir(), 'be-nowait-pgdown-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'id,text\n1,a\n2,b\n');
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: ledger.url };
    const args = ['--prompt', 'T: {{text}}', '--poll-min', '0.05', input];
    ledger.cut();
    const down = await runCli(['--no-wait', ...args], { env });
    expect(down.code, down.stderr).toBe(75);
    expect(down.stderr).toMatch(/The ledger postgres:\/\/\S+ cannot be reached \([^)]+\); nothing was done: run the same command again later/);
    expect(down.stderr).not.toContain(new URL(ledger.url).password);
    expect(emu.batches()).toEqual([]);
    const waiting = await runCli(args, { env });
    expect(waiting.code).toBe(1);
    ledger.restore();
    const up = await runCli(['--no-wait', ...args], { env });
    expect(up.code, up.stderr).toBe(0);
  });
});

// helper-99: a SQLite ledger that another process held locked past the busy timeout opened, and the
// try failed as it registered itself (exit 1: 'stopped answering (database is locked)'), which the
// README's loop takes for the end of the job; an unreachable API, or a ledger server, exits 75.
describe('a SQLite ledger another process holds locked when a --no-wait try starts', () => {
  it('exits 75 (try later), saying the ledger is busy and that nothing was done; no batch is created again; once free, the job goes on', async () => {
    let t = Date.now();
    const emu = await startEmulator({ processingMs: 60_000, now: () => t });
    emulators.push(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-nowait-locked-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'id,text\n1,a\n2,b\n');
    const path = join(dir, 'l.db');
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: path };
    const args = ['--no-wait', '--prompt', 'T: {{text}}', '--poll-min', '0.05', input];
    const first = await runCli(args, { env });
    expect(first.code, first.stderr).toBe(75);
    // Another process's write transaction, held past the busy timeout (10 s) of each step of the try.
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      const locked = await runCli(args, { env, timeoutMs: 60_000 });
      expect(locked.code, locked.stderr).toBe(75);
      expect(locked.stdout).toBe('');
      expect(locked.stderr).toContain(`The ledger ${path} is busy (database is locked): another process has held it locked for longer than the 10 s a run waits; nothing was done: run the same command again later`);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    t += 61_000; // the batch ends
    const done = await runCli(args, { env });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout.trim().split('\n')).toHaveLength(2);
    expect(emu.stats.calls['batches.create']).toBe(1);
  }, 90_000);
});

describe.skipIf(!postgres.url)('a PostgreSQL ledger that stops answering in the middle of a --no-wait try', () => {
  it('exits 75 (try later) once batches are in flight, saying so without a stack trace; the next tries go on from the ledger and create no batch again', async () => {
    // A server restarted or a failover ended the try with exit 1 (before that, with pg's stack
    // trace): a scheduler's loop, which retries on 75 only, gave up on a job whose batches were running.
    let t = Date.now();
    const emu = await startEmulator({ processingMs: 60_000, now: () => t });
    emulators.push(emu);
    const ledger = await relay(await freshSchema());
    // The line is cut as the try polls its first batch: a batch is in flight, and the try must still write to the ledger.
    let cuts = 0;
    const api = await faultProxy(emu.url, (call) => {
      if (isRetrieve(call) && cuts++ === 0) ledger.cut();
      return 'pass';
    });
    const dir = mkdtempSync(join(tmpdir(), 'be-nowait-pgcut-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, `id,text\n${Array.from({ length: 30 }, (_, i) => `${i},row ${i}`).join('\n')}\n`);
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: api.url, BATCH_ENRICH_LEDGER: ledger.url };
    const args = ['--prompt', 'T: {{text}}', '--no-wait', '--batch-size', '10', '--poll-min', '0.05', input];

    const cut = await runCli(args, { env });
    expect(cut.code, cut.stderr).toBe(75);
    expect(cut.stdout).toBe('');
    expect(cut.stderr).toMatch(/The ledger postgres:\/\/\S+ stopped answering \([^)]+\); nothing was written/);
    expect(cut.stderr).not.toMatch(/^\s+at /m);
    expect(cut.stderr).not.toContain(new URL(ledger.url).password);

    ledger.restore();
    let last = await runCli(args, { env });
    for (let tries = 0; last.code === 75 && tries < 5; tries++) {
      t += 61_000; // the batches end
      last = await runCli(args, { env });
    }
    expect(last.code, last.stderr).toBe(0);
    const ids = last.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id);
    expect(ids).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    expect(emu.stats.calls['batches.create']).toBe(3);
  });
});

// helper-97: a try of a part of the input (--limit, --sample) said every batch of an earlier try that
// held only rows it did not read was unneeded, and how to cancel it: the whole job needs them.
describe('the unneeded event, for a try of a part of the input', () => {
  it.each([['--limit', '3'], ['--sample', '2']])('%s %s names no batch of the rows it leaves out; a changed prompt does', async (flag, value) => {
    const emu = await startEmulator({ processingMs: 600_000 });
    emulators.push(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-unneeded-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, `id,text\n${Array.from({ length: 9 }, (_, i) => `${i},row ${i}`).join('\n')}\n`);
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
    const args = ['--prompt', 'T: {{text}}', '--no-wait', '--batch-size', '3', '--job', 'j', input];
    expect((await runCli(args, { env })).code).toBe(75);
    expect(emu.stats.calls['batches.create']).toBe(3);

    const part = await runCli([...args, flag, value], { env });
    expect(part.stderr).not.toContain('holds none of this try');

    const changed = await runCli(['--prompt', 'U: {{text}}', ...args.slice(2)], { env });
    expect(changed.stderr.match(/holds none of this try's requests/g)).toHaveLength(3);
  });
});

// helper-97: an earlier try's batch that had ended (its answers not collected) was said to run on, with
// how to cancel it: a cancel of an ended batch stops nothing, and its answers are billed already.
it('the unneeded event says of an ended batch that it has ended, not how to cancel it', async () => {
  const emu = await startEmulator({ processingMs: 600_000 });
  emulators.push(emu);
  const dir = mkdtempSync(join(tmpdir(), 'be-unneeded-'));
  const input = join(dir, 'in.csv');
  writeFileSync(input, `id,text\n${Array.from({ length: 4 }, (_, i) => `${i},row ${i}`).join('\n')}\n`);
  const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') };
  const args = ['--no-wait', '--batch-size', '2', '--job', 'j', input];
  expect((await runCli(['--prompt', 'T: {{text}}', ...args], { env })).code).toBe(75);
  // The first batch ended, and the try that saw it end was stopped before it downloaded its results.
  const db = new Database(join(dir, 'l.db'));
  const ended = db.prepare<[], { remote_id: string }>("UPDATE batches SET state = 'ended' WHERE id = (SELECT MIN(id) FROM batches) RETURNING remote_id").get()!.remote_id;
  db.close();
  const changed = await runCli(['--prompt', 'U: {{text}}', ...args], { env });
  expect(changed.stderr).toContain(`batch ${ended} (2 requests) of job "j", sent by an earlier try, holds none of this try's requests`);
  expect(changed.stderr).toMatch(new RegExp(`batch ${ended} .*: it has ended, and was billed`));
  expect(changed.stderr).not.toContain(`cancel ${ended}`);
  expect(changed.stderr.match(/it runs on, and is billed; 'batch-enrich cancel /g)).toHaveLength(1);
});
