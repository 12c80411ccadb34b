import type { AgentEvent, AgentFailure, PermissionOption, PermissionOptionKind, StopReason, TurnUsage } from '../../api/events.js';
import type { PermissionDetails, PermissionKind, PermissionQuestion } from '../../api/permissions.js';
import type { BackendKind, PermissionMode } from '../../api/views.js';

/**
 * The contract between Hearth's runtime and each way of running an agent.
 *
 * A driver is one backend on this node (Claude Code through its SDK, its CLI under a
 * terminal, an ACP agent, OpenCode's server); it opens sessions, one per (chat, agent).
 * A session may have a process of its own or share one with other sessions of the same
 * driver; that is the driver's business. A warm driver's sessions live across turns and
 * are pooled by the runtime; a session of a driver that is not warm serves one turn.
 *
 * Drivers run agents and report; the runtime keeps the records. A driver writes nothing
 * to `agent_sessions`: it reports the agent's resume token as soon as it knows it, returns
 * each turn's usage and outcome, throws `AgentStartError` when the agent cannot start, and
 * returns `crashed` when it died. The runtime decides what to resume (never a crashed
 * session), counts usage once per turn, sends the turn's closing error and usage events,
 * and stands a driver down after failed starts.
 */
export interface AgentDriver {
  readonly backend: BackendKind;
  /** Whether sessions stay alive between turns (and so are pooled), or serve one turn each. */
  readonly warm: boolean;
  /** Why this node cannot use the driver at all (switched off, a library that does not load); null when it can. */
  unavailable(): string | null;
  /**
   * A session of (chat, agent), ready for its first turn: for a warm driver the agent has
   * started and answered. Throws `AgentStartError` when it cannot start.
   */
  open(spec: SessionSpec, reports: SessionReports): Promise<AgentSession>;
  /** Ends every session of the driver and whatever it shares between them. Idempotent. */
  dispose(): Promise<void>;
}

/** What a session is opened for: one (chat, agent), in the chat's worktree, with its options. */
export interface SessionSpec {
  chatId: string;
  agent: string;
  /** The agent's executable on this node. */
  installPath: string;
  worktreePath: string;
  /** The model to run; null leaves the agent's default. */
  model: string | null;
  permissionMode: PermissionMode | null;
  /** The agent's own conversation to continue, by its resume token; null starts a new one. */
  resume: string | null;
}

/** The options of a session that a chat may change between turns. */
export type SessionOptions = Pick<SessionSpec, 'worktreePath' | 'model' | 'permissionMode'>;

/** What a session tells the runtime about itself, outside any one turn's events. */
export interface SessionReports {
  /** The agent's id for the conversation, as soon as it is known and whenever it changes. */
  resumeToken(token: string): void;
}

/** `idle` between turns, `turn` while one runs, `closed` once it serves no more (closed, or its agent died). */
export type SessionState = 'idle' | 'turn' | 'closed';

export interface AgentSession {
  readonly backend: BackendKind;
  state(): SessionState;
  /** The agent process serving the session, while one runs. */
  pid(): number | null;
  /**
   * Takes new options for the next turn. Returns false when the live session cannot take
   * them; the runtime then closes it and opens another that resumes the conversation.
   */
  reconfigure(options: SessionOptions): Promise<boolean>;
  /** Runs one turn. Never throws: every way a turn ends is a result. */
  prompt(input: string, ctx: TurnContext): Promise<TurnResult>;
  /** Ends the session and its agent process, a turn in flight included. Idempotent. */
  close(): Promise<void>;
}

/** What a turn may do besides running: report what happens, and ask a person. */
export interface TurnContext {
  /** Fires when the turn is to stop; the session then ends it and returns `aborted`. */
  signal: AbortSignal;
  /** Reports an event of the turn; it never throws, whatever its subscribers do. */
  emit(event: AgentEvent): void;
  /** Asks a person and waits for the answer; `cancelled` when the turn stops first. */
  requestPermission(request: PermissionAsk): Promise<PermissionDecision>;
}

/**
 * What a driver asks a person before its agent goes on: leave to use a tool, answers to
 * the agent's questions, or approval of its plan. The runtime keeps the request, shows it
 * to every client, applies the chat's standing rules, and returns the answer.
 */
export interface PermissionAsk {
  kind: PermissionKind;
  /** The tool call it is about, where there is one. */
  toolCallId: string | null;
  tool: string;
  input: unknown;
  /** The answers on offer, each with an id of the driver's own choosing (never the agent's own option id) and an ACP kind. */
  options: PermissionOption[];
  /** What a person needs to judge it: the diff of an edit, a command and where it runs. */
  details?: PermissionDetails;
  /** For a `question`: what the agent asks. */
  questions?: PermissionQuestion[];
  /** For a `plan`: the plan to approve. */
  plan?: string;
  /**
   * What an `allow_always` answer lets through from then on, as a rule of the chat; absent
   * when such an answer should not outlive the request. For a tool that runs a command,
   * the command prefix the agent suggests.
   */
  rule?: { tool: string; prefix: string | null };
  /** What a rule's prefix is matched against: the command, for a tool that runs one. */
  subject?: string;
}

/**
 * The answer. `selected`: an option was chosen, by a person, by a rule of the chat
 * (`byRule`), or because nobody answered in time (a rejection, with a message for the
 * agent). `cancelled`: the turn is stopping, or the request could not be put to anyone.
 */
export type PermissionDecision =
  | {
      outcome: 'selected';
      optionId: string;
      kind: PermissionOptionKind;
      /** The person's words for the agent, or why the request was rejected without one. */
      message?: string;
      /** For a `question`: the answers, by question text. */
      answers?: Record<string, string>;
      /** The rule that answered, when no person did. */
      byRule?: string;
    }
  | { outcome: 'cancelled'; message: string };

export type TurnResult =
  | { ok: true; stopReason: StopReason; usage: TurnUsage | null }
  | { ok: false; code: AgentFailure; error: string; usage: TurnUsage | null };

export function succeededTurn(usage: TurnUsage | null, stopReason: StopReason = 'end_turn'): TurnResult {
  return { ok: true, stopReason, usage };
}

export function failedTurn(code: AgentFailure, error: string, usage: TurnUsage | null = null): TurnResult {
  return { ok: false, code, error, usage };
}
