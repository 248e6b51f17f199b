/**
 * Flags and recipe → what the requests are made of (`Config`); flags win over the recipe. Also the
 * job's default name, which depends on exactly these settings.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { settingsJobName } from '../../core/job.ts';
import { basename, resolve } from 'node:path';
import { DEFAULT_MAX_TOKENS, DEFAULT_MODEL } from '../../enrich.ts';
import { isBatchEnrichError, usageError } from '../../errors.ts';
import type { JSONSchema } from '../../core/request.ts';
import { resolveAnswerSchema } from '../../core/schema.ts';
import { compileTemplate } from '../../core/template.ts';
import { bomOf, countLineEnds, firstInvalidUtf8, utf16WithoutBom } from '../../core/encoding.ts';
import type { FlagValues } from '../flags.ts';
import { loadRecipe } from '../recipes.ts';
import type { ENRICH_FLAGS } from './flags.ts';

/** The parsed flags of the default command. */
export type EnrichValues = FlagValues<typeof ENRICH_FLAGS>;

export interface Config {
  prompt: ReturnType<typeof compileTemplate>;
  system: string | undefined;
  answer: ReturnType<typeof resolveAnswerSchema> | undefined;
  model: string;
  maxTokens: number;
  /** The recipe's `max_tokens` for records with documents (undefined when `--max-tokens` is given: it sets both). */
  documentMaxTokens: number | undefined;
  into: string | undefined;
  idField: string | undefined;
  attach: readonly string[] | undefined;
  documentPrompt: ReturnType<typeof compileTemplate> | undefined;
  /** The recipe's answer for whole documents, used when the input is documents. */
  documentAnswer: ReturnType<typeof resolveAnswerSchema> | undefined;
}

/** Options and recipe → one config; flags win over the recipe. */
export async function resolveConfig(values: EnrichValues): Promise<Config> {
  const recipe = values.transform ? await loadRecipe(values.transform) : undefined;
  if (values.prompt !== undefined && values['prompt-file'] !== undefined) throw usageError('use either --prompt or --prompt-file, not both');
  if (values.system !== undefined && values['system-file'] !== undefined) throw usageError('use either --system or --system-file, not both');
  const promptText = values.prompt ?? (values['prompt-file'] ? readText('--prompt-file', values['prompt-file']) : recipe?.prompt);
  if (!promptText) throw usageError('no prompt: give --prompt TEMPLATE, --prompt-file FILE or --transform RECIPE');
  const system = values.system ?? (values['system-file'] ? readText('--system-file', values['system-file']) : recipe?.system);
  let answer: Config['answer'];
  if (values.schema) {
    answer = resolveAnswerSchema(readSchema(values.schema), values.schema);
  } else if (recipe?.schema) {
    answer = resolveAnswerSchema(recipe.schema, `recipe ${recipe.name}`);
  }
  let prompt;
  try {
    prompt = compileTemplate(promptText);
  } catch (error) {
    throw usageError((error as Error).message);
  }
  return {
    prompt,
    system: system || undefined,
    answer,
    model: values.model ?? recipe?.model ?? DEFAULT_MODEL,
    maxTokens: values['max-tokens'] ?? recipe?.maxTokens ?? DEFAULT_MAX_TOKENS,
    documentMaxTokens: values['max-tokens'] === undefined ? recipe?.documentMaxTokens : undefined,
    into: values.into ?? recipe?.into,
    idField: values['id-field'] ?? recipe?.idField,
    attach: recipe?.attach,
    documentAnswer: recipe?.documentSchema && !values.schema ? resolveAnswerSchema(recipe.documentSchema, `recipe ${recipe.name}`) : undefined,
    // A --prompt of your own is used for every record; a recipe's document prompt only with its own prompt.
    documentPrompt: recipe?.documentPrompt && values.prompt === undefined && values['prompt-file'] === undefined ? compileTemplate(recipe.documentPrompt) : undefined,
  };
}

function readSchema(file: string): JSONSchema {
  let json: unknown;
  try {
    json = JSON.parse(readText('--schema', file));
  } catch (error) {
    if (isBatchEnrichError(error)) throw error;
    throw usageError(`--schema ${file}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw usageError(`--schema ${file}: expected a JSON Schema object`);
  return json as JSONSchema;
}

function readText(flag: string, file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw usageError(`${flag} ${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return settingsText(flag, file, bytes);
}

/**
 * A settings file's text as written (helper-80): its byte order mark left out (it was sent in every
 * prompt, and broke a schema with an invisible character), UTF-16 read as such (PowerShell's `>` writes
 * it; its NULs had made a prompt with no field); anything else must be UTF-8, or the file, the line and
 * the byte are named (a windows-1252 é was sent as U+FFFD, silently).
 */
function settingsText(flag: string, file: string, bytes: Buffer): string {
  const bom = bomOf(bytes);
  const encoding = bom?.encoding ?? (bytes.length % 2 === 0 ? utf16WithoutBom(bytes) : undefined) ?? 'utf-8';
  const body = bytes.subarray(bom?.length ?? 0);
  if (encoding === 'utf-8') {
    const bad = firstInvalidUtf8(body);
    if (bad < body.length) {
      const line = countLineEnds(body, 0, bad) + 1;
      throw usageError(`${flag} ${file}:${line}: not UTF-8 (the byte 0x${(body[bad] as number).toString(16)}); save it as UTF-8`);
    }
  }
  return new TextDecoder(encoding, { ignoreBOM: true }).decode(body);
}

/** The fields the answer adds to a record: `--into`'s, the schema's, or `answer` for free text. */
export function answerFields(config: Config): string[] {
  return config.into ? [config.into] : config.answer?.fields.length ? config.answer.fields : ['answer'];
}

/**
 * The job a run belongs to when `--job` is not given: the input's name, and a hash of the request
 * settings and of where the input is (its real path: `d1/data.csv` and `d2/data.csv` are two jobs, so
 * `cancel --job` on one never cancels the other's batches; the same file by another path is one job).
 */
export function defaultJobName(file: string, config: Config): string {
  const settings = [config.prompt.source, config.system, config.answer?.jsonSchema, config.model, config.maxTokens];
  return file === '-' ? settingsJobName('stdin', settings) : settingsJobName(basename(file), settings, realPathOf(file));
}

function realPathOf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}
