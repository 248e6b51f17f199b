/**
 * Where batch-enrich is installed, found from the running file: the folder of its own `package.json`.
 * The running file may be a source module (`src/cli`, under vitest or tsx), a compiled one
 * (`dist/src/cli`) or a chunk of the bin's bundle (`dist/cli/chunks`), so it is looked up, not counted.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: { dir: string; version: string } | null | undefined;

function packageOf(): { dir: string; version: string } | null {
  if (root !== undefined) return root;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    const pkg = existsSync(path) ? readPackage(path) : undefined;
    if (pkg?.name === 'batch-enrich') return (root = { dir, version: typeof pkg.version === 'string' ? pkg.version : 'unknown' });
    if (dirname(dir) === dir) return (root = null);
  }
}

/** A package.json's name and version; undefined when it cannot be read (another project's, broken: not ours). */
function readPackage(path: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined;
  }
}

/** The package's folder, if found. */
export function packageRoot(): string | undefined {
  return packageOf()?.dir;
}

/** The package's version (`--version`), or 'unknown'. */
export function packageVersion(): string {
  return packageOf()?.version ?? 'unknown';
}
