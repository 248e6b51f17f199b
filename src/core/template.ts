/**
 * Prompt templates over record fields: `{{field}}`, `{{a.b}}` and `{{items.0}}` (a nested path or an
 * array index, for NDJSON), and
 * `{{$record}}` (the whole record as JSON). Whitespace inside the braces is ignored. A value that is
 * an object or array is inserted as JSON; `null` is inserted as an empty string; a path that does not
 * exist is an error for that record (for CSV the CLI checks the header before anything is submitted).
 *
 * Rejected alternative: a full template language (mustache/handlebars). Prompts need substitution
 * only, and a second syntax for loops and conditionals would be one more thing to get wrong at scale.
 */
import { BatchEnrichError } from '../errors.ts';

/** The placeholder that inserts the whole record as JSON. */
export const WHOLE_RECORD = '$record';

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

export interface Template {
  readonly source: string;
  /** Placeholder names in order of first appearance (paths such as `a.b`, or `$record`). */
  readonly fields: readonly string[];
  /** Fills the template; throws a `BE_TEMPLATE` error naming the first missing field. */
  render(record: Record<string, unknown>): string;
}

type Part = string | { path: readonly string[]; name: string };

export function compileTemplate(source: string): Template {
  const parts: Part[] = [];
  const fields: string[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? '';
    if (name === '') {
      throw new BatchEnrichError('BE_TEMPLATE', `Empty placeholder in prompt template at offset ${match.index}`);
    }
    parts.push(source.slice(last, match.index));
    parts.push({ name, path: name === WHOLE_RECORD ? [] : name.split('.') });
    if (!fields.includes(name)) fields.push(name);
    last = match.index + match[0].length;
  }
  parts.push(source.slice(last));

  return {
    source,
    fields,
    render(record) {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') {
          out += part;
          continue;
        }
        const value = part.path.length === 0 ? record : lookup(record, part.path);
        if (value === undefined) {
          throw new BatchEnrichError(
            'BE_TEMPLATE',
            `Missing field: the prompt template uses {{${part.name}}}, got a record without it`,
          );
        }
        out += stringify(value);
      }
      return out;
    },
  };
}

/** The fields a template needs that a CSV header lacks (whole-record and nested paths resolve by first segment). */
export function missingColumns(template: Template, columns: readonly string[]): string[] {
  return template.fields.filter((f) => f !== WHOLE_RECORD && !columns.includes(f) && !columns.includes(f.split('.')[0] ?? f));
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

function stringify(value: unknown): string {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

