/**
 * SIGINT and SIGTERM during a run: say how to resume, abort the run's signal (the library stops,
 * and with `--cancel-on-exit` cancels this run's batches), and exit 130 or 143 once it has stopped.
 */
import { plural } from '../../core/text.ts';
import { BatchEnrichError } from '../../errors.ts';

export interface Interrupts {
  /** Aborted on the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** The exit code for the signal that stopped the run (130, 143), or undefined when none did. */
  exitCode(): number | undefined;
  /**
   * From now on, SIGINT or SIGTERM leaves at once with `line` (in place of the one said by default
   * after the first): the clean-up is done, `line` is said, and the signal is raised again with its
   * default action (the process ends with 130 or 143).
   */
  leaveOnNext(line: (signal: NodeJS.Signals) => string): void;
  /** Removes the listeners. */
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM until `dispose()`. The first stops the run; from then on, another
 * leaves at once (after `leaving`), saying what that leaves behind: a user who presses Ctrl-C again
 * wants out, and nothing already paid for is lost by it that the line does not name.
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
  let interrupted: NodeJS.Signals | undefined;
  const resume = 'run the same command again to resume';
  const mayExist = 'a batch was being created (its create sent, not answered): it may have been made; the next run finds it and adopts it rather than pay again';
  const stop = (signal: NodeJS.Signals) => {
    interrupted = signal;
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
  let sigint = () => stop('SIGINT');
  let sigterm = () => stop('SIGTERM');
  process.once('SIGINT', sigint);
  process.once('SIGTERM', sigterm);
  const dispose = () => {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  };
  const leaveOnNext = (line: (signal: NodeJS.Signals) => string) => {
    dispose();
    const leave = (signal: NodeJS.Signals) => {
      dispose();
      try {
        leaving();
      } finally {
        // Whatever the clean-up met: the user asked to leave.
        say(line(signal));
        process.kill(process.pid, signal);
      }
    };
    sigint = () => leave('SIGINT');
    sigterm = () => leave('SIGTERM');
    process.once('SIGINT', sigint);
    process.once('SIGTERM', sigterm);
  };
  return {
    signal: controller.signal,
    exitCode: () => (interrupted === undefined ? undefined : interrupted === 'SIGINT' ? 130 : 143),
    leaveOnNext,
    dispose,
  };
}

/**
 * Until the returned function is called (the run begins, `onInterrupt` takes over): SIGINT or SIGTERM
 * says that nothing was sent, and leaves on the signal's default action (130, 143). helper-80: Ctrl-C
 * during the `--max-cost` check of a large input ended without a word.
 */
export function beforeTheRun(say: (line: string) => void): () => void {
  const leave = (signal: NodeJS.Signals) => {
    dispose();
    say(`${signal}: stopped before anything was sent (while checking the input and the cost); nothing to resume`);
    process.kill(process.pid, signal);
  };
  const sigint = () => leave('SIGINT');
  const sigterm = () => leave('SIGTERM');
  const dispose = () => {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  };
  process.once('SIGINT', sigint);
  process.once('SIGTERM', sigterm);
  return dispose;
}
