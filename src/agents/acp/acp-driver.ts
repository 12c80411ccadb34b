import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import {
  client,
  methods,
  ndJsonStream,
  PROTOCOL_VERSION,
  RequestError,
  type ClientConnection,
  type InitializeResponse,
  type RequestPermissionRequest,
  type RequestPermissionResponse,
  type SessionConfigOption,
  type SessionModeState,
  type SessionNotification,
} from '@agentclientprotocol/sdk';
import type { Logger } from 'pino';
import type { TurnUsage } from '../../api/events.js';
import {
  failedTurn,
  succeededTurn,
  type AgentDriver,
  type AgentSession,
  type PermissionDecision,
  type SessionOptions,
  type SessionReports,
  type SessionSpec,
  type SessionState,
  type TurnContext,
  type TurnResult,
} from '../contract/driver.js';
import { AgentStartError } from '../contract/errors.js';
import { agentProcessEnv } from '../process/agent-env.js';
import { AgentProcess } from '../process/agent-process.js';
import { giveTo } from '../process/agent-user.js';
import type { DriverProcessOptions } from '../process/driver-process-options.js';
import { within } from '../../util/within.js';
import { makePrivateDir } from '../../util/private-dir.js';
import { acpAgents } from '../catalog.js';
import type { AcpAgent, AcpLaunch } from './acp-agent.js';
import type { AgentSessionFiles } from '../../store/agent-session-files.js';
import { OutsideWorktreeError, readWorktreeFile, writeWorktreeFile } from './acp-fs.js';
import { AcpTurnMapper } from './acp-mapper.js';
import { isCurrent, modelChoice } from './acp-config.js';
import { acpAsk, acpOutcome } from './acp-permissions.js';

export interface AcpDriverDeps extends DriverProcessOptions {
  log: Logger;
  /** Why the driver is switched off on this node; absent or null when it is on. */
  switchedOff?: string | null;
  /** How long the agent gets to start and open its session. */
  startTimeoutMs?: number;
  /** How long a cancelled turn may take to return before its process is ended. */
  cancelGraceMs?: number;
  /** The agents this driver runs, by name. Default: the catalog's ACP agents. */
  agents?: ReadonlyMap<string, AcpAgent>;
  /** Where each agent gets a directory of its own on this node (`<homes>/<agent>`), for its home and configuration. */
  homes: string;
  /** Where the agents' session files are mirrored, so that a session resumes on a machine that lacks them. */
  sessionFiles?: AgentSessionFiles | null;
}

/**
 * Agent Client Protocol agents, warm across turns: one agent process per session, spoken
 * to over its stdio, one `session/prompt` per turn. What differs between agents (how
 * each starts, what it reads, where it keeps its sessions) is the agent's `AcpAgent`.
 */
export class AcpDriver implements AgentDriver {
  readonly backend = 'warm_acp' as const;
  readonly warm = true;
  private readonly sessions = new Set<AcpSession>();
  private readonly agents: ReadonlyMap<string, AcpAgent>;
  private disposed = false;

  constructor(private readonly deps: AcpDriverDeps) {
    this.agents = deps.agents ?? acpAgents();
  }

  /** The agent's allowlisted environment, and the process that serves one session of it. */
  private async launch(agent: AcpAgent, spec: SessionSpec) {
    const { user } = this.deps;
    const env = agentProcessEnv(this.deps.env ?? process.env, agent.envPrefixes, { secrets: this.deps.secrets, user });
    const home = path.join(this.deps.homes, spec.agent);
    await makePrivateDir(home);
    if (user) await giveTo(user, home);
    return agent.launch({ installPath: spec.installPath, env, home, worktreePath: spec.worktreePath, model: spec.model, permissionMode: spec.permissionMode });
  }

  unavailable(): string | null {
    if (this.deps.switchedOff) return this.deps.switchedOff;
    return this.disposed ? 'the warm_acp driver has been disposed' : null;
  }

  async open(spec: SessionSpec, reports: SessionReports): Promise<AgentSession> {
    const reason = this.unavailable();
    if (reason) throw new AgentStartError(spec.agent, reason, '');
    const agent = this.agents.get(spec.agent);
    if (!agent) throw new AgentStartError(spec.agent, `${spec.agent} is not an ACP agent this node knows`, '');
    try {
      accessSync(spec.installPath, constants.R_OK);
    } catch (err) {
      throw new AgentStartError(spec.agent, `cannot execute ${spec.installPath}`, '', { cause: err });
    }
    const launch = await this.launch(agent, spec).catch((err: unknown) => {
      throw new AgentStartError(spec.agent, `${spec.agent} could not be prepared: ${(err as Error).message}`, '', { cause: err });
    });
    if (spec.resume) {
      await this.restore(agent, spec, spec.resume, launch);
      await this.prepare(agent, spec, spec.resume, launch);
    }
    const proc = new AgentProcess({
      command: launch.command,
      args: launch.args,
      cwd: spec.worktreePath,
      env: launch.env,
      tagPrefix: this.deps.processTagPrefix,
      cgroups: this.deps.cgroups,
      user: this.deps.user ?? null,
    });
    const mirror = this.mirrorOf(agent, spec, launch);
    const session = new AcpSession(proc, spec, agent, reports, this.deps, mirror, () => this.sessions.delete(session));
    const timeoutMs = this.deps.startTimeoutMs ?? 30_000;
    try {
      await within(session.start(), timeoutMs, `no answer within ${timeoutMs} ms`);
    } catch (err) {
      const tail = proc.stderrTail();
      await session.close();
      this.deps.log.error({ chatId: spec.chatId, err }, 'acp: agent failed to start');
      const scope = !existsSync(spec.worktreePath) || spec.resume || spec.model || spec.permissionMode ? 'session' : 'node';
      throw new AgentStartError(spec.agent, `${spec.agent} did not start: ${whyFailed(err)}`, tail, { cause: err, scope });
    }
    if (this.disposed) {
      await session.close();
      throw new AgentStartError(spec.agent, 'the warm_acp driver has been disposed', '');
    }
    this.sessions.add(session);
    return session;
  }

  /**
   * Puts back the session's files where this machine lacks them, before the agent looks.
   * A failure leaves the agent to find what it can: it is logged, and the start goes on.
   */
  private async restore(agent: AcpAgent, spec: SessionSpec, sessionId: string, launch: AcpLaunch): Promise<void> {
    const store = this.deps.sessionFiles;
    if (!store || !agent.sessionFiles) return;
    const root = agent.sessionFiles.root(launch.env);
    try {
      const written = await store.restore(spec.agent, sessionId, root, this.deps.user ?? null);
      if (written) this.deps.log.info({ chatId: spec.chatId, agent: spec.agent, sessionId, written }, 'acp: session files restored from the database');
    } catch (err) {
      this.deps.log.warn({ chatId: spec.chatId, agent: spec.agent, sessionId, err }, 'acp: session files could not be restored');
    }
  }

  /** Lets the agent ready its files for its own load; a failure is logged, and the load tells what it finds. */
  private async prepare(agent: AcpAgent, spec: SessionSpec, sessionId: string, launch: AcpLaunch): Promise<void> {
    const files = agent.sessionFiles;
    if (!files?.prepare) return;
    try {
      await files.prepare(files.root(launch.env), sessionId, spec.worktreePath);
    } catch (err) {
      this.deps.log.warn({ chatId: spec.chatId, agent: spec.agent, sessionId, err }, 'acp: session files could not be readied for the load');
    }
  }

  /** What stores the session's files after each turn; null where nothing is mirrored. */
  private mirrorOf(agent: AcpAgent, spec: SessionSpec, launch: AcpLaunch): SessionMirror | null {
    const store = this.deps.sessionFiles;
    const files = agent.sessionFiles;
    if (!store || !files) return null;
    const root = files.root(launch.env);
    const log = this.deps.log;
    return async (sessionId) => {
      try {
        await store.mirror(spec.agent, sessionId, root, await files.list(root, sessionId, spec.worktreePath));
      } catch (err) {
        log.warn({ chatId: spec.chatId, agent: spec.agent, sessionId, err }, 'acp: session files were not mirrored; another machine resumes from the last mirror');
      }
    };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all([...this.sessions].map((s) => s.close()));
  }
}

/** Stores a session's files as they are after a turn; never throws. */
type SessionMirror = (sessionId: string) => Promise<void>;

/** A running turn: its context, what its updates add up to, and why the agent was told to stop, if it was. */
interface Turn {
  ctx: TurnContext;
  mapper: AcpTurnMapper;
  stop: { kind: 'running' } | { kind: 'aborted' } | { kind: 'unasked'; message: string };
  /** The error the agent reported in the turn's updates, as the words it gave it; null while it reports none. */
  failure: { said: string } | null;
}

/** A loaded session's replay is over once no update has come for this long, or at the latest after the other. */
const REPLAY_QUIET_MS = 150;
const REPLAY_MAX_MS = 3_000;

/** How long a turn's end waits for its files to be stored; a slower mirror goes on behind it. */
const MIRROR_WAIT_MS = 5_000;
/** How long an idle agent gets to close its session before its process is ended. */
const CLOSE_WAIT_MS = 1_000;

type State = { kind: 'starting' } | { kind: 'idle' } | { kind: 'turn'; turn: Turn } | { kind: 'closed' };

/** claude-agent-acp offers Hearth's permission modes under the same ids but `dontAsk`; null asks, as Hearth's other Claude backends do. */
const DEFAULT_MODE = 'default';

/** The agent's mode for Hearth's permission mode; null when it offers neither that nor a default. */
export function modeFor(mode: SessionOptions['permissionMode'], modes: SessionModeState, names: AcpAgent['modes'] = {}): string | null {
  const offered = (id: string) => modes.availableModes.some((m) => m.id === id);
  const wanted = names[mode ?? DEFAULT_MODE] ?? mode ?? DEFAULT_MODE;
  if (offered(wanted)) return wanted;
  const fallback = names[DEFAULT_MODE] ?? DEFAULT_MODE;
  return offered(fallback) ? fallback : null;
}

class AcpSession implements AgentSession {
  readonly backend = 'warm_acp' as const;
  private current: State = { kind: 'starting' };
  private readonly conn: ClientConnection;
  /** A session's updates, applied one after another in the order they came. */
  private updates: Promise<void> = Promise.resolve();
  private sessionId: string | null = null;
  private modes: SessionModeState | null = null;
  /** The agent's configuration options as it last reported them (its models among them). */
  private config: SessionConfigOption[] | null = null;
  /** Whether the agent offers `session/close`, which lets it end the session its own way before its process goes. */
  private closable = false;
  private options: SessionOptions;
  /** The session's running cost as the agent last reported it; null while unknown (a resumed session's total before this process). */
  private costSeen: number | null = 0;
  private readonly unknownKinds = new Set<string>();
  /** How many updates have come, for telling when a replay has gone quiet. */
  private updateCount = 0;
  /** Settles once the agent can no longer answer: its process exited or its stdout closed. */
  private readonly gone: Promise<void>;

  constructor(
    private readonly proc: AgentProcess,
    private readonly spec: SessionSpec,
    private readonly agent: AcpAgent,
    private readonly reports: SessionReports,
    private readonly deps: AcpDriverDeps,
    private readonly mirror: SessionMirror | null,
    private readonly onClosed: () => void,
  ) {
    this.options = { worktreePath: spec.worktreePath, model: spec.model, permissionMode: spec.permissionMode };
    const cwd = spec.worktreePath;
    this.conn = client({ name: 'hearth' })
      .onNotification(methods.client.session.update, ({ params }) => this.update(params))
      .onRequest(methods.client.session.requestPermission, ({ params }) => this.permission(params))
      .onRequest(methods.client.fs.readTextFile, ({ params }) =>
        fsAnswer(params.path, async () => ({ content: await readWorktreeFile(cwd, params.path, params.line, params.limit) })),
      )
      .onRequest(methods.client.fs.writeTextFile, ({ params }) =>
        fsAnswer(params.path, async () => {
          await writeWorktreeFile(cwd, params.path, params.content);
          return {};
        }),
      )
      .connect(
        ndJsonStream(
          Writable.toWeb(proc.child.stdin) as WritableStream<Uint8Array>,
          Readable.toWeb(proc.child.stdout) as unknown as ReadableStream<Uint8Array>,
        ),
      );
    this.gone = Promise.race([proc.exited.then(() => {}), this.conn.closed.then(() => {}, () => {})]);
    // An agent that dies between turns leaves a session that serves no more.
    void this.gone.then(() => {
      if (this.current.kind === 'idle') void this.teardown();
    });
  }

  /** Initializes the agent and opens, resumes or loads the conversation. */
  async start(): Promise<void> {
    const agent = this.conn.agent;
    const died = this.gone.then(() => Promise.reject(new Error(`the agent exited${exitNote(this.proc)}`)));
    // Only the races below read it; once the session is open, the agent's exit is no start failure.
    died.catch(() => {});
    const files = this.agent.clientFs ?? { readTextFile: true, writeTextFile: true };
    const init: InitializeResponse = await Promise.race([
      agent.request(methods.agent.initialize, {
        protocolVersion: PROTOCOL_VERSION,
        clientCapabilities: { fs: { readTextFile: files.readTextFile, writeTextFile: files.writeTextFile }, terminal: false },
        clientInfo: { name: 'hearth', version: '1' },
      }),
      died,
    ]);
    const cwd = this.spec.worktreePath;
    const token = this.spec.resume;
    const caps = init.agentCapabilities ?? {};
    const meta = this.agent.sessionMeta ? { _meta: this.agent.sessionMeta } : {};
    this.closable = Boolean(caps.sessionCapabilities?.close);
    if (token && this.agent.costIsSessionTotal) this.costSeen = null;
    if (token && caps.sessionCapabilities?.resume) {
      const r = await Promise.race([agent.request(methods.agent.session.resume, { sessionId: token, cwd, mcpServers: [], ...meta }), died]);
      this.sessionId = token;
      this.modes = r.modes ?? null;
      this.config = r.configOptions ?? null;
    } else if (token && caps.loadSession) {
      // The history it replays comes while no turn runs, so it reaches no turn.
      const r = await Promise.race([agent.request(methods.agent.session.load, { sessionId: token, cwd, mcpServers: [], ...meta }), died]);
      this.sessionId = token;
      if (this.agent.replaysAfterLoad) await Promise.race([this.replayDone(), died]);
      await this.updates;
      this.modes = r.modes ?? null;
      this.config = r.configOptions ?? null;
    } else {
      const r = await Promise.race([agent.request(methods.agent.session.new, { cwd, mcpServers: [], ...meta }), died]);
      this.sessionId = r.sessionId;
      this.modes = r.modes ?? null;
      this.config = r.configOptions ?? null;
    }
    this.reports.resumeToken(this.sessionId);
    await Promise.race([this.applyMode(this.spec.permissionMode), died]);
    await Promise.race([this.applyModel(this.spec.model), died]);
    if (this.current.kind === 'starting') this.current = { kind: 'idle' };
    this.deps.log.info({ chatId: this.spec.chatId, agent: this.spec.agent, pid: this.proc.pid, sessionId: this.sessionId, mode: this.modes?.currentModeId }, 'acp: session open');
  }

  /**
   * Resolves once the replay of a loaded session has gone quiet: an agent that goes on
   * replaying after its answer would otherwise have the history land in the first turn.
   */
  private async replayDone(): Promise<void> {
    const deadline = Date.now() + REPLAY_MAX_MS;
    let seen = this.updateCount;
    for (;;) {
      await new Promise((r) => setTimeout(r, REPLAY_QUIET_MS));
      if (this.updateCount === seen || Date.now() > deadline) return;
      seen = this.updateCount;
    }
  }

  /**
   * Puts the agent in the mode for Hearth's permission mode: the mode of that id, or
   * where the agent offers none such, its `default`, which asks before acting.
   */
  private async applyMode(mode: SessionOptions['permissionMode']): Promise<void> {
    const modes = this.modes;
    if (!modes) return;
    const wanted = modeFor(mode, modes, this.agent.modes);
    if (wanted === null || modes.currentModeId === wanted) return;
    if (wanted !== (this.agent.modes?.[mode ?? DEFAULT_MODE] ?? mode ?? DEFAULT_MODE)) this.deps.log.warn({ chatId: this.spec.chatId, mode, instead: wanted }, 'acp: the agent offers no such mode');
    await this.conn.agent.request(methods.agent.session.setMode, { sessionId: this.sessionId!, modeId: wanted });
    this.modes = { ...modes, currentModeId: wanted };
  }

  /** Sets the agent's model option to the chat's model where it offers that model; otherwise its launch decided. */
  private async applyModel(model: string | null): Promise<void> {
    const choice = modelChoice(model, this.config);
    if (!choice || isCurrent(choice, this.config)) return;
    const r = await this.conn.agent.request(methods.agent.session.setConfigOption, { sessionId: this.sessionId!, ...choice });
    this.config = r.configOptions;
  }

  state(): SessionState {
    return this.current.kind === 'starting' ? 'idle' : this.current.kind;
  }

  pid(): number | null {
    return this.current.kind === 'closed' ? null : this.proc.pid;
  }

  async reconfigure(options: SessionOptions): Promise<boolean> {
    if (this.current.kind !== 'idle') return false;
    // The working directory is the process's own; so is a model the agent takes only at its launch.
    if (options.worktreePath !== this.options.worktreePath) return false;
    if (options.model !== this.options.model && !modelChoice(options.model, this.config)) return false;
    if (this.agent.modeAtLaunch && options.permissionMode !== this.options.permissionMode) return false;
    // The agent changes its own mode (an approved plan leaves plan mode): what it is in now is compared.
    try {
      await this.applyMode(options.permissionMode);
      await this.applyModel(options.model);
    } catch (err) {
      this.deps.log.info({ chatId: this.spec.chatId, err }, 'acp: the mode or model was not changed; a new process takes it');
      return false;
    }
    this.options = { ...this.options, permissionMode: options.permissionMode, model: options.model };
    return true;
  }

  async prompt(input: string, ctx: TurnContext): Promise<TurnResult> {
    if (this.current.kind === 'closed') return failedTurn('closed', 'the session has ended');
    if (this.current.kind === 'turn') return failedTurn('busy', 'a turn is already running in this session');
    if (ctx.signal.aborted) return failedTurn('aborted', 'aborted');
    const turn: Turn = { ctx, mapper: new AcpTurnMapper((kind) => this.unknown(kind), (call) => this.agent.toolName?.(call) ?? null), stop: { kind: 'running' }, failure: null };
    this.current = { kind: 'turn', turn };
    try {
      const result = await this.runTurn(turn, input);
      // What the turn added is stored before the turn ends, so any machine can go on from here.
      if (this.mirror && this.sessionId) await within(this.mirror(this.sessionId), MIRROR_WAIT_MS, '').catch(() => {});
      return result;
    } finally {
      if (this.current.kind === 'turn' && this.current.turn === turn) this.current = { kind: 'idle' };
    }
  }

  private async runTurn(turn: Turn, input: string): Promise<TurnResult> {
    const { ctx } = turn;
    let watchdog: NodeJS.Timeout | undefined;
    const onAbort = () => {
      turn.stop = { kind: 'aborted' };
      this.cancel();
      // An agent that does not return from a cancelled prompt in time is ended, and the session with it.
      watchdog = setTimeout(() => this.proc.killAll(), this.deps.cancelGraceMs ?? 5_000);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const asked = this.conn.agent.request(methods.agent.session.prompt, { sessionId: this.sessionId!, prompt: [{ type: 'text', text: input }] });
      const outcome = await Promise.race([
        asked.then(
          (r) => ({ kind: 'answered' as const, r }),
          (err: unknown) => ({ kind: 'failed' as const, err }),
        ),
        this.gone.then(() => ({ kind: 'gone' as const })),
      ]);
      if (outcome.kind === 'failed' && outcome.err instanceof RequestError && this.proc.running && turn.stop.kind === 'running') {
        // The agent answered the prompt with an error (Gemini CLI does for the model's): it lives on, and so does the session.
        await this.updates;
        const message = turn.mapper.message();
        if (message) ctx.emit(message);
        return failedTurn('agent_error', `${this.spec.agent} failed the turn: ${whyFailed(outcome.err)}`);
      }
      if (outcome.kind !== 'answered') return await this.ended(turn, outcome.kind === 'failed' ? whyFailed(outcome.err) : 'the agent exited');
      // Every update the agent sent before its answer is applied before the turn ends.
      await this.updates;
      const message = turn.mapper.message();
      if (message) ctx.emit(message);
      const usage = this.usageOf(outcome.r as { usage?: unknown }, turn.mapper);
      if (turn.stop.kind === 'aborted') return failedTurn('aborted', 'aborted', usage);
      if (turn.stop.kind === 'unasked') return failedTurn('agent_error', `${this.spec.agent} stopped: ${turn.stop.message}`, usage);
      if (turn.failure) return failedTurn('api_error', `${this.spec.agent}: ${turn.failure.said.trim() || 'the model call failed'}`, usage);
      return succeededTurn(usage, outcome.r.stopReason);
    } finally {
      clearTimeout(watchdog);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  /** A turn whose prompt never got its answer: closed under it, stopped and then ended, or crashed. The session serves no more. */
  private async ended(turn: Turn, why: string): Promise<TurnResult> {
    const closedUnder = this.current.kind !== 'turn' || this.current.turn !== turn;
    // The exit status says how it died; it comes a moment after stdout closes.
    await within(this.proc.exited, 2_000, '').catch(() => {});
    const crash = `${this.spec.agent} exited mid-turn: ${why}${exitNote(this.proc)}`;
    await this.teardown();
    if (closedUnder) return failedTurn('closed', 'the session was closed during the turn');
    if (turn.stop.kind === 'aborted') return failedTurn('aborted', 'aborted');
    this.deps.log.warn({ chatId: this.spec.chatId, message: crash }, 'acp: turn crashed');
    return failedTurn('crashed', crash);
  }

  private cancel(): void {
    this.conn.agent.notify(methods.agent.session.cancel, { sessionId: this.sessionId! }).catch((err) => {
      this.deps.log.warn({ err, chatId: this.spec.chatId }, 'acp: cancel was not sent');
    });
  }

  /** The turn's tokens as the agent returns them with its answer, and its cost as the change in the session's running cost. */
  private usageOf(response: { usage?: unknown }, mapper: AcpTurnMapper): TurnUsage | null {
    const u = (this.agent.usage?.(response as { usage?: unknown; _meta?: Record<string, unknown> | null }) ?? response.usage) as
      | { inputTokens?: number; outputTokens?: number; cachedReadTokens?: number; cachedWriteTokens?: number }
      | null
      | undefined;
    const cost = mapper.costUsd;
    // An agent that reports no cost leaves it unknown rather than free; so does a total whose start is unknown.
    const costUsd = cost !== null && this.costSeen !== null ? round(Math.max(0, cost - this.costSeen)) : null;
    if (cost !== null) this.costSeen = cost;
    if (!u) return cost !== null ? { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd } : null;
    return {
      inputTokens: u.inputTokens ?? 0,
      outputTokens: u.outputTokens ?? 0,
      cacheReadTokens: u.cachedReadTokens ?? 0,
      cacheWriteTokens: u.cachedWriteTokens ?? 0,
      costUsd,
    };
  }

  /** Queues one update behind those before it. */
  private update(n: SessionNotification): void {
    this.updateCount++;
    this.updates = this.updates.then(() => {
      if (n.sessionId !== this.sessionId) return;
      if (n.update.sessionUpdate === 'current_mode_update' && this.modes) this.modes = { ...this.modes, currentModeId: n.update.currentModeId };
      if (n.update.sessionUpdate === 'config_option_update') this.config = n.update.configOptions;
      if (n.update.sessionUpdate === 'usage_update' && n.update.cost?.currency === 'USD' && this.current.kind !== 'turn') this.costSeen = n.update.cost.amount;
      if (this.current.kind !== 'turn') return;
      const turn = this.current.turn;
      if (this.agent.turnFailed?.(n.update)) turn.failure = { said: '' };
      // What the agent says once it has failed is the error, not a reply.
      if (turn.failure) {
        if (n.update.sessionUpdate === 'agent_message_chunk' && n.update.content.type === 'text') turn.failure.said += n.update.content.text;
        return;
      }
      for (const ev of turn.mapper.map(n.update)) turn.ctx.emit(ev);
    });
  }

  private unknown(kind: string): void {
    if (this.unknownKinds.has(kind)) return;
    this.unknownKinds.add(kind);
    this.deps.log.info({ chatId: this.spec.chatId, kind }, 'acp: an update of a kind Hearth does not show');
  }

  /**
   * The agent's request to go on, put to a person through the running turn. A stop
   * answers it `cancelled` at once, as the protocol asks of every pending request.
   */
  private async permission(req: RequestPermissionRequest): Promise<RequestPermissionResponse> {
    const cancelled: RequestPermissionResponse = { outcome: { outcome: 'cancelled' } };
    if (this.current.kind !== 'turn') return cancelled;
    const { turn } = this.current;
    if (turn.stop.kind !== 'running') return cancelled;
    // Updates sent before the request are the turn's before it is asked.
    await this.updates;
    // The call asked about is shown, whole, before the question.
    for (const ev of turn.mapper.announce(req.toolCall.toolCallId, req.toolCall.rawInput, req.toolCall)) turn.ctx.emit(ev);
    const ask = acpAsk(req, this.options.worktreePath, turn.mapper.diffsOf(req.toolCall.toolCallId), (call) => this.agent.toolName?.(call) ?? null);
    const stopped = new Promise<PermissionDecision>((resolve) => {
      if (turn.ctx.signal.aborted) resolve({ outcome: 'cancelled', message: 'the turn was stopped' });
      turn.ctx.signal.addEventListener('abort', () => resolve({ outcome: 'cancelled', message: 'the turn was stopped' }), { once: true });
    });
    const decision = await Promise.race([
      turn.ctx.requestPermission(ask).catch((err: unknown): PermissionDecision => {
        this.deps.log.warn({ err, chatId: this.spec.chatId }, 'acp: a permission request failed; the tool is refused');
        return { outcome: 'cancelled', message: `the request to use ${ask.tool} could not be put to anyone` };
      }),
      stopped,
    ]);
    if (decision.outcome === 'cancelled' && !turn.ctx.signal.aborted && turn.stop.kind === 'running') {
      // Nobody could be asked though the turn goes on: the agent stops, and the turn says why.
      turn.stop = { kind: 'unasked', message: decision.message };
      this.cancel();
    }
    const given = this.agent.alwaysOutlivesChat && decision.outcome === 'selected' && decision.kind === 'allow_always' ? { ...decision, kind: 'allow_once' as const } : decision;
    return { outcome: acpOutcome(req.options, given) };
  }

  async close(): Promise<void> {
    await this.teardown();
  }

  /** Ends the connection and the agent's whole process group. Idempotent. */
  private async teardown(): Promise<void> {
    if (this.current.kind === 'closed') return;
    const idle = this.current.kind === 'idle';
    this.current = { kind: 'closed' };
    this.onClosed();
    if (idle && this.closable && this.sessionId) {
      await within(this.conn.agent.request(methods.agent.session.close, { sessionId: this.sessionId }), CLOSE_WAIT_MS, '').catch(() => {});
    }
    this.conn.close();
    this.proc.child.stdin.end();
    await this.proc.stop(1_000);
  }
}

/** A file request's answer, or the error the agent is told in words: why it was refused, or that there is no such file. */
async function fsAnswer<T>(file: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof OutsideWorktreeError) throw new RequestError(-32602, err.message);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw RequestError.resourceNotFound(file);
    throw new RequestError(-32603, (err as Error).message);
  }
}

/** An error's message, with the details an agent's JSON-RPC error carries beside it. */
function whyFailed(err: unknown): string {
  const message = (err as Error).message;
  if (!(err instanceof RequestError)) return message;
  const details = (err.data as { details?: unknown } | undefined)?.details;
  return typeof details === 'string' && details && !message.includes(details) ? `${message}: ${details}` : message;
}

function round(usd: number): number {
  return Number(usd.toFixed(10));
}

function exitNote(proc: AgentProcess): string {
  const { exitCode, signalCode } = proc.child;
  const how = signalCode ? ` (killed by ${signalCode})` : exitCode !== null ? ` (exit code ${exitCode})` : '';
  const tail = proc.stderrTail();
  return how + (tail ? `\n${tail}` : '');
}
