/**
 * --max-cost during the run: groups go out only while spent + in flight stays under the cap, and when
 * the costs seen so far project past it, batches still in flight are canceled (never someone else's).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { compileTemplate } from '../../src/core/template.ts';
import type { BatchEvent, JoinedRecord, PreparedRecord } from '../../src/stages/batch.ts';
import { toRequests } from '../../src/stages/prepare.ts';
import { BatchAssembler } from '../../src/sink/assembler.ts';
import { requestCostBytes } from '../../src/sink/body.ts';
import type { RecordError } from '../../src/core/result.ts';
import { BudgetGuard, budgetExceeded } from '../../src/sink/budget.ts';
import { emitInOrder, type EmitterDeps } from '../../src/sink/emitter.ts';
import { Intake } from '../../src/sink/intake.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { budgetedSink, testContext } from '../helpers/sink.ts';
import { emulator, perRecord, sources } from '../helpers/pipeline.ts';

async function prepared(n: number): Promise<PreparedRecord[]> {
  const source = Array.from({ length: n }, (_, i) => ({ seq: i, line: i + 2, data: { id: String(i), text: `text ${i}` } }));
  const out: PreparedRecord[] = [];
  for await (const r of toRequests({ model: 'claude-haiku-4-5', maxTokens: 100, prompt: compileTemplate('item {{id}}: {{text}}') })(Readable.from(source))) out.push(r);
  return out;
}

describe('--max-cost during the run', () => {
  it('cancels batches in flight once the costs seen so far project past the cap; their records come out budget_exceeded', async () => {
    // Batches are created 100 ms apart and each runs 600 ms: when the first ends, the others still run.
    const emu = await emulator({ responder: perRecord, processingMs: 600, createLatencyMs: 100 });
    // Each answer costs a cent; the estimate before any answer says a tenth of that.
    const { sink, spent, events } = budgetedSink(emu.url, { maxUsd: 0.12, answerUsd: 0.01, estimateUsd: 0.001 }, { batchSize: 5, maxInFlight: 8, flushAfterMs: 5, pollMinMs: 20, pollMaxMs: 40 });
    const out: JoinedRecord[] = [];
    for await (const joined of sink(Readable.from(await prepared(40)))) out.push(joined);
    expect(out.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    const over = out.filter((r) => r.error?.type === 'budget_exceeded');
    expect(over.length).toBeGreaterThan(0);
    expect(out.filter((r) => r.result?.type === 'succeeded').length + over.length).toBe(40);
    // Canceled in time: what was billed stays near the cap (what the canceled batches had already answered at most).
    // Canceled in time: less was billed than the whole input (40 answers, $0.40) would have cost.
    expect(spent()).toBeLessThan(0.35);
    expect(events).toContainEqual(expect.objectContaining({ type: 'budget', canceling: expect.any(Number) }));
    expect(events.filter((e) => e.type === 'canceled').length).toBeGreaterThan(0);
  });

  it('a group whose estimate would cross the cap with batches in flight waits for them to settle, and goes out when what they cost leaves room (stdin: no check before the run)', async () => {
    // Each answer is estimated at a cent and costs 0.4 of one: 40 answers cost $0.16, under the $0.25 cap.
    // Two batches in flight ($0.20 estimated) leave no room for a third's $0.10; once the first has
    // settled ($0.04 spent), $0.04 + $0.10 + $0.10 fits. The run used to refuse the third for good,
    // and 20 records came out budget_exceeded with most of the budget unspent.
    const emu = await emulator({ responder: perRecord, processingMs: 200 });
    const { sink, spent, events } = budgetedSink(emu.url, { maxUsd: 0.25, answerUsd: 0.004, estimateUsd: 0.01 }, { batchSize: 10, maxInFlight: 8, flushAfterMs: 5, pollMinMs: 20, pollMaxMs: 40 });
    const out: JoinedRecord[] = [];
    for await (const joined of sink(Readable.from(await prepared(40)))) out.push(joined);
    expect(out.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(out.filter((r) => r.error !== undefined)).toEqual([]);
    expect(spent()).toBeCloseTo(0.16);
    expect(events.filter((e) => e.type === 'budget')).toEqual([]);
  });

  it('a group that cannot fit even once every batch in flight has settled is refused, and its records come out budget_exceeded', async () => {
    // Answers cost their estimate ($0.01): the cap of $0.25 takes two groups of 10, not a third.
    const emu = await emulator({ responder: perRecord, processingMs: 100 });
    const { sink, spent, events } = budgetedSink(emu.url, { maxUsd: 0.25, answerUsd: 0.01, estimateUsd: 0.01 }, { batchSize: 10, maxInFlight: 8, flushAfterMs: 5, pollMinMs: 20, pollMaxMs: 40 });
    const out: JoinedRecord[] = [];
    for await (const joined of sink(Readable.from(await prepared(40)))) out.push(joined);
    expect(out.filter((r) => r.result?.type === 'succeeded')).toHaveLength(20);
    expect(out.filter((r) => r.error?.type === 'budget_exceeded')).toHaveLength(20);
    expect(spent()).toBeCloseTo(0.2);
    expect(events.filter((e) => e.type === 'budget')).toHaveLength(1);
  });

  it('--no-wait: a batch left running keeps its estimate counted; the next group is refused, not sent past the cap', async () => {
    // Polled once and left to run, the first batch was taken for settled at no cost: every later group
    // was admitted, and the job's batches together went over the cap.
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const { sink, events } = budgetedSink(emu.url, { maxUsd: 0.15, answerUsd: 0.01, estimateUsd: 0.01 }, { batchSize: 10, maxInFlight: 8, flushAfterMs: 5, pollMinMs: 20, pollMaxMs: 40, noWait: true });
    const out: JoinedRecord[] = [];
    await expect(
      (async () => {
        for await (const joined of sink(Readable.from(await prepared(30)))) out.push(joined);
      })(),
    ).rejects.toThrow(
      /^10 records wait for their answers from 1 batch; .*; 20 records were not submitted: the budget of \$0.15 \(--max-cost; the library's maxCostUsd\) would be crossed \(the batches in flight count at their estimates: the try that finds them ended sends them if what they cost leaves room\)$/,
    );
    expect(events.filter((e) => e.type === 'submitted')).toHaveLength(1);
    // --no-wait writes nothing while records wait (all or nothing): the next run writes them all.
    expect(out).toEqual([]);
  });

  // helper-54: in a `--no-wait` loop each try spent up to the cap again: the batches of the tries
  // before, still running, were not counted ($1.27 spent against a $1.00 cap).
  it('--no-wait tries in a loop: the batches an earlier try left running count at their estimates, so the next try sends nothing past the cap', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 60_000 });
    const ledger = new Ledger(':memory:');
    const options = { batchSize: 10, maxInFlight: 8, flushAfterMs: 5, pollMinMs: 20, pollMaxMs: 40, noWait: true, ledger };
    const records = await prepared(30);
    for (const attempt of [1, 2, 3]) {
      const { sink, events } = budgetedSink(emu.url, { maxUsd: 0.15, answerUsd: 0.01, estimateUsd: 0.01 }, options);
      await expect(
        (async () => {
          for await (const joined of sink(Readable.from(records))) void joined;
        })(),
      ).rejects.toThrow(/^10 records wait for their answers from 1 batch; .*; 20 records were not submitted: the budget of \$0.15 \(--max-cost; the library's maxCostUsd\) would be crossed/);
      expect(events.filter((e) => e.type === 'submitted'), `try ${attempt}`).toHaveLength(attempt === 1 ? 1 : 0);
    }
    expect(emu.stats.requestsSubmitted).toBe(10);
  });

  it('--no-wait: the try that finds the earlier batch ended sends the records refused before, when what the batch cost leaves room', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 300 });
    const ledger = new Ledger(':memory:');
    const options = { batchSize: 10, maxInFlight: 8, flushAfterMs: 5, pollMinMs: 20, pollMaxMs: 40, noWait: true, ledger };
    // Estimated at a cent an answer, each costs 0.4 of one: $0.10 + $0.10 does not fit $0.15, $0.04 + $0.10 does.
    const budget = { maxUsd: 0.15, answerUsd: 0.004, estimateUsd: 0.01 };
    const records = await prepared(20);
    const tries: BatchEvent[][] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const { sink, events } = budgetedSink(emu.url, budget, options);
      tries.push(events);
      const out: JoinedRecord[] = [];
      try {
        for await (const joined of sink(Readable.from(records))) out.push(joined);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('BE_PENDING');
        await new Promise((resolve) => setTimeout(resolve, 400)); // the batches end meanwhile
        continue;
      }
      expect(out.filter((r) => r.result?.type === 'succeeded')).toHaveLength(20);
      break;
    }
    // The second try sends the rest (and, on a slow machine, may find it ended too and finish).
    expect(tries.map((events) => events.filter((e) => e.type === 'submitted').length).slice(0, 2)).toEqual([1, 1]);
    expect(emu.stats.requestsSubmitted).toBe(20);
  });
});

describe('BudgetGuard review (unit)', () => {
  it('projects the batches in flight at their estimates scaled by how far over theirs the settled ones came, and cancels the newest until the projection fits', () => {
    const ctx = testContext();
    let spent = 0;
    const canceled: number[] = [];
    const guard = new BudgetGuard(ctx, { maxUsd: 1, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 }, (batchId) => (canceled.push(batchId), batchId !== 4));
    for (const batchId of [1, 2, 3, 4, 5]) {
      expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBeCloseTo(0.1);
      guard.charge(batchId, 0.1);
    }
    // Batch 1 settles: its 10 answers cost $0.30, three times the estimate. Four batches still in flight
    // project 4 × $0.30: $1.50 with what was spent, over $1. Newest first: 5 canceled, 4 cannot be (real
    // time), 3 canceled; then $0.30 + 2 × $0.30 = $0.90 fits.
    spent = 0.3;
    guard.settled(1);
    expect(canceled).toEqual([5, 4, 3]);
    expect([3, 5].map((id) => guard.canceled(id))).toEqual([true, true]);
    expect(guard.canceled(2)).toBe(false);
    expect(guard.exhausted).toBe(true);
    expect(ctx.events).toEqual([expect.objectContaining({ type: 'budget', canceling: 2, projectedUsd: expect.closeTo(1.5, 6) })]);
    expect(guard.admit({ requests: 1, bytes: 1 }, 'batch')).toBe(false);
  });

  // helper-57: a batch that settled without its answers being stored here (released; downloaded by
  // another run) added its estimate to what the ratio of cost to estimate divides by: the batches in
  // flight were projected too low.
  it('a batch that settles unpaid here (released, or downloaded elsewhere) leaves the ratio of cost to estimate alone', () => {
    const ctx = testContext();
    let spent = 0;
    const guard = new BudgetGuard(ctx, { maxUsd: 1, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 });
    guard.charge(1, 0.1, 10);
    guard.charge(2, 0.5, 50); // followed: an earlier run's
    guard.charge(3, 0.2, 20);
    guard.settled(2, 0);
    spent = 0.3; // batch 1's answers cost three times their estimate
    guard.settled(1, 10);
    // $0.30 spent + batch 3 projected at 3 × $0.20 + $0.20 asked: $1.10, over the cap; it waits for batch 3.
    expect(guard.admit({ requests: 20, bytes: 1 }, 'batch')).toBe('wait');
  });

  // helper-85 #1: a batch whose answers were stored (spent) but whose follow had not yet ended was
  // counted twice: in what was spent, and at its whole estimate in flight; and its cost, over the
  // estimates settled so far alone, scaled every estimate up. --max-cost 0.0075 stopped after two
  // batches of 10 ($0.0039 spent) where a third ($0.0032) fit.
  it('a batch in flight counts only its unanswered share once its answers are stored, and those answers count in the ratio as settled', () => {
    const ctx = testContext();
    let spent = 0;
    const answered = new Map<number, [paid: number, usd: number]>();
    const guard = new BudgetGuard(ctx, { maxUsd: 0.75, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.016 }, () => false, (batchId) => ({ paid: answered.get(batchId)?.[0] ?? 0, usd: answered.get(batchId)?.[1] ?? 0 }));
    guard.charge(1, 0.16, 10);
    guard.charge(2, 0.16, 10);
    spent = 0.195; // batch 1's 10 answers
    answered.set(1, [10, 0.195]);
    guard.settled(1, 10);
    spent = 0.39; // batch 2's 10 answers stored; its follow has not ended yet
    answered.set(2, [10, 0.195]);
    // $0.39 spent, nothing unanswered in flight, $0.16 × 1.22 asked: $0.585, under $0.75.
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBeCloseTo(0.16);
    expect(ctx.events.filter((e) => e.type === 'budget')).toEqual([]);
  });

  it('a batch half answered so far is projected for its other half', () => {
    const ctx = testContext();
    let spent = 0;
    const answered = new Map<number, [paid: number, usd: number]>();
    const guard = new BudgetGuard(ctx, { maxUsd: 0.5, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 }, () => false, (batchId) => ({ paid: answered.get(batchId)?.[0] ?? 0, usd: answered.get(batchId)?.[1] ?? 0 }));
    guard.charge(1, 0.2, 20);
    spent = 0.2; // 10 of its 20 answers, at twice their estimate
    answered.set(1, [10, 0.2]);
    // Its answers so far cost twice their estimate: $0.20 spent + its other half at 2 × $0.10 + $0.08
    // asked at 2 × $0.08: $0.56, over (at their bare estimates, $0.48 went out); $0.04 asked: $0.48 fits.
    expect(guard.admit({ requests: 8, bytes: 1 }, 'batch')).toBe('wait');
    expect(guard.admit({ requests: 4, bytes: 1 }, 'batch')).toBeCloseTo(0.04);
  });

  // helper-87 #4: 31 cheap answers of a 32-request group, its 50,000-token request still out, made the
  // group look nearly paid: projected at a thirty-second of its estimate, another such request went
  // out, and the run crossed its $0.08 cap by a third, canceling nothing.
  it('a group whose cheap requests were answered first is still projected at what its estimate leaves', () => {
    const ctx = testContext();
    let spent = 0;
    const answered = new Map<number, [paid: number, usd: number]>();
    const guard = new BudgetGuard(ctx, { maxUsd: 0.08, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.001 }, () => false, (batchId) => ({ paid: answered.get(batchId)?.[0] ?? 0, usd: answered.get(batchId)?.[1] ?? 0 }));
    guard.charge(1, 0.081, 32); // 31 requests of $0.001 and one of $0.05
    spent = 0.0031; // the 31 cheap ones answered, at their estimates
    answered.set(1, [31, 0.0031]);
    // $0.0031 spent + $0.0779 its estimate leaves + $0.05 asked: over; it waits for the group.
    expect(guard.admit({ requests: 50, bytes: 1 }, 'batch')).toBe('wait');
  });

  // helper-89 #6: a batch whose every result was stored, cheaper than its estimate, was still
  // projected at what its estimate left (or, with errored results, at their share): "$0.0661 projected
  // for the batches in flight" after all had ended, and a batch could be canceled for that phantom.
  it('a group whose every result is stored has nothing still to come, whatever its answers cost or however many were free', () => {
    let spent = 0;
    const answered = new Map<number, [paid: number, usd: number, stored: number]>();
    const took = (batchId: number) => ({ paid: answered.get(batchId)?.[0] ?? 0, usd: answered.get(batchId)?.[1] ?? 0, stored: answered.get(batchId)?.[2] ?? 0 });
    const guard = new BudgetGuard(testContext(), { maxUsd: 0.3, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 }, () => false, took);
    guard.charge(1, 0.2, 20);
    spent = 0.1; // all 20 answered, at half their estimate
    answered.set(1, [20, 0.1, 20]);
    expect(guard.admit({ requests: 19, bytes: 1 }, 'batch')).toBeCloseTo(0.19); // $0.10 + $0.19 fits
    const errored = new BudgetGuard(testContext(), { maxUsd: 0.3, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 }, () => false, took);
    errored.charge(2, 0.2, 20);
    spent = 0.1; // 10 answered at their estimate, 10 errored (free): every result stored
    answered.set(2, [10, 0.1, 20]);
    expect(errored.admit({ requests: 19, bytes: 1 }, 'batch')).toBeCloseTo(0.19);
  });

  // helper-93 (on helper-89 #6's fix): a group whose every result was stored, one of them an answer lost
  // on the way (maybe billed), projected nothing, while that answer's estimate reaches what was spent only
  // once the group settles: counted nowhere meanwhile.
  it('a group whose every result is stored still counts its answers lost on the way until it settles', () => {
    let spent = 0;
    const guard = new BudgetGuard(testContext(), { maxUsd: 0.35, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.1 }, () => false, () => ({ paid: 1, usd: 0.1, stored: 2 }));
    guard.charge(1, 0.2, 2);
    guard.lost(1, { bytes: 1 }); // $0.10 at its estimate
    spent = 0.1; // the other answer
    expect(guard.admit({ requests: 2, bytes: 1 }, 'batch')).toBe('wait'); // $0.10 + $0.10 lost + $0.20 asked
    expect(guard.admit({ requests: 1, bytes: 1 }, 'batch')).toBeCloseTo(0.1);
  });

  // helper-58: a batch half of whose answers another worker took (or whose answers were free:
  // canceled, expired) counted its whole estimate against half the cost.
  it('a batch settles for the share of its requests whose billed answers this run took', () => {
    const ctx = testContext();
    let spent = 0;
    const guard = new BudgetGuard(ctx, { maxUsd: 1, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 });
    guard.charge(1, 0.2, 20);
    guard.charge(3, 0.2, 20);
    spent = 0.3; // 10 of batch 1's 20 answers, taken here, cost three times their share of the estimate
    guard.settled(1, 10);
    expect(guard.admit({ requests: 20, bytes: 1 }, 'batch')).toBe('wait'); // $0.30 + 3 × $0.20 + $0.20
  });

  // helper-68: a real-time answer lost on the way (the API may have billed it) counted as free.
  it('an answer lost on the way counts as spent at its share of its group\u2019s estimate (its cost is unknown)', () => {
    let spent = 0;
    const guard = new BudgetGuard(testContext(), { maxUsd: 0.35, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 });
    guard.charge(1, 0.2, 20);
    spent = 0.19; // 19 answers at their estimate; the 20th lost on the way
    guard.settled(1, 19, 1);
    // $0.19 + $0.01 for the lost one + $0.16 asked: over $0.35 (counted free, $0.35 fit).
    expect(guard.admit({ requests: 16, bytes: 1 }, 'batch')).toBe(false);
    // And the ratio of cost to estimate stays 1: $0.20 spent on $0.20 of estimates.
    const other = new BudgetGuard(testContext(), { maxUsd: 0.35, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 });
    other.charge(1, 0.2, 20);
    other.settled(1, 19, 1);
    expect(other.admit({ requests: 15, bytes: 1 }, 'batch')).toBeCloseTo(0.15);
  });

  // helper-71 B1 (note 46): a lost answer counted at its group's average: a lost 120,000-token prompt
  // among short ones counted as one of them.
  it('an answer lost on the way, when its request is known, counts at its own estimate, not its group’s average', () => {
    let spent = 0;
    // $0.001 a short request, $0.01 a longer one; the long one's bytes price it at $0.181.
    const estimateUsd = ({ each, bytes }: { bytes: number; each?: readonly number[] | undefined }) => (each ?? [bytes]).reduce((sum, b) => sum + (b > 100_000 ? 0.181 : b > 1000 ? 0.01 : 0.001), 0);
    const guard = new BudgetGuard(testContext(), { maxUsd: 0.35, spentUsd: () => spent, estimateUsd });
    guard.charge(1, 0.2, 20);
    guard.lost(1, { bytes: 480_000 });
    spent = 0.019; // the 19 short ones; the long one lost on the way
    guard.settled(1, 19, 1);
    // $0.019 + $0.181 for the lost one + $0.16 asked: over $0.35 (at the average, $0.01, it fit).
    expect(guard.admit({ requests: 16, bytes: 16, each: Array.from({ length: 16 }, () => 2000) }, 'batch')).toBe(false);
    // A lost answer the budget was not told of counts at its share, as before.
    const other = new BudgetGuard(testContext(), { maxUsd: 0.35, spentUsd: () => spent, estimateUsd });
    other.charge(1, 0.2, 20);
    other.settled(1, 19, 1);
    expect(other.admit({ requests: 16, bytes: 16, each: Array.from({ length: 16 }, () => 2000) }, 'batch')).toBeCloseTo(0.16);
  });

  // helper-68: only the groups in flight were scaled by how far over their estimates the settled ones
  // came; a new group was projected at its bare estimate, and went out past the cap.
  it('a new group is projected as the groups in flight are: its estimate scaled up by how far over theirs the settled ones came', () => {
    let spent = 0;
    const guard = new BudgetGuard(testContext(), { maxUsd: 0.5, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 });
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBeCloseTo(0.1);
    guard.charge(1, 0.1, 10);
    spent = 0.3; // three times its estimate
    guard.settled(1, 10);
    // $0.30 spent + 3 × $0.10: over $0.50 (at its bare estimate, $0.40, it went out); nothing in flight: refused.
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBe(false);
    // One that fits at three times its estimate goes out, charged at its estimate (the projection scales it).
    const small = new BudgetGuard(testContext(), { maxUsd: 0.5, spentUsd: () => spent, estimateUsd: ({ requests }) => requests * 0.01 });
    small.charge(1, 0.1, 10);
    small.settled(1, 10);
    expect(small.admit({ requests: 5, bytes: 1 }, 'batch')).toBeCloseTo(0.05);
  });

  it('a group of small requests is not priced at the cost per request of a big one that settled first: it is admitted as the check before the run took it', () => {
    // A 40-page contract (estimated $0.10, cost $0.10) settles first; the nine e-mails estimated at
    // $0.001 each were projected at $0.10 each (the cost per request seen), $0.90 in flight: canceled,
    // and a tenth refused, though the whole job fit the cap.
    const canceled: number[] = [];
    let spent = 0;
    const guard = new BudgetGuard(testContext(), { maxUsd: 0.12, spentUsd: () => spent, estimateUsd: ({ requests }) => (requests === 1 ? 0.1 : requests * 0.001) }, (id) => (canceled.push(id), true));
    expect(guard.admit({ requests: 1, bytes: 1 }, 'batch')).toBeCloseTo(0.1);
    guard.charge(1, 0.1);
    expect(guard.admit({ requests: 9, bytes: 1 }, 'batch')).toBeCloseTo(0.009);
    guard.charge(2, 0.009);
    spent = 0.1;
    guard.settled(1);
    expect(canceled).toEqual([]);
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBeCloseTo(0.01);
    expect(guard.exhausted).toBe(false);
  });

  it('a group over the cap waits while groups are in flight, and is refused once none is (or with --no-wait, none settles in this run)', () => {
    let spent = 0;
    const estimateUsd = () => 0.1;
    const guard = new BudgetGuard(testContext(), { maxUsd: 0.25, spentUsd: () => spent, estimateUsd });
    guard.charge(1, guard.admit({ requests: 10, bytes: 1 }, 'batch') as number);
    guard.charge(2, guard.admit({ requests: 10, bytes: 1 }, 'batch') as number);
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBe('wait');
    expect(guard.exhausted).toBe(false);
    // The first cost a tenth of its estimate: room for another.
    spent = 0.01;
    guard.settled(1);
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBeCloseTo(0.1);
    guard.charge(3, 0.1);
    spent = 0.2;
    guard.settled(2);
    guard.settled(3);
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBe(false);
    expect(guard.exhausted).toBe(true);

    const ctx = testContext({ noWait: true });
    const left = new BudgetGuard(ctx, { maxUsd: 0.15, spentUsd: () => 0, estimateUsd });
    left.charge(1, left.admit({ requests: 10, bytes: 1 }, 'batch') as number);
    // Polled once and left running: it stays projected at its estimate.
    ctx.deferred.set(1, '2026-12-07T00:00:00Z');
    left.settled(1);
    expect(left.admit({ requests: 10, bytes: 1 }, 'batch')).toBe(false);
  });

  it('a group that cannot fit even alone (spent + its estimate over the cap) is refused at once, not held while batches run', () => {
    const guard = new BudgetGuard(testContext(), { maxUsd: 0.25, spentUsd: () => 0.2, estimateUsd: () => 0.1 });
    guard.charge(1, 0.01);
    // Batches in flight can only add to what was spent: waiting for them cannot make room.
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBe(false);
  });

  it('--no-wait: a group waits for batches that end in this run (their first poll), not for those left running', () => {
    const ctx = testContext({ noWait: true });
    const guard = new BudgetGuard(ctx, { maxUsd: 0.25, spentUsd: () => 0, estimateUsd: () => 0.1 });
    guard.charge(1, 0.1);
    guard.charge(2, 0.1);
    // Not polled yet: they may end at their first poll, and make room.
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBe('wait');
    // Both left running: nothing more ends in this run.
    ctx.deferred.set(1, '2026-12-07T00:00:00Z');
    ctx.deferred.set(2, '2026-12-07T00:00:00Z');
    guard.settled(1);
    guard.settled(2);
    expect(guard.admit({ requests: 10, bytes: 1 }, 'batch')).toBe(false);
  });

  it('projects nothing from costs until a group has settled: the estimates alone decide', () => {
    const canceled: number[] = [];
    const guard = new BudgetGuard(testContext(), { maxUsd: 1, spentUsd: () => 0.9, estimateUsd: () => 0.05 }, (id) => (canceled.push(id), true));
    expect(guard.admit({ requests: 1, bytes: 1 }, 'batch')).toBeCloseTo(0.05);
    guard.charge(1, 0.05);
    expect(canceled).toEqual([]);
  });
});

// helper-68: a truncated answer's retry (max_tokens doubled) was estimated as a typical answer of the
// job's max_tokens; a run of retries spent $0.029 against a cap of $0.02.
it("a truncated answer's retry is priced at the max_tokens it asks for: the group's estimate is given it", async () => {
  const ctx = testContext();
  const asked: { requests: number; answers?: readonly number[] | undefined }[] = [];
  const budget = new BudgetGuard(ctx, { maxUsd: 1, spentUsd: () => 0, estimateUsd: (group) => (asked.push(group), 0.01) });
  const assembler = new BatchAssembler(ctx, { budget, beforeOpen: async () => {}, inFlight: () => 0, slotFreed: () => new Promise(() => {}), submit: async () => {}, sendRealtime: async () => {} });
  await assembler.add('fresh', 10);
  await assembler.requeue(new Map([['cut', { bytes: 12, maxTokens: 8 }], ['expired', { bytes: 12 }]]), () => true);
  expect(asked).toEqual([expect.objectContaining({ requests: 3, answers: [8] })]);
});

// helper-76: the budget sized every free-text answer of a job with attach fields as one about
// documents; it is told how many of each group's requests carry them, those sent back again too.
it('the group estimate is told how many of its requests carry documents (sent back again, they still do)', async () => {
  const ctx = testContext();
  const asked: { requests: number; bytes: number; documents?: number | undefined }[] = [];
  const budget = new BudgetGuard(ctx, { maxUsd: 1, spentUsd: () => 0, estimateUsd: (group) => (asked.push(group), 0.01) });
  const assembler = new BatchAssembler(ctx, { budget, beforeOpen: async () => {}, inFlight: () => 0, slotFreed: () => new Promise(() => {}), submit: async () => {}, sendRealtime: async () => {} });
  await assembler.add('text', 10);
  await assembler.add('note', 10, 10, undefined, true); // a text document: no price over its bytes, a document all the same
  await assembler.add('scan', 10, 5_000, undefined, true);
  await assembler.flush();
  // As a settled batch sends them back: whether each carries documents read from its stored body.
  await assembler.requeue(new Map([['scan', { bytes: 12, documents: true }], ['text', { bytes: 10 }]]), () => true);
  // helper-78: one this run never read (its batch followed, then expired) says so itself.
  await assembler.requeue(new Map([['other', { bytes: 12, documents: true }]]), () => true);
  expect(asked).toEqual([expect.objectContaining({ requests: 3, documents: 2 }), expect.objectContaining({ requests: 2, documents: 1 }), expect.objectContaining({ requests: 1, documents: 1 })]);
  // Still priced by its pages, not its body.
  expect(asked[1]!.bytes).toBeGreaterThan(5_000);
});

// A request an earlier run sent back with its max_tokens doubled (a cut-off answer), pending when that
// run stopped, was priced by the next run as a typical answer of the job's max_tokens.
it("a request an earlier run sent back with a larger max_tokens is priced at it by the run that reads it", async () => {
  const ctx = testContext();
  const source: PreparedRecord[] = [];
  const rows = [{ id: '1', text: 'a' }, { id: '2', text: 'b' }];
  for await (const r of toRequests({ model: 'claude-haiku-4-5', maxTokens: 100, prompt: compileTemplate('item {{id}}: {{text}}') })(Readable.from(sources(rows)))) source.push(r);
  const read = async (run: ReturnType<typeof testContext>) => {
    const asked: { requests: number; answers?: readonly number[] | undefined }[] = [];
    const budget = new BudgetGuard(run, { maxUsd: 1, spentUsd: () => 0, estimateUsd: (group) => (asked.push(group), 0.01) });
    let intake!: Intake;
    const assembler = new BatchAssembler(run, { budget, beforeOpen: () => intake.writeBuffered(), inFlight: () => 0, slotFreed: () => new Promise(() => {}), submit: async () => {}, sendRealtime: async () => {} });
    intake = new Intake(run, { assembler, track: () => {} });
    await intake.fill(Readable.from(source));
    await assembler.flush();
    return asked;
  };
  await read(ctx); // the first run writes both requests
  const keys = source.map((r) => r.key!);
  const { id } = ctx.ledger.openBatch(ctx.identity, ctx.run, 'test', 'nonce1', keys, 1);
  const waiting = ctx.ledger.submittedOf(id);
  const cut = JSON.stringify({ type: 'succeeded', message: { stop_reason: 'max_tokens', content: [] } });
  ctx.ledger.settle(id, [...waiting].map(([key, w]) => ({ waiting: w, result: cut, retry: true, maxTokens: key === keys[0] ? 200 : null })), 2);
  const next = testContext({}, undefined, ctx.ledger);
  expect(await read(next)).toEqual([expect.objectContaining({ requests: 2, answers: [200] })]);
});

// helper-78 #5: a request of an earlier run's batch, followed by this run and sent back (expired), was
// priced by its body: the file_id of its PDF, not the PDF's pages.
it("a followed batch's document request sent back is priced by its documents as this run read them", async () => {
  const ctx = testContext();
  const source: PreparedRecord[] = [];
  for await (const r of toRequests({ model: 'claude-haiku-4-5', maxTokens: 100, prompt: compileTemplate('summarise {{id}}') })(Readable.from(sources([{ id: '1' }])))) source.push(r);
  // As the attach stage leaves a record whose PDF is uploaded: a small body, priced by its pages.
  const record = { ...source[0]!, estimateBytes: 40_000 };
  const spec = record.spec!;
  ctx.ledger.intake(ctx.scope, ctx.run, [{ id: spec.id, head: spec.head, tail: spec.tail }], [{ key: record.key!, label: null, spec: spec.id, messages: record.messages! }], [], 0);
  const earlier = ctx.ledger.startRun('test', 0);
  const { id } = ctx.ledger.openBatch(ctx.identity, earlier, 'test', 'n1', [record.key!], 1);
  const asked: { bytes: number; documents?: number | undefined }[] = [];
  const budget = new BudgetGuard(ctx, { maxUsd: 1, spentUsd: () => 0, estimateUsd: (group) => (asked.push(group), 0.01) });
  let intake!: Intake;
  const tracked: number[] = [];
  const assembler = new BatchAssembler(ctx, { budget, beforeOpen: () => intake.writeBuffered(), inFlight: () => 0, slotFreed: () => new Promise(() => {}), submit: async () => {}, sendRealtime: async () => {} });
  intake = new Intake(ctx, { assembler, track: (batch) => void tracked.push(batch) });
  await intake.fill(Readable.from([record]));
  expect(tracked).toEqual([id]); // followed, not sent again
  // Its stored body is not this run's (helper-82: uploaded by one run, read inline by the next, it
  // was priced at -2,557,956 bytes): priced as this run reads it, whatever the stored body's size.
  await assembler.requeue(new Map([[record.key!, { bytes: 300, documents: true }]]), () => true);
  const { costBytes } = requestCostBytes(record.key!, null, spec.bytes, record.messages!, 40_000);
  expect(asked).toEqual([expect.objectContaining({ documents: 1, bytes: costBytes })]);
  expect(costBytes).toBeGreaterThan(40_000);
});

// helper-70: a batch an earlier try left running, made of cut-off answers' retries, was counted as
// typical answers of the job's max_tokens.
it("a followed batch of an earlier try is priced at the max_tokens its requests ask for", async () => {
  const ctx = testContext();
  const { ledger } = ctx;
  ledger.intake(ctx.scope, ctx.run, [{ id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' }], ['a', 'b'].map((key) => ({ key, label: null, spec: 's', messages: '[]' })), [], 0);
  const earlier = ledger.startRun('test', 0);
  const first = ledger.openBatch(ctx.identity, earlier, 'test', 'n1', ['a', 'b'], 1);
  const cut = '{"type":"succeeded","message":{"stop_reason":"max_tokens"}}';
  ledger.settle(first.id, [...ledger.submittedOf(first.id)].map(([key, waiting]) => ({ waiting, result: cut, retry: true, maxTokens: key === 'a' ? 64 : null })), 2);
  const second = ledger.openBatch(ctx.identity, earlier, 'test', 'n2', ['a', 'b'], 3);
  ledger.sizeBatch(second.id, 2, 100, 100);
  const asked: { requests: number; answers?: readonly number[] | undefined }[] = [];
  const guard = new BudgetGuard(ctx, { maxUsd: 1, spentUsd: () => 0, estimateUsd: (group) => (asked.push(group), 0.01) });
  await guard.follows(second.id);
  expect(asked).toEqual([expect.objectContaining({ requests: 2, answers: [64] })]);
});

/** An assembler whose group (the request `key` alone) is being sent: `sent()` ends its submit, then `flushed` resolves. */
async function groupBeingSent(ctx: ReturnType<typeof testContext>, key: string): Promise<{ assembler: BatchAssembler; flushed: Promise<void>; sent: () => void }> {
  let sent!: () => void;
  let submitting!: () => void;
  const submitted = new Promise<void>((resolve) => (submitting = resolve));
  const assembler = new BatchAssembler(ctx, {
    budget: new BudgetGuard(ctx, undefined),
    beforeOpen: async () => {},
    inFlight: () => 0,
    slotFreed: () => new Promise(() => {}),
    submit: () => {
      submitting();
      return new Promise<void>((resolve) => (sent = resolve));
    },
    sendRealtime: async () => {},
  });
  await assembler.add(key, 10);
  const flushed = assembler.flush();
  await submitted;
  return { assembler, flushed, sent };
}

it('a record whose request is in the group being sent when the budget runs out is not said to be unsent: it waits for its paid answer', async () => {
  // The last group (the input has ended) was admitted and is being sent; while `openBatch` is on its
  // way, a batch settles and the guard finds the budget spent. The emitter saw the request still
  // pending and wrote its record out as budget_exceeded; the group then went out, and was paid for.
  const ctx = testContext();
  const { ledger } = ctx;
  ledger.intake(ctx.scope, ctx.run, [{ id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' }], [{ key: 'k', label: null, spec: 's', messages: '[]' }], [{ seq: 0, line: 2, data: '{"id":"0"}', key: 'k', error: null }], 0);
  const { assembler, flushed, sent } = await groupBeingSent(ctx, 'k');
  const deps: EmitterDeps = {
    intake: { inputDone: true, recordsRead: 1 } as Intake,
    assembler,
    budget: { exhausted: true, refusal: budgetExceeded(1) } as BudgetGuard,
    track: () => {},
    failure: () => undefined,
    idle: () => false,
    counted: () => undefined,
  };
  const out = emitInOrder(ctx, deps);
  const first = out.next();
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  // The group reaches the ledger, is created and answered.
  const { id } = ledger.openBatch(ctx.identity, ctx.run, 'test', 'n1', ['k'], 1);
  const waiting = ledger.submittedOf(id);
  ledger.settle(id, [{ waiting: waiting.get('k')!, result: '{"type":"succeeded"}', retry: false }], 2);
  sent();
  await flushed;
  ctx.pulse.answer();
  const record = await first;
  expect(record.value).toMatchObject({ seq: 0, error: undefined, result: { type: 'succeeded' } });
});

it('a record read still pending before the consumer paused is not refused once its group went out meanwhile: it waits for its paid answer', async () => {
  // The emitter read a page (record 0 answered, record 1 pending in the group being sent) and gave
  // record 0 to a slow consumer. While it waited there, the group went out (its request submitted,
  // no longer being sent) and the budget ran out. The page's row said pending: record 1 came out
  // budget_exceeded, although its request was sent, paid for, and answered.
  const ctx = testContext();
  const { ledger } = ctx;
  const spec = { id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' };
  const requests = ['k0', 'k1'].map((key) => ({ key, label: null, spec: 's', messages: '[]' }));
  const records = ['k0', 'k1'].map((key, seq) => ({ seq, line: seq + 2, data: `{"id":"${seq}"}`, key, error: null }));
  ledger.intake(ctx.scope, ctx.run, [spec], requests, records, 0);
  const answer = (nonce: string, key: string) => {
    const { id } = ledger.openBatch(ctx.identity, ctx.run, 'test', nonce, [key], 1);
    return () => ledger.settle(id, [{ waiting: ledger.submittedOf(id).get(key)!, result: '{"type":"succeeded"}', retry: false }], 2);
  };
  answer('n0', 'k0')();
  const { assembler, flushed, sent } = await groupBeingSent(ctx, 'k1');
  const budget = { exhausted: false, refusal: undefined as RecordError | undefined, refusalOf: () => budget.refusal };
  const deps: EmitterDeps = {
    intake: { inputDone: true, recordsRead: 2 } as Intake,
    assembler,
    budget: budget as unknown as BudgetGuard,
    track: () => {},
    failure: () => undefined,
    idle: () => false,
    counted: () => undefined,
  };
  const out = emitInOrder(ctx, deps);
  expect((await out.next()).value).toMatchObject({ seq: 0, result: { type: 'succeeded' } });
  // The consumer holds record 0: the group goes out, and the budget runs out.
  const settle1 = answer('n1', 'k1');
  sent();
  await flushed;
  expect(assembler.sending('k1')).toBe(false);
  Object.assign(budget, { exhausted: true, refusal: budgetExceeded(1) });
  const second = out.next();
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  settle1();
  ctx.pulse.answer();
  expect((await second).value).toMatchObject({ seq: 1, error: undefined, result: { type: 'succeeded' } });
});

it('--no-wait: a batch answered between the read and the idle check is collected, not reported as "0 records wait for their answers"', async () => {
  // The emitter read the head still submitted; while it made sure the batch was followed, the
  // follower stored the answer and went idle. Nothing waits any more: the run writes its record.
  const ctx = testContext({ noWait: true });
  const { ledger } = ctx;
  ledger.intake(ctx.scope, ctx.run, [{ id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' }], [{ key: 'k', label: null, spec: 's', messages: '[]' }], [{ seq: 0, line: 2, data: '{"id":"0"}', key: 'k', error: null }], 0);
  const { id } = ledger.openBatch(ctx.identity, ctx.run, 'test', 'n1', ['k'], 1);
  ledger.setRemote(id, 'msgbatch_1', 1);
  const deps: EmitterDeps = {
    intake: { inputDone: true, recordsRead: 1 } as Intake,
    assembler: { has: () => false, sending: () => false, flush: async () => {} } as unknown as BatchAssembler,
    budget: { exhausted: false, refusal: undefined } as BudgetGuard,
    track: () => {
      ledger.settle(id, [{ waiting: ledger.submittedOf(id).get('k')!, result: '{"type":"succeeded"}', retry: false }], 2);
      ledger.setBatchState(id, 'downloaded', 2);
    },
    failure: () => undefined,
    idle: () => true,
    counted: () => undefined,
  };
  const out: JoinedRecord[] = [];
  for await (const record of emitInOrder(ctx, deps)) out.push(record);
  expect(out).toMatchObject([{ seq: 0, error: undefined, result: { type: 'succeeded' }, batchId: 'msgbatch_1' }]);
});

it("the emitter, finding a record's request pending (released), gives the assembler the max_tokens it was sent back with, to be priced at", async () => {
  const ctx = testContext({ noWait: true });
  const { ledger } = ctx;
  ledger.intake(ctx.scope, ctx.run, [{ id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' }], [{ key: 'k', label: null, spec: 's', messages: '[]' }], [{ seq: 0, line: 2, data: '{"id":"0"}', key: 'k', error: null }], 0);
  const { id } = ledger.openBatch(ctx.identity, ctx.run, 'test', 'n1', ['k'], 1);
  ledger.settle(id, [{ waiting: ledger.submittedOf(id).get('k')!, result: '{"type":"succeeded","message":{"stop_reason":"max_tokens"}}', retry: true, maxTokens: 64 }], 2);
  const added: unknown[][] = [];
  const deps: EmitterDeps = {
    intake: { inputDone: true, recordsRead: 1 } as Intake,
    assembler: { has: () => false, sending: () => false, add: async (...args: unknown[]) => void added.push(args), flush: async () => {} } as unknown as BatchAssembler,
    budget: { exhausted: false, refusal: undefined } as BudgetGuard,
    track: () => {},
    failure: () => undefined,
    idle: () => true,
    counted: () => undefined,
  };
  await expect((async () => {
    for await (const _ of emitInOrder(ctx, deps));
  })()).rejects.toMatchObject({ code: 'BE_PENDING' });
  // Its messages carry no document: its answer is sized by its text.
  expect(added).toEqual([['k', expect.any(Number), undefined, 64, false]]);
});

it('--no-wait: the pending line counts as people read it (1,200 records, not 1200)', async () => {
  const ctx = testContext({ noWait: true });
  const { ledger } = ctx;
  const keys = Array.from({ length: 1_200 }, (_, i) => `k${i}`);
  ledger.intake(
    ctx.scope,
    ctx.run,
    [{ id: 's', head: '{"model":"m","max_tokens":5,"messages":', tail: '}' }],
    keys.map((key) => ({ key, label: null, spec: 's', messages: '[]' })),
    keys.map((key, seq) => ({ seq, line: seq + 2, data: `{"id":"${seq}"}`, key, error: null })),
    0,
  );
  const { id } = ledger.openBatch(ctx.identity, ctx.run, 'test', 'n1', keys, 1);
  ledger.setRemote(id, 'msgbatch_1', 1);
  const deps: EmitterDeps = {
    intake: { inputDone: true, recordsRead: keys.length } as Intake,
    assembler: { has: () => false, sending: () => false, flush: async () => {} } as unknown as BatchAssembler,
    budget: { exhausted: false, refusal: undefined } as BudgetGuard,
    track: (batchId) => void ctx.deferred.set(batchId, '2026-12-04T10:53:32.230Z'),
    failure: () => undefined,
    idle: () => true,
    counted: () => undefined,
  };
  const out: JoinedRecord[] = [];
  await expect(
    (async () => {
      for await (const record of emitInOrder(ctx, deps)) out.push(record);
    })(),
  ).rejects.toMatchObject({
    code: 'BE_PENDING',
    message: '1,200 records wait for their answers from 1 batch; the oldest expires at 2026-12-04T10:53:32.230Z; run the same command again to collect them (what was submitted is not submitted again)',
  });
  expect(out).toEqual([]);
});

it('a group admitted after a wait for the budget still keeps to maxInFlight: batches followed meanwhile may have taken the slots', async () => {
  const ctx = testContext({ maxInFlight: 2 });
  let inFlight = 1;
  const answers: (number | 'wait')[] = ['wait', 0.1, 0.1];
  const budget = { admit: () => answers.shift() } as unknown as BudgetGuard;
  const frees: (() => void)[] = [];
  let inFlightAtSubmit = -1;
  const assembler = new BatchAssembler(ctx, {
    budget,
    beforeOpen: async () => {},
    inFlight: () => inFlight,
    slotFreed: () => new Promise<void>((resolve) => frees.push(resolve)),
    submit: async () => void (inFlightAtSubmit = inFlight),
    sendRealtime: async () => {},
  });
  await assembler.add('k', 10);
  const flushed = assembler.flush();
  const turns = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  await turns();
  // Held for the budget; meanwhile the intake follows a batch of an earlier run: both slots taken.
  inFlight = 2;
  frees.shift()?.();
  await turns();
  expect(inFlightAtSubmit).toBe(-1);
  // One ends: the group goes out.
  inFlight = 1;
  frees.shift()?.();
  await flushed;
  expect(inFlightAtSubmit).toBe(1);
});
