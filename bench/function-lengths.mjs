// Issue 16's "no function in src/ longer than about 200 lines", measured: every function, method
// and arrow function in src/**/*.ts (parsed with rolldown's TypeScript parser, which vitest brings
// along), longest first. Prints the longest 10 and exits 1 when one is over the limit.
//
//   node bench/function-lengths.mjs [LIMIT]     LIMIT defaults to 200 lines
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAst } from 'rolldown/parseAst';

const limit = Number(process.argv[2] ?? 200);
const root = fileURLToPath(new URL('..', import.meta.url));
const files = readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
  .map((entry) => join(entry.parentPath, entry.name));

const functions = [];
const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);
for (const file of files) {
  const code = readFileSync(file, 'utf8');
  const lineStarts = [0];
  for (let i = code.indexOf('\n'); i !== -1; i = code.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const lineOf = (offset) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const visit = (node, name) => {
    if (Array.isArray(node)) return node.forEach((child) => visit(child, name));
    if (node === null || typeof node !== 'object' || typeof node.type !== 'string') return;
    let own = name;
    if (node.type === 'MethodDefinition' || node.type === 'PropertyDefinition' || node.type === 'Property') own = node.key?.name ?? node.key?.value ?? name;
    if (node.type === 'VariableDeclarator') own = node.id?.name ?? name;
    if (FUNCTION_TYPES.has(node.type)) {
      const from = lineOf(node.start);
      functions.push({ where: `${relative(root, file)}:${from}`, name: node.id?.name ?? own ?? '(anonymous)', lines: lineOf(node.end) - from + 1 });
    }
    for (const [key, value] of Object.entries(node)) if (key !== 'type' && value && typeof value === 'object') visit(value, own);
  };
  visit(parseAst(code, { lang: 'ts' }, file), undefined);
}
functions.sort((a, b) => b.lines - a.lines);
for (const { where, name, lines } of functions.slice(0, 10)) process.stdout.write(`${String(lines).padStart(5)}  ${name}  ${where}\n`);
const over = functions.filter((f) => f.lines > limit);
process.stdout.write(`${functions.length} functions in ${files.length} files; ${over.length} longer than ${limit} lines\n`);
process.exitCode = over.length > 0 ? 1 : 0;
