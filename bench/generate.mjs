// Writes a tickets CSV of N rows: 300-600-character texts with quoted commas, quotes and newlines.
// Deterministic (a fixed-seed PRNG), so every run benchmarks the same bytes.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

const WORDS = ('the export fails again after the update and our team cannot download the report, ' +
  'billing charged twice this month please refund "urgent" invoice login loop with sso users locked out ' +
  'dashboard shows wrong numbers since monday, feature request webhooks for scheduled exports would help ' +
  'données exportées illisibles Umlaute ä ö ü fehlen 中文字符 乱码 thanks great work').split(' ');

export async function generate(path, rows) {
  let state = 0x9e3779b9;
  const random = () => {
    state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0;
    return state / 0x100000000;
  };
  const text = (min, max) => {
    const target = min + Math.floor(random() * (max - min));
    let s = '';
    while (s.length < target) {
      s += (s ? ' ' : '') + WORDS[Math.floor(random() * WORDS.length)];
      if (random() < 0.02) s += '\n';
      if (random() < 0.05) s += ',';
    }
    return s;
  };
  const quote = (s) => `"${s.replaceAll('"', '""')}"`;
  const out = createWriteStream(path);
  out.write('ticket_id,customer,subject,body\n');
  for (let i = 0; i < rows; i++) {
    const line = `T-${i},${quote(`Customer ${i % 997}, Inc.`)},${quote(text(20, 60))},${quote(text(300, 600))}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await generate(process.argv[2], Number(process.argv[3]));
}
