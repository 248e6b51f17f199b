/**
 * `--input-format paths`: a list of paths, one a line, as `find`, `ls` or a Windows tool writes it,
 * gives one record per path, under every chunking.
 */
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPaths } from '../../src/stages/paths.ts';
import { chunkings, source } from '../helpers/chunks.ts';

const A = 'fixtures/documents/contract.pdf';
const B = 'fixtures/documents/report.docx';

async function paths(chunks: Buffer[]): Promise<[number, unknown, unknown][]> {
  const out: [number, unknown, unknown][] = [];
  for await (const record of readPaths()(source(chunks))) out.push([record.line, record.data['path'], record.data['bytes'] === null ? 'unreadable' : 'read']);
  return out;
}

describe('readPaths', () => {
  // helper-74: `find -print0` (the one safe list of names that may hold a line break) gave one or two
  // records failing with ERR_INVALID_ARG_VALUE for the whole list.
  it('a NUL-separated list (find -print0, as xargs -0 reads it): one record per entry, each at its number, a name with a line break or blanks kept whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-paths0-'));
    const odd = join(dir, 'two\nlines .pdf');
    writeFileSync(odd, '%PDF-1.4\n');
    for (const { label, chunks } of chunkings(`${A}\0${odd}\0${B}\0`)) {
      expect(await paths(chunks), label).toEqual([[1, A, 'read'], [2, odd, 'read'], [3, B, 'read']]);
    }
    // Without the last NUL too, and with empty entries (two NULs in a row) skipped.
    expect(await paths([Buffer.from(`${A}\0\0${B}`)])).toEqual([[1, A, 'read'], [3, B, 'read']]);
    // helper-76: the first name holding a line break made the list one of lines (the case NUL lists are for).
    for (const { label, chunks } of chunkings(`${odd}\0${A}\0`)) {
      expect(await paths(chunks), label).toEqual([[1, odd, 'read'], [2, A, 'read']]);
    }
  });

  it('one record per non-blank line, CRLF, LF or CR, each at its line', async () => {
    for (const { label, chunks } of chunkings(`${A}\r\n\r\n${B}\r${A}\n`)) {
      expect(await paths(chunks), label).toEqual([[1, A, 'read'], [3, B, 'read'], [4, A, 'read']]);
    }
  });

  it('a line with blanks around a path that exists only without them names that file; a name with such blanks that exists is kept as it is', async () => {
    // helper-51: "  a.pdf " from a hand-edited list was its record's document_missing.
    for (const { label, chunks } of chunkings(`  ${A}\t\n${B} \n`)) {
      expect(await paths(chunks), label).toEqual([[1, A, 'read'], [2, B, 'read']]);
    }
    const dir = mkdtempSync(join(tmpdir(), 'be-paths-'));
    const spaced = join(dir, ' padded.pdf ');
    writeFileSync(spaced, '%PDF-1.4\n');
    // The name without its trailing blank exists too: the line names the file with it (helper-55: the
    // decoy was another name, so a check that preferred the trimmed one passed as well).
    writeFileSync(spaced.trimEnd(), '%PDF-1.4\n% another\n');
    expect(await paths([Buffer.from(`${spaced}\n`)])).toEqual([[1, spaced, 'read']]);
    // Blanks around a path found neither way: the line as written is what its error names.
    expect(await paths([Buffer.from(' missing.pdf \n')])).toEqual([[1, ' missing.pdf ', 'unreadable']]);
  });

  it('a list with a byte order mark (Notepad, PowerShell): UTF-8 or UTF-16, the mark is not part of the first path', async () => {
    // helper-40: the UTF-8 BOM stayed in the first path (document_missing), and a UTF-16 list (what
    // Windows PowerShell 5.1 writes with `>`) gave 5 records of NUL-riddled paths for 2.
    const lines = `${A}\r\n${B}\r\n`;
    const lists = {
      'UTF-8 BOM': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines)]),
      'UTF-16 LE': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(lines, 'utf16le')]),
      'UTF-16 BE': Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(lines, 'utf16le').swap16()]),
    };
    for (const [name, bytes] of Object.entries(lists)) {
      for (const { label, chunks } of chunkings(bytes)) expect(await paths(chunks), `${name}, ${label}`).toEqual([[1, A, 'read'], [2, B, 'read']]);
    }
    // A name with non-ASCII letters, in UTF-16 (an entry each, named by its number, as a line is).
    const named = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('fixtures/documents/Rechnung-Müller.pdf\n', 'utf16le')]);
    expect(await paths([named])).toEqual([[1, 'fixtures/documents/Rechnung-Müller.pdf', 'unreadable']]);
  });
});

// helper-74: a Latin-1 name listed by `find` (its bytes as they are) was read as UTF-8, its é a U+FFFD,
// and reported "no such file", though a folder names the same file "not UTF-8", with how to rename it.
describe('readPaths: a listed name that is not UTF-8', () => {
  it('is its record’s document_unreadable, saying so and how to rename it; the other lines are read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'be-paths-latin1-'));
    const latin1 = Buffer.concat([Buffer.from(`${dir}/Rechnung_M`), Buffer.from([0xfc]), Buffer.from('ller.pdf')]);
    writeFileSync(latin1, '%PDF-1.4\n');
    const list = Buffer.concat([latin1, Buffer.from(`\n${A}\n`)]);
    const records = [];
    for await (const record of readPaths()(source([list]))) records.push(record);
    expect(records.map((r) => [r.line, r.error?.type ?? 'ok'])).toEqual([[1, 'document_unreadable'], [2, 'ok']]);
    expect(records[0]?.error?.message).toMatch(/^<stdin>:1: .*Rechnung_M\uFFFDller\.pdf: the listed name is not UTF-8 \(its bytes are not\), so it cannot be named to read it: rename it in UTF-8 \(convmv -f cp1252 -t utf8 --notest FILE\), or give its folder as the input/);
  });
});

// helper-60: a file whose name is not UTF-8 (a Windows ZIP, an old Samba share: `Rechnung_M\xfcller.pdf`
// in Latin-1) was read back by its lossy name and reported "no such file", though it was there.
// helper-74: a file over the Files API's 500 MB in a folder was read whole to hash it, then refused.
describe('readFolder: a file over 500 MB', () => {
  it('is not read to hash it: its sha256 is null, its size is given', async () => {
    const { readFolder } = await import('../../src/stages/paths.ts');
    const dir = mkdtempSync(join(tmpdir(), 'be-huge-'));
    const huge = join(dir, 'video.mov');
    // Sparse: 501 MB that take no disk.
    const file = openSync(huge, 'w');
    ftruncateSync(file, 501 * 1024 * 1024);
    closeSync(file);
    writeFileSync(join(dir, 'ok.txt'), 'fine');
    const records = [];
    for await (const record of readFolder(dir)) records.push(record.data);
    expect(records).toEqual([
      { path: join(dir, 'ok.txt'), name: 'ok.txt', bytes: 4, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      { path: huge, name: 'video.mov', bytes: 501 * 1024 * 1024, sha256: null },
    ]);
  });
});

describe('readFolder: a file name that is not UTF-8', () => {
  it('is a record of its own that says so and how to rename it; the other files are read', async () => {
    const { readFolder } = await import('../../src/stages/paths.ts');
    const dir = mkdtempSync(join(tmpdir(), 'be-names-'));
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/Rechnung_M`), Buffer.from([0xfc]), Buffer.from('ller.pdf')]), '%PDF-1.4\n');
    writeFileSync(join(dir, 'ok.txt'), 'fine');
    const records = [];
    for await (const record of readFolder(dir)) records.push(record);
    expect(records.map((r) => [r.data['name'], r.error?.type])).toEqual([
      ['Rechnung_M\ufffdller.pdf', 'document_unreadable'],
      ['ok.txt', undefined],
    ]);
    expect(records[0]?.error?.message).toBe(`${dir}:1: ${dir}/Rechnung_M\ufffdller.pdf: its name is not UTF-8 (the byte 0xfc), so it cannot be named to read it: rename it in UTF-8 (convmv -r -f cp1252 -t utf8 --notest ${dir} renames every name under the folder)`);
  });

  // note 44: the hint named a folder given as `-scans` as it is, which convmv takes for an option.
  it('a folder whose name starts with - is named ./-… in the convmv hint', async () => {
    const { readFolder } = await import('../../src/stages/paths.ts');
    const parent = mkdtempSync(join(tmpdir(), 'be-names-'));
    mkdirSync(join(parent, '-scans'));
    writeFileSync(Buffer.concat([Buffer.from(`${parent}/-scans/M`), Buffer.from([0xfc]), Buffer.from('ller.pdf')]), '%PDF-1.4\n');
    const cwd = process.cwd();
    process.chdir(parent);
    try {
      const records = [];
      for await (const record of readFolder('-scans')) records.push(record);
      expect(records[0]?.error?.message).toMatch(/\(convmv -r -f cp1252 -t utf8 --notest \.\/-scans renames every name under the folder\)$/);
    } finally {
      process.chdir(cwd);
    }
  });

  // helper-63: a folder of such a name hid its files without saying so, and valid UTF-8 bytes were listed too.
  it('a folder of such a name says its files are not in the input; only the bytes that are not UTF-8 are listed', async () => {
    const { readFolder } = await import('../../src/stages/paths.ts');
    const dir = mkdtempSync(join(tmpdir(), 'be-names-'));
    const bad = Buffer.concat([Buffer.from(`${dir}/Caf`), Buffer.from([0xc3, 0xa9, 0xfc])]);
    mkdirSync(bad);
    writeFileSync(Buffer.concat([bad, Buffer.from('/a.pdf')]), '%PDF-1.4\n');
    const records = [];
    for await (const record of readFolder(dir)) records.push(record);
    expect(records).toHaveLength(1);
    expect(records[0]?.error?.message).toBe(`${dir}:1: ${dir}/Café\ufffd: a folder whose name is not UTF-8 (the byte 0xfc): its files are not in the input: rename it in UTF-8 (convmv -r -f cp1252 -t utf8 --notest ${dir} renames every name under the folder)`);
  });
});
