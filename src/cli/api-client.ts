import type { ChatEvent } from '../api/events.js';
import type { PermissionAnswer, PermissionRequestView, PermissionRuleView, PermissionStatus } from '../api/permissions.js';
import type { AcceptedMessage, AgentInfo, ChatView, PermissionMode, StoredMessage } from '../api/views.js';
import { ApiError, CliError, UnauthorizedError, UnreachableError } from './errors.js';

/**
 * One Server-Sent Event of a chat's stream: `id` is the chat's sequence number. Its data is
 * taken to be what the wire module says the event's name carries; a name it does not know
 * passes through for `--json` and is otherwise ignored.
 */
export type StreamEvent = ChatEvent;

/** How an answer to a permission request fared: it was the one taken, or another outcome came first. */
export type AnswerResult =
  | { state: 'taken'; request: PermissionRequestView }
  | { state: 'already_resolved'; request: PermissionRequestView };

/** Reconnects in a row, with no event in between, before the stream counts as lost. */
const MAX_RECONNECTS = 5;
/** Each reconnect waits this much longer than the one before: about 7 s in all, a server restart's worth. */
const RECONNECT_STEP_MS = 500;

/** The Hearth HTTP API as the CLI uses it; every failure becomes a CliError. */
export class HearthApi {
  constructor(
    readonly url: string,
    private readonly token: string | undefined,
  ) {}

  async agents(): Promise<AgentInfo[]> {
    return (await this.request<{ agents: AgentInfo[] }>('GET', '/api/agents')).agents;
  }

  listChats(): Promise<{ chats: ChatView[] }> {
    return this.request('GET', '/api/chats');
  }

  getChat(id: string): Promise<ChatView> {
    return this.request('GET', `/api/chats/${id}`);
  }

  createChat(body: { repoPath: string; agent?: string; model?: string; title?: string; permissionMode?: PermissionMode }): Promise<ChatView> {
    return this.request('POST', '/api/chats', body);
  }

  sendMessage(id: string, body: { text: string; agent?: string; backend?: string }): Promise<AcceptedMessage> {
    return this.request('POST', `/api/chats/${id}/messages`, body);
  }

  history(id: string): Promise<{ messages: StoredMessage[] }> {
    return this.request('GET', `/api/chats/${id}/messages`);
  }

  updateChat(id: string, body: { title?: string; permissionMode?: PermissionMode | null }): Promise<ChatView> {
    return this.request('PATCH', `/api/chats/${id}`, body);
  }

  /** A chat's permission requests, oldest first; only those in `status` when it is given. */
  permissions(chatId: string, status?: PermissionStatus): Promise<{ permissions: PermissionRequestView[] }> {
    return this.request('GET', `/api/chats/${chatId}/permissions${status ? `?status=${status}` : ''}`);
  }

  /** What waits for a person in every chat, oldest first. */
  pendingPermissions(): Promise<{ permissions: PermissionRequestView[] }> {
    return this.request('GET', '/api/permissions?status=pending');
  }

  /** Answers a request; a 409 is no failure here but says which outcome came first. */
  async answerPermission(chatId: string, requestId: string, answer: PermissionAnswer): Promise<AnswerResult> {
    const path = `/api/chats/${chatId}/permissions/${requestId}`;
    const res = await this.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(answer) });
    const text = await res.text();
    if (res.status === 409) {
      const request = (parseJson(text) as { error?: { code?: unknown; request?: PermissionRequestView } } | null)?.error;
      if (request?.code === 'already_resolved' && request.request) return { state: 'already_resolved', request: request.request };
    }
    if (!res.ok) throw this.failure(res.status, text);
    const request = parseJson(text) as PermissionRequestView | null;
    if (!request) throw new CliError(`the server at ${this.url} answered POST ${path} with something that is not JSON`);
    return { state: 'taken', request };
  }

  permissionRules(chatId: string): Promise<{ rules: PermissionRuleView[] }> {
    return this.request('GET', `/api/chats/${chatId}/permission-rules`);
  }

  /** Answers 204 with no body. */
  async deletePermissionRule(chatId: string, ruleId: string): Promise<void> {
    const res = await this.fetch(`/api/chats/${chatId}/permission-rules/${ruleId}`, { method: 'DELETE' });
    if (!res.ok) throw this.failure(res.status, await res.text());
  }

  /** Whether the server runs in demo mode, talking to a scripted model; false when it cannot tell. */
  async demo(): Promise<boolean> {
    const health = await this.request<{ demo?: boolean }>('GET', '/health').catch(() => null);
    return health?.demo === true;
  }

  /** Answers 204 with no body. */
  async deleteChat(id: string): Promise<void> {
    const res = await this.fetch(`/api/chats/${id}`, { method: 'DELETE' });
    if (!res.ok) throw this.failure(res.status, await res.text());
  }

  abort(id: string): Promise<{ stopped: number }> {
    return this.request('POST', `/api/chats/${id}/abort`);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw this.failure(res.status, text);
    const parsed = parseJson(text);
    if (parsed === null) throw new CliError(`the server at ${this.url} answered ${method} ${path} with something that is not JSON`);
    return parsed as T;
  }

  /**
   * A chat's events after sequence number `after`, live, until the caller stops reading
   * or `signal` aborts. A dropped stream is reopened from the last event received, so
   * nothing is missed or repeated.
   */
  async *events(chatId: string, after: number, signal?: AbortSignal): AsyncGenerator<StreamEvent> {
    let last = after;
    let reconnects = 0;
    for (;;) {
      const connection = new AbortController();
      const stop = () => connection.abort();
      signal?.addEventListener('abort', stop);
      try {
        let res: Response;
        try {
          res = await this.fetch(`/api/chats/${chatId}/events`, {
            headers: { accept: 'text/event-stream', 'last-event-id': String(last) },
            signal: connection.signal,
          });
        } catch (err) {
          if (signal?.aborted || !(err instanceof UnreachableError) || reconnects >= MAX_RECONNECTS) throw err;
          reconnects++;
          await pause(RECONNECT_STEP_MS * reconnects, signal);
          continue;
        }
        if (!res.ok) throw this.failure(res.status, await res.text());
        try {
          for await (const event of parseSse(res.body as unknown as AsyncIterable<Uint8Array>)) {
            last = event.id;
            reconnects = 0;
            yield event;
          }
        } catch (err) {
          if (signal?.aborted) throw err;
        }
        if (reconnects >= MAX_RECONNECTS) throw new UnreachableError(this.url, 'the event stream keeps closing');
        reconnects++;
        await pause(RECONNECT_STEP_MS * reconnects, signal);
      } finally {
        signal?.removeEventListener('abort', stop);
        connection.abort();
      }
    }
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.token) headers.set('authorization', `Bearer ${this.token}`);
    try {
      return await fetch(this.url + path, { ...init, headers });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new UnreachableError(this.url, reason(err));
    }
  }

  private failure(status: number, text: string): CliError {
    if (status === 401) return new UnauthorizedError(Boolean(this.token));
    let error: { code?: unknown; message?: unknown } | undefined;
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error;
    } catch {
      // Not the API's error shape: a proxy or another server answered.
    }
    const code = typeof error?.code === 'string' ? error.code : 'http_error';
    const message = typeof error?.message === 'string' ? error.message : text.trim().slice(0, 200) || `HTTP ${status}`;
    return new ApiError(status, code, message);
  }
}

/** The JSON value of `text`, or null when it is none (or JSON's own null, which no route answers). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** The low-level cause fetch wraps in "fetch failed", e.g. "connect ECONNREFUSED 127.0.0.1:1". */
function reason(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as { message?: string; code?: string } | undefined) : undefined;
  return cause?.message || cause?.code || (err instanceof Error ? err.message : String(err));
}

/** Waits `ms`, or rejects with the signal's reason when it is aborted first. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    // The listener goes with the pause, so a stream that reconnects often piles up none.
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Events with an id from an SSE body; comments, `retry:` and id-less blocks are skipped. */
export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<StreamEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  // Where the next blank line may start: a large event comes in many chunks, and scanning
  // it from its start on each one would take quadratic time.
  let scanFrom = 0;
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n', scanFrom)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      scanFrom = 0;
      const event = parseBlock(block);
      if (event) yield event;
    }
    scanFrom = Math.max(0, buffer.length - 1);
  }
}

function parseBlock(block: string): StreamEvent | null {
  let id: number | null = null;
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    const colon = line.indexOf(':');
    if (colon === 0) continue;
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = Number(value);
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (id === null || !Number.isFinite(id) || data.length === 0) return null;
  return { id, event, data: JSON.parse(data.join('\n')) } as StreamEvent;
}
