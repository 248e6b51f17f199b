/** Batch results as the API shapes them, for tests of the code that reads them. */
import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import type { ContentBlock, Message, StopReason } from '@anthropic-ai/sdk/resources/messages/messages';

export function message(content: ContentBlock[], stopReason: StopReason | null, outputTokens = 12): Message {
  return {
    id: 'msg_01',
    type: 'message',
    role: 'assistant',
    model: 'claude-haiku-4-5',
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: {
      input_tokens: 100,
      output_tokens: outputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: null,
      server_tool_use: null,
      service_tier: 'batch',
      inference_geo: null,
      output_tokens_details: null,
      speed: null,
    },
  };
}

export const text = (t: string): ContentBlock => ({ type: 'text', text: t, citations: null });
export const tool = (input: unknown): ContentBlock => ({ type: 'tool_use', id: 'toolu_01', name: 'answer', input, caller: { type: 'direct' } });
export const succeeded = (content: ContentBlock[], stopReason: StopReason | null = 'end_turn', outputTokens?: number): MessageBatchResult => ({
  type: 'succeeded',
  message: message(content, stopReason, outputTokens),
});
