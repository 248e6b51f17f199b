/**
 * What a run costs before it is paid: `--dry-run` (the requests and the estimate), the `--max-cost`
 * refusal before any create, and the `--sample` report of what the whole input would cost.
 */
import { pipeline } from 'node:stream/promises';
import { usageError } from '../../errors.ts';
import { labeledKey, requestLine, type JSONSchema } from '../../core/request.ts';
import { cacheNotice } from '../../core/preflight.ts';
import { elideBase64 } from '../../core/documents.ts';
import type { PriceTable } from '../../core/pricing.ts';
import type { Shard } from '../../core/shard.ts';
import { isTransientFailure } from '../../core/retry.ts';
import type { KnownRequest } from '../../ledger/store.ts';
import { toRequests, type PrepareOptions } from '../../stages/prepare.ts';
import type { SourceRecord } from '../../stages/read.ts';
import { LOOKUP_PAGE } from '../../sink/options.ts';
import type { PreparedRecord } from '../../types.ts';
import { coalesce } from '../../stages/write.ts';
import { EXIT } from '../io.ts';
import { withoutHint } from '../command.ts';
import { estimateLine, InputTally, type summarize, usd } from '../summary.ts';
import { isBrokenPipe, plural, printable } from '../text.ts';

/**
 * What the ledger knows of those of `keys` it holds (`Ledger.known`, under the run's identity). A
 * request sent or answered is paid for, or being paid for, once already (`toPay`).
 */
export type KnownOf = (keys: string[]) => Promise<Map<string, KnownRequest>>;

/**
 * `--dry-run`: the requests the run would send, one JSON line each, then the cost estimate; records
 * that cannot become requests go to stderr. With `known` (a ledger there, and an identity to find its
 * requests under), what the ledger holds as sent or answered is neither shown nor counted: the run
 * would not send it (helper-94: a half-finished job's dry run priced it whole).
 */
export async function dryRun(out: NodeJS.WritableStream, say: (line: string) => void, records: AsyncIterable<SourceRecord>, spec: PrepareOptions, prices: PriceTable, mode: 'batch' | 'realtime', answerSchema: JSONSchema | undefined, maxCost?: number, known?: KnownOf): Promise<number> {
  const tally = new InputTally();
  let inLedger = 0;
  const cached = Boolean(spec.system) && !cacheNotice(spec.system, spec.model);
  const estimate = () => {
    if (tally.requests === 0 && tally.failed === 0 && inLedger > 0) return allInLedger(inLedger);
    const e = tally.estimate(spec.model, spec.maxTokens, prices, cached, mode, answerSchema, spec.documentMaxTokens);
    const line = estimateLine(tally, e, spec.model, spec.maxTokens, mode, spec.documentMaxTokens) + notCounted(inLedger);
    // With --max-cost: whether the run would be refused before anything is sent (as `checkCost`).
    const capUsd = e.capUsd;
    return maxCost !== undefined && capUsd !== undefined && capUsd > maxCost ? `${line}; over --max-cost ${usd(maxCost)}: the run would be refused before anything is sent` : line;
  };
  // Whether the whole input was read (a closed output may come after: its estimate is whole then).
  let allRead = false;
  try {
    await pipeline(
      toRequests(spec)(records),
      async function* lines(prepared) {
        for await (const [record, request] of withKnown(prepared, known)) {
          const held = request !== undefined && !toPay(request);
          // Identical records share one request: shown and counted once; the repeats of one the ledger
          // holds are not counted among the records of those to send (helper-97: "3 requests (for 6
          // records: 3 repeat one)", where the 3 repeated a request answered before).
          if (tally.isRepeat(record, !held)) continue;
          if (held) {
            inLedger++;
            continue;
          }
          tally.add(record, request?.max_tokens ?? undefined);
          if (record.error) {
            // One line: a line break in a file name it holds is shown, not printed (it could forge a message).
            say(printable(record.error.message));
          } else if (record.key !== undefined && record.spec !== undefined && record.messages !== undefined) {
            yield `${requestLine(labeledKey(record.key, record.label), `${record.spec.head}${elideBase64(record.messages)}${record.spec.tail}`)}\n`;
          }
        }
        allRead = true;
      },
      coalesce(),
      out,
    );
  } catch (error) {
    if (!isBrokenPipe(error)) throw error;
    // `| head`: the output was closed; the estimate covers what was read by then, and says so unless
    // that was all of it (helper-80: 500 rows read whole were said to be "only the first 500").
    say(allRead ? estimate() : `${estimate()} (only the first ${plural(tally.requests, 'request')}: the output was closed)`);
    return EXIT.OK;
  }
  say(estimate());
  return tally.failed > 0 ? EXIT.PARTIAL : EXIT.OK;
}

/**
 * Each record with what the ledger knows of its request (none without `known`, or for a record
 * without a request), looked up `LOOKUP_PAGE` records at a time (without `known`, each as it comes).
 */
async function* withKnown(records: AsyncIterable<PreparedRecord>, known: KnownOf | undefined): AsyncGenerator<[PreparedRecord, KnownRequest | undefined]> {
  if (!known) {
    for await (const record of records) yield [record, undefined];
    return;
  }
  let page: PreparedRecord[] = [];
  const looked = async () => {
    // Each key once: identical records share one request.
    const held = await known([...new Set(page.flatMap((record) => (record.key === undefined || record.error ? [] : [record.key])))]);
    const pairs = page.map((record): [PreparedRecord, KnownRequest | undefined] => [record, record.key === undefined ? undefined : held.get(record.key)]);
    page = [];
    return pairs;
  };
  for await (const record of records) {
    page.push(record);
    if (page.length >= LOOKUP_PAGE) yield* await looked();
  }
  yield* await looked();
}

const allInLedger = (paid: number): string => `estimate: nothing to pay for: all ${plural(paid, 'request')} are in the ledger already`;
const notCounted = (paid: number): string => (paid > 0 ? `; ${plural(paid, 'request')} in the ledger already are not counted` : '');

/** What the `--max-cost` pre-check needs: the requests' spec, prices, mode and the cap. */
export interface CostCheck {
  spec: PrepareOptions;
  prices: PriceTable;
  mode: 'batch' | 'realtime';
  cachedPrefix: boolean;
  maxCost: number;
  /** With `--sample`, only the picked rows count. */
  picked: Set<number> | undefined;
  /**
   * What the ledger knows of those of `keys` it holds: a request sent or answered (paid, or being
   * paid, once) is left out of the estimate (`toPay`); one pending is priced at the `max_tokens` it
   * will ask for. Absent without a ledger or an API key to find them under.
   */
  known?: KnownOf | undefined;
}

/** Whether a request the ledger holds is to pay for: pending, or a failure the run tries again (as the intake decides). */
function toPay(request: KnownRequest): boolean {
  return request.state === 'pending' || (request.state === 'done' && request.failure !== null && isTransientFailure(request.failure));
}

/**
 * `--max-cost` before any create: estimates the input offline, less what the ledger holds
 * (`inLedger`), and refuses (usage error) when even typical answers would cost more than the cap;
 * returns the estimate's line otherwise, and how many requests the ledger held.
 */
export async function checkCost(records: AsyncIterable<SourceRecord>, check: CostCheck): Promise<{ line: string; inLedger: number }> {
  const { spec, prices, mode, cachedPrefix, maxCost, picked, known } = check;
  const tally = new InputTally();
  let paid = 0;
  async function* taken(): AsyncGenerator<PreparedRecord> {
    for await (const record of toRequests(spec)(records)) if (!picked || picked.has(record.seq)) yield record;
  }
  for await (const [record, request] of withKnown(taken(), known)) {
    const held = request !== undefined && !toPay(request);
    // Identical records share one request: counted once, in the ledger or not (its repeats not among the records to pay for).
    if (tally.isRepeat(record, !held)) continue;
    if (held) paid++;
    // A cut-off answer's retry, left pending by an earlier run: priced at the max_tokens it asks for.
    else tally.add(record, request?.max_tokens ?? undefined);
  }
  if (tally.requests === 0 && tally.failed === 0 && paid > 0) return { line: allInLedger(paid), inLedger: paid };
  // Against typical answers, not every answer using all of max_tokens (that refused jobs 10x under the
  // cap), and without the cache (`capUsd`), as the budget guard checks each batch.
  const estimate = tally.estimate(spec.model, spec.maxTokens, prices, cachedPrefix, mode, spec.answerSchema, spec.documentMaxTokens);
  const capUsd = estimate.capUsd ?? 0;
  const line = estimateLine(tally, estimate, spec.model, spec.maxTokens, mode, spec.documentMaxTokens) + notCounted(paid);
  if (capUsd > maxCost) {
    throw withoutHint(
      usageError(
        `${line}: over --max-cost ${usd(maxCost)}. Raise --max-cost above ${usd(capUsd)}, with some room: the cap is checked against this estimate before anything is sent, and batch by batch as they go, against what the answers so far really cost where that is more; --sample N shows what rows really cost, but does not change these checks`,
      ),
    );
  }
  return { line, inLedger: paid };
}

/**
 * `--sample N`: N row numbers (0-based input positions) spread evenly over `totalRows`, the rows of
 * `shard` when given (its rows are every `of`-th from the `part`-th).
 * @example pickSample(2, 4, { part: 2, of: 3 }); // Set {1, 7}: the 1st and 3rd of rows 1, 4, 7, 10
 */
export function pickSample(sampleSize: number, totalRows: number, shard?: Shard): Set<number> {
  const n = Math.min(sampleSize, totalRows);
  const position = (i: number) => (shard ? shard.part - 1 + i * shard.of : i);
  return new Set(Array.from({ length: n }, (_, i) => position(Math.floor((i * totalRows) / n))));
}

/** The `_error` types of records never sent (nothing paid for them): their input or their documents were refused first. */
const NOT_SENT = /^(invalid_input|template|empty_prompt|prompt_too_long|upload_failed|budget_exceeded|request_too_large|image_too_large|too_much_media|model_no_documents|document_.*)$/;

/** What a `--sample` run says about the whole job (with `shard`, this worker's share of it: `totalRows` are the shard's). */
export function sampleReport(s: ReturnType<typeof summarize>, totalRows: number, answeredBefore: number, shard?: Shard): string {
  const rows = s.records_ok + s.records_failed;
  const share = (n: number) => `${rows === 0 ? 0 : Math.round((n / rows) * 100)}%`;
  const truncated = s.failed_by_type['truncated'] ?? 0;
  const invalid = (s.failed_by_type['schema_mismatch'] ?? 0) + (s.failed_by_type['invalid_json'] ?? 0);
  const shares =
    `sample of ${rows} of ${totalRows.toLocaleString('en')} rows${shard ? ` (shard ${shard.part}/${shard.of})` : ''}: ${share(s.records_ok)} valid, ${share(truncated)} truncated, ` +
    `${share(invalid)} not matching the schema, ${share(s.records_failed - truncated - invalid)} failed otherwise; `;
  // Rows answered before come from the ledger at no cost now: priced from the rows paid for in this run.
  const paid = rows - answeredBefore;
  if (paid <= 0 && rows > 0) return `${shares}every sampled row was answered before (from the ledger), so there is no cost to project: sample more rows`;
  // Rows that failed before being sent (a missing or unreadable document, a bad input line) cost nothing:
  // a sample of only those says nothing of what the rows that are sent cost (helper-74: "$0.0000").
  const unsent = Object.entries(s.failed_by_type).reduce((n, [type, count]) => n + (NOT_SENT.test(type) ? count : 0), 0);
  if (rows > 0 && unsent >= paid) {
    // Some came from the ledger (helper-80: they were said to have failed too).
    const why = answeredBefore > 0 ? `now (${answeredBefore} ${answeredBefore === 1 ? 'was' : 'were'} answered before, from the ledger; ${unsent} failed before sending: ${unsent === 1 ? 'its' : 'their'} _error says why)` : '(each failed before sending: its _error says why)';
    return `${shares}no sampled row was sent ${why}, so there is no cost to project: sample more rows`;
  }
  const perRow = paid <= 0 ? 0 : s.cost_usd / paid;
  const from = answeredBefore > 0 ? `, priced from the ${paid} sent now (${answeredBefore} were answered before)` : '';
  return `${shares}${usd(perRow)} per row${from}, so about ${usd(perRow * totalRows)} for the whole ${shard ? 'shard' : 'input'} at ${s.mode === 'batch' ? 'batch' : 'real-time'} prices (before retries)`;
}
