/**
 * SIGINT, SIGTERM and SIGHUP during a run: say how to resume, abort the run's signal (the library
 * stops, and with `--cancel-on-exit` cancels this run's batches), and exit 130, 143 or 129 once it
 * has stopped. SIGHUP is a terminal (or ssh session) that closed: the same clean stop as SIGTERM.
 */
import { plural } from '../../core/text.ts';
import { BatchEnrichError } from '../../errors.ts';

/** The signals that stop a run, and the exit code of each (128 + its number, as a shell reports it). */
export const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const satisfies Partial<Record<NodeJS.Signals, number>>;
type StopSignal = keyof typeof STOP_SIGNALS;
const stopSignals = Object.keys(STOP_SIGNALS) as StopSignal[];

/** The exit code of a run stopped by SIGHUP (see `leaveAfterHangup`). */
export const HANGUP_EXIT = STOP_SIGNALS.SIGHUP;

/** Listens for each stop signal with `on` (which removes them, as it needs); returns what removes them all. */
function listen(on: (signal: StopSignal) => void): () => void {
  const listeners = stopSignals.map((signal) => [signal, () => on(signal)] as const);
  for (const [signal, listener] of listeners) process.on(signal, listener);
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}

export interface Interrupts {
  /** Aborted on the first SIGINT, SIGTERM or SIGHUP. */
  signal: AbortSignal;
  /**
   * The exit code for the signal that stopped the run (130, 143), or undefined when none did; 129
   * once a SIGHUP came, first or later (the run then ends by SIGHUP: `leaveAfterHangup`).
   */
  exitCode(): number | undefined;
  /**
   * From now on, SIGINT or SIGTERM leaves at once with `line` (in place of the one said by default
   * after the first): the clean-up is done, `line` is said, and the signal is raised again with its
   * default action (the process ends with 130 or 143). A SIGHUP does not: the run goes on stopping.
   */
  leaveOnNext(line: (signal: NodeJS.Signals) => string): void;
  /** Removes the listeners. */
  dispose(): void;
}

/**
 * Listens for SIGINT, SIGTERM and SIGHUP until `dispose()`. The first stops the run; from then on, a
 * SIGINT or SIGTERM leaves at once (after `leaving`), saying what that leaves behind: a user who
 * presses Ctrl-C again wants out, and nothing already paid for is lost by it that the line does not name.
 * @param ledgerPath named in the message: where the work stays
 * @param sent how many batches (or real-time groups) the run has sent so far, and whether it has sent
 *   a create (`creating`: the batch may exist, answered or not; the next run finds and adopts it);
 *   how many records it has written out (`out`), and how many of those with an `_error` (`failed`)
 * @param leaving what must happen before the process leaves on a signal's default action, which
 *   skips 'exit' handlers (the outputs' temporary files)
 */
export function onInterrupt(
  say: (line: string) => void,
  ledgerPath: string,
  cancelOnExit: boolean,
  sent: () => { batches: number; realtime: boolean; creating?: boolean; out?: number; failed?: number },
  leaving: () => void = () => {},
): Interrupts {
  const controller = new AbortController();
  let interrupted: StopSignal | undefined;
  /** A SIGHUP came: the terminal may be gone, and the run ends by SIGHUP (`leaveAfterHangup`). */
  let hungUp = false;
  const resume = 'run the same command again to resume';
  const mayExist = 'a batch was being created (its create sent, not answered): it may have been made; the next run finds it and adopts it rather than pay again';
  const stop = (signal: StopSignal) => {
    interrupted = signal;
    if (signal === 'SIGHUP') hungUp = true;
    const { batches, realtime, creating, out = 0, failed = 0 } = sent();
    // A rerun whose records all had answers in the ledger sends nothing: "nothing was submitted yet"
    // would say that work waits which does not.
    const nothingSent =
      out === 0
        ? 'nothing was submitted yet'
        : `this run submitted nothing: the ${plural(out, 'record')} out so far took answers the ledger had${failed > 0 ? ' or carry their _error' : ''}`;
    say(
      batches === 0 && !realtime
        ? `${signal}: stopping; ${creating ? mayExist : nothingSent}; what was read stays in the ledger ${ledgerPath}; ${resume}`
        : cancelOnExit && batches > 0
          ? `${signal}: stopping and canceling the job's running batches (this run's, and those of ended runs it follows); what was answered stays in the ledger ${ledgerPath}; ${resume}`
          : batches === 0
            ? `${signal}: stopping; the answers received stay in the ledger ${ledgerPath}; ${resume}`
            : `${signal}: stopping; submitted batches keep running and stay in the ledger ${ledgerPath}; ${resume}`,
    );
    controller.abort(new BatchEnrichError('BE_ABORTED', `interrupted by ${signal}`));
    leaveOnNext(leaveLine);
  };
  /** What leaving before the run has stopped leaves behind (until the run says more, `leaveOnNext`). */
  const leaveLine = (signal: NodeJS.Signals) => {
    const { batches, realtime, creating } = sent();
    if (realtime) return `${signal}: leaving now; real-time calls in flight, if any, are asked, and paid, again by the next run; the answers received stay in the ledger ${ledgerPath}`;
    if (batches === 0) return `${signal}: leaving now; ${creating ? `${mayExist}; ` : ''}what was read stays in the ledger ${ledgerPath}; ${resume}`;
    if (cancelOnExit) return `${signal}: leaving now, before this run's batches are all canceled: they may keep running; they stay in the ledger ${ledgerPath}; ${resume}, or batch-enrich cancel`;
    return `${signal}: leaving now; submitted batches keep running and stay in the ledger ${ledgerPath}; ${resume}`;
  };
  let unlisten = listen(stop);
  const dispose = () => unlisten();
  const leaveOnNext = (line: (signal: NodeJS.Signals) => string) => {
    dispose();
    const leave = (signal: StopSignal) => {
      // A hang-up is never a user asking to leave at once: when a terminal closes, the kernel and the
      // shell each send one (two within milliseconds), and one comes to a run that a Ctrl-C is already
      // stopping. The run goes on stopping, and ends by SIGHUP (the terminal may be gone).
      if (signal === 'SIGHUP') {
        hungUp = true;
        return;
      }
      dispose();
      try {
        leaving();
      } finally {
        // Whatever the clean-up met: the user asked to leave.
        say(line(signal));
        process.kill(process.pid, signal);
      }
    };
    unlisten = listen(leave);
  };
  return {
    signal: controller.signal,
    exitCode: () => (interrupted === undefined ? undefined : hungUp ? HANGUP_EXIT : STOP_SIGNALS[interrupted]),
    leaveOnNext,
    dispose,
  };
}

/**
 * Until the returned function is called (the run begins, `onInterrupt` takes over): a stop signal
 * says that nothing was sent, and leaves on the signal's default action (130, 143, 129). helper-80:
 * Ctrl-C during the `--max-cost` check of a large input ended without a word.
 */
export function beforeTheRun(say: (line: string) => void): () => void {
  const dispose = listen((signal) => {
    dispose();
    say(`${signal}: stopped before anything was sent (while checking the input and the cost); nothing to resume`);
    process.kill(process.pid, signal);
  });
  return dispose;
}

/**
 * A run stopped by SIGHUP ends by SIGHUP's default action, once it has stopped cleanly (a shell
 * reports 129, as for a process that does not handle SIGHUP): after a hangup the terminal is gone, and
 * Node 20 aborts a process that then exits normally (it restores the terminal's settings at exit, gets
 * EIO, and fails an assertion: SIGABRT, 134; nodejs/node#51519, fixed in later Node). Raising the signal
 * skips that restoring, and the 'exit' handlers, which a stopped run has no more use for (its output
 * files are given up or in place before it returns).
 */
export function leaveAfterHangup(): void {
  process.removeAllListeners('SIGHUP');
  process.kill(process.pid, 'SIGHUP');
}
