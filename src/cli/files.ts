/**
 * The CLI's files: the input is opened with a clear error (a directory, a missing file), an output
 * that is the input is refused before anything is read, and `-o FILE` / `--errors FILE` are written
 * to a temporary file next to FILE and renamed into place only when the run is complete, so a killed
 * or failed run leaves the old FILE (or none), never half of one.
 */
import { createReadStream, createWriteStream, fstatSync, openSync, renameSync, rmSync, statSync, type Stats, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BatchEnrichError, usageError } from '../errors.ts';

/** Opens FILE for reading, naming what is wrong: no such file, a directory, no permission. */
export async function openInput(file: string): Promise<NodeJS.ReadableStream> {
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch (error) {
    throw new BatchEnrichError('BE_INPUT', `${file}: cannot open: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { file });
  }
  if (stats.isDirectory()) throw new BatchEnrichError('BE_INPUT', `${file}: is a directory; give a CSV, TSV or NDJSON file (or - for stdin)`, { file });
  const stream = createReadStream(file);
  try {
    await once(stream, 'open');
  } catch (error) {
    throw new BatchEnrichError('BE_INPUT', `${file}: cannot open: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { file });
  }
  return stream;
}

/** The device and inode of the input (FILE, or stdin when it is a redirected file); undefined for a pipe or a terminal. */
export function inputIdentity(file: string, stdin: NodeJS.ReadableStream): { dev: number; ino: number } | undefined {
  try {
    if (file !== '-') return statSync(file);
    const fd = (stdin as { fd?: unknown }).fd;
    if (typeof fd !== 'number') return undefined;
    const stats = fstatSync(fd);
    return stats.isFile() ? stats : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses (a usage error, exit 2) an output path that is the input file: same device and inode, so a
 * hard link, a symlink or another spelling of the path is caught too. Writing it would truncate the
 * input before it is read.
 */
export function refuseClobber(input: { dev: number; ino: number } | undefined, flag: string, path: string | undefined, file: string): void {
  if (!input || path === undefined) return;
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch {
    return; // does not exist yet: it cannot be the input
  }
  if (stats.dev === input.dev && stats.ino === input.ino) {
    throw usageError(`${flag} ${path} is the input ${file === '-' ? '(stdin)' : file}: writing it would destroy the input; write to another file`);
  }
}

/** Refuses `-o X --errors X` (the same path, or the same existing file): one would silently replace the other. */
export function refuseSameOutputs(output: string | undefined, errors: string | undefined): void {
  if (output === undefined || errors === undefined) return;
  let same = resolve(output) === resolve(errors);
  try {
    const a = statSync(output);
    const b = statSync(errors);
    same ||= a.dev === b.dev && a.ino === b.ino && a.isFile();
  } catch {
    // one does not exist yet: only the paths can tell
  }
  if (same) throw usageError(`--output ${output} and --errors ${errors} are the same file: give --errors another name (or leave it out to keep failed records in the output)`);
}

/**
 * A file written under a temporary name in the same folder and renamed over `path` by `commit()`
 * (atomic on POSIX); `discard()`, or the process exiting before `commit()`, removes the temporary file
 * (only SIGKILL leaves it, and never over `path`). Opened at once, so an output that cannot be written
 * is a named usage error before any batch.
 */
export class AtomicOutput {
  readonly stream: WriteStream;
  /** The temporary file; undefined when `path` is not a regular file (`/dev/null`, a FIFO, `/dev/stdout`), which is written directly. */
  readonly #temp: string | undefined;
  readonly #path: string;

  constructor(flag: string, path: string) {
    this.#path = path;
    let existing: Stats | undefined;
    try {
      existing = statSync(path);
    } catch {
      existing = undefined;
    }
    if (existing?.isDirectory()) throw usageError(`${flag} ${path}: is a directory; give a file name`);
    const special = existing !== undefined && !existing.isFile();
    this.#temp = special ? undefined : join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`);
    let fd: number;
    try {
      fd = openSync(this.#temp ?? path, this.#temp ? 'wx' : 'w');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw usageError(`${flag} ${path}: cannot write there: ${code}${code === 'ENOENT' ? ' (no such folder)' : ''}`);
    }
    this.stream = createWriteStream(this.#temp ?? path, { fd });
    // However the run ends before `commit()` (an error, a usage error found later), the temporary file goes.
    if (this.#temp) process.once('exit', this.#removeTemp);
  }

  readonly #removeTemp = () => {
    if (this.#temp) rmSync(this.#temp, { force: true });
  };

  /** Ends the stream and renames the temporary file over `path`. */
  async commit(): Promise<void> {
    if (!this.stream.writableFinished) {
      if (!this.stream.writableEnded) this.stream.end();
      await once(this.stream, 'finish');
    }
    if (this.#temp) renameSync(this.#temp, this.#path);
    process.off('exit', this.#removeTemp);
  }

  /** Closes and removes the temporary file; `path` is left as it was. */
  discard(): void {
    this.stream.destroy();
    this.#removeTemp();
  }
}
