/** Spawns the built CLI (the bin's bundle, `dist/cli/main.js`, built by `npm test` before vitest runs). */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'dist', 'cli', 'main.js');
export const CASES_DIR = join(ROOT, 'fixtures', 'cli');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  stdin?: string | Buffer;
  /** Added to a clean environment (PATH, a temporary HOME and ledger); no API key unless given. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const home = mkdtempSync(join(tmpdir(), 'be-home-'));
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: home, BATCH_ENRICH_LEDGER: join(home, 'ledger.db'), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => {}); // the CLI may exit before reading its input (usage errors)
  child.stdin.end(options.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Runs the CLI like `… | head -1`: reads its first stdout line, then closes stdout (as `head` does)
 * and waits for the exit. The `| head` contract is a quiet exit 0.
 */
export async function headOne(args: string[], env: Record<string, string>, stdin = ''): Promise<{ firstLine: string; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: mkdtempSync(join(tmpdir(), 'be-home-')), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => {});
  child.stdin.end(stdin);
  const firstLine = await new Promise<string>((resolve) => {
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.includes('\n')) {
        child.stdout.destroy();
        resolve(buffered.slice(0, buffered.indexOf('\n')));
      }
    });
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { firstLine, code, stderr };
}

