/**
 * SIGINT, SIGTERM and SIGHUP during a run (`src/cli/enrich/signals.ts`), emitted on this process with
 * `process.kill` stubbed: the first stops the run; any later one leaves at once, saying what that
 * leaves behind, after the leaving clean-up (the outputs' temporary files).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { beforeTheRun, onInterrupt, type Interrupts } from '../../src/cli/enrich/signals.ts';

let interrupts: Interrupts | undefined;
afterEach(() => {
  interrupts?.dispose();
  interrupts = undefined;
  vi.restoreAllMocks();
});

function setup(sent: { batches: number; realtime: boolean; creating?: boolean }, cancelOnExit = false) {
  const said: string[] = [];
  const steps: string[] = [];
  const kill = vi.spyOn(process, 'kill').mockImplementation(((pid: number, signal: NodeJS.Signals) => (steps.push(`kill ${pid} ${signal}`), true)) as typeof process.kill);
  interrupts = onInterrupt((line) => said.push(line), '/tmp/l.db', cancelOnExit, () => sent, () => steps.push('clean up'));
  return { said, steps, kill };
}

describe('a second interrupt', () => {
  it.each([
    { sent: { batches: 2, realtime: false }, cancel: false, line: 'SIGINT: leaving now; submitted batches keep running and stay in the ledger /tmp/l.db; run the same command again to resume' },
    { sent: { batches: 0, realtime: false }, cancel: false, line: 'SIGINT: leaving now; what was read stays in the ledger /tmp/l.db; run the same command again to resume' },
    {
      sent: { batches: 0, realtime: false, creating: true },
      cancel: false,
      line: 'SIGINT: leaving now; a batch was being created (its create sent, not answered): it may have been made; the next run finds it and adopts it rather than pay again; what was read stays in the ledger /tmp/l.db; run the same command again to resume',
    },
    { sent: { batches: 2, realtime: false }, cancel: true, line: "SIGINT: leaving now, before this run's batches are all canceled: they may keep running; they stay in the ledger /tmp/l.db; run the same command again to resume, or batch-enrich cancel" },
    { sent: { batches: 0, realtime: true }, cancel: false, line: 'SIGINT: leaving now; real-time calls in flight, if any, are asked, and paid, again by the next run; the answers received stay in the ledger /tmp/l.db' },
  ])('before the run has begun to stop ($sent, cancel $cancel): leaves at once, after the clean-up, and says what it leaves', ({ sent, cancel, line }) => {
    const { said, steps } = setup(sent, cancel);
    process.emit('SIGINT');
    expect(interrupts!.signal.aborted).toBe(true);
    expect(said).toHaveLength(1);
    expect(steps).toEqual([]);
    process.emit('SIGINT');
    expect(said[1]).toBe(line);
    expect(steps).toEqual(['clean up', `kill ${process.pid} SIGINT`]);
    expect(interrupts!.exitCode()).toBe(130);
  });

  it('once the run waits for paid calls, says what it was given (leaveOnNext), SIGTERM too', () => {
    const { said, steps } = setup({ batches: 0, realtime: true });
    process.emit('SIGTERM');
    interrupts!.leaveOnNext((signal) => `${signal}: leaving now; 3 calls are paid again`);
    process.emit('SIGTERM');
    expect(said[1]).toBe('SIGTERM: leaving now; 3 calls are paid again');
    expect(steps).toEqual(['clean up', `kill ${process.pid} SIGTERM`]);
  });

  it('a clean-up that fails still leaves, saying so', () => {
    const said: string[] = [];
    const steps: string[] = [];
    vi.spyOn(process, 'kill').mockImplementation(((pid: number, signal: NodeJS.Signals) => (steps.push(`kill ${pid} ${signal}`), true)) as typeof process.kill);
    interrupts = onInterrupt((line) => said.push(line), '/tmp/l.db', false, () => ({ batches: 1, realtime: false }), () => {
      throw new Error('EACCES');
    });
    process.emit('SIGINT');
    expect(() => process.emit('SIGINT')).toThrow('EACCES');
    expect(said[1]).toMatch(/^SIGINT: leaving now/);
    expect(steps).toEqual([`kill ${process.pid} SIGINT`]);
  });

  it('after dispose, no listener of ours is left', () => {
    const count = () => (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => process.listenerCount(signal));
    const before = count();
    setup({ batches: 0, realtime: false });
    process.emit('SIGINT');
    interrupts!.dispose();
    expect(count()).toEqual(before);
  });
});

// A terminal (or ssh session) that closes sends SIGHUP: it killed the run on the default action,
// without the clean stop SIGINT and SIGTERM get.
describe('SIGHUP (the terminal closed)', () => {
  it('stops the run as SIGTERM does, exit code 129; another SIGHUP (the shell passes on the one the kernel sent) changes nothing; a SIGINT then leaves', () => {
    const { said, steps } = setup({ batches: 2, realtime: false });
    process.emit('SIGHUP');
    expect(interrupts!.signal.aborted).toBe(true);
    expect(said).toEqual(['SIGHUP: stopping; submitted batches keep running and stay in the ledger /tmp/l.db; run the same command again to resume']);
    expect(interrupts!.exitCode()).toBe(129);
    process.emit('SIGHUP');
    expect(said).toHaveLength(1);
    expect(steps).toEqual([]);
    process.emit('SIGINT');
    expect(said[1]).toBe('SIGINT: leaving now; submitted batches keep running and stay in the ledger /tmp/l.db; run the same command again to resume');
    expect(steps).toEqual(['clean up', `kill ${process.pid} SIGINT`]);
  });

  it('a SIGHUP while a Ctrl-C stops the run (the terminal closed meanwhile) does not leave at once; the run ends by SIGHUP (129)', () => {
    const { said, steps } = setup({ batches: 2, realtime: false });
    process.emit('SIGINT');
    expect(interrupts!.exitCode()).toBe(130);
    process.emit('SIGHUP');
    expect(said).toHaveLength(1);
    expect(steps).toEqual([]);
    expect(interrupts!.exitCode()).toBe(129);
  });
});

// helper-80: Ctrl-C during the --max-cost check (20 s over 1.5 million rows) ended with exit 130 and
// not a word, where every later stop says what it leaves.
describe('an interrupt before the run (the checks before anything is sent)', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('%s: says nothing was sent, then leaves on the signal', (signal) => {
    const said: string[] = [];
    const steps: string[] = [];
    vi.spyOn(process, 'kill').mockImplementation(((pid: number, sig: NodeJS.Signals) => (steps.push(`kill ${pid} ${sig}`), true)) as typeof process.kill);
    const dispose = beforeTheRun((line) => said.push(line));
    process.emit(signal);
    expect(said).toEqual([`${signal}: stopped before anything was sent (while checking the input and the cost); nothing to resume`]);
    expect(steps).toEqual([`kill ${process.pid} ${signal}`]);
    dispose();
    expect(process.listenerCount(signal)).toBe(0);
  });

  it('once disposed (the run has begun), it says nothing', () => {
    const said: string[] = [];
    beforeTheRun((line) => said.push(line))();
    expect(process.listenerCount('SIGINT')).toBe(0);
    expect(said).toEqual([]);
  });
});
