// What a run of the bin costs before it reads a record: the CPU time (user and system, the whole
// process) of `--version`, `--help` and a one-row `--dry-run`, the median of 7 runs each, for the bin
// as shipped (`dist/cli/main.js`, a bundle: rolldown.config.mjs) and for the same code unbundled
// (`dist/src/cli/main.js`, tsc's output). Every pipeline run and every test that spawns the CLI pays it.
//
//   node bench/startup.mjs      (after npm run build)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CPU = "data:text/javascript,process.on('exit',()=>{const u=process.cpuUsage();process.stderr.write('CPU '+(u.user+u.system)+'\\n')})";
const RUNS = 7;
const cases = {
  version: { args: ['--version'] },
  help: { args: ['--help'] },
  dryRun: { args: ['--dry-run', '--prompt', 'Summarize: {{text}}'], input: 'text\nhello\n' },
};

function cpuMs(bin, { args, input = '' }) {
  const samples = [];
  for (let i = 0; i < RUNS; i++) {
    const out = spawnSync(process.execPath, ['--import', CPU, join(root, bin), ...args], { cwd: root, input, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    const line = out.stderr.split('\n').find((l) => l.startsWith('CPU '));
    if (out.status !== 0 || !line) throw new Error(`${bin} ${args.join(' ')} failed (exit ${out.status}): ${out.stderr.slice(-1000)}`);
    samples.push(Number(line.slice(4)) / 1000);
  }
  samples.sort((a, b) => a - b);
  return Math.round(samples[Math.floor(RUNS / 2)]);
}

export function startupFigures() {
  const figures = {};
  for (const [name, c] of Object.entries(cases)) figures[name] = { bundleCpuMs: cpuMs('dist/cli/main.js', c), unbundledCpuMs: cpuMs('dist/src/cli/main.js', c) };
  return figures;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = startupFigures();
  for (const [name, f] of Object.entries(figures)) process.stdout.write(`${name}: ${f.bundleCpuMs} ms of CPU (unbundled: ${f.unbundledCpuMs} ms)\n`);
  process.stderr.write(`${JSON.stringify(figures)}\n`);
}
