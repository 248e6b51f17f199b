#!/usr/bin/env node
/**
 * The `batch-enrich` bin entry: picks the command and sets `process.exitCode`. It never calls
 * `process.exit()`, so piped stdout always drains (a data filter must not truncate its output), but
 * for an output a stopped run gave up (`CliIo.abandoned`), which nothing will ever read.
 */
import { setHeapPolicy } from './heap.ts';
import { once } from 'node:events';
import type { CliIo } from './io.ts';
import { runCli } from './run.ts';
import { HANGUP_EXIT, leaveAfterHangup } from './enrich/signals.ts';

setHeapPolicy();
// A reader that went away (`batch-enrich status --json | head -1`): what is left of the output has
// nowhere to go, and the command ends quietly with its own exit code. Without a listener the EPIPE
// was an uncaught error with a stack trace. Any other error is its command's to report (the default
// command's pipeline does, through the stream it writes to); with no other listener it is said here,
// and the exit code says the output is incomplete.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE' || process.stdout.listenerCount('error') > 1) return;
  process.stderr.write(`batch-enrich: cannot write the output: ${error.message}\n`);
  process.exitCode = 1;
});
// A reader of stderr that went away (`… 2>&1 >/dev/null | head -1`, a log shipper restarting): the
// progress and messages still to come are lost, not the run. Its answers are paid for and its output
// is still wanted; before, the EPIPE was uncaught, the run ended with exit 1 and wrote no -o file.
process.stderr.on('error', () => {});

const io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
process.exitCode = await runCli(process.argv.slice(2), io);
const hungUp = process.exitCode === HANGUP_EXIT;
// An output given up at a stop, or left waiting for a reader then (nobody reads it: `| less` ignores
// Ctrl-C): its pending write would keep the process alive for ever. A reader that is only slow gets 3 s
// to take it; the process then leaves, once what it said on stderr is out (a second at most). A run
// stopped by SIGHUP leaves the same way, by the signal (`leaveAfterHangup`: its terminal is gone).
if (io.abandoned || hungUp) {
  const within = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
  if (process.stdout.writableLength > 0 && !process.stdout.destroyed) await Promise.race([once(process.stdout, 'drain'), within(3_000)]);
  if (process.stderr.writableLength > 0 && !process.stderr.destroyed) await Promise.race([once(process.stderr, 'drain'), within(1_000)]);
  if (hungUp) leaveAfterHangup();
  else process.exit();
}
