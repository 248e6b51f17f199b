import { findModel } from '../../src/core/models.ts';
import { describe, expect, it } from 'vitest';
import {
  blocksOf,
  DocumentProblem,
  elideBase64,
  imageTokens,
  inspectDocument,
  pdfPageLimit,
  pdfStreams,
  pdfText,
  preflight,
  type Inspected,
} from '../../src/core/documents.ts';
import { contractPdf, corruptPdf, email, encryptedPdf, invoicePdf, jpeg, officeFile, png, textPdf, zipFile } from '../../fixtures/documents/make.mjs';

async function problemOf(bytes: Uint8Array, name = 'f'): Promise<DocumentProblem> {
  try {
    await inspectDocument(bytes, name);
  } catch (error) {
    if (error instanceof DocumentProblem) return error;
    throw error;
  }
  throw new Error('expected a DocumentProblem');
}

describe('inspectDocument: the type from the bytes, not the name', () => {
  it('a PDF is a document with its page count, whatever it is called', async () => {
    const doc = await inspectDocument(await contractPdf(), 'contract.txt');
    expect(doc).toMatchObject({ kind: 'pdf', mediaType: 'application/pdf', pages: 2 });
  });

  it('PNG, JPEG, GIF and WebP are images with their dimensions', async () => {
    expect(await inspectDocument(png(300, 120), 'scan.pdf')).toMatchObject({ kind: 'image', mediaType: 'image/png', width: 300, height: 120 });
    // Headers are all image-size and file-type read: a JPEG SOF0, a GIF89a and a VP8X WebP.
    const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000ffc0000b080064009601011100ffd9', 'hex');
    expect(await inspectDocument(jpeg, 'x')).toMatchObject({ kind: 'image', mediaType: 'image/jpeg', width: 150, height: 100 });
    const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.from([20, 0, 10, 0, 0, 0, 0]), Buffer.from(';')]);
    expect(await inspectDocument(gif, 'x')).toMatchObject({ kind: 'image', mediaType: 'image/gif', width: 20, height: 10 });
    const webp = Buffer.concat([Buffer.from('RIFF'), Buffer.from([30, 0, 0, 0]), Buffer.from('WEBPVP8X'), Buffer.from([10, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 49, 0, 0]), Buffer.alloc(8)]);
    expect(await inspectDocument(webp, 'x')).toMatchObject({ kind: 'image', mediaType: 'image/webp', width: 100, height: 50 });
  });

  it('text, markdown, CSV, JSON and HTML are plain-text documents', async () => {
    for (const text of ['plain words', '# Title\n\n- item', 'a,b\n1,2\n', '{"a":1}', '<html><body>hi</body></html>', '\ufeffBOM text']) {
      const doc = await inspectDocument(Buffer.from(text), 'x');
      expect(doc.kind).toBe('text');
      expect((doc as { text: string }).text).toBe(text.replace('\ufeff', ''));
    }
  });

  it('an e-mail: its headers and body as text, its PDF attachment as a document', async () => {
    const doc = await inspectDocument(email(await invoicePdf(42)), 'mail.eml');
    expect(doc.kind).toBe('email');
    const mail = doc as Extract<Inspected, { kind: 'email' }>;
    expect(mail.text).toContain('Subject: Invoice INV-00042');
    expect(mail.text).toMatch(/^From: .*Billing.* <billing@acme.example>/m);
    expect(mail.text).toContain('please find invoice INV-00042 attached');
    expect(mail.attachments).toHaveLength(1);
    expect(mail.attachments[0]).toMatchObject({ kind: 'pdf', pages: 1 });
    const blocks = blocksOf(doc, 'mail.eml', () => ({ type: 'inline' }));
    expect(blocks.map((b) => [b.type, 'source' in b ? b.source.type : ''])).toEqual([
      ['document', 'text'],
      ['document', 'base64'],
    ]);
  });

  it("an e-mail attachment's document title carries its own file name (mail.eml › INV-00042.pdf), a forwarded one's the path to it", async () => {
    const mail = await inspectDocument(email(await invoicePdf(42)), 'mail.eml');
    const titles = blocksOf(mail, 'mail.eml', () => ({ type: 'inline' })).map((b) => ('title' in b ? b.title : undefined));
    expect(titles).toEqual(['mail.eml', 'mail.eml › INV-00042.pdf']);
  });

  it('a document title is at most 500 characters (the API refuses longer), cut in the middle so that both ends stay', async () => {
    // helper-41: an attachment with a 524-character name (RFC 2231) made a 537-character title, which the API refuses.
    const name = `${'Rechnung-'.repeat(60)}😀-final.pdf`;
    const text = { kind: 'text' as const, mediaType: 'text/plain' as const, text: 'x' };
    const [block] = blocksOf(text, `mail.eml › ${name}`, () => ({ type: 'inline' }));
    const title = block && 'title' in block ? (block.title ?? '') : '';
    expect([...title].length).toBe(500);
    expect(title.startsWith('mail.eml › Rechnung-')).toBe(true);
    expect(title.endsWith('😀-final.pdf')).toBe(true);
    expect(title).toContain('…');
    expect(title).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    // A title that fits is as it was.
    const [short] = blocksOf(text, 'a.txt', () => ({ type: 'inline' }));
    expect(short && 'title' in short ? short.title : undefined).toBe('a.txt');
  });

  it('a forwarded e-mail (message/rfc822) attached to one: its text is sent, and its PDF as a document; a text attachment is sent as text', async () => {
    const inner = email(await invoicePdf(7));
    const forward = Buffer.from(
      [
        'From: Clerk <clerk@northwind.example>',
        'To: ap@northwind.example',
        'Subject: Fwd: Invoice INV-00007',
        'Date: Sun, 15 Mar 2026 09:00:00 +0000',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="f1"',
        '',
        '--f1',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Please pay the one below.',
        '--f1',
        'Content-Type: message/rfc822',
        'Content-Disposition: attachment; filename="original.eml"',
        '',
        inner.toString('latin1'),
        '--f1',
        'Content-Type: text/plain; charset=utf-8; name="po.txt"',
        'Content-Disposition: attachment; filename="po.txt"',
        '',
        'PO-991 approved by Finance',
        '--f1--',
        '',
      ].join('\r\n'),
      'latin1',
    );
    const doc = (await inspectDocument(forward, 'fwd.eml')) as Extract<Inspected, { kind: 'email' }>;
    expect(doc.kind).toBe('email');
    expect(doc.text).toContain('Please pay the one below.');
    expect(doc.text).toContain('Subject: Invoice INV-00042');
    expect(doc.text).toContain('please find invoice INV-00042 attached');
    expect(doc.text).toContain('PO-991 approved by Finance');
    expect(doc.text).not.toContain('not sent');
    expect(doc.attachments).toHaveLength(1);
    expect(doc.attachments[0]).toMatchObject({ kind: 'pdf', pages: 1 });
    expect(blocksOf(doc, 'fwd.eml', () => ({ type: 'inline' })).map((b) => ('title' in b ? b.title : undefined))).toEqual(['fwd.eml', 'fwd.eml › original.eml › INV-00042.pdf']);
  });

  it('an e-mail in an 8-bit charset (ISO-8859-1, as mail clients still send): read with its charset, not refused as binary', async () => {
    const mail = Buffer.concat([
      Buffer.from('From: a@x.de\r\nTo: b@x.de\r\nSubject: Rechnung f', 'latin1'),
      Buffer.from([0xfc]),
      Buffer.from('r M', 'latin1'),
      Buffer.from([0xe4]),
      Buffer.from('rz\r\nDate: Tue, 14 Mar 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nSumme 120,00 EUR, f', 'latin1'),
      Buffer.from([0xe4]),
      Buffer.from('llig\r\n', 'latin1'),
    ]);
    const doc = await inspectDocument(mail, 'l.eml');
    expect(doc.kind).toBe('email');
    expect((doc as { text: string }).text).toContain('Subject: Rechnung für März');
    expect((doc as { text: string }).text).toContain('Summe 120,00 EUR, fällig');
  });

  it('text with a UTF-16 byte order mark is text (not taken for audio by its first bytes)', async () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Invoice total: 12 €\n', 'utf16le')]);
    expect(await inspectDocument(le, 'notes.txt')).toMatchObject({ kind: 'text', text: 'Invoice total: 12 €\n' });
    const be = Buffer.from([0xfe, 0xff, ...Buffer.from('Hi\n', 'utf16le').swap16()]);
    expect(await inspectDocument(be, 'notes.txt')).toMatchObject({ kind: 'text', text: 'Hi\n' });
    expect((await problemOf(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(' \n', 'utf16le')]), 'blank.txt')).message).toBe('blank.txt: an empty document (nothing in it but white space)');
    // The same two bytes at the start of binary data that decodes to control characters: not text.
    expect((await problemOf(Buffer.from([0xff, 0xfe, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00]), 'x.bin')).type).toBe('document_unsupported');
  });

  // helper-74: UTF-16 text without a byte order mark (as some exports and `iconv -t UTF-16LE` write
  // it) was "binary data". Its every other byte is NUL while its text is Latin script.
  it('UTF-16 text without a byte order mark is text, LE or BE; binary with NULs is not', async () => {
    const text = 'Invoice 2041\nTotal: 1.250,00 € due 2026-12-31\nCustomer: Müller GmbH\n';
    expect(await inspectDocument(Buffer.from(text, 'utf16le'), 'notes.txt')).toMatchObject({ kind: 'text', text });
    expect(await inspectDocument(Buffer.from(text, 'utf16le').swap16(), 'notes.txt')).toMatchObject({ kind: 'text', text });
    // Binary whose every other byte is NUL, that decodes to control characters: not text.
    expect((await problemOf(Buffer.from([0x01, 0, 0x02, 0, 0x03, 0, 0x10, 0, 0x11, 0, 0x12, 0]), 'x.bin')).type).toBe('document_unsupported');
    // An odd number of bytes is not UTF-16.
    expect((await problemOf(Buffer.concat([Buffer.from(text, 'utf16le'), Buffer.from([0x41])]), 'y.bin')).type).toBe('document_unsupported');
  });

  // helper-74: a UTF-32 text file with its byte order mark was "audio/mpeg (.mp1)".
  it('text with a UTF-32 byte order mark is text too', async () => {
    const utf32 = (text: string, le: boolean) => {
      const points = [0xfeff, ...[...text].map((c) => c.codePointAt(0) as number)];
      const out = Buffer.alloc(points.length * 4);
      points.forEach((p, i) => (le ? out.writeUInt32LE(p, i * 4) : out.writeUInt32BE(p, i * 4)));
      return out;
    };
    expect(await inspectDocument(utf32('Invoice total: 12 € 😀\n', true), 'notes.txt')).toMatchObject({ kind: 'text', text: 'Invoice total: 12 € 😀\n' });
    expect(await inspectDocument(utf32('Hi\n', false), 'notes.txt')).toMatchObject({ kind: 'text', text: 'Hi\n' });
  });

  it('text that is not UTF-8 is named as such, with what to do', async () => {
    const latin = Buffer.from('Stra\xdfe 5, M\xfcnchen\n', 'latin1');
    const problem = await problemOf(latin, 'address.txt');
    expect(problem.type).toBe('document_unsupported');
    // The command names the file (it converted nothing without it) and where the UTF-8 copy goes.
    expect(problem.message).toBe("address.txt: text that is not UTF-8 (windows-1252, as far as can be told): convert it to UTF-8 first, e.g. iconv -f windows-1252 -t utf-8 address.txt > address.utf-8.txt");
    const csv = await problemOf(latin, "exports/O'Brien list.csv");
    expect(csv.message).toMatch(/e\.g\. iconv -f windows-1252 -t utf-8 'exports\/O'\\''Brien list\.csv' > 'exports\/O'\\''Brien list\.utf-8\.csv'$/);
  });

  // helper-60: "application/x-cfb (.cfb) is not supported" for an Outlook .msg, and no hint for an iPhone's HEIC photo.
  it('an Outlook .msg and a HEIC photo are named as such, with how to convert them', async () => {
    const cfb = Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), Buffer.alloc(504)]);
    expect((await problemOf(cfb, 'mail/INV 7.msg')).message).toBe(
      "mail/INV 7.msg: an Outlook message (.msg) is not supported: send PDF, JPEG, PNG, GIF, WebP, plain text or e-mail (.eml); convert it to .eml first, e.g. msgconvert 'mail/INV 7.msg' (Debian: libemail-outlook-message-perl)",
    );
    const heic = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic'), Buffer.alloc(4), Buffer.from('mif1heic'), Buffer.alloc(64)]);
    expect((await problemOf(heic, 'IMG_0042.HEIC')).message).toBe(
      'IMG_0042.HEIC: a HEIC photo (.heic) is not supported: send PDF, JPEG, PNG, GIF, WebP, plain text or e-mail (.eml); convert it to JPEG first, e.g. heif-convert IMG_0042.HEIC IMG_0042.jpg (Debian: libheif-examples)',
    );
  });

  // helper-64: file-type names UTF-8 calendars and contact cards (text/calendar, text/vcard): they were
  // refused as binary, so every meeting invite in an e-mail was an attachment not sent.
  it('a calendar (.ics) or a contact card (.vcf) in UTF-8 is text', async () => {
    const ics = Buffer.from('BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Invoice review\r\nDTSTART:20260314T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n');
    expect(await inspectDocument(ics, 'invite.ics')).toMatchObject({ kind: 'text', text: expect.stringContaining('SUMMARY:Invoice review') });
    const vcf = Buffer.from('BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ana Müller\r\nEND:VCARD\r\n');
    expect(await inspectDocument(vcf, 'ana.vcf')).toMatchObject({ kind: 'text', text: expect.stringContaining('FN:Ana Müller') });
  });

  it('an office document (Word, Excel) is named as one, with how to make it a PDF', async () => {
    const word = await problemOf(officeFile('docx'), 'contracts/msa.docx');
    expect(word.type).toBe('document_unsupported');
    expect(word.message).toBe(
      'contracts/msa.docx: a Word document (.docx) is not supported: send PDF, JPEG, PNG, GIF, WebP, plain text or e-mail (.eml); convert it to PDF first, e.g. libreoffice --headless --convert-to pdf --outdir contracts contracts/msa.docx',
    );
    expect((await problemOf(officeFile('xlsx'), 'q3.xlsx')).message).toMatch(/^q3\.xlsx: an Excel workbook \(\.xlsx\) is not supported: .*; convert it to PDF first, e\.g\. libreoffice --headless --convert-to pdf --outdir \. q3\.xlsx$/);
    // helper-74: without --outdir, libreoffice wrote the PDF into the working directory, where a rerun over the folder did not find it.
    // The command suggested is one a shell runs as it is printed.
    expect((await problemOf(officeFile('docx'), "contracts/O'Brien MSA.docx")).message).toMatch(/libreoffice --headless --convert-to pdf --outdir contracts 'contracts\/O'\\''Brien MSA\.docx'$/);
    // A name that starts with - would be taken for an option.
    expect((await problemOf(officeFile('docx'), '-draft.docx')).message).toMatch(/libreoffice --headless --convert-to pdf --outdir \. \.\/-draft\.docx$/);
    // A ZIP the sniffer cannot tell apart (its parts further in) is still named by its file name.
    expect((await problemOf(zipFile(), 'report.docx')).message).toMatch(/^report\.docx: a Word document \(\.docx\) is not supported: .*libreoffice/);
    expect((await problemOf(zipFile(), 'odd.constructor')).message).toMatch(/^odd\.constructor: application\/zip \(\.zip\) is not supported: send PDF[^;]*$/);
    expect((await problemOf(zipFile(), 'photos.zip')).message).toMatch(/^photos\.zip: application\/zip \(\.zip\) is not supported: send PDF[^;]*$/);
  });

  // helper-74: a PDF with bytes before its header (a gateway's banner, HTTP headers saved with the
  // download, a byte order mark) opens in every viewer, and was refused as "binary data".
  it('a PDF with bytes before its %PDF- header, within its first 1,024, is that PDF, sent from its header', async () => {
    const pdf = await contractPdf();
    for (const junk of ['\ufeff', 'HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n\r\n', '\x00\x01garbage\xff\n']) {
      const doc = await inspectDocument(Buffer.concat([Buffer.from(junk, 'latin1'), pdf]), 'contract.pdf');
      expect(doc, JSON.stringify(junk)).toMatchObject({ kind: 'pdf', mediaType: 'application/pdf', pages: 2 });
      expect(Buffer.from((doc as { bytes: Uint8Array }).bytes).equals(Buffer.from(pdf))).toBe(true);
    }
    // Further in than viewers look, or text that only mentions the header: not a PDF.
    expect((await problemOf(Buffer.concat([Buffer.alloc(1100, 0x20), Buffer.from([0, 1]), pdf]), 'far.pdf')).type).toBe('document_unsupported');
    expect(await inspectDocument(Buffer.from('Notes: the header is %PDF-1.7 then objects.'), 'notes.txt')).toMatchObject({ kind: 'text' });
  });

  it('a TIFF scan is refused with how to make it a PDF (its pages together)', async () => {
    const tiff = Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0, 0, 0, 0, 0]);
    expect((await problemOf(tiff, 'scans/fax 12.tif')).message).toBe(
      "scans/fax 12.tif: a TIFF image (.tif) is not supported: send PDF, JPEG, PNG, GIF, WebP, plain text or e-mail (.eml); convert it to PDF first, e.g. tiff2pdf -o 'scans/fax 12.pdf' 'scans/fax 12.tif' (Debian: libtiff-tools)",
    );
  });

  // helper-82: an e-mail with a PDF attached in binary (NUL bytes, %PDF- in its first KB) was sent as
  // that PDF alone, its headers and text taken for junk before it.
  it('an e-mail whose attachment is binary (NUL bytes) is an e-mail, not a PDF behind junk', async () => {
    const pdf = Buffer.from(await contractPdf());
    const mail = Buffer.concat([
      Buffer.from(['From: legal@firm.example', 'To: ap@corp.example', 'Subject: Contract', 'Date: Fri, 01 Mar 2024 10:00:00 +0100', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b0"', '', '--b0', 'Content-Type: text/plain', '', 'The fee is 12,000 EUR.', '--b0', 'Content-Type: application/pdf; name="c.pdf"', 'Content-Disposition: attachment; filename="c.pdf"', 'Content-Transfer-Encoding: binary', '', ''].join('\r\n')),
      pdf,
      Buffer.from('\r\n--b0--\r\n'),
    ]);
    expect(mail.includes(0)).toBe(true);
    const doc = await inspectDocument(mail, 'contract-mail.eml');
    expect(doc.kind).toBe('email');
    expect((doc as { text: string }).text).toContain('The fee is 12,000 EUR.');
  });

  // helper-83 #5 (left in note 48): the same message saved by a mail program, as an mbox (its From line
  // first) or an Apple Mail .emlx (its byte count first), was refused as binary data.
  it('that message as an mbox or an .emlx is an e-mail too', async () => {
    const pdf = Buffer.from(await contractPdf());
    const message = Buffer.concat([
      Buffer.from(['From: legal@firm.example', 'To: ap@corp.example', 'Subject: Contract', 'Date: Fri, 01 Mar 2024 10:00:00 +0100', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b0"', '', '--b0', 'Content-Type: text/plain', '', 'The fee is 12,000 EUR.', '--b0', 'Content-Type: application/pdf; name="c.pdf"', 'Content-Disposition: attachment; filename="c.pdf"', 'Content-Transfer-Encoding: binary', '', ''].join('\n')),
      pdf,
      Buffer.from('\n--b0--\n'),
    ]);
    const mbox = Buffer.concat([Buffer.from('From legal@firm.example Fri Mar  1 10:00:00 2024\n'), message]);
    const emlx = Buffer.concat([Buffer.from(`${message.length}\n`), message, Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict/></plist>\n')]);
    for (const [bytes, name] of [[mbox, 'contract.mbox'], [emlx, '123.emlx']] as const) {
      const doc = await inspectDocument(bytes, name);
      expect(doc.kind, name).toBe('email');
      expect((doc as { text: string }).text).toContain('The fee is 12,000 EUR.');
      expect((doc as { attachments: { kind: string; pages?: number }[] }).attachments).toMatchObject([{ kind: 'pdf', pages: 2 }]);
    }
  });

  // helper-83: header lines without MIME before a PDF were read as an e-mail whose body was the PDF's
  // bytes; a PDF behind a banner with padding after its %%EOF was refused.
  it('a PDF behind header lines that make no MIME message, or padded after its end, is still that PDF', async () => {
    const pdf = Buffer.from(await contractPdf());
    const banner = Buffer.from('From: scanner@office.example\r\nTo: ap@corp.example\r\nSubject: Scan\r\nDate: Fri, 01 Mar 2024 10:00:00 +0100\r\n\r\n');
    expect(await inspectDocument(Buffer.concat([banner, pdf]), 'scan.pdf')).toMatchObject({ kind: 'pdf', pages: 2 });
    expect(await inspectDocument(Buffer.concat([Buffer.from('X-Scanned-By: gw\r\n\r\n'), pdf, Buffer.alloc(3000, 0x0a)]), 'padded.pdf')).toMatchObject({ kind: 'pdf', pages: 2 });
  });

  it('DOCX/XLSX (ZIP), binary junk, an encrypted PDF and a damaged PDF are named problems', async () => {
    expect((await problemOf(zipFile(), 'report.docx')).type).toBe('document_unsupported');
    expect((await problemOf(Buffer.from([0, 1, 2, 3, 250, 251]))).type).toBe('document_unsupported');
    const encrypted = await problemOf(await encryptedPdf(), 'locked.pdf');
    expect(encrypted.type).toBe('document_encrypted');
    expect(encrypted.message).toMatch(/^locked\.pdf: .*encrypted/);
    const corrupt = await problemOf(corruptPdf(), 'broken.pdf');
    expect(corrupt.type).toBe('document_unreadable');
    expect(corrupt.message).toMatch(/^broken\.pdf: a damaged PDF/);
    // A view into a larger buffer: the bytes after its end (here the rest of the PNG) must not be read.
    expect((await problemOf(new Uint8Array(png(10, 10)).subarray(0, 16), 'cut.png')).type).toBe('document_unreadable');
  });
});

// helper-80: mailparser puts the time of reading for a Date header it cannot parse, so the text sent,
// and the request's key, changed at every run: each rerun paid again, and a --no-wait loop never ended.
// One it parsed went out in UTC: "Fri, 01 Mar 2024 00:30:00 +0100" as 2024-02-29T23:30:00.000Z.
describe("inspectDocument: an e-mail's Date header is sent as written", () => {
  const mail = (date: string) => Buffer.from(`From: rechnung@firma.example\r\nTo: c@d.example\r\nDate: ${date}\r\nSubject: Rechnung\r\n\r\nBetrag 10 EUR\r\n`);
  it.each([
    ['Tue, 5 Mar 2024 10:00:00 CET'],
    ['31/12/2024 14:00'],
    ['garbage'],
    ['Fri, 01 Mar 2024 00:30:00 +0100'],
  ])('%s', async (date) => {
    const first = (await inspectDocument(mail(date), 'm.eml')) as { text: string };
    expect(first.text).toContain(`\nDate: ${date}\n`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(((await inspectDocument(mail(date), 'm.eml')) as { text: string }).text).toBe(first.text);
  });

  it('a Date header in UTF-8 (a German month) is read as UTF-8, as the Subject is', async () => {
    const utf8 = Buffer.from('From: a@b.example\r\nDate: Fr, 01 Mär 2024 10:00:00 +0100\r\nSubject: Rechnung März\r\n\r\nbody\r\n');
    const text = ((await inspectDocument(utf8, 'u.eml')) as { text: string }).text;
    expect(text).toContain('\nDate: Fr, 01 Mär 2024 10:00:00 +0100\n');
    expect(text).toContain('Subject: Rechnung März');
  });

  it('a folded Date header is unfolded; an e-mail without one has no Date line', async () => {
    const folded = Buffer.from('From: a@b.example\r\nDate: Fri, 01 Mar 2024\r\n 00:30:00 +0100\r\nSubject: s\r\n\r\nbody\r\n');
    expect(((await inspectDocument(folded, 'f.eml')) as { text: string }).text).toContain('\nDate: Fri, 01 Mar 2024 00:30:00 +0100\n');
    const none = Buffer.from('From: a@b.example\r\nSubject: s\r\n\r\nbody\r\n');
    expect(((await inspectDocument(none, 'n.eml')) as { text: string }).text).not.toContain('Date:');
  });
});

// helper-80: an HTML invoice lost its table (cells run together: "Consulting hours12150.001800.00") and
// had its headings upper-cased; a text part that only says to view the HTML was sent alone.
describe("inspectDocument: an e-mail's HTML body keeps its tables and headings", () => {
  const TABLE = '<html><body><h1>Invoice INV-9</h1><table><tr><th>Description</th><th>Qty</th><th>Amount</th></tr><tr><td>Consulting hours</td><td>12</td><td>1800.00</td></tr></table><p>Total due: USD 1800.00</p></body></html>';
  const head = ['From: billing@vendor.example', 'To: ap@corp.example', 'Subject: Your invoice INV-9', 'Date: Mon, 04 Mar 2024 12:00:00 +0000', 'MIME-Version: 1.0'];
  const textOf = async (lines: string[]) => ((await inspectDocument(Buffer.from(lines.join('\r\n')), 'm.eml')) as { text: string }).text;

  it('an HTML-only message: cells apart, headings as written', async () => {
    const text = await textOf([...head, 'Content-Type: text/html; charset=utf-8', '', TABLE, '']);
    expect(text).toContain('Invoice INV-9\n');
    expect(text).toMatch(/Consulting hours +12 +1800\.00/);
    expect(text).toContain('Total due: USD 1800.00');
  });

  // helper-83: a text part taken for a "view it in HTML" stub ("open it in your browser") was
  // replaced by an HTML part beside it, its own words lost, and real short messages changed key. A
  // message with a text part is sent as mailparser makes it, a stub too.
  it('a text part that mentions a browser, beside an HTML report part, is sent with it, as mailparser merges them', async () => {
    const text = await textOf([
      ...head, 'Content-Type: multipart/mixed; boundary="m1"', '',
      '--m1', 'Content-Type: text/plain; charset=utf-8', '', 'Hi Ann, the audit report is attached; open it in your browser. I approve the 12,500 EUR budget for Q4. Bob',
      '--m1', 'Content-Type: text/html; charset=utf-8', '', '<html><body><h2>Audit report</h2><table><tr><td>Servers</td><td>9,000</td></tr></table></body></html>', '--m1--', '',
    ]);
    expect(text).toContain('I approve the 12,500 EUR budget for Q4. Bob');
    expect(text).toContain('9,000');
  });

  it('a real text part is sent as written, the HTML left out', async () => {
    const text = await textOf([
      ...head, 'Content-Type: multipart/alternative; boundary="a1"', '',
      '--a1', 'Content-Type: text/plain; charset=utf-8', '', 'Invoice INV-9: 12 hours of consulting, USD 1800.00 due by 31 March.',
      '--a1', 'Content-Type: text/html; charset=utf-8', '', TABLE, '--a1--', '',
    ]);
    expect(text).toContain('Invoice INV-9: 12 hours of consulting, USD 1800.00 due by 31 March.');
    expect(text).not.toContain('Consulting hours');
  });

  // note 48/49: a text part that only says to view the HTML ("best viewed in a browser") was sent alone:
  // the invoice in the HTML beside it never reached the model. Now the HTML's text follows the short
  // text part, whose own words are kept (helper-83: a short message that mentions a browser lost them).
  it('a short text part beside an HTML alternative that says more: both are sent, the text part first', async () => {
    const stub = 'This email is best viewed in HTML. View it in your browser: https://vendor.example/i/9';
    const text = await textOf([
      ...head, 'Content-Type: multipart/alternative; boundary="a1"', '',
      '--a1', 'Content-Type: text/plain; charset=utf-8', '', stub,
      '--a1', 'Content-Type: text/html; charset=utf-8', '', TABLE, '--a1--', '',
    ]);
    expect(text).toContain(stub);
    expect(text).toMatch(/Consulting hours +12 +1800\.00/);
    expect(text.indexOf(stub)).toBeLessThan(text.indexOf('Consulting hours'));
  });

  // helper-93 #2: the stub rule caught short replies whose HTML holds the same words and a signature
  // or a quoted thread: sent twice, under new keys, and paid again. It also missed stubs in other languages.
  it.each([
    ['a reply that mentions viewing, its HTML the same words', 'Hi Bob, can you view the attached numbers and confirm? Thanks, Alice', '<p>Hi Bob, can you view the attached numbers and confirm? Thanks, Alice</p>'],
    ['a short reply, its HTML with a signature', 'Approved. -A', '<p>Approved. -A</p><p>--<br>Alice Example<br>Head of Finance<br>ACME Corp, 1 Main St</p>'],
    ['a short reply, its HTML with the quoted thread', 'Yes, 3pm works.', '<p>Yes, 3pm works.</p><blockquote>On Monday Bob wrote: can we meet at 3pm on Thursday about the Q3 invoices and the budget?</blockquote>'],
  ])('%s: the text part alone, as before', async (_case, plain, html) => {
    const text = await textOf([...head, 'Content-Type: multipart/alternative; boundary="a1"', '', '--a1', 'Content-Type: text/plain; charset=utf-8', '', plain, '--a1', 'Content-Type: text/html; charset=utf-8', '', html, '--a1--', '']);
    expect(text).not.toContain('--- The HTML part, as text ---');
  });

  it.each([
    ['French', 'Voir la version en ligne : https://vendor.example/i/9'],
    ['Spanish', 'Ver la versión web: https://vendor.example/i/9'],
  ])('a stub in %s is followed by the HTML', async (_case, stub) => {
    const text = await textOf([...head, 'Content-Type: multipart/alternative; boundary="a1"', '', '--a1', 'Content-Type: text/plain; charset=utf-8', '', stub, '--a1', 'Content-Type: text/html; charset=utf-8', '', TABLE, '--a1--', '']);
    expect(text).toMatch(/Consulting hours +12 +1800\.00/);
  });

  // helper-84 #1: mailparser writes an inline image's `cid:` link as a `data:` URI, and html-to-text
  // printed each <img> src: a 140 KB logo went out twice, once as 188,000 characters of base64 text
  // (a 10-word invoice at 49,572 input tokens), and six banners put a message over the context window.
  it('an HTML-only message with inline images: each image as its alt text, sent once as an image', async () => {
    const logo = jpeg(64, 48).toString('base64');
    const text = await textOf([
      ...head, 'Content-Type: multipart/related; boundary="r1"', '',
      '--r1', 'Content-Type: text/html; charset=utf-8', '',
      '<p>Invoice 43: total EUR 10.00</p><p>Kind regards<br><img src="cid:sig@corp" alt="BigCorp"> <img src="cid:sig@corp"> <img src="data:image/png;base64,iVBORw0KGgo=" alt="stamp"></p>',
      '--r1', 'Content-Type: image/jpeg', 'Content-Transfer-Encoding: base64', 'Content-ID: <sig@corp>', 'Content-Disposition: inline; filename="logo.jpg"', '', logo, '--r1--', '',
    ]);
    expect(text).toContain('Invoice 43: total EUR 10.00');
    expect(text).toMatch(/Kind regards\nBigCorp +stamp/);
    expect(text).not.toMatch(/data:|base64|cid:/);
    const inspected = (await inspectDocument(Buffer.from([...head, 'Content-Type: multipart/related; boundary="r1"', '', '--r1', 'Content-Type: text/html; charset=utf-8', '', '<p>x</p><img src="cid:sig@corp" alt="BigCorp">', '--r1', 'Content-Type: image/jpeg', 'Content-Transfer-Encoding: base64', 'Content-ID: <sig@corp>', '', logo, '--r1--', ''].join('\r\n')), 'm.eml')) as { attachments: { kind: string }[] };
    expect(inspected.attachments.map((a) => a.kind)).toEqual(['image']);
  });

  // helper-86 #3: a link to the message's own part (`<a href="cid:…">`) went out as its base64 too.
  it("a link to the message's own part is its text alone", async () => {
    const logo = png(2, 2).toString('base64');
    const text = await textOf([
      ...head, 'Content-Type: multipart/related; boundary="r1"', '',
      '--r1', 'Content-Type: text/html; charset=utf-8', '', '<p>Invoice 43 attached. <a href="cid:scan@x">Open the scan</a>, or <a href="https://vendor.example/i/43">view it online</a>.</p>',
      '--r1', 'Content-Type: image/png', 'Content-Transfer-Encoding: base64', 'Content-ID: <scan@x>', '', logo, '--r1--', '',
    ]);
    expect(text).toContain('Open the scan, or view it online [https://vendor.example/i/43].');
    expect(text).not.toMatch(/data:|base64|cid:/);
  });

  // helper-86 #6: an image written into the HTML itself (a pasted screenshot, `data:` in its src) was
  // left out without a word: it is sent as an image, as the message's own image parts are.
  it('an image written into the HTML (a data: URI) is sent as an image, its alt text in the text', async () => {
    const shot = png(40, 30).toString('base64');
    const doc = (await inspectDocument(
      Buffer.from([...head, 'Content-Type: text/html; charset=utf-8', '', `<p>See the screenshot:</p><img src="data:image/png;base64,${shot}" alt="pasted screenshot"><img src='data:image/png;base64,${shot}'><img src="data:image/png;base64,AAAA" alt="broken">`, ''].join('\r\n')),
      'm.eml',
    )) as { text: string; attachments: { kind: string; attachment?: string; width?: number }[]; notSent?: string[] };
    expect(doc.text).toContain('See the screenshot:\n\npasted screenshot');
    expect(doc.text).not.toMatch(/data:|base64/);
    expect(doc.attachments).toMatchObject([{ kind: 'image', attachment: 'image 1 in its HTML (pasted screenshot)', width: 40 }]);
    expect(doc.text).toContain('Attachments sent as documents: 1 (each sent once: image 1 in its HTML (pasted screenshot), attached again as image 2 in its HTML)');
    expect(doc.notSent).toEqual(['image 3 in its HTML (broken) (document_unsupported)']);
  });

  // helper-87 #7: a data: URI with a parameter before base64 (name=, charset=) was left out of the
  // text and never sent; an SVG written in the HTML was left out without a word.
  it('an image written into the HTML with parameters in its data: URI is sent; one that is no image it can send is named', async () => {
    const shot = png(40, 30).toString('base64');
    const doc = (await inspectDocument(
      Buffer.from([...head, 'Content-Type: text/html; charset=utf-8', '', `<p>Receipt photo:</p><img alt="receipt" src="data:image/png;name=receipt.png;base64,${shot}"><img alt="chart" src="data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg'><text>Total 42</text></svg>">`, ''].join('\r\n')),
      'm.eml',
    )) as { text: string; attachments: { attachment?: string }[]; notSent?: string[] };
    expect(doc.attachments.map((a) => a.attachment)).toEqual(['image 1 in its HTML (receipt)']);
    expect(doc.notSent).toEqual(['image 2 in its HTML (chart) (image/svg+xml, not an image the API reads)']);
  });

  it('an image with a web address keeps it, as a link is kept', async () => {
    const text = await textOf([...head, 'Content-Type: text/html; charset=utf-8', '', '<p>Chart: <img src="https://vendor.example/chart.png" alt="Q4 chart"></p>', '']);
    expect(text).toContain('Q4 chart [https://vendor.example/chart.png]');
  });
});

// helper-84 #2: a failed download saved under the file's name (an HTML error page, an S3 JSON error)
// was sent as a text document and came back "enriched" with made-up invoice fields, exit 0.
describe('inspectDocument: a .pdf or image file that holds text is document_unreadable', () => {
  it.each([
    ['download-failed.pdf', '<html><body><h1>403 Forbidden</h1></body></html>', 'a PDF', /^download-failed\.pdf: named \.pdf, but it holds text, not a PDF \(it starts "<html><body><h1>403 Forbidden<\/h1><\/body><\/html>"\): a page or message saved in its place\?/],
    ['s3.PDF', '{"error":"expired link"}\n', 'a PDF', /^s3\.PDF: named \.PDF, but it holds text, not a PDF \(it starts "\{"error":"expired link"\}"\)/],
    ['scan.jpg', 'AccessDenied: Request has expired', 'an image', /^scan\.jpg: named \.jpg, but it holds text, not an image/],
    ['mail.eml attachment invoice.pdf', 'Not Found', 'a PDF', /^mail\.eml attachment invoice\.pdf: named \.pdf, but it holds text/],
  ])('%s', async (name, content, _what, message) => {
    expect(await problemOf(Buffer.from(content), name)).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(message) });
  });

  // helper-86 #8: in another encoding than UTF-8 it was told to convert the page with iconv, into a
  // file the rule above would then refuse.
  it('a page in windows-1252 named .pdf is refused as the same', async () => {
    const page = Buffer.from('<html><head><title>Zugriff verweigert</title></head><body>F\xfcr diese Datei fehlt die Berechtigung.</body></html>\n', 'latin1');
    expect(await problemOf(page, 'denied.pdf')).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(/^denied\.pdf: named \.pdf, but it holds text, not a PDF \(it starts "<html><head><title>Zugriff verweigert<\/title><\/head><body>Fü…"\)/) });
  });

  it('a UTF-16 text named .png is refused too; text under a text name, or no name, is text', async () => {
    const wide = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<Error>NoSuchKey</Error>', 'utf16le')]);
    expect(await problemOf(wide, 'photo.png')).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(/^photo\.png: named \.png, but it holds text/) });
    expect(await inspectDocument(Buffer.from('<html>403</html>'), 'page.html')).toMatchObject({ kind: 'text' });
    expect(await inspectDocument(Buffer.from('Total 10 EUR'), 'notes')).toMatchObject({ kind: 'text' });
    expect(await inspectDocument(Buffer.from('Total 10 EUR'), 'report.pdf.txt')).toMatchObject({ kind: 'text' });
  });
});

describe('inspectDocument: a damaged or cut-short image is document_unreadable, before paying', () => {
  // A PNG cut in its IDAT data passed (its size is in the IHDR at the start) and was sent; a PNG
  // damaged after its signature was document_unsupported, though the README says damaged files are
  // document_unreadable.
  it('a PNG or JPEG cut short, or damaged, names the file and the problem', async () => {
    const whole = png(400, 560);
    expect(await inspectDocument(whole, 'scan.png')).toMatchObject({ kind: 'image', width: 400, height: 560 });
    const cut = await problemOf(whole.subarray(0, Math.floor(whole.length * 0.6)), 'scan.png');
    expect(cut).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(/^scan\.png: a damaged PNG image \(cut short: its IDAT chunk at byte 33 runs past the end of the file, at byte 828\)/) });
    const noEnd = await problemOf(whole.subarray(0, whole.length - 12), 'noend.png');
    expect(noEnd).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(/^noend\.png: a damaged PNG image \(cut short: no IEND chunk/) });
    const garbage = await problemOf(Buffer.concat([whole.subarray(0, 8), Buffer.alloc(200, 7)]), 'garbage.png');
    expect(garbage).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(/^garbage\.png: a damaged PNG image/) });
    const scribbled = Buffer.from(whole);
    scribbled.fill(0xff, 60, 90);
    expect(await problemOf(scribbled, 'crc.png')).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(/^crc\.png: a damaged PNG image \(its IDAT chunk at byte 33 fails its CRC/) });

    const photo = jpeg(64, 48);
    expect(await inspectDocument(photo, 'photo.jpg')).toMatchObject({ kind: 'image', mediaType: 'image/jpeg', width: 64, height: 48 });
    // Data after the end-of-image marker (a camera's trailer) is not damage.
    expect(await inspectDocument(Buffer.concat([photo, Buffer.from('trailer')]), 'trailer.jpg')).toMatchObject({ kind: 'image' });
    expect(await problemOf(photo.subarray(0, photo.length - 2), 'cut.jpg')).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(/^cut\.jpg: a damaged JPEG image \(cut short: no end-of-image marker \(FFD9\)/) });
    expect(await problemOf(photo.subarray(0, 30), 'head.jpg')).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(/^head\.jpg: a damaged JPEG image \(cut short/) });
  });
});

// helper-60: a PDF whose structure pdf-lib loads but cannot walk (a download cut short, a catalog without
// pages, a page tree that loops) threw pdf-lib's own error past the attach stage: the whole run failed
// (exit 1, nothing written, no file named) instead of that record getting document_unreadable.
describe('inspectDocument: a PDF damaged anywhere is document_unreadable, never an error that ends the run', () => {
  /** A hand-written PDF of these objects (1 0 obj is the catalog), with a correct xref table. */
  const handPdf = (objects: string[]) => {
    let out = '%PDF-1.4\n';
    const offsets: number[] = [];
    objects.forEach((o, i) => {
      offsets.push(out.length);
      out += `${i + 1} 0 obj\n${o}\nendobj\n`;
    });
    const xref = out.length;
    out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
    out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
    return Buffer.from(out, 'latin1');
  };

  it('a catalog without pages, a page tree that is no tree, or loops: each named', async () => {
    const cases: [string, Buffer][] = [
      ['no-pages.pdf', handPdf(['<< /Type /Catalog >>'])],
      ['pages-not-dict.pdf', handPdf(['<< /Type /Catalog /Pages 2 0 R >>', '42'])],
      ['kids-missing.pdf', handPdf(['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Count 3 >>'])],
      ['kids-loop.pdf', handPdf(['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [2 0 R] /Count 1 >>'])],
    ];
    for (const [name, bytes] of cases) {
      const problem = await problemOf(bytes, name);
      expect(problem.type, name).toBe('document_unreadable');
      expect(problem.message, name).toMatch(new RegExp(`^${name.replace('.', '\\.')}: a (damaged PDF|PDF without pages)`));
      // In the file's terms, not JavaScript's ("Cannot read properties of undefined (reading 'Pages')").
      expect(problem.message, name).not.toMatch(/Cannot read|undefined|is not a function|call stack/);
    }
    expect((await problemOf(cases[3]![1], 'loop.pdf')).message).toBe('loop.pdf: a damaged PDF (its page tree loops, or is nested too deep)');
  });

  it('every cut of a PDF (a download that stopped early), with and without object streams, inspects or is a named problem', async () => {
    for (const pdf of [await invoicePdf(1), await textPdf([['a'], ['b']], { objectStreams: true })]) {
      const other: string[] = [];
      for (let n = 1; n < pdf.length; n += 3) {
        try {
          await inspectDocument(Buffer.from(pdf).subarray(0, n), 'cut.pdf');
        } catch (error) {
          if (!(error instanceof DocumentProblem)) other.push(`${n}: ${(error as Error).message}`);
        }
      }
      expect(other).toEqual([]);
    }
    const cut = await invoicePdf(1);
    expect((await problemOf(Buffer.from(cut).subarray(0, Math.floor(cut.length / 2)), 'half.pdf')).message).toBe('half.pdf: a damaged PDF (cut short: it does not end with %%EOF, as a download that stopped)');
  }, 60_000);

  it('an e-mail its parser gives up on (3,000 nested multiparts) is document_unreadable, named', async () => {
    const head = ['From: a@b.example', 'To: c@d.example', 'Subject: s', 'Date: Sat, 14 Mar 2026 10:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b0"', ''];
    const deep = [...head];
    for (let i = 0; i < 3000; i++) deep.push(`--b${i}`, `Content-Type: multipart/mixed; boundary="b${i + 1}"`, '');
    deep.push('--b3000', 'Content-Type: text/plain', '', 'deep body', '');
    const problem = await problemOf(Buffer.from(deep.join('\r\n'), 'latin1'), 'deep.eml');
    expect(problem).toMatchObject({ type: 'document_unreadable', message: expect.stringMatching(/^deep\.eml: an e-mail that cannot be read \(/) });
  });

  // helper-60: a text attachment in the charset its MIME part declares was re-sniffed as bytes, found not UTF-8, and left out.
  it("a text attachment is read in the charset its part declares (windows-1252), not left out", async () => {
    const mail = [
      'From: Billing <billing@acme.example>', 'To: ap@northwind.example', 'Subject: Remittance', 'Date: Sat, 14 Mar 2026 10:00:00 +0000', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'Remittance advice attached.', '--b1',
      'Content-Type: text/plain; charset=windows-1252; name="remit.txt"', 'Content-Disposition: attachment; filename="remit.txt"', 'Content-Transfer-Encoding: base64', '',
      Buffer.from('Zahlung f\xfcr Rechnung 5: 120,00 \x80', 'latin1').toString('base64'), '--b1--', '',
    ].join('\r\n');
    const doc = await inspectDocument(Buffer.from(mail), 'remit.eml');
    expect(doc.kind === 'email' ? doc.text : '').toContain('--- Attached text (remit.txt) ---\nZahlung für Rechnung 5: 120,00 €\n');
    expect(doc.kind === 'email' ? doc.notSent : ['?']).toBeUndefined();
  });

  // helper-63: decoding every text/* part by its declared charset turned a PDF labelled text/plain into
  // a damaged file, and UTF-8 labelled iso-8859-1 into mojibake; both were read right before.
  it('a part whose bytes are a known binary type, or already UTF-8, is not decoded by the charset it declares', async () => {
    const pdf = await invoicePdf(8);
    const part = (type: string, name: string, bytes: Uint8Array) => [`Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', Buffer.from(bytes).toString('base64')];
    const mail = [
      'From: a@b.example', 'To: c@d.example', 'Subject: s', 'Date: Sat, 14 Mar 2026 10:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
      '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'body', '--b1',
      ...part('text/plain; charset=iso-8859-1', 'invoice.pdf', pdf), '--b1',
      ...part('text/plain; charset=iso-8859-1', 'note.txt', Buffer.from('Café Müller')), '--b1--', '',
    ].join('\r\n');
    const doc = await inspectDocument(Buffer.from(mail), 'm.eml');
    expect(doc.kind === 'email' ? doc.attachments.map((a) => a.kind) : []).toEqual(['pdf']);
    expect(doc.kind === 'email' ? doc.text : '').toContain('Café Müller');
    expect(doc.kind === 'email' ? doc.notSent : ['?']).toBeUndefined();
    // helper-64: XML, which file-type names but which is text, is decoded by its declared charset again.
    const xml = [
      'From: a@b.example', 'To: c@d.example', 'Subject: s', 'Date: Sat, 14 Mar 2026 10:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
      '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'body', '--b1',
      ...part('text/xml; charset=windows-1252', 'a.xml', Buffer.from('<?xml version="1.0"?><name>M\xfcller Caf\xe9</name>', 'latin1')), '--b1--', '',
    ].join('\r\n');
    const withXml = await inspectDocument(Buffer.from(xml), 'x.eml');
    expect(withXml.kind === 'email' ? withXml.text : '').toContain('<name>Müller Café</name>');
  });

  // helper-60: an mbox export (Thunderbird's "From - …" first line) was sent as raw MIME text, base64 of its PDF and all.
  it("an e-mail saved by a mail program: an mbox export's From line and an Apple Mail .emlx byte count are taken off", async () => {
    const message = email(await invoicePdf(5));
    for (const [label, bytes] of [
      ['mbox', Buffer.concat([Buffer.from('From - Sat Mar 14 10:00:00 2026\r\n'), message])],
      ['emlx', Buffer.concat([Buffer.from(`${message.length}\n`), message, Buffer.from('<?xml version="1.0"?>\n<plist version="1.0"><dict/></plist>\n')])],
    ] as const) {
      const doc = await inspectDocument(bytes, `inv.${label}`);
      expect(doc.kind, label).toBe('email');
      expect(doc.kind === 'email' ? doc.attachments.map((a) => a.kind) : [], label).toEqual(['pdf']);
      expect(doc.kind === 'email' ? doc.text : '', label).not.toContain('plist');
    }
    // A text file that starts with a number is still text.
    expect(await inspectDocument(Buffer.from('42\nanswers to everything\n'), 'n.txt')).toMatchObject({ kind: 'text' });
  });

  // helper-63: a Thunderbird folder export holds many messages: the rest were read as the first one's body.
  it('an mbox of several messages is refused with how to split it; one message has its >From lines unquoted; a memo starting "From the desk" is text', async () => {
    const message = email(await invoicePdf(5));
    const two = Buffer.concat([Buffer.from('From - Sat Mar 14 10:00:00 2026\n'), message, Buffer.from('\nFrom - Sun Mar 15 10:00:00 2026\n'), message]);
    // helper-64: `git mailsplit -o DIR` fails; it takes -oDIR, into a folder that exists.
    expect(await problemOf(two, 'Inbox.mbox')).toMatchObject({ type: 'document_unsupported', message: 'Inbox.mbox: an mbox of 2 messages: split it into one file a message first, e.g. mkdir mails && git mailsplit --mboxrd -omails Inbox.mbox' });
    const quoted = Buffer.from(['From sender@b.example Sat Mar 14 10:00:00 2026', 'From: a@b.example', 'To: c@d.example', 'Subject: s', 'Date: Sat, 14 Mar 2026 10:00:00 +0000', '', '>From the start, we agreed.', ''].join('\n'));
    const one = await inspectDocument(quoted, 'one.mbox');
    expect(one.kind === 'email' ? one.text : '').toContain('\nFrom the start, we agreed.');
    const memo = Buffer.from(['From the desk of the CFO', 'From: a@b.example', 'To: c@d.example', 'Subject: budget', '', 'Numbers attached.', ''].join('\n'));
    expect((await inspectDocument(memo, 'memo.txt')).kind).toBe('text');
  });

  it("an e-mail's damaged PDF attachment is named among the attachments not sent; the e-mail is read", async () => {
    const head = ['From: a@b.example', 'To: c@d.example', 'Subject: s', 'Date: Sat, 14 Mar 2026 10:00:00 +0000', 'MIME-Version: 1.0'];
    const bad = handPdf(['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [2 0 R] /Count 1 >>']).toString('base64');
    const mail = [...head, 'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', 'the invoice', '--b1', 'Content-Type: application/pdf; name="x.pdf"', 'Content-Disposition: attachment; filename="x.pdf"', 'Content-Transfer-Encoding: base64', '', bad, '--b1--', ''];
    const doc = await inspectDocument(Buffer.from(mail.join('\r\n'), 'latin1'), 'm.eml');
    expect(doc.kind).toBe('email');
    expect(doc.kind === 'email' ? doc.text : '').toMatch(/Attachments not sent: x\.pdf \(document_unreadable\)/);
  });
});

// helper-94 #1: a Flate stream whose compressed bytes end in 0x0D (CR) lost that byte to the line end
// before `endstream`: it could not be inflated, so its text went uncounted (a text page estimated as a
// blank scan) and, in an object stream, the emulator found no pages and refused a valid PDF.
describe('pdfStreams: a stream whose data ends in a CR', () => {
  const { deflateSync } = require('node:zlib') as typeof import('node:zlib');
  let text = '';
  let data = Buffer.alloc(0);
  for (let i = 0; ; i++) {
    text = `BT /F1 12 Tf (Invoice INV-${i} total due 120.00) Tj ET`;
    data = deflateSync(Buffer.from(text, 'latin1'));
    if (data[data.length - 1] === 0x0d) break;
  }
  const pdf = (length: string) =>
    Buffer.concat([Buffer.from(`%PDF-1.7\n4 0 obj\n<< /Length ${length} /Filter /FlateDecode >>\nstream\n`, 'latin1'), data, Buffer.from('\nendstream\nendobj\n', 'latin1')]);

  it('is read by its /Length', () => {
    expect(pdfStreams(pdf(String(data.length))).map((stream) => stream.inflated)).toEqual([true]);
    expect(pdfText(pdfStreams(pdf(String(data.length))))).toContain('total due 120.00');
  });

  it('with an indirect /Length, the CR taken for the line end is given back', () => {
    expect(pdfText(pdfStreams(pdf('9 0 R')))).toContain('total due 120.00');
  });
});

// helper-60: Word, LaTeX and browsers draw text with TJ arrays (strings with kerning between), which
// the estimate did not count: a dense contract priced about 30% under what the API bills.
describe('pdfText: the text a PDF draws, for its tokens', () => {
  it('reads Tj strings, TJ arrays (a wide gap between strings is a space) and the quote operators, in order', () => {
    const content = "BT /F1 12 Tf (Invoice) Tj [(To) -20 (tal) -250 (due:)] TJ [<3132> 30 (0.00)]TJ (next line) ' 0 0 (and another) \" ET";
    expect(pdfText([{ content, inflated: true }])).toBe('Invoice\nTotal due:\n120.00\nnext line\nand another');
  });

  // helper-63: a ] inside a string dropped its whole array, nested parentheses dropped a string, a
  // two-byte font's hex strings counted twice, and a stream of [ without ] took seconds (quadratic).
  it('reads strings as PDF writes them: brackets and nested parentheses inside, escapes, two-byte hex; only inside BT … ET', () => {
    const content = 'q (not shown) Tj BT [(See [1]) -300 (and more)] TJ (a(b)c \\) d) Tj <00480069> Tj (tab\\there\\101) Tj ET (after) Tj';
    expect(pdfText([{ content, inflated: true }])).toBe('See [1] and more\na(b)c ) d\nHi\ntab\thereA');
  });

  // helper-64: the bytes of an inline image (BI … ID … EI) were read as strings: one ( among them swallowed the text after.
  it("skips an inline image's data; a two-byte font's glyph ids up to 0x1fff count once", () => {
    for (const stray of ['(', '[', '<']) {
      const image = `q 10 0 0 10 0 0 cm BI /W 4 /H 4 /BPC 8 /CS /G ID \x01${stray}\x02\x03\xff\x00abc\nEI Q `;
      expect(pdfText([{ content: `${image}BT (After image) Tj ET`, inflated: true }]), stray).toBe('After image');
    }
    expect(pdfText([{ content: 'BT <01230456> Tj ET', inflated: true }])).toHaveLength(2);
  });

  // Quadratic, this takes minutes (341 s measured before): the test's timeout fails it.
  it('is linear: a stream of brackets and parentheses that never close is read at once', () => {
    expect(pdfText([{ content: `BT ${'['.repeat(200_000)}${'('.repeat(200_000)}`, inflated: true }])).toBe('');
  });

  it("reads no stream that cannot be a page's content: an embedded file, an image, a font, an object stream", () => {
    const noise = "BT (looks like) ' text [(and) (more)] TJ ET";
    for (const dict of ['<< /Type /EmbeddedFile /Length 40 >>', '<< /Type /XObject /Subtype /Image /Width 2 >>', '<< /Length1 900 /Length 40 >>', '<< /Type /ObjStm /N 3 >>']) {
      expect(pdfText([{ content: noise, inflated: false, dict }]), dict).toBe('');
    }
    expect(pdfText([{ content: noise, inflated: false, dict: '<< /Length 40 >>' }])).toBe('looks like\nandmore');
  });
});

describe('preflight: what the API would refuse, before paying', () => {
  it('pages over the model limit: 100, or 600 on 1M-context models', async () => {
    const doc = await inspectDocument(await textPdf(Array.from({ length: 101 }, (_, i) => [`page ${i + 1}`])), 'long.pdf');
    expect(pdfPageLimit('claude-haiku-4-5')).toBe(100);
    expect(pdfPageLimit('claude-sonnet-4-6')).toBe(600);
    expect(() => preflight([{ name: 'long.pdf', doc }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).toThrow(
      expect.objectContaining({ type: 'document_too_many_pages', message: expect.stringMatching(/^long\.pdf: 101 pages, over the 100-page limit/) }),
    );
    expect(() => preflight([{ name: 'long.pdf', doc }], { model: 'claude-sonnet-4-6', inlineBytes: 0 })).not.toThrow();
  });

  it('pages over the limit across the PDFs of one request (the limit is per request): two PDFs of 60 pages are refused together', async () => {
    const sixty = await textPdf(Array.from({ length: 60 }, (_, i) => [`page ${i + 1}`]));
    const a = await inspectDocument(sixty, 'a.pdf');
    const b = await inspectDocument(sixty, 'b.pdf');
    expect(() => preflight([{ name: 'a.pdf', doc: a }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).not.toThrow();
    expect(() => preflight([{ name: 'a.pdf', doc: a }, { name: 'b.pdf', doc: b }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).toThrow(
      expect.objectContaining({ type: 'document_too_many_pages', message: 'a.pdf, b.pdf: 120 PDF pages in one request (60 + 60), over the 100-page limit of claude-haiku-4-5; attach fewer documents to a record, or split them' }),
    );
    expect(() => preflight([{ name: 'a.pdf', doc: a }, { name: 'b.pdf', doc: b }], { model: 'claude-sonnet-4-6', inlineBytes: 0 })).not.toThrow();
  });

  it('a model that does not take PDF (or image) input: the document is document_unsupported, naming the file and the model', async () => {
    const pdf = await inspectDocument(await textPdf([['page 1']]), 'a.pdf');
    const image = await inspectDocument(png(20, 20), 'b.png');
    const textOnly = (id: string) => ({ ...findModel('claude-haiku-4-5')!, id, capabilities: { ...findModel('claude-haiku-4-5')!.capabilities, pdfInput: false, imageInput: false } });
    expect(() => preflight([{ name: 'a.pdf', doc: pdf }], { model: 'text-only', inlineBytes: 0, lookup: textOnly })).toThrow(
      expect.objectContaining({ type: 'document_unsupported', message: 'a.pdf: text-only does not take PDF input' }),
    );
    expect(() => preflight([{ name: 'b.png', doc: image }], { model: 'text-only', inlineBytes: 0, lookup: textOnly })).toThrow(
      expect.objectContaining({ type: 'document_unsupported', message: 'b.png: text-only does not take image input' }),
    );
    expect(() => preflight([{ name: 'a.pdf', doc: pdf }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).not.toThrow();
  });

  // helper-60: two limits the API enforces that neither this check nor the emulator did.
  it('an image sent inline over 5 MB as base64 is image_too_large, naming the file; uploaded, it is not', () => {
    const photo: Inspected = { kind: 'image', mediaType: 'image/jpeg', bytes: new Uint8Array(4_000_000), width: 3000, height: 4000 };
    expect(() => preflight([{ name: 'photo.jpg', doc: photo }], { model: 'claude-haiku-4-5', inlineBytes: 5_333_336, inline: () => true })).toThrow(
      expect.objectContaining({ type: 'image_too_large', message: "photo.jpg: 5,333,336 bytes as base64, over the API's 5 MB (5,242,880 bytes) for an image sent inline; send it with --upload files, or make it smaller" }),
    );
    expect(() => preflight([{ name: 'photo.jpg', doc: photo }], { model: 'claude-haiku-4-5', inlineBytes: 0, inline: () => false })).not.toThrow();
    const small: Inspected = { ...photo, bytes: new Uint8Array(3_900_000) };
    expect(() => preflight([{ name: 'small.jpg', doc: small }], { model: 'claude-haiku-4-5', inlineBytes: 5_200_000, inline: () => true })).not.toThrow();
  });

  it('images and PDF pages together over the per-request media limit (100; 600 on 1M-context models) are too_much_media', async () => {
    const image: Inspected = { kind: 'image', mediaType: 'image/png', bytes: new Uint8Array(10), width: 10, height: 10 };
    const mail: Inspected = { kind: 'email', text: 'scans', attachments: Array.from({ length: 101 }, (_, i) => ({ ...image, attachment: `p${i}.png` })) };
    expect(() => preflight([{ name: 'scans.eml', doc: mail }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).toThrow(
      expect.objectContaining({ type: 'too_much_media', message: 'scans.eml: 101 images and 0 PDF pages in one request, over the 100 a request of claude-haiku-4-5; attach fewer to a record' }),
    );
    const pdf = await inspectDocument(await textPdf(Array.from({ length: 60 }, (_, i) => [`page ${i + 1}`])), 'a.pdf');
    const fifty = { kind: 'email' as const, text: 'x', attachments: mail.attachments.slice(0, 41) };
    expect(() => preflight([{ name: 'a.pdf', doc: pdf }, { name: 'b.eml', doc: fifty }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).toThrow(
      expect.objectContaining({ type: 'too_much_media', message: 'a.pdf, b.eml: 41 images and 60 PDF pages in one request, over the 100 a request of claude-haiku-4-5; attach fewer to a record' }),
    );
    expect(() => preflight([{ name: 'scans.eml', doc: mail }], { model: 'claude-sonnet-4-6', inlineBytes: 0 })).not.toThrow();
    // helper-63: URL documents count too (the API fetches each: a page or an image), as the emulator counts them.
    const hundred = { kind: 'email' as const, text: 'x', attachments: mail.attachments.slice(0, 100) };
    expect(() => preflight([{ name: 'c.eml', doc: hundred }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).not.toThrow();
    expect(() => preflight([{ name: 'c.eml', doc: hundred }], { model: 'claude-haiku-4-5', inlineBytes: 0, urls: ['https://x.example/a.pdf'] })).toThrow(
      expect.objectContaining({ type: 'too_much_media', message: 'c.eml, https://x.example/a.pdf: 100 images, 0 PDF pages and 1 URL document in one request, over the 100 a request of claude-haiku-4-5; attach fewer to a record' }),
    );
    // helper-64: URLs alone were named by nothing (": 0 images, …").
    const urls = Array.from({ length: 101 }, (_, i) => `https://x.example/${i}.pdf`);
    expect(() => preflight([], { model: 'claude-haiku-4-5', inlineBytes: 0, urls })).toThrow(expect.objectContaining({ message: expect.stringMatching(/^https:\/\/x\.example\/0\.pdf, https:\/\/x\.example\/1\.pdf, https:\/\/x\.example\/2\.pdf and 98 more: 0 images, 0 PDF pages and 101 URL documents in one request/) }));
  });

  it('images over 8000 px a side, or 2000 px when a request has more than 20 images', async () => {
    const wide = await inspectDocument(png(8001, 2), 'wide.png');
    expect(() => preflight([{ name: 'wide.png', doc: wide }], { model: 'm', inlineBytes: 0 })).toThrow(expect.objectContaining({ type: 'image_too_large' }));
    expect(() => preflight([{ name: 'wide.png', doc: wide }], { model: 'm', inlineBytes: 0, oversized: 'downsize' })).not.toThrow();
    const mid = await inspectDocument(png(2001, 2), 'mid.png');
    const many = Array.from({ length: 21 }, (_, i) => ({ name: `p${i}.png`, doc: mid }));
    expect(() => preflight(many.slice(0, 20), { model: 'm', inlineBytes: 0 })).not.toThrow();
    expect(() => preflight(many, { model: 'm', inlineBytes: 0 })).toThrow(expect.objectContaining({ type: 'image_too_large', message: expect.stringMatching(/more than 20 images/) }));
  });

  it("an e-mail's attachment over a limit is named, not only the e-mail", async () => {
    const doc = await inspectDocument(email(await textPdf(Array.from({ length: 101 }, () => ['p']))), 'mail.eml');
    expect(() => preflight([{ name: 'mail.eml', doc }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).toThrow(
      expect.objectContaining({ type: 'document_too_many_pages', message: 'mail.eml, attachment INV-00042.pdf: 101 pages, over the 100-page limit of claude-haiku-4-5; split the PDF' }),
    );
  });

  // helper-84 #8: an e-mail whose body holds the answer failed whole for one PDF attachment over the
  // model's page limit, where an encrypted, cut or huge-image attachment is left out and named.
  it("an e-mail's PDF attachment over the model's page limit is left out and named, as other attachments that cannot be sent are", async () => {
    const doc = await inspectDocument(email(await textPdf(Array.from({ length: 101 }, () => ['p']))), 'mail.eml', { pageLimit: 100 });
    expect(doc).toMatchObject({ kind: 'email', attachments: [], notSent: ['INV-00042.pdf (document_too_many_pages: 101 pages, over the 100-page limit of a request to this model)'] });
    expect((doc as { text: string }).text).toContain('Attachments not sent: INV-00042.pdf (document_too_many_pages: 101 pages, over the 100-page limit of a request to this model)\n');
    expect(() => preflight([{ name: 'mail.eml', doc }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).not.toThrow();
    const fits = await inspectDocument(email(await textPdf(Array.from({ length: 100 }, () => ['p']))), 'mail.eml', { pageLimit: 100 });
    expect(fits).toMatchObject({ kind: 'email', attachments: [{ kind: 'pdf', pages: 100 }] });
  });

  // helper-86: two PDFs of 60 pages failed the whole e-mail (120 pages in one request); a forwarded
  // message's PDF over the limit was left out without a word on stderr.
  it("PDFs that fit alone but not together: the one that would cross the limit is left out; a forwarded message's is said too", async () => {
    const sixty = Buffer.from(await textPdf(Array.from({ length: 60 }, () => ['p']))).toString('base64');
    const sixtyOther = Buffer.from(await textPdf(Array.from({ length: 60 }, () => ['q']))).toString('base64');
    const pdf = (name: string, data: string) => ['--b1', `Content-Type: application/pdf; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', data];
    const message = ['From: a@b.example', 'Subject: Two', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', 'Total 10 EUR.', ...pdf('one.pdf', sixty), ...pdf('two.pdf', sixtyOther), '--b1--', ''].join('\r\n');
    const doc = (await inspectDocument(Buffer.from(message), 'm.eml', { pageLimit: 100 })) as { attachments: { attachment?: string }[]; notSent?: string[] };
    expect(doc.attachments.map((a) => a.attachment)).toEqual(['one.pdf']);
    expect(doc.notSent).toEqual(["two.pdf (document_too_many_pages: 60 pages, with the e-mail's 60 before it, over the 100-page limit of a request to this model)"]);
    expect(() => preflight([{ name: 'm.eml', doc: doc as Inspected }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).not.toThrow();

    const inner = email(await textPdf(Array.from({ length: 101 }, () => ['p'])));
    const forwarding = ['From: a@b.example', 'Subject: Fwd', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="f1"', '', '--f1', 'Content-Type: text/plain', '', 'See below.', '--f1', 'Content-Type: message/rfc822; name="orig.eml"', 'Content-Disposition: attachment; filename="orig.eml"', '', inner.toString('latin1'), '--f1--', ''].join('\r\n');
    const fwd = (await inspectDocument(Buffer.from(forwarding, 'latin1'), 'f.eml', { pageLimit: 100 })) as { attachments: unknown[]; notSent?: string[] };
    expect(fwd.attachments).toEqual([]);
    expect(fwd.notSent).toEqual(['orig.eml › INV-00042.pdf (document_too_many_pages: 101 pages, over the 100-page limit of a request to this model)']);
  });

  // helper-87 #8: PDF pages and images count together against what a request carries; a 95-page PDF
  // and 10 images failed the whole e-mail (too_much_media). A PDF left out and attached again is named as the same.
  it('images past what a request carries, with the PDF pages before them, are left out and named', async () => {
    const pdf95 = Buffer.from(await textPdf(Array.from({ length: 95 }, () => ['p']))).toString('base64');
    const part = (name: string, type: string, data: string) => ['--b1', `Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', data];
    const images = Array.from({ length: 10 }, (_, i) => part(`p${i}.png`, 'image/png', png(10 + i, 10).toString('base64'))).flat();
    const message = ['From: a@b.example', 'Subject: Order', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', 'Order 7781, total 480 EUR.', ...part('catalogue.pdf', 'application/pdf', pdf95), ...images, '--b1--', ''].join('\r\n');
    const doc = (await inspectDocument(Buffer.from(message), 'm.eml', { pageLimit: 100 })) as { attachments: { attachment?: string }[]; notSent?: string[] };
    expect(doc.attachments.map((a) => a.attachment)).toEqual(['catalogue.pdf', 'p0.png', 'p1.png', 'p2.png', 'p3.png', 'p4.png']);
    expect(doc.notSent).toHaveLength(5);
    expect(doc.notSent?.[0]).toBe("p5.png (too_much_media: with the e-mail's 95 pages and 5 images before it, over the 100 a request to this model carries)");
    expect(() => preflight([{ name: 'm.eml', doc: doc as Inspected }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).not.toThrow();
  });

  // helper-84 #8 (its second half): with more than 20 images a request takes none over 2,000 px a side;
  // one large photo among 21 small ones failed the whole e-mail (image_too_large), body and all.
  it('past 20 images, an image over 2,000 px a side is left out and named, and the rest are sent', async () => {
    const part = (name: string, data: string) => ['--b1', `Content-Type: image/png; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', data];
    const small = Array.from({ length: 21 }, (_, i) => part(`s${i}.png`, png(10 + i, 10).toString('base64'))).flat();
    const message = ['From: a@b.example', 'Subject: Photos', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', 'Claim 42: 22 photos.', ...part('big.png', png(2400, 20).toString('base64')), ...small, '--b1--', ''].join('\r\n');
    const doc = (await inspectDocument(Buffer.from(message), 'm.eml', { pageLimit: 100 })) as { text: string; attachments: { attachment?: string }[]; notSent?: string[] };
    expect(doc.attachments).toHaveLength(21);
    expect(doc.attachments.map((a) => a.attachment)).not.toContain('big.png');
    expect(doc.notSent).toEqual(['big.png (image_too_large: 2400×20 px, over 2000 px a side, the limit when a request has more than 20 images)']);
    expect(doc.text).toContain('Attachments sent as documents: 21\n');
    expect(() => preflight([{ name: 'm.eml', doc: doc as Inspected }], { model: 'claude-haiku-4-5', inlineBytes: 0 })).not.toThrow();
    // With 20 images in all, it is sent: the 2,000-px limit is not reached.
    const twenty = message.replace(/--b1\r\nContent-Type: image\/png; name="s19\.png"[\s\S]*?(?=--b1--)/, '');
    const sent = (await inspectDocument(Buffer.from(twenty), 'm.eml', { pageLimit: 100 })) as { attachments: { attachment?: string }[]; notSent?: string[] };
    expect(sent.attachments.map((a) => a.attachment)).toContain('big.png');
    expect(sent.notSent).toBeUndefined();
  });

  it('a request over 32 MB', async () => {
    const doc = await inspectDocument(await invoicePdf(1), 'a.pdf');
    expect(() => preflight([{ name: 'a.pdf', doc }], { model: 'm', inlineBytes: 32 * 1024 * 1024 + 1 })).toThrow(
      expect.objectContaining({ type: 'request_too_large', message: expect.stringMatching(/use --upload files$/) }),
    );
  });

  it('a request over 32 MB of text is not told to upload: text is always inline', async () => {
    const doc = await inspectDocument(Buffer.from('words '.repeat(10)), 'big.txt');
    const over = 32 * 1024 * 1024 + 1;
    expect(() => preflight([{ name: 'big.txt', doc }], { model: 'm', inlineBytes: over, textBytes: over })).toThrow(
      expect.objectContaining({ type: 'request_too_large', message: 'big.txt: the request would be 33,554,433 bytes, over the API\'s 32 MB; text is always sent inline (--upload takes PDFs and images): split it into smaller documents' }),
    );
  });
});

describe('elideBase64', () => {
  it('replaces base64 data with its size and media type, and leaves everything else', () => {
    const data = Buffer.alloc(412_118, 7).toString('base64');
    const json = JSON.stringify([{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data } }, { type: 'text', text: 'hi' }] }]);
    expect(elideBase64(json)).toBe(
      JSON.stringify([{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: '<412,118 bytes of application/pdf>' } }, { type: 'text', text: 'hi' }] }]),
    );
  });
});

// helper-84 #3: only the long side was capped (1,568 px), so a 4000×3000 phone photo counted 2,352
// tokens and a square scan 3,136, where the vision guide scales an image down until it is within
// ~1,600 tokens too: a folder of photos was estimated 1.5-2 times over, and --max-cost refused jobs
// that fit. helper-86 #9: on Opus 4.7 and later, which read images up to 2,576 px, the same cap
// counted a photo at a third of its cost.
describe('imageTokens: ⌈w/28⌉ × ⌈h/28⌉ once the API has scaled the image down for the model', () => {
  it.each([
    ['claude-haiku-4-5', 200, 200, 64],
    ['claude-haiku-4-5', 1000, 500, 648],
    ['claude-haiku-4-5', 1092, 1092, 1521],
    ['claude-haiku-4-5', 4000, 3000, 1600],
    ['claude-haiku-4-5', 7999, 7999, 1600],
    ['claude-haiku-4-5', 1568, 784, 1568],
    ['claude-haiku-4-5', 8000, 400, 168],
    ['claude-opus-4-6', 4000, 3000, 1600],
    ['claude-opus-4-7', 4000, 3000, 4784],
    ['claude-opus-4-7', 2000, 1500, 3888],
    ['claude-sonnet-5-5', 7999, 7999, 4784],
    ['claude-haiku-5-5', 1000, 500, 648],
    ['a-model-the-registry-does-not-know', 4000, 3000, 4784],
  ])('%s, %i×%i px: %i tokens', (model, width, height, tokens) => {
    expect(imageTokens(width, height, model)).toBe(tokens);
  });
});

// helper-84 #4: a text part that declares no charset (or one no decoder knows) in 8-bit bytes that are
// not UTF-8 was read as UTF-8: "Preis: 12 € für März" in windows-1252 went out "Preis: 12 � f�r M�rz",
// silently, while the same message's raw 8-bit Subject was read as windows-1252.
describe("inspectDocument: an e-mail body in no declared charset is read as its headers are", () => {
  const cp1252 = (text: string) => Buffer.from(text.replace('€', '\x80'), 'latin1');
  const textOf = async (bytes: Buffer) => ((await inspectDocument(bytes, 'm.eml')) as { text: string }).text;
  const head = 'From: a@b.example\r\nTo: c@d.example\r\nSubject: Rechnung\r\nMIME-Version: 1.0\r\n';

  it.each([
    ['no charset, 8-bit', 'Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit', (body: string) => cp1252(body)],
    ['no Content-Type at all', '', (body: string) => cp1252(body)],
    ['an empty charset', 'Content-Type: text/plain; charset=""', (body: string) => cp1252(body)],
    ['no charset, quoted-printable', 'Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable', () => Buffer.from('Preis: 12 =80 f=FCr M=\r\n=E4rz')],
    ['no charset, base64', 'Content-Type: text/plain\r\nContent-Transfer-Encoding: base64', (body: string) => Buffer.from(cp1252(body).toString('base64'))],
  ])('%s', async (_case, contentType, encode) => {
    const text = await textOf(Buffer.concat([Buffer.from(head + (contentType ? `${contentType}\r\n` : '') + '\r\n'), encode('Preis: 12 € für März'), Buffer.from('\r\n')]));
    expect(text).toContain('Preis: 12 € für März');
    expect(text).not.toContain('\uFFFD');
  });

  // helper-86: a charset mailparser knows and iconv-lite does not (x-mac-roman) was relabelled with a
  // guess, and came out garbled, under a new key; a quoted one with a space was cut at the space.
  it('a charset the part names is left to mailparser, whatever iconv-lite knows of it', async () => {
    const macRoman = Buffer.from([0x43, 0x61, 0x66, 0x8e, 0x20, 0x4e, 0x6f, 0x91, 0x6c]); // Café Noël
    const text = await textOf(Buffer.concat([Buffer.from(`${head}Content-Type: text/plain; charset=x-mac-roman\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`), macRoman, Buffer.from('\r\n')]));
    expect(text).toContain('Café Noël');
    const spaced = Buffer.concat([Buffer.from(`${head}Content-Type: text/plain; charset="iso 8859-1"\r\n\r\n`), cp1252('Grüße'), Buffer.from('\r\n')]);
    expect(await textOf(spaced)).toContain('Grüße');
  });

  // note 49: a charset name no decoder knows (x-unknown, unknown-8bit: RFC 1428) was read as UTF-8 by
  // mailparser, and 8-bit text came out as U+FFFD without a word.
  it.each(['x-unknown', 'unknown-8bit', 'x-user-defined', 'utf-7'])('a charset no decoder takes (%s), on bytes that are not UTF-8, is read as an undeclared one', async (charset) => {
    const text = await textOf(Buffer.concat([Buffer.from(`${head}Content-Type: text/plain; charset=${charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`), cp1252('Preis: 12 € für März'), Buffer.from('\r\n')]));
    expect(text).toContain('Preis: 12 € für März');
    // On UTF-8 bytes, as mailparser reads it.
    const utf8 = await textOf(Buffer.from(`${head}Content-Type: text/plain; charset=${charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n`));
    expect(utf8).toContain('Grüße aus Köln');
  });

  // helper-93 #15: a charset named the RFC 2231 way (`charset*=''x-unknown`) was not seen: a name no
  // decoder takes came out as U+FFFD, and a name one takes could be guessed over.
  it.each([
    ["charset*=''x-unknown", 'Preis: 12 € für März', (body: string) => cp1252(body)],
    ["charset*=us-ascii'en'unknown-8bit", 'Preis: 12 € für März', (body: string) => cp1252(body)],
    ['charset*0=x-unknown', 'Preis: 12 € für März', (body: string) => cp1252(body)],
    ["charset*=''x-mac-roman", 'Café Noël', () => Buffer.from([0x43, 0x61, 0x66, 0x8e, 0x20, 0x4e, 0x6f, 0x91, 0x6c])],
    ["charset*=''iso-8859-7", 'Καλημέρα', () => Buffer.from([0xca, 0xe1, 0xeb, 0xe7, 0xec, 0xdd, 0xf1, 0xe1])],
  ])('a charset named as RFC 2231 says (%s) is read as a plain one', async (param, words, encode) => {
    const text = await textOf(Buffer.concat([Buffer.from(`${head}Content-Type: text/plain; ${param}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`), encode(words), Buffer.from('\r\n')]));
    expect(text).toContain(words);
  });

  it('a multipart cut short (no closing delimiter): its last part is read too', async () => {
    const text = await textOf(Buffer.concat([Buffer.from(`${head}Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n`), cp1252('Preis: 12 € für März'), Buffer.from('\r\n')]));
    expect(text).toContain('Preis: 12 € für März');
  });

  it('in a multipart message, each text part by its own bytes; UTF-8 without a charset stays UTF-8', async () => {
    const message = Buffer.concat([
      Buffer.from(`${head}Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n`),
      cp1252('Preis: 12 € für März'),
      Buffer.from('\r\n--b1\r\nContent-Type: text/plain; name="notes.txt"\r\nContent-Disposition: attachment; filename="notes.txt"\r\n\r\nGrüße aus Köln\r\n--b1--\r\n'),
    ]);
    const text = await textOf(message);
    expect(text).toContain('Preis: 12 € für März');
    expect(text).toContain('Grüße aus Köln');
    expect(text).not.toContain('\uFFFD');
  });
});

// helper-84 #5: an ISO-8859-1 text attachment with a euro sign (0x80, as windows-1252 writes it, and
// as mail programs that say ISO-8859-1 mean it) went out as the control character U+0080, where the
// same bytes in the body are read as windows-1252.
it('inspectDocument: a text attachment in ISO-8859-1 is read as windows-1252, as the body is', async () => {
  const message = [
    'From: a@b.example', 'Subject: Menu', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'See the notes.',
    '--b1', 'Content-Type: text/plain; charset=iso-8859-1; name="notes.txt"', 'Content-Transfer-Encoding: quoted-printable', 'Content-Disposition: attachment; filename="notes.txt"', '',
    'Caf=E9 cr=E8me br=FBl=E9e 12,50 =80', '--b1--', '',
  ].join('\r\n');
  const text = ((await inspectDocument(Buffer.from(message), 'm.eml')) as { text: string }).text;
  expect(text).toContain('Café crème brûlée 12,50 €');
  // helper-86 #10: by its other names too.
  for (const alias of ['ISO_8859-1:1987', 'iso8859_1', 'cp819', 'csISOLatin1', 'iso-ir-100']) {
    const named = ((await inspectDocument(Buffer.from(message.replace('charset=iso-8859-1', `charset="${alias}"`)), 'm.eml')) as { text: string }).text;
    expect(named, alias).toContain('Café crème brûlée 12,50 €');
  }
});

// helper-84 #9: the same PDF attached twice to one e-mail was sent, and paid for, twice.
it('inspectDocument: an attachment repeated in one e-mail is sent once, and the text says so', async () => {
  const pdf = Buffer.from(await invoicePdf(7)).toString('base64');
  const attachment = (name: string) => [`--b1`, `Content-Type: application/pdf; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', pdf];
  const message = [
    'From: a@b.example', 'Subject: Invoice', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'Invoice attached (twice, sorry).',
    ...attachment('a.pdf'), ...attachment('a.pdf'), ...attachment('copy of a.pdf'), '--b1--', '',
  ].join('\r\n');
  const inspected = (await inspectDocument(Buffer.from(message), 'm.eml')) as { text: string; attachments: { attachment?: string }[] };
  expect(inspected.attachments.map((a) => a.attachment)).toEqual(['a.pdf']);
  expect(inspected.text).toContain('Attachments sent as documents: 1 (each sent once: a.pdf, attached again as a.pdf and copy of a.pdf)\n');
});
