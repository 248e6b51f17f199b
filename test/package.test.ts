/**
 * Package hygiene: every runtime dependency is imported by the shipped code, and the package holds
 * what a user needs (the built code, the recipes, the demo fixtures), not test data or source maps
 * of sources it does not ship.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.ts';

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8'));
}

describe('the npm package', () => {
  it('every dependency is imported by src/ or transforms/', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const code = [...sources('src'), ...sources('transforms')].join('\n');
    for (const name of Object.keys(pkg.dependencies)) expect(code, name).toMatch(new RegExp(`from '${name}(/[^']*)?'|import\\('${name}`));
  });

  it('ships the built code, the recipes and the demo fixtures only', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const paths = (JSON.parse(out) as { files: { path: string }[] }[])[0]?.files.map((file) => file.path) ?? [];
    expect(paths).toContain('dist/src/cli/main.js');
    expect(paths).toContain('fixtures/csv/tickets.csv');
    expect(paths.filter((path) => path.startsWith('fixtures/spec/') || path.startsWith('fixtures/cli/'))).toEqual([]);
    expect(paths.filter((path) => path.endsWith('.map'))).toEqual([]);
    expect(paths.filter((path) => path.startsWith('test/') || path.startsWith('src/'))).toEqual([]);
  });
});

describe('the source', () => {
  // Issue 16: a part a newcomer can read whole. bench/function-lengths.mjs measures every function,
  // method and arrow function of src/ (parsed as TypeScript) and fails past 200 lines.
  it('has no function longer than 200 lines', () => {
    const out = execFileSync(process.execPath, [join(ROOT, 'bench', 'function-lengths.mjs'), '200'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toMatch(/; 0 longer than 200 lines\n$/);
  });
});
