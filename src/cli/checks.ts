/**
 * Checks on the first records, before anything is submitted: a template field, `--id-field` or an
 * `--attach` field that the first NDJSON record lacks is a usage error (a typo would otherwise give every record an
 * `_error`, and for CSV the header is checked the same way), and answer fields that would replace
 * input columns are warned about. Stream adapters over `SourceRecord`s; `--limit` is here too.
 */
import { shown, usageError } from '../errors.ts';
import { missingFields, type Template } from '../core/template.ts';
import { inputName } from '../core/text.ts';
import { closest } from '../core/suggest.ts';
import { withoutHint } from './command.ts';
import type { SourceRecord } from '../stages/read.ts';

export interface FirstRecordChecks {
  template: Template;
  /** Where the answer goes: the schema's fields merged at the top level, or the `--into`/`answer` field. */
  answerFields: readonly string[];
  /** `--id-field` as given on the command line (a recipe's own id field may be absent: it is only shown in custom_ids). */
  idField: string | undefined;
  /** `--attach` as given on the command line (a recipe's own field may be absent: rows of text only). */
  attach: readonly string[];
  allowMissing: boolean;
  file: string;
  warn: (line: string) => void;
}

/** Passes records through; checks the first usable one (fields of the first NDJSON record, or the CSV columns) first. */
export async function* checkFirstRecord(records: AsyncIterable<SourceRecord>, checks: FirstRecordChecks): AsyncGenerator<SourceRecord> {
  let checked = false;
  for await (const record of records) {
    if (!checked && !record.error) {
      checked = true;
      check(record, checks);
    }
    yield record;
  }
}

function check(record: SourceRecord, c: FirstRecordChecks): void {
  const where = `${inputName(c.file)}:${record.line}`;
  const fields = Object.keys(record.data);
  const missing = missingFields(c.template, record.data);
  // A CSV header was checked already (naming the header line); this catches NDJSON.
  if (missing.length > 0 && !c.allowMissing) {
    // A typo's closest field, as for a CSV's column; no "Try --help" after it (helper-74: the CSV case had lost it, not this one).
    const near = missing.map((m) => closest(m, fields)).filter((f): f is string => f !== undefined);
    const guess = near.length > 0 ? `did you mean ${near.map((f) => `{{${f}}}`).join(', ')}?; ` : '';
    throw withoutHint(
      usageError(`${where}: the prompt uses ${missing.map((m) => `{{${m}}}`).join(', ')}, but the first record has no such field (${guess}fields: ${fields.join(', ')}); fix the template, or give --allow-missing to let such records carry _error`),
    );
  }
  if (c.idField !== undefined && !Object.hasOwn(record.data, c.idField) && !c.allowMissing) {
    const near = fields.find((f) => f.toLowerCase() === c.idField?.toLowerCase());
    throw usageError(`${where}: --id-field ${shown(c.idField)}: the first record has no such field (fields: ${fields.join(', ')})${near ? `; did you mean ${shown(near)}?` : ''}`);
  }
  // A document field that is not there would send every record without its document, and bill it.
  const noDocument = c.attach.find((field) => !Object.hasOwn(record.data, field));
  if (noDocument !== undefined && !c.allowMissing) {
    throw usageError(`${where}: --attach ${shown(noDocument)}: the first record has no such field (fields: ${fields.join(', ')}); fix the name, or give --allow-missing if only some records have documents`);
  }
  const replaced = c.answerFields.filter((f) => fields.includes(f));
  if (replaced.length > 0) {
    c.warn(
      `warning: the answer's ${replaced.map((f) => shown(f)).join(', ')} will replace the input ${replaced.length > 1 ? 'fields' : 'field'} of that name; use --into FIELD (a name the input does not have) to keep both`,
    );
  }
  if (fields.includes('_error')) {
    c.warn(`warning: the input has a field "_error"; in records that fail it is replaced by the error (records that succeed keep it)`);
  }
}

/** The first `limit` records (all when `limit` is undefined); stops reading after them. */
export async function* firstRows(records: AsyncIterable<SourceRecord>, limit: number | undefined): AsyncGenerator<SourceRecord> {
  if (limit === undefined) return yield* records;
  if (limit <= 0) return;
  for await (const record of records) {
    yield record;
    if (record.seq + 1 >= limit) return;
  }
}
