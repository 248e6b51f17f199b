/**
 * Prompt templates over record fields: `{{field}}`, `{{a.b}}` and `{{items.0}}` (a nested path or an
 * array index, for NDJSON), `{{field?}}` (optional: an empty string when the record lacks it), and
 * `{{$record}}` (the whole record as JSON). Whitespace inside the braces is ignored; a field opened and
 * never closed (`{{text`) is a `BE_TEMPLATE` error, not text. A value that is
 * an object or array is inserted as JSON; `null` is inserted as an empty string; a path that does not
 * exist is an error for that record (the CLI checks the CSV header, or the first NDJSON record, before
 * anything is submitted).
 *
 * Rejected alternative: a full template language (mustache/handlebars). Prompts need substitution
 * only, and a second syntax for loops and conditionals would be one more thing to get wrong at scale.
 */
import { BatchEnrichError } from '../errors.ts';
import { valueText } from './rawjson.ts';

/** The placeholder that inserts the whole record as JSON. */
export const WHOLE_RECORD = '$record';

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

export interface Template {
  readonly source: string;
  /** Placeholder names in order of first appearance (paths such as `a.b`, or `$record`), without the `?` of optional ones. */
  readonly fields: readonly string[];
  /** The fields a record must have (`fields` less the optional ones and `$record`). */
  readonly required: readonly string[];
  /** Fills the template; throws a `BE_TEMPLATE` error naming the first missing field. */
  render(record: Record<string, unknown>): string;
  /**
   * Whether every field the template uses is blank in `record` (absent, null, or spaces alone), so
   * that a prompt rendered from it holds the template's own words alone; false for a template of no
   * fields, or one that uses `$record`.
   */
  blank?(record: Record<string, unknown>): boolean;
}

type Part = string | { path: readonly string[]; name: string; optional: boolean };

export function compileTemplate(source: string): Template {
  const parts: Part[] = [];
  const fields: string[] = [];
  const required: string[] = [];
  let last = 0;
  /** Where the text between fields starts and ends in `source`. */
  const literals: [number, number][] = [];
  for (const match of source.matchAll(PLACEHOLDER)) {
    const written = match[1] ?? '';
    const optional = written.endsWith('?');
    const name = optional ? written.slice(0, -1).trimEnd() : written;
    if (name === '') {
      throw new BatchEnrichError('BE_TEMPLATE', `Empty placeholder in prompt template at offset ${match.index}`);
    }
    parts.push(source.slice(last, match.index));
    literals.push([last, match.index]);
    parts.push({ name, optional, path: name === WHOLE_RECORD ? [] : name.split('.') });
    if (!fields.includes(name)) fields.push(name);
    if (!optional && name !== WHOLE_RECORD && !required.includes(name)) required.push(name);
    last = match.index + match[0].length;
  }
  parts.push(source.slice(last));
  literals.push([last, source.length]);
  // A field opened and never closed (`Hi {{text`) was sent as written, to every row (helper-77).
  for (const [start, end] of literals) {
    const open = /\{\{\s*[A-Za-z_$]/.exec(source.slice(start, end));
    if (open) {
      const at = start + open.index;
      const shown = source.slice(at, at + 12);
      const name = /^\{\{\s*([\w$.?]+)$/.exec(shown)?.[1];
      throw new BatchEnrichError('BE_TEMPLATE', `The prompt template opens a field that is never closed at offset ${at} (${shown}${source.length > at + 12 ? '…' : ''})${name ? `: write it {{${name}}}` : ''}`);
    }
  }

  return {
    source,
    fields,
    required,
    render(record) {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') {
          out += part;
          continue;
        }
        const value = part.path.length === 0 ? record : lookup(record, part.path);
        if (value === undefined && part.optional) continue;
        if (value === undefined) {
          throw new BatchEnrichError(
            'BE_TEMPLATE',
            `Missing field: the prompt template uses {{${part.name}}}, got a record without it`,
          );
        }
        out += valueText(value);
      }
      return wellFormed(out);
    },
    blank(record) {
      let fieldsSeen = false;
      for (const part of parts) {
        if (typeof part === 'string') continue;
        if (part.path.length === 0) return false;
        fieldsSeen = true;
        const value = lookup(record, part.path);
        if (value !== undefined && /\S/.test(valueText(value))) return false;
      }
      return fieldsSeen;
    },
  };
}

/**
 * `text` with each lone surrogate (half of a pair, as `text.slice(0, n)` leaves of an emoji) made
 * U+FFFD, as the file decoders do (core/encoding.ts). JSON.stringify writes a lone surrogate as a
 * `\ud83d` escape, which the API's JSON parser refuses ("no low surrogate in string"): in a batch,
 * the 400 refused the create of every request in it (helper-95).
 */
export function wellFormed(text: string): string {
  const checked = text as string & { isWellFormed(): boolean; toWellFormed(): string }; // Node 20; not in the ES2023 lib types
  return checked.isWellFormed() ? text : checked.toWellFormed();
}

/** The fields a template needs that a CSV header lacks (nested paths resolve by first segment; optional fields are never missing). */
export function missingColumns(template: Template, columns: readonly string[]): string[] {
  return template.required.filter((f) => !columns.includes(f) && !columns.includes(f.split('.')[0] ?? f));
}

/** The fields a template needs that `record` (e.g. the first NDJSON record) lacks, full paths checked. */
/**
 * Why a template cannot serve rows without documents, which differ by their fields alone: one that
 * names no field makes every row one request, its answer copied to every row (helper-80: `{text}` in
 * single braces ran with exit 0, without a word). Undefined when it names one.
 */
export function noFieldProblem(template: Template): string | undefined {
  if (template.fields.length > 0) return undefined;
  const braced = /(?<!\{)\{\s*([\w.$-]+)\s*\}(?!\})/.exec(template.source)?.[1];
  return `the prompt names no field of the records, so every record would be sent the same request and get the same answer; fields are written {{name}}${braced === undefined ? '' : ` (did you mean {{${braced}}}?)`}`;
}

/**
 * Whether `record` has what `template` asks about: at least one field it names (not `{{$record}}`),
 * each field it requires there and not blank. A record with documents is asked its row prompt too
 * (after the document prompt) when it does (stages/prepare.ts).
 */
export function filledBy(template: Template, record: Record<string, unknown>): boolean {
  if (template.fields.length === 0 || template.fields.includes(WHOLE_RECORD) || template.blank?.(record) !== false) return false;
  return template.required.every((field) => {
    const value = lookup(record, field.split('.'));
    return value !== undefined && /\S/.test(valueText(value));
  });
}

export function missingFields(template: Template, record: Record<string, unknown>): string[] {
  return template.required.filter((f) => lookup(record, f.split('.')) === undefined);
}

function lookup(record: unknown, path: readonly string[]): unknown {
  // A flat key that itself contains dots (a CSV column "a.b") wins over the nested path.
  if (path.length > 1 && isObject(record) && Object.hasOwn(record, path.join('.'))) return record[path.join('.')];
  let value: unknown = record;
  for (const key of path) {
    if (Array.isArray(value) && /^\d+$/.test(key)) value = value[Number(key)];
    else if (isObject(value) && Object.hasOwn(value, key)) value = value[key];
    else return undefined;
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

