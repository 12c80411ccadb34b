import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { createOpencodeClient, type Event, type OpencodeClient } from '@opencode-ai/sdk/v2';
import type { Logger } from 'pino';
import { AgentProcess } from '../process/agent-process.js';
import type { DriverProcessOptions } from '../process/driver-process-options.js';
import { processTreeRss } from '../process/process-memory.js';
import { within } from '../../util/within.js';
import { opencodeEnv } from './opencode-config.js';

export interface OpencodeServerOptions extends Pick<DriverProcessOptions, 'cgroups' | 'user'> {
  log: Logger;
  /** The `opencode` executable. */
  installPath: string;
  /** The server's own directory: its XDG data, configuration, state and cache live under it. */
  home: string;
  /** The allowlisted environment, without what the server is given here. */
  env: Record<string, string>;
  /** The server's configuration, as JSON. */
  config: string;
  tagPrefix?: string;
  /** How long the server gets to listen and answer. */
  startTimeoutMs: number;
  /** How long the event stream may be silent (it beats about every 10 s) before it counts as dead and is opened again. */
  silenceMs: number;
}

/** What a session listens to: its own events, and the word that the stream was opened again after a loss. */
export interface SessionListener {
  event(event: Event): void;
  /** The stream was lost and is back: what came meanwhile is not coming, and must be read. */
  resync(): void;
}

const LISTENING = /opencode server listening on (http:\/\/[^\s]+)/;
const RECONNECT_MS = 250;

/** The server's environment: OpenCode's on either road, its home as HOME, and its password. */
export function serverEnv(base: Record<string, string>, home: string, password: string, config: string): Record<string, string> {
  return {
    ...opencodeEnv(base, home, config),
    HOME: home,
    OPENCODE_SERVER_USERNAME: 'opencode',
    OPENCODE_SERVER_PASSWORD: password,
  };
}

/**
 * One `opencode serve`, supervised: on loopback, behind a password of its own, with one
 * long-lived event stream (`/global/event`) whose events go to the sessions they are
 * about. A stream silent past its heartbeats is dead and is opened again; sessions then
 * hear that they must re-read what they may have missed, since the stream has no replay.
 */
export class OpencodeServer {
  readonly client: OpencodeClient;
  readonly url: string;
  private readonly listeners = new Map<string, Set<SessionListener>>();
  private stream: AbortController | null = null;
  private stopping = false;
  /** When the stream last said anything. */
  private heard = Date.now();
  /** How many times the stream has been opened. */
  connections = 0;

  private constructor(
    readonly proc: AgentProcess,
    url: string,
    password: string,
    private readonly options: OpencodeServerOptions,
  ) {
    this.url = url;
    const authorization = `Basic ${Buffer.from(`opencode:${password}`).toString('base64')}`;
    this.client = createOpencodeClient({ baseUrl: url, headers: { authorization } });
  }

  /** Starts a server and waits until it listens, answers a real request and streams events. */
  static async start(options: OpencodeServerOptions): Promise<OpencodeServer> {
    const password = randomBytes(24).toString('base64url');
    // A port of its own: with `--port 0` it tries 4096 first, which a server still stopping
    // (or another program) may share with it, and requests then reach the wrong one.
    const port = await freePort();
    const proc = new AgentProcess({
      command: options.installPath,
      args: ['serve', '--hostname', '127.0.0.1', '--port', String(port)],
      cwd: options.home,
      env: serverEnv(options.env, options.home, password, options.config),
      tagPrefix: options.tagPrefix,
      cgroups: options.cgroups,
      user: options.user ?? null,
    });
    proc.child.stdin.end();
    try {
      const url = await within(listening(proc), options.startTimeoutMs, `it did not listen within ${options.startTimeoutMs} ms`);
      const server = new OpencodeServer(proc, url, password, options);
      await within(server.ready(), options.startTimeoutMs, `it did not answer within ${options.startTimeoutMs} ms`);
      return server;
    } catch (err) {
      await proc.stop(500);
      throw err;
    }
  }

  /** Ready once a request that needs its configuration succeeds and its event stream is open. */
  private async ready(): Promise<void> {
    const providers = await this.client.config.providers({ directory: this.options.home });
    if (providers.error || !providers.data) throw new Error(`its providers could not be read (HTTP ${providers.response?.status}): ${JSON.stringify(providers.error)}${this.proc.stderrTail() ? `\n${this.proc.stderrTail()}` : ''}`);
    const connected = new Promise<void>((resolve) => void this.pump(resolve));
    await connected;
  }

  get pid(): number {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc.running && !this.stopping;
  }

  /** Resident bytes of the server and what it runs; null once it is gone. */
  rss(): number | null {
    return processTreeRss(this.proc.pid);
  }

  /** Hears a session's events; returns what ends it. */
  listen(sessionId: string, listener: SessionListener): () => void {
    let set = this.listeners.get(sessionId);
    if (!set) this.listeners.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(sessionId) === set) this.listeners.delete(sessionId);
    };
  }

  /** Drops the event stream as a network fault would; it is opened again. */
  dropStream(): void {
    this.stream?.abort();
  }

  /** Keeps one event stream open while the server runs, opening it again whenever it ends or falls silent. */
  private async pump(connected: () => void): Promise<void> {
    while (this.running) {
      const controller = new AbortController();
      this.stream = controller;
      this.heard = Date.now();
      const watchdog = setInterval(() => {
        if (Date.now() - this.heard > this.options.silenceMs) {
          this.options.log.warn({ pid: this.pid, silentMs: Date.now() - this.heard }, 'opencode: the event stream fell silent; opening it again');
          controller.abort();
        }
      }, Math.min(1_000, this.options.silenceMs));
      try {
        const { stream } = await this.client.global.event({ signal: controller.signal, sseMaxRetryAttempts: 1 });
        for await (const item of stream) {
          this.heard = Date.now();
          const event = (item as { payload?: Event }).payload;
          if (!event) continue;
          if (event.type === 'server.connected') {
            this.connections++;
            if (this.connections === 1) connected();
            else for (const set of [...this.listeners.values()]) for (const l of [...set]) l.resync();
            continue;
          }
          this.dispatch(event);
        }
      } catch (err) {
        if (!controller.signal.aborted) this.options.log.debug({ err }, 'opencode: the event stream failed');
      } finally {
        clearInterval(watchdog);
      }
      if (!this.running) break;
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  }

  private dispatch(event: Event): void {
    const props = event.properties as { sessionID?: unknown; info?: { sessionID?: unknown }; part?: { sessionID?: unknown } };
    const sessionId = props?.sessionID ?? props?.info?.sessionID ?? props?.part?.sessionID;
    if (typeof sessionId !== 'string') return;
    for (const l of [...(this.listeners.get(sessionId) ?? [])]) {
      try {
        l.event(event);
      } catch (err) {
        this.options.log.error({ err, type: event.type }, 'opencode: a session failed on an event');
      }
    }
  }

  /** How the process ended, and the end of its stderr, for an error message. */
  exitNote(): string {
    const { exitCode, signalCode } = this.proc.child;
    const how = signalCode ? ` (killed by ${signalCode})` : exitCode !== null ? ` (exit code ${exitCode})` : '';
    const tail = this.proc.stderrTail();
    return how + (tail ? `\n${tail}` : '');
  }

  /** Ends the stream, the server and everything it started. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stream?.abort();
    await this.proc.stop(2_000);
  }
}

/** A loopback port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The server's URL, once it says it listens; rejects when it exits first. */
function listening(proc: AgentProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString('utf8')).slice(-4096);
      const m = LISTENING.exec(seen);
      if (m) {
        proc.child.stdout.off('data', onData);
        // What it writes later is drained, so a full pipe never blocks it.
        proc.child.stdout.resume();
        resolve(m[1]!);
      }
    };
    proc.child.stdout.on('data', onData);
    void proc.exited.then(({ code, signal }) => {
      const tail = proc.stderrTail();
      reject(new Error(`it exited before listening (${signal ? `killed by ${signal}` : `exit code ${code}`})${tail ? `\n${tail}` : ''}`));
    });
  });
}
