// The ledger's share alone: what the durable path costs per record in SQLite, with nothing else
// (no CSV, no HTTP, no JSON parsing of answers). For N records of the benchmark's sizes it does
// what a run does to the ledger, through the real `Ledger` class and in the run's transaction
// sizes: record + request + payload written; batches of 100,000 opened and their bodies read back
// in pages; one result stored per request, in another order than sent; records read back joined
// with their results; the run's records dropped. Prints CPU ms and µs per record (and per phase)
// as JSON on stderr (as floor.mjs and chain-floor.mjs do).
//
//   node bench/ledger-floor.mjs [N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../dist/src/ledger/ledger.js';

const N = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'be-ledger-floor-'));
const ledger = new Ledger(join(dir, 'ledger.db'));
const identity = { scope: 'scope-0123456789abcdef', baseUrl: 'http://localhost', apiVersion: '2026-10-21', keyFingerprint: '01234567' };
const text = 'x'.repeat(450);
const record = JSON.stringify({ ticket_id: 'T-000000', customer: 'Customer 000', subject: 'Subject line here', body: text });
const messages = JSON.stringify([{ role: 'user', content: `Ticket: ${text}` }]);
const result = JSON.stringify({
  type: 'succeeded',
  message: {
    id: 'msg_01234567890123456789', type: 'message', role: 'assistant', model: 'claude-haiku-4-5',
    content: [{ type: 'text', text: '{"category":"billing","priority":"high","summary":"Customer was charged twice this month and wants a refund"}' }],
    stop_reason: 'end_turn', stop_sequence: null,
    usage: { input_tokens: 220, output_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 180, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 }, service_tier: 'batch' },
  },
});
const CHUNK = 4000;
const keyOf = (i) => `k${String(i).padStart(21, '0')}`;

const phases = {};
let mark = process.cpuUsage();
const phase = (name) => {
  const now = process.cpuUsage();
  phases[name] = Math.round((now.user - mark.user + now.system - mark.system) / 1000);
  mark = now;
};
const start = process.cpuUsage();
const t0 = performance.now();
const run = ledger.startRun('bench', Date.now());
ledger.ensureSpec('spec', '{"model":"claude-haiku-4-5","max_tokens":1024,"messages":', '}');
for (let from = 0; from < N; from += CHUNK) {
  ledger.transaction(() => {
    for (let i = from; i < Math.min(N, from + CHUNK); i++) {
      ledger.insertRequest(identity.scope, keyOf(i), null, 'spec', messages, Date.now());
      ledger.insertRecord(run, i, i + 2, record, keyOf(i), null);
    }
  });
}
phase('write records and requests');
// Batches of 100,000 requests, as the CLI makes them; each one's results arrive in another order.
const BATCH = 100_000;
let bodyBytes = 0;
const opened = [];
for (let from = 0; from < N; from += BATCH) {
  const keys = Array.from({ length: Math.min(BATCH, N - from) }, (_, i) => keyOf(from + i));
  const { id } = ledger.openBatch(identity, run, 'bench', `nonce${from}`, keys, Date.now());
  for (let after = 0; ; ) {
    const page = ledger.batchPage(id, after, 500);
    for (const row of page) bodyBytes += row.head.length + row.messages.length + row.tail.length;
    if (page.length < 500) break;
    after = page[page.length - 1].id;
  }
  ledger.setRemote(id, `msgbatch_bench${from}`, Date.now());
  opened.push({ id, keys });
}
phase('open the batches and read their bodies');
for (const { id, keys } of opened) {
  const waiting = ledger.submittedOf(id);
  const order = keys.map((_, i) => keys[(i * 7919) % keys.length]);
  for (let from = 0; from < order.length; from += 16_000) {
    ledger.transaction(() => {
      for (const key of order.slice(from, from + 16_000)) ledger.saveResult(id, waiting.get(key), result, Date.now());
    });
  }
}
phase('store results');
let read = 0;
for (let seq = 0; ; ) {
  const rows = ledger.records(identity.scope, run, seq, CHUNK);
  read += rows.length;
  if (rows.length < CHUNK) break;
  seq = rows[rows.length - 1].seq + 1;
}
phase('read records with results');
ledger.endRun(run);
phase('drop the records');
const cpu = process.cpuUsage(start);
const cpuMs = (cpu.user + cpu.system) / 1000;
ledger.close();
rmSync(dir, { recursive: true, force: true });
process.stderr.write(`${JSON.stringify({ records: N, read, bodyBytes, cpuMs: Math.round(cpuMs), wallMs: Math.round(performance.now() - t0), usPerRecord: Number(((cpuMs * 1000) / N).toFixed(1)), phasesMs: phases })}\n`);
