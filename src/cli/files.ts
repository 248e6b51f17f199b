/**
 * The CLI's files: the input is opened with a clear error (a directory, a missing file), an output
 * that is the input is refused before anything is read, and `-o FILE` / `--errors FILE` are written
 * to a temporary file next to FILE and renamed into place only when the run is complete, so a killed
 * or failed run leaves the old FILE (or none), never half of one.
 */
import { closeSync, createReadStream, createWriteStream, fchmodSync, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, type Stats, type WriteStream } from 'node:fs';
import { hostname } from 'node:os';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { basename, dirname, join, normalize, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BatchEnrichError, usageError } from '../errors.ts';
import { isPostgresUrl } from '../ledger/open.ts';
import type { WrittenFile } from '../ledger/store.ts';

/**
 * Opens FILE for reading, naming what is wrong: no such file, a directory, no permission. The error
 * of a file that cannot be opened has the system's error as its `cause` (`isMissingInput`).
 */
export async function openInput(file: string): Promise<NodeJS.ReadableStream> {
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch (error) {
    throw cannotOpen(file, error);
  }
  if (stats.isDirectory()) throw new BatchEnrichError('BE_INPUT', `${file}: is a directory; give a CSV, TSV or NDJSON file (or - for stdin)`, { file });
  const stream = createReadStream(file);
  try {
    await once(stream, 'open');
  } catch (error) {
    throw cannotOpen(file, error);
  }
  return stream;
}

function cannotOpen(file: string, error: unknown): BatchEnrichError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file (ENOENT)' : (code ?? (error as Error).message);
  return new BatchEnrichError('BE_INPUT', `${file}: cannot open: ${why}`, { file, cause: error });
}

/** Whether `error` is `openInput`'s for an input that is not there (ENOENT). */
export function isMissingInput(error: unknown): error is BatchEnrichError {
  return error instanceof BatchEnrichError && error.code === 'BE_INPUT' && (error.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** The device and inode of the input (FILE, or stdin when it is a redirected file); undefined for a pipe or a terminal. */
export function inputIdentity(file: string, stdin: NodeJS.ReadableStream): { dev: number; ino: number; size: number } | undefined {
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
  if (sameInode(stats, input)) {
    throw usageError(`${flag} ${path} is the input ${file === '-' ? '(stdin)' : file}: writing it would destroy the input; write to another file`);
  }
}

/**
 * What a file is, when it is one the run writes (undefined when not): an output (`-o`, `--errors`,
 * `--summary`), the ledger and what SQLite and the run keep beside it (`-wal`, `-shm`, `.run-…`), or
 * the file its standard output or error is redirected to (`streams`). A folder given as the input
 * leaves them out: else each rerun would read the last run's output as one more document, and pay for it.
 */
export function writtenByRun(
  outputs: readonly (string | undefined)[],
  ledger: string,
  streams: readonly RedirectedStream[] = [],
  earlier: ReadonlyMap<string, WrittenFile> = new Map(),
): (path: string) => WrittenByRun | undefined {
  const exact = new Set(outputs.filter((path): path is string => path !== undefined).map(realPath));
  const store = ledger === ':memory:' || isPostgresUrl(ledger) ? undefined : realPath(ledger);
  return (path) => {
    const real = realPath(path);
    if (exact.has(real)) return { what: path, why: 'this run writes it' };
    if (store !== undefined && (real === store || ledgerSideFile(real, store))) return { what: `the ledger ${ledger} and its files`, why: 'this run writes them' };
    if (streams.length === 0 && earlier.size === 0) return undefined;
    const file = statOrUndefined(path);
    const stream = file && streams.find((s) => sameInode(s, file));
    if (stream) return { what: path, why: `this run writes it (its ${stream.name})` };
    const id = fileIdentity(path);
    const noted = id === undefined ? undefined : earlier.get(id);
    return noted ? { what: path, why: `an earlier run wrote it (${noted.as})` } : undefined;
  };
}

/** A file the run writes, or an earlier run wrote, as said when a folder's listing leaves it out: "leaving WHAT out of the input: WHY". */
export interface WrittenByRun {
  what: string;
  why: string;
}

/**
 * What a regular file is on its file system (`WrittenFile.id`): its device, inode and birth time, so
 * that a file made again under the same name, or on a reused inode, is not taken for the one a run
 * wrote. Where the file system keeps no birth time, Node gives the change time, which every write
 * moves: the file is then known only until it is written again. Undefined when not a regular file.
 */
export function fileIdentity(file: string | number): string | undefined {
  try {
    const stats = typeof file === 'number' ? fstatSync(file, { bigint: true }) : statSync(file, { bigint: true });
    return stats.isFile() ? `${stats.dev}:${stats.ino}:${stats.birthtimeNs}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The files a run wrote, to note in the ledger (`LedgerStore.noteWritten`): each output given that
 * is a regular file now, and the standard output and error when redirected to one.
 */
export function filesWritten(outputs: readonly (readonly [as: string, path: string | undefined])[], streams: readonly (readonly [as: string, stream: unknown])[]): WrittenFile[] {
  const written: WrittenFile[] = [];
  for (const [as, path] of outputs) {
    const id = path === undefined ? undefined : fileIdentity(path);
    if (id !== undefined) written.push({ id, path: resolve(path as string), as });
  }
  for (const [as, stream] of streams) {
    const fd = (stream as { fd?: unknown } | undefined)?.fd;
    const id = typeof fd === 'number' ? fileIdentity(fd) : undefined;
    if (id !== undefined) written.push({ id, path: streamPath(fd as number), as });
  }
  return written;
}

/** Where a descriptor's file is (Linux: its /proc link), else the descriptor, for the ledger's note. */
function streamPath(fd: number): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `file descriptor ${fd}`;
  }
}

/** A standard stream redirected to a regular file (`> out.ndjson`, `2>> err.txt`): the file's identity. */
export interface RedirectedStream {
  name: string;
  dev: number;
  ino: number;
}

/**
 * The standard output and error of the run that are regular files (a shell redirection): a folder
 * given as the input holds them when the user writes `batch-enrich . > out.ndjson` in it, and each
 * would be read as one more document (empty, or half written) and paid for.
 */
export function redirectedStreams(streams: readonly (readonly [name: string, stream: unknown])[]): RedirectedStream[] {
  return streams.flatMap(([name, stream]) => {
    const fd = (stream as { fd?: unknown } | undefined)?.fd;
    if (typeof fd !== 'number') return [];
    try {
      const info = fstatSync(fd);
      return info.isFile() ? [{ name, dev: info.dev, ino: info.ino }] : [];
    } catch {
      return [];
    }
  });
}

/**
 * Refuses (a usage error, exit 2) a standard output or error redirected to the input file (`>> in.csv`,
 * `< f > f`): the run would read back what it writes (with `>>`, its NDJSON as more CSV rows) and pay
 * for it. With `>` the shell has emptied the input before the run started: said, instead of a run of
 * 0 records that exits 0.
 */
export function refuseRedirectedOntoInput(input: { dev: number; ino: number; size: number } | undefined, streams: readonly RedirectedStream[], file: string): void {
  const onto = input && streams.find((stream) => sameInode(stream, input));
  if (!input || !onto) return;
  const named = `its ${onto.name} is the input ${file === '-' ? '(stdin)' : file}`;
  throw usageError(
    input.size === 0
      ? `${named} (a shell's \`>\`): it is empty now, emptied by the shell before the run started; write to another file`
      : `${named}: the run would read what it writes (and \`>\` empties the input before the run starts); write to another file`,
  );
}

/** Whether two stats (or what is kept of them) are of one file: the same device and inode. */
export function sameInode(a: { dev: number; ino: number }, b: { dev: number; ino: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Whether two paths name one file: the same path, or the same existing regular file (through links). */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  // A file not made yet, named through links (a dangling one too): where it will be.
  if (realPath(linkTarget(a) ?? a) === realPath(linkTarget(b) ?? b)) return true;
  try {
    const x = statSync(a);
    const y = statSync(b);
    return sameInode(x, y) && x.isFile();
  } catch {
    return false; // one does not exist yet: only the paths can tell
  }
}

/**
 * Refuses two outputs in one file (`-o X --errors X`, `--summary X`): one would silently replace the
 * other. `outputs` are [flag, path] pairs; a path not given is undefined.
 */
export function refuseSameOutputs(outputs: readonly (readonly [flag: string, path: string | undefined])[]): void {
  const given = outputs.filter((output): output is readonly [string, string] => output[1] !== undefined);
  for (const [i, [flag, path]] of given.entries()) {
    for (const [otherFlag, other] of given.slice(i + 1)) {
      if (!sameFile(path, other)) continue;
      const hint = otherFlag === '--errors' ? ' (or leave it out to keep failed records in the output)' : '';
      throw usageError(`${flag} ${path} and ${otherFlag} ${other} are the same file: give ${otherFlag} another name${hint}`);
    }
  }
}

/**
 * Refuses an output that is the SQLite ledger, or one of its own files beside it (its WAL, its
 * scratch files): it holds every answer already paid for, and writing over it would lose them all
 * (the next run pays again). A PostgreSQL ledger or one in memory has no file here.
 */
export function refuseLedger(ledger: string, flag: string, path: string | undefined): void {
  if (path === undefined || ledger === ':memory:' || isPostgresUrl(ledger)) return;
  if (sameFile(path, ledger)) throw usageError(`${flag} ${path} is the ledger ${ledger}: writing it would destroy the answers already paid for; write to another file`);
  // Through links too: the real paths, where the files exist.
  const [own, base] = [realPath(path), realPath(ledger)];
  if (ledgerSideFile(own, base)) {
    throw usageError(`${flag} ${path} is the ledger's own file (beside ${ledger}): writing it would damage the ledger; write to another file`);
  }
}

/** Whether `real` is a file SQLite or the run keeps beside the ledger at `base` (both real paths). */
function ledgerSideFile(real: string, base: string): boolean {
  return ['-wal', '-shm', '-journal'].some((suffix) => real === `${base}${suffix}`) || (real.startsWith(base) && /^\.run-[0-9a-f]{12}$/.test(real.slice(base.length)));
}

/** The path with its links resolved, as far as it exists (a file not made yet: its folder's real path). */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/**
 * Where a pid means a process, as it goes into a temporary file's name (letters, digits, dots and
 * dashes): the machine's name and, on Linux, its pid namespace (a container on the host's network has
 * the host's name, not its processes). Not the ledger's `HOST`, which adds the boot id: a file a power
 * cut left must still match after the reboot, to be removed (a pid reused since then is alive, and its
 * file is left, the safe way).
 */
const PIDS = pidSpace();

function pidSpace(): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'host';
  let namespace: string | undefined;
  try {
    namespace = /\d+/.exec(readlinkSync('/proc/self/ns/pid'))?.[0];
  } catch {
    namespace = undefined; // not Linux
  }
  return namespace ? `${host}-${namespace}` : host;
}

/** How the names of `path`'s temporary files start: hidden, beside it, with where its pid means a process (`.out.ndjson.HOST-NS.`), then the pid. */
function tempPrefix(path: string): string {
  return `.${basename(path)}.${PIDS}.`;
}

/**
 * Removes the temporary files that runs of this machine, now dead, left beside `path` (a SIGKILL, a
 * power cut: nothing removed them, and each is as large as the output was when it died). A file of a
 * live process, or of another machine or container (a shared folder: its pid means nothing here), is
 * left alone.
 */
function removeStaleTemps(path: string): { name: string; bytes: number }[] {
  const prefix = tempPrefix(path);
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return [];
  }
  const removed: { name: string; bytes: number }[] = [];
  for (const name of names) {
    const pid = name.startsWith(prefix) ? /^(\d+)-[0-9a-f]{6}\.tmp(?:\.w)?$/.exec(name.slice(prefix.length))?.[1] : undefined;
    if (pid === undefined || processAlive(Number(pid))) continue;
    const file = join(dirname(path), name);
    try {
      const bytes = statSync(file).size;
      rmSync(file);
      removed.push({ name, bytes });
    } catch {
      // Gone already (another run removed it), or not ours to remove: left as it is.
    }
  }
  return removed;
}

/** Whether a process of this pid runs on this machine (one of another user's too: EPERM). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A file written under a temporary name in the same folder and renamed over `path` by `commit()`
 * (atomic on POSIX); `discard()`, or the process exiting before `commit()`, removes the temporary file
 * (only SIGKILL leaves it, and never over `path`). Opened at once, so an output that cannot be written
 * is a named usage error before any batch.
 */
export class AtomicOutput {
  readonly stream: WriteStream;
  /** Temporary files that dead runs of this machine left for the same file (`removeStaleTemps`), removed: their names and sizes. */
  readonly removed: readonly { name: string; bytes: number }[] = [];
  /** The temporary file; undefined when `path` is not a regular file (`/dev/null`, a FIFO, `/dev/stdout`), which is written directly. */
  readonly #temp: string | undefined;
  readonly #path: string;
  /** The flag and the path as given, for messages. */
  readonly #flag: string;
  readonly #given: string;
  /** The error writing failed with (a full disk), if it did. */
  #failure: Error | undefined;

  constructor(flag: string, given: string) {
    this.#flag = flag;
    this.#given = given;
    // A descriptor this process holds (`--summary /dev/stdout >> runs.log`): written through it, as the
    // shell opened it (appended to with >>), not replaced by a new file under the name behind it.
    const held = heldDescriptor(given);
    const opened = held === undefined ? openNamed(flag, given) : { path: given, temp: undefined, fd: held, removed: [] };
    this.#path = opened.path;
    this.#temp = opened.temp;
    this.removed = opened.removed;
    this.stream = createWriteStream(opened.temp ?? opened.path, { fd: opened.fd, autoClose: held === undefined });
    // Kept to be named (`named`); the run learns of it from the write that waits, or at `finish`.
    this.stream.once('error', (error) => (this.#failure ??= error));
    // However the run ends before `commit()` (an error, a usage error found later), the temporary file goes.
    if (this.#temp) process.once('exit', this.#removeTemp);
  }

  readonly #removeTemp = () => {
    if (this.#temp) for (const file of [this.#temp, `${this.#temp}.w`]) rmSync(file, { force: true });
  };

  /** Whether what was written can be rewritten before it replaces `path` (`commit`'s `rewrite`): a regular file, written under a temporary name. */
  get rewritable(): boolean {
    return this.#temp !== undefined;
  }

  /** Ends the stream and renames the temporary file over `path` (`finish`, then `publish`). */
  async commit(rewrite?: (from: string, to: string) => Promise<void>): Promise<void> {
    await this.finish(rewrite);
    this.publish();
  }

  /**
   * Ends the stream; `rewrite` (when `rewritable`), given the temporary file and a new one to write,
   * replaces what was written first. A failure names the file (a full disk, say), and leaves `path`
   * as it was.
   */
  async finish(rewrite?: (from: string, to: string) => Promise<void>): Promise<void> {
    if (!this.stream.writableFinished) {
      if (!this.stream.writableEnded) this.stream.end();
      // Not `once(…, 'finish')`: a stream that failed already never finishes.
      await finished(this.stream).catch((error: unknown) => {
        throw this.named(error);
      });
    }
    if (!this.#temp || !rewrite) return;
    const next = `${this.#temp}.w`;
    try {
      closeSync(openSync(next, 'wx', statSync(this.#temp).mode & 0o7777));
      await rewrite(this.#temp, next);
      renameSync(next, this.#temp);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      throw new BatchEnrichError('BE_OUTPUT', `${this.#flag} ${this.#given}: cannot write it whole: ${code ?? message}; the file is left as it was`, { cause: error });
    } finally {
      rmSync(next, { force: true });
    }
  }

  /** `error` named for this file when it is the one its writing failed with (`--output out.csv: cannot write: ENOSPC`); else `error`. */
  named(error: unknown): unknown {
    if (error === undefined || error !== this.#failure) return error;
    const { code, message } = error as NodeJS.ErrnoException;
    return new BatchEnrichError('BE_OUTPUT', `${this.#flag} ${this.#given}: cannot write: ${code ?? message}${this.#temp ? '; the file is left as it was' : ''}`, { cause: error });
  }

  /** Renames the finished temporary file over `path`. */
  publish(): void {
    if (this.#temp) renameSync(this.#temp, this.#path);
    process.off('exit', this.#removeTemp);
  }

  /** Closes and removes the temporary file; `path` is left as it was. */
  discard(): void {
    this.stream.destroy();
    this.#removeTemp();
  }
}

/**
 * Opens the output named `given` (`AtomicOutput`): a regular file (or a name not made yet) under a
 * temporary name beside it (`temp`), a special file (`/dev/null`, a FIFO) as it is.
 */
function openNamed(flag: string, given: string): { path: string; temp: string | undefined; fd: number; removed: readonly { name: string; bytes: number }[] } {
  const existing = statOrUndefined(given);
  if (existing?.isDirectory()) throw usageError(`${flag} ${given}: is a directory; give a file name`);
  // Through a symlink, the file it points at is replaced, not the link (a special file, such as
  // /dev/stdout on a pipe, is written as it is: its real path may be no path at all); a link to a
  // file not made yet makes that file, as a shell's > would.
  const path = existing?.isFile() ? realpathSync(given) : existing === undefined ? linkTarget(given) ?? given : given;
  const special = existing !== undefined && !existing.isFile();
  const removed = special ? [] : removeStaleTemps(path);
  const temp = special ? undefined : join(dirname(path), `${tempPrefix(path)}${process.pid}-${randomBytes(3).toString('hex')}.tmp`);
  try {
    // A file replaced keeps its permissions (a private 0600 output stays private).
    const fd = openSync(temp ?? path, temp ? 'wx' : 'w', existing?.isFile() ? existing.mode & 0o7777 : 0o666);
    if (temp && existing?.isFile()) fchmodSync(fd, existing.mode & 0o7777);
    return { path, temp, fd, removed };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw usageError(`${flag} ${given}: cannot write there: ${code}${code === 'ENOENT' ? ' (no such folder)' : ''}`);
  }
}

/**
 * The descriptor an output name stands for when it is one this process holds open: `/dev/stdout`
 * (1), `/dev/stderr` (2), `/dev/fd/N` and `/proc/self/fd/N`. Undefined for any other name, and for
 * a descriptor that is not open (`>&-`: the name is then opened as a file, and fails as one).
 * @example
 * heldDescriptor('/dev/stdout'); // 1
 * heldDescriptor('out.ndjson'); // undefined
 */
export function heldDescriptor(path: string): number | undefined {
  const match = /^\/(?:dev\/(stdout|stderr)|dev\/fd\/(\d+)|proc\/self\/fd\/(\d+))$/.exec(normalize(path));
  if (!match) return undefined;
  const fd = match[1] === 'stdout' ? 1 : match[1] === 'stderr' ? 2 : Number(match[2] ?? match[3]);
  try {
    fstatSync(fd);
    return fd;
  } catch {
    return undefined;
  }
}

/**
 * Where a symlink ends, link after link, whether that file exists or not (an output through a link
 * to a file not made yet makes that file); undefined when `path` is no link.
 */
function linkTarget(path: string): string | undefined {
  let at = path;
  // Link after link (at most 40, as the kernel's own limit), each resolved against the real folder
  // it lies in (the folder may be reached through links itself).
  for (let hops = 0; hops < 40; hops++) {
    let next: string;
    try {
      if (!lstatSync(at).isSymbolicLink()) return at === path ? undefined : at;
      next = resolve(realpathSync(dirname(at)), readlinkSync(at));
    } catch {
      return at === path ? undefined : at;
    }
    at = next;
  }
  return undefined;
}
