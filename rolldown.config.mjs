// The bin (`batch-enrich`) as one bundle of the compiled code (`npm run build`, after tsc): our
// modules and the SDK's (about 450 files, 273 of them the SDK's) read as a few dozen. A run starts in
// about 0.38 s of CPU instead of 0.63 (`node bench/startup.mjs`, 2026-12-06), which every run of a
// pipeline and every test that spawns the CLI pays. Compressed without renaming: half the size
// (1.2 MB against 2.1) for the same start, and a stack trace still names its functions. What is
// loaded only on demand (the emulator, the recipes, the document parsers, the PostgreSQL ledger)
// stays in chunks of its own, loaded as before. The library (`dist/src`) is not bundled. Left
// outside, read from node_modules as installed: the other dependencies, among them zod (a recipe's
// schema is checked with `instanceof z.ZodType`: one zod for the recipe and the bin) and the native
// better-sqlite3.
//
// `npm run build` runs this file (node rolldown.config.mjs): it empties dist/cli and builds, printing
// nothing but warnings and errors on stderr, so that `npm run demo > out.ndjson` holds the output
// only (rolldown's own command prints its chunk table on stdout). `rolldown -c` reads it too.
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const outside = Object.keys(pkg.dependencies).filter((name) => name !== '@anthropic-ai/sdk');

const config = {
  input: { main: fileURLToPath(new URL('./dist/src/cli/main.js', import.meta.url)) },
  platform: 'node',
  external: (id) => outside.some((name) => id === name || id.startsWith(`${name}/`)),
  output: {
    dir: fileURLToPath(new URL('./dist/cli', import.meta.url)),
    format: 'esm',
    minify: { compress: true, mangle: false },
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name]-[hash].js',
  },
};

export default config;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(new URL('./dist/cli', import.meta.url), { recursive: true, force: true });
  await build({ ...config, logLevel: 'warn' });
}
