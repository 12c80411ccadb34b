import { accessSync, constants, existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Event, PermissionRequest, QuestionRequest, Session } from '@opencode-ai/sdk/v2';
import type { Logger } from 'pino';
import {
  failedTurn,
  succeededTurn,
  type AgentDriver,
  type AgentSession,
  type PermissionAsk,
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
import { makePrivateDir } from '../../util/private-dir.js';
import { within } from '../../util/within.js';
import type { OpencodeExportMessage, OpencodeSessions } from '../../store/opencode-sessions.js';
import { agentFor, modelRef, OPENCODE_ENV_PREFIXES, seedConfigDir, serverConfig, sessionPermission } from './opencode-config.js';
import { errorText, OpencodeTurnMapper, type OpencodeError } from './opencode-mapper.js';
import { OpencodeServer, serverEnv } from './opencode-server.js';
import { cancelledByStop, permissionAsk, splitAnswer } from './opencode-permissions.js';

export interface OpencodeDriverDeps extends DriverProcessOptions {
  log: Logger;
  /** Why the driver is switched off on this node; absent or null when it is on. */
  switchedOff?: string | null;
  /** Where each agent gets a directory of its own on this node; the server's is `<homes>/opencode`. */
  homes: string;
  /** Where sessions are kept after each turn, so that a node without one imports it. */
  sessions?: OpencodeSessions | null;
  /** How long the server gets to start and answer. Default: a minute. */
  startTimeoutMs?: number;
  /** How long a stopped turn may take to end before the driver ends it. Default: 5 s. */
  abortGraceMs?: number;
  /** How long the event stream may be silent before it is opened again. Default: 25 s (its heartbeat comes every 10 s). */
  silenceMs?: number;
  /** How long OpenCode may take to go busy on a prompt before the turn fails. Default: 30 s. */
  takeUpMs?: number;
  /** Resident bytes past which the server is restarted between turns (never during one); null or absent: no ceiling. */
  maxServerMemory?: number | null;
}

type ServerState =
  | { kind: 'down' }
  | { kind: 'starting'; ready: Promise<OpencodeServer> }
  | { kind: 'up'; server: OpencodeServer }
  | { kind: 'disposed' };

/** How long a turn's end waits for its session to be kept; a slower store goes on behind it. */
const KEEP_WAIT_MS = 5_000;
/** How long an import of a session may take: the CLI starts an instance of its own. */
const IMPORT_TIMEOUT_MS = 60_000;
/** How long a turn waits for its session to go idle after OpenCode reported its error. */
const ERROR_IDLE_MS = 5_000;
/** How long OpenCode may take to go busy on a prompt before the driver looks whether it took it at all. */
const TAKE_UP_MS = 30_000;

/**
 * OpenCode through `opencode serve`: one server for the node, shared by every session
 * (each about 600 MiB resident, so one per chat would not scale), started with the first
 * session and stopped with the last, restarted after a crash and, past its memory
 * ceiling, between turns. Its sessions live in its SQLite and are kept in PostgreSQL
 * after each turn, so they go on after a restart, a lost data directory, or on another node.
 */
export class OpencodeDriver implements AgentDriver {
  readonly backend = 'opencode_server' as const;
  readonly warm = true;
  private server: ServerState = { kind: 'down' };
  private readonly sessions = new Set<OpencodeSession>();
  readonly home: string;
  /** The stop of the server its last session's close began. */
  private lastStop: Promise<void> = Promise.resolve();
  private readonly env: Record<string, string>;
  private readonly config: string;
  /** The model the server's configuration makes its default, as `provider/model`. */
  readonly defaultModel: string | null;
  private configError: string | null = null;

  constructor(private readonly deps: OpencodeDriverDeps) {
    this.home = path.join(deps.homes, 'opencode');
    const source = deps.env ?? process.env;
    this.env = agentProcessEnv(source, OPENCODE_ENV_PREFIXES, { secrets: deps.secrets, user: deps.user });
    let config = '{}';
    let model: string | null = null;
    try {
      const made = serverConfig(source.OPENCODE_CONFIG_CONTENT);
      config = JSON.stringify(made);
      model = made.model ?? null;
    } catch (err) {
      this.configError = (err as Error).message;
    }
    this.config = config;
    this.defaultModel = model;
    // Hearth's configuration stands in for the node's; a permission set beside it would outrank the sessions' rules.
    delete this.env.OPENCODE_CONFIG_CONTENT;
    delete this.env.OPENCODE_PERMISSION;
  }

  unavailable(): string | null {
    if (this.deps.switchedOff) return this.deps.switchedOff;
    if (this.server.kind === 'disposed') return 'the opencode_server driver has been disposed';
    return this.configError;
  }

  get log(): Logger {
    return this.deps.log;
  }

  get options(): OpencodeDriverDeps {
    return this.deps;
  }

  async open(spec: SessionSpec, reports: SessionReports): Promise<AgentSession> {
    const reason = this.unavailable();
    if (reason) throw new AgentStartError(spec.agent, reason, '');
    try {
      accessSync(spec.installPath, constants.X_OK);
    } catch (err) {
      throw new AgentStartError(spec.agent, `cannot execute ${spec.installPath}`, '', { cause: err });
    }
    try {
      modelRef(spec.model);
    } catch (err) {
      throw new AgentStartError(spec.agent, (err as Error).message, '', { scope: 'session' });
    }
    if (!existsSync(spec.worktreePath)) throw new AgentStartError(spec.agent, `the worktree ${spec.worktreePath} does not exist`, '', { scope: 'session' });
    const session = new OpencodeSession(this, spec, reports, () => this.closed(session));
    this.sessions.add(session);
    try {
      await within(session.start(), this.deps.startTimeoutMs ?? 60_000, `no answer within ${this.deps.startTimeoutMs ?? 60_000} ms`);
    } catch (err) {
      await session.close();
      if (err instanceof AgentStartError) throw err;
      this.deps.log.error({ chatId: spec.chatId, err }, 'opencode: the session did not open');
      const scope = spec.resume || spec.model || spec.permissionMode ? 'session' : 'node';
      throw new AgentStartError(spec.agent, `opencode did not open the session: ${(err as Error).message}`, '', { cause: err, scope });
    }
    if (this.server.kind === 'disposed') {
      await session.close();
      throw new AgentStartError(spec.agent, 'the opencode_server driver has been disposed', '');
    }
    return session;
  }

  /** The running server, started when there is none (the first session, or after a crash or a restart). */
  async serverFor(installPath: string, agent: string): Promise<OpencodeServer> {
    const state = this.server;
    if (state.kind === 'up' && state.server.running) return state.server;
    if (state.kind === 'starting') return state.ready;
    if (state.kind === 'disposed') throw new AgentStartError(agent, 'the opencode_server driver has been disposed', '');
    if (state.kind === 'up') void state.server.stop();
    const ready = this.startServer(installPath, agent);
    this.server = { kind: 'starting', ready };
    try {
      const server = await ready;
      if (this.server.kind !== 'starting' || this.server.ready !== ready) {
        await server.stop();
        throw new AgentStartError(agent, 'the opencode_server driver has been disposed', '');
      }
      this.server = { kind: 'up', server };
      return server;
    } catch (err) {
      if (this.server.kind === 'starting' && this.server.ready === ready) this.server = { kind: 'down' };
      throw err;
    }
  }

  private async startServer(installPath: string, agent: string): Promise<OpencodeServer> {
    const started = performance.now();
    try {
      await makePrivateDir(this.home);
      const seeded = await seedConfigDir(this.home);
      if (this.deps.user) await giveTo(this.deps.user, this.home, ...seeded);
      const server = await OpencodeServer.start({
        log: this.deps.log,
        installPath,
        home: this.home,
        env: this.env,
        config: this.config,
        tagPrefix: this.deps.processTagPrefix,
        cgroups: this.deps.cgroups,
        user: this.deps.user,
        startTimeoutMs: this.deps.startTimeoutMs ?? 60_000,
        silenceMs: this.deps.silenceMs ?? 25_000,
      });
      this.deps.log.info({ pid: server.pid, url: server.url, ms: Math.round(performance.now() - started) }, 'opencode: server up');
      void server.proc.exited.then(() => this.exited(server));
      return server;
    } catch (err) {
      throw new AgentStartError(agent, `opencode serve did not start: ${(err as Error).message}`, '', { cause: err });
    }
  }

  /** A server that exited: everything it left is ended, and the next session or turn starts another. */
  private exited(server: OpencodeServer): void {
    void server.stop();
    if (this.server.kind === 'up' && this.server.server === server) {
      this.deps.log.warn({ pid: server.pid, note: server.exitNote() }, 'opencode: the server exited');
      this.server = { kind: 'down' };
    }
  }

  /** The server while it runs, without starting one. */
  current(): OpencodeServer | null {
    return this.server.kind === 'up' && this.server.server.running ? this.server.server : null;
  }

  /** After a turn: a server past its memory ceiling is restarted while no turn runs; its sessions go on from its SQLite. */
  async turnEnded(): Promise<void> {
    const max = this.deps.maxServerMemory;
    const server = this.current();
    if (!max || !server) return;
    if ([...this.sessions].some((s) => s.state() === 'turn')) return;
    const rss = server.rss();
    if (rss === null || rss <= max) return;
    this.deps.log.info({ pid: server.pid, rss, max }, 'opencode: the server is past its memory ceiling; it is restarted between turns');
    this.server = { kind: 'down' };
    await server.stop();
  }

  /** A session closed: with the last of them the server goes too. */
  private closed(session: OpencodeSession): void {
    this.sessions.delete(session);
    if (this.sessions.size > 0) return;
    const state = this.server;
    if (state.kind === 'up') {
      this.server = { kind: 'down' };
      this.lastStop = state.server.stop();
    }
  }

  /** Waits until the server is gone, where the last session's close stopped it; the other sessions' server is left alone. */
  async stopped(): Promise<void> {
    await this.lastStop;
  }

  /** The environment a CLI command of the server's own gets: the same homes and configuration. */
  cliEnv(): Record<string, string> {
    const env = serverEnv(this.env, this.home, 'unused', this.config);
    delete env.OPENCODE_SERVER_PASSWORD;
    return env;
  }

  async dispose(): Promise<void> {
    const state = this.server;
    this.server = { kind: 'disposed' };
    await Promise.all([...this.sessions].map((s) => s.close()));
    if (state.kind === 'up') await state.server.stop();
    if (state.kind === 'starting') await state.ready.then((s) => s.stop(), () => {});
  }
}

/** A running turn: its context, what its events add up to, and how it stands. */
interface Turn {
  ctx: TurnContext;
  mapper: OpencodeTurnMapper;
  stop: { kind: 'running' } | { kind: 'aborted' } | { kind: 'unasked'; message: string };
  /**
   * Whether OpenCode has taken the prompt up: the session went busy since it was sent. An
   * idle before that is the end of what came before (a failed turn's comes late).
   */
  begun: boolean;
  /** Requests already put to a person, by OpenCode's id: a re-read after a reconnect asks none twice. */
  asked: Set<string>;
  /** OpenCode's error for the session, where it reported one. */
  failure: OpencodeError | null;
  end: (how: TurnEnd) => void;
}

type TurnEnd = { kind: 'idle' } | { kind: 'crashed'; why: string } | { kind: 'closed' } | { kind: 'abandoned' } | { kind: 'untaken' };

type State = { kind: 'opening' } | { kind: 'idle' } | { kind: 'turn'; turn: Turn } | { kind: 'closed' };

class OpencodeSession implements AgentSession {
  readonly backend = 'opencode_server' as const;
  private current: State = { kind: 'opening' };
  private sessionId: string | null = null;
  private options: SessionOptions;
  /** The ids of the session's messages before the running turn. */
  private readonly known = new Set<string>();

  constructor(
    private readonly driver: OpencodeDriver,
    private readonly spec: SessionSpec,
    private readonly reports: SessionReports,
    private readonly onClosed: () => void,
  ) {
    this.options = { worktreePath: spec.worktreePath, model: spec.model, permissionMode: spec.permissionMode };
  }

  private get log(): Logger {
    return this.driver.log;
  }

  private get directory(): string {
    return this.options.worktreePath;
  }

  /** Opens the OpenCode session: the one to resume where it exists and was made for the same model and agent, else a new one. */
  async start(): Promise<void> {
    const server = await this.driver.serverFor(this.spec.installPath, this.spec.agent);
    const { client } = server;
    const agents = await client.app.agents({ directory: this.directory });
    if (agents.error || !agents.data) throw new Error(`its agents could not be listed: ${JSON.stringify(agents.error)}`);
    const agent = agentFor(this.spec.permissionMode);
    if (!agents.data.some((a) => a.name === agent)) throw new AgentStartError(this.spec.agent, `opencode has no ${agent} agent`, '', { scope: 'session' });
    const resumed = this.spec.resume ? await this.resumable(this.spec.resume) : null;
    if (resumed) {
      this.sessionId = resumed.id;
      await client.session.update({ sessionID: resumed.id, directory: this.directory, permission: sessionPermission(this.spec.permissionMode) });
      const messages = await client.session.messages({ sessionID: resumed.id, directory: this.directory });
      for (const m of messages.data ?? []) this.known.add(m.info.id);
    } else {
      const created = await client.session.create({
        directory: this.directory,
        // A title of Hearth's own spares the model a call to make one.
        title: `Hearth chat ${this.spec.chatId}`,
        permission: sessionPermission(this.spec.permissionMode),
      });
      if (created.error || !created.data) throw new Error(`no session was made: ${JSON.stringify(created.error)}`);
      this.sessionId = created.data.id;
    }
    this.reports.resumeToken(this.sessionId);
    if (this.current.kind === 'opening') this.current = { kind: 'idle' };
    this.log.info({ chatId: this.spec.chatId, sessionId: this.sessionId, resumed: Boolean(resumed), pid: server.pid }, 'opencode: session open');
  }

  /**
   * The session to resume: the server's own, or imported from PostgreSQL where this node
   * lacks it. Null where there is none to be had, or it was made for another model or
   * agent: a chat whose configuration changed starts a fresh session.
   */
  private async resumable(id: string): Promise<Session | null> {
    let found = await this.sessionInfo(id);
    if (!found) {
      await this.restore(id);
      found = await this.sessionInfo(id);
    }
    if (!found) {
      this.log.warn({ chatId: this.spec.chatId, sessionId: id }, 'opencode: the session to resume is nowhere; a new one starts');
      return null;
    }
    const wantedModel = this.spec.model ?? this.driver.defaultModel;
    const model = found.model ? `${found.model.providerID}/${found.model.id}` : null;
    const agent = found.agent ?? null;
    if ((model !== null && wantedModel !== null && model !== wantedModel) || (agent !== null && agent !== agentFor(this.spec.permissionMode))) {
      this.log.info({ chatId: this.spec.chatId, sessionId: id, model, wantedModel, agent }, 'opencode: the chat’s configuration changed; a fresh session starts');
      return null;
    }
    return found;
  }

  private async sessionInfo(id: string): Promise<Session | null> {
    const server = await this.driver.serverFor(this.spec.installPath, this.spec.agent);
    const got = await server.client.session.get({ sessionID: id, directory: this.directory });
    return got.data ?? null;
  }

  /** Imports the session kept in PostgreSQL into this node's OpenCode, through its own CLI and homes; a failure is logged. */
  private async restore(id: string): Promise<void> {
    const store = this.driver.options.sessions;
    if (!store) return;
    try {
      const kept = await store.export(id);
      if (!kept) return;
      const dir = path.join(this.driver.home, 'imports');
      await makePrivateDir(dir);
      const file = path.join(dir, `${id}.json`);
      await writeFile(file, JSON.stringify(kept), { mode: 0o600 });
      const deps = this.driver.options;
      const proc = new AgentProcess({
        command: this.spec.installPath,
        args: ['import', file],
        cwd: this.directory,
        env: this.driver.cliEnv(),
        tagPrefix: deps.processTagPrefix,
        cgroups: deps.cgroups,
        user: deps.user ?? null,
      });
      proc.child.stdin.end();
      proc.child.stdout.resume();
      const exit = await within(proc.exited, IMPORT_TIMEOUT_MS, `the import took over ${IMPORT_TIMEOUT_MS} ms`).finally(() => proc.stop(500));
      if (exit.code !== 0) throw new Error(`opencode import failed (exit code ${exit.code}): ${proc.stderrTail()}`);
      this.log.info({ chatId: this.spec.chatId, sessionId: id, messages: kept.messages.length }, 'opencode: session imported from the database');
    } catch (err) {
      this.log.warn({ chatId: this.spec.chatId, sessionId: id, err }, 'opencode: the session could not be imported');
    }
  }

  state(): SessionState {
    return this.current.kind === 'opening' ? 'idle' : this.current.kind;
  }

  pid(): number | null {
    return this.current.kind === 'closed' ? null : (this.driver.current()?.pid ?? null);
  }

  async reconfigure(options: SessionOptions): Promise<boolean> {
    if (this.current.kind !== 'idle' || !this.sessionId) return false;
    // The directory is the session's own; a model or agent of another is a fresh session's.
    if (options.worktreePath !== this.options.worktreePath || options.model !== this.options.model) return false;
    if (agentFor(options.permissionMode) !== agentFor(this.options.permissionMode)) return false;
    if (options.permissionMode !== this.options.permissionMode) {
      const server = this.driver.current();
      if (!server) return false;
      const updated = await server.client.session.update({ sessionID: this.sessionId, directory: this.directory, permission: sessionPermission(options.permissionMode) });
      if (updated.error) return false;
    }
    this.options = { ...options };
    return true;
  }

  async prompt(input: string, ctx: TurnContext): Promise<TurnResult> {
    if (this.current.kind === 'closed') return failedTurn('closed', 'the session has ended');
    if (this.current.kind === 'turn') return failedTurn('busy', 'a turn is already running in this session');
    if (ctx.signal.aborted) return failedTurn('aborted', 'aborted');
    let server: OpencodeServer;
    let ended!: (how: TurnEnd) => void;
    const ending = new Promise<TurnEnd>((r) => (ended = r));
    const turn: Turn = {
      ctx,
      mapper: new OpencodeTurnMapper(this.sessionId!, this.known),
      stop: { kind: 'running' },
      begun: false,
      asked: new Set(),
      failure: null,
      end: ended,
    };
    this.current = { kind: 'turn', turn };
    try {
      server = await this.driver.serverFor(this.spec.installPath, this.spec.agent);
    } catch (err) {
      this.current = { kind: 'idle' };
      return failedTurn('start_failed', (err as Error).message);
    }
    try {
      return await this.runTurn(server, turn, input, ending);
    } finally {
      for (const id of turn.mapper.messageIds()) this.known.add(id);
      if (this.current.kind === 'turn' && this.current.turn === turn) this.current = { kind: 'idle' };
      void this.driver.turnEnded();
    }
  }

  private async runTurn(server: OpencodeServer, turn: Turn, input: string, ending: Promise<TurnEnd>): Promise<TurnResult> {
    const { ctx } = turn;
    const sessionId = this.sessionId!;
    const unlisten = server.listen(sessionId, { event: (e) => this.event(server, turn, e), resync: () => void this.resync(server, turn) });
    const onExit = () => turn.end({ kind: 'crashed', why: `opencode serve exited mid-turn${server.exitNote()}` });
    void server.proc.exited.then(onExit);
    let watchdog: NodeJS.Timeout | undefined;
    let takeUp: NodeJS.Timeout | undefined;
    const onAbort = () => {
      if (turn.stop.kind === 'running') turn.stop = { kind: 'aborted' };
      void this.abort(server);
      // A turn that does not end soon after its stop is ended here; OpenCode finishes it alone.
      watchdog = setTimeout(() => turn.end({ kind: 'abandoned' }), this.driver.options.abortGraceMs ?? 5_000);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const model = modelRef(this.options.model);
      const sent = await server.client.session.promptAsync({
        sessionID: sessionId,
        directory: this.directory,
        agent: agentFor(this.options.permissionMode),
        ...(model ? { model } : {}),
        parts: [{ type: 'text', text: input }],
      });
      if (sent.error) {
        if (!server.running) return this.crashed(server, `opencode serve exited mid-turn${server.exitNote()}`);
        return failedTurn('agent_error', `opencode refused the prompt: ${JSON.stringify(sent.error)}`);
      }
      // A prompt OpenCode never takes up would leave the turn waiting for ever: it is looked for, and the turn fails.
      takeUp = setTimeout(() => void this.takenUp(server, turn), this.driver.options.takeUpMs ?? TAKE_UP_MS);
      const how = await ending;
      if (how.kind === 'crashed') return await this.crashed(server, how.why);
      if (how.kind === 'untaken') return failedTurn('agent_error', `opencode did not take the prompt up within ${this.driver.options.takeUpMs ?? TAKE_UP_MS} ms`);
      if (how.kind === 'closed') return failedTurn('closed', 'the session was closed during the turn');
      // What the turn left is read whole before its end, whatever the stream carried.
      if (how.kind === 'idle') await this.catchUp(server, turn).catch(() => {});
      const message = turn.mapper.reply();
      if (message) ctx.emit(message);
      const usage = turn.mapper.usage();
      await within(this.keep(server, turn), KEEP_WAIT_MS, '').catch(() => {});
      if (turn.stop.kind === 'aborted') return failedTurn('aborted', 'aborted', usage);
      if (turn.stop.kind === 'unasked') return failedTurn('agent_error', `opencode stopped: ${turn.stop.message}`, usage);
      const failure = turn.failure ?? turn.mapper.error;
      if (failure && failure.name !== 'MessageAbortedError') return failedTurn(failure.name === 'APIError' ? 'api_error' : 'agent_error', `opencode: ${errorText(failure)}`, usage);
      return succeededTurn(usage);
    } catch (err) {
      if (!server.running) return this.crashed(server, `opencode serve exited mid-turn${server.exitNote()}`);
      if (this.current.kind === 'closed') return failedTurn('closed', 'the session was closed during the turn');
      this.log.warn({ chatId: this.spec.chatId, err }, 'opencode: the turn failed');
      return failedTurn('agent_error', `opencode: ${(err as Error).message}`, turn.mapper.usage());
    } finally {
      clearTimeout(watchdog);
      clearTimeout(takeUp);
      ctx.signal.removeEventListener('abort', onAbort);
      unlisten();
    }
  }

  /** A turn that has not seen its session go busy: what OpenCode stored is read, and a prompt it did not take ends the turn. */
  private async takenUp(server: OpencodeServer, turn: Turn): Promise<void> {
    if (turn.begun || turn.stop.kind !== 'running') return;
    await this.resync(server, turn);
    if (!turn.begun) turn.end({ kind: 'untaken' });
  }

  /** A turn whose server died under it: the session serves no more; the next one starts a new server. */
  private async crashed(server: OpencodeServer, why: string): Promise<TurnResult> {
    await within(server.proc.exited, 2_000, '').catch(() => {});
    await server.stop();
    const closedUnder = this.current.kind === 'closed';
    await this.teardown();
    if (closedUnder) return failedTurn('closed', 'the session was closed during the turn');
    this.log.warn({ chatId: this.spec.chatId, message: why }, 'opencode: turn crashed');
    return failedTurn('crashed', why);
  }

  private async abort(server: OpencodeServer): Promise<void> {
    try {
      await server.client.session.abort({ sessionID: this.sessionId!, directory: this.directory });
    } catch (err) {
      this.log.warn({ chatId: this.spec.chatId, err }, 'opencode: the abort was not sent');
    }
  }

  /** One event of the session, while a turn runs. */
  private event(server: OpencodeServer, turn: Turn, event: Event): void {
    const emit = (events: ReturnType<OpencodeTurnMapper['part']>) => {
      for (const e of events) turn.ctx.emit(e);
    };
    switch (event.type) {
      case 'message.updated':
        emit(turn.mapper.message(event.properties.info));
        return;
      case 'message.part.updated':
        emit(turn.mapper.part(event.properties.part));
        return;
      case 'message.part.delta':
        emit(turn.mapper.delta(event.properties));
        return;
      case 'todo.updated':
        emit(turn.mapper.todos(event.properties.todos));
        return;
      case 'session.status':
        if (event.properties.status.type === 'busy') turn.begun = true;
        else if (event.properties.status.type === 'idle') this.idle(turn);
        return;
      case 'session.idle':
        this.idle(turn);
        return;
      case 'session.error':
        if (event.properties.error) {
          turn.failure ??= event.properties.error;
          // The session goes idle after its error; if it does not say so, the turn ends anyway.
          setTimeout(() => turn.end({ kind: 'idle' }), ERROR_IDLE_MS).unref();
        }
        return;
      case 'permission.asked':
        void this.permission(server, turn, event.properties);
        return;
      case 'question.asked':
        void this.question(server, turn, event.properties);
        return;
      default:
        return;
    }
  }

  /**
   * The session says it is idle. After an error OpenCode says so before it has stored the
   * failed message, and a prompt sent then is lost: the turn ends at the idle that follows.
   */
  private idle(turn: Turn): void {
    if (!turn.begun) return;
    if (turn.failure && !turn.mapper.completed()) return;
    turn.end({ kind: 'idle' });
  }

  /**
   * After the stream was lost and opened again: what may have been missed is read. The
   * turn's messages are fed again (the mapper adds only what it lacks), requests still
   * pending are asked, and a session no longer busy has ended its turn.
   */
  private async resync(server: OpencodeServer, turn: Turn): Promise<void> {
    try {
      const status = await server.client.session.status({ directory: this.directory });
      await this.catchUp(server, turn);
      const permissions = await server.client.permission.list({ directory: this.directory });
      for (const p of permissions.data ?? []) if (p.sessionID === this.sessionId) void this.permission(server, turn, p);
      const questions = await server.client.question.list({ directory: this.directory });
      for (const q of questions.data ?? []) if (q.sessionID === this.sessionId) void this.question(server, turn, q);
      const mine = status.data?.[this.sessionId!];
      if (mine && mine.type !== 'idle') turn.begun = true;
      else if (turn.begun) this.idle(turn);
    } catch (err) {
      this.log.warn({ chatId: this.spec.chatId, err }, 'opencode: what the stream missed could not be read');
    }
  }

  /** Feeds the turn's messages as OpenCode stored them, so nothing the stream dropped is missing from the reply. */
  private async catchUp(server: OpencodeServer, turn: Turn): Promise<void> {
    const got = await server.client.session.messages({ sessionID: this.sessionId!, directory: this.directory, limit: Math.max(8, turn.mapper.messageIds().length + 4) });
    for (const m of got.data ?? []) {
      if (this.known.has(m.info.id)) continue;
      if (m.info.role === 'assistant') turn.begun = true;
      for (const e of turn.mapper.message(m.info)) turn.ctx.emit(e);
      for (const p of m.parts) for (const e of turn.mapper.part(p)) turn.ctx.emit(e);
    }
  }

  /** OpenCode asks before a tool goes on: the request goes to a person, and the answer back to OpenCode. */
  private async permission(server: OpencodeServer, turn: Turn, req: PermissionRequest): Promise<void> {
    if (turn.asked.has(req.id)) return;
    turn.asked.add(req.id);
    const callId = req.tool?.callID ?? null;
    if (callId) for (const e of turn.mapper.announce(callId)) turn.ctx.emit(e);
    const decision = turn.stop.kind === 'running' ? await this.ask(turn, permissionAsk(req, turn.mapper.inputOf(callId), this.directory)) : cancelledByStop();
    const reply = decision.outcome === 'selected' && decision.kind.startsWith('allow') ? 'once' : 'reject';
    const message = decision.outcome === 'selected' && reply === 'reject' ? decision.message : undefined;
    // "Always" is kept as the chat's rule, applied by Hearth on every node; OpenCode's own would outlive the chat on its server.
    const answered = await server.client.permission.reply({ requestID: req.id, directory: this.directory, reply, ...(message ? { message } : {}) }).catch((err: unknown) => ({ error: err }));
    if (answered.error) this.log.warn({ chatId: this.spec.chatId, requestId: req.id, error: answered.error }, 'opencode: the answer to a permission request was not taken');
  }

  /** OpenCode's question tool asks a person; the answers, or a refusal, go back. */
  private async question(server: OpencodeServer, turn: Turn, req: QuestionRequest): Promise<void> {
    if (turn.asked.has(req.id)) return;
    turn.asked.add(req.id);
    const callId = req.tool?.callID ?? null;
    if (callId) for (const e of turn.mapper.announce(callId)) turn.ctx.emit(e);
    const ask: PermissionAsk = {
      kind: 'question',
      toolCallId: callId,
      tool: 'question',
      input: { questions: req.questions },
      options: [
        { id: 'allow_once', kind: 'allow_once', label: 'Answer' },
        { id: 'reject_once', kind: 'reject_once', label: 'Decline' },
      ],
      questions: req.questions.map((q) => ({
        question: q.question,
        ...(q.header ? { header: q.header } : {}),
        choices: q.options.map((o) => ({ label: o.label, ...(o.description ? { description: o.description } : {}) })),
        multiSelect: q.multiple ?? false,
        freeText: q.custom ?? true,
      })),
    };
    const decision = turn.stop.kind === 'running' ? await this.ask(turn, ask) : cancelledByStop();
    const directory = this.directory;
    const answered =
      decision.outcome === 'selected' && decision.kind.startsWith('allow')
        ? await server.client.question.reply({
            requestID: req.id,
            directory,
            answers: req.questions.map((q) => splitAnswer(decision.answers?.[q.question], q.multiple ?? false)),
          })
        : await server.client.question.reject({ requestID: req.id, directory });
    if (answered.error) this.log.warn({ chatId: this.spec.chatId, requestId: req.id, error: answered.error }, 'opencode: the answer to a question was not taken');
  }

  /** Puts a request to a person through the turn; a stop answers it `cancelled`, and nobody to ask stops the turn. */
  private async ask(turn: Turn, ask: PermissionAsk): Promise<PermissionDecision> {
    const { ctx } = turn;
    const stopped = new Promise<PermissionDecision>((resolve) => {
      if (ctx.signal.aborted) resolve(cancelledByStop());
      ctx.signal.addEventListener('abort', () => resolve(cancelledByStop()), { once: true });
    });
    const decision = await Promise.race([
      ctx.requestPermission(ask).catch((err: unknown): PermissionDecision => {
        this.log.warn({ err, chatId: this.spec.chatId }, 'opencode: a permission request failed; the tool is refused');
        return { outcome: 'cancelled', message: `the request to use ${ask.tool} could not be put to anyone` };
      }),
      stopped,
    ]);
    if (decision.outcome === 'cancelled' && !ctx.signal.aborted && turn.stop.kind === 'running') {
      // Nobody could be asked though the turn goes on: OpenCode stops, and the turn says why.
      turn.stop = { kind: 'unasked', message: decision.message };
      const server = this.driver.current();
      if (server) void this.abort(server);
    }
    return decision;
  }

  /** Keeps the session and the turn's messages in PostgreSQL; a failure is logged, and another node resumes from the last one kept. */
  private async keep(server: OpencodeServer, turn: Turn): Promise<void> {
    const store = this.driver.options.sessions;
    const sessionId = this.sessionId;
    if (!store || !sessionId) return;
    try {
      const touched = new Set(turn.mapper.messageIds());
      if (touched.size === 0) return;
      const [info, messages] = await Promise.all([
        server.client.session.get({ sessionID: sessionId, directory: this.directory }),
        server.client.session.messages({ sessionID: sessionId, directory: this.directory, limit: touched.size + 2 }),
      ]);
      if (!info.data || !messages.data) throw new Error(`OpenCode did not give the session: ${JSON.stringify(info.error ?? messages.error)}`);
      const mine = messages.data.filter((m) => touched.has(m.info.id) || !this.known.has(m.info.id));
      await store.keep(info.data as never, mine as unknown as OpencodeExportMessage[]);
    } catch (err) {
      this.log.warn({ chatId: this.spec.chatId, sessionId, err }, 'opencode: the session was not kept; another node resumes from the last one kept');
    }
  }

  async close(): Promise<void> {
    await this.teardown();
  }

  /** Ends the session's part: a turn in flight is stopped and ends `closed`. The server goes with the driver's last session. Idempotent. */
  private async teardown(): Promise<void> {
    const was = this.current;
    if (was.kind === 'closed') return;
    this.current = { kind: 'closed' };
    if (was.kind === 'turn') {
      was.turn.end({ kind: 'closed' });
      const server = this.driver.current();
      if (server && this.sessionId) await within(this.abort(server), 1_000, '').catch(() => {});
    }
    this.onClosed();
    await this.driver.stopped().catch(() => {});
  }
}
