/**
 * SIGINT and SIGTERM during a run: say how to resume, abort the run's signal (the library stops,
 * and with `--cancel-on-exit` cancels this run's batches), and exit 130 or 143 once it has stopped.
 */
import { BatchEnrichError } from '../../errors.ts';

export interface Interrupts {
  /** Aborted on the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** The exit code for the signal that stopped the run (130, 143), or undefined when none did. */
  exitCode(): number | undefined;
  /**
   * From now on, SIGINT or SIGTERM leaves at once: `line` is said, and the signal is raised again
   * with its default action (the process ends with 130 or 143).
   */
  leaveOnNext(line: (signal: NodeJS.Signals) => string): void;
  /** Removes the listeners. */
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM until `dispose()`.
 * @param ledgerPath named in the message: where the work stays
 * @param sent how many batches (or real-time groups) the run has sent so far
 */
export function onInterrupt(say: (line: string) => void, ledgerPath: string, cancelOnExit: boolean, sent: () => { batches: number; realtime: boolean }): Interrupts {
  const controller = new AbortController();
  let interrupted: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    interrupted = signal;
    const { batches, realtime } = sent();
    const resume = 'run the same command again to resume';
    say(
      batches === 0 && !realtime
        ? `${signal}: stopping; nothing was submitted yet; what was read stays in the ledger ${ledgerPath}; ${resume}`
        : cancelOnExit && batches > 0
          ? `${signal}: stopping and canceling this run's batches; what was answered stays in the ledger ${ledgerPath}; ${resume}`
          : batches === 0
            ? `${signal}: stopping; the answers received stay in the ledger ${ledgerPath}; ${resume}`
            : `${signal}: stopping; submitted batches keep running and stay in the ledger ${ledgerPath}; ${resume}`,
    );
    controller.abort(new BatchEnrichError('BE_ABORTED', `interrupted by ${signal}`));
  };
  let sigint = () => stop('SIGINT');
  let sigterm = () => stop('SIGTERM');
  process.once('SIGINT', sigint);
  process.once('SIGTERM', sigterm);
  const dispose = () => {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  };
  return {
    signal: controller.signal,
    exitCode: () => (interrupted === undefined ? undefined : interrupted === 'SIGINT' ? 130 : 143),
    leaveOnNext(line) {
      dispose();
      const leave = (signal: NodeJS.Signals) => {
        dispose();
        say(line(signal));
        process.kill(process.pid, signal);
      };
      sigint = () => leave('SIGINT');
      sigterm = () => leave('SIGTERM');
      process.once('SIGINT', sigint);
      process.once('SIGTERM', sigterm);
    },
    dispose,
  };
}
