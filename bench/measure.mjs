// Runs the built CLI in this process and reports its own figures as JSON on stderr's last line:
// wall and CPU time, peak RSS, time to the first output record, and the API calls it made
// (counted at `fetch`, by method and path). stdout is the CLI's; point it at /dev/null.
import { runCli } from '../dist/src/cli/run.js';

const started = performance.now();
let firstOutputMs;
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  firstOutputMs ??= performance.now() - started;
  return write(chunk, ...rest);
};
const calls = {};
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(typeof input === 'string' ? input : input.url);
  const route = `${init?.method ?? 'GET'} ${url.pathname.replace(/msgbatch_\w+/, ':id')}`;
  calls[route] = (calls[route] ?? 0) + 1;
  return realFetch(input, init);
};
let peakRssMb = 0;
const sampler = setInterval(() => (peakRssMb = Math.max(peakRssMb, process.memoryUsage.rss() / 1048576)), 100);
const code = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
clearInterval(sampler);
const usage = process.resourceUsage();
process.stderr.write(
  `BENCH ${JSON.stringify({ code, wallMs: performance.now() - started, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000, maxRssMb: usage.maxRSS / 1024, sampledPeakRssMb: peakRssMb, firstOutputMs, calls })}\n`,
);
process.exitCode = code;
