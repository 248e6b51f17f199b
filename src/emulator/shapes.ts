/**
 * The request shapes the emulator checks by their keys, as the OpenAPI document declares them
 * (fixtures/spec/anthropic-openapi.json; each entry names its schema, all `additionalProperties:
 * false`): the keys allowed, those required besides `type`, and the `name` a server tool must have.
 * - `SERVER_TOOLS`: [SPEC CreateMessageParams.tools.items], a closed `oneOf` of `Tool` (a custom
 *   tool, checked field by field in `./params.ts`) and these server tools, by their `type`.
 * - `BLOCKS`: [SPEC InputContentBlock], the content blocks of a message, by their `type`.
 * - `TOOL_RESULT_BLOCKS`: [SPEC RequestToolResultBlock.content], the blocks a `tool_result` may hold.
 * Copied from the document; test/emulator/shapes.test.ts reads them from it again, so a newer
 * document that differs fails that test instead of the emulator drifting from it.
 */
export interface Shape {
  /** The schema of the OpenAPI document it is copied from. */
  schema: string;
  keys: readonly string[];
  /** Required, besides `type`. */
  required: readonly string[];
  /** The tool name a server tool must be given (its schema's `name.const`). */
  name?: string;
}

export const SERVER_TOOLS: Readonly<Record<string, Shape>> = {
  bash_20250124: { schema: 'BashTool_20250124', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'input_examples', 'name', 'strict', 'type'], required: ['name'], name: 'bash' },
  code_execution_20250522: { schema: 'CodeExecutionTool_20250522', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'name', 'strict', 'type'], required: ['name'], name: 'code_execution' },
  code_execution_20250825: { schema: 'CodeExecutionTool_20250825', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'name', 'strict', 'type'], required: ['name'], name: 'code_execution' },
  code_execution_20260120: { schema: 'CodeExecutionTool_20260120', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'name', 'strict', 'type'], required: ['name'], name: 'code_execution' },
  code_execution_20260521: { schema: 'CodeExecutionTool_20260521', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'name', 'strict', 'type'], required: ['name'], name: 'code_execution' },
  browser_toolset_20260801: { schema: 'BrowserToolset_20260801', keys: ['allowed_callers', 'cache_control', 'configs', 'type'], required: [] },
  memory_20250818: { schema: 'MemoryTool_20250818', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'input_examples', 'name', 'strict', 'type'], required: ['name'], name: 'memory' },
  computer_toolset_20260801: { schema: 'ComputerToolset_20260801', keys: ['allowed_callers', 'cache_control', 'configs', 'type'], required: [] },
  text_editor_20250124: { schema: 'TextEditor_20250124', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'input_examples', 'name', 'strict', 'type'], required: ['name'], name: 'str_replace_editor' },
  text_editor_20250429: { schema: 'TextEditor_20250429', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'input_examples', 'name', 'strict', 'type'], required: ['name'], name: 'str_replace_based_edit_tool' },
  text_editor_20250728: { schema: 'TextEditor_20250728', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'input_examples', 'max_characters', 'name', 'strict', 'type'], required: ['name'], name: 'str_replace_based_edit_tool' },
  web_search_20250305: { schema: 'WebSearchTool_20250305', keys: ['allowed_callers', 'allowed_domains', 'blocked_domains', 'cache_control', 'defer_loading', 'max_uses', 'name', 'strict', 'type', 'user_location'], required: ['name'], name: 'web_search' },
  web_fetch_20250910: { schema: 'WebFetchTool_20250910', keys: ['allowed_callers', 'allowed_domains', 'blocked_domains', 'cache_control', 'citations', 'defer_loading', 'max_content_tokens', 'max_uses', 'name', 'strict', 'type'], required: ['name'], name: 'web_fetch' },
  web_search_20260209: { schema: 'WebSearchTool_20260209', keys: ['allowed_callers', 'allowed_domains', 'blocked_domains', 'cache_control', 'defer_loading', 'max_uses', 'name', 'strict', 'type', 'user_location'], required: ['name'], name: 'web_search' },
  web_fetch_20260209: { schema: 'WebFetchTool_20260209', keys: ['allowed_callers', 'allowed_domains', 'blocked_domains', 'cache_control', 'citations', 'defer_loading', 'max_content_tokens', 'max_uses', 'name', 'strict', 'type'], required: ['name'], name: 'web_fetch' },
  web_fetch_20260309: { schema: 'WebFetchTool_20260309', keys: ['allowed_callers', 'allowed_domains', 'blocked_domains', 'cache_control', 'citations', 'defer_loading', 'max_content_tokens', 'max_uses', 'name', 'strict', 'type', 'use_cache'], required: ['name'], name: 'web_fetch' },
  web_search_20260318: { schema: 'WebSearchTool_20260318', keys: ['allowed_callers', 'allowed_domains', 'blocked_domains', 'cache_control', 'defer_loading', 'max_uses', 'name', 'response_inclusion', 'strict', 'type', 'user_location'], required: ['name'], name: 'web_search' },
  web_fetch_20260318: { schema: 'WebFetchTool_20260318', keys: ['allowed_callers', 'allowed_domains', 'blocked_domains', 'cache_control', 'citations', 'defer_loading', 'max_content_tokens', 'max_uses', 'name', 'response_inclusion', 'strict', 'type', 'use_cache'], required: ['name'], name: 'web_fetch' },
  tool_search_tool_bm25_20251119: { schema: 'ToolSearchToolBM25_20251119', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'name', 'strict', 'type'], required: ['name'], name: 'tool_search_tool_bm25' },
  tool_search_tool_bm25: { schema: 'ToolSearchToolBM25_20251119', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'name', 'strict', 'type'], required: ['name'], name: 'tool_search_tool_bm25' },
  tool_search_tool_regex_20251119: { schema: 'ToolSearchToolRegex_20251119', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'name', 'strict', 'type'], required: ['name'], name: 'tool_search_tool_regex' },
  tool_search_tool_regex: { schema: 'ToolSearchToolRegex_20251119', keys: ['allowed_callers', 'cache_control', 'defer_loading', 'name', 'strict', 'type'], required: ['name'], name: 'tool_search_tool_regex' },
};

/**
 * The fields of the server tools besides `type` and `name`, each with one schema in every tool that has
 * it [SPEC the server tools of CreateMessageParams.tools.items]: params.ts checks each by its name
 * (`checkServerToolFields`), and the test reads the list and that sameness from the document again.
 */
export const SERVER_TOOL_FIELDS = [
  'allowed_callers', 'allowed_domains', 'blocked_domains', 'cache_control', 'citations', 'configs', 'defer_loading',
  'input_examples', 'max_characters', 'max_content_tokens', 'max_uses', 'response_inclusion', 'strict', 'use_cache', 'user_location',
] as const;

/**
 * The members a toolset's `configs` may name, by the toolset's `type` [SPEC BrowserToolsetConfigs,
 * ComputerToolsetConfigs: additionalProperties false; each member a Browser…Config or Computer…Config of
 * `defer_loading` and `enabled`, booleans or null, or null].
 */
export const TOOLSET_CONFIGS: Readonly<Record<string, { schema: string; members: readonly string[] }>> = {
  browser_toolset_20260801: {
    schema: 'BrowserToolsetConfigs',
    members: [
      'close_tab', 'double_click', 'file_upload', 'find', 'form_input', 'get_page_text', 'hold_key', 'hover', 'javascript_exec', 'key', 'left_click',
      'left_click_drag', 'left_mouse_down', 'left_mouse_up', 'list_tabs', 'middle_click', 'mouse_move', 'navigate', 'new_tab', 'read_console',
      'read_network', 'read_page', 'right_click', 'screenshot', 'scroll', 'scroll_to', 'switch_tab', 'triple_click', 'type', 'wait', 'zoom',
    ],
  },
  computer_toolset_20260801: {
    schema: 'ComputerToolsetConfigs',
    members: [
      'cursor_position', 'double_click', 'hold_key', 'key', 'left_click', 'left_click_drag', 'left_mouse_down', 'left_mouse_up', 'middle_click',
      'mouse_move', 'right_click', 'screenshot', 'scroll', 'triple_click', 'type', 'wait', 'zoom',
    ],
  },
};

export const BLOCKS: Readonly<Record<string, Shape>> = {
  text: { schema: 'RequestTextBlock', keys: ['cache_control', 'citations', 'text', 'type'], required: ['text'] },
  image: { schema: 'RequestImageBlock', keys: ['cache_control', 'source', 'transformations', 'type'], required: ['source'] },
  document: { schema: 'RequestDocumentBlock', keys: ['cache_control', 'citations', 'context', 'source', 'title', 'type'], required: ['source'] },
  search_result: { schema: 'RequestSearchResultBlock', keys: ['cache_control', 'citations', 'content', 'source', 'title', 'type'], required: ['content', 'source', 'title'] },
  thinking: { schema: 'RequestThinkingBlock', keys: ['signature', 'thinking', 'type'], required: ['signature', 'thinking'] },
  redacted_thinking: { schema: 'RequestRedactedThinkingBlock', keys: ['data', 'type'], required: ['data'] },
  tool_use: { schema: 'RequestToolUseBlock', keys: ['cache_control', 'caller', 'id', 'input', 'name', 'toolset_name', 'type'], required: ['id', 'input', 'name'] },
  tool_result: { schema: 'RequestToolResultBlock', keys: ['cache_control', 'content', 'is_error', 'tool_use_id', 'toolset_name', 'type'], required: ['tool_use_id'] },
  server_tool_use: { schema: 'RequestServerToolUseBlock', keys: ['cache_control', 'caller', 'id', 'input', 'name', 'type'], required: ['id', 'input', 'name'] },
  web_search_tool_result: { schema: 'RequestWebSearchToolResultBlock', keys: ['cache_control', 'caller', 'content', 'tool_use_id', 'type'], required: ['content', 'tool_use_id'] },
  web_fetch_tool_result: { schema: 'RequestWebFetchToolResultBlock', keys: ['cache_control', 'caller', 'content', 'tool_use_id', 'type'], required: ['content', 'tool_use_id'] },
  code_execution_tool_result: { schema: 'RequestCodeExecutionToolResultBlock', keys: ['cache_control', 'content', 'tool_use_id', 'type'], required: ['content', 'tool_use_id'] },
  bash_code_execution_tool_result: { schema: 'RequestBashCodeExecutionToolResultBlock', keys: ['cache_control', 'content', 'tool_use_id', 'type'], required: ['content', 'tool_use_id'] },
  text_editor_code_execution_tool_result: { schema: 'RequestTextEditorCodeExecutionToolResultBlock', keys: ['cache_control', 'content', 'tool_use_id', 'type'], required: ['content', 'tool_use_id'] },
  tool_search_tool_result: { schema: 'RequestToolSearchToolResultBlock', keys: ['cache_control', 'content', 'tool_use_id', 'type'], required: ['content', 'tool_use_id'] },
  container_upload: { schema: 'RequestContainerUploadBlock', keys: ['cache_control', 'file_id', 'type'], required: ['file_id'] },
};

export const TOOL_RESULT_BLOCKS: Readonly<Record<string, Shape>> = {
  text: { schema: 'RequestTextBlock', keys: ['cache_control', 'citations', 'text', 'type'], required: ['text'] },
  image: { schema: 'RequestImageBlock', keys: ['cache_control', 'source', 'transformations', 'type'], required: ['source'] },
  search_result: { schema: 'RequestSearchResultBlock', keys: ['cache_control', 'citations', 'content', 'source', 'title', 'type'], required: ['content', 'source', 'title'] },
  document: { schema: 'RequestDocumentBlock', keys: ['cache_control', 'citations', 'context', 'source', 'title', 'type'], required: ['source'] },
  tool_reference: { schema: 'RequestToolReferenceBlock', keys: ['cache_control', 'tool_name', 'type'], required: ['tool_name'] },
  browser_state: { schema: 'RequestBrowserStateBlock', keys: ['cache_control', 'state_changes', 'tabs', 'type'], required: ['tabs'] },
};

/**
 * The citations a request text block may carry, by their `type` [SPEC RequestTextBlock.citations.items: a closed
 * `oneOf` of these, discriminated by `type`; each additionalProperties false]. A response citation's extra keys
 * (`file_id`…) are not among them. The order is the document's (the tags of a tag error are listed in it).
 */
export const TEXT_CITATIONS: Readonly<Record<string, Shape>> = {
  char_location: { schema: 'RequestCharLocationCitation', keys: ['cited_text', 'document_index', 'document_title', 'end_char_index', 'start_char_index', 'type'], required: ['cited_text', 'document_index', 'document_title', 'end_char_index', 'start_char_index'] },
  page_location: { schema: 'RequestPageLocationCitation', keys: ['cited_text', 'document_index', 'document_title', 'end_page_number', 'start_page_number', 'type'], required: ['cited_text', 'document_index', 'document_title', 'end_page_number', 'start_page_number'] },
  content_block_location: { schema: 'RequestContentBlockLocationCitation', keys: ['cited_text', 'document_index', 'document_title', 'end_block_index', 'start_block_index', 'type'], required: ['cited_text', 'document_index', 'document_title', 'end_block_index', 'start_block_index'] },
  web_search_result_location: { schema: 'RequestWebSearchResultLocationCitation', keys: ['cited_text', 'encrypted_index', 'title', 'type', 'url'], required: ['cited_text', 'encrypted_index', 'title', 'url'] },
  search_result_location: { schema: 'RequestSearchResultLocationCitation', keys: ['cited_text', 'end_block_index', 'search_result_index', 'source', 'start_block_index', 'title', 'type'], required: ['cited_text', 'end_block_index', 'search_result_index', 'source', 'start_block_index', 'title'] },
};

/** A field's value as a schema constrains it: a string (with its lengths) or an integer (with its minimum), nullable or not. */
export type FieldType = { type: 'string'; minLength?: number; maxLength?: number; nullable?: true } | { type: 'integer'; minimum?: number; nullable?: true };

const STRING: FieldType = { type: 'string' };
const INTEGER: FieldType = { type: 'integer' };
const INDEX: FieldType = { type: 'integer', minimum: 0 };
const DOCUMENT_TITLE: FieldType = { type: 'string', minLength: 1, maxLength: 500, nullable: true };

/** The fields of each request citation besides `type`, with their types [SPEC the Request*Citation schemas' properties]. */
export const CITATION_FIELDS: Readonly<Record<string, Readonly<Record<string, FieldType>>>> = {
  char_location: { cited_text: STRING, document_index: INDEX, document_title: DOCUMENT_TITLE, end_char_index: INTEGER, start_char_index: INDEX },
  page_location: { cited_text: STRING, document_index: INDEX, document_title: DOCUMENT_TITLE, end_page_number: INTEGER, start_page_number: { type: 'integer', minimum: 1 } },
  content_block_location: { cited_text: STRING, document_index: INDEX, document_title: DOCUMENT_TITLE, end_block_index: INTEGER, start_block_index: INDEX },
  web_search_result_location: { cited_text: STRING, encrypted_index: STRING, title: { type: 'string', minLength: 1, maxLength: 512, nullable: true }, url: { type: 'string', minLength: 1 } },
  search_result_location: { cited_text: STRING, end_block_index: INTEGER, search_result_index: INDEX, source: STRING, start_block_index: INDEX, title: { type: 'string', nullable: true } },
};

/**
 * What the `content` of a server tool's result block may be, by the block's `type` [SPEC Request…ToolResultBlock.content:
 * an `anyOf` of these schemas, each additionalProperties false and tagged by its `type` const; the web search one's a
 * list of RequestWebSearchResultBlock (`items`) or an error object]. params.ts checks the tag, the keys and the
 * required fields; the members' fields are not checked further.
 */
export const SERVER_RESULT_CONTENT: Readonly<Record<string, { items?: Readonly<Record<string, Shape>>; members: Readonly<Record<string, Shape>> }>> = {
  web_search_tool_result: {
    items: {
      web_search_result: { schema: 'RequestWebSearchResultBlock', keys: ['encrypted_content', 'page_age', 'title', 'type', 'url'], required: ['encrypted_content', 'title', 'url'] },
    },
    members: {
      web_search_tool_result_error: { schema: 'RequestWebSearchToolResultError', keys: ['error_code', 'type'], required: ['error_code'] },
    },
  },
  web_fetch_tool_result: {
    members: {
      web_fetch_tool_result_error: { schema: 'RequestWebFetchToolResultError', keys: ['error_code', 'type'], required: ['error_code'] },
      web_fetch_result: { schema: 'RequestWebFetchResultBlock', keys: ['content', 'retrieved_at', 'type', 'url'], required: ['content', 'url'] },
    },
  },
  code_execution_tool_result: {
    members: {
      code_execution_tool_result_error: { schema: 'RequestCodeExecutionToolResultError', keys: ['error_code', 'type'], required: ['error_code'] },
      code_execution_result: { schema: 'RequestCodeExecutionResultBlock', keys: ['content', 'return_code', 'stderr', 'stdout', 'type'], required: ['content', 'return_code', 'stderr', 'stdout'] },
      encrypted_code_execution_result: { schema: 'RequestEncryptedCodeExecutionResultBlock', keys: ['content', 'encrypted_stdout', 'return_code', 'stderr', 'type'], required: ['content', 'encrypted_stdout', 'return_code', 'stderr'] },
    },
  },
  bash_code_execution_tool_result: {
    members: {
      bash_code_execution_tool_result_error: { schema: 'RequestBashCodeExecutionToolResultError', keys: ['error_code', 'type'], required: ['error_code'] },
      bash_code_execution_result: { schema: 'RequestBashCodeExecutionResultBlock', keys: ['content', 'return_code', 'stderr', 'stdout', 'type'], required: ['content', 'return_code', 'stderr', 'stdout'] },
    },
  },
  text_editor_code_execution_tool_result: {
    members: {
      text_editor_code_execution_tool_result_error: { schema: 'RequestTextEditorCodeExecutionToolResultError', keys: ['error_code', 'error_message', 'type'], required: ['error_code'] },
      text_editor_code_execution_view_result: { schema: 'RequestTextEditorCodeExecutionViewResultBlock', keys: ['content', 'file_type', 'num_lines', 'start_line', 'total_lines', 'type'], required: ['content', 'file_type'] },
      text_editor_code_execution_create_result: { schema: 'RequestTextEditorCodeExecutionCreateResultBlock', keys: ['is_file_update', 'type'], required: ['is_file_update'] },
      text_editor_code_execution_str_replace_result: { schema: 'RequestTextEditorCodeExecutionStrReplaceResultBlock', keys: ['lines', 'new_lines', 'new_start', 'old_lines', 'old_start', 'type'], required: [] },
    },
  },
  tool_search_tool_result: {
    members: {
      tool_search_tool_result_error: { schema: 'RequestToolSearchToolResultError', keys: ['error_code', 'error_message', 'type'], required: ['error_code'] },
      tool_search_tool_search_result: { schema: 'RequestToolSearchToolSearchResultBlock', keys: ['tool_references', 'type'], required: ['tool_references'] },
    },
  },
};
