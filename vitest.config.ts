import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The PostgreSQL server first: it must live where its own user can reach (tmpdir.ts makes TMPDIR private).
    globalSetup: ['test/helpers/postgres-server.ts', 'test/helpers/tmpdir.ts'],
    // A test file per core (vitest's default is one less than the cores: one on this 2-core machine).
    // Most of a CLI test's time is a spawned process's or a wait, so the second worker uses a core the
    // first leaves idle: the suite took 564 s with one worker and 428 s with two (2026-12-06, before
    // the bin became a bundle), and passed the same; with three, 419 s.
    maxWorkers: '100%',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
