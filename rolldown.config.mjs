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
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const outside = Object.keys(pkg.dependencies).filter((name) => name !== '@anthropic-ai/sdk');

export default {
  input: { main: 'dist/src/cli/main.js' },
  platform: 'node',
  external: (id) => outside.some((name) => id === name || id.startsWith(`${name}/`)),
  output: {
    dir: 'dist/cli',
    format: 'esm',
    minify: { compress: true, mangle: false },
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name]-[hash].js',
  },
};
