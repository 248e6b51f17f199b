/** Dispatch on the first argument: a command name, or the default `enrich` command. */
import type { CliIo } from './io.ts';
import { EXIT } from './io.ts';

const COMMANDS: Record<string, () => Promise<{ run: (argv: string[], io: CliIo) => Promise<number> }>> = {
  emulator: async () => {
    const m = await import('./emulator.ts');
    return { run: m.emulatorCommand };
  },
  status: async () => ({ run: (await import('./jobs.ts')).statusCommand }),
  cancel: async () => ({ run: (await import('./jobs.ts')).cancelCommand }),
  results: async () => ({ run: (await import('./jobs.ts')).resultsCommand }),
  gc: async () => ({ run: (await import('./jobs.ts')).gcCommand }),
};

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  const command = first === undefined ? undefined : COMMANDS[first];
  if (command) return (await command()).run(rest, io);
  const m = await import('./enrich.ts');
  return m.enrichCommand(argv, io).catch((error: unknown) => {
    io.stderr.write(`batch-enrich: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.FATAL;
  });
}
