/** The lines people read about a run's events and batches: counts in words (one request, 100,000 requests). */
import { describe as group, expect, it } from 'vitest';
import { describe } from '../../src/cli/events.ts';
import { countsText } from '../../src/cli/jobs/status.ts';
import type { BatchEvent } from '../../src/types.ts';

group('event lines', () => {
  const cases: { event: BatchEvent; line: string }[] = [
    {
      event: { type: 'adopted', batchId: 'msgbatch_1', requests: 1 },
      line: 'batch msgbatch_1: found and adopted (its create had failed or was interrupted; its results carry our nonce): 1 request, not submitted again',
    },
    {
      event: { type: 'adopted', batchId: 'msgbatch_1', requests: 100_000 },
      line: 'batch msgbatch_1: found and adopted (its create had failed or was interrupted; its results carry our nonce): 100,000 requests, not submitted again',
    },
    {
      event: { type: 'released', batchId: 'msgbatch_2', requests: 1, reason: 'its create never reached the API' },
      line: 'batch msgbatch_2: 1 request will be submitted again: its create never reached the API',
    },
    {
      event: { type: 'released', batchId: null, requests: 2_500, reason: 'its create never reached the API' },
      line: 'batch (never created): 2,500 requests will be submitted again: its create never reached the API',
    },
    {
      event: { type: 'released', batchId: 'msgbatch_3', requests: 0, reason: 'it is gone' },
      line: 'batch msgbatch_3: it is gone',
    },
    {
      event: { type: 'following', batchId: 'msgbatch_7', requests: 10 },
      line: 'batch msgbatch_7: submitted by an earlier run, following it',
    },
    // Not "an earlier run": another worker of the job, running beside this one.
    {
      event: { type: 'following', batchId: 'msgbatch_7', requests: 10, live: true },
      line: 'batch msgbatch_7: submitted by another run of the job, still running, following it too',
    },
    {
      event: { type: 'not-sent', where: 'mail/:3: mail/inv.eml', attachments: ['INV-7.pdf (document_encrypted)', 'scan.png (document_unreadable)'] },
      line: 'mail/:3: mail/inv.eml: 2 attachments not sent: INV-7.pdf (document_encrypted), scan.png (document_unreadable); the answer comes from the rest of the e-mail',
    },
    // helper-74: an attachment named `x\nbatch-enrich: all good.docx` printed a line of its own, a forged message.
    {
      event: { type: 'not-sent', where: 'mail/:3: mail/a\nb.eml', attachments: ['x\nbatch-enrich: all good.docx (document_unsupported)'] },
      line: 'mail/:3: mail/a\\u000ab.eml: 1 attachment not sent: x\\u000abatch-enrich: all good.docx (document_unsupported); the answer comes from the rest of the e-mail',
    },
    {
      event: { type: 'deadline', canceling: 2 },
      line: 'deadline: canceling 2 running batches; their answers are kept and the rest is finished in real time',
    },
    // Not "canceling 0 running batches": nothing is canceled.
    {
      event: { type: 'deadline', canceling: 0 },
      line: 'deadline: no running batch to cancel; the rest is finished in real time',
    },
    {
      event: { type: 'deadline', canceling: 0, leftRunning: 1 },
      line: 'deadline: no running batch to cancel; the rest is finished in real time; 1 batch of another run of the job, still alive, runs on: the records waiting on it wait past the deadline',
    },
    {
      event: { type: 'kept-running', batches: 2 },
      line: 'stop: 2 batches of other runs of the job, still alive, are not canceled (--cancel-on-exit cancels only batches no live run follows): they run on, and are billed',
    },
    {
      event: { type: 'unended', message: 'database or disk is full' },
      line: 'warning: the ledger could not record the end of this run (database or disk is full); gc keeps its work as that of a try cut short',
    },
    {
      event: { type: 'finishing', calls: 1 },
      line: 'real time: waiting for the 1 call in flight to answer (each is paid once sent); an interrupt leaves now, and the next run asks it again',
    },
    {
      event: { type: 'finishing', calls: 8 },
      line: 'real time: waiting for the 8 calls in flight to answer (each is paid once sent); an interrupt leaves now, and the next run asks them again',
    },
    {
      event: { type: 'budget', maxUsd: 5, projectedUsd: 5.5, requests: 1 },
      line: 'budget: submitting 1 more request could bring the cost to $5.5000, over --max-cost $5; nothing more is submitted',
    },
    {
      event: { type: 'budget', maxUsd: 5, projectedUsd: 7.25, requests: 12_000 },
      line: 'budget: submitting 12,000 more requests could bring the cost to $7.2500, over --max-cost $5; nothing more is submitted',
    },
    // helper-72: the figure counted the batches in flight too, and read as the cost of the next requests alone.
    {
      event: { type: 'budget', maxUsd: 0.25, projectedUsd: 0.3855, requests: 250, spentUsd: 0.2152, inFlightUsd: 0.0851 },
      line: 'budget: $0.2152 spent, $0.0851 projected for the batches in flight, $0.0852 for 250 more requests: $0.3855, over --max-cost $0.25; nothing more is submitted',
    },
    {
      event: { type: 'ended', batchId: 'msgbatch_5', counts: { processing: 0, succeeded: 99_000, errored: 1_000, canceled: 0, expired: 0 } },
      line: 'batch msgbatch_5 ended: 99,000 succeeded, 1,000 errored, 0 expired, 0 canceled',
    },
    {
      event: { type: 'waiting', run: 7, pid: 42, host: 'vm', ageMs: 3_000, lastSeenMs: 1_000, requests: 100_000 },
      line: 'waiting for run 7 (pid 42 on vm, running for 3 s, last seen 1 s ago): it is creating a batch of 100,000 of these requests; it is taken for dead if its heartbeat stops',
    },
    // A real-time group another run is sending is no batch being created (helper-64).
    {
      event: { type: 'waiting', run: 7, pid: 42, host: 'vm', ageMs: 3_000, lastSeenMs: 1_000, requests: 32, realtime: true },
      line: 'waiting for run 7 (pid 42 on vm, running for 3 s, last seen 1 s ago): it is sending 32 of these requests in real time; it is taken for dead if its heartbeat stops',
    },
    // With --no-wait it is not waited for (helper-63: the line said "waiting" and the try left).
    {
      event: { type: 'waiting', run: 7, pid: 42, host: 'vm', ageMs: 3_000, lastSeenMs: 1_000, requests: 100_000, deferred: true },
      line: 'run 7 (pid 42 on vm, running for 3 s, last seen 1 s ago) is creating a batch of 100,000 of these requests: left to it (--no-wait); a later try collects it',
    },
    {
      // Not necessarily another job's: a sibling batch of this job, of the same size, is not this row's either.
      event: { type: 'not-ours', batchId: 'msgbatch_6' },
      line: "batch msgbatch_6: has the request count of a create whose answer was lost, but not its requests (another batch of the same size: another create's of this run, or another job's on this key); not taken for it",
    },
    {
      event: { type: 'submitted', batchId: 'msgbatch_4', requests: 1, bytes: 2048 },
      line: 'batch msgbatch_4 submitted: 1 request, 2.0 KiB',
    },
  ];
  for (const { event, line } of cases) {
    it(`${event.type}: ${line}`, () => expect(describe(event)).toBe(line));
  }
});

group('live request counts (status)', () => {
  it('counts as people read them, those that are not zero, in the API order', () => {
    expect(countsText({ processing: 5_000, succeeded: 1_234_567, errored: 0, canceled: 12, expired: 0 })).toBe('processing 5,000, succeeded 1,234,567, canceled 12');
    expect(countsText({ processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 })).toBe('no requests');
  });
});
