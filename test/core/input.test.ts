/** The pure parts of reading real files: sniffing formats and delimiters, encodings, lossless JSON numbers, "did you mean", typical answer sizes. */
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { binaryFormat, documentFile, formatFromName, isGzip, parseDelimiter, sniffDelimiter } from '../../src/core/sniff.ts';
import { bomOf, createDecoding, detectEncoding, firstInvalidUtf8, incompleteUtf8Tail, lineByLineDecoding, utf16WithoutBom } from '../../src/core/encoding.ts';
import { MAX_DEPTH, parseLossless, rawNumberText, scanJson, stringifyLossless } from '../../src/core/rawjson.ts';
import { closest } from '../../src/core/suggest.ts';
import { DOCUMENT_ANSWER_TOKENS, MIN_FREE_TEXT_TOKENS, typicalAnswerTokens } from '../../src/core/answer-size.ts';
import { byteByByte, everySplit } from '../helpers/chunks.ts';

describe('sniff', () => {
  it('the delimiter from the header line: the most frequent of , ; tab | outside quotes', () => {
    expect(sniffDelimiter('a,b,c')).toBe(',');
    expect(sniffDelimiter('a;b;"c,d,e"')).toBe(';');
    expect(sniffDelimiter('a\tb\tc')).toBe('\t');
    expect(sniffDelimiter('a|b')).toBe('|');
    expect(sniffDelimiter('single')).toBe(',');
  });

  /** A row of the table below for each text: what the sniff says of it, given whether it has ended. */
  const rows = (want: string | undefined, ended: boolean, ...texts: string[]): [string, boolean, string | undefined][] => texts.map((text) => [text, ended, want]);
  it.each([
    // A quote inside a field (27") is text: toggling on it hid the ; after it.
    ...rows(';', true, 'Notes, remarks;Size 27";Price', 'id;"a, b, c";x', '"Name";"City, State";"Zip"'),
    ...rows('|', true, 'id|"a, b, c"|x'),
    ...rows(',', true, 'sku,Size;"in" wide,price'),
    // Excel's wrapped header cells: the whole record (the first physical line, "Customer, has no delimiter).
    ...rows(';', true, '"Customer\nname";"Customer\ncity";"Total"\n1;2;3\n', '"Customer\r\nname";"City"\r\n'),
    // Before the header record has ended, no answer (more text may change it); a candidate still in
    // quotes past the first line while another is ahead there is not waited for.
    ...rows(undefined, false, '"Customer\nname";"Cust', 'id;name', '\n\n', '\n\nid\tname'),
    ...rows(';', false, 'id;name\n'),
    ...rows(',', false, 'a,b,c;"d\n1,2,3\n'),
    // Blank lines before the header are skipped (the empty line said ,).
    ...rows(';', true, '\n\r\n\rid;name;note\n1;2;3\n'),
    ...rows('|', true, '\ufeff\n\nid|name\n'),
  ])('the delimiter of the header record, quotes read as the CSV reader does: %j (ended: %s) → %j', (text, ended, want) => {
    expect(sniffDelimiter(text, ended)).toBe(want);
  });

  it('--delimiter names', () => {
    expect(parseDelimiter('\\t')).toBe('\t');
    expect(parseDelimiter('tab')).toBe('\t');
    expect(parseDelimiter(';')).toBe(';');
    expect(parseDelimiter(';;')).toBeUndefined();
    expect(parseDelimiter('"')).toBeUndefined();
  });

  it('formats from names, gzip and binary magic', () => {
    expect(formatFromName('x.tsv.gz')).toBe('tsv');
    expect(formatFromName('x.TAB')).toBe('tsv');
    expect(isGzip(Buffer.from([0x1f, 0x8b, 8]))).toBe(true);
    expect(binaryFormat(Buffer.from('PAR1xxxx'))?.name).toBe('a Parquet file');
    expect(binaryFormat(Buffer.from('id,text\n'), 'x.xlsx')?.name).toMatch(/ZIP archive/);
    expect(binaryFormat(Buffer.from('id,text\n'), 'x.csv')).toBeUndefined();
  });
});

describe('encodings', () => {
  it('BOMs and UTF-16 without one', () => {
    expect(bomOf(Buffer.from([0xef, 0xbb, 0xbf, 0x41]))).toEqual({ encoding: 'utf-8', length: 3 });
    expect(bomOf(Buffer.from([0xff, 0xfe]))).toEqual({ encoding: 'utf-16le', length: 2 });
    expect(bomOf(Buffer.from([0xfe, 0xff]))).toEqual({ encoding: 'utf-16be', length: 2 });
    expect(utf16WithoutBom(Buffer.from('id,text\n', 'utf16le'))).toBe('utf-16le');
    expect(utf16WithoutBom(Buffer.from('id,text\n'))).toBeUndefined();
  });

  it('valid UTF-8 is UTF-8; ISO-8859-1 is read as windows-1252', () => {
    expect(detectEncoding(Buffer.from('caf\u00e9'), true)).toEqual({ encoding: 'utf-8', how: 'utf-8' });
    expect(detectEncoding(Buffer.from('a b c caf\xe9 na\xefve d\xe9j\xe0 vu', 'latin1'), true).encoding).toBe('windows-1252');
    // A UTF-8 sequence cut at the end of what has arrived is not a reason to leave UTF-8.
    expect(detectEncoding(Buffer.from('caf\u00e9').subarray(0, 4), false).encoding).toBe('utf-8');
    // Mostly UTF-8, with a line from a windows-1252 file pasted in: read as UTF-8 (the stray byte is
    // reported by line), not as windows-1252, which would turn every UTF-8 line into mojibake.
    const mixed = Buffer.concat([Buffer.from('na\u00efve \u2014 d\u00e9j\u00e0 vu, caf\u00e9\n'), Buffer.from('caf\xe9\n', 'latin1')]);
    expect(detectEncoding(mixed, true)).toEqual({ encoding: 'utf-8', how: 'utf-8', mixed: true });
    // One byte pair that happens to be valid UTF-8 among many windows-1252 letters stays windows-1252.
    expect(detectEncoding(Buffer.from('caf\xe9 d\xe9j\xe0 na\xefve \xc3\xa9t\xe9 \xe0 la cr\xe8me', 'latin1'), true).encoding).toBe('windows-1252');
  });

  describe('chardet naming another single-byte encoding for mostly-windows-1252 Western text', () => {
    const bytes = (text: string, encoding: string) => iconv.encode(text, encoding);
    // chardet's guess for each was windows-1257 or windows-1250: Ærø read as Ęrų, Þórður as Žóršur.
    it.each([
      ['Danish (chardet: windows-1257)', 'id,name,city\n1,Ærø\n'],
      ['Icelandic (chardet: windows-1257)', 'id,name,city\n1,Guðrún Þórðardóttir\n'],
      ['Icelandic (chardet: ISO-8859-9)', 'a,b\nx,Þór\n'],
      ['Icelandic (chardet: Shift_JIS)', 'id,name\n1,Guðrún Þórðardóttir\n'],
      ['a CR-only mix of UTF-8 and windows-1252 (chardet: windows-1257)', Buffer.concat([Buffer.from('id,text\r1,naïve\r'), bytes('2,crème\r', 'windows-1252')])],
      ['French with a curly apostrophe between letters', 'id,texte\n1,l’été à Nîmes, très chaud\n'],
    ])('%s: windows-1252', (_, text) => {
      const sample = typeof text === 'string' ? bytes(text, 'windows-1252') : text;
      expect(detectEncoding(sample, true).encoding).toBe('windows-1252');
    });
    // Genuine Central-European, Turkish, Baltic and CJK text, each as chardet names it, stays so.
    it.each([
      ['Polish', 'windows-1250', 'id,opis\n1,Zamówienie zostało wysłane kurierem w środę; przesyłka dotrze jutro.\n2,Proszę o zwrot pieniędzy, towar był uszkodzony i źle zapakowany.\n3,Dziękuję za szybką odpowiedź, wszystko działa świetnie.\n'],
      ['Polish', 'iso-8859-2', 'id,opis\n1,Zamówienie zostało wysłane kurierem w środę; przesyłka dotrze jutro.\n2,Proszę o zwrot pieniędzy, towar był uszkodzony i źle zapakowany.\n3,Dziękuję za szybką odpowiedź, wszystko działa świetnie.\n'],
      ['Czech', 'windows-1250', 'id,popis\n1,Objednávka byla odeslána ve středu, zásilka dorazí zítra.\n2,Prosím o vrácení peněz, zboží bylo poškozené a špatně zabalené.\n3,Děkuji za rychlou odpověď, všechno funguje skvěle.\n'],
      ['Hungarian', 'iso-8859-2', 'id,leírás\n1,A rendelést szerdán feladtuk, a csomag holnap érkezik.\n2,Kérem a pénz visszatérítését, az áru sérült és rosszul volt csomagolva.\n3,Köszönöm a gyors választ, minden tökéletesen működik.\n'],
      ['Turkish', 'iso-8859-9', 'id,açıklama\n1,Sipariş çarşamba günü kargoya verildi, paket yarın ulaşacak.\n2,Lütfen paramı iade edin, ürün hasarlı ve kötü paketlenmişti.\n3,Hızlı yanıtınız için teşekkürler, her şey mükemmel çalışıyor.\n'],
      ['Japanese', 'shift_jis', 'id,text\n1,ご注文ありがとうございます。商品は明日届きます。\n'],
      ['Chinese', 'gb18030', 'id,text\n1,感谢您的订购，商品明天送达。\n'],
      ['Chinese', 'big5', 'id,text\n1,感謝您的訂購，商品明天送達。\n'],
      ['Korean', 'euc-kr', 'id,text\n1,주문해 주셔서 감사합니다. 상품은 내일 도착합니다.\n'],
      ['Lithuanian', 'windows-1257', 'id,aprašymas\n1,Užsakymas išsiųstas trečiadienį, siunta atkeliaus rytoj.\n2,Prašau grąžinti pinigus, prekė buvo sugadinta ir blogai supakuota.\n3,Ačiū už greitą atsakymą, viskas veikia puikiai.\n'],
    ])('%s in %s stays so', (_, encoding, text) => {
      expect(detectEncoding(bytes(text, encoding), true).encoding).toBe(encoding);
    });
    // helper-40: short Polish lines, read as windows-1252 (Œwiêtego: its œ and ê are French letters) or
    // as chardet's windows-1257 (Zaæó³ę, with U+FFFD), are read as windows-1250: the reading in which
    // the words are words.
    it.each([
      ['a street (chardet: windows-1250, read as windows-1252)', 'id,name\n1,Kraków ulica Świętego Marka\n'],
      ['a pangram (chardet: windows-1257)', 'id,name\n1,Zażółć gęślą jaźń\n'],
      ['two names (chardet: windows-1252, with a byte it leaves undefined)', 'id,name\n1,Łódź Źdźbło\n'],
    ])('short Polish text in windows-1250: %s', (_, text) => {
      expect(detectEncoding(bytes(text, 'windows-1250'), true).encoding).toBe('windows-1250');
    });
    // helper-42: French reads as plausible windows-1250 word by word (très → trčs, à → ŕ), so one odd
    // word, or one byte windows-1252 leaves undefined, read these as windows-1250. They stay windows-1252
    // (the stray byte is then U+FFFD, named with its line by the decoder).
    it.each([
      ['cœliaque (œ before l)', Buffer.from(iconv.encode("id,diagnostic\n1,maladie cœliaque très fatiguée\n2,Déjà vu à l'école\n", 'windows-1252'))],
      ['fœhn (œ before h)', Buffer.from(iconv.encode('id,texte\n1,Le fœhn souffle très fort à Genève\n', 'windows-1252'))],
      ['a stray 9D byte', Buffer.concat([iconv.encode('id,texte\n1,café à 3€ la tasse', 'windows-1252'), Buffer.from([0x9d, 0x0a])])],
    ])('Western text in windows-1252 stays so: %s', (_, sample) => {
      expect(detectEncoding(sample, true).encoding).toBe('windows-1252');
    });
    // helper-55: Western names of two languages are no one language in windows-1252 (Rodríguez and
    // Ålborg, Sørensen and Jesús), while Czech or Slovak letters cover their windows-1250 reading (Ĺlborg,
    // Sřrensen): they were read so when chardet named ISO-8859-2.
    it.each([
      ['Spanish and Danish', 'id,name,city\n1,Rodríguez,Ålborg\n'],
      ['Danish, Spanish and French', 'id,name\n1,Jensen Sørensen\n2,Jesús\n3,Mathéo\n'],
      ['French, Spanish and German', 'id,name\n1,Agnès\n2,Hélène\n3,Loïc\n4,Begoña\n5,Müller\n6,Mirò\n7,Västerås\n'],
    ])('Western names of several languages in windows-1252 stay so: %s', (_, text) => {
      expect(detectEncoding(bytes(text, 'windows-1252'), true).encoding).toBe('windows-1252');
    });
    // helper-53: names and places, no sentences. Read as windows-1252 each word was still a Western word
    // (Erdős → Erdõs, Portuguese õ; Muğla → Muðla, Diyarbakır → Diyarbakýr: Icelandic ð and ý), so
    // chardet's right guess was overruled, and the garbled names were sent, paid for and written.
    it.each([
      ['Hungarian names', 'windows-1250', 'id,name\r\n0,Erdős Pál\r\n1,Kovács Gyöngyvér\r\n2,Szőlő utca\r\n3,Műegyetem\r\n4,Tőkés László\r\n'],
      ['Turkish cities', 'windows-1254', 'id,name\r\n0,Gaziantep\r\n1,Muğla\r\n2,Diyarbakır\r\n3,Eskişehir\r\n4,Kırıkkale\r\n5,Iğdır\r\n6,Şanlıurfa\r\n7,Çanakkale\r\n8,Tekirdağ\r\n9,Düzce\r\n10,Bingöl\r\n11,Ağrı\r\n12,Kütahya\r\n13,Niğde\r\n14,Uşak\r\n'],
    ])('%s in %s, named rightly by chardet, are read so: every word one language in its reading, not in windows-1252', (_, encoding, text) => {
      const sample = bytes(text, encoding);
      expect(iconv.decode(sample, detectEncoding(sample, true).encoding)).toBe(text);
    });
    // A name alone is too little to overturn chardet's ISO-8859-1 (Dvořák is read Dvoøák: accents only,
    // no symbol between letters); longer Czech text is read as windows-1250 (above).
    it('a Czech name alone, named ISO-8859-1 by chardet, stays windows-1252 (accents alone do not overturn the guess)', () => {
      expect(detectEncoding(bytes('id,name\n1,Dvořák, Antonín\n', 'windows-1250'), true).encoding).toBe('windows-1252');
    });
  });

  it('UTF-8 helpers', () => {
    expect(incompleteUtf8Tail(Buffer.from('é').subarray(0, 1))).toBe(1);
    expect(incompleteUtf8Tail(Buffer.from('😀').subarray(0, 3))).toBe(3);
    expect(incompleteUtf8Tail(Buffer.from('é'))).toBe(0);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc3, 0xa9, 0xe9, 0x61]))).toBe(3);
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0); // a surrogate
    expect(firstInvalidUtf8(Buffer.from('ok'))).toBe(2);
  });

  it('a decoder gives the same text under every chunking, and reports each replacement with the line breaks before it in its call', () => {
    const bytes = Buffer.concat([Buffer.from('\ufeffline 1 caf\u00e9\nline 2 \u{1F600}\n'), Buffer.from([0xff]), Buffer.from('\nx'), Buffer.from([0xfe]), Buffer.from('\n')]);
    for (const chunks of [[bytes], ...everySplit(bytes), byteByByte(bytes)]) {
      // The line of each replacement, counted as a caller does: the line breaks given out before the call, plus those in it.
      const lines: number[] = [];
      let given = 0;
      const decoder = createDecoding('utf-8', true, (before) => lines.push(given + before + 1));
      const count = (text: string) => ((given += text.split('\n').length - 1), text);
      const text = chunks.map((c) => count(decoder.write(c))).join('') + count(decoder.end());
      expect(text).toBe('line 1 caf\u00e9\nline 2 \u{1F600}\n\ufffd\nx\ufffd\n');
      expect(lines).toEqual([3, 4]);
    }
  });

  it('CR, LF and CRLF all end lines, for the line-by-line decoder and in the lines it names (a CRLF split between chunks is one)', () => {
    // An old Mac export (CR only) with a UTF-8 line, a windows-1252 line, then CRLF and LF lines.
    const bytes = Buffer.concat([Buffer.from('id,text\r1,na\u00efve\r'), Buffer.from('2,cr\xe8me\r\n', 'latin1'), Buffer.from('3,ok\n4,\u00fc\r'), Buffer.from('5,caf\xe9\r', 'latin1')]);
    const lineEnds = (text: string) => text.match(/\r\n|\r|\n/g)?.length ?? 0;
    for (const chunks of [[bytes], ...everySplit(bytes), byteByByte(bytes)]) {
      // Each reported line as a caller names it: the line ends given out before the call, plus those in it.
      const reported: [number, boolean][] = [];
      let given = '';
      const decoder = lineByLineDecoding('windows-1252', (before, utf8) => reported.push([lineEnds(given) + before + 1, utf8]));
      for (const c of chunks) given += decoder.write(c);
      given += decoder.end();
      expect(given).toBe('id,text\r1,na\u00efve\r2,cr\u00e8me\r\n3,ok\n4,\u00fc\r5,caf\u00e9\r');
      expect(reported).toEqual([[2, true], [3, false], [5, true], [6, false]]);
    }
    // The decoders of a given encoding count CR-only line ends too.
    for (const chunks of [[Buffer.from('a\rb\r\nc\r\xff\r', 'latin1')], ...everySplit(Buffer.from('a\rb\r\nc\r\xff\r', 'latin1'))]) {
      const lines: number[] = [];
      let given = '';
      const decoder = createDecoding('utf-8', true, (before) => lines.push(lineEnds(given) + before + 1));
      for (const c of chunks) given += decoder.write(c);
      given += decoder.end();
      expect(lines).toEqual([4]);
    }
  });

  it('a single-byte decoder reports bytes it cannot map (0x81 is undefined in windows-1252)', () => {
    const reports: number[] = [];
    const decoder = createDecoding('windows-1252', true, (before) => reports.push(before));
    expect(decoder.write(Buffer.from([0x80, 0x0a, 0x81, 0x0a, 0x0a, 0x8d]))).toBe('€\n\ufffd\n\n\ufffd');
    expect(reports).toEqual([1, 3]);
  });
});

describe('lossless JSON numbers', () => {
  it('finds the numbers a JavaScript number would not write back, outside strings', () => {
    const text = '{"a":9007199254740993,"b":"9007199254740993","c":1.10,"d":12,"e":-0.5,"f":1e400,"g":[1,2e2],"h":-0,"i":0}';
    const scan = scanJson(text);
    // -0 is a JavaScript number, but one written back as 0.
    expect(scan.lossy.map(([s, e]) => text.slice(s, e))).toEqual(['9007199254740993', '1.10', '1e400', '2e2', '-0']);
    expect(scan.depth).toBe(2);
    const value = parseLossless(text, scan) as Record<string, unknown>;
    expect(rawNumberText(value['a'])).toBe('9007199254740993');
    expect(value['b']).toBe('9007199254740993');
    expect(value['d']).toBe(12);
    expect(stringifyLossless(value)).toBe(text);
  });

  it('depth counts nesting, not brackets in strings', () => {
    expect(scanJson('{"a":"[[[[{{{"}').depth).toBe(1);
    expect(scanJson('['.repeat(MAX_DEPTH + 1)).depth).toBe(MAX_DEPTH + 1);
  });
});

describe('did you mean', () => {
  it('suggests the closest known word for a typo, nothing for an unrelated word', () => {
    expect(closest('promt', ['prompt', 'prompt-file', 'schema'])).toBe('prompt');
    expect(closest('stauts', ['status', 'cancel', 'results', 'gc'])).toBe('status');
    expect(closest('max-cots', ['max-cost', 'max-tokens'])).toBe('max-cost');
    expect(closest('zebra', ['status', 'cancel'])).toBeUndefined();
  });
});

describe('typical answer sizes', () => {
  it('a schema answer is sized by a skeleton of it, far below max_tokens', () => {
    const schema = { type: 'object', properties: { category: { type: 'string', enum: ['billing', 'feature_request'] }, urgent: { type: 'boolean' }, summary: { type: 'string' } } };
    const tokens = typicalAnswerTokens({ schema, messageTokens: 500, maxTokens: 1024, charsPerToken: 4 });
    expect(tokens).toBeGreaterThan(20);
    expect(tokens).toBeLessThan(60);
  });

  it('free text: about as long as the record, at least a short answer, never over max_tokens', () => {
    expect(typicalAnswerTokens({ messageTokens: 10, maxTokens: 1024, charsPerToken: 4 })).toBe(MIN_FREE_TEXT_TOKENS);
    expect(typicalAnswerTokens({ messageTokens: 300, maxTokens: 1024, charsPerToken: 4 })).toBe(300);
    expect(typicalAnswerTokens({ messageTokens: 3000, maxTokens: 1024, charsPerToken: 4 })).toBe(1024);
  });

  // helper-74: a free-text prompt over documents ("Summarise this") was priced as long as the
  // documents, so at max_tokens: --max-cost 0.012 refused a job of 4 documents that cost $0.0078.
  it('free text about documents: a paragraph (DOCUMENT_ANSWER_TOKENS), whatever the documents weigh, never over max_tokens', () => {
    expect(typicalAnswerTokens({ messageTokens: 7000, maxTokens: 1024, charsPerToken: 4, documents: true })).toBe(DOCUMENT_ANSWER_TOKENS);
    expect(typicalAnswerTokens({ messageTokens: 7000, maxTokens: 100, charsPerToken: 4, documents: true })).toBe(100);
    // A schema's answer is its skeleton's size, documents or not.
    const schema = { type: 'object', properties: { total: { type: 'number' } } };
    expect(typicalAnswerTokens({ schema, messageTokens: 7000, maxTokens: 1024, charsPerToken: 4, documents: true })).toBe(typicalAnswerTokens({ schema, messageTokens: 7000, maxTokens: 1024, charsPerToken: 4 }));
  });
});

describe('documentFile: a file given as FILE that is a document (sent as one), by its whole signature or its name', () => {
  const bytes = (text: string, ...head: number[]) => new Uint8Array([...head, ...Buffer.from(text)]);
  it.each([
    ['a PDF', bytes('%PDF-1.7\n'), 'x.bin', true],
    ['a PNG', bytes('', 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0), 'scan', true],
    ['a JPEG', bytes('', 0xff, 0xd8, 0xff, 0xe0), 'photo', true],
    ['a GIF', bytes('GIF89a'), 'a', true],
    ['a WebP', bytes('RIFF\u0000\u0000\u0000\u0000WEBPVP8 '), 'b', true],
    ['an e-mail, by its name', bytes('From: a@b.c\n'), 'INV-1.eml', true],
    ['a CSV whose header starts GIF8', bytes('GIF8_code,name\n1,x\n'), 'codes.csv', false],
    ['a CSV whose header starts %PDF', bytes('%PDFs,count\n'), 'stats.csv', false],
    ['NDJSON', bytes('{"a":1}\n'), 'x.ndjson', false],
    // Named as a document, whatever its bytes: an empty or broken one gets its record and its error, not read as a table.
    ['an empty .pdf, by its name', bytes(''), 'invoice.PDF', true],
    ['a .jpg that is not one, by its name', bytes('   \n'), 'photo.jpg', true],
    ['an empty .png, .jpeg, .gif or .webp', bytes(''), 'a.webp', true],
    // helper-74: an mbox export or an Apple Mail .emlx given as FILE was read as a CSV, and paid for;
    // a Word document or an iPhone photo was "an XLSX workbook" or "binary data", without the hint a
    // folder gives (convert it to PDF, to JPEG).
    ['an mbox export, by its name', bytes('From a@b.example Sat Mar 14 10:00:00 2026\nFrom: a@b.example\n'), 'one.mbox', true],
    ['an Apple Mail message, by its name', bytes('812      \nFrom: a@b.example\n'), '12.emlx', true],
    ['a Word document, by its name', bytes('PK\u0003\u0004'), 'report.docx', true],
    ['an iPhone photo, by its name', bytes('\u0000\u0000\u0000\u0018ftypheic'), 'IMG_0001.HEIC', true],
    ['an Outlook message, by its name', bytes('', 0xd0, 0xcf, 0x11, 0xe0), 'mail.msg', true],
    // helper-80: a TIFF or BMP scan given as FILE was "binary data, not CSV": a folder names it unsupported, with what to send.
    ['a TIFF scan, by its signature (II and MM)', bytes('', 0x49, 0x49, 0x2a, 0x00, 0x08, 0, 0, 0), 'scan', true],
    ['a big-endian TIFF', bytes('', 0x4d, 0x4d, 0x00, 0x2a), 'x', true],
    ['a .tif, .tiff or .bmp by its name', bytes('BM'), 'scan.BMP', true],
    ['an empty .tiff', bytes(''), 'fax.tiff', true],
    ['an Excel workbook stays a table input refused as one (save the sheet as CSV)', bytes('PK\u0003\u0004'), 'sheet.xlsx', false],
  ])('%s', (_, head, name, expected) => {
    expect(documentFile(head, name)).toBe(expected);
  });
});
