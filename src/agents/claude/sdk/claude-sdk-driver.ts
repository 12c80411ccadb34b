import { accessSync, constants, existsSync } from 'node:fs';
import {
  query,
  type CanUseTool,
  type Options,
  type PermissionMode,
  type PermissionResult,
  type Query,
  type SDKMessage,
  type SDKUserMessage,
} from '@anthropic-ai/claude-agent-sdk';
import type { Logger } from 'pino';
import type { PostgresSessionStore } from '../../../store/postgres-session-store.js';
import {
  failedTurn,
  type AgentDriver,
  type AgentSession,
  type SessionOptions,
  type SessionReports,
  type SessionSpec,
  type SessionState,
  type TurnContext,
  type TurnResult,
} from '../../contract/driver.js';
import { AgentStartError, type StartFailureScope } from '../../contract/errors.js';
import { claudeAgentEnv } from '../../process/agent-env.js';
import type { DriverProcessOptions } from '../../process/driver-process-options.js';
import { AgentProcess } from '../../process/agent-process.js';
import { giveTreeToSync, isSdkResumeDir } from '../../process/agent-user.js';
import { createPushable, type Pushable } from '../../../util/pushable.js';
import { within } from '../../../util/within.js';
import { createClaudeSdkMapState, mapSdkMessage } from '../claude-sdk-mapper.js';
import { explainLoginFailure } from '../claude-login.js';
import { warmFirstTurn } from './first-turn-warmup.js';
import { finishTurn, NO_TOTALS, onceEachError, restoredTotals, type RunningTotals } from '../claude-result.js';
import { claudeAsk, claudeResult } from '../claude-permissions.js';

export interface ClaudeSdkDriverDeps extends DriverProcessOptions {
  log: Logger;
  /** Where the agents' transcripts are mirrored, so any node can resume them. */
  sessionStore: PostgresSessionStore;
  /** Why the driver is switched off on this node; absent or null when it is on. */
  switchedOff?: string | null;
  /** An executable to run instead of each session's `installPath`. */
  executable?: string | null;
  /** How long the agent gets to come up. */
  startTimeoutMs?: number;
  /** How long an aborted turn may take to stop before its process is killed. */
  interruptGraceMs?: number;
  /** Whether a new agent does some of its first turn's work before that turn comes; on unless false. */
  warmFirstTurn?: boolean;
}

/**
 * The `claude` agent through the Claude Agent SDK, warm across turns: each session is
 * one persistent `query()` in streaming-input mode, fed one user message per turn, its
 * transcript mirrored into PostgreSQL so any node can resume it.
 */
export class ClaudeSdkDriver implements AgentDriver {
  readonly backend = 'claude_sdk' as const;
  readonly warm = true;
  private readonly sessions = new Set<ClaudeSdkSession>();
  /** What the agents' processes see. */
  private readonly env: Record<string, string>;
  private disposed = false;

  constructor(private readonly deps: ClaudeSdkDriverDeps) {
    this.env = claudeAgentEnv(deps.env ?? process.env, { secrets: deps.secrets, user: deps.user });
  }

  unavailable(): string | null {
    if (this.deps.switchedOff) return this.deps.switchedOff;
    return this.disposed ? 'the claude_sdk driver has been disposed' : null;
  }

  async open(spec: SessionSpec, reports: SessionReports): Promise<AgentSession> {
    const reason = this.unavailable();
    if (reason) throw new AgentStartError(spec.agent, reason, '');
    // The agent asks only during a turn, so never before its session exists; should it, nobody is there to answer.
    let session: ClaudeSdkSession | null = null;
    const live = await this.start(spec, (tool, input, options) => (session ? session.canUseTool(tool, input, options) : Promise.resolve(NO_TURN)));
    session = new ClaudeSdkSession(live, spec, reports, this.deps, this.env, () => this.sessions.delete(session!));
    if (this.disposed) {
      // Disposed while the agent was coming up: it serves nobody.
      await session.close();
      throw new AgentStartError(spec.agent, 'the claude_sdk driver has been disposed', '');
    }
    this.sessions.add(session);
    if (this.deps.warmFirstTurn !== false) warmFirstTurn(live.query, () => session.state() === 'idle', this.deps.log, spec.chatId);
    return session;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all([...this.sessions].map((s) => s.close()));
  }

  /** Spawns the agent and waits until it has answered the SDK's initialize request. */
  private async start(spec: SessionSpec, canUseTool: CanUseTool): Promise<Live> {
    const installPath = this.deps.executable || spec.installPath;
    const fail = (err: AgentStartError) => {
      this.deps.log.error({ chatId: spec.chatId, err }, 'claude-sdk: agent failed to start');
      return err;
    };
    try {
      accessSync(installPath, constants.X_OK);
    } catch (err) {
      throw fail(new AgentStartError(spec.agent, `cannot execute ${installPath}`, '', { cause: err }));
    }
    const { worktreePath: cwd, model, permissionMode, resume } = spec;
    const input = createPushable<SDKUserMessage>();
    const user = this.deps.user ?? null;
    let spawned: AgentProcess | null = null;
    const options: Options = {
      cwd,
      sessionStore: this.deps.sessionStore,
      // Partial messages carry text, thinking and tool input as they are written.
      includePartialMessages: true,
      // Where Claude Code would ask its user (the default and plan modes, acceptEdits for what is no edit), it asks here.
      canUseTool,
      env: this.env,
      pathToClaudeCodeExecutable: installPath,
      ...(model ? { model } : {}),
      ...(resume ? { resume } : {}),
      ...(permissionMode ? { permissionMode } : {}),
      ...(permissionMode === 'bypassPermissions' ? { allowDangerouslySkipPermissions: true } : {}),
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
    // The running totals are read while the agent starts: they are needed only once it has.
    const totals = this.totalsSoFar(spec);
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
      const plain = !resume && !model && !permissionMode;
      const scope: StartFailureScope = !existsSync(cwd) ? 'session' : plain || !proc || proc.pid <= 0 ? 'node' : 'session';
      throw fail(
        new AgentStartError(spec.agent, `claude did not start: ${(err as Error).message}`, proc?.stderrTail() ?? '', {
          cause: err,
          scope,
        }),
      );
    }
    const proc = spawned as AgentProcess | null;
    if (!proc) {
      q.close();
      throw fail(new AgentStartError(spec.agent, 'the SDK started no process', ''));
    }
    const live: Live = { query: q, input, process: proc, seen: await totals };
    this.deps.log.info(
      { chatId: spec.chatId, agent: spec.agent, model, resume, pid: proc.pid },
      'claude-sdk: warm query started',
    );
    return live;
  }

  /** The running totals a resumed process carries on from; a failed read counts from zero. */
  private async totalsSoFar(spec: SessionSpec): Promise<RunningTotals> {
    if (!spec.resume) return NO_TOTALS;
    try {
      const last = await this.deps.sessionStore.lastEntryOfType(spec.resume, 'cost-state');
      return restoredTotals(last ? [last] : []);
    } catch (err) {
      this.deps.log.warn({ err, chatId: spec.chatId }, 'claude-sdk: the running totals were not read; this turn may count earlier usage');
      return NO_TOTALS;
    }
  }
}

/** One warm agent: the query, the queue feeding it, and the process behind it. */
interface Live {
  query: Query;
  input: Pushable<SDKUserMessage>;
  process: AgentProcess;
  /** The query's running totals as last reported; results carry totals, not per-turn figures. */
  seen: RunningTotals;
}

type State = { kind: 'idle'; live: Live } | { kind: 'turn'; live: Live; turn: Turn } | { kind: 'closed' };

/** A running turn: its context, which the agent's requests to a person go through, and why the agent was told to stop, if it was. */
interface Turn {
  ctx: TurnContext;
  stop: { kind: 'running' } | { kind: 'aborted' } | { kind: 'unasked'; message: string };
}

/** The answer to a request that comes while no turn runs: nobody can be asked. */
const NO_TURN: PermissionResult = { behavior: 'deny', message: 'No turn is running, so nobody can be asked.', interrupt: true };

/** The answer Claude Code gets, should it look, for a request it withdrew. */
const WITHDRAWN: PermissionResult = { behavior: 'deny', message: 'The request was withdrawn.', interrupt: true };

/** One (chat, agent) session: a warm query whose process lives until the session closes or the agent dies. */
class ClaudeSdkSession implements AgentSession {
  readonly backend = 'claude_sdk' as const;
  private current: State;
  /** The options the process was launched with, as far as they have changed warm since. */
  private options: SessionOptions;
  /** The agent's id for the conversation, as last reported. */
  private token: string | null = null;
  private readonly chatId: string;

  constructor(
    live: Live,
    spec: SessionSpec,
    private readonly reports: SessionReports,
    private readonly deps: ClaudeSdkDriverDeps,
    private readonly env: Record<string, string>,
    private readonly onClosed: () => void,
  ) {
    this.current = { kind: 'idle', live };
    this.options = { worktreePath: spec.worktreePath, model: spec.model, permissionMode: spec.permissionMode };
    this.chatId = spec.chatId;
    // A process that dies between turns leaves a session that serves no more.
    void live.process.exited.then(() => {
      if (this.current.kind === 'idle' && this.current.live === live) void this.teardown();
    });
  }

  state(): SessionState {
    return this.current.kind;
  }

  pid(): number | null {
    return this.current.kind === 'closed' ? null : this.current.live.process.pid;
  }

  async reconfigure(options: SessionOptions): Promise<boolean> {
    if (this.current.kind === 'closed') return false;
    // A model and a working directory are chosen at spawn.
    if (options.model !== this.options.model || options.worktreePath !== this.options.worktreePath) return false;
    if (options.permissionMode === this.options.permissionMode) return true;
    // Most modes change on the live process; entering bypassPermissions needs a process launched for it.
    try {
      await this.current.live.query.setPermissionMode(options.permissionMode ?? 'default');
    } catch (err) {
      this.deps.log.info({ chatId: this.chatId, err }, 'claude-sdk: the permission mode needs a new process');
      return false;
    }
    this.options = { ...this.options, permissionMode: options.permissionMode };
    return true;
  }

  async prompt(input: string, ctx: TurnContext): Promise<TurnResult> {
    if (this.current.kind === 'closed') return failedTurn('closed', 'the session has ended');
    if (this.current.kind === 'turn') return failedTurn('busy', 'a turn is already running in this session');
    if (ctx.signal.aborted) return failedTurn('aborted', 'aborted');
    const { live } = this.current;
    const turn: Turn = { ctx, stop: { kind: 'running' } };
    this.current = { kind: 'turn', live, turn };
    try {
      return await this.runTurn(live, input, turn);
    } finally {
      if (this.current.kind === 'turn' && this.current.live === live) this.current = { kind: 'idle', live };
    }
  }

  /**
   * Claude Code's request to use a tool, put to a person through the running turn. The
   * turn's signal reaches the request through its context; the SDK's own signal says
   * Claude Code no longer waits for the answer.
   */
  async canUseTool(tool: string, input: Record<string, unknown>, options: Parameters<CanUseTool>[2]): Promise<PermissionResult> {
    const current = this.current;
    if (current.kind !== 'turn') return NO_TURN;
    const { turn } = current;
    const ask = claudeAsk(tool, input, {
      toolUseId: options.toolUseID,
      suggestions: options.suggestions,
      cwd: this.options.worktreePath,
      suppressAlwaysAllowRule: options.suppressAlwaysAllowRule,
    });
    // Nobody could be asked though the turn goes on: the agent stops, and the turn says why.
    const unasked = (message: string) => {
      if (!turn.ctx.signal.aborted && turn.stop.kind === 'running') turn.stop = { kind: 'unasked', message };
    };
    const answered = turn.ctx.requestPermission(ask).then(
      (decision) => {
        if (decision.outcome === 'cancelled') unasked(decision.message);
        return claudeResult(ask, input, decision);
      },
      (err: unknown): PermissionResult => {
        this.deps.log.warn({ err, chatId: this.chatId, tool }, 'claude-sdk: a permission request failed; the tool is refused');
        unasked(`the request to use ${tool} could not be put to anyone`);
        return { behavior: 'deny', message: 'The request could not be put to the user.', interrupt: true };
      },
    );
    const withdrawn = whenAborted(options.signal, WITHDRAWN);
    try {
      return await Promise.race([answered, withdrawn.promise]);
    } finally {
      withdrawn.cancel();
    }
  }

  private async runTurn(live: Live, input: string, turn: Turn): Promise<TurnResult> {
    const { ctx } = turn;
    const map = createClaudeSdkMapState();
    const explain = (message: string) => explainLoginFailure(message, this.env);
    const emit = onceEachError((ev) => ctx.emit(ev), explain);
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      turn.stop = { kind: 'aborted' };
      // Interrupt the turn on the same process and keep it warm; a process that does
      // not stop in time is ended, and the session with it.
      live.query.interrupt().catch((err) => {
        this.deps.log.warn({ err, chatId: this.chatId }, 'claude-sdk: interrupt failed; the process will be ended');
      });
      killTimer = setTimeout(() => live.process.killGroup('SIGKILL'), this.deps.interruptGraceMs ?? 5_000);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const aborted = () => turn.stop.kind === 'aborted';
    try {
      live.input.push({ type: 'user', message: { role: 'user', content: input }, parent_tool_use_id: null });
      for (;;) {
        // next(), never for-await: leaving a for-await loop would end the query.
        const step = await this.next(live);
        if (step.done) return await this.ended(live, aborted(), `claude exited mid-turn${exitNote(live)}`);
        const msg = step.value;
        if (msg.type === 'system' && msg.subtype === 'init' && msg.session_id !== this.token) {
          this.token = msg.session_id;
          this.reports.resumeToken(msg.session_id);
        }
        if (msg.type === 'system' && (msg.subtype === 'init' || msg.subtype === 'status')) this.modeReported(msg.permissionMode);
        for (const ev of mapSdkMessage(msg, map)) emit(ev);
        if (msg.type === 'result') {
          const { outcome, total } = finishTurn(msg, { seen: live.seen, aborted: aborted(), explain });
          live.seen = total;
          const { stop } = turn;
          return stop.kind === 'unasked' && !outcome.ok ? failedTurn('agent_error', `claude stopped: ${stop.message}`, outcome.usage) : outcome;
        }
      }
    } catch (err) {
      return await this.ended(live, aborted(), `claude failed mid-turn: ${(err as Error).message}${exitNote(live)}`);
    } finally {
      clearTimeout(killTimer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The permission mode the process reports. It changes itself (an approved plan leaves
   * plan mode), and the next turn's options are compared with what it is in now.
   */
  private modeReported(mode: PermissionMode | undefined): void {
    if (mode && mode !== (this.options.permissionMode ?? 'default')) this.options = { ...this.options, permissionMode: mode };
  }

  /** A turn whose query ended before its result: closed under it, stopped, or crashed. The session serves no more. */
  private async ended(live: Live, aborted: boolean, crash: string): Promise<TurnResult> {
    const closedUnder = this.current.kind !== 'turn' || this.current.live !== live;
    await this.teardown();
    if (closedUnder) return failedTurn('closed', 'the session was closed during the turn');
    if (aborted) return failedTurn('aborted', 'aborted');
    this.deps.log.warn({ chatId: this.chatId, message: crash }, 'claude-sdk: turn crashed');
    return failedTurn('crashed', crash);
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

  async close(): Promise<void> {
    await this.teardown();
  }

  /** Ends the query and its whole process group. Idempotent. */
  private async teardown(): Promise<void> {
    const current = this.current;
    if (current.kind === 'closed') return;
    this.current = { kind: 'closed' };
    this.onClosed();
    const { live } = current;
    live.input.close();
    live.query.close();
    await live.process.stop(3_000);
  }
}

function exitNote(live: Live): string {
  const { exitCode, signalCode } = live.process.child;
  const how = signalCode ? ` (killed by ${signalCode})` : exitCode !== null ? ` (exit code ${exitCode})` : '';
  const tail = live.process.stderrTail();
  return how + (tail ? `\n${tail}` : '');
}

/** A promise of `value` once `signal` aborts, and a way to stop listening. */
function whenAborted<T>(signal: AbortSignal, value: T): { promise: Promise<T>; cancel: () => void } {
  let cancel = () => {};
  const promise = new Promise<T>((resolve) => {
    if (signal.aborted) return resolve(value);
    const onAbort = () => resolve(value);
    signal.addEventListener('abort', onAbort, { once: true });
    cancel = () => signal.removeEventListener('abort', onAbort);
  });
  return { promise, cancel };
}
