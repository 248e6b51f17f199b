/**
 * Recipes on the command line: loading one for `--transform NAME|FILE`, `batch-enrich recipes` (the
 * bundled ones with their input fields) and `--transform NAME --help` (one in full).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { usageError } from '../errors.ts';
import type { Recipe } from '../recipe.ts';
import { resolveAnswerSchema } from '../core/schema.ts';
import { closest } from '../core/suggest.ts';
import { compileTemplate } from '../core/template.ts';
import { argPath, shellWord } from '../core/text.ts';
import { DEFAULT_MAX_TOKENS, DEFAULT_MODEL } from '../enrich.ts';
import { EXIT, type CliIo } from './io.ts';
import { guarded, help } from './command.ts';
import { parseFlags, renderFlags } from './flags.ts';
import { packageRoot } from './package.ts';

/**
 * The recipes in `transforms/`, each imported by a literal path: compiled, that is
 * `dist/transforms/NAME.js`; from source (vitest, tsx), `transforms/NAME.ts`; in the bin's bundle,
 * a chunk of it that shares the bundle's modules (so loading one loads nothing twice).
 */
const RECIPE_MODULES = {
  'ticket-triage': () => import('../../transforms/ticket-triage.ts'),
  'invoice-extraction': () => import('../../transforms/invoice-extraction.ts'),
  'contract-clauses': () => import('../../transforms/contract-clauses.ts'),
} as const;

type RecipeName = keyof typeof RECIPE_MODULES;
/** What a recipe module exports: the recipe as its default export, or as `recipe`. */
type RecipeModule = { default?: unknown; recipe?: unknown };

/** The recipes in `transforms/`. */
export const BUNDLED = Object.keys(RECIPE_MODULES) as RecipeName[];

function bundledName(spec: string): RecipeName | undefined {
  return Object.hasOwn(RECIPE_MODULES, spec) ? (spec as RecipeName) : undefined;
}

/** Loads a recipe by name (a bundled one) or from a module path (its default export or `recipe`). */
export async function loadRecipe(spec: string): Promise<Recipe> {
  const load = recipeLoader(spec);
  let module: RecipeModule;
  try {
    module = await load();
  } catch (error) {
    throw usageError(`--transform ${spec}: cannot load the module: ${(error as Error).message}`);
  }
  const recipe = (module.default ?? module.recipe) as Partial<Recipe> | undefined;
  if (!recipe || typeof recipe !== 'object' || typeof recipe.prompt !== 'string') {
    throw usageError(`--transform ${spec}: the module must export a recipe (default export with at least a 'prompt')`);
  }
  return { name: spec, description: '', ...recipe } as Recipe;
}

/** How to import what `--transform SPEC` names: a bundled recipe, by name or by its source path, or a module file. */
function recipeLoader(spec: string): () => Promise<RecipeModule> {
  const named = bundledName(spec);
  if (named) return RECIPE_MODULES[named];
  const path = resolve(spec);
  if (!existsSync(path)) {
    const meant = closest(spec, BUNDLED);
    throw usageError(`--transform ${spec}: no such recipe or file${meant ? `: did you mean '${meant}'?` : ''} (bundled recipes: ${BUNDLED.join(', ')}; see 'batch-enrich recipes')`);
  }
  if (!path.endsWith('.ts') || import.meta.url.endsWith('.ts')) return () => import(pathToFileURL(path).href) as Promise<RecipeModule>;
  // Node cannot load TypeScript: a bundled recipe's source (transforms/NAME.ts of this package) loads compiled.
  const twin = sourceTwin(path);
  if (twin) return RECIPE_MODULES[twin];
  throw usageError(`--transform ${spec}: Node cannot load TypeScript directly; compile the recipe to .js (or run batch-enrich under tsx)`);
}

/** The bundled recipe whose source is `path` (`transforms/NAME.ts` of this package), if it is one. */
function sourceTwin(path: string): RecipeName | undefined {
  const root = packageRoot();
  if (root === undefined) return undefined;
  const rel = relative(join(root, 'transforms'), path);
  return rel.startsWith('..') || isAbsolute(rel) || rel.includes(sep) ? undefined : bundledName(rel.slice(0, -'.ts'.length));
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
    const documents = recipe.attach?.length ? `; documents: ${recipe.attach.join(', ')}, or a folder` : recipe.documentPrompt || recipe.documentSchema ? '; or whole documents (a folder)' : '';
    text += `${name.padEnd(20)}${recipe.description}\n${' '.repeat(20)}fields: ${[...required, ...optional.map((f) => `${f} (optional)`)].join(', ')}${documents}${recipe.idField ? `; id: ${recipe.idField}` : ''}\n`;
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

/**
 * `--transform SPEC --help`: the recipe in full, with the command that runs it as it was named
 * (`spec`: a bundled recipe's name, or the path of a module, whose recipe's `name` is no path).
 */
export function describeRecipe(recipe: Recipe, spec: string = recipe.name): string {
  const { required, optional } = inputFields(recipe);
  const answer = recipe.schema ? resolveAnswerSchema(recipe.schema, `recipe ${recipe.name}`).fields : [];
  const wholeAnswer = recipe.documentSchema ? resolveAnswerSchema(recipe.documentSchema, `recipe ${recipe.name}`).fields : [];
  return [
    `Recipe ${recipe.name}: ${recipe.description}`,
    '',
    `Input fields:   ${[...required, ...optional.map((f) => `${f} (optional)`)].join(', ') || '(none)'}${recipe.idField ? ` (the ${recipe.idField} field, when present, is shown in each custom_id)` : ''}`,
    ...documentLines(recipe),
    `Answer fields:  ${answer.join(', ') || `free text, in ${recipe.into ?? 'answer'}`}${recipe.into ? ` (under ${recipe.into})` : ''}`,
    ...(wholeAnswer.length > 0 ? [`                for whole documents: ${wholeAnswer.join(', ')}`] : []),
    `Model:          ${recipe.model ?? DEFAULT_MODEL}, max_tokens ${recipe.maxTokens ?? DEFAULT_MAX_TOKENS}${recipe.documentMaxTokens === undefined ? '' : ` (${recipe.documentMaxTokens.toLocaleString('en')} for a record with documents)`}`,
    '',
    'Prompt:',
    indent(recipe.prompt),
    ...(recipe.documentPrompt ? ['', 'Prompt for records with documents (then the prompt above, for a record that has its fields too):', indent(recipe.documentPrompt)] : []),
    ...(recipe.system ? ['', 'System prompt:', indent(recipe.system)] : []),
    '',
    `Run it: batch-enrich --transform ${shellWord(argPath(spec))} FILE   (flags such as --model win over the recipe)`,
    '',
  ].join('\n');
}

/** Where a recipe that reads documents takes them from (none for one that reads text only). */
function documentLines(recipe: Recipe): string[] {
  if (!recipe.attach?.length && !recipe.documentPrompt && !recipe.documentSchema) return [];
  const fields = recipe.attach?.length ? `the ${recipe.attach.join(', ')} field${recipe.attach.length > 1 ? 's' : ''} (a path or an https URL), or ` : '';
  return [`Documents:      PDFs, images, e-mails, text files: ${fields}a folder of them as the input, a list of paths (--input-format paths), or --attach FIELD`];
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

