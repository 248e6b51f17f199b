/**
 * Crash safety, as a user lives it: the CLI is killed with SIGKILL at a chosen moment, the same command
 * is run again against the same API (the emulator lives in the test process), and the rerun must give
 * the complete, correct output while the API received each request exactly once (or once per retry
 * of a transient error).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from '../../src/emulator/index.ts';
import { BIN, runCli } from '../helpers/cli.ts';
import { freshSchema, postgres } from '../helpers/postgres.ts';

let emulators: EmulatorHandle[] = [];
afterEach(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
});

async function emulator(options: EmulatorOptions): Promise<EmulatorHandle> {
  const emu = await startEmulator({ apiKey: 'sk-kill-test', ...options });
  emulators.push(emu);
  return emu;
}

/**
 * The stores the ledger of these runs lives in: every case runs on both (a SQLite file, and a fresh
 * schema on the test run's PostgreSQL, skipped where that server could not start).
 */
const stores = [
  { store: 'SQLite', ledger: async (dir: string) => join(dir, 'ledger.db'), skip: false },
  { store: 'PostgreSQL', ledger: (_dir: string) => freshSchema(), skip: !postgres.url },
];
type Store = (typeof stores)[number];

async function setup(rows: number, store: Store = stores[0] as Store) {
  const dir = mkdtempSync(join(tmpdir(), 'be-kill-'));
  const input = join(dir, 'tickets.csv');
  const lines = ['id,text', ...Array.from({ length: rows }, (_, i) => `${i},"ticket ${i}: the export fails, again (${'x'.repeat(i % 40)})"`)];
  writeFileSync(input, `${lines.join('\n')}\n`);
  return { dir, input, ledger: await store.ledger(dir) };
}

const schemaArgs = (dir: string) => {
  const schema = join(dir, 'schema.json');
  writeFileSync(schema, JSON.stringify({ type: 'object', properties: { label: { type: 'string', enum: ['bug', 'billing', 'other'] }, urgency: { type: 'integer', minimum: 1, maximum: 5 } }, required: ['label', 'urgency'] }));
  return ['--schema', schema];
};

function env(emu: EmulatorHandle, ledger: string) {
  return { ANTHROPIC_API_KEY: 'sk-kill-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: ledger };
}

interface Watch {
  stdout: string;
  stderr: string;
  emu: EmulatorHandle;
}

/** Runs the CLI and SIGKILLs it as soon as `when` holds; fails the test if it finished first. */
async function killWhen(args: string[], environment: Record<string, string>, emu: EmulatorHandle, when: (w: Watch) => boolean, pauseStdout = false) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir(), ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const watch: Watch = { stdout: '', stderr: '', emu };
  let killed = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    watch.stdout += chunk;
    if (pauseStdout && !killed) child.stdout.pause(); // a slow reader: the CLI blocks while writing its output
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (watch.stderr += chunk));
  const timer = setInterval(() => {
    if (!killed && when(watch)) {
      killed = true;
      child.kill('SIGKILL');
      child.stdout.resume(); // drain what the dead process left in the pipe, or 'close' never comes
    }
  }, 5);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearInterval(timer);
  expect(killed, `the CLI finished (exit ${code}) before the kill point; stderr:\n${watch.stderr}`).toBe(true);
  expect(signal).toBe('SIGKILL');
  return watch;
}

/** How many times each request key was submitted (custom_id = 6-character nonce, '_', key). */
function perKey(emu: EmulatorHandle): number[] {
  const counts = new Map<string, number>();
  for (const [customId, n] of emu.submittedCustomIds()) counts.set(customId.slice(7), (counts.get(customId.slice(7)) ?? 0) + n);
  return [...counts.values()];
}

/** The output of an uninterrupted run (answers depend only on the request and the emulator's seed). */
async function reference(args: string[], rows: number, seed?: number) {
  const emu = await emulator(seed === undefined ? {} : { seed });
  const { ledger } = await setup(rows);
  const result = await runCli(args, { env: env(emu, ledger) });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

describe.each(stores)('killed with SIGKILL, then run again (ledger in $store)', (store) => {
  // gcFirst: `batch-enrich gc --older-than 0` runs between the kill and the rerun (the killed try's
  // answers must be kept: its rerun would pay for each one gc deleted).
  const cases: { point: string; rows: number; options: EmulatorOptions; extra: string[]; when: (w: Watch) => boolean; pauseStdout?: boolean; rerunSays?: RegExp; gcFirst?: boolean }[] = [
    {
      point: 'before the first create returns (the batch exists; the answer never arrived)',
      rows: 10,
      options: { createLatencyMs: 1500 },
      extra: [],
      when: (w) => w.emu.batches().length >= 1,
      rerunSays: /found and adopted/,
    },
    {
      point: 'between batches',
      rows: 12,
      options: { processingMs: 200 },
      extra: ['--batch-size', '4', '--max-in-flight', '1'],
      when: (w) => /ended: 4 succeeded/.test(w.stderr),
    },
    {
      point: 'while polling',
      rows: 10,
      options: { processingMs: 1500 },
      extra: [],
      when: (w) => /submitted/.test(w.stderr),
      rerunSays: /submitted by an earlier run, following it/,
    },
    {
      point: 'while downloading results',
      rows: 40,
      options: { resultsPauseMs: 1500 },
      extra: [],
      when: (w) => w.emu.stats.calls['batches.results'] >= 1,
    },
    {
      point: 'while writing output (stdout not being read)',
      rows: 3000,
      options: {},
      extra: [],
      when: (w) => w.stdout.length > 0,
      pauseStdout: true,
    },
    {
      point: 'while writing output, with every batch in, then gc --older-than 0 before the rerun',
      rows: 3000,
      options: {},
      extra: [],
      when: (w) => w.stdout.length > 0,
      pauseStdout: true,
      gcFirst: true,
    },
  ];

  for (const c of cases) {
    it.skipIf(store.skip)(c.point, async () => {
      const { dir, input, ledger } = await setup(c.rows, store);
      const args = ['--prompt', 'Triage: {{text}}', ...schemaArgs(dir), '--poll-min', '0.02', '--poll-max', '0.2', ...c.extra, input];
      const expected = await reference(args, c.rows);
      const emu = await emulator(c.options);
      await killWhen(args, env(emu, ledger), emu, c.when, c.pauseStdout);
      if (c.gcFirst) {
        const gc = await runCli(['gc', '--older-than', '0'], { env: env(emu, ledger) });
        expect(gc.code, gc.stderr).toBe(0);
        expect(gc.stderr).toMatch(/keeping 1 batch of job "tickets\.csv-[0-9a-f]{8}" for its next try: its try started .* ago \(run \d+\) never ended/);
      }

      const rerun = await runCli(args, { env: env(emu, ledger), timeoutMs: 30_000 });
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(rerun.stdout).toBe(expected);
      if (c.rerunSays) expect(rerun.stderr).toMatch(c.rerunSays);
      expect(perKey(emu)).toEqual(Array(c.rows).fill(1));
      if (c.gcFirst) {
        // The rerun read, and wrote out, all the killed try paid for: gc now lets its batch go.
        const gc = await runCli(['gc', '--older-than', '0'], { env: env(emu, ledger) });
        expect(gc.stderr).not.toMatch(/for its next try/);
        expect(gc.stderr).toMatch(/deleted 1 batch and 3,000 requests not touched for 0 days from the ledger .*; 1 batch on the API/);
      }
      // The killed run's scratch file of records (SQLite) was deleted by the rerun, and the rerun's own at its end.
      expect(readdirSync(dir).filter((name) => name.includes('.run-'))).toEqual([]);
    });
  }

  it.skipIf(store.skip)('with transient errors: each request is submitted once per retry, never twice in one go', async () => {
    const rows = 16;
    const { dir, input, ledger } = await setup(rows, store);
    const args = ['--prompt', 'Triage: {{text}}', ...schemaArgs(dir), '--poll-min', '0.02', '--poll-max', '0.2', '--max-attempts', '10', '--batch-size', '8', input];
    const expected = await reference(args, rows, 3);
    const emu = await emulator({ processingMs: 300, erroredRate: 0.3, seed: 3 });
    await killWhen(args, env(emu, ledger), emu, (w) => /will be tried again/.test(w.stderr));
    const rerun = await runCli(args, { env: env(emu, ledger), timeoutMs: 30_000 });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toBe(expected);
    expect([...emu.submittedCustomIds().values()].every((n) => n === 1)).toBe(true);
    expect(perKey(emu).some((n) => n > 1)).toBe(true);
  });
});

describe.each(stores)('soak: two jobs on one API key, each with its own ledger (in $store), with lost and slow creates and SIGKILLs', (store) => {
  it.skipIf(store.skip).each([1, 2])('every row comes out once and no request is paid twice (seed %i)', async (seed) => {
    const rows = 60;
    // Same batch size for both jobs: their batches have the same request count, the case where a
    // search for a lost create could take the other job's batch.
    const jobs = await Promise.all([0, 1].map(async (j) => {
      const { dir, input, ledger } = await setup(rows, store);
      if (j === 1) writeFileSync(input, `id,text\n${Array.from({ length: rows }, (_, i) => `${1000 + i},"other job ${i}"`).join('\n')}\n`);
      const args = ['--prompt', 'Triage: {{text}}', ...schemaArgs(dir), '--poll-min', '0.02', '--poll-max', '0.2', '--batch-size', '10', '--flush-after', '0.05', '--max-in-flight', '3', input];
      return { args, ledger };
    }));
    const expected = await Promise.all(jobs.map((job) => reference(job.args, rows, seed)));
    const emu = await emulator({ seed, lostCreateRate: 0.4, createLatencyMs: 120, processingMs: 150 });
    // Pseudo-random kill points, the same for a seed: each job is killed twice, then left to finish.
    let state = seed * 7919;
    const random = () => ((state = (state * 48271) % 2147483647) / 2147483647);
    const outputs = await Promise.all(
      jobs.map(async (job, j) => {
        for (let kill = 0; kill < 2; kill++) {
          const afterCreates = 1 + Math.floor(random() * 4);
          const before = emu.stats.calls['batches.create'];
          const child = spawn(process.execPath, [BIN, ...job.args], { env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir(), ...env(emu, job.ledger) }, stdio: ['ignore', 'ignore', 'ignore'] });
          await new Promise<void>((resolve) => {
            const timer = setInterval(() => {
              if (emu.stats.calls['batches.create'] - before >= afterCreates) {
                clearInterval(timer);
                child.kill('SIGKILL');
              }
            }, 3);
            child.on('close', () => {
              clearInterval(timer);
              resolve();
            });
          });
        }
        const last = await runCli(job.args, { env: env(emu, job.ledger), timeoutMs: 60_000 });
        expect(last.code, `job ${j}: ${last.stderr}`).toBe(0);
        return last.stdout;
      }),
    );
    expect(outputs).toEqual(expected);
    // Every request key reached the API once: none was paid twice.
    expect(perKey(emu)).toEqual(Array(2 * rows).fill(1));
    expect(emu.stats.faults.lostCreate).toBeGreaterThan(0);
  }, 120_000);
});

describe.each(stores)('killed with SIGKILL in real time and across a deadline, then run again (ledger in $store)', (store) => {
  it.skipIf(store.skip)('in real time: the rerun completes the output; only calls in flight at the kill are asked again', async () => {
    const rows = 40;
    const { dir, input, ledger } = await setup(rows, store);
    const args = ['--prompt', 'Triage: {{text}}', ...schemaArgs(dir), '--mode', 'realtime', '--concurrency', '4', input];
    const expected = await reference(args, rows);
    const emu = await emulator({ messagesLatencyMs: 80 });
    await killWhen(args, env(emu, ledger), emu, (w) => w.emu.stats.calls['messages.create'] >= 12);
    const atKill = emu.stats.calls['messages.create'];
    const rerun = await runCli(args, { env: env(emu, ledger), timeoutMs: 30_000 });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toBe(expected);
    // Every answer stored before the kill is served from the ledger: at most the calls then in flight are made again.
    expect(emu.stats.calls['messages.create']).toBeGreaterThanOrEqual(rows);
    expect(emu.stats.calls['messages.create']).toBeLessThanOrEqual(rows + 4);
    expect(atKill).toBeLessThan(rows);
  });

  it.skipIf(store.skip)('across a deadline: killed while finishing in real time, the rerun completes the output and pays for no answer twice', async () => {
    const rows = 20;
    const { dir, input, ledger } = await setup(rows, store);
    const args = ['--prompt', 'Triage: {{text}}', ...schemaArgs(dir), '--poll-min', '0.02', '--poll-max', '0.2', '--deadline', '1s', '--concurrency', '2', input];
    const expected = await reference(args, rows);
    const emu = await emulator({ processingMs: 3_000, messagesLatencyMs: 100 });
    await killWhen(args, env(emu, ledger), emu, (w) => /deadline: canceling 1/.test(w.stderr) && w.emu.stats.calls['messages.create'] >= 2);
    const rerun = await runCli(args, { env: env(emu, ledger), timeoutMs: 30_000 });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toBe(expected);
    // What was billed: the batches' succeeded requests and every real-time call. At most the calls in
    // flight at the kill (2) were answered and lost, so asked again.
    const client = new Anthropic({ apiKey: 'sk-kill-test', baseURL: emu.url });
    let succeeded = 0;
    for (const id of emu.batches()) succeeded += (await client.messages.batches.retrieve(id)).request_counts.succeeded;
    expect(succeeded + emu.stats.calls['messages.create']).toBeGreaterThanOrEqual(rows);
    expect(succeeded + emu.stats.calls['messages.create']).toBeLessThanOrEqual(rows + 2);
  });
});

describe.each(stores)('a run whose output could not be written, then gc, then run again (ledger in $store)', (store) => {
  it.skipIf(store.skip)('the rerun pays for nothing: a run is complete only once its output is written, so gc keeps what it paid for', async () => {
    const rows = 3;
    const { dir, input, ledger } = await setup(rows, store);
    const args = ['--prompt', 'Triage: {{text}}', ...schemaArgs(dir), '--poll-min', '0.02', '--poll-max', '0.2', input];
    const expected = await reference(args, rows);
    const emu = await emulator({});
    // Every record comes out of the sink; the device then refuses the bytes (ENOSPC).
    const full = await runCli([...args, '-o', '/dev/full'], { env: env(emu, ledger), timeoutMs: 30_000 });
    expect(full.code, full.stderr).not.toBe(0);
    expect(full.stderr).toMatch(/ENOSPC/);
    expect(perKey(emu)).toEqual(Array(rows).fill(1));
    const gc = await runCli(['gc', '--older-than', '0'], { env: env(emu, ledger) });
    expect(gc.code, gc.stderr).toBe(0);
    // What the ledger keeps, gc keeps on the API too.
    expect(gc.stderr).toMatch(/deleted 0 batches and 0 requests .*; 0 batches on the API/);
    const rerun = await runCli(args, { env: env(emu, ledger), timeoutMs: 30_000 });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toBe(expected);
    expect(perKey(emu)).toEqual(Array(rows).fill(1));
  });
});
