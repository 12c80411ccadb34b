/** The server's HTTP API as the browser uses it; its shapes are the wire module's. */
import { CHAT_EVENT_NAMES, type AgentEvent, type ChatEvent, type ChatEventMap } from '../../src/api/events.js';
import type { PermissionAnswer, PermissionRequestView } from '../../src/api/permissions.js';
import type { AcceptedMessage, AgentInfo, ChatView, ErrorBody, HealthReport, PermissionMode, PrewarmReport } from '../../src/api/views.js';

export type { AgentEvent, AgentInfo, ChatEvent, ChatView, HealthReport, PermissionAnswer, PermissionMode, PermissionRequestView };

/** How an answer to a request went: it was taken, or the request had already ended otherwise (`lost`). */
export type AnswerResult = { state: 'taken'; request: PermissionRequestView } | { state: 'lost'; request: PermissionRequestView };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

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
  health(): Promise<HealthReport> {
    return this.request('GET', '/health', undefined, [503]);
  }

  async chats(): Promise<ChatView[]> {
    return (await this.request<{ chats: ChatView[] }>('GET', '/api/chats')).chats;
  }

  chat(id: string): Promise<ChatView> {
    return this.request('GET', `/api/chats/${id}`);
  }

  createChat(body: { repoPath: string; agent?: string; model?: string; title?: string; permissionMode?: PermissionMode }): Promise<ChatView> {
    return this.request('POST', '/api/chats', body);
  }

  renameChat(id: string, title: string): Promise<ChatView> {
    return this.request('PATCH', `/api/chats/${id}`, { title });
  }

  /** The chat's permission mode from its next turn on; null leaves the agent's own default. */
  setPermissionMode(id: string, permissionMode: PermissionMode | null): Promise<ChatView> {
    return this.request('PATCH', `/api/chats/${id}`, { permissionMode });
  }

  /** What waits for a person across every chat, oldest first. */
  async pendingPermissions(): Promise<PermissionRequestView[]> {
    return (await this.request<{ permissions: PermissionRequestView[] }>('GET', '/api/permissions?status=pending')).permissions;
  }

  /**
   * Answers a request. One that ended before the answer arrived (answered elsewhere,
   * stopped, timed out) is no error: the answer says how it ended instead.
   */
  async answerPermission(chatId: string, requestId: string, answer: PermissionAnswer): Promise<AnswerResult> {
    const body = await this.request<PermissionRequestView | ErrorBody>('POST', `/api/chats/${chatId}/permissions/${requestId}`, answer, [409]);
    if ('error' in body) {
      const request = body.error.request as PermissionRequestView | undefined;
      if (body.error.code !== 'already_resolved' || !request) throw new ApiError(409, body.error.code, body.error.message);
      return { state: 'lost', request };
    }
    return { state: 'taken', request: body };
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

  /** Sends a message, for the chat's own agent or the one named, on the backend named or the server's choice. */
  send(id: string, text: string, options: { agent?: string; backend?: string } = {}): Promise<AcceptedMessage> {
    return this.request('POST', `/api/chats/${id}/messages`, {
      text,
      ...(options.agent ? { agent: options.agent } : {}),
      ...(options.backend ? { backend: options.backend } : {}),
    });
  }

  /** Asks the server to start the chat's agent while the message is being typed. */
  prewarm(id: string): Promise<PrewarmReport> {
    return this.request('POST', `/api/chats/${id}/prewarm`, {});
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
      for (const name of CHAT_EVENT_NAMES) {
        es.addEventListener(name, (m) => {
          const message = m as MessageEvent<string>;
          const seq = Number(message.lastEventId);
          if (!(seq > last)) return;
          last = seq;
          // The event's name says what its data is: the server sends each name its own shape.
          onEvent({ id: seq, event: name, data: JSON.parse(message.data) as ChatEventMap[typeof name] } as ChatEvent);
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
