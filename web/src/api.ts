/** The server's HTTP API as the browser uses it. */
import type { ChatEvent } from './chat-event.js';

export interface SessionInfo {
  agent: string;
  backend: string;
  status: string;
  inputTokens: number;
  outputTokens: number;
  cost: number;
}

export interface Chat {
  id: string;
  title: string | null;
  repoPath: string;
  agent: string;
  model: string | null;
  permissionMode: string | null;
  worktreePath: string | null;
  branch: string | null;
  busy: boolean;
  updatedAt: string;
  sessions?: SessionInfo[];
}

/** An agent installed on the server, and the backends that run it. */
export interface AgentInfo {
  name: string;
  version: string;
  backends: Array<{ kind: string; status: 'up' | 'down' }>;
}

export interface Health {
  status: 'ok' | 'degraded';
  demo?: boolean;
  database?: { up: boolean; error?: string };
  backends?: Record<string, 'up' | 'down'>;
  backendErrors?: Record<string, string>;
  /** What the server found wrong with its setup (no credentials, say), for the user to fix. */
  warnings?: { code: string; message: string }[];
}

export type { ChatEvent } from './chat-event.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Every kind of event the server streams; EventSource needs each name registered. */
export const EVENT_KINDS = [
  'message',
  'turn_start',
  'text_delta',
  'thinking_delta',
  'tool_call_delta',
  'tool_call',
  'tool_result',
  'usage',
  'status',
  'error',
  'permission_request',
  'turn_end',
] as const;

export class Api {
  constructor(readonly token: string) {}

  /** Answers with `ok` also accept these statuses as an answer, not an error. */
  private async request<T>(method: string, path: string, body?: unknown, accept: number[] = []): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, 'unreachable', `the server cannot be reached (${(err as Error).message})`);
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : null;
    if (!res.ok && !accept.includes(res.status)) {
      const error = (json as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiError(res.status, error?.code ?? 'http_error', error?.message ?? `HTTP ${res.status}`);
    }
    return json as T;
  }

  /** The server's report on itself; a 503 (its database is away) is a report too. */
  health(): Promise<Health> {
    return this.request('GET', '/health', undefined, [503]);
  }

  async chats(): Promise<Chat[]> {
    return (await this.request<{ chats: Chat[] }>('GET', '/api/chats')).chats;
  }

  chat(id: string): Promise<Chat> {
    return this.request('GET', `/api/chats/${id}`);
  }

  createChat(body: { repoPath: string; agent?: string; model?: string; title?: string; permissionMode?: string }): Promise<Chat> {
    return this.request('POST', '/api/chats', body);
  }

  renameChat(id: string, title: string): Promise<Chat> {
    return this.request('PATCH', `/api/chats/${id}`, { title });
  }

  async agents(): Promise<AgentInfo[]> {
    return (await this.request<{ agents: AgentInfo[] }>('GET', '/api/agents')).agents;
  }

  /** Repositories chats were made on, the most recently active first. */
  async recentRepos(): Promise<string[]> {
    return (await this.request<{ repos: string[] }>('GET', '/api/repos/recent')).repos;
  }

  deleteChat(id: string): Promise<void> {
    return this.request('DELETE', `/api/chats/${id}`);
  }

  send(id: string, text: string, backend?: string): Promise<{ turnId: string; queued: number }> {
    return this.request('POST', `/api/chats/${id}/messages`, { text, ...(backend ? { backend } : {}) });
  }

  abort(id: string): Promise<{ stopped: number }> {
    return this.request('POST', `/api/chats/${id}/abort`, {});
  }

  /**
   * Follows a chat's events from the start. The browser reconnects by itself and sends
   * the last id it saw; when it gives up (the server was away), a new stream starts after
   * that id. Either way nothing is missed, and an id seen before is skipped.
   */
  follow(id: string, onEvent: (e: ChatEvent) => void, onConnection: (up: boolean) => void): () => void {
    let last = 0;
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const open = () => {
      const url = `/api/chats/${id}/events?after=${last}&token=${encodeURIComponent(this.token)}`;
      const es = new EventSource(url);
      source = es;
      es.onopen = () => onConnection(true);
      es.onerror = (e) => {
        // The agent's own `error` events arrive here too; only a plain Event is the connection's.
        if (e instanceof MessageEvent) return;
        onConnection(false);
        if (es.readyState === EventSource.CLOSED && !stopped) {
          retry = setTimeout(open, 2_000);
        }
      };
      for (const kind of EVENT_KINDS) {
        es.addEventListener(kind, (m) => {
          const message = m as MessageEvent<string>;
          const seq = Number(message.lastEventId);
          if (!(seq > last)) return;
          last = seq;
          onEvent({ id: seq, event: kind, data: JSON.parse(message.data) as Record<string, unknown> });
        });
      }
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
    };
  }
}
