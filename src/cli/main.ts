#!/usr/bin/env node
/**
 * The `batch-enrich` bin entry: picks the command and sets `process.exitCode`. It never calls
 * `process.exit()`, so piped stdout always drains (a data filter must not truncate its output).
 */
import { setHeapPolicy } from './heap.ts';
import { runCli } from './run.ts';

setHeapPolicy();

process.exitCode = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
