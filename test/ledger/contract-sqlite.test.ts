/** The ledger contract on SQLite: a temporary ledger file, opened twice for two workers. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { Ledger } from '../../src/ledger/ledger.ts';
import { ledgerContract } from './contract.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

ledgerContract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'be-contract-'));
  dirs.push(dir);
  const path = join(dir, 'ledger.db');
  return async () => new Ledger(path);
});
