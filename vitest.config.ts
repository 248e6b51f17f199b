import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The PostgreSQL server first: it must live where its own user can reach (tmpdir.ts makes TMPDIR private).
    globalSetup: ['test/helpers/postgres-server.ts', 'test/helpers/tmpdir.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
