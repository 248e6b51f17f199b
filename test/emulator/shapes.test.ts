/**
 * The emulator's copy of the OpenAPI document's server tools and content blocks (src/emulator/shapes.ts)
 * is the document's: read from it again here, so a newer document that changes one fails this test
 * instead of the emulator drifting from it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BLOCKS, SERVER_TOOLS, TOOL_RESULT_BLOCKS, type Shape } from '../../src/emulator/shapes.ts';
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

  it('content blocks: InputContentBlock', () => {
    expect(BLOCKS).toEqual(shapesOf(named((schemas['InputContentBlock'] as unknown as { oneOf: { $ref: string }[] }).oneOf)));
  });

  it("a tool_result's blocks: RequestToolResultBlock.content", () => {
    const content = (schemas['RequestToolResultBlock'] as Schema).properties['content'] as unknown as { anyOf: { type?: string; items?: { oneOf: { $ref: string }[] } }[] };
    const list = content.anyOf.find((branch) => branch.type === 'array');
    expect(TOOL_RESULT_BLOCKS).toEqual(shapesOf(named(list?.items?.oneOf ?? [])));
  });
});
