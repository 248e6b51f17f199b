// What ledger-floor.mjs and lean-floor.mjs write and read per record, in the sink's step sizes
// (src/sink/options.ts): a ticket record, what its request sends, its answer, and hashed keys (as
// `requestKey`'s: random order in every index keyed by them).
import { createHash } from 'node:crypto';

export const SCOPE = 'scope-0123456789abcdef';
const text = 'x'.repeat(450);
export const record = JSON.stringify({ ticket_id: 'T-000000', customer: 'Customer 000', subject: 'Subject line here', body: text });
export const messages = JSON.stringify([{ role: 'user', content: `Ticket: ${text}` }]);
export const result = JSON.stringify({
  type: 'succeeded',
  message: {
    id: 'msg_01234567890123456789', type: 'message', role: 'assistant', model: 'claude-haiku-4-5',
    content: [{ type: 'text', text: '{"category":"billing","priority":"high","summary":"Customer was charged twice this month and wants a refund"}' }],
    stop_reason: 'end_turn', stop_sequence: null,
    usage: { input_tokens: 220, output_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 180, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 }, service_tier: 'batch' },
  },
});
export const LOOKUP_PAGE = 500;
export const WRITE_CHUNK = 4000;
// What the emitter reads at once as records go out (`EMIT_PAGE` in src/sink/emitter.ts). Until
// 2026-12-05 the floors read 4,000 at a time, which the product never does: those pages' rows were
// promoted by the scavenger before they were dropped (ledger-floor at 200,000 rows, minutes apart:
// reading records back 1,312-1,970 ms in pages of 4,000, 632-703 in pages of 1,000).
export const EMIT_PAGE = 1000;
export const BODY_PAGE = 500;
export const RESULT_CHUNK = 16_000;
export const BATCH = 100_000;

/** `n` request keys: 22 characters of a hash, as `requestKey`'s. */
export function keysOf(n) {
  return Array.from({ length: n }, (_, i) => createHash('sha256').update(String(i)).digest('base64url').slice(0, 22));
}

/** The order a batch's results come in (the API's is arbitrary): member i is the (i * 7919 % n)th. */
export function arrivalOrder(n) {
  return Array.from({ length: n }, (_, i) => (i * 7919) % n);
}

/** A CPU clock by phase: `phase(name)` records the CPU ms since the previous call; `cpuMs()` is the total since the clock was made. */
export function phaseClock() {
  const phasesMs = {};
  const start = process.cpuUsage();
  let mark = start;
  return {
    phasesMs,
    cpuMs() {
      const cpu = process.cpuUsage(start);
      return (cpu.user + cpu.system) / 1000;
    },
    phase(name) {
      const now = process.cpuUsage();
      phasesMs[name] = Math.round((now.user - mark.user + now.system - mark.system) / 1000);
      mark = now;
    },
  };
}
