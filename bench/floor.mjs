// The floor: csv-parse → one JSON line per record → /dev/null, nothing else. Prints its own
// figures (wall, CPU, peak RSS) as JSON on stderr.
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';

const started = performance.now();
let records = 0;
await pipeline(
  createReadStream(process.argv[2]),
  parse({ columns: true, bom: true }),
  async function* (source) {
    for await (const record of source) {
      records++;
      yield `${JSON.stringify(record)}\n`;
    }
  },
  createWriteStream('/dev/null'),
);
const usage = process.resourceUsage();
process.stderr.write(`${JSON.stringify({ records, wallMs: performance.now() - started, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000, maxRssMb: usage.maxRSS / 1024 })}\n`);
