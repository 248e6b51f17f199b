/**
 * Recipes on the command line: loading one for `--transform NAME|FILE`, `batch-enrich recipes` (the
 * bundled ones with their input fields) and `--transform NAME --help` (one in full).
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { usageError } from '../errors.ts';
import type { Recipe } from '../recipe.ts';
import { resolveAnswerSchema } from '../core/schema.ts';
import { compileTemplate } from '../core/template.ts';
import { DEFAULT_MAX_TOKENS, DEFAULT_MODEL } from '../enrich.ts';
import { EXIT, type CliIo } from './io.ts';
import { guarded, help } from './command.ts';
import { parseFlags, renderFlags } from './flags.ts';

/** The recipes in `transforms/`. */
export const BUNDLED = ['ticket-triage', 'invoice-extraction', 'contract-clauses'] as const;

/** Loads a recipe by name (a bundled one) or from a module path (its default export or `recipe`). */
export async function loadRecipe(spec: string): Promise<Recipe> {
  const here = dirname(fileURLToPath(import.meta.url));
  // Built: dist/src/cli → dist/transforms/NAME.js. From source (tsx, vitest): src/cli → transforms/NAME.ts.
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const bundled = join(here, '..', '..', 'transforms', `${spec}${ext}`);
  let path: string;
  if (/^[a-z0-9][a-z0-9-]*$/.test(spec) && existsSync(bundled)) {
    path = bundled;
  } else {
    path = resolve(spec);
    if (!existsSync(path)) throw usageError(`--transform ${spec}: no such recipe or file (bundled recipes: ${BUNDLED.join(', ')}; see 'batch-enrich recipes')`);
    if (path.endsWith('.ts') && ext === '.js') {
      // A bundled recipe given by its source path: use its compiled twin.
      const root = join(here, '..', '..', '..');
      const rel = relative(root, path);
      const twin = join(here, '..', '..', rel.replace(/\.ts$/, '.js'));
      if (!rel.startsWith('..') && !isAbsolute(rel) && existsSync(twin)) path = twin;
      else throw usageError(`--transform ${spec}: Node cannot load TypeScript directly; compile the recipe to .js (or run batch-enrich under tsx)`);
    }
  }
  let module: { default?: unknown; recipe?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as typeof module;
  } catch (error) {
    throw usageError(`--transform ${spec}: cannot load the module: ${(error as Error).message}`);
  }
  const recipe = (module.default ?? module.recipe) as Partial<Recipe> | undefined;
  if (!recipe || typeof recipe !== 'object' || typeof recipe.prompt !== 'string') {
    throw usageError(`--transform ${spec}: the module must export a recipe (default export with at least a 'prompt')`);
  }
  return { name: spec, description: '', ...recipe } as Recipe;
}


/** `batch-enrich recipes`: each bundled recipe, what it does and the fields it reads. */
export function recipesCommand(argv: string[], io: CliIo): Promise<number> {
  return guarded('recipes', io, async () => {
    if (parseFlags(RECIPES_FLAGS, argv).values.help) return help(io, RECIPES_HELP);
    io.stdout.write(await recipesList());
    return EXIT.OK;
  });
}

/** Each bundled recipe: its name, what it does, the fields it reads. */
async function recipesList(): Promise<string> {
  let text = '';
  for (const name of BUNDLED) {
    const recipe = await loadRecipe(name);
    const { required, optional } = inputFields(recipe);
    text += `${name.padEnd(20)}${recipe.description}\n${' '.repeat(20)}fields: ${[...required, ...optional.map((f) => `${f} (optional)`)].join(', ')}${recipe.idField ? `; id: ${recipe.idField}` : ''}\n`;
  }
  return `${text}\nShow one in full: batch-enrich --transform NAME --help\n`;
}

/** The flags of `batch-enrich recipes`. */
export const RECIPES_FLAGS = {
  help: { short: 'h', help: 'show this help' },
} as const;

export const RECIPES_HELP = `Usage: batch-enrich recipes

List the bundled recipes with the input fields each one reads. Use one with --transform NAME;
see one in full (prompt, system prompt, answer fields, model) with --transform NAME --help.

${renderFlags(RECIPES_FLAGS, [])}`;

/** `--transform NAME --help`: the recipe in full. */
export function describeRecipe(recipe: Recipe): string {
  const { required, optional } = inputFields(recipe);
  const answer = recipe.schema ? resolveAnswerSchema(recipe.schema, `recipe ${recipe.name}`).fields : [];
  return [
    `Recipe ${recipe.name}: ${recipe.description}`,
    '',
    `Input fields:   ${[...required, ...optional.map((f) => `${f} (optional)`)].join(', ') || '(none)'}${recipe.idField ? ` (the ${recipe.idField} field, when present, is shown in each custom_id)` : ''}`,
    `Answer fields:  ${answer.join(', ') || `free text, in ${recipe.into ?? 'answer'}`}${recipe.into ? ` (under ${recipe.into})` : ''}`,
    `Model:          ${recipe.model ?? DEFAULT_MODEL}, max_tokens ${recipe.maxTokens ?? DEFAULT_MAX_TOKENS}`,
    '',
    'Prompt:',
    indent(recipe.prompt),
    ...(recipe.system ? ['', 'System prompt:', indent(recipe.system)] : []),
    '',
    `Run it: batch-enrich --transform ${recipe.name} FILE   (flags such as --model win over the recipe)`,
    '',
  ].join('\n');
}

/** The fields a recipe's prompt reads: required, and optional (`{{field?}}`). */
function inputFields(recipe: Recipe): { required: string[]; optional: string[] } {
  const template = compileTemplate(recipe.prompt);
  return { required: [...template.required], optional: template.fields.filter((f) => !template.required.includes(f) && f !== '$record') };
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

