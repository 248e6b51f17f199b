/**
 * Flags declared once. Each command has one table (`FlagTable`): name, value name, coercer, default and
 * help text of every flag. The same table gives `node:util` `parseArgs` its options, turns raw values
 * into typed ones with the defaults applied (`parseFlags`), renders the `--help` option lists
 * (`renderHelp`), and drives the help and README tests. The rejected alternative was what we had:
 * a help text, a `parseArgs` table and validators written apart (they drifted: a literal "default 8",
 * flags missing from the help test), with three ways of wording a bad value.
 *
 * Every bad value is the one usage error (`usageError`, exit 2), worded `--flag: expected WHAT, got VALUE`.
 */
import { parseArgs } from 'node:util';
import { shown, usageError, isUsageError } from '../errors.ts';
import { closest } from '../core/suggest.ts';

/** Turns a raw flag value into a typed one; throws a usage error naming `flag` when it is bad. */
export type Coerce<T> = (raw: string, flag: string) => T;

/** One flag of a command. A flag without `value` is a boolean switch. */
export interface Flag<T = unknown> {
  /** The value's name in the help (`N`, `FILE`, `csv|tsv`); absent for a switch. */
  readonly value?: string;
  /** A one-letter alias (`-o`). */
  readonly short?: string;
  /** May be given several times (the values come as an array). */
  readonly multiple?: true;
  /** Checks and converts the raw value; absent: the string as given. */
  readonly parse?: Coerce<T>;
  /** Applied by `parseFlags` when the flag is absent, and shown in the help. */
  readonly default?: T;
  /** The default as the help says it, when it is decided at run time (the recipe's, an environment variable). */
  readonly defaultText?: string;
  /** What the flag does: one paragraph, wrapped by `renderHelp`. */
  readonly help: string;
  /** The help section it is listed under. */
  readonly group?: string;
}

export type FlagTable = Readonly<Record<string, Flag<any>>>;

type ValueOf<F> = F extends { multiple: true }
  ? string[]
  : F extends { value: string }
    ? F extends { parse: Coerce<infer T> }
      ? T
      : string
    : boolean;

/** The parsed values of a table: typed by each flag's coercer; undefined when absent without a default (switches: false). */
export type FlagValues<T extends FlagTable> = {
  -readonly [K in keyof T]: T[K] extends { value: string } ? (T[K] extends { default: unknown } ? ValueOf<T[K]> : ValueOf<T[K]> | undefined) : ValueOf<T[K]>;
};

/**
 * Parses `argv` against a table: unknown flags, missing values and bad values are usage errors
 * (an unknown flag gets the closest one of the table suggested); defaults are applied here, and only here.
 * @example
 * const { values, positionals } = parseFlags(GC_FLAGS, ['--older-than', '7']); // values['older-than'] === 7
 */
export function parseFlags<T extends FlagTable>(table: T, argv: readonly string[], options: { positionals?: boolean } = {}): { values: FlagValues<T>; positionals: string[] } {
  const spec: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, flag] of Object.entries(table)) {
    spec[name] = { type: flag.value === undefined ? 'boolean' : 'string', ...(flag.short ? { short: flag.short } : {}), ...(flag.multiple ? { multiple: true } : {}) };
  }
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: options.positionals ?? false });
  } catch (error) {
    throw usageError(parseArgsMessage(error, Object.keys(table).map((name) => `--${name}`)));
  }
  const values: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(table)) {
    const raw = parsed.values[name];
    if (flag.value === undefined) values[name] = raw === true;
    else if (raw === undefined) values[name] = flag.default;
    else if (flag.multiple) values[name] = raw;
    else values[name] = flag.parse ? flag.parse(raw as string, `--${name}`) : raw;
  }
  return { values: values as FlagValues<T>, positionals: parsed.positionals };
}

/** `parseArgs`' errors in our words: `unknown option --x; did you mean --y?`, `option --x needs a value`. */
function parseArgsMessage(error: unknown, flags: readonly string[]): string {
  if (isUsageError(error)) return (error as Error).message;
  const { code, message } = error as NodeJS.ErrnoException;
  const quoted = /'([^']*)'/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const near = quoted?.startsWith('--') ? closest(quoted.split('=')[0] ?? quoted, flags) : undefined;
      return `unknown option ${quoted ?? message}${near ? `; did you mean ${near}?` : ''}`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${shown(quoted ?? message)}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      // Node quotes the flag as declared: '--size <value>', or '-o, --output <value>' for one with a short name.
      const words = quoted?.split(' ');
      const option = words?.find((word) => word.startsWith('--')) ?? words?.[0];
      if (option === undefined) return message;
      if (/does not take an argument/.test(message)) return `option ${option} takes no value`;
      if (/ambiguous/.test(message)) return `option ${option} needs a value (for one that starts with a dash, write ${option}=-…)`;
      return `option ${option} needs a value`;
    }
    default:
      return message;
  }
}

// ---------------------------------------------------------------------------------------------
// coercers: one wording, `--flag: expected WHAT, got VALUE`

function bad(flag: string, what: string, raw: string): Error {
  return usageError(`${flag}: expected ${what}, got ${shown(raw)}`);
}

/** A whole number from `min` to `max`. */
export function integer(min: number, max: number): Coerce<number> {
  return (raw, flag) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max) throw bad(flag, `a whole number from ${min} to ${max}`, raw);
    return n;
  };
}

/** A number from `min` to `max` (no upper bound when `max` is absent), of `unit` (for the message: days). */
export function number(min: number, max?: number, unit?: string): Coerce<number> {
  const what = `a number${unit ? ` of ${unit}` : ''}`;
  return (raw, flag) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || (max !== undefined && n > max)) throw bad(flag, max === undefined ? `${what}, ${min} or more` : `${what} from ${min} to ${max}`, raw);
    return n;
  };
}

/** A number above 0 (of `unit`, for the message: seconds). */
export function positive(unit: string): Coerce<number> {
  return (raw, flag) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw bad(flag, `a positive number of ${unit}`, raw);
    return n;
  };
}

/** One of `choices`. */
export function choice<C extends string>(choices: readonly C[]): Coerce<C> {
  return (raw, flag) => {
    if (!(choices as readonly string[]).includes(raw)) throw bad(flag, `one of ${choices.join(', ')}`, raw);
    return raw as C;
  };
}

/** `90s`, `45m`, `2h`, `1h30m` → ms. */
export const duration: Coerce<number> = (raw, flag) => {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(raw.trim());
  const ms = match ? (Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0)) * 1000 : Number.NaN;
  if (!match || !(ms > 0)) throw bad(flag, 'a duration such as 90s, 45m, 2h or 1h30m', raw);
  return ms;
};

/** A positive amount of US dollars (`5`, `$0.50`). */
export const dollars: Coerce<number> = (raw, flag) => {
  const n = Number(raw.replace(/^\$/, ''));
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw bad(flag, 'a positive amount of US dollars', raw);
  return n;
};

/** A job's name: not empty, not only blanks (the ledger names jobs by it, and `status` shows it). */
export const jobName: Coerce<string> = (raw, flag) => {
  if (raw.trim() === '') throw bad(flag, 'a job name', raw);
  return raw;
};

/** Any value but the empty string (a file name). */
export const nonEmpty: Coerce<string> = (raw, flag) => {
  if (raw === '') throw bad(flag, 'a file name', raw);
  return raw;
};

// ---------------------------------------------------------------------------------------------
// help

/** A section of a command's help: its flags (by `group`), with optional prose before and after. */
export interface HelpSection {
  title: string;
  before?: string;
  after?: string;
}

const WIDTH = 100;

/**
 * The option list of a command's `--help`, from its table: one entry per flag (`-o, --output FILE`),
 * its help wrapped to 100 columns and its default as `(default: X)`.
 */
export function renderFlags(table: FlagTable, sections: readonly HelpSection[]): string {
  const column = Math.min(28, Math.max(...Object.entries(table).map(([name, flag]) => label(name, flag).length)) + 4);
  const out: string[] = [];
  const groups = sections.length > 0 ? sections : [{ title: 'Options' }];
  for (const section of groups) {
    out.push(`${section.title}:`);
    if (section.before) out.push(...wrap(section.before, 2));
    for (const [name, flag] of Object.entries(table)) {
      if ((flag.group ?? 'Options') !== section.title) continue;
      const head = `  ${label(name, flag)}`;
      const text = defaultShown(flag) === undefined ? flag.help : `${flag.help} (default: ${defaultShown(flag)})`;
      const lines = wrap(text, column);
      const first = (lines[0] ?? '').trimStart();
      if (head.length + 2 <= column) out.push(`${head.padEnd(column)}${first}`, ...lines.slice(1));
      else out.push(head, ...lines);
    }
    if (section.after) out.push(...wrap(section.after, 2));
    out.push('');
  }
  return out.join('\n');
}

/** `-o, --output FILE` */
export function label(name: string, flag: Flag): string {
  return `${flag.short ? `-${flag.short}, ` : ''}--${name}${flag.value ? ` ${flag.value}` : ''}`;
}

/** The default as `--help` shows it, or undefined when the flag has none. */
export function defaultShown(flag: Flag): string | undefined {
  if (flag.defaultText !== undefined) return flag.defaultText;
  if (flag.default === undefined) return undefined;
  return Array.isArray(flag.default) ? flag.default.join(', ') : String(flag.default);
}

function wrap(text: string, indent: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line !== '' && indent + line.length + 1 + word.length > WIDTH) {
        lines.push(`${' '.repeat(indent)}${line}`);
        line = word;
      } else line = line === '' ? word : `${line} ${word}`;
    }
    lines.push(`${' '.repeat(indent)}${line}`);
  }
  return lines;
}
