/**
 * --max-cost and a request sent back for another attempt: when the budget refuses the retry, every
 * record of the request (duplicates share it) comes out once, the same, with a `budget_exceeded` that
 * says the request was sent before and what its last attempt ended in, not that it was never sent.
 */
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { compileTemplate } from '../../src/core/template.ts';
import type { JoinedRecord, PreparedRecord } from '../../src/stages/batch.ts';
import { toRequests } from '../../src/stages/prepare.ts';
import { BudgetGuard, budgetExceeded } from '../../src/sink/budget.ts';
import { emulator, idOf, paidTwice } from '../helpers/pipeline.ts';
import { budgetedSink, testContext } from '../helpers/sink.ts';

it('a retry the budget refuses: both copies of a duplicate come out alike, sent once, with the last attempt\'s error; a request never sent says so', async () => {
  // Record 0 is overloaded on its first (and only) attempt; its copies are at seq 0, 3 and 5 (the last
  // read after the budget ran out). Record 6 is new after that: it is never sent.
  const sent = new Map<string, number>();
  const emu = await emulator({
    processingMs: 50,
    responder: ({ params }) => {
      const id = idOf(params);
      sent.set(id, (sent.get(id) ?? 0) + 1);
      return id === '0' ? { error: { type: 'overloaded_error', message: 'Overloaded' } } : { json: { label: `label-${id}` } };
    },
  });
  const rows = ['0', '1', '2', '0', '3', '0', '6'].map((id, seq) => ({ seq, line: seq + 2, data: { id, text: 'same' } }));
  const prepared: PreparedRecord[] = [];
  for await (const r of toRequests({ model: 'claude-haiku-4-5', maxTokens: 100, prompt: compileTemplate('item {{id}}: {{text}}') })(Readable.from(rows))) prepared.push(r);
  // The first batch (4 requests) is estimated at $0.04; its three answers cost $0.12, over the cap:
  // the guard runs out as it settles, and the retry of record 0 is refused.
  const { sink, events } = budgetedSink(emu.url, { maxUsd: 0.1, answerUsd: 0.04, estimateUsd: 0.01 }, { batchSize: 10, flushAfterMs: 50, pollMinMs: 10, pollMaxMs: 20 });
  async function* source(): AsyncGenerator<PreparedRecord> {
    yield* prepared.slice(0, 5);
    while (!events.some((e) => e.type === 'budget')) await new Promise((resolve) => setTimeout(resolve, 10));
    yield* prepared.slice(5);
  }
  const out: JoinedRecord[] = [];
  for await (const joined of sink(source())) out.push(joined);

  expect(events).toContainEqual(expect.objectContaining({ type: 'requeued', reasons: { overloaded_error: 1 } }));
  expect(events.filter((e) => e.type === 'budget')).toHaveLength(1);
  expect(out.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  // One request for the three copies, sent once: the retry was not.
  expect([...sent].sort()).toEqual([['0', 1], ['1', 1], ['2', 1], ['3', 1]]);
  expect(paidTwice(emu)).toEqual([]);
  const copies = [0, 3, 5].map((seq) => out[seq]!);
  const error = { type: 'budget_exceeded', message: 'not submitted again: the budget of $0.1 (--max-cost; the library\'s maxCostUsd) would be crossed; its last attempt ended in overloaded_error: Overloaded' };
  for (const copy of copies) expect(copy).toMatchObject({ key: copies[0]!.key, attempts: 1, error });
  expect([1, 2, 4].map((seq) => out[seq]!.result?.type)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  // Never sent: it says so.
  expect(out[6]).toMatchObject({ attempts: 0, error: budgetExceeded(0.1) });
  expect(out[6]!.error?.message).toBe('not submitted: the budget of $0.1 (--max-cost; the library\'s maxCostUsd) would be crossed');
});

it('BudgetGuard.refusalOf: nothing before the budget runs out; then "not submitted" for a request never sent, and the last attempt for one sent back', () => {
  const guard = new BudgetGuard(testContext(), { maxUsd: 1, spentUsd: () => 0, estimateUsd: () => 2 });
  const cut = JSON.stringify({ type: 'succeeded', message: { stop_reason: 'max_tokens', content: [{ type: 'text', text: '{"a":' }], usage: { output_tokens: 5 } } });
  expect(guard.refusalOf(cut)).toBeUndefined();
  expect(guard.admit({ requests: 1, bytes: 1 }, 'batch')).toBe(false);
  expect(guard.refusalOf(null)).toEqual(budgetExceeded(1));
  // A cut-off answer was billed: its record says it was sent, and why it was to be sent again.
  expect(guard.refusalOf(cut)).toEqual({
    type: 'budget_exceeded',
    message: 'not submitted again: the budget of $1 (--max-cost; the library\'s maxCostUsd) would be crossed; its last attempt ended in truncated: the answer was cut off (stop_reason max_tokens) after 5 output tokens; raise max_tokens (--max-tokens; the library\'s maxTokens)',
  });
  expect(guard.refusalOf(JSON.stringify({ type: 'expired' }))?.message).toBe(
    'not submitted again: the budget of $1 (--max-cost; the library\'s maxCostUsd) would be crossed; its last attempt ended in expired: the batch reached its 24-hour expiry before this request was processed',
  );
});
