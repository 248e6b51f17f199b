// Memory with large records (documents sent inline, long texts): N records of 250 KB through a library
// pipeline (`enrichStage`, batches of 2,000) against the emulator in its own process (an in-process one
// would hold every batch it is sent), with a consumer that waits 5 ms every 50 records. Prints the peak
// RSS, what the heap and ArrayBuffers held at that moment, and the largest live heap (after a forced
// GC, every 50 ms). Not part of `npm run bench` (about 75 s at 6,000 records).
//
//   node --expose-gc bench/large-records.mjs [N]      (after npm run build; N defaults to 6,000)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { enrichStage } from '../dist/src/enrich.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 6_000);
if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');

const emulator = spawn(process.execPath, ['--max-old-space-size=8192', join(root, 'dist/cli/main.js'), 'emulator', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const baseURL = await new Promise((resolve, reject) => {
  emulator.stdout.setEncoding('utf8').once('data', (line) => resolve(line.split('\n')[0]));
  emulator.once('exit', (code) => reject(new Error(`the emulator exited (${code})`)));
});
const dir = mkdtempSync(join(tmpdir(), 'be-large-'));

let peak = { rssMB: 0 };
let liveHeapMB = 0;
let out = 0;
const mb = (bytes) => Math.round(bytes / 1e6);
const sample = setInterval(() => {
  const m = process.memoryUsage();
  if (mb(m.rss) > peak.rssMB) peak = { rssMB: mb(m.rss), heapMB: mb(m.heapUsed), arrayBuffersMB: mb(m.arrayBuffers), recordsOut: out };
  global.gc();
  liveHeapMB = Math.max(liveHeapMB, mb(process.memoryUsage().heapUsed));
}, 50);

const text = 'x'.repeat(250_000);
async function* records() {
  for (let i = 0; i < N; i++) yield { seq: i, line: i + 1, data: { id: String(i), text: `${String(i).padStart(10, '0')}${text}` } };
}
try {
  await pipeline(
    Readable.from(records()),
    enrichStage({ prompt: 'item {{id}}: {{text}}', schema: z.object({ label: z.string() }), apiKey: 'bench', baseURL, ledger: join(dir, 'ledger.db'), pollMinMs: 5, batchSize: 2_000 }),
    async (enriched) => {
      for await (const _ of enriched) if (++out % 50 === 0) await sleep(5);
    },
  );
} finally {
  clearInterval(sample);
  emulator.kill();
  rmSync(dir, { recursive: true, force: true });
}
if (out !== N) throw new Error(`${out} records out of ${N}`);
process.stdout.write(`${JSON.stringify({ records: N, peak, liveHeapMB })}\n`);
