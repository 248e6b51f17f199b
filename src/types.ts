/**
 * The records and events that travel between the stages: what the prepare stage hands the sink, what
 * the sink hands the merge stage, and what the sink reports as it works.
 */
import type { MessageBatch, MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import type { SpecParts } from './core/request.ts';
import type { RecordError } from './core/result.ts';
import type { SourceRecord } from './stages/read.ts';

/** How a request is sent: in a Message Batch (half price), or with `messages.create` (answers now). */
export type SendMode = 'batch' | 'realtime';

/** A record ready for the sink: its request (key, shared params, messages) or why it has none. */
export interface PreparedRecord extends SourceRecord {
  /** The request key (see `requestKey`); the `custom_id` sent is `<nonce>_[<label>-]<key>`. */
  key?: string | undefined;
  /** The readable label in front of the key in the `custom_id` (`--id-field`); not part of the key. */
  label?: string | undefined;
  /** The params every request of the job shares: `spec.head + messages + spec.tail` is this request's. */
  spec?: SpecParts | undefined;
  /** This request's `messages`, serialized once. */
  messages?: string | undefined;
  /**
   * For cost estimates: the bytes of request text that stand for this request's input tokens, with
   * each PDF or image counted by its pages and pixels instead of its base64 or its `file_id` (absent:
   * `messages` themselves).
   */
  estimateBytes?: number | undefined;
}

/** A prepared record that has a request. */
export type Ready = PreparedRecord & { key: string; spec: SpecParts; messages: string };

/** A record joined with its final result (absent when the record carries `error` instead). */
export interface JoinedRecord {
  seq: number;
  line: number;
  data: Record<string, unknown>;
  key: string | undefined;
  error: RecordError | undefined;
  result: MessageBatchResult | undefined;
  /** How many times the request was submitted. */
  attempts: number;
  /** The batch that answered it and the `custom_id` it had there. */
  batchId: string | undefined;
  customId: string | undefined;
  /** How the answer was bought (what its cost is priced at); undefined without an answer. */
  mode: SendMode | undefined;
}

export type BatchEvent =
  /** A batch is recorded (`creating`) and its create is about to be sent: from now on it may exist, whatever becomes of the call. */
  | { type: 'creating'; requests: number }
  | { type: 'submitted'; batchId: string; requests: number; bytes: number }
  | { type: 'adopted'; batchId: string; requests: number }
  /** A batch of our size, made while our create's outcome was unknown, proved to be someone else's: left untouched. */
  | { type: 'not-ours'; batchId: string }
  /** Another live run is creating a batch that holds some of our requests: we wait for it. */
  /** `deferred`: not waited for (`noWait`): a later try collects it. `realtime`: a real-time group that run is sending, not a batch it is creating. */
  | { type: 'waiting'; requests: number; run: number; host: string | null; pid: number; ageMs: number; lastSeenMs: number | null; deferred?: true; realtime?: true }
  /** A batch of another run of the job, followed here too; `live` when that run is still alive (another worker), not an earlier try. */
  | { type: 'following'; batchId: string; requests: number; live?: true }
  | { type: 'ended'; batchId: string; counts: MessageBatch['request_counts'] }
  | { type: 'requeued'; batchId: string; requests: number; reasons: Record<string, number> }
  /** `nextRun`: the run stops on this failure (a create refused outright: a bad key, say): the requests wait for the next run. */
  | { type: 'released'; batchId: string | null; requests: number; reason: string; nextRun?: true }
  | { type: 'retry'; what: string; message: string; delayMs: number; /** Tried again by a later `noWait` try, not this one. */ later?: boolean }
  /** A cancel this run asked for (at the deadline, or on a stop with `cancelOnAbort`): accepted, or why not. */
  | { type: 'canceled'; batchId: string; error?: string }
  /** The cap would be crossed: `requests` more were not sent, or (as costs came in) `canceling` batches in flight are canceled. */
  | { type: 'budget'; maxUsd: number; projectedUsd: number; requests: number; canceling?: number; spentUsd?: number; inFlightUsd?: number }
  | { type: 'realtime'; requests: number; concurrency: number }
  /** The run stops once the real-time calls in flight have answered (each is paid once sent; aborted, it would be paid again by the next run). */
  | { type: 'finishing'; calls: number }
  | { type: 'concurrency'; limit: number; reason: string }
  /** The ledger could not record the run's end (`message`: why): gc keeps its work as that of a try cut short. */
  | { type: 'unended'; message: string }
  | { type: 'deadline'; canceling: number; leftRunning?: number }
  /** An e-mail (at `where`: `file:line: name`) sent without some of its attachments, each with why; its answer comes from the rest. */
  | { type: 'not-sent'; where: string; attachments: string[] }
  /** A stop with `cancelOnAbort` left running `batches` of the job that other runs, still alive, follow (they are theirs to finish). */
  | { type: 'kept-running'; batches: number }
  /**
   * A stop with `cancelOnAbort` while creates of this run were on their way (`batches` of them): each
   * may have made its batch, which cannot be canceled before it is found; the next run adopts it.
   */
  | { type: 'left-creating'; batches: number }
  /**
   * With `meta`, at the end: answers this run paid for (downloaded) that no record of it took, such as
   * those of rows gone from the input since their batch was sent; `usd` their cost, which the
   * records' `_meta.cost_usd` leave out (null when a model had no price).
   */
  | { type: 'unclaimed'; answers: number; usd: number | null }
  /**
   * Records that took an answer (or a final failure) an earlier run had left in the ledger: not sent,
   * not paid again. Said once for each page of input that has some (a resume, a rerun).
   */
  | { type: 'reused'; records: number }
  /**
   * Once the input is read: a batch an earlier try of the job sent, still running, that holds none of
   * this run's requests (the prompt, recipe, model or max_tokens changed since, or its rows left the
   * input). Nothing collects it: it runs on, billed, unless canceled (`batch-enrich cancel BATCH_ID`).
   * `ended`: it has ended already (its answers, billed, were not collected): a cancel stops nothing.
   */
  | { type: 'unneeded'; batchId: string; requests: number; job: string; ended?: true }
  /**
   * `noWait`: a create whose answer was lost, with a batch of its size still running on the API that
   * may be the one it made: left to a later try, which adopts it once its results prove it ours.
   */
  | { type: 'unproven'; requests: number };
