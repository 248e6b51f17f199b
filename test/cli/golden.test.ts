/**
 * Golden CLI tests (the miller/xsv way): each folder in fixtures/cli/ is one case, run by spawning
 * the built binary with the case folder as the working directory.
 *
 *   args             one argument per line
 *   stdin            optional: piped to standard input (otherwise stdin is empty)
 *   env              optional: KEY=VALUE lines added to a clean environment
 *   expected.stdout  exact standard output
 *   expected.stderr  exact standard error
 *   exit-code        optional: the expected exit code (default 0)
 *   stderr-unordered optional marker: compare stderr lines as a set (batch events race by design)
 *
 * `UPDATE_FIXTURES=1 npm test` rewrites the expectations; review them with `git diff`. The wall time
 * at the end of the summary (`; 0.4 s`) is the one thing that varies between runs: it is written `; N s`.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, CASES_DIR } from '../helpers/cli.ts';

const update = process.env['UPDATE_FIXTURES'] === '1';
const read = (dir: string, name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : undefined);

describe('golden CLI cases', () => {
  for (const name of readdirSync(CASES_DIR).sort()) {
    const dir = join(CASES_DIR, name);
    it(name, async () => {
      const args = (read(dir, 'args') ?? '').split('\n').filter((line) => line !== '');
      const env = Object.fromEntries(
        (read(dir, 'env') ?? '')
          .split('\n')
          .filter((line) => line.includes('='))
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
      const ran = await runCli(args, { cwd: dir, stdin: read(dir, 'stdin') ?? '', env });
      const result = { ...ran, stderr: ran.stderr.replace(/; [\d.]+ s$/gm, '; N s') };
      if (update) {
        writeFileSync(join(dir, 'expected.stdout'), result.stdout);
        writeFileSync(join(dir, 'expected.stderr'), result.stderr);
        if (result.code === 0) {
          if (existsSync(join(dir, 'exit-code'))) writeFileSync(join(dir, 'exit-code'), '0\n');
        } else writeFileSync(join(dir, 'exit-code'), `${result.code}\n`);
        return;
      }
      const unordered = existsSync(join(dir, 'stderr-unordered'));
      const lines = (text: string | undefined) => (unordered ? (text ?? '').split('\n').sort() : text);
      expect(lines(result.stderr)).toEqual(lines(read(dir, 'expected.stderr')));
      expect(result.stdout).toBe(read(dir, 'expected.stdout'));
      expect(result.code).toBe(Number(read(dir, 'exit-code') ?? 0));
    });
  }
});
