/** Dispatch on the first argument: a command name, or the default `enrich` command. */
import { existsSync } from 'node:fs';
import type { CliIo } from './io.ts';
import { EXIT } from './io.ts';
import { closest } from '../core/suggest.ts';
import { say } from './command.ts';

const COMMANDS: Record<string, () => Promise<{ run: (argv: string[], io: CliIo) => Promise<number> }>> = {
  emulator: async () => {
    const m = await import('./emulator.ts');
    return { run: m.emulatorCommand };
  },
  status: async () => ({ run: (await import('./jobs/status.ts')).statusCommand }),
  cancel: async () => ({ run: (await import('./jobs/cancel.ts')).cancelCommand }),
  results: async () => ({ run: (await import('./jobs/results.ts')).resultsCommand }),
  gc: async () => ({ run: (await import('./jobs/gc.ts')).gcCommand }),
  recipes: async () => ({ run: (await import('./recipes.ts')).recipesCommand }),
  help: async () => ({ run: helpCommand }),
};

/**
 * Words a user may try for a command, not near its name: the command meant, or (after ':') what to do
 * instead. Only a bare word that names no file gets here, so no input is ever taken for one.
 */
const GUESSED: Record<string, string> = {
  jobs: 'status',
  list: 'status',
  ls: 'status',
  ps: 'status',
  batches: 'status',
  show: 'status',
  stop: 'cancel',
  kill: 'cancel',
  abort: 'cancel',
  clean: 'gc',
  prune: 'gc',
  purge: 'gc',
  serve: 'emulator',
  server: 'emulator',
  mock: 'emulator',
  collect: ": a job is collected by running the command that submitted it again (see --no-wait); 'batch-enrich results BATCH_ID' prints one batch's results",
  resume: ': a job resumes by running the command that started it again',
};

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  const command = first === undefined ? undefined : COMMANDS[first];
  if (command) return (await command()).run(rest, io);
  // A word that is not a file but is close to a command is a typo of the command, not a missing input.
  if (first !== undefined && /^[a-z]+$/.test(first) && !existsSync(first)) {
    const guess = GUESSED[first];
    if (guess?.startsWith(':')) {
      io.stderr.write(`batch-enrich: unknown command '${first}' (no file of that name either)${guess}\nTry 'batch-enrich --help'.\n`);
      return EXIT.USAGE;
    }
    const near = guess ?? closest(first, Object.keys(COMMANDS));
    if (near) {
      io.stderr.write(`batch-enrich: unknown command '${first}'; did you mean '${near}'? (no file of that name either)\nTry 'batch-enrich --help'.\n`);
      return EXIT.USAGE;
    }
  }
  const m = await import('./enrich/command.ts');
  return m.enrichCommand(argv, io).catch((error: unknown) => {
    say(io, error instanceof Error ? error.message : String(error));
    return EXIT.FATAL;
  });
}

/** `batch-enrich help [COMMAND]`: the main help, or the command's own `--help`. */
async function helpCommand(argv: string[], io: CliIo): Promise<number> {
  const [name] = argv;
  // `help --help` (or `-h`) asks for help about help: the main help (helper-72: it was a usage error).
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') return (await import('./enrich/command.ts')).enrichCommand(['--help'], io);
  const command = COMMANDS[name];
  if (!command) {
    const near = closest(name, Object.keys(COMMANDS));
    io.stderr.write(`batch-enrich: no command '${name}'${near ? `; did you mean '${near}'?` : ''} (commands: ${Object.keys(COMMANDS).join(', ')})\n`);
    return EXIT.USAGE;
  }
  return (await command()).run(['--help'], io);
}
