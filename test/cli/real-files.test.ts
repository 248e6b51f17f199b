/**
 * The files in fixtures/real/ (a cp1252 CSV, a `;` CSV, a header-less TSV, a gzipped NDJSON; see its
 * README for where they come from) through the built CLI with `--dry-run`: the text in every prompt
 * must be exactly the text of the file, decoded right.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.ts';

const REAL = join(ROOT, 'fixtures', 'real');

const cases: { file: string; args: string[]; prompts: string[]; stderr: RegExp[] }[] = [
  {
    file: 'cafe-reviews-cp1252.csv',
    args: ['--prompt', 'Review by {{customer}} ({{city}}): {{review}}'],
    prompts: [
      'Review by Jürgen Weiß (München): Der Kaffee war ausgezeichnet, aber 4,50 € für einen Espresso ist zu viel.',
      'Review by Zoë Lefèvre (Lyon): Service très aimable ; la crème brûlée était « parfaite ».',
      'Review by Søren Ødegård (Århus): “Best cinnamon roll I’ve had” – will come back.',
      'Review by Iñaki Muñoz (Bilbao): Pedí un café con leche… tardó 25 minutos.',
    ],
    stderr: [/^batch-enrich: .*cafe-reviews-cp1252\.csv: not valid UTF-8; reading it as windows-1252.*give --encoding NAME$/m],
  },
  {
    file: 'products-semicolon.csv',
    args: ['--prompt', '{{bezeichnung}} kostet {{preis_eur}} € ({{hinweis}})'],
    prompts: ['Kaffeebohnen; 1 kg kostet 18,90 € (Röstung: mittel)', 'Milchschaumkännchen kostet 12,50 € ()', 'Entkalker "Extra" kostet 7,99 € (nicht für Aluminium)'],
    stderr: [],
  },
  {
    file: 'messages-noheader.tsv',
    args: ['--no-header', '--prompt', '[{{1}}] {{2}}'],
    prompts: [
      '[ham] It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.',
      '[spam] WINNER!! You have been selected to receive a £900 prize reward! Call 09061701461 to claim "now".',
      '[ham] Call me Ishmael.',
      '[spam] URGENT: your mobile No. was awarded £2,000 Bonus Caller Prize; reply STOP to end',
    ],
    stderr: [],
  },
  {
    file: 'headlines.ndjson.gz',
    args: ['--prompt', '{{headline}} ({{year}}; id {{tracking_id?}})'],
    prompts: [
      'We hold these truths to be self-evident, that all men are created equal (1776; id )',
      'It was the best of times, it was the worst of times (1859; id )',
      'Call me Ishmael. Some years ago—never mind how long precisely (1851; id )',
      'On the Origin of Species by Means of Natural Selection (1859; id 9007199254740993)',
    ],
    stderr: [],
  },
];

describe('real-world files (fixtures/real)', () => {
  for (const c of cases) {
    it(`${c.file}: every prompt carries the file's text, decoded right`, async () => {
      const result = await runCli(['--dry-run', ...c.args, join(REAL, c.file)]);
      expect(result.code, result.stderr).toBe(0);
      const prompts = result.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { params: { messages: { content: string }[] } }).params.messages[0]?.content);
      expect(prompts).toEqual(c.prompts);
      expect(result.stdout).not.toContain('\ufffd');
      const warnings = result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('batch-enrich: estimate:'));
      expect(warnings).toHaveLength(c.stderr.length);
      for (const pattern of c.stderr) expect(result.stderr).toMatch(pattern);
    });
  }
});

describe('files from the field, written for the test', () => {
  const file = (name: string, bytes: Buffer) => {
    const path = join(mkdtempSync(join(tmpdir(), 'be-real-')), name);
    writeFileSync(path, bytes);
    return path;
  };
  const prompts = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as { params: { messages: { content: string }[] } }).params.messages[0]?.content);

  it('an old Mac export (CR line ends) of UTF-8 and windows-1252 lines: each decoded right, lines named right', async () => {
    const path = file('old-mac.csv', Buffer.concat([Buffer.from('id,text\r1,naïve\r'), Buffer.from('2,cr\xe8me\r', 'latin1')]));
    const result = await runCli(['--dry-run', '--prompt', '{{text}}', path]);
    expect(result.code, result.stderr).toBe(0);
    expect(prompts(result.stdout)).toEqual(['naïve', 'crème']);
    expect(result.stderr).toContain(`${path}:2: this line is valid UTF-8 in a file read as windows-1252`);
    const forced = await runCli(['--dry-run', '--encoding', 'utf-8', '--prompt', '{{text}}', path]);
    expect(forced.stderr).toContain(`${path}:3: bytes that are not valid utf-8 were read as U+FFFD`);
  });

  // helper-53: a file cut off in a quoted field after exactly 500 good rows (a multiple of the intake's
  // page) crashed with an unhandled rejection, the bundle's minified source and a stack trace, and left
  // the ledger's scratch files behind.
  it('a bad record after a full intake page of good rows is the usual one-line error, exit 1', async () => {
    const rows = Array.from({ length: 500 }, (_, i) => `${i},N${i}\n`).join('');
    const path = file('cut-off.csv', Buffer.from(`id,name\n${rows}500,"never closed\n`));
    const dir = mkdtempSync(join(tmpdir(), 'be-cut-'));
    const result = await runCli(['--emulator', '--prompt', 'X {{name}}', '--batch-size', '100', '--ledger', join(dir, 'l.db'), path]);
    expect(result.code).toBe(1);
    const said = result.stderr.split('\n').filter((line) => line !== '' && !line.includes('--emulator:') && !/batch \S+ (submitted|ended)/.test(line));
    expect(said).toEqual([`batch-enrich: ${path}:502: invalid CSV: a quoted field that starts in this record is never closed (a missing closing ")`]);
    expect(result.stderr).not.toMatch(/Node\.js v|at async/);
  });

  it('a ; CSV with blank lines before its header: read as ; and a missing column named at the header’s line', async () => {
    const path = file('blank-first.csv', Buffer.from('\r\n\r\nid;name;note\r\n1;Ann;x\r\n'));
    const ok = await runCli(['--dry-run', '--prompt', '{{name}}: {{note}}', path]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(prompts(ok.stdout)).toEqual(['Ann: x']);
    const missing = await runCli(['--dry-run', '--prompt', '{{city}}', path]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`${path}:3: the prompt uses {{city}}, but the header has no such column (columns: id, name, note)`);
    // helper-72: a typo in a field got no "did you mean", as typos in flags and commands do.
    const typo = await runCli(['--dry-run', '--prompt', '{{nme}}: {{note}}', path]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(`${path}:3: the prompt uses {{nme}}, but the header has no such column (did you mean {{name}}?; columns: id, name, note)`);
  });
});
