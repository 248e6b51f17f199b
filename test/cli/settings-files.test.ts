/**
 * What a user writes for a run (a prompt, a system prompt, a schema) in files made on Windows or with
 * a mistake a glance misses (helper-80): read as written, or refused with the file and the problem,
 * never sent as garbage to every row. Runs the built binary (`--dry-run` prints the requests).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';

const CSV = 'id,text\n1,hello\n2,world\n';

function folder(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'be-settings-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/** The params of each request a dry run prints. */
async function dryRun(dir: string, args: string[]): Promise<{ code: number | null; stderr: string; params: Record<string, unknown>[] }> {
  const result = await runCli(['--dry-run', ...args, 'in.csv'], { cwd: dir });
  const params = result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { params: Record<string, unknown> }).params);
  return { code: result.code, stderr: result.stderr, params };
}

const firstText = (params: Record<string, unknown>) => ((params['messages'] as { content: string }[])[0]!).content;

describe('prompt, system and schema files written on Windows', () => {
  it('a UTF-8 byte order mark is not sent (prompt, system) and does not break a schema', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const schema = JSON.stringify({ type: 'object', properties: { label: { type: 'string' } }, required: ['label'] });
    const dir = folder({ 'in.csv': CSV, 'p.txt': Buffer.concat([bom, Buffer.from('Classify this:\r\n{{text}}\r\n')]), 's.txt': Buffer.concat([bom, Buffer.from('You sort tickets.')]), 'schema.json': Buffer.concat([bom, Buffer.from(schema)]) });
    const { code, stderr, params } = await dryRun(dir, ['--prompt-file', 'p.txt', '--system-file', 's.txt', '--schema', 'schema.json']);
    expect(code, stderr).toBe(0);
    expect(params.map(firstText)).toEqual(['Classify this:\r\nhello\r\n', 'Classify this:\r\nworld\r\n']);
    expect(JSON.stringify(params[0]!['system'])).toContain('"text":"You sort tickets."');
  });

  it('UTF-16 (as PowerShell writes it, with or without its mark) is read as the text it is', async () => {
    const text = 'Classify this: {{text}}';
    for (const bytes of [Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), Buffer.from(text, 'utf16le'), Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()])]) {
      const dir = folder({ 'in.csv': CSV, 'p.txt': bytes });
      const { code, stderr, params } = await dryRun(dir, ['--prompt-file', 'p.txt']);
      expect(code, stderr).toBe(0);
      expect(params.map(firstText)).toEqual(['Classify this: hello', 'Classify this: world']);
    }
  });

  it('a file that is not UTF-8 is a usage error naming it, its line and the byte', async () => {
    const dir = folder({ 'in.csv': CSV, 'p.txt': Buffer.from('Classify\nthe caf\xe9 ticket: {{text}}', 'latin1') });
    const result = await runCli(['--dry-run', '--prompt-file', 'p.txt', 'in.csv'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^batch-enrich: --prompt-file p\.txt:2: not UTF-8 \(the byte 0xe9\); save it as UTF-8/);
  });
});

describe('a prompt that names no field of a table', () => {
  it('is a usage error: every row would be sent one request and get its answer', async () => {
    const dir = folder({ 'in.csv': CSV });
    const single = await runCli(['--dry-run', '--prompt', 'Classify: {text}', 'in.csv'], { cwd: dir });
    expect(single.code).toBe(2);
    expect(single.stdout).toBe('');
    expect(single.stderr).toContain('the prompt names no field of the records, so every record would be sent the same request and get the same answer; fields are written {{name}} (did you mean {{text}}?)');
    const none = await runCli(['--dry-run', '--prompt', 'Say hello', 'in.csv'], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('the prompt names no field of the records');
    expect(none.stderr).not.toContain('did you mean');
  });

  it('is fine for documents, which differ by their files', async () => {
    const result = await runCli(['--dry-run', '--prompt', 'Summarise this', 'fixtures/documents/contract.pdf']);
    expect(result.code, result.stderr).toBe(0);
  });
});
