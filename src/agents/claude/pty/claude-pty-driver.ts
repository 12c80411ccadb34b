import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SDKMessage, SDKResultMessage } from '@anthropic-ai/claude-agent-sdk';
import type { IPty } from '@lydell/node-pty';
import type { Logger } from 'pino';
import type { PostgresSessionStore } from '../../../store/postgres-session-store.js';
import type { PermissionMode } from '../../../api/views.js';
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
import { AgentStartError } from '../../contract/errors.js';
import { claudeAgentEnv } from '../../process/agent-env.js';
import type { DriverProcessOptions } from '../../process/driver-process-options.js';
import { AGENT_TAG_VAR, agentCommand, killTagged } from '../../process/agent-process.js';
import type { AgentCgroup } from '../../process/agent-cgroups.js';
import { giveTo } from '../../process/agent-user.js';
import { signalIfAlive } from '../../../util/processes.js';
import { createClaudeSdkMapState, mapSdkMessage } from '../claude-sdk-mapper.js';
import { claudeAsk, claudeResult, type ClaudePermissionResult } from '../claude-permissions.js';
import { finishTurn, onceEachError } from '../claude-result.js';
import { explainLoginFailure } from '../claude-login.js';
import { claudeConfigDir, LocalTranscript, type PreparedTranscript } from './local-transcript.js';
import { StreamJsonLines } from './stream-json-lines.js';
import { OutputFifo } from './output-fifo.js';
import { TerminalTail } from './terminal-text.js';
import { loadPty, ptyUnavailable, type NodePty } from './pty.js';
import { PermissionPromptServer, PROMPT_SERVER_NAME, PROMPT_TOOL, type PromptAdmission, type PromptToolCall } from './permission-prompt-server.js';

export interface ClaudePtyDriverDeps extends DriverProcessOptions {
  log: Logger;
  /** Where the sessions' transcripts live between turns. */
  sessionStore: PostgresSessionStore;
  /** How long an interrupted turn may take to stop before its processes are killed. */
  interruptGraceMs?: number;
  /** How long the CLI may take to exit once it has printed its result. */
  exitGraceMs?: number;
}

/**
 * The `claude` agent as its command-line program under a pseudo-terminal: one process
 * per turn, printing the same stream of messages the SDK reads, resuming the session by
 * id. Nothing stays running between turns, so this is the cold road, and the fallback
 * when the SDK driver cannot start.
 *
 * The conversation lives in the CLI's local transcript for the turn and in PostgreSQL
 * between turns: before a turn the local transcript is brought level with the store
 * (another node, or the SDK road, may have moved the conversation on), and after it
 * what the CLI wrote is mirrored back.
 *
 * The CLI asks before it uses a tool, and puts its questions and plans, through an MCP
 * tool the driver serves on loopback (its `--permission-prompt-tool`); each turn's CLI is
 * admitted to it with a secret of its own, and its requests go to the turn's context.
 */
export class ClaudePtyDriver implements AgentDriver {
  readonly backend = 'claude_pty' as const;
  readonly warm = false;
  private readonly sessions = new Set<ClaudePtySession>();
  private readonly env: Record<string, string>;
  private readonly transcript: LocalTranscript;
  private readonly prompts = new PermissionPromptServer();
  private disposed = false;

  constructor(private readonly deps: ClaudePtyDriverDeps) {
    this.env = claudeAgentEnv(deps.env ?? process.env, { secrets: deps.secrets, user: deps.user });
    this.transcript = new LocalTranscript(deps.sessionStore, claudeConfigDir(this.env), deps.user ?? null);
  }

  unavailable(): string | null {
    return ptyUnavailable() ?? (this.disposed ? 'the claude_pty driver has been disposed' : null);
  }

  async open(spec: SessionSpec, reports: SessionReports): Promise<AgentSession> {
    if (this.disposed) throw new AgentStartError(spec.agent, 'the claude_pty driver has been disposed', '');
    const fail = (message: string, cause: unknown) => {
      const err = new AgentStartError(spec.agent, message, '', { cause });
      this.deps.log.error({ chatId: spec.chatId, err }, 'claude-pty: agent cannot start');
      return err;
    };
    try {
      accessSync(spec.installPath, constants.X_OK);
    } catch (err) {
      throw fail(`cannot execute ${spec.installPath}`, err);
    }
    let pty: NodePty;
    try {
      pty = loadPty();
    } catch (err) {
      throw fail((err as Error).message, err);
    }
    const session = new ClaudePtySession(spec, reports, {
      ...this.deps,
      env: this.env,
      transcript: this.transcript,
      prompts: this.prompts,
      spawn: pty.spawn,
      onClosed: () => this.sessions.delete(session),
    });
    this.sessions.add(session);
    return session;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all([...this.sessions].map((s) => s.close()));
    await this.prompts.close();
  }
}

/** What a session takes from its driver. */
type SessionDeps = Omit<ClaudePtyDriverDeps, 'env'> & {
  env: Record<string, string>;
  transcript: LocalTranscript;
  prompts: PermissionPromptServer;
  spawn: NodePty['spawn'];
  onClosed: () => void;
};

/** The CLI of the turn in flight. */
interface Running {
  pty: IPty;
  tag: string;
  cgroup: AgentCgroup | null;
  /** Settles when the CLI's process has exited; its output may still be being read. */
  exited: Promise<{ exitCode: number; signal?: number }>;
  interrupted: boolean;
  /** Its standard output: the messages. */
  output: OutputFifo;
  lines: StreamJsonLines;
  /** What it printed on its terminal: its standard error. */
  terminal: TerminalTail;
  /** Messages printed before the turn began reading them. */
  early: unknown[];
  read: ((messages: unknown[]) => void) | null;
}

/** A turn has no CLI while the transcript is being readied, nor once its CLI has exited. */
interface Turn {
  kind: 'turn';
  running: Running | null;
  /** Why the agent was told to stop, if it was: the turn was stopped, or a request could be put to nobody. */
  stop: { kind: 'running' } | { kind: 'aborted' } | { kind: 'unasked'; message: string };
}

type State = { kind: 'idle' } | Turn | { kind: 'closed' };

// Feeds the turn's message file ($0) to the CLI as its standard input, a terminal's input
// line being too short for a large prompt, and sends its standard output to the turn's
// pipe ($1), as a terminal loses the last of it when the CLI exits. Its standard error
// stays on the terminal, which stays its controlling one, so Ctrl-C still reaches it.
const STDIO_FROM_FILES = 'out=$1; shift; exec "$@" < "$0" > "$out"';

// How long the CLI's output may stay open once it and its tools have been ended: only a
// process that escaped them can still hold it.
const OUTPUT_DRAIN_MS = 5_000;

/** One (chat, agent) session: a CLI run per turn, continuing the session by its id. */
class ClaudePtySession implements AgentSession {
  readonly backend = 'claude_pty' as const;
  private current: State = { kind: 'idle' };
  private options: SessionOptions;
  /** The conversation the next turn continues; null starts a new one. */
  private sessionId: string | null;
  private readonly chatId: string;
  private readonly agent: string;
  private readonly installPath: string;

  constructor(
    spec: SessionSpec,
    private readonly reports: SessionReports,
    private readonly deps: SessionDeps,
  ) {
    this.options = { worktreePath: spec.worktreePath, model: spec.model, permissionMode: spec.permissionMode };
    this.sessionId = spec.resume;
    this.chatId = spec.chatId;
    this.agent = spec.agent;
    this.installPath = spec.installPath;
  }

  state(): SessionState {
    return this.current.kind;
  }

  pid(): number | null {
    return this.current.kind === 'turn' ? (this.current.running?.pty.pid ?? null) : null;
  }

  /** Every turn starts a CLI of its own, which takes whatever options the chat has then. */
  async reconfigure(options: SessionOptions): Promise<boolean> {
    if (this.current.kind === 'closed') return false;
    this.options = { ...options };
    return true;
  }

  async prompt(input: string, ctx: TurnContext): Promise<TurnResult> {
    if (this.current.kind === 'closed') return failedTurn('closed', 'the session has ended');
    if (this.current.kind === 'turn') return failedTurn('busy', 'a turn is already running in this session');
    if (ctx.signal.aborted) return failedTurn('aborted', 'aborted');
    const turn: Turn = { kind: 'turn', running: null, stop: { kind: 'running' } };
    this.current = turn;
    let workDir: string | null = null;
    let output: OutputFifo | null = null;
    let admission: PromptAdmission | null = null;
    let spawned = false;
    try {
      const { sessionId, resume, prepared } = await this.conversation(ctx);
      if (this.current !== turn) return failedTurn('closed', 'the session was closed during the turn');
      // A stop that came while the transcript was being readied: the CLI never starts.
      if (ctx.signal.aborted) return failedTurn('aborted', 'aborted');
      workDir = await mkdtemp(path.join(tmpdir(), 'hearth-pty-'));
      const messageFile = path.join(workDir, 'message.jsonl');
      await writeFile(messageFile, JSON.stringify(userMessage(input)) + '\n', { mode: 0o600 });
      const cwd = this.options.worktreePath;
      admission = await this.deps.prompts.admit((call) => this.ask(call, ctx, turn, cwd), ctx.signal);
      // The secret goes in a file only the agent can read, never on its command line.
      const mcpConfig = path.join(workDir, 'mcp.json');
      await writeFile(mcpConfig, JSON.stringify({ mcpServers: { [PROMPT_SERVER_NAME]: admission.config } }), { mode: 0o600 });
      output = await OutputFifo.create(path.join(workDir, 'output.jsonl'));
      if (this.deps.user) await giveTo(this.deps.user, workDir, messageFile, mcpConfig, output.path);
      if (this.current !== turn) return failedTurn('closed', 'the session was closed during the turn');
      let running: Running;
      try {
        running = await this.spawn(messageFile, output, mcpConfig, sessionId, resume);
      } catch (err) {
        return failedTurn('start_failed', (err as Error).message);
      }
      if (this.current !== turn) {
        kill(running);
        await running.exited;
        return failedTurn('closed', 'the session was closed during the turn');
      }
      spawned = true;
      turn.running = running;
      this.sessionId = sessionId;
      this.reports.resumeToken(sessionId);
      return await this.runTurn(running, prepared, ctx, turn);
    } catch (err) {
      // Before its CLI ran: the store could not be read or the message not written. After: what it left could not be cleared away.
      this.deps.log.error({ err, chatId: this.chatId }, 'claude-pty: the turn failed outside the CLI');
      const message = (err as Error).message;
      return spawned ? failedTurn('crashed', `the turn failed: ${message}`) : failedTurn('start_failed', `the turn could not start: ${message}`);
    } finally {
      if (this.current === turn) this.current = { kind: 'idle' };
      admission?.release();
      output?.close();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    }
  }

  /** The conversation the turn continues, brought onto this machine, or a new one. */
  private async conversation(ctx: TurnContext): Promise<{ sessionId: string; resume: boolean; prepared: PreparedTranscript }> {
    const resumeId = this.sessionId;
    if (resumeId) {
      const prepared = await this.deps.transcript.prepare(resumeId);
      if (prepared.source !== 'absent') return { sessionId: resumeId, resume: true, prepared };
      ctx.emit({
        kind: 'status',
        message: `the earlier conversation (session ${resumeId}) is neither stored nor on this machine; starting a new one`,
      });
      this.deps.log.warn({ chatId: this.chatId, sessionId: resumeId }, 'claude-pty: session to resume not found');
    }
    const sessionId = randomUUID();
    return { sessionId, resume: false, prepared: await this.deps.transcript.prepare(sessionId) };
  }

  private async spawn(messageFile: string, output: OutputFifo, mcpConfig: string, sessionId: string, resume: boolean): Promise<Running> {
    const { model, permissionMode, worktreePath } = this.options;
    const args = [
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--input-format',
      'stream-json',
      '--include-partial-messages',
      // Not --strict-mcp-config: the chat's own MCP servers stay, and a server of theirs
      // with the same name does not displace this one (the command line's servers win).
      '--mcp-config',
      mcpConfig,
      '--permission-prompt-tool',
      PROMPT_TOOL,
      ...(model ? [`--model=${model}`] : []),
      ...permissionArgs(permissionMode),
      ...(resume ? ['--resume', sessionId] : ['--session-id', sessionId]),
    ];
    const id = randomUUID();
    const tag = `${this.deps.processTagPrefix ?? ''}${id}`;
    let pty: IPty;
    let cgroup: AgentCgroup | null = null;
    try {
      cgroup = this.deps.cgroups?.create(id) ?? null;
      const { command, args: argv } = agentCommand('/bin/sh', ['-c', STDIO_FROM_FILES, messageFile, output.path, this.installPath, ...args], {
        cgroup,
        user: this.deps.user,
      });
      pty = this.deps.spawn(command, argv, {
        name: 'xterm-256color',
        cols: 200,
        rows: 50,
        cwd: worktreePath,
        env: { ...this.deps.env, [AGENT_TAG_VAR]: tag },
      });
    } catch (err) {
      await cgroup?.remove();
      this.deps.log.error({ chatId: this.chatId, err }, 'claude-pty: agent failed to start');
      throw new AgentStartError(this.agent, `cannot start a terminal: ${(err as Error).message}`, '', { cause: err });
    }
    const exited = new Promise<{ exitCode: number; signal?: number }>((resolve) => pty.onExit(resolve));
    const running: Running = {
      pty,
      tag,
      cgroup,
      exited,
      interrupted: false,
      output,
      lines: new StreamJsonLines(),
      terminal: new TerminalTail(),
      early: [],
      read: null,
    };
    // Read from the first byte: a program that fails at once says why before anything else happens.
    output.onData((chunk) => {
      const messages = running.lines.push(chunk);
      if (running.read) running.read(messages);
      else running.early.push(...messages);
    });
    pty.onData((chunk) => running.terminal.push(chunk));
    this.deps.log.info({ chatId: this.chatId, agent: this.agent, pid: pty.pid, sessionId, resume }, 'claude-pty: turn started');
    return running;
  }

  private async runTurn(running: Running, prepared: PreparedTranscript, ctx: TurnContext, turn: Turn): Promise<TurnResult> {
    const map = createClaudeSdkMapState();
    const explain = (message: string) => explainLoginFailure(message, this.deps.env);
    const emit = onceEachError((ev) => ctx.emit(ev), explain);
    const { lines, terminal } = running;
    let result: SDKResultMessage | null = null;
    let exitTimer: NodeJS.Timeout | undefined;
    let sawOutput = false;
    const take = (messages: unknown[]) => {
      if (messages.length > 0) sawOutput = true;
      for (const raw of messages) {
        const msg = raw as SDKMessage;
        for (const ev of mapSdkMessage(msg, map)) emit(ev);
        if (msg.type === 'result' && !result) {
          result = msg;
          // The turn is over once its result is out; a CLI that lingers after it is ended.
          exitTimer = setTimeout(() => kill(running), this.deps.exitGraceMs ?? 10_000);
        }
      }
    };
    take(running.early.splice(0));
    running.read = take;
    const onAbort = () => {
      turn.stop = { kind: 'aborted' };
      // A CLI that has said nothing yet has nothing to save, and may not be listening for Ctrl-C.
      if (!sawOutput) kill(running);
      else this.interrupt(running);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    // A stop that came while the CLI was starting.
    if (ctx.signal.aborted) onAbort();
    try {
      const exit = await running.exited;
      // Tools the CLI started in sessions of their own end with the turn, and with them
      // whatever of theirs still holds its output open; what they wrote stays to be read.
      running.cgroup?.kill();
      killTagged(running.tag);
      await running.cgroup?.remove();
      if (!(await running.output.drain(OUTPUT_DRAIN_MS))) {
        this.deps.log.warn({ chatId: this.chatId, agent: this.agent }, 'claude-pty: the CLI’s output was still held open after it exited');
      }
      take(lines.end());
      turn.running = null;
      await this.mirror(prepared, ctx);
      if (this.current !== turn) return failedTurn('closed', 'the session was closed during the turn');
      const ended = result as SDKResultMessage | null;
      // A resumed CLI carries on the session's running totals from its transcript.
      const { stop } = turn;
      const aborted = stop.kind === 'aborted';
      if (ended) {
        const { outcome } = finishTurn(ended, { seen: prepared.totalsSoFar, aborted, explain });
        return stop.kind === 'unasked' && !outcome.ok ? failedTurn('agent_error', `claude stopped: ${stop.message}`, outcome.usage) : outcome;
      }
      if (aborted) return failedTurn('aborted', 'aborted');
      // The conversation may be broken: the session serves no more, and the runtime decides what comes next.
      const said = [terminal.text(), lines.noiseTail()].filter(Boolean).join('\n');
      const message = `claude exited without finishing the turn${exitNote(exit, said)}`;
      this.deps.log.warn({ chatId: this.chatId, agent: this.agent, message }, 'claude-pty: turn crashed');
      this.end();
      return failedTurn('crashed', message);
    } finally {
      clearTimeout(exitTimer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Puts the CLI's request to a person through the turn's context, and gives the CLI the
   * answer. A request nobody could be asked though the turn goes on stops the agent, and
   * the turn says why.
   */
  private async ask(call: PromptToolCall, ctx: TurnContext, turn: Turn, cwd: string): Promise<ClaudePermissionResult> {
    // The tool is told of no suggested rules: an "always" for a command covers that very command.
    const ask = claudeAsk(call.toolName, call.input, { toolUseId: call.toolUseId, cwd });
    const unasked = (message: string) => {
      if (!ctx.signal.aborted && turn.stop.kind === 'running') turn.stop = { kind: 'unasked', message };
    };
    try {
      const decision = await ctx.requestPermission(ask);
      if (decision.outcome === 'cancelled') unasked(decision.message);
      return claudeResult(ask, call.input, decision);
    } catch (err) {
      this.deps.log.warn({ err, chatId: this.chatId, tool: call.toolName }, 'claude-pty: a permission request failed; the tool is refused');
      unasked(`the request to use ${call.toolName} could not be put to anyone`);
      return { behavior: 'deny', message: 'The request could not be put to the user.', interrupt: true };
    }
  }

  /** Ctrl-C, as a person at the terminal would; then the whole process group if that is not enough. */
  private interrupt(running: Running): void {
    if (running.interrupted) return;
    running.interrupted = true;
    try {
      running.pty.write('\x03');
    } catch (err) {
      this.deps.log.warn({ err, chatId: this.chatId }, 'claude-pty: could not type Ctrl-C; ending the process');
    }
    const timer = setTimeout(() => kill(running), this.deps.interruptGraceMs ?? 3_000);
    void running.exited.then(() => clearTimeout(timer));
  }

  /** What the CLI wrote goes into the store; a failure is reported and does not undo the turn. */
  private async mirror(prepared: PreparedTranscript, ctx: TurnContext): Promise<void> {
    try {
      await this.deps.transcript.mirror(prepared);
    } catch (err) {
      this.deps.log.error({ err, chatId: this.chatId, sessionId: prepared.sessionId }, 'claude-pty: transcript not mirrored');
      ctx.emit({
        kind: 'status',
        message: `this turn is on this machine only: saving it to the database failed (${(err as Error).message})`,
      });
    }
  }

  /** Ends a turn in flight at once: closing does not wait for the agent. Idempotent. */
  async close(): Promise<void> {
    const current = this.current;
    this.end();
    if (current.kind === 'turn' && current.running) {
      kill(current.running);
      await current.running.exited;
    }
  }

  private end(): void {
    if (this.current.kind === 'closed') return;
    this.current = { kind: 'closed' };
    this.deps.onClosed();
  }
}

/** Ends the CLI's cgroup, its process group and every process still carrying its tag. */
function kill(running: Running): void {
  running.cgroup?.kill();
  signalIfAlive(-running.pty.pid, 'SIGKILL');
  killTagged(running.tag);
}

/** The turn's message as the CLI reads it in stream-json input: the text exactly as sent. */
function userMessage(text: string) {
  return { type: 'user', message: { role: 'user', content: text }, parent_tool_use_id: null };
}

/** The CLI's flags for a permission mode; the default mode is the CLI's own default. */
function permissionArgs(mode: PermissionMode | null): string[] {
  if (!mode || mode === 'default') return [];
  // Entering bypassPermissions needs the CLI to be allowed to, as the SDK road asks it.
  return mode === 'bypassPermissions'
    ? [`--permission-mode=${mode}`, '--allow-dangerously-skip-permissions']
    : [`--permission-mode=${mode}`];
}

function exitNote(exit: { exitCode: number; signal?: number }, output: string): string {
  const how = exit.signal ? ` (killed by signal ${exit.signal})` : ` (exit code ${exit.exitCode})`;
  return how + (output ? `\n${output}` : '');
}
