/**
 * Checks before paying, through the built CLI against an emulator started here: each job-level
 * problem stops with exit 2 before any batch is created (the emulator's create counter stays 0);
 * records that cannot be sent come out with `_error` and are never submitted.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../src/emulator/index.ts';
import { runCli } from '../helpers/cli.ts';

const fast = ['--poll-min', '0.01', '--mode', 'batch'];
let emulators: EmulatorHandle[] = [];
afterEach(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
});

async function setup(csv: string): Promise<{ emu: EmulatorHandle; env: Record<string, string>; file: string; dir: string }> {
  const emu = await startEmulator();
  emulators.push(emu);
  const dir = mkdtempSync(join(tmpdir(), 'be-preflight-'));
  const file = join(dir, 'in.csv');
  writeFileSync(file, csv);
  return { emu, dir, file, env: { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: emu.url, BATCH_ENRICH_LEDGER: join(dir, 'ledger.db') } };
}

const CSV = 'id,text\n1,hello\n2,world\n';

describe('job-level preflight: usage error (exit 2), nothing created', () => {
  // `lookups`: GET /v1/models/{id} calls: only for a model the registry does not know.
  const cases: Array<{ description: string; args: (dir: string) => string[]; message: RegExp; lookups?: number }> = [
    { description: 'a typo in the model (looked up online: 404)', args: () => ['--model', 'claude-haiku-45'], message: /unknown model claude-haiku-45/, lookups: 1 },
    { description: 'a retired model', args: () => ['--model', 'claude-opus-4-1'], message: /model claude-opus-4-1 is retired/ },
    { description: 'max_tokens over the model limit', args: () => ['--model', 'claude-haiku-4-5', '--max-tokens', '100000'], message: /max_tokens 100000 \(--max-tokens; the library's maxTokens\) is over claude-haiku-4-5's output limit of 64,000/ },
    // helper-93 #8: a recipe's limit for records with documents was named as --max-tokens, which the user had not given.
    {
      description: "a recipe's documentMaxTokens over the model limit",
      args: (dir) => {
        const recipe = join(dir, 'recipe.mjs');
        writeFileSync(recipe, "export default { prompt: 'Say {{text}}', model: 'claude-haiku-4-5', maxTokens: 400, documentMaxTokens: 100000 };\n");
        return ['--transform', recipe];
      },
      message: /max_tokens 100000 for records with documents \(the recipe's documentMaxTokens\) is over claude-haiku-4-5's output limit of 64,000/,
    },
    {
      description: 'a recursive schema',
      args: (dir) => {
        const schema = join(dir, 'recursive.json');
        writeFileSync(schema, JSON.stringify({ type: 'object', properties: { node: { $ref: '#/$defs/node' } }, required: ['node'], $defs: { node: { type: 'object', properties: { next: { $ref: '#/$defs/node' } } } } }));
        return ['--schema', schema];
      },
      message: /structured outputs refuse the answer schema.*Recursive schemas are not supported/,
    },
    {
      description: 'a schema with 25 optional properties',
      args: (dir) => {
        const schema = join(dir, 'wide.json');
        writeFileSync(schema, JSON.stringify({ type: 'object', properties: Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`f${i}`, { type: 'string' }])) }));
        return ['--schema', schema];
      },
      message: /too many optional parameters \(25; the limit is 24\)/,
    },
  ];
  for (const t of cases) {
    it(t.description, async () => {
      const { emu, env, file, dir } = await setup(CSV);
      const r = await runCli(['--prompt', 'Say {{text}}', ...fast, ...t.args(dir), file], { env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(t.message);
      expect(r.stdout).toBe('');
      expect(emu.stats.calls['batches.create']).toBe(0);
      expect(emu.stats.calls['messages.create']).toBe(0);
      expect(emu.stats.calls['models.retrieve']).toBe(t.lookups ?? 0);
    });
  }

  it('a model unknown to the registry is refused offline too (--dry-run: no network)', async () => {
    const { emu, env, file } = await setup(CSV);
    const r = await runCli(['--prompt', 'Say {{text}}', '--model', 'claude-haiku-45', '--dry-run', file], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown model claude-haiku-45/);
    expect(emu.stats.calls['models.retrieve']).toBe(0);
  });
});

describe('record-level preflight: _error, never sent', () => {
  it('an empty or whitespace-only cell → empty_prompt; a prompt over the context window → prompt_too_long', async () => {
    const huge = 'x'.repeat(900_000); // ~225K tokens, over Haiku 4.5's 200K window
    const { emu, env, file } = await setup(`id,text\n1,hello\n2,\n3,"   "\n4,${huge}\n5,world\n`);
    const r = await runCli(['--prompt', '{{text}}', '--model', 'claude-haiku-4-5', '--output-format', 'ndjson', ...fast, file], { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(3);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; _error?: { type: string; message: string } });
    expect(out.map((o) => o.id)).toEqual(['1', '2', '3', '4', '5']);
    expect(out[1]?._error?.type).toBe('empty_prompt');
    expect(out[1]?._error?.message).toMatch(/in\.csv:3: the rendered prompt is empty/);
    expect(out[2]?._error?.type).toBe('empty_prompt');
    expect(out[3]?._error?.type).toBe('prompt_too_long');
    expect(out[3]?._error?.message).toMatch(/context window of 200,000/);
    expect(out[0]?._error).toBeUndefined();
    expect(out[4]?._error).toBeUndefined();
    expect(emu.stats.requestsSubmitted).toBe(2);
  });
});

// helper-98: at 4 characters a token, a row of 300,000 Chinese characters (about 300K tokens) was
// counted 75,000, sent, and the API refused it (over 200K) after the user waited a whole batch.
describe('a row of CJK text over the context window', () => {
  it('is refused before paying, naming its line; an English row of as many characters is sent (--emulator)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-preflight-'));
    const file = join(dir, 'in.csv');
    const length = 300_000;
    writeFileSync(file, `id,text\n1,${'中文日本語한국어テキ'.repeat(length / 10)}\n2,${'plain text'.repeat(length / 10)}\n`);
    const r = await runCli(['--emulator', '--prompt', '{{text}}', '--model', 'claude-haiku-4-5', '--output-format', 'ndjson', ...fast, '--ledger', join(dir, 'l.db'), file], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(3);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; _error?: { type: string; message: string } });
    expect(out.map((o) => o.id)).toEqual(['1', '2']);
    expect(out[0]?._error).toEqual({ type: 'prompt_too_long', message: `${file}:2: the prompt is about 300,000 tokens, over claude-haiku-4-5's context window of 200,000` });
    expect(out[1]?._error).toBeUndefined();
    // Only the English row went in a batch.
    expect(r.stderr).toMatch(/submitted: 1 request\b/);
  });
});

describe('a system prompt below the cache minimum', () => {
  it('gets a one-line notice, and the estimate does not count on caching', async () => {
    const { env, file } = await setup(CSV);
    const r = await runCli(['--prompt', 'Say {{text}}', '--system', 'You are terse.', '--model', 'claude-haiku-4-5', '--dry-run', file], { env });
    expect(r.code, r.stderr).toBe(0);
    const notices = r.stderr.split('\n').filter((l) => /caching will not apply/.test(l));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/below claude-haiku-4-5's minimum cacheable prompt of 4,?096/);
    expect(r.stderr).not.toMatch(/cacheable prefix/);
  });

  it('a long enough system prompt gets no notice and is counted as cached', async () => {
    const { env, file } = await setup(CSV);
    const r = await runCli(['--prompt', 'Say {{text}}', '--system', 'S'.repeat(4 * 4200), '--model', 'claude-haiku-4-5', '--dry-run', file], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/caching will not apply/);
    expect(r.stderr).toMatch(/cacheable prefix/);
  });
});
