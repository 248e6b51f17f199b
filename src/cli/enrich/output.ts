/**
 * The output side of a run: stdout or `-o FILE`, and `--errors FILE` for the records that carry
 * `_error`, each in its format. Files are written whole or not at all (`AtomicOutput`): `commit`
 * after a complete run, `discard` otherwise, so a failed run leaves the old files in place.
 */
import { once } from 'node:events';
import { usageError, shown } from '../../errors.ts';
import { isFailed } from '../../stages/merge.ts';
import { formatFromName } from '../../stages/read.ts';
import { createFormatter, type OutputFormat } from '../../stages/write.ts';
import { AtomicOutput, inputIdentity, refuseClobber, refuseLedger, refuseSameOutputs } from '../files.ts';
import type { CliIo } from '../io.ts';
import type { EnrichValues } from './config.ts';

export interface Outputs {
  /** The records' text, as a pipeline stage. */
  format(records: AsyncIterable<Record<string, unknown>>): AsyncGenerator<string>;
  /** Where the records' text goes. */
  stream: NodeJS.WritableStream;
  /** Complete: the files replace what was there. */
  commit(): Promise<void>;
  /** Incomplete: the files are left as they were. */
  discard(): void;
  /** Writes `--summary FILE` (opened with the others, so a path that cannot be written fails before any batch). */
  writeSummary(text: string): Promise<void>;
}

/**
 * Refuses, before anything is read, an output that is the input (through links too) or the ledger
 * (`ledger`: its path), or two outputs in one file.
 */
export function refuseBadOutputs(file: string, values: EnrichValues, io: CliIo, ledger: string): void {
  const source = inputIdentity(file, io.stdin);
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

/** The output format: `--output-format`, else from `-o FILE`'s extension, else NDJSON. */
export function outputFormat(values: EnrichValues): OutputFormat {
  return values['output-format'] ?? (values.output?.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson');
}

/**
 * Opens the outputs now, so a path that cannot be written is a named usage error before any batch
 * (a run that ends before committing them leaves no temporary file: see `AtomicOutput`).
 */
export function openOutputs(values: EnrichValues, io: CliIo, context: { inputColumns: () => string[] | undefined; answerColumns: string[]; say: (line: string) => void }): Outputs {
  const format = outputFormat(values);
  const errorsFormat: OutputFormat = values.errors ? (formatFromName(values.errors) === 'csv' ? 'csv' : values.errors.toLowerCase().match(/\.(nd)?jsonl?$/) ? 'ndjson' : format) : format;
  if ((values.excel || values['safe-csv']) && format !== 'csv' && errorsFormat !== 'csv') {
    throw usageError(`${values.excel ? '--excel' : '--safe-csv'} is for CSV output: add --output-format csv (or -o FILE.csv)`);
  }
  const outFile = values.output ? new AtomicOutput('--output', values.output) : undefined;
  const errorsFile = values.errors ? new AtomicOutput('--errors', values.errors) : undefined;
  const summaryFile = values.summary ? new AtomicOutput('--summary', values.summary) : undefined;
  const errorsOut = errorsFile?.stream;
  const extraWarned = (name: string) => context.say(`warning: field ${shown(name)} is not in the CSV header and is left out of the CSV output`);
  const formatting = { format, inputColumns: context.inputColumns, answerColumns: context.answerColumns, onExtraField: extraWarned, bom: values.excel, safe: values['safe-csv'] };
  const formatOut = createFormatter(formatting);
  const formatErrors = createFormatter({ ...formatting, format: errorsFormat });
  return {
    stream: outFile?.stream ?? io.stdout,
    async *format(records) {
      const toErrors = async (text: string) => {
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
      await errorsFile?.commit();
      await outFile?.commit();
    },
    discard() {
      errorsFile?.discard();
      outFile?.discard();
      summaryFile?.discard();
    },
    async writeSummary(text) {
      summaryFile?.stream.write(text);
      await summaryFile?.commit();
    },
  };
}
