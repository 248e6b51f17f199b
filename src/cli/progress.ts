/**
 * Progress on stderr. On a terminal (or with `--progress`) a status block redrawn in place by
 * log-update: records read, requests submitted, batches in flight with their age, records done and
 * failed, the time left estimated from the batches that already ended, and the cost so far. Off a
 * terminal, one plain line per batch event (submitted, ended, retried…), which logs and CI keep well.
 * `--quiet` shows neither. No colour is used, so NO_COLOR has nothing to turn off.
 *
 * Rejected alternative: hand-written cursor escapes. log-update handles line wrapping and clearing.
 */
import { createLogUpdate } from 'log-update';
import type { CostTotals } from '../core/pricing.ts';
import type { BatchEvent } from '../stages/batch.ts';
import type { MergeCounts } from '../stages/merge.ts';
import { count, formatDuration, plural, printableLines } from './text.ts';
import { usd } from './summary.ts';
import type { UploadCounts } from '../client/uploads.ts';
import { uploadLine } from './documents.ts';

/** How often the terminal view is redrawn. */
const REDRAW_MS = 250;
/** Events said even with --quiet (`style: 'off'`). */
const ALWAYS_SAID: ReadonlySet<string> = new Set(['budget', 'not-sent', 'kept-running', 'left-creating', 'unneeded', 'unproven']);

/** Off a terminal, how often real time says what it has sent. */
const REALTIME_LINE_MS = 10_000;

export interface ProgressOptions {
  stream: NodeJS.WritableStream;
  /** 'tty': the redrawn view; 'lines': a line per event; 'off': nothing. */
  style: 'tty' | 'lines' | 'off';
  counts: MergeCounts;
  costs: CostTotals;
  describe: (event: BatchEvent) => string;
  now?: () => number;
  /** Files API uploads so far (documents), shown under the first line once there are any. */
  uploads?: UploadCounts | undefined;
}

export interface Progress {
  event(event: BatchEvent): void;
  /** One more input record read. */
  read(): void;
  /** A message that must be seen (a warning, the summary): printed above the view. */
  say(line: string): void;
  /**
   * The end: the view's last frame, or (off a terminal) how many requests real time sent in all, when
   * that is more than its last line said (`unsent`: requests handed to real time and given back
   * unsent, for the next run to send, are left out).
   */
  stop(unsent?: number): void;
}

interface Flight {
  requests: number;
  submittedAt: number;
}

export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  // As `say` (../command.ts): messages name files and fields from the input, which can carry terminal codes.
  const write = (line: string) => options.stream.write(`batch-enrich: ${printableLines(line)}\n`);
  if (options.style !== 'tty') {
    // Real time sends groups of 32: a line each was hundreds of lines. The first is said, then how many
    // were sent in all, at most every `REALTIME_LINE_MS`, and at the end.
    let sentInRealtime = 0;
    let realtimeSaid: { at: number; requests: number; concurrency: number } | undefined;
    // The first group as it goes ("sending 32 requests"), then the count in all (helper-72: "sending 32",
    // then "sending 300" read as 332).
    const sayRealtime = (requests: number, concurrency: number, end = false) => {
      const first = realtimeSaid === undefined;
      realtimeSaid = { at: now(), requests, concurrency };
      if (first) write(options.describe({ type: 'realtime', requests, concurrency }));
      else write(`real time: ${plural(requests, 'request')} sent ${end ? 'in all' : `so far (at most ${concurrency} at once)`}`);
    };
    return {
      event: (event) => {
        // A create is said once answered (submitted, adopted, or why not); records reused from the
        // ledger, once in all by the summary (a line a page was thousands of lines on a large rerun).
        if (event.type === 'creating' || event.type === 'reused') return;
        if (event.type === 'realtime' && options.style === 'lines') {
          sentInRealtime += event.requests;
          if (realtimeSaid !== undefined && now() - realtimeSaid.at < REALTIME_LINE_MS) {
            realtimeSaid.concurrency = event.concurrency;
            return;
          }
          sayRealtime(sentInRealtime, event.concurrency);
          return;
        }
        // With --quiet too: what a stop or the budget leaves to pay, and an e-mail answered without some of its files.
        if (options.style === 'lines' || ALWAYS_SAID.has(event.type)) write(options.describe(event));
      },
      read: () => {},
      say: write,
      stop: (unsent = 0) => {
        const sent = Math.max(0, sentInRealtime - unsent);
        if (realtimeSaid !== undefined && sent !== realtimeSaid.requests) sayRealtime(sent, realtimeSaid.concurrency, true);
      },
    };
  }

  // A terminal that reports no size (0 × 0, as under `script` or some CI ptys) would get every line cut.
  const tty = options.stream as NodeJS.WriteStream;
  const target = {
    write: (text: string) => tty.write(text),
    get columns() {
      return tty.columns || 100;
    },
    get rows() {
      return tty.rows || 40;
    },
  };
  const view = createLogUpdate(target as unknown as NodeJS.WriteStream, { showCursor: true });
  const started = now();
  const inFlight = new Map<string, Flight>();
  const durations: number[] = [];
  let read = 0;
  let submitted = 0;
  /** The batches submitted, adopted or followed: each once, however often it is followed. */
  const batchIds = new Set<string>();
  let retries = 0;
  let last = '';

  const render = () => {
    const { ok, failed } = options.counts;
    const lines = [
      `batch-enrich  ${formatDuration(now() - started)}  read ${count(read)} · submitted ${count(submitted)} in ${plural(batchIds.size, 'batch', 'batches')} · done ${count(ok + failed)}${failed ? ` (${count(failed)} with _error)` : ''} · cost ${usd(options.costs.usd)}${retries ? ` · ${count(retries)} retries` : ''}`,
    ];
    const uploaded = options.uploads && uploadLine(options.uploads);
    if (uploaded) lines.push(`  ${uploaded}`);
    const eta = remaining(now());
    for (const [id, flight] of [...inFlight].slice(0, 5)) {
      lines.push(`  ${id}  ${count(flight.requests)} requests  running ${formatDuration(now() - flight.submittedAt)}`);
    }
    if (inFlight.size > 5) lines.push(`  … and ${inFlight.size - 5} more batches`);
    if (eta !== undefined) lines.push(`  about ${formatDuration(eta)} left (from the ${plural(durations.length, 'batch', 'batches')} that ended)`);
    const frame = lines.join('\n');
    if (frame !== last) view(frame);
    last = frame;
  };

  /** The longest expected wait among batches in flight, by the average duration of the ended ones. */
  const remaining = (t: number): number | undefined => {
    if (durations.length === 0 || inFlight.size === 0) return undefined;
    const average = durations.reduce((a, b) => a + b, 0) / durations.length;
    return Math.max(0, ...[...inFlight.values()].map((f) => average - (t - f.submittedAt)));
  };

  const timer = setInterval(render, REDRAW_MS);
  timer.unref();
  return {
    event(event) {
      switch (event.type) {
        case 'submitted':
        case 'adopted':
          inFlight.set(event.batchId, { requests: event.requests, submittedAt: now() });
          submitted += event.requests;
          batchIds.add(event.batchId);
          break;
        case 'realtime':
          submitted += event.requests;
          break;
        case 'concurrency':
        case 'deadline':
        case 'waiting':
        case 'not-ours':
        case 'canceled':
          this.say(options.describe(event));
          break;
        case 'following':
          inFlight.set(event.batchId, { requests: event.requests, submittedAt: now() });
          batchIds.add(event.batchId);
          break;
        case 'ended': {
          const flight = inFlight.get(event.batchId);
          if (flight) durations.push(now() - flight.submittedAt);
          inFlight.delete(event.batchId);
          break;
        }
        case 'retry':
          retries++;
          break;
        case 'budget':
        case 'not-sent':
        case 'kept-running':
        case 'left-creating':
        case 'unclaimed':
        case 'unended':
        case 'finishing':
        case 'released':
        case 'requeued':
          this.say(options.describe(event));
          break;
      }
      render();
    },
    read() {
      read++;
    },
    say(line) {
      view.clear();
      write(line);
      last = '';
      render();
    },
    stop(unsent = 0) {
      submitted = Math.max(0, submitted - unsent);
      clearInterval(timer);
      render();
      view.done();
    },
  };
}
