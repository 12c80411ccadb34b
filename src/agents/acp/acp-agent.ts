import type { SessionUpdate } from '@agentclientprotocol/sdk';
import type { PermissionMode } from '../../api/views.js';

/**
 * What tells one ACP agent from another: how its process is started and where it keeps a
 * session on disk. The warm ACP backend runs every agent the same way otherwise.
 */
export interface AcpAgent {
  /** Variable name prefixes the agent reads, beyond the common allowlist. */
  envPrefixes: readonly string[];
  /** The process that serves one session. */
  launch(ctx: AcpLaunchContext): Promise<AcpLaunch>;
  /**
   * The agent's mode for each of Hearth's permission modes, where its modes have ids of
   * their own; absent, or a mode it leaves out: the agent's mode of the same id.
   */
  modes?: Partial<Record<PermissionMode, string>>;
  /**
   * Whether the agent keeps an "always" answer past the chat, in its home, for every chat
   * on the node. Such an agent is answered "once" each time: the chat's own rule stands
   * in for its standing answer.
   */
  alwaysOutlivesChat?: boolean;
  /**
   * Whether an update says the turn has failed, for an agent that ends a failed turn as
   * it ends any other, with what went wrong as the reply's text.
   */
  turnFailed?(update: SessionUpdate): boolean;
  /** `_meta` sent with `session/new`, `session/load` and `session/resume`: options only this agent reads. */
  sessionMeta?: Record<string, unknown>;
  /**
   * The files the agent needs to continue a session, relative to `root`: what is mirrored
   * into PostgreSQL after each turn and restored where they are missing. Absent: the
   * agent's sessions live only where it ran.
   */
  sessionFiles?: AcpSessionFiles;
  /** The tool's own name for a call the agent names by title only; null where it cannot tell. */
  toolName?(call: { toolCallId: string }): string | null;
  /**
   * A turn's tokens where the agent returns them elsewhere than in the prompt response's
   * `usage`, or counts them otherwise; null leaves the response's `usage` as it is.
   */
  usage?(response: { usage?: unknown; _meta?: Record<string, unknown> | null }): AcpTokens | null;
  /**
   * Whether the agent takes Hearth's permission mode only at its launch, from its
   * configuration: a session that changes its mode gets a new process.
   */
  modeAtLaunch?: boolean;
  /**
   * Whether the cost the agent reports is its session's running total, kept with the
   * session, rather than its process's: in a process that resumed the session, the total
   * before it is not known until a turn has reported one.
   */
  costIsSessionTotal?: boolean;
  /** The client file-system methods offered to it, where not both. */
  clientFs?: { readTextFile: boolean; writeTextFile: boolean };
  /** Whether the history `session/load` replays may still be coming after the load has answered. */
  replaysAfterLoad?: boolean;
}

/** A turn's tokens, in the prompt response's `usage` terms. */
export interface AcpTokens {
  inputTokens: number;
  outputTokens: number;
  cachedReadTokens?: number;
  cachedWriteTokens?: number;
}

export interface AcpLaunchContext {
  /** The agent's entry point on this node, as the registry found it. */
  installPath: string;
  /** The allowlisted environment, as the agent's user's where it runs as another. */
  env: Record<string, string>;
  /** A directory of this agent's own on this node, made and private: for its home and configuration. */
  home: string;
  worktreePath: string;
  /** The model the chat asks for; null leaves the agent's default. */
  model: string | null;
  /** The permission mode the session opens in; a change the running agent refuses opens a new process. */
  permissionMode: PermissionMode | null;
}

export interface AcpLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export interface AcpSessionFiles {
  /** The directory the files are kept under, for the environment a session was launched with. */
  root(env: Record<string, string>): string;
  /** The session's files under the root, relative to it; those missing are left out. */
  list(root: string, sessionId: string, worktreePath: string): Promise<string[]>;
  /** Readies the session's files for the agent's own `session/load`, once they are in place and before it starts. */
  prepare?(root: string, sessionId: string, worktreePath: string): Promise<void>;
}

/** An agent that is a Node script, run with the server's own Node. */
export function nodeScript(installPath: string, env: Record<string, string>, args: string[] = []): AcpLaunch {
  return { command: process.execPath, args: [installPath, ...args], env };
}
