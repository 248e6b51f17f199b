/**
 * Workers on several machines, as a scheduler runs them: three CLI processes, each in a temporary
 * directory of its own, run the same 3,000-row job on one PostgreSQL ledger at the same time, each
 * SIGKILLed twice at pseudo-random points (with lost and slow creates), then run to the end. Every
 * worker must write the whole output, in order, as an uninterrupted run would, and the API must have
 * received each request exactly once. With `--shard K/3`, each writes its third, and together every row.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EmulatorHandle, EmulatorOptions } from '../../src/emulator/index.ts';
import { BIN, runCli } from '../helpers/cli.ts';
import { emulator as startEmulatorFor } from '../helpers/pipeline.ts';
import { freshSchema, postgres } from '../helpers/postgres.ts';

const ROWS = 3_000;
/** An emulator for this test's key, closed after each test (the pipeline helper's). */
const emulator = (options: EmulatorOptions) => startEmulatorFor({ apiKey: 'sk-workers-test', ...options });

/** A worker's own directory, with its copy of the input (the same file name: the same job). */
function workerDir(): { dir: string; input: string } {
  const dir = mkdtempSync(join(tmpdir(), 'be-worker-'));
  const input = join(dir, 'tickets.csv');
  writeFileSync(input, `id,text\n${Array.from({ length: ROWS }, (_, i) => `${i},"ticket ${i}: the export fails (${'x'.repeat(i % 30)})"`).join('\n')}\n`);
  writeFileSync(join(dir, 'schema.json'), JSON.stringify({ type: 'object', properties: { label: { type: 'string', enum: ['bug', 'billing', 'other'] } }, required: ['label'] }));
  return { dir, input };
}

const argsIn = ({ dir, input }: { dir: string; input: string }, extra: string[] = []) => [
  '--prompt',
  'Triage: {{text}}',
  '--schema',
  join(dir, 'schema.json'),
  '--poll-min',
  '0.02',
  '--poll-max',
  '0.2',
  '--batch-size',
  '100',
  '--flush-after',
  '0.05',
  '--max-in-flight',
  '4',
  ...extra,
  input,
];

const env = (emu: EmulatorHandle, ledger: string) => ({ ANTHROPIC_API_KEY: 'sk-workers-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: ledger });

/** How many times each request key reached the API (custom_id = 6-character nonce, '_', key). */
function perKey(emu: EmulatorHandle): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [customId, n] of emu.submittedCustomIds()) counts.set(customId.slice(7), (counts.get(customId.slice(7)) ?? 0) + n);
  return counts;
}

/** Runs a worker, SIGKILLed once the API has seen `afterCreates` more creates (or when it ends first). */
function killedAfter(args: string[], environment: Record<string, string>, emu: EmulatorHandle, afterCreates: number): Promise<void> {
  const before = emu.stats.calls['batches.create'];
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir(), ...environment }, stdio: ['ignore', 'ignore', 'ignore'] });
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (emu.stats.calls['batches.create'] - before >= afterCreates) child.kill('SIGKILL');
    }, 3);
    child.on('close', () => {
      clearInterval(timer);
      resolve();
    });
  });
}

describe.skipIf(!postgres.url)('three workers on one PostgreSQL ledger, with SIGKILLs', () => {
  it('each writes the whole 3,000-row output in order; no request is paid twice', async () => {
    const seed = 5;
    const reference = await runCli(argsIn(workerDir()), { env: env(await emulator({ seed }), join(mkdtempSync(join(tmpdir(), 'be-ref-')), 'ledger.db')), timeoutMs: 120_000 });
    expect(reference.code, reference.stderr).toBe(0);
    expect(reference.stdout.trim().split('\n')).toHaveLength(ROWS);

    const emu = await emulator({ seed, lostCreateRate: 0.2, createLatencyMs: 60, processingMs: 200 });
    const ledger = await freshSchema();
    let state = seed * 7919;
    const random = () => (state = (state * 48271) % 2147483647) / 2147483647;
    const outputs = await Promise.all(
      [0, 1, 2].map(async (w) => {
        const args = argsIn(workerDir());
        for (let kill = 0; kill < 2; kill++) await killedAfter(args, env(emu, ledger), emu, 1 + Math.floor(random() * 5));
        const last = await runCli(args, { env: env(emu, ledger), timeoutMs: 150_000 });
        expect(last.code, `worker ${w}: ${last.stderr}`).toBe(0);
        return last.stdout;
      }),
    );
    for (const out of outputs) expect(out).toBe(reference.stdout);
    const counts = perKey(emu);
    expect(counts.size).toBe(ROWS);
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
  }, 240_000);

  it('with --shard K/3, each writes every third row; together every row once, none paid twice', async () => {
    const emu = await emulator({ seed: 6, processingMs: 100 });
    const ledger = await freshSchema();
    const outputs = await Promise.all(
      [1, 2, 3].map(async (k) => {
        const result = await runCli(argsIn(workerDir(), ['--shard', `${k}/3`, '--output-format', 'ndjson']), { env: env(emu, ledger), timeoutMs: 120_000 });
        expect(result.code, result.stderr).toBe(0);
        return result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; label?: string });
      }),
    );
    outputs.forEach((rows, k) => expect(rows.map((r) => Number(r.id))).toEqual(Array.from({ length: ROWS }, (_, i) => i).filter((i) => i % 3 === k)));
    expect(outputs.flat().every((r) => typeof r.label === 'string')).toBe(true);
    expect([...perKey(emu).values()].filter((n) => n !== 1)).toEqual([]);
    expect(perKey(emu).size).toBe(ROWS);
  }, 180_000);
});
