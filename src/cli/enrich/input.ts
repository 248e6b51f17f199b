/**
 * The input side of a run: where records come from (FILE, stdin, a folder of documents), how they
 * are read and checked (the header against the prompt, the first record), and the offline view the
 * estimates read. A FILE can be read more than once (the counting pass of `--mode auto` and
 * `--sample`, the `--max-cost` estimate, the run); stdin only once.
 */
import { statSync } from 'node:fs';
import { shown, usageError } from '../../errors.ts';
import { takeShard, type Shard } from '../../core/shard.ts';
import { missingColumns, noFieldProblem } from '../../core/template.ts';
import { inputName, shellWord } from '../../core/text.ts';
import { eitherAnswer } from '../../core/schema.ts';
import { attachDocuments } from '../../stages/attach.ts';
import { formatFromName, readRecords, type InputFormat, type ReadOptions, type SourceRecord } from '../../stages/read.ts';
import type { CliIo } from '../io.ts';
import { checkFirstRecord, firstRows } from '../checks.ts';
import { documentInput, type DocumentInput } from '../documents.ts';
import { openInput, redirectedStreams, writtenByRun } from '../files.ts';
import { answerFields, type Config, type EnrichValues } from './config.ts';
import type { WrittenFile } from '../../ledger/store.ts';
import { withoutHint } from '../command.ts';
import { closest } from '../../core/suggest.ts';

export interface Input {
  /** FILE, or `-` for stdin. */
  file: string;
  /**
   * Whether the input can be read more than once (the estimates' passes, then the run): a regular
   * FILE or a folder. stdin, a named pipe, `<(…)` and `/dev/stdin` give their bytes once: a pass
   * before the run would leave it nothing to read.
   */
  rereadable: boolean;
  documents: DocumentInput;
  /** A fresh byte stream of the input (stdin: the one stream). */
  open(): Promise<NodeJS.ReadableStream>;
  /** Bytes → checked records (at most `--limit`). */
  read(chunks: AsyncIterable<Buffer | string>): AsyncIterable<SourceRecord>;
  /** The records as the offline passes see them: documents inline, nothing uploaded. */
  offline(records: AsyncIterable<SourceRecord>): AsyncIterable<SourceRecord>;
  /** The CSV header's columns, once read. */
  columns(): string[] | undefined;
  /** Files earlier runs wrote (the ledger's notes): a folder as the input leaves them out too, whatever their names now. */
  leaveOut(files: readonly WrittenFile[]): void;
}

/**
 * Sets up the input of a run: documents, format, and the checks that make a missing template field
 * a usage error at line 1 rather than an `_error` on every record. Warnings are said once.
 */
export function openRunInput(file: string, values: EnrichValues, config: Config, io: CliIo, say: (line: string) => void, ledger: string): Input {
  // The files earlier runs noted in the ledger as written (`leaveOut`, once the ledger is open).
  const earlier = new Map<string, WrittenFile>();
  const written = writtenByRun([values.output, values.errors, values.summary], ledger, redirectedStreams([['standard output', io.stdout], ['standard error', io.stderr]]), earlier);
  // Said once: a FILE may be read more than once (the estimates' passes, the run).
  const left = new Set<string>();
  const skip = (path: string) => {
    const file = written(path);
    if (file === undefined) return false;
    if (!left.has(file.what)) say(`leaving ${file.what} out of the input: ${file.why}`);
    left.add(file.what);
    return true;
  };
  const documents = documentInput(file, { inputFormat: values['input-format'], attach: values.attach, upload: values.upload, oversizedImage: values['oversized-image'], skip }, config.attach);
  // Files as the input: every record is a document. A table with --attach: a row with a document is
  // asked the recipe's document answer, a row without one its own (each answer checked under its own).
  // Files as the input: every request is a document's, asked at the recipe's max_tokens for documents.
  if (documents.files && config.documentMaxTokens !== undefined) config.maxTokens = config.documentMaxTokens;
  if (config.documentAnswer && documents.files) config.answer = config.documentAnswer;
  else if (config.documentAnswer && config.answer && documents.attach.length > 0) config.answer = eitherAnswer(config.answer, config.documentAnswer);
  else config.documentAnswer = undefined;
  const format = values['input-format'];
  // A CSV's flags on files as the input (a folder, a path list): they would be ignored.
  const csvFlag = documents.files && ([['--tsv', values.tsv], ['--delimiter', values.delimiter !== undefined], ['--no-header', values['no-header']], ['--encoding', values.encoding !== undefined]] as const).find(([, given]) => given)?.[0];
  if (csvFlag) throw usageError(`${file === '-' ? 'the path list' : file} is ${file === '-' ? 'not a table' : 'a folder'}: its files are the input (one record each), so ${csvFlag} does not apply`);
  // Flags that say two things: one would be ignored silently.
  if (values.tsv && format !== undefined && format !== 'tsv') throw usageError(`--tsv and --input-format ${format} say two formats: give one`);
  if (values.tsv && values.delimiter !== undefined && values.delimiter !== '\t') throw usageError(`--tsv reads tab-separated input: --delimiter ${JSON.stringify(values.delimiter)} says another; give one`);
  const inputFormat: InputFormat | undefined = documents.files ? undefined : values.tsv ? 'tsv' : format === 'paths' ? undefined : (format ?? formatFromName(file));
  let inputColumns: string[] | undefined;
  const warned = new Set<string>();
  const warnOnce = (line: string) => {
    if (!warned.has(line)) say(line);
    warned.add(line);
  };
  // A recipe that reads documents from a column the table lacks (helper-89: `pdf_path`, not `file`): which column would do.
  const attachHint = (columns: readonly string[]) => {
    const fields = config.attach ?? [];
    if (values.attach?.length || fields.length === 0 || fields.some((field) => columns.includes(field))) return '';
    // By a word of its name (`pdf_path`, `File URL`), not any run of letters (`profile` holds "file").
    const paths = columns.find((column) => /(^|[^a-z])(paths?|files?|pdfs?|urls?|documents?|attachments?|scans?|images?)([^a-z]|$)/i.test(column));
    return `; the recipe reads its documents from the column ${fields.join(', ')}, which this header lacks: ${paths === undefined ? 'name the column of paths so, or give --attach COLUMN' : `give --attach ${shellWord(paths)}`}`;
  };
  const checkColumns = (columns: string[], line = 1) => {
    inputColumns = columns;
    if (columns.length === 0) return; // empty input: nothing to check, nothing will be sent
    // A CSV of documents (an attached column) is checked against the document prompt.
    // A mistyped --attach first: it decides which prompt the rows are asked (helper-60: the text prompt's missing column was said instead).
    const noDocument = values.attach?.find((field) => !columns.includes(field));
    if (noDocument !== undefined && !values['allow-missing']) {
      throw usageError(`${inputName(file)}:${line}: --attach ${shown(noDocument)}: the header has no such column (columns: ${columnList(columns)}); fix the name, or give --allow-missing if only some rows have documents`);
    }
    const withDocuments = config.documentPrompt !== undefined && documents.attach.some((field) => columns.includes(field));
    const missing = missingColumns(withDocuments ? (config.documentPrompt ?? config.prompt) : config.prompt, columns);
    if (missing.length > 0 && !values['allow-missing']) {
      // A typo's closest column (not one that differs by its spaces alone: the column list says those).
      const near = missing.map((m) => closest(m, columns)).filter((c, i): c is string => c !== undefined && c.trim() !== missing[i]);
      const guess = near.length > 0 ? `did you mean ${near.map((c) => `{{${c}}}`).join(', ')}?; ` : '';
      throw withoutHint(usageError(`${inputName(file)}:${line}: the prompt uses ${missing.map((m) => `{{${m}}}`).join(', ')}, but the header has no such column (${guess}columns: ${columnList(columns)})${attachHint(columns)}`));
    }
  };
  const readOptions: ReadOptions = {
    format: inputFormat,
    file,
    onColumns: checkColumns,
    encoding: values.encoding,
    delimiter: values.delimiter,
    header: !values['no-header'],
    onWarning: (line) => warnOnce(line),
  };
  // Records of documents are checked against the document prompt (a recipe's), when there is one.
  const template = (documents.files || documents.attach.length > 0 ? config.documentPrompt : undefined) ?? config.prompt;
  // Said at the first record: bytes that are no table (a PDF on stdin) are named as such first.
  const promptProblem = !documents.files && documents.attach.length === 0 ? noFieldProblem(template) : undefined;
  const firstChecks = { template, answerFields: answerFields(config), idField: values['id-field'], attach: values.attach ?? [], allowMissing: values['allow-missing'], file, warn: warnOnce };
  return {
    file,
    rereadable: documents.input !== undefined || (file !== '-' && regularFile(file)),
    documents,
    open: async () => documents.input ?? (file === '-' ? fromStdin(io, say) : await openInput(file)),
    read: (chunks) => firstRows(checkFirstRecord(namingAField(documents.read ? documents.read(chunks) : readRecords(readOptions)(chunks), promptProblem), firstChecks), values.limit),
    // As the run will attach them (the run has the Files API: `--upload` as given), so that what
    // --dry-run shows and what the estimates count is what the run sends: a file the run uploads is
    // a `file_id` (its sha256 here), never refused as too big to go inline.
    offline: (records) =>
      documents.attach.length
        ? attachDocuments({ fields: documents.attach, baseDir: documents.baseDir, model: config.model, upload: documents.upload, canUpload: true, oversizedImage: documents.oversizedImage, filesUnder: values['files-under'], file })(records)
        : records,
    columns: () => inputColumns,
    leaveOut: (files) => {
      for (const file of files) earlier.set(file.id, file);
    },
  };
}

/** Whether `file` is a regular file (through links); false when it is missing (opening it says why). */
function regularFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * stdin as the input; when it is a terminal (no FILE given, nothing piped in), said first: a filter
 * that waits on a terminal in silence looks hung.
 */
function fromStdin(io: CliIo, say: (line: string) => void): NodeJS.ReadableStream {
  if ((io.stdin as { isTTY?: boolean }).isTTY) say('reading records from this terminal (no FILE given): type them, then Ctrl-D to end; or give a FILE, or pipe the input in');
  return io.stdin;
}

/** Counts a FILE's records (of `shard`, when given), stopping after `stopAfter` (enough to decide `--mode auto`). */
export async function countRows(input: Input, stopAfter: number, shard?: Shard): Promise<number> {
  let rows = 0;
  const records = input.read(await input.open());
  for await (const _ of shard ? takeShard(records, shard) : records) if (++rows > stopAfter) break;
  return rows;
}

/**
 * A header's column names for a message: as they are, unless one has spaces around it, or a comma or
 * a quote in it (`name , email` read as `name ` and ` email`), then each quoted, and the spaces named.
 */
export function columnList(columns: readonly string[]): string {
  if (columns.every((name) => name === name.trim() && !/[,"]/.test(name))) return columns.join(', ');
  const spaced = columns.some((name) => name !== name.trim());
  return `${columns.map((name) => JSON.stringify(name)).join(', ')}${spaced ? ': spaces around a name are part of it' : ''}`;
}

/** The records, refused at the first with `problem` when there is one (a usage error); as they are when there is none (no step a record). */
function namingAField<T>(records: AsyncIterable<T>, problem: string | undefined): AsyncIterable<T> {
  if (problem === undefined) return records;
  return (async function* () {
    for await (const _ of records) throw usageError(problem);
  })();
}
