/** The shapes of the HTTP API's answers, as the server sends them and its clients read them. */
import type { StoredPart } from './parts.js';

/** The ways Hearth runs an agent: Claude Code through its SDK or its CLI under a terminal, an ACP agent kept warm, or OpenCode through its own server. */
export type BackendKind = 'claude_sdk' | 'claude_pty' | 'warm_acp' | 'opencode_server';

export const BACKEND_KINDS = ['claude_sdk', 'claude_pty', 'warm_acp', 'opencode_server'] as const satisfies readonly BackendKind[];

/** Each backend in a word, where space is short. */
export const BACKEND_SHORT_NAMES: Record<BackendKind, string> = {
  claude_sdk: 'SDK',
  claude_pty: 'PTY',
  warm_acp: 'ACP',
  opencode_server: 'OpenCode',
};

/** Each backend as a sentence names it. */
export const BACKEND_LABELS: Record<BackendKind, string> = {
  claude_sdk: 'the claude SDK backend',
  claude_pty: 'the PTY path',
  warm_acp: 'the warm ACP backend',
  opencode_server: "OpenCode's server",
};

/** Permission modes a chat may choose; null leaves the agent's own default. */
export type PermissionMode = 'default' | 'acceptEdits' | 'bypassPermissions' | 'plan' | 'dontAsk' | 'auto';

export const PERMISSION_MODES = ['default', 'acceptEdits', 'bypassPermissions', 'plan', 'dontAsk', 'auto'] as const satisfies readonly PermissionMode[];

/** What a (chat, agent) session's record says: running warm, between turns, crashed, or ended by Hearth. */
export type SessionStatus = 'active' | 'idle' | 'crashed' | 'closed';

export interface SessionView {
  agent: string;
  backend: BackendKind;
  status: SessionStatus;
  inputTokens: number;
  outputTokens: number;
  /** Null until a turn of an agent that reports cost has run: unknown, not free. */
  cost: number | null;
  lastActiveAt: string;
}

export interface ChatView {
  id: string;
  title: string | null;
  repoPath: string;
  agent: string;
  model: string | null;
  permissionMode: PermissionMode | null;
  worktreePath: string | null;
  branch: string | null;
  busy: boolean;
  /** Requests of the chat's agents that wait for a person. */
  pendingPermissions: number;
  /** The chat's latest event sequence number: follow `events?after=` this to see only what comes next. */
  lastEventId: number;
  createdAt: string;
  updatedAt: string;
  sessions?: SessionView[];
}

export type TurnStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted' | 'interrupted';

export interface StoredMessage {
  id: string;
  turnId: string | null;
  role: 'user' | 'assistant';
  agent: string | null;
  parts: StoredPart[];
  turnStatus: TurnStatus | null;
  /** Why the turn did not succeed, as its turn_end said; null while it runs and when it succeeded. */
  turnError: string | null;
  createdAt: string;
}

/** The answer to a posted message: it is stored, and its turn runs now or after `queued` others. */
export interface AcceptedMessage {
  messageId: string;
  turnId: string;
  queued: number;
}

/** Why a prewarm opened nothing. */
export type PrewarmSkip = 'off' | 'deleting' | 'no_worktree' | 'no_backend' | 'not_warm' | 'busy' | 'pool_full';

/**
 * What `POST /api/chats/:id/prewarm` did: began opening the chat's warm session, found one
 * open already, or opened nothing, and why.
 */
export type PrewarmReport =
  | { prewarm: 'opening' | 'warm'; backend: BackendKind }
  | { prewarm: 'skipped'; reason: PrewarmSkip; message: string };

/** What an agent can do: whether a conversation goes on after its process ends, and the permission modes it takes (others ask, as `default` does). */
export interface AgentCapabilities {
  resumes: boolean;
  permissionModes: readonly PermissionMode[];
}

/** An agent installed on the server, and the backends that run it in the order they are tried. */
export interface AgentInfo {
  name: string;
  version: string;
  backends: Array<{ kind: BackendKind; status: 'up' | 'down' }>;
  /** Absent where Hearth does not know them. */
  capabilities?: AgentCapabilities;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  demo?: boolean;
  database: { up: boolean; kind?: 'embedded' | 'external'; latencyMs?: number; error?: string };
  /** `memoryBytes`: the warm sessions' resident memory together; `maxMemoryBytes`: its cap, null when there is none. */
  pool?: { warm: number; max: number; evictions: number; memoryBytes: number; maxMemoryBytes: number | null };
  backends?: Partial<Record<BackendKind, 'up' | 'down'>>;
  /** Why a backend is down, where that is known. */
  backendErrors?: Partial<Record<BackendKind, string>>;
  /** The agents found on this node: up with their version, or down with why their executable does not start. */
  agents?: Record<string, { status: 'up' | 'down'; version?: string; error?: string }>;
  /** What a person should fix for turns to work (no credentials for the agents, ...). */
  warnings?: { code: string; message: string }[];
}

/** Every refusal and failure: a code to branch on, a message for people. */
export interface ErrorBody {
  /** `outcome` and `request`: for `already_resolved`, how the request ended and the request as it stands. */
  error: { code: string; message: string; requestId?: string; outcome?: string; request?: unknown };
}
