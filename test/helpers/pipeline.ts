/**
 * Shared pieces for tests that run the library against the emulator: emulators and temporary
 * ledgers cleaned up after each test, a record-aware responder, and `enrich()` that collects output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { afterEach } from 'vitest';
import { z } from 'zod';
import { startEmulator, type EmulatorHandle, type EmulatorOptions, type ResponderResult } from '../../src/emulator/index.ts';
import { enrichStage, type EnrichOptions } from '../../src/enrich.ts';
import type { SourceRecord } from '../../src/stages/read.ts';

export const schema = z.object({ label: z.string(), n: z.number() });

let emulators: EmulatorHandle[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export async function emulator(options: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const emu = await startEmulator(options);
  emulators.push(emu);
  return emu;
}

export function tempLedger(): string {
  const dir = mkdtempSync(join(tmpdir(), 'be-ledger-'));
  dirs.push(dir);
  return join(dir, 'ledger.db');
}

/** The record id the responder reads back out of the prompt `item <id>: …`. */
export function idOf(params: Record<string, unknown>): string {
  const messages = params['messages'] as { content: string }[];
  return /item (\S+):/.exec(messages[0]?.content ?? '')?.[1] ?? '?';
}

export function sources(rows: Record<string, unknown>[]): SourceRecord[] {
  return rows.map((data, seq) => ({ seq, line: seq + 2, data }));
}

/** An answer that differs per record: `label-<id>` and `n = 2·id`. */
export const perRecord = ({ params }: { params: Record<string, unknown> }): ResponderResult => {
  const id = idOf(params);
  return { json: { label: `label-${id}`, n: Number(id) * 2 } };
};

/** Runs `enrichStage` over rows (or records) against the emulator and collects what comes out. */
export async function enrich(
  emu: EmulatorHandle,
  rows: Record<string, unknown>[] | AsyncIterable<SourceRecord>,
  options: Partial<EnrichOptions> = {},
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const source = Array.isArray(rows) ? Readable.from(sources(rows)) : rows;
  await pipeline(
    source,
    enrichStage({ prompt: 'item {{id}}: {{text}}', schema, apiKey: 'test-key', baseURL: emu.url, ledger: ':memory:', pollMinMs: 5, pollMaxMs: 20, ...options }),
    async (records: AsyncIterable<Record<string, unknown>>) => {
      for await (const record of records) out.push(record);
    },
  );
  return out;
}

/**
 * SQL that forgets every answer the SQLite ledger stored (schema 12: answers are entries of its log,
 * see src/ledger/states.ts): each answered request waits on its batch again, as when a run died
 * before it stored any result. Delete the `results` rows too for no trace of them.
 */
export const FORGET_ANSWERS = 'DELETE FROM log WHERE kind = 2';
/** SQL that forgets every batch the SQLite ledger sent each request in, and its answers: every request pending, never sent. */
export const FORGET_SENDING = 'DELETE FROM log';

/** Rewrites ledger rows as a crash at a chosen moment would have left them. */
export function tamper(path: string, sql: string, ...params: unknown[]): Database.RunResult {
  const db = new Database(path);
  const result = db.prepare(sql).run(...params);
  db.close();
  return result;
}

/** Request keys the emulator received more than once: each of those was paid twice (the key ends every custom_id). */
export function paidTwice(emu: EmulatorHandle): string[] {
  const perKey = new Map<string, number>();
  for (const [customId, n] of emu.submittedCustomIds()) {
    const key = customId.slice(customId.length - 22);
    perKey.set(key, (perKey.get(key) ?? 0) + n);
  }
  return [...perKey].filter(([, n]) => n > 1).map(([key]) => key);
}
