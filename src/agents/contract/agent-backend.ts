import type { AgentEvent } from '../../api/events.js';

/** The ways Hearth runs an agent: Claude Code through its SDK, or its CLI under a terminal. */
export type BackendKind = 'claude_sdk' | 'claude_pty';

/** Permission modes a chat may choose; null leaves the agent's own default. */
export type PermissionMode = 'default' | 'acceptEdits' | 'bypassPermissions' | 'plan' | 'dontAsk' | 'auto';

export interface EnsureSessionOpts {
  chatId: string;
  agent: string;
  worktreeId: string | null;
  worktreePath: string;
  /** Model to run; null or '' leaves the agent's default. */
  model: string | null;
  permissionMode?: PermissionMode | null;
}

export interface AgentSessionHandle {
  /** Hearth's id for this (chat, agent) session. */
  sessionId: string;
  agent: string;
  backend: BackendKind;
  chatId: string;
  worktreeId: string | null;
  /** The agent's own resume token; null until the agent has reported one. */
  agentSessionId: string | null;
  serverPort: number | null;
}

export interface PromptCtx {
  signal: AbortSignal;
  onEvent(event: AgentEvent): void;
  worktreePath: string;
  model: string | null;
}

/** Why a turn did not succeed, for callers that branch on it. */
export type TurnErrorCode =
  | 'aborted' // the caller's signal fired
  | 'busy' // a turn was already in flight on this backend
  | 'api_error' // the model API answered with an error
  | 'agent_error' // the agent reported a failed turn (max turns, budget, ...)
  | 'crashed' // the agent process died or the SDK threw
  | 'start_failed' // the agent process could not be started
  | 'closed'; // the backend was closed or disposed

export type TurnResult = { ok: true } | { ok: false; error: string; code: TurnErrorCode };

export function failedTurn(code: TurnErrorCode, error: string): TurnResult {
  return { ok: false, code, error };
}

/** One way of running an agent, warm across turns of one (chat, agent) session. */
export interface AgentBackend {
  readonly backend: BackendKind;
  health(): 'up' | 'down';
  isBusy(): boolean;
  ensureSession(sessionId: string, opts: EnsureSessionOpts): Promise<AgentSessionHandle>;
  prompt(handle: AgentSessionHandle, input: string, ctx: PromptCtx): Promise<TurnResult>;
  closeSession(handle: AgentSessionHandle): Promise<void>;
  dispose(): Promise<void>;
}
