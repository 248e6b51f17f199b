/**
 * batch-enrich/emulator: a faithful local emulator of the Anthropic Message Batches API (plus
 * `/v1/messages` and `/v1/messages/count_tokens`), for tests and offline development.
 *
 * @example
 * const emu = await startEmulator({ processingMs: 0 });
 * const client = new Anthropic({ apiKey: 'test-key', baseURL: emu.url });
 * // ... create a batch, poll, download results ...
 * await emu.close();
 */
import type { EmulatorOptions } from './options.ts';
import { resolveOptions } from './options.ts';
import type { EmulatorStats } from './server.ts';
import { startServer } from './server.ts';

export type { EmulatorOptions } from './options.ts';
export type { EmulatorStats, RouteName } from './server.ts';
export type { ResponderResult, ResponderRequest, Responder, StopReason, Message, Usage } from './answer.ts';
export type { EmulatedDocument } from './documents.ts';
export type { MessageBatchView, RequestCounts, ProcessingStatus } from './batch.ts';
export { generateFromSchema } from './schema-gen.ts';

/** A running emulator. */
export interface EmulatorHandle {
  /** Base URL, e.g. `http://127.0.0.1:54321` (use as the SDK's `baseURL` / `ANTHROPIC_BASE_URL`). */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** Live counters: calls per route, injected faults, requests submitted, upstream calls. */
  readonly stats: EmulatorStats;
  /** How many times each `custom_id` was submitted in a created batch (over all batches). */
  submittedCustomIds(): Map<string, number>;
  /** Every batch id created so far (oldest first, including deleted ones). */
  batches(): string[];
  /** Files uploaded to its Files API so far (accepted uploads, deleted ones included). */
  uploads(): number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Starts the emulator on loopback.
 * @param options see `EmulatorOptions`; defaults: port 0 (free port), host 127.0.0.1, seed 42,
 *   processingMs 0, no faults.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const resolved = resolveOptions(options);
  const running = await startServer(resolved);
  return {
    url: running.url,
    port: running.port,
    host: running.host,
    stats: running.stats,
    submittedCustomIds: () => new Map(running.submitted),
    batches: () => running.store.ids(),
    uploads: () => running.files.uploads,
    close: running.close,
  };
}
