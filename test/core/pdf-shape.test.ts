/**
 * Text that only mentions a PDF's markers is never handed to the PDF parser: pdf-lib scans all of it
 * before giving up (helper-83 #7: a 1.5 MB log that quotes `%PDF-1.4`, `1 0 obj` and ends with
 * `%%EOF` took it 7 s, and a folder of such logs minutes).
 */
import { describe, expect, it, vi } from 'vitest';

const loads = vi.hoisted(() => ({ count: 0 }));
vi.mock('pdf-lib', async (original) => {
  const real = await original<typeof import('pdf-lib')>();
  return {
    ...real,
    // The class as it is, its `load` counted.
    PDFDocument: new Proxy(real.PDFDocument, {
      get(target, property, receiver) {
        if (property !== 'load') return Reflect.get(target, property, receiver) as unknown;
        return (...args: Parameters<typeof real.PDFDocument.load>) => {
          loads.count++;
          return target.load(...args);
        };
      },
    }),
  };
});

const { inspectDocument } = await import('../../src/core/documents.ts');
const { contractPdf } = await import('../../fixtures/documents/make.mjs');

describe('a PDF after junk is looked for only where a PDF ends as one does', () => {
  it('a log that quotes the markers is text, and the PDF parser never sees it', async () => {
    const log = ['2024-03-01 10:00:00 INFO upload started: header %PDF-1.4 seen', '2024-03-01 10:00:01 DEBUG parsed 1 0 obj << /Type /Catalog >>', ...Array.from({ length: 2000 }, (_, i) => `2024-03-01 10:00:02 DEBUG line ${i}`), '2024-03-01 10:00:03 INFO trailer found: %%EOF'].join('\n');
    loads.count = 0;
    expect(await inspectDocument(Buffer.from(log), 'upload.log')).toMatchObject({ kind: 'text' });
    expect(loads.count).toBe(0);
  });

  it('a real PDF behind a banner is still read as that PDF', async () => {
    const pdf = Buffer.from(await contractPdf());
    loads.count = 0;
    expect(await inspectDocument(Buffer.concat([Buffer.from('X-Gateway: scanned\r\n\r\n'), pdf]), 'scan.pdf')).toMatchObject({ kind: 'pdf', pages: 2 });
    expect(loads.count).toBe(1);
  });
});
