// `npm run bench`: batch-enrich end to end against the emulator (in its own process, zero processing
// time) versus the floor (csv-parse → JSON lines → /dev/null) on the same generated input, at
// 100,000, 200,000 and 1,000,000 rows. Prints records/s by wall and by CPU time (ours: our process only),
// the CPU-time ratio ours/floor, peak RSS, batches, API calls and the time to the first output
// record; writes the figures to bench/results.json so that commits can be compared. It also
// measures two parts of ours alone, in CPU µs per record next to the floor's: our chain without the
// ledger or HTTP (`chain-floor.mjs`: every answer at hand at once) and the ledger alone
// (`ledger-floor.mjs`: a run's SQLite work, nothing else). And the peer (`peer.mjs`): the one-script
// way a user would do the job with the SDK alone, no durability, against the same emulator.
// And what the bin costs to start (`startup.mjs`), bundled as shipped and unbundled.
// The targets: ours uses no more CPU than the peer, and at least 0.2 of the floor's records/s.
//
//   npm run bench                      100,000, 200,000 and 1,000,000 rows (about 25 minutes)
//   npm run bench -- --sizes 100000    one size
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from './generate.mjs';
import { startupFigures } from './startup.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const sizesArg = process.argv.indexOf('--sizes');
const sizes = sizesArg > 0 ? process.argv[sizesArg + 1].split(',').map(Number) : [100_000, 200_000, 1_000_000];
const outDir = join(here, 'out');
mkdirSync(outDir, { recursive: true });

function run(args, { env = {}, stdoutFile = '/dev/null' } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', openSync(stdoutFile, 'w'), 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Runs one of the bench's scripts and returns the figures it prints as JSON on stderr's last line. */
async function figures(script, arg, env = {}, nodeArgs = []) {
  const { code, stderr } = await run([...nodeArgs, join(here, script), arg], { env });
  if (code !== 0) throw new Error(`${script} failed: ${stderr}`);
  return JSON.parse(stderr.trim().split('\n').pop());
}

// The emulator keeps every batch it was sent in memory: a million requests need more than Node's
// default heap. A fresh one for each contestant, so that each finds it empty.
async function startEmulator() {
  const child = spawn(process.execPath, ['--max-old-space-size=8192', join(root, 'dist/cli/main.js'), 'emulator', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (line) => resolve(line.trim().split('\n')[0]));
    child.once('exit', (code) => reject(new Error(`the emulator exited with ${code}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

const startup = startupFigures();
for (const [name, f] of Object.entries(startup)) process.stdout.write(`startup, ${name}: ${f.bundleCpuMs} ms of CPU (unbundled: ${f.unbundledCpuMs} ms)\n`);
let emulator = await startEmulator();
const freshEmulator = async () => {
  emulator.stop();
  emulator = await startEmulator();
};
const results = [];
try {
  for (const rows of sizes) {
    const input = join(outDir, `tickets-${rows}.csv`);
    if (!existsSync(input)) {
      process.stderr.write(`generating ${input}…\n`);
      await generate(input, rows);
    }
    const floorFigures = await figures('floor.mjs', input);
    const chainFigures = await figures('chain-floor.mjs', input);
    const ledgerFigures = await figures('ledger-floor.mjs', String(rows));
    await freshEmulator();
    // The peer holds every row and every answer: at a million rows, more than Node's default heap.
    const peerFigures = await figures('peer.mjs', input, { ANTHROPIC_API_KEY: 'bench', ANTHROPIC_BASE_URL: emulator.url }, ['--max-old-space-size=12288']);
    await freshEmulator();

    const ledgerDir = mkdtempSync(join(tmpdir(), 'be-bench-'));
    const ours = await run(
      [join(here, 'measure.mjs'), '--transform', 'ticket-triage', '--poll-min', '0.05', '--poll-max', '1', '--quiet', input],
      { env: { ANTHROPIC_API_KEY: 'bench', ANTHROPIC_BASE_URL: emulator.url, BATCH_ENRICH_LEDGER: join(ledgerDir, 'ledger.db') } },
    );
    rmSync(ledgerDir, { recursive: true, force: true });
    const line = ours.stderr.split('\n').find((l) => l.startsWith('BENCH '));
    if (ours.code !== 0 || !line) throw new Error(`batch-enrich failed (exit ${ours.code}): ${ours.stderr.slice(-2000)}`);
    const oursFigures = JSON.parse(line.slice(6));
    const calls = Object.values(oursFigures.calls).reduce((a, b) => a + b, 0);
    const result = {
      rows,
      floor: { recordsPerSecWall: Math.round(rows / (floorFigures.wallMs / 1000)), recordsPerSecCpu: Math.round(rows / (floorFigures.cpuMs / 1000)), maxRssMb: Math.round(floorFigures.maxRssMb) },
      ours: {
        recordsPerSecWall: Math.round(rows / (oursFigures.wallMs / 1000)),
        recordsPerSecCpu: Math.round(rows / (oursFigures.cpuMs / 1000)),
        maxRssMb: Math.round(oursFigures.maxRssMb),
        firstOutputSec: oursFigures.firstOutputMs === undefined ? null : Number((oursFigures.firstOutputMs / 1000).toFixed(2)),
        batches: oursFigures.calls['POST /v1/messages/batches'] ?? 0,
        apiCalls: calls,
        calls: oursFigures.calls,
      },
    };
    result.chainOnly = { cpuUsPerRecord: Number(((chainFigures.cpuMs * 1000) / rows).toFixed(1)), maxRssMb: Math.round(chainFigures.maxRssMb) };
    result.chainOnly.cpuRatioToFloor = Number((floorFigures.cpuMs / chainFigures.cpuMs).toFixed(3));
    result.ledgerOnly = { cpuUsPerRecord: ledgerFigures.usPerRecord, phasesMs: ledgerFigures.phasesMs };
    result.peer = {
      recordsPerSecWall: Math.round(rows / (peerFigures.wallMs / 1000)),
      recordsPerSecCpu: Math.round(rows / (peerFigures.cpuMs / 1000)),
      cpuUsPerRecord: Number(((peerFigures.cpuMs * 1000) / rows).toFixed(1)),
      maxRssMb: Math.round(peerFigures.maxRssMb),
    };
    result.floor.cpuUsPerRecord = Number(((floorFigures.cpuMs * 1000) / rows).toFixed(1));
    result.ours.cpuUsPerRecord = Number(((oursFigures.cpuMs * 1000) / rows).toFixed(1));
    result.cpuRatioOursToFloor = Number((result.ours.recordsPerSecCpu / result.floor.recordsPerSecCpu).toFixed(3));
    result.cpuRatioOursToPeer = Number((oursFigures.cpuMs / peerFigures.cpuMs).toFixed(3));
    result.wallRatioOursToFloor = Number((result.ours.recordsPerSecWall / result.floor.recordsPerSecWall).toFixed(3));
    results.push(result);
    process.stdout.write(
      `${rows.toLocaleString('en')} rows: floor ${result.floor.recordsPerSecWall}/s wall, ${result.floor.recordsPerSecCpu}/s CPU, ${result.floor.maxRssMb} MB | ` +
        `ours ${result.ours.recordsPerSecWall}/s wall, ${result.ours.recordsPerSecCpu}/s CPU, peak RSS ${result.ours.maxRssMb} MB, ` +
        `first record after ${result.ours.firstOutputSec} s, ${result.ours.batches} batches, ${result.ours.apiCalls} API calls | ` +
        `ours/floor CPU ${result.cpuRatioOursToFloor}, wall ${result.wallRatioOursToFloor} | ` +
        `CPU µs/record: floor ${result.floor.cpuUsPerRecord}, ours ${result.ours.cpuUsPerRecord}; ` +
        `our chain without ledger or HTTP ${result.chainOnly.cpuUsPerRecord} (floor/chain ${result.chainOnly.cpuRatioToFloor}), the ledger alone ${result.ledgerOnly.cpuUsPerRecord} | ` +
        `peer ${result.peer.recordsPerSecWall}/s wall, ${result.peer.cpuUsPerRecord} CPU µs/record, ${result.peer.maxRssMb} MB; ours/peer CPU ${result.cpuRatioOursToPeer}\n`,
    );
  }
} finally {
  emulator.stop();
}

if (results.length >= 2) {
  const [first, last] = [results[0], results[results.length - 1]];
  const growth = last.ours.maxRssMb / first.ours.maxRssMb - 1;
  process.stdout.write(`peak RSS growth from ${first.rows.toLocaleString('en')} to ${last.rows.toLocaleString('en')} rows: ${(growth * 100).toFixed(1)}%\n`);
}
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
} catch {}
const report = { date: new Date().toISOString(), commit, node: process.version, cpus: (await import('node:os')).cpus().length, startup, results };
writeFileSync(join(here, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`figures written to bench/results.json\n`);
