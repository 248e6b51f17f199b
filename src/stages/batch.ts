/**
 * The batching sink: prepared records in, joined records (record + its final result) out, in input
 * order. It is one stage because its halves share the ledger and run at the same time:
 *
 *   source ─► [intake] ─► [assembler] ─create─► batch 1 ─poll─► results ─┐
 *               │                     ─create─► batch 2 ─poll─► results ─┤  (ledger: records, requests, batches)
 *               └── records ─────────────────────────────────────────────►┴─► [emitter: input order] ─► out
 *
 * This file only wires the parts (`src/sink/`, each with one owner of its state; `src/sink/README.md`
 * draws the state machines and lists the invariants the durability tests pin) and owns the
 * controller and the teardown order:
 * - intake: every record goes to the ledger (memory stays flat); its request is answered already,
 *   in a batch still running (followed), or placed in the group being filled;
 * - assembler: cuts groups by size, bytes and time, waits for a slot and the budget, sends each;
 * - submitter: batch row first, then create; an unknown outcome is resolved by proof (adoption.ts);
 * - tracker + follower: one task per batch: wait for another live run's create, resolve a dead run's,
 *   poll (a 404 is a question), download (download.ts) through the recorder (final or retried);
 * - real-time sender: groups through `messages.create` under an AIMD limiter, same ledger and recorder;
 * - deadline: switches the mode to real time, cancels this run's batches, flushes;
 * - emitter: records out in input order, each once its answer is final.
 *
 * Rejected alternative: `readable.map(submit, { concurrency })`. It keeps order but holds every
 * record of every batch in flight in memory, and it has no notion of a timer-driven partial flush.
 */
import { BatchEnrichError } from '../errors.ts';
import { HEARTBEAT_MS } from '../ledger/ledger.ts';
import { ledgerBusy, metAtStart } from '../ledger/store.ts';
import { BatchAssembler } from '../sink/assembler.ts';
import { Pulse, settleWithin } from '../sink/async.ts';
import { BudgetGuard } from '../sink/budget.ts';
import { ModeSwitch, Reachability, type SinkContext } from '../sink/context.ts';
import { batchesToCancel, startDeadline } from '../sink/deadline.ts';
import { emitInOrder } from '../sink/emitter.ts';
import { follow } from '../sink/follower.ts';
import { Intake } from '../sink/intake.ts';
import { NO_WAIT_UNREACHABLE_MS, resolveSinkOptions, STOP_WAIT_MS, UNREACHABLE_MS, type BatchSinkOptions } from '../sink/options.ts';
import { RealtimeSender } from '../sink/realtime.ts';
import { ResultRecorder } from '../sink/recorder.ts';
import { Submitter } from '../sink/submitter.ts';
import { Tracker } from '../sink/tracker.ts';
import type { JoinedRecord, PreparedRecord } from '../types.ts';

export {
  DEFAULT_CONCURRENCY,
  DEFAULT_FLUSH_AFTER_MS,
  DEFAULT_MAX_IN_FLIGHT,
  MAX_BATCH_BYTES,
  MAX_BATCH_REQUESTS,
  MAX_TIMER_MS,
  type BatchSinkOptions,
  type Budget,
} from '../sink/options.ts';
export { resultText } from '../sink/body.ts';
export type { BatchEvent, JoinedRecord, PreparedRecord, SendMode } from '../types.ts';

/** The sink as a `pipeline` stage: `(source, { signal }) => AsyncGenerator<JoinedRecord>`. */
export function batchSink(
  options: BatchSinkOptions,
): (source: AsyncIterable<PreparedRecord>, stage?: { signal?: AbortSignal }) => AsyncGenerator<JoinedRecord> {
  return (source, stage) => {
    const signals = [options.signal, stage?.signal].filter((s): s is AbortSignal => s !== undefined);
    return runBatches(source, { ...options, signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0] });
  };
}

async function* runBatches(source: AsyncIterable<PreparedRecord>, options: BatchSinkOptions): AsyncGenerator<JoinedRecord> {
  const opts = resolveSinkOptions(options);
  const { client, ledger, identity } = options;
  // Registered, and beating, on the wall clock like every run (an injected clock is this run's own).
  // First: a ledger that cannot be reached (or a SQLite file another process holds locked) fails the
  // run before anything is set up, and says so (`metAtStart`: a --no-wait try is then a "try later").
  let run: number;
  try {
    run = await ledger.startRun(opts.job, Date.now());
  } catch (error) {
    throw metAtStart(error);
  }

  // Our own controller: aborted by the caller's signal, by a failure, and when the consumer stops early.
  const controller = new AbortController();
  // The paid calls' (see `SinkContext.callSignal`): aborted once the stop has waited for them.
  const calls = new AbortController();
  const pulse = new Pulse();
  const onAbort = () => {
    controller.abort(options.signal?.reason);
    pulse.notify();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  let failure: unknown;
  let finished = false;
  const runStartedAt = opts.now();
  const ctx: SinkContext = {
    client,
    ledger,
    identity,
    scope: identity.scope,
    run,
    runStartedAt,
    opts,
    signal: controller.signal,
    callSignal: calls.signal,
    pulse,
    mode: new ModeSwitch(opts.mode, opts.deadline !== undefined),
    reach: new Reachability(new URL(client.baseURL).host, opts.now, opts.noWait ? NO_WAIT_UNREACHABLE_MS : UNREACHABLE_MS),
    fail(error) {
      failure ??= error;
      controller.abort(error);
      pulse.notify();
    },
    stopping: () => failure !== undefined || controller.signal.aborted,
    needApi() {
      if (opts.offline === undefined) return true;
      ctx.fail(new BatchEnrichError('BE_NO_API_KEY', opts.offline));
      return false;
    },
    get finished() {
      return finished;
    },
    deferred: new Map(),
  };

  // The parts, wired through callbacks: no part imports another's state.
  const budget: BudgetGuard = new BudgetGuard(ctx, opts.budget, (batchId) => submitter.cancelById(batchId), (batchId) => recorder.took(batchId));
  const recorder = new ResultRecorder(ctx, (batchId) => budget.canceled(batchId));
  const tracker: Tracker = new Tracker(ctx, {
    isCreating: (batchId) => submitter.isCreating(batchId),
    follow: async (batchId) => {
      await budget.follows(batchId);
      return follow(ctx, recorder, batchId);
    },
    settled: (batchId) => {
      const { paid, lost } = recorder.took(batchId);
      budget.settled(batchId, paid, lost);
    },
    requeue: (requeued) => assembler.requeue(requeued, () => intake.inputDone),
  });
  const submitter: Submitter = new Submitter(ctx, {
    track: (batchId) => tracker.track(batchId),
    charge: (batchId, usd, requests) => budget.charge(batchId, usd, requests),
    uncharge: (batchId) => budget.settled(batchId, 0),
  });
  const realtime = new RealtimeSender(ctx, recorder, {
    track: (batchId, work) => tracker.track(batchId, work),
    charge: (batchId, usd, requests) => budget.charge(batchId, usd, requests),
    lost: (batchId, request) => budget.lost(batchId, request),
  });
  const assembler: BatchAssembler = new BatchAssembler(ctx, {
    budget,
    beforeOpen: () => intake.writeBuffered(),
    inFlight: () => tracker.size + submitter.creatingCount,
    slotFreed: () => Promise.race([...tracker.tasks(), pulse.wait()]),
    submit: (group) => submitter.submit(group),
    sendRealtime: (group) => realtime.send(group),
  });
  const intake: Intake = new Intake(ctx, { assembler, track: (batchId) => tracker.track(batchId) });
  const deadlineTimer = startDeadline(ctx, {
    running: async () => batchesToCancel(ctx, await submitter.running(), tracker.followed()),
    cancel: (remoteId) => submitter.cancel(remoteId),
    flush: () => assembler.flush(),
  });

  // The heartbeat that tells other runs this one is alive, on the wall clock (liveness is judged
  // across processes). It does not keep the process alive. A beat that fails means this run is dead
  // to the others (its row is gone, or its last beat came too late): another run may be resolving its
  // batches, so it stops. A busy ledger only skips a beat.
  const heartbeat = setInterval(() => {
    void (async () => {
      if (!(await ledger.heartbeat(ctx.run, Date.now()))) {
        ctx.fail(new BatchEnrichError('BE_LEDGER', `This run (${ctx.run}) was taken for dead by the other runs on the ledger ${ledger.path} (its heartbeat stalled); run the command again`));
      }
    })().catch((error: unknown) => {
      if (!ledgerBusy(error)) ctx.fail(error);
    });
  }, HEARTBEAT_MS);
  heartbeat.unref();

  await budget.countEarlierTries((batchId) => tracker.track(batchId)).catch(ctx.fail);
  const filled = intake.fill(source).then(async () => {
    intake.inputDone = true;
    pulse.move();
    // Only said: a ledger that fails here (busy, gone, or closed by a stop meanwhile) must not end the
    // run, nor the process (a rejection nobody awaits yet: helper-97, a Ctrl-C while reading crashed
    // with "The database connection is not open", exit 1).
    await intake.sayUnneeded().catch(() => {});
  }, ctx.fail);

  // Every record out: the job's next try needs nothing of this one (see `RunOutcome`), once the
  // consumer has kept them (`onComplete`).
  let complete = false;
  try {
    yield* emitInOrder(ctx, {
      intake,
      assembler,
      budget,
      track: (batchId) => tracker.track(batchId),
      failure: () => failure,
      idle: () => tracker.size === 0 && submitter.creatingCount === 0 && assembler.idle,
      counted: () => recorder.counted(),
    });
    complete = true;
  } finally {
    assembler.dispose();
    intake.dispose();
    clearTimeout(deadlineTimer);
    options.signal?.removeEventListener('abort', onAbort);
    const stopped = options.signal?.aborted === true;
    if (!controller.signal.aborted) controller.abort();
    realtime.announceFinishing();
    // When the consumer stops early the reader may be parked on a source that never ends (stdin);
    // it is not awaited then (its failure is already handled), and it writes nothing more.
    if (intake.inputDone) await filled;
    // Every call in flight got the abort, but the paid real-time calls; a stop must not wait on a poll,
    // a download or a cancel that ignores it.
    await settleWithin([...tracker.tasks(), assembler.flushing, intake.writes, ...submitter.searches(), ...submitter.cancels()], STOP_WAIT_MS);
    // The real-time calls still out are waited for however long they take: each is paid once sent.
    // The run beats on meanwhile: taken for dead by another run, its groups would be sent again.
    await realtime.finishing();
    calls.abort(controller.signal.reason);
    if (stopped && opts.cancelOnAbort) {
      const { cancel, leftRunning } = await batchesToCancel(ctx, await submitter.running(), tracker.followed());
      if (leftRunning > 0) opts.emit({ type: 'kept-running', batches: leftRunning });
      await submitter.cancelAll(cancel, STOP_WAIT_MS);
      // Creates cut off by the stop (sent, the answer not read): no id to cancel (helper-66: said nowhere).
      // Read only to say it: a ledger that fails here must not replace the run's own end (helper-67).
      const creating = await Promise.resolve(ledger.batches(opts.job)).then(
        (rows) => rows.filter((row) => row.run === ctx.run && row.state === 'creating' && row.request_count > 0).length,
        () => 0,
      );
      if (creating > 0) opts.emit({ type: 'left-creating', batches: creating });
    }
    finished = true;
    // Once (a second call gets the first's promise); the run beats on until it ends, so that, handed
    // to the consumer (`onComplete`), it is not taken for dead while the consumer keeps its output.
    let ended: Promise<void> | undefined;
    const end = (kept: boolean) =>
      (ended ??= (async () => {
        clearInterval(heartbeat);
        await ledger.endRun(ctx.run, { complete: kept, now: opts.now(), scope: ctx.scope });
      })());
    // Ended here, a failed end (the ledger's disk full too) is said, not thrown: it would replace the
    // run's own error, or fail a consumer that only stopped early; the run is then one that never
    // ended, whose work gc keeps (`tryMark`), which costs nothing twice.
    if (complete && options.onComplete) options.onComplete(end);
    else await end(complete).catch((error: unknown) => opts.emit({ type: 'unended', message: error instanceof Error ? error.message : String(error) }));
  }
}
