/**
 * A loopback TCP relay in front of a server (PostgreSQL) that a test can cut, as a server restart, a
 * failover or a proxy does: every connection through it dropped, and new ones refused, until it is
 * restored. Closed after each test.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach } from 'vitest';

let servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  servers = [];
});

export interface Relay {
  /** The target's URL with the relay's host and port in place of its own. */
  url: string;
  /** Drops every connection through the relay, and refuses new ones. */
  cut(): void;
  /** Lets new connections through again. */
  restore(): void;
}

export async function relay(target: string): Promise<Relay> {
  const to = new URL(target);
  const open = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = connect(Number(to.port || 5432), to.hostname);
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(socket);
      socket.pipe(other);
      const end = () => {
        open.delete(socket);
        other.destroy();
        socket.destroy();
      };
      socket.on('error', end).on('close', end);
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    cut: () => {
      down = true;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    restore: () => {
      down = false;
    },
  };
}
