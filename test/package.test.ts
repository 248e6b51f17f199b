/**
 * Package hygiene: every runtime dependency is imported by the shipped code, and the package holds
 * what a user needs (the built code, the recipes, the demo fixtures), not test data or source maps
 * of sources it does not ship.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from './helpers/cli.ts';

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8'));
}

describe('the npm package', () => {
  it('every dependency is imported by src/ or transforms/', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const code = [...sources('src'), ...sources('transforms')].join('\n');
    // A package's types (`@types/x`) are there for the declarations we ship, which import `x` (see below).
    for (const name of Object.keys(pkg.dependencies).map((dep) => dep.replace(/^@types\//, ''))) expect(code, name).toMatch(new RegExp(`from '${name}(/[^']*)?'|import\\('${name}`));
  });

  it('every package the shipped type declarations import comes with its types: a strict consumer compiles them without skipLibCheck', () => {
    // helper-65: dist/src/ledger/*.d.ts import better-sqlite3 and pg, whose types were devDependencies:
    // a consumer's tsc failed with TS7016 in our declarations unless it skipped checking libraries.
    // Node's own modules (`node:*`) are the consumer's @types/node, as for any library for Node.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string> };
    const declarations = readdirSync(join(ROOT, 'dist'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith('.d.ts'))
      .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8'));
    expect(declarations.length).toBeGreaterThan(10);
    const imported = new Set<string>();
    for (const text of declarations) {
      for (const [, a, b] of text.matchAll(/from '([^.'][^']*)'|import\("([^."][^"]*)"\)/g)) {
        const specifier = (a ?? b) as string;
        if (specifier.startsWith('node:')) continue;
        const name = specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
        if (name !== pkg.name) imported.add(name);
      }
    }
    expect([...imported]).toContain('better-sqlite3');
    for (const name of imported) {
      expect(Object.keys(pkg.dependencies), name).toContain(name);
      const own = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { types?: string; typings?: string };
      if (own.types === undefined && own.typings === undefined) expect(Object.keys(pkg.dependencies), `${name}'s types`).toContain(`@types/${name}`);
    }
  });

  it('ships the built code, the recipes and the demo fixtures only', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const paths = (JSON.parse(out) as { files: { path: string }[] }[])[0]?.files.map((file) => file.path) ?? [];
    expect(paths).toContain('dist/cli/main.js');
    expect(paths).toContain('dist/src/index.js');
    expect(paths).toContain('fixtures/csv/tickets.csv');
    expect(paths.filter((path) => path.startsWith('fixtures/spec/') || path.startsWith('fixtures/cli/'))).toEqual([]);
    expect(paths.filter((path) => path.endsWith('.map'))).toEqual([]);
    expect(paths.filter((path) => path.startsWith('test/') || path.startsWith('src/'))).toEqual([]);
  });
});

/** The files of node_modules and of the package that `node BIN ...args` loads, by an ESM loader hook. */
function filesLoaded(args: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'be-loads-'));
  // Hooks run on a thread of their own: written at once (writeSync), or lines are lost at the exit.
  writeFileSync(join(dir, 'hooks.mjs'), "import { writeSync } from 'node:fs';\nexport async function load(url, context, next) { writeSync(2, 'LOADED ' + url + '\\n'); return next(url, context); }\n");
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${join(dir, 'hooks.mjs')}`).href)});\n`);
  const out = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  expect(out.status, out.stderr).toBe(0);
  return out.stderr
    .split('\n')
    .filter((line) => line.startsWith('LOADED file:'))
    .map((line) => line.slice('LOADED file://'.length));
}

describe('the bin', () => {
  // Every pipeline run, and every test that spawns the CLI, pays for reading its modules: about 0.63 s
  // of CPU when the bin read ~450 files (273 of them the SDK's, for --version too), 0.38 s as a bundle
  // (bench/startup.mjs). The bin is a bundle (rolldown.config.mjs); the SDK is inside it, zod (95
  // files) and the other dependencies outside.
  it('is a bundle: it reads the SDK and our modules from it, not from node_modules or dist/src', () => {
    const files = filesLoaded(['--version']);
    expect(files.filter((path) => path.includes('/node_modules/@anthropic-ai/sdk/') || path.includes('/node_modules/@opentelemetry/'))).toEqual([]);
    expect(files.filter((path) => path.startsWith(join(ROOT, 'dist/src')))).toEqual([]);
    expect(files.length).toBeLessThan(200);
  });

  it('loads a bundled recipe from the bundle, also when named by its source path', () => {
    for (const spec of ['ticket-triage', 'transforms/ticket-triage.ts']) {
      const files = filesLoaded(['--transform', spec, '--help']);
      expect(files.filter((path) => path.startsWith(join(ROOT, 'dist/src')) || path.startsWith(join(ROOT, 'dist/transforms')))).toEqual([]);
      expect(files.some((path) => /\/dist\/cli\/chunks\/ticket-triage-[^/]+\.js$/.test(path))).toBe(true);
    }
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
