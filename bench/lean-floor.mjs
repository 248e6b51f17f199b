// Not the product: a sketch of the SQLite work of the lean ledger the README describes ("Why the
// ledger is not at 15 µs"), in ledger-floor.mjs's phases, step sizes and rows, to measure the floor
// such a redesign aims at before anyone builds it:
// - one append per new request, and none of its rows updated later; no key index: what the ledger
//   knows is held in memory, by key hash;
// - a batch is one row, its members a blob of request ids;
// - answers are appended with their (batch, member), under a narrow index on both;
// - a record is read back with its answer through its request's (batch, member), found in memory.
//
// Left out, and needed by the real thing: other workers (which pending requests a worker may take),
// retries (a request pending again, with a larger max_tokens), what the ledger knows loaded on a
// rerun, gc, PostgreSQL. Measured on 2026-12-03: 10.7-11.1 µs per record at 200,000 rows and 11.8 at
// 1,000,000, against 22.2-22.6 for the product's ledger (ledger-floor.mjs) in the same minutes.
//
//   node bench/lean-floor.mjs [N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BulkInsert } from '../dist/src/ledger/bulk.js';
import { keyHash } from '../dist/src/ledger/ledger.js';
import { arrivalOrder, BATCH, BODY_PAGE, keysOf, EMIT_PAGE, messages, phaseClock, record, result, RESULT_CHUNK, SCOPE, WRITE_CHUNK } from './ledger-data.mjs';

const N = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'be-lean-floor-'));
const db = new Database(join(dir, 'ledger.db'));
// As the product's ledger (src/ledger/ledger.ts) and its scratch file (src/ledger/scratch.ts).
db.pragma('page_size = 8192');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('cache_size = -16384');
db.pragma('wal_autocheckpoint = 65536');
db.exec(`
  CREATE TABLE requests (id INTEGER PRIMARY KEY, key TEXT NOT NULL, label TEXT, spec TEXT NOT NULL, messages TEXT NOT NULL);
  CREATE TABLE batches (id INTEGER PRIMARY KEY, nonce TEXT NOT NULL, members BLOB NOT NULL, remote_id TEXT, state TEXT NOT NULL);
  CREATE TABLE answers (id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, member INTEGER NOT NULL, result TEXT NOT NULL);
  CREATE INDEX answers_member ON answers (batch, member);
`);
db.prepare('ATTACH DATABASE ? AS scratch').run(join(dir, 'scratch.db'));
db.pragma('scratch.journal_mode = MEMORY');
db.pragma('scratch.synchronous = OFF');
db.exec('CREATE TABLE scratch.records (id INTEGER PRIMARY KEY, line INTEGER NOT NULL, data TEXT NOT NULL, key TEXT, error TEXT, request_id INTEGER)');
const keys = keysOf(N);

const { phasesMs, phase, cpuMs: cpuMsSoFar } = phaseClock();
// What the ledger knows: request id by key hash (a rerun would load it from the batches' blobs and the pending requests).
const known = new Map();
const requestRows = new BulkInsert(db, 'INSERT INTO requests (id, key, label, spec, messages) VALUES', '(?, ?, ?, ?, ?)', 5);
const recordRows = new BulkInsert(db, 'INSERT INTO scratch.records (id, line, data, key, error, request_id) VALUES', '(?, ?, ?, ?, ?, ?)', 6);
let nextId = 1;
for (let from = 0; from < N; from += WRITE_CHUNK) {
  db.transaction(() => {
    const requests = requestRows.writer();
    const records = recordRows.writer();
    for (let seq = from; seq < Math.min(N, from + WRITE_CHUNK); seq++) {
      const key = keys[seq];
      const h = keyHash(SCOPE, key);
      let id = known.get(h);
      if (id === undefined) {
        id = nextId++;
        known.set(h, id);
        requests.add(id, key, null, 'spec', messages);
      }
      records.add(seq, seq + 2, record, key, null, id);
    }
    requests.end();
    records.end();
  })();
}
phase('known and intake');

const bodyPage = db.prepare('SELECT id, key, label, messages FROM requests WHERE id >= ? AND id <= ? ORDER BY id').raw();
const insertBatch = db.prepare("INSERT INTO batches (nonce, members, state) VALUES (?, ?, 'in_progress')");
const batches = [];
let bodyBytes = 0;
for (let from = 0; from < N; from += BATCH) {
  const members = new Float64Array(Math.min(BATCH, N - from)).map((_, i) => from + i + 1);
  const id = Number(insertBatch.run(`nonce${from}`, Buffer.from(members.buffer)).lastInsertRowid);
  for (let at = 0; at < members.length; at += BODY_PAGE) {
    for (const [, , , sent] of bodyPage.all(members[at], members[Math.min(at + BODY_PAGE, members.length) - 1])) bodyBytes += sent.length;
  }
  batches.push({ id, size: members.length });
}
phase('open the batches and read their bodies');

const answerRows = new BulkInsert(db, 'INSERT INTO answers (batch, member, result) VALUES', '(?, ?, ?)', 3);
for (const { id, size } of batches) {
  const order = arrivalOrder(size);
  for (let from = 0; from < size; from += RESULT_CHUNK) {
    const chunk = order.slice(from, from + RESULT_CHUNK).sort((a, b) => a - b);
    db.transaction(() => {
      const answers = answerRows.writer();
      for (const member of chunk) answers.add(id, member, result);
      answers.end();
    })();
  }
}
phase('store results');

// Each record with its answer: its request id gives its (batch, member), in memory (batches of BATCH consecutive ids here).
const recordPage = db.prepare('SELECT id, line, data, key, error, request_id FROM scratch.records WHERE id >= ? ORDER BY id LIMIT ?').raw();
const answerOf = db.prepare('SELECT result FROM answers WHERE batch = ? AND member = ?').pluck();
let read = 0;
for (let seq = 0; ; ) {
  const rows = db.transaction(() =>
    recordPage.all(seq, EMIT_PAGE).map((row) => {
      const request = row[5] - 1;
      return { row, result: answerOf.get(batches[Math.floor(request / BATCH)].id, request % BATCH) };
    }),
  )();
  read += rows.filter((r) => r.result !== undefined).length;
  if (rows.length < EMIT_PAGE) break;
  seq = rows[rows.length - 1].row[0] + 1;
}
phase('read records with results');
db.close();
phase('close (the last checkpoint)');

const cpuMs = cpuMsSoFar();
rmSync(dir, { recursive: true, force: true });
if (read !== N) throw new Error(`read ${read} records with their answers back, not ${N}`);
if (bodyBytes === 0) throw new Error('no batch body was read');
process.stderr.write(`${JSON.stringify({ records: N, read, cpuMs: Math.round(cpuMs), usPerRecord: Number(((cpuMs * 1000) / N).toFixed(1)), phasesMs })}\n`);
