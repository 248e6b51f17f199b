/**
 * The deadline switch (batch mode): at the deadline, the mode becomes real time, this run's batches
 * still running are canceled (the answers they already produced are kept), and the group being filled
 * goes out at once; what the canceled batches did not answer is sent again in real time.
 */
import type { SinkContext } from './context.ts';
import { MAX_TIMER_MS } from './options.ts';

export interface DeadlineDeps {
  /** This run's batches still running: (ledger id, remote id). */
  running(): Promise<[number, string][]>;
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
        const running = await deps.running();
        ctx.opts.emit({ type: 'deadline', canceling: running.length });
        for (const [, remoteId] of running) void deps.cancel(remoteId);
        // A batch being filled goes out in real time now instead of waiting for its timer.
        await deps.flush();
      })().catch((error: unknown) => ctx.fail(error));
    },
    Math.max(0, Math.min(deadline - ctx.opts.now(), MAX_TIMER_MS)),
  );
}
