/**
 * Vitest global setup: every temporary directory a test makes (ledgers, HOME for spawned CLIs,
 * inputs) goes under one directory for the run, removed when the run ends, so test runs leave
 * nothing in the system's temp directory. `os.tmpdir()` reads TMPDIR, which the test workers and
 * the CLIs they spawn inherit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const previous = process.env['TMPDIR'];
  const dir = mkdtempSync(join(tmpdir(), 'batch-enrich-tests-'));
  process.env['TMPDIR'] = dir;
  return () => {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
    rmSync(dir, { recursive: true, force: true });
  };
}
