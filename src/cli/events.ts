/** The run's events as the lines it prints on stderr (the progress view prints some of them too). */
import type { BatchEvent } from '../stages/batch.ts';
import { usd } from './summary.ts';
import { count, formatBytes, plural, printable } from './text.ts';

/**
 * One stderr line for a batch event, in the words of the run's log.
 * @example
 * describe({ type: 'submitted', batchId: 'msgbatch_1', requests: 12, bytes: 22_528 }); // 'batch msgbatch_1 submitted: 12 requests, 22.0 KiB'
 */
export function describe(event: BatchEvent): string {
  switch (event.type) {
    case 'creating':
      return `creating a batch of ${plural(event.requests, 'request')}`;
    case 'submitted':
      return `batch ${event.batchId} submitted: ${plural(event.requests, 'request')}, ${formatBytes(event.bytes)}`;
    case 'adopted':
      return `batch ${event.batchId}: found and adopted (its create had failed or was interrupted; its results carry our nonce): ${plural(event.requests, 'request')}, not submitted again`;
    case 'canceled':
      return event.error === undefined ? `batch ${event.batchId}: cancel accepted` : `batch ${event.batchId}: cannot cancel: ${event.error}`;
    case 'not-ours':
      return `batch ${event.batchId}: has the request count of a create whose answer was lost, but not its requests (another batch of the same size: another create's of this run, or another job's on this key); not taken for it`;
    case 'waiting': {
      const seen = event.lastSeenMs === null ? '' : `, last seen ${Math.round(event.lastSeenMs / 1000)} s ago`;
      const doing = event.realtime ? `sending ${count(event.requests)} of these requests in real time` : `creating a batch of ${count(event.requests)} of these requests`;
      if (event.deferred) {
        return `run ${event.run} (pid ${event.pid} on ${event.host?.split('/')[0] ?? 'an unknown host'}, running for ${Math.round(event.ageMs / 1000)} s${seen}) is ${doing}: left to it (--no-wait); a later try collects it`;
      }
      return `waiting for run ${event.run} (pid ${event.pid} on ${event.host?.split('/')[0] ?? 'an unknown host'}, running for ${Math.round(event.ageMs / 1000)} s${seen}): it is ${doing}; it is taken for dead if its heartbeat stops`;
    }
    case 'following':
      return event.live ? `batch ${event.batchId}: submitted by another run of the job, still running, following it too` : `batch ${event.batchId}: submitted by an earlier run, following it`;
    case 'requeued': {
      const reasons = Object.entries(event.reasons).map(([reason, n]) => `${reason}: ${n}`).join(', ');
      return `batch ${event.batchId}: ${plural(event.requests, 'request')} will be tried again (${reasons})`;
    }
    case 'released':
      return event.requests > 0
        ? `batch ${event.batchId ?? '(never created)'}: ${plural(event.requests, 'request')} ${event.nextRun ? `wait${event.requests === 1 ? 's' : ''} in the ledger for the next run` : 'will be submitted again'}: ${event.reason}`
        : `batch ${event.batchId ?? '(never created)'}: ${event.reason}`;
    case 'ended': {
      const c = event.counts;
      return `batch ${event.batchId} ended: ${count(c.succeeded)} succeeded, ${count(c.errored)} errored, ${count(c.expired)} expired, ${count(c.canceled)} canceled`;
    }
    case 'retry':
      return `${event.what}: ${event.message}; ${event.later ? 'a later try polls it again' : `trying again in ${(event.delayMs / 1000).toFixed(1)} s`}`;
    case 'realtime':
      return `real time: sending ${plural(event.requests, 'request')} (at most ${event.concurrency} at once)`;
    case 'finishing':
      return `real time: waiting for the ${plural(event.calls, 'call')} in flight to answer (each is paid once sent); an interrupt leaves now, and the next run asks ${event.calls === 1 ? 'it' : 'them'} again`;
    case 'unended':
      return `warning: the ledger could not record the end of this run (${event.message}); gc keeps its work as that of a try cut short`;
    case 'concurrency':
      return `real time: now at most ${event.limit} calls at once (${event.reason})`;
    case 'reused':
      return `${plural(event.records, 'record')} taken from the ledger (answered by earlier runs): not sent, not paid again`;
    case 'unclaimed':
      return `paid ${event.usd === null ? 'an unknown amount' : usd(event.usd)} for ${plural(event.answers, 'answer')} no record of this run asks for (the input changed since they were sent); the records' _meta.cost_usd add up to the rest`;
    case 'deadline':
      return (
        (event.canceling === 0
          ? 'deadline: no running batch to cancel; the rest is finished in real time'
          : `deadline: canceling ${plural(event.canceling, 'running batch', 'running batches')}; their answers are kept and the rest is finished in real time`) +
        (event.leftRunning
          ? `; ${othersBatches(event.leftRunning)} of the job, still alive, ${event.leftRunning === 1 ? 'runs' : 'run'} on: the records waiting on ${event.leftRunning === 1 ? 'it wait' : 'them wait'} past the deadline`
          : '')
      );
    case 'not-sent':
      // Names from the e-mail and the folder, on one line: a line break in one is shown, not printed (it could forge a message).
      return printable(`${event.where}: ${plural(event.attachments.length, 'attachment')} not sent: ${event.attachments.join(', ')}; the answer comes from the rest of the e-mail`);
    case 'left-creating':
      return `stop: ${event.batches === 1 ? 'a batch whose create was sent and not answered may have been made: it cannot be canceled before it is found' : `${event.batches} batches whose creates were sent and not answered may have been made: they cannot be canceled before they are found`}; the next run finds ${event.batches === 1 ? 'it and adopts it' : 'them and adopts them'} (not paid twice), and ${event.batches === 1 ? 'it runs' : 'they run'} on, billed, meanwhile`;
    case 'unproven':
      return `a batch of ${plural(event.requests, 'request')}: its create was sent and its answer lost, and a batch of its size is running on the API: left to the next try, which adopts it once it has ended and its results prove it ours (else sends the requests again)`;
    case 'unneeded':
      return `batch ${event.batchId} (${plural(event.requests, 'request')}) of job ${JSON.stringify(event.job)}, sent by an earlier try, holds none of this try's requests (the prompt, recipe, model or max_tokens changed since, or its rows are gone from the input): ${
        // An ended batch runs no more: its answers are billed, and a cancel would stop nothing (helper-97).
        event.ended ? `it has ended, and was billed; nothing collects its answers ('batch-enrich results ${event.batchId}' downloads them)` : `it runs on, and is billed; 'batch-enrich cancel ${event.batchId}' stops what it has not done yet`
      }`;
    case 'kept-running':
      return `stop: ${othersBatches(event.batches)} of the job, still alive, ${event.batches === 1 ? 'is' : 'are'} not canceled (--cancel-on-exit cancels only batches no live run follows): ${event.batches === 1 ? 'it runs' : 'they run'} on, and ${event.batches === 1 ? 'is' : 'are'} billed`;
    case 'budget':
      return event.canceling !== undefined
        ? `budget: the costs so far project $${event.projectedUsd.toFixed(4)}, over --max-cost $${event.maxUsd}; canceling ${plural(event.canceling, 'batch', 'batches')} in flight, and nothing more is submitted`
        : event.spentUsd !== undefined && event.inFlightUsd !== undefined && event.inFlightUsd > 0
          ? `budget: $${event.spentUsd.toFixed(4)} spent, $${event.inFlightUsd.toFixed(4)} projected for the batches in flight, $${(event.projectedUsd - event.spentUsd - event.inFlightUsd).toFixed(4)} for ${plural(event.requests, 'more request', 'more requests')}: $${event.projectedUsd.toFixed(4)}, over --max-cost $${event.maxUsd}; nothing more is submitted`
          : `budget: submitting ${plural(event.requests, 'more request', 'more requests')} could bring the cost to $${event.projectedUsd.toFixed(4)}, over --max-cost $${event.maxUsd}; nothing more is submitted`;
  }
}

/** Batches of other runs, counted in words: "1 batch of another run", "3 batches of other runs". */
function othersBatches(n: number): string {
  return n === 1 ? '1 batch of another run' : `${count(n)} batches of other runs`;
}
