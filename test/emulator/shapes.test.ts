/**
 * The emulator's copy of the OpenAPI document's server tools and content blocks (src/emulator/shapes.ts)
 * is the document's: read from it again here, so a newer document that changes one fails this test
 * instead of the emulator drifting from it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BLOCKS, CITATION_FIELDS, SERVER_RESULT_CONTENT, SERVER_TOOL_FIELDS, SERVER_TOOLS, TEXT_CITATIONS, TOOL_RESULT_BLOCKS, TOOLSET_CONFIGS, type FieldType, type Shape } from '../../src/emulator/shapes.ts';
import { ROOT } from '../helpers/cli.ts';

type Schema = { properties: Record<string, { const?: string; enum?: string[] }>; required?: string[]; additionalProperties?: boolean };
const spec = JSON.parse(readFileSync(join(ROOT, 'fixtures', 'spec', 'anthropic-openapi.json'), 'utf8')) as { components: { schemas: Record<string, Schema & Record<string, unknown>> } };
const schemas = spec.components.schemas;
const named = (refs: { $ref: string }[]) => refs.map((r) => r.$ref.split('/').pop() as string);

/** Each schema's shapes by the `type` values it takes, as shapes.ts writes them. */
function shapesOf(names: string[]): Record<string, Shape> {
  const out: Record<string, Shape> = {};
  for (const schema of names) {
    const s = schemas[schema] as Schema;
    expect(s.additionalProperties, schema).toBe(false);
    const type = s.properties['type'] ?? {};
    const name = s.properties['name']?.const;
    for (const t of type.const !== undefined ? [type.const] : (type.enum ?? [])) {
      out[t] = { schema, keys: Object.keys(s.properties).sort(), required: (s.required ?? []).filter((k) => k !== 'type').sort(), ...(name ? { name } : {}) };
    }
  }
  return out;
}

describe('the shapes the emulator checks are the OpenAPI document\'s', () => {
  it('server tools: CreateMessageParams.tools.items, every member but Tool', () => {
    const tools = (schemas['CreateMessageParams'] as Schema).properties['tools'] as unknown as { items: { oneOf: { $ref: string }[] } };
    expect(SERVER_TOOLS).toEqual(shapesOf(named(tools.items.oneOf).filter((n) => n !== 'Tool')));
  });

  it('server tool fields: one schema per field name across the server tools, each one params.ts checks', () => {
    // params.ts checks a server tool's fields by their name (helper-79 #5): that holds while a name means one schema.
    const bySchema = new Map<string, Set<string>>();
    for (const shape of Object.values(SERVER_TOOLS))
      for (const [key, field] of Object.entries((schemas[shape.schema] as Schema).properties)) {
        if (key === 'type' || key === 'name') continue;
        // What validates: without the words (description, title) and the SDK generator's x-* annotations.
        const text =
          key === 'configs'
            ? 'per toolset' // A toolset's configs differ by toolset, by design: TOOLSET_CONFIGS has each.
            : JSON.stringify(field, (k, v) => (k === 'description' || k === 'title' || k.startsWith('x-') ? undefined : v));
        bySchema.set(key, (bySchema.get(key) ?? new Set()).add(text));
      }
    expect([...bySchema.keys()].sort()).toEqual([...SERVER_TOOL_FIELDS]);
    for (const [key, texts] of bySchema) expect(texts.size, key).toBe(1);
  });

  it("toolset configs: BrowserToolsetConfigs, ComputerToolsetConfigs, each member {defer_loading, enabled}", () => {
    const fromDoc: Record<string, { schema: string; members: string[] }> = {};
    for (const [type, shape] of Object.entries(SERVER_TOOLS)) {
      const configs = (schemas[shape.schema] as Schema).properties['configs'] as unknown as { anyOf: { $ref?: string }[] } | undefined;
      if (!configs) continue;
      const schema = named(configs.anyOf.filter((b): b is { $ref: string } => b.$ref !== undefined))[0] as string;
      const s = schemas[schema] as Schema;
      expect(s.additionalProperties, schema).toBe(false);
      for (const member of Object.values(s.properties) as unknown as { anyOf: { $ref?: string }[] }[]) {
        const config = schemas[named(member.anyOf.filter((b): b is { $ref: string } => b.$ref !== undefined))[0] as string] as Schema;
        expect(config.additionalProperties).toBe(false);
        expect(Object.keys(config.properties).sort()).toEqual(['defer_loading', 'enabled']);
      }
      fromDoc[type] = { schema, members: Object.keys(s.properties).sort() };
    }
    expect(TOOLSET_CONFIGS).toEqual(fromDoc);
  });

  it('content blocks: InputContentBlock', () => {
    expect(BLOCKS).toEqual(shapesOf(named((schemas['InputContentBlock'] as unknown as { oneOf: { $ref: string }[] }).oneOf)));
  });

  it("a tool_result's blocks: RequestToolResultBlock.content", () => {
    const content = (schemas['RequestToolResultBlock'] as Schema).properties['content'] as unknown as { anyOf: { type?: string; items?: { oneOf: { $ref: string }[] } }[] };
    const list = content.anyOf.find((branch) => branch.type === 'array');
    expect(TOOL_RESULT_BLOCKS).toEqual(shapesOf(named(list?.items?.oneOf ?? [])));
  });

  it("a server tool result's content: each Request…ToolResultBlock.content of InputContentBlock, its anyOf by tag", () => {
    const fromDoc: Record<string, { items?: Record<string, Shape>; members: Record<string, Shape> }> = {};
    for (const [type, shape] of Object.entries(BLOCKS)) {
      const content = (schemas[shape.schema] as Schema).properties['content'] as unknown as { anyOf?: { $ref?: string; type?: string; items?: { $ref: string } }[] } | undefined;
      if (!shape.schema.endsWith('ToolResultBlock') || type === 'tool_result' || !content?.anyOf) continue;
      const list = content.anyOf.find((branch) => branch.type === 'array');
      fromDoc[type] = {
        ...(list?.items ? { items: shapesOf(named([list.items])) } : {}),
        members: shapesOf(named(content.anyOf.filter((b): b is { $ref: string } => b.$ref !== undefined))),
      };
    }
    expect(Object.keys(fromDoc).sort()).toEqual(['bash_code_execution_tool_result', 'code_execution_tool_result', 'text_editor_code_execution_tool_result', 'tool_search_tool_result', 'web_fetch_tool_result', 'web_search_tool_result']);
    expect(SERVER_RESULT_CONTENT).toEqual(fromDoc);
  });

  it("a text block's citations: RequestTextBlock.citations.items, in the document's order, with their fields' types", () => {
    const citations = (schemas['RequestTextBlock'] as Schema).properties['citations'] as unknown as { anyOf: { type?: string; items?: { oneOf: { $ref: string }[] } }[] };
    const list = citations.anyOf.find((branch) => branch.type === 'array');
    const shapes = shapesOf(named(list?.items?.oneOf ?? []));
    expect(Object.keys(TEXT_CITATIONS)).toEqual(Object.keys(shapes));
    expect(TEXT_CITATIONS).toEqual(shapes);
    type Field = { type?: string; minimum?: number; minLength?: number; maxLength?: number; anyOf?: Field[] };
    const fromDoc: Record<string, Record<string, FieldType>> = {};
    for (const [tag, shape] of Object.entries(shapes)) {
      fromDoc[tag] = {};
      for (const [key, raw] of Object.entries((schemas[shape.schema] as Schema).properties as Record<string, Field>)) {
        if (key === 'type') continue;
        const branches = raw.anyOf ?? [raw];
        const value = branches.find((b) => b.type !== 'null') as Field;
        const field: Record<string, unknown> = { type: value.type };
        for (const k of ['minimum', 'minLength', 'maxLength'] as const) if (value[k] !== undefined) field[k] = value[k];
        if (branches.some((b) => b.type === 'null')) field['nullable'] = true;
        fromDoc[tag][key] = field as FieldType;
      }
    }
    expect(CITATION_FIELDS).toEqual(fromDoc);
  });
});
