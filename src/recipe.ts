/**
 * Recipes: a ready enrichment (prompt, system prompt, zod schema, model, max tokens) that the CLI
 * loads with `--transform` and that code uses as a stream stage with `recipeStage`.
 */
import type { z } from 'zod';
import { enrichStage, type EnrichOptions } from './enrich.ts';

export interface Recipe {
  /** Short name, e.g. `ticket-triage`. */
  name: string;
  description: string;
  /** The prompt template over record fields (`{{field}}`, `{{a.b}}`, `{{$record}}`). */
  prompt: string;
  /** The shared system prompt, sent once per request as the cacheable prefix. */
  system?: string | undefined;
  /** The answer's shape: sent as JSON Schema, checked with zod. */
  schema?: z.ZodType | undefined;
  model?: string | undefined;
  maxTokens?: number | undefined;
  /**
   * `max_tokens` for records that carry documents, when their answer is longer than a row's (every
   * clause of a whole contract, against one clause's review); absent: `maxTokens`.
   */
  documentMaxTokens?: number | undefined;
  into?: string | undefined;
  idField?: string | undefined;
  /** Fields that hold documents (paths, https URLs, Buffers, Blobs), sent as document and image blocks. */
  attach?: readonly string[] | undefined;
  /** The prompt for records that carry documents (else `prompt`): it need not name the text fields. */
  documentPrompt?: string | undefined;
  /** The answer's shape when the input is whole documents (a folder, a path list, `--attach`), if it differs from `schema`. */
  documentSchema?: z.ZodType | undefined;
  /** The input fields the prompt needs, for `--help` and error messages. */
  fields?: readonly string[] | undefined;
}

/**
 * Declares a recipe (identity; gives type checking to recipe modules). It keeps the recipe's own type,
 * its zod schema's included, so that `recipeOptions(recipe)` types the rows `enrich()` gives.
 */
export function defineRecipe<R extends Recipe>(recipe: R): R {
  return recipe;
}

/**
 * `recipeOptions(recipe)`'s type: its zod `schema` as it is (the answer's fields are typed in the rows
 * `enrich()` and `enrichAll()` give, helper-95), and a `documentSchema` when it has one (either answer
 * may come then: any fields).
 */
export type RecipeOptions<R extends Recipe> = EnrichOptions &
  (R extends { schema: infer S extends z.ZodType } ? { schema: S } : unknown) &
  (R extends { documentSchema: z.ZodType } ? { documentSchema: z.ZodType } : unknown);

/**
 * A recipe as a `pipeline` stage; `overrides` win over the recipe's own settings. `documents: true`
 * runs it over whole documents: its `documentPrompt` and `documentSchema` (when it has them).
 */
export function recipeStage(recipe: Recipe, overrides: Partial<EnrichOptions> = {}, options: { documents?: boolean } = {}) {
  return enrichStage(recipeStageOptions(recipe, overrides, options));
}

/**
 * A recipe's options with `overrides` over them; `maxTokens` given is the limit of every record, its
 * records with documents too (as --max-tokens is), unless `documentMaxTokens` is given as well.
 */
export function recipeStageOptions(recipe: Recipe, overrides: Partial<EnrichOptions> = {}, options: { documents?: boolean } = {}): EnrichOptions {
  const base = recipeOptions(recipe, options);
  const documents = overrides.maxTokens !== undefined && overrides.documentMaxTokens === undefined && base.documentMaxTokens !== undefined ? { documentMaxTokens: overrides.maxTokens } : {};
  // An id field given here is the caller's own: checked on the first record, as --id-field is.
  const own = overrides.idField !== undefined && overrides.idFieldOptional === undefined ? { idFieldOptional: false } : {};
  return { ...base, ...overrides, ...documents, ...own };
}

/** The enrich options a recipe stands for (`documents: true`: for whole documents, see `recipeStage`). */
export function recipeOptions<R extends Recipe>(recipe: R, options?: { documents?: false }): RecipeOptions<R>;
export function recipeOptions(recipe: Recipe, options?: { documents?: boolean }): EnrichOptions;
export function recipeOptions(recipe: Recipe, options: { documents?: boolean } = {}): EnrichOptions {
  const whole = options.documents === true;
  const schema = whole && recipe.documentSchema ? recipe.documentSchema : recipe.schema;
  const maxTokens = whole ? (recipe.documentMaxTokens ?? recipe.maxTokens) : recipe.maxTokens;
  return {
    prompt: whole && recipe.documentPrompt ? recipe.documentPrompt : recipe.prompt,
    ...(recipe.system === undefined ? {} : { system: recipe.system }),
    ...(schema === undefined ? {} : { schema }),
    ...(recipe.model === undefined ? {} : { model: recipe.model }),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...(recipe.documentMaxTokens === undefined || whole ? {} : { documentMaxTokens: recipe.documentMaxTokens }),
    ...(recipe.into === undefined ? {} : { into: recipe.into }),
    // A recipe's id field is a label shown when a row has it (the CLI checks only --id-field's): rows
    // of other sources, a folder's files, may lack it.
    ...(recipe.idField === undefined ? {} : { idField: recipe.idField, idFieldOptional: true }),
    ...(recipe.attach === undefined ? {} : { attach: [...recipe.attach] }),
    ...(recipe.documentPrompt === undefined ? {} : { documentPrompt: recipe.documentPrompt }),
    // With `attach`, records with documents are asked the document answer, the others their own.
    ...(recipe.documentSchema === undefined || whole ? {} : { documentSchema: recipe.documentSchema }),
  };
}
