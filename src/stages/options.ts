/**
 * The checks of a stage's options that TypeScript does not make for a JavaScript caller, or for
 * values read from a configuration (helper-77: `readRecords({ format: 'json' })` read a JSON array as
 * CSV, and a misspelled `delimeter` was ignored, without a word): an unknown option (with the closest
 * known one), and a value of the wrong kind, each a `BE_INVALID_OPTION` naming the stage and the option.
 */
import { BatchEnrichError, shown } from '../errors.ts';
import { closest } from '../core/suggest.ts';

/** An option's check: the values it takes, said as in the message (`csv, tsv or ndjson`). */
export interface OptionRule {
  takes: string;
  ok: (value: unknown) => boolean;
  /** Said after the values, for a value a user may well mean (`(a JSON array is read as ndjson)`). */
  hint?: string | undefined;
}

export const oneOf = (values: readonly string[], hint?: string): OptionRule => ({
  takes: values.length === 2 ? values.join(' or ') : `${values.slice(0, -1).join(', ')} or ${values.at(-1) ?? ''}`,
  ok: (value) => typeof value === 'string' && values.includes(value),
  hint,
});
export const aBoolean: OptionRule = { takes: 'true or false', ok: (value) => typeof value === 'boolean' };
export const aString: OptionRule = { takes: 'a string', ok: (value) => typeof value === 'string' };
export const aFunction: OptionRule = { takes: 'a function', ok: (value) => typeof value === 'function' };
export const aPositiveInteger: OptionRule = { takes: 'a whole number over 0', ok: (value) => Number.isInteger(value) && (value as number) > 0 };
export const anything: OptionRule = { takes: 'anything', ok: () => true };

/** Throws `BE_INVALID_OPTION` for an option of `options` that `rules` does not know, or one whose value its rule refuses (`undefined` is absent). */
export function checkOptions(stage: string, options: object, rules: Readonly<Record<string, OptionRule>>): void {
  for (const [key, value] of Object.entries(options)) {
    const rule = Object.hasOwn(rules, key) ? rules[key] : undefined;
    if (rule === undefined) {
      const near = closest(key, Object.keys(rules));
      throw new BatchEnrichError('BE_INVALID_OPTION', `${stage}: unknown option \`${key}\`${near ? ` (did you mean \`${near}\`?)` : ''}`);
    }
    if (value !== undefined && !rule.ok(value)) {
      throw new BatchEnrichError('BE_INVALID_OPTION', `${stage}: \`${key}\`: expected ${rule.takes}${rule.hint ? ` ${rule.hint}` : ''}, got ${shown(value)}`);
    }
  }
}
