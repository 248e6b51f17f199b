/**
 * A sink context for unit tests of the sink's parts: an in-memory ledger, a virtual clock, a client
 * that must not be called unless a test gives one, and every event collected.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { APIError } from '@anthropic-ai/sdk';
import { Ledger, type Identity } from '../../src/ledger/ledger.ts';
import { Pulse } from '../../src/sink/async.ts';
import { ModeSwitch, Reachability, type SinkContext } from '../../src/sink/context.ts';
import { resolveSinkOptions, type BatchSinkOptions } from '../../src/sink/options.ts';
import type { BatchEvent } from '../../src/types.ts';
import { createClient, identityOf } from '../../src/client/client.ts';
import { batchSink } from '../../src/stages/batch.ts';

/** An error as the SDK throws it for an HTTP status (with these headers, and this API error type). */
export const apiError = (status: number, headers: Record<string, string> = {}, type = 'x') =>
  APIError.generate(status, { type: 'error', error: { type, message: `status ${status}` } }, `status ${status}`, new Headers(headers));

/** A request key of 22 characters (`HASH_CHARS`), as `keyOf` reads one from a custom id. */
export const keyN = (i: number) => `key${i}`.padEnd(22, 'x');

export const identity: Identity = { scope: 'scope-test', baseUrl: 'https://api.example', apiVersion: '2026-10-21', keyFingerprint: 'abcd1234' };

export interface TestContext extends SinkContext {
  /** The in-memory SQLite ledger (its synchronous methods, for setting up a case). */
  readonly ledger: Ledger;
  events: BatchEvent[];
  /** Virtual time: `sleep` advances it. */
  clock: { t: number };
  sleeps: number[];
  controller: AbortController;
  failures: unknown[];
}

/** A sink context on fakes and a virtual clock; the ledger in memory unless given one (a file another connection can change). */
export function testContext(options: Partial<BatchSinkOptions> = {}, client?: Partial<Anthropic>, ledger = new Ledger(':memory:')): TestContext {
  const events: BatchEvent[] = [];
  const clock = { t: 1_000_000 };
  const sleeps: number[] = [];
  const controller = new AbortController();
  const failures: unknown[] = [];
  const opts = resolveSinkOptions({
    client: (client ?? {}) as Anthropic,
    ledger,
    identity,
    onEvent: (e) => events.push(e),
    now: () => clock.t,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.t += ms;
    },
    ...options,
  });
  return {
    client: (client ?? { baseURL: 'https://api.example' }) as Anthropic,
    ledger,
    identity,
    scope: identity.scope,
    run: ledger.startRun('test', clock.t),
    runStartedAt: clock.t,
    opts,
    signal: controller.signal,
    callSignal: controller.signal,
    pulse: new Pulse(),
    mode: new ModeSwitch(opts.mode, opts.deadline !== undefined),
    reach: new Reachability('api.example', opts.now),
    fail: (error) => {
      failures.push(error);
      controller.abort(error);
    },
    stopping: () => controller.signal.aborted,
    needApi: () => true,
    finished: false,
    deferred: new Map(),
    events,
    clock,
    sleeps,
    controller,
    failures,
  };
}

/**
 * A batch sink against the emulator at `url` with a `--max-cost` budget: each succeeded answer costs
 * `answerUsd`, each request is estimated at `estimateUsd` before it is sent. `spent()` and `events`
 * tell what it did.
 */
export function budgetedSink(
  url: string,
  budget: { maxUsd: number; answerUsd: number; estimateUsd: number },
  options: Pick<BatchSinkOptions, 'batchSize' | 'flushAfterMs' | 'pollMinMs' | 'pollMaxMs' | 'noWait'> & { maxInFlight?: number; ledger?: Ledger },
): { sink: ReturnType<typeof batchSink>; spent: () => number; events: BatchEvent[] } {
  const client = createClient({ apiKey: 'k', baseURL: url });
  let spent = 0;
  const events: BatchEvent[] = [];
  const sink = batchSink({
    client,
    identity: identityOf(client, 'k'),
    ...options,
    ledger: options.ledger ?? new Ledger(':memory:'),
    onResult: (result) => void (spent += result.type === 'succeeded' ? budget.answerUsd : 0),
    budget: { maxUsd: budget.maxUsd, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * budget.estimateUsd },
    onEvent: (e) => events.push(e),
  });
  return { sink, spent: () => spent, events };
}
