import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import * as z from 'zod';
import type { ClaudePermissionResult } from '../claude-permissions.js';

/** The server's name in the CLI's MCP configuration, and so in the tool's full name. */
export const PROMPT_SERVER_NAME = 'hearth';
export const PROMPT_TOOL_NAME = 'permission_prompt';
/** What `--permission-prompt-tool` names. */
export const PROMPT_TOOL = `mcp__${PROMPT_SERVER_NAME}__${PROMPT_TOOL_NAME}`;

/** What Claude Code asks the tool: may it use this tool with this input. */
export interface PromptToolCall {
  toolName: string;
  input: Record<string, unknown>;
  toolUseId: string | null;
}

/**
 * Answers one call for one turn, with what Claude Code reads from the call's text.
 * `signal` fires when the answer is no longer wanted: the CLI gave up on the call, the
 * turn stopped, or the server is closing.
 */
export type PromptAnswerer = (call: PromptToolCall, signal: AbortSignal) => Promise<ClaudePermissionResult>;

/** An MCP server entry of the CLI's `--mcp-config`. */
export interface PromptServerConfig {
  type: 'http';
  url: string;
  headers: Record<string, string>;
  /** How long the CLI waits on one call, in milliseconds, whatever MCP_TOOL_TIMEOUT says. */
  timeout: number;
}

/** A turn's admission: the server entry that carries its secret, and the end of it. */
export interface PromptAdmission {
  config: PromptServerConfig;
  /** Ends the admission: calls in flight are denied, and the secret is refused from then on. Idempotent. */
  release(): void;
}

// Why a call ends unanswered: the turn stopped, or the server closed, before anyone answered.
const STOPPED = 'The turn was stopped before the request was answered.';
// A person may take long to answer: the CLI waits on the call as long as it is told to.
const CALL_TIMEOUT_MS = 24 * 60 * 60 * 1000;
// A tool's whole input travels in the call: a large file written in one go included.
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** One admitted turn, found by the hash of its secret. */
interface Admitted {
  answer: PromptAnswerer;
  /** Fires when the admission ends. */
  ended: AbortController;
  /** Fires when the turn stops. */
  stop: AbortSignal | null;
}

type State =
  | { kind: 'idle' }
  | { kind: 'starting'; server: http.Server; ready: Promise<string> }
  | { kind: 'listening'; server: http.Server; url: string }
  | { kind: 'closed' };

/**
 * The MCP server through which the `claude` CLI asks before it uses a tool: its
 * `--permission-prompt-tool`. One loopback HTTP server for all the driver's turns,
 * serving MCP's streamable HTTP transport with a single tool; it starts with the first
 * turn that needs it. Each turn is admitted with a secret of its own, which its CLI sends
 * as a bearer token, so a call is answered for the turn whose secret it carries and for
 * no other; a request without a live secret is refused before any MCP is spoken.
 */
export class PermissionPromptServer {
  private state: State = { kind: 'idle' };
  private readonly admitted = new Map<string, Admitted>();

  /**
   * Admits a turn whose calls `answer` answers; starts the server if it is not up. Once
   * `stop` fires, the turn's calls are denied at once, without asking, and told to stop.
   */
  async admit(answer: PromptAnswerer, stop?: AbortSignal): Promise<PromptAdmission> {
    const url = await this.listening();
    const secret = randomBytes(32).toString('base64url');
    const key = digest(secret);
    const entry: Admitted = { answer, ended: new AbortController(), stop: stop ?? null };
    this.admitted.set(key, entry);
    return {
      config: { type: 'http', url, headers: { Authorization: `Bearer ${secret}` }, timeout: CALL_TIMEOUT_MS },
      release: () => {
        if (this.admitted.get(key) === entry) this.admitted.delete(key);
        entry.ended.abort();
      },
    };
  }

  /** Where the server listens, once it does; null before it has started and after it closed. */
  url(): string | null {
    return this.state.kind === 'listening' ? this.state.url : null;
  }

  /** Ends every admission and stops the server. Idempotent. */
  async close(): Promise<void> {
    const state = this.state;
    this.state = { kind: 'closed' };
    for (const entry of this.admitted.values()) entry.ended.abort();
    this.admitted.clear();
    // A start under way sees the close once it listens, and shuts the server itself.
    if (state.kind === 'starting') await state.ready.catch(() => {});
    else if (state.kind === 'listening') await shut(state.server);
  }

  private async listening(): Promise<string> {
    switch (this.state.kind) {
      case 'listening':
        return this.state.url;
      case 'starting':
        return this.state.ready;
      case 'closed':
        throw new Error('the permission prompt server has been closed');
      case 'idle': {
        const server = http.createServer((req, res) => void this.serve(req, res));
        const ready = this.start(server);
        this.state = { kind: 'starting', server, ready };
        return ready;
      }
    }
  }

  private async start(server: http.Server): Promise<string> {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      // A server that could not listen leaves the way open for the next turn to try again.
      if (this.state.kind === 'starting' && this.state.server === server) this.state = { kind: 'idle' };
      throw err;
    }
    if (this.state.kind === 'closed') {
      await shut(server);
      throw new Error('the permission prompt server has been closed');
    }
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/mcp`;
    this.state = { kind: 'listening', server, url };
    return url;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const entry = this.admittedFor(req.headers.authorization);
    if (!entry) return refuse(res, 401, 'not admitted');
    if (new URL(req.url ?? '/', 'http://127.0.0.1').pathname !== '/mcp') return refuse(res, 404, 'not found');
    // Calls are plain requests and answers: no session, and no stream for the server's own messages.
    if (req.method !== 'POST') return refuse(res, 405, 'method not allowed');
    const mcp = this.mcpFor(entry);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, maxRequestBodySize: MAX_BODY_BYTES });
    // A request ends when its response does, or when the caller goes away before it.
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    try {
      await mcp.connect(transport);
      await transport.handleRequest(req, res);
    } catch {
      if (!res.headersSent) refuse(res, 500, 'internal error');
      else res.destroy();
    }
  }

  private admittedFor(authorization: string | undefined): Admitted | null {
    const match = /^Bearer (\S+)$/.exec(authorization ?? '');
    return match ? (this.admitted.get(digest(match[1]!)) ?? null) : null;
  }

  /** An MCP server of one request, for one turn: stateless, as every call is a request of its own. */
  private mcpFor(entry: Admitted): McpServer {
    const mcp = new McpServer({ name: PROMPT_SERVER_NAME, version: '1.0.0' }, { capabilities: { tools: {} } });
    mcp.registerTool(
      PROMPT_TOOL_NAME,
      {
        description: 'Asks a person whether the agent may use a tool, and returns their answer.',
        inputSchema: {
          tool_name: z.string().describe('The tool the agent wants to use'),
          input: z.record(z.string(), z.unknown()).describe("The tool's input"),
          tool_use_id: z.string().optional().describe('The id of the tool call'),
        },
      },
      async ({ tool_name, input, tool_use_id }, extra) => {
        const answer = await this.answered(entry, { toolName: tool_name, input, toolUseId: tool_use_id ?? null }, extra.signal);
        return { content: [{ type: 'text' as const, text: JSON.stringify(answer) }] };
      },
    );
    return mcp;
  }

  /** The answer to a call, or a denial as soon as the answer is no longer wanted, whatever the answerer does. */
  private async answered(entry: Admitted, call: PromptToolCall, cancelled: AbortSignal): Promise<ClaudePermissionResult> {
    const signal = AbortSignal.any([entry.ended.signal, cancelled, ...(entry.stop ? [entry.stop] : [])]);
    const stopped: ClaudePermissionResult = { behavior: 'deny', message: STOPPED, interrupt: true };
    if (signal.aborted) return stopped;
    let onAbort: () => void = () => {};
    const gone = new Promise<ClaudePermissionResult>((resolve) => {
      onAbort = () => resolve(stopped);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([entry.answer(call, signal), gone]);
    } catch (err) {
      return { behavior: 'deny', message: `The request could not be put to anyone: ${(err as Error).message}` };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** Stops listening and ends the connections still open, calls in flight included. */
function shut(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function refuse(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}
