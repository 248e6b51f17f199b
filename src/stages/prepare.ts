/**
 * Records → requests: renders each record's prompt and serializes its `messages` once; the rest of
 * the params is shared by every request of the job (`SpecParts`). `head + messages + tail` is what
 * gets hashed into the request key and sent. Records that cannot be used pass through with their
 * `error`, so they still come out in their place: among them, records whose rendered prompt the API
 * would refuse (empty, or over the model's context window: `recordProblem`), which are never sent.
 */
import { BatchEnrichError, isBatchEnrichError, shown } from '../errors.ts';
import { compileSpec, idLabel, requestKeyOf, userMessages, type JSONSchema, type RequestSpec } from '../core/request.ts';
import { rawNumberText } from '../core/rawjson.ts';
import { filledBy, type Template } from '../core/template.ts';
import { documentMessages } from '../core/documents.ts';
import { CHARS_PER_TOKEN, charsPerToken } from '../core/pricing.ts';
import type { PreparedRecord } from './batch.ts';
import type { AttachedRecord, PendingUploads } from './attach.ts';
import { sourceOf } from '../core/text.ts';
import type { SourceRecord } from './read.ts';
import { PATH_FIELD } from './paths.ts';
import { recordProblem } from '../core/preflight.ts';
import { merged } from '../core/result.ts';

/** A record whose every prompt field is blank (`Template.blank`): never sent. */
function blankFields(template: Template): { type: 'empty_prompt'; message: string } {
  return { type: 'empty_prompt', message: `every field the prompt uses is empty (${template.fields.join(', ')}): there is nothing to ask about, so it is not sent` };
}

export interface PrepareOptions extends RequestSpec {
  /** Shown in per-record error messages (`file:line: …`). */
  file?: string | undefined;
  /** The prompt for records that carry documents (a recipe's `documentPrompt`); absent: `prompt`. */
  documentPrompt?: Template | undefined;
  /** The fields that carry documents (`attach`): a record whose template fails is told when they are empty. */
  attach?: readonly string[] | undefined;
  /** The answer schema for records that carry documents (a recipe's `documentSchema`); absent: `answerSchema`. */
  documentAnswerSchema?: JSONSchema | undefined;
  /** `max_tokens` for records that carry documents (a recipe's `documentMaxTokens`); absent: `maxTokens`. */
  documentMaxTokens?: number | undefined;
  /**
   * Told of each e-mail sent without some of its attachments (`where`: `file:line: name`; each
   * attachment with why), once its request is made: its answer comes from the rest of the e-mail.
   * Not for a record refused here or before (helper-64: said, then the record was over the window).
   */
  onNotSent?: ((where: string, attachments: string[]) => void) | undefined;
}

export function toRequests(options: PrepareOptions): (source: AsyncIterable<SourceRecord | AttachedRecord>) => AsyncGenerator<PendingUploads> {
  const { parts } = compileSpec(options);
  const keyOf = requestKeyOf(parts.head, parts.tail);
  // Records with documents are asked their own answer (a list of clauses with pages, say), in params of their own.
  const ownDocumentParams = options.documentAnswerSchema !== undefined || (options.documentMaxTokens !== undefined && options.documentMaxTokens !== options.maxTokens);
  const documentParts = ownDocumentParams
    ? compileSpec({ ...options, answerSchema: options.documentAnswerSchema ?? options.answerSchema, maxTokens: options.documentMaxTokens ?? options.maxTokens }).parts
    : parts;
  const documentKeyOf = documentParts === parts ? keyOf : requestKeyOf(documentParts.head, documentParts.tail);
  return async function* prepare(source) {
    let items = 0;
    for await (const record of source) {
      items++;
      if (typeof record.line !== 'number' || typeof record.data !== 'object' || record.data === null) throw notRecords(record, items);
      if (record.error) {
        yield record;
        continue;
      }
      // With documents (attach.ts), the key hashes each by its sha256, whatever way it is sent.
      const documents = (record as AttachedRecord).documents;
      // Without documents (nearly every record) there is nothing to take off: no copy.
      const plain: SourceRecord = 'documents' in record ? withoutDocuments(record) : record;
      try {
        // What the API would refuse for this record alone (empty, too long) is never sent. (With
        // documents the content is the documents: their own checks are in core/documents.ts; their
        // text counts against the context window here, with the prompt's.)
        // The prompt is rendered once: checked, then serialized.
        const template = documents ? (options.documentPrompt ?? options.prompt) : options.prompt;
        const text = template.render(record.data);
        // A record with documents and the text the row prompt reads is asked both: its text was dropped
        // without a word (helper-100: an accounts note beside the invoice PDF, the clause beside the contract).
        const rowText = documents && template !== options.prompt && filledBy(options.prompt, record.data) ? options.prompt.render(record.data) : undefined;
        const asked = rowText === undefined ? text : `${text}\n\n${rowText}`;
        // Every field blank (a recipe's prompt has words around them): nothing to ask about, and an answer
        // paid for would be made up (helper-89: an empty invoice row came back with a vendor and a total).
        const problem = recordProblem(asked, options.system, options.model, documents) ?? (!documents && template.blank?.(record.data) === true ? blankFields(template) : undefined);
        if (problem) {
          // A file's own record (a folder's, a path list's) is named by its file too, as its document errors are.
          const path = record.attach?.includes(PATH_FIELD) ? record.data[PATH_FIELD] : undefined;
          const named = typeof path === 'string' ? `${path}: ` : '';
          yield { ...plain, error: { type: problem.type, message: `${sourceOf(options.file, record)}:${record.line}: ${named}${problem.message}` } };
          continue;
        }
        const serialized = documents ? documentMessages(text, documents.blocks, rowText) : userMessages(text);
        const keyed = documents ? documentMessages(text, documents.keyBlocks, rowText) : serialized;
        const key = (documents ? documentKeyOf : keyOf)(keyed);
        const label = options.idField === undefined ? undefined : idLabel(labelValue(record.data[options.idField]));
        const prepared: PendingUploads = merged(plain, { key, label, spec: documents ? documentParts : parts, messages: serialized });
        if (documents) {
          // Priced as bytes at the model's characters per token: a PDF's text as text, its page images
          // and images at their token count whatever the tokenizer (helper-60: ×1.3 on Claude 4.7+).
          prepared.estimateBytes = Buffer.byteLength(keyed) + (documents.tokens - documents.mediaTokens) * CHARS_PER_TOKEN + documents.mediaTokens * charsPerToken(options.model);
          if (documents.uploads.length) prepared.uploads = documents.uploads;
        }
        for (const [where, attachments] of documents?.notSent ?? []) options.onNotSent?.(where, attachments);
        yield prepared;
      } catch (error) {
        if (!isBatchEnrichError(error) || error.code !== 'BE_TEMPLATE') throw error;
        yield { ...plain, error: { type: 'template', message: `${sourceOf(options.file, record)}:${record.line}: ${documents ? '' : noDocument(record.data, options)}${error.message}` } };
      }
    }
  };
}

/**
 * Why a record that has a prompt for records with documents got the other one: its document fields
 * are empty or missing (helper-84: a blank `file` cell said only that `{{text}}` was missing, in a CSV
 * with no such column). '' when that is not why.
 */
function noDocument(data: Record<string, unknown>, options: Pick<PrepareOptions, 'attach' | 'documentPrompt'>): string {
  if (options.documentPrompt === undefined || !options.attach?.length) return '';
  const empty = (value: unknown) => value === '' || value === null || (Array.isArray(value) && value.every((item) => item === '' || item === null || item === undefined));
  const said = options.attach.map((field) => (!(field in data) || data[field] === undefined ? `field ${field} is missing` : empty(data[field]) ? `field ${field} is empty` : undefined));
  if (said.some((why) => why === undefined)) return '';
  return `${said.join(', ')}: no document to read, so the prompt for records without documents was used. `;
}

/**
 * What a stage given plain objects (`Readable.from(rows)`) says, at the first, before anything is
 * sent: before, the ledger refused the record row (`NOT NULL constraint failed: records.line`).
 */
function notRecords(item: unknown, position: number): BatchEnrichError {
  return new BatchEnrichError(
    'BE_INVALID_OPTION',
    `enrichStage takes records as readRecords gives them ({ seq, line, data }), not plain objects: got ${shown(item)} (item ${position} of the input); enrich() takes plain objects, and fromObjects() makes records of them in a pipeline (after another enrich stage)`,
  );
}

/** An id value as the user wrote it: a number JSON cannot hold is kept as its text (not `_9007…`). */
function labelValue(value: unknown): unknown {
  return rawNumberText(value) ?? value;
}

/**
 * Whether a prepared record's request carries documents (a PDF, an image, a text document, a URL):
 * the prepare stage gives exactly those an `estimateBytes`. Read so, not by scanning the request's
 * messages, which hold the documents' base64 (megabytes a record, on the intake's path).
 */
export function carriesDocuments(record: PreparedRecord): boolean {
  return record.estimateBytes !== undefined;
}

/** The record without its `documents` (they are sent as the request's content, not kept with the record). */
function withoutDocuments(record: AttachedRecord): SourceRecord {
  const { documents: _documents, ...plain } = record;
  return plain;
}
