/**
 * The output side of a run: stdout or `-o FILE`, and `--errors FILE` for the records that carry
 * `_error`, each in its format. Files are written whole or not at all (`AtomicOutput`): `commit`
 * after a complete run, `discard` otherwise, so a failed run leaves the old files in place.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, openSync } from 'node:fs';
import { Writable } from 'node:stream';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import { usageError, shown } from '../../errors.ts';
import { isFailed } from '../../stages/merge.ts';
import { createFormatter, neutralised, widenedColumns, type Formatter, type OutputFormat } from '../../stages/write.ts';
import { AtomicOutput, inputIdentity, redirectedStreams, refuseClobber, refuseLedger, refuseRedirectedOntoInput, refuseSameOutputs, sameInode } from '../files.ts';
import type { CliIo } from '../io.ts';
import { formatBytes } from '../text.ts';
import type { EnrichValues } from './config.ts';

export interface Outputs {
  /** The records' text, as a pipeline stage. */
  format(records: AsyncIterable<Record<string, unknown>>): AsyncGenerator<string>;
  /** Where the records' text goes. */
  stream: NodeJS.WritableStream;
  /** Complete: the files replace what was there. */
  commit(): Promise<void>;
  /**
   * Incomplete: the files are left as they were; but for `--summary` when `keepSummary` (a `--no-wait`
   * try whose answers wait: what it paid is said, by `writeSummary`).
   */
  discard(keepSummary?: boolean): void;
  /** The error a run failed with, named for the file when writing one of them failed (a full disk). */
  named(error: unknown): unknown;
  /** Writes `--summary FILE` (opened with the others, so a path that cannot be written fails before any batch). */
  writeSummary(text: string): Promise<void>;
}

/**
 * Refuses, before anything is read, an output that is the input (through links too) or the ledger
 * (`ledger`: its path), or two outputs in one file.
 */
export function refuseBadOutputs(file: string, values: EnrichValues, io: CliIo, ledger: string): void {
  // A file named for a format this does not write is refused here too, before anything is read.
  errorsFormat(values, outputFormat(values));
  const source = inputIdentity(file, io.stdin);
  const streams = redirectedStreams([['standard output', io.stdout], ['standard error', io.stderr]]);
  // A standard error that is the input (`2>> in.csv`) must not be written: the refusal would be a
  // bad row of the input for the next run. It goes to the terminal, if there is one.
  if (source && streams.some((stream) => stream.name === 'standard error' && sameInode(stream, source))) io.stderr = terminalOrNowhere();
  refuseRedirectedOntoInput(source, streams, file);
  const outputs = outputFiles(values);
  for (const [flag, path] of outputs) {
    refuseClobber(source, flag, path, file);
    refuseLedger(ledger, flag, path);
  }
  refuseSameOutputs(outputs);
}

/** The files a run writes, by flag (a path not given is undefined). */
export function outputFiles(values: EnrichValues): readonly (readonly [flag: string, path: string | undefined])[] {
  return [
    ['--output', values.output],
    ['--errors', values.errors],
    ['--summary', values.summary],
  ];
}

/**
 * The output format: `--output-format`, else from `-o FILE`'s extension, else NDJSON. A file named for
 * a format this does not write (`out.xlsx`, `out.tsv`, `out.csv.gz`) is a usage error, not a file of
 * NDJSON under that name.
 */
export function outputFormat(values: EnrichValues): OutputFormat {
  const chosen = values['output-format'];
  if (chosen !== undefined) return chosen;
  if (values.output === undefined) return 'ndjson';
  return formatByName('--output', values.output) ?? 'ndjson';
}

/** `--errors FILE`'s format: from its extension, else the output's (`format`). */
function errorsFormat(values: EnrichValues, format: OutputFormat): OutputFormat {
  if (values.errors === undefined) return format;
  return (values['output-format'] === undefined ? formatByName('--errors', values.errors) : namedFormat(values.errors)) ?? format;
}

/** The formats a name says, as for the input (`formatFromName`): `.csv`, and NDJSON as `.ndjson`, `.jsonl` or `.json`. */
const NAMED_FORMAT = /\.(csv|ndjson|jsonl|json)$/i;
/** Extensions of what batch-enrich does not write: spreadsheets, TSV, columnar files, archives and compressed files. */
const FOREIGN_FORMAT = /\.(tsv|tab|xlsx|xlsm|xls|ods|numbers|parquet|avro|orc|arrow|feather|gz|bz2|xz|zst|zip|tar|7z)$/i;

/** The format a file's name says, if any. */
function namedFormat(path: string): OutputFormat | undefined {
  const named = NAMED_FORMAT.exec(path)?.[1]?.toLowerCase();
  return named === undefined ? undefined : named === 'csv' ? 'csv' : 'ndjson';
}

/** The format a file's name says (undefined: none); a name of a format this does not write is a usage error. */
function formatByName(flag: string, path: string): OutputFormat | undefined {
  const named = namedFormat(path);
  if (named !== undefined) return named;
  const foreign = FOREIGN_FORMAT.exec(path)?.[1]?.toLowerCase();
  if (foreign !== undefined) {
    throw usageError(`${flag} ${shown(path)}: batch-enrich writes NDJSON or CSV, not ${foreign}: name the file .ndjson, .jsonl or .csv, or give --output-format`);
  }
  return undefined;
}

/**
 * Opens the outputs now, so a path that cannot be written is a named usage error before any batch
 * (a run that ends before committing them leaves no temporary file: see `AtomicOutput`).
 */
export function openOutputs(values: EnrichValues, io: CliIo, context: { inputColumns: () => string[] | undefined; answerColumns: string[]; say: (line: string) => void }): Outputs {
  const format = outputFormat(values);
  const errorsIn = errorsFormat(values, format);
  if ((values.excel || values['safe-csv']) && format !== 'csv' && errorsIn !== 'csv') {
    throw usageError(`${values.excel ? '--excel' : '--safe-csv'} is for CSV output: add --output-format csv (or -o FILE.csv)`);
  }
  const outFile = values.output ? new AtomicOutput('--output', values.output) : undefined;
  const errorsFile = values.errors ? new AtomicOutput('--errors', values.errors) : undefined;
  const summaryFile = values.summary ? new AtomicOutput('--summary', values.summary) : undefined;
  for (const [flag, file] of [['--output', outFile], ['--errors', errorsFile], ['--summary', summaryFile]] as const) {
    for (const { name, bytes } of file?.removed ?? []) if (!values.quiet) context.say(`removed ${name} (${formatBytes(bytes)}): the unfinished ${flag} of a run that was killed`);
  }
  const errorsOut = errorsFile?.stream;
  const extraWarned = (name: string) =>
    context.say(`warning: field ${shown(name)} is not in the CSV header and is left out of the CSV output on stdout (-o FILE.csv keeps it, as NDJSON does)`);
  const formatting = { format, inputColumns: context.inputColumns, answerColumns: context.answerColumns, metaColumn: values.meta, onExtraField: extraWarned, bom: values.excel, safe: values['safe-csv'] };
  // A file gets a column for a field first seen in a later record, and is rewritten under the whole header at the end.
  const formatOut = createFormatter({ ...formatting, growColumns: outFile?.rewritable });
  const formatErrors = createFormatter({ ...formatting, format: errorsIn, growColumns: errorsFile?.rewritable });
  const widen = (formatter: Formatter) => {
    const written = formatter.widened();
    return written && ((from: string, to: string) => rewriteCsv(from, to, written, widenedColumns(written, context.answerColumns, values.meta), formatting));
  };
  return {
    stream: outFile?.stream ?? io.stdout,
    async *format(records) {
      const toErrors = async (text: string) => {
        // A file that failed (a full disk) fails the run now, not at its end.
        if (errorsOut?.errored) throw errorsOut.errored;
        if (errorsOut && text && !errorsOut.write(text)) await once(errorsOut, 'drain');
      };
      for await (const record of records) {
        // By the error we set, not by the field: an input column named _error is data.
        if (errorsOut && isFailed(record)) await toErrors(formatErrors(record));
        else yield formatOut(record);
      }
      await toErrors(formatErrors.end());
      yield formatOut.end();
    },
    async commit() {
      // Both written whole before either replaces its file: a failure (a full disk) leaves both as they were.
      await errorsFile?.finish(widen(formatErrors));
      await outFile?.finish(widen(formatOut));
      errorsFile?.publish();
      outFile?.publish();
    },
    named(error) {
      for (const file of [outFile, errorsFile, summaryFile]) {
        const named = file?.named(error);
        if (named !== undefined && named !== error) return named;
      }
      return error;
    },
    discard(keepSummary = false) {
      errorsFile?.discard();
      outFile?.discard();
      if (!keepSummary) summaryFile?.discard();
    },
    async writeSummary(text) {
      summaryFile?.stream.write(text);
      await summaryFile?.commit();
    },
  };
}

/**
 * Rewrites a CSV file whose rows were written under `written` (the header's columns, then those
 * added as they came: an earlier row has fewer cells) under the header `header`, each cell moved
 * to its column's place and a missing one empty. The cells are text already (`--safe-csv` applied
 * as they were written); the header is new, and gets it again, and the BOM of `--excel`.
 */
async function rewriteCsv(from: string, to: string, written: readonly string[], header: readonly string[], options: { bom?: boolean | undefined; safe?: boolean | undefined }): Promise<void> {
  const place = written.map((column) => header.indexOf(column));
  const out = createWriteStream(to);
  const put = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  try {
    await put((options.bom ? '\ufeff' : '') + stringify([header.map((column) => (options.safe ? neutralised(column) : column))]));
    let first = true;
    for await (const cells of createReadStream(from).pipe(parse({ bom: true, relax_column_count: true })) as AsyncIterable<string[]>) {
      if (first) {
        first = false; // the header as first written
        continue;
      }
      const row = new Array<string>(header.length).fill('');
      cells.forEach((cell, i) => (row[place[i] as number] = cell));
      await put(stringify([row]));
    }
    out.end();
    await once(out, 'finish');
  } finally {
    out.destroy();
  }
}

/** The controlling terminal (`/dev/tty`) to write to, or a stream that writes nowhere when there is none. */
function terminalOrNowhere(): NodeJS.WritableStream {
  try {
    return createWriteStream('', { fd: openSync('/dev/tty', 'w') });
  } catch {
    return new Writable({ write: (_chunk, _encoding, done) => done() });
  }
}
