import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SDKMessage, SDKResultMessage } from '@anthropic-ai/claude-agent-sdk';
import type { IPty } from '@lydell/node-pty';
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
import { AGENT_TAG_VAR, agentCommand, killTagged } from '../../process/agent-process.js';
import type { AgentCgroup, AgentCgroups } from '../../process/agent-cgroups.js';
import { giveTo, type AgentUser } from '../../process/agent-user.js';
import { AgentSessionRow } from '../../../runtime/sessions/session-record.js';
import { AgentStartError, BackendClosedError } from '../../contract/errors.js';
import { createClaudeSdkMapState, mapSdkMessage } from '../claude-sdk-mapper.js';
import { finishTurn, onceEachError } from '../claude-result.js';
import { explainLoginFailure } from '../claude-login.js';
import { claudeConfigDir, LocalTranscript, type PreparedTranscript } from './local-transcript.js';
import { StreamJsonLines } from './stream-json-lines.js';
import { loadPty } from './pty.js';
import { signalIfAlive } from '../../../util/processes.js';

export interface ClaudePtyBackendDeps {
  sql: Sql;
  log: Logger;
  /** The (chat, agent) this backend serves: its row in agent_sessions. */
  chatId: string;
  agent: string;
  /** The `claude` executable. */
  installPath: string;
  /** Where the agent's environment is drawn from, through the allowlist. Default: process.env. */
  env?: EnvSource;
  /** Variables never passed to the agent. Default: those named in HEARTH_SECRET_ENV. */
  secrets?: readonly string[];
  sessionStore?: PostgresSessionStore;
  /** How long an interrupted turn may take to stop before its processes are killed. */
  interruptGraceMs?: number;
  /** How long the CLI may take to exit once it has printed its result. */
  exitGraceMs?: number;
  /** Prefix of the tag on the agent's processes: the node id, so a restarted node finds its orphans. */
  processTagPrefix?: string;
  /** Where each turn's CLI gets a cgroup of its own; without one, its group and its tag are what find its processes. */
  cgroups?: AgentCgroups | null;
  /** The user the CLI runs as, when not the server's own. */
  user?: AgentUser | null;
}

/** The CLI of the turn in flight. */
interface Running {
  pty: IPty;
  tag: string;
  cgroup: AgentCgroup | null;
  exited: Promise<{ exitCode: number; signal?: number }>;
  interrupted: boolean;
  lines: StreamJsonLines;
  /** Messages printed before the turn began reading them. */
  early: unknown[];
  read: ((messages: unknown[]) => void) | null;
}

// Feeds the turn's message file to the CLI as its standard input while its output stays
// on the terminal: a terminal's input line is too short for a large prompt.
const STDIN_FROM_FILE = 'exec "$@" < "$0"';

/**
 * The `claude` agent as its command-line program under a pseudo-terminal: one process
 * per turn, printing the same stream of messages the SDK reads, resuming the chat's
 * session by id. Nothing stays running between turns, so this is the cold path, and the
 * fallback when the SDK backend cannot start.
 *
 * The session lives in the CLI's local transcript for the turn and in PostgreSQL
 * between turns: before a turn the local transcript is brought level with the store
 * (another node, or the SDK path, may have moved the conversation on), and after it
 * what the CLI wrote is mirrored back. Its agent_sessions row is kept exactly as the SDK
 * path keeps it, and is telemetry that never fails a turn.
 */
export class ClaudePtyBackend implements AgentBackend {
  readonly backend = 'claude_pty' as const;
  private readonly deps: ClaudePtyBackendDeps;
  private readonly store: PostgresSessionStore;
  private readonly row: AgentSessionRow;
  private readonly env: Record<string, string>;
  private readonly transcript: LocalTranscript;
  private running: Running | null = null;
  private busy = false;
  private disposed = false;
  private agentSessionId: string | null = null;
  private permissionMode: PermissionMode | null = null;
  private startError: AgentStartError | null = null;

  constructor(deps: ClaudePtyBackendDeps) {
    this.deps = deps;
    this.store = deps.sessionStore ?? new PostgresSessionStore(deps.sql);
    this.row = new AgentSessionRow({ sql: deps.sql, log: deps.log, chatId: deps.chatId, agent: deps.agent, backend: this.backend });
    this.env = claudeAgentEnv(deps.env ?? process.env, { secrets: deps.secrets, user: deps.user });
    this.transcript = new LocalTranscript(this.store, claudeConfigDir(this.env), deps.user ?? null);
  }

  health(): 'up' | 'down' {
    return this.disposed || this.startError ? 'down' : 'up';
  }

  isBusy(): boolean {
    return this.busy;
  }

  /** The pid of the CLI running the current turn, or null between turns. */
  agentPid(): number | null {
    return this.running?.pty.pid ?? null;
  }

  async ensureSession(sessionId: string, opts: EnsureSessionOpts): Promise<AgentSessionHandle> {
    if (this.disposed) throw new BackendClosedError(this.backend);
    // The row is read every time: the SDK path may have moved the session on since.
    const row = await this.row.read();
    // A crashed session is not resumed: it starts fresh, as on the SDK path.
    this.agentSessionId = row && row.status !== 'crashed' ? row.agentSessionId : null;
    this.permissionMode = opts.permissionMode ?? null;
    await this.row.activate(sessionId, opts.worktreeId, this.agentSessionId);
    return {
      sessionId,
      agent: opts.agent,
      backend: this.backend,
      chatId: opts.chatId,
      worktreeId: opts.worktreeId,
      agentSessionId: this.agentSessionId,
      serverPort: null,
    };
  }

  async prompt(handle: AgentSessionHandle, input: string, ctx: PromptCtx): Promise<TurnResult> {
    if (this.disposed) return failedTurn('closed', 'the backend has been disposed');
    if (this.busy) return failedTurn('busy', 'a turn is already running in this session');
    if (ctx.signal.aborted) return failedTurn('aborted', 'aborted');
    this.busy = true;
    let workDir: string | null = null;
    try {
      const { sessionId, resume, prepared } = await this.session(handle.agentSessionId, ctx);
      // A stop that came while the transcript was being readied: the CLI never starts.
      if (ctx.signal.aborted) {
        await this.row.setStatus('idle');
        return failedTurn('aborted', 'aborted');
      }
      workDir = await mkdtemp(path.join(tmpdir(), 'hearth-pty-'));
      const messageFile = path.join(workDir, 'message.jsonl');
      await writeFile(messageFile, JSON.stringify(userMessage(input)) + '\n', { mode: 0o600 });
      if (this.deps.user) await giveTo(this.deps.user, workDir, messageFile);
      let running: Running;
      try {
        running = await this.spawn(ctx, messageFile, sessionId, resume);
      } catch (err) {
        const message = (err as Error).message;
        this.emit(ctx, { kind: 'error', message });
        return failedTurn('start_failed', message);
      }
      this.agentSessionId = sessionId;
      await this.row.saveAgentSessionId(sessionId);
      return await this.runTurn(running, prepared, ctx);
    } finally {
      this.busy = false;
      if (workDir) await rm(workDir, { recursive: true, force: true });
    }
  }

  /** The session the turn continues, brought onto this machine, or a new one. */
  private async session(
    resumeId: string | null,
    ctx: PromptCtx,
  ): Promise<{ sessionId: string; resume: boolean; prepared: PreparedTranscript }> {
    if (resumeId) {
      const prepared = await this.transcript.prepare(resumeId);
      if (prepared.source !== 'absent') return { sessionId: resumeId, resume: true, prepared };
      this.emit(ctx, {
        kind: 'status',
        message: `the earlier conversation (session ${resumeId}) is neither stored nor on this machine; starting a new one`,
      });
      this.deps.log.warn({ chatId: this.deps.chatId, sessionId: resumeId }, 'claude-pty: session to resume not found');
    }
    const sessionId = randomUUID();
    return { sessionId, resume: false, prepared: await this.transcript.prepare(sessionId) };
  }

  private async spawn(ctx: PromptCtx, messageFile: string, sessionId: string, resume: boolean): Promise<Running> {
    const { installPath } = this.deps;
    try {
      accessSync(installPath, constants.X_OK);
    } catch (err) {
      throw this.failStart(new AgentStartError(this.deps.agent, `cannot execute ${installPath}`, '', { cause: err }));
    }
    let spawn: typeof import('@lydell/node-pty').spawn;
    try {
      spawn = (await loadPty()).spawn;
    } catch (err) {
      throw this.failStart(new AgentStartError(this.deps.agent, (err as Error).message, '', { cause: err }));
    }
    const args = [
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--input-format',
      'stream-json',
      '--include-partial-messages',
      ...(ctx.model ? [`--model=${ctx.model}`] : []),
      ...permissionArgs(this.permissionMode),
      ...(resume ? ['--resume', sessionId] : ['--session-id', sessionId]),
    ];
    const id = randomUUID();
    const tag = `${this.deps.processTagPrefix ?? ''}${id}`;
    let pty: IPty;
    let cgroup: AgentCgroup | null = null;
    try {
      cgroup = this.deps.cgroups?.create(id) ?? null;
      const { command, args: argv } = agentCommand('/bin/sh', ['-c', STDIN_FROM_FILE, messageFile, installPath, ...args], {
        cgroup,
        user: this.deps.user,
      });
      pty = spawn(command, argv, {
        name: 'xterm-256color',
        cols: 200,
        rows: 50,
        cwd: ctx.worktreePath,
        env: { ...this.env, [AGENT_TAG_VAR]: tag },
      });
    } catch (err) {
      await cgroup?.remove();
      throw this.failStart(new AgentStartError(this.deps.agent, `cannot start a terminal: ${(err as Error).message}`, '', { cause: err }));
    }
    this.startError = null;
    let lastOutput = Date.now();
    // The terminal may report the exit before the last of the output is read (the final
    // result line among it): the process counts as exited once its output has gone quiet.
    const exited = new Promise<{ exitCode: number; signal?: number }>((resolve) =>
      pty.onExit((exit) => void outputSettled(() => lastOutput).then(() => resolve(exit))),
    );
    const running: Running = { pty, tag, cgroup, exited, interrupted: false, lines: new StreamJsonLines(), early: [], read: null };
    // Read from the first byte: a program that fails at once says why before anything else happens.
    pty.onData((chunk) => {
      lastOutput = Date.now();
      const messages = running.lines.push(chunk);
      if (running.read) running.read(messages);
      else running.early.push(...messages);
    });
    this.running = running;
    this.deps.log.info(
      { chatId: this.deps.chatId, agent: this.deps.agent, pid: pty.pid, sessionId, resume },
      'claude-pty: turn started',
    );
    return running;
  }

  private failStart(err: AgentStartError): AgentStartError {
    this.startError = err;
    this.deps.log.error({ chatId: this.deps.chatId, err }, 'claude-pty: agent failed to start');
    return err;
  }

  private async runTurn(running: Running, prepared: PreparedTranscript, ctx: PromptCtx): Promise<TurnResult> {
    const map = createClaudeSdkMapState();
    const explain = (message: string) => explainLoginFailure(message, this.env);
    const emit = onceEachError((ev) => this.emit(ctx, ev), explain);
    const { lines } = running;
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
          exitTimer = setTimeout(() => this.kill(running), this.deps.exitGraceMs ?? 10_000);
        }
      }
    };
    take(running.early.splice(0));
    running.read = take;
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      // A CLI that has said nothing yet has nothing to save, and may not be listening for Ctrl-C.
      if (!sawOutput) this.kill(running);
      else this.interrupt(running);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    // A stop that came while the CLI was starting.
    if (ctx.signal.aborted) onAbort();
    try {
      const exit = await running.exited;
      take(lines.end());
      // Tools the CLI started in sessions of their own end with the turn.
      running.cgroup?.kill();
      killTagged(running.tag);
      await running.cgroup?.remove();
      await this.mirror(prepared, ctx);
      const ended = result as SDKResultMessage | null;
      if (ended) {
        // A resumed CLI carries on the session's running totals from its transcript.
        const end = await finishTurn(ended, { seen: prepared.totalsSoFar, aborted, row: this.row, emit, explain });
        return end.outcome;
      }
      if (aborted) {
        await this.row.setStatus('idle');
        return failedTurn('aborted', 'aborted');
      }
      return await this.crashed(ctx, `claude exited without finishing the turn${exitNote(exit, lines.noiseTail())}`);
    } finally {
      clearTimeout(exitTimer);
      ctx.signal.removeEventListener('abort', onAbort);
      if (this.running === running) this.running = null;
    }
  }

  /** Ctrl-C, as a person at the terminal would; then the whole process group if that is not enough. */
  private interrupt(running: Running): void {
    if (running.interrupted) return;
    running.interrupted = true;
    try {
      running.pty.write('\x03');
    } catch (err) {
      this.deps.log.warn({ err, chatId: this.deps.chatId }, 'claude-pty: could not type Ctrl-C; ending the process');
    }
    const timer = setTimeout(() => this.kill(running), this.deps.interruptGraceMs ?? 3_000);
    void running.exited.then(() => clearTimeout(timer));
  }

  /** Ends the CLI's cgroup, its process group and every process still carrying its tag. */
  private kill(running: Running): void {
    running.cgroup?.kill();
    signalIfAlive(-running.pty.pid, 'SIGKILL');
    killTagged(running.tag);
  }

  /** What the CLI wrote goes into the store; a failure is reported and does not undo the turn. */
  private async mirror(prepared: PreparedTranscript, ctx: PromptCtx): Promise<void> {
    try {
      await this.transcript.mirror(prepared);
    } catch (err) {
      this.deps.log.error({ err, chatId: this.deps.chatId, sessionId: prepared.sessionId }, 'claude-pty: transcript not mirrored');
      this.emit(ctx, {
        kind: 'status',
        message: `this turn is on this machine only: saving it to the database failed (${(err as Error).message})`,
      });
    }
  }

  private async crashed(ctx: PromptCtx, message: string): Promise<TurnResult> {
    this.agentSessionId = null;
    await this.row.setStatus('crashed');
    this.emit(ctx, { kind: 'error', message });
    this.deps.log.warn({ chatId: this.deps.chatId, agent: this.deps.agent, message }, 'claude-pty: turn crashed');
    return failedTurn('crashed', message);
  }

  async closeSession(): Promise<void> {
    await this.stopRunning();
    await this.row.setStatus('closed');
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.stopRunning();
  }

  /** Ends a turn in flight at once: closing or disposing does not wait for the agent. */
  private async stopRunning(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.kill(running);
    await running.exited;
  }

  /** A subscriber's failure is logged and never ends the turn. */
  private emit(ctx: PromptCtx, event: AgentEvent): void {
    try {
      ctx.onEvent(event);
    } catch (err) {
      this.deps.log.warn({ err, chatId: this.deps.chatId, kind: event.kind }, 'claude-pty: event subscriber threw');
    }
  }
}

/** The turn's message as the CLI reads it in stream-json input: the text exactly as sent. */
function userMessage(text: string) {
  return { type: 'user', message: { role: 'user', content: text }, parent_tool_use_id: null };
}

/** The CLI's flags for a permission mode; the default mode is the CLI's own default. */
function permissionArgs(mode: PermissionMode | null): string[] {
  if (!mode || mode === 'default') return [];
  // Entering bypassPermissions needs the CLI to be allowed to, as the SDK path asks it.
  return mode === 'bypassPermissions'
    ? [`--permission-mode=${mode}`, '--allow-dangerously-skip-permissions']
    : [`--permission-mode=${mode}`];
}

function exitNote(exit: { exitCode: number; signal?: number }, output: string): string {
  const how = exit.signal ? ` (killed by signal ${exit.signal})` : ` (exit code ${exit.exitCode})`;
  return how + (output ? `\n${output}` : '');
}

/** Resolves once no output has come for a moment, or a second after it was asked, whichever is first. */
async function outputSettled(lastOutput: () => number, quietMs = 50, atMostMs = 1_000): Promise<void> {
  const deadline = Date.now() + atMostMs;
  while (Date.now() < deadline && Date.now() - lastOutput() < quietMs) {
    await new Promise((r) => setTimeout(r, quietMs));
  }
}
