// Runs the built CLI in this process and reports its own figures as JSON on stderr's last line:
// wall and CPU time, peak RSS, time to the first output record, and the API calls it made
// (counted at `fetch` and at `http.request`, by method and path). stdout is the CLI's; point it at /dev/null.
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { setHeapPolicy } from '../dist/src/cli/heap.js';
import { runCli } from '../dist/src/cli/run.js';

setHeapPolicy(); // as the bin does

const started = performance.now();
let firstOutputMs;
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  firstOutputMs ??= performance.now() - started;
  return write(chunk, ...rest);
};
const calls = {};
const count = (method, url) => {
  const route = `${method} ${new URL(url).pathname.replace(/msgbatch_\w+/, ':id')}`;
  calls[route] = (calls[route] ?? 0) + 1;
};
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  count(init?.method ?? 'GET', typeof input === 'string' ? input : input.url);
  return realFetch(input, init);
};
// Streamed batch bodies go through node:http (see src/client/fetch.ts), not fetch.
for (const module of [http, https]) {
  const request = module.request;
  module.request = (url, options, ...rest) => {
    count(options?.method ?? 'GET', url);
    return request(url, options, ...rest);
  };
}
syncBuiltinESMExports();
let peakRssMb = 0;
const sampler = setInterval(() => (peakRssMb = Math.max(peakRssMb, process.memoryUsage.rss() / 1048576)), 100);
const code = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
clearInterval(sampler);
const usage = process.resourceUsage();
process.stderr.write(
  `BENCH ${JSON.stringify({ code, wallMs: performance.now() - started, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000, maxRssMb: usage.maxRSS / 1024, sampledPeakRssMb: peakRssMb, firstOutputMs, calls })}\n`,
);
process.exitCode = code;
