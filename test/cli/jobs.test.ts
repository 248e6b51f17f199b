/**
 * `batch-enrich status | cancel | results | gc`, called as functions with an injected `io` (env with
 * an emulator's URL, a key and a temporary ledger), plus the built binary for what only a process
 * shows (exit code on a closed pipe).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toFile, type default as Anthropic } from '@anthropic-ai/sdk';
import { Batches } from '@anthropic-ai/sdk/resources/messages/batches';
import { createClient, identityOf } from '../../src/client/client.ts';
import { cancelCommand } from '../../src/cli/jobs/cancel.ts';
import { gcCommand } from '../../src/cli/jobs/gc.ts';
import { resultsCommand } from '../../src/cli/jobs/results.ts';
import { statusCommand } from '../../src/cli/jobs/status.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { startEmulator, type EmulatorHandle } from '../../src/emulator/index.ts';
import { Ledger, type BatchState, type Identity } from '../../src/ledger/ledger.ts';
import { UploadRegistry } from '../../src/ledger/uploads.ts';
import { PgLedger } from '../../src/ledger/postgres.ts';
import { redactUrl } from '../../src/ledger/url.ts';
import { freshSchema, postgres } from '../helpers/postgres.ts';
import { BIN, headOne, ROOT, runCli } from '../helpers/cli.ts';
import { faultProxy, isResults } from '../helpers/proxy.ts';

const KEY = 'sk-test-jobs-key';
const OTHER_KEY = 'sk-test-someone-else';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The built CLI with this module in it (an older build may lack it). */
const BUILT = existsSync(BIN) && existsSync(join(ROOT, 'dist', 'src', 'cli', 'jobs', 'status.js'));

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

/** An emulator on a clock the test moves, a client for it, and a fresh ledger. */
async function setup(processingMs = HOUR) {
  let t = Date.now();
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  const emu: EmulatorHandle = await startEmulator({ apiKey: KEY, processingMs, cancelingMs: MINUTE, now: clock.now });
  const dir = mkdtempSync(join(tmpdir(), 'be-jobs-'));
  const ledgerPath = join(dir, 'ledger.db');
  const ledger = new Ledger(ledgerPath);
  cleanup.push(() => emu.close(), () => ledger.close());
  const client = createClient({ apiKey: KEY, baseURL: emu.url, maxRetries: 0 });
  const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: ledgerPath };
  const identity = identityOf(client, KEY);
  const otherKey = identityOf(createClient({ apiKey: OTHER_KEY, baseURL: emu.url }), OTHER_KEY);
  // Another host (a server on loopback is one identity whatever its port).
  const otherUrl = identityOf(createClient({ apiKey: KEY, baseURL: 'http://gateway.invalid:9' }), KEY);
  return { emu, clock, client, ledger, ledgerPath, dir, env, identity, otherKey, otherUrl };
}

async function createRemote(client: Anthropic, n = 2): Promise<string> {
  const requests = Array.from({ length: n }, (_, i) => ({
    custom_id: `r${i}`,
    params: { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user' as const, content: `hello ${i}` }] },
  }));
  return (await client.messages.batches.create({ requests })).id;
}

interface RowSpec {
  identity: Identity;
  job: string;
  remoteId?: string;
  state?: BatchState;
  /** When the row was made (created_at and updated_at). */
  at: number;
  requests?: number;
  /** Store a result for each request (answered requests are what `gc` may delete). */
  answered?: boolean;
  /** What each request sends (default `[]`). */
  messages?: string;
  /** Its run left alive (a run at work), not ended. */
  live?: boolean;
  /** Made by this run (started by an earlier `addBatch` left `live`), not a run of its own. */
  run?: number;
  /** The model its requests ask (default `m`, which has no price). */
  model?: string;
}

/** A gc's stderr without its compaction line (sizes vary). */
const withoutCompaction = (stderr: string) => stderr.replace(/^batch-enrich: compacted the ledger: .*\n/m, '');

let rowSeq = 0;
/** Inserts a batch row (and its requests) the way a run does: open, size, set remote, set state. */
function addBatch(ledger: Ledger, spec: RowSpec): number {
  const run = spec.run ?? ledger.startRun(spec.job, spec.at);
  const keys = Array.from({ length: spec.requests ?? 2 }, (_, i) => `k${++rowSeq}-${i}`);
  const specId = spec.model === undefined ? 'spec' : `spec-${spec.model}`;
  ledger.ensureSpec(specId, `{"model":${JSON.stringify(spec.model ?? 'm')},"max_tokens":1,"messages":`, '}');
  for (const key of keys) ledger.insertRequest(spec.identity.scope, key, null, specId, spec.messages ?? '[]', spec.at);
  const { id } = ledger.openBatch(spec.identity, run, spec.job, `nonce${rowSeq}`, keys, spec.at);
  ledger.sizeBatch(id, keys.length, 1000 * keys.length, 1000 * keys.length);
  if (spec.remoteId !== undefined) ledger.setRemote(id, spec.remoteId, spec.at);
  if (spec.answered) {
    const waiting = ledger.submittedOf(id);
    for (const key of keys) ledger.saveResult(id, waiting.get(key)!, '{"type":"succeeded"}', spec.at);
  }
  // A failed batch sends its requests back, as a run fails one.
  if (spec.state === 'failed') ledger.failBatch(id, spec.at, 'gone', spec.remoteId === undefined ? 'creating' : 'in_progress');
  else if (spec.state !== undefined && spec.state !== 'in_progress' && spec.state !== 'creating') ledger.setBatchState(id, spec.state, spec.at);
  if (!spec.live) ledger.endRun(run);
  return id;
}

function fakeIo(env: NodeJS.ProcessEnv, stdout?: Writable) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdin: Readable.from([]),
    stdout: stdout ?? new Writable({ write: (chunk, _enc, cb) => (out.push(String(chunk)), cb()) }),
    stderr: new Writable({ write: (chunk, _enc, cb) => (err.push(String(chunk)), cb()) }),
    env,
  };
  return { io, stdout: () => out.join(''), stderr: () => err.join('') };
}

async function run(command: (argv: string[], io: CliIo) => Promise<number>, argv: string[], env: NodeJS.ProcessEnv, stdout?: Writable) {
  const f = fakeIo(env, stdout);
  const code = await command(argv, f.io);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

function withoutKey(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { ANTHROPIC_API_KEY: _, ...rest } = env;
  return rest;
}

describe('status', () => {
  it('shows a job name with control characters (from a file name) escaped, never as terminal codes', async () => {
    const s = await setup();
    addBatch(s.ledger, { identity: s.identity, job: 'evil\u001b[2J\u001b]0;pwned\u0007.csv-1234abcd', remoteId: 'msgbatch_x', state: 'downloaded', at: Date.now() - DAY });
    const r = await run(statusCommand, ['--no-refresh'], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(r.stdout).toContain('job evil\\u001b[2J\\u001b]0;pwned\\u0007.csv-1234abcd: 1 batch');
  });

  it.skipIf(!BUILT)('two inputs of one name in two folders are two jobs (cancel --job on one never touches the other); one file by another path is one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-job-names-'));
    const ledgerPath = join(dir, 'ledger.db');
    for (const [folder, rows] of [['d1', 'id,text\n1,a\n'], ['d2', 'id,text\n2,b\n3,c\n']] as const) {
      mkdirSync(join(dir, folder));
      writeFileSync(join(dir, folder, 'data.csv'), rows);
    }
    const enrich = (file: string, cwd?: string) => runCli(['--emulator', '--ledger', ledgerPath, '--prompt', 'T {{text}}', file], cwd === undefined ? {} : { cwd });
    for (const result of [await enrich(join(dir, 'd1', 'data.csv')), await enrich(join(dir, 'd2', 'data.csv')), await enrich('data.csv', join(dir, 'd1'))]) expect(result.code, result.stderr).toBe(0);
    const status = await runCli(['status', '--no-refresh', '--json', '--ledger', ledgerPath]);
    const jobs = status.stdout.trim().split('\n').map((line) => JSON.parse(line) as { job: string; requests_done: number });
    expect(jobs.map((job) => job.requests_done).sort()).toEqual([1, 2]);
    expect(jobs.every((job) => /^data\.csv-[0-9a-f]{8}$/.test(job.job))).toBe(true);
  });

  it.skipIf(!BUILT)('is quiet when its reader goes away (| head -1): exit 0, no stack trace', async () => {
    const s = await setup();
    // More than a pipe holds (64 KB): the output is still being written when the reader closes.
    for (let i = 0; i < 600; i++) addBatch(s.ledger, { identity: s.identity, job: `job-${i}`, remoteId: `msgbatch_${i}`, state: 'downloaded', at: Date.now() - DAY });
    s.ledger.close();
    for (const args of [['status', '--no-refresh'], ['status', '--no-refresh', '--json']]) {
      const { firstLine, code, stderr } = await headOne(args, s.env);
      expect(firstLine.length, args.join(' ')).toBeGreaterThan(0);
      expect(stderr, args.join(' ')).toBe('');
      expect(code, args.join(' ')).toBe(0);
    }
  });

  it('shows live counts for batches of the current identity and flags other identities without calling the API for them', async () => {
    const s = await setup();
    const now = Date.now();
    const running = await createRemote(s.client, 3);
    const foreign = await createRemote(s.client, 1); // exists, but the ledger says another key made it
    addBatch(s.ledger, { identity: s.identity, job: 'tickets', remoteId: running, at: now - 3 * MINUTE - 10_000, requests: 3 });
    addBatch(s.ledger, { identity: s.identity, job: 'tickets', remoteId: 'msgbatch_downloaded', state: 'downloaded', at: now - 2 * DAY });
    addBatch(s.ledger, { identity: s.identity, job: 'tickets', at: now }); // still `creating`: no remote id
    addBatch(s.ledger, { identity: s.otherKey, job: 'invoices', remoteId: foreign, at: now - 2 * HOUR - 5 * MINUTE - 10_000 });
    addBatch(s.ledger, { identity: s.otherUrl, job: 'invoices', remoteId: 'msgbatch_elsewhere', at: now - 27 * HOUR - 10_000 });

    const r = await run(statusCommand, [], s.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    // Only the running batch of this identity was retrieved: not the downloaded one, not the other identities'.
    expect(s.emu.stats.calls['batches.retrieve']).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('job tickets: 3 batches (1 in_progress, 1 downloaded, 1 creating), 7 requests, 6.8 KiB; live: processing 3');
    const line = (needle: string) => lines.find((l) => l.includes(needle)) ?? expect.fail(`no line with ${needle} in:\n${r.stdout}`);
    expect(line(running)).toMatch(/in_progress +in_progress \(processing 3\) +3 requests +2\.9 KiB +age 3m10s +expires in 23h59m$/);
    expect(line('msgbatch_downloaded')).toMatch(/downloaded +- +2 requests +2\.0 KiB +age 2d$/);
    // helper-75: "(not created)" beside an expiry, for a batch whose create may well have made it.
    expect(r.stdout).not.toContain('(not created)');
    expect(line('(no id yet)')).toMatch(/creating +- +2 requests .* age \d+s +expires in 23h59m +create sent, no id known yet: made or not, a run finds out \(adopted only when proven ours, else sent again\)$/);
    expect(lines).toContain('job invoices: 2 batches (2 in_progress), 4 requests, 3.9 KiB');
    expect(line(foreign)).toMatch(new RegExp(`in_progress +- +.*age 2h5m +expires in 21h54m +other identity: ${s.emu.url}, key fingerprint ${s.otherKey.keyFingerprint}$`));
    expect(line('msgbatch_elsewhere')).toMatch(/age 1d3h +expired +other identity: http:\/\/gateway\.invalid:9, key fingerprint [0-9a-f]{8}$/);
    expect(r.stdout).not.toContain(KEY);

    // --job narrows to one job.
    const one = await run(statusCommand, ['--job', 'invoices', '--no-refresh'], s.env);
    expect(one.stdout.split('\n')[0]).toBe('job invoices: 2 batches (2 in_progress), 4 requests, 3.9 KiB');
    expect(one.stdout).not.toContain('tickets');
  });

  it('--json prints one parseable object per job with the documented keys, its batches inside', async () => {
    const s = await setup();
    const running = await createRemote(s.client, 2);
    const created = Date.UTC(2026, 0, 2, 3, 4, 5);
    addBatch(s.ledger, { identity: s.identity, job: 'tickets', remoteId: running, at: created });
    addBatch(s.ledger, { identity: s.otherUrl, job: 'tickets', remoteId: 'msgbatch_elsewhere', at: created });
    addBatch(s.ledger, { identity: s.identity, job: 'invoices', remoteId: 'msgbatch_done', state: 'downloaded', at: created, requests: 3 });

    const r = await run(statusCommand, ['--json'], s.env);
    expect(r.code).toBe(0);
    const jobs = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { batches: Record<string, unknown>[] } & Record<string, unknown>);
    expect(jobs.map((job) => job['job'])).toEqual(['tickets', 'invoices']);
    // --help names every key (helper-72: it left out ready, which its own example reads).
    const help = (await run(statusCommand, ['--help'], s.env)).stdout;
    const keys = help.slice(help.indexOf('JSON (one line per job'), help.indexOf('Examples:'));
    for (const key of Object.keys(jobs[0] ?? {})) expect(keys).toMatch(new RegExp(`(^|[\\s(,])${key}[\\s(,:]`));
    for (const job of jobs) {
      expect(Object.keys(job)).toEqual(['job', 'requests_pending', 'requests_done', 'requests_failed', 'ready', 'batches_by_state', 'oldest_expires_at', 'live_request_counts', 'expected_cost_usd', 'batches']);
      for (const batch of job.batches) {
        expect(Object.keys(batch)).toEqual([
          'job', 'batch_id', 'remote_id', 'state', 'processing_status', 'request_counts', 'requests', 'bytes', 'created_at',
          'updated_at', 'expires_at', 'base_url', 'key_fingerprint', 'identity_matches', 'refresh_error', 'error', 'expected_cost_usd',
        ]);
      }
    }
    const [tickets, invoices] = jobs;
    const live = Date.parse(tickets?.batches[0]?.['expires_at'] as string);
    expect(tickets).toMatchObject({
      requests_pending: 4,
      requests_done: 0,
      requests_failed: 0,
      batches_by_state: { creating: 0, in_progress: 2, ended: 0, downloaded: 0, failed: 0 },
      // The oldest of the two: the other identity's, not refreshed, expires 24 h after the ledger's created_at.
      oldest_expires_at: new Date(Math.min(live, created + DAY)).toISOString(),
      live_request_counts: { processing: 2, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
    });
    expect(tickets?.batches[0]).toMatchObject({
      job: 'tickets',
      remote_id: running,
      state: 'in_progress',
      processing_status: 'in_progress',
      request_counts: { processing: 2, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
      requests: 2,
      bytes: 2000,
      created_at: '2026-01-02T03:04:05.000Z',
      base_url: s.emu.url,
      key_fingerprint: s.identity.keyFingerprint,
      identity_matches: true,
      refresh_error: null,
    });
    // Not refreshed: the expiry comes from the ledger's created_at.
    expect(tickets?.batches[1]).toMatchObject({ processing_status: null, request_counts: null, expires_at: '2026-01-03T03:04:05.000Z', identity_matches: false });
    // Nothing in flight: nothing pending, no expiry to watch, nothing refreshed.
    expect(invoices).toMatchObject({ requests_pending: 0, requests_done: 3, oldest_expires_at: null, live_request_counts: null });
  });

  it('without a key, or with --no-refresh, shows the ledger only (a note once when there was something to refresh)', async () => {
    const s = await setup();
    addBatch(s.ledger, { identity: s.identity, job: 'a', remoteId: await createRemote(s.client), at: Date.now() });
    addBatch(s.ledger, { identity: s.identity, job: 'a', remoteId: await createRemote(s.client), at: Date.now() });

    const noKey = await run(statusCommand, ['--json'], withoutKey(s.env));
    expect(noKey.code).toBe(0);
    expect(noKey.stderr).toBe('batch-enrich: not refreshed: no ANTHROPIC_API_KEY\n');
    const noKeyJob = JSON.parse(noKey.stdout) as { batches: { identity_matches: unknown }[] };
    expect(noKeyJob.batches.map((batch) => batch.identity_matches)).toEqual([null, null]);

    const noRefresh = await run(statusCommand, ['--no-refresh'], s.env);
    expect(noRefresh.code).toBe(0);
    expect(noRefresh.stderr).toBe('');
    expect(noRefresh.stdout).toContain('job a: 2 batches (2 in_progress)');
    expect(s.emu.stats.calls['batches.retrieve']).toBe(0);
  });

  it('a batch the API does not know shows `not found (404)` on its own line, and the others still refresh', async () => {
    const s = await setup();
    const running = await createRemote(s.client, 1);
    addBatch(s.ledger, { identity: s.identity, job: 'a', remoteId: 'msgbatch_gone', at: Date.now() });
    addBatch(s.ledger, { identity: s.identity, job: 'a', remoteId: running, at: Date.now() });

    const r = await run(statusCommand, [], s.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/msgbatch_gone +in_progress +not found \(404\) +2 requests/);
    expect(r.stdout).toMatch(new RegExp(`${running} +in_progress +in_progress \\(processing 1\\)`));
    const json = await run(statusCommand, ['--json'], s.env);
    expect((JSON.parse(json.stdout) as { batches: unknown[] }).batches[0]).toMatchObject({ remote_id: 'msgbatch_gone', refresh_error: 'not found (404)', processing_status: null });
  });

  it('a real-time group (a stand-in row, realtime_…) is not asked of the API, and has no 24 h expiry', async () => {
    const s = await setup();
    addBatch(s.ledger, { identity: s.identity, job: 'a', remoteId: 'realtime_0123456789abcdef', at: Date.now() });
    const retrieves = s.emu.stats.calls['batches.retrieve'] ?? 0;
    const r = await run(statusCommand, [], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/realtime_0123456789abcdef +in_progress +real time \(processing 2\) +2 requests/);
    expect(r.stdout).not.toMatch(/not found|expires in/);
    expect(r.stderr).toBe('');
    expect(s.emu.stats.calls['batches.retrieve'] ?? 0).toBe(retrieves);
  });

  it('a mistyped flag gets the closest one of the command', async () => {
    const r = await run(statusCommand, ['--no-refrsh'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown option --no-refrsh; did you mean --no-refresh?');
    const g = await run(gcCommand, ['--older-then', '3'], {});
    expect(g.stderr).toContain('; did you mean --older-than?');
  });

  it('--job naming no job of the ledger exits 1 (as cancel --job does) and names the jobs there are', async () => {
    const s = await setup();
    addBatch(s.ledger, { identity: s.identity, job: 'tickets', remoteId: 'msgbatch_t', at: s.clock.now() });
    addBatch(s.ledger, { identity: s.identity, job: 'invoices', remoteId: 'msgbatch_i', at: s.clock.now() });
    const r = await run(statusCommand, ['--job', 'ticket', '--no-refresh'], s.env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`batch-enrich: no batches of job "ticket" in the ledger ${s.ledgerPath}; its jobs: "invoices", "tickets"\n`);
  });

  it('--json requests_failed counts a failed batch only until the job sends its requests again: the sensor of the README reads 0 once a rerun has answered them', async () => {
    const s = await setup();
    const t = Date.now() - HOUR;
    // A try whose create never reached the API (the run was killed), then a rerun that sent and answered them.
    addBatch(s.ledger, { identity: s.identity, job: 'nightly', state: 'failed', at: t, requests: 12 });
    addBatch(s.ledger, { identity: s.identity, job: 'nightly', remoteId: 'msgbatch_rerun', state: 'downloaded', at: t + MINUTE, requests: 12, answered: true });
    // Another job whose last word is a failed batch: its requests wait for a rerun.
    addBatch(s.ledger, { identity: s.identity, job: 'weekly', remoteId: 'msgbatch_w1', state: 'downloaded', at: t, requests: 3, answered: true });
    addBatch(s.ledger, { identity: s.identity, job: 'weekly', state: 'failed', at: t + MINUTE, requests: 5 });
    const r = await run(statusCommand, ['--json', '--no-refresh'], s.env);
    const jobs = Object.fromEntries(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).map((job) => [job['job'], job]));
    expect(jobs['nightly']).toMatchObject({ requests_pending: 0, requests_done: 12, requests_failed: 0 });
    expect(jobs['weekly']).toMatchObject({ requests_pending: 0, requests_done: 3, requests_failed: 5 });
  });

  // helper-85 #3: three tries of a 40-row job that each failed (a wrong key) said requests_failed 120:
  // each try's failed batches were counted, though every try sent the same requests again.
  it('--json requests_failed counts the failed batches of the job\'s last try only: each try sends again what the one before failed', async () => {
    const s = await setup();
    const t = Date.now() - HOUR;
    for (let i = 0; i < 3; i++) addBatch(s.ledger, { identity: s.identity, job: 'nightly', state: 'failed', at: t + i * MINUTE, requests: 40 });
    // One try that sent its 40 rows in 4 batches, which all failed when it stopped: all 40 wait for the next.
    const first = addBatch(s.ledger, { identity: s.identity, job: 'weekly', at: t, requests: 10, live: true });
    const itsRun = s.ledger.batch(first)!.run;
    const ids = [first, ...[1, 2, 3].map((i) => addBatch(s.ledger, { identity: s.identity, job: 'weekly', at: t + i, requests: 10, run: itsRun, live: true }))];
    for (const id of ids) s.ledger.failBatch(id, t + 10, 'the run stopped', 'creating');
    const r = await run(statusCommand, ['--json', '--no-refresh'], s.env);
    const jobs = Object.fromEntries(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).map((job) => [job['job'], job]));
    expect(jobs['nightly']).toMatchObject({ requests_failed: 40, ready: false });
    expect(jobs['weekly']).toMatchObject({ requests_failed: 40, ready: false });
  });

  // helper-87 #5: two workers of one job (--shard 1/2, 2/2); the first stopped with its group failed, the
  // second went on making batches: its later ones were taken for the first's rows sent again, and the
  // job said requests_failed 0, ready true, with the first's rows never answered.
  it("--json: a worker's failed batch is not taken for sent again by another worker's batches beside it", async () => {
    const s = await setup();
    const t = Date.now() - HOUR;
    const a = addBatch(s.ledger, { identity: s.identity, job: 'sharded', at: t, requests: 20, live: true });
    const b = addBatch(s.ledger, { identity: s.identity, job: 'sharded', remoteId: 'msgbatch_b1', state: 'downloaded', at: t + 1, requests: 20, answered: true, live: true });
    s.ledger.failBatch(a, t + 5, 'the run stopped', 'creating');
    addBatch(s.ledger, { identity: s.identity, job: 'sharded', remoteId: 'msgbatch_b2', state: 'downloaded', at: t + 6, requests: 5, answered: true, run: s.ledger.batch(b)!.run });
    const r = await run(statusCommand, ['--json', '--no-refresh'], s.env);
    expect(JSON.parse(r.stdout.trimEnd())).toMatchObject({ requests_failed: 20, ready: false });
  });

  // helper-85 #4: a real-time run stopped by Ctrl-C after 8 of its 40 answers (paid) said
  // requests_done 0, requests_failed 40 and expected_cost_usd 0.
  it('--json counts the answers a failed real-time group stored as done, and prices them; the rest as failed', async () => {
    const s = await setup();
    const t = Date.now() - HOUR;
    const id = addBatch(s.ledger, { identity: s.identity, job: 'rt', remoteId: 'realtime_0123456789abcdef', at: t, requests: 10, live: true, model: 'claude-haiku-4-5' });
    const waiting = s.ledger.submittedOf(id);
    for (const key of [...waiting.keys()].slice(0, 4)) s.ledger.saveResult(id, waiting.get(key)!, '{"type":"succeeded"}', t);
    s.ledger.failBatch(id, t, 'the run stopped', 'in_progress');
    const r = await run(statusCommand, ['--json', '--no-refresh'], s.env);
    const job = JSON.parse(r.stdout.trimEnd()) as Record<string, unknown>;
    expect(job).toMatchObject({ requests_done: 4, requests_failed: 6, live_request_counts: expect.objectContaining({ succeeded: 4 }) });
    expect(job['expected_cost_usd']).toBeGreaterThan(0);
  });

  it('an empty or missing ledger says so on stderr and exits 0, without creating a ledger file; --job there names no job (exit 1, as the help says)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-jobs-'));
    const missing = join(dir, 'none', 'ledger.db');
    const r = await run(statusCommand, [], { BATCH_ENRICH_LEDGER: missing });
    expect(r).toEqual({ code: 0, stdout: '', stderr: `batch-enrich: no ledger at ${missing}: nothing has run with it\n` });
    expect(existsSync(missing)).toBe(false);

    const s = await setup();
    const empty = await run(statusCommand, ['--json'], s.env);
    expect(empty).toEqual({ code: 0, stdout: '', stderr: `batch-enrich: no batches in the ledger ${s.ledgerPath}\n` });
    const noJob = await run(statusCommand, ['--job', 'nope', '--json'], s.env);
    expect(noJob).toEqual({ code: 1, stdout: '', stderr: `batch-enrich: no batches of job "nope" in the ledger ${s.ledgerPath}; it has none\n` });
    const noJobNoLedger = await run(statusCommand, ['--job', 'nope', '--no-refresh'], { BATCH_ENRICH_LEDGER: missing });
    expect(noJobNoLedger).toEqual({ code: 1, stdout: '', stderr: `batch-enrich: no batches of job "nope": there is no ledger at ${missing}\n` });
    expect(existsSync(missing)).toBe(false);
    const flag = await run(statusCommand, ['--ledger', missing], s.env);
    expect(flag.stderr).toContain(missing);
  });
});

describe('cancel', () => {
  it('cancels the given batches on the API and leaves the ledger alone', async () => {
    const s = await setup();
    const a = await createRemote(s.client);
    const b = await createRemote(s.client);
    const rowA = addBatch(s.ledger, { identity: s.identity, job: 'j', remoteId: a, at: Date.now() });

    const r = await run(cancelCommand, [a, b], s.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`batch-enrich: batch ${a} canceling\nbatch-enrich: batch ${b} canceling\n`);
    expect((await s.client.messages.batches.retrieve(a)).processing_status).toBe('canceling');
    s.clock.advance(MINUTE);
    const ended = await s.client.messages.batches.retrieve(b);
    expect(ended.processing_status).toBe('ended');
    expect(ended.request_counts.canceled).toBe(2);
    expect(s.ledger.batch(rowA)?.state).toBe('in_progress');
  });

  it('--job cancels only that job’s batches in progress under the current identity, and names the others (exit 1: they keep running)', async () => {
    const s = await setup();
    const mine = await createRemote(s.client);
    const notMine = await createRemote(s.client);
    const otherJob = await createRemote(s.client);
    addBatch(s.ledger, { identity: s.identity, job: 'tickets', remoteId: mine, at: Date.now() });
    addBatch(s.ledger, { identity: s.identity, job: 'tickets', remoteId: 'msgbatch_done', state: 'downloaded', at: Date.now() });
    addBatch(s.ledger, { identity: s.identity, job: 'tickets', at: Date.now() }); // creating, its run gone: the create's outcome is lost
    addBatch(s.ledger, { identity: s.otherKey, job: 'tickets', remoteId: notMine, at: Date.now() });
    addBatch(s.ledger, { identity: s.identity, job: 'other', remoteId: otherJob, at: Date.now() });

    const r = await run(cancelCommand, ['--job', 'tickets'], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'batch-enrich: a batch of 2 requests whose create was cut off (its run ended before recording its id): not canceled: if the API has it, it cannot be proven this job\'s before it ends; the job\'s next run finds it and keeps its answers\n' +
        `batch-enrich: batch ${notMine} not canceled: other identity: ${s.emu.url}, key fingerprint ${s.otherKey.keyFingerprint}\n` +
        `batch-enrich: batch ${mine} canceling\n`,
    );
    expect(s.emu.stats.calls['batches.cancel']).toBe(1);
    expect((await s.client.messages.batches.retrieve(notMine)).processing_status).toBe('in_progress');
    expect((await s.client.messages.batches.retrieve(otherJob)).processing_status).toBe('in_progress');

    const unknown = await run(cancelCommand, ['--job', 'nope'], s.env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`batch-enrich: no job "nope" in the ledger ${s.ledgerPath} (jobs: tickets, other)\n`);
  });

  // helper-62: a batch being created when `cancel --job` ran was skipped ("no batch in progress",
  // exit 0), then created, and it ran and was billed.
  it('--job waits for a batch a live run is creating to get its id, then cancels it', async () => {
    const s = await setup();
    const id = addBatch(s.ledger, { identity: s.identity, job: 'tickets', at: Date.now(), live: true }); // creating, its run alive
    const remote = await createRemote(s.client);
    const created = setTimeout(() => s.ledger.setRemote(id, remote, Date.now()), 600);
    cleanup.push(() => clearTimeout(created));
    const r = await run(cancelCommand, ['--job', 'tickets'], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^batch-enrich: a batch of 2 requests is being created by run \\d+ \\(pid ${process.pid} on [^)]+\\): waiting for its id, to cancel it\nbatch-enrich: batch ${remote} canceling\n$`));
    expect((await s.client.messages.batches.retrieve(remote)).processing_status).toBe('canceling');
  });

  // helper-63: a job whose only batch was being created said "no job in the ledger" once that create
  // failed; one being created under another identity was dropped without a word (exit 0).
  it('--job on a job whose only batch was being created, its create failed meanwhile: nothing to cancel, exit 0, not "no job"', async () => {
    const s = await setup();
    const id = addBatch(s.ledger, { identity: s.identity, job: 'tickets', at: Date.now(), live: true });
    const failed = setTimeout(() => s.ledger.failBatch(id, Date.now(), 'refused', 'creating'), 400);
    cleanup.push(() => clearTimeout(failed));
    const r = await run(cancelCommand, ['--job', 'tickets'], s.env);
    expect(r.stderr).not.toContain('no job');
    expect(r.stderr).toMatch(/job "tickets" has no batch in progress under this identity\n$/);
    expect(r.code).toBe(0);
  });

  it("--job names a batch another identity is creating, and exits 1: it may run, billed, and cannot be canceled from here", async () => {
    const s = await setup();
    addBatch(s.ledger, { identity: s.otherKey, job: 'tickets', at: Date.now(), live: true });
    const r = await run(cancelCommand, ['--job', 'tickets'], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`batch-enrich: a batch of 2 requests being created not canceled: other identity: ${s.emu.url}, key fingerprint ${s.otherKey.keyFingerprint}\n`);
  });

  it('exits 1 when any cancel fails, naming the batch and the reason, after trying every batch', async () => {
    const s = await setup();
    const good = await createRemote(s.client);
    const r = await run(cancelCommand, ['msgbatch_nope', good], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`batch-enrich: batch msgbatch_nope: cannot cancel: not found (404)\nbatch-enrich: batch ${good} canceling\n`);

    const badKey = await run(cancelCommand, [good], { ...s.env, ANTHROPIC_API_KEY: 'sk-wrong' });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(new RegExp(`^batch-enrich: batch ${good}: cannot cancel: .*\\(401 authentication_error\\)\\n$`));
    expect(badKey.stderr).not.toContain('sk-wrong');
  });

  it.each([
    { argv: ['msgbatch_x'], env: 'no key', want: /^batch-enrich: no API key: set ANTHROPIC_API_KEY .*to cancel batches\n$/ },
    { argv: [], env: 'key', want: /^batch-enrich: give the BATCH_IDs to cancel, or --job NAME\nTry 'batch-enrich cancel --help'\.\n$/ },
    { argv: ['msgbatch_x', '--job', 'j'], env: 'key', want: /^batch-enrich: give either BATCH_IDs or --job NAME, not both\n/ },
    { argv: ['--job'], env: 'key', want: /^batch-enrich: option --job needs a value\n/ },
    { argv: ['--job', '-x'], env: 'key', want: /^batch-enrich: option --job needs a value \(for one that starts with a dash, write --job=-…\)\n/ },
  ])('usage error (exit 2): $argv with $env', async ({ argv, env, want }) => {
    const r = await run(cancelCommand, argv, env === 'key' ? { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' } : {});
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(want);
  });
});

describe('results', () => {
  it('writes exactly the lines the SDK yields, to stdout or to --output', async () => {
    const s = await setup(0);
    const id = await createRemote(s.client, 5);
    const expected: string[] = [];
    for await (const line of await s.client.messages.batches.results(id)) expected.push(`${JSON.stringify(line)}\n`);
    expect(expected).toHaveLength(5);

    const r = await run(resultsCommand, [id], s.env);
    expect(r).toEqual({ code: 0, stdout: expected.join(''), stderr: '' });

    const file = join(s.dir, 'out.ndjson');
    const f = await run(resultsCommand, [id, '--output', file], s.env);
    expect(f.code).toBe(0);
    expect(f.stdout).toBe('');
    expect(f.stderr).toBe(`batch-enrich: wrote 5 results of batch ${id} to ${file}\n`);
    expect(readFileSync(file, 'utf8')).toBe(expected.join(''));
    // -o, as the main command takes it (helper-96 #7: "unknown option -o", exit 2).
    const short = join(s.dir, 'short.ndjson');
    expect((await run(resultsCommand, [id, '-o', short], s.env)).code).toBe(0);
    expect(readFileSync(short, 'utf8')).toBe(expected.join(''));
  });

  it('a batch not ended is an error naming its processing_status (exit 1); so is an unknown batch', async () => {
    const s = await setup();
    const id = await createRemote(s.client, 3);
    const r = await run(resultsCommand, [id], s.env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`batch-enrich: batch ${id} has not ended: processing_status in_progress (processing 3); results come once it has ended\n`);
    const file = join(s.dir, 'never.ndjson');
    await run(resultsCommand, [id, '--output', file], s.env);
    expect(existsSync(file)).toBe(false);

    const gone = await run(resultsCommand, ['msgbatch_nope'], s.env);
    expect(gone).toEqual({ code: 1, stdout: '', stderr: 'batch-enrich: batch msgbatch_nope: not found (404)\n' });
  });

  it('--output into a folder that does not exist is a usage error before any download, naming the flag and the path as given', async () => {
    const s = await setup(0);
    const id = await createRemote(s.client, 2);
    const file = join(s.dir, 'none', 'out.ndjson');
    const r = await run(resultsCommand, [id, '--output', file], s.env);
    expect(r).toEqual({ code: 2, stdout: '', stderr: `batch-enrich: --output ${file}: cannot write there: ENOENT (no such folder)\nTry 'batch-enrich results --help'.\n` });
    expect(readdirSync(s.dir).filter((name) => name.includes('partial') || name.endsWith('.tmp'))).toEqual([]);
  });

  it('a closed stdout (EPIPE) ends quietly with exit 0', async () => {
    const s = await setup(0);
    const id = await createRemote(s.client, 50);
    let writes = 0;
    const closed = new Writable({
      write: (_chunk, _enc, cb) => (writes++, cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))),
    });
    const r = await run(resultsCommand, [id], s.env, closed);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(writes).toBe(1);
  });

  it('an EPIPE from the download side (not the output) is a failed download (exit 1, named), never a quiet end', async () => {
    const s = await setup(0);
    const id = await createRemote(s.client, 3);
    // The SDK's results decoder gives one line, then fails as a socket written to after it closed would.
    const spy = vi.spyOn(Batches.prototype, 'results').mockImplementation(async () => {
      async function* lines() {
        yield { custom_id: 'r0', result: { type: 'canceled' } };
        throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      }
      return lines() as never;
    });
    cleanup.push(() => spy.mockRestore());
    const r = await run(resultsCommand, [id], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^batch-enrich: batch ${id}: results download failed after 1 line: .*EPIPE`));
    const file = join(s.dir, 'out.ndjson');
    const f = await run(resultsCommand, [id, '--output', file], s.env);
    expect(f.code).toBe(1);
    expect(existsSync(file)).toBe(false);
  });

  it.each([
    { argv: [], want: /^batch-enrich: give the BATCH_ID whose results to download\nTry 'batch-enrich results --help'\.\n$/ },
    { argv: ['a', 'b'], want: /^batch-enrich: give one BATCH_ID, got 2: a b\n/ },
    { argv: ['a', '--output'], want: /^batch-enrich: option --output needs a value\n/ },
  ])('usage error (exit 2): $argv', async ({ argv, want }) => {
    const r = await run(resultsCommand, argv, { ANTHROPIC_API_KEY: KEY });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(want);
  });
});

describe('gc', () => {
  /** A ledger with old and recent, finished and unfinished batches; the old downloaded one ended on the API. */
  async function oldAndNew() {
    const s = await setup(MINUTE);
    const oldRemote = await createRemote(s.client);
    const otherRemote = await createRemote(s.client);
    s.clock.advance(HOUR); // both ended on the emulator
    const old = Date.now() - 40 * DAY;
    const rows = {
      oldDownloaded: addBatch(s.ledger, { identity: s.identity, job: 'j', remoteId: oldRemote, state: 'downloaded', at: old, answered: true }),
      oldOtherIdentity: addBatch(s.ledger, { identity: s.otherKey, job: 'j', remoteId: otherRemote, state: 'downloaded', at: old, answered: true }),
      // Its two requests, never answered, go with it.
      oldFailed: addBatch(s.ledger, { identity: s.identity, job: 'j', state: 'failed', at: old }),
      // Of another job, not collected yet (its results are on the API for 29 days): a job with a batch
      // still to finish keeps its finished work (see the ledger contract).
      oldRunning: addBatch(s.ledger, { identity: s.identity, job: 'k', remoteId: 'msgbatch_running', at: Date.now() - 20 * DAY }),
      recentDownloaded: addBatch(s.ledger, { identity: s.identity, job: 'j', remoteId: 'msgbatch_recent', state: 'downloaded', at: Date.now() - DAY, answered: true }),
    };
    return { ...s, oldRemote, otherRemote, rows };
  }

  it('deletes old finished batches and answered requests from the ledger, and the old downloaded batch on the API', async () => {
    const s = await oldAndNew();
    const r = await run(gcCommand, [], s.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^batch-enrich: compacted the ledger: \S+ (KiB|MiB|B) → \S+ (KiB|MiB|B)$/m);
    expect(withoutCompaction(r.stderr)).toBe(
      `batch-enrich: not deleting on the API (other identity: ${s.emu.url}, key fingerprint ${s.otherKey.keyFingerprint}): ${s.otherRemote}\n` +
        `batch-enrich: deleted batch ${s.oldRemote} on the API\n` +
        `batch-enrich: deleted 3 batches and 6 requests not touched for 30 days from the ledger ${s.ledgerPath}; 1 batch on the API\n`,
    );
    expect(s.ledger.batches().map((b) => b.id)).toEqual([s.rows.oldRunning, s.rows.recentDownloaded]);
    expect(s.emu.stats.calls['batches.delete']).toBe(1);
    await expect(s.client.messages.batches.retrieve(s.oldRemote)).rejects.toMatchObject({ status: 404 });
    expect((await s.client.messages.batches.retrieve(s.otherRemote)).processing_status).toBe('ended');

    // Nothing left that old: a second gc deletes nothing.
    const again = await run(gcCommand, [], s.env);
    expect(again.stderr).toBe(`batch-enrich: deleted 0 batches and 0 requests not touched for 30 days from the ledger ${s.ledgerPath}; 0 batches on the API\n`);
  });

  it('beside a running job: deletes the old batches, keeps the requests, and leaves the file uncompacted (a VACUUM would hold the job up)', async () => {
    const s = await oldAndNew();
    const running = s.ledger.startRun('another job', Date.now());
    const r = await run(gcCommand, ['--keep-remote'], s.env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe(`batch-enrich: deleted 3 batches and 0 requests not touched for 30 days from the ledger ${s.ledgerPath}`);
    // Why the requests stay: the run is named.
    expect(lines[1]).toMatch(
      new RegExp(`^batch-enrich: kept every request: run ${running} \\(pid ${process.pid} on .+, last heard from 0 s ago\\) may still be working, and its records point at requests; they go once it has ended, or been silent for 10 minutes$`),
    );
    expect(lines.slice(2).join('\n')).toBe('batch-enrich: the ledger was not compacted (1 run is using it); the space is reused by later runs\n');
    s.ledger.endRun(running);
    const after = await run(gcCommand, ['--keep-remote'], s.env);
    expect(after.stderr).toMatch(/deleted 0 batches and 6 requests .*\n.*compacted the ledger: /);
  });

  it.skipIf(!postgres.url)('on a PostgreSQL ledger, names it without its password', async () => {
    const url = await freshSchema();
    await (await PgLedger.open(url)).close(); // the ledger's tables
    const password = decodeURIComponent(new URL(url).password);
    expect(password).not.toBe('');
    for (const args of [['--dry-run'], []]) {
      const r = await run(gcCommand, ['--ledger', url, '--keep-remote', ...args], {});
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`from the ledger ${redactUrl(url)}`);
      expect(r.stderr).not.toContain(password);
    }
  });

  it('--dry-run lists what would go and deletes nothing', async () => {
    const s = await oldAndNew();
    const before = s.ledger.batches();
    const r = await run(gcCommand, ['--dry-run'], s.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`batch-enrich: would delete batch ${s.oldRemote} on the API (job "j", downloaded 40d ago)\n`);
    expect(r.stderr).toContain(`batch-enrich: would delete 3 batches and 6 requests not touched for 30 days from the ledger ${s.ledgerPath}\n`);
    expect(s.ledger.batches()).toEqual(before);
    expect(s.emu.stats.calls['batches.delete']).toBe(0);
  });

  it('a job whose newest batch failed (its requests wait for its next try) keeps its downloaded batch in the ledger and on the API, as a job with a batch running does', async () => {
    const s = await setup(MINUTE);
    const remote = await createRemote(s.client);
    s.clock.advance(HOUR);
    const old = Date.now() - 40 * DAY;
    const downloaded = addBatch(s.ledger, { identity: s.identity, job: 'nightly', remoteId: remote, state: 'downloaded', at: old, answered: true });
    addBatch(s.ledger, { identity: s.identity, job: 'nightly', state: 'failed', at: Date.now() - DAY });
    const r = await run(gcCommand, [], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain(`deleted batch ${remote} on the API`);
    expect(s.ledger.batches().map((b) => b.id)).toContain(downloaded);
    expect((await s.client.messages.batches.retrieve(remote)).id).toBe(remote);
  });

  it('a job left for good (its batch created 40 days ago: the API has archived its results) is over: its batches and requests go, in the ledger and on the API', async () => {
    const s = await setup(MINUTE);
    const remote = await createRemote(s.client);
    s.clock.advance(40 * DAY); // archived on the emulator
    const old = Date.now() - 40 * DAY;
    const downloaded = addBatch(s.ledger, { identity: s.identity, job: 'left', state: 'downloaded', at: old, answered: true });
    const running = addBatch(s.ledger, { identity: s.identity, job: 'left', remoteId: remote, at: old });
    const preview = await run(gcCommand, ['--dry-run'], s.env);
    expect(preview.stderr).toContain(`would delete batch ${remote} on the API (job "left", made 40d ago: its results are archived)`);
    expect(preview.stderr).toContain('would delete 2 batches and 4 requests not touched for 30 days');
    const r = await run(gcCommand, [], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`deleted batch ${remote} on the API`);
    expect(r.stderr).toContain('deleted 2 batches and 4 requests not touched for 30 days');
    expect(s.ledger.batch(downloaded)).toBeUndefined();
    expect(s.ledger.batch(running)).toBeUndefined();
  });

  it('--older-than 0 takes every finished batch; --keep-remote and a missing key leave the API alone', async () => {
    const s = await oldAndNew();
    const noKey = await run(gcCommand, ['--older-than', '0'], withoutKey(s.env));
    expect(noKey.code).toBe(0);
    expect(withoutCompaction(noKey.stderr)).toBe(
      `batch-enrich: not deleting on the API (no ANTHROPIC_API_KEY): ${s.oldRemote}, ${s.otherRemote}, msgbatch_recent\n` +
        `batch-enrich: deleted 4 batches and 8 requests not touched for 0 days from the ledger ${s.ledgerPath}; 0 batches on the API\n`,
    );
    expect(s.ledger.batches().map((b) => b.id)).toEqual([s.rows.oldRunning]);

    const t = await oldAndNew();
    const keep = await run(gcCommand, ['--keep-remote', '--older-than', '7'], t.env);
    expect(withoutCompaction(keep.stderr)).toBe(`batch-enrich: deleted 3 batches and 6 requests not touched for 7 days from the ledger ${t.ledgerPath}\n`);
    expect(t.emu.stats.calls['batches.delete']).toBe(0);
  });

  it('deletes the files it uploaded (older than the cut-off) on the API and forgets them; --keep-remote keeps them', async () => {
    const s = await setup();
    const upload = async (name: string) => (await s.client.files.upload({ file: await toFile(Buffer.from(`%PDF-1.4 ${name}`), name, { type: 'application/pdf' }) })).id;
    const [oldFile, newFile] = [await upload('old.pdf'), await upload('new.pdf')];
    const registry = new UploadRegistry(s.ledgerPath);
    registry.begin(s.identity.scope, 'a'.repeat(64), 10, Date.now() - 40 * DAY);
    registry.finish(s.identity.scope, 'a'.repeat(64), oldFile, null);
    registry.begin(s.identity.scope, 'b'.repeat(64), 10, Date.now());
    registry.finish(s.identity.scope, 'b'.repeat(64), newFile, null);
    const keep = await run(gcCommand, ['--keep-remote', '--dry-run'], s.env);
    expect(keep.stderr).toContain('would forget 1 uploaded file');
    const r = await run(gcCommand, [], s.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('deleted 1 uploaded file on the API');
    await expect(s.client.files.retrieveMetadata(oldFile)).rejects.toMatchObject({ status: 404 });
    expect((await s.client.files.retrieveMetadata(newFile)).id).toBe(newFile);
    expect(registry.all(s.identity.scope).map((row) => row.fileId)).toEqual([newFile]);
    registry.close();
  });

  it('--dry-run counts the uploaded files that only the requests it would delete still name, as the gc then forgets them', async () => {
    // The preview looked at the requests as they are: a finished job's files were "in use", and it
    // said nothing of the files the gc then forgot and deleted on the API.
    const s = await setup();
    const fileId = (await s.client.files.upload({ file: await toFile(Buffer.from('%PDF-1.4 old'), 'old.pdf', { type: 'application/pdf' }) })).id;
    const registry = new UploadRegistry(s.ledgerPath);
    registry.begin(s.identity.scope, 'c'.repeat(64), 10, Date.now() - 40 * DAY);
    registry.finish(s.identity.scope, 'c'.repeat(64), fileId, null);
    registry.close();
    const messages = JSON.stringify([{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: fileId } }] }]);
    addBatch(s.ledger, { identity: s.identity, job: 'docs', state: 'downloaded', at: Date.now() - 40 * DAY, answered: true, messages });
    const preview = await run(gcCommand, ['--dry-run'], s.env);
    expect(preview.stderr).toContain('would delete 1 batch and 2 requests');
    expect(preview.stderr).toContain('would forget 1 uploaded file older than 30 days, and delete it on the API');
    const r = await run(gcCommand, [], s.env);
    expect(r.stderr).toContain('forgot 1 uploaded file older than 30 days; deleted 1 uploaded file on the API');
  });

  it('gives the space of what it deleted back: the ledger file shrinks', async () => {
    const s = await setup();
    const big = 'x'.repeat(20_000);
    s.ledger.ensureSpec('spec', '{"model":"m","max_tokens":1,"messages":', '}');
    s.ledger.transaction(() => {
      for (let i = 0; i < 500; i++) s.ledger.insertRequest(s.identity.scope, `old${String(i).padStart(19, '0')}`, null, 'spec', JSON.stringify([{ role: 'user', content: big }]), Date.now() - 40 * DAY);
    });
    const size = () => statSync(s.ledgerPath).size + (existsSync(`${s.ledgerPath}-wal`) ? statSync(`${s.ledgerPath}-wal`).size : 0);
    const before = size();
    expect(before).toBeGreaterThan(5_000_000);
    const r = await run(gcCommand, ['--keep-remote'], s.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('deleted 0 batches and 500 requests');
    expect(size()).toBeLessThan(before / 10);
  });

  it('a remote delete that fails keeps the batch in the ledger for the next gc, and exits 1', async () => {
    const s = await setup();
    const running = await createRemote(s.client); // not ended: the API refuses to delete it
    const row = addBatch(s.ledger, { identity: s.identity, job: 'j', remoteId: running, state: 'downloaded', at: Date.now() - 40 * DAY });
    const r = await run(gcCommand, [], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^batch-enrich: cannot delete batch ${running} on the API: .*\\(400 invalid_request_error\\); kept in the ledger for the next gc\\n`));
    expect(r.stderr).toMatch(/deleted 0 batches and 0 requests .*; 0 batches on the API\n$/);
    expect(s.ledger.batch(row)).toMatchObject({ state: 'downloaded', error: expect.stringMatching(/^remote delete failed: /) });

    s.clock.advance(2 * HOUR); // now it has ended, and the next gc deletes it
    const again = await run(gcCommand, ['--older-than', '0'], s.env);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`deleted batch ${running} on the API`);
    expect(s.ledger.batch(row)).toBeUndefined();
  });

  it('a missing ledger is nothing to do; a bad --older-than is a usage error', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'be-jobs-')), 'ledger.db');
    const r = await run(gcCommand, [], { BATCH_ENRICH_LEDGER: missing });
    expect(r).toEqual({ code: 0, stdout: '', stderr: `batch-enrich: no ledger at ${missing}; nothing to delete\n` });
    expect(existsSync(missing)).toBe(false);
    for (const bad of ['-1', 'abc', '']) {
      const u = await run(gcCommand, [`--older-than=${bad}`], { BATCH_ENRICH_LEDGER: missing });
      expect(u.code).toBe(2);
      expect(u.stderr).toBe(`batch-enrich: --older-than: expected a number of days, 0 or more, got ${JSON.stringify(bad)}\nTry 'batch-enrich gc --help'.\n`);
    }
  });
});

describe('usage, shared by the four commands', () => {
  const commands = [
    { name: 'status', fn: statusCommand },
    { name: 'cancel', fn: cancelCommand },
    { name: 'results', fn: resultsCommand },
    { name: 'gc', fn: gcCommand },
  ];

  it.each(commands)('$name: an unknown option is exit 2 with a hint, and nothing on stdout', async ({ name, fn }) => {
    const r = await run(fn, ['--x'], { ANTHROPIC_API_KEY: KEY });
    expect(r).toEqual({ code: 2, stdout: '', stderr: `batch-enrich: unknown option --x\nTry 'batch-enrich ${name} --help'.\n` });
  });

  // Every flag with its default: test/cli/flags.test.ts, driven by the flag tables.
  it.each(commands)('$name --help: stdout, exit 0, usage, an example and the exit codes', async ({ name, fn }) => {
    const r = await run(fn, ['--help'], {});
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^Usage: batch-enrich ${name} `));
    expect(r.stdout).toMatch(new RegExp(`Examples:\\n  \\$ batch-enrich ${name}\\b`));
    expect(r.stdout).toContain('Exit codes:');
  });
});

describe('the built binary', () => {
  // Needs `npm run build` first (`npm test` does it); skipped when dist/ predates this command.
  it.skipIf(!BUILT)('gc names a job it keeps because a try stopped early and noted requests the job no longer reads (its input changed)', async () => {
    let t = Date.now();
    const emu = await startEmulator({ apiKey: KEY, processingMs: HOUR, now: () => t });
    cleanup.push(() => emu.close());
    const dir = mkdtempSync(join(tmpdir(), 'be-jobs-'));
    const input = join(dir, 'x.csv');
    writeFileSync(input, 'id,text\n1,one\n2,two\n3,thing 3\n');
    const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'ledger.db') };
    const enrich = ['--quiet', '--no-wait', '--prompt', 'D: {{text}}', '--job', 'x', '--poll-min', '0.01', '-o', join(dir, 'out.ndjson'), input];
    expect((await runCli(enrich, { env })).code).toBe(75);
    writeFileSync(input, 'id,text\n1,one\n2,two\n3,thing three\n');
    expect((await runCli(enrich, { env })).code).toBe(75);
    t += HOUR + MINUTE;
    const done = await runCli(enrich, { env });
    expect(done.code, done.stderr).toBe(0);
    // Before: "deleted 0 batches and 0 requests …", and no word of why.
    const gc = await runCli(['gc', '--older-than', '0', '--keep-remote'], { env });
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stderr).toMatch(/keeping 2 batches of job "x": a try of it ended .* ago before every record was out, and noted 1 request its next try would read again \(kept until \d{4}-\d\d-\d\d at most; a complete run of the job that reads it clears the note, and one whose input no longer has it never will\)/);
  });

  // helper-96 #2: a try of a job whose settings changed since its batches went out (--max-tokens here)
  // sent its requests again, without a word of the earlier batch, which ran on and was billed.
  it.skipIf(!BUILT)('a try of a job that needs none of an earlier try\'s batch still running names it, and how to cancel it', async () => {
    const emu = await startEmulator({ apiKey: KEY, processingMs: HOUR });
    cleanup.push(() => emu.close());
    const dir = mkdtempSync(join(tmpdir(), 'be-jobs-'));
    const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'ledger.db') };
    const enrich = ['--transform', 'ticket-triage', '--job', 'd6', '--no-wait', '--poll-min', '0.01', join(ROOT, 'fixtures', 'csv', 'tickets.csv')];
    const first = await runCli(enrich, { env });
    expect(first.code, first.stderr).toBe(75);
    const earlier = /batch (msgbatch_\w+) submitted/.exec(first.stderr)?.[1];
    expect(earlier).toBeDefined();
    const again = await runCli([...enrich, '--max-tokens', '700'], { env });
    expect(again.code, again.stderr).toBe(75);
    expect(again.stderr).toContain(
      `batch ${earlier} (12 requests) of job "d6", sent by an earlier try, holds none of this try's requests (the prompt, recipe, model or max_tokens changed since, or its rows are gone from the input): it runs on, and is billed; 'batch-enrich cancel ${earlier}' stops what it has not done yet`,
    );
    // A try that needs it says nothing of it, and names the other instead.
    const second = /batch (msgbatch_\w+) submitted/.exec(again.stderr)?.[1];
    const back = await runCli(enrich, { env });
    expect(back.stderr).not.toContain(`batch ${earlier} (`);
    expect(back.stderr).toContain(`batch ${second} (12 requests) of job "d6", sent by an earlier try, holds none of this try's requests`);
  });

  // helper-91 #5c, helper-96 #6: a --no-wait try whose creates' answers were lost said "1 batch" and
  // "submitted" for one, and nothing of the others, which it had left to the next try.
  it.skipIf(!BUILT)('a --no-wait try names each create whose answer was lost and whose batch it left to the next try', async () => {
    const emu = await startEmulator({ apiKey: KEY, processingMs: HOUR, lostCreateRate: 1 });
    cleanup.push(() => emu.close());
    const dir = mkdtempSync(join(tmpdir(), 'be-jobs-'));
    const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'ledger.db') };
    // Said with --quiet too: batches that may be billed, left for later.
    const tried = await runCli(['--transform', 'ticket-triage', '--no-wait', '--quiet', '--batch-size', '6', '--poll-min', '0.01', join(ROOT, 'fixtures', 'csv', 'tickets.csv')], { env });
    expect(tried.code, tried.stderr).toBe(75);
    const unresolved = tried.stderr.split('\n').filter((line) => line.includes('its create was sent and its answer lost'));
    expect(unresolved).toEqual([
      'batch-enrich: a batch of 6 requests: its create was sent and its answer lost, and a batch of its size is running on the API: left to the next try, which adopts it once it has ended and its results prove it ours (else sends the requests again)',
      'batch-enrich: a batch of 6 requests: its create was sent and its answer lost, and a batch of its size is running on the API: left to the next try, which adopts it once it has ended and its results prove it ours (else sends the requests again)',
    ]);
    expect(tried.stderr).toContain('12 records wait for their answers from 2 batches');
  });

  it.skipIf(!BUILT)('status --json on a ledger made by a --no-wait run: pending and the expiry while batches run, then done', async () => {
    let t = Date.now();
    const emu = await startEmulator({ apiKey: KEY, processingMs: HOUR, now: () => t });
    cleanup.push(() => emu.close());
    const dir = mkdtempSync(join(tmpdir(), 'be-jobs-'));
    const env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'ledger.db') };
    const enrich = ['--transform', 'ticket-triage', '--job', 'tickets', '--no-wait', '--batch-size', '5', '--poll-min', '0.01', join(ROOT, 'fixtures', 'csv', 'tickets.csv')];
    const before = Date.now();
    const submitted = await runCli(enrich, { env });
    expect(submitted.code, submitted.stderr).toBe(75);

    const pending = await runCli(['status', '--json'], { env });
    expect(pending.code, pending.stderr).toBe(0);
    expect(pending.stdout.trimEnd().split('\n')).toHaveLength(1);
    const job = JSON.parse(pending.stdout) as Record<string, unknown> & { batches: { expires_at: string }[] };
    expect(job).toMatchObject({
      job: 'tickets',
      requests_pending: 12,
      requests_done: 0,
      requests_failed: 0,
      batches_by_state: { creating: 0, in_progress: 3, ended: 0, downloaded: 0, failed: 0 },
      live_request_counts: { processing: 12, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
    });
    // The oldest batch's expiry: 24 h after it was created, as the API says it.
    const expiry = Date.parse(job['oldest_expires_at'] as string);
    expect(expiry).toBe(Math.min(...job.batches.map((batch) => Date.parse(batch.expires_at))));
    expect(expiry).toBeGreaterThanOrEqual(before + 24 * HOUR - 1000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 24 * HOUR);

    // What the job is expected to cost: the batches' estimates, summed, near what the run then costs.
    const expected = job['expected_cost_usd'] as number;
    const perBatch = (job.batches as unknown as { expected_cost_usd: number }[]).map((batch) => batch.expected_cost_usd);
    expect(expected).toBeGreaterThan(0);
    // Each batch's estimate to the micro-dollar, as the job's (helper-65: 0.0029783749999999997): the
    // sum of the rounded estimates is the job's within a micro-dollar a batch.
    for (const usd of perBatch) expect(usd).toBe(Number(usd.toFixed(6)));
    expect(Math.abs(expected - perBatch.reduce((a, b) => a + b, 0))).toBeLessThanOrEqual(perBatch.length * 1e-6 + 1e-12);

    expect(job['ready']).toBe(false);

    t += HOUR + MINUTE; // the batches end: the sensor says so before any rerun (requests_pending counts them until one downloads them)
    const ended = await runCli(['status', '--job', 'tickets', '--json'], { env });
    expect(JSON.parse(ended.stdout)).toMatchObject({ ready: true, requests_pending: 12, live_request_counts: { processing: 0, succeeded: 12 } });
    // The rerun collects every answer.
    const collected = await runCli(enrich, { env });
    expect(collected.code, collected.stderr).toBe(0);
    const billed = Number(/cost \$([\d.]+) at batch prices/.exec(collected.stderr)?.[1]);
    expect(expected / billed).toBeGreaterThan(1 / 3);
    expect(expected / billed).toBeLessThan(3);
    const done = await runCli(['status', '--json'], { env });
    expect(JSON.parse(done.stdout)).toMatchObject({
      job: 'tickets',
      requests_pending: 0,
      requests_done: 12,
      requests_failed: 0,
      batches_by_state: { in_progress: 0, downloaded: 3 },
      oldest_expires_at: null,
      live_request_counts: null,
    });
  });

  it.skipIf(!BUILT)('results: a results file that ends early is a failure that says so (exit 1, --output left as it was), not a whole download', async () => {
    // helper-66: 100 of 200 lines written and exit 0, without a word.
    const s = await setup(0);
    const id = await createRemote(s.client, 4);
    s.ledger.close();
    const proxy = await faultProxy(s.emu.url, (call) => (isResults(call) ? 'truncate' : 'pass'), { results: true });
    const out = join(s.dir, 'results.jsonl');
    writeFileSync(out, 'earlier\n');
    const cut = await runCli(['results', id, '--output', out], { env: { ...s.env, ANTHROPIC_BASE_URL: proxy.url } });
    expect(cut.code).toBe(1);
    expect(cut.stderr).toBe(`batch-enrich: batch ${id}: the results file ended after 2 of the batch's 4 results (cut off on the way): run the same command again\n`);
    expect(readFileSync(out, 'utf8')).toBe('earlier\n');
    const whole = await runCli(['results', id, '--output', out], { env: s.env });
    expect(whole.code, whole.stderr).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it.skipIf(!BUILT)('status --json and results run as commands of the bin; results | head exits 0', async () => {
    const s = await setup(0);
    const id = await createRemote(s.client, 2000);
    addBatch(s.ledger, { identity: s.identity, job: 'tickets', remoteId: id, state: 'ended', at: Date.now() });
    s.ledger.close();

    const status = await runCli(['status', '--json'], { env: s.env });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ job: 'tickets', requests_pending: 2, batches: [{ remote_id: id, processing_status: 'ended', identity_matches: true }] });

    const { firstLine: first, code, stderr } = await headOne(['results', id], s.env);
    expect(JSON.parse(first)).toHaveProperty('custom_id');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    // The same through --output /dev/stdout into a shell pipe (a child's stdio is a socket, which /dev/stdout cannot open).
    // Not spawnSync: the emulator answers from this process.
    const shell = spawn('sh', ['-c', `{ "${process.execPath}" "${BIN}" results ${id} --output /dev/stdout; echo "exit $?" >&2; } | head -1`], { env: { PATH: process.env['PATH'] ?? '', ...s.env } });
    const named = { stdout: '', stderr: '' };
    shell.stdout.setEncoding('utf8').on('data', (chunk: string) => (named.stdout += chunk));
    shell.stderr.setEncoding('utf8').on('data', (chunk: string) => (named.stderr += chunk));
    await new Promise((resolve) => shell.on('close', resolve));
    expect(JSON.parse(named.stdout.trim())).toHaveProperty('custom_id');
    expect(named.stderr).toBe('exit 0\n');
  });
});

// helper-75: status on a ledger in a folder the user cannot write (a scheduler's, read by an analyst)
// failed: SQLite in WAL mode writes its -shm beside the file even to read. Root writes anywhere: run
// as nobody through setpriv then (skipped without it).
const asNobody = process.getuid?.() !== 0 ? [] : spawnSync('setpriv', ['--version']).status === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : undefined;
describe('status on a ledger it cannot write', () => {
  it.skipIf(!BUILT || asNobody === undefined)('reads it as it is, says so, and changes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-ro-'));
    const identity = { scope: 'scope-ro', baseUrl: 'http://127.0.0.1:9', apiVersion: '2026-10-21', keyFingerprint: '01234567' } as Identity;
    const ledgerPath = join(dir, 'ledger.db');
    const ledger = new Ledger(ledgerPath);
    addBatch(ledger, { identity, job: 'nightly', remoteId: 'msgbatch_ro1', at: Date.now() });
    ledger.close();
    // The tests' private temporary folder (0700) is crossed, not listed, by the other user.
    if (asNobody!.length > 0) chmodSync(dirname(dir), 0o711);
    chmodSync(ledgerPath, 0o644);
    // Its own ledger, in a folder it cannot write (another user's is read from a copy whatever its folder).
    if (asNobody!.length > 0) chownSync(ledgerPath, 65534, 65534);
    chmodSync(dir, 0o555);
    const before = readFileSync(ledgerPath);
    try {
      const [command, ...args] = [...asNobody!, process.execPath, BIN, 'status', '--no-refresh', '--ledger', ledgerPath];
      const result = spawnSync(command!, args, { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: dir }, timeout: 30_000 });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain('job nightly: 1 batch (1 in_progress)');
      expect(result.stdout).toContain('msgbatch_ro1');
      expect(result.stderr).toContain(`the ledger's folder ${dir} is read-only for this user: shown from a copy read now`);
      expect(readFileSync(ledgerPath).equals(before)).toBe(true);
      expect(readdirSync(dir)).toEqual(['ledger.db']);
    } finally {
      chmodSync(dir, 0o755);
    }
  });

  // Note 48: status run by another user (root, by sudo) in a folder it can write left -wal and -shm
  // files owned by that user beside the ledger, and its owner's next run failed (SQLITE_READONLY).
  it.skipIf(!BUILT || process.getuid?.() !== 0)("reads another user's ledger from a copy, leaving nothing of its own beside it", () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-other-'));
    const identity = { scope: 'scope-other', baseUrl: 'http://127.0.0.1:9', apiVersion: '2026-10-21', keyFingerprint: '01234567' } as Identity;
    const ledgerPath = join(dir, 'ledger.db');
    const ledger = new Ledger(ledgerPath);
    addBatch(ledger, { identity, job: 'nightly', remoteId: 'msgbatch_other1', at: Date.now() });
    ledger.close();
    chownSync(ledgerPath, 65534, 65534);
    const before = readFileSync(ledgerPath);
    const result = spawnSync(process.execPath, [BIN, 'status', '--no-refresh', '--ledger', ledgerPath], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: dir }, timeout: 30_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('msgbatch_other1');
    expect(result.stderr).toContain(`the ledger ${ledgerPath} belongs to another user (uid 65534): shown from a copy read now`);
    expect(readFileSync(ledgerPath).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(['ledger.db']);
  });
});

describe('gc and batches past the API\'s 29 days', () => {
  it('never deletes on the API a batch whose results the API still holds (the ledger made its row earlier than the API made the batch: a slow create, a clock behind), and keeps it and its requests', async () => {
    const s = await setup(MINUTE);
    const remote = await createRemote(s.client);
    s.clock.advance(HOUR);
    // The row was made 31 days ago by the ledger's clock; the API made the batch an hour ago.
    const id = addBatch(s.ledger, { identity: s.identity, job: 'left', remoteId: remote, at: Date.now() - 31 * DAY });
    expect((await s.client.messages.batches.retrieve(remote)).archived_at).toBeNull();
    const r = await run(gcCommand, ['--older-than', '7', '--keep-remote'], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`keeping batch ${remote} (job "left"): the API still holds its results`);
    expect(r.stderr).not.toContain(`deleted batch ${remote} on the API`);
    expect(s.ledger.batch(id)).toMatchObject({ state: 'in_progress' });
    expect(s.ledger.submittedOf(id).size).toBe(2);
  });

  it('--dry-run counts as the gc does: a batch kept because the API still holds its results is not among what it would delete, nor are its requests', async () => {
    const s = await setup(MINUTE);
    const remote = await createRemote(s.client);
    s.clock.advance(HOUR);
    addBatch(s.ledger, { identity: s.identity, job: 'left', remoteId: remote, at: Date.now() - 31 * DAY });
    const preview = await run(gcCommand, ['--older-than', '7', '--dry-run'], s.env);
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stderr).toContain(`would keep batch ${remote} (job "left"): the API still holds its results`);
    expect(preview.stderr).toContain('would delete 0 batches and 0 requests not touched for 7 days');
    const r = await run(gcCommand, ['--older-than', '7'], s.env);
    expect(r.stderr).toContain('deleted 0 batches and 0 requests not touched for 7 days');
  });

  it('deletes no archived batch on the API that the ledger keeps (its job has a try that stopped before every record was out)', async () => {
    const s = await setup(MINUTE);
    const remote = await createRemote(s.client);
    s.clock.advance(40 * DAY);
    const id = addBatch(s.ledger, { identity: s.identity, job: 'left', remoteId: remote, at: Date.now() - 40 * DAY });
    // A try of the job, yesterday, that exited before writing every record.
    const left = s.ledger.startRun('left', Date.now() - DAY);
    s.ledger.intake(s.identity.scope, left, [], [{ key: 'kx', label: null, spec: 'spec', messages: '[]' }], [{ seq: 0, line: 2, data: '{}', key: 'kx', error: null }], Date.now() - DAY);
    s.ledger.endRun(left, { complete: false, now: Date.now() - DAY, scope: s.identity.scope });
    const r = await run(gcCommand, [], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain(`deleted batch ${remote} on the API`);
    expect(s.ledger.batch(id)).toBeDefined();
    expect((await s.client.messages.batches.retrieve(remote)).id).toBe(remote);
  });

  it('deletes no archived batch on the API while a run may be working elsewhere (the ledger keeps it)', async () => {
    const s = await setup(MINUTE);
    const remote = await createRemote(s.client);
    s.clock.advance(40 * DAY);
    const id = addBatch(s.ledger, { identity: s.identity, job: 'left', remoteId: remote, at: Date.now() - 40 * DAY });
    const working = s.ledger.startRun('other', Date.now());
    const r = await run(gcCommand, [], s.env);
    expect(r.stderr).toContain('kept every request');
    expect(r.stderr).not.toContain(`deleted batch ${remote} on the API`);
    expect(s.ledger.batch(id)).toBeDefined();
    s.ledger.endRun(working);
  });
});
