/**
 * The ledger's own rules: runs alive only while they beat, one claim per remote batch, and ledgers
 * written by the previous release (schema 4) migrated in place.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ROOT } from '../helpers/cli.ts';
import { tamper } from '../helpers/pipeline.ts';
import { SCHEMA_4, SCHEMA_11 } from '../helpers/schema4.ts';
import { openLedger } from '../../src/ledger/open.ts';
import { cannotOpen, HOST, keyHash, Ledger, RUN_STALE_MS, runIsAlive, type Identity, type RunRow } from '../../src/ledger/ledger.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'be-ledger-unit-'));
  dirs.push(dir);
  return join(dir, 'ledger.db');
}

const identity: Identity = { scope: 'scope-a', baseUrl: 'https://api.anthropic.com', apiVersion: '2026-10-21', keyFingerprint: 'abcd1234' };

describe('runs are alive only while they beat', () => {
  const t = 1_000_000_000_000;
  const run = (over: Partial<RunRow>): RunRow => ({ id: 1, job: 'j', pid: process.pid, started_at: t - 60_000, host: HOST, heartbeat_at: t, ...over });
  const cases: { description: string; row: RunRow; alive: boolean }[] = [
    { description: 'a fresh heartbeat and a live pid on this host', row: run({}), alive: true },
    { description: 'a live pid whose heartbeat is stale (a container PID 1, a reused pid)', row: run({ heartbeat_at: t - RUN_STALE_MS }), alive: false },
    { description: 'a run that never beat (written before heartbeats existed)', row: run({ heartbeat_at: null }), alive: false },
    { description: 'a fresh heartbeat but a pid gone from this host', row: run({ pid: 999_999_999 }), alive: false },
    { description: 'a fresh heartbeat on another host (its pid means nothing here)', row: run({ host: 'worker-7', pid: 999_999_999 }), alive: true },
    { description: 'a fresh heartbeat in another pid namespace of this host name (a container with --network host)', row: run({ host: `${hostname()}/pid:[1]`, pid: 999_999_999 }), alive: true },
    {
      // The root pid namespace has the same inode on every Linux: only the boot id tells two such machines apart.
      description: 'a fresh heartbeat on another machine of the same name, in its root pid namespace (another boot id, or none: an older batch-enrich)',
      row: run({ host: `${hostname()}/${readlinkSync('/proc/self/ns/pid')}`, pid: 999_999_999 }),
      alive: true,
    },
    { description: 'a stale heartbeat on another host', row: run({ host: 'worker-7', heartbeat_at: t - RUN_STALE_MS - 1 }), alive: false },
  ];
  for (const c of cases) {
    it(`${c.alive ? 'alive' : 'dead'}: ${c.description}`, () => expect(runIsAlive(c.row, t)).toBe(c.alive));
  }
  // How a ledger keeps, refuses and drops beats: the contract (`contract.ts`), on SQLite and PostgreSQL.
});

// helper-91 #3: the ledger file deleted while a run used it (a cache clean-up, `rm -rf ~/.cache`) went
// unnoticed: the run wrote on into the deleted file, and the rerun, on a new ledger, paid everything again.
describe('a ledger file deleted or replaced while a run uses it', () => {
  it('the heartbeat notices, writes what the ledger held back to its path, and stops the run saying how to resume', () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const run = ledger.startRun('job', Date.now());
    ledger.ensureSpec('s', '{"model":"m","max_tokens":5,"messages":', '}');
    ledger.insertRequest(identity.scope, 'k1', null, 's', '[]', 0);
    const { id } = ledger.openBatch(identity, run, 'job', 'nonce1', ['k1'], 0);
    ledger.setRemote(id, 'msgbatch_1', 0);
    expect(ledger.heartbeat(run, Date.now())).toBe(true);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) rmSync(file, { force: true });
    expect(() => ledger.heartbeat(run, Date.now())).toThrow(expect.objectContaining({ code: 'BE_LEDGER', message: expect.stringContaining(`The ledger ${path} was deleted while this run used it: what it held is written back to ${path}`) }));
    ledger.close();
    const again = new Ledger(path);
    expect(again.batches().map((batch) => [batch.remote_id, batch.state])).toEqual([['msgbatch_1', 'in_progress']]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    again.close();
  });

  it('replaced by another file: written beside it, never over it', () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const run = ledger.startRun('job', Date.now());
    rmSync(path);
    writeFileSync(path, 'someone else’s file');
    let thrown: unknown;
    try {
      ledger.heartbeat(run, Date.now());
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'BE_LEDGER', message: expect.stringMatching(/was replaced by another file while this run used it: what it held is written back to .*\.recovered-/) });
    const recovered = readdirSync(dirname(path)).find((name) => name.includes('.recovered-'));
    expect(recovered).toBeDefined();
    expect(new Ledger(join(dirname(path), recovered!)).run(run)?.job).toBe('job');
    ledger.close();
  });
});

describe('releaseLost', () => {
  it('the requests waiting on a batch row that is gone go back to pending; none while the row is there', () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const run = ledger.startRun('job', 1);
    ledger.intake('scope-a', run, [{ id: 's', head: '{"messages":', tail: '}' }], ['a', 'b'].map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 1);
    const { id } = ledger.openBatch(identity, run, 'job', 'n', ['a', 'b'], 2);
    expect(ledger.releaseLost(id)).toBe(0);
    const db = new Database(path);
    db.prepare('DELETE FROM batches WHERE id = ?').run(id);
    db.close();
    expect(ledger.releaseLost(id)).toBe(2);
    expect(ledger.request('scope-a', 'a')).toMatchObject({ state: 'pending', batch_id: null, attempts: 0 });
    ledger.close();
  });
});

describe('claims on remote batches', () => {
  it('one remote batch can be claimed by one row only, and recorded as the remote batch of that row only', () => {
    const ledger = new Ledger(':memory:');
    const run = ledger.startRun('j', 0);
    const a = ledger.openBatch(identity, run, 'j', 'nonceA', [], 0).id;
    const b = ledger.openBatch(identity, run, 'j', 'nonceB', [], 0).id;
    expect(ledger.claim('msgbatch_1', a)).toBe(true);
    expect(ledger.claim('msgbatch_1', a)).toBe(true); // held already
    expect(ledger.claim('msgbatch_1', b)).toBe(false);
    expect(ledger.setRemote(b, 'msgbatch_1', 1)).toBe(false);
    expect(ledger.batch(b)?.state).toBe('creating');
    expect(ledger.claimant('msgbatch_1')).toBe(a);
    expect(ledger.setRemote(a, 'msgbatch_1', 1)).toBe(true);
    expect(ledger.batch(a)).toMatchObject({ state: 'in_progress', remote_id: 'msgbatch_1' });
    expect(ledger.setRemote(b, 'msgbatch_2', 1)).toBe(true);
    ledger.close();
  });
});

/** Another process on the ledger: `node` on `body`, a module in which `Ledger` is the built one (as the CLI runs it). */
function ledgerProcess(body: string): ChildProcessByStdio<null, Readable, null> {
  const script = `const { Ledger } = await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'ledger', 'ledger.js'))});\n${body}`;
  return spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
}

describe('workers that open one new ledger file at the same moment', () => {
  /**
   * A process that waits until `at` (ms since the epoch), opens the ledger at `path` and writes a
   * request of its own; resolves with what it printed.
   */
  function opener(path: string, at: number, key: string): Promise<string> {
    const child = ledgerProcess(`
      // Asleep until just before the instant, then on it (a spin of a few ms, not of the whole wait).
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, ${at} - Date.now() - 20));
      while (Date.now() < ${at});
      try {
        const ledger = new Ledger(${JSON.stringify(path)});
        ledger.intake('scope-a', ledger.startRun('j', Date.now()), [{ id: 's', head: '{"messages":', tail: '}' }], [{ key: ${JSON.stringify(key)}, label: null, spec: 's', messages: '[]' }], [], 1);
        ledger.close();
        console.log('ok');
      } catch (error) {
        console.log(error.message);
      }`);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
  }

  // Before 2026-12-03, most such starts had a worker fail (16 rounds of 20, two processes): SQLITE_BUSY from the switch to
  // WAL (which does not wait), or a migration from schema 0 run a second time over the first one's tables.
  it('none fails, and none loses what another wrote: the schema is made once', async () => {
    for (let round = 0; round < 3; round++) {
      const path = tempPath();
      const at = Date.now() + 1_000; // past every process's start
      const keys = ['a', 'b', 'c'].map((k) => `${k}${round}`);
      expect(await Promise.all(keys.map((key) => opener(path, at, key)))).toEqual(['ok', 'ok', 'ok']);
      const ledger = new Ledger(path);
      for (const key of keys) expect(ledger.request('scope-a', key), `round ${round}: request ${key}`).toMatchObject({ state: 'pending' });
      ledger.close();
    }
  }, 60_000);
});

describe('another worker writing the ledger all the time', () => {
  /**
   * Makes `calls` calls of `call` (this process's ledger) while another process writes the ledger (a
   * heartbeat after another) until told to stop (a file appears), not for a time: on a loaded machine
   * a fixed time held too few of this process's calls (2,800 of the 5,000 asked for, under 12 other
   * busy processes). Returns the codes of the calls that failed, and how many the other process made.
   */
  async function underAnotherWriter(path: string, calls: number, call: (i: number) => void): Promise<{ failures: string[]; theirs: number }> {
    const stop = `${path}.stop`;
    const other = ledgerProcess(`
      const { existsSync } = await import('node:fs');
      const ledger = new Ledger(${JSON.stringify(path)});
      const run = ledger.startRun('other', Date.now());
      console.log('writing');
      let beats = 0;
      while (!existsSync(${JSON.stringify(stop)})) for (let i = 0; i < 100; i++, beats++) ledger.heartbeat(run, Date.now());
      ledger.close();
      console.log(beats);`);
    let out = '';
    other.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    await vi.waitFor(() => expect(out).toContain('writing'), { timeout: 10_000 });
    const done = new Promise((resolve) => other.on('close', resolve));
    const failures: string[] = [];
    for (let i = 0; i < calls; ) {
      for (let round = 0; round < 200 && i < calls; round++, i++) {
        try {
          call(i);
        } catch (error) {
          failures.push((error as { code?: string }).code ?? String(error));
        }
      }
      // Turns of the event loop between rounds.
      await new Promise((resolve) => setImmediate(resolve));
    }
    writeFileSync(stop, '');
    await done;
    return { failures, theirs: Number(out.trim().split('\n').pop()) };
  }

  // Before 2026-12-03 about one failBatch in 10,000 failed (SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT): its
  // transaction read the batch, and the write after that read does not wait for the other writer.
  it('failBatch (a read, then writes) waits for its turn instead of failing', async () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const run = ledger.startRun('j', Date.now());
    const { failures, theirs } = await underAnotherWriter(path, 6_000, (i) => {
      const { id } = ledger.openBatch(identity, run, 'j', `n${i}`, [], Date.now());
      ledger.failBatch(id, Date.now(), 'gone', 'creating');
    });
    ledger.close();
    expect(failures).toEqual([]);
    // The other process wrote all along: hundreds of its own transactions at least (thousands on an
    // idle machine; 800 in a full `npm test` on 2 cores).
    expect(theirs).toBeGreaterThan(200);
  }, 60_000);

  // helper-54: of three runs of one job started together on one ledger, one in two died with "database
  // is locked" (exit 1): the intake of records whose requests another run had written read the
  // ledger, then noted them for its job (a write), and that write does not wait for the other writer.
  it('the intake of records whose requests another run wrote (a read, then a note) waits for its turn instead of failing', async () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const first = ledger.startRun('j', Date.now());
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    ledger.intake('scope-a', first, [{ id: 's', head: '{"messages":', tail: '}' }], keys.map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 1);
    const run = ledger.startRun('j', Date.now());
    const { failures, theirs } = await underAnotherWriter(path, 4_000, (seq) =>
      ledger.intake('scope-a', run, [], [], [{ seq, line: seq + 2, data: '{}', key: keys[seq % keys.length] as string, error: null }], Date.now()),
    );
    ledger.close();
    expect(failures).toEqual([]);
    expect(theirs).toBeGreaterThan(200);
  }, 60_000);
});

describe('a run that ends while another worker holds the write lock', () => {
  // helper-102: schema 12's endRun folded the log (a read) before its first write, in a deferred
  // transaction: that write does not wait for another writer (SQLITE_BUSY at once), so a run beside a
  // busy worker failed at its very end.
  it('waits for its turn instead of failing', async () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const run = ledger.startRun('j', Date.now());
    const other = ledgerProcess(`
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(${JSON.stringify(path)});
      db.exec('BEGIN IMMEDIATE');
      db.prepare("INSERT INTO written (id, path, as_what, noted_at) VALUES ('x', 'p', 'a', 1)").run();
      console.log('locked');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
      db.exec('COMMIT');
      db.close();`);
    let out = '';
    other.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const done = new Promise((resolve) => other.on('close', resolve));
    await vi.waitFor(() => expect(out).toContain('locked'), { timeout: 10_000 });
    expect(() => ledger.endRun(run)).not.toThrow();
    expect(ledger.run(run)).toBeUndefined();
    await done;
    ledger.close();
  }, 30_000);
});

describe('a ledger path that cannot be one', () => {
  it('a folder is named as one, with a file to give instead', () => {
    const dir = dirname(tempPath());
    expect(() => new Ledger(dir)).toThrow(expect.objectContaining({ code: 'BE_LEDGER', message: `The ledger ${dir} is a folder: give a file in it, such as ${join(dir, 'ledger.db')}` }));
  });

  it('a folder that cannot be made: the system error once, not its code twice', () => {
    expect(() => new Ledger('/proc/no-such-folder/ledger.db')).toThrow(
      expect.objectContaining({ code: 'BE_LEDGER', message: "Cannot open the ledger /proc/no-such-folder/ledger.db: ENOENT: no such file or directory, mkdir '/proc/no-such-folder'" }),
    );
  });
});

// helper-75: a ledger whose folder is read-only (its file writable) failed with SQLite's own words alone.
describe('cannotOpen: why a SQLite ledger cannot be opened', () => {
  it('a read-only folder is named, with the files SQLite writes there and what to do', () => {
    const error = Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY_DIRECTORY' });
    expect(cannotOpen('/data/ro/l.db', error).message).toBe(
      'Cannot open the ledger /data/ro/l.db: SQLITE_READONLY_DIRECTORY: attempt to write a readonly database; its folder /data/ro is read-only, and SQLite writes its journal files (l.db-wal, l.db-shm) beside it: make the folder writable, or give a ledger in a writable one (--ledger)',
    );
    expect(cannotOpen('/x/l.db', Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })).message).toBe('Cannot open the ledger /x/l.db: ENOENT: no such file');
  });
});

// helper-77: `postgress://app:s3cret@db/etl`, `mysql://…`, `sqlite:///tmp/x.db` or `:memory` became a
// SQLite file tree in the working directory (the password in a folder's name): the answers the user
// thought shared were in a stray local file.
describe('openLedger: a value that is neither a PostgreSQL URL nor a SQLite file path', () => {
  it.each([
    ['postgress://app:s3cret@db.internal/etl', /^--ledger \(the library's ledger\): postgress:\/\/app@db\.internal\/etl is a URL of a kind the ledger is not: a PostgreSQL URL starts postgres:\/\/ or postgresql:\/\/; a SQLite ledger is a file path$/],
    ['mysql://root@db/x', /is a URL of a kind the ledger is not/],
    ['sqlite:///tmp/x.db', /^--ledger \(the library's ledger\): sqlite:\/\/\/tmp\/x\.db is a URL of a kind the ledger is not: .*; a SQLite ledger is a file path: \/tmp\/x\.db$/],
    ['file:/tmp/y.db', /^--ledger \(the library's ledger\): file:\/tmp\/y\.db is a URL of a kind the ledger is not: .*a SQLite ledger is a file path: \/tmp\/y\.db$/],
    [':memory', /^--ledger \(the library's ledger\): ":memory" is no file to keep: did you mean :memory: \(a ledger in memory, kept nowhere\)\?$/],
    // helper-78: one slash, or none, after a PostgreSQL scheme was still a path, the password in a folder's name.
    ['postgres:/app:s3cret@db/etl', /^--ledger \(the library's ledger\): postgres:\/app:…@db\/etl is not a PostgreSQL URL: it starts postgres:\/\/ or postgresql:\/\/ \(two slashes\)$/],
    ['postgresql:db', /is not a PostgreSQL URL: it starts postgres:\/\/ or postgresql:\/\//],
    // helper-88 #10: `~/x/l.db` made a folder named ~ in the working directory (the shell expands ~, the
    // library does not, nor does bash in --ledger=~/x): run from elsewhere, the same code paid again.
    ['~/x/l.db', /^--ledger \(the library's ledger\): ~\/x\/l\.db starts with ~, which only a shell expands \(not in --ledger=~\/…, nor in the library\): give the path from \/, or \$HOME\/x\/l\.db in a shell$/],
  ])('%s is refused, naming it without its password, and nothing is made in the working directory', async (spec, message) => {
    const made = spec.split('/')[0] as string; // what a SQLite file at `spec` would make first
    try {
      await expect(openLedger(spec)).rejects.toMatchObject({ code: 'BE_INVALID_OPTION', message: expect.stringMatching(message) });
      expect(existsSync(made)).toBe(false);
    } finally {
      rmSync(made, { recursive: true, force: true });
    }
  });
});

describe('a ledger written by a newer batch-enrich', () => {
  it('is refused, and left as it is', () => {
    const path = tempPath();
    new Ledger(path).close();
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => new Ledger(path)).toThrow(expect.objectContaining({ code: 'BE_LEDGER', message: expect.stringContaining('written by a newer batch-enrich (schema 99 > 12)') }));
    const after = new Database(path, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(99);
    after.close();
  });
});

describe('migration from schema 4', () => {
  it('keeps answers, splits --id-field labels out of keys, claims known batches and forgets credentials in base URLs', () => {
    const path = tempPath();
    const hash = 'H'.repeat(22);
    const old = new Database(path);
    old.exec(SCHEMA_4);
    old.exec(`
      INSERT INTO specs VALUES ('s', '{"model":"m","max_tokens":5,"messages":', '}');
      INSERT INTO results VALUES (1, '{"type":"succeeded"}');
      INSERT INTO requests VALUES (1, 'scope-a', 'T-42-${hash}', 's', 'done', 1, 1, NULL, 1, 10);
      INSERT INTO requests VALUES (2, 'scope-a', '${'b'.repeat(22)}', 's', 'done', 1, 1, NULL, NULL, 10);
      INSERT INTO payloads VALUES (1, '[]'), (2, '[]');
      INSERT INTO batches VALUES (1, 'scope-a', 1, 'j', 'nonce1', 'msgbatch_1', 'downloaded', 2, 100, 1, 1, 'http://user:pw@gateway.local:8080', '2026-10-21', 'abcd1234', NULL);
      INSERT INTO runs VALUES (1, 'j', ${process.pid}, 1);
      INSERT INTO records VALUES (1, 0, 2, '{"id":42}', 'T-42-${hash}', NULL);
    `);
    old.close();

    const ledger = new Ledger(path);
    expect(ledger.request('scope-a', hash)).toMatchObject({ key: hash, label: 'T-42', state: 'done' });
    expect(ledger.storedResult('scope-a', hash)).toBe('{"type":"succeeded"}');
    expect(ledger.request('scope-a', 'b'.repeat(22))).toMatchObject({ label: null });
    expect(ledger.batch(1)?.base_url).toBe('http://gateway.local:8080');
    expect(ledger.claimant('msgbatch_1')).toBe(1);
    // A run from before heartbeats is not alive, whatever its pid.
    expect(ledger.runAlive(1, Date.now())).toBe(false);
    // Records of runs of an older batch-enrich (a spill buffer of a run that cannot read them back now) are gone.
    expect(ledger.records('scope-a', 1, 0, 10)).toEqual([]);
    ledger.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(12);
    // Schema 12: the requests' rows are no longer updated; what becomes of them is in the log (none yet).
    expect(db.prepare('SELECT COUNT(*) FROM log').pluck().get()).toBe(0);
    expect(db.prepare('SELECT state, batch_id, result_id FROM request_rows ORDER BY id').all()).toEqual([
      { state: 'done', batch_id: 1, result_id: 1 },
      { state: 'done', batch_id: 1, result_id: null },
    ]);
    // Schema 11: the files runs wrote.
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'written'").pluck().get()).toBe('written');
    // The requests' key hashes are a column of their rows, under no index (schema 9: the key tables of schema 8 are gone).
    expect(db.prepare('SELECT key, h FROM request_rows ORDER BY id').all()).toEqual([hash, 'b'.repeat(22)].map((key) => ({ key, h: keyHash('scope-a', key) })));
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name IN ('keys', 'keys_new', 'request_keys') OR (type = 'index' AND tbl_name = 'request_rows' AND sql LIKE '%(h)%')").all()).toEqual([]);
    expect(db.prepare("SELECT v FROM meta WHERE k = 'last_request_id'").pluck().get()).toBe(2);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'records'").all()).toEqual([]);
    db.close();
  });
});

describe("a snapshot of the requests' states", () => {
  // A connection folds the log from the ledger's last snapshot on (src/ledger/states.ts), not from its
  // first entry: a million answered requests took 2.5-3.5 s of CPU to open, 0.05-0.1 s from a snapshot.
  const SPEC = { id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' };
  const T = 1_700_000_000_000;
  const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
  const known = (ledger: Ledger) => Object.fromEntries([...ledger.known('scope-a', keys)].map(([key, r]) => [key, [r.state, r.batch_id, r.attempts, r.max_tokens, r.updated_at]]));

  it('is written at the end of a run once the log has grown enough, and a connection opened later sees what one that folded every entry sees', () => {
    const path = tempPath();
    const ledger = new Ledger(path, { snapshotAfter: 2 });
    const run = ledger.startRun('j', T);
    ledger.intake('scope-a', run, [SPEC], keys.map((key) => ({ key, label: null, spec: 's', messages: `["${key}"]` })), [], T);
    const first = ledger.openBatch(identity, run, 'j', 'n1', keys.slice(0, 20), T + 1);
    const waiting = [...ledger.submittedOf(first.id).values()];
    ledger.settle(first.id, waiting.slice(0, 10).map((w) => ({ waiting: w, result: '{"type":"succeeded"}', retry: false })), T + 2);
    ledger.settle(first.id, waiting.slice(10, 12).map((w) => ({ waiting: w, result: '{"type":"succeeded","cut":1}', retry: true, maxTokens: 64 })), T + 3);
    const snapshotRow = () => {
      const db = new Database(path, { readonly: true });
      const row = db.prepare('SELECT seq, request_id FROM snapshots').get();
      db.close();
      return row;
    };
    expect(snapshotRow()).toBeUndefined();
    ledger.endRun(run);
    expect(snapshotRow()).toEqual({ seq: 3, request_id: 30 }); // the batch's entry, then one for each chunk of answers
    // Work after the snapshot: folded on top of it by a connection that opens now.
    const later = ledger.openBatch(identity, ledger.startRun('j', T + 4), 'j', 'n2', keys.slice(10, 25), T + 4);
    expect(later.keys).toEqual([...keys.slice(10, 12), ...keys.slice(20, 25)]);
    expect(ledger.failBatch(first.id, T + 5, 'gone', 'creating')).toBe(8);
    const fresh = new Ledger(path);
    expect(known(fresh)).toEqual(known(ledger));
    expect(known(fresh)['k11']).toEqual(['submitted', later.id, 2, 64, T + 4]);
    expect(known(fresh)['k15']).toEqual(['pending', null, 0, null, T + 1]); // a release leaves updated_at as it was
    // Without its snapshot the same ledger folds from the first entry, to the same picture.
    const db = new Database(path);
    db.exec('DELETE FROM snapshots');
    db.close();
    const whole = new Ledger(path);
    expect(known(whole)).toEqual(known(ledger));
    for (const each of [ledger, fresh, whole]) each.close();
  });
});

describe('a request another process deleted (gc) while this connection held its state', () => {
  // helper-102 #2: the fold of a connection keeps the state of a request whose row another process's gc
  // deleted (ids are never given again, and each lookup checks the row); a batch's price was read from
  // its first member, and with that one gone `status --json` had no spec for the batch.
  it('does not hide the spec of its batch', () => {
    const path = tempPath();
    const SPEC = { id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' };
    const ledger = new Ledger(path);
    const run = ledger.startRun('j', 1);
    ledger.intake('scope-a', run, [SPEC], ['a', 'b'].map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 1);
    const { id } = ledger.openBatch(identity, run, 'j', 'n', ['a', 'b'], 2);
    ledger.settle(id, [...ledger.submittedOf(id).values()].map((waiting) => ({ waiting, result: '{"type":"succeeded"}', retry: false })), 3);
    tamper(path, "DELETE FROM request_rows WHERE key = 'a'");
    expect(ledger.batchSpecs([id]).get(id)?.id).toBe('s');
    ledger.close();
  });
});

describe('migration from schema 11, with work in flight', () => {
  // Schema 12 stops updating a request's row (src/ledger/states.ts): a row migrated keeps the state it
  // had, and the log goes on from it. Its batches list no members: they are found by that state.
  it('goes on from each request as it stood: a batch in progress is read, answered and released as before, and every connection sees the same', () => {
    const path = tempPath();
    const T = 1_700_000_000_000;
    const old = new Database(path);
    old.exec(SCHEMA_11);
    const h = (key: string) => keyHash('scope-a', key);
    old.exec(`
      INSERT INTO specs VALUES ('s', '{"model":"m","max_tokens":5,"messages":', '}');
      INSERT INTO results VALUES (1, '{"type":"succeeded","n":1}'), (2, '{"type":"succeeded","cut":true}');
      INSERT INTO requests (id, scope, key, label, spec, state, batch_id, attempts, max_tokens, result_id, updated_at, h) VALUES
        (1, 'scope-a', 'k1', NULL, 's', 'done', 1, 1, NULL, 1, ${T}, ${h('k1')}),
        (2, 'scope-a', 'k2', 'L2', 's', 'submitted', 2, 1, NULL, NULL, ${T}, ${h('k2')}),
        (3, 'scope-a', 'k3', NULL, 's', 'submitted', 2, 2, 900, 2, ${T}, ${h('k3')}),
        (4, 'scope-a', 'k4', NULL, 's', 'pending', NULL, 0, NULL, NULL, ${T}, ${h('k4')});
      INSERT INTO payloads VALUES (1, '["m1"]'), (2, '["m2"]'), (3, '["m3"]'), (4, '["m4"]');
      INSERT INTO batches (id, scope, run, job, nonce, remote_id, state, request_count, bytes, created_at, updated_at, base_url, api_version, key_fingerprint) VALUES
        (1, 'scope-a', 1, 'j', 'n1', 'msgbatch_1', 'downloaded', 1, 10, ${T}, ${T}, 'https://api.anthropic.com', '2026-10-21', 'abcd1234'),
        (2, 'scope-a', 1, 'j', 'n2', 'msgbatch_2', 'in_progress', 2, 20, ${T}, ${T}, 'https://api.anthropic.com', '2026-10-21', 'abcd1234');
      INSERT INTO claims VALUES ('msgbatch_1', 1), ('msgbatch_2', 2);
      INSERT INTO scopes VALUES ('scope-a');
      INSERT INTO meta VALUES ('last_request_id', 4);
    `);
    old.close();

    const ledger = new Ledger(path);
    const other = new Ledger(path);
    const states = (of: Ledger) => Object.fromEntries([...of.known('scope-a', ['k1', 'k2', 'k3', 'k4'])].map(([key, r]) => [key, [r.state, r.batch_id, r.attempts, r.max_tokens]]));
    expect(states(ledger)).toEqual({ k1: ['done', 1, 1, null], k2: ['submitted', 2, 1, null], k3: ['submitted', 2, 2, 900], k4: ['pending', null, 0, null] });
    const waiting = ledger.submittedOf(2);
    expect([...waiting].map(([key, w]) => [key, w.id, w.attempts, w.max_tokens, w.result_id])).toEqual([
      ['k2', 2, 1, null, null],
      ['k3', 3, 2, 900, 2],
    ]);
    expect(ledger.batchPage(2, 0, 10).map((row) => [row.key, row.label, row.messages, row.max_tokens])).toEqual([
      ['k2', 'L2', '["m2"]', null],
      ['k3', null, '["m3"]', 900],
    ]);
    expect(ledger.batchPage(2, 2, 10).map((row) => row.key)).toEqual(['k3']);
    expect(ledger.unanswered(2)).toEqual(['k2', 'k3']);
    expect(ledger.resultCounts([1, 2])).toEqual(
      new Map([
        [1, { processing: 0, succeeded: 1, errored: 0, canceled: 0, expired: 0 }],
        [2, { processing: 2, succeeded: 0, errored: 0, canceled: 0, expired: 0 }],
      ]),
    );
    expect([...ledger.batchSpecs([1, 2]).values()].map((spec) => spec.id)).toEqual(['s', 's']);

    // The batch answers: k3's earlier result is replaced in place; a second store is ignored.
    const answers = [...waiting.values()].map((w, i) => ({ waiting: w, result: `{"type":"succeeded","answer":${i}}`, retry: false }));
    expect(ledger.settle(2, answers, T + 1)).toEqual([true, true]);
    expect(other.settle(2, answers, T + 2)).toEqual([false, false]);
    expect(other.storedResult('scope-a', 'k3')).toBe('{"type":"succeeded","answer":1}');
    expect(other.storedResult('scope-a', 'k2')).toBe('{"type":"succeeded","answer":0}');
    expect(states(other)).toEqual({ k1: ['done', 1, 1, null], k2: ['done', 2, 1, null], k3: ['done', 2, 2, 900], k4: ['pending', null, 0, null] });
    expect(other.resultCounts([2]).get(2)).toEqual({ processing: 0, succeeded: 2, errored: 0, canceled: 0, expired: 0 });

    // A new batch takes the pending request, once; it fails, and the request is pending again.
    const run = ledger.startRun('j', T + 3);
    const opened = ledger.openBatch(identity, run, 'j', 'n3', ['k4', 'k4', 'k1'], T + 3);
    expect(opened.keys).toEqual(['k4']);
    expect(other.openBatch(identity, run, 'j', 'n4', ['k4'], T + 3).keys).toEqual([]);
    expect(states(other)['k4']).toEqual(['submitted', opened.id, 1, null]);
    expect(other.failBatch(opened.id, T + 4, 'create refused', 'creating')).toBe(1);
    expect(states(ledger)['k4']).toEqual(['pending', null, 0, null]);
    // An answered request reopened only as it was seen.
    const k1 = ledger.known('scope-a', ['k1']).get('k1')!;
    expect(other.reopenRequest('scope-a', 'k1', T + 5, k1.updated_at + 1)).toBe(false);
    expect(other.reopenRequest('scope-a', 'k1', T + 5, k1.updated_at)).toBe(true);
    expect(states(ledger)['k1']).toEqual(['pending', null, 0, null]);
    ledger.endRun(run);

    // A connection opened now reads the rows and the whole log: the same picture.
    const fresh = new Ledger(path);
    expect(states(fresh)).toEqual(states(ledger));
    expect(fresh.submittedOf(2).size).toBe(0);
    for (const each of [ledger, other, fresh]) each.close();
  });
});

describe("a run's records live in a scratch file of its own, not in the ledger", () => {
  const SPEC = { id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' };
  const record = (seq: number, key: string) => ({ seq, line: seq + 2, data: `{"n":${seq}}`, key, error: null });
  const scratchFiles = (path: string) => readdirSync(dirname(path)).filter((name) => name.includes('.run-'));

  it('is written beside the ledger (owner only), read back in order with its answers, and deleted when the run ends', () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const run = ledger.startRun('j', Date.now());
    ledger.intake('scope-a', run, [SPEC], [{ key: 'k1', label: null, spec: 's', messages: '[]' }], [record(0, 'k1'), record(1, 'k1')], 1);
    const [file] = scratchFiles(path);
    expect(file).toMatch(/^ledger\.db\.run-[0-9a-f]{12}$/);
    expect(statSync(join(dirname(path), file!)).mode & 0o777).toBe(0o600);
    expect(ledger.run(run)?.scratch).toBe(file);
    expect(ledger.records('scope-a', run, 0, 10).map((r) => [r.seq, r.key, r.state])).toEqual([
      [0, 'k1', 'pending'],
      [1, 'k1', 'pending'],
    ]);
    // Nothing of the records in the ledger file itself.
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'records'").all()).toEqual([]);
    db.close();
    ledger.endRun(run);
    expect(scratchFiles(path)).toEqual([]);
    expect(ledger.request('scope-a', 'k1')).toMatchObject({ state: 'pending' });
    ledger.close();
  });

  it('two runs of one connection share the file: ending one keeps the other\'s records', () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const a = ledger.startRun('j', Date.now());
    const b = ledger.startRun('j', Date.now());
    ledger.intake('scope-a', a, [SPEC], [], [record(0, 'ka')], 1);
    ledger.intake('scope-a', b, [SPEC], [], [record(0, 'kb'), record(1, 'kb')], 1);
    ledger.endRun(a);
    expect(ledger.records('scope-a', a, 0, 10)).toEqual([]);
    expect(ledger.records('scope-a', b, 0, 10).map((r) => r.key)).toEqual(['kb', 'kb']);
    expect(scratchFiles(path)).toHaveLength(1);
    ledger.endRun(b);
    expect(scratchFiles(path)).toEqual([]);
    ledger.close();
  });

  it("a run that died without ending leaves its file, deleted by the next run's start; a live run's file stays", () => {
    const path = tempPath();
    new Ledger(path).close();
    const now = Date.now();
    const folder = dirname(path);
    writeFileSync(join(folder, 'ledger.db.run-00000000dead'), 'records of a killed run');
    writeFileSync(join(folder, 'ledger.db.run-00000000a11e'), 'records of a run elsewhere');
    const raw = new Database(path);
    const insert = raw.prepare('INSERT INTO runs (job, pid, started_at, host, heartbeat_at, scratch) VALUES (?, ?, ?, ?, ?, ?)');
    insert.run('j', 999_999_999, now - 60_000, HOST, now - 60_000, 'ledger.db.run-00000000dead'); // its pid is gone from this host
    insert.run('j', 4_194_000, now, 'worker-7', now, 'ledger.db.run-00000000a11e'); // beating on another machine
    insert.run('j', 999_999_998, now - 60_000, HOST, now - 60_000, '../../etc/passwd'); // never a path out of the folder
    raw.close();
    const ledger = new Ledger(path);
    const run = ledger.startRun('j', now);
    expect(scratchFiles(path).sort()).toEqual(['ledger.db.run-00000000a11e', ledger.run(run)?.scratch].sort());
    ledger.close();
    // Closing the connection ends what it held: its file goes too.
    expect(scratchFiles(path)).toEqual(['ledger.db.run-00000000a11e']);
  });

  it('gc deletes no request while a run of another connection may still read its records; its own runs hold theirs', async () => {
    const path = tempPath();
    const a = new Ledger(path);
    const b = new Ledger(path);
    const runA = a.startRun('j', Date.now());
    a.intake('scope-a', runA, [SPEC], [{ key: 'k1', label: null, spec: 's', messages: '[]' }], [record(0, 'k1')], 1);
    const runB = b.startRun('j', Date.now());
    b.intake('scope-a', runB, [SPEC], [{ key: 'k2', label: null, spec: 's', messages: '[]' }], [], 1);
    // Kept, and why: the run named, with its pid and host.
    const kept = expect.stringMatching(new RegExp(`^run ${runA} \\(pid ${process.pid} on .*, last heard from 0 s ago\\) may still be working, and its records point at requests`));
    expect(b.gcPreview(Date.now(), Date.now())).toEqual({ batches: 0, requests: 0, kept });
    expect(await b.gc(Date.now(), Date.now())).toEqual({ batches: 0, requests: 0, kept });
    // The connection whose run holds k1 sees its record, and deletes only k2 once b's run has ended.
    expect((await a.gc(Date.now(), Date.now())).requests).toBe(0);
    b.endRun(runB);
    b.close();
    expect(await a.gc(Date.now(), Date.now())).toEqual({ batches: 0, requests: 1 });
    expect(a.request('scope-a', 'k1')).toBeDefined();
    expect(a.request('scope-a', 'k2')).toBeUndefined();
    a.close();
  });
});

describe('gc beside other runs', () => {
  const SPEC = { id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' };
  /** A ledger of 25 answered requests in a downloaded batch (20 of their keys merged in the key index, 5 new), untouched since 4. */
  function answered(options: ConstructorParameters<typeof Ledger>[1]) {
    const path = tempPath();
    const ledger = new Ledger(path, { keysMergeAt: 20, ...options });
    const run = ledger.startRun('j', Date.now());
    const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
    for (const chunk of [keys.slice(0, 20), keys.slice(20)]) ledger.intake('scope-a', run, [SPEC], chunk.map((key) => ({ key, label: null, spec: 's', messages: `["${key}"]` })), [], 1);
    const { id } = ledger.openBatch(identity, run, 'j', 'n', keys, 2);
    const waiting = ledger.submittedOf(id);
    ledger.settle(id, keys.map((key) => ({ waiting: waiting.get(key)!, result: `{"r":"${key}"}`, retry: false })), 3);
    ledger.setBatchState(id, 'downloaded', 4);
    ledger.endRun(run);
    return { path, ledger, keys };
  }
  const rowCounts = (path: string) => {
    const db = new Database(path, { readonly: true });
    const n = (table: string) => db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
    const counts = { requests: n('request_rows'), payloads: n('payloads'), results: n('results') };
    db.close();
    return counts;
  };

  it('a run of another connection killed on this host (its pid gone) keeps no request from gc, however fresh its last heartbeat', async () => {
    const { path, ledger } = answered({});
    const other = new Ledger(path);
    // Of another job: a killed try keeps its own job's work (see tryMark), not the others'.
    const killed = other.startRun('another-job', Date.now());
    other.close(); // its scratch file goes; its row stays, as after a SIGKILL
    // A pid that is not alive here (pid_max on Linux is at most 2^22).
    tamper(path, 'UPDATE runs SET pid = ? WHERE id = ?', 2 ** 22 + 1, killed);
    expect(await ledger.gc(10, 10)).toEqual({ batches: 1, requests: 25 });
    ledger.close();
  });

  it('deletes in steps, each request with its payload and result; a run of another connection that starts between two steps stops it', async () => {
    const { path, ledger, keys } = answered({ gcStep: 1, gcPauseMs: 0 });
    expect(rowCounts(path)).toEqual({ requests: 25, payloads: 25, results: 25 });
    const other = new Ledger(path);
    const gc = ledger.gc(10, 10); // its first step is made before its first pause
    const running = other.startRun('j', Date.now());
    expect(await gc).toEqual({ batches: 1, requests: 1, kept: expect.stringContaining(`run ${running} `) });
    expect(rowCounts(path)).toEqual({ requests: 24, payloads: 24, results: 24 });
    for (const key of keys.slice(1)) expect(ledger.storedResult('scope-a', key)).toBe(`{"r":"${key}"}`);
    // Once that run has ended, the rest goes, a request a step.
    other.endRun(running);
    expect(await ledger.gc(10, 10)).toEqual({ batches: 0, requests: 24 });
    expect(rowCounts(path)).toEqual({ requests: 0, payloads: 0, results: 0 });
    expect(ledger.known('scope-a', keys).size).toBe(0);
    other.close();
    ledger.close();
  });

  it('a gc stopped between two steps (its process killed) leaves a ledger that works: the same requests written again take new ids and are found, by it and by a connection that had seen the old ones', async () => {
    const { path, ledger, keys } = answered({ gcStep: 5, gcPauseMs: 60_000 });
    const seen = new Ledger(path);
    expect(seen.known('scope-a', keys).size).toBe(25); // its key index holds the old ids
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const gc = ledger.gc(10, 10); // its first step is made before its first pause
      expect(rowCounts(path)).toEqual({ requests: 20, payloads: 20, results: 20 });
      ledger.close(); // as a kill would
      const stopped = expect(gc).rejects.toThrow();
      await vi.advanceTimersByTimeAsync(60_000);
      await stopped;
    } finally {
      vi.useRealTimers();
    }
    const again = new Ledger(path, { keysMergeAt: 20 });
    expect(await again.gc(10, 10)).toEqual({ batches: 0, requests: 20 });
    const run = again.startRun('j', Date.now());
    again.intake('scope-a', run, [SPEC], keys.map((key) => ({ key, label: null, spec: 's', messages: `["${key} again"]` })), [], 20);
    expect(again.payload('scope-a', 'k24')).toMatchObject({ id: 50, messages: '["k24 again"]' });
    expect([...again.known('scope-a', keys).keys()]).toEqual(keys);
    // The connection that had seen ids 1 to 25 finds the new requests, and writes none of them twice.
    expect([...seen.known('scope-a', keys).values()].map((row) => row.state)).toEqual(keys.map(() => 'pending'));
    seen.intake('scope-a', seen.startRun('j', Date.now()), [], keys.map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 21);
    expect(rowCounts(path)).toEqual({ requests: 25, payloads: 25, results: 0 });
    seen.close();
    again.close();
  });

  it('compact refuses while a run is alive in the ledger, and compacts once none is', () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const other = new Ledger(path);
    const running = other.startRun('j', Date.now());
    expect(() => ledger.compact()).toThrow('1 run is using it');
    other.endRun(running);
    expect(() => ledger.compact()).not.toThrow();
    other.close();
    ledger.close();
  });
});

describe('batch pages', () => {
  it('a request whose spec is missing stops the body with the reason, instead of leaving the request out (which would end the body early)', () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    ledger.ensureSpec('s', '{"model":"m","max_tokens":5,"messages":', '}');
    for (const key of ['a', 'b']) ledger.insertRequest('scope-a', key, null, 's', `["${key}"]`, 1);
    const { id } = ledger.openBatch(identity, ledger.startRun('j', Date.now()), 'j', 'n', ['a', 'b'], 2);
    ledger.close();
    tamper(path, 'DELETE FROM specs');
    const again = new Ledger(path);
    expect(() => again.batchPage(id, 0, 10)).toThrow(/lacks the spec s of request a/);
    again.close();
  });
});

describe('row ids', () => {
  it('a result that finds its request no longer waiting is not kept (a re-download adds no row); requests written after a gc never take the ids it freed', async () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    const run = ledger.startRun('j', Date.now());
    const keys = Array.from({ length: 150 }, (_, i) => `k${i}`);
    ledger.intake('scope-a', run, [{ id: 's', head: '{"messages":', tail: '}' }], keys.map((key) => ({ key, label: null, spec: 's', messages: `["${key}"]` })), [], 1);
    const { id } = ledger.openBatch(identity, run, 'j', 'n', keys, 2);
    const waiting = ledger.submittedOf(id);
    const settlements = keys.map((key) => ({ waiting: waiting.get(key)!, result: `{"r":"${key}"}`, retry: false }));
    expect(ledger.settle(id, settlements, 3).every(Boolean)).toBe(true);
    expect(ledger.settle(id, settlements, 4).some(Boolean)).toBe(false);
    const db = new Database(path, { readonly: true });
    expect((db.prepare('SELECT COUNT(*) AS n FROM results').get() as { n: number }).n).toBe(150);
    db.close();
    // gc deletes the requests; the next requests written take ids past theirs (a connection that
    // saw the old ids reads only the ids above them), each with its own payload and no result.
    ledger.setBatchState(id, 'downloaded', 5);
    ledger.endRun(run, { complete: true, now: 5, scope: 'scope-a' });
    expect(await ledger.gc(10, 10)).toEqual({ batches: 1, requests: 150 });
    ledger.intake('scope-a', ledger.startRun('j', Date.now()), [{ id: 's', head: '{"messages":', tail: '}' }], ['x', 'y', 'k3'].map((key) => ({ key, label: null, spec: 's', messages: `["new ${key}"]` })), [], 11);
    expect(['x', 'y', 'k3'].map((key) => ledger.payload('scope-a', key)?.id)).toEqual([151, 152, 153]);
    for (const key of ['x', 'y', 'k3']) {
      expect(ledger.payload('scope-a', key)?.messages).toBe(`["new ${key}"]`);
      expect(ledger.known('scope-a', [key]).get(key)).toMatchObject({ state: 'pending', failure: null });
      expect(ledger.storedResult('scope-a', key)).toBeUndefined();
    }
    expect(ledger.request('scope-a', 'k4')).toBeUndefined();
    ledger.close();
  });
});

describe('requests are found by a hash of scope and key', () => {
  it('two keys that share a hash are two requests, each found by its own key', () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    ledger.ensureSpec('s', '{"model":"m","max_tokens":5,"messages":', '}');
    ledger.insertRequest('scope-a', 'zz', null, 's', '["zz"]', 1);
    ledger.close();
    // Make `zz` collide with `b`: what a 53-bit hash does, rarely, among millions of keys.
    tamper(path, 'UPDATE request_rows SET h = ? WHERE key = ?', keyHash('scope-a', 'b'), 'zz');
    const again = new Ledger(path);
    again.insertRequest('scope-a', 'b', null, 's', '["b"]', 2);
    expect(again.payload('scope-a', 'b')?.messages).toBe('["b"]');
    expect(again.known('scope-a', ['b']).get('b')).toMatchObject({ key: 'b', updated_at: 2 });
    const run = again.startRun('j', Date.now());
    expect(again.openBatch(identity, run, 'j', 'n', ['b'], 3).keys).toEqual(['b']);
    expect(again.request('scope-a', 'zz')).toBeUndefined(); // its hash no longer matches its key: it is not found by it
    again.close();
  });

  it('requests written before and after a merge of the key index are found alike, and gc forgets the requests it deletes', async () => {
    const path = tempPath();
    const ledger = new Ledger(path, { keysMergeAt: 4 });
    const spec = { id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' };
    const run = ledger.startRun('j', Date.now());
    const key = (i: number) => `key-${i}`;
    const keys = Array.from({ length: 9 }, (_, i) => key(i));
    const counts = () => {
      const db = new Database(path, { readonly: true });
      const n = db.prepare('SELECT COUNT(*) FROM request_rows').pluck().get();
      db.close();
      return n;
    };
    // In chunks of 3: the key index merges its new keys once they are 4 (in the second chunk, and again in the third).
    for (let from = 0; from < keys.length; from += 3) {
      const chunk = keys.slice(from, from + 3);
      ledger.intake('scope-a', run, from === 0 ? [spec] : [], chunk.map((key) => ({ key, label: null, spec: 's', messages: `["${key}"]` })), chunk.map((key, i) => ({ seq: from + i, line: from + i + 2, data: '{}', key, error: null })), 1);
    }
    expect(counts()).toBe(9);
    // A request known already is not written twice, wherever its key is (merged or not), nor by another connection.
    ledger.intake('scope-a', run, [], [key(0), key(8)].map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 2);
    const other = new Ledger(path, { keysMergeAt: 4 });
    const otherRun = other.startRun('j', Date.now());
    other.intake('scope-a', otherRun, [], keys.map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 2);
    other.endRun(otherRun);
    other.close();
    expect(counts()).toBe(9);
    expect([...ledger.known('scope-a', [...keys, 'unknown']).keys()]).toEqual(keys);
    expect(ledger.payloads('scope-a', keys).get('key-8')?.messages).toBe('["key-8"]');
    expect(ledger.known('scope-b', keys).size).toBe(0);
    const { id, keys: taken } = ledger.openBatch(identity, run, 'j', 'n', [key(1), key(7), key(8)], 3);
    expect(taken).toEqual([key(1), key(7), key(8)]);
    expect(ledger.request('scope-a', key(8))).toMatchObject({ state: 'submitted', batch_id: id });
    ledger.endRun(run);
    expect(await ledger.gc(10, 10)).toEqual({ batches: 0, requests: 6 });
    expect(counts()).toBe(3);
    expect([...ledger.known('scope-a', keys).keys()]).toEqual([key(1), key(7), key(8)]);
    ledger.close();
  });

  it('an intake that fails is forgotten whole: the ids it gave are given again by another connection, and its requests are written later', () => {
    const path = tempPath();
    const spec = { id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' };
    const a = new Ledger(path);
    const runA = a.startRun('j', Date.now());
    const k1 = { key: 'k1', label: null, spec: 's', messages: '["k1"]' };
    // Its request is written (and taken into the key index) before its bad record fails the transaction.
    expect(() => a.intake('scope-a', runA, [spec], [k1], [{ seq: -1, line: 2, data: '{}', key: 'k1', error: null }], 1)).toThrow(RangeError);
    expect(a.known('scope-a', ['k1']).size).toBe(0);
    const b = new Ledger(path);
    b.intake('scope-a', b.startRun('j', Date.now()), [spec], [{ key: 'k2', label: null, spec: 's', messages: '["k2"]' }], [], 2);
    expect(b.payload('scope-a', 'k2')?.id).toBe(1);
    expect(a.payload('scope-a', 'k2')).toMatchObject({ id: 1, messages: '["k2"]' });
    a.intake('scope-a', runA, [], [k1], [{ seq: 0, line: 2, data: '{}', key: 'k1', error: null }], 3);
    expect(a.payload('scope-a', 'k1')).toMatchObject({ id: 2, messages: '["k1"]' });
    expect(b.known('scope-a', ['k1', 'k2']).size).toBe(2);
    a.close();
    b.close();
  });

  it('an id is never given twice, even when its row is deleted by other code than gc (a gc of an older batch-enrich still running as the ledger was migrated)', () => {
    const path = tempPath();
    const spec = { id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' };
    const write = (ledger: Ledger, key: string) => ledger.intake('scope-a', ledger.startRun('j', Date.now()), [spec], [{ key, label: null, spec: 's', messages: `["${key}"]` }], [], 1);
    const x = new Ledger(path);
    write(x, 'k1');
    write(x, 'k2');
    expect(x.known('scope-a', ['k1', 'k2']).size).toBe(2); // x has seen ids 1 and 2
    tamper(path, "DELETE FROM request_rows WHERE key = 'k2'");
    const y = new Ledger(path);
    write(y, 'k3');
    expect(y.payload('scope-a', 'k3')?.id).toBe(3);
    expect(x.payload('scope-a', 'k3')).toMatchObject({ id: 3, messages: '["k3"]' });
    x.close();
    y.close();
  });

  it('a request row without its hash is still found by its key (and not written again)', () => {
    const path = tempPath();
    const ledger = new Ledger(path);
    ledger.ensureSpec('s', '{"model":"m","max_tokens":5,"messages":', '}');
    ledger.insertRequest('scope-a', 'k', null, 's', '["k"]', 1);
    ledger.close();
    tamper(path, "UPDATE request_rows SET h = NULL WHERE key = 'k'");
    const again = new Ledger(path);
    expect(again.known('scope-a', ['k']).get('k')).toMatchObject({ key: 'k', state: 'pending' });
    again.insertRequest('scope-a', 'k', null, 's', '["k again"]', 2);
    expect(again.payload('scope-a', 'k')).toMatchObject({ id: 1, messages: '["k"]' });
    again.close();
  });

  it('keyHash is stable and a safe integer', () => {
    expect(keyHash('scope-a', 'k')).toBe(keyHash('scope-a', 'k'));
    expect(keyHash('scope-a', 'k')).not.toBe(keyHash('scope-b', 'k'));
    expect(keyHash('scope', 'ak')).not.toBe(keyHash('scopea', 'k'));
    expect(Number.isSafeInteger(keyHash('s', 'x'.repeat(1000)))).toBe(true);
  });
});
