/**
 * What every backend's output becomes: one vocabulary for the event log, the SSE
 * stream, the web UI and the CLI, whichever agent produced it.
 */
export type AgentEvent =
  | { kind: 'text_delta'; messageId: string | null; text: string }
  | { kind: 'thinking_delta'; messageId: string | null; text: string }
  /** A tool call with its complete input. */
  | { kind: 'tool_call'; id: string; name: string; input: unknown }
  /** Part of a tool call's input while the model is still writing it (JSON text). */
  | { kind: 'tool_call_delta'; id: string; name: string; partialJson: string }
  | { kind: 'tool_result'; id: string; output: string; isError: boolean }
  /** One assistant message, whole, as the agent stored it. */
  | { kind: 'message'; role: 'assistant'; messageId: string | null; parts: MessagePart[] }
  | { kind: 'permission_request'; id: string; tool: string; input: unknown; options: string[] }
  | {
      kind: 'usage';
      inputTokens: number;
      outputTokens: number;
      cacheReadTokens: number;
      cacheWriteTokens: number;
      costUsd: number;
    }
  | { kind: 'status'; message: string }
  | { kind: 'error'; message: string };

export type MessagePart =
  | { type: 'text'; text: string }
  | { type: 'thinking'; text: string }
  | { type: 'tool_call'; id: string; name: string; input: unknown };
