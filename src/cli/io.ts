/** What a command gets from the process: its streams and environment, injectable for tests. */
export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /**
   * Set by a run that gave its output up (stopped while nobody read it): what it had to write can never
   * drain, and would keep the process alive, so the bin leaves once the command returns.
   */
  abandoned?: boolean;
}

/** Exit codes, documented in `--help` and the README. */
export const EXIT = {
  /** every record enriched */
  OK: 0,
  /** a fatal error (named, with file and line where there is one) */
  FATAL: 1,
  /** a usage error */
  USAGE: 2,
  /** finished, but some records carry `_error` */
  PARTIAL: 3,
  /** `--no-wait`: answers are still pending; run the same command again later (sysexits' EX_TEMPFAIL) */
  PENDING: 75,
} as const;
