// The ledger's share alone: what the durable path costs per record, with nothing else (no CSV, no
// HTTP, no JSON parsing of answers). For N records it makes the calls a run makes, through the
// `LedgerStore` interface and in the sink's step sizes (src/sink/options.ts): what the ledger knows
// of each page of 500 records (`known`); records and new requests written 4,000 at a time
// (`intake`); batches of 100,000 opened (`openBatch`), their bodies read back in pages of 500
// (`batchPage`) and their remote ids recorded; what each batch waits on read (`submittedOf`), and its
// results stored 16,000 at a time in another order than sent (`settle`); the records read back
// joined with their results, 1,000 at a time as the emitter reads them (`records`); the run ended (`endRun`) and the ledger
// closed (its last WAL checkpoint). Request keys are hashes, as the real ones are (random order in
// every index keyed by them). Prints CPU ms and µs per record (and per phase) as JSON on stderr (as
// floor.mjs and chain-floor.mjs do).
//
//   node bench/ledger-floor.mjs [N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../dist/src/ledger/ledger.js';
import { arrivalOrder, BATCH, BODY_PAGE, keysOf, LOOKUP_PAGE, EMIT_PAGE, messages, phaseClock, record, result, RESULT_CHUNK, SCOPE, WRITE_CHUNK } from './ledger-data.mjs';

const N = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'be-ledger-floor-'));
const ledger = new Ledger(join(dir, 'ledger.db'));
const identity = { scope: SCOPE, baseUrl: 'http://localhost', apiVersion: '2026-10-21', keyFingerprint: '01234567' };
const spec = { id: 'spec', head: '{"model":"claude-haiku-4-5","max_tokens":1024,"messages":', tail: '}' };
const keys = keysOf(N);

const { phasesMs: phases, phase, cpuMs: cpuMsSoFar } = phaseClock();
const t0 = performance.now();
const run = await ledger.startRun('bench', Date.now());
let requests = [];
let records = [];
let specs = [spec];
for (let from = 0; from < N; from += LOOKUP_PAGE) {
  const page = keys.slice(from, from + LOOKUP_PAGE);
  const known = await ledger.known(identity.scope, page);
  for (const [i, key] of page.entries()) {
    if (!known.has(key)) requests.push({ key, label: null, spec: spec.id, messages });
    records.push({ seq: from + i, line: from + i + 2, data: record, key, error: null });
    if (records.length >= WRITE_CHUNK) {
      await ledger.intake(identity.scope, run, specs, requests, records, Date.now());
      specs = [];
      requests = [];
      records = [];
    }
  }
}
if (records.length > 0) await ledger.intake(identity.scope, run, specs, requests, records, Date.now());
phase('known and intake');
let bodyBytes = 0;
const opened = [];
for (let from = 0; from < N; from += BATCH) {
  const { id, keys: taken } = await ledger.openBatch(identity, run, 'bench', `nonce${from}`, keys.slice(from, from + BATCH), Date.now());
  for (let after = 0; ; ) {
    const page = await ledger.batchPage(id, after, BODY_PAGE);
    for (const row of page) bodyBytes += row.head.length + row.messages.length + row.tail.length;
    if (page.length < BODY_PAGE) break;
    after = page[page.length - 1].id;
  }
  await ledger.setRemote(id, `msgbatch_bench${from}`, Date.now());
  opened.push({ id, keys: taken });
}
phase('open the batches and read their bodies');
for (const { id, keys: batchKeys } of opened) {
  phase('x');
  const waiting = await ledger.submittedOf(id);
  phase('submittedOf');
  const order = arrivalOrder(batchKeys.length).map((i) => batchKeys[i]);
  for (let from = 0; from < order.length; from += RESULT_CHUNK) {
    const settlements = order.slice(from, from + RESULT_CHUNK).map((key) => ({ waiting: waiting.get(key), result, retry: false }));
    phase('build');
    await ledger.settle(id, settlements, Date.now());
    phase('settle');
  }
  await ledger.setBatchState(id, 'downloaded', Date.now());
}
phase('store results');
let read = 0;
for (let seq = 0; ; ) {
  const rows = await ledger.records(identity.scope, run, seq, EMIT_PAGE);
  read += rows.length;
  if (rows.length < EMIT_PAGE) break;
  seq = rows[rows.length - 1].seq + 1;
}
phase('read records with results');
await ledger.endRun(run);
phase('end the run');
// Closing the last connection checkpoints the WAL: what it holds since the last checkpoint is copied
// into the database file. The CLI's run pays it too, so it is counted (it was not before 2026-12-03).
ledger.close();
phase('close (the last checkpoint)');
const cpuMs = cpuMsSoFar();
rmSync(dir, { recursive: true, force: true });
if (read !== N) throw new Error(`read ${read} records back, not ${N}`);
if (bodyBytes === 0) throw new Error('no batch body was read');
process.stderr.write(`${JSON.stringify({ records: N, read, bodyBytes, cpuMs: Math.round(cpuMs), wallMs: Math.round(performance.now() - t0), usPerRecord: Number(((cpuMs * 1000) / N).toFixed(1)), phasesMs: phases })}\n`);
