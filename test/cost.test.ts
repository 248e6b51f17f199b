/**
 * What a job costs, seen by the user: the summary (stderr and --summary JSON) adds up exactly what
 * each record's _meta says; the budget guard refuses before any create when the estimate is over,
 * and stops submitting mid-run counting batches in flight (not billed yet) against the cap.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PRICES } from '../src/core/prices.ts';
import { sampleReport } from '../src/cli/enrich/estimate.ts';
import { costOf, newCostTotals } from '../src/core/pricing.ts';
import { openLedger } from '../src/ledger/open.ts';
import type { LedgerStore } from '../src/ledger/store.ts';
import { ROOT, runCli } from './helpers/cli.ts';
import { emulator, enrich, FORGET_ANSWERS, idOf, perRecord, tempLedger } from './helpers/pipeline.ts';
import type { BatchEvent } from '../src/stages/batch.ts';
import { faultProxy, isCreate } from './helpers/proxy.ts';
import { SCHEMA_4 } from './helpers/schema4.ts';
import { freshDatabase, postgres } from './helpers/postgres.ts';
import pg from 'pg';

const TICKETS = join(ROOT, 'fixtures', 'csv', 'tickets.csv');
const fast = ['--poll-min', '0.01'];

describe('the summary and _meta', () => {
  it('--summary JSON adds up exactly what the records\u2019 _meta say, and prices the real-time equivalent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-cost-'));
    const summaryFile = join(dir, 'summary.json');
    // A system prompt over Haiku 4.5's minimum cacheable length (4,096 tokens), so that caching is priced too.
    const system = 'You triage support tickets: category, urgency, and a one-line reason. '.repeat(300);
    const result = await runCli(['--emulator', ...fast, '--transform', 'ticket-triage', '--system', system, '--meta', '--batch-size', '5', '--summary', summaryFile, TICKETS]);
    expect(result.code, result.stderr).toBe(0);
    const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { _meta: Record<string, number | string> });
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
    const sum = (field: string) => records.reduce((total, r) => total + Number(r._meta[field]), 0);
    expect(summary).toMatchObject({
      mode: 'batch',
      records_ok: 12,
      records_failed: 0,
      batches: 3,
      input_tokens: sum('input_tokens'),
      output_tokens: sum('output_tokens'),
      cache_creation_input_tokens: sum('cache_creation_input_tokens'),
      cache_read_input_tokens: sum('cache_read_input_tokens'),
    });
    expect(summary.cost_usd).toBeCloseTo(sum('cost_usd'), 6);
    // Haiku 4.5 in a batch is half its standard price on every token category.
    expect(summary.realtime_cost_usd).toBeCloseTo(summary.cost_usd * 2, 5);
    expect(summary.cache_read_input_tokens).toBeGreaterThan(0); // the shared system prompt is read from the cache
    expect(summary.cache_hit_rate).toBeCloseTo(summary.cache_read_input_tokens / (summary.input_tokens + summary.cache_creation_input_tokens + summary.cache_read_input_tokens), 3);
    for (const record of records) {
      expect(record._meta).toMatchObject({ custom_id: expect.stringMatching(/^[A-Za-z0-9]{6}_T-10\d\d-/), batch_id: expect.stringMatching(/^msgbatch_/), model: 'claude-haiku-4-5', attempt: 1 });
    }
    expect(result.stderr).toMatch(/3 batches; tokens: [\d,]+ input, [\d,]+ output, [\d,]+ cache read, [\d,]+ cache write \(cache hit rate \d+%\)/);
    expect(result.stderr).toMatch(/cost \$[\d.]+ at batch prices \(\$[\d.]+ in real time, \$[\d.]+ saved\)/);
  });

  it('duplicate rows (one request, paid once) carry its cost once: _meta.cost_usd adds up to the --summary cost_usd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-cost-'));
    const input = join(dir, 'in.csv');
    // Five rows of one request (deduplicated: sent and paid once) and two of their own.
    writeFileSync(input, `text\n${['same', 'same', 'other', 'same', 'same', 'same', 'third'].join('\n')}\n`);
    const summaryFile = join(dir, 'summary.json');
    const result = await runCli(['--emulator', ...fast, '--prompt', 'Say {{text}}', '--meta', '--summary', summaryFile, input]);
    expect(result.code, result.stderr).toBe(0);
    const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { text: string; _meta: { cost_usd: number; custom_id: string } });
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as { cost_usd: number };
    expect(summary.cost_usd).toBeGreaterThan(0);
    // The summary rounds to the micro-dollar.
    expect(records.reduce((total, r) => total + r._meta.cost_usd, 0)).toBeCloseTo(summary.cost_usd, 5);
    // The first row of the request carries its cost; its duplicates (the same custom_id) say 0.
    const same = records.filter((r) => r.text === 'same');
    expect(new Set(same.map((r) => r._meta.custom_id)).size).toBe(1);
    expect(same.map((r) => r._meta.cost_usd > 0)).toEqual([true, false, false, false, false]);
    expect(records.filter((r) => r.text !== 'same').every((r) => r._meta.cost_usd > 0)).toBe(true);
  });

  it('answers a run pays for that no record of it takes (its input changed since the batch was sent) are said, and _meta plus them is the summary', async () => {
    // helper-40: the summary said $0.003545 (the whole batch), the records' _meta $0.002195, and nothing told why.
    let t = Date.now();
    const emu = await emulator({ processingMs: 60_000, now: () => t });
    const env = cliEnv(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-cost-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, `id,text\n${Array.from({ length: 6 }, (_, i) => `${i},row ${i}`).join('\n')}\n`);
    const first = await runCli(['--prompt', 'Say {{text}}', ...fast, '--no-wait', input], { env });
    expect(first.code, first.stderr).toBe(75);
    // Two rows are gone from the input when the batch has ended and the job is collected.
    writeFileSync(input, `id,text\n${Array.from({ length: 4 }, (_, i) => `${i},row ${i}`).join('\n')}\n`);
    t += 61_000;
    const summaryFile = join(dir, 'summary.json');
    const done = await runCli(['--prompt', 'Say {{text}}', ...fast, '--meta', '--summary', summaryFile, input], { env });
    expect(done.code, done.stderr).toBe(0);
    const records = done.stdout.trim().split('\n').map((line) => JSON.parse(line) as { _meta: { cost_usd: number } });
    expect(records).toHaveLength(4);
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as { cost_usd: number; unclaimed_cost_usd: number; unclaimed_answers: number };
    const metaSum = records.reduce((total, r) => total + r._meta.cost_usd, 0);
    expect(summary.unclaimed_answers).toBe(2);
    expect(summary.unclaimed_cost_usd).toBeGreaterThan(0);
    expect(metaSum + summary.unclaimed_cost_usd).toBeCloseTo(summary.cost_usd, 5);
    expect(done.stderr).toMatch(/paid \$[\d.]+ for 2 answers no record of this run asks for \(the input changed since they were sent\); the records' _meta\.cost_usd add up to the rest/);
  });

  it('_meta.cost_usd adds up to what the run paid when the ledger acknowledges its stores late (PostgreSQL: a round trip after the commit)', async () => {
    const emu = await emulator({ responder: perRecord });
    const inner = await openLedger(tempLedger());
    // Each store is committed at once, and its caller told 30 ms later: meanwhile the emitter can read
    // its answers (another batch's store woke it).
    const late = new Proxy(inner, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (name !== 'settle') return value.bind(target);
        return async (...args: unknown[]) => {
          const taken = await (value as (...a: unknown[]) => unknown).apply(target, args);
          await new Promise((resolve) => setTimeout(resolve, 30));
          return taken;
        };
      },
    }) as LedgerStore;
    const rows = Array.from({ length: 12 }, (_, i) => ({ id: String(i % 9), text: 't' }));
    const costs = newCostTotals();
    const out = (await enrich(emu, rows, { ledger: late, meta: true, costs, batchSize: 2 })) as { _meta: { cost_usd: number } }[];
    await inner.close();
    expect(out).toHaveLength(12);
    expect(costs.usd).toBeGreaterThan(0);
    expect(out.reduce((total, r) => total + r._meta.cost_usd, 0)).toBeCloseTo(costs.usd, 9);
    // One record of each of the 9 requests carries its cost; the 3 duplicates say 0.
    expect(out.filter((r) => r._meta.cost_usd > 0)).toHaveLength(9);
  });

  it('a record served from the ledger on a rerun is not counted as spent again', async () => {
    const emu = await emulator({ responder: perRecord });
    const ledger = tempLedger();
    const rows = Array.from({ length: 4 }, (_, i) => ({ id: String(i), text: 't' }));
    const first = newCostTotals();
    await enrich(emu, rows, { ledger, costs: first });
    expect(first.usd).toBeGreaterThan(0);
    const second = newCostTotals();
    await enrich(emu, rows, { ledger, costs: second });
    expect(second.usd).toBe(0);
    expect(second.usages).toBe(0);
  });
});

describe('the budget guard', () => {
  // helper-68: Haiku 5.5 prices a prompt over 100,000 tokens at 5× its rates; the estimate took the
  // tier of the average prompt. Two of about 120,000 tokens among 18 short ones: estimated at $0.016,
  // the run spent $0.06 against a cap of $0.02 (a file), $0.068 (stdin, checked batch by batch).
  describe('prices each prompt at its own tier of a long-prompt price', () => {
    const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu'.split(' ');
    const text = (n: number) => Array.from({ length: n }, (_, i) => words[(i * 7) % words.length]).join(' ');
    const csv = `id,text\n${Array.from({ length: 20 }, (_, i) => `${i},"${text(i === 5 || i === 15 ? 85_000 : 300)}"`).join('\n')}\n`;
    const args = ['--model', 'claude-haiku-5-5', '--max-tokens', '100', '--prompt', 'Summarize: {{text}}', '--max-cost', '0.02'];
    it('a file: refused before anything is sent', async () => {
      const emu = await emulator({});
      const dir = mkdtempSync(join(tmpdir(), 'be-tier-'));
      writeFileSync(join(dir, 'tier.csv'), csv);
      const result = await runCli([...args, join(dir, 'tier.csv')], { env: cliEnv(emu) });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/over --max-cost \$0\.0200/);
      expect(emu.stats.calls['batches.create'] ?? 0).toBe(0);
    });
    it('stdin: the batch is refused by the guard (budget_exceeded), nothing is paid', async () => {
      const emu = await emulator({});
      const dir = mkdtempSync(join(tmpdir(), 'be-tier-'));
      const result = await runCli([...args, '--summary', join(dir, 's.json')], { env: cliEnv(emu), stdin: csv });
      expect(result.code, result.stderr).toBe(3);
      expect(emu.stats.calls['batches.create'] ?? 0).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'))).toMatchObject({ cost_usd: 0, failed_by_type: { budget_exceeded: 20 } });
    });
  });

  it('refuses before any create when the estimate is over --max-cost (exit 2), naming the estimate', async () => {
    const emu = await emulator({});
    const dir = mkdtempSync(join(tmpdir(), 'be-budget-'));
    const result = await runCli(['--transform', 'ticket-triage', '--max-cost', '0.001', TICKETS], {
      env: { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/estimate: 12 requests .* over --max-cost \$0\.0010/);
    expect(emu.stats.calls['batches.create']).toBe(0);
    // The advice works: a cap above the estimate it names, with some room, runs the job (a --sample does
    // not change the check, so it is not offered as the fix).
    const named = Number(/Raise --max-cost above \$([\d.]+), with some room/.exec(result.stderr)?.[1]);
    expect(named, result.stderr).toBeGreaterThan(0.001);
    expect(result.stderr).toContain('--sample N shows what rows really cost, but does not change these checks');
    const raised = await runCli(['--transform', 'ticket-triage', '--max-cost', String(named * 1.1), '--poll-min', '0.01', TICKETS], {
      env: { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'l.db') },
    });
    expect(raised.code, raised.stderr).toBe(0);
    expect(raised.stderr).toContain('12 records: 12 enriched, 0 with _error');
  });

  it('prices the batches as the check before the run priced them: a cap it accepts with little room runs the whole job, within the cap', async () => {
    // Each batch was priced by its request lines (custom_id and wrapper included) with nothing cached,
    // the check before the run by the params with the cacheable prefix read from the cache: about 2%
    // higher without a cache, six times higher with a long cached system prompt, so batches of a job
    // the check had just accepted were refused (budget_exceeded). Both now count typical answers and no
    // cache hit (in batches they are best-effort, and each batch writes the prefix again).
    // With --batch-size 1 and a long cacheable system prompt, every request writes the cache (twice the
    // input price): the cap's figure counts that, or the run spent up to 66% over the cap.
    const emu = await emulator({});
    const longSystem = `You triage support tickets for a software company. ${'Follow the house rules for every ticket. '.repeat(500)}`;
    const jobs = [
      [['--transform', 'ticket-triage'], '4'],
      [['--prompt', 'Classify: {{subject}}', '--system', longSystem], '4'],
      [['--prompt', 'Classify: {{subject}}', '--system', longSystem], '1'],
    ] as const;
    for (const [job, batchSize] of jobs) {
      const env = cliEnv(emu);
      const refused = await runCli([...job, '--max-cost', '0.000001', TICKETS], { env });
      expect(refused.code, refused.stderr).toBe(2);
      const named = Number(/Raise --max-cost above \$([\d.]+)/.exec(refused.stderr)?.[1]);
      if ((job as readonly string[]).includes('--system')) expect(refused.stderr).toMatch(/the prefix cached\), \$[\d.]+ if the cache is never hit \(what --max-cost counts\), at most/);
      // --dry-run says so too.
      expect((await runCli(['--dry-run', ...job, '--max-cost', '0.000001', TICKETS], { env })).stderr).toContain('over --max-cost $0.000001: the run would be refused before anything is sent');
      // Batches of four (or one), each checked against the cap as it goes.
      const cap = named * 1.005;
      const summary = join(mkdtempSync(join(tmpdir(), 'be-cap-')), 'summary.json');
      const run = await runCli([...job, ...fast, '--batch-size', batchSize, '--max-cost', String(cap), '--summary', summary, TICKETS], { env });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).not.toContain('budget_exceeded');
      expect(run.stderr).toContain('12 records: 12 enriched, 0 with _error');
      expect((JSON.parse(readFileSync(summary, 'utf8')) as { cost_usd: number }).cost_usd).toBeLessThanOrEqual(cap);
    }
  });

  it('does not refuse (FILE) or stop (stdin) a job that fits, though every answer using all of max_tokens would not', async () => {
    // 40 short rows, max_tokens 1,024: all of max_tokens would be about $0.10, the real cost is under $0.01.
    const dir = mkdtempSync(join(tmpdir(), 'be-budget-'));
    const rows = ['headline', ...Array.from({ length: 40 }, (_, i) => `Markets rally as rates fall on day ${i}`)].join('\n');
    writeFileSync(join(dir, 'news.csv'), `${rows}\n`);
    const args = ['--emulator', ...fast, '--max-cost', '0.02', '--prompt', 'Classify: {{headline}}', '--summary', join(dir, 'summary.json')];
    for (const input of [[join(dir, 'news.csv')], ['--input-format', 'csv']]) {
      const result = await runCli([...args, ...input], { stdin: `${rows}\n` });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.trim().split('\n')).toHaveLength(40);
      expect(result.stdout).not.toContain('budget_exceeded');
      const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { cost_usd: number };
      expect(summary.cost_usd).toBeLessThan(0.02);
    }
  });

  // A lost create's search goes on while the run's next groups go out (e099658): its group must count
  // against the cap meanwhile, as a batch in flight does (it may have been made, and billed).
  it('counts a lost create, while its batch is searched for, against the cap', async () => {
    const HOUR = 3_600_000;
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now, processingMs: HOUR });
    const rows = Array.from({ length: 8 }, (_, i) => ({ id: String(i), text: 'x'.repeat(200) }));
    const perBatch = await oneBatchEstimate(emu, rows.slice(0, 4));
    const started = t;
    let secondCreateAt: number | undefined;
    const proxy = await faultProxy(emu.url, (call) => {
      if (isCreate(call) && call.n === 1) secondCreateAt = t;
      return isCreate(call) && call.n === 0 ? 'lose' : 'pass';
    });
    const out = await enrich(emu, rows, { baseURL: proxy.url, clock, batchSize: 4, maxCostUsd: perBatch * 1.5, maxTokens: 64, pollMinMs: undefined, pollMaxMs: undefined });
    expect(out.slice(0, 4).every((r) => r['_error'] === undefined)).toBe(true);
    // The second group did not go out while the first could still be billed at its estimate: only once
    // the first had ended (an hour) and cost what it really did.
    expect(secondCreateAt === undefined || secondCreateAt - started >= HOUR).toBe(true);
  });

  // helper-68: the batches an earlier --no-wait try left running were counted only once the reader met
  // their records; a try whose new rows came first sent them out past the cap ($0.0456 against $0.04).
  it('counts from the start the batches an earlier try of the job left running, wherever their records are in the input', async () => {
    const HOUR = 3_600_000;
    let t = Date.now();
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const emu = await emulator({ responder: perRecord, now: clock.now, processingMs: HOUR });
    const rows = Array.from({ length: 16 }, (_, i) => ({ id: String(i), text: 'x'.repeat(200) }));
    const perBatch = await oneBatchEstimate(emu, rows.slice(0, 4));
    const creates: number[] = [];
    const proxy = await faultProxy(emu.url, (call) => {
      if (isCreate(call)) creates.push(t);
      return 'pass';
    });
    const common = { baseURL: proxy.url, ledger: tempLedger(), job: 'J', batchSize: 4, maxTokens: 64, clock, pollMinMs: undefined, pollMaxMs: undefined, maxCostUsd: perBatch * 2.5 };
    await expect(enrich(emu, rows.slice(8), { ...common, noWait: true })).rejects.toMatchObject({ code: 'BE_PENDING' });
    expect(creates).toHaveLength(2);
    const oldEnd = creates[1]! + HOUR;
    // The new rows first: with the two old batches in flight at their estimates, none of them fits yet.
    const out = await enrich(emu, rows, common);
    expect(out.slice(8).every((r) => r['_error'] === undefined)).toBe(true);
    expect(creates.slice(2).every((at) => at >= oldEnd)).toBe(true);
  });

  // helper-68: every answer cut at 4, 8, 16 tokens; each retry was estimated at 4 tokens of output.
  it("prices a truncated answer's retry at the max_tokens it asks for: retries stay within the cap", async () => {
    const emu = await emulator({});
    const dir = mkdtempSync(join(tmpdir(), 'be-retry-cost-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, `id,text\n${Array.from({ length: 200 }, (_, i) => `${i},row ${i}`).join('\n')}\n`);
    const summary = join(dir, 's.json');
    const result = await runCli(['--poll-min', '0.01', '--prompt', '{{id}}', '--max-tokens', '4', '--max-attempts', '5', '--max-cost', '0.02', '--summary', summary, input], { env: cliEnv(emu), timeoutMs: 60_000 });
    expect([0, 3], result.stderr).toContain(result.code);
    expect((JSON.parse(readFileSync(summary, 'utf8')) as { cost_usd: number }).cost_usd).toBeLessThanOrEqual(0.02);
  }, 70_000);

  it('mid-run, counts batches in flight (not billed yet) against the cap, and gives what was never sent budget_exceeded', async () => {
    // Every batch takes a while, so when later batches are due, the earlier ones are still in flight
    // and unbilled: a guard that looked only at the cost so far would submit all 5 at once. Two fit
    // the cap at their estimates; a third waits for them to settle, and goes if what they cost leaves
    // room. The answers (a few tokens) cost under their estimates (typical answers), but five
    // batches' cost would cross the cap.
    const emu = await emulator({ responder: perRecord, processingMs: 300 });
    const rows = Array.from({ length: 20 }, (_, i) => ({ id: String(i), text: 'x'.repeat(200) }));
    const perBatch = await oneBatchEstimate(emu, rows.slice(0, 4));
    const costs = newCostTotals();
    const out = await enrich(emu, rows, { batchSize: 4, maxInFlight: 10, maxCostUsd: perBatch * 2.5, costs, maxTokens: 64 });
    const created = emu.stats.calls['batches.create'] ?? 0;
    expect(created).toBeGreaterThanOrEqual(2);
    expect(created).toBeLessThan(5);
    expect(out.slice(0, created * 4).every((r) => r['_error'] === undefined)).toBe(true);
    expect(out.slice(created * 4).map((r) => (r['_error'] as { type: string }).type)).toEqual(Array(20 - created * 4).fill('budget_exceeded'));
    expect(costs.usd).toBeLessThanOrEqual(perBatch * 2.5);
    // What was spent, and the next batch at its estimate, would have crossed the cap.
    expect(costs.usd + perBatch).toBeGreaterThan(perBatch * 2.5);
  });
});

/** The CLI's environment against `emu`, with a ledger of its own. */
function cliEnv(emu: Awaited<ReturnType<typeof emulator>>): Record<string, string> {
  return { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(mkdtempSync(join(tmpdir(), 'be-cost-cli-')), 'l.db') };
}

describe('identical records share one request, in the estimate too', () => {
  it('--max-cost and --dry-run count a request once, however many records share it (a job of 1 request was refused as 1,000)', async () => {
    const emu = await emulator({});
    const env = cliEnv(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-cost-dupes-'));
    const input = join(dir, 'dupes.csv');
    writeFileSync(input, `id,subject,body\n${'x,Same subject,Same body\n'.repeat(1000)}y,Other,Another body\n`);
    // One record's typical cost is about $0.0003: 2 requests fit under $0.01, 1,001 would not.
    const dry = await runCli(['--dry-run', '--transform', 'ticket-triage', '--max-cost', '0.01', input], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.trim().split('\n')).toHaveLength(2);
    expect(dry.stderr).toMatch(/estimate: 2 requests \(for 1,001 records: 999 repeat one\) of about/);
    expect(dry.stderr).not.toContain('would be refused');
    const run = await runCli(['--transform', 'ticket-triage', ...fast, '--max-cost', '0.01', input], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/estimate: 2 requests \(for 1,001 records: 999 repeat one\)/);
    expect(run.stdout.trim().split('\n')).toHaveLength(1001);
    expect(emu.stats.requestsSubmitted).toBe(2);
    // Rerun: both are in the ledger, counted once each.
    const again = await runCli(['--transform', 'ticket-triage', ...fast, '--max-cost', '0.000001', input], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('estimate: nothing to pay for: all 2 requests are in the ledger already');
  });

  // helper-97: the repeats of a request the ledger held were counted among the records of those to send:
  // "3 requests (for 6 records: 3 repeat one)", where the three repeated one answered before.
  it('on a rerun, the repeats of a request in the ledger are not counted among the records of those to send', async () => {
    const emu = await emulator({});
    const env = cliEnv(emu);
    const dir = mkdtempSync(join(tmpdir(), 'be-cost-dupes-'));
    const input = join(dir, 'dupes.csv');
    writeFileSync(input, 'id,subject,body\na,A,a\nb,B,b\nc,C,c\nd,D,d\na,A,a\na,A,a\na,A,a\ne,E,e\ne,E,e\n');
    expect((await runCli(['--transform', 'ticket-triage', ...fast, '--limit', '2', input], { env })).code).toBe(0);
    const dry = await runCli(['--dry-run', '--transform', 'ticket-triage', input], { env });
    expect(dry.stdout.trim().split('\n')).toHaveLength(3);
    expect(dry.stderr).toMatch(/estimate: 3 requests \(for 4 records: 1 repeat one\) of about .*; 2 requests in the ledger already are not counted/);
    const capped = await runCli(['--transform', 'ticket-triage', '--max-cost', '0.000001', input], { env });
    expect(capped.code).toBe(2);
    expect(capped.stderr).toMatch(/estimate: 3 requests \(for 4 records: 1 repeat one\) of about .*; 2 requests in the ledger already are not counted: over --max-cost/);
  });
});

describe('--max-cost on a rerun', () => {
  it('counts only what is left to pay: a rerun of a finished job is not refused, and a half-finished one is estimated on its rest', async () => {
    const emu = await emulator({});
    const env = cliEnv(emu);
    const first = await runCli(['--transform', 'ticket-triage', ...fast, '--limit', '6', TICKETS], { env });
    expect(first.code, first.stderr).toBe(0);
    // The six answered rows cost nothing now: a cap far below the whole job's estimate lets the rerun run.
    const again = await runCli(['--transform', 'ticket-triage', ...fast, '--limit', '6', '--max-cost', '0.000001', TICKETS], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('estimate: nothing to pay for: all 6 requests are in the ledger already');
    expect(again.stdout).toBe(first.stdout);
    // The whole file: the six are left out of the estimate.
    const rest = await runCli(['--transform', 'ticket-triage', ...fast, '--max-cost', '0.000001', TICKETS], { env });
    expect(rest.code).toBe(2);
    expect(rest.stderr).toMatch(/estimate: 6 requests of about .*; 6 requests in the ledger already are not counted: over --max-cost/);
    expect(emu.stats.requestsSubmitted).toBe(6);
  });

  // helper-94 #4: the dry run priced and printed every request, those the ledger had answered too:
  // on a half-finished job it said twice what the rerun would pay, as --max-cost did not.
  it('--dry-run on a rerun shows and prices only what the run would send, and leaves a ledger it does not find unmade', async () => {
    const emu = await emulator({});
    const env = cliEnv(emu);
    const first = await runCli(['--transform', 'ticket-triage', ...fast, '--limit', '6', TICKETS], { env });
    expect(first.code, first.stderr).toBe(0);
    const rest = await runCli(['--dry-run', '--transform', 'ticket-triage', TICKETS], { env });
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stdout.trim().split('\n')).toHaveLength(6);
    expect(rest.stderr).toMatch(/estimate: 6 requests of about .*; 6 requests in the ledger already are not counted/);
    const done = await runCli(['--dry-run', '--transform', 'ticket-triage', '--limit', '6', TICKETS], { env });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe('');
    expect(done.stderr).toContain('estimate: nothing to pay for: all 6 requests are in the ledger already');
    expect(emu.stats.requestsSubmitted).toBe(6);
    // --emulator with a ledger file of its own, as the run finds them.
    const ledger = join(mkdtempSync(join(tmpdir(), 'be-cost-dry-')), 'l.db');
    const emulated = await runCli(['--emulator', '--ledger', ledger, '--transform', 'ticket-triage', ...fast, '--limit', '3', TICKETS]);
    expect(emulated.code, emulated.stderr).toBe(0);
    const emulatedDry = await runCli(['--dry-run', '--emulator', '--ledger', ledger, '--transform', 'ticket-triage', TICKETS]);
    expect(emulatedDry.stdout.trim().split('\n')).toHaveLength(9);
    expect(emulatedDry.stderr).toMatch(/; 3 requests in the ledger already are not counted/);
    // A ledger that is not there is not made by a dry run.
    const none = join(mkdtempSync(join(tmpdir(), 'be-cost-dry-')), 'none.db');
    const fresh = await runCli(['--dry-run', '--transform', 'ticket-triage', TICKETS], { env: { ...env, BATCH_ENRICH_LEDGER: none } });
    expect(fresh.stdout.trim().split('\n')).toHaveLength(12);
    expect(existsSync(none)).toBe(false);
  });

  // helper-97: a dry run opened a PostgreSQL ledger as a run does, which made the ledger's tables in
  // the database it named, where no run had made them.
  it.skipIf(!postgres.url)('--dry-run leaves a PostgreSQL database no run made a ledger in without one, and reads one a run made', async () => {
    const emu = await emulator({});
    const url = await freshDatabase();
    const env = { ...cliEnv(emu), BATCH_ENRICH_LEDGER: url };
    const tables = async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema()")).rows[0].n as number;
      } finally {
        await client.end();
      }
    };
    const fresh = await runCli(['--dry-run', '--transform', 'ticket-triage', TICKETS], { env });
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout.trim().split('\n')).toHaveLength(12);
    expect(await tables()).toBe(0);
    const first = await runCli(['--transform', 'ticket-triage', ...fast, '--limit', '6', TICKETS], { env });
    expect(first.code, first.stderr).toBe(0);
    const rest = await runCli(['--dry-run', '--transform', 'ticket-triage', TICKETS], { env });
    expect(rest.stdout.trim().split('\n')).toHaveLength(6);
    expect(rest.stderr).toMatch(/; 6 requests in the ledger already are not counted/);
  });

  // helper-97: a dry run opened the ledger as a run does, which migrated one of an older version in
  // place: that version's own runs (a scheduler's) could then no longer open it ("written by a newer
  // batch-enrich").
  it('--dry-run leaves a ledger of an older schema as it is, and says its requests are counted too', async () => {
    const emu = await emulator({});
    const env = cliEnv(emu);
    // The tables of a ledger written by batch-enrich 0.1.0 (schema 4), as that release created them.
    const db = new Database(env['BATCH_ENRICH_LEDGER']!);
    db.exec(SCHEMA_4);
    db.close();
    const dry = await runCli(['--dry-run', '--transform', 'ticket-triage', TICKETS], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.trim().split('\n')).toHaveLength(12);
    expect(dry.stderr).toContain(`the ledger ${env['BATCH_ENRICH_LEDGER']} is of an older version of batch-enrich, which a dry run does not migrate (a run does); so the requests it holds are shown and counted too`);
    const after = new Database(env['BATCH_ENRICH_LEDGER']!, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(4);
    after.close();
  });

  // helper-93 #7: the high end counted a contract's answer at the recipe's 8,192 tokens for documents,
  // and the line said "every answer using all 800 max_tokens".
  it('the high end names each limit it counts: the rows\' max_tokens and the one for records with documents', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-cost-limits-'));
    writeFileSync(join(dir, 'a.pdf'), readFileSync(join(ROOT, 'fixtures', 'documents', 'contract.pdf')));
    const input = join(dir, 'mixed.ndjson');
    writeFileSync(input, '{"id":1,"file":"a.pdf"}\n{"id":2,"clause":"Liability is capped at 12 months of fees."}\n');
    const mixed = await runCli(['--dry-run', '--transform', 'contract-clauses', '--attach', 'file', '--allow-missing', input]);
    expect(mixed.code, mixed.stderr).toBe(0);
    expect(mixed.stderr).toMatch(/every answer using all of its max_tokens: 800, and 8,192 for the 1 request with documents, nothing cached/);
    writeFileSync(input, '{"id":1,"file":"a.pdf"}\n');
    const documents = await runCli(['--dry-run', '--transform', 'contract-clauses', '--attach', 'file', input]);
    expect(documents.stderr).toMatch(/every answer using all 8,192 max_tokens, nothing cached/);
    writeFileSync(input, '{"id":2,"clause":"Liability is capped at 12 months of fees."}\n');
    const rows = await runCli(['--dry-run', '--transform', 'contract-clauses', '--attach', 'file', '--allow-missing', input]);
    expect(rows.stderr).toMatch(/every answer using all 800 max_tokens, nothing cached/);
  });

  // helper-70: the raised max_tokens of a cut-off answer's retry was priced only when the retry was
  // sent back in the same run; a rerun that found it pending priced it at the job's --max-tokens.
  it("prices a cut-off answer's retry that a stopped run left pending at the max_tokens it asks for: the rerun stays within its cap", async () => {
    const long = ({ params }: { params: Record<string, unknown> }) => ({ json: { label: `label-${idOf(params)}-${'x'.repeat(120)}`, n: 1 } });
    const emu = await emulator({ responder: long });
    const ledger = tempLedger();
    const input = Array.from({ length: 40 }, (_, i) => ({ id: String(i), text: `text ${i}` }));
    const common = { ledger, job: 'J', maxTokens: 4, maxAttempts: 6, batchSize: 100, flushAfterMs: 20 };
    // Run 1: answers (about 37 tokens) cut at 4, 8, 16, 32 tokens; stopped once the retries at 64 are pending.
    const controller = new AbortController();
    let requeues = 0;
    const stop = (e: BatchEvent) => e.type === 'requeued' && ++requeues === 4 && controller.abort();
    await expect(enrich(emu, input, { ...common, signal: controller.signal, onEvent: stop })).rejects.toMatchObject({ code: 'BE_ABORTED' });
    // The rerun: 40 retries at max_tokens 64, priced as answers of 4 tokens ($0.0019), went out under
    // a cap of $0.003, and their answers cost $0.0038.
    // Priced at 64 tokens an answer, they do not fit: not sent again, and each record says why.
    const costs = newCostTotals();
    const out = await enrich(emu, input, { ...common, maxCostUsd: 0.003, costs });
    expect(costs.usd).toBeLessThanOrEqual(0.003);
    expect(out.map((r) => r['id'])).toEqual(input.map((r) => r.id));
    for (const r of out) expect(r['_error']).toMatchObject({ type: 'budget_exceeded', message: expect.stringMatching(/^<stdin>:\d+: not submitted again: .*its last attempt ended in truncated/) });
  }, 60_000);

  // helper-74: a --sample that happened to pick only rows that cannot be sent (a .docx, an encrypted
  // PDF) projected "$0.0000 per row, so about $0.0000 for the whole input" for a job that pays.
  it('--sample whose rows all failed before being sent projects nothing, and says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-cost-sample-'));
    const input = join(dir, 'in.ndjson');
    writeFileSync(input, ['{"id":1,"file":"missing-1.pdf"}', '{"id":2,"text":"a"}', '{"id":3,"file":"missing-2.pdf"}', '{"id":4,"text":"b"}'].join('\n') + '\n');
    const sample = await runCli(['--emulator', '--ledger', join(dir, 'l.db'), '--prompt', 'Say {{id}}', '--attach', 'file', '--allow-missing', ...fast, '--sample', '2', input]);
    expect(sample.stderr).toMatch(/sample of 2 of 4 rows: .*; no sampled row was sent \(each failed before sending: its _error says why\), so there is no cost to project: sample more rows/);
    expect(sample.stderr).not.toMatch(/\$0\.0000 for the whole input/);
  });

  // helper-72: with --emulator the check before paying never looked at the ledger: a finished job's
  // rerun was refused ("12 requests … over --max-cost"), and --sample projected $0.0000 a row.
  it('with --emulator and --ledger FILE too: a rerun of a finished job is not refused, and --sample says the rows were answered before', async () => {
    const ledger = join(mkdtempSync(join(tmpdir(), 'be-cost-emu-')), 'l.db');
    const args = ['--emulator', '--ledger', ledger, '--transform', 'ticket-triage', ...fast];
    const first = await runCli([...args, TICKETS]);
    expect(first.code, first.stderr).toBe(0);
    const again = await runCli([...args, '--max-cost', '0.000001', TICKETS]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('estimate: nothing to pay for: all 12 requests are in the ledger already');
    expect(again.stdout).toBe(first.stdout);
    const sample = await runCli([...args, '--sample', '3', TICKETS]);
    expect(sample.code, sample.stderr).toBe(0);
    expect(sample.stderr).toMatch(/every sampled row was answered before/);
    // helper-73: requests in a batch of an earlier run's --emulator (gone with that run: its batch is
    // released, and they are sent again) were counted as paid by the check, and refused only batch by batch.
    const db = new Database(ledger);
    db.exec(`UPDATE batches SET state = 'in_progress'; ${FORGET_ANSWERS}`);
    db.close();
    const killed = await runCli([...args, '--max-cost', '0.000001', TICKETS]);
    expect(killed.code, killed.stderr).toBe(2);
    // Raising --max-cost fixes it, not --help (helper-72: the hint followed every usage error).
    expect(killed.stderr).not.toContain("Try 'batch-enrich --help'");
    expect(killed.stderr).toMatch(/12 requests will be submitted again: it was made by an earlier run's --emulator[\s\S]*estimate: 12 requests of about .*: over --max-cost/);
  });

  it('counts a request whose stored answer is a transient failure (expired): the rerun sends it again, and pays', async () => {
    const emu = await emulator({ expiredRate: 1 });
    const env = cliEnv(emu);
    const first = await runCli(['--transform', 'ticket-triage', ...fast, '--limit', '3', '--max-attempts', '1', TICKETS], { env });
    expect(first.code).toBe(3); // every answer expired
    const again = await runCli(['--transform', 'ticket-triage', ...fast, '--limit', '3', '--max-cost', '0.000001', TICKETS], { env });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/estimate: 3 requests of about .*: over --max-cost/);
  });
});

describe('--sample', () => {
  it('runs N rows picked evenly as one batch, reports the shares and projects the cost of the whole input', async () => {
    const emu = await emulator({});
    const env = cliEnv(emu);
    const ok = await runCli(['--transform', 'ticket-triage', ...fast, '--sample', '4', TICKETS], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim().split('\n').map((line) => JSON.parse(line).ticket_id)).toEqual(['T-1001', 'T-1004', 'T-1007', 'T-1010']);
    expect(emu.stats.calls['batches.create']).toBe(1);
    expect(emu.stats.requestsSubmitted).toBe(4);
    const report = /sample of 4 of 12 rows: 100% valid, 0% truncated, 0% not matching the schema, 0% failed otherwise; \$([\d.]+) per row, so about \$([\d.]+) for the whole input/.exec(ok.stderr);
    expect(report, ok.stderr).not.toBeNull();
    expect(Number(report?.[2])).toBeCloseTo(Number(report?.[1]) * 12, 4);

    // A larger sample takes some rows already answered: they cost nothing now, and are left out of the price per row.
    const before = emu.stats.requestsSubmitted;
    const more = await runCli(['--transform', 'ticket-triage', ...fast, '--sample', '6', TICKETS], { env });
    expect(more.code, more.stderr).toBe(0);
    const paid = emu.stats.requestsSubmitted - before;
    expect(paid).toBeGreaterThan(0);
    expect(paid).toBeLessThan(6);
    const cost = Number(/cost \$([\d.]+) at batch prices/.exec(more.stderr)?.[1]);
    const perRow = Number(/\$([\d.]+) per row/.exec(more.stderr)?.[1]);
    expect(perRow, more.stderr).toBeCloseTo(cost / paid, 5);
    expect(more.stderr).toContain(`priced from the ${paid} sent now (${6 - paid} were answered before)`);

    // A max_tokens too small for the answers: the trial shows it before anything else is paid for.
    const cut = await runCli(['--transform', 'ticket-triage', ...fast, '--sample', '4', '--max-tokens', '3', '--max-attempts', '1', TICKETS], { env });
    expect(cut.code).toBe(3);
    expect(cut.stderr).toMatch(/sample of 4 of 12 rows: 0% valid, 100% truncated/);
  });

  it('needs a file (rows are picked across the whole input)', async () => {
    const result = await runCli(['--emulator', '--transform', 'ticket-triage', '--sample', '3', '-'], { stdin: 'subject,body\na,b\n' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--sample needs a FILE/);
  });
});

// helper-80: a sample of one row from the ledger and one invalid row said every row "failed before sending".
describe('sampleReport', () => {
  const summary = (ok: number, failed: Record<string, number>) =>
    ({ records_ok: ok, records_failed: Object.values(failed).reduce((a, b) => a + b, 0), failed_by_type: failed, cost_usd: 0, mode: 'batch' }) as unknown as Parameters<typeof sampleReport>[0];
  it('rows answered before and rows that failed before sending: both said, none taken for the other', () => {
    expect(sampleReport(summary(1, { invalid_input: 1 }), 10, 1)).toMatch(
      /; no sampled row was sent now \(1 was answered before, from the ledger; 1 failed before sending: its _error says why\), so there is no cost to project: sample more rows$/,
    );
    expect(sampleReport(summary(0, { invalid_input: 2 }), 10, 0)).toMatch(/; no sampled row was sent \(each failed before sending: its _error says why\), so there is no cost to project: sample more rows$/);
    // An empty prompt and a failed upload are never sent either.
    expect(sampleReport(summary(0, { empty_prompt: 1, upload_failed: 1 }), 10, 0)).toMatch(/; no sampled row was sent \(each failed before sending/);
  });
});

describe('--shard K/N before the run', () => {
  it("--dry-run shows and --max-cost checks only this worker's records, as the run takes them", async () => {
    const dry = await runCli(['--dry-run', '--transform', 'ticket-triage', '--shard', '1/4', TICKETS]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.trim().split('\n')).toHaveLength(3);
    expect(dry.stderr).toContain('estimate: 3 requests');
    // The whole file is over the cap (about $0.004); this worker's one row (about $0.0003) is not.
    const whole = await runCli(['--emulator', ...fast, '--transform', 'ticket-triage', '--max-cost', '0.001', TICKETS]);
    expect(whole.code).toBe(2);
    const mine = await runCli(['--emulator', ...fast, '--transform', 'ticket-triage', '--max-cost', '0.001', '--shard', '1/12', TICKETS]);
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stderr).toContain('estimate: 1 request');
    expect(mine.stdout.trim().split('\n')).toHaveLength(1);
    // With --sample, the rows are sampled within this worker's shard, as the run does: its 4 rows (of
    // 12) are priced, and a cap under them is refused before the run.
    const sampled = await runCli(['--emulator', ...fast, '--transform', 'ticket-triage', '--sample', '4', '--shard', '2/3', '--max-cost', '0.00001', TICKETS]);
    expect(sampled.code, sampled.stderr).toBe(2);
    expect(sampled.stderr).toContain('estimate: 4 requests');
  });

  it('--sample N picks its rows evenly among the rows of this worker\'s shard, not across the whole file, and projects the shard\'s cost', async () => {
    // Shard 2/3 of the 12 tickets: T-1002, T-1005, T-1008, T-1011; two picked evenly: the 1st and the 3rd.
    const result = await runCli(['--emulator', ...fast, '--transform', 'ticket-triage', '--sample', '2', '--shard', '2/3', TICKETS]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n').map((line) => JSON.parse(line).ticket_id)).toEqual(['T-1002', 'T-1008']);
    expect(result.stderr).toMatch(/sample of 2 of 4 rows \(shard 2\/3\): .* for the whole shard at batch prices/);
  });

  it('--mode auto counts the rows of this worker\'s shard: a shard of at most 100 rows goes through real time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-shard-'));
    const input = join(dir, 'in.csv');
    writeFileSync(input, `text\n${Array.from({ length: 150 }, (_, i) => `row ${i}`).join('\n')}\n`);
    const summary = join(dir, 'summary.json');
    const result = await runCli(['--emulator', ...fast, '--quiet', '--prompt', 'Say {{text}}', '--mode', 'auto', '--shard', '1/2', '--summary', summary, input]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(75);
    expect(JSON.parse(readFileSync(summary, 'utf8'))).toMatchObject({ mode: 'realtime', records_ok: 75 });
  });
});

describe('a FILE that can be read once (a named pipe, <(…), /dev/stdin)', () => {
  // A pass before the run (the --max-cost estimate, --sample's count, --mode auto's) read the pipe
  // dry: the run found nothing, wrote no record and exited 0 (or, on a named pipe, waited forever).
  const tickets = readFileSync(TICKETS, 'utf8');
  /** A named pipe that gives `text` once, to its first reader. */
  function pipeOf(text: string): string {
    const path = join(mkdtempSync(join(tmpdir(), 'be-fifo-')), 'tickets.csv');
    execFileSync('mkfifo', [path]);
    const writer = spawn('sh', ['-c', 'cat > "$0"', path], { stdio: ['pipe', 'ignore', 'ignore'] });
    writer.stdin.end(text);
    return path;
  }

  it('--max-cost and --mode auto: every record comes out; the cap applies as batches go, as for stdin', async () => {
    for (const flags of [['--max-cost', '5'], ['--mode', 'auto']]) {
      const input = pipeOf(tickets);
      const result = await runCli(['--emulator', ...fast, '--transform', 'ticket-triage', ...flags, input], { timeoutMs: 20_000 });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.trim().split('\n'), flags.join(' ')).toHaveLength(12);
      if (flags[0] === '--max-cost') expect(result.stderr).toContain(`--max-cost: ${input} (not a regular file) cannot be estimated before it is read; the cap applies as batches are submitted`);
    }
  });

  it('--sample is a usage error, before anything is sent', async () => {
    const input = pipeOf(tickets);
    const result = await runCli(['--emulator', '--transform', 'ticket-triage', '--sample', '3', input], { timeoutMs: 20_000 });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`--sample needs a FILE it can read twice (rows are picked evenly across the whole input): ${input} is not a regular file (a pipe?); write the input to a file first`);
    expect(result.stdout).toBe('');
  });
});

/** What the guard estimates for one batch of these rows (its high end), found by capping just above it. */
async function oneBatchEstimate(emu: Awaited<ReturnType<typeof emulator>>, rows: Record<string, unknown>[]): Promise<number> {
  const events: { projectedUsd: number }[] = [];
  await enrich(emu, rows, { batchSize: 4, maxCostUsd: 1e-9, maxTokens: 64, onEvent: (e) => e.type === 'budget' && events.push(e) });
  const projected = events[0]?.projectedUsd;
  expect(projected).toBeGreaterThan(0);
  // Sanity: the high estimate is above what such a batch really costs (answers are far below max_tokens).
  const realistic = costOf({ input_tokens: 100, output_tokens: 64 }, 'claude-haiku-4-5', { mode: 'batch', table: DEFAULT_PRICES }).usd ?? 0;
  expect(projected).toBeGreaterThan(realistic);
  return projected ?? 0;
}
