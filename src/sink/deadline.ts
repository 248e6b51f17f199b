/**
 * The deadline switch (batch mode): at the deadline, the mode becomes real time, the job's batches
 * still running that this run made or follows are canceled (the answers they already produced are
 * kept), and the group being filled goes out at once; what the canceled batches did not answer is
 * sent again in real time.
 */
import type { SinkContext } from './context.ts';
import { MAX_TIMER_MS, REALTIME_PREFIX } from './options.ts';

/** The batches to cancel, (ledger id, remote id), and how many followed batches of live runs are left running. */
export interface Running {
  cancel: [number, string][];
  leftRunning: number;
}

export interface DeadlineDeps {
  /** This run's batches still running, and the others it follows (see `batchesToCancel`). */
  running(): Promise<Running>;
  cancel(remoteId: string): Promise<void>;
  flush(): Promise<void>;
}

/** Starts the deadline's timer (none without a deadline, or in real-time mode); returns it, to clear at the stop. */
export function startDeadline(ctx: SinkContext, deps: DeadlineDeps): NodeJS.Timeout | undefined {
  const { deadline } = ctx.opts;
  if (deadline === undefined || ctx.mode.current === 'realtime') return undefined;
  return setTimeout(
    () => {
      ctx.mode.passDeadline();
      void (async () => {
        const { cancel, leftRunning } = await deps.running();
        ctx.opts.emit({ type: 'deadline', canceling: cancel.length, ...(leftRunning > 0 ? { leftRunning } : {}) });
        for (const [, remoteId] of cancel) void deps.cancel(remoteId);
        // A batch being filled goes out in real time now instead of waiting for its timer.
        await deps.flush();
      })().catch((error: unknown) => ctx.fail(error));
    },
    Math.max(0, Math.min(deadline - ctx.opts.now(), MAX_TIMER_MS)),
  );
}

/**
 * The batches a deadline (or a stop with `cancelOnAbort`) cancels: this run's still running (`mine`),
 * and those of its job that it follows (`followed`: made by an earlier try, a --no-wait one before a
 * last try with --deadline, as the README suggests to schedulers), running and ours by the ledger
 * (its rows, their remote ids claimed by our creates), whose run has ended. A batch of another job
 * that holds some of the same requests runs on, and so does one of a run still alive (another
 * worker's: canceled, its records came out canceled): counted in `leftRunning`, since the records
 * waiting on it wait past the deadline.
 */
export async function batchesToCancel(ctx: SinkContext, mine: [number, string][], followed: readonly number[]): Promise<Running> {
  const cancel = [...mine];
  let leftRunning = 0;
  const seen = new Set(mine.map(([id]) => id));
  for (const id of followed) {
    if (seen.has(id)) continue;
    const row = await ctx.ledger.batch(id);
    if (row?.state !== 'in_progress' || row.job !== ctx.opts.job || row.remote_id === null || row.remote_id.startsWith(REALTIME_PREFIX)) continue;
    if (row.run === ctx.run || !(await ctx.ledger.runAlive(row.run, ctx.opts.now()))) cancel.push([id, row.remote_id]);
    else leftRunning++;
  }
  return { cancel, leftRunning };
}
