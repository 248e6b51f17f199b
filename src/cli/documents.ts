/**
 * The CLI's document options in one place, so the command module only wires them: folder and
 * `--input-format paths` input, `--attach FIELD` (or the recipe's `attach`), `--upload`, and the
 * summary's upload line.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { usageError } from '../errors.ts';
import type { UploadCounts } from '../client/uploads.ts';
import type { UploadMode } from '../stages/attach.ts';
import { PATH_FIELD, readFolder, readOne, readPaths } from '../stages/paths.ts';
import { documentFile } from '../core/sniff.ts';
import type { SourceRecord } from '../stages/read.ts';
import { count, formatBytes } from './text.ts';

export interface DocumentInput {
  /** The files themselves are the input (a folder, or a list of paths): one record per file. */
  files: boolean;
  /** Replaces the byte input for a folder (nothing to read from it). */
  input?: NodeJS.ReadableStream;
  /** Replaces the record reader for files input. */
  read?: (chunks: AsyncIterable<Buffer | string>) => AsyncGenerator<SourceRecord>;
  /** The fields to attach; empty: no documents. */
  attach: string[];
  baseDir: string;
  upload: UploadMode;
  oversizedImage: 'downsize' | 'error' | undefined;
}

/** The document flags, as parsed (their values checked by the flag table). */
export interface DocumentFlags {
  inputFormat?: string | undefined;
  attach?: string[] | undefined;
  upload: UploadMode;
  oversizedImage?: 'downsize' | 'error' | undefined;
  /** A folder's files to leave out: those the run writes (`writtenByRun`). */
  skip?: ((path: string) => boolean) | undefined;
}

/** Works out where documents come from and how they go, from FILE, the flags and the recipe's `attach`. */
export function documentInput(file: string, flags: DocumentFlags, recipeAttach: readonly string[] | undefined): DocumentInput {
  const { inputFormat, attach, upload, oversizedImage, skip } = flags;
  let folder = false;
  let single = false;
  if (file !== '-') {
    try {
      const info = statSync(file);
      folder = info.isDirectory();
      // One document as FILE is a folder of one (unless --input-format says how to read it as text).
      single = info.isFile() && inputFormat === undefined && isDocumentFile(file);
    } catch {
      // A missing FILE is reported where it is opened.
    }
  }
  const paths = inputFormat === 'paths';
  if (folder && inputFormat !== undefined) throw usageError(`${file} is a folder: its files are the input (one record each), so --input-format does not apply`);
  const files = folder || single || paths;
  return {
    files,
    ...(folder ? { input: Readable.from([]), read: () => readFolder(file, { skip }) } : single ? { input: Readable.from([]), read: () => readOne(file) } : paths ? { read: readPaths(file) } : {}),
    attach: attach ?? (files ? [PATH_FIELD] : [...(recipeAttach ?? [])]),
    // Paths in a FILE are relative to its folder; in stdin, a folder's records or a path list, to the working directory.
    baseDir: files || file === '-' ? process.cwd() : dirname(resolve(file)),
    upload,
    oversizedImage,
  };
}

/** Whether a file is a document to send (a PDF, an image, an e-mail), by its first bytes or its name. */
function isDocumentFile(file: string): boolean {
  const head = Buffer.alloc(16);
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    return documentFile(head.subarray(0, readSync(fd, head, 0, head.length, 0)), file);
  } catch {
    return false; // unreadable: reported where it is opened
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The summary line about uploads, when there were documents to upload. */
export function uploadLine(counts: UploadCounts): string | undefined {
  if (counts.uploaded === 0 && counts.reused === 0) return undefined;
  return `files: ${count(counts.uploaded)} uploaded (${formatBytes(counts.bytes)}), ${count(counts.reused)} reused (uploaded by an earlier run)`;
}
