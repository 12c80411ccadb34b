import { accessSync, constants, existsSync } from 'node:fs';
import {
  query,
  type Options,
  type Query,
  type SDKMessage,
  type SDKUserMessage,
} from '@anthropic-ai/claude-agent-sdk';
import type { Logger } from 'pino';
import type { Sql } from '../../../db/sql.js';
import { PostgresSessionStore } from '../../../store/postgres-session-store.js';
import {
  failedTurn,
  type AgentBackend,
  type AgentSessionHandle,
  type EnsureSessionOpts,
  type PermissionMode,
  type PromptCtx,
  type TurnResult,
} from '../../contract/agent-backend.js';
import type { AgentEvent } from '../../../api/events.js';
import { claudeAgentEnv, type EnvSource } from '../../process/agent-env.js';
import { AgentProcess } from '../../process/agent-process.js';
import type { AgentCgroups } from '../../process/agent-cgroups.js';
import { giveTreeToSync, isSdkResumeDir, type AgentUser } from '../../process/agent-user.js';
import { AgentStartError, BackendClosedError, type StartFailureScope } from '../../contract/errors.js';
import { createPushable, type Pushable } from '../../../util/pushable.js';
import { AgentSessionRow } from '../../../runtime/sessions/session-record.js';
import { createClaudeSdkMapState, mapSdkMessage } from '../claude-sdk-mapper.js';
import { explainLoginFailure } from '../claude-login.js';
import { finishTurn, NO_TOTALS, onceEachError, restoredTotals, type RunningTotals } from '../claude-result.js';
import { within } from '../../../util/within.js';

export interface ClaudeSdkBackendDeps {
  sql: Sql;
  log: Logger;
  /** The (chat, agent) this backend serves: its pool identity and its row in agent_sessions. */
  chatId: string;
  agent: string;
  /** The `claude` executable (available_agents.install_path); null uses the SDK's bundled one. */
  installPath: string | null;
  /** Where the agent's environment is drawn from, through the allowlist. Default: process.env. */
  env?: EnvSource;
  /** Variables never passed to the agent. Default: those named in HEARTH_SECRET_ENV. */
  secrets?: readonly string[];
  sessionStore?: PostgresSessionStore;
  /** How long the agent gets to come up. */
  startTimeoutMs?: number;
  /** How long an aborted turn may take to stop before its process is killed. */
  interruptGraceMs?: number;
  /** Prefix of the tag on the agent's processes: the node id, so a restarted node finds its orphans. */
  processTagPrefix?: string;
  /** Where the agent process gets a cgroup of its own; without one, its group and its tag are what find its processes. */
  cgroups?: AgentCgroups | null;
  /** The user the agent runs as, when not the server's own. */
  user?: AgentUser | null;
}

/** One warm agent: the query, the queue feeding it, and the process behind it. */
interface Live {
  query: Query;
  input: Pushable<SDKUserMessage>;
  process: AgentProcess;
  cwd: string;
  model: string | null;
  permissionMode: PermissionMode | null;
  /** The query's running totals as last reported; results carry totals, not per-turn figures. */
  seen: RunningTotals;
}

type State =
  | { kind: 'cold' }
  | { kind: 'warm'; live: Live }
  | { kind: 'turn'; live: Live }
  | { kind: 'disposed' };

/**
 * The `claude` agent through the Claude Agent SDK, warm across turns: one persistent
 * `query()` per (chat, agent) in streaming-input mode, fed one user message per turn,
 * its transcript mirrored into PostgreSQL so any node can resume it.
 *
 * Its agent_sessions row (ids, usage, status) is telemetry and never fails a turn.
 */
export class ClaudeSdkBackend implements AgentBackend {
  readonly backend = 'claude_sdk' as const;
  private readonly deps: ClaudeSdkBackendDeps;
  private readonly store: PostgresSessionStore;
  private readonly row: AgentSessionRow;
  /** What the agent's process sees. */
  private readonly env: Record<string, string>;
  private state: State = { kind: 'cold' };
  /** The agent's session id (resume token), from the row or the latest init message. */
  private agentSessionId: string | null = null;
  /** Why the last start failed; the backend reports down until a start succeeds. */
  private startError: AgentStartError | null = null;

  constructor(deps: ClaudeSdkBackendDeps) {
    this.deps = deps;
    this.store = deps.sessionStore ?? new PostgresSessionStore(deps.sql);
    this.row = new AgentSessionRow({ sql: deps.sql, log: deps.log, chatId: deps.chatId, agent: deps.agent, backend: this.backend });
    this.env = claudeAgentEnv(deps.env ?? process.env, { secrets: deps.secrets, user: deps.user });
  }

  health(): 'up' | 'down' {
    return this.state.kind === 'disposed' || this.startError ? 'down' : 'up';
  }

  isBusy(): boolean {
    return this.state.kind === 'turn';
  }

  /** The pid of the warm agent process, or null when none is running. */
  agentPid(): number | null {
    return this.state.kind === 'warm' || this.state.kind === 'turn' ? this.state.live.process.pid : null;
  }

  async ensureSession(sessionId: string, opts: EnsureSessionOpts): Promise<AgentSessionHandle> {
    if (this.state.kind === 'disposed') throw new BackendClosedError(this.backend);
    // A crashed session is not resumed: it starts fresh.
    const row = await this.row.read();
    const resumeId = row?.agentSessionId ?? null;
    const model = opts.model || null;
    const permissionMode = opts.permissionMode ?? null;

    if (this.state.kind === 'warm' && this.state.live.permissionMode !== permissionMode) {
      // Most modes change on the live process; entering bypassPermissions needs a process
      // launched for it, which then resumes the same conversation.
      const live = this.state.live;
      try {
        await live.query.setPermissionMode(permissionMode ?? 'default');
        live.permissionMode = permissionMode;
      } catch (err) {
        this.deps.log.info({ chatId: opts.chatId, err }, 'claude-sdk: restarting for a new permission mode');
        await this.teardown();
      }
    }
    if (this.state.kind === 'warm' && (this.state.live.model !== model || this.state.live.cwd !== opts.worktreePath)) {
      // A model is chosen at spawn; the new process resumes the same conversation.
      await this.teardown();
    }
    if (this.state.kind === 'cold') {
      // The id this backend last saw is the freshest, unless the row says the session crashed.
      this.agentSessionId = row?.status === 'crashed' ? null : (this.agentSessionId ?? resumeId);
      await this.start(opts.worktreePath, model, permissionMode, this.agentSessionId);
    }

    await this.row.activate(sessionId, opts.worktreeId, this.agentSessionId);

    return {
      sessionId,
      agent: opts.agent,
      backend: 'claude_sdk',
      chatId: opts.chatId,
      worktreeId: opts.worktreeId,
      agentSessionId: this.agentSessionId,
      serverPort: null,
    };
  }

  /** Spawns the agent and waits until it has answered the SDK's initialize request. */
  private async start(
    cwd: string,
    model: string | null,
    permissionMode: PermissionMode | null,
    resumeId: string | null,
  ): Promise<Live> {
    const { installPath } = this.deps;
    if (installPath) {
      try {
        accessSync(installPath, constants.X_OK);
      } catch (err) {
        throw this.failStart(new AgentStartError(this.deps.agent, `cannot execute ${installPath}`, '', { cause: err }));
      }
    }
    const input = createPushable<SDKUserMessage>();
    const user = this.deps.user ?? null;
    let spawned: AgentProcess | null = null;
    const options: Options = {
      cwd,
      sessionStore: this.store,
      // Partial messages carry text, thinking and tool input as they are written.
      includePartialMessages: true,
      env: this.env,
      ...(model ? { model } : {}),
      ...(resumeId ? { resume: resumeId } : {}),
      ...(permissionMode ? { permissionMode } : {}),
      ...(permissionMode === 'bypassPermissions' ? { allowDangerouslySkipPermissions: true } : {}),
      ...(installPath ? { pathToClaudeCodeExecutable: installPath } : {}),
      spawnClaudeCodeProcess: (o) => {
        if (user && isSdkResumeDir(o.env.CLAUDE_CONFIG_DIR)) giveTreeToSync(user, o.env.CLAUDE_CONFIG_DIR);
        spawned = new AgentProcess({
          command: o.command,
          args: o.args,
          cwd: o.cwd,
          env: o.env,
          signal: o.signal,
          tagPrefix: this.deps.processTagPrefix,
          cgroups: this.deps.cgroups,
          user,
        });
        return spawned.child;
      },
    };
    const q = query({ prompt: input.iterable, options });
    const timeoutMs = this.deps.startTimeoutMs ?? 30_000;
    try {
      await within(q.initializationResult(), timeoutMs, `no answer within ${timeoutMs} ms`);
    } catch (err) {
      const proc = spawned as AgentProcess | null;
      input.close();
      q.close();
      await proc?.stop(1_000);
      // A process that could not be spawned, or a start with nothing of the chat's own in
      // it, fails the same way for every chat; otherwise the chat's own session may be to blame.
      const plain = !resumeId && !model && !permissionMode;
      const scope: StartFailureScope = !existsSync(cwd) ? 'session' : plain || !proc || proc.pid <= 0 ? 'node' : 'session';
      throw this.failStart(
        new AgentStartError(this.deps.agent, `claude did not start: ${(err as Error).message}`, proc?.stderrTail() ?? '', {
          cause: err,
          scope,
        }),
      );
    }
    if (!spawned) throw this.failStart(new AgentStartError(this.deps.agent, 'the SDK started no process', ''));
    const live: Live = { query: q, input, process: spawned, cwd, model, permissionMode, seen: await this.totalsSoFar(resumeId) };
    this.startError = null;
    this.state = { kind: 'warm', live };
    this.deps.log.info(
      { chatId: this.deps.chatId, agent: this.deps.agent, model, resume: resumeId, pid: live.process.pid },
      'claude-sdk: warm query started',
    );
    return live;
  }

  /** The running totals a resumed process carries on from; a failed read counts from zero. */
  private async totalsSoFar(resumeId: string | null): Promise<RunningTotals> {
    if (!resumeId) return NO_TOTALS;
    try {
      const last = await this.store.lastEntryOfType(resumeId, 'cost-state');
      return restoredTotals(last ? [last] : []);
    } catch (err) {
      this.deps.log.warn({ err, chatId: this.deps.chatId }, 'claude-sdk: the running totals were not read; this turn may count earlier usage');
      return NO_TOTALS;
    }
  }

  private failStart(err: AgentStartError): AgentStartError {
    this.startError = err;
    this.deps.log.error({ chatId: this.deps.chatId, err }, 'claude-sdk: agent failed to start');
    return err;
  }

  async prompt(handle: AgentSessionHandle, input: string, ctx: PromptCtx): Promise<TurnResult> {
    if (this.state.kind === 'disposed') return failedTurn('closed', 'the backend has been disposed');
    if (this.state.kind === 'turn') return failedTurn('busy', 'a turn is already running in this session');
    if (ctx.signal.aborted) return failedTurn('aborted', 'aborted');
    let live: Live;
    if (this.state.kind === 'warm') {
      live = this.state.live;
    } else {
      // Evicted or crashed since ensureSession: start again on what the row says.
      try {
        this.agentSessionId = handle.agentSessionId;
        live = await this.start(ctx.worktreePath, ctx.model || null, null, handle.agentSessionId);
      } catch (err) {
        this.emit(ctx, { kind: 'error', message: (err as Error).message });
        return failedTurn('start_failed', (err as Error).message);
      }
    }
    this.state = { kind: 'turn', live };
    try {
      return await this.runTurn(live, input, ctx);
    } finally {
      if (this.state.kind === 'turn' && this.state.live === live) this.state = { kind: 'warm', live };
    }
  }

  private async runTurn(live: Live, input: string, ctx: PromptCtx): Promise<TurnResult> {
    const map = createClaudeSdkMapState();
    const explain = (message: string) => explainLoginFailure(message, this.env);
    const emit = onceEachError((ev) => this.emit(ctx, ev), explain);
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      aborted = true;
      // Interrupt the turn on the same process and keep it warm; a process that does
      // not stop in time is ended, and the next turn resumes from the store.
      live.query.interrupt().catch((err) => {
        this.deps.log.warn({ err, chatId: this.deps.chatId }, 'claude-sdk: interrupt failed; the process will be ended');
      });
      killTimer = setTimeout(() => live.process.killGroup('SIGKILL'), this.deps.interruptGraceMs ?? 5_000);
    };
    if (ctx.signal.aborted) {
      // Stopped while the agent was starting: the message is never sent.
      await this.row.setStatus('idle');
      return failedTurn('aborted', 'aborted');
    }
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      live.input.push({ type: 'user', message: { role: 'user', content: input }, parent_tool_use_id: null });
      for (;;) {
        // next(), never for-await: leaving a for-await loop would end the query.
        const step = await this.next(live);
        if (step.done) {
          if (this.closedUnder(live)) return failedTurn('closed', 'the session was closed during the turn');
          await this.teardown();
          if (aborted) return failedTurn('aborted', 'aborted');
          return this.crashed(ctx, `claude exited mid-turn${exitNote(live)}`);
        }
        const msg = step.value;
        if (msg.type === 'system' && msg.subtype === 'init' && msg.session_id !== this.agentSessionId) {
          this.agentSessionId = msg.session_id;
          await this.row.saveAgentSessionId(msg.session_id);
        }
        for (const ev of mapSdkMessage(msg, map)) emit(ev);
        if (msg.type === 'result') {
          const { outcome, total } = await finishTurn(msg, {
            seen: live.seen,
            aborted,
            row: this.row,
            emit,
            explain,
          });
          live.seen = total;
          return outcome;
        }
      }
    } catch (err) {
      if (this.closedUnder(live)) return failedTurn('closed', 'the session was closed during the turn');
      await this.teardown();
      if (aborted) return failedTurn('aborted', 'aborted');
      return this.crashed(ctx, `claude failed mid-turn: ${(err as Error).message}${exitNote(live)}`);
    } finally {
      clearTimeout(killTimer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Whether closeSession or dispose took this turn's process away. */
  private closedUnder(live: Live): boolean {
    return !((this.state.kind === 'turn' || this.state.kind === 'warm') && this.state.live === live);
  }

  /** The next SDK message, or an error once the process has died and the SDK has had its say. */
  private async next(live: Live): Promise<IteratorResult<SDKMessage, void>> {
    let timer: NodeJS.Timeout | undefined;
    const died = live.process.exited.then(
      () =>
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('the agent process exited')), 2_000);
        }),
    );
    try {
      return await Promise.race([live.query.next(), died]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async crashed(ctx: PromptCtx, message: string): Promise<TurnResult> {
    this.agentSessionId = null;
    await this.row.setStatus('crashed');
    this.emit(ctx, { kind: 'error', message });
    this.deps.log.warn({ chatId: this.deps.chatId, agent: this.deps.agent, message }, 'claude-sdk: turn crashed');
    return failedTurn('crashed', message);
  }

  async closeSession(handle: AgentSessionHandle): Promise<void> {
    await this.teardown();
    await this.row.setStatus('closed');
  }

  async dispose(): Promise<void> {
    await this.teardown('disposed');
  }

  /** Ends the query and its whole process group. Idempotent. */
  private async teardown(next: 'cold' | 'disposed' = 'cold'): Promise<void> {
    const current = this.state;
    if (current.kind === 'disposed') return;
    this.state = { kind: next };
    if (current.kind === 'cold') return;
    const { live } = current;
    live.input.close();
    live.query.close();
    await live.process.stop(3_000);
  }

  /** A subscriber's failure is logged and never ends the turn. */
  private emit(ctx: PromptCtx, event: AgentEvent): void {
    try {
      ctx.onEvent(event);
    } catch (err) {
      this.deps.log.warn({ err, chatId: this.deps.chatId, kind: event.kind }, 'claude-sdk: event subscriber threw');
    }
  }
}

function exitNote(live: Live): string {
  const { exitCode, signalCode } = live.process.child;
  const how = signalCode ? ` (killed by ${signalCode})` : exitCode !== null ? ` (exit code ${exitCode})` : '';
  const tail = live.process.stderrTail();
  return how + (tail ? `\n${tail}` : '');
}
