/**
 * What every command shares around its body: the `batch-enrich: ` prefix on stderr, and the one
 * mapping from what a body throws to an exit code. A usage error (`isUsageError`: ours, a flag's,
 * the library's option checks) is exit 2 with `Try 'batch-enrich COMMAND --help'.` (not after one
 * that no flag fixes: `withoutHint`); a closed stdout (`| head`) is a quiet 0; anything else is exit
 * 1 with its message, never a stack trace.
 */
import { isUsageError } from '../errors.ts';
import { EXIT, type CliIo } from './io.ts';
import { isBrokenPipe, printableLines } from './text.ts';
import { withoutSecret } from '../core/api-key.ts';

/** One line on stderr, prefixed with the program's name. */
export function say(io: CliIo, message: string): void {
  // Messages name files and fields from the input: a file name can carry terminal codes. Never the
  // key: it is checked before any call (`checkApiKey`), and left out of what a layer below says too.
  io.stderr.write(`batch-enrich: ${printableLines(withoutSecret(message, io.env['ANTHROPIC_API_KEY'], '[the API key]'))}\n`);
}



/** Writes a help text on stdout: exit 0. */
export function help(io: CliIo, text: string): number {
  io.stdout.write(text);
  return EXIT.OK;
}

/** Usage errors that changing the command's flags does not fix (`withoutHint`): no `Try '… --help'.` after them. */
const WITHOUT_HINT = new WeakSet<Error>();

/**
 * Marks a usage error that `--help` cannot help with (the input lacks a column the prompt uses, the
 * estimate is over --max-cost): it is said without the `Try '… --help'.` hint (helper-72).
 */
export function withoutHint<E extends Error>(error: E): E {
  WITHOUT_HINT.add(error);
  return error;
}

/** How a command's failures are reported, beyond the shared mapping. */
export interface GuardOptions {
  /** The message a usage error prints (default: its own). */
  wording?: (error: Error) => string;
  /** Whether a usage error gets the `Try '… --help'.` hint (default: yes). */
  hint?: (error: Error) => boolean;
}

/**
 * Runs a command body and turns what it throws into an exit code (see the module comment).
 * @param command the command's name in the hint (`status`), or '' for the default command
 * @example
 * export const statusCommand = (argv: string[], io: CliIo) => guarded('status', io, () => status(argv, io));
 */
export async function guarded(command: string, io: CliIo, body: () => Promise<number>, options: GuardOptions = {}): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (isBrokenPipe(error)) return EXIT.OK;
    if (isUsageError(error)) {
      say(io, options.wording?.(error) ?? error.message);
      if (!WITHOUT_HINT.has(error) && (options.hint?.(error) ?? true)) io.stderr.write(`Try 'batch-enrich ${command ? `${command} ` : ''}--help'.\n`);
      return EXIT.USAGE;
    }
    say(io, error instanceof Error ? error.message : String(error));
    return EXIT.FATAL;
  }
}
