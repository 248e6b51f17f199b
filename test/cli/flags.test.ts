/**
 * Flags declared once: each command's table drives its parser, its `--help` (checked here on the
 * built binary, flag by flag, with the default where there is one) and the README (every flag of
 * every table is documented in the command's section).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultShown, dollars, duration, integer, label, number, parseFlags, positive, choice, type Flag, type FlagTable } from '../../src/cli/flags.ts';
import { ENRICH_FLAGS } from '../../src/cli/enrich/flags.ts';
import { STATUS_FLAGS } from '../../src/cli/jobs/status.ts';
import { CANCEL_FLAGS } from '../../src/cli/jobs/cancel.ts';
import { RESULTS_FLAGS } from '../../src/cli/jobs/results.ts';
import { GC_FLAGS } from '../../src/cli/jobs/gc.ts';
import { EMULATOR_FLAGS, EMULATOR_OPTION_OF } from '../../src/cli/emulator.ts';
import { RECIPES_FLAGS } from '../../src/cli/recipes.ts';
import { resolveOptions } from '../../src/emulator/options.ts';
import { isUsageError } from '../../src/errors.ts';
import { ROOT, runCli } from '../helpers/cli.ts';

/** Every command's table, its argv for `--help`, and the README section that documents it. */
const COMMANDS: { name: string; argv: string[]; table: FlagTable; readme: string }[] = [
  { name: 'batch-enrich', argv: ['--help'], table: ENRICH_FLAGS, readme: '## Options' },
  { name: 'status', argv: ['status', '--help'], table: STATUS_FLAGS, readme: '#### Job commands' },
  { name: 'cancel', argv: ['cancel', '--help'], table: CANCEL_FLAGS, readme: '#### Job commands' },
  { name: 'results', argv: ['results', '--help'], table: RESULTS_FLAGS, readme: '#### Job commands' },
  { name: 'gc', argv: ['gc', '--help'], table: GC_FLAGS, readme: '#### Job commands' },
  { name: 'emulator', argv: ['emulator', '--help'], table: EMULATOR_FLAGS, readme: '## The emulator' },
  { name: 'recipes', argv: ['recipes', '--help'], table: RECIPES_FLAGS, readme: '#### Job commands' },
];

/** The help entry of a flag: its line and the continuation lines under it, joined into one line. */
function entry(help: string, flag: string): string | undefined {
  const lines = help.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`  ${flag}`) && (line.length === flag.length + 2 || line[flag.length + 2] === ' '));
  if (start === -1) return undefined;
  const block = [lines[start] as string];
  for (const line of lines.slice(start + 1)) {
    if (!/^ {4,}\S/.test(line)) break;
    block.push(line);
  }
  return block.map((line) => line.trim()).join(' ');
}

describe('--help is generated from the flag tables', () => {
  it.each(COMMANDS)('$name --help lists every flag of its table, with its default where it has one', async ({ argv, table }) => {
    const r = await runCli(argv);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    for (const [name, flag] of Object.entries(table) as [string, Flag][]) {
      const text = entry(r.stdout, label(name, flag)) ?? expect.fail(`${label(name, flag)} is not listed in:\n${r.stdout}`);
      const shown = defaultShown(flag);
      if (shown !== undefined) expect(text, name).toContain(`(default: ${shown})`);
    }
  });

  it('the defaults shown are the ones the code uses (no literal copies)', () => {
    expect(defaultShown(ENRICH_FLAGS.concurrency)).toBe('8');
    expect(defaultShown(ENRICH_FLAGS['poll-max'])).toBe('900');
    expect(defaultShown(GC_FLAGS['older-than'])).toBe('30');
    // The emulator applies its own defaults (resolveOptions); its help must say the same.
    const resolved = resolveOptions({}) as unknown as Record<string, unknown>;
    for (const [flag, option] of Object.entries(EMULATOR_OPTION_OF)) {
      const value = resolved[option];
      const shown = defaultShown((EMULATOR_FLAGS as FlagTable)[flag] as Flag) ?? '';
      if (typeof value === 'number' || typeof value === 'string') expect(shown.split(',')[0], flag).toBe(String(value));
      else if (value === false) expect(shown, flag).toBe('off');
      else expect(['none', 'no limit'], flag).toContain(shown);
    }
  });
});

describe('the README documents every flag', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  /** The text of a README section: from its heading to the next heading of the same or a higher level. */
  function section(heading: string): string {
    const start = readme.indexOf(`\n${heading}\n`);
    expect(start, heading).toBeGreaterThan(-1);
    const level = heading.split(' ')[0] as string;
    const rest = readme.slice(start + heading.length + 2);
    const end = rest.search(new RegExp(`\\n#{1,${level.length}} `));
    return end === -1 ? rest : rest.slice(0, end);
  }
  it.each(COMMANDS)('$name: every flag is in the README section $readme', ({ table, readme: heading }) => {
    const text = section(heading);
    for (const name of Object.keys(table)) expect(text, `--${name}`).toMatch(new RegExp(`--${name}(?![a-z-])`));
  });
});

describe('parseFlags: one parser, defaults applied once, one wording for bad values', () => {
  const TABLE = {
    size: { value: 'N', parse: integer(1, 100), default: 10, help: 'a size' },
    rate: { value: 'RATE', parse: number(0, 1), help: 'a rate' },
    wait: { value: 'SECONDS', parse: positive('seconds'), help: 'a wait' },
    mode: { value: 'a|b', parse: choice(['a', 'b']), default: 'a', help: 'a mode' },
    deadline: { value: 'DURATION', parse: duration, help: 'a deadline' },
    cost: { value: 'USD', parse: dollars, help: 'a cap' },
    name: { value: 'NAME', short: 'n', help: 'a name' },
    tag: { value: 'TAG', multiple: true, help: 'tags' },
    verbose: { help: 'a switch' },
  } as const;

  it('applies the defaults, types the values, and leaves absent flags undefined (switches false)', () => {
    const { values, positionals } = parseFlags(TABLE, ['-n', 'x', '--tag', 'a', '--tag', 'b', '--deadline', '1h30m', '--cost', '$2.5', 'file.csv'], { positionals: true });
    expect(values).toEqual({ size: 10, rate: undefined, wait: undefined, mode: 'a', deadline: 5_400_000, cost: 2.5, name: 'x', tag: ['a', 'b'], verbose: false });
    expect(positionals).toEqual(['file.csv']);
  });

  const bad: { description: string; argv: string[]; message: string }[] = [
    { description: 'an integer out of range', argv: ['--size', '0'], message: '--size: expected a whole number from 1 to 100, got "0"' },
    { description: 'not an integer', argv: ['--size', '2.5'], message: '--size: expected a whole number from 1 to 100, got "2.5"' },
    { description: 'a rate above 1', argv: ['--rate', '1.5'], message: '--rate: expected a number from 0 to 1, got "1.5"' },
    { description: 'a wait of zero', argv: ['--wait', '0'], message: '--wait: expected a positive number of seconds, got "0"' },
    { description: 'a value not among the choices', argv: ['--mode', 'c'], message: '--mode: expected one of a, b, got "c"' },
    { description: 'a duration without a unit', argv: ['--deadline', '90'], message: '--deadline: expected a duration such as 90s, 45m, 2h or 1h30m, got "90"' },
    { description: 'a cap that is not money', argv: ['--cost', 'lots'], message: '--cost: expected a positive amount of US dollars, got "lots"' },
    { description: 'a typo gets the closest flag', argv: ['--sise', '3'], message: 'unknown option --sise; did you mean --size?' },
    { description: 'a flag without its value', argv: ['--size'], message: 'option --size needs a value' },
    // It said "option -n, needs a value" for a flag with a short name (`-o, --output` too).
    { description: 'a flag with a short name without its value', argv: ['--name'], message: 'option --name needs a value' },
    { description: 'its short name without its value', argv: ['-n'], message: 'option --name needs a value' },
    { description: 'a value given to a switch', argv: ['--verbose=yes'], message: 'option --verbose takes no value' },
    { description: 'a positional where none is taken', argv: ['extra'], message: 'unexpected argument "extra"' },
  ];
  it.each(bad)('$description: a usage error, "$message"', ({ argv, message }) => {
    let thrown: unknown;
    try {
      parseFlags(TABLE, argv);
    } catch (error) {
      thrown = error;
    }
    expect(isUsageError(thrown), String(thrown)).toBe(true);
    expect((thrown as Error).message).toBe(message);
  });
});
